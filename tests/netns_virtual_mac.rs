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

/// A 10 ms probe from `client` to `target` for up to 20 s, once it has 20 replies.
fn probe_until_answered(client: &Host, target: IpAddr, lab: &Lab) -> Prober {
    let probe = Prober::start(
        client,
        target,
        Duration::from_millis(10),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(
        probe.wait_for_replies(20, Duration::from_secs(5)),
        "the client cannot reach {target}\n{}",
        lab.log_tails(40)
    );
    probe
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
    let probe = probe_until_answered(&client, target, &lab);
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
    let sysctl = |name: &str| {
        lb01.run("cat", &[&format!("/proc/sys/net/ipv4/conf/{name}")])
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap()
    };
    let host_arp = (sysctl("eth0/arp_ignore"), sysctl("eth0/arp_announce"));
    assert_eq!(
        host_arp,
        ("0".to_owned(), "0".to_owned()),
        "the lab's eth0 starts with the kernel's defaults"
    );
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
    // The parent answers ARP as before once no virtual MAC is on it (as keepalived does).
    assert_eq!(
        (sysctl("eth0/arp_ignore"), sysctl("eth0/arp_announce")),
        host_arp,
        "eth0's ARP settings were not put back\n{}",
        first.log()
    );

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
    master_again_on_the_same_macvlan(
        &net,
        Duration::from_secs(5),
        made,
        "the macvlan left by the killed run was not reused",
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

    // Someone puts the VIP on the parent (a network manager restoring the pre-migration
    // setup): eth0 would answer ARP for it with its own MAC, so it goes from there; the
    // macvlan keeps it.
    lb01.run("ip", &["addr", "add", &format!("{VIP}/24"), "dev", "eth0"])
        .unwrap();
    wait_until(Duration::from_secs(2), POLL, || {
        !holds_on(lb01, "eth0", vip())
    })
    .unwrap_or_else(|| panic!("the VIP stayed on eth0\n{}", third.log()));
    assert!(holds_on(lb01, "vrrp.50", vip()), "{}", third.log());

    // A reload that restarts the master's instance (a new interval): it hands over to
    // lb02, starts again on the same macvlan and preempts; the macvlan is not deleted in
    // between (the simulator found it was, once).
    let remade = link_state(lb01, "vrrp.50").unwrap().index;
    let reloaded = config(
        HIGH_PRIORITY,
        serde_json::json!({ "advert_interval_ms": 2 * ADVERT.as_millis() as u64 }),
    );
    std::fs::write(config_path_of(&third), reloaded).unwrap();
    third.signal(Signal::SIGHUP).unwrap();
    wait_until(Duration::from_secs(5), POLL, || {
        third.log().contains("stopped by reload (handed over)")
    })
    .unwrap_or_else(|| panic!("lb01 did not hand over\n{}", net.lab.log_tails(30)));
    master_again_on_the_same_macvlan(
        &net,
        Duration::from_secs(10),
        remade,
        "the reload deleted the macvlan",
    );
}

/// lb01 holds the VIP alone within `wait`, on the macvlan of index `index`.
fn master_again_on_the_same_macvlan(net: &PairLab, wait: Duration, index: u64, otherwise: &str) {
    wait_until(wait, POLL, || {
        holds_on(&net.lb01, "vrrp.50", vip()) && !net.lb02.has_address(vip())
    })
    .unwrap_or_else(|| panic!("lb01 did not become master\n{}", net.lab.log_tails(30)));
    assert_eq!(
        link_state(&net.lb01, "vrrp.50").map(|link| link.index),
        Some(index),
        "{otherwise}\n{}",
        net.lab.log_tails(30)
    );
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

// ---- Against FRR's vrrpd and keepalived's use_vmac -------------------------------------

/// The other implementation on one router of the pair.
#[derive(Clone, Copy, Debug)]
enum Peer {
    /// FRR 8.4's vrrpd (Debian `frr`): always the virtual MAC, on a macvlan the operator
    /// makes in bridge mode; zebra and vrrpd run as user frr with their own socket dir.
    Frr,
    /// keepalived 2.2.7 with `use_vmac`: it makes its own macvlan (private mode).
    Keepalived,
}

/// A running peer; its processes go with the lab.
struct PeerRun {
    _processes: Vec<LabProcess>,
    /// FRR's vty socket directory, to ask it for its state.
    frr_run_dir: Option<std::path::PathBuf>,
}

impl Peer {
    fn start(self, host: &Host, priority: u8) -> PeerRun {
        // What FRR's documentation asks an operator to set (doc/user/vrrp.rst and
        // Useful_Sysctl_Settings.md), and the ARP half that keepalived leaves out: without
        // arp_announce 2 its master's own ARP requests name the VIP from eth0's MAC.
        host.run(
            "sysctl",
            &[
                "-qw",
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
            ],
        )
        .expect("sysctl");
        match self {
            Peer::Frr => start_frr(host, priority, false),
            Peer::Keepalived => {
                let advert = ADVERT.as_secs_f64();
                let config = format!(
                    "global_defs {{\n    router_id {name}\n}}\n\
                     vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    version 3\n\
                     \x20   virtual_router_id {VRID}\n    priority {priority}\n    advert_int {advert}\n\
                     \x20   use_vmac\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n",
                    name = host.name()
                );
                PeerRun {
                    _processes: vec![host.start_keepalived(&config).expect("keepalived")],
                    frr_run_dir: None,
                }
            }
        }
    }

    /// Whether the peer says it is master (FRR: `show vrrp`; keepalived: holds the VIP).
    fn is_master(self, host: &Host, run: &PeerRun) -> bool {
        match (self, &run.frr_run_dir) {
            (Peer::Frr, Some(dir)) => frr_status(host, dir, false).as_deref() == Some("Master"),
            _ => host.has_address(vip()),
        }
    }

    fn is_backup(self, host: &Host, run: &PeerRun) -> bool {
        match (self, &run.frr_run_dir) {
            (Peer::Frr, Some(dir)) => frr_status(host, dir, false).as_deref() == Some("Backup"),
            _ => !host.has_address(vip()),
        }
    }
}

fn start_frr(host: &Host, priority: u8, ipv6: bool) -> PeerRun {
    // The macvlan FRR expects: bridge mode, the RFC's MAC, a random link-local (the
    // kernel's EUI-64 one would be the same on every router), the VIP on it. FRR finds
    // it by its MAC and parent and keeps it in protodown while backup.
    let (macvlan, mac, address, family) = if ipv6 {
        ("vrrp6-2-50", VMAC_V6, format!("{IPV6_VIP}/64"), "ipv6")
    } else {
        ("vrrp4-2-50", VMAC_V4, format!("{VIP}/24"), "ip")
    };
    let mut add_address = vec!["addr", "add", address.as_str(), "dev", macvlan];
    if ipv6 {
        add_address.push("nodad");
    }
    for args in [
        vec![
            "link", "add", macvlan, "link", "eth0", "type", "macvlan", "mode", "bridge",
        ],
        vec!["link", "set", macvlan, "addrgenmode", "random"],
        vec!["link", "set", macvlan, "address", mac],
        add_address,
        vec!["link", "set", macvlan, "up"],
    ] {
        host.run("ip", &args).expect("making FRR's macvlan");
    }
    let dir = host.lab_dir().join(format!("frr-{}", host.name()));
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let frr = nix::unistd::User::from_name("frr")
        .unwrap()
        .expect("the frr user (Debian's frr package)");
    let config = dir.join("frr.conf");
    std::fs::write(
        &config,
        format!(
            "frr defaults traditional\nhostname {name}\nlog file {log} informational\n!\n\
             interface eth0\n vrrp {VRID} version 3\n vrrp {VRID} priority {priority}\n\
             \x20vrrp {VRID} advertisement-interval {interval}\n vrrp {VRID} {family} {vip}\nexit\n",
            name = host.name(),
            log = dir.join("frr.log").display(),
            interval = ADVERT.as_millis(),
            vip = if ipv6 { IPV6_VIP.to_owned() } else { VIP.to_string() },
        ),
    )
    .unwrap();
    for path in [&dir, &run_dir, &config] {
        std::os::unix::fs::chown(path, Some(frr.uid.as_raw()), Some(frr.gid.as_raw())).unwrap();
    }
    let zserv = run_dir.join("zserv.api");
    let common = |pid: &str| {
        vec![
            "--vty_socket".to_owned(),
            run_dir.to_string_lossy().into_owned(),
            "-z".to_owned(),
            zserv.to_string_lossy().into_owned(),
            "-P".to_owned(),
            "0".to_owned(),
            "-f".to_owned(),
            config.to_string_lossy().into_owned(),
            "-i".to_owned(),
            dir.join(pid).to_string_lossy().into_owned(),
        ]
    };
    let zebra_args = common("zebra.pid");
    let zebra = host
        .spawn(
            "/usr/lib/frr/zebra",
            &zebra_args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .expect("starting zebra");
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(20), || zserv
            .exists())
        .is_some(),
        "zebra did not open {}: {}",
        zserv.display(),
        zebra.log()
    );
    let vrrpd_args = common("vrrpd.pid");
    let vrrpd = host
        .spawn(
            "/usr/lib/frr/vrrpd",
            &vrrpd_args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .expect("starting FRR's vrrpd");
    PeerRun {
        _processes: vec![zebra, vrrpd],
        frr_run_dir: Some(run_dir),
    }
}

/// FRR's state for VRID 50 over IPv4 or IPv6 ("Master", "Backup", "Initialize").
fn frr_status(host: &Host, run_dir: &Path, ipv6: bool) -> Option<String> {
    let output = host
        .run(
            "vtysh",
            &[
                "--vty_socket",
                &run_dir.to_string_lossy(),
                "-c",
                &format!("show vrrp {VRID} json"),
            ],
        )
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    value[0][if ipv6 { "v6" } else { "v4" }]["status"]
        .as_str()
        .map(str::to_owned)
}

/// The peer is master (lb01, priority 150) and vrrpd its backup (lb02, 100), then the
/// peer's power is cut: vrrpd takes over, and the client, which learnt the VIP at the
/// virtual MAC from the peer, keeps that entry and reaches vrrpd.
fn peer_master_then_vrrpd(peer: Peer) {
    let _timing = timing_guard(false);
    let net = PairLab::new(&format!("vm{peer:?}m"));
    let run = peer.start(&net.lb01, HIGH_PRIORITY);
    let _lb02 = net
        .lb02
        .start_vrrpd(&vrrpd_binary(), &config(LOW_PRIORITY, without_garp()))
        .unwrap();
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
        peer.is_master(&net.lb01, &run) && !net.lb02.has_address(vip())
    });
    assert!(
        settled.is_some(),
        "{peer:?} on lb01 never became master with vrrpd backing it up\n{}",
        net.lab.log_tails(40)
    );
    // vrrpd hears the peer's adverts: it stays backup well past its Master_Down_Interval.
    std::thread::sleep(master_down_interval(ADVERT, LOW_PRIORITY) * 3);
    assert!(
        !net.lb02.has_address(vip()),
        "vrrpd took the VIP although {peer:?} is master\n{}",
        net.lab.log_tails(40)
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
        "the client cannot reach the VIP on {peer:?}\n{}",
        net.lab.log_tails(40)
    );
    assert_eq!(
        net.client.neighbour_mac(vip()).unwrap().as_deref(),
        Some(VMAC_V4)
    );
    let ((), seen) = neighbour_macs_while(&net.client, vip(), || {
        net.lb01.power_off().unwrap();
        let cut = Instant::now();
        wait_until(Duration::from_secs(5), POLL, || {
            holds_on(&net.lb02, "vrrp.50", vip())
        })
        .unwrap_or_else(|| panic!("vrrpd never took over\n{}", net.lab.log_tails(30)));
        let bound = silence_takeover_bound(ADVERT, LOW_PRIORITY);
        assert!(
            cut.elapsed() < bound,
            "vrrpd took {} (bound {})",
            secs(cut.elapsed()),
            secs(bound)
        );
        let from = probe.received_so_far();
        assert!(
            wait_until(Duration::from_secs(3), POLL, || probe.received_so_far()
                >= from + 20)
            .is_some(),
            "the client's pings did not resume on vrrpd"
        );
    });
    let report = probe.finish().unwrap();
    eprintln!("{peer:?} -> vrrpd: client {report}; entries seen {seen:?}");
    assert_eq!(seen, [VMAC_V4], "the client's entry changed");
}

/// vrrpd is master (lb01, 150) and the peer its backup (lb02, 100); vrrpd's power is cut
/// and the peer takes over: the client keeps its entry and reaches the peer.
fn vrrpd_master_then_peer(peer: Peer) {
    let _timing = timing_guard(false);
    let net = PairLab::new(&format!("vm{peer:?}b"));
    let _lb01 = net
        .lb01
        .start_vrrpd(&vrrpd_binary(), &config(HIGH_PRIORITY, without_garp()))
        .unwrap();
    let run = peer.start(&net.lb02, LOW_PRIORITY);
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
        holds_on(&net.lb01, "vrrp.50", vip()) && peer.is_backup(&net.lb02, &run)
    });
    assert!(
        settled.is_some(),
        "vrrpd on lb01 never became master with {peer:?} backing it up\n{}",
        net.lab.log_tails(40)
    );
    std::thread::sleep(master_down_interval(ADVERT, LOW_PRIORITY) * 3);
    assert!(
        peer.is_backup(&net.lb02, &run),
        "{peer:?} left BACKUP while vrrpd is master (does it hear vrrpd's adverts?)\n{}",
        net.lab.log_tails(40)
    );
    let probe = Prober::start(
        &net.client,
        vip(),
        Duration::from_millis(10),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(probe.wait_for_replies(20, Duration::from_secs(5)));
    let ((), seen) = neighbour_macs_while(&net.client, vip(), || {
        net.lb01.power_off().unwrap();
        wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            peer.is_master(&net.lb02, &run)
        })
        .unwrap_or_else(|| panic!("{peer:?} never took over\n{}", net.lab.log_tails(30)));
        let from = probe.received_so_far();
        assert!(
            wait_until(Duration::from_secs(3), POLL, || probe.received_so_far()
                >= from + 20)
            .is_some(),
            "the client's pings did not resume on {peer:?}"
        );
    });
    let report = probe.finish().unwrap();
    eprintln!("vrrpd -> {peer:?}: client {report}; entries seen {seen:?}");
    assert_eq!(seen, [VMAC_V4], "the client's entry changed");
}

