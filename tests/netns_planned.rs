//! Planned moves of the VIP lose no packet (issue 6): graceful stop of the master
//! (make-before-break), failback of the higher-priority node, and a restart of the
//! master, for the user's VRRPv2 PASS 1 s setup and for VRRPv3 at 10 ms adverts.
//!
//! A client in the lab pings the VIP every 10 ms through the whole move. "No lost
//! reply" means every request was answered and no two consecutive replies are more
//! than three probe intervals apart (a reply late by one interval is scheduling noise
//! on a loaded machine, a lost one is not). At the end the client's ARP entry for the
//! VIP must carry the new holder's MAC, read with `ip neigh` after the old holder has
//! removed the address, so no client is left with a stale entry.
//!
//! Each kind of move is also repeated under one probe (`*_every_planned_move_*_times_*`,
//! issue 15), 30 times at 10 ms adverts, so that a move that fails one time in ten does
//! not go unseen.
//!
//! One comparison runs with `make_before_break: false` (the RFC's behaviour): it must
//! lose replies, which shows that the probe does see a gap when there is one.
//!
//! Needs root (network namespaces).

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::lab::{Host, LabProcess, Prober, wait_until};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");

const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// "No lost reply": consecutive replies at most this far apart.
const MAX_GAP: Duration = Duration::from_millis(30);
/// How often the tests look at the addresses while waiting for a change.
const POLL: Duration = Duration::from_millis(2);
/// Allowance for a daemon to start (exec, config load, sockets).
const STARTUP_ALLOWANCE: Duration = Duration::from_millis(500);
const MARGIN: Duration = Duration::from_millis(500);

const V2_PASS_1S: Variant = Variant::v2_pass_1s("pv2");
const V3_10MS: Variant = Variant::v3("pv310", Duration::from_millis(10));

/// A vrrpd config for the pair, with `make_before_break` set explicitly.
fn vrrpd_config(variant: &Variant, priority: u8, make_before_break: bool) -> String {
    variant.config(
        priority,
        serde_json::json!({ "instance": { "make_before_break": make_before_break } }),
    )
}

/// lb01 (priority 150) and lb02 (priority 100), lb01 elected, and a client.
struct Pair {
    net: PairLab,
    variant: Variant,
    make_before_break: bool,
    lb01: LabProcess,
    lb02: LabProcess,
    vip: IpAddr,
    // Every test of this binary takes it exclusively: 10 ms adverts and a 10 ms probe do
    // not survive a neighbour test forking `ip` processes on a 2-core machine.
    _timing: TimingGuard,
}

impl Pair {
    fn elect(variant: Variant, make_before_break: bool) -> Pair {
        let timing = timing_guard(true);
        let net = PairLab::new(variant.tag);
        let start = |host: &Host, priority| {
            host.start_vrrpd(
                std::path::Path::new(VRRPD),
                &vrrpd_config(&variant, priority, make_before_break),
            )
            .expect("start vrrpd")
        };
        let lb01 = start(&net.lb01, HIGH_PRIORITY);
        let lb02 = start(&net.lb02, LOW_PRIORITY);
        let pair = Pair {
            net,
            variant,
            make_before_break,
            lb01,
            lb02,
            vip: vip(),
            _timing: timing,
        };
        let limit = STARTUP_ALLOWANCE
            + variant.master_down_interval(LOW_PRIORITY)
            + variant.advert * 2
            + MARGIN;
        assert!(
            pair.wait(limit, |p| p.lb01_holds() && !p.lb02_holds())
                .is_some(),
            "no election within {}: lb01 must hold {VIP} alone",
            secs(limit)
        );
        // Let lb02 hear adverts, so its timer runs from a known point before any event.
        std::thread::sleep(variant.advert * 3 / 2 + Duration::from_millis(20));
        assert!(pair.lb01_holds() && !pair.lb02_holds());
        pair
    }

