//! Unicast peers (config `unicast_peers` / `unicast_source`) against keepalived's
//! `unicast_src_ip` / `unicast_peer`, on a lab segment whose switch does not forward
//! multicast at all (bridge ports with `mcast_flood off`), like the networks unicast mode
//! is for. Needs root and keepalived 2.2.
//!
//! A capture on the vrrpd host checks the wire: every advertisement, sent or received,
//! goes to a peer's own address with TTL 255 (keepalived sends unicast with TTL 255 too),
//! none to 224.0.0.18.
//!
//! VRRPv3 over IPv6 in unicast mode, on the same filtered segment (where neighbour
//! discovery's multicast does not pass either, so the hosts get static neighbour
//! entries): a vrrpd pair from link-local sources, vrrpd against keepalived with global
//! `unicast_src_ip`s and with keepalived's default link-local source, in both directions
//! of takeover; adverts go to the peer's address with hop limit 255, none to ff02::12.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::lab::{Host, Lab, LabProcess, wait_until};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");
const LB01: &str = "192.0.2.41";
const LB02: &str = "192.0.2.42";
const POLL: Duration = Duration::from_millis(5);

/// vrrpd's side of the user's pair (VRRPv2 with PASS, or VRRPv3), in unicast mode.
fn vrrpd_config_version(version: u8, priority: u8, source: &str, peer: &str) -> String {
    let mut config = serde_json::json!({
        "instances": [{
            "name": "VI_1",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": version,
            "priority": priority,
            "virtual_addresses": [VIP],
            "garp_master_refresh_s": 60,
            "unicast_source": source,
            "unicast_peers": [peer]
        }]
    });
    if version == 2 {
        config["instances"][0]["authentication"] =
            serde_json::json!({ "type": "pass", "password": "password" });
    }
    config.to_string()
}

fn vrrpd_config(priority: u8, source: &str, peer: &str) -> String {
    vrrpd_config_version(2, priority, source, peer)
}

/// keepalived's side: the same instance with `unicast_src_ip` / `unicast_peer`.
fn keepalived_config_version(
    version: u8,
    router_id: &str,
    priority: u8,
    source: &str,
    peer: &str,
) -> String {
    let authentication = if version == 2 {
        "    authentication {\n        auth_type PASS\n        auth_pass password\n    }\n"
    } else {
        ""
    };
    format!(
        "global_defs {{\n    router_id {router_id}\n    vrrp_garp_master_refresh 60\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    version {version}\n\
         \x20   virtual_router_id 50\n    priority {priority}\n    advert_int 1\n\
         {authentication}\
         \x20   unicast_src_ip {source}\n    unicast_peer {{\n        {peer}\n    }}\n\
         \x20   virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
    )
}

fn keepalived_config(router_id: &str, priority: u8, source: &str, peer: &str) -> String {
    keepalived_config_version(2, router_id, priority, source, peer)
}

/// A pair lab whose switch floods no multicast to any host.
fn unicast_lab(tag: &str) -> PairLab {
    let pair = PairLab::new(tag);
    for host in [&pair.lb01, &pair.lb02, &pair.client] {
        pair.lab
            .set_multicast_flooding(host, false)
            .expect("turning multicast flooding off on the lab bridge");
    }
    pair
}

/// tshark on a host's eth0, VRRP only, written to a pcap in the lab directory.
struct Capture {
    process: LabProcess,
    file: std::path::PathBuf,
}

/// One captured VRRP packet.
#[derive(Debug)]
struct Captured {
    source: IpAddr,
    destination: IpAddr,
    ttl: u8,
    priority: u8,
}

impl Capture {
    fn start(host: &Host) -> Capture {
        Capture::start_filtered(host, "ip proto 112", "vrrp")
    }

    /// VRRP over IPv6 (next header 112 right after the IPv6 header, as VRRP is sent).
    fn start_v6(host: &Host) -> Capture {
        Capture::start_filtered(host, "ip6 proto 112", "vrrp6")
    }

    fn start_filtered(host: &Host, filter: &str, tag: &str) -> Capture {
        let file = host.lab_dir().join(format!("{}-{tag}.pcap", host.name()));
        let path = file.to_string_lossy().into_owned();
        let process = host
            .spawn("tshark", &["-n", "-i", "eth0", "-f", filter, "-w", &path])
            .expect("starting tshark");
        let ready = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
            process.log().contains("Capturing on")
        });
        assert!(ready.is_some(), "tshark did not start: {}", process.log());
        Capture { process, file }
    }

    fn finish(self) -> Vec<Captured> {
        let file = self.stop();
        read_capture(&file, ["ip.src", "ip.dst", "ip.ttl"])
    }

    fn finish_v6(self) -> Vec<Captured> {
        let file = self.stop();
        read_capture(&file, ["ipv6.src", "ipv6.dst", "ipv6.hlim"])
    }

    fn stop(mut self) -> std::path::PathBuf {
        // Let the last packets reach the file before stopping.
        std::thread::sleep(Duration::from_millis(300));
        self.process
            .signal(Signal::SIGINT)
            .expect("stopping tshark");
        let _ = self.process.wait_timeout(Duration::from_secs(10));
        self.file
    }
}

