//! Interop with the real keepalived (2.2, Debian's package) in network
//! namespaces: mixed pairs where one node runs keepalived and the other vrrpd,
//! as during a rolling migration. The user's exact setup throughout: VRRPv2,
//! `auth_type PASS` "password", VRID 50, priorities 150/100, 1 s adverts,
//! GARP refresh every 60 s. Needs root and keepalived.
//!
//! Timers (RFC 3768 §6.1), with a 1 s Advertisement_Interval:
//!   Skew_Time = (256 − Priority) / 256 s           (backup 100: 0.609 s)
//!   Master_Down_Interval = 3 s + Skew_Time          (backup 100: 3.609 s)
//! Every bound below is the protocol's bound plus [`MARGIN`] for scheduling
//! and polling on a loaded 2-core machine; lower bounds check that nobody
//! takes over before the protocol allows it.
//!
//! The rolling-migration walkthrough of docs/migrating-from-keepalived.md is
//! [`rolling_migration_of_a_live_pair_keeps_the_vip_reachable`], step by step.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::lab::{Host, LabProcess, Prober, wait_until};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");

/// The user's advert interval.
const ADVERT: Duration = Duration::from_secs(1);
/// Time for a daemon to start (exec, config, sockets) before its timers run.
const STARTUP_ALLOWANCE: Duration = Duration::from_millis(500);
/// Margin beyond each protocol bound, for scheduling and polling.
const MARGIN: Duration = Duration::from_millis(500);
/// How often the tests look for the VIP while waiting for a change.
const POLL: Duration = Duration::from_millis(5);

/// RFC 3768 §6.1 Skew_Time for `priority` at 1 s adverts.
fn skew_time(priority: u8) -> Duration {
    ADVERT * (256 - u32::from(priority)) / 256
}

/// RFC 3768 §6.1 Master_Down_Interval for `priority` at 1 s adverts.
fn master_down_interval(priority: u8) -> Duration {
    ADVERT * 3 + skew_time(priority)
}

/// The earliest a backup may declare a silent master dead: its timer was last
/// reset by an advert at most one interval before the master fell silent.
/// 5 % slack for a master whose last advert was a little late.
fn earliest_takeover_after_silence() -> Duration {
    ADVERT * 2 * 95 / 100
}

/// Which daemon runs on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Daemon {
    Vrrpd,
    Keepalived,
}

/// One node's VRRP settings, written out for either daemon.
#[derive(Clone, Debug)]
struct Settings {
    priority: u8,
    password: &'static str,
    advert_int_s: u32,
    preempt: bool,
    preempt_delay_s: u32,
    /// keepalived's `state` keyword (informational for vrrpd, which elects by
    /// priority; keepalived requires BACKUP for `nopreempt`).
    keepalived_state: &'static str,
}

impl Settings {
    /// The user's configuration at `priority`.
    fn user(priority: u8) -> Settings {
        Settings {
            priority,
            password: "password",
            advert_int_s: 1,
            preempt: true,
            preempt_delay_s: 0,
            keepalived_state: "BACKUP",
        }
    }

    fn vrrpd_json(&self) -> String {
        serde_json::json!({
            "instances": [{
                "name": "VI_1",
                "interface": "eth0",
                "virtual_router_id": 50,
                "version": 2,
                "priority": self.priority,
                "advert_interval_ms": self.advert_int_s * 1000,
                "authentication": { "type": "pass", "password": self.password },
                "virtual_addresses": [VIP],
                "preempt": self.preempt,
                "preempt_delay_s": self.preempt_delay_s,
                "garp_master_refresh_s": 60
            }]
        })
        .to_string()
    }

    /// keepalived.conf; `auth_pass` on its own line (keepalived reads one
    /// keyword per line and would ignore a password written after
    /// `auth_type PASS` on the same line).
    fn keepalived_conf(&self, router_id: &str) -> String {
        let mut options = String::new();
        if !self.preempt {
            options.push_str("    nopreempt\n");
        }
        if self.preempt_delay_s > 0 {
            options.push_str(&format!("    preempt_delay {}\n", self.preempt_delay_s));
        }
        format!(
            "global_defs {{
    router_id {router_id}
    vrrp_garp_master_refresh 60
}}
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    version 2
    virtual_router_id 50
    priority {priority}
    advert_int {advert}
    authentication {{
        auth_type PASS
        auth_pass {password}
    }}
{options}    virtual_ipaddress {{
        {VIP}
    }}
}}
",
            state = self.keepalived_state,
            priority = self.priority,
            advert = self.advert_int_s,
            password = self.password,
        )
    }
}

