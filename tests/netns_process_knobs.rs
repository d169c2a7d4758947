//! `vrrpd run --lock-memory` against the real kernel (root, network namespaces; issue 11
//! §3 "Load"). vrrpd runs in a lab host as root, and as the shipped unit's user would
//! (uid 65534 with CAP_NET_ADMIN and CAP_NET_RAW in its ambient set, mimicked with
//! `setpriv`) under two RLIMIT_MEMLOCK values (`prlimit`, the unit's `LimitMEMLOCK=`):
//!
//! - as root (CAP_IPC_LOCK), every mapped page is locked (VmLck equals VmSize in
//!   /proc/PID/status) and vrrpd says so;
//! - under a limit smaller than the daemon (64 KiB), mlockall is refused: vrrpd warns,
//!   names the knob, and serves unlocked (VmLck 0), taking the VIP as it would without
//!   the flag.

mod common;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use common::*;
use serde_json::json;
use vrrpd::lab::{Lab, wait_until};

const UNIT_UID: u32 = 65534;
const POLL: Duration = Duration::from_millis(20);
/// Start and Master_Down_Interval at 100 ms adverts (0.36 s): generous on a busy machine.
const MASTER_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug)]
enum Run {
    Root,
    /// The unit's user with RLIMIT_MEMLOCK of this many bytes. (Not "unlimited": raising
    /// the hard limit needs CAP_SYS_RESOURCE, which this CI's root lacks; root's own run
    /// shows the locking.)
    UnitUser {
        memlock: u64,
    },
}

struct Outcome {
    locked_kb: u64,
    size_kb: u64,
    log: String,
}

fn status_field(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in\n{status}"))
}

fn run_with_lock_memory(tag: &str, run: Run) -> Outcome {
    require_root();
    let mut lab = Lab::new(tag).expect("creating the lab (root, iproute2)");
    let host = lab
        .add_host("lb01", &["192.0.2.41/24"])
        .expect("adding lb01");
    let run_dir = lab.dir().join("lb01-run");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::os::unix::fs::chown(&run_dir, Some(UNIT_UID), Some(UNIT_UID)).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = json!({
        "control_socket": run_dir.join("control.sock").to_string_lossy(),
        "state_directory": run_dir.join("state").to_string_lossy(),
        "instances": [{
            "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
            "priority": 150, "advert_interval_ms": 100, "virtual_addresses": ["192.0.2.40"],
        }],
    })
    .to_string();
    let config_path = run_dir.join("vrrpd.json");
    std::fs::write(&config_path, &config).unwrap();
    std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let binary = vrrpd_binary().to_string_lossy().into_owned();
    let config_arg = config_path.to_string_lossy().into_owned();
    let vrrpd = match run {
        Run::Root => host.spawn_with_env(
            &binary,
            &["run", "--config", &config_arg, "--lock-memory"],
            &[("RUST_LOG", "debug")],
        ),
        Run::UnitUser { memlock } => {
            let memlock_arg = format!("--memlock={memlock}:{memlock}");
            let uid = format!("--reuid={UNIT_UID}");
            let gid = format!("--regid={UNIT_UID}");
            // prlimit and setpriv exec, so the lab's pid is vrrpd's.
            host.spawn_with_env(
                "prlimit",
                &[
                    &memlock_arg,
                    "setpriv",
                    &uid,
                    &gid,
                    "--clear-groups",
                    "--inh-caps=+net_admin,+net_raw",
                    "--ambient-caps=+net_admin,+net_raw",
                    &binary,
                    "run",
                    "--config",
                    &config_arg,
                    "--lock-memory",
                ],
                &[("RUST_LOG", "debug")],
            )
        }
    }
    .expect("starting vrrpd");
    let vip: IpAddr = "192.0.2.40".parse().unwrap();
    let master = wait_until(MASTER_DEADLINE, POLL, || host.has_address(vip));
    let log = std::fs::read_to_string(vrrpd.log_path()).unwrap_or_default();
    assert!(
        master.is_some(),
        "{run:?}: vrrpd with --lock-memory never took the VIP\n{log}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", vrrpd.pid()))
        .expect("vrrpd's /proc status");
    Outcome {
        locked_kb: status_field(&status, "VmLck:"),
        size_kb: status_field(&status, "VmSize:"),
        log,
    }
}

