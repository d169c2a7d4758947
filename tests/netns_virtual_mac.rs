//! The RFC's virtual MAC (`use_virtual_mac`, RFC 5798 §7.3; keepalived `use_vmac`): the
//! virtual addresses live on a macvlan carrying 00-00-5E-00-01-{VRID} (IPv6:
//! 00-00-5E-00-02-{VRID}), adverts leave from it, and a failover changes no client's
//! neighbour entry. Also its life cycle (made at start, removed at exit, found again after
//! SIGKILL, made again when someone deletes it), and the other implementations that use
//! it: FRR's vrrpd (always) and keepalived with `use_vmac`. Needs root.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::lab::{Host, Lab, LabProcess, Prober, wait_until};

const POLL: Duration = Duration::from_millis(5);
const ADVERT: Duration = Duration::from_millis(100);
const VRID: u8 = 50;
const VMAC_V4: &str = "00:00:5e:00:01:32";
const VMAC_V6: &str = "00:00:5e:00:02:32";
const IPV6_VIP: &str = "2001:db8::40";

fn config(priority: u8, extra: serde_json::Value) -> String {
    let mut instance = serde_json::json!({
        "name": "VI_1",
        "interface": "eth0",
        "virtual_router_id": VRID,
        "version": 3,
        "priority": priority,
        "advert_interval_ms": ADVERT.as_millis() as u64,
        "virtual_addresses": [format!("{VIP}/24")],
        "use_virtual_mac": true
    });
    if let serde_json::Value::Object(fields) = extra {
        for (key, value) in fields {
            instance[key] = value;
        }
    }
    serde_json::json!({ "instances": [instance] }).to_string()
}

/// No gratuitous ARP at all: with the virtual MAC a takeover needs none.
fn without_garp() -> serde_json::Value {
    serde_json::json!({
        "garp_burst_count": 0,
        "garp_repeat_delay_s": 0,
        "garp_master_refresh_s": 0
    })
}

fn ipv6_config(priority: u8) -> String {
    config(
        priority,
        serde_json::json!({ "virtual_addresses": ["fe80::40", format!("{IPV6_VIP}/64")] }),
    )
}

/// `interface`'s state as `ip -j link` has it: (exists, up, MAC, kind, index).
struct LinkState {
    up: bool,
    mac: String,
    kind: String,
    mode: String,
    index: u64,
}

fn link_state(host: &Host, interface: &str) -> Option<LinkState> {
    let output = host
        .run("ip", &["-d", "-j", "link", "show", "dev", interface])
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let link = &value[0];
    Some(LinkState {
        up: link["flags"]
            .as_array()
            .is_some_and(|flags| flags.iter().any(|flag| flag == "UP")),
        mac: link["address"].as_str()?.to_ascii_lowercase(),
        kind: link["linkinfo"]["info_kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        mode: link["linkinfo"]["info_data"]["mode"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        index: link["ifindex"].as_u64()?,
    })
}

fn holds_on(host: &Host, interface: &str, address: IpAddr) -> bool {
    host.interface_addresses(interface)
        .is_ok_and(|addresses| addresses.contains(&address))
}

/// The client's neighbour entry for `target`, sampled while `during` runs: every MAC seen.
fn neighbour_macs_while<T>(
    client: &Host,
    target: IpAddr,
    during: impl FnOnce() -> T,
) -> (T, Vec<String>) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let client = client.clone();
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seen: Vec<String> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok(Some(mac)) = client.neighbour_mac(target)
                    && !seen.contains(&mac)
                {
                    seen.push(mac);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            seen
        })
    };
    let result = during();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = sampler.join().expect("the sampler");
    (result, seen)
}

/// Start a capture of the VRRP frames on `host`'s eth0.
fn capture_vrrp(host: &Host, name: &str) -> (LabProcess, std::path::PathBuf) {
    let file = host.lab_dir().join(name);
    let path = file.to_string_lossy().into_owned();
    let capture = host
        .spawn(
            "tshark",
            &[
                "-n",
                "-i",
                "eth0",
                "-f",
                "vrrp or ip6 proto 112",
                "-w",
                &path,
            ],
        )
        .expect("starting tshark");
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
            capture.log().contains("Capturing on")
        })
        .is_some(),
        "tshark did not start: {}",
        capture.log()
    );
    (capture, file)
}

