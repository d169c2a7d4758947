//! Health tracking in network namespaces (root): the VIP follows the proxy, not just the
//! node. The "proxy" is a tiny HTTP server the test runs inside lb01's namespace.
//!
//! Bounds (RFC 3768 §6.1): a tracker needs `fall` (or `rise`) results in a row, one per
//! `interval`; then the peer needs Master_Down_Interval = 3 × Advertisement_Interval +
//! Skew_Time to preempt a master whose priority dropped below its own.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use vrrpd::core::master_down_interval;
use vrrpd::core::packet::Version;
use vrrpd::driver::status::{InstanceStatus, StatusReport};
use vrrpd::lab::{Host, Lab, LabProcess, Prober, wait_until};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");
/// Process start, config load, sockets.
const STARTUP_ALLOWANCE: Duration = Duration::from_millis(500);
/// Scheduling and polling slack on a busy 2-core machine.
const MARGIN: Duration = Duration::from_millis(1000);
const POLL: Duration = Duration::from_millis(20);
const PROXY_PORT: u16 = 8080;

/// A minimal HTTP server bound to 127.0.0.1 inside a host's namespace: answers 200 to
/// anything. Stopping it closes the listener, so checks get "connection refused".
struct Proxy {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(host: &Host) -> Proxy {
        let listener = host
            .in_netns(|| Ok(TcpListener::bind(("127.0.0.1", PROXY_PORT))))
            .expect("entering the namespace")
            .expect("binding the proxy");
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
        Proxy {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One node's config: VRRPv2 PASS (the user's pair) or VRRPv3 at `advert`, plus health
/// settings merged in at the top level and in the instance.
fn node_config(
    priority: u8,
    version: u8,
    advert: Duration,
    socket: &Path,
    top: Value,
    instance: Value,
) -> String {
    let mut inst = json!({
        "name": "VI_1",
        "interface": "eth0",
        "virtual_router_id": 50,
        "version": version,
        "priority": priority,
        "advert_interval_ms": advert.as_millis() as u64,
        "virtual_addresses": [VIP],
        "garp_repeat_delay_s": 0,
    });
    if version == 2 {
        inst["authentication"] = json!({"type": "pass", "password": "password"});
    }
    merge(&mut inst, instance);
    let mut config = json!({
        "control_socket": socket.to_string_lossy(),
        "instances": [inst],
    });
    merge(&mut config, top);
    config.to_string()
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

fn socket_path(lab: &Lab, name: &str) -> PathBuf {
    lab.dir().join(format!("{name}.sock"))
}

/// `vrrpd status --json` against a socket.
fn status(socket: &Path) -> StatusReport {
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
    serde_json::from_slice(&output.stdout).expect("status --json is a StatusReport")
}

fn try_status(socket: &Path) -> Option<StatusReport> {
    let output = std::process::Command::new(VRRPD)
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

fn instance(report: &StatusReport) -> &InstanceStatus {
    report.instances.first().expect("one instance")
}

fn state_of(socket: &Path) -> Option<String> {
    try_status(socket).map(|report| instance(&report).state.clone())
}

fn wait_for_state(socket: &Path, wanted: &str, timeout: Duration) -> Option<Duration> {
    wait_until(timeout, POLL, || {
        state_of(socket).is_some_and(|state| state == wanted)
    })
}

fn holds_vip(host: &Host) -> bool {
    host.has_address(vip())
}

fn wait_for_vip(host: &Host, timeout: Duration) -> Option<Duration> {
    wait_until(timeout, Duration::from_millis(5), || holds_vip(host))
}

/// GET /metrics from inside `host`'s namespace.
fn metrics(host: &Host, address: &str) -> String {
    let address: std::net::SocketAddr = address.parse().unwrap();
    host.in_netns(move || {
        let mut stream =
            std::net::TcpStream::connect(address).map_err(|e| vrrpd::lab::LabError::Io {
                context: "connecting to /metrics".into(),
                source: e,
            })?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        Ok(text)
    })
    .expect("metrics request")
}

fn log_tails(processes: &[&LabProcess]) -> String {
    processes
        .iter()
        .map(|p| {
            let log = p.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            format!("--- {} ---\n{tail}", p.label())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The proxy on the master dies: the VIP moves to the backup within
/// fall × interval + Master_Down_Interval + margin, and the client reaches it there.
/// The proxy comes back: lb01 preempts again. Meanwhile `status --json` and `/metrics`
/// report what is really happening.
#[test]
fn vip_follows_the_proxy_and_status_and_metrics_tell_the_truth() {
    let _timing = timing_guard(false);
    let pair = PairLab::new("hproxy");
    let advert = Duration::from_secs(1);
    let interval = Duration::from_millis(300);
    let (fall, rise) = (3u32, 2u32);
    let lb01_socket = socket_path(&pair.lab, "lb01");
    let lb02_socket = socket_path(&pair.lab, "lb02");
    let proxy = Proxy::start(&pair.lb01);
    let tracker = json!({"trackers": [{
        "name": "caddy",
        "check": {"type": "http", "url": format!("http://127.0.0.1:{PROXY_PORT}/"),
                  "server_name": "www.example.org"},
        "interval_ms": interval.as_millis() as u64, "timeout_ms": 250,
        "rise": rise, "fall": fall,
    }], "metrics_listen": "127.0.0.1:9650"});
    let lb01 = pair
        .lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(
                HIGH_PRIORITY,
                2,
                advert,
                &lb01_socket,
                tracker,
                json!({"track": [{"tracker": "caddy", "weight": -60}]}),
            ),
        )
        .unwrap();
    let lb02 = pair
        .lb02
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(LOW_PRIORITY, 2, advert, &lb02_socket, json!({}), json!({})),
        )
        .unwrap();
    let mdi_lb01 = master_down_interval(Version::V2, HIGH_PRIORITY, 100);
    let mdi_lb02 = master_down_interval(Version::V2, LOW_PRIORITY, 100);
    assert!(
        wait_for_vip(&pair.lb01, STARTUP_ALLOWANCE + mdi_lb01 + MARGIN).is_some(),
        "lb01 never became master\n{}",
        log_tails(&[&lb01, &lb02])
    );
    let report = status(&lb01_socket);
    let me = instance(&report);
    assert_eq!(me.state, "MASTER");
    assert_eq!((me.base_priority, me.effective_priority), (150, 150));
    assert_eq!(me.tracks[0].contribution, 0);
    assert!(report.trackers[0].healthy && report.trackers[0].checked);
    assert_eq!(report.trackers[0].last_result, "HTTP 200");
    let text = metrics(&pair.lb01, "127.0.0.1:9650");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(
            "vrrpd_instance_state{instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\",state=\"MASTER\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("vrrpd_tracker_up{tracker=\"caddy\",kind=\"http\"} 1"));

    // Kill the proxy.
    let prober = Prober::start(
        &pair.client,
        vip(),
        Duration::from_millis(50),
        Duration::from_secs(30),
    )
    .unwrap();
    let stopped = Instant::now();
    proxy.stop();
    let bound = interval * fall + mdi_lb02 + MARGIN;
    let moved = wait_for_vip(&pair.lb02, bound + MARGIN);
    assert!(
        moved.is_some(),
        "the VIP did not move to lb02 within {bound:?}\n{}",
        log_tails(&[&lb01, &lb02])
    );
    let took = stopped.elapsed();
    assert!(took <= bound, "took {took:?}, bound {bound:?}");
    // `wait_for_replies` counts from the replies received so far.
    assert!(
        prober.wait_for_replies(3, Duration::from_secs(5)),
        "the client does not get 3 more replies from the VIP on lb02"
    );
    drop(prober);
    assert!(
        wait_until(Duration::from_secs(2), POLL, || !holds_vip(&pair.lb01)).is_some(),
        "lb01 kept the VIP"
    );

    let report = status(&lb01_socket);
    let me = instance(&report);
    assert_eq!(me.state, "BACKUP");
    assert_eq!((me.base_priority, me.effective_priority), (150, 90));
    assert_eq!(me.tracks[0].contribution, -60);
    assert_eq!(
        me.master_address,
        Some("192.0.2.42".parse::<IpAddr>().unwrap())
    );
    let last = me.last_transition.as_ref().unwrap();
    assert_eq!((last.from.as_str(), last.to.as_str()), ("MASTER", "BACKUP"));
    assert!(last.reason.contains("192.0.2.42"), "{last:?}");
    // The whole history so far, oldest first, ending with the change above.
    let history: Vec<(&str, &str)> = me
        .recent_transitions
        .iter()
        .map(|change| (change.from.as_str(), change.to.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            ("INIT", "BACKUP"),
            ("BACKUP", "MASTER"),
            ("MASTER", "BACKUP")
        ],
        "{:?}",
        me.recent_transitions
    );
    assert!(!report.trackers[0].healthy);
    assert!(report.trackers[0].failures >= u64::from(fall));
    let text = metrics(&pair.lb01, "127.0.0.1:9650");
    for line in [
        "vrrpd_instance_state{instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\",state=\"BACKUP\"} 1",
        "vrrpd_instance_priority{instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\"} 90",
        "vrrpd_instance_base_priority{instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\"} 150",
        "vrrpd_instance_tracker_contribution{instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\",tracker=\"caddy\"} -60",
        "vrrpd_tracker_up{tracker=\"caddy\",kind=\"http\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    for prefix in [
        "vrrpd_build_info{version=",
        "vrrpd_instance_last_transition_timestamp_seconds{instance_name=\"VI_1\"",
        "process_resident_memory_bytes ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(prefix)),
            "missing {prefix}…:\n{text}"
        );
    }
    let transitions = format!(
        "vrrpd_instance_transitions_total{{instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\"}} {}",
        me.transitions
    );
    assert!(text.lines().any(|l| l == transitions), "{text}");
    // lb02's own view agrees.
    let peer = status(&lb02_socket);
    assert_eq!(instance(&peer).state, "MASTER");
    assert!(instance(&peer).adverts_received > 0);
    // The table renders the same facts.
    let table = std::process::Command::new(VRRPD)
        .args(["status", "--socket"])
        .arg(&lb01_socket)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("150 -> 90 (caddy -60)"), "{table}");

    // The proxy returns: rise × interval, then lb01's own Master_Down_Interval.
    let restarted = Instant::now();
    let _proxy = Proxy::start(&pair.lb01);
    let bound = interval * rise + mdi_lb01 + MARGIN;
    assert!(
        wait_for_vip(&pair.lb01, bound + MARGIN).is_some(),
        "lb01 did not preempt back within {bound:?}\n{}",
        log_tails(&[&lb01, &lb02])
    );
    let took = restarted.elapsed();
    assert!(took <= bound, "took {took:?}, bound {bound:?}");
    assert_eq!(instance(&status(&lb01_socket)).effective_priority, 150);
    assert!(
        wait_until(Duration::from_secs(2), POLL, || !holds_vip(&pair.lb02)).is_some(),
        "lb02 kept the VIP"
    );

    // The gratuitous ARP lb01 sent as master, in the metrics as in the status.
    let sent = instance(&status(&lb01_socket)).announcements_sent;
    assert!(sent >= 2, "two takeovers, each with its GARP: {sent}");
    let line = |text: &str, prefix: &str| -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    };
    let announcements = "vrrpd_instance_announcements_sent_total{instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\"} ";
    let counted: u64 = line(&metrics(&pair.lb01, "127.0.0.1:9650"), announcements)
        .and_then(|value| value.parse().ok())
        .expect("the announcements counter");
    assert!(counted >= sent, "metrics {counted}, status before {sent}");
    // Reloads: none yet; one applied; one refused (the previous config keeps running).
    let text = metrics(&pair.lb01, "127.0.0.1:9650");
    assert_eq!(
        line(&text, "vrrpd_reloads_total{result=\"success\"} ").as_deref(),
        Some("0")
    );
    assert!(
        line(&text, "vrrpd_last_reload_success ").is_none(),
        "{text}"
    );
    let reload_then = |expected_success: &str, expected_failure: &str, last: &str| {
        lb01.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
        let done = wait_until(Duration::from_secs(5), POLL, || {
            let text = metrics(&pair.lb01, "127.0.0.1:9650");
            line(&text, "vrrpd_reloads_total{result=\"success\"} ").as_deref()
                == Some(expected_success)
                && line(&text, "vrrpd_reloads_total{result=\"failure\"} ").as_deref()
                    == Some(expected_failure)
                && line(&text, "vrrpd_last_reload_success ").as_deref() == Some(last)
        });
        assert!(
            done.is_some(),
            "after SIGHUP: success {expected_success}, failure {expected_failure}, last {last}:\n{}",
            metrics(&pair.lb01, "127.0.0.1:9650")
        );
    };
    reload_then("1", "0", "1");
    std::fs::write(config_path_of(&lb01), "{ not json").unwrap();
    reload_then("1", "1", "0");
    assert!(
        line(
            &metrics(&pair.lb01, "127.0.0.1:9650"),
            "vrrpd_last_reload_timestamp_seconds "
        )
        .is_some()
    );
    assert!(holds_vip(&pair.lb01), "a refused reload changed nothing");
}

/// An exec check that hangs is killed at its timeout, and the peer hears every advert
/// meanwhile: checks never delay the protocol.
#[test]
fn a_hanging_exec_check_is_killed_and_adverts_keep_flowing() {
    let _timing = timing_guard(false);
    let pair = PairLab::new("hhang");
    let advert = Duration::from_millis(100);
    let lb01_socket = socket_path(&pair.lab, "lb01");
    let lb02_socket = socket_path(&pair.lab, "lb02");
    // A marker argument makes the check's processes easy to find.
    let marker = format!("vrrpd-hang-{}", std::process::id());
    let command =
        ["/bin/sh", "-c", "sleep 30; : MARK", "check"].map(|s| s.replace("MARK", &marker));
    let tracker = json!({"trackers": [{
        "name": "hang",
        "check": {"type": "exec", "command": command},
        "interval_ms": 500, "timeout_ms": 300,
    }]});
    let lb01 = pair
        .lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(
                HIGH_PRIORITY,
                3,
                advert,
                &lb01_socket,
                tracker,
                json!({"track": [{"tracker": "hang", "weight": -10}]}),
            ),
        )
        .unwrap();
    let lb02 = pair
        .lb02
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(LOW_PRIORITY, 3, advert, &lb02_socket, json!({}), json!({})),
        )
        .unwrap();
    assert!(
        wait_for_vip(&pair.lb01, Duration::from_secs(5)).is_some(),
        "lb01 never became master\n{}",
        log_tails(&[&lb01, &lb02])
    );
    assert!(wait_for_state(&lb02_socket, "BACKUP", Duration::from_secs(3)).is_some());
    let before = instance(&status(&lb02_socket)).clone();
    let window_start = Instant::now();
    let mut most_alive = 0;
    while window_start.elapsed() < Duration::from_secs(3) {
        let alive = processes_with(&marker);
        most_alive = most_alive.max(alive);
        std::thread::sleep(Duration::from_millis(50));
    }
    let window = window_start.elapsed();
    let after = instance(&status(&lb02_socket)).clone();
    let heard = after.adverts_received - before.adverts_received;
    // One advert per 100 ms; allow two for the edges of the window.
    let expected = (window.as_millis() / advert.as_millis()) as u64;
    assert!(
        heard + 2 >= expected,
        "lb02 heard {heard} adverts in {window:?}, expected about {expected}"
    );
    assert_eq!(after.transitions, before.transitions, "lb02 changed state");
    assert_eq!(after.state, "BACKUP");
    // Each check is killed at 300 ms before the next starts: never two at once.
    assert!(most_alive >= 1, "never saw the hung check running");
    assert!(
        most_alive <= 1,
        "{most_alive} hung checks (process groups) alive at once"
    );
    let report = status(&lb01_socket);
    let tracker = &report.trackers[0];
    assert!(tracker.failures >= 4, "{tracker:?}");
    assert!(
        tracker.last_result.contains("timed out"),
        "{}",
        tracker.last_result
    );
    assert_eq!(instance(&report).effective_priority, 140);
    assert_eq!(instance(&report).state, "MASTER");
}

