//! What a notify hook or exec check may do, against the real kernel (root, network
//! namespaces; issue 11 §2). vrrpd runs in a lab host either as the shipped unit runs it
//! (`DynamicUser=yes`, `AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW`,
//! `ProtectProc=invisible`, `ProcSubset=pid`), mimicked with `setpriv` and a /proc of its
//! own mounted `hidepid=invisible,subset=pid` in a mount namespace, or as plain root. A
//! MASTER hook records its own `/proc/self/status` and environment and tries
//! `ip addr add 203.0.113.99/32 dev eth0`:
//!
//! - by default the add fails (the address never appears) and CapInh, CapPrm, CapEff and
//!   CapAmb are 0 with NoNewPrivs 1, as the unit's user and as root;
//! - with `keep_privileges` the same hook adds the address (so the failure above is the
//!   privileges', not the script's), and vrrpd warns at start.
//!
//! The same runs show what a health check can see of another user's process (Caddy's)
//! under `ProtectProc=invisible`: nothing, unless vrrpd has the supplementary group 0
//! (the kernel's default hidepid exemption, since systemd mounts the service's /proc
//! without `gid=`); an HTTP check of the service works either way.
//!
//! A systemd-nspawn harness runs the same hook under the real unit (another suite).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use serde_json::json;
use vrrpd::driver::status::StatusReport;
use vrrpd::lab::{Host, Lab, LabProcess, wait_until};

/// The address the hook tries to add (TEST-NET-3, RFC 5737).
const FOREIGN_ADDRESS: &str = "203.0.113.99";
/// The dynamic user's stand-in.
const UNIT_UID: u32 = 65534;
/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
const NET_ADMIN_AND_NET_RAW: u64 = (1 << 12) | (1 << 13);
const PROXY_PORT: u16 = 8080;
const POLL: Duration = Duration::from_millis(20);
/// Start, Master_Down_Interval at 100 ms adverts (0.36 s), the hook: generous on a busy
/// 2-core machine.
const HOOK_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Daemon {
    /// vrrpd run by root from a shell or an unconfined unit.
    Root,
    /// The shipped unit, mimicked; with `root_group`, plus `SupplementaryGroups=0`.
    UnitLike { root_group: bool },
}

