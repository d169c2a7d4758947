//! SIGHUP reload in network namespaces (root): the new config is checked (schema in a
//! short-lived child process, see config::isolated) while the daemon keeps advertising;
//! an invalid one is logged and the running config stays; a valid one applies; no
//! checking process is left behind.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use serde_json::json;
use vrrpd::core::master_down_interval;
use vrrpd::core::packet::Version;
use vrrpd::driver::status::{InstanceStatus, StatusReport};
use vrrpd::lab::{Host, LabProcess, wait_until};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");
/// Scheduling and polling slack on a busy 2-core machine.
const MARGIN: Duration = Duration::from_millis(1000);
const ADVERT: Duration = Duration::from_millis(50);

/// A config of `host`'s own: its control socket and state directory in the lab.
fn config(priority: u8, host: &Host) -> serde_json::Value {
    json!({
        "control_socket": socket_path(host).to_string_lossy(),
        "state_directory": host.state_directory().to_string_lossy(),
        "instances": [{
            "name": "VI_1",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": 3,
            "priority": priority,
            "advert_interval_ms": ADVERT.as_millis() as u64,
            "virtual_addresses": [VIP],
            "garp_repeat_delay_s": 0
        }]
    })
}

fn socket_path(host: &Host) -> PathBuf {
    host.lab_dir().join(format!("{}.sock", host.name()))
}

/// The `--config` path a lab daemon was started with (from /proc), to edit it for a reload.
fn config_path_of(process: &LabProcess) -> PathBuf {
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", process.pid())).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    let at = args.iter().position(|arg| arg == "--config").unwrap();
    PathBuf::from(&args[at + 1])
}

fn status(socket: &Path) -> InstanceStatus {
    let output = std::process::Command::new(VRRPD)
        .args(["status", "--json", "--socket"])
        .arg(socket)
        .output()
        .expect("running vrrpd status");
    assert!(
        output.status.success(),
        "vrrpd status failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: StatusReport =
        serde_json::from_slice(&output.stdout).expect("status --json is a StatusReport");
    report.instances.into_iter().next().expect("one instance")
}

fn holds_vip(host: &Host) -> bool {
    host.has_address(vip())
}

/// The pids whose parent is `pid` (from /proc/PID/stat).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|candidate| {
            std::fs::read_to_string(format!("/proc/{candidate}/stat"))
                .ok()
                .and_then(|stat| {
                    // "pid (comm) state ppid ...": comm may contain spaces.
                    let after = &stat[stat.rfind(')')? + 1..];
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn tail(process: &LabProcess) -> String {
    let log = process.log();
    let lines: Vec<&str> = log.lines().collect();
    format!(
        "--- {} ---\n{}",
        process.label(),
        lines[lines.len().saturating_sub(30)..].join("\n")
    )
}

/// Writes `text` as lb01's config, sends SIGHUP and waits for the log line that ends
/// the reload (`done` or `failed`); returns that line.
fn reload(lb01: &LabProcess, text: &str) -> String {
    let before = lb01.log().lines().count();
    std::fs::write(config_path_of(lb01), text).unwrap();
    lb01.signal(Signal::SIGHUP).unwrap();
    let mut outcome = None;
    wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        outcome = lb01
            .log()
            .lines()
            .skip(before)
            .find(|line| line.contains("reload done") || line.contains("reload failed"))
            .map(str::to_owned);
        outcome.is_some()
    });
    outcome.unwrap_or_else(|| panic!("no end of reload logged\n{}", tail(lb01)))
}

#[test]
fn reload_keeps_the_running_config_when_invalid_and_applies_a_valid_one() {
    let _timing = timing_guard(true);
    let pair = PairLab::new("reload");
    let lb01_socket = socket_path(&pair.lb01);
    let lb02_socket = socket_path(&pair.lb02);
    let lb01 = pair
        .lb01
        .start_vrrpd(
            Path::new(VRRPD),
            &config(HIGH_PRIORITY, &pair.lb01).to_string(),
        )
        .unwrap();
    let lb02 = pair
        .lb02
        .start_vrrpd(
            Path::new(VRRPD),
            &config(LOW_PRIORITY, &pair.lb02).to_string(),
        )
        .unwrap();
    let context = || format!("{}\n{}", tail(&lb01), tail(&lb02));
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(5), || {
            holds_vip(&pair.lb01)
        })
        .is_some(),
        "lb01 never became master\n{}",
        context()
    );
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            status(&lb02_socket).state == "BACKUP"
        })
        .is_some(),
        "lb02 never became backup\n{}",
        context()
    );
    let lb02_transitions = status(&lb02_socket).transitions;

    // Invalid for the schema (priority 0, a misspelt key), then not JSON at all: each is
    // reported with its location, and lb01 stays master with its old priority.
    let mut invalid = config(90, &pair.lb01);
    invalid["instances"][0]["priority"] = json!(0);
    invalid["instances"][0]["prioirty"] = json!(90);
    let started = Instant::now();
    let failed = reload(&lb01, &invalid.to_string());
    eprintln!("invalid reload answered in {:?}", started.elapsed());
    assert!(
        failed.contains("reload failed, still running the previous configuration"),
        "{failed}"
    );
    let log = lb01.log();
    assert!(log.contains("/instances/0/priority"), "{log}");
    assert!(log.contains("/instances/0/prioirty"), "{log}");
    let failed = reload(&lb01, "{\"instances\": [");
    assert!(failed.contains("is not valid JSON"), "{failed}");
    let me = status(&lb01_socket);
    assert_eq!(
        (me.state.as_str(), me.base_priority),
        ("MASTER", HIGH_PRIORITY)
    );
    // The adverts kept flowing through both reloads: the backup never took over.
    assert_eq!(
        status(&lb02_socket).transitions,
        lb02_transitions,
        "{}",
        context()
    );

    // Valid, with a priority below lb02's: applied in place, lb02 preempts.
    let done = reload(&lb01, &config(LOW_PRIORITY - 10, &pair.lb01).to_string());
    assert!(done.contains("reload done"), "{done}");
    let mdi = master_down_interval(Version::V3, LOW_PRIORITY, 5);
    assert!(
        wait_until(mdi + MARGIN, Duration::from_millis(5), || holds_vip(
            &pair.lb02
        ))
        .is_some(),
        "lb02 did not take over after the reload\n{}",
        context()
    );
    let me = status(&lb01_socket);
    assert_eq!(me.base_priority, LOW_PRIORITY - 10);
    assert!(
        wait_until(MARGIN, Duration::from_millis(20), || !holds_vip(&pair.lb01)).is_some(),
        "lb01 kept the VIP\n{}",
        context()
    );

    // Every schema check process has exited and been reaped.
    assert_eq!(children_of(lb01.pid()), Vec::<u32>::new(), "{}", context());
}