/// The packets of a capture: `ip_fields` are the source, destination and TTL / hop
/// limit fields of the family captured.
fn read_capture(file: &Path, ip_fields: [&str; 3]) -> Vec<Captured> {
    let output = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args([
            "-T",
            "fields",
            "-e",
            ip_fields[0],
            "-e",
            ip_fields[1],
            "-e",
            ip_fields[2],
            "-e",
            "vrrp.prio",
        ])
        .output()
        .expect("running tshark -r");
    assert!(
        output.status.success(),
        "tshark -r: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "unexpected tshark line {line:?}");
            Captured {
                source: fields[0].parse().expect("source"),
                destination: fields[1].parse().expect("destination"),
                ttl: fields[2].parse().expect("TTL / hop limit"),
                priority: fields[3].parse().expect("vrrp.prio"),
            }
        })
        .collect()
}

/// The client's pings reach the VIP, answered by `holder` (its ARP entry has `holder`'s MAC).
fn assert_client_reaches_vip_on(pair: &PairLab, holder: &Host) {
    assert_client_reaches(&pair.client, vip(), holder, Duration::from_secs(3));
}

fn wait_for_holder(holder: &Host, other: &Host, timeout: Duration) -> bool {
    wait_until(timeout, POLL, || {
        holder.has_address(vip()) && !other.has_address(vip())
    })
    .is_some()
}

#[test]
fn vrrpd_and_keepalived_in_unicast_mode_elect_fail_over_and_never_multicast() {
    unicast_pair_with_keepalived("uni", 2);
}

/// VRRPv3's checksum covers a pseudo-header with the destination address (RFC 5798
/// §5.2.8): keepalived accepts vrrpd's adverts only if each was checksummed for its peer.
#[test]
fn vrrpv3_unicast_checksums_use_the_peer_as_destination() {
    unicast_pair_with_keepalived("univ3", 3);
}

