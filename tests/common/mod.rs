//! Shared pieces of the network-namespace tests (root only).
#![allow(dead_code)] // each test binary uses a different subset

use std::net::IpAddr;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use vrrpd::lab::{Host, Lab, ProbeReport, Prober, wait_until};

pub const VIP: &str = "192.0.2.40";
pub const LB01_ADDRESS: &str = "192.0.2.41/24";
pub const LB02_ADDRESS: &str = "192.0.2.42/24";
pub const CLIENT_ADDRESS: &str = "192.0.2.10/24";
pub const HIGH_PRIORITY: u8 = 150;
pub const LOW_PRIORITY: u8 = 100;

pub fn vip() -> IpAddr {
    VIP.parse().unwrap()
}

/// These tests need root and say so: CI runs as root, so a silent skip would
/// hide a broken setup.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test builds network namespaces and must run as root (CI does); \
         run `sudo -E cargo test --test <name>`"
    );
}

/// Timing-sensitive tests (10 ms adverts) take this exclusively; others
/// share it. Tests of one binary run on parallel threads, and a 36 ms
/// Master_Down_Interval does not survive a neighbour test forking dozens of
/// `ip` processes on a 2-core machine.
static TIMING: RwLock<()> = RwLock::new(());

pub enum TimingGuard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

