//! The event loop: the I/O shell around [`Node`], on two threads.
//!
//! It only translates. What the kernel, systemd and the operator say becomes a
//! [`NodeInput`] stamped with the one clock reading of this wake-up; what the node asks
//! ([`NodeAction`]) is done here, in order: sockets, netlink, GARP/NA, sd_notify, the
//! control socket's answers, tracker tasks, notify hooks, the demoted-set file. Every
//! decision is the node's (`core::node`), tested without root and simulated in
//! `tests/sim`.
//!
//! - **The protocol thread** (the caller of [`run`]) owns the node and every socket it
//!   sends or receives adverts on. It sleeps in one `epoll_pwait2` on the VRRP sockets
//!   and a wake-up eventfd, with the node's next deadline as the timeout
//!   ([`crate::driver::poller`]), and performs the node's actions in the order it
//!   returned them. An advert costs it the floor's system calls and no runtime turn.
//! - **The reactor thread** drives a current-thread tokio runtime for everything else:
//!   netlink, signals, the control and metrics sockets, checks and hooks. It forwards
//!   their events to the protocol thread through a channel and the eventfd
//!   ([`forward_events`]). When the node's action needs I/O that waits (adding an
//!   address, reading a netlink dump), the protocol thread runs it as a future that the
//!   reactor thread's driver completes ([`run_now`]), so the node's order still holds.
//!
//! The node is never shared, and the systemd watchdog is fed from the protocol loop, so
//! that a stalled loop is restarted by systemd instead of silently keeping stale VIPs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config::{self, Config, ConfigError};
use crate::core::node::LinkSnapshot;
use crate::core::node::{
    DemotedAtStart, IDLE_WAKE_UP, LoadedConfig, LogLevel, Node, NodeAction, NodeInput,
};
use crate::driver::checks::{CheckSetupError, TrackerReport, spawn_tracker};
use crate::driver::control::{ControlRequest, ControlServer, Response};
use crate::driver::demoted::{DemotedStore, Loaded};
use crate::driver::interfaces::{self, Interfaces, RaisedArpSettings, Received, place};
use crate::driver::metrics::MetricsServer;
use crate::driver::netlink::{
    AddressWriter, Change, KernelEvent, LinkWatcher, Netlink, NetlinkError,
};
use crate::driver::notify::{NotifyQueue, hooks_for, priority_hook_for};
use crate::driver::poller::{Poller, Ready, Wake, WatchedSocket};
use crate::driver::routing::{self, RoutingEvent};
use crate::driver::socket::{self, OutgoingAdvert, RECEIVE_BATCH, ReceiveBatch};
use crate::driver::systemd::Notifier;
use crate::driver::{memory, realtime};

/// Datagrams read per socket when the sockets are drained before a late timer: a flood
/// is left in the socket's own buffer (which eventually drops it) rather than holding
/// back the timers.
const EVENT_QUEUE_LEN: usize = 256;
/// Events from the reactor thread handled per wake-up before the sockets and the timer
/// get their turn (the rest wait for the next wake-up, which is then immediate).
const FORWARDED_PER_WAKE_UP: usize = 64;
/// Pause after a receive error so a persistent one cannot spin the CPU.
const RECEIVE_ERROR_PAUSE: Duration = Duration::from_millis(200);
/// A wake-up later than this after the time it was due means the loop was stalled:
/// adverts may then have arrived after the wait returned, so it reads the sockets
/// before firing (see the timer branch). An on-time wake-up is tens of microseconds
/// late; checking only past this saves a read returning EAGAIN on every advert.
const LATE_WAKE_DRAIN: Duration = Duration::from_millis(1);

/// How long no instance must have changed state before the loop gives back the memory
/// that the last transitions touched (see `release_due` in the protocol loop). Long enough
/// for a transition's follow-ups (the second burst of gratuitous ARPs, hooks, a sync
/// group's members) at the user's one-second adverts; the release reads /proc/self/smaps
/// (about 1 ms here, on the protocol thread), so flapping instances do not pay it per
/// transition.
const RELEASE_AFTER_QUIET: Duration = Duration::from_secs(10);
/// Check results waiting for the loop.
const TRACKER_QUEUE_LEN: usize = 64;
/// Control and metrics requests waiting for the loop.
const CONTROL_QUEUE_LEN: usize = 16;
/// Checked configs of reloads waiting for the loop (one per SIGHUP in flight).
const RELOAD_QUEUE_LEN: usize = 4;
/// How long the exit waits for queued notify hooks (e.g. the STOP hooks) to finish.
const NOTIFY_DRAIN_BOUND: Duration = Duration::from_secs(60);

/// Why the daemon could not run. [`RunError::exit_code`] maps it to the CLI's exit status.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start the event loop: {0}")]
    Runtime(#[source] io::Error),
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("cannot open the {what} on interface {interface}: {source}")]
    Socket {
        what: &'static str,
        interface: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "({instance}) interface {interface} has no {family} address to send advertisements from; \
         add one or set source_address"
    )]
    NoLocalAddress {
        instance: String,
        interface: String,
        family: &'static str,
    },
    #[error(transparent)]
    Tracker(#[from] CheckSetupError),
    #[error("cannot serve metrics on {address}: {source}")]
    Metrics {
        address: String,
        #[source]
        source: io::Error,
    },
}

impl RunError {
    /// 2 for a configuration problem, 1 for anything else (see `vrrpd --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_) | RunError::Tracker(_) => 2,
            _ => 1,
        }
    }
}

/// Load `config_path` and run until SIGTERM/SIGINT. Blocks the calling thread, which
/// becomes the protocol thread (see the module documentation).
pub fn run(config_path: &Path) -> Result<(), RunError> {
    memory::share_one_heap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    // The schema check runs in a child process (see config::isolated): the validator's
    // code and heap never become part of the long-running daemon.
    let config = runtime.block_on(config::isolated::load_file(config_path))?;
    let handle = runtime.handle().clone();
    // Declared first, dropped last: everything below that holds tokio resources is
    // dropped while the reactor still runs.
    let reactor = ReactorThread::start(runtime)?;
    let _context = handle.enter();
    let result = run_protocol(
        &handle,
        config_path.to_path_buf(),
        config,
        Notifier::from_env(),
    );
    drop(_context);
    drop(reactor);
    result
}

