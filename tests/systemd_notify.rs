//! The systemd notify protocol against real unix datagram sockets (no root needed), the
//! watchdog variable rules of sd_watchdog_enabled(3), and the shipped unit file.

use std::ffi::OsString;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vrrpd::driver::systemd::{
    Notifier, NotifyError, NotifySocket, parse_watchdog_interval, status_line,
};

/// A private directory under the system temp dir, removed on drop (also when a test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "vrrpd-notify-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long a send that does not block may take: a non-blocking `sendto` returns in
/// microseconds; this absorbs scheduling on a loaded machine. A send that blocked on an
/// unread socket would never return, so any finite limit tells them apart.
const NON_BLOCKING_LIMIT: Duration = Duration::from_secs(1);

/// Runs `work` on a thread of its own and fails unless it returns within `limit`: a call
/// that blocked would otherwise hang the test instead of failing it (the blocked thread
/// is left behind; the test binary's exit ends it).
fn returns_within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    match result.recv_timeout(limit) {
        Ok(value) => {
            eprintln!("{what}: returned after {:?}", started.elapsed());
            value
        }
        Err(_) => panic!("{what} did not return within {limit:?}: it blocked"),
    }
}

/// Listens where the "manager" would; every receive is bounded by a timeout.
struct Manager {
    socket: UnixDatagram,
}

impl Manager {
    fn at_path(dir: &TempDir) -> (Self, PathBuf) {
        let path = dir.0.join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        (Self::new(socket), path)
    }

    fn abstract_named(name: &str) -> Self {
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
        Self::new(UnixDatagram::bind_addr(&address).expect("bind abstract socket"))
    }

    fn new(socket: UnixDatagram) -> Self {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        Self { socket }
    }

    fn receive(&self) -> String {
        let mut buffer = [0u8; 4096];
        let length = self
            .socket
            .recv(&mut buffer)
            .expect("a notification datagram");
        String::from_utf8(buffer[..length].to_vec()).expect("UTF-8 datagram")
    }

    fn assert_nothing_pending(&self) {
        self.socket.set_nonblocking(true).expect("nonblocking");
        let mut buffer = [0u8; 4096];
        let result = self.socket.recv(&mut buffer);
        self.socket.set_nonblocking(false).expect("blocking");
        match result {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("unexpected datagram or error: {other:?}"),
        }
    }
}

fn unique_abstract_name(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "vrrpd-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    u64::try_from(now.tv_sec).expect("seconds") * 1_000_000
        + u64::try_from(now.tv_nsec).expect("nanoseconds") / 1_000
}

/// Sends every message kind and checks the exact datagrams, in order.
fn assert_full_conversation(manager: &Manager, notifier: &Notifier) {
    notifier.ready("VI_1: BACKUP prio 100");
    assert_eq!(manager.receive(), "READY=1\nSTATUS=VI_1: BACKUP prio 100");

    notifier.status("VI_1: MASTER prio 150");
    assert_eq!(manager.receive(), "STATUS=VI_1: MASTER prio 150");

    notifier.watchdog();
    assert_eq!(manager.receive(), "WATCHDOG=1");

    let before = monotonic_usec();
    notifier.reloading();
    let after = monotonic_usec();
    let reloading = manager.receive();
    let lines: Vec<&str> = reloading.split('\n').collect();
    assert_eq!(lines.len(), 2, "{reloading:?}");
    assert_eq!(lines[0], "RELOADING=1");
    let stamp: u64 = lines[1]
        .strip_prefix("MONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"))
        .parse()
        .expect("MONOTONIC_USEC is a number");
    assert!(
        (before..=after).contains(&stamp),
        "MONOTONIC_USEC={stamp} outside [{before}, {after}]"
    );

    notifier.stopping();
    assert_eq!(manager.receive(), "STOPPING=1");

    manager.assert_nothing_pending();
}

#[test]
fn filesystem_socket_receives_every_message() {
    let dir = TempDir::new("path");
    let (manager, path) = Manager::at_path(&dir);
    let notifier = Notifier::with_socket(&path, None);
    assert!(notifier.is_enabled());
    assert_eq!(notifier.target(), Some(&NotifySocket::Path(path.clone())));
    assert_full_conversation(&manager, &notifier);
}

#[test]
fn abstract_socket_receives_every_message() {
    let name = unique_abstract_name("abstract");
    let manager = Manager::abstract_named(&name);
    let notifier = Notifier::with_socket(format!("@{name}"), None);
    assert_eq!(
        notifier.target(),
        Some(&NotifySocket::Abstract(name.clone().into_bytes()))
    );
    assert_full_conversation(&manager, &notifier);
}

#[test]
fn environment_lookup_is_honoured() {
    let name = unique_abstract_name("lookup");
    let manager = Manager::abstract_named(&name);
    let socket_value = OsString::from(format!("@{name}"));
    let notifier = Notifier::from_lookup(4242, |variable| match variable {
        "NOTIFY_SOCKET" => Some(socket_value.clone()),
        "WATCHDOG_USEC" => Some("10000000".into()),
        "WATCHDOG_PID" => Some("4242".into()),
        _ => None,
    });
    assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(5)));
    notifier.watchdog();
    assert_eq!(manager.receive(), "WATCHDOG=1");
}

