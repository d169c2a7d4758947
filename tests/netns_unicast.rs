//! Unicast peers (config `unicast_peers` / `unicast_source`) against keepalived's
//! `unicast_src_ip` / `unicast_peer`, on a lab segment whose switch does not forward
//! multicast at all (bridge ports with `mcast_flood off`), like the networks unicast mode
//! is for. Needs root and keepalived 2.2.
//!
//! A capture on the vrrpd host checks the wire: every advertisement, sent or received,
//! goes to a peer's own address with TTL 255 (keepalived sends unicast with TTL 255 too),
//! none to 224.0.0.18.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::lab::{Host, LabProcess, wait_until};

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
        let file = host.lab_dir().join(format!("{}-vrrp.pcap", host.name()));
        let path = file.to_string_lossy().into_owned();
        let process = host
            .spawn(
                "tshark",
                &["-n", "-i", "eth0", "-f", "ip proto 112", "-w", &path],
            )
            .expect("starting tshark");
        let ready = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
            process.log().contains("Capturing on")
        });
        assert!(ready.is_some(), "tshark did not start: {}", process.log());
        Capture { process, file }
    }

    fn finish(mut self) -> Vec<Captured> {
        // Let the last packets reach the file before stopping.
        std::thread::sleep(Duration::from_millis(300));
        self.process
            .signal(Signal::SIGINT)
            .expect("stopping tshark");
        let _ = self.process.wait_timeout(Duration::from_secs(10));
        read_capture(&self.file)
    }
}

fn read_capture(file: &Path) -> Vec<Captured> {
    let output = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args([
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ip.ttl",
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
                source: fields[0].parse().expect("ip.src"),
                destination: fields[1].parse().expect("ip.dst"),
                ttl: fields[2].parse().expect("ip.ttl"),
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
    let mut all = String::new();
    let mut paths: Vec<_> = std::fs::read_dir(pair.lab.dir())
        .unwrap()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("lb01-vrrpd"))
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
