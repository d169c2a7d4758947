//! The event loop: the I/O shell around [`Node`]. One current-thread tokio runtime, one
//! `select!`.
//!
//! It only translates. What the kernel, systemd and the operator say becomes a
//! [`NodeInput`] stamped with the one clock reading of this wake-up; what the node asks
//! ([`NodeAction`]) is done here, in order: sockets, netlink, GARP/NA, sd_notify, the
//! control socket's answers, tracker tasks, notify hooks, the demoted-set file. Every
//! decision is the node's (`core::node`), tested without root and simulated in
//! `tests/sim`.
//!
//! Single-threaded on purpose: the node is not shared, actions are performed in the
//! order it returned them, and the systemd watchdog is fed from this same loop so that a
//! stalled loop is restarted by systemd instead of silently keeping stale VIPs.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
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
use crate::driver::interfaces::{
    self, Interfaces, RaisedArpSettings, ReceiveFailure, Received, place,
};
use crate::driver::metrics::MetricsServer;
use crate::driver::netlink::{Change, KernelEvent, LinkWatcher, Netlink, NetlinkError};
use crate::driver::notify::{NotifyQueue, hooks_for, priority_hook_for};
use crate::driver::routing::{self, RoutingEvent};
use crate::driver::socket::{
    OutgoingAdvert, RECEIVE_BATCH, ReceiveBatch, VrrpSocketV4, VrrpSocketV6,
};
use crate::driver::systemd::Notifier;
use crate::driver::timer::DeadlineTimer;
use crate::driver::{memory, realtime};

/// Datagrams handled in a row while a timer is already due, and per socket when
/// draining: a flood is left in the socket's own buffer (which eventually drops it)
/// rather than starving the timers. Counted in datagrams, not in reads: a read takes at
/// most RECEIVE_BATCH (64) of them, so a due timer waits for at most four reads.
const EVENT_QUEUE_LEN: usize = 256;
/// Pause after a receive error so a persistent one cannot spin the CPU.
const RECEIVE_ERROR_PAUSE: Duration = Duration::from_millis(200);
/// A timer that fires later than this after its deadline means the loop was stalled:
/// adverts may then sit in a socket whose readiness the loop has not seen yet, so it
/// reads the sockets before firing (see the timer branch). An on-time wake-up is
/// tens of microseconds late; checking only past this saves a read returning EAGAIN
/// on every advert.
const LATE_WAKE_DRAIN: Duration = Duration::from_millis(1);
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

/// Load `config_path` and run until SIGTERM/SIGINT. Blocks the calling thread.
pub fn run(config_path: &Path) -> Result<(), RunError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    // The schema check runs in a child process (see config::isolated): the validator's
    // code and heap never become part of the long-running daemon.
    let config = runtime.block_on(config::isolated::load_file(config_path))?;
    runtime.block_on(run_loop(
        config_path.to_path_buf(),
        config,
        Notifier::from_env(),
    ))
}

/// What the loop owns besides the node: the kernel and systemd side.
struct Shell {
    config_path: PathBuf,
    node: Node,
    netlink: Netlink,
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
}

impl Drop for Shell {
    fn drop(&mut self) {
        for task in &self.trackers {
            task.abort();
        }
    }
}