/// A lab host and the daemon it runs.
struct Node {
    host: Host,
    daemon: Daemon,
    settings: Settings,
    process: Option<LabProcess>,
}

impl Node {
    fn new(host: &Host, daemon: Daemon, settings: Settings) -> Node {
        Node {
            host: host.clone(),
            daemon,
            settings,
            process: None,
        }
    }

    fn name(&self) -> String {
        format!("{} ({:?})", self.host.name(), self.daemon)
    }

    fn start(&mut self) {
        let process = match self.daemon {
            Daemon::Vrrpd => self
                .host
                .start_vrrpd(Path::new(VRRPD), &self.settings.vrrpd_json())
                .expect("starting vrrpd"),
            Daemon::Keepalived => self
                .host
                .start_keepalived(&self.settings.keepalived_conf(self.host.name()))
                .expect("starting keepalived"),
        };
        self.process = Some(process);
    }

    fn process(&mut self) -> &mut LabProcess {
        self.process
            .as_mut()
            .expect("the node's daemon was started")
    }

    fn log(&self) -> String {
        self.process
            .as_ref()
            .map(LabProcess::log)
            .unwrap_or_default()
    }

    fn holds(&self) -> bool {
        self.host.has_address(vip())
    }

    fn assert_running(&mut self) {
        let name = self.name();
        let running = self.process().is_running();
        assert!(running, "{name} exited:\n{}", self.log());
    }

    /// SIGTERM, as `systemctl stop` does; waits (bounded) for the exit.
    /// keepalived forwards it to its VRRP child, which sends priority 0 and
    /// removes the VIP before both exit.
    fn signal_stop(&mut self) {
        self.process().signal(Signal::SIGTERM).unwrap();
    }

    fn wait_exited(&mut self) {
        let name = self.name();
        let status = self.process().wait_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            status.is_some(),
            "{name} did not exit within 5 s of SIGTERM"
        );
        if self.daemon == Daemon::Vrrpd {
            let status = status.unwrap();
            assert!(status.success(), "vrrpd exits 0 on SIGTERM: {status}");
        }
        // keepalived's VRRP child outlives the parent for a moment.
        let gone = wait_until(Duration::from_secs(3), Duration::from_millis(10), || {
            self.host.pids().is_empty()
        });
        assert!(gone.is_some(), "{name}: processes left after the stop");
    }
}

/// A mixed pair: lb01 (priority 150) and lb02 (priority 100) plus a client.
struct Mixed {
    net: PairLab,
    lb01: Node,
    lb02: Node,
    _timing: TimingGuard,
}

impl Mixed {
    fn new(tag: &str, lb01: (Daemon, Settings), lb02: (Daemon, Settings)) -> Mixed {
        let timing = timing_guard(false);
        let net = PairLab::new(tag);
        let lb01 = Node::new(&net.lb01, lb01.0, lb01.1);
        let lb02 = Node::new(&net.lb02, lb02.0, lb02.1);
        Mixed {
            net,
            lb01,
            lb02,
            _timing: timing,
        }
    }

    /// The user's pair with the given daemons.
    fn user(tag: &str, lb01: Daemon, lb02: Daemon) -> Mixed {
        Mixed::new(
            tag,
            (lb01, Settings::user(HIGH_PRIORITY)),
            (lb02, Settings::user(LOW_PRIORITY)),
        )
    }

    fn describe(&self) -> String {
        format!(
            "holds: lb01 {}, lb02 {}\n{}",
            self.lb01.holds(),
            self.lb02.holds(),
            self.net.lab.log_tails(25)
        )
    }