fn unicast_pair_with_keepalived(tag: &str, version: u8) {
    let _timing = timing_guard(false);
    let pair = unicast_lab(tag);
    let capture = Capture::start(&pair.lb01);
    let vrrpd_config =
        |priority, source, peer| vrrpd_config_version(version, priority, source, peer);

    // lb01 (vrrpd, 150) and lb02 (keepalived, 100), each listing the other.
    let mut vrrpd = pair
        .lb01
        .start_vrrpd(Path::new(VRRPD), &vrrpd_config(HIGH_PRIORITY, LB01, LB02))
        .unwrap();
    let mut keepalived = pair
        .lb02
        .start_keepalived(&keepalived_config_version(
            version,
            "lb02",
            LOW_PRIORITY,
            LB02,
            LB01,
        ))
        .unwrap();

    // Election: both start as backup; lb01's Master_Down_Interval (3.41 s) runs out
    // first and keepalived hears lb01's unicast adverts, so it stays backup.
    assert!(
        wait_for_holder(&pair.lb01, &pair.lb02, Duration::from_secs(10)),
        "lb01 (vrrpd) never became the only VIP holder\n{}",
        pair.lab.log_tails(30)
    );
    // Steady state for a few adverts: still one holder.
    let (_, both, neither) = sample_holders(
        &pair.lb01,
        &pair.lb02,
        vip(),
        Duration::from_secs(3),
        Duration::from_millis(20),
    );
    assert_eq!(
        (both, neither),
        (0, 0),
        "exactly one holder in steady state\n{}",
        pair.lab.log_tails(30)
    );
    assert_client_reaches_vip_on(&pair, &pair.lb01);

    // Graceful stop: vrrpd resigns with a priority-0 advert to its peer, so keepalived
    // takes over after its Skew_Time (0.61 s), far sooner than 3.61 s.
    let stopped = Instant::now();
    vrrpd.terminate(Duration::from_secs(5)).unwrap();
    wait_until(Duration::from_secs(5), POLL, || {
        pair.lb02.has_address(vip())
    })
    .unwrap_or_else(|| {
        panic!(
            "keepalived did not take over after vrrpd stopped\n{}",
            pair.lab.log_tails(30)
        )
    });
    // From the SIGTERM (`terminate` returns only once vrrpd has exited, which may be after
    // the takeover). Under 2 s: Skew_Time (0.61 s) plus over a second for vrrpd's exit and
    // scheduling, and well under the 2.61 s a keepalived that did not hear the priority-0
    // advert would wait at least (Master_Down_Interval 3.61 s − one 1 s interval).
    let took_over = stopped.elapsed();
    assert!(
        took_over < Duration::from_secs(2),
        "keepalived took {} to take over: the priority-0 advert did not arrive",
        secs(took_over)
    );
    assert!(!pair.lb01.has_address(vip()), "vrrpd left the VIP behind");
    assert_client_reaches_vip_on(&pair, &pair.lb02);

    // vrrpd comes back as backup, hears keepalived (100) by unicast and preempts it.
    let mut vrrpd = pair
        .lb01
        .start_vrrpd(Path::new(VRRPD), &vrrpd_config(HIGH_PRIORITY, LB01, LB02))
        .unwrap();
    assert!(
        wait_for_holder(&pair.lb01, &pair.lb02, Duration::from_secs(10)),
        "vrrpd did not preempt keepalived\n{}",
        pair.lab.log_tails(30)
    );
    assert_client_reaches_vip_on(&pair, &pair.lb01);

    // Stop both and check the wire.
    assert!(vrrpd.is_running() && keepalived.is_running());
    vrrpd.terminate(Duration::from_secs(5)).unwrap();
    keepalived.terminate(Duration::from_secs(5)).unwrap();
    let packets = capture.finish();

    let lb01: IpAddr = LB01.parse().unwrap();
    let lb02: IpAddr = LB02.parse().unwrap();
    let from_vrrpd: Vec<&Captured> = packets.iter().filter(|p| p.source == lb01).collect();
    let from_keepalived: Vec<&Captured> = packets.iter().filter(|p| p.source == lb02).collect();
    assert!(
        from_vrrpd.len() >= 5 && from_keepalived.len() >= 2,
        "expected adverts from both sides, got {packets:?}"
    );
    for packet in &packets {
        assert!(
            !packet.destination.is_multicast(),
            "a VRRP packet went to a multicast group: {packet:?}"
        );
        assert_eq!(
            packet.ttl, 255,
            "unicast adverts are sent with TTL 255: {packet:?}"
        );
    }
    assert!(
        from_vrrpd.iter().all(|p| p.destination == lb02),
        "{from_vrrpd:?}"
    );
    assert!(
        from_keepalived.iter().all(|p| p.destination == lb01),
        "{from_keepalived:?}"
    );
    // vrrpd's resignation went to its peer too.
    assert!(
        from_vrrpd.iter().any(|p| p.priority == 0),
        "no priority-0 advert from vrrpd: {from_vrrpd:?}"
    );
    // Neither side dropped the other's adverts (checksum, authentication, TTL).
    let keepalived_log = keepalived.log().to_lowercase();
    for complaint in ["checksum", "invalid", "ttl"] {
        assert!(
            !keepalived_log.contains(complaint),
            "keepalived complained ({complaint}):\n{keepalived_log}"
        );
    }
    assert!(
        !vrrpd_logs(&pair).contains("ignored a VRRP packet"),
        "vrrpd dropped keepalived's adverts:\n{}",
        vrrpd_logs(&pair)
    );
}

/// Every vrrpd log of lb01 (it ran twice).
fn vrrpd_logs(pair: &PairLab) -> String {
    vrrpd_logs_of(&pair.lab, "lb01")
}

/// Every vrrpd log of `host` in `lab`.
fn vrrpd_logs_of(lab: &Lab, host: &str) -> String {
    let prefix = format!("{host}-vrrpd");
    let mut all = String::new();
    let mut paths: Vec<_> = std::fs::read_dir(lab.dir())
        .unwrap()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(&prefix))
                && path.extension().is_some_and(|ext| ext == "log")
        })
        .collect();
    paths.sort();
    for path in paths {
        all.push_str(&std::fs::read_to_string(path).unwrap_or_default());
    }
    all
}

#[test]
fn adverts_from_a_router_that_is_not_a_peer_are_dropped_and_logged() {
    let _timing = timing_guard(false);
    let pair = unicast_lab("unistr");
    let mut vrrpd = pair
        .lb01
        .start_vrrpd(Path::new(VRRPD), &vrrpd_config(HIGH_PRIORITY, LB01, LB02))
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), POLL, || pair
            .lb01
            .has_address(vip()))
        .is_some(),
        "lb01 never became master\n{}",
        pair.lab.log_tails(30)
    );
    // A stranger (the client's address, not in lb01's unicast_peers) claims the VRID
    // with a higher priority, sending to lb01 by unicast.
    let client = CLIENT_ADDRESS.split('/').next().unwrap();
    let mut stranger = pair
        .client
        .start_keepalived(&keepalived_config("stranger", 200, client, LB01))
        .unwrap();
    // keepalived becomes master after its own Master_Down_Interval (3.2 s) since it hears
    // nothing (lb01 does not send to it) and then advertises priority 200 to lb01.
    let dropped = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        vrrpd
            .log()
            .contains("ignored a VRRP packet from 192.0.2.10: sender is not one of this instance's unicast_peers")
    });
    assert!(
        dropped.is_some(),
        "vrrpd did not log the stranger's adverts\n{}",
        pair.lab.log_tails(30)
    );
    // Several adverts later, lb01 is still master: a priority-200 advert from a listed
    // peer would have made it backup at once.
    std::thread::sleep(Duration::from_secs(2));
    assert!(pair.lb01.has_address(vip()), "vrrpd yielded to a non-peer");
    assert!(
        !vrrpd
            .log()
            .contains("Entering BACKUP STATE (reason: advertisement from"),
        "vrrpd yielded to a non-peer\n{}",
        vrrpd.log()
    );
    assert!(vrrpd.is_running());
    stranger.terminate(Duration::from_secs(5)).unwrap();
    vrrpd.terminate(Duration::from_secs(5)).unwrap();
}