pub fn timing_guard(exclusive: bool) -> TimingGuard {
    if exclusive {
        TimingGuard::Exclusive(TIMING.write().unwrap_or_else(|p| p.into_inner()))
    } else {
        TimingGuard::Shared(TIMING.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A lab with lb01, lb02 and a client on one segment.
pub struct PairLab {
    pub lab: Lab,
    pub lb01: Host,
    pub lb02: Host,
    pub client: Host,
}

impl PairLab {
    pub fn new(tag: &str) -> PairLab {
        require_root();
        let mut lab = Lab::new(tag).expect("creating the lab (root, iproute2)");
        let lb01 = lab.add_host("lb01", &[LB01_ADDRESS]).expect("adding lb01");
        let lb02 = lab.add_host("lb02", &[LB02_ADDRESS]).expect("adding lb02");
        let client = lab
            .add_host("client", &[CLIENT_ADDRESS])
            .expect("adding client");
        PairLab {
            lab,
            lb01,
            lb02,
            client,
        }
    }
}

/// Polls both hosts every `every` for `duration`; returns (samples, moments
/// both held `ip`, moments neither held it). Each sample reads both hosts
/// back to back (a few hundred microseconds apart).
pub fn sample_holders(
    a: &Host,
    b: &Host,
    ip: IpAddr,
    duration: Duration,
    every: Duration,
) -> (u32, u32, u32) {
    let end = Instant::now() + duration;
    let (mut samples, mut both, mut neither) = (0, 0, 0);
    while Instant::now() < end {
        let in_a = a.has_address(ip);
        let in_b = b.has_address(ip);
        samples += 1;
        if in_a && in_b {
            both += 1;
        }
        if !in_a && !in_b {
            neither += 1;
        }
        std::thread::sleep(every);
    }
    (samples, both, neither)
}

/// Seconds with millisecond precision, for messages.
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// keepalived's equivalent of a vrrpd instance (VI_1, VRID 50, VIP 192.0.2.40
/// on eth0). PASS authentication exists only in VRRPv2.
pub fn keepalived_config(
    router_id: &str,
    priority: u8,
    version: u8,
    advert: Duration,
    pass_auth: bool,
    preempt: bool,
) -> String {
    let authentication = if pass_auth {
        "    authentication {\n        auth_type PASS\n        auth_pass password\n    }\n"
    } else {
        ""
    };
    let nopreempt = if preempt { "" } else { "    nopreempt\n" };
    let advert_int = advert.as_secs_f64();
    format!(
        "global_defs {{\n    router_id {router_id}\n    vrrp_garp_master_refresh 60\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    version {version}\n\
         \x20   virtual_router_id 50\n    priority {priority}\n    advert_int {advert_int}\n\
         {authentication}{nopreempt}    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
    )
}

/// RFC 3768 §6.1 / RFC 5798 §6.1: Skew_Time = (256 − Priority) × interval / 256.
pub fn skew_time(advert: Duration, priority: u8) -> Duration {
    advert * (256 - u32::from(priority)) / 256
}

/// RFC 3768 §6.1 / RFC 5798 §6.1: Master_Down_Interval = 3 × interval + Skew_Time.
pub fn master_down_interval(advert: Duration, priority: u8) -> Duration {
    advert * 3 + skew_time(advert, priority)
}

/// What a takeover bound adds to the protocol timer it tests, for everything that is
/// not that timer: the signal or `ip` command that causes the event, the packet
/// crossing the lab's bridge, the new master's netlink address add, the test's poll of
/// the address, and scheduling on a loaded 2-core machine. One and a half advertisement
/// intervals (15 ms at 10 ms adverts: one interval was measured too little on a 2-core
/// machine under a parallel build, with 18–19 ms handovers against a 16 ms bound).
///
/// Why not more: a backup that ignores a priority-0 advert and waits out
/// Master_Down_Interval instead takes over no sooner than 2 intervals + Skew_Time after
/// the master left (its timer was last reset by an advert at most one interval before),
/// so a Skew_Time bound with this absorber, Skew_Time + 1.5 intervals, still fails it by
/// half an interval; the absorber must stay below 2 intervals. Likewise a backup whose
/// Master_Down_Interval is twice the RFC's takes over no sooner than
/// 2 × Master_Down_Interval − 1 interval after the master fell silent, well above
/// Master_Down_Interval + 1.5 intervals.
pub fn takeover_absorber(advert: Duration) -> Duration {
    advert * 3 / 2
}

/// The upper bound on a takeover after the master resigned with a priority-0 advert
/// (RFC 3768 / RFC 5798 §6.4.2): the backup's Skew_Time plus [`takeover_absorber`].
pub fn skew_takeover_bound(advert: Duration, backup_priority: u8) -> Duration {
    skew_time(advert, backup_priority) + takeover_absorber(advert)
}

/// The earliest a backup that ignored the priority-0 advert (waiting out its
/// Master_Down_Interval instead) could take over after the master left: its timer was
/// last reset at most one interval before. Every Skew_Time bound must stay below this.
pub fn earliest_takeover_ignoring_priority_zero(advert: Duration, backup_priority: u8) -> Duration {
    master_down_interval(advert, backup_priority) - advert
}

/// The upper bound on a takeover after the master fell silent (cable cut, SIGKILL),
/// counted from the moment the event had certainly happened: Master_Down_Interval plus
/// [`takeover_absorber`].
pub fn silence_takeover_bound(advert: Duration, backup_priority: u8) -> Duration {
    master_down_interval(advert, backup_priority) + takeover_absorber(advert)
}

/// The daemon under test's binary: `VRRPD_LAB_BINARY` if set (a patched build, to show
/// that a timing test fails against a wrong implementation), else this crate's vrrpd.
pub fn vrrpd_binary() -> std::path::PathBuf {
    std::env::var_os("VRRPD_LAB_BINARY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_vrrpd").into())
}

/// Whether this thread's network namespace has a raw IP socket for protocol 112 (VRRP),
/// IPv4 or IPv6, open (`/proc/thread-self/net/raw{,6}`, whose local "port" is the
/// protocol).
fn vrrp_socket_in_this_netns() -> bool {
    ["/proc/thread-self/net/raw", "/proc/thread-self/net/raw6"]
        .iter()
        .any(|table| {
            std::fs::read_to_string(table)
                .unwrap_or_default()
                .lines()
                .skip(1)
                .any(|line| {
                    line.split_whitespace()
                        .nth(1)
                        .is_some_and(|local| local.ends_with(":0070"))
                })
        })
}

/// Whether a VRRP raw socket is open in `host`'s namespace. A daemon opens it before its
/// instances start, so before their Master_Down_Timer runs (vrrpd: `open_interface`
/// before `Input::Startup`; keepalived 2.2.7, under strace: its raw sockets, then the
/// timer).
pub fn has_vrrp_socket(host: &Host) -> bool {
    host.in_netns(|| Ok(vrrp_socket_in_this_netns()))
        .unwrap_or(false)
}

/// When a socket was seen to open: after `last_absent` (the last look that did not find
/// it) and no later than `first_seen`. The width of the bracket is how late the looking
/// thread ran (250 µs between looks, more on a loaded machine).
#[derive(Clone, Copy, Debug)]
pub struct SeenBetween {
    pub last_absent: Instant,
    pub first_seen: Instant,
}

impl SeenBetween {
    pub fn width(&self) -> Duration {
        self.first_seen - self.last_absent
    }
}

/// Puts the calling thread in SCHED_FIFO at priority 1: above every ordinary task (so a
/// busy machine does not make the measuring thread the late one), below a daemon in
/// realtime (vrrpd's 10), so it never delays the daemon it measures. Reset on fork, so
/// nothing it might start inherits it. Best effort: where refused, the brackets are
/// only wider, which the callers see.
fn measure_in_realtime() -> bool {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid parameter.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param) == 0
    }
}