/// The thread that drives the tokio runtime: its reactor (netlink, signals, the control
/// and metrics sockets, child processes) and every task (checks, hooks, forwarding events
/// to the protocol thread). It runs at the protocol thread's scheduling class, since the
/// protocol thread waits for it when it adds addresses during a takeover.
struct ReactorThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReactorThread {
    fn start(runtime: tokio::runtime::Runtime) -> Result<Self, RunError> {
        let (stop, stopped) = oneshot::channel::<()>();
        let scheduling = realtime::current_scheduling();
        let thread = std::thread::Builder::new()
            .name("vrrpd-reactor".into())
            .spawn(move || {
                realtime::apply_scheduling(scheduling);
                // Returns when `stop` is sent or dropped; the runtime (and its remaining
                // tasks) is dropped with this thread.
                let _ = runtime.block_on(stopped);
            })
            .map_err(RunError::Runtime)?;
        Ok(ReactorThread {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ReactorThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Run `future` on the protocol thread: polled once here, which completes what needs no
/// I/O wait (sending an advert, logging a transition) with no runtime around it; only a
/// future that must wait (netlink, a reply) parks the thread until the reactor thread
/// wakes it.
fn run_now<F: Future>(runtime: &tokio::runtime::Handle, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        // Polled again with a real waker, which replaces the no-op one everywhere it was
        // registered.
        Poll::Pending => runtime.block_on(future),
    }
}

/// What the loop owns besides the node: the kernel and systemd side.
struct Shell {
    config_path: PathBuf,
    node: Node,
    netlink: Netlink,
    /// Virtual addresses go up through this one, on the protocol thread (see AddressWriter).
    address_writer: AddressWriter,
    notifier: Notifier,
    interfaces: Interfaces,
    /// What the virtual MACs raised on their parents, to put back (see RaisedArpSettings).
    raised_arp: RaisedArpSettings,
    /// Adverts queued by `feed` (kept between wake-ups: no allocation per advert).
    pending_adverts: Vec<PendingAdvert>,
    trackers: Vec<JoinHandle<()>>,
    tracker_reports: mpsc::Sender<TrackerReport>,
    notify: NotifyQueue,
    demoted_store: DemotedStore,
    /// Where a reload's task sends the checked new config (see `NodeAction::LoadConfig`).
    reloaded: mpsc::Sender<(u64, Result<Config, ConfigError>)>,
    /// Control requests the node has not answered yet, by request id.
    replies: HashMap<u64, oneshot::Sender<Response>>,
    next_request: u64,
    /// A tracker that cannot start at start-up is a config error: the daemon exits.
    startup_failure: Option<RunError>,
    starting: bool,
    exited: bool,
    /// Work that waits on I/O ran since the protocol loop last looked (see
    /// [`Self::take_io_performed`]): it may have opened sockets.
    io_performed: bool,
    /// An instance changed state since the protocol loop last looked (a transition, a
    /// placement on its interface, a demote or promote; see [`Self::take_transitioned`]).
    transitioned: bool,
}

impl Drop for Shell {
    fn drop(&mut self) {
        for task in &self.trackers {
            task.abort();
        }
    }
}

/// The sources of the reactor thread's events, moved into [`forward_events`].
struct EventSources {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
    link_watcher: LinkWatcher,
    routing_watcher: Option<routing::RoutingWatcher>,
    reports: mpsc::Receiver<TrackerReport>,
    control: mpsc::Receiver<ControlRequest>,
    reloads: mpsc::Receiver<(u64, Result<Config, ConfigError>)>,
}

fn run_protocol(
    runtime: &tokio::runtime::Handle,
    config_path: PathBuf,
    config: Config,
    notifier: Notifier,
) -> Result<(), RunError> {
    let (mut shell, sources, servers) = runtime.block_on(start(config_path, config, notifier))?;
    let mut poller = Poller::new().map_err(RunError::Runtime)?;
    let (events, forwarded) = std::sync::mpsc::channel();
    let forwarder = runtime.spawn(forward_events(sources, events, poller.waker()));
    let failure = protocol_loop(runtime, &mut shell, &mut poller, &forwarded);
    forwarder.abort();
    if !shell.exited {
        // The loop cannot go on: stop at once (priority 0 from masters, addresses removed).
        shell.feed_now(runtime, Instant::now(), NodeInput::StopNow);
    }
    for task in shell.trackers.drain(..) {
        task.abort();
    }
    runtime.block_on(shell.notify.finish(NOTIFY_DRAIN_BOUND));
    drop(servers);
    match failure {
        None => {
            info!("vrrpd stopped");
            Ok(())
        }
        Some(error) => Err(error),
    }
}

/// The control socket and the metrics endpoint, kept open while the daemon runs.
struct Servers {
    _control: Option<ControlServer>,
    _metrics: Option<MetricsServer>,
}

/// Open everything, place every instance and start the node (on the protocol thread,
/// waiting for the reactor thread where netlink must answer).
async fn start(
    config_path: PathBuf,
    config: Config,
    notifier: Notifier,
) -> Result<(Shell, EventSources, Servers), RunError> {
    let signal_handler = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| RunError::Signal {
            signal: name,
            source,
        })
    };
    let terminate = signal_handler(SignalKind::terminate(), "SIGTERM")?;
    let interrupt = signal_handler(SignalKind::interrupt(), "SIGINT")?;
    let hangup = signal_handler(SignalKind::hangup(), "SIGHUP")?;
    let link_watcher = LinkWatcher::open()?;
    // Virtual routes and rules: subscribed before anything is added.
    let routing_watcher = routing::watcher_for(&config)?;
    let (tracker_reports, reports) = mpsc::channel(TRACKER_QUEUE_LEN);
    let (control_requests, control) = mpsc::channel(CONTROL_QUEUE_LEN);
    let (reloaded, reloads) = mpsc::channel(RELOAD_QUEUE_LEN);
    let netlink = Netlink::connect()?;
    let address_writer = AddressWriter::open()?;
    let demoted_store = DemotedStore::new(config.state_directory_path());
    let demoted = match demoted_store.load() {
        Loaded::Instances(names) => DemotedAtStart::Instances(names),
        Loaded::Unreadable(problem) => DemotedAtStart::Unreadable(problem),
    };
    // Control socket and metrics first: they are how an operator sees what follows.
    let control_path = PathBuf::from(config.control_socket_path());
    let control_server = match ControlServer::bind(&control_path, control_requests.clone()).await {
        Ok(server) => Some(server),
        Err(error) => {
            // Not fatal: VRRP matters more than `vrrpd status`.
            warn!("{error}; `vrrpd status` will not work");
            None
        }
    };
    let metrics_server = match &config.metrics_listen {
        None => None,
        Some(listen) => {
            let address = listen.parse().map_err(|_| RunError::Metrics {
                address: listen.clone(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not IP:port"),
            })?;
            let server = MetricsServer::bind(address, control_requests.clone())
                .await
                .map_err(|source| RunError::Metrics {
                    address: listen.clone(),
                    source,
                })?;
            info!("serving metrics on http://{address}/metrics");
            Some(server)
        }
    };
    drop(control_requests);
    // Every instance's interface and source address, and its sockets, before anything
    // starts: an instance that cannot run is a start-up error that leaves nothing behind.
    let mut interfaces = Interfaces::new();
    let mut raised_arp = RaisedArpSettings::default();
    let mut placements = BTreeMap::new();
    for instance in &config.instances {
        let placement = match place(&netlink, &mut interfaces, &mut raised_arp, instance).await {
            Ok(placement) => Ok(placement),
            // An interface that does not exist yet, or has no address yet, is waited for
            // (the instance starts in FAULT); anything else (a socket we may not open) is
            // a start-up error.
            Err(
                error @ (RunError::Netlink(NetlinkError::NoSuchInterface(_))
                | RunError::NoLocalAddress { .. }),
            ) => Err(error.to_string()),
            Err(error) => return Err(error),
        };
        placements.insert(instance.name.clone(), placement);
    }
    let started = Instant::now();
    let node = Node::new(config, placements, demoted, started, unix_ms_now());
    let mut shell = Shell {
        config_path,
        node,
        netlink,
        address_writer,
        notifier,
        interfaces,
        raised_arp,
        pending_adverts: Vec::new(),
        trackers: Vec::new(),
        tracker_reports,
        notify: NotifyQueue::start(),
        demoted_store,
        reloaded,
        replies: HashMap::new(),
        next_request: 0,
        startup_failure: None,
        starting: true,
        exited: false,
        io_performed: true,
        transitioned: false,
    };
    shell.feed(started, NodeInput::Start).await;
    shell.starting = false;
    if let Some(failure) = shell.startup_failure.take() {
        return Err(failure);
    }
    let sources = EventSources {
        terminate,
        interrupt,
        hangup,
        link_watcher,
        routing_watcher,
        reports,
        control,
        reloads,
    };
    let servers = Servers {
        _control: control_server,
        _metrics: metrics_server,
    };
    Ok((shell, sources, servers))
}

/// On the reactor thread: hand every event that is not a datagram or a timer to the
/// protocol thread, in the order they come, and wake it. Ends when the protocol thread
/// has gone (its receiver dropped) or a netlink monitor cannot be reopened.
async fn forward_events(
    mut sources: EventSources,
    events: std::sync::mpsc::Sender<Event>,
    wake: Arc<Wake>,
) {
    loop {
        let event = tokio::select! {
            // Signals first: nothing else may delay a stop.
            biased;
            _ = sources.terminate.recv() => Event::Stop("SIGTERM"),
            _ = sources.interrupt.recv() => Event::Stop("SIGINT"),
            _ = sources.hangup.recv() => Event::Reload,
            Some((generation, loaded)) = sources.reloads.recv() => {
                // Virtual routes and rules: the first config that has some opens the
                // watcher, before the protocol thread applies it (and adds them).
                if sources.routing_watcher.is_none()
                    && let Ok(config) = &loaded
                {
                    match routing::watcher_for(config) {
                        Ok(watcher) => sources.routing_watcher = watcher,
                        Err(error) => error!(
                            "cannot watch routes and rules: {error}; a virtual route or rule \
                             that someone removes will not be put back"
                        ),
                    }
                }
                Event::Reloaded(generation, loaded)
            }
            event = sources.link_watcher.next() => match event {
                Some(event) => Event::Link(event),
                None => {
                    warn!("the netlink link monitor closed; reopening it");
                    match LinkWatcher::open() {
                        Ok(reopened) => {
                            sources.link_watcher = reopened;
                            continue;
                        }
                        Err(error) => Event::Failed(RunError::from(error)),
                    }
                }
            },
            event = routing::next_event(&mut sources.routing_watcher) => match event {
                Some(event) => Event::Routing(event),
                None => {
                    warn!("the netlink route monitor closed; reopening it");
                    match routing::RoutingWatcher::open() {
                        Ok(reopened) => {
                            sources.routing_watcher = Some(reopened);
                            continue;
                        }
                        Err(error) => Event::Failed(RunError::from(error)),
                    }
                }
            },
            Some(report) = sources.reports.recv() => Event::Tracker(report),
            Some(request) = sources.control.recv() => Event::Control(request),
        };
        let last = matches!(event, Event::Failed(_));
        if events.send(event).is_err() {
            return;
        }
        wake.wake();
        if last {
            return;
        }
    }
}

/// The protocol loop: sleep on the sockets and the wake-up until the node's next
/// deadline, then hand what happened to the node, in this order: the other thread's
/// events (signals, netlink, control, checks), datagrams, and the timer.
// Never inlined: its caller's frame holds start-up's future (about 23 KiB), which the
// loop's hot locals would otherwise be spread across; the loop's own frame is 1.4 KiB
// (the receive batch lives on the heap, and the loop's rare work in functions of its own).
#[inline(never)]
#[unsafe(link_section = ".text.hot.vrrpd")]
fn protocol_loop(
    runtime: &tokio::runtime::Handle,
    shell: &mut Shell,
    poller: &mut Poller,
    forwarded: &std::sync::mpsc::Receiver<Event>,
) -> Option<RunError> {
    release_startup_memory();
    // The loop reads the sockets itself (one batch of buffers, reused): a read per
    // datagram would cost a system call each (see RECEIVE_BATCH).
    let mut batch = ReceiveBatch::new();
    let mut ready = Ready::default();
    // After a receive error, reading waits until then.
    let mut receive_paused_until: Option<Instant> = None;
    // A burst of adverts is being left to queue until then (see Node::receive_coalescing),
    // and when the last such wait ended.
    let mut coalescing_until: Option<Instant> = None;
    let mut coalescing_ended: Option<Instant> = None;
    // The systemd watchdog is fed from this loop, so that a stalled loop is restarted.
    let watchdog_period = shell.notifier.watchdog_interval();
    let mut watchdog_due = watchdog_period.map(|period| Instant::now() + period);
    // Start-up's memory is given back as the loop begins, but the instances' first
    // transitions come after that (a backup becomes master a Master_Down_Interval later),
    // and so do a takeover's and a reload's: the code they ran (addresses, GARP, hooks,
    // logging) stays mapped in 64 KiB blocks, about a megabyte more than the steady state
    // runs. Given back again once no instance has changed state for RELEASE_AFTER_QUIET.
    let mut release_due: Option<Instant> = None;
    // A SIGHUP, and checked configs, that wait until the node accepts a reload.
    let mut reload_requested = false;
    let mut reloads_held: VecDeque<(u64, Result<Config, ConfigError>)> = VecDeque::new();
    // The one clock reading of the previous wake-up: deadlines are compared with it.
    let mut now = Instant::now();
    while !shell.exited {
        // Sockets are opened only by work that waits on I/O (placing an instance, a
        // reload), never on the hot path of an advert: look again only after such work.
        if shell.take_io_performed()
            && let Err(error) = poller.follow(&shell.interfaces)
        {
            return Some(RunError::Runtime(error));
        }
        if receive_paused_until.is_some_and(|until| until <= now) {
            receive_paused_until = None;
        }
        // Idle instances (Initialize/Fault) have no deadline; wake up hourly anyway.
        let deadline = shell
            .node
            .next_deadline()
            .unwrap_or_else(|| now + IDLE_WAKE_UP);
        let mut wake_at = deadline;
        for at in [
            receive_paused_until,
            coalescing_until,
            watchdog_due,
            release_due,
        ]
        .into_iter()
        .flatten()
        {
            wake_at = wake_at.min(at);
        }
        let receiving = receive_paused_until.is_none() && coalescing_until.is_none();
        if let Err(error) = poller.wait(wake_at, receiving, &mut ready) {
            return Some(RunError::Runtime(error));
        }
        // The one clock reading of this wake-up.
        now = Instant::now();

        if ready.woken {
            // Bounded, so that a flood of netlink notifications cannot hold back an advert
            // that is due: what is left waits for the next wake-up, which comes at once.
            let mut handled = 0;
            while let Ok(event) = forwarded.try_recv() {
                handled += 1;
                if handled == FORWARDED_PER_WAKE_UP {
                    poller.waker().wake();
                }
                match event {
                    Event::Failed(error) => return Some(error),
                    Event::Reload => reload_requested = true,
                    Event::Reloaded(generation, loaded) => {
                        reloads_held.push_back((generation, loaded));
                    }
                    event => shell.handle_event_now(runtime, now, event),
                }
                if shell.exited {
                    return None;
                }
                if handled >= FORWARDED_PER_WAKE_UP {
                    break;
                }
            }
        }
        // Not taken while the node refuses reloads (during a stop or a reload): the
        // request waits, as an unhandled signal would.
        if shell.node.accepts_reload() && reload_requested {
            reload_requested = false;
            info!("SIGHUP received, reloading {}", shell.config_path.display());
            shell.feed_now(runtime, now, NodeInput::ReloadRequested);
        }
        while shell.node.accepts_reload()
            && let Some((generation, loaded)) = reloads_held.pop_front()
        {
            shell.reloaded_config_now(runtime, now, generation, loaded);
            release_startup_memory();
        }
        if watchdog_due.is_some_and(|due| due <= now) {
            shell.notifier.watchdog();
            watchdog_due = watchdog_period.map(|period| now + period);
        }
        if shell.take_transitioned() {
            release_due = Some(now + RELEASE_AFTER_QUIET);
        } else if release_due.is_some_and(|due| due <= now) {
            release_due = None;
            release_startup_memory();
        }

        // Before the timer: an advert that arrived before the deadline must reset it
        // first (RFC 3768 §6.4.2, RFC 9568 §6.4.2). One batch per socket per wake-up, so
        // a flood cannot hold back a due timer (the rest stays queued: level-triggered).
        for &token in &ready.sockets {
            if receive_paused_until.is_some() || shell.exited {
                break;
            }
            let Some(socket) = poller.socket(token) else {
                continue;
            };
            let (ifindex, ipv6) = (socket.ifindex(), socket.ipv6());
            let count = match socket.try_recv_batch(&mut batch) {
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => {
                    let family = if ipv6 { " (IPv6)" } else { "" };
                    warn!("receive error on {}{family}: {error}", socket.interface());
                    receive_paused_until = Some(now + RECEIVE_ERROR_PAUSE);
                    continue;
                }
            };
            let received = Received {
                ifindex,
                ipv6,
                count,
            };
            // In arrival order, all stamped with this wake-up's clock reading: they
            // were queued together.
            for input in received.inputs(&batch) {
                shell.feed_now(runtime, now, input);
            }
            // The first read of a burst of many instances' adverts: let the rest of it
            // queue, and read it in one go when the window ends (or before any timer of
            // the node fires), instead of waking for every few of them.
            let window = shell.node.receive_coalescing(ifindex);
            let just_ended = coalescing_ended
                .zip(window)
                .is_some_and(|(ended, window)| now.saturating_duration_since(ended) <= window);
            if count < RECEIVE_BATCH
                && !just_ended
                && let Some(window) = window
                && coalescing_until.is_none()
            {
                coalescing_until = Some(now + window);
            }
        }

        let coalescing_over = coalescing_until.is_some_and(|until| until <= now);
        // The deadline this wait was for. An advert read above can only have moved it
        // later (a backup's Master_Down_Timer); the node fires only what is still due,
        // and anything that became due sooner is this loop's next deadline.
        let deadline_passed = deadline <= now;
        if !shell.exited && (deadline_passed || coalescing_over) {
            // A stalled loop may have slept through an advert's arrival without reading
            // it yet, and a coalescing window left adverts queued on purpose: read what
            // the sockets hold (bounded), and only then fire what is due, so that no
            // advert that arrived in time is missed.
            let coalesced = coalescing_until.take().is_some();
            if coalesced {
                coalescing_ended = Some(now);
            }
            let late = now.saturating_duration_since(wake_at) > LATE_WAKE_DRAIN + poller.rounding();
            if (coalesced || late) && receive_paused_until.is_none() {
                shell.drain_sockets(runtime, now, &mut batch);
            }
            shell.feed_now(runtime, now, NodeInput::Timeout);
        }
    }
    None
}

/// An advert the node asked for, waiting to go out with the ones after it.
struct PendingAdvert {
    instance: usize,
    ifindex: u32,
    source: IpAddr,
    destination: IpAddr,
    message: Vec<u8>,
}

/// What the reactor thread hands the protocol thread.
enum Event {
    Stop(&'static str),
    Reload,
    Reloaded(u64, Result<Config, ConfigError>),
    Link(KernelEvent),
    Routing(RoutingEvent),
    Tracker(TrackerReport),
    Control(ControlRequest),
    /// A netlink monitor closed and cannot be reopened: the daemon stops.
    Failed(RunError),
}

/// Give back what start-up used and the steady state does not (see driver::memory): the
/// daemon then runs for months on a small working set.
fn release_startup_memory() {
    let released = memory::release_startup_memory(realtime::memory_locked());
    debug!(
        "released {} KiB of start-up code and data in {} mappings",
        released.resident_kib, released.mappings
    );
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

impl Shell {
    /// One event from the reactor thread (reloads are held by the loop until the node
    /// accepts them; a failure ends the loop).
    async fn handle_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Stop(signal) => {
                if self.node.stopping() {
                    info!("{signal} received again, stopping at once");
                } else {
                    info!("{signal} received, stopping");
                }
                self.feed(now, NodeInput::Stop).await;
            }
            Event::Reload | Event::Reloaded(..) | Event::Failed(_) => {
                debug!("an event the loop handles itself reached the shell");
            }
            Event::Link(KernelEvent::Link(link)) => {
                let input = NodeInput::Link {
                    ifindex: link.index,
                    name: link.name,
                    up: link.up,
                    mac: link.mac,
                    mtu: link.mtu,
                };
                self.feed(now, input).await;
            }
            Event::Link(KernelEvent::LinkGone { index }) => {
                self.feed(now, NodeInput::LinkGone { ifindex: index }).await;
            }
            Event::Link(KernelEvent::Overrun) => self.resync(now).await,
            Event::Link(KernelEvent::Address {
                index,
                address,
                present,
            }) => {
                let input = NodeInput::Address {
                    ifindex: index,
                    address,
                    present,
                };
                self.feed(now, input).await;
            }
            Event::Routing(RoutingEvent::Route { key, present }) => {
                let input = NodeInput::Route {
                    route: key,
                    present,
                };
                self.feed(now, input).await;
            }
            Event::Routing(RoutingEvent::Rule { rule, present }) => {
                self.feed(now, NodeInput::Rule { rule, present }).await;
            }
            Event::Routing(RoutingEvent::Overrun) => {
                match routing::read_ours(&self.netlink).await {
                    Ok((routes, rules)) => {
                        let input = NodeInput::RoutingResync { routes, rules };
                        self.feed(now, input).await;
                    }
                    Err(error) => error!(
                        "route and rule notifications were lost and they cannot be re-read: {error}"
                    ),
                }
            }
            Event::Tracker(report) => {
                let input = NodeInput::TrackerResult {
                    tracker: report.tracker,
                    generation: report.generation,
                    healthy: report.outcome.healthy,
                    value: report.outcome.value,
                    detail: report.outcome.detail,
                };
                self.feed(now, input).await;
            }
            Event::Control(request) => {
                self.next_request += 1;
                let id = self.next_request;
                self.replies.insert(id, request.reply);
                let input = NodeInput::Control {
                    request: id,
                    command: request.command,
                };
                self.feed(now, input).await;
            }
        }
    }

    /// Hand one input to the node and perform everything it asks, in order (answers the
    /// shell owes the node, such as a persisted demoted set, are fed back on the way).
    /// For the shell's async paths (start-up, a reload, a resync, the reactor's events).
    async fn feed(&mut self, now: Instant, input: NodeInput<'_>) {
        self.node.handle(now, input);
        let mut adverts = std::mem::take(&mut self.pending_adverts);
        let first = self.queue_adverts(&mut adverts);
        self.perform_in_order(now, &mut adverts, first).await;
        self.pending_adverts = adverts;
    }

    /// [`Self::feed`] for the protocol loop's hot path (an advert received, a timer
    /// fired): a lone advert goes out with one `sendmsg` and no future around it. The first
    /// action that waits on I/O (netlink, a reply), and everything after it, is a future
    /// that [`run_now`] completes, so the node's order holds.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn feed_now(&mut self, runtime: &tokio::runtime::Handle, now: Instant, input: NodeInput<'_>) {
        self.node.handle(now, input);
        let mut adverts = std::mem::take(&mut self.pending_adverts);
        match self.queue_adverts(&mut adverts) {
            None => self.send_adverts_now(runtime, &mut adverts),
            first => self.perform_in_order_now(runtime, now, &mut adverts, first),
        }
        self.pending_adverts = adverts;
    }

    // The futures below are large (the state of every action that waits on I/O), and a
    // future lives in the frame of the function that runs it. Each runs in a function of
    // its own, never inlined, so that the hot path's frames do not carry them: feed_now's
    // is 680 bytes, where it was 2.5 KiB with perform_in_order's future inside.

    #[inline(never)]
    fn perform_in_order_now(
        &mut self,
        runtime: &tokio::runtime::Handle,
        now: Instant,
        adverts: &mut Vec<PendingAdvert>,
        first: Option<NodeAction>,
    ) {
        self.io_performed = true;
        run_now(runtime, self.perform_in_order(now, adverts, first));
    }

    #[inline(never)]
    fn handle_event_now(&mut self, runtime: &tokio::runtime::Handle, now: Instant, event: Event) {
        self.io_performed = true;
        run_now(runtime, self.handle_event(now, event));
    }

    #[inline(never)]
    fn reloaded_config_now(
        &mut self,
        runtime: &tokio::runtime::Handle,
        now: Instant,
        generation: u64,
        loaded: Result<Config, ConfigError>,
    ) {
        self.io_performed = true;
        run_now(runtime, self.reloaded_config(now, generation, loaded));
    }

    #[inline(never)]
    fn send_adverts_waiting(
        &mut self,
        runtime: &tokio::runtime::Handle,
        adverts: &mut Vec<PendingAdvert>,
    ) {
        run_now(runtime, self.send_adverts(adverts));
    }

    /// Whether work that waits on I/O ran since the last call: everything but
    /// [`Self::feed_now`]'s hot path (a received advert, a sent one) counts.
    fn take_io_performed(&mut self) -> bool {
        std::mem::take(&mut self.io_performed)
    }

    /// Whether an instance changed state since the last call.
    fn take_transitioned(&mut self) -> bool {
        std::mem::take(&mut self.transitioned)
    }

    /// Take the node's actions up to the first one that is not an advert, which is
    /// returned. Adverts that follow one another (a master's instances falling due
    /// together) are queued, to go out with one sendmmsg per interface and family.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn queue_adverts(&mut self, adverts: &mut Vec<PendingAdvert>) -> Option<NodeAction> {
        while let Some(action) = self.node.poll_action() {
            if self.startup_failure.is_some() {
                // Start-up failed: perform nothing more (no address was touched yet).
                continue;
            }
            match action {
                NodeAction::SendAdvertisement {
                    instance,
                    ifindex,
                    source,
                    destination,
                    message,
                } => adverts.push(PendingAdvert {
                    instance,
                    ifindex,
                    source,
                    destination,
                    message,
                }),
                action => return Some(action),
            }
        }
        None
    }

