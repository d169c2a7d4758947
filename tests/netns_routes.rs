//! Virtual routes and rules against the kernel (root, network namespaces): held by the
//! master only, before and after a failover (a stop, a cable cut, a restart that
//! preempts), put back when someone deletes one (`ip route del`, `ip rule del`), with
//! the virtual address it uses, or when the kernel drops one without a notification (the
//! IPv4 routes through a link set down), and removed at start when a killed master left
//! them behind.
//! docs/configuration.md ("virtual_routes, virtual_rules") says what each does.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{HIGH_PRIORITY, LOW_PRIORITY, TimingGuard, require_root, secs, timing_guard};
use nix::sys::signal::Signal;
use vrrpd::lab::{Host, Lab, LabProcess, wait_until};

const ADVERT: Duration = Duration::from_millis(100);
/// Scheduling, `ip` and polling slack on a busy 2-core machine.
const MARGIN: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_millis(10);
/// The IPv4 virtual address, and the excluded one whose subnet the table-100 route's
/// gateway is in (so that route needs the address first).
const VIP: &str = "192.0.2.40";
const EXCLUDED: &str = "198.51.100.40";

/// What a master holds, each as (what, `ip` arguments, a line the output must contain).
/// The lines are iproute2's rendering; protocol 112 is vrrpd's mark.
const HELD: [(&str, &[&str], &str); 7] = [
    (
        "the table-100 route via the excluded address's subnet",
        &["-4", "route", "show", "table", "100", "proto", "112"],
        "203.0.113.0/24 via 198.51.100.1 dev eth0",
    ),
    (
        "the blackhole",
        &["-4", "route", "show", "table", "main", "proto", "112"],
        "blackhole 198.51.100.128/25",
    ),
    (
        "the route whose source is the VIP",
        &["-4", "route", "show", "table", "main", "proto", "112"],
        "192.0.2.128/25 dev eth0 scope link src 192.0.2.40",
    ),
    (
        "the route through eth1",
        &["-4", "route", "show", "table", "main", "proto", "112"],
        "203.0.113.128/25 dev eth1 scope link",
    ),
    (
        "the IPv6 route",
        &["-6", "route", "show", "table", "main", "proto", "112"],
        "2001:db8:1::/48 via 2001:db8::1 dev eth0 metric 50 pref medium",
    ),
    (
        "the IPv4 rule",
        &["-4", "rule", "show"],
        "1000:\tfrom 198.51.100.40 lookup 100 proto 112",
    ),
    (
        "the IPv6 rule",
        &["-6", "rule", "show"],
        "1001:\tfrom 2001:db8::40 lookup 100 proto 112",
    ),
];

/// VI_4 (IPv4) and VI_6 (IPv6) at `priority`, with their routes and rules.
fn config(priority: u8, preempt: bool) -> String {
    let instance = |name: &str, vrid: u8, addresses: serde_json::Value| {
        serde_json::json!({
            "name": name,
            "interface": "eth0",
            "virtual_router_id": vrid,
            "version": 3,
            "priority": priority,
            "preempt": preempt,
            "advert_interval_ms": ADVERT.as_millis() as u64,
            "virtual_addresses": addresses,
            "garp_repeat_delay_s": 0
        })
    };
    let mut v4 = instance("VI_4", 50, serde_json::json!([VIP]));
    v4["excluded_addresses"] = serde_json::json!([format!("{EXCLUDED}/24")]);
    v4["virtual_routes"] = serde_json::json!([
        { "destination": "203.0.113.0/24", "gateway": "198.51.100.1", "table": 100 },
        { "destination": "198.51.100.128/25", "type": "blackhole" },
        { "destination": "192.0.2.128/25", "interface": "eth0", "source": VIP },
        { "destination": "203.0.113.128/25", "interface": "eth1" }
    ]);
    v4["virtual_rules"] = serde_json::json!([{ "priority": 1000, "from": EXCLUDED, "table": 100 }]);
    let mut v6 = instance(
        "VI_6",
        51,
        serde_json::json!(["fe80::40/64", "2001:db8::40/64"]),
    );
    v6["virtual_routes"] = serde_json::json!([
        { "destination": "2001:db8:1::/48", "gateway": "2001:db8::1", "metric": 50 }
    ]);
    v6["virtual_rules"] =
        serde_json::json!([{ "priority": 1001, "from": "2001:db8::40", "table": 100 }]);
    serde_json::json!({ "instances": [v4, v6] }).to_string()
}

/// lb01 and lb02, each with an IPv4 and an IPv6 address on one segment, and an eth1 on
/// a second one.
struct RoutesLab {
    lab: Lab,
    lb01: Host,
    lb02: Host,
    _timing: TimingGuard,
}

impl RoutesLab {
    fn new(tag: &str) -> RoutesLab {
        let timing = timing_guard(false);
        require_root();
        let mut lab = Lab::new(tag).expect("creating the lab (root, iproute2)");
        let lb01 = lab
            .add_host("lb01", &["192.0.2.41/24", "2001:db8::41/64"])
            .expect("adding lb01");
        let lb02 = lab
            .add_host("lb02", &["192.0.2.42/24", "2001:db8::42/64"])
            .expect("adding lb02");
        for host in [&lb01, &lb02] {
            lab.add_link(host, "eth1", &[]).expect("adding eth1");
        }
        RoutesLab {
            lab,
            lb01,
            lb02,
            _timing: timing,
        }
    }