/// The control: on this lab a multicast pair cannot see each other, so both become
/// master (the split brain unicast mode exists to avoid). Proves the switch really drops
/// multicast, so the unicast test above could not have passed on multicast.
#[test]
fn multicast_pair_splits_on_the_filtered_lab() {
    let _timing = timing_guard(false);
    let pair = unicast_lab("unictl");
    let multicast = |priority: u8| {
        let mut config: serde_json::Value =
            serde_json::from_str(&vrrpd_config(priority, LB01, LB02)).unwrap();
        let instance = config["instances"][0].as_object_mut().unwrap();
        instance.remove("unicast_source");
        instance.remove("unicast_peers");
        config.to_string()
    };
    let mut lb01 = pair
        .lb01
        .start_vrrpd(Path::new(VRRPD), &multicast(HIGH_PRIORITY))
        .unwrap();
    let mut lb02 = pair
        .lb02
        .start_vrrpd(Path::new(VRRPD), &multicast(LOW_PRIORITY))
        .unwrap();
    let split = wait_until(Duration::from_secs(10), POLL, || {
        pair.lb01.has_address(vip()) && pair.lb02.has_address(vip())
    });
    assert!(
        split.is_some(),
        "multicast adverts got through the filtered bridge\n{}",
        pair.lab.log_tails(30)
    );
    lb01.terminate(Duration::from_secs(5)).unwrap();
    lb02.terminate(Duration::from_secs(5)).unwrap();
}

// ---- VRRPv3 over IPv6 in unicast mode -----------------------------------------------------

/// The link-local virtual address, first in the list (RFC 5798 §5.2.9).
const VIP6_LINK_LOCAL: &str = "fe80::40";
/// The global virtual address.
const VIP6: &str = "2001:db8::40";
const LB01_V6: &str = "2001:db8::41";
const LB02_V6: &str = "2001:db8::42";
const ADVERT: Duration = Duration::from_secs(1);

fn vip6() -> IpAddr {
    VIP6.parse().unwrap()
}

/// lb01 and lb02, each with an IPv4 and an IPv6 address (and the kernel's link-local
/// one), and a client, on a switch that floods no multicast to lb01 and lb02. Neighbour
/// discovery is multicast too, so each lb knows the other's MAC statically, as on a
/// network where only unicast passes.
struct V6UnicastLab {
    lab: Lab,
    lb01: Host,
    lb02: Host,
    /// The kernel's link-local address of each lb's eth0 (vrrpd's and keepalived's
    /// default source, RFC 5798 §5.1.2.1).
    lb01_link_local: IpAddr,
    lb02_link_local: IpAddr,
}

impl V6UnicastLab {
    fn new(tag: &str) -> V6UnicastLab {
        require_root();
        let mut lab = Lab::new(tag).expect("creating the lab (root, iproute2)");
        let lb01 = lab
            .add_host("lb01", &[LB01_ADDRESS, "2001:db8::41/64"])
            .expect("adding lb01");
        let lb02 = lab
            .add_host("lb02", &[LB02_ADDRESS, "2001:db8::42/64"])
            .expect("adding lb02");
        lab.add_host("client", &[CLIENT_ADDRESS, "2001:db8::10/64"])
            .expect("adding the client");
        for host in [&lb01, &lb02] {
            lab.set_multicast_flooding(host, false)
                .expect("turning multicast flooding off on the lab bridge");
        }
        let lb01_link_local = link_local_of(&lb01);
        let lb02_link_local = link_local_of(&lb02);
        for (host, other, other_link_local, other_global) in [
            (&lb01, &lb02, lb02_link_local, LB02_V6),
            (&lb02, &lb01, lb01_link_local, LB01_V6),
        ] {
            let mac = other.mac().expect("the peer's MAC");
            for address in [other_link_local.to_string(), other_global.to_owned()] {
                host.run(
                    "ip",
                    &[
                        "-6",
                        "neigh",
                        "replace",
                        &address,
                        "lladdr",
                        &mac,
                        "dev",
                        "eth0",
                        "nud",
                        "permanent",
                    ],
                )
                .expect("adding a static neighbour entry");
            }
        }
        V6UnicastLab {
            lab,
            lb01,
            lb02,
            lb01_link_local,
            lb02_link_local,
        }
    }