    /// Send the queued adverts, perform `next`, and go on with the node's further
    /// actions: each action after what came before it, so that the node's order holds
    /// (address, GARP, then advert).
    async fn perform_in_order(
        &mut self,
        now: Instant,
        adverts: &mut Vec<PendingAdvert>,
        mut next: Option<NodeAction>,
    ) {
        while let Some(action) = next {
            self.send_adverts(adverts).await;
            self.perform(now, action).await;
            next = self.queue_adverts(adverts);
        }
        self.send_adverts(adverts).await;
    }

    /// [`Self::send_adverts`] without a future for the common case, one advert whose
    /// socket has room: one `sendmsg`. A batch, or a full socket buffer, takes the path
    /// that waits.
    fn send_adverts_now(
        &mut self,
        runtime: &tokio::runtime::Handle,
        adverts: &mut Vec<PendingAdvert>,
    ) {
        if let [advert] = adverts.as_slice()
            && let Some(interface) = self.interfaces.get(&advert.ifindex)
        {
            let outgoing = OutgoingAdvert {
                message: &advert.message,
                destination: advert.destination,
                source: advert.source,
            };
            match interfaces::try_send_advertisement(interface, &outgoing) {
                Err(error) if socket::send_buffer_full(&error) => {}
                result => {
                    if let Err(error) = result {
                        self.warn_unsent(advert, &interface.name, &error);
                    }
                    for advert in adverts.drain(..) {
                        self.node.recycle_message(advert.message);
                    }
                    return;
                }
            }
        }
        if !adverts.is_empty() {
            self.send_adverts_waiting(runtime, adverts);
        }
    }