/// Looks every `period` until `present` holds, from the calling thread; when it started
/// holding, as a bracket. `absent_at` is a moment the caller knows it did not hold.
fn bracket(
    absent_at: Instant,
    deadline: Instant,
    period: Duration,
    mut present: impl FnMut() -> bool,
) -> Option<SeenBetween> {
    let mut last_absent = absent_at;
    loop {
        // Taken before the look: a look that started after this moment did not find it.
        let looked = Instant::now();
        if present() {
            return Some(SeenBetween {
                last_absent,
                first_seen: Instant::now(),
            });
        }
        last_absent = looked;
        if looked >= deadline {
            return None;
        }
        std::thread::sleep(period);
    }
}

/// Waits (bounded) until `host` has a VRRP socket open; when it opened, as a bracket.
/// `absent_at` is a moment the caller knows it was not open. One realtime thread stays
/// in the namespace and looks every 250 µs.
pub fn wait_for_vrrp_socket(
    host: &Host,
    absent_at: Instant,
    timeout: Duration,
) -> Option<SeenBetween> {
    host.in_netns(|| {
        measure_in_realtime();
        let deadline = Instant::now() + timeout;
        Ok(bracket(
            absent_at,
            deadline,
            Duration::from_micros(250),
            vrrp_socket_in_this_netns,
        ))
    })
    .ok()
    .flatten()
}

/// What [`watch_socket_then_address`] saw, each as a bracket.
#[derive(Clone, Copy, Debug)]
pub struct SocketThenAddress {
    pub socket: SeenBetween,
    /// `None`: the address did not come within the timeout.
    pub address: Option<SeenBetween>,
}

/// Why [`watch_socket_then_address`] saw nothing to measure.
#[derive(Debug)]
pub enum WatchError {
    /// A VRRP socket was open before `start` was called.
    SocketAlreadyOpen,
    /// No VRRP socket opened within the timeout.
    NoSocket,
    Lab(String),
}

/// One realtime thread in `host`'s namespace waits for a VRRP socket to open (looking
/// every 250 µs), then for `address` to appear on an interface (getifaddrs every 1 ms).
/// The thread is in the namespace and looking before `start` runs (so `start`, which
/// starts the daemon, is measured and setting the thread up is not); `start` runs on
/// the calling thread and its result is returned with what the watcher saw.
pub fn watch_socket_then_address<T>(
    host: &Host,
    address: IpAddr,
    timeout: Duration,
    start: impl FnOnce() -> T,
) -> (T, Result<SocketThenAddress, WatchError>) {
    let (watching_tx, watching_rx) = std::sync::mpsc::channel::<Instant>();
    let host = host.clone();
    std::thread::scope(|scope| {
        let watcher = scope.spawn(move || {
            host.in_netns(|| {
                measure_in_realtime();
                let first_look = Instant::now();
                if vrrp_socket_in_this_netns() {
                    return Ok(Err(WatchError::SocketAlreadyOpen));
                }
                let _ = watching_tx.send(first_look);
                let deadline = Instant::now() + timeout;
                let Some(socket) = bracket(
                    first_look,
                    deadline,
                    Duration::from_micros(250),
                    vrrp_socket_in_this_netns,
                ) else {
                    return Ok(Err(WatchError::NoSocket));
                };
                let address = bracket(
                    socket.first_seen,
                    deadline,
                    Duration::from_millis(1),
                    || {
                        nix::ifaddrs::getifaddrs().is_ok_and(|mut list| {
                            list.any(|entry| {
                                entry.address.is_some_and(|sockaddr| {
                                    sockaddr.as_sockaddr_in().map(|v4| IpAddr::V4(v4.ip()))
                                        == Some(address)
                                        || sockaddr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                                            == Some(address)
                                })
                            })
                        })
                    },
                );
                Ok(Ok(SocketThenAddress { socket, address }))
            })
            .unwrap_or_else(|error| Err(WatchError::Lab(error.to_string())))
        });
        // Waits for the watcher's first look (or its end, if it failed before it).
        let _ = watching_rx.recv();
        let started = start();
        let seen = watcher
            .join()
            .unwrap_or_else(|_| Err(WatchError::Lab("watcher thread panicked".into())));
        (started, seen)
    })
}