    fn other(&self, host: &Host) -> &Host {
        if host.name() == "lb01" {
            &self.lb02
        } else {
            &self.lb01
        }
    }

    /// Waits (bounded) until `holder` has every route and rule and the other host none.
    fn wait_sole_holder(&self, holder: &Host, limit: Duration, what: &str) -> Duration {
        let other = self.other(holder);
        let done = wait_until(limit, POLL, || {
            held(holder).iter().all(|held| *held) && held(other).iter().all(|held| !*held)
        });
        assert!(
            done.is_some(),
            "{what}: {} should hold every route and rule and {} none within {}:\n{}: {}\n{}: {}\n{}",
            holder.name(),
            other.name(),
            secs(limit),
            holder.name(),
            describe(holder),
            other.name(),
            describe(other),
            self.lab.log_tails(40)
        );
        done.unwrap_or_default()
    }
}

/// `ip -n NETNS ARGS...`'s output.
fn ip(host: &Host, args: &[&str]) -> String {
    let output = Command::new("ip")
        .args(["-n", host.netns()])
        .args(args)
        .output()
        .expect("running ip");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Which of [`HELD`] `host` has now.
fn held(host: &Host) -> Vec<bool> {
    HELD.iter()
        .map(|(_, args, line)| {
            ip(host, args)
                .lines()
                .any(|shown| shown.trim_end() == *line)
        })
        .collect()
}

/// What `host` holds, for messages.
fn describe(host: &Host) -> String {
    HELD.iter()
        .zip(held(host))
        .map(|((what, _, _), held)| format!("{what}: {}", if held { "yes" } else { "no" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn start(host: &Host, priority: u8, preempt: bool) -> LabProcess {
    host.start_vrrpd(&common::vrrpd_binary(), &config(priority, preempt))
        .expect("starting vrrpd in the lab")
}

/// Master_Down_Interval of a backup at `priority` (RFC 5798 §6.1).
fn master_down(priority: u8) -> Duration {
    common::master_down_interval(ADVERT, priority)
}

/// Runs `ip` on `host` (as root) and checks that it did what it was asked.
fn change(host: &Host, args: &[&str]) {
    let status = Command::new("ip")
        .args(["-n", host.netns()])
        .args(args)
        .status()
        .expect("running ip");
    assert!(status.success(), "ip {args:?} failed");
}

/// Master on lb01 only, then everything someone deletes is put back; a failover by a
/// stop, the return of lb01 (it preempts), and a cable cut each leave the routes and
/// rules with the new master alone.
#[test]
fn routes_and_rules_are_held_by_the_master_only_and_put_back() {
    let net = RoutesLab::new("routes");
    let mut lb01 = start(&net.lb01, HIGH_PRIORITY, true);
    let mut lb02 = start(&net.lb02, LOW_PRIORITY, true);
    let election = Duration::from_secs(2) + master_down(LOW_PRIORITY) + MARGIN;
    net.wait_sole_holder(&net.lb01, election, "election");

    // Someone deletes a route, the IPv6 route and a rule: each is put back at once
    // (the kernel notifies each deletion).
    for (what, args) in [
        (
            "ip route del",
            &["route", "del", "203.0.113.0/24", "table", "100"][..],
        ),
        (
            "ip -6 route del",
            &["-6", "route", "del", "2001:db8:1::/48"],
        ),
        ("ip rule del", &["rule", "del", "priority", "1000"]),
    ] {
        change(&net.lb01, args);
        let started = Instant::now();
        let back = wait_until(MARGIN, POLL, || held(&net.lb01).iter().all(|held| *held));
        assert!(
            back.is_some(),
            "after `{what}` lb01 should hold everything again within {}: {}\n{}",
            secs(MARGIN),
            describe(&net.lb01),
            lb01.log()
        );
        eprintln!("{what}: put back after {}", secs(started.elapsed()));
    }
    assert!(
        lb01.log()
            .contains("route 203.0.113.0/24 via 198.51.100.1 table 100 was removed while MASTER"),
        "{}",
        lb01.log()
    );
    assert!(
        lb01.log().contains(
            "rule priority 1000 from 198.51.100.40/32 lookup 100 was removed while MASTER"
        ),
        "{}",
        lb01.log()
    );

    // The VIP removed: the kernel takes the route whose source it is (shown with vrrpd
    // stopped, SIGSTOP), and vrrpd puts the route back with the address once it runs (a
    // route cannot be added before its source address).
    lb01.signal(Signal::SIGSTOP).expect("SIGSTOP");
    change(
        &net.lb01,
        &["addr", "del", &format!("{VIP}/32"), "dev", "eth0"],
    );
    let gone = wait_until(MARGIN, POLL, || !held(&net.lb01)[2]);
    lb01.signal(Signal::SIGCONT).expect("SIGCONT");
    assert!(
        gone.is_some(),
        "the kernel kept the route whose source was removed, so this does not test the repair: {}",
        describe(&net.lb01)
    );
    let back = wait_until(MARGIN, POLL, || {
        net.lb01.has_address(VIP.parse().unwrap()) && held(&net.lb01).iter().all(|held| *held)
    });
    assert!(
        back.is_some(),
        "the VIP and its route should be back: {}\n{}",
        describe(&net.lb01),
        lb01.log()
    );

    // eth1 set down and up again: the kernel drops the IPv4 routes through it without a
    // notification, and vrrpd adds them again when the link is back up.
    change(&net.lb01, &["link", "set", "eth1", "down"]);
    let dropped = wait_until(MARGIN, POLL, || !held(&net.lb01)[3]);
    assert!(
        dropped.is_some(),
        "the kernel kept the route through eth1 while it was down, so this does not test \
         its repair: {}",
        describe(&net.lb01)
    );
    change(&net.lb01, &["link", "set", "eth1", "up"]);
    let back = wait_until(MARGIN, POLL, || held(&net.lb01).iter().all(|held| *held));
    assert!(
        back.is_some(),
        "the route through eth1 should be back with the link: {}\n{}",
        describe(&net.lb01),
        lb01.log()
    );
    assert!(
        lb01.log().contains("interface eth1 is up"),
        "{}",
        lb01.log()
    );

    // A graceful stop: lb02 takes over (Skew_Time after lb01's priority 0) and lb01
    // lets go once it hears lb02.
    let stopping = Instant::now();
    lb01.terminate(Duration::from_secs(12))
        .expect("stopping lb01");
    let moved = net.wait_sole_holder(
        &net.lb02,
        master_down(LOW_PRIORITY) + MARGIN,
        "lb01 stopped",
    );
    eprintln!(
        "after lb01's stop: on lb02 alone {} after it",
        secs(moved.max(stopping.elapsed()))
    );

    // lb01 back: it preempts and takes everything back.
    let mut lb01 = start(&net.lb01, HIGH_PRIORITY, true);
    net.wait_sole_holder(&net.lb01, election, "lb01 back");

    // lb01's cable cut: FAULT removes them there, lb02 takes them over; plugged back, lb01
    // preempts again.
    net.lb01.link_down().expect("cable cut");
    net.wait_sole_holder(
        &net.lb02,
        master_down(LOW_PRIORITY) + MARGIN,
        "lb01's cable cut",
    );
    net.lb01.link_up().expect("cable back");
    net.wait_sole_holder(&net.lb01, election, "lb01's cable back");
    assert!(lb01.is_running() && lb02.is_running());
}

/// A master killed with SIGKILL leaves its routes and rules behind (the kernel keeps
/// them); started again as a backup (no preemption) it removes them at start, before
/// anything else, while lb02 holds them.
#[test]
fn a_killed_masters_leftovers_are_removed_when_it_starts_again() {
    let net = RoutesLab::new("routesk");
    let mut lb01 = start(&net.lb01, HIGH_PRIORITY, true);
    let alone = Duration::from_secs(2) + master_down(HIGH_PRIORITY) + MARGIN;
    let done = wait_until(alone, POLL, || held(&net.lb01).iter().all(|held| *held));
    assert!(
        done.is_some(),
        "lb01 alone should hold everything: {}\n{}",
        describe(&net.lb01),
        lb01.log()
    );
    lb01.kill9().expect("SIGKILL");
    std::thread::sleep(ADVERT * 5);
    assert!(
        held(&net.lb01).iter().all(|held| *held),
        "the kernel keeps a killed daemon's routes: {}",
        describe(&net.lb01)
    );
    let lb02 = start(&net.lb02, LOW_PRIORITY, true);
    let takeover = Duration::from_secs(2) + master_down(LOW_PRIORITY) + MARGIN;
    let taken = wait_until(takeover, POLL, || held(&net.lb02).iter().all(|held| *held));
    assert!(
        taken.is_some(),
        "lb02 should take over: {}",
        describe(&net.lb02)
    );
    // Both hosts hold them now: what the start-up clean-up is for.
    let restarted = Instant::now();
    let lb01 = start(&net.lb01, HIGH_PRIORITY, false);
    let cleaned = wait_until(MARGIN, POLL, || held(&net.lb01).iter().all(|held| !*held));
    assert!(
        cleaned.is_some(),
        "lb01 should have removed its leftovers at start: {}\n{}",
        describe(&net.lb01),
        lb01.log()
    );
    eprintln!(
        "leftovers removed {} after the start",
        secs(restarted.elapsed())
    );
    assert!(
        lb01.log()
            .contains("it was left over, and we are not master")
    );
    // And it stays backup (no preemption): lb02 keeps them.
    std::thread::sleep(master_down(HIGH_PRIORITY) * 2);
    assert!(
        held(&net.lb02).iter().all(|held| *held),
        "{}",
        describe(&net.lb02)
    );
    assert!(
        held(&net.lb01).iter().all(|held| !*held),
        "{}",
        describe(&net.lb01)
    );
    drop(lb02);
}