    fn warn_unsent(&self, advert: &PendingAdvert, interface: &str, error: &io::Error) {
        let name = self.node.instance_name(advert.instance).unwrap_or("?");
        let to = if advert.destination.is_multicast() {
            String::new()
        } else {
            format!(" to {}", advert.destination)
        };
        warn!("({name}) cannot send an advertisement{to} on {interface}: {error}");
    }

    /// Send the queued adverts, in order: each run of adverts on the same interface and
    /// family with one `sendmmsg`, a lone advert with one `sendmsg`.
    async fn send_adverts(&mut self, adverts: &mut Vec<PendingAdvert>) {
        let mut start = 0;
        while start < adverts.len() {
            let first = &adverts[start];
            let key = (first.ifindex, first.source.is_ipv6());
            let end = adverts[start..]
                .iter()
                .position(|advert| (advert.ifindex, advert.source.is_ipv6()) != key)
                .map_or(adverts.len(), |length| start + length);
            let run = &adverts[start..end];
            start = end;
            let Some(interface) = self.interfaces.get(&key.0) else {
                continue;
            };
            let failures: Vec<(usize, io::Error)> = if let [advert] = run {
                interfaces::send_advertisement(
                    interface,
                    advert.source,
                    advert.destination,
                    &advert.message,
                )
                .await
                .err()
                .map(|error| (0, error))
                .into_iter()
                .collect()
            } else {
                let outgoing: Vec<OutgoingAdvert<'_>> = run
                    .iter()
                    .map(|advert| OutgoingAdvert {
                        message: &advert.message,
                        destination: advert.destination,
                        source: advert.source,
                    })
                    .collect();
                interfaces::send_advertisements(interface, &outgoing).await
            };
            for (position, error) in failures {
                self.warn_unsent(&run[position], &interface.name, &error);
            }
        }
        for advert in adverts.drain(..) {
            self.node.recycle_message(advert.message);
        }
    }