    fn holds_both(host: &Host) -> bool {
        host.has_address(vip6()) && host.has_address(VIP6_LINK_LOCAL.parse().unwrap())
    }

    /// Waits until `holder` alone has both virtual addresses.
    fn wait_sole_holder(&self, holder: &Host, other: &Host, timeout: Duration) -> bool {
        wait_until(timeout, POLL, || {
            Self::holds_both(holder) && !other.has_address(vip6())
        })
        .is_some()
    }

    /// No moment with two holders or none, sampled for a few adverts.
    fn assert_steady(&self) {
        let (_, both, neither) = sample_holders(
            &self.lb01,
            &self.lb02,
            vip6(),
            Duration::from_secs(3),
            Duration::from_millis(20),
        );
        assert_eq!(
            (both, neither),
            (0, 0),
            "exactly one holder in steady state\n{}",
            self.lab.log_tails(30)
        );
    }
}

/// The link-local address the kernel gave `host`'s eth0 (the lab turns DAD off, so it
/// is usable at once).
fn link_local_of(host: &Host) -> IpAddr {
    host.ip_addr_json()
        .expect("reading eth0's addresses")
        .into_iter()
        .find(|address| matches!(address, IpAddr::V6(v6) if v6.is_unicast_link_local()))
        .unwrap_or_else(|| panic!("{} has no link-local address", host.name()))
}

/// vrrpd's IPv6 instance in unicast mode; `source` None: the interface's link-local.
fn vrrpd_v6_config(priority: u8, source: Option<&str>, peer: &str) -> String {
    let mut config = serde_json::json!({
        "instances": [{
            "name": "VI_6",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": 3,
            "priority": priority,
            "advert_interval_ms": ADVERT.as_millis() as u64,
            "virtual_addresses": [format!("{VIP6_LINK_LOCAL}/64"), format!("{VIP6}/64")],
            "unicast_peers": [peer]
        }]
    });
    if let Some(source) = source {
        config["instances"][0]["unicast_source"] = serde_json::json!(source);
    }
    config.to_string()
}

/// keepalived's IPv6 instance with `unicast_peer`; `source` None: no `unicast_src_ip`,
/// so keepalived sends from the interface's link-local address. With `unicast_ttl 255`:
/// keepalived 2.2.7 otherwise sends IPv6 unicast adverts with the kernel's default hop
/// limit, which vrrpd drops (RFC 9568 §7.1; the last test shows it).
fn keepalived_v6_config(router_id: &str, priority: u8, source: Option<&str>, peer: &str) -> String {
    keepalived_v6_config_ttl(router_id, priority, source, peer, true)
}

fn keepalived_v6_config_ttl(
    router_id: &str,
    priority: u8,
    source: Option<&str>,
    peer: &str,
    ttl_255: bool,
) -> String {
    let mut source = source
        .map(|source| format!("    unicast_src_ip {source}\n"))
        .unwrap_or_default();
    if ttl_255 {
        source.push_str("    unicast_ttl 255\n");
    }
    format!(
        "global_defs {{\n    router_id {router_id}\n}}\n\
         vrrp_instance VI_6 {{\n    state BACKUP\n    interface eth0\n    version 3\n\
         \x20   virtual_router_id 50\n    priority {priority}\n    advert_int {advert}\n\
         {source}\
         \x20   unicast_peer {{\n        {peer}\n    }}\n\
         \x20   virtual_ipaddress {{\n        {VIP6_LINK_LOCAL}/64\n        {VIP6}/64\n    }}\n}}\n",
        advert = ADVERT.as_secs()
    )
}

/// The wire: every VRRP packet went from `a` to `b` or from `b` to `a` (their unicast
/// addresses), with hop limit 255, none to ff02::12 or any group; both sent some.
fn assert_unicast_between(packets: &[Captured], a: IpAddr, b: IpAddr) -> (usize, usize) {
    for packet in packets {
        assert!(
            !packet.destination.is_multicast(),
            "a VRRP packet went to a multicast group: {packet:?}"
        );
        assert_eq!(
            packet.ttl, 255,
            "hop limit 255 (RFC 5798 §5.1.1.3): {packet:?}"
        );
        assert!(
            (packet.source == a && packet.destination == b)
                || (packet.source == b && packet.destination == a),
            "a VRRP packet not between {a} and {b}: {packet:?}"
        );
    }
    let from_a = packets.iter().filter(|p| p.source == a).count();
    let from_b = packets.iter().filter(|p| p.source == b).count();
    assert!(
        from_a >= 2 && from_b >= 2,
        "expected adverts from both {a} ({from_a}) and {b} ({from_b}): {packets:?}"
    );
    (from_a, from_b)
}