/// The config file deleted before a SIGHUP (a package upgrade gone wrong, an operator's
/// `mv`): the reload fails with the path and the reason, and the running config stays.
/// A VRRPv2 password in a world-readable file is warned about at start and at reload,
/// and the warning goes once the file is private.
#[test]
fn a_deleted_config_at_reload_keeps_the_running_one_and_a_readable_password_is_warned() {
    use std::os::unix::fs::PermissionsExt;
    let pair = PairLab::new("rlgone");
    let lb01_socket = socket_path(&pair.lb01);
    let mut with_password = config(HIGH_PRIORITY, &pair.lb01);
    with_password["instances"][0]["version"] = json!(2);
    with_password["instances"][0]["advert_interval_ms"] = json!(1000);
    with_password["instances"][0]["authentication"] =
        json!({ "type": "pass", "password": "secret" });
    let lb01 = pair
        .lb01
        .start_vrrpd(Path::new(VRRPD), &with_password.to_string())
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(6), Duration::from_millis(10), || {
            holds_vip(&pair.lb01)
        })
        .is_some(),
        "lb01 never became master\n{}",
        tail(&lb01)
    );
    // Read once vrrpd runs: before, /proc shows `ip netns exec`, which has not exec'd it yet.
    let path = config_path_of(&lb01);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o004, 0o004, "the lab writes configs world-readable");
    let warning = "every local user can read it";
    assert!(lb01.log().contains(warning), "{}", tail(&lb01));

    // Private now: a reload of the same file says nothing about it.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = lb01.log().matches(warning).count();
    let done = reload(&lb01, &with_password.to_string());
    assert!(done.contains("reload done"), "{done}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        lb01.log().matches(warning).count(),
        before,
        "{}",
        tail(&lb01)
    );

    // Deleted: the reload fails, naming the file; lb01 stays master at its priority.
    std::fs::remove_file(&path).unwrap();
    let before = lb01.log().lines().count();
    lb01.signal(Signal::SIGHUP).unwrap();
    let mut outcome = None;
    wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        outcome = lb01
            .log()
            .lines()
            .skip(before)
            .find(|line| line.contains("reload done") || line.contains("reload failed"))
            .map(str::to_owned);
        outcome.is_some()
    });
    let outcome = outcome.unwrap_or_else(|| panic!("no end of reload logged\n{}", tail(&lb01)));
    assert!(
        outcome.contains("reload failed, still running the previous configuration"),
        "{outcome}"
    );
    let log = lb01.log();
    let said: Vec<&str> = log.lines().skip(before).collect();
    assert!(
        said.iter()
            .any(|line| line.contains(&*path.to_string_lossy()) && line.contains("No such file")),
        "the failure names the file and why:\n{}",
        said.join("\n")
    );
    let me = status(&lb01_socket);
    assert_eq!(
        (me.state.as_str(), me.base_priority),
        ("MASTER", HIGH_PRIORITY)
    );
    assert!(holds_vip(&pair.lb01));
}

/// The control socket (demote, promote, status) is root's and its group's only (0660, in
/// a 0750 directory): an unprivileged user cannot connect, even to read the status.
#[test]
fn an_unprivileged_user_cannot_use_the_control_socket() {
    let pair = PairLab::new("rlperm");
    let socket = socket_path(&pair.lb01);
    let mut config = config(HIGH_PRIORITY, &pair.lb01);
    // In a directory of its own, as /run/vrrpd is under the unit.
    let directory = pair.lab.dir().join("run-vrrpd");
    let socket = directory.join(socket.file_name().unwrap());
    config["control_socket"] = json!(socket.to_string_lossy());
    let lb01 = pair
        .lb01
        .start_vrrpd(Path::new(VRRPD), &config.to_string())
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
            socket.exists()
        })
        .is_some(),
        "no control socket\n{}",
        tail(&lb01)
    );
    // The lab directory itself must be traversable for the test to mean anything.
    let mut ancestor = directory.parent();
    while let Some(dir) = ancestor {
        let output = std::process::Command::new("chmod")
            .arg("o+x")
            .arg(dir)
            .output()
            .unwrap();
        assert!(output.status.success());
        if dir == Path::new("/tmp") || dir == Path::new("/") {
            break;
        }
        ancestor = dir.parent();
    }
    assert!(!status(&socket).state.is_empty(), "root may");
    let output = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            VRRPD,
            "status",
            "--socket",
        ])
        .arg(&socket)
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "nobody could use the socket: {stderr}"
    );
    assert!(stderr.contains("ermission denied"), "{stderr}");
}