    fn lb01_holds(&self) -> bool {
        self.net.lb01.has_address(self.vip)
    }

    fn lb02_holds(&self) -> bool {
        self.net.lb02.has_address(self.vip)
    }

    fn wait(&self, timeout: Duration, condition: impl Fn(&Pair) -> bool) -> Option<Duration> {
        wait_until(timeout, POLL, || condition(self))
    }

    /// The client pinging the VIP every 10 ms, once it got 20 replies (its ARP entry
    /// for the VIP is resolved and the path works).
    fn start_client(&self) -> Prober {
        let probe = Prober::start(
            &self.net.client,
            self.vip,
            PROBE_INTERVAL,
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(
            probe.wait_for_replies(20, Duration::from_secs(3)),
            "the client reaches the VIP before the event"
        );
        probe
    }

    /// SIGTERM to lb01's vrrpd; returns when lb02 holds the VIP and lb01 exited.
    /// With make-before-break lb01 waits for lb02's first advert, so its exit comes
    /// after lb02's takeover, within Master_Down_Interval at worst.
    fn stop_lb01(&mut self) {
        self.lb01.signal(Signal::SIGTERM).unwrap();
        let limit = self.variant.skew_time(LOW_PRIORITY) + self.variant.advert + MARGIN * 4;
        assert!(
            self.wait(limit, |p| p.lb02_holds()).is_some(),
            "lb02 did not take over within {} of lb01's SIGTERM",
            secs(limit)
        );
        let exit_limit = self.variant.master_down_interval(HIGH_PRIORITY) + MARGIN * 4;
        let status = self.lb01.wait_timeout(exit_limit).unwrap();
        assert!(
            status.is_some_and(|status| status.success()),
            "vrrpd on lb01 must exit 0 within {} of SIGTERM, got {status:?}\n{}",
            secs(exit_limit),
            self.lb01.log()
        );
        assert!(!self.lb01_holds(), "the stopped lb01 still holds the VIP");
        if self.make_before_break {
            let log = self.lb01.log();
            assert!(
                log.contains("handed over to the new master 192.0.2.42"),
                "lb01 must have let go on lb02's advert, not on the time-out:\n{log}"
            );
        }
    }

    fn start_lb01(&mut self) {
        self.lb01 = self
            .net
            .lb01
            .start_vrrpd(
                std::path::Path::new(VRRPD),
                &vrrpd_config(&self.variant, HIGH_PRIORITY, self.make_before_break),
            )
            .expect("start vrrpd");
    }

    /// Waits for lb01 to preempt and lb02 to let go.
    fn wait_for_failback(&self) {
        let bound = STARTUP_ALLOWANCE + self.variant.master_down_interval(HIGH_PRIORITY) + MARGIN;
        assert!(
            self.wait(bound * 2, |p| p.lb01_holds() && !p.lb02_holds())
                .is_some(),
            "lb01 did not preempt (lb01 {}, lb02 {})",
            self.lb01_holds(),
            self.lb02_holds()
        );
    }

    /// After the move: the client's ARP entry must carry `holder`'s MAC now that the
    /// other node has removed the address (the new master's GARP came after, or was
    /// not overridden by, anything the old one said), and pings keep being answered.
    fn assert_client_settled_on(&self, holder: &Host, probe: &Prober) {
        if let Err(message) =
            wait_for_neighbour(&self.net.client, self.vip, holder, Duration::from_secs(1))
        {
            panic!("after the move: {message}");
        }
        assert!(
            probe.wait_for_replies(30, Duration::from_secs(3)),
            "the client's pings are answered after the move"
        );
    }
}

fn graceful_stop_of_the_master_loses_no_reply(variant: Variant) {
    let mut pair = Pair::elect(variant, true);
    let probe = pair.start_client();
    let event = Instant::now();
    pair.stop_lb01();
    pair.assert_client_settled_on(&pair.net.lb02, &probe);
    let report = probe.finish().unwrap();
    assert_no_lost_reply(
        variant.tag,
        "graceful stop of the master",
        &report,
        MAX_GAP,
        Some(event),
    );
    assert!(pair.lb02.is_running());
}

fn failback_loses_no_reply(variant: Variant) {
    let mut pair = Pair::elect(variant, true);
    pair.stop_lb01();
    let probe = pair.start_client();
    let event = Instant::now();
    pair.start_lb01();
    pair.wait_for_failback();
    pair.assert_client_settled_on(&pair.net.lb01, &probe);
    let report = probe.finish().unwrap();
    assert_no_lost_reply(variant.tag, "failback", &report, MAX_GAP, Some(event));
    assert!(pair.lb01.is_running() && pair.lb02.is_running());
}

/// `systemctl restart`: stop (make-before-break), start at once, fail back.
fn restart_of_the_master_loses_no_reply(variant: Variant) {
    let mut pair = Pair::elect(variant, true);
    let probe = pair.start_client();
    let event = Instant::now();
    pair.stop_lb01();
    pair.start_lb01();
    pair.wait_for_failback();
    pair.assert_client_settled_on(&pair.net.lb01, &probe);
    let report = probe.finish().unwrap();
    assert_no_lost_reply(
        variant.tag,
        "restart of the master",
        &report,
        MAX_GAP,
        Some(event),
    );
    assert!(pair.lb01.is_running() && pair.lb02.is_running());
}

/// The RFC's stop (`make_before_break: false`): the VIP is nowhere for about the
/// backup's Skew_Time (0.61 s), so the client loses replies. This is what the default
/// avoids, and it shows the probe does catch a gap.
#[test]
fn v2_pass_1s_stop_without_make_before_break_loses_replies() {
    let mut pair = Pair::elect(V2_PASS_1S, false);
    let probe = pair.start_client();
    pair.stop_lb01();
    pair.assert_client_settled_on(&pair.net.lb02, &probe);
    let report = probe.finish().unwrap();
    eprintln!("pv2: stop without make-before-break: client {report}");
    let gap = report.longest_gap().expect("replies");
    assert!(
        report.lost() >= 20 && gap >= V2_PASS_1S.skew_time(LOW_PRIORITY) / 2,
        "removing the VIP before the backup takes over must cost about Skew_Time: {report}"
    );
}

/// lb01 alone (no peer to take over), elected master.
fn lone_master(tag: &str) -> (PairLab, LabProcess, TimingGuard) {
    let timing = timing_guard(true);
    let net = PairLab::new(tag);
    let lb01 = net
        .lb01
        .start_vrrpd(
            std::path::Path::new(VRRPD),
            &vrrpd_config(&V2_PASS_1S, HIGH_PRIORITY, true),
        )
        .expect("start vrrpd");
    let limit = STARTUP_ALLOWANCE + V2_PASS_1S.master_down_interval(HIGH_PRIORITY) + MARGIN;
    assert!(
        wait_until(limit, POLL, || net.lb01.has_address(vip())).is_some(),
        "lb01 alone never became master"
    );
    (net, lb01, timing)
}

/// Nobody takes over: the stopping master keeps serving for Master_Down_Interval, then
/// removes the VIP and exits anyway (a stop is never blocked).
#[test]
fn stop_with_nobody_to_take_over_lets_go_after_master_down_interval() {
    let (net, mut lb01, _timing) = lone_master("pnone");
    let signalled = Instant::now();
    lb01.signal(Signal::SIGTERM).unwrap();
    let wait = V2_PASS_1S.master_down_interval(HIGH_PRIORITY);
    std::thread::sleep(wait / 2);
    assert!(
        net.lb01.has_address(vip()) && lb01.is_running(),
        "while nobody has taken over, the stopping master keeps the VIP"
    );
    let status = lb01.wait_timeout(wait + MARGIN * 2).unwrap();
    let stopped_after = signalled.elapsed();
    assert!(
        status.is_some_and(|status| status.success()),
        "vrrpd must exit 0 after the hand-over times out, got {status:?}\n{}",
        lb01.log()
    );
    assert!(
        stopped_after >= wait - Duration::from_millis(100),
        "let go after only {}, before Master_Down_Interval {}",
        secs(stopped_after),
        secs(wait)
    );
    assert!(!net.lb01.has_address(vip()), "the VIP was left behind");
    assert!(
        lb01.log()
            .contains("no new master within the master down interval"),
        "{}",
        lb01.log()
    );
}

/// Rewrites lb01's config file and sends SIGHUP.
fn reload_lb01(pair: &Pair, config: String) {
    std::fs::write(config_path_of(&pair.lb01), config).unwrap();
    pair.lb01.signal(Signal::SIGHUP).unwrap();
}

/// Waits until lb02 holds the VIP after lb01 started handing over (priority 0: lb02
/// takes over after its Skew_Time).
fn wait_for_lb02_takeover(pair: &Pair, what: &str) {
    let limit = pair.variant.skew_time(LOW_PRIORITY) + pair.variant.advert + MARGIN * 4;
    assert!(
        pair.wait(limit, |p| p.lb02_holds()).is_some(),
        "lb02 did not take over within {} of {what}\n{}",
        secs(limit),
        pair.lb01.log()
    );
}

fn assert_logged(process: &LabProcess, lines: &[&str]) {
    let log = process.log();
    for line in lines {
        assert!(log.contains(line), "expected {line:?} in the log:\n{log}");
    }
}

/// One reload of the master's config as a planned move: lb01 hands over to lb02, then
/// (when `fails_back`) takes the VIP back by preemption; the client loses no reply,
/// lb01's daemon keeps running and its journal has `log_lines`.
fn reload_the_master_without_a_lost_reply(
    variant: Variant,
    config: String,
    what: &str,
    fails_back: bool,
    log_lines: &[&str],
) {
    let mut pair = Pair::elect(variant, true);
    let probe = pair.start_client();
    let event = Instant::now();
    reload_lb01(&pair, config);
    wait_for_lb02_takeover(&pair, what);
    let holder = if fails_back {
        pair.wait_for_failback();
        &pair.net.lb01
    } else {
        let gone = pair.wait(MARGIN * 4, |p| !p.lb01_holds());
        assert!(
            gone.is_some(),
            "{what}: lb01 kept the VIP after handing over"
        );
        &pair.net.lb02
    };
    pair.assert_client_settled_on(holder, &probe);
    let report = probe.finish().unwrap();
    assert_no_lost_reply(variant.tag, what, &report, MAX_GAP, Some(event));
    assert!(pair.lb01.is_running(), "{}", pair.lb01.log());
    assert_logged(&pair.lb01, log_lines);
}

/// A reload that changes more than the priority restarts the instance. On the master
/// that is a planned move like a restart of the daemon: hand over, start again, fail
/// back, without a lost reply.
fn reload_that_restarts_the_master_instance_loses_no_reply(variant: Variant) {
    // garp_master_refresh_s is neither the priority nor tracking: a restart.
    let changed = variant.config(
        HIGH_PRIORITY,
        serde_json::json!({ "instance": { "garp_master_refresh_s": 30 } }),
    );
    reload_the_master_without_a_lost_reply(
        variant,
        changed,
        "reload restarting the master's instance",
        true,
        &[
            "(VI_1) handing over before the reload stops it",
            "(VI_1) stopped by reload (handed over)",
            "(VI_1) started by reload",
        ],
    );
}

/// A reload that takes the master's instance out of the config hands the VIP to lb02
/// without a lost reply; the daemon runs on with what is left.
#[test]
fn reload_that_removes_the_master_instance_loses_no_reply() {
    // Only another router (VRID 51, another address) is left in lb01's config.
    let other = V2_PASS_1S.config(
        HIGH_PRIORITY,
        serde_json::json!({ "instance": {
            "name": "VI_2", "virtual_router_id": 51, "virtual_addresses": ["192.0.2.50"]
        } }),
    );
    reload_the_master_without_a_lost_reply(
        V2_PASS_1S,
        other,
        "reload removing the master's instance",
        false,
        &[
            "(VI_1) handing over before the reload stops it",
            "(VI_1) stopped by reload (handed over)",
            "(VI_2) started by reload",
        ],
    );
}

/// Renaming the instance (same interface and VRID) is a removal plus an addition that
/// needs the same VRID: the new one starts only after the old one has handed over, then
/// takes the VIP back by preemption; no reply is lost.
#[test]
fn reload_that_renames_the_master_instance_loses_no_reply() {
    let renamed = V3_10MS.config(
        HIGH_PRIORITY,
        serde_json::json!({ "instance": { "name": "VI_lb" } }),
    );
    reload_the_master_without_a_lost_reply(
        V3_10MS,
        renamed,
        "reload renaming the master's instance",
        true,
        &[
            "(VI_lb) starts once (VI_1) has handed over VRID 50 on eth0",
            "(VI_1) stopped by reload (handed over)",
            "(VI_lb) started by reload",
        ],
    );
}

/// A second SIGTERM during a hand-over means "now": the VIP goes at once.
#[test]
fn second_sigterm_during_a_hand_over_stops_at_once() {
    let (net, mut lb01, _timing) = lone_master("ptwice");
    lb01.signal(Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(net.lb01.has_address(vip()) && lb01.is_running());
    let again = Instant::now();
    lb01.signal(Signal::SIGTERM).unwrap();
    let status = lb01.wait_timeout(MARGIN * 2).unwrap();
    assert!(
        status.is_some_and(|status| status.success()),
        "vrrpd must exit 0 at once on a second SIGTERM, got {status:?} after {}\n{}",
        secs(again.elapsed()),
        lb01.log()
    );
    assert!(!net.lb01.has_address(vip()), "the VIP was left behind");
}

/// The planned moves of one round of [`repeated_planned_moves_lose_no_probe`], in order: each
/// leaves the VIP where the next one expects it (lb01 after an odd step, lb02 after the rest).
const MOVES: [&str; 7] = [
    "stop",
    "failback",
    "restart",
    "demote",
    "promote",
    "reload-remove",
    "reload-add",
];

/// A request sent less than this before the end of a move's window may still be in flight.
const IN_FLIGHT: Duration = Duration::from_millis(50);
/// How long each move's window runs on after the old holder let go, and the pause before the
/// next move (the follow-up gratuitous ARP, 100 ms after the takeover, falls inside it).
const TAIL: Duration = Duration::from_millis(200);

impl Pair {
    /// `vrrpd VERB VI_1` on lb01's control socket (the path is in its config).
    fn control_lb01(&self, verb: &str) {
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(config_path_of(&self.lb01)).unwrap()).unwrap();
        let socket = config["control_socket"].as_str().unwrap().to_string();
        let output = std::process::Command::new(VRRPD)
            .args([verb, "VI_1", "--socket", &socket])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "vrrpd {verb}: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.lb01.log()
        );
    }