#[test]
fn frr_master_then_vrrpd() {
    peer_master_then_vrrpd(Peer::Frr);
}

#[test]
fn vrrpd_master_then_frr() {
    vrrpd_master_then_peer(Peer::Frr);
}

#[test]
fn keepalived_use_vmac_master_then_vrrpd() {
    peer_master_then_vrrpd(Peer::Keepalived);
}

#[test]
fn vrrpd_master_then_keepalived_use_vmac() {
    vrrpd_master_then_peer(Peer::Keepalived);
}

/// VRRPv3 over IPv6 with FRR's vrrpd: each side keeps the other as backup (they accept
/// each other's adverts, checksum over the IPv6 pseudo-header included), and when the
/// master's power is cut the other takes over with the client's neighbour entry for the
/// VIP still at 00-00-5E-00-02-{VRID}. vrrpd sends no NA at all here (the count is 0).
fn ipv6_with_frr(frr_is_master: bool) {
    let _timing = timing_guard(false);
    require_root();
    let mut lab = Lab::new(if frr_is_master { "vmfrr6m" } else { "vmfrr6b" }).unwrap();
    let lb01 = lab.add_host("lb01", &["2001:db8::41/64"]).unwrap();
    let lb02 = lab.add_host("lb02", &["2001:db8::42/64"]).unwrap();
    let client = lab.add_host("client", &["2001:db8::10/64"]).unwrap();
    let target: IpAddr = IPV6_VIP.parse().unwrap();
    let mut vrrpd_config = without_garp();
    vrrpd_config["virtual_addresses"] = serde_json::json!(["fe80::40", format!("{IPV6_VIP}/64")]);
    let (frr_host, vrrpd_host) = if frr_is_master {
        (&lb01, &lb02)
    } else {
        (&lb02, &lb01)
    };
    let (frr_priority, vrrpd_priority) = if frr_is_master {
        (HIGH_PRIORITY, LOW_PRIORITY)
    } else {
        (LOW_PRIORITY, HIGH_PRIORITY)
    };
    let _vrrpd = vrrpd_host
        .start_vrrpd(&vrrpd_binary(), &config(vrrpd_priority, vrrpd_config))
        .unwrap();
    let frr = start_frr(frr_host, frr_priority, true);
    let frr_dir = frr.frr_run_dir.clone().expect("FRR's run directory");
    let frr_state = || frr_status(frr_host, &frr_dir, true);
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
        if frr_is_master {
            frr_state().as_deref() == Some("Master") && !vrrpd_host.has_address(target)
        } else {
            holds_on(vrrpd_host, "vrrp6.50", target) && frr_state().as_deref() == Some("Backup")
        }
    });
    assert!(
        settled.is_some(),
        "no stable pair (FRR master: {frr_is_master}; FRR says {:?})\n{}",
        frr_state(),
        lab.log_tails(40)
    );
    // Each hears the other: nothing changes over three Master_Down_Intervals.
    std::thread::sleep(master_down_interval(ADVERT, LOW_PRIORITY) * 3);
    if frr_is_master {
        assert!(
            !vrrpd_host.has_address(target) && frr_state().as_deref() == Some("Master"),
            "vrrpd took the VIP although FRR is master\n{}",
            lab.log_tails(40)
        );
    } else {
        assert_eq!(
            frr_state().as_deref(),
            Some("Backup"),
            "FRR left BACKUP while vrrpd is master (does it accept vrrpd's adverts?)\n{}",
            lab.log_tails(40)
        );
    }
    let probe = probe_until_answered(&client, target, &lab);
    assert_eq!(
        client.neighbour_mac(target).unwrap().as_deref(),
        Some(VMAC_V6)
    );
    let ((), seen) = neighbour_macs_while(&client, target, || {
        lb01.power_off().unwrap();
        let took_over = wait_until(Duration::from_secs(5), POLL, || {
            if frr_is_master {
                holds_on(vrrpd_host, "vrrp6.50", target)
            } else {
                frr_state().as_deref() == Some("Master")
            }
        });
        assert!(
            took_over.is_some(),
            "lb02 never took over\n{}",
            lab.log_tails(30)
        );
        let from = probe.received_so_far();
        assert!(
            wait_until(Duration::from_secs(3), POLL, || probe.received_so_far()
                >= from + 20)
            .is_some(),
            "the client's pings did not resume on lb02\n{}",
            lab.log_tails(30)
        );
    });
    let report = probe.finish().unwrap();
    eprintln!("IPv6, FRR master {frr_is_master}: client {report}; entries seen {seen:?}");
    assert_eq!(seen, [VMAC_V6], "the client's entry changed");
}

#[test]
fn ipv6_frr_master_then_vrrpd() {
    ipv6_with_frr(true);
}

#[test]
fn ipv6_vrrpd_master_then_frr() {
    ipv6_with_frr(false);
}
