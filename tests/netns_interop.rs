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
/// The poll of the waits that time a takeover to within one 10 ms advert interval.
const FAST_POLL: Duration = Duration::from_millis(1);

/// RFC 3768 §6.1 Skew_Time for `priority` at 1 s adverts.
fn skew_time(priority: u8) -> Duration {
    common::skew_time(ADVERT, priority)
}

/// RFC 3768 §6.1 Master_Down_Interval for `priority` at 1 s adverts.
fn master_down_interval(priority: u8) -> Duration {
    common::master_down_interval(ADVERT, priority)
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
    /// 2 or 3.
    version: u8,
    /// VRRPv2 only (VRRPv3 has no authentication, RFC 5798 §9).
    password: &'static str,
    advert_ms: u32,
    preempt: bool,
    preempt_delay_s: u32,
    /// keepalived's `state` keyword (informational for vrrpd, which elects by
    /// priority; keepalived requires BACKUP for `nopreempt`).
    keepalived_state: &'static str,
    /// vrrpd's `v3_checksum` (keepalived 2.2.7 has no equivalent keyword).
    v3_checksum: &'static str,
}

impl Settings {
    /// The user's configuration at `priority`.
    fn user(priority: u8) -> Settings {
        Settings {
            priority,
            version: 2,
            password: "password",
            advert_ms: 1000,
            preempt: true,
            preempt_delay_s: 0,
            keepalived_state: "BACKUP",
            v3_checksum: "with_pseudo_header",
        }
    }

    /// VRRPv3 at `advert_ms`, otherwise the user's setup.
    fn v3(priority: u8, advert_ms: u32) -> Settings {
        Settings {
            version: 3,
            advert_ms,
            ..Settings::user(priority)
        }
    }

    fn advert(&self) -> Duration {
        Duration::from_millis(u64::from(self.advert_ms))
    }