    async fn perform(&mut self, now: Instant, action: NodeAction) {
        match action {
            // `feed` queues adverts to send them together; one that comes here goes alone.
            NodeAction::SendAdvertisement {
                instance,
                ifindex,
                source,
                destination,
                message,
            } => {
                let mut alone = vec![PendingAdvert {
                    instance,
                    ifindex,
                    source,
                    destination,
                    message,
                }];
                self.send_adverts(&mut alone).await;
            }
            NodeAction::AddAddresses {
                instance,
                ifindex,
                addresses,
            } => {
                // Up to ADDRESS_BATCH requests per system call, applied and answered in
                // order: a takeover's last address is up after a few system calls for all
                // of them, not a round trip through the reactor thread each.
                let results = self.address_writer.add_addresses(ifindex, &addresses);
                for ((address, prefix_len), result) in addresses.into_iter().zip(results) {
                    match result {
                        Ok(Change::Done) => debug!("({instance}) added {address}/{prefix_len}"),
                        Ok(Change::AlreadyThatWay) => {
                            debug!("({instance}) {address} was already present")
                        }
                        Err(error) => error!(
                            "({instance}) cannot add virtual address {address}/{prefix_len}: {error}"
                        ),
                    }
                }
            }
            NodeAction::RemoveAddresses {
                instance,
                ifindex,
                addresses,
                leftover,
            } => {
                let interface = self.interface_name(ifindex);
                for (address, _) in addresses {
                    match (
                        self.netlink.remove_address(ifindex, address).await,
                        leftover,
                    ) {
                        (Ok(Change::Done), true) => info!(
                            "({instance}) removed {address} from {interface}: it was left over, \
                             and we are not master"
                        ),
                        (Ok(Change::Done), false) => debug!("({instance}) removed {address}"),
                        (Ok(Change::AlreadyThatWay), true) => {}
                        (Ok(Change::AlreadyThatWay), false) => {
                            debug!("({instance}) {address} was already absent")
                        }
                        (Err(error), true) => {
                            warn!("({instance}) cannot remove leftover {address}: {error}")
                        }
                        (Err(error), false) => {
                            error!("({instance}) cannot remove virtual address {address}: {error}")
                        }
                    }
                }
            }
            action @ (NodeAction::AddRoutes { .. }
            | NodeAction::RemoveRoutes { .. }
            | NodeAction::AddRules { .. }
            | NodeAction::RemoveRules { .. }) => routing::perform(&self.netlink, action).await,
            NodeAction::SendGratuitousArp {
                instance,
                ifindex,
                address,
                frame,
            } => {
                let interface = self.interfaces.get(&ifindex);
                if let Some(Err(error)) = interface.and_then(|interface| {
                    interface.garp.as_ref().map(|garp| garp.send_frame(&frame))
                }) {
                    let name = self.interface_name(ifindex);
                    warn!("({instance}) cannot announce {address} on {name}: {error}");
                }
            }
            NodeAction::SendNeighbourAdvertisement {
                instance,
                ifindex,
                address,
                source,
                message,
            } => {
                let interface = self.interfaces.get(&ifindex);
                if let Some(Err(error)) = interface.and_then(|interface| {
                    interface
                        .neighbour_advertiser
                        .as_ref()
                        .map(|advertiser| advertiser.send_message(&message, source))
                }) {
                    let name = self.interface_name(ifindex);
                    warn!("({instance}) cannot announce {address} on {name}: {error}");
                }
            }
            NodeAction::Log { level, line } => match level {
                LogLevel::Error => error!("{line}"),
                LogLevel::Warn => warn!("{line}"),
                LogLevel::Info => info!("{line}"),
                LogLevel::Debug => debug!("{line}"),
            },
            NodeAction::RunHooks {
                notify,
                instance,
                state,
                old_state,
                priority,
            } => self
                .notify
                .enqueue(hooks_for(&notify, &instance, state, old_state, priority)),
            NodeAction::RunPriorityHook {
                notify,
                instance,
                state,
                old_priority,
                new_priority,
            } => self.notify.enqueue(
                priority_hook_for(&notify, &instance, state, old_priority, new_priority)
                    .into_iter()
                    .collect(),
            ),
            NodeAction::PersistDemoted { request, names } => {
                let result = self
                    .demoted_store
                    .save(&names)
                    .map_err(|error| error.to_string());
                self.node
                    .handle(now, NodeInput::Persisted { request, result });
            }
            NodeAction::Reply { request, response } => {
                if let Some(reply) = self.replies.remove(&request) {
                    // The client may have gone away meanwhile.
                    let _ = reply.send(response);
                }
            }
            NodeAction::RestartTrackers {
                generation,
                trackers,
            } => {
                for task in self.trackers.drain(..) {
                    task.abort();
                }
                for (index, config) in trackers.iter().enumerate() {
                    match spawn_tracker(index, generation, config, self.tracker_reports.clone()) {
                        Ok(task) => self.trackers.push(task),
                        Err(error) => self.tracker_failed(now, index, generation, error),
                    }
                }
            }
            NodeAction::LoadConfig { generation } => {
                let path = self.config_path.clone();
                let reloaded = self.reloaded.clone();
                // In a task, so that the loop keeps sending and receiving adverts while the
                // schema check's child process runs (see config::isolated).
                tokio::spawn(async move {
                    let loaded = config::isolated::load_file(&path).await;
                    // Fails only when the loop has ended: nothing to apply then.
                    let _ = reloaded.send((generation, loaded)).await;
                });
            }
            NodeAction::Status(status) => {
                // The node reports its status after every change of an instance's state.
                self.transitioned = true;
                self.notifier.status(&status);
            }
            NodeAction::Ready(status) => self.notifier.ready(&status),
            NodeAction::Reloading => self.notifier.reloading(),
            NodeAction::Stopping => self.notifier.stopping(),
            NodeAction::Locate { instance, config } => {
                let result = place(
                    &self.netlink,
                    &mut self.interfaces,
                    &mut self.raised_arp,
                    &config,
                )
                .await
                .map_err(|error| error.to_string());
                self.node
                    .handle(now, NodeInput::Located { instance, result });
            }
            NodeAction::LocateHome { interface, ipv6 } => {
                let result =
                    interfaces::locate_home(&self.netlink, &mut self.interfaces, &interface, ipv6)
                        .await
                        .map_err(|error| error.to_string());
                let input = NodeInput::HomeLocated {
                    interface,
                    ipv6,
                    result,
                };
                self.node.handle(now, input);
            }
            NodeAction::SetVirtualMacUp {
                instance,
                ifindex,
                up,
            } => {
                if let Err(error) = self.netlink.set_link_up(ifindex, up).await {
                    let name = self.interface_name(ifindex);
                    error!(
                        "({instance}) cannot set its virtual MAC interface {name} {}: {error}",
                        if up { "up" } else { "down" }
                    );
                }
            }
            NodeAction::DeleteVirtualMac {
                instance,
                ifindex,
                name,
            } => {
                match self.netlink.delete_link(ifindex).await {
                    Ok(Change::Done) => {
                        info!("({instance}) removed its virtual MAC interface {name}");
                    }
                    Ok(Change::AlreadyThatWay) => {}
                    Err(error) => error!(
                        "({instance}) cannot remove its virtual MAC interface {name}: {error}"
                    ),
                }
                self.raised_arp.release(&self.netlink, &name).await;
            }
            NodeAction::CloseUnusedInterfaces { in_use } => self
                .interfaces
                .retain(|ifindex, _| in_use.contains(ifindex)),
            NodeAction::Exit => self.exited = true,
        }
    }