    /// Waits until `holder` (lb01 if true) alone holds the VIP; returns how
    /// long that took, panicking with the logs after `limit`.
    fn wait_sole_holder(&self, lb01: bool, limit: Duration, what: &str) -> Duration {
        let start = Instant::now();
        let done = wait_until(limit, POLL, || {
            self.lb01.holds() == lb01 && self.lb02.holds() == !lb01
        });
        assert!(
            done.is_some(),
            "{what}: {} did not become the only VIP holder within {}\n{}",
            if lb01 { "lb01" } else { "lb02" },
            secs(limit),
            self.describe()
        );
        start.elapsed()
    }

    /// Starts both nodes together and checks the election: lb01 (150) wins.
    fn elect(&mut self) {
        self.lb01.start();
        self.lb02.start();
        let limit = STARTUP_ALLOWANCE + master_down_interval(LOW_PRIORITY) + ADVERT * 2 + MARGIN;
        self.wait_sole_holder(true, limit, "election");
        // Let the backup hear adverts, so every later event starts from a
        // timer that was reset by the current master.
        std::thread::sleep(ADVERT * 3 / 2);
        self.assert_steady_state(Duration::from_secs(2));
    }

    /// Samples both hosts every 20 ms: exactly one holds the VIP each time.
    fn assert_steady_state(&mut self, window: Duration) {
        let (samples, both, neither) = sample_holders(
            &self.net.lb01,
            &self.net.lb02,
            vip(),
            window,
            Duration::from_millis(20),
        );
        assert!(samples >= 20, "only {samples} samples");
        assert_eq!(
            (both, neither),
            (0, 0),
            "steady state: both held the VIP in {both} and neither in {neither} of {samples} samples\n{}",
            self.describe()
        );
        self.lb01.assert_running();
        self.lb02.assert_running();
    }

    /// The client pings the VIP and its ARP entry carries `holder`'s MAC.
    fn assert_client_reaches_vip_on(&self, holder: &Host) {
        assert_client_reaches(&self.net.client, vip(), holder);
    }
}

/// The client's pings to `target` are answered by `holder`: its neighbour
/// entry for the VIP carries `holder`'s MAC (moved there by GARP) and at
/// least 20 replies come back.
fn assert_client_reaches(client: &Host, target: IpAddr, holder: &Host) {
    let mac = holder.mac().unwrap();
    let probe = Prober::start(
        client,
        target,
        Duration::from_millis(10),
        Duration::from_secs(10),
    )
    .unwrap();
    let moved = wait_until(Duration::from_secs(2), Duration::from_millis(10), || {
        client.neighbour_mac(target).ok().flatten().as_deref() == Some(mac.as_str())
    });
    let answered = probe.wait_for_replies(20, Duration::from_secs(3));
    let report = probe.finish().unwrap();
    assert!(
        moved.is_some(),
        "the client's neighbour entry for {target} should point at {} ({mac}), found {:?}",
        holder.name(),
        client.neighbour_mac(target)
    );
    assert!(
        answered,
        "client pings to {target} on {}: {report}",
        holder.name()
    );
}

/// Asserts a takeover after the master fell silent at `event` took at least
/// the part of Master_Down_Interval that must remain and at most all of it
/// plus the margin.
fn assert_silence_takeover(took: Duration, backup_priority: u8, what: &str) {
    let bound = master_down_interval(backup_priority) + MARGIN;
    eprintln!(
        "takeover after {what}: {} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(
        took <= bound,
        "takeover after {what} took {}; Master_Down_Interval + margin is {}",
        secs(took),
        secs(bound)
    );
    assert!(
        took >= earliest_takeover_after_silence(),
        "takeover only {} after {what}: before the Master_Down_Timer could expire",
        secs(took)
    );
}

/// After a graceful stop the master's priority-0 advert makes the backup take
/// over after its Skew_Time (RFC 3768 §6.4.2).
fn assert_graceful_handover(took: Duration, backup_priority: u8, what: &str) {
    let bound = skew_time(backup_priority) + MARGIN;
    eprintln!(
        "handover after {what}: {} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(
        took <= bound,
        "handover after {what} took {}; Skew_Time + margin is {}",
        secs(took),
        secs(bound)
    );
}