/// One way of running the user's pair: protocol version, advert interval, authentication.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// Short, unique per test binary: it names the lab's namespaces.
    pub tag: &'static str,
    /// VRRP version, written as the integer 2 or 3 (like keepalived).
    pub version: u8,
    pub advert: Duration,
    /// keepalived's `auth_type PASS` (VRRPv2 only).
    pub pass_auth: bool,
    /// Run alone (no other test of this binary at the same time).
    pub timing_sensitive: bool,
}

impl Variant {
    /// The user's setting: VRRPv2, simple-text password, 1 s adverts.
    pub const fn v2_pass_1s(tag: &'static str) -> Variant {
        Variant {
            tag,
            version: 2,
            advert: Duration::from_secs(1),
            pass_auth: true,
            timing_sensitive: false,
        }
    }

    /// VRRPv3 at `advert`; 10 ms and faster runs alone.
    pub const fn v3(tag: &'static str, advert: Duration) -> Variant {
        Variant {
            tag,
            version: 3,
            advert,
            pass_auth: false,
            timing_sensitive: advert.as_millis() <= 10,
        }
    }

    pub fn skew_time(&self, priority: u8) -> Duration {
        skew_time(self.advert, priority)
    }

    pub fn master_down_interval(&self, priority: u8) -> Duration {
        master_down_interval(self.advert, priority)
    }

    /// A vrrpd config with the user's instance VI_1 (VRID 50, the VIP on eth0) at
    /// `priority`; `extra` adds or overrides keys, `"instance"` ones inside the instance,
    /// the others at the top level.
    pub fn config(&self, priority: u8, extra: serde_json::Value) -> String {
        let authentication = if self.pass_auth {
            serde_json::json!({ "type": "pass", "password": "password" })
        } else {
            serde_json::json!({ "type": "none" })
        };
        let mut instance = serde_json::json!({
            "name": "VI_1",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": self.version,
            "priority": priority,
            "advert_interval_ms": self.advert.as_millis() as u64,
            "authentication": authentication,
            "virtual_addresses": [VIP],
            "garp_master_refresh_s": 60
        });
        let mut config = serde_json::Map::new();
        if let serde_json::Value::Object(extra) = extra {
            for (key, value) in extra {
                if key == "instance" {
                    if let serde_json::Value::Object(fields) = value {
                        for (field, value) in fields {
                            instance[field] = value;
                        }
                    }
                } else {
                    config.insert(key, value);
                }
            }
        }
        config.insert("instances".into(), serde_json::json!([instance]));
        serde_json::Value::Object(config).to_string()
    }
}

/// Whether `client`'s neighbour entry for `target` carries `mac`.
pub fn neighbour_is(client: &Host, target: IpAddr, mac: &str) -> bool {
    client.neighbour_mac(target).ok().flatten().as_deref() == Some(mac)
}