/// Processes whose command line mentions `marker` (the shell of a hung check; its
/// `sleep` child shares the process group and dies with it).
fn processes_with(marker: &str) -> usize {
    // Counted by process group: each check runs in a group of its own, and while the
    // check's shell forks its `sleep`, the fork briefly carries the shell's command line
    // too, so counting processes would see one check twice.
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let groups: std::collections::BTreeSet<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces.
            let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
            let (state, group) = (*fields.first()?, *fields.get(2)?);
            (String::from_utf8_lossy(&cmdline).contains(marker) && state != "Z")
                .then(|| group.to_owned())
        })
        .collect();
    groups.len()
}

/// A second interface of lb01 goes down: with weight 0, lb01 goes to FAULT (resigning,
/// so lb02 takes over after Skew_Time) and comes back when the link does.
#[test]
fn interface_tracking_faults_and_recovers() {
    let _timing = timing_guard(false);
    let pair = PairLab::new("hiface");
    // 400 ms adverts against a 100 ms check interval: the Skew_Time bound below must stay
    // under what a backup ignoring the priority-0 advert would take, see there.
    let advert = Duration::from_millis(400);
    let check_interval = Duration::from_millis(100);
    let lb01_socket = socket_path(&pair.lab, "lb01");
    let lb02_socket = socket_path(&pair.lab, "lb02");
    // An uplink that the test can cut: a veth pair inside lb01's namespace.
    pair.lb01
        .run(
            "ip",
            &[
                "link", "add", "uplink", "type", "veth", "peer", "name", "uplinkp",
            ],
        )
        .unwrap();
    pair.lb01
        .run("ip", &["link", "set", "uplinkp", "up"])
        .unwrap();
    pair.lb01
        .run("ip", &["link", "set", "uplink", "up"])
        .unwrap();
    let tracker = json!({"trackers": [{
        "name": "uplink", "check": {"type": "interface", "interface": "uplink"},
        "interval_ms": check_interval.as_millis() as u64,
    }]});
    let lb01 = pair
        .lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(
                HIGH_PRIORITY,
                3,
                advert,
                &lb01_socket,
                tracker,
                json!({"track": [{"tracker": "uplink"}]}),
            ),
        )
        .unwrap();
    let lb02 = pair
        .lb02
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(LOW_PRIORITY, 3, advert, &lb02_socket, json!({}), json!({})),
        )
        .unwrap();
    assert!(
        wait_for_vip(&pair.lb01, Duration::from_secs(5)).is_some(),
        "lb01 never became master\n{}",
        log_tails(&[&lb01, &lb02])
    );
    pair.lb01
        .run("ip", &["link", "set", "uplink", "down"])
        .unwrap();
    // Counted from the end of the `ip` command. At most one check interval until lb01's
    // check sees the link down (its FAULT resigns with a priority-0 advert), then lb02's
    // Skew_Time, plus 1.5 advert intervals (`takeover_absorber`: the check itself, the
    // address add, the poll, scheduling). A backup that ignored the priority-0 advert
    // would take over no sooner than Master_Down_Interval − one interval after the cut
    // (the check can see it at once): 1.044 s against this 0.944 s.
    let cut = Instant::now();
    let bound = check_interval + skew_takeover_bound(advert, LOW_PRIORITY);
    assert!(bound < earliest_takeover_ignoring_priority_zero(advert, LOW_PRIORITY));
    let taken = wait_until(bound + MARGIN, Duration::from_millis(1), || {
        holds_vip(&pair.lb02)
    });
    let took = cut.elapsed();
    assert!(
        taken.is_some(),
        "lb02 did not take over\n{}",
        log_tails(&[&lb01, &lb02])
    );
    eprintln!(
        "hiface: lb02 took over {} after the uplink went down (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(
        took <= bound,
        "lb02 took over {} after lb01's tracked uplink went down; bound: one check interval \
         + Skew_Time + the absorber = {}",
        secs(took),
        secs(bound)
    );
    assert!(!holds_vip(&pair.lb01));
    let report = status(&lb01_socket);
    let me = instance(&report);
    assert_eq!(me.state, "FAULT");
    assert!(me.tracks[0].fault);
    assert_eq!(
        me.last_transition.as_ref().unwrap().reason,
        "tracker uplink failed"
    );
    pair.lb01
        .run("ip", &["link", "set", "uplink", "up"])
        .unwrap();
    let mdi = master_down_interval(Version::V3, HIGH_PRIORITY, 40);
    assert!(
        wait_for_vip(&pair.lb01, check_interval + mdi + MARGIN * 2).is_some(),
        "lb01 did not come back\n{}",
        log_tails(&[&lb01, &lb02])
    );
    assert_eq!(instance(&status(&lb01_socket)).state, "MASTER");
}