#[test]
fn status_cannot_inject_other_assignments() {
    let dir = TempDir::new("inject");
    let (manager, path) = Manager::at_path(&dir);
    let notifier = Notifier::with_socket(&path, None);
    notifier.status("evil\nREADY=1");
    assert_eq!(manager.receive(), "STATUS=evil READY=1");
}

#[test]
fn everything_is_a_no_op_without_notify_socket() {
    for notifier in [Notifier::default(), Notifier::from_lookup(1, |_| None)] {
        assert!(!notifier.is_enabled());
        assert_eq!(notifier.target(), None);
        assert_eq!(notifier.watchdog_interval(), None);
        notifier.ready("x");
        notifier.status("x");
        notifier.watchdog();
        notifier.reloading();
        notifier.stopping();
        assert!(notifier.send("READY=1").is_ok());
    }
}

#[test]
fn unusable_notify_socket_disables_notifications() {
    for value in ["", "relative/notify", "vsock:2:1234", "@"] {
        let notifier = Notifier::from_lookup(1, |variable| {
            (variable == "NOTIFY_SOCKET").then(|| OsString::from(value))
        });
        assert!(!notifier.is_enabled(), "{value:?}");
        assert!(notifier.send("READY=1").is_ok(), "{value:?}");
    }
}

#[test]
fn dead_socket_fails_without_panicking_or_blocking() {
    let dir = TempDir::new("dead");
    let missing = dir.0.join("nobody-listens");
    let notifier = Notifier::with_socket(&missing, None);
    // The failing send and the fire-and-forget forms (which only log, however often they
    // are called) all return at once.
    let error = returns_within(NON_BLOCKING_LIMIT, "sends to a dead socket", move || {
        let error = notifier.send("WATCHDOG=1");
        for _ in 0..3 {
            notifier.watchdog();
            notifier.ready("x");
            notifier.reloading();
            notifier.stopping();
        }
        error
    })
    .expect_err("no listener");
    assert!(matches!(error, NotifyError::Send { .. }), "{error:?}");
    assert!(error.to_string().contains("nobody-listens"), "{error}");
}