async fn run_loop(
    config_path: PathBuf,
    config: Config,
    notifier: Notifier,
) -> Result<(), RunError> {
    let signal_handler = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| RunError::Signal {
            signal: name,
            source,
        })
    };
    let mut terminate = signal_handler(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = signal_handler(SignalKind::interrupt(), "SIGINT")?;
    let mut hangup = signal_handler(SignalKind::hangup(), "SIGHUP")?;
    let mut link_watcher = LinkWatcher::open()?;
    // Virtual routes and rules: subscribed before anything is added.
    let mut routing_watcher = routing::watcher_for(&config)?;
    let (tracker_reports, mut reports) = mpsc::channel(TRACKER_QUEUE_LEN);
    let (control_requests, mut control) = mpsc::channel(CONTROL_QUEUE_LEN);
    let (reloaded, mut reloads) = mpsc::channel(RELOAD_QUEUE_LEN);
    let netlink = Netlink::connect()?;
    let demoted_store = DemotedStore::new(config.state_directory_path());
    let demoted = match demoted_store.load() {
        Loaded::Instances(names) => DemotedAtStart::Instances(names),
        Loaded::Unreadable(problem) => DemotedAtStart::Unreadable(problem),
    };
    // Control socket and metrics first: they are how an operator sees what follows.
    let control_path = PathBuf::from(config.control_socket_path());
    let _control_server = match ControlServer::bind(&control_path, control_requests.clone()).await {
        Ok(server) => Some(server),
        Err(error) => {
            // Not fatal: VRRP matters more than `vrrpd status`.
            warn!("{error}; `vrrpd status` will not work");
            None
        }
    };
    let _metrics_server = match &config.metrics_listen {
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
    };
    shell.feed(started, NodeInput::Start).await;
    shell.starting = false;
    if let Some(failure) = shell.startup_failure.take() {
        return Err(failure);
    }
    let mut watchdog = shell.notifier.watchdog_interval().map(|period| {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    release_startup_memory();

    let mut failure = None;
    // The loop reads the sockets itself (one batch of buffers, reused): a task per
    // socket and a channel cost a wake-up and a copy per advert, and a read per datagram
    // a system call each (see RECEIVE_BATCH).
    let mut batch = ReceiveBatch::new();
    // Datagrams handled since a timer came due (see EVENT_QUEUE_LEN).
    let mut received_while_due = 0usize;
    // After a receive error, reading waits until then.
    let mut receive_paused_until: Option<Instant> = None;
    // A burst of adverts is being left to queue until then (see Node::receive_coalescing),
    // and when the last such wait ended.
    let mut coalescing_until: Option<Instant> = None;
    let mut coalescing_ended: Option<Instant> = None;
    // One timerfd for every instance's deadline, re-armed when the earliest one moves
    // earlier (see driver::timer for why not a tokio Sleep, and why not when later).
    let mut timer = DeadlineTimer::new().map_err(RunError::Runtime)?;
    // The one clock reading of the previous wake-up: deadlines are compared with it.
    let mut now = Instant::now();
    while !shell.exited {
        if receive_paused_until.is_some_and(|until| until <= now) {
            receive_paused_until = None;
        }
        // Idle instances (Initialize/Fault) have no deadline; wake up hourly anyway.
        let deadline = shell
            .node
            .next_deadline()
            .unwrap_or_else(|| now + IDLE_WAKE_UP);
        let wake_at = [receive_paused_until, coalescing_until]
            .into_iter()
            .flatten()
            .fold(deadline, Instant::min);
        // Lazy (see DeadlineTimer::set): a later deadline, as every advert gives a
        // backup, costs no system call; the kernel timer fires early and catches up.
        if let Err(error) = timer.set(wake_at) {
            failure = Some(RunError::Runtime(error));
            break;
        }
        if deadline > now {
            received_while_due = 0;
        }
        let receiving = receive_paused_until.is_none()
            && coalescing_until.is_none()
            && received_while_due < EVENT_QUEUE_LEN;
        let accepts_reload = shell.node.accepts_reload();
        let event = tokio::select! {
            // Signals first: a flood of packets must not delay a stop.
            biased;
            _ = terminate.recv() => Event::Stop("SIGTERM"),
            _ = interrupt.recv() => Event::Stop("SIGINT"),
            // Not taken while the node refuses reloads: the signal stays pending.
            _ = hangup.recv(), if accepts_reload => Event::Reload,
            Some((generation, loaded)) = reloads.recv(), if accepts_reload => {
                Event::Reloaded(generation, loaded)
            }
            _ = tick(&mut watchdog) => Event::Watchdog,
            // Before the timer: an advert that arrived before the deadline must reset
            // it first (RFC 3768 §6.4.2). When the packet and the timer are ready
            // together (after a scheduling stall), this branch takes the packets
            // first, at most EVENT_QUEUE_LEN once the timer is due.
            result = std::future::poll_fn(|cx| interfaces::poll_receive(&shell.interfaces, cx, &mut batch)), if receiving => {
                Event::Received(result)
            }
            expired = std::future::poll_fn(|cx| timer.poll_expired(cx)) => Event::Timer(expired),
            // Before packets, so that a flood of them cannot hide a link change.
            event = link_watcher.next() => Event::Link(event),
            event = routing::next_event(&mut routing_watcher) => Event::Routing(event),
            Some(report) = reports.recv() => Event::Tracker(report),
            Some(request) = control.recv() => Event::Control(request),
        };
        // The one clock reading of this wake-up.
        now = Instant::now();
        match event {
            Event::Stop(signal) => {
                if shell.node.stopping() {
                    info!("{signal} received again, stopping at once");
                } else {
                    info!("{signal} received, stopping");
                }
                shell.feed(now, NodeInput::Stop).await;
            }
            Event::Reload => {
                info!("SIGHUP received, reloading {}", shell.config_path.display());
                shell.feed(now, NodeInput::ReloadRequested).await;
            }
            Event::Reloaded(generation, loaded) => {
                // Virtual routes and rules: the first config that has some opens the
                // watcher (before they are added).
                if routing_watcher.is_none()
                    && let Ok(config) = &loaded
                {
                    match routing::watcher_for(config) {
                        Ok(watcher) => routing_watcher = watcher,
                        Err(error) => error!(
                            "cannot watch routes and rules: {error}; a virtual route or rule \
                             that someone removes will not be put back"
                        ),
                    }
                }
                shell.reloaded_config(now, generation, loaded).await;
                release_startup_memory();
            }
            Event::Watchdog => shell.notifier.watchdog(),
            Event::Received(Ok(received)) => {
                if deadline <= now {
                    received_while_due += received.count;
                }
                // In arrival order, all stamped with this wake-up's clock reading: they
                // were queued together.
                for input in received.inputs(&batch) {
                    shell.feed(now, input).await;
                }
                // The first read of a burst of many instances' adverts: let the rest of
                // it queue, and read it in one go when the window ends (or before any
                // timer of the node fires), instead of waking for every few of them.
                let window = shell.node.receive_coalescing(received.ifindex);
                let just_ended = coalescing_ended
                    .zip(window)
                    .is_some_and(|(ended, window)| now.saturating_duration_since(ended) <= window);
                if received.count < RECEIVE_BATCH
                    && !just_ended
                    && let Some(window) = window
                {
                    coalescing_until = Some(now + window);
                }
            }
            Event::Received(Err(failure)) => {
                let family = if failure.ipv6 { " (IPv6)" } else { "" };
                warn!(
                    "receive error on {}{family}: {}",
                    failure.interface, failure.error
                );
                receive_paused_until = Some(now + RECEIVE_ERROR_PAUSE);
            }
            Event::Timer(Err(error)) => {
                failure = Some(RunError::Runtime(error));
                break;
            }
            Event::Timer(Ok(())) => {
                // A stalled loop may have slept through an advert's arrival without
                // seeing its readiness yet, and a coalescing window left adverts queued
                // on purpose: read what the sockets hold (bounded), and only then fire
                // what is due, so that no advert that arrived in time is missed.
                let coalesced = coalescing_until.take().is_some();
                if coalesced {
                    coalescing_ended = Some(now);
                }
                if (coalesced || now.saturating_duration_since(wake_at) > LATE_WAKE_DRAIN)
                    && receive_paused_until.is_none()
                {
                    shell.drain_sockets(now, &mut batch).await;
                }
                shell.feed(now, NodeInput::Timeout).await;
            }
            Event::Link(Some(KernelEvent::Link(link))) => {
                let input = NodeInput::Link {
                    ifindex: link.index,
                    name: link.name,
                    up: link.up,
                    mac: link.mac,
                    mtu: link.mtu,
                };
                shell.feed(now, input).await;
            }
            Event::Link(Some(KernelEvent::LinkGone { index })) => {
                shell
                    .feed(now, NodeInput::LinkGone { ifindex: index })
                    .await;
            }
            Event::Link(Some(KernelEvent::Overrun)) => shell.resync(now).await,
            Event::Link(Some(KernelEvent::Address {
                index,
                address,
                present,
            })) => {
                let input = NodeInput::Address {
                    ifindex: index,
                    address,
                    present,
                };
                shell.feed(now, input).await;
            }
            Event::Link(None) => {
                warn!("the netlink link monitor closed; reopening it");
                match LinkWatcher::open() {
                    Ok(reopened) => link_watcher = reopened,
                    Err(error) => {
                        failure = Some(RunError::from(error));
                        break;
                    }
                }
            }
            Event::Routing(Some(RoutingEvent::Route { key, present })) => {
                let input = NodeInput::Route {
                    route: key,
                    present,
                };
                shell.feed(now, input).await;
            }
            Event::Routing(Some(RoutingEvent::Rule { rule, present })) => {
                shell.feed(now, NodeInput::Rule { rule, present }).await;
            }
            Event::Routing(Some(RoutingEvent::Overrun)) => {
                match routing::read_ours(&shell.netlink).await {
                    Ok((routes, rules)) => {
                        let input = NodeInput::RoutingResync { routes, rules };
                        shell.feed(now, input).await;
                    }
                    Err(error) => error!(
                        "route and rule notifications were lost and they cannot be re-read: \
                         {error}"
                    ),
                }
            }
            Event::Routing(None) => {
                warn!("the netlink route monitor closed; reopening it");
                match routing::RoutingWatcher::open() {
                    Ok(reopened) => routing_watcher = Some(reopened),
                    Err(error) => {
                        failure = Some(RunError::from(error));
                        break;
                    }
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
                shell.feed(now, input).await;
            }
            Event::Control(request) => {
                shell.next_request += 1;
                let id = shell.next_request;
                shell.replies.insert(id, request.reply);
                let input = NodeInput::Control {
                    request: id,
                    command: request.command,
                };
                shell.feed(now, input).await;
            }
        }
    }
    if !shell.exited {
        // The loop cannot go on: stop at once (priority 0 from masters, addresses removed).
        shell.feed(Instant::now(), NodeInput::StopNow).await;
    }
    for task in shell.trackers.drain(..) {
        task.abort();
    }
    shell.notify.finish(NOTIFY_DRAIN_BOUND).await;
    match failure {
        None => {
            info!("vrrpd stopped");
            Ok(())
        }
        Some(error) => Err(error),
    }
}

/// An advert the node asked for, waiting to go out with the ones after it.
struct PendingAdvert {
    instance: usize,
    ifindex: u32,
    source: IpAddr,
    destination: IpAddr,
    message: Vec<u8>,
}

/// What woke the loop up.
enum Event {
    Stop(&'static str),
    Reload,
    Reloaded(u64, Result<Config, ConfigError>),
    Watchdog,
    Received(Result<Received, ReceiveFailure>),
    Timer(io::Result<()>),
    Link(Option<KernelEvent>),
    Routing(Option<RoutingEvent>),
    Tracker(TrackerReport),
    Control(ControlRequest),
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

/// Wait for the next watchdog tick, or forever when the watchdog is off.
async fn tick(watchdog: &mut Option<tokio::time::Interval>) {
    match watchdog {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

impl Shell {
    /// Hand one input to the node and perform everything it asks, in order (answers the
    /// shell owes the node, such as a persisted demoted set, are fed back on the way).
    async fn feed(&mut self, now: Instant, input: NodeInput<'_>) {
        self.node.handle(now, input);
        // Adverts that follow one another (a master's instances falling due together) go
        // out with one sendmmsg per interface and family; anything else first sends what
        // came before it, so that the node's order holds (address, GARP, then advert).
        let mut adverts = std::mem::take(&mut self.pending_adverts);
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
                action => {
                    self.send_adverts(&mut adverts).await;
                    self.perform(now, action).await;
                }
            }
        }
        self.send_adverts(&mut adverts).await;
        self.pending_adverts = adverts;
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
                let advert = &run[position];
                let name = self.node.instance_name(advert.instance).unwrap_or("?");
                let to = if advert.destination.is_multicast() {
                    String::new()
                } else {
                    format!(" to {}", advert.destination)
                };
                warn!(
                    "({name}) cannot send an advertisement{to} on {}: {error}",
                    interface.name
                );
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
                for (address, prefix_len) in addresses {
                    match self.netlink.add_address(ifindex, address, prefix_len).await {
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
            NodeAction::Status(status) => self.notifier.status(&status),
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
    async fn drain_sockets(&mut self, now: Instant, batch: &mut ReceiveBatch) {
        let receiving = || {
            self.interfaces
                .values()
                .filter(|interface| interface.receives)
        };
        let sockets_v4: Vec<Arc<VrrpSocketV4>> = receiving()
            .filter_map(|interface| interface.socket_v4.clone())
            .collect();
        let sockets_v6: Vec<Arc<VrrpSocketV6>> = receiving()
            .filter_map(|interface| interface.socket_v6.clone())
            .collect();
        for socket in sockets_v4 {
            let mut handled = 0;
            while handled < EVENT_QUEUE_LEN {
                let Ok(count) = socket.try_recv_batch(batch) else {
                    break;
                };
                let received = Received {
                    ifindex: socket.ifindex(),
                    ipv6: false,
                    count,
                };
                for input in received.inputs(batch) {
                    self.feed(now, input).await;
                }
                handled += count;
                if count < RECEIVE_BATCH {
                    break;
                }
            }
        }
        for socket in sockets_v6 {
            let mut handled = 0;
            while handled < EVENT_QUEUE_LEN {
                let Ok(count) = socket.try_recv_batch(batch) else {
                    break;
                };
                let received = Received {
                    ifindex: socket.ifindex(),
                    ipv6: true,
                    count,
                };
                for input in received.inputs(batch) {
                    self.feed(now, input).await;
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