/// The upper bound alone: after a cable is plugged back in, a node that kept
/// its master state through the cut (no carrier tracking) wins at once.
fn assert_preemption_within_bound(took: Duration, what: &str) {
    let bound = STARTUP_ALLOWANCE + master_down_interval(HIGH_PRIORITY) + MARGIN;
    eprintln!(
        "preemption after {what}: {} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(took <= bound, "preemption after {what} took {}", secs(took));
}

/// A returning higher-priority node preempts after its own
/// Master_Down_Interval (it discards the lower-priority adverts, RFC 3768
/// §6.4.2), not before three advert intervals.
fn assert_preemption(took: Duration, what: &str) {
    assert_preemption_within_bound(took, what);
    assert!(
        took >= ADVERT * 3 * 95 / 100,
        "preemption only {} after {what}: before Master_Down_Interval",
        secs(took)
    );
}

// ---------------------------------------------------------------------------
// The user's setup, both role assignments.

/// keepalived MASTER (lb01, 150) + vrrpd BACKUP (lb02, 100): election, steady
/// state, cable cut of the keepalived master, preemption back, graceful stop
/// of keepalived, preemption back after its restart. The client reaches the
/// VIP after every move. (A SIGKILLed keepalived leaves its VIP on the
/// interface, so keepalived's death is simulated by the cable cut.)
#[test]
fn v2_keepalived_master_vrrpd_backup_fail_over_and_back() {
    let mut pair = Mixed::user("ikmvb", Daemon::Keepalived, Daemon::Vrrpd);
    pair.elect();
    pair.assert_client_reaches_vip_on(&pair.net.lb01);
    assert!(
        pair.lb02.log().contains("(VI_1) Entering BACKUP STATE"),
        "vrrpd logs its backup state:\n{}",
        pair.lb02.log()
    );

    // Node death: keepalived's cable is cut; vrrpd takes over.
    let cut = Instant::now();
    pair.net.lb01.link_down().unwrap();
    let done = wait_until(
        master_down_interval(LOW_PRIORITY) + Duration::from_secs(3),
        POLL,
        || pair.lb02.holds(),
    );
    assert!(done.is_some(), "vrrpd never took over\n{}", pair.describe());
    assert_silence_takeover(
        cut.elapsed(),
        LOW_PRIORITY,
        "the keepalived master's cable cut",
    );
    pair.assert_client_reaches_vip_on(&pair.net.lb02);

    // Cable back: keepalived (150) preempts vrrpd (100).
    let plugged = Instant::now();
    pair.net.lb01.link_up().unwrap();
    pair.wait_sole_holder(
        true,
        Duration::from_secs(10),
        "keepalived preempting after link up",
    );
    assert_preemption_within_bound(plugged.elapsed(), "keepalived's link came back");
    pair.assert_steady_state(Duration::from_secs(2));
    pair.assert_client_reaches_vip_on(&pair.net.lb01);

    // Graceful stop of keepalived: priority 0, vrrpd takes over after Skew_Time.
    let stopped = Instant::now();
    pair.lb01.signal_stop();
    pair.wait_sole_holder(
        false,
        Duration::from_secs(4),
        "vrrpd after keepalived's stop",
    );
    assert_graceful_handover(stopped.elapsed(), LOW_PRIORITY, "keepalived's SIGTERM");
    pair.lb01.wait_exited();
    pair.assert_client_reaches_vip_on(&pair.net.lb02);

    // keepalived returns and preempts.
    let restarted = Instant::now();
    pair.lb01.start();
    pair.wait_sole_holder(
        true,
        Duration::from_secs(10),
        "keepalived preempting after restart",
    );
    assert_preemption(restarted.elapsed(), "keepalived's restart");
    pair.assert_steady_state(Duration::from_secs(2));
    pair.assert_client_reaches_vip_on(&pair.net.lb01);
}

/// vrrpd MASTER (lb01, 150) + keepalived BACKUP (lb02, 100): election, steady
/// state, SIGKILL of vrrpd, preemption back, cable cut of vrrpd, preemption
/// back, graceful stop of vrrpd, preemption back.
#[test]
fn v2_vrrpd_master_keepalived_backup_fail_over_and_back() {
    let mut pair = Mixed::user("ivmkb", Daemon::Vrrpd, Daemon::Keepalived);
    pair.elect();
    pair.assert_client_reaches_vip_on(&pair.net.lb01);
    assert!(
        pair.lb01.log().contains("(VI_1) Entering MASTER STATE"),
        "vrrpd logs its master state:\n{}",
        pair.lb01.log()
    );

    // Node death 1: vrrpd is SIGKILLed (its VIP stays on lb01's interface:
    // nobody is left to remove it); keepalived takes over and its GARP moves
    // the client.
    let killed = Instant::now();
    pair.lb01.process().kill9().unwrap();
    let done = wait_until(
        master_down_interval(LOW_PRIORITY) + Duration::from_secs(3),
        POLL,
        || pair.lb02.holds(),
    );
    assert!(
        done.is_some(),
        "keepalived never took over\n{}",
        pair.describe()
    );
    assert_silence_takeover(
        killed.elapsed(),
        LOW_PRIORITY,
        "SIGKILL of the vrrpd master",
    );
    pair.assert_client_reaches_vip_on(&pair.net.lb02);

    // vrrpd restarts (removing the VIP it left behind while it is backup)
    // and preempts.
    let restarted = Instant::now();
    pair.lb01.start();
    pair.wait_sole_holder(
        true,
        Duration::from_secs(10),
        "vrrpd preempting after restart",
    );
    assert_preemption(restarted.elapsed(), "vrrpd's restart");
    pair.assert_steady_state(Duration::from_secs(2));
    pair.assert_client_reaches_vip_on(&pair.net.lb01);

    // Node death 2: the vrrpd master's cable is cut.
    let cut = Instant::now();
    pair.net.lb01.link_down().unwrap();
    let done = wait_until(
        master_down_interval(LOW_PRIORITY) + Duration::from_secs(3),
        POLL,
        || pair.lb02.holds(),
    );
    assert!(
        done.is_some(),
        "keepalived never took over\n{}",
        pair.describe()
    );
    assert_silence_takeover(cut.elapsed(), LOW_PRIORITY, "the vrrpd master's cable cut");
    pair.assert_client_reaches_vip_on(&pair.net.lb02);

    let plugged = Instant::now();
    pair.net.lb01.link_up().unwrap();
    pair.wait_sole_holder(
        true,
        Duration::from_secs(10),
        "vrrpd preempting after link up",
    );
    assert_preemption_within_bound(plugged.elapsed(), "vrrpd's link came back");
    pair.assert_steady_state(Duration::from_secs(2));
    pair.assert_client_reaches_vip_on(&pair.net.lb01);

    // Graceful stop of vrrpd: priority 0, keepalived takes over after Skew_Time.
    let stopped = Instant::now();
    pair.lb01.signal_stop();
    pair.wait_sole_holder(
        false,
        Duration::from_secs(4),
        "keepalived after vrrpd's stop",
    );
    assert_graceful_handover(stopped.elapsed(), LOW_PRIORITY, "vrrpd's SIGTERM");
    pair.lb01.wait_exited();
    pair.assert_client_reaches_vip_on(&pair.net.lb02);

    let restarted = Instant::now();
    pair.lb01.start();
    pair.wait_sole_holder(
        true,
        Duration::from_secs(10),
        "vrrpd preempting after restart",
    );
    assert_preemption(restarted.elapsed(), "vrrpd's second restart");
    pair.assert_steady_state(Duration::from_secs(2));
    pair.assert_client_reaches_vip_on(&pair.net.lb01);
}

// ---------------------------------------------------------------------------
// The rolling migration of docs/migrating-from-keepalived.md.

/// `vrrpd import-keepalived FILE` then `vrrpd check --config`, as the guide says.
fn import_and_check(host: &Host, keepalived_conf: &str) -> String {
    let dir = host.lab_dir();
    let conf = dir.join(format!("{}-migrate-keepalived.conf", host.name()));
    std::fs::write(&conf, keepalived_conf).unwrap();
    let output = Command::new(VRRPD)
        .arg("import-keepalived")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "import-keepalived failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = String::from_utf8(output.stdout).unwrap();
    let json_path = dir.join(format!("{}-migrate-vrrpd.json", host.name()));
    std::fs::write(&json_path, &json).unwrap();
    let check = Command::new(VRRPD)
        .args(["check", "--config"])
        .arg(&json_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "vrrpd check rejected the imported config: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    json
}

/// The guide's walkthrough: a keepalived pair (lb01 `state MASTER` 150, lb02
/// BACKUP 100) becomes a vrrpd pair, backup first, then master, while a client
/// pings the VIP every 10 ms throughout.
#[test]
fn rolling_migration_of_a_live_pair_keeps_the_vip_reachable() {
    let master_settings = Settings {
        keepalived_state: "MASTER",
        ..Settings::user(HIGH_PRIORITY)
    };
    let mut pair = Mixed::new(
        "imigr",
        (Daemon::Keepalived, master_settings.clone()),
        (Daemon::Keepalived, Settings::user(LOW_PRIORITY)),
    );
    pair.elect();
    let probe = Prober::start(
        &pair.net.client,
        vip(),
        Duration::from_millis(10),
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(
        probe.wait_for_replies(20, Duration::from_secs(3)),
        "the client reaches the VIP before the migration"
    );

    // Step 1, the backup (lb02): import its keepalived.conf, check it, stop
    // keepalived, start vrrpd. The master is untouched: the VIP never moves.
    let lb02_json = import_and_check(
        &pair.net.lb02,
        &Settings::user(LOW_PRIORITY).keepalived_conf("lb02"),
    );
    pair.lb02.signal_stop();
    pair.lb02.wait_exited();
    pair.lb02.daemon = Daemon::Vrrpd;
    pair.lb02.process = Some(
        pair.net
            .lb02
            .start_vrrpd(Path::new(VRRPD), &lb02_json)
            .unwrap(),
    );
    // vrrpd on lb02 must accept keepalived's adverts and stay backup well
    // past its Master_Down_Interval.
    pair.assert_steady_state(STARTUP_ALLOWANCE + master_down_interval(LOW_PRIORITY) * 2);
    assert!(
        pair.lb01.holds(),
        "the keepalived master keeps the VIP during step 1"
    );
    let lb02_log = pair.lb02.log();
    assert!(
        lb02_log.contains("(VI_1) Entering BACKUP STATE")
            && !lb02_log.contains("ignored a VRRP packet"),
        "vrrpd on lb02 hears keepalived's adverts and stays backup:\n{lb02_log}"
    );

    // Step 2, the master (lb01): import, check, stop keepalived (priority 0:
    // vrrpd on lb02 takes over after its Skew_Time), start vrrpd, which
    // preempts with its higher priority.
    let lb01_json = import_and_check(&pair.net.lb01, &master_settings.keepalived_conf("lb01"));
    let stopped = Instant::now();
    pair.lb01.signal_stop();
    pair.wait_sole_holder(
        false,
        Duration::from_secs(4),
        "vrrpd on lb02 after keepalived's stop on lb01",
    );
    assert_graceful_handover(
        stopped.elapsed(),
        LOW_PRIORITY,
        "stopping keepalived on the master",
    );
    pair.lb01.wait_exited();
    pair.lb01.daemon = Daemon::Vrrpd;
    let started = Instant::now();
    pair.lb01.process = Some(
        pair.net
            .lb01
            .start_vrrpd(Path::new(VRRPD), &lb01_json)
            .unwrap(),
    );
    pair.wait_sole_holder(true, Duration::from_secs(10), "vrrpd on lb01 preempting");
    assert_preemption(started.elapsed(), "vrrpd's start on lb01");
    pair.assert_steady_state(Duration::from_secs(2));
    probe.wait_for_replies(probe.received_so_far() + 20, Duration::from_secs(3));
    let report = probe.finish().unwrap();
    eprintln!("rolling migration: client {report}");

    // The client's only outage is the one graceful handover of step 2.
    let gap = report.longest_gap().expect("replies");
    assert!(
        gap <= skew_time(LOW_PRIORITY) + MARGIN,
        "the client lost the VIP for {} during the migration: {report}",
        secs(gap)
    );
    assert!(
        report.silence_at_end() < Duration::from_millis(200),
        "the VIP answers at the end: {report}"
    );
    pair.assert_client_reaches_vip_on(&pair.net.lb01);
}

// ---------------------------------------------------------------------------
// Mismatches: vrrpd drops the adverts and says why, in operator words.

/// A keepalived master with another password, then with another advert
/// interval: vrrpd drops its adverts, logs the reason with the sender, and
/// (hearing no valid master) becomes master itself; keepalived reports the
/// password mismatch from its side too.
#[test]
fn v2_password_and_interval_mismatches_are_dropped_and_logged() {
    let wrong_password = Settings {
        password: "wrongpwd",
        ..Settings::user(LOW_PRIORITY)
    };
    let mut pair = Mixed::new(
        "imism",
        (Daemon::Keepalived, Settings::user(HIGH_PRIORITY)),
        (Daemon::Vrrpd, wrong_password),
    );
    pair.lb01.start();
    pair.wait_sole_holder(
        true,
        STARTUP_ALLOWANCE + master_down_interval(HIGH_PRIORITY) + MARGIN * 2,
        "keepalived alone",
    );
    pair.lb02.start();
    let password_line = "(VI_1) ignored a VRRP packet from 192.0.2.41: password differs from ours";
    let logged = wait_until(Duration::from_secs(4), Duration::from_millis(20), || {
        pair.lb02.log().contains(password_line)
    });
    assert!(
        logged.is_some(),
        "vrrpd logs `{password_line}`:\n{}",
        pair.lb02.log()
    );
    // Dropped adverts do not hold vrrpd back: it becomes master too.
    let split = wait_until(
        STARTUP_ALLOWANCE + master_down_interval(LOW_PRIORITY) + MARGIN,
        POLL,
        || pair.lb02.holds(),
    );
    assert!(
        split.is_some(),
        "vrrpd ignores adverts it dropped\n{}",
        pair.describe()
    );
    let keepalived_saw = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        pair.lb01.log().contains("invalid passwd")
    });
    assert!(
        keepalived_saw.is_some(),
        "keepalived reports the mismatch too:\n{}",
        pair.lb01.log()
    );

    // Interval: keepalived now advertises every 2 s with the right password.
    pair.lb01.process().kill9().unwrap();
    pair.net.lb01.signal_all(Signal::SIGKILL);
    pair.lb01.settings = Settings {
        advert_int_s: 2,
        password: "wrongpwd",
        ..Settings::user(HIGH_PRIORITY)
    };
    let before = pair.lb02.log().len();
    pair.lb01.start();
    let interval_line = "(VI_1) ignored a VRRP packet from 192.0.2.41: advertisement interval differs from ours (VRRPv2 requires them to match)";
    let logged = wait_until(Duration::from_secs(8), Duration::from_millis(20), || {
        pair.lb02.log()[before..].contains(interval_line)
    });
    assert!(
        logged.is_some(),
        "vrrpd logs `{interval_line}`:\n{}",
        pair.lb02.log()
    );
    assert!(
        pair.lb02.holds(),
        "vrrpd stays master: the adverts it drops do not count"
    );
    pair.lb02.assert_running();
}

// ---------------------------------------------------------------------------
// nopreempt and preempt_delay against keepalived.

/// Runs `first` alone until it is master, then starts `second` (priority 150)
/// and returns when `second` was started.
fn master_first(pair: &mut Mixed) -> Instant {
    pair.lb02.start();
    pair.wait_sole_holder(
        false,
        STARTUP_ALLOWANCE + master_down_interval(LOW_PRIORITY) + MARGIN * 2,
        "lb02 alone",
    );
    std::thread::sleep(ADVERT);
    let started = Instant::now();
    pair.lb01.start();
    started
}

/// A higher-priority node without preemption joins a running master: the VIP
/// stays where it is; when the master stops, the newcomer takes over.
fn nopreempt_newcomer_does_not_take_over(lb01: Daemon, lb02: Daemon, tag: &str) {
    let newcomer = Settings {
        preempt: false,
        ..Settings::user(HIGH_PRIORITY)
    };
    let mut pair = Mixed::new(tag, (lb01, newcomer), (lb02, Settings::user(LOW_PRIORITY)));
    master_first(&mut pair);
    // Twice lb01's Master_Down_Interval: with preemption it would have taken over.
    pair.assert_steady_state(STARTUP_ALLOWANCE + master_down_interval(HIGH_PRIORITY) * 2);
    assert!(
        pair.lb02.holds(),
        "the VIP stays on lb02: lb01 does not preempt\n{}",
        pair.describe()
    );
    let stopped = Instant::now();
    pair.lb02.signal_stop();
    pair.wait_sole_holder(
        true,
        Duration::from_secs(4),
        "the non-preempting backup after the master's stop",
    );
    assert_graceful_handover(stopped.elapsed(), HIGH_PRIORITY, "the master's SIGTERM");
    pair.assert_client_reaches_vip_on(&pair.net.lb01);
}

#[test]
fn v2_keepalived_nopreempt_leaves_vrrpd_master_in_place() {
    nopreempt_newcomer_does_not_take_over(Daemon::Keepalived, Daemon::Vrrpd, "iknop");
}

#[test]
fn v2_vrrpd_nopreempt_leaves_keepalived_master_in_place() {
    nopreempt_newcomer_does_not_take_over(Daemon::Vrrpd, Daemon::Keepalived, "ivnop");
}

/// A higher-priority node with `preempt_delay` 3 s joins a running master: it
/// preempts, but not before the delay has passed since its start, and within
/// delay + Master_Down_Interval + margin.
fn preempt_delay_newcomer_waits(lb01: Daemon, lb02: Daemon, tag: &str) {
    let delay = Duration::from_secs(3);
    let newcomer = Settings {
        preempt_delay_s: 3,
        ..Settings::user(HIGH_PRIORITY)
    };
    let mut pair = Mixed::new(tag, (lb01, newcomer), (lb02, Settings::user(LOW_PRIORITY)));
    let started = master_first(&mut pair);
    // vrrpd counts the delay from its start; keepalived from the first
    // lower-priority advert it hears, up to one interval after its start.
    let heard_first_advert = if lb01 == Daemon::Keepalived {
        ADVERT
    } else {
        Duration::ZERO
    };
    let bound = STARTUP_ALLOWANCE
        + heard_first_advert
        + delay
        + master_down_interval(HIGH_PRIORITY)
        + MARGIN;
    pair.wait_sole_holder(
        true,
        bound + Duration::from_secs(3),
        "preemption after preempt_delay",
    );
    let took = started.elapsed();
    eprintln!(
        "{tag}: preempted {} after start (delay {}, bound {})",
        secs(took),
        secs(delay),
        secs(bound)
    );
    assert!(
        took >= delay,
        "lb01 preempted {} after its start, before preempt_delay",
        secs(took)
    );
    assert!(
        took <= bound,
        "lb01 preempted only {} after its start (bound {})",
        secs(took),
        secs(bound)
    );
    pair.assert_steady_state(Duration::from_secs(2));
    pair.assert_client_reaches_vip_on(&pair.net.lb01);
}

#[test]
fn v2_keepalived_preempt_delay_against_vrrpd_master() {
    preempt_delay_newcomer_waits(Daemon::Keepalived, Daemon::Vrrpd, "ikpdl");
}

#[test]
fn v2_vrrpd_preempt_delay_against_keepalived_master() {
    preempt_delay_newcomer_waits(Daemon::Vrrpd, Daemon::Keepalived, "ivpdl");
}

#[test]
fn settings_render_the_users_setup_for_both_daemons() {
    let conf = Settings::user(150).keepalived_conf("lb01");
    assert!(
        conf.contains("        auth_type PASS\n        auth_pass password\n"),
        "{conf}"
    );
    assert!(conf.contains("virtual_router_id 50") && conf.contains("priority 150"));
    assert!(!conf.contains("nopreempt") && !conf.contains("preempt_delay"));
    let json: serde_json::Value = serde_json::from_str(&Settings::user(100).vrrpd_json()).unwrap();
    assert_eq!(
        json["instances"][0]["authentication"]["password"],
        "password"
    );
    assert_eq!(json["instances"][0]["garp_master_refresh_s"], 60);
    assert_eq!(master_down_interval(100), Duration::from_micros(3_609_375));
    assert_eq!(
        skew_time(150),
        Duration::from_micros(414_062) + Duration::from_nanos(500)
    );
}