/// A vrrpd pair over IPv6 unicast, each sending from its link-local address (no
/// unicast_source) to the other's: election, a graceful stop (priority 0 to the peer),
/// preemption back, and the master killed (the backup takes over on silence).
#[test]
fn ipv6_vrrpd_pair_in_unicast_mode_fails_over_and_never_multicasts() {
    let _timing = timing_guard(false);
    let lab = V6UnicastLab::new("uni6");
    let capture = Capture::start_v6(&lab.lb01);
    let lb01_peer = lab.lb02_link_local.to_string();
    let lb02_peer = lab.lb01_link_local.to_string();
    let lb01_config = vrrpd_v6_config(HIGH_PRIORITY, None, &lb01_peer);
    let lb02_config = vrrpd_v6_config(LOW_PRIORITY, None, &lb02_peer);

    let mut lb01 = lab
        .lb01
        .start_vrrpd(Path::new(VRRPD), &lb01_config)
        .unwrap();
    let mut lb02 = lab
        .lb02
        .start_vrrpd(Path::new(VRRPD), &lb02_config)
        .unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb01, &lab.lb02, Duration::from_secs(10)),
        "lb01 never became the only holder\n{}",
        lab.lab.log_tails(30)
    );
    lab.assert_steady();

    // Graceful stop: lb01's priority-0 advert reaches lb02 by unicast, which takes over
    // after its Skew_Time (0.61 s), not after Master_Down_Interval (3.61 s); lb01 keeps
    // the addresses until it hears lb02's unicast advert (make-before-break).
    let stopped = Instant::now();
    lb01.terminate(Duration::from_secs(5)).unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb02, &lab.lb01, Duration::from_secs(5)),
        "lb02 did not take over after lb01 stopped\n{}",
        lab.lab.log_tails(30)
    );
    let took_over = stopped.elapsed();
    assert!(
        took_over < Duration::from_secs(2),
        "lb02 took {} to take over: the priority-0 advert did not arrive",
        secs(took_over)
    );

    // lb01 comes back, hears lb02 (100) by unicast and preempts it.
    let mut lb01 = lab
        .lb01
        .start_vrrpd(Path::new(VRRPD), &lb01_config)
        .unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb01, &lab.lb02, Duration::from_secs(10)),
        "lb01 did not preempt lb02\n{}",
        lab.lab.log_tails(30)
    );
    lab.assert_steady();

    // The master dies without a word: lb02 takes over once Master_Down_Interval
    // (3 × 1 s + Skew_Time 0.61 s) has passed without lb01's unicast adverts, not sooner
    // than two intervals after the kill (the last advert may have left just before it).
    let killed = Instant::now();
    lb01.kill9().unwrap();
    let took_over = wait_until(Duration::from_secs(10), POLL, || {
        V6UnicastLab::holds_both(&lab.lb02)
    });
    assert!(
        took_over.is_some(),
        "lb02 did not take over from the killed lb01\n{}",
        lab.lab.log_tails(30)
    );
    // From the kill itself (the wait started once it was reaped).
    let after = killed.elapsed();
    let bound = master_down_interval(ADVERT, LOW_PRIORITY);
    assert!(
        after >= bound - ADVERT - Duration::from_millis(100)
            && after <= bound + Duration::from_millis(1500),
        "lb02 took over {} after the kill; Master_Down_Interval is {}",
        secs(after),
        secs(bound)
    );
    assert!(lb02.is_running());
    lb02.terminate(Duration::from_secs(5)).unwrap();

    let packets = capture.finish_v6();
    let (from_lb01, _) = assert_unicast_between(&packets, lab.lb01_link_local, lab.lb02_link_local);
    assert!(from_lb01 >= 5, "{packets:?}");
    assert!(
        packets
            .iter()
            .any(|p| p.source == lab.lb01_link_local && p.priority == 0),
        "no priority-0 advert from lb01 to its peer: {packets:?}"
    );
    for host in ["lb01", "lb02"] {
        let logs = vrrpd_logs_of(&lab.lab, host);
        assert!(
            !logs.contains("ignored a VRRP packet"),
            "{host} dropped its peer's adverts:\n{logs}"
        );
    }
}

/// Require keepalived 2.2 for the interop tests: they fail, not pass, without it.
fn require_keepalived() {
    let version = Command::new("keepalived").arg("--version").output();
    let text = version
        .map(|output| {
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr)
        })
        .unwrap_or_default();
    assert!(
        text.contains("Keepalived v2.2"),
        "these tests need keepalived 2.2 installed; `keepalived --version` said {text:?}"
    );
}