#[test]
fn full_manager_queue_does_not_block() {
    let dir = TempDir::new("full");
    let (manager, path) = Manager::at_path(&dir);
    let notifier = Notifier::with_socket(&path, None);
    // Nobody reads: the receive queue fills up and sends must fail fast instead of waiting
    // (a blocking send would wait here forever). Then the fire-and-forget form only logs.
    let refused = returns_within(NON_BLOCKING_LIMIT, "sends to a full queue", move || {
        let mut refused = None;
        for attempt in 0..100_000 {
            if let Err(error) = notifier.send("WATCHDOG=1") {
                refused = Some((attempt, error));
                break;
            }
        }
        notifier.watchdog(); // logged, not blocking
        refused
    });
    let (attempt, error) = refused.expect("the queue of an unread socket fills up");
    assert!(attempt > 0, "the first datagrams fit in the queue");
    match error {
        NotifyError::Send { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::WouldBlock, "{source}")
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(manager.receive(), "WATCHDOG=1");
}

#[test]
fn watchdog_interval_is_half_the_timeout() {
    let dir = TempDir::new("wd");
    let path = dir.0.join("notify");
    assert_eq!(
        Notifier::with_socket(&path, Some(10_000_000)).watchdog_interval(),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        Notifier::with_socket(&path, Some(3)).watchdog_interval(),
        Some(Duration::from_nanos(1_500))
    );
    assert_eq!(
        Notifier::with_socket(&path, Some(0)).watchdog_interval(),
        None
    );
    assert_eq!(Notifier::with_socket(&path, None).watchdog_interval(), None);
}

#[test]
fn watchdog_variables_follow_sd_watchdog_enabled() {
    let us = 1234;
    let half_of_ten_seconds = Some(Duration::from_secs(5));
    // Enabled: timeout set, PID absent or ours.
    assert_eq!(
        parse_watchdog_interval(Some("10000000"), None, us),
        half_of_ten_seconds
    );
    assert_eq!(
        parse_watchdog_interval(Some("10000000"), Some("1234"), us),
        half_of_ten_seconds
    );
    // Meant for another process (we inherited the variables), or an unparsable PID.
    assert_eq!(
        parse_watchdog_interval(Some("10000000"), Some("1235"), us),
        None
    );
    assert_eq!(
        parse_watchdog_interval(Some("10000000"), Some("me"), us),
        None
    );
    assert_eq!(
        parse_watchdog_interval(Some("10000000"), Some(""), us),
        None
    );
    // Off, zero or garbage timeouts.
    assert_eq!(parse_watchdog_interval(None, Some("1234"), us), None);
    assert_eq!(parse_watchdog_interval(Some("0"), None, us), None);
    assert_eq!(parse_watchdog_interval(Some(""), None, us), None);
    assert_eq!(parse_watchdog_interval(Some("-5"), None, us), None);
    assert_eq!(parse_watchdog_interval(Some("10s"), None, us), None);
    assert_eq!(parse_watchdog_interval(Some("1e7"), None, us), None);
    assert_eq!(
        parse_watchdog_interval(Some("99999999999999999999999"), None, us),
        None
    );
    // The same rules apply through the environment lookup, including a PID mismatch.
    let lookup_with = |usec: &'static str, pid: Option<&'static str>| {
        Notifier::from_lookup(us, move |variable| match variable {
            "WATCHDOG_USEC" => Some(usec.into()),
            "WATCHDOG_PID" => pid.map(OsString::from),
            _ => None,
        })
        .watchdog_interval()
    };
    assert_eq!(lookup_with("10000000", Some("1234")), half_of_ten_seconds);
    assert_eq!(lookup_with("10000000", Some("99")), None);
    assert_eq!(lookup_with("garbage", None), None);
}

#[test]
fn status_line_lists_instances_in_order() {
    assert_eq!(
        status_line(&[("VI_1", "MASTER", 150), ("VI_2", "BACKUP", 100)]),
        "VI_1: MASTER prio 150; VI_2: BACKUP prio 100"
    );
    let owned = vec![(String::from("lb"), String::from("FAULT"), 255u8)];
    assert_eq!(status_line(&owned), "lb: FAULT prio 255");
    assert_eq!(status_line::<&str, &str>(&[]), "no VRRP instances");
}

/// `Key=value` directives of the shipped unit, in file order (later ones may repeat keys).
fn unit_directives() -> Vec<(String, String)> {
    include_str!("../packaging/vrrpd.service")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', ';', '[']))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

fn unit_values(key: &str) -> Vec<String> {
    unit_directives()
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn unit_value(key: &str) -> String {
    let values = unit_values(key);
    assert_eq!(
        values.len(),
        1,
        "{key} should appear exactly once: {values:?}"
    );
    values[0].clone()
}

#[test]
fn unit_file_declares_the_notify_contract() {
    assert_eq!(unit_value("Type"), "notify");
    assert_eq!(unit_value("NotifyAccess"), "main");
    assert_eq!(unit_value("WatchdogSec"), "10s");
    assert_eq!(unit_value("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(
        unit_value("ExecStart"),
        "/usr/bin/vrrpd run --config /etc/vrrpd/vrrpd.json --realtime-priority 10"
    );
    // What lets the unprivileged dynamic user enter SCHED_RR (sched(7)).
    assert_eq!(unit_value("LimitRTPRIO"), "10");
    assert_eq!(unit_value("RestrictRealtime"), "no");
    assert_eq!(
        unit_value("ExecStartPre"),
        "/usr/bin/vrrpd check --config /etc/vrrpd/vrrpd.json"
    );
    assert_eq!(unit_value("Restart"), "on-failure");
}

#[test]
fn unit_file_grants_exactly_net_admin_and_net_raw() {
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        let mut capabilities: Vec<String> = unit_values(key)
            .iter()
            .flat_map(|value| value.split_whitespace().map(str::to_owned))
            .collect();
        capabilities.sort();
        assert_eq!(capabilities, ["CAP_NET_ADMIN", "CAP_NET_RAW"], "{key}");
    }
}

#[test]
fn unit_file_stop_timeout_covers_a_master_down_interval() {
    // Stopping may wait up to a Master_Down_Interval (3 × advert + skew, ≈ 4 s at advert_int 1;
    // longer with bigger intervals): keep well above 10 s.
    let timeout = unit_value("TimeoutStopSec");
    let seconds: u64 = timeout
        .strip_suffix('s')
        .unwrap_or(&timeout)
        .parse()
        .expect("TimeoutStopSec in plain seconds");
    assert!(seconds >= 10, "TimeoutStopSec={timeout}");
}

/// Collects formatted log output for one test.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn repeated_failures_warn_only_once() {
    let dir = TempDir::new("warn-once");
    let notifier = Notifier::with_socket(dir.0.join("nobody-listens"), None);
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // Another test thread's subscriber may have cached "not interested" for these
        // callsites (tracing caches interest per callsite, process-wide): ask again.
        tracing::callsite::rebuild_interest_cache();
        for _ in 0..3 {
            notifier.watchdog();
        }
    });
    let text = String::from_utf8(log.0.lock().expect("log lock").clone()).expect("UTF-8 log");
    let warnings = text.lines().filter(|line| line.contains(" WARN ")).count();
    let debugs = text.lines().filter(|line| line.contains("DEBUG")).count();
    assert_eq!((warnings, debugs), (1, 2), "{text}");
    assert!(text.contains("nobody-listens"), "{text}");
}
