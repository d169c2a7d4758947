//! systemd notify protocol end to end (sd_notify(3), systemd.service(5)
//! Type=notify-reload): vrrpd runs in a lab namespace with NOTIFY_SOCKET
//! pointing at a datagram socket this test binds, as systemd would.
//! Needs root.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::lab::{Lab, LabProcess, wait_until};

/// Overridable only to check this test against a stand-in daemon.
fn vrrpd_binary() -> String {
    std::env::var("VRRPD_LAB_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vrrpd").to_string())
}

/// 200 ms: the daemon should ping every 100 ms (half, per sd_watchdog_enabled(3)).
const WATCHDOG_USEC: &str = "200000";

/// One datagram from the daemon, split into its `KEY=VALUE` lines.
#[derive(Clone, Debug)]
struct Notification {
    at: Instant,
    lines: Vec<String>,
}

impl Notification {
    fn has(&self, line: &str) -> bool {
        self.lines.iter().any(|l| l == line)
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }
}

/// Collects datagrams on a thread until dropped.
struct NotifyListener {
    received: Arc<Mutex<Vec<Notification>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifyListener {
    fn bind(path: &Path) -> NotifyListener {
        let socket = UnixDatagram::bind(path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, flag) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buffer = vec![0u8; 4096];
            while !flag.load(Ordering::Relaxed) {
                if let Ok(length) = socket.recv(&mut buffer) {
                    let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
                    let lines = text
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_string)
                        .collect();
                    sink.lock().unwrap().push(Notification {
                        at: Instant::now(),
                        lines,
                    });
                }
            }
        });
        NotifyListener {
            received,
            stop,
            thread: Some(thread),
        }
    }

    fn all(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }

    fn len(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The first notification at index ≥ `from` satisfying `matches`, waiting up to `timeout`.
    fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        matches: impl Fn(&Notification) -> bool,
    ) -> Option<(usize, Notification)> {
        let mut found = None;
        wait_until(timeout, Duration::from_millis(5), || {
            found = self
                .all()
                .into_iter()
                .enumerate()
                .skip(from)
                .find(|(_, n)| matches(n));
            found.is_some()
        });
        found
    }

    fn transcript(&self) -> String {
        self.all()
            .iter()
            .map(|n| n.lines.join(" | "))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for NotifyListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn single_node_config() -> String {
    // VRRPv3 at 100 ms: alone on the segment, the node is master after
    // Master_Down_Interval = 300 ms + 106 × 100 ms / 256 ≈ 341 ms.
    serde_json::json!({
        "instances": [{
            "name": "VI_1",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": 3,
            "priority": HIGH_PRIORITY,
            "advert_interval_ms": 100,
            "virtual_addresses": [VIP]
        }]
    })
    .to_string()
}

#[test]
fn systemd_notify_ready_status_watchdog_reload_and_stop_end_to_end() {
    require_root();
    let mut lab = Lab::new("sdnotify").expect("lab");
    let node = lab.add_host("lb01", &[LB01_ADDRESS]).expect("host");
    let vip = vip();
    // A path socket, not an abstract one: abstract unix sockets belong to a
    // network namespace, and the daemon runs in another one.
    let socket_path = lab.dir().join("notify.sock");
    let listener = NotifyListener::bind(&socket_path);
    let socket_text = socket_path.to_string_lossy().into_owned();
    let mut daemon: LabProcess = node
        .start_vrrpd_with_env(
            Path::new(&vrrpd_binary()),
            &single_node_config(),
            &[
                ("NOTIFY_SOCKET", &socket_text),
                ("WATCHDOG_USEC", WATCHDOG_USEC),
            ],
        )
        .expect("start vrrpd");
    let started = Instant::now();
    let context = |daemon: &LabProcess, listener: &NotifyListener| {
        format!(
            "\nnotifications:\n{}\nvrrpd log:\n{}",
            listener.transcript(),
            daemon.log()
        )
    };

    // READY=1 once the daemon is up.
    let ready = listener.wait_for(0, Duration::from_secs(5), |n| n.has("READY=1"));
    assert!(
        ready.is_some(),
        "no READY=1 within 5 s{}",
        context(&daemon, &listener)
    );
    let (_, ready) = ready.unwrap();
    eprintln!("READY=1 after {}", secs(ready.at.duration_since(started)));

    // STATUS= reports the instance state; alone, it becomes master.
    let master_status = listener.wait_for(0, Duration::from_secs(3), |n| {
        n.value("STATUS")
            .is_some_and(|s| s.to_ascii_lowercase().contains("master"))
    });
    assert!(
        master_status.is_some(),
        "no STATUS= mentioning MASTER within 3 s{}",
        context(&daemon, &listener)
    );
    eprintln!(
        "STATUS: {:?}",
        master_status.as_ref().unwrap().1.value("STATUS")
    );
    assert!(
        wait_until(Duration::from_secs(1), Duration::from_millis(5), || node
            .has_address(vip))
        .is_some(),
        "the master holds the VIP"
    );

    // WATCHDOG=1 every WATCHDOG_USEC / 2 = 100 ms: count over one second.
    let window_start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let window_end = Instant::now();
    let pings: Vec<Instant> = listener
        .all()
        .iter()
        .filter(|n| n.has("WATCHDOG=1") && n.at >= window_start && n.at < window_end)
        .map(|n| n.at)
        .collect();
    eprintln!("WATCHDOG=1: {} in 1 s", pings.len());
    assert!(
        (5..=20).contains(&pings.len()),
        "expected about 10 WATCHDOG=1 in one second, got {}{}",
        pings.len(),
        context(&daemon, &listener)
    );
    let longest = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest < Duration::from_millis(200),
        "a {} gap between WATCHDOG=1 would have tripped a 200 ms watchdog",
        secs(longest)
    );

    // SIGHUP: RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload
    // requires), then READY=1 again; the VIP stays put throughout.
    let before_reload = listener.len();
    daemon.signal(Signal::SIGHUP).unwrap();
    let reload_deadline = Instant::now() + Duration::from_secs(5);
    let mut samples = 0;
    let mut vip_missing = 0;
    let mut reloading = None;
    let mut ready_again = None;
    while Instant::now() < reload_deadline && ready_again.is_none() {
        samples += 1;
        if !node.has_address(vip) {
            vip_missing += 1;
        }
        if reloading.is_none() {
            reloading = listener.wait_for(before_reload, Duration::ZERO, |n| n.has("RELOADING=1"));
        }
        if let Some((index, _)) = &reloading {
            ready_again = listener.wait_for(index + 1, Duration::ZERO, |n| n.has("READY=1"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (_, reloading) = reloading
        .unwrap_or_else(|| panic!("no RELOADING=1 after SIGHUP{}", context(&daemon, &listener)));
    assert!(
        reloading
            .value("MONOTONIC_USEC")
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "RELOADING=1 must carry MONOTONIC_USEC=: {:?}",
        reloading.lines
    );
    assert!(
        ready_again.is_some(),
        "no READY=1 after RELOADING=1{}",
        context(&daemon, &listener)
    );
    // Keep watching a little after READY: a reload must not drop the VIP late either.
    let (mut after_samples, mut after_missing) = (0, 0);
    let settle_end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < settle_end {
        after_samples += 1;
        if !node.has_address(vip) {
            after_missing += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        vip_missing + after_missing,
        0,
        "the VIP vanished in {} of {} samples during the reload",
        vip_missing + after_missing,
        samples + after_samples
    );
    assert!(
        daemon.is_running(),
        "vrrpd exited on SIGHUP{}",
        context(&daemon, &listener)
    );

    // SIGTERM: STOPPING=1, exit 0, VIP removed.
    let before_stop = listener.len();
    daemon.signal(Signal::SIGTERM).unwrap();
    let status = daemon.wait_timeout(Duration::from_secs(5)).unwrap();
    let status = status.unwrap_or_else(|| {
        panic!(
            "vrrpd did not exit within 5 s of SIGTERM{}",
            context(&daemon, &listener)
        )
    });
    assert!(
        status.success(),
        "vrrpd exit status on SIGTERM: {status}{}",
        context(&daemon, &listener)
    );
    let stopping = listener.wait_for(before_stop, Duration::from_millis(500), |n| {
        n.has("STOPPING=1")
    });
    assert!(
        stopping.is_some(),
        "no STOPPING=1 after SIGTERM{}",
        context(&daemon, &listener)
    );
    assert!(
        !node.has_address(vip),
        "the VIP is removed on a graceful stop"
    );
    drop(listener);
    drop(lab);
}