/// A minimal HTTP server on 127.0.0.1 in the host's namespace: Caddy's health endpoint.
struct HealthEndpoint {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthEndpoint {
    fn start(host: &Host) -> HealthEndpoint {
        let listener = host
            .in_netns(|| Ok(TcpListener::bind(("127.0.0.1", PROXY_PORT))))
            .expect("entering the namespace")
            .expect("binding the health endpoint");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                        let mut buffer = [0u8; 2048];
                        let _ = stream.read(&mut buffer);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HealthEndpoint {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HealthEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One lab host running vrrpd with the hook, a root "Caddy" process and its endpoint.
struct Scene {
    lab: Lab,
    host: Host,
    vrrpd: LabProcess,
    /// Where the hook writes (owned by the unit's uid).
    hook_dir: PathBuf,
    socket: PathBuf,
    _caddy: LabProcess,
    _endpoint: HealthEndpoint,
}

/// What the hook found.
struct HookRecord {
    status: String,
    environment: Vec<String>,
    ip_exit: String,
    ip_error: String,
}

impl Scene {
    fn start(tag: &str, daemon: Daemon, keep_privileges: bool) -> Scene {
        require_root();
        let mut lab = Lab::new(tag).expect("creating the lab (root, iproute2)");
        let host = lab.add_host("lb01", &[LB01_ADDRESS]).expect("adding lb01");
        // Everything vrrpd writes, writable by the unit's uid (like its StateDirectory=
        // and RuntimeDirectory=). The hook's directory by anyone: a hook of vrrpd as root
        // is uid 0 without CAP_DAC_OVERRIDE, and cannot write into another user's.
        let run_dir = lab.dir().join("lb01-run");
        let hook_dir = run_dir.join("hook");
        for (dir, mode) in [(&run_dir, 0o755), (&hook_dir, 0o777)] {
            std::fs::create_dir_all(dir).unwrap();
            std::os::unix::fs::chown(dir, Some(UNIT_UID), Some(UNIT_UID)).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let socket = run_dir.join("control.sock");
        // Caddy runs as another user (here root): its pid is what a process check looks for.
        let caddy = host
            .spawn("sleep", &["120"])
            .expect("starting the stand-in");
        let endpoint = HealthEndpoint::start(&host);
        let hook = format!(
            "D={dir}; cat /proc/$$/status > $D/status; cat /proc/$$/environ > $D/environ; \
             ip addr add {FOREIGN_ADDRESS}/32 dev eth0 2> $D/ip.err; \
             echo $? > $D/ip.rc.new && mv $D/ip.rc.new $D/ip.rc",
            dir = hook_dir.display()
        );
        let mut notify = json!({"master": ["/bin/sh", "-c", hook]});
        if keep_privileges {
            notify["keep_privileges"] = json!(true);
        }
        let config = json!({
            "control_socket": socket.to_string_lossy(),
            "state_directory": run_dir.join("state").to_string_lossy(),
            "trackers": [
                {"name": "caddy-process", "interval_ms": 200, "timeout_ms": 1000,
                 "check": {"type": "exec", "command": [
                     "/bin/sh", "-c", format!("test -e /proc/{}", caddy.pid())]}},
                {"name": "caddy-http", "interval_ms": 200, "timeout_ms": 1000,
                 "check": {"type": "http", "url": format!("http://127.0.0.1:{PROXY_PORT}/")}},
            ],
            "instances": [{
                "name": "VI_1",
                "interface": "eth0",
                "virtual_router_id": 50,
                "version": 3,
                "priority": HIGH_PRIORITY,
                "advert_interval_ms": 100,
                "virtual_addresses": [VIP],
                "track": [
                    {"tracker": "caddy-process", "weight": -1},
                    {"tracker": "caddy-http", "weight": -1},
                ],
                "notify": notify,
            }],
        })
        .to_string();
        let vrrpd = match daemon {
            Daemon::Root => host.start_vrrpd(&vrrpd_binary(), &config),
            Daemon::UnitLike { root_group } => {
                let config_path = run_dir.join("vrrpd.json");
                std::fs::write(&config_path, &config).unwrap();
                let groups = if root_group {
                    "--groups=0"
                } else {
                    "--clear-groups"
                };
                // ProtectProc=invisible + ProcSubset=pid: systemd mounts the service's /proc
                // with exactly these options (src/core/namespace.c), then User= and
                // AmbientCapabilities= as setpriv does here. unshare and sh exec, so the
                // lab's pid is vrrpd's.
                let start = format!(
                    "mount -t proc -o hidepid=invisible,subset=pid proc /proc && \
                     exec setpriv --reuid={UNIT_UID} --regid={UNIT_UID} {groups} \
                     --inh-caps=+net_admin,+net_raw --ambient-caps=+net_admin,+net_raw \
                     \"$1\" run --config \"$2\""
                );
                host.spawn_with_env(
                    "unshare",
                    &[
                        "--mount",
                        "--propagation",
                        "private",
                        "/bin/sh",
                        "-c",
                        &start,
                        "vrrpd-unit",
                        &vrrpd_binary().to_string_lossy(),
                        &config_path.to_string_lossy(),
                    ],
                    &[("RUST_LOG", "debug")],
                )
            }
        }
        .expect("starting vrrpd");
        Scene {
            lab,
            host,
            vrrpd,
            hook_dir,
            socket,
            _caddy: caddy,
            _endpoint: endpoint,
        }
    }

    fn logs(&self) -> String {
        self.lab.log_tails(60)
    }

    /// vrrpd's own /proc entry (read from the host's full /proc).
    fn daemon_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.vrrpd.pid())).unwrap_or_default()
    }

    /// Waits for the MASTER hook to finish and reads what it wrote.
    fn hook_record(&self) -> HookRecord {
        let marker = self.hook_dir.join("ip.rc");
        assert!(
            wait_until(HOOK_DEADLINE, POLL, || marker.exists()).is_some(),
            "the MASTER hook did not finish within {HOOK_DEADLINE:?}\n{}",
            self.logs()
        );
        let read = |name: &str| std::fs::read_to_string(self.hook_dir.join(name)).unwrap();
        HookRecord {
            status: read("status"),
            environment: std::fs::read(self.hook_dir.join("environ"))
                .unwrap()
                .split(|byte| *byte == 0)
                .filter(|entry| !entry.is_empty())
                .map(|entry| String::from_utf8_lossy(entry).into_owned())
                .collect(),
            ip_exit: read("ip.rc").trim().to_owned(),
            ip_error: read("ip.err"),
        }
    }

    fn holds(&self, address: &str) -> bool {
        self.host.has_address(address.parse::<IpAddr>().unwrap())
    }

    /// The trackers' state once both have a result.
    fn trackers(&self) -> (bool, bool) {
        let mut seen = None;
        let found = wait_until(Duration::from_secs(10), POLL, || {
            seen = status(&self.socket).and_then(|report| {
                let find = |name: &str| {
                    report
                        .trackers
                        .iter()
                        .find(|tracker| tracker.name == name && tracker.checked)
                        .map(|tracker| (tracker.healthy, tracker.last_result.clone()))
                };
                Some((find("caddy-process")?, find("caddy-http")?))
            });
            seen.is_some()
        });
        assert!(
            found.is_some(),
            "the trackers have no results\n{}",
            self.logs()
        );
        let ((process, process_result), (http, http_result)) = seen.unwrap();
        println!("caddy-process: {process_result}; caddy-http: {http_result}");
        (process, http)
    }
}

fn status(socket: &Path) -> Option<StatusReport> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vrrpd"))
        .args(["status", "--json", "--socket"])
        .arg(socket)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).ok())
        .flatten()
}