/// A file tracker: the integer times the weight lowers lb01 below lb02, and 0 restores it.
#[test]
fn file_tracking_moves_the_vip_by_weight() {
    let _timing = timing_guard(false);
    let pair = PairLab::new("hfile");
    let advert = Duration::from_millis(100);
    let lb01_socket = socket_path(&pair.lab, "lb01");
    let lb02_socket = socket_path(&pair.lab, "lb02");
    let file = pair.lab.dir().join("weight");
    std::fs::write(&file, "0\n").unwrap();
    let tracker = json!({"trackers": [{
        "name": "maintenance", "check": {"type": "file", "path": file.to_string_lossy()},
        "interval_ms": 100,
    }]});
    let lb01 = pair
        .lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(
                HIGH_PRIORITY,
                3,
                advert,
                &lb01_socket,
                tracker,
                json!({"track": [{"tracker": "maintenance", "weight": -2}]}),
            ),
        )
        .unwrap();
    let lb02 = pair
        .lb02
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(LOW_PRIORITY, 3, advert, &lb02_socket, json!({}), json!({})),
        )
        .unwrap();
    assert!(
        wait_for_vip(&pair.lb01, Duration::from_secs(5)).is_some(),
        "lb01 never became master\n{}",
        log_tails(&[&lb01, &lb02])
    );
    // 150 − 2 × 30 = 90 < 100.
    std::fs::write(&file, "30\n").unwrap();
    let mdi = master_down_interval(Version::V3, LOW_PRIORITY, 10);
    assert!(
        wait_for_vip(&pair.lb02, Duration::from_millis(100) + mdi + MARGIN * 2).is_some(),
        "lb02 did not take over\n{}",
        log_tails(&[&lb01, &lb02])
    );
    let report = status(&lb01_socket);
    assert_eq!(instance(&report).effective_priority, 90);
    assert_eq!(instance(&report).tracks[0].contribution, -60);
    assert_eq!(report.trackers[0].value, Some(30));
    // 150 − 2 × 20 = 110 > 100: lb01 preempts again.
    std::fs::write(&file, "20").unwrap();
    let mdi = master_down_interval(Version::V3, 110, 10);
    assert!(
        wait_for_vip(&pair.lb01, Duration::from_millis(100) + mdi + MARGIN * 2).is_some(),
        "lb01 did not preempt back\n{}",
        log_tails(&[&lb01, &lb02])
    );
    assert_eq!(instance(&status(&lb01_socket)).effective_priority, 110);
}

