//! Operator handover (issue 6 §3): `vrrpd demote` hands the VIP to the peer without a
//! lost reply and keeps the node BACKUP, past several Master_Down_Intervals, until
//! `vrrpd promote`, which fails back without a lost reply; the hold survives a restart
//! of the daemon; an unknown instance or an absent daemon is an error.
//!
//! A client pings the VIP every 10 ms through demote and promote, for the user's
//! VRRPv2 PASS 1 s setup and for VRRPv3 at 10 ms adverts. "No lost reply" as in
//! tests/netns_planned.rs: every request answered, no two consecutive replies more than
//! three probe intervals apart while the probe itself ran regularly.
//!
//! Needs root (network namespaces).

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::driver::status::{InstanceStatus, StatusReport};
use vrrpd::lab::{Host, LabProcess, Prober, wait_until};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");

const PROBE_INTERVAL: Duration = Duration::from_millis(10);
const MAX_GAP: Duration = Duration::from_millis(30);
const POLL: Duration = Duration::from_millis(2);
const STARTUP_ALLOWANCE: Duration = Duration::from_millis(500);
const MARGIN: Duration = Duration::from_millis(500);

const V2_PASS_1S: Variant = Variant::v2_pass_1s("dv2");
const V3_10MS: Variant = Variant::v3("dv310", Duration::from_millis(10));

/// A vrrpd config for the pair, each daemon with its own control socket.
fn vrrpd_config(variant: &Variant, priority: u8, socket: &Path) -> String {
    variant.config(
        priority,
        serde_json::json!({ "control_socket": socket.to_string_lossy() }),
    )
}

/// lb01 (150) master, lb02 (100) backup, a client; each daemon with its own socket.
struct Pair {
    net: PairLab,
    variant: Variant,
    lb01: LabProcess,
    _lb02: LabProcess,
    lb01_socket: PathBuf,
    vip: IpAddr,
    _timing: TimingGuard,
}