    fn tracker_failed(
        &mut self,
        now: Instant,
        index: usize,
        generation: u64,
        error: CheckSetupError,
    ) {
        if self.starting {
            self.startup_failure = Some(RunError::Tracker(error));
            return;
        }
        let input = NodeInput::TrackerSetupFailed {
            tracker: index,
            generation,
            error: error.to_string(),
        };
        self.node.handle(now, input);
    }

    fn interface_name(&self, ifindex: u32) -> String {
        self.interfaces.get(&ifindex).map_or_else(
            || format!("interface index {ifindex}"),
            |interface| interface.name.clone(),
        )
    }

    /// Handle datagrams already waiting in the sockets, at most [`EVENT_QUEUE_LEN`] per
    /// socket.
    // Rare (a late wake-up, a coalescing window's end): kept out of the loop's hot code.
    #[inline(never)]
    fn drain_sockets(
        &mut self,
        runtime: &tokio::runtime::Handle,
        now: Instant,
        batch: &mut ReceiveBatch,
    ) {
        let sockets: Vec<WatchedSocket> = WatchedSocket::receiving(&self.interfaces).collect();
        for socket in sockets {
            let mut handled = 0;
            while handled < EVENT_QUEUE_LEN {
                let Ok(count) = socket.try_recv_batch(batch) else {
                    break;
                };
                let received = Received {
                    ifindex: socket.ifindex(),
                    ipv6: socket.ipv6(),
                    count,
                };
                for input in received.inputs(batch) {
                    self.feed_now(runtime, now, input);
                }
                handled += count;
                if count < RECEIVE_BATCH {
                    break;
                }
            }
        }
    }