/// vrrpd (150) and keepalived (100) over IPv6 unicast with global sources
/// (`unicast_source` / `unicast_src_ip`): vrrpd wins, hands over to keepalived on a
/// graceful stop (priority 0) and takes the addresses back on restart.
#[test]
fn ipv6_vrrpd_and_keepalived_in_unicast_mode_with_global_sources() {
    require_keepalived();
    let _timing = timing_guard(false);
    let lab = V6UnicastLab::new("uni6ka");
    let capture = Capture::start_v6(&lab.lb01);
    let vrrpd_config = vrrpd_v6_config(HIGH_PRIORITY, Some(LB01_V6), LB02_V6);
    let mut vrrpd = lab
        .lb01
        .start_vrrpd(Path::new(VRRPD), &vrrpd_config)
        .unwrap();
    let mut keepalived = lab
        .lb02
        .start_keepalived(&keepalived_v6_config(
            "lb02",
            LOW_PRIORITY,
            Some(LB02_V6),
            LB01_V6,
        ))
        .unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb01, &lab.lb02, Duration::from_secs(10)),
        "vrrpd never became the only holder\n{}",
        lab.lab.log_tails(30)
    );
    lab.assert_steady();

    // vrrpd → keepalived: the priority-0 advert makes keepalived take over after its
    // Skew_Time.
    let stopped = Instant::now();
    vrrpd.terminate(Duration::from_secs(5)).unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb02, &lab.lb01, Duration::from_secs(5)),
        "keepalived did not take over after vrrpd stopped\n{}",
        lab.lab.log_tails(30)
    );
    let took_over = stopped.elapsed();
    assert!(
        took_over < Duration::from_secs(2),
        "keepalived took {} to take over: the priority-0 advert did not arrive",
        secs(took_over)
    );

    // keepalived → vrrpd: vrrpd comes back, hears keepalived (100) and preempts it.
    let mut vrrpd = lab
        .lb01
        .start_vrrpd(Path::new(VRRPD), &vrrpd_config)
        .unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb01, &lab.lb02, Duration::from_secs(10)),
        "vrrpd did not preempt keepalived\n{}",
        lab.lab.log_tails(30)
    );
    lab.assert_steady();
    assert!(vrrpd.is_running() && keepalived.is_running());
    vrrpd.terminate(Duration::from_secs(5)).unwrap();
    keepalived.terminate(Duration::from_secs(5)).unwrap();

    let packets = capture.finish_v6();
    let lb01: IpAddr = LB01_V6.parse().unwrap();
    let lb02: IpAddr = LB02_V6.parse().unwrap();
    assert_unicast_between(&packets, lb01, lb02);
    assert!(
        packets.iter().any(|p| p.source == lb01 && p.priority == 0),
        "no priority-0 advert from vrrpd: {packets:?}"
    );
    assert_keepalived_accepted(&keepalived);
    let logs = vrrpd_logs_of(&lab.lab, "lb01");
    assert!(
        !logs.contains("ignored a VRRP packet"),
        "vrrpd dropped keepalived's adverts:\n{logs}"
    );
}

/// keepalived (150) without `unicast_src_ip`, so from its link-local address, and vrrpd
/// (100) from its own: keepalived wins, vrrpd takes over when keepalived stops, and
/// keepalived preempts vrrpd when it comes back.
#[test]
fn ipv6_keepalived_master_from_its_link_local_and_vrrpd_take_over_from_each_other() {
    require_keepalived();
    let _timing = timing_guard(false);
    let lab = V6UnicastLab::new("uni6ll");
    let capture = Capture::start_v6(&lab.lb01);
    let keepalived_config = keepalived_v6_config(
        "lb02",
        HIGH_PRIORITY,
        None,
        &lab.lb01_link_local.to_string(),
    );
    let mut vrrpd = lab
        .lb01
        .start_vrrpd(
            Path::new(VRRPD),
            &vrrpd_v6_config(LOW_PRIORITY, None, &lab.lb02_link_local.to_string()),
        )
        .unwrap();
    let mut keepalived = lab.lb02.start_keepalived(&keepalived_config).unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb02, &lab.lb01, Duration::from_secs(10)),
        "keepalived never became the only holder\n{}",
        lab.lab.log_tails(30)
    );
    lab.assert_steady();

    // keepalived → vrrpd: keepalived's priority-0 advert on stop.
    let stopped = Instant::now();
    keepalived.terminate(Duration::from_secs(5)).unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb01, &lab.lb02, Duration::from_secs(5)),
        "vrrpd did not take over after keepalived stopped\n{}",
        lab.lab.log_tails(30)
    );
    let took_over = stopped.elapsed();
    assert!(
        took_over < Duration::from_secs(2),
        "vrrpd took {} to take over: keepalived's priority-0 advert did not count",
        secs(took_over)
    );

    // vrrpd → keepalived: keepalived comes back with the higher priority and preempts.
    let mut keepalived = lab.lb02.start_keepalived(&keepalived_config).unwrap();
    assert!(
        lab.wait_sole_holder(&lab.lb02, &lab.lb01, Duration::from_secs(10)),
        "keepalived did not preempt vrrpd\n{}",
        lab.lab.log_tails(30)
    );
    lab.assert_steady();
    assert!(vrrpd.is_running() && keepalived.is_running());
    keepalived.terminate(Duration::from_secs(5)).unwrap();
    vrrpd.terminate(Duration::from_secs(5)).unwrap();

    let packets = capture.finish_v6();
    assert_unicast_between(&packets, lab.lb01_link_local, lab.lb02_link_local);
    assert!(
        packets
            .iter()
            .any(|p| p.source == lab.lb02_link_local && p.priority == 0),
        "no priority-0 advert from keepalived: {packets:?}"
    );
    assert_keepalived_accepted(&keepalived);
    let logs = vrrpd_logs_of(&lab.lab, "lb01");
    assert!(
        !logs.contains("ignored a VRRP packet"),
        "vrrpd dropped keepalived's adverts:\n{logs}"
    );
}

