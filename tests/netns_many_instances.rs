//! Many instances on one link (issue 14): a master's adverts that fall due together leave
//! with sendmmsg, and a backup leaves the burst queued for a moment and reads it in one go
//! (`Node::receive_coalescing`). Neither may change what the protocol does: no instance of
//! the backup takes over while the master advertises, and when the master stops every
//! instance moves within Skew_Time (its priority-0 adverts, RFC 3768/9568 §6.4.2) plus the
//! coalescing window. Needs root.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::lab::wait_until;

const INSTANCES: u8 = 50;
const ADVERT: Duration = Duration::from_millis(100);

fn config(priority: u8) -> String {
    let instances: Vec<serde_json::Value> = (1..=INSTANCES)
        .map(|vrid| {
            serde_json::json!({
                "name": format!("vi{vrid}"),
                "interface": "eth0",
                "virtual_router_id": vrid,
                "version": 3,
                "priority": priority,
                "advert_interval_ms": ADVERT.as_millis() as u64,
                "virtual_addresses": [format!("198.51.100.{vrid}/32")],
                // The graceful stop below is the RFC's (addresses go at once), so that the
                // takeover is timed by Skew_Time alone.
                "make_before_break": false
            })
        })
        .collect();
    serde_json::json!({ "instances": instances }).to_string()
}

fn vips() -> Vec<IpAddr> {
    (1..=INSTANCES)
        .map(|vrid| format!("198.51.100.{vrid}").parse().unwrap())
        .collect()
}

fn holds_all(host: &vrrpd::lab::Host) -> bool {
    host.addresses()
        .is_ok_and(|held| vips().iter().all(|vip| held.contains(vip)))
}

fn holds_none(host: &vrrpd::lab::Host) -> bool {
    host.addresses()
        .is_ok_and(|held| !vips().iter().any(|vip| held.contains(vip)))
}

#[test]
fn fifty_instances_share_a_link_without_a_false_takeover_and_move_together() {
    let _timing = timing_guard(false);
    let net = PairLab::new("many");
    let mut master = net
        .lb01
        .start_vrrpd(&vrrpd_binary(), &config(HIGH_PRIORITY))
        .unwrap();
    let backup = net
        .lb02
        .start_vrrpd(&vrrpd_binary(), &config(LOW_PRIORITY))
        .unwrap();
    let poll = Duration::from_millis(10);
    wait_until(Duration::from_secs(10), poll, || {
        holds_all(&net.lb01) && holds_none(&net.lb02)
    })
    .unwrap_or_else(|| panic!("lb01 never held every VIP alone\n{}", net.lab.log_tails(20)));
    // Thirty advert intervals: a backup that missed or misread a burst would take over an
    // instance after three of them.
    let settled_lines = backup.log().matches("Entering MASTER STATE").count();
    std::thread::sleep(ADVERT * 30);
    assert!(
        holds_none(&net.lb02),
        "lb02 took a VIP while lb01 advertised"
    );
    assert_eq!(
        backup.log().matches("Entering MASTER STATE").count(),
        settled_lines,
        "an instance of lb02 became master while lb01 advertised:\n{}",
        backup.log()
    );
    // The master stops: each instance sends priority 0, the backup takes all fifty after
    // its Skew_Time (0.061 s at 100 ms), plus the coalescing window (2 ms), plus the
    // absorber of every takeover bound here.
    let stopped = Instant::now();
    master.signal(Signal::SIGTERM).unwrap();
    let bound = skew_takeover_bound(ADVERT, LOW_PRIORITY) + ADVERT / 50;
    assert!(bound < earliest_takeover_ignoring_priority_zero(ADVERT, LOW_PRIORITY));
    wait_until(Duration::from_secs(5), Duration::from_millis(2), || {
        holds_all(&net.lb02)
    })
    .unwrap_or_else(|| panic!("lb02 did not take every VIP\n{}", backup.log()));
    let took = stopped.elapsed();
    assert!(
        took < bound,
        "lb02 took {} to hold all {INSTANCES} VIPs (bound {})",
        secs(took),
        secs(bound)
    );
    master.terminate(Duration::from_secs(10)).unwrap();
}