    /// The kernel's notifications overflowed: read every link and address again and let
    /// the node compare. A failed dump is retried at the next overrun only, so say so.
    async fn resync(&mut self, now: Instant) {
        let links = match self.netlink.links().await {
            Ok(links) => links,
            Err(error) => {
                error!("netlink notifications were lost and the links cannot be re-read: {error}");
                return;
            }
        };
        let addresses = match self.netlink.all_addresses().await {
            Ok(addresses) => addresses,
            Err(error) => {
                error!(
                    "netlink notifications were lost and the addresses cannot be re-read: {error}"
                );
                return;
            }
        };
        let links = links
            .into_iter()
            .map(|link| LinkSnapshot {
                ifindex: link.index,
                name: link.name,
                up: link.up,
                mac: link.mac,
                mtu: link.mtu,
            })
            .collect();
        self.feed(now, NodeInput::Resync { links, addresses }).await;
    }

    /// A reload's checked config: find where each of its instances runs (opening the
    /// sockets it needs), then hand it to the node, which plans the reload.
    async fn reloaded_config(
        &mut self,
        now: Instant,
        generation: u64,
        loaded: Result<Config, ConfigError>,
    ) {
        let result = match loaded {
            Err(error) => Err(error.to_string()),
            // A later SIGHUP superseded this one: the node ignores it; open nothing for it.
            Ok(config) if generation != self.node.reload_generation() => Ok(LoadedConfig {
                config,
                placements: BTreeMap::new(),
            }),
            Ok(config) => {
                let mut placements = BTreeMap::new();
                for instance in &config.instances {
                    let placement = place(
                        &self.netlink,
                        &mut self.interfaces,
                        &mut self.raised_arp,
                        instance,
                    )
                    .await
                    .map_err(|error| error.to_string());
                    placements.insert(instance.name.clone(), placement);
                }
                Ok(LoadedConfig { config, placements })
            }
        };
        self.feed(now, NodeInput::ConfigLoaded { generation, result })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A future that needs no I/O wait completes on the calling thread at its first poll;
    /// one that waits (a timer, a reply from a task) is completed through the runtime that
    /// the reactor thread drives, and tasks spawned from the protocol thread run there.
    #[test]
    fn run_now_completes_here_or_through_the_reactor_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let reactor = ReactorThread::start(runtime).unwrap();
        let context = handle.enter();
        assert_eq!(run_now(&handle, async { 7 }), 7);
        let start = Instant::now();
        run_now(&handle, tokio::time::sleep(Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
        let (sender, receiver) = oneshot::channel();
        tokio::spawn(async move {
            let _ = sender.send(std::thread::current().name().map(str::to_owned));
        });
        let ran_on = run_now(&handle, receiver).unwrap();
        assert_eq!(ran_on.as_deref(), Some("vrrpd-reactor"));
        drop(context);
        // Stopping the reactor thread joins it: the drop returns.
        drop(reactor);
    }
}
