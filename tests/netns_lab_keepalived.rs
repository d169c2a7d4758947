//! Self-test of the lab harness (src/lab) against keepalived, which is known to
//! work: if these pass, a failing vrrpd test points at vrrpd, not at the lab.
//! Needs root and keepalived 2.2.x.

mod common;

use std::time::{Duration, Instant};

use common::*;
use vrrpd::lab::{Lab, LabProcess, Prober, wait_until};

fn keepalived_config(router_id: &str, priority: u8, version: u8, advert_int: &str) -> String {
    let advert = Duration::from_secs_f64(advert_int.parse().unwrap());
    common::keepalived_config(router_id, priority, version, advert, version == 2, true)
}

fn start_pair(pair: &PairLab, version: u8, advert_int: &str) -> (LabProcess, LabProcess) {
    let lb01 = pair
        .lb01
        .start_keepalived(&keepalived_config(
            "lb01",
            HIGH_PRIORITY,
            version,
            advert_int,
        ))
        .expect("starting keepalived on lb01");
    let lb02 = pair
        .lb02
        .start_keepalived(&keepalived_config(
            "lb02",
            LOW_PRIORITY,
            version,
            advert_int,
        ))
        .expect("starting keepalived on lb02");
    (lb01, lb02)
}

#[test]
fn keepalived_pair_v2_pass_elects_higher_priority_and_client_reaches_vip() {
    let _timing = timing_guard(false);
    let pair = PairLab::new("kav2");
    let (mut k1, mut k2) = start_pair(&pair, 2, "1");
    let vip = vip();

    // Both start as backup; the higher priority's Master_Down_Interval
    // (3 × 1 s + 106/256 s) runs out first.
    let elected = wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
        pair.lb01.has_address(vip) && !pair.lb02.has_address(vip)
    });
    assert!(
        elected.is_some(),
        "lb01 never became the only VIP holder\n{}",
        pair.lab.log_tails(30)
    );
    assert!(
        k1.is_running() && k2.is_running(),
        "keepalived exited\n{}",
        pair.lab.log_tails(30)
    );

    let (samples, both, neither) = sample_holders(
        &pair.lb01,
        &pair.lb02,
        vip,
        Duration::from_millis(1500),
        Duration::from_millis(20),
    );
    assert!(samples > 20, "only {samples} samples in 1.5 s");
    assert_eq!(
        (both, neither),
        (0, 0),
        "steady state: exactly one holder at every sample"
    );

    // The native address query agrees with iproute2.
    let via_ip = pair.lb01.ip_addr_json().unwrap();
    assert!(via_ip.contains(&vip), "`ip -j addr` on lb01: {via_ip:?}");
    assert!(!pair.lb02.ip_addr_json().unwrap().contains(&vip));

    let report = Prober::start(
        &pair.client,
        vip,
        Duration::from_millis(10),
        Duration::from_millis(700),
    )
    .unwrap()
    .wait()
    .unwrap();
    assert!(report.received() >= 20, "client pings to the VIP: {report}");
    let lb01_mac = pair.lb01.mac().unwrap();
    assert_eq!(
        pair.client.neighbour_mac(vip).unwrap(),
        Some(lb01_mac),
        "the client reached the VIP on lb01"
    );

    let log = k1.log();
    assert!(
        log.contains("Entering MASTER STATE"),
        "lb01 keepalived log:\n{log}"
    );
    assert!(
        !k2.log().contains("Entering MASTER STATE"),
        "lb02 must never have been master:\n{}",
        k2.log()
    );
}