/// Notify hooks run in order with keepalived's arguments and the VRRPD_* environment:
/// BACKUP at start, MASTER, FAULT (a weight-0 file tracker), BACKUP and MASTER again,
/// STOP at SIGTERM.
#[test]
fn notify_hooks_run_in_order_with_keepalived_arguments() {
    let _timing = timing_guard(false);
    let mut lab = Lab::new("hnotify").expect("lab");
    let lb01 = lab.add_host("lb01", &[LB01_ADDRESS]).unwrap();
    let socket = socket_path(&lab, "lb01");
    let log = lab.dir().join("hooks.log");
    let fault_file = lab.dir().join("fault");
    std::fs::write(&fault_file, "0").unwrap();
    let hook = |what: &str| {
        json!([
            "/bin/sh",
            "-c",
            format!(
                "echo \"{what} $VRRPD_INSTANCE $VRRPD_OLD_STATE->$VRRPD_STATE $VRRPD_PRIORITY\" >> {}",
                log.display()
            )
        ])
    };
    let generic = json!([
        "/bin/sh",
        "-c",
        format!("echo \"generic $*\" >> {}", log.display()),
        "notify"
    ]);
    let config = node_config(
        HIGH_PRIORITY,
        3,
        Duration::from_millis(100),
        &socket,
        json!({"trackers": [{"name": "fault", "interval_ms": 100,
               "check": {"type": "file", "path": fault_file.to_string_lossy()}}]}),
        json!({
            "track": [{"tracker": "fault"}],
            "notify": {
                "master": hook("master"), "backup": hook("backup"),
                "fault": hook("fault"), "stop": hook("stop"), "generic": generic,
                "timeout_s": 5,
            }
        }),
    );
    let mut daemon = lb01.start_vrrpd(&vrrpd_binary(), &config).unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let lines_at_least = |count: usize| {
        wait_until(Duration::from_secs(5), POLL, || {
            read_log().lines().count() >= count
        })
        .is_some()
    };
    assert!(
        lines_at_least(4),
        "startup hooks:\n{}\n{}",
        read_log(),
        log_tails(&[&daemon])
    );
    std::fs::write(&fault_file, "1").unwrap();
    assert!(lines_at_least(6), "fault hooks:\n{}", read_log());
    std::fs::write(&fault_file, "0").unwrap();
    assert!(lines_at_least(10), "recovery hooks:\n{}", read_log());
    daemon.terminate(Duration::from_secs(10)).unwrap();
    assert!(lines_at_least(12), "stop hooks:\n{}", read_log());
    let expected = "\
backup VI_1 INIT->BACKUP 150
generic INSTANCE VI_1 BACKUP 150
master VI_1 BACKUP->MASTER 150
generic INSTANCE VI_1 MASTER 150
fault VI_1 MASTER->FAULT 150
generic INSTANCE VI_1 FAULT 150
backup VI_1 FAULT->BACKUP 150
generic INSTANCE VI_1 BACKUP 150
master VI_1 BACKUP->MASTER 150
generic INSTANCE VI_1 MASTER 150
stop VI_1 MASTER->STOP 150
generic INSTANCE VI_1 STOP 150
";
    assert_eq!(read_log(), expected);
}