/// Waits (bounded) until `client`'s neighbour entry for `target` carries `holder`'s MAC
/// (its gratuitous ARP / unsolicited NA arrived); the error says what the entry held.
pub fn wait_for_neighbour(
    client: &Host,
    target: IpAddr,
    holder: &Host,
    timeout: Duration,
) -> Result<(), String> {
    let mac = holder.mac().map_err(|error| error.to_string())?;
    match wait_until(timeout, Duration::from_millis(10), || {
        neighbour_is(client, target, &mac)
    }) {
        Some(_) => Ok(()),
        None => Err(format!(
            "the client's neighbour entry for {target} should point at {} ({mac}) within {}, \
             found {:?}",
            holder.name(),
            secs(timeout),
            client.neighbour_mac(target)
        )),
    }
}

/// The client reaches `target` on `holder`: while it pings every 10 ms, its neighbour
/// entry moves to `holder`'s MAC, then at least 20 more pings are answered (waited for,
/// not timed: a loaded machine may pace the probe slower than every 10 ms).
pub fn assert_client_reaches(client: &Host, target: IpAddr, holder: &Host, arp_timeout: Duration) {
    let probe = Prober::start(
        client,
        target,
        Duration::from_millis(10),
        Duration::from_secs(10),
    )
    .unwrap();
    // The pings make the client resolve the target (if it has no entry yet).
    let moved = wait_for_neighbour(client, target, holder, arp_timeout);
    let answered = probe.wait_for_replies(20, Duration::from_secs(3));
    let report = probe.finish().unwrap();
    if let Err(message) = moved {
        panic!("{message}");
    }
    assert!(
        answered,
        "client pings to {target} on {}: {report}",
        holder.name()
    );
}

/// The longest time between two consecutive replies while the probe kept sending
/// regularly. A gap during which the probe itself paused (it was not scheduled on a
/// loaded machine: it neither sent nor read) says nothing about the VIP and is skipped;
/// a request that was never answered shows in [`ProbeReport::lost`] anyway.
pub fn longest_gap_while_probing(report: &ProbeReport) -> Duration {
    report
        .reply_times
        .windows(2)
        .filter(|pair| report.sent_regularly_between(pair[0], pair[1]))
        .map(|pair| pair[1].duration_since(pair[0]))
        .max()
        .unwrap_or_default()
}

/// A planned move lost nothing: the probe ran (≥ 50 requests), every request was
/// answered, and no two replies were further apart than `max_gap` while the probe ran
/// regularly. `event` (when given) places the longest gap in the printed summary.
pub fn assert_no_lost_reply(
    tag: &str,
    what: &str,
    report: &ProbeReport,
    max_gap: Duration,
    event: Option<Instant>,
) {
    let gap_while_probing = longest_gap_while_probing(report);
    let gap_at = match (event, report.longest_gap_at()) {
        (Some(event), Some((at, _))) => format!(
            "; longest gap at +{:.3} s after the event",
            at.saturating_duration_since(event).as_secs_f64()
        ),
        _ => String::new(),
    };
    eprintln!(
        "{tag}: {what}: client {report}{gap_at}; longest gap while the probe ran regularly {}",
        secs(gap_while_probing)
    );
    assert!(report.sent >= 50, "the probe ran: {report}");
    assert_eq!(
        report.lost(),
        0,
        "{what}: the client lost replies: {report}"
    );
    assert!(
        gap_while_probing < max_gap,
        "{what}: the client waited {} between two replies (at most {}): {report}",
        secs(gap_while_probing),
        secs(max_gap)
    );
}

/// The `--config` path a lab daemon was started with (from /proc), to edit it for a reload.
pub fn config_path_of(process: &vrrpd::lab::LabProcess) -> std::path::PathBuf {
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", process.pid())).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    let at = args.iter().position(|arg| arg == "--config").unwrap();
    std::path::PathBuf::from(&args[at + 1])
}

/// A background thread (e.g. one sending crafted adverts) that runs until `stop` is set.
/// Dropping this sets it and waits for the thread, also when the test fails and unwinds,
/// so the thread never outlives its test.
pub struct StoppingThread {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StoppingThread {
    pub fn new(
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        thread: std::thread::JoinHandle<()>,
    ) -> StoppingThread {
        StoppingThread {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and waits for it; a panic in the thread fails the test.
    pub fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the background thread panicked");
        }
    }
}

impl Drop for StoppingThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