/// The harness's failure tools against keepalived's VRRPv3 at 100 ms:
/// power_off (SIGKILL + cable cut) and the prober's outage measurement.
#[test]
fn keepalived_pair_v3_100ms_power_off_fails_over_and_prober_measures_the_outage() {
    let _timing = timing_guard(false);
    let pair = PairLab::new("kav3");
    let (_k1, _k2) = start_pair(&pair, 3, "0.1");
    let vip = vip();
    let elected = wait_until(Duration::from_secs(5), Duration::from_millis(5), || {
        pair.lb01.has_address(vip) && !pair.lb02.has_address(vip)
    });
    assert!(elected.is_some(), "no election\n{}", pair.lab.log_tails(30));

    let probe = Prober::start(
        &pair.client,
        vip,
        Duration::from_millis(10),
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(
        probe.wait_for_replies(20, Duration::from_secs(3)),
        "the client reaches the VIP before the power cut"
    );
    let cut = Instant::now();
    pair.lb01.power_off().unwrap();
    assert!(
        pair.lb01.pids().is_empty(),
        "power_off leaves no process in lb01"
    );
    assert!(
        !pair.lb01.has_address(vip),
        "power_off drops runtime addresses"
    );
    let took_over = wait_until(Duration::from_secs(3), Duration::from_millis(2), || {
        pair.lb02.has_address(vip)
    });
    let takeover = cut.elapsed();
    assert!(
        took_over.is_some(),
        "lb02 never took over\n{}",
        pair.lab.log_tails(30)
    );
    // RFC 5798: Master_Down_Interval = 3 × 100 ms + (256 − 100) × 100 ms / 256 ≈ 361 ms.
    assert!(
        takeover < Duration::from_millis(361 + 500),
        "takeover took {}",
        secs(takeover)
    );
    let lb02_mac = pair.lb02.mac().unwrap();
    let moved = wait_until(Duration::from_secs(3), Duration::from_millis(10), || {
        pair.client.neighbour_mac(vip).ok().flatten().as_deref() == Some(lb02_mac.as_str())
    });
    assert!(
        moved.is_some(),
        "the client's ARP entry for the VIP never moved to lb02 (GARP)"
    );
    probe.wait_for_replies(20, Duration::from_secs(3));
    let report = probe.finish().unwrap();
    eprintln!(
        "keepalived v3 100 ms: takeover {} after the power cut; client: {report}",
        secs(takeover)
    );
    let (gap_start, gap) = report.longest_gap_at().expect("replies before and after");
    assert!(
        gap_start <= cut + Duration::from_millis(20),
        "the longest gap starts at the power cut (starts {:?} after it)",
        gap_start.saturating_duration_since(cut)
    );
    assert!(
        gap >= Duration::from_millis(150),
        "a real outage was measured: {report}"
    );
    assert!(
        gap < Duration::from_millis(361 + 700),
        "outage bounded by takeover + GARP: {report}"
    );
    assert!(
        report.replies_since(cut + gap) > 10,
        "pings come back through lb02: {report}"
    );
    assert!(
        report.silence_at_end() < Duration::from_millis(100),
        "{report}"
    );

    // Power back on: lb01 has the higher priority and preempts when restarted.
    pair.lb01.power_on().unwrap();
    let _k1 = pair
        .lb01
        .start_keepalived(&keepalived_config("lb01", HIGH_PRIORITY, 3, "0.1"))
        .unwrap();
    let back = wait_until(Duration::from_secs(5), Duration::from_millis(5), || {
        pair.lb01.has_address(vip) && !pair.lb02.has_address(vip)
    });
    assert!(
        back.is_some(),
        "lb01 did not preempt after power-on\n{}",
        pair.lab.log_tails(30)
    );
}

#[test]
fn lab_link_down_cuts_the_host_off_and_link_up_restores_it() {
    let _timing = timing_guard(false);
    let pair = PairLab::new("link");
    let target = "192.0.2.41".parse().unwrap();
    let ping = |ms| {
        Prober::start(
            &pair.client,
            target,
            Duration::from_millis(10),
            Duration::from_millis(ms),
        )
        .unwrap()
        .wait()
        .unwrap()
    };
    assert!(ping(300).received() >= 5, "lb01 answers before the cut");
    pair.lb01.link_down().unwrap();
    let cut = ping(300);
    assert_eq!(cut.received(), 0, "nothing passes a cut cable: {cut}");
    assert!(cut.sent > 10);
    pair.lb01.link_up().unwrap();
    let restored = wait_until(Duration::from_secs(3), Duration::from_millis(10), || {
        ping(100).received() > 0
    });
    assert!(restored.is_some(), "lb01 answers again after link_up");
}

#[test]
fn lab_drop_removes_namespaces_and_kills_processes_even_on_panic() {
    require_root();
    let netns_list = || {
        String::from_utf8(
            std::process::Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };

    // Normal drop.
    let (names, pid) = {
        let mut lab = Lab::new("drop").unwrap();
        let host = lab
            .add_host("h1", &["198.51.100.1/24", "2001:db8::1/64"])
            .unwrap();
        let sleeper = host.spawn("sleep", &["60"]).unwrap();
        let pid = sleeper.pid();
        std::mem::forget(sleeper); // only the lab's cleanup may kill it now
        let names = lab.namespaces();
        assert_eq!(names.len(), 2);
        assert!(host.has_address("2001:db8::1".parse().unwrap()));
        assert!(host.has_address("198.51.100.1".parse().unwrap()));
        // The kernel's link-local address is usable at once (no DAD in labs).
        let link_local = wait_until(
            Duration::from_millis(500),
            Duration::from_millis(10),
            || {
                let out = host
                    .run(
                        "ip",
                        &["-6", "addr", "show", "dev", "eth0", "scope", "link"],
                    )
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.contains("fe80::") && !text.contains("tentative")
            },
        );
        assert!(
            link_local.is_some(),
            "eth0 has a non-tentative link-local address"
        );
        (names, pid)
    };
    let listed = netns_list();
    for name in &names {
        assert!(
            !listed.contains(name.as_str()),
            "{name} left behind: {listed}"
        );
    }
    let alive = wait_until(Duration::from_secs(2), Duration::from_millis(10), || {
        // A killed but unreaped child is a zombie: state Z.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true)
    });
    assert!(alive.is_some(), "process {pid} survived the lab");

    // Drop during a panic.
    let names = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let mut lab = Lab::new("panic").unwrap();
        lab.add_host("h1", &["198.51.100.1/24"]).unwrap();
        *names.lock().unwrap() = lab.namespaces();
        panic!("simulated test failure");
    });
    assert!(result.is_err());
    let listed = netns_list();
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 2);
    for name in &names {
        assert!(
            !listed.contains(name.as_str()),
            "{name} left behind after a panic: {listed}"
        );
    }
}