/// `notify.priority_change` runs when a tracker moves the effective priority, with the new
/// and the old priority, and not when a result leaves it where it was.
#[test]
fn the_priority_change_hook_gets_new_and_old_priority() {
    let _timing = timing_guard(false);
    let mut lab = Lab::new("hprio").expect("lab");
    let lb01 = lab.add_host("lb01", &[LB01_ADDRESS]).unwrap();
    let socket = socket_path(&lab, "lb01");
    let log = lab.dir().join("priority.log");
    let file = lab.dir().join("weight");
    std::fs::write(&file, "0").unwrap();
    let hook = json!([
        "/bin/sh",
        "-c",
        format!(
            "echo \"$* env $VRRPD_OLD_PRIORITY->$VRRPD_PRIORITY\" >> {}",
            log.display()
        ),
        "prio"
    ]);
    let config = node_config(
        HIGH_PRIORITY,
        3,
        Duration::from_millis(100),
        &socket,
        json!({"trackers": [{"name": "weight", "interval_ms": 100,
               "check": {"type": "file", "path": file.to_string_lossy()}}]}),
        json!({
            "track": [{"tracker": "weight", "weight": 1}],
            "notify": { "priority_change": hook, "timeout_s": 5 }
        }),
    );
    let daemon = lb01.start_vrrpd(&vrrpd_binary(), &config).unwrap();
    assert!(
        wait_for_vip(&lb01, Duration::from_secs(5)).is_some(),
        "lb01 never became master\n{}",
        log_tails(&[&daemon])
    );
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let lines_at_least = |count: usize| {
        wait_until(Duration::from_secs(5), POLL, || {
            read_log().lines().count() >= count
        })
        .is_some()
    };
    std::fs::write(&file, "-20").unwrap();
    assert!(
        lines_at_least(1),
        "no hook:\n{}\n{}",
        read_log(),
        log_tails(&[&daemon])
    );
    // Several checks at the same value: nothing more runs.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read_log().lines().count(), 1, "{}", read_log());
    std::fs::write(&file, "0").unwrap();
    assert!(lines_at_least(2), "no second hook:\n{}", read_log());
    assert_eq!(
        read_log(),
        "INSTANCE VI_1 MASTER 130 150 env 150->130\nINSTANCE VI_1 MASTER 150 130 env 130->150\n"
    );
}