    /// One planned move of [`MOVES`]; returns once the old holder has let go.
    fn planned_move(&mut self, name: &str) {
        let full = vrrpd_config(&self.variant, HIGH_PRIORITY, true);
        match name {
            "stop" => self.stop_lb01(),
            "failback" => {
                self.start_lb01();
                self.wait_for_failback();
            }
            "restart" => {
                self.stop_lb01();
                self.start_lb01();
                self.wait_for_failback();
            }
            "demote" => {
                // The command returns once the hand-over is over.
                self.control_lb01("demote");
                assert!(
                    self.wait(MARGIN * 4, |p| p.lb02_holds() && !p.lb01_holds())
                        .is_some(),
                    "demote: lb02 must hold the VIP alone"
                );
            }
            "promote" => {
                self.control_lb01("promote");
                self.wait_for_failback();
            }
            "reload-remove" => {
                let other = self.variant.config(
                    HIGH_PRIORITY,
                    serde_json::json!({ "instance": {
                        "name": "VI_2", "virtual_router_id": 51,
                        "virtual_addresses": ["192.0.2.50"]
                    } }),
                );
                reload_lb01(self, other);
                wait_for_lb02_takeover(self, "the reload removing VI_1");
                assert!(
                    self.wait(MARGIN * 4, |p| !p.lb01_holds()).is_some(),
                    "reload-remove: lb01 kept the VIP after handing over"
                );
            }
            "reload-add" => {
                reload_lb01(self, full);
                self.wait_for_failback();
            }
            other => panic!("no planned move {other}"),
        }
    }
}