#[test]
fn lock_memory_as_root_locks_every_page() {
    let outcome = run_with_lock_memory("knobroot", Run::Root);
    assert!(
        outcome.log.contains("memory locked (mlockall)"),
        "{}",
        outcome.log
    );
    // MCL_CURRENT | MCL_FUTURE: every mapping, including those made after the call. A
    // mapping made between the two reads of /proc would show as a difference of its size.
    assert!(
        outcome.locked_kb > 0 && outcome.locked_kb + 1024 >= outcome.size_kb,
        "VmLck {} kB of VmSize {} kB",
        outcome.locked_kb,
        outcome.size_kb
    );
}

#[test]
fn lock_memory_refused_by_a_small_limit_warns_and_serves_unlocked() {
    let outcome = run_with_lock_memory("knobsmall", Run::UnitUser { memlock: 64 * 1024 });
    assert!(
        outcome.log.contains("cannot lock memory") && outcome.log.contains("LimitMEMLOCK="),
        "{}",
        outcome.log
    );
    assert_eq!(outcome.locked_kb, 0, "{}", outcome.log);
}

/// The memory the first transitions touched is given back once no instance has changed
/// state for ten seconds (driver::runtime RELEASE_AFTER_QUIET): a lone master's file-backed
/// resident set falls by at least half a megabyte (on this machine: about 3.2 MiB of its
/// executable's text to 0.6), and the log says it released twice (as the loop began,
/// then after the quiet).
#[test]
fn memory_the_first_transitions_touched_is_given_back_once_quiet() {
    require_root();
    let mut lab = Lab::new("knobquiet").expect("creating the lab (root, iproute2)");
    let host = lab
        .add_host("lb01", &["192.0.2.41/24"])
        .expect("adding lb01");
    let config = json!({
        "control_socket": lab.dir().join("control.sock").to_string_lossy(),
        "instances": [{
            "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
            "priority": 150, "advert_interval_ms": 100, "virtual_addresses": ["192.0.2.40"],
        }],
    })
    .to_string();
    let config_path = lab.dir().join("vrrpd.json");
    std::fs::write(&config_path, &config).unwrap();
    let vrrpd = host
        .spawn_with_env(
            &vrrpd_binary().to_string_lossy(),
            &["run", "--config", &config_path.to_string_lossy()],
            &[("RUST_LOG", "debug")],
        )
        .expect("starting vrrpd");
    let log = || std::fs::read_to_string(vrrpd.log_path()).unwrap_or_default();
    let rss_file = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", vrrpd.pid()))
            .expect("vrrpd's /proc status");
        status_field(&status, "RssFile:")
    };
    let vip: IpAddr = "192.0.2.40".parse().unwrap();
    assert!(
        wait_until(MASTER_DEADLINE, POLL, || host.has_address(vip)).is_some(),
        "vrrpd never took the VIP\n{}",
        log()
    );
    // The transition's follow-ups: the gratuitous ARPs' first burst and the status.
    std::thread::sleep(Duration::from_secs(2));
    let releases = |text: &str| text.matches("of start-up code and data").count();
    assert_eq!(releases(&log()), 1, "released before the quiet\n{}", log());
    let before = rss_file();
    // Ten seconds from the last transition, plus the second GARP burst (5 s) and margin.
    let released = wait_until(Duration::from_secs(20), POLL, || releases(&log()) >= 2);
    assert!(
        released.is_some(),
        "no second release within 20 s\n{}",
        log()
    );
    let after = rss_file();
    assert!(
        after + 512 <= before,
        "RssFile {before} kB before the quiet, {after} kB after\n{}",
        log()
    );
}