/// `vrrpd demo`'s whole script (election, power cut, preemption, graceful
/// stop) driven through `run_demo_with`, with a stand-in daemon that
/// answers `run --config FILE` by running keepalived with the same settings.
#[test]
fn demo_script_runs_end_to_end_with_keepalived_standing_in_for_vrrpd() {
    let _timing = timing_guard(false);
    require_root();
    let shim = std::env::temp_dir().join(format!("vl-demo-shim-{}.sh", std::process::id()));
    let script = r##"#!/bin/sh
# Stand-in for `vrrpd run --config FILE`: keepalived with the demo's settings.
set -e
conf="$3"
base="${conf%.json}"
prio=$(sed -n 's/.*"priority": *\([0-9]*\).*/\1/p' "$conf")
cat > "$base.kconf" <<KEOF
global_defs {
    vrrp_garp_master_refresh 60
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    version 2
    virtual_router_id 50
    priority $prio
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass password
    }
    virtual_ipaddress {
        192.0.2.40
    }
}
KEOF
exec keepalived -n -l -f "$base.kconf" -p "$base.p1" -r "$base.p2" -c "$base.p3" --vrrp
"##;
    std::fs::write(&shim, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let result = vrrpd::lab::run_demo_with(&shim);
    let _ = std::fs::remove_file(&shim);
    if let Err(error) = result {
        panic!("the demo failed: {error}");
    }
}

#[test]
fn lab_prober_reaches_ipv4_and_ipv6_neighbours_and_reports_losses() {
    let _timing = timing_guard(false);
    require_root();
    let mut lab = Lab::new("probe").unwrap();
    let a = lab
        .add_host("a", &["198.51.100.1/24", "2001:db8::1/64"])
        .unwrap();
    lab.add_host("b", &["198.51.100.2/24", "2001:db8::2/64"])
        .unwrap();
    for target in ["198.51.100.2", "2001:db8::2"] {
        let probe = Prober::start(
            &a,
            target.parse().unwrap(),
            Duration::from_millis(10),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(
            probe.wait_for_replies(10, Duration::from_secs(3)),
            "{target} answers"
        );
        let report = probe.finish().unwrap();
        assert!(report.received() >= 10, "{target}: {report}");
        assert!(
            report.lost() <= 2,
            "{target}: at most the in-flight requests are unanswered: {report}"
        );
    }
    // Nobody has this address: every request is lost.
    let report = Prober::start(
        &a,
        "198.51.100.99".parse().unwrap(),
        Duration::from_millis(10),
        Duration::from_millis(300),
    )
    .unwrap()
    .wait()
    .unwrap();
    assert_eq!(report.received(), 0, "{report}");
    assert!(
        report.sent >= 10 && report.lost() == report.sent,
        "{report}"
    );
    assert_eq!(report.longest_gap(), None);
}