/// (source MAC, source address, priority) of every advert in the capture.
fn adverts_in(mut capture: LabProcess, file: &Path) -> Vec<(String, String, u8)> {
    capture.signal(Signal::SIGINT).expect("stopping tshark");
    let _ = capture.wait_timeout(Duration::from_secs(10));
    let output = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args([
            "-T",
            "fields",
            "-e",
            "eth.src",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "vrrp.prio",
        ])
        .output()
        .expect("reading the capture");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let source = if fields.get(1).is_some_and(|v4| !v4.is_empty()) {
                fields[1]
            } else {
                fields.get(2)?
            };
            Some((
                fields.first()?.to_ascii_lowercase(),
                source.to_owned(),
                fields.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

fn wait_for_master(lab: &Lab, master: &Host, backup: &Host, address: IpAddr) {
    let vmac = if address.is_ipv6() {
        "vrrp6.50"
    } else {
        "vrrp.50"
    };
    let elected = wait_until(Duration::from_secs(10), POLL, || {
        holds_on(master, vmac, address) && !backup.has_address(address)
    });
    assert!(
        elected.is_some(),
        "{} never held {address} on {vmac} alone\n{}",
        master.name(),
        lab.log_tails(30)
    );
}

/// The user's case with the virtual MAC and no gratuitous ARP at all: the client learns
/// the VIP at the virtual MAC once, and keeps that entry through a failover; the pings
/// resume from the new master without any ARP change, because the bridge learns the
/// virtual MAC's new port from the new master's first advert.
#[test]
fn a_failover_changes_no_neighbour_entry_even_without_gratuitous_arp() {
    let _timing = timing_guard(false);
    let net = PairLab::new("vmacfo");
    let (capture, file) = capture_vrrp(&net.client, "client.pcap");
    let _lb01 = net
        .lb01
        .start_vrrpd(&vrrpd_binary(), &config(HIGH_PRIORITY, without_garp()))
        .unwrap();
    let _lb02 = net
        .lb02
        .start_vrrpd(&vrrpd_binary(), &config(LOW_PRIORITY, without_garp()))
        .unwrap();
    wait_for_master(&net.lab, &net.lb01, &net.lb02, vip());
    // The macvlans: made on both, mode bridge, the RFC's MAC; up on the master only (a
    // backup's sends nothing that would teach the switch a wrong port).
    for (host, up) in [(&net.lb01, true), (&net.lb02, false)] {
        let link = link_state(host, "vrrp.50").expect("vrrp.50 exists");
        assert_eq!(
            (
                link.kind.as_str(),
                link.mode.as_str(),
                link.mac.as_str(),
                link.up
            ),
            ("macvlan", "bridge", VMAC_V4, up),
            "{}'s vrrp.50",
            host.name()
        );
    }
    assert!(
        !holds_on(&net.lb01, "eth0", vip()),
        "the VIP is on lb01's eth0 too"
    );
    let probe = Prober::start(
        &net.client,
        vip(),
        Duration::from_millis(10),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(
        probe.wait_for_replies(20, Duration::from_secs(5)),
        "the client cannot reach the VIP on lb01"
    );
    assert_eq!(
        net.client.neighbour_mac(vip()).unwrap().as_deref(),
        Some(VMAC_V4),
        "the client resolved the VIP to another MAC than the virtual one"
    );
    let ((), seen) = neighbour_macs_while(&net.client, vip(), || {
        net.lb01.power_off().unwrap();
        let cut = Instant::now();
        let bound = silence_takeover_bound(ADVERT, LOW_PRIORITY);
        wait_until(Duration::from_secs(5), POLL, || {
            holds_on(&net.lb02, "vrrp.50", vip())
        })
        .unwrap_or_else(|| panic!("lb02 never took over\n{}", net.lab.log_tails(30)));
        assert!(
            cut.elapsed() < bound,
            "lb02 took {} to take over (bound {})",
            secs(cut.elapsed()),
            secs(bound)
        );
        let resumed_from = probe.received_so_far();
        assert!(
            wait_until(Duration::from_secs(3), POLL, || probe.received_so_far()
                >= resumed_from + 20)
            .is_some(),
            "the client's pings did not resume on lb02"
        );
    });
    let report = probe.finish().unwrap();
    eprintln!("client: {report}; neighbour entries seen: {seen:?}");
    assert_eq!(
        seen,
        [VMAC_V4],
        "the client's neighbour entry changed during the failover"
    );
    assert_eq!(
        net.client.neighbour_mac(vip()).unwrap().as_deref(),
        Some(VMAC_V4)
    );
    // Every advert on the wire came from the virtual MAC (RFC 5798 §7.3), each router's
    // from its own address.
    std::thread::sleep(ADVERT * 10);
    let adverts = adverts_in(capture, &file);
    assert!(adverts.len() >= 10, "too few adverts captured: {adverts:?}");
    assert!(
        adverts.iter().all(|(mac, _, _)| mac == VMAC_V4),
        "an advert from another MAC: {adverts:?}"
    );
    let sources: Vec<&str> = adverts
        .iter()
        .map(|(_, source, _)| source.as_str())
        .collect();
    assert!(sources.contains(&"192.0.2.41") && sources.contains(&"192.0.2.42"));
}

/// The same over IPv6: the NA-learned entry for the global VIP is the IPv6 virtual MAC,
/// before and after; adverts come from each router's own link-local address, sent from
/// the macvlan.
#[test]
fn ipv6_a_failover_changes_no_neighbour_entry() {
    let _timing = timing_guard(false);
    require_root();
    let mut lab = Lab::new("vmac6").unwrap();
    let lb01 = lab.add_host("lb01", &["2001:db8::41/64"]).unwrap();
    let lb02 = lab.add_host("lb02", &["2001:db8::42/64"]).unwrap();
    let client = lab.add_host("client", &["2001:db8::10/64"]).unwrap();
    let (capture, file) = capture_vrrp(&client, "client6.pcap");
    let _first = lb01
        .start_vrrpd(&vrrpd_binary(), &ipv6_config(HIGH_PRIORITY))
        .unwrap();
    let _second = lb02
        .start_vrrpd(&vrrpd_binary(), &ipv6_config(LOW_PRIORITY))
        .unwrap();
    let target: IpAddr = IPV6_VIP.parse().unwrap();
    wait_for_master(&lab, &lb01, &lb02, target);
    assert_eq!(
        link_state(&lb01, "vrrp6.50").map(|link| link.mac),
        Some(VMAC_V6.to_owned())
    );
    let probe = Prober::start(
        &client,
        target,
        Duration::from_millis(10),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(
        probe.wait_for_replies(20, Duration::from_secs(5)),
        "the client cannot reach {target} on lb01"
    );
    let ((), seen) = neighbour_macs_while(&client, target, || {
        lb01.power_off().unwrap();
        wait_until(Duration::from_secs(5), POLL, || {
            holds_on(&lb02, "vrrp6.50", target)
        })
        .unwrap_or_else(|| panic!("lb02 never took over\n{}", lab.log_tails(30)));
        let resumed_from = probe.received_so_far();
        assert!(
            wait_until(Duration::from_secs(3), POLL, || probe.received_so_far()
                >= resumed_from + 20)
            .is_some(),
            "the client's pings did not resume on lb02"
        );
    });
    let report = probe.finish().unwrap();
    eprintln!("client: {report}; neighbour entries seen: {seen:?}");
    assert_eq!(seen, [VMAC_V6], "the client's entry changed");
    std::thread::sleep(ADVERT * 10);
    let adverts = adverts_in(capture, &file);
    assert!(adverts.len() >= 10, "too few adverts captured: {adverts:?}");
    assert!(
        adverts
            .iter()
            .all(|(mac, source, _)| mac == VMAC_V6 && source.starts_with("fe80:")),
        "an advert from another MAC or a non-link-local source: {adverts:?}"
    );
}

/// The macvlan is made at start, removed when vrrpd stops, found again after a SIGKILL
/// (with the VIP the killed run left on it taken off), and made again at once when
/// someone deletes it under a running master.
#[test]
fn the_macvlan_is_made_removed_reused_and_remade() {
    let _timing = timing_guard(false);
    let net = PairLab::new("vmaclife");
    let lb01 = &net.lb01;
    let mut first = lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &config(HIGH_PRIORITY, serde_json::json!({})),
        )
        .unwrap();
    wait_until(Duration::from_secs(5), POLL, || {
        holds_on(lb01, "vrrp.50", vip())
    })
    .unwrap_or_else(|| panic!("lb01 never became master\n{}", first.log()));
    // The ARP settings that keep the physical MAC out of the clients' entries.
    let sysctl = |name: &str| {
        lb01.run("cat", &[&format!("/proc/sys/net/ipv4/conf/{name}")])
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap()
    };
    assert_eq!(sysctl("eth0/arp_ignore"), "1");
    assert_eq!(sysctl("eth0/arp_announce"), "2");
    assert_eq!(sysctl("vrrp.50/arp_ignore"), "1");
    assert_eq!(sysctl("vrrp.50/rp_filter"), "0");

    first.terminate(Duration::from_secs(10)).unwrap();
    assert!(
        link_state(lb01, "vrrp.50").is_none(),
        "vrrp.50 is still there after a stop\n{}",
        first.log()
    );
    assert!(!lb01.has_address(vip()));

    let mut second = lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &config(HIGH_PRIORITY, serde_json::json!({})),
        )
        .unwrap();
    wait_until(Duration::from_secs(5), POLL, || {
        holds_on(lb01, "vrrp.50", vip())
    })
    .unwrap_or_else(|| panic!("lb01 never became master again\n{}", second.log()));
    let made = link_state(lb01, "vrrp.50").unwrap().index;
    second.signal(Signal::SIGKILL).unwrap();
    let _ = second.wait_timeout(Duration::from_secs(5));
    // Killed: the macvlan stays, up, with the VIP (nothing could clean up).
    assert!(holds_on(lb01, "vrrp.50", vip()));

    // lb02 is master now (it starts while lb01 is gone), so the restarted lb01 starts as
    // backup: it finds its macvlan, takes the VIP off and sets it down, then preempts.
    let lb02 = net
        .lb02
        .start_vrrpd(
            &vrrpd_binary(),
            &config(LOW_PRIORITY, serde_json::json!({})),
        )
        .unwrap();
    wait_until(Duration::from_secs(5), POLL, || {
        holds_on(&net.lb02, "vrrp.50", vip())
    })
    .unwrap_or_else(|| panic!("lb02 never became master\n{}", lb02.log()));
    let third = lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &config(HIGH_PRIORITY, serde_json::json!({})),
        )
        .unwrap();
    wait_until(Duration::from_secs(5), POLL, || {
        holds_on(lb01, "vrrp.50", vip()) && !net.lb02.has_address(vip())
    })
    .unwrap_or_else(|| panic!("lb01 did not preempt\n{}", net.lab.log_tails(30)));
    assert_eq!(
        link_state(lb01, "vrrp.50").unwrap().index,
        made,
        "the macvlan left by the killed run was not reused\n{}",
        third.log()
    );

    // Someone deletes it under the master: made again, and the master is back.
    lb01.run("ip", &["link", "del", "vrrp.50"]).unwrap();
    wait_until(Duration::from_secs(10), POLL, || {
        link_state(lb01, "vrrp.50").is_some_and(|link| link.index != made)
            && holds_on(lb01, "vrrp.50", vip())
    })
    .unwrap_or_else(|| panic!("vrrp.50 was not made again\n{}", third.log()));
    // Someone sets it down under the master: set up again, the VIP with it.
    lb01.run("ip", &["link", "set", "vrrp.50", "down"]).unwrap();
    wait_until(Duration::from_secs(2), POLL, || {
        link_state(lb01, "vrrp.50").is_some_and(|link| link.up) && holds_on(lb01, "vrrp.50", vip())
    })
    .unwrap_or_else(|| panic!("vrrp.50 stayed down\n{}", third.log()));
}

/// A planned move with the virtual MAC loses nothing either: the new master's first
/// advert, from the virtual MAC, moves the switch's entry before the old master lets go.
#[test]
fn a_planned_stop_loses_no_probe() {
    let _timing = timing_guard(false);
    let net = PairLab::new("vmacpl");
    let mut lb01 = net
        .lb01
        .start_vrrpd(&vrrpd_binary(), &config(HIGH_PRIORITY, without_garp()))
        .unwrap();
    let _lb02 = net
        .lb02
        .start_vrrpd(&vrrpd_binary(), &config(LOW_PRIORITY, without_garp()))
        .unwrap();
    wait_for_master(&net.lab, &net.lb01, &net.lb02, vip());
    let probe = Prober::start(
        &net.client,
        vip(),
        Duration::from_millis(10),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(probe.wait_for_replies(20, Duration::from_secs(5)));
    let stopped = Instant::now();
    lb01.terminate(Duration::from_secs(10)).unwrap();
    wait_until(Duration::from_secs(5), POLL, || {
        holds_on(&net.lb02, "vrrp.50", vip())
    })
    .unwrap_or_else(|| panic!("lb02 never took over\n{}", net.lab.log_tails(30)));
    let resumed_from = probe.received_so_far();
    wait_until(Duration::from_secs(3), POLL, || {
        probe.received_so_far() >= resumed_from + 30
    });
    let report = probe.finish().unwrap();
    assert_no_lost_reply(
        "vmacpl",
        "a planned stop with the virtual MAC",
        &report,
        // As tests/netns_planned.rs: three probe intervals.
        Duration::from_millis(30),
        Some(stopped),
    );
}