/// keepalived logged no complaint about vrrpd's adverts (checksum, hop limit, unicast
/// vs multicast, unknown source).
fn assert_keepalived_accepted(keepalived: &LabProcess) {
    let log = keepalived.log().to_lowercase();
    for complaint in [
        "checksum",
        "invalid",
        "ttl",
        "expected",
        "not a unicast peer",
    ] {
        assert!(
            !log.contains(complaint),
            "keepalived complained ({complaint}):\n{log}"
        );
    }
}

/// The control for IPv6: a multicast pair on this lab cannot hear each other (ff02::12
/// is not flooded to them), so both become master; the unicast tests above could not
/// have passed on multicast.
#[test]
fn ipv6_multicast_pair_splits_on_the_filtered_lab() {
    let _timing = timing_guard(false);
    let lab = V6UnicastLab::new("uni6ctl");
    let multicast = |priority: u8| {
        let mut config: serde_json::Value =
            serde_json::from_str(&vrrpd_v6_config(priority, None, LB02_V6)).unwrap();
        config["instances"][0]
            .as_object_mut()
            .unwrap()
            .remove("unicast_peers");
        config.to_string()
    };
    let mut lb01 = lab
        .lb01
        .start_vrrpd(Path::new(VRRPD), &multicast(HIGH_PRIORITY))
        .unwrap();
    let mut lb02 = lab
        .lb02
        .start_vrrpd(Path::new(VRRPD), &multicast(LOW_PRIORITY))
        .unwrap();
    let split = wait_until(Duration::from_secs(10), POLL, || {
        V6UnicastLab::holds_both(&lab.lb01) && V6UnicastLab::holds_both(&lab.lb02)
    });
    assert!(
        split.is_some(),
        "IPv6 multicast adverts got through the filtered bridge\n{}",
        lab.lab.log_tails(30)
    );
    lb01.terminate(Duration::from_secs(5)).unwrap();
    lb02.terminate(Duration::from_secs(5)).unwrap();
}

/// keepalived 2.2.7 without `unicast_ttl` sends its IPv6 unicast adverts with the
/// kernel's default hop limit; vrrpd keeps RFC 9568 §7.1 and drops them (logged), so it
/// becomes master too: the reason the docs and the importer ask for `unicast_ttl 255`.
#[test]
fn ipv6_unicast_adverts_from_keepalived_without_unicast_ttl_are_dropped_for_their_hop_limit() {
    require_keepalived();
    let _timing = timing_guard(false);
    let lab = V6UnicastLab::new("uni6ttl");
    let capture = Capture::start_v6(&lab.lb01);
    let mut keepalived = lab
        .lb02
        .start_keepalived(&keepalived_v6_config_ttl(
            "lb02",
            HIGH_PRIORITY,
            Some(LB02_V6),
            LB01_V6,
            false,
        ))
        .unwrap();
    let mut vrrpd = lab
        .lb01
        .start_vrrpd(
            Path::new(VRRPD),
            &vrrpd_v6_config(LOW_PRIORITY, Some(LB01_V6), LB02_V6),
        )
        .unwrap();
    let dropped = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        vrrpd
            .log()
            .contains("ignored a VRRP packet from 2001:db8::42: TTL/hop limit is not 255")
    });
    assert!(
        dropped.is_some(),
        "vrrpd did not drop keepalived's adverts for their hop limit\n{}",
        lab.lab.log_tails(30)
    );
    // Deaf to keepalived (150), vrrpd (100) becomes master after its own
    // Master_Down_Interval: both hold the addresses.
    let split = wait_until(Duration::from_secs(10), POLL, || {
        V6UnicastLab::holds_both(&lab.lb01) && V6UnicastLab::holds_both(&lab.lb02)
    });
    assert!(
        split.is_some(),
        "expected both to be master\n{}",
        lab.lab.log_tails(30)
    );
    vrrpd.terminate(Duration::from_secs(5)).unwrap();
    keepalived.terminate(Duration::from_secs(5)).unwrap();
    let packets = capture.finish_v6();
    let lb02: IpAddr = LB02_V6.parse().unwrap();
    let from_keepalived: Vec<&Captured> = packets.iter().filter(|p| p.source == lb02).collect();
    assert!(
        !from_keepalived.is_empty() && from_keepalived.iter().all(|p| p.ttl != 255),
        "keepalived's adverts carried hop limit 255 after all: {from_keepalived:?}"
    );
}