/// Every planned move, again and again (issue 15). A move that opens a 40-70 ms gap once in
/// ten goes unseen by one run of each; `rounds` rounds of the seven moves catch it with
/// probability 1 - 0.9^rounds per kind of move (30 rounds: 96 %). One probe runs through
/// the whole series, with kernel receive timestamps; each move's window runs from its
/// trigger until the old holder has let go, plus [`TAIL`].
fn repeated_planned_moves_lose_no_probe(variant: Variant, rounds: usize) {
    let mut pair = Pair::elect(variant, true);
    let probe = Prober::start(
        &pair.net.client,
        pair.vip,
        PROBE_INTERVAL,
        Duration::from_secs(900),
    )
    .unwrap();
    assert!(
        probe.wait_for_replies(20, Duration::from_secs(3)),
        "the client reaches the VIP before the moves"
    );
    let mut windows = Vec::new();
    for round in 0..rounds {
        for name in MOVES {
            let from = Instant::now();
            pair.planned_move(name);
            std::thread::sleep(TAIL);
            windows.push((round, name, from, Instant::now()));
        }
    }
    let report = probe.finish().unwrap();
    let mut failures = Vec::new();
    for name in MOVES {
        let mut longest = Duration::ZERO;
        for (round, _, from, to) in windows.iter().filter(|w| w.1 == name) {
            let (gap, lost) = report.window(*from, *to, IN_FLIGHT);
            longest = longest.max(gap);
            if lost > 0 || gap >= MAX_GAP {
                failures.push(format!(
                    "{name} in round {}: {lost} lost, longest gap {}",
                    round + 1,
                    secs(gap)
                ));
            }
        }
        eprintln!(
            "{}: {name} x{rounds}: longest gap between replies {}",
            variant.tag,
            secs(longest)
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} planned moves lost a probe or left a gap of {} or more:\n{}\n{report}",
        failures.len(),
        windows.len(),
        secs(MAX_GAP),
        failures.join("\n")
    );
}

#[test]
fn v3_10ms_every_planned_move_30_times_loses_no_probe() {
    repeated_planned_moves_lose_no_probe(V3_10MS, 30);
}

#[test]
fn v2_pass_1s_every_planned_move_6_times_loses_no_probe() {
    repeated_planned_moves_lose_no_probe(V2_PASS_1S, 6);
}

macro_rules! planned_suite {
    ($module:ident, $variant:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn graceful_stop_of_the_master_loses_no_reply() {
                super::graceful_stop_of_the_master_loses_no_reply($variant);
            }

            #[test]
            fn failback_loses_no_reply() {
                super::failback_loses_no_reply($variant);
            }

            #[test]
            fn restart_of_the_master_loses_no_reply() {
                super::restart_of_the_master_loses_no_reply($variant);
            }

            #[test]
            fn reload_that_restarts_the_master_instance_loses_no_reply() {
                super::reload_that_restarts_the_master_instance_loses_no_reply($variant);
            }
        }
    };
}

planned_suite!(v2_pass_1s, V2_PASS_1S);
planned_suite!(v3_10ms, V3_10MS);