/// A field of a /proc/PID/status text.
fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in\n{status}"))
}

fn capabilities(status: &str, key: &str) -> u64 {
    u64::from_str_radix(field(status, key), 16).unwrap()
}

fn uid(status: &str) -> u32 {
    field(status, "Uid")
        .split_whitespace()
        .next()
        .and_then(|uid| uid.parse().ok())
        .unwrap()
}

/// The daemon really runs as the shipped unit would run it (else the test proves little).
fn assert_unit_like(scene: &Scene) {
    let daemon = scene.daemon_file("status");
    assert_eq!(uid(&daemon), UNIT_UID, "{daemon}");
    assert_eq!(capabilities(&daemon, "CapAmb"), NET_ADMIN_AND_NET_RAW);
    assert_eq!(capabilities(&daemon, "CapEff"), NET_ADMIN_AND_NET_RAW);
    let mounts = scene.daemon_file("mountinfo");
    // The last mount on /proc is the one on top.
    let proc_mount = mounts
        .lines()
        .rfind(|line| line.split_whitespace().nth(4) == Some("/proc"))
        .unwrap_or_else(|| panic!("no /proc in vrrpd's mounts:\n{mounts}"));
    assert!(
        proc_mount.contains("hidepid=invisible") && proc_mount.contains("subset=pid"),
        "{proc_mount}"
    );
}

/// The default: the add fails, every usable capability set is empty, no_new_privs, and
/// the environment is PATH and the four documented variables.
fn assert_hook_was_unprivileged(scene: &Scene, record: &HookRecord, expected_uid: u32) {
    let status = &record.status;
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(capabilities(status, set), 0, "{set} of the hook:\n{status}");
    }
    assert_eq!(field(status, "NoNewPrivs"), "1", "{status}");
    assert_eq!(uid(status), expected_uid, "{status}");
    assert_ne!(
        record.ip_exit, "0",
        "ip addr add succeeded: {}",
        record.ip_error
    );
    assert!(
        record.ip_error.contains("Operation not permitted"),
        "ip failed for another reason: {}",
        record.ip_error
    );
    assert!(
        !scene.holds(FOREIGN_ADDRESS),
        "{FOREIGN_ADDRESS} is on eth0"
    );
    let mut names: Vec<&str> = record
        .environment
        .iter()
        .map(|entry| entry.split_once('=').map_or(entry.as_str(), |(key, _)| key))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "PATH",
            "VRRPD_INSTANCE",
            "VRRPD_OLD_STATE",
            "VRRPD_PRIORITY",
            "VRRPD_STATE"
        ],
        "{:?}",
        record.environment
    );
    assert!(
        record
            .environment
            .contains(&"VRRPD_STATE=MASTER".to_owned())
    );
}