impl Pair {
    fn elect(variant: Variant) -> Pair {
        let timing = timing_guard(true);
        let net = PairLab::new(variant.tag);
        let lb01_socket = net.lab.dir().join("lb01.sock");
        let lb02_socket = net.lab.dir().join("lb02.sock");
        let lb01 = start(
            &net.lb01,
            &vrrpd_config(&variant, HIGH_PRIORITY, &lb01_socket),
        );
        let lb02 = start(
            &net.lb02,
            &vrrpd_config(&variant, LOW_PRIORITY, &lb02_socket),
        );
        let pair = Pair {
            net,
            variant,
            lb01,
            _lb02: lb02,
            lb01_socket,
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
        std::thread::sleep(variant.advert * 3 / 2 + Duration::from_millis(20));
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

    fn lb01_status(&self) -> InstanceStatus {
        let output = cli(&["status", "--json", "--socket"], &self.lb01_socket);
        assert!(output.status.success(), "{}", text(&output));
        let report: StatusReport = serde_json::from_slice(&output.stdout).unwrap();
        report.instances.into_iter().next().expect("one instance")
    }

    /// lb01 stays BACKUP, lb02 keeps the VIP, for `how_long`.
    fn assert_lb01_stays_backup(&self, how_long: Duration) {
        let end = Instant::now() + how_long;
        while Instant::now() < end {
            assert!(
                !self.lb01_holds() && self.lb02_holds(),
                "the demoted lb01 must stay BACKUP (lb01 {}, lb02 {})\n{}",
                self.lb01_holds(),
                self.lb02_holds(),
                self.lb01.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.lb01_status();
        assert_eq!(status.state, "BACKUP");
        assert!(status.demoted, "{status:?}");
        assert_eq!(status.effective_priority, HIGH_PRIORITY);
        assert_eq!(
            status.master_address,
            Some("192.0.2.42".parse().unwrap()),
            "{status:?}"
        );
    }

    fn wait_for_failback(&self) {
        // Promoted, lb01 discards lb02's lower-priority adverts and preempts when the
        // Master_Down_Timer set by lb02's last accepted advert fires (at priority 1's
        // Master_Down_Interval at worst).
        let bound = self.variant.master_down_interval(1) + self.variant.advert + MARGIN * 2;
        assert!(
            self.wait(bound, |p| p.lb01_holds() && !p.lb02_holds())
                .is_some(),
            "lb01 did not preempt within {} of the promote (lb01 {}, lb02 {})",
            secs(bound),
            self.lb01_holds(),
            self.lb02_holds()
        );
    }

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

fn start(host: &Host, config: &str) -> LabProcess {
    host.start_vrrpd(Path::new(VRRPD), config)
        .expect("start vrrpd")
}

/// Runs `vrrpd ARGS SOCKET` (the control socket is a file: no namespace needed).
fn cli(args: &[&str], socket: &Path) -> Output {
    std::process::Command::new(VRRPD)
        .args(args)
        .arg(socket)
        .output()
        .expect("running vrrpd")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn demote_then_promote_loses_no_reply(variant: Variant) {
    let pair = Pair::elect(variant);
    let demote_probe = pair.start_client();
    let output = cli(&["demote", "VI_1", "--socket"], &pair.lb01_socket);
    assert!(output.status.success(), "{}", text(&output));
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        said.contains("VI_1: MASTER: handing over")
            && said.contains("VI_1: handed over to 192.0.2.42"),
        "demote must say what happened: {said}"
    );
    assert!(pair.lb02_holds() && !pair.lb01_holds());
    pair.assert_client_settled_on(&pair.net.lb02, &demote_probe);
    // Several of lb01's own (undemoted) Master_Down_Intervals: it would have preempted
    // lb02 after one.
    pair.assert_lb01_stays_backup(
        (pair.variant.master_down_interval(HIGH_PRIORITY) * 2).max(Duration::from_millis(700)),
    );
    assert_no_lost_reply(
        variant.tag,
        "demote",
        &demote_probe.finish().unwrap(),
        MAX_GAP,
        None,
    );

    let promote_probe = pair.start_client();
    let output = cli(&["promote", "VI_1", "--socket"], &pair.lb01_socket);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("VI_1: BACKUP: promoted"),
        "{}",
        text(&output)
    );
    pair.wait_for_failback();
    pair.assert_client_settled_on(&pair.net.lb01, &promote_probe);
    assert_no_lost_reply(
        variant.tag,
        "promote",
        &promote_probe.finish().unwrap(),
        MAX_GAP,
        None,
    );
    let status = pair.lb01_status();
    assert!(!status.demoted && status.state == "MASTER", "{status:?}");
}

#[test]
fn v2_pass_1s_demote_then_promote_loses_no_reply() {
    demote_then_promote_loses_no_reply(V2_PASS_1S);
}

#[test]
fn v3_10ms_demote_then_promote_loses_no_reply() {
    demote_then_promote_loses_no_reply(V3_10MS);
}

/// The hold is on disk: stop and start lb01's daemon, it stays BACKUP (and says so)
/// until promoted. Also: an unknown instance and an absent daemon are errors.
#[test]
fn demoted_state_survives_a_restart_and_errors_are_clear() {
    // 100 ms adverts: the restart is what is tested here, and a demoted backup's
    // Master_Down_Interval at 10 ms (40 ms) is short enough for a loaded machine to delay
    // the peer's adverts past it, when the demoted node rightly takes over.
    let variant = Variant::v3("dvrst", Duration::from_millis(100));
    let mut pair = Pair::elect(variant);
    let unknown = cli(&["demote", "VI_9", "--socket"], &pair.lb01_socket);
    assert!(!unknown.status.success(), "{}", text(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no instance named \"VI_9\""),
        "{}",
        text(&unknown)
    );
    assert!(pair.lb01_holds(), "an unknown instance changes nothing");

    // Every instance (no name given).
    let output = cli(&["demote", "--socket"], &pair.lb01_socket);
    assert!(output.status.success(), "{}", text(&output));
    assert!(pair.lb02_holds() && !pair.lb01_holds());
    let state_file = pair.net.lb01.state_directory().join("demoted");
    assert!(state_file.exists(), "the hold is saved in {state_file:?}");

    pair.lb01.signal(Signal::SIGTERM).unwrap();
    let exited = pair.lb01.wait_timeout(Duration::from_secs(5)).unwrap();
    assert!(exited.is_some_and(|s| s.success()), "{}", pair.lb01.log());
    let absent = cli(&["promote", "--socket"], &pair.lb01_socket);
    assert!(!absent.status.success(), "{}", text(&absent));
    assert!(
        String::from_utf8_lossy(&absent.stderr).contains("is vrrpd running"),
        "{}",
        text(&absent)
    );

    pair.lb01 = start(
        &pair.net.lb01,
        &vrrpd_config(&variant, HIGH_PRIORITY, &pair.lb01_socket),
    );
    assert!(
        wait_until(Duration::from_secs(3), POLL, || cli(
            &["status", "--socket"],
            &pair.lb01_socket
        )
        .status
        .success())
        .is_some(),
        "the restarted daemon answers"
    );
    pair.assert_lb01_stays_backup(variant.master_down_interval(HIGH_PRIORITY) * 3);
    let table = cli(&["status", "--socket"], &pair.lb01_socket);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("VI_1 (eth0 VRID 50): BACKUP, demoted"),
        "{}",
        text(&table)
    );
    assert!(
        pair.lb01.log().contains("demoted by the operator"),
        "the start says the node is demoted:\n{}",
        pair.lb01.log()
    );

    // A damaged state file: the safe reading is "demoted", said loudly.
    pair.lb01.signal(Signal::SIGTERM).unwrap();
    let exited = pair.lb01.wait_timeout(Duration::from_secs(5)).unwrap();
    assert!(exited.is_some_and(|s| s.success()), "{}", pair.lb01.log());
    std::fs::write(&state_file, "{\"instances\": [\"VI_").unwrap();
    pair.lb01 = start(
        &pair.net.lb01,
        &vrrpd_config(&variant, HIGH_PRIORITY, &pair.lb01_socket),
    );
    assert!(
        wait_until(Duration::from_secs(3), POLL, || cli(
            &["status", "--socket"],
            &pair.lb01_socket
        )
        .status
        .success())
        .is_some(),
        "the restarted daemon answers"
    );
    pair.assert_lb01_stays_backup(variant.master_down_interval(HIGH_PRIORITY) * 3);
    assert!(
        pair.lb01
            .log()
            .contains("treating EVERY instance as demoted"),
        "{}",
        pair.lb01.log()
    );

    let output = cli(&["promote", "--socket"], &pair.lb01_socket);
    assert!(output.status.success(), "{}", text(&output));
    pair.wait_for_failback();
    assert!(!state_file.exists(), "promote clears the saved hold");
}

/// Unmounts the tmpfs of a test on every exit path.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A state directory that cannot take the hold — not a directory at all (a file where it
/// should be), or on a full file system: `vrrpd demote` fails with the path and the
/// reason, and nothing changes (the instance stays master, nothing is held).
#[test]
fn a_state_directory_that_cannot_be_written_refuses_the_demote_and_changes_nothing() {
    let variant = Variant::v3("dvst", Duration::from_millis(100));
    let net = PairLab::new(variant.tag);
    let blocker = net.lab.dir().join("a-file");
    std::fs::write(&blocker, "not a directory\n").unwrap();
    let full = net.lab.dir().join("full");
    std::fs::create_dir(&full).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&full)
        .status()
        .expect("run mount");
    assert!(mounted.success(), "mount a tmpfs on {full:?}");
    let _unmount = Unmount(full.clone());
    std::fs::create_dir(full.join("state")).unwrap();
    // Fill it: writes stop at ENOSPC.
    {
        use std::io::Write;
        let mut filler = std::fs::File::create(full.join("filler")).unwrap();
        while filler.write_all(&[0u8; 4096]).is_ok() {}
    }
    for (case, state_directory, reason) in [
        ("not a directory", blocker.join("state"), "Not a directory"),
        ("full", full.join("state"), "No space left on device"),
    ] {
        let socket = net
            .lab
            .dir()
            .join(format!("lb01-{}.sock", case.replace(' ', "-")));
        let config = variant.config(
            HIGH_PRIORITY,
            serde_json::json!({
                "control_socket": socket.to_string_lossy(),
                "state_directory": state_directory.to_string_lossy(),
            }),
        );
        let mut lb01 = start(&net.lb01, &config);
        let limit = STARTUP_ALLOWANCE + variant.master_down_interval(HIGH_PRIORITY) + MARGIN;
        assert!(
            wait_until(limit, POLL, || net.lb01.has_address(vip())).is_some(),
            "{case}: lb01 did not become master (a state directory it cannot read must not \
             hold it):\n{}",
            lb01.log()
        );
        let output = cli(&["demote", "--socket"], &socket);
        assert!(!output.status.success(), "{case}: {}", text(&output));
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            said.contains(&*state_directory.to_string_lossy()) && said.contains(reason),
            "{case}: the error names the path and the reason: {}",
            text(&output)
        );
        std::thread::sleep(variant.advert * 3);
        assert!(
            net.lb01.has_address(vip()),
            "{case}: the demote changed something"
        );
        let status = cli(&["status", "--socket"], &socket);
        let table = String::from_utf8_lossy(&status.stdout);
        assert!(
            table.contains("MASTER") && !table.contains("demoted"),
            "{case}: {}",
            text(&status)
        );
        lb01.signal(Signal::SIGTERM).unwrap();
        let exited = lb01.wait_timeout(Duration::from_secs(5)).unwrap();
        assert!(exited.is_some(), "{case}: vrrpd did not stop");
        assert!(
            wait_until(Duration::from_secs(2), POLL, || !net
                .lb01
                .has_address(vip()))
            .is_some()
        );
    }
}