/// Adding a tracker by reload (SIGHUP) applies in place: the master does not restart (no
/// INIT in between), its priority drops, and the backup takes over by preemption.
#[test]
fn a_tracker_added_by_reload_applies_without_a_restart() {
    let _timing = timing_guard(false);
    let pair = PairLab::new("hreload");
    let advert = Duration::from_millis(100);
    let lb01_socket = socket_path(&pair.lab, "lb01");
    let lb02_socket = socket_path(&pair.lab, "lb02");
    let file = pair.lab.dir().join("drain");
    std::fs::write(&file, "1").unwrap();
    let lb01 = pair
        .lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(HIGH_PRIORITY, 3, advert, &lb01_socket, json!({}), json!({})),
        )
        .unwrap();
    let lb02 = pair
        .lb02
        .start_vrrpd(
            &vrrpd_binary(),
            &node_config(LOW_PRIORITY, 3, advert, &lb02_socket, json!({}), json!({})),
        )
        .unwrap();
    assert!(
        wait_for_vip(&pair.lb01, Duration::from_secs(5)).is_some(),
        "lb01 never became master\n{}",
        log_tails(&[&lb01, &lb02])
    );
    let before = instance(&status(&lb01_socket)).transitions;
    let reloaded = node_config(
        HIGH_PRIORITY,
        3,
        advert,
        &lb01_socket,
        json!({"trackers": [{"name": "drain", "interval_ms": 100,
               "check": {"type": "file", "path": file.to_string_lossy()}}]}),
        json!({"track": [{"tracker": "drain", "weight": -60}]}),
    );
    std::fs::write(config_path_of(&lb01), reloaded).unwrap();
    lb01.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    let mdi = master_down_interval(Version::V3, LOW_PRIORITY, 10);
    assert!(
        wait_for_vip(&pair.lb02, Duration::from_millis(200) + mdi + MARGIN * 2).is_some(),
        "lb02 did not take over after the reload\n{}",
        log_tails(&[&lb01, &lb02])
    );
    let me = instance(&status(&lb01_socket)).clone();
    assert_eq!(me.effective_priority, 90);
    assert_eq!(me.state, "BACKUP");
    // MASTER -> BACKUP only: a restart would have gone through INIT (two more).
    assert_eq!(me.transitions, before + 1, "{me:?}");
}