fn wait_for_master(scene: &Scene) {
    assert!(
        wait_until(HOOK_DEADLINE, POLL, || scene.holds(VIP)).is_some(),
        "vrrpd never added the VIP\n{}",
        scene.logs()
    );
}

/// The shipped unit's privileges: vrrpd itself adds the VIP, its hook cannot add an
/// address and has no capabilities; a check cannot see another user's process, and
/// an HTTP check of the service works.
#[test]
fn under_the_units_privileges_a_hook_cannot_add_an_address() {
    let _timing = timing_guard(false);
    let scene = Scene::start("lpunit", Daemon::UnitLike { root_group: false }, false);
    wait_for_master(&scene);
    assert_unit_like(&scene);
    let record = scene.hook_record();
    assert_hook_was_unprivileged(&scene, &record, UNIT_UID);
    let (process_visible, http_healthy) = scene.trackers();
    assert!(
        !process_visible,
        "a check saw root's process through hidepid=invisible"
    );
    assert!(http_healthy, "the HTTP check failed\n{}", scene.logs());
}

/// vrrpd as plain root: the hook stays uid 0 but still has no capabilities (and an empty
/// bounding set), so the add fails too.
#[test]
fn as_root_a_hook_stays_uid_0_without_capabilities() {
    let _timing = timing_guard(false);
    let scene = Scene::start("lproot", Daemon::Root, false);
    wait_for_master(&scene);
    let daemon = scene.daemon_file("status");
    assert_eq!(uid(&daemon), 0);
    assert_ne!(capabilities(&daemon, "CapEff"), 0);
    let record = scene.hook_record();
    assert_hook_was_unprivileged(&scene, &record, 0);
    assert_eq!(
        capabilities(&record.status, "CapBnd"),
        0,
        "{}",
        record.status
    );
}

/// `keep_privileges`: the same hook now adds the address with vrrpd's ambient
/// capabilities, and vrrpd said so at start.
#[test]
fn keep_privileges_lets_the_hook_add_the_address_and_is_warned_about() {
    let _timing = timing_guard(false);
    let scene = Scene::start("lpkeep", Daemon::UnitLike { root_group: false }, true);
    wait_for_master(&scene);
    assert_unit_like(&scene);
    let record = scene.hook_record();
    assert_eq!(
        record.ip_exit, "0",
        "ip addr add failed: {}",
        record.ip_error
    );
    assert!(
        scene.holds(FOREIGN_ADDRESS),
        "{FOREIGN_ADDRESS} is not on eth0"
    );
    assert_eq!(
        capabilities(&record.status, "CapEff"),
        NET_ADMIN_AND_NET_RAW,
        "{}",
        record.status
    );
    assert_eq!(uid(&record.status), UNIT_UID);
    assert!(
        scene
            .vrrpd
            .log()
            .contains("(VI_1) notify.keep_privileges is on"),
        "no warning at start\n{}",
        scene.logs()
    );
}

/// `SupplementaryGroups=0` on the unit: the kernel lets group 0 see every process on a
/// /proc mounted hidepid= without gid= (fs/proc/base.c, has_pid_permissions), so a
/// check can find another user's process. The hook still has no capabilities.
#[test]
fn with_group_0_a_check_sees_another_users_process_under_hidepid() {
    let _timing = timing_guard(false);
    let scene = Scene::start("lpgroup", Daemon::UnitLike { root_group: true }, false);
    wait_for_master(&scene);
    assert_unit_like(&scene);
    let (process_visible, http_healthy) = scene.trackers();
    assert!(process_visible, "group 0 did not see root's process");
    assert!(http_healthy);
    let record = scene.hook_record();
    assert_hook_was_unprivileged(&scene, &record, UNIT_UID);
}