    fn vrrpd_json(&self) -> String {
        let authentication = if self.version == 2 {
            serde_json::json!({ "type": "pass", "password": self.password })
        } else {
            serde_json::json!({ "type": "none" })
        };
        serde_json::json!({
            "instances": [{
                "name": "VI_1",
                "interface": "eth0",
                "virtual_router_id": 50,
                "version": self.version,
                "priority": self.priority,
                "advert_interval_ms": self.advert_ms,
                "authentication": authentication,
                "virtual_addresses": [VIP],
                "preempt": self.preempt,
                "preempt_delay_s": self.preempt_delay_s,
                "v3_checksum": self.v3_checksum,
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
        if self.version == 2 {
            options.push_str(&format!(
                "    authentication {{\n        auth_type PASS\n        auth_pass {}\n    }}\n",
                self.password
            ));
        }
        format!(
            "global_defs {{
    router_id {router_id}
    vrrp_garp_master_refresh 60
}}
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    version {version}
    virtual_router_id 50
    priority {priority}
    advert_int {advert}
{options}    virtual_ipaddress {{
        {VIP}
    }}
}}
",
            state = self.keepalived_state,
            version = self.version,
            priority = self.priority,
            advert = self.advert().as_secs_f64(),
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
                .start_vrrpd(&vrrpd_binary(), &self.settings.vrrpd_json())
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
        // 10 ms adverts (a 36 ms Master_Down_Interval) run alone.
        let timing = timing_guard(lb01.1.advert_ms < 100);
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
            self.lb01.holds() == lb01 && self.lb02.holds() != lb01
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

    /// Neither side dropped the other's adverts: vrrpd logged no dropped
    /// packet and keepalived no invalid one (its words: "invalid passwd",
    /// "Invalid VRRPv3 checksum", "invalid TTL/HL", …).
    fn assert_no_dropped_adverts(&self) {
        for node in [&self.lb01, &self.lb02] {
            let log = node.log();
            let complaint = match node.daemon {
                Daemon::Vrrpd => log.lines().find(|l| l.contains("ignored a VRRP packet")),
                Daemon::Keepalived => log
                    .lines()
                    .find(|l| l.to_ascii_lowercase().contains("invalid")),
            };
            assert!(
                complaint.is_none(),
                "{} dropped its peer's adverts: {complaint:?}",
                node.name()
            );
        }
    }

    /// The client pings the VIP and its ARP entry carries `holder`'s MAC.
    fn assert_client_reaches_vip_on(&self, holder: &Host) {
        assert_client_reaches(&self.net.client, vip(), holder, Duration::from_secs(2));
    }
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
    pair.assert_no_dropped_adverts();
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

    // vrrpd restarts, removes the VIP it left behind (it starts as backup)
    // and preempts.
    assert!(
        pair.lb01.holds(),
        "the kernel keeps the VIP of a SIGKILLed vrrpd"
    );
    let restarted = Instant::now();
    pair.lb01.start();
    let cleaned = wait_until(STARTUP_ALLOWANCE * 2, POLL, || !pair.lb01.holds());
    assert!(
        cleaned.is_some(),
        "vrrpd did not remove the VIP left behind before preempting\n{}",
        pair.describe()
    );
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
    pair.assert_no_dropped_adverts();
}

// ---------------------------------------------------------------------------
// The rolling migration of docs/migrating-from-keepalived.md.

/// The configuration file keepalived says it read (its first log lines).
fn keepalived_conf_path(log: &str) -> std::path::PathBuf {
    log.lines()
        .find_map(|line| {
            line.split_once("Configuration file ")
                .map(|(_, path)| path.trim().into())
        })
        .unwrap_or_else(|| panic!("keepalived did not log its configuration file:\n{log}"))
}

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

    // Step 2, the master (lb01). First hand the VIP over without a gap:
    // lower keepalived's priority below the backup's and reload it
    // (`systemctl reload keepalived` sends SIGHUP). vrrpd on lb02 preempts
    // the now lower-priority master (RFC 3768 §6.4.2) after its
    // Master_Down_Interval, adds the VIP and sends GARPs before keepalived
    // hears its advert and lets go: make before break.
    let lb01_json = import_and_check(&pair.net.lb01, &master_settings.keepalived_conf("lb01"));
    let lowered = Settings {
        priority: 50,
        ..master_settings.clone()
    };
    let conf_path = keepalived_conf_path(&pair.lb01.log());
    std::fs::write(&conf_path, lowered.keepalived_conf("lb01")).unwrap();
    let reloaded = Instant::now();
    pair.lb01.process().signal(Signal::SIGHUP).unwrap();
    pair.wait_sole_holder(
        false,
        STARTUP_ALLOWANCE + master_down_interval(LOW_PRIORITY) + ADVERT + MARGIN * 2,
        "vrrpd on lb02 preempting the lowered keepalived master",
    );
    eprintln!(
        "rolling migration: lb02 master {} after keepalived's reload",
        secs(reloaded.elapsed())
    );
    let line = "(VI_1) Entering MASTER STATE (reason: preempting lower priority master 192.0.2.41 priority 50)";
    assert!(
        pair.lb02.log().contains(line),
        "the guide quotes `{line}`:\n{}",
        pair.lb02.log()
    );
    pair.assert_steady_state(Duration::from_secs(2));
    // Then keepalived, now a backup, stops without touching the VIP.
    pair.lb01.signal_stop();
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
    probe.wait_for_replies(20, Duration::from_secs(3));
    let report = probe.finish().unwrap();
    eprintln!("rolling migration: client {report}");

    // No outage: both moves were make-before-break, the client's neighbour
    // entry following the new master's GARP. 200 ms is 20 ping intervals.
    let gap = report.longest_gap().expect("replies");
    assert!(
        gap <= Duration::from_millis(200),
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
        advert_ms: 2000,
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

// ---------------------------------------------------------------------------
// VRRPv3 at 1 s and 10 ms, keepalived's default (pseudo-header) checksum.

/// A VRRPv3 mixed pair: election, steady state, cable cut of the master,
/// return of the master, graceful stop of the master; the client reaches the
/// VIP after each move.
fn v3_mixed_pair_fails_over_and_back(lb01: Daemon, lb02: Daemon, advert_ms: u32, tag: &str) {
    let high = Settings::v3(HIGH_PRIORITY, advert_ms);
    let advert = high.advert();
    let mut pair = Mixed::new(
        tag,
        (lb01, high),
        (lb02, Settings::v3(LOW_PRIORITY, advert_ms)),
    );
    pair.lb01.start();
    pair.lb02.start();
    // At 10 ms the backup can win the race to start; lb01 then preempts.
    let limit = STARTUP_ALLOWANCE * 2
        + common::master_down_interval(advert, LOW_PRIORITY)
        + advert * 2
        + MARGIN;
    pair.wait_sole_holder(true, limit, "VRRPv3 election");
    std::thread::sleep((advert * 3 / 2).max(Duration::from_millis(100)));
    pair.assert_steady_state(Duration::from_secs(2));
    pair.assert_client_reaches_vip_on(&pair.net.lb01);

    let cut = Instant::now();
    pair.net.lb01.link_down().unwrap();
    let cut_done = Instant::now();
    // Master_Down_Interval + 1.5 intervals (`takeover_absorber`), counted from the end of
    // the `ip` command (the backup's last advert came before it); a backup with twice
    // the RFC's Master_Down_Interval fails it by most of a Master_Down_Interval.
    let bound = silence_takeover_bound(advert, LOW_PRIORITY);
    let done = wait_until(bound + Duration::from_secs(2), FAST_POLL, || {
        pair.lb02.holds()
    });
    let (took, since_cut_done) = (cut.elapsed(), cut_done.elapsed());
    assert!(
        done.is_some(),
        "{tag}: lb02 never took over\n{}",
        pair.describe()
    );
    eprintln!(
        "{tag}: takeover after the cable cut: {} ({} after `ip` returned; bound {})",
        secs(took),
        secs(since_cut_done),
        secs(bound)
    );
    assert!(
        since_cut_done <= bound,
        "{tag}: takeover took {} after the cut (bound Master_Down_Interval + the absorber, {})",
        secs(since_cut_done),
        secs(bound)
    );
    assert!(
        took >= advert * 2 * 95 / 100,
        "{tag}: takeover after {}: before Master_Down_Interval",
        secs(took)
    );
    pair.assert_client_reaches_vip_on(&pair.net.lb02);

    let plugged = Instant::now();
    pair.net.lb01.link_up().unwrap();
    let plugged_done = Instant::now();
    // Back from Fault, lb01 is a backup (RFC 5798 §6.4.1 with the link up) that discards
    // lb02's lower priority and preempts when its Master_Down_Timer runs out: counted from
    // the end of the `ip link` command, Master_Down_Interval plus the absorber (no process
    // starts here, so no start-up allowance).
    let bound = common::master_down_interval(advert, HIGH_PRIORITY) + takeover_absorber(advert);
    pair.wait_sole_holder(
        true,
        bound + Duration::from_secs(2),
        "lb01 back after link up",
    );
    let back = plugged_done.elapsed();
    eprintln!(
        "{tag}: lb01 master again {} after link up ({} after `ip` returned; bound {})",
        secs(plugged.elapsed()),
        secs(back),
        secs(bound)
    );
    assert!(
        back <= bound,
        "{tag}: lb01 back {} after link up; bound Master_Down_Interval + the absorber ({})",
        secs(back),
        secs(bound)
    );
    std::thread::sleep((advert * 3 / 2).max(Duration::from_millis(100)));
    pair.assert_steady_state(Duration::from_secs(1));

    let stopped = Instant::now();
    pair.lb01.signal_stop();
    // Skew_Time + 1.5 intervals (`takeover_absorber`); a backup that ignored the
    // priority-0 advert would need at least Master_Down_Interval − one interval.
    let bound = skew_takeover_bound(advert, LOW_PRIORITY);
    assert!(bound < earliest_takeover_ignoring_priority_zero(advert, LOW_PRIORITY));
    let done = wait_until(bound + Duration::from_secs(2), FAST_POLL, || {
        pair.lb02.holds()
    });
    let took = stopped.elapsed();
    assert!(
        done.is_some(),
        "{tag}: lb02 never took over after lb01's stop\n{}",
        pair.describe()
    );
    pair.wait_sole_holder(
        false,
        Duration::from_secs(2),
        "lb02 alone after lb01's stop",
    );
    eprintln!(
        "{tag}: handover after SIGTERM: {} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(
        took <= bound,
        "{tag}: handover took {} (bound {})",
        secs(took),
        secs(bound)
    );
    pair.lb01.wait_exited();
    pair.assert_client_reaches_vip_on(&pair.net.lb02);
    pair.lb02.assert_running();
    pair.assert_no_dropped_adverts();
}

#[test]
fn v3_1s_keepalived_master_vrrpd_backup() {
    v3_mixed_pair_fails_over_and_back(Daemon::Keepalived, Daemon::Vrrpd, 1000, "ik3s");
}

#[test]
fn v3_1s_vrrpd_master_keepalived_backup() {
    v3_mixed_pair_fails_over_and_back(Daemon::Vrrpd, Daemon::Keepalived, 1000, "iv3s");
}

#[test]
fn v3_10ms_keepalived_master_vrrpd_backup() {
    v3_mixed_pair_fails_over_and_back(Daemon::Keepalived, Daemon::Vrrpd, 10, "ik310");
}

#[test]
fn v3_10ms_vrrpd_master_keepalived_backup() {
    v3_mixed_pair_fails_over_and_back(Daemon::Vrrpd, Daemon::Keepalived, 10, "iv310");
}

// ---------------------------------------------------------------------------
// VRRPv3 checksum forms. keepalived 2.2.7 has no `v3_checksum_as_v2` keyword
// (checked below): it always sends, and only accepts, the RFC 5798 form with
// the IPv4 pseudo-header. vrrpd's acceptance of the RFC 9568 message-only
// form is therefore tested with crafted adverts.

/// keepalived 2.2.7's own config test rejects the keyword.
#[test]
fn keepalived_2_2_7_has_no_v3_checksum_as_v2_keyword() {
    let _timing = timing_guard(false);
    let net = PairLab::new("ikcsum");
    let conf = net.lab.dir().join("checksum-keyword.conf");
    let text = Settings::v3(HIGH_PRIORITY, 1000)
        .keepalived_conf("lb01")
        .replace("    advert_int", "    v3_checksum_as_v2\n    advert_int");
    std::fs::write(&conf, text).unwrap();
    let output = std::process::Command::new("ip")
        .args(["netns", "exec", net.lb01.netns(), "keepalived", "-t", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("Unknown keyword 'v3_checksum_as_v2'"),
        "keepalived -t output:\n{said}"
    );
}

/// Internet checksum (RFC 1071) over `data`, for checking crafted packets
/// independently of vrrpd's codec.
fn ones_complement_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A VRRPv3 IPv4 advert for VRID 50 / the VIP at `priority`, 100 ms, with
/// the checksum in the requested form (or broken).
fn crafted_v3_advert(priority: u8, form: &str) -> Vec<u8> {
    use vrrpd::core::packet::{self, Advertisement, Authentication, ChecksumMode, Version};
    let source: IpAddr = "192.0.2.41".parse().unwrap();
    let group: IpAddr = "224.0.0.18".parse().unwrap();
    let advert = Advertisement {
        version: Version::V3,
        virtual_router_id: 50,
        priority,
        interval_cs: 10,
        addresses: vec![vip()],
        authentication: Authentication::None,
    };
    let mode = if form == "with_pseudo_header" {
        ChecksumMode::WithPseudoHeader
    } else {
        ChecksumMode::MessageOnly
    };
    let mut bytes = packet::encode(&advert, source, group, mode);
    // Independent check of the form: a message-only checksum sums to zero
    // over the message alone; the pseudo-header form does not.
    let message_only_valid = ones_complement_sum(&bytes) == 0;
    assert_eq!(
        message_only_valid,
        form == "message_only" || form == "broken",
        "{form}"
    );
    if form == "broken" {
        bytes[6] ^= 0x5a;
    }
    bytes
}

/// Sends `packet` as IP protocol 112 to 224.0.0.18 from lb01 (TTL 255)
/// every 100 ms until the returned guard is stopped or dropped (when the test fails).
fn send_crafted_adverts(
    host: &Host,
    packet: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) -> StoppingThread {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = std::sync::Arc::clone(&stop);
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let socket = host
        .in_netns(|| {
            let socket =
                Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).map_err(|e| {
                    vrrpd::lab::LabError::Io {
                        context: "raw socket".into(),
                        source: e,
                    }
                })?;
            let lb01: std::net::Ipv4Addr = "192.0.2.41".parse().unwrap();
            socket.set_multicast_ttl_v4(255).unwrap();
            socket.set_multicast_if_v4(&lb01).unwrap();
            socket.set_multicast_loop_v4(false).unwrap();
            socket
                .bind(&SockAddr::from(std::net::SocketAddr::new(lb01.into(), 0)))
                .unwrap();
            Ok(socket)
        })
        .unwrap();
    let thread = std::thread::spawn(move || {
        let group = SockAddr::from(std::net::SocketAddr::new("224.0.0.18".parse().unwrap(), 0));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            let bytes = packet.lock().unwrap_or_else(|p| p.into_inner()).clone();
            socket.send_to(&bytes, &group).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    StoppingThread::new(stop, thread)
}

/// vrrpd (priority 100, VRRPv3, 100 ms) as backup of a crafted master
/// (priority 200): it accepts adverts with the message-only checksum and with
/// the pseudo-header one (it stays backup), and drops a broken checksum with
/// a log line (it takes over).
#[test]
fn v3_vrrpd_accepts_both_checksum_forms_and_drops_broken_ones() {
    use std::sync::{Arc, Mutex};
    let _timing = timing_guard(false);
    let net = PairLab::new("icsum");
    let packet = Arc::new(Mutex::new(crafted_v3_advert(200, "message_only")));
    // Stops (on drop) when an assertion below fails, before the lab goes away.
    let sender = send_crafted_adverts(&net.lb01, Arc::clone(&packet));
    std::thread::sleep(Duration::from_millis(200));
    let mut vrrpd = Node::new(&net.lb02, Daemon::Vrrpd, Settings::v3(LOW_PRIORITY, 100));
    vrrpd.start();
    let advert = Duration::from_millis(100);
    let watch = STARTUP_ALLOWANCE + common::master_down_interval(advert, LOW_PRIORITY) * 4;
    for form in ["message_only", "with_pseudo_header"] {
        *packet.lock().unwrap() = crafted_v3_advert(200, form);
        let took = wait_until(watch, POLL, || vrrpd.holds());
        assert!(
            took.is_none(),
            "vrrpd took the VIP while a priority-200 master advertised with the {form} checksum:\n{}",
            vrrpd.log()
        );
        vrrpd.assert_running();
    }
    let log = vrrpd.log();
    assert!(
        !log.contains("ignored a VRRP packet"),
        "no advert was dropped:\n{log}"
    );
    assert!(log.contains("(VI_1) Entering BACKUP STATE"), "{log}");

    *packet.lock().unwrap() = crafted_v3_advert(200, "broken");
    let broken = Instant::now();
    let took = wait_until(watch, POLL, || vrrpd.holds());
    sender.stop();
    assert!(
        took.is_some(),
        "vrrpd ignored the broken adverts' master:\n{}",
        vrrpd.log()
    );
    assert!(
        broken.elapsed() >= advert * 2,
        "vrrpd took over {} after the checksums broke",
        secs(broken.elapsed())
    );
    let line = "(VI_1) ignored a VRRP packet from 192.0.2.41: checksum is wrong";
    assert!(
        vrrpd.log().contains(line),
        "vrrpd logs `{line}`:\n{}",
        vrrpd.log()
    );
}

/// vrrpd sending the RFC 9568 message-only form to keepalived 2.2.7: keepalived
/// rejects every advert ("Invalid VRRPv3 checksum") and takes the VIP too.
/// This is why vrrpd sends the pseudo-header form by default, and why the
/// migration guide says to leave `v3_checksum` alone next to keepalived.
#[test]
fn v3_keepalived_2_2_7_rejects_message_only_checksums() {
    let message_only = Settings {
        v3_checksum: "message_only",
        ..Settings::v3(HIGH_PRIORITY, 100)
    };
    let mut pair = Mixed::new(
        "ikrej",
        (Daemon::Vrrpd, message_only),
        (Daemon::Keepalived, Settings::v3(LOW_PRIORITY, 100)),
    );
    pair.lb01.start();
    pair.wait_sole_holder(true, Duration::from_secs(3), "vrrpd alone");
    pair.lb02.start();
    let rejected = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        pair.lb02.log().contains("(VI_1) Invalid VRRPv3 checksum")
    });
    assert!(rejected.is_some(), "keepalived's log:\n{}", pair.lb02.log());
    let split = wait_until(Duration::from_secs(3), POLL, || pair.lb02.holds());
    assert!(
        split.is_some(),
        "keepalived, hearing no valid master, takes the VIP as well"
    );
    assert!(pair.lb01.holds());
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
