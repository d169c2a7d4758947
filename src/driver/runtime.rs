//! The event loop: one current-thread tokio runtime, one `select!`.
//!
//! It owns the kernel side (sockets, netlink, GARP, signals, systemd) and the
//! [`Instance`]s, feeds them inputs (received adverts, timer expiry, link
//! changes, shutdown) and performs the actions they return, in order.
//!
//! Single-threaded on purpose: the state machines are not shared, actions are
//! performed in the order the core returned them, and the systemd watchdog is
//! fed from this same loop so that a stalled loop is restarted by systemd
//! instead of silently keeping stale VIPs.
//!
//! The operator-facing wording (transition lines, drop warnings, STATUS=) and
//! the reload diff are plain functions at the bottom, unit-tested without root.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config::{self, CheckConfig, Config, ConfigError, InstanceConfig, TrackerConfig};
use crate::core::ip::{Ipv4Datagram, parse_ipv4};
use crate::core::packet::{self, IP_PROTOCOL_VRRP, MULTICAST_V4, MULTICAST_V6, REQUIRED_TTL};
use crate::core::sync_group::{self, MemberStatus, MemberTransition, SyncCommand};
use crate::core::track::{Contribution, RiseFall, TrackerInput, effective_priority};
use crate::core::{
    Action, Advertisement, AfterHandOver, DropReason, Input, Instance, State, TransitionReason,
};
use crate::driver::checks::{CheckSetupError, TrackerReport, spawn_tracker};
use crate::driver::control::{Command, ControlRequest, ControlServer, HoldChange, Response};
use crate::driver::demoted::{DemotedStore, Loaded};
use crate::driver::garp::{GarpSender, NeighbourAdvertiser};
use crate::driver::metrics::MetricsServer;
use crate::driver::netlink::{Change, LinkEvent, LinkInfo, LinkWatcher, Netlink, NetlinkError};
use crate::driver::notify::{NotifyQueue, hooks_for};
use crate::driver::socket::{RECEIVE_BUFFER_LEN, VrrpSocketV4, VrrpSocketV6};
use crate::driver::status::{
    InstanceStatus, StatusReport, TrackContribution, TrackerStatus, TransitionRecord,
};
use crate::driver::systemd::Notifier;
use crate::driver::timer::DeadlineTimer;

/// How long a warning about dropped packets of one kind from one source
/// silences the next ones (a misconfigured peer sends one per second).
pub const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(10);
/// Datagrams handled in a row while a timer is already due, and per socket when
/// draining: a flood is left in the socket's own buffer (which eventually drops it)
/// rather than starving the timers.
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

/// A datagram the loop received; its bytes are the first `length` of the loop's
/// receive buffer (no copy, no allocation per advert).
#[derive(Clone, Copy, Debug)]
enum Received {
    /// A raw IPv4 datagram, header included.
    Ipv4 { ifindex: u32, length: usize },
    /// A VRRP message from a raw IPv6 socket (no header: source and hop limit come alongside).
    Ipv6 {
        ifindex: u32,
        source: Ipv6Addr,
        hop_limit: Option<u8>,
        length: usize,
    },
}

/// A socket read failed with something other than "nothing queued".
#[derive(Debug)]
struct ReceiveFailure {
    interface: String,
    ipv6: bool,
    error: io::Error,
}

/// One interface that at least one instance runs on.
#[derive(Debug)]
struct Interface {
    link: LinkInfo,
    socket_v4: Option<Arc<VrrpSocketV4>>,
    socket_v6: Option<Arc<VrrpSocketV6>>,
    garp: Option<GarpSender>,
    neighbour_advertiser: Option<NeighbourAdvertiser>,
    /// Drops that could not be pinned on an instance (unknown VRID, unparsable packets).
    drops: BTreeMap<DropReason, u64>,
}

/// One running virtual router and what the loop needs to drive it.
#[derive(Debug)]
struct Slot {
    config: InstanceConfig,
    instance: Instance,
    ifindex: u32,
    ipv6: bool,
    addresses: Vec<(IpAddr, u8)>,
    /// Source and priority of the last advert the instance accepted, for the
    /// "last master" part of the transition line.
    last_advert: Option<(IpAddr, u8)>,
    /// For `vrrpd status`.
    last_transition: Option<TransitionRecord>,
    /// Set when a reload removes or restarts the instance while it is master: it hands
    /// over (make-before-break) and leaves once the new master is heard.
    leaving: Option<Leaving>,
}

/// A reload is taking this instance out: what starts once it has handed over.
#[derive(Debug, Default)]
struct Leaving {
    /// The restarted instance's new config, and any added instance that needs the same
    /// interface and VRID: they start once this one is gone.
    then_start: Vec<InstanceConfig>,
}

impl Slot {
    fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether this slot still takes part in the daemon's decisions (sync groups,
    /// trackers, operator commands): not when a reload is taking it out.
    fn active(&self) -> bool {
        self.leaving.is_none()
    }

    fn interface_name(&self) -> &str {
        &self.config.interface
    }
}

/// One health check and what its results amount to so far.
#[derive(Debug)]
struct TrackerSlot {
    config: TrackerConfig,
    counter: RiseFall,
    /// A file tracker's integer (0 until read).
    value: Option<i64>,
    last_result: String,
    checks: u64,
    failures: u64,
    task: Option<JoinHandle<()>>,
}

impl Drop for TrackerSlot {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl TrackerSlot {
    fn new(config: TrackerConfig) -> Self {
        let value = matches!(config.check, CheckConfig::File { .. }).then_some(0);
        TrackerSlot {
            counter: RiseFall::new(config.rise, config.fall),
            config,
            value,
            last_result: "not checked yet".to_owned(),
            checks: 0,
            failures: 0,
            task: None,
        }
    }

    /// What the policy sees, with an instance's `weight` for it.
    fn input(&self, weight: i32) -> TrackerInput {
        match self.value {
            Some(value) => TrackerInput::File { value, weight },
            None => TrackerInput::Check {
                healthy: self.counter.healthy(),
                weight,
            },
        }
    }
}

struct Daemon {
    config_path: PathBuf,
    config: Config,
    netlink: Netlink,
    notifier: Notifier,
    interfaces: HashMap<String, Interface>,
    slots: Vec<Slot>,
    drop_log: DropLogLimiter,
    trackers: Vec<TrackerSlot>,
    tracker_reports: mpsc::Sender<TrackerReport>,
    /// Bumped whenever the tracker tasks are restarted, so late results of the old ones
    /// are ignored.
    tracker_generation: u64,
    notify: NotifyQueue,
    /// Transitions (instance name, from, to) its sync group has not reacted to yet.
    sync_pending: std::collections::VecDeque<(String, State, State)>,
    /// Set while the sync groups react, so that the transitions they cause are queued
    /// rather than handled recursively.
    following_sync_groups: bool,
    /// Set once the daemon stops: members shutting down move nobody.
    stopping: bool,
    /// Where the operator hold of `vrrpd demote` is kept across restarts.
    demoted_store: DemotedStore,
    /// Names of the instances demoted by the operator (as in `demoted_store`).
    demoted: BTreeSet<String>,
    /// Where a reload's task sends the checked new config (see [`Daemon::begin_reload`]).
    reloaded: mpsc::Sender<(u64, Result<Config, ConfigError>)>,
    /// Bumped at each SIGHUP: only the newest reload's result is applied.
    reload_generation: u64,
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
    let (tracker_reports, mut reports) = mpsc::channel(TRACKER_QUEUE_LEN);
    let (control_requests, mut control) = mpsc::channel(CONTROL_QUEUE_LEN);
    let (reloaded, mut reloads) = mpsc::channel(RELOAD_QUEUE_LEN);
    let mut daemon = Daemon {
        config_path,
        config: Config {
            // Known before the instances start, so that they follow their groups at once.
            sync_groups: config.sync_groups.clone(),
            ..Config::default()
        },
        netlink: Netlink::connect()?,
        notifier,
        interfaces: HashMap::new(),
        slots: Vec::new(),
        drop_log: DropLogLimiter::new(DROP_WARNING_INTERVAL),
        trackers: Vec::new(),
        tracker_reports,
        tracker_generation: 0,
        notify: NotifyQueue::start(),
        sync_pending: std::collections::VecDeque::new(),
        following_sync_groups: false,
        stopping: false,
        demoted_store: DemotedStore::new(config.state_directory_path()),
        demoted: BTreeSet::new(),
        reloaded,
        reload_generation: 0,
    };
    daemon.demoted = match daemon.demoted_store.load() {
        Loaded::Instances(names) => {
            if !names.is_empty() {
                warn!(
                    "demoted by the operator, staying backup until `vrrpd promote`: {}",
                    names.iter().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            names
        }
        Loaded::Unreadable(problem) => {
            // The operator demoted something, or this file would not exist: the safe
            // reading during maintenance is that every instance stays demoted.
            error!(
                "{problem}; treating EVERY instance as demoted (they stay backup unless no \
                 other router serves the addresses). Run `vrrpd promote` to clear it."
            );
            config
                .instances
                .iter()
                .map(|instance| instance.name.clone())
                .collect()
        }
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
    daemon.start_trackers(&config.trackers)?;
    for instance in &config.instances {
        if let Err(error) = daemon.start_instance(instance.clone()).await {
            // Leave nothing behind (an address owner may already hold its VIPs).
            daemon.shutdown_all().await;
            return Err(error);
        }
    }
    daemon.config = config;
    let mut watchdog = daemon.notifier.watchdog_interval().map(|period| {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    info!("vrrpd started: {}", daemon.status());
    daemon.notifier.ready(&daemon.status());
    release_startup_memory();

    let mut failure = None;
    // Set once SIGTERM/SIGINT arrived: masters are handing over (make-before-break) and
    // the loop keeps running, receiving adverts and firing timers, until none is left.
    let mut stopping = false;
    // The loop reads the sockets itself (one buffer, reused): a task per socket
    // and a channel cost a wake-up and a copy per advert.
    let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
    // Datagrams handled since a timer came due (see EVENT_QUEUE_LEN).
    let mut received_while_due = 0usize;
    // After a receive error, reading waits until then.
    let mut receive_paused_until: Option<Instant> = None;
    // One timerfd for every instance's deadline, re-armed whenever the earliest one
    // moves (see driver::timer for why not a tokio Sleep).
    let mut timer = DeadlineTimer::new().map_err(RunError::Runtime)?;
    loop {
        if stopping && !daemon.handing_over() {
            break;
        }
        if daemon.reload_handing_over() {
            daemon.finish_leaving().await;
        }
        let now = Instant::now();
        if receive_paused_until.is_some_and(|until| until <= now) {
            receive_paused_until = None;
        }
        // Idle instances (Initialize/Fault) have no deadline; wake up hourly anyway.
        let deadline = daemon
            .earliest_deadline()
            .unwrap_or_else(|| now + Duration::from_secs(3600));
        let wake_at = receive_paused_until.map_or(deadline, |until| until.min(deadline));
        if timer.armed() != Some(wake_at)
            && let Err(error) = timer.arm(wake_at)
        {
            failure = Some(RunError::Runtime(error));
            break;
        }
        if deadline > now {
            received_while_due = 0;
        }
        let receiving = receive_paused_until.is_none() && received_while_due < EVENT_QUEUE_LEN;
        tokio::select! {
            // Signals first: a flood of packets must not delay a stop.
            biased;
            _ = terminate.recv() => {
                if stopping {
                    info!("SIGTERM received again, stopping at once");
                    break;
                }
                info!("SIGTERM received, stopping");
                stopping = true;
                daemon.begin_stop().await;
            }
            _ = interrupt.recv() => {
                if stopping {
                    info!("SIGINT received again, stopping at once");
                    break;
                }
                info!("SIGINT received, stopping");
                stopping = true;
                daemon.begin_stop().await;
            }
            // A reload while handing over would restart instances that are leaving.
            // Nor while a reload still hands an instance over: the signal stays pending
            // and is taken once that is done (bounded by MAX_HAND_OVER_WAIT).
            _ = hangup.recv(), if !stopping && !daemon.reload_handing_over() => daemon.begin_reload(),
            // The checked config of a reload (see begin_reload), applied on the same terms.
            Some((generation, loaded)) = reloads.recv(), if !stopping && !daemon.reload_handing_over() => {
                daemon.finish_reload(generation, loaded).await
            }
            _ = tick(&mut watchdog) => daemon.notifier.watchdog(),
            // Before the timer: an advert that arrived before the deadline must reset
            // it first (RFC 3768 §6.4.2). When the packet and the timer are ready
            // together (after a scheduling stall), this branch takes the packets
            // first, at most EVENT_QUEUE_LEN once the timer is due.
            result = std::future::poll_fn(|cx| daemon.poll_receive(cx, &mut buffer)), if receiving => {
                match result {
                    Ok(received) => {
                        if deadline <= Instant::now() {
                            received_while_due += 1;
                        }
                        daemon.on_received(received, &buffer).await;
                    }
                    Err(failure) => {
                        let family = if failure.ipv6 { " (IPv6)" } else { "" };
                        warn!("receive error on {}{family}: {}", failure.interface, failure.error);
                        receive_paused_until = Some(Instant::now() + RECEIVE_ERROR_PAUSE);
                    }
                }
            }
            expired = std::future::poll_fn(|cx| timer.poll_expired(cx)) => {
                if let Err(error) = expired {
                    failure = Some(RunError::Runtime(error));
                    break;
                }
                // A stalled loop may have slept through an advert's arrival without
                // seeing its readiness yet: read what the sockets hold (bounded), and
                // only then fire what is due.
                if Instant::now().saturating_duration_since(wake_at) > LATE_WAKE_DRAIN
                    && receive_paused_until.is_none()
                {
                    daemon.drain_sockets(&mut buffer).await;
                }
                daemon.fire_timers().await;
            }
            // Before packets, so that a flood of them cannot hide a link change.
            event = link_watcher.next() => match event {
                Some(event) => daemon.on_link_event(event).await,
                None => {
                    warn!("the netlink link monitor closed; reopening it");
                    match LinkWatcher::open() {
                        Ok(reopened) => link_watcher = reopened,
                        Err(error) => {
                            failure = Some(RunError::from(error));
                            break;
                        }
                    }
                }
            },
            Some(report) = reports.recv() => daemon.on_tracker_report(report).await,
            Some(request) = control.recv() => daemon.on_control(request).await,
        }
    }
    if !stopping {
        daemon.notifier.stopping();
    }
    daemon.shutdown_all().await;
    daemon.trackers.clear();
    daemon.notify.finish(NOTIFY_DRAIN_BOUND).await;
    match failure {
        None => {
            info!("vrrpd stopped");
            Ok(())
        }
        Some(error) => Err(error),
    }
}

/// Give the heap that start-up used (config parsing, schema compilation, netlink
/// dumps) back to the kernel: the daemon then runs for months on a small steady
/// working set, and glibc would otherwise keep the freed pages resident.
fn release_startup_memory() {
    // SAFETY: malloc_trim only walks glibc's own free lists; no pointers are passed.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
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

impl Daemon {
    fn earliest_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|slot| slot.instance.next_deadline())
            .min()
    }

    fn status(&self) -> String {
        status_text(self.slots.iter().map(|slot| {
            (
                slot.name(),
                slot.instance.state(),
                slot.instance.priority(),
                slot.instance.is_demoted(),
            )
        }))
    }

    /// Open (or reuse) the interface, pick the source address, clean leftovers,
    /// and take the instance out of Initialize.
    async fn start_instance(&mut self, config: InstanceConfig) -> Result<(), RunError> {
        let addresses = config.addresses_with_prefix();
        let ipv6 = instance_is_ipv6(&config, &addresses);
        let link = self.netlink.link_by_name(&config.interface).await?;
        let local_address = match config.configured_source() {
            Some(address) => address,
            None => {
                let virtual_only: Vec<IpAddr> =
                    addresses.iter().map(|(address, _)| *address).collect();
                self.netlink
                    .primary_address(link.index, ipv6, &virtual_only)
                    .await?
                    .ok_or_else(|| RunError::NoLocalAddress {
                        instance: config.name.clone(),
                        interface: config.interface.clone(),
                        family: if ipv6 { "IPv6 link-local" } else { "IPv4" },
                    })?
            }
        };
        self.open_interface(&link, ipv6, local_address)?;

        // We are not master yet: whatever a previous run (killed before it could
        // clean up) or an operator left on the interface must go, or two hosts
        // would answer for the VIPs.
        for (address, _) in &addresses {
            match self.netlink.remove_address(link.index, *address).await {
                Ok(Change::Done) => {
                    info!(
                        "({}) removed {address} from {}: it was left over, and we are not master",
                        config.name, link.name
                    )
                }
                Ok(Change::AlreadyThatWay) => {}
                Err(error) => warn!(
                    "({}) cannot remove leftover {address}: {error}",
                    config.name
                ),
            }
        }

        let mut instance = Instance::new(config.to_params(local_address));
        if self.demoted.contains(&config.name) {
            // Held before Startup, so that it never preempts (nor, as an address owner,
            // starts as master): see `Instance::demote`.
            instance.demote(Instant::now());
        }
        debug!(
            "({}) starting on {} from {local_address}",
            config.name, link.name
        );
        self.slots.push(Slot {
            config,
            instance,
            ifindex: link.index,
            ipv6,
            addresses,
            last_advert: None,
            last_transition: None,
            leaving: None,
        });
        let index = self.slots.len() - 1;
        self.feed(index, Input::Startup).await;
        if !link.up {
            self.feed(index, Input::LinkDown).await;
        }
        self.apply_tracking(index).await;
        Ok(())
    }

    /// Make sure `link` has the sockets an instance of this family needs.
    fn open_interface(
        &mut self,
        link: &LinkInfo,
        ipv6: bool,
        local_address: IpAddr,
    ) -> Result<(), RunError> {
        let socket_error = |what: &'static str, source: io::Error| RunError::Socket {
            what,
            interface: link.name.clone(),
            source,
        };
        let interface = self
            .interfaces
            .entry(link.name.clone())
            .or_insert_with(|| Interface {
                link: link.clone(),
                socket_v4: None,
                socket_v6: None,
                garp: None,
                neighbour_advertiser: None,
                drops: BTreeMap::new(),
            });
        if !ipv6 && interface.socket_v4.is_none() {
            let socket = Arc::new(
                VrrpSocketV4::open(&link.name, link.index)
                    .map_err(|source| socket_error("raw VRRP socket (IPv4)", source))?,
            );
            interface.socket_v4 = Some(socket);
            interface.garp = Some(
                GarpSender::open(link.index)
                    .map_err(|source| socket_error("gratuitous ARP socket", source))?,
            );
        }
        if ipv6 && interface.socket_v6.is_none() {
            let IpAddr::V6(link_local) = local_address else {
                return Err(socket_error(
                    "raw VRRP socket (IPv6)",
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "an IPv6 instance needs an IPv6 source address",
                    ),
                ));
            };
            let socket = Arc::new(
                VrrpSocketV6::open(&link.name, link.index, link_local)
                    .map_err(|source| socket_error("raw VRRP socket (IPv6)", source))?,
            );
            interface.socket_v6 = Some(socket);
            interface.neighbour_advertiser = Some(
                NeighbourAdvertiser::open(&link.name, link.index, link_local)
                    .map_err(|source| socket_error("neighbour advertisement socket", source))?,
            );
        }
        Ok(())
    }

    /// Close interfaces no instance uses any more.
    fn close_unused_interfaces(&mut self) {
        let slots = &self.slots;
        self.interfaces.retain(|_, interface| {
            slots
                .iter()
                .any(|slot| slot.ifindex == interface.link.index)
        });
    }

    /// Feed one input to slot `index` and perform what it asks.
    async fn feed(&mut self, index: usize, input: Input<'_>) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let actions = slot.instance.handle(Instant::now(), input);
        self.perform(index, actions).await;
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let due = self.slots[index]
                .instance
                .next_deadline()
                .is_some_and(|deadline| deadline <= now);
            if due {
                let actions = self.slots[index].instance.on_timeout(now);
                self.perform(index, actions).await;
            }
        }
    }

    /// Wait until one of the VRRP sockets has a datagram and read it into `buffer`.
    fn poll_receive(
        &self,
        cx: &mut std::task::Context<'_>,
        buffer: &mut [u8],
    ) -> std::task::Poll<Result<Received, ReceiveFailure>> {
        use std::task::Poll;
        let failure = |interface: &Interface, ipv6: bool, error: io::Error| ReceiveFailure {
            interface: interface.link.name.clone(),
            ipv6,
            error,
        };
        for interface in self.interfaces.values() {
            if let Some(socket) = &interface.socket_v4 {
                match socket.poll_recv(cx, buffer) {
                    Poll::Ready(Ok(length)) => {
                        return Poll::Ready(Ok(Received::Ipv4 {
                            ifindex: socket.ifindex(),
                            length,
                        }));
                    }
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(Err(failure(interface, false, error)));
                    }
                    Poll::Pending => {}
                }
            }
            if let Some(socket) = &interface.socket_v6 {
                match socket.poll_recv(cx, buffer) {
                    Poll::Ready(Ok(received)) => {
                        return Poll::Ready(Ok(Received::Ipv6 {
                            ifindex: socket.ifindex(),
                            source: received.source,
                            hop_limit: received.hop_limit,
                            length: received.length,
                        }));
                    }
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(Err(failure(interface, true, error)));
                    }
                    Poll::Pending => {}
                }
            }
        }
        Poll::Pending
    }

    /// Handle datagrams already waiting in the sockets, at most
    /// [`EVENT_QUEUE_LEN`] per socket.
    async fn drain_sockets(&mut self, buffer: &mut [u8]) {
        let sockets_v4: Vec<Arc<VrrpSocketV4>> = self
            .interfaces
            .values()
            .filter_map(|interface| interface.socket_v4.clone())
            .collect();
        let sockets_v6: Vec<Arc<VrrpSocketV6>> = self
            .interfaces
            .values()
            .filter_map(|interface| interface.socket_v6.clone())
            .collect();
        for socket in sockets_v4 {
            for _ in 0..EVENT_QUEUE_LEN {
                let Ok(length) = socket.try_recv(buffer) else {
                    break;
                };
                let received = Received::Ipv4 {
                    ifindex: socket.ifindex(),
                    length,
                };
                self.on_received(received, buffer).await;
            }
        }
        for socket in sockets_v6 {
            for _ in 0..EVENT_QUEUE_LEN {
                let Ok(received) = socket.try_recv(buffer) else {
                    break;
                };
                let received = Received::Ipv6 {
                    ifindex: socket.ifindex(),
                    source: received.source,
                    hop_limit: received.hop_limit,
                    length: received.length,
                };
                self.on_received(received, buffer).await;
            }
        }
    }

    /// Handle a datagram whose bytes start `buffer`.
    async fn on_received(&mut self, received: Received, buffer: &[u8]) {
        match received {
            Received::Ipv4 { ifindex, length } => {
                let datagram = buffer.get(..length).unwrap_or(buffer);
                self.on_ipv4_datagram(ifindex, datagram).await
            }
            Received::Ipv6 {
                ifindex,
                source,
                hop_limit,
                length,
            } => {
                let message = buffer.get(..length).unwrap_or(buffer);
                self.on_ipv6_message(ifindex, source, hop_limit, message)
                    .await
            }
        }
    }

    /// RFC 3768 §7.1 / RFC 5798 §7.1 receive checks that need no instance:
    /// IP header, TTL, decoding; then hand the advert to its instance.
    async fn on_ipv4_datagram(&mut self, ifindex: u32, datagram: &[u8]) {
        let received = match screen_ipv4(datagram) {
            Ok(received) => received,
            Err(rejected) => {
                self.early_drop(ifindex, false, rejected);
                return;
            }
        };
        let source = IpAddr::V4(received.source);
        match packet::decode(received.payload, source, IpAddr::V4(received.destination)) {
            Ok(advert) => self.deliver(ifindex, false, source, advert).await,
            Err(reason) => {
                let rejected = Rejected {
                    reason,
                    source: Some(source),
                    vrid: peek_vrid(received.payload),
                };
                self.early_drop(ifindex, false, rejected);
            }
        }
    }

    async fn on_ipv6_message(
        &mut self,
        ifindex: u32,
        source: Ipv6Addr,
        hop_limit: Option<u8>,
        message: &[u8],
    ) {
        let source_ip = IpAddr::V6(source);
        if hop_limit != Some(REQUIRED_TTL) {
            let rejected = Rejected {
                reason: DropReason::BadTtl,
                source: Some(source_ip),
                vrid: peek_vrid(message),
            };
            self.early_drop(ifindex, true, rejected);
            return;
        }
        // Without IPV6_PKTINFO we do not see the destination; VRRP over IPv6 is
        // multicast-only (RFC 5798 §5.1.2.2), so the pseudo-header uses ff02::12.
        match packet::decode(message, source_ip, IpAddr::V6(MULTICAST_V6)) {
            Ok(advert) => self.deliver(ifindex, true, source_ip, advert).await,
            Err(reason) => {
                let rejected = Rejected {
                    reason,
                    source: Some(source_ip),
                    vrid: peek_vrid(message),
                };
                self.early_drop(ifindex, true, rejected);
            }
        }
    }

    fn slot_for(&self, ifindex: u32, ipv6: bool, vrid: u8) -> Option<usize> {
        self.slots.iter().position(|slot| {
            slot.ifindex == ifindex && slot.ipv6 == ipv6 && slot.config.virtual_router_id == vrid
        })
    }

    async fn deliver(&mut self, ifindex: u32, ipv6: bool, source: IpAddr, advert: Advertisement) {
        let Some(index) = self.slot_for(ifindex, ipv6, advert.virtual_router_id) else {
            let rejected = Rejected {
                reason: DropReason::UnknownVirtualRouterId,
                source: Some(source),
                vrid: None,
            };
            self.early_drop(ifindex, ipv6, rejected);
            return;
        };
        let slot = &mut self.slots[index];
        // Unicast mode: only the configured peers take part (keepalived `unicast_peer`).
        if slot.config.is_unicast() && !slot.config.unicast_peers.contains(&source) {
            slot.instance.count_drop(DropReason::NotAPeer);
            let label = format!("({})", slot.name());
            self.log_drop(&label, DropReason::NotAPeer, Some(source));
            return;
        }
        let actions = slot.instance.handle(
            Instant::now(),
            Input::Advertisement {
                source,
                advert: &advert,
            },
        );
        if !actions
            .iter()
            .any(|action| matches!(action, Action::Dropped { .. }))
        {
            slot.last_advert = Some((source, advert.priority));
        }
        self.perform(index, actions).await;
    }

    /// Count (on the instance when the VRID names one, else on the interface) and log.
    fn early_drop(&mut self, ifindex: u32, ipv6: bool, rejected: Rejected) {
        let owner = rejected
            .vrid
            .and_then(|vrid| self.slot_for(ifindex, ipv6, vrid));
        let label = match owner {
            Some(index) => {
                let slot = &mut self.slots[index];
                slot.instance.count_drop(rejected.reason);
                format!("({})", slot.name())
            }
            None => {
                let interface = self
                    .interfaces
                    .values_mut()
                    .find(|interface| interface.link.index == ifindex);
                match interface {
                    Some(interface) => {
                        *interface.drops.entry(rejected.reason).or_default() += 1;
                        interface.link.name.clone()
                    }
                    None => format!("interface index {ifindex}"),
                }
            }
        };
        self.log_drop(&label, rejected.reason, rejected.source);
    }

    fn log_drop(&mut self, label: &str, reason: DropReason, source: Option<IpAddr>) {
        let line = drop_line(label, reason, source);
        let Some(source) = source else {
            debug!("{line}");
            return;
        };
        match self.drop_log.check(Instant::now(), reason, source) {
            DropLog::Warn { suppressed: 0 } => warn!("{line}"),
            DropLog::Warn { suppressed } => warn!("{line} ({suppressed} more like it not logged)"),
            DropLog::Quiet => debug!("{line}"),
        }
    }

    /// Perform the core's actions for slot `index`, in order.
    async fn perform(&mut self, index: usize, actions: Vec<Action>) {
        for action in actions {
            // The master's every advert: nothing to name or log (no allocation per advert).
            if let Action::SendAdvertisement(advert) = &action {
                self.send_advertisement(index, advert).await;
                continue;
            }
            let Some(slot) = self.slots.get(index) else {
                return;
            };
            let name = slot.name().to_owned();
            let ifindex = slot.ifindex;
            match action {
                Action::SendAdvertisement(_) => {} // sent above
                Action::AddAddresses => {
                    for (address, prefix_len) in slot.addresses.clone() {
                        match self.netlink.add_address(ifindex, address, prefix_len).await {
                            Ok(Change::Done) => debug!("({name}) added {address}/{prefix_len}"),
                            Ok(Change::AlreadyThatWay) => {
                                debug!("({name}) {address} was already present")
                            }
                            Err(error) => error!(
                                "({name}) cannot add virtual address {address}/{prefix_len}: {error}"
                            ),
                        }
                    }
                }
                Action::RemoveAddresses => {
                    for (address, _) in slot.addresses.clone() {
                        match self.netlink.remove_address(ifindex, address).await {
                            Ok(Change::Done) => debug!("({name}) removed {address}"),
                            Ok(Change::AlreadyThatWay) => {
                                debug!("({name}) {address} was already absent")
                            }
                            Err(error) => {
                                error!("({name}) cannot remove virtual address {address}: {error}")
                            }
                        }
                    }
                }
                Action::SendGratuitousArp => self.send_gratuitous_arp(index),
                Action::Transition { from, to, reason } => {
                    let line = transition_line(
                        &name,
                        from,
                        to,
                        &reason,
                        slot.last_advert,
                        slot.interface_name(),
                    );
                    info!("{line}");
                    let record = TransitionRecord {
                        from: state_name(from).to_owned(),
                        to: state_name(to).to_owned(),
                        reason: reason_text(&reason, slot.last_advert, slot.interface_name()),
                        at_unix_ms: unix_ms_now(),
                    };
                    if let Some(notify) = &slot.config.notify {
                        let hook_state = match to {
                            State::Initialize => "STOP",
                            other => state_name(other),
                        };
                        self.notify.enqueue(hooks_for(
                            notify,
                            &name,
                            hook_state,
                            state_name(from),
                            slot.instance.priority(),
                        ));
                    }
                    if let Some(slot) = self.slots.get_mut(index) {
                        slot.last_transition = Some(record);
                    }
                    self.notifier.status(&self.status());
                    let leaving = self.slots.get(index).is_some_and(|slot| !slot.active());
                    if !self.stopping && !leaving {
                        self.sync_pending.push_back((name.clone(), from, to));
                    }
                }
                Action::Dropped { reason, source } => {
                    self.log_drop(&format!("({name})"), reason, Some(source))
                }
            }
        }
        if !self.following_sync_groups && !self.sync_pending.is_empty() {
            self.following_sync_groups = true;
            self.follow_sync_groups().await;
            self.following_sync_groups = false;
        }
    }

    /// Let the sync groups react to the queued transitions (see `core::sync_group`), and to
    /// the transitions that causes, until nothing moves.
    async fn follow_sync_groups(&mut self) {
        // Each member moves at most a few times per cascade; the bound only guards bugs.
        let mut budget = 16 * (self.slots.len() + 1);
        while let Some((name, from, to)) = self.sync_pending.pop_front() {
            if budget == 0 {
                error!("sync groups did not settle; leaving the remaining transitions alone");
                self.sync_pending.clear();
                break;
            }
            budget -= 1;
            let Some(group) = self
                .config
                .sync_groups
                .iter()
                .find(|group| group.instances.contains(&name))
            else {
                continue;
            };
            let group_name = group.name.clone();
            let members = self.group_members(&group.instances);
            let mover = members
                .iter()
                .position(|&index| self.slots[index].name() == name)
                .map(|member| MemberTransition { member, from, to });
            let why = format!(
                "{name} went from {} to {}",
                state_name(from),
                state_name(to)
            );
            self.command_group(&group_name, &members, mover, &why).await;
        }
    }

    /// Slot indexes of the running members of a group, in the group's order.
    fn group_members(&self, names: &[String]) -> Vec<usize> {
        names
            .iter()
            .filter_map(|name| {
                self.slots
                    .iter()
                    .position(|slot| slot.active() && slot.name() == name)
            })
            .collect()
    }

    async fn command_group(
        &mut self,
        group: &str,
        members: &[usize],
        transition: Option<MemberTransition>,
        why: &str,
    ) {
        let statuses: Vec<MemberStatus> = members
            .iter()
            .map(|&index| {
                let instance = &self.slots[index].instance;
                MemberStatus {
                    state: instance.state(),
                    held: instance.is_held(),
                    own_fault: instance.is_link_down() && instance.state() == State::Fault,
                }
            })
            .collect();
        for (member, command) in sync_group::follow(&statuses, transition) {
            let Some(&index) = members.get(member) else {
                continue;
            };
            let name = self.slots[index].name().to_owned();
            info!("{}", sync_line(group, &name, command, why));
            let input = match command {
                SyncCommand::ForceBackup => Input::SyncForceBackup,
                SyncCommand::ForceMaster => Input::SyncForceMaster,
                SyncCommand::Hold => Input::SyncHold,
                SyncCommand::Release => Input::SyncRelease,
            };
            let actions = self.slots[index].instance.handle(Instant::now(), input);
            // perform → follow_sync_groups → perform: the flag above stops the recursion
            // one level down, so boxing this one call is enough.
            Box::pin(self.perform(index, actions)).await;
        }
    }

    /// Re-check the group of instance `name` when something the policy looks at changed
    /// without a transition (a held instance's link went up or down).
    async fn recheck_group_of(&mut self, name: &str, why: &str) {
        let Some(group) = self
            .config
            .sync_groups
            .iter()
            .find(|group| group.instances.iter().any(|member| member == name))
        else {
            return;
        };
        let group_name = group.name.clone();
        let members = self.group_members(&group.instances);
        self.command_group(&group_name, &members, None, why).await;
    }

    /// After a reload: groups may have changed. Re-check every group's holds, and release
    /// instances held by a group they are no longer in.
    async fn recheck_sync_groups(&mut self) {
        for index in 0..self.slots.len() {
            let name = self.slots[index].name().to_owned();
            let grouped = self
                .config
                .sync_groups
                .iter()
                .any(|group| group.instances.contains(&name));
            if !grouped && self.slots[index].instance.is_held() {
                info!("({name}) no longer in a sync group: released");
                self.feed(index, Input::SyncRelease).await;
            }
        }
        for group in self.config.sync_groups.clone() {
            let members = self.group_members(&group.instances);
            self.command_group(&group.name, &members, None, "reload")
                .await;
        }
    }

    async fn send_advertisement(&self, index: usize, advert: &Advertisement) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let Some(interface) = self.interface_of(slot) else {
            return;
        };
        let params = slot.instance.params();
        if let (IpAddr::V4(source), Some(socket), true) = (
            params.local_address,
            &interface.socket_v4,
            slot.config.is_unicast(),
        ) {
            // Unicast mode: the same advert to each peer, TTL 255 like multicast (the socket
            // sets IP_TTL too). The v3 pseudo-header covers the destination (RFC 5798
            // §5.2.8), so each peer gets its own checksum.
            for peer in &slot.config.unicast_peers {
                let IpAddr::V4(peer_v4) = *peer else {
                    continue; // validation keeps unicast IPv4-only
                };
                let message =
                    packet::encode(advert, IpAddr::V4(source), *peer, params.checksum_mode);
                if let Err(error) = socket.send_to(&message, peer_v4, Some(source)).await {
                    warn!(
                        "({}) cannot send an advertisement to {peer} on {}: {error}",
                        slot.name(),
                        interface.link.name
                    );
                }
            }
            return;
        }
        let result = match (
            params.local_address,
            &interface.socket_v4,
            &interface.socket_v6,
        ) {
            (IpAddr::V4(source), Some(socket), _) => {
                let message = packet::encode(
                    advert,
                    IpAddr::V4(source),
                    IpAddr::V4(MULTICAST_V4),
                    params.checksum_mode,
                );
                socket.send_from(&message, source).await
            }
            (source @ IpAddr::V6(_), _, Some(socket)) => {
                let message = packet::encode(
                    advert,
                    source,
                    IpAddr::V6(MULTICAST_V6),
                    params.checksum_mode,
                );
                socket.send(&message).await
            }
            _ => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "no socket of the instance's family",
            )),
        };
        if let Err(error) = result {
            warn!(
                "({}) cannot send an advertisement on {}: {error}",
                slot.name(),
                interface.link.name
            );
        }
    }

    /// One gratuitous ARP per IPv4 virtual address (RFC 3768 §8.1.1), one
    /// unsolicited NA per IPv6 one (RFC 5798 §6.4.2); the core schedules the
    /// bursts and refreshes.
    fn send_gratuitous_arp(&self, index: usize) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let Some(interface) = self.interface_of(slot) else {
            return;
        };
        let Some(mac) = interface.link.mac else {
            debug!(
                "({}) {} has no Ethernet address: no gratuitous ARP/NA",
                slot.name(),
                interface.link.name
            );
            return;
        };
        for (address, _) in &slot.addresses {
            let result = match (address, &interface.garp, &interface.neighbour_advertiser) {
                (IpAddr::V4(address), Some(garp), _) => {
                    garp.send_frame(&crate::core::arp::gratuitous_arp_frame(mac, *address))
                }
                (IpAddr::V6(address), _, Some(advertiser)) => {
                    let IpAddr::V6(source) = slot.instance.params().local_address else {
                        continue;
                    };
                    advertiser.send_message(&crate::core::arp::unsolicited_neighbour_advertisement(
                        mac, *address, source,
                    ))
                }
                _ => Ok(()),
            };
            if let Err(error) = result {
                warn!(
                    "({}) cannot announce {address} on {}: {error}",
                    slot.name(),
                    interface.link.name
                );
            }
        }
    }

    fn interface_of(&self, slot: &Slot) -> Option<&Interface> {
        self.interfaces
            .values()
            .find(|interface| interface.link.index == slot.ifindex)
    }

    async fn on_link_event(&mut self, event: LinkEvent) {
        let Some(interface) = self
            .interfaces
            .values_mut()
            .find(|interface| interface.link.index == event.index)
        else {
            return;
        };
        if interface.link.up == event.up {
            return; // The kernel notifies for many other changes.
        }
        interface.link.up = event.up;
        let name = interface.link.name.clone();
        if event.up {
            // The MAC may have changed while the link was down (bonding, a new NIC).
            match self.netlink.link_by_index(event.index).await {
                Ok(fresh) => {
                    if let Some(interface) = self.interfaces.get_mut(&name) {
                        interface.link.mac = fresh.mac;
                    }
                }
                Err(error) => warn!("cannot refresh interface {name}: {error}"),
            }
        }
        info!(
            "interface {name} is {}",
            if event.up { "up" } else { "down" }
        );
        for index in 0..self.slots.len() {
            if self
                .slots
                .get(index)
                .is_some_and(|slot| slot.ifindex == event.index)
            {
                self.feed(
                    index,
                    if event.up {
                        Input::LinkUp
                    } else {
                        Input::LinkDown
                    },
                )
                .await;
                // A held instance changes no state on LinkUp/LinkDown, but whether its
                // group is at fault does.
                if let Some(slot) = self.slots.get(index) {
                    let instance = slot.name().to_owned();
                    let why = format!(
                        "{instance}'s interface {name} is {}",
                        if event.up { "up" } else { "down" }
                    );
                    self.recheck_group_of(&instance, &why).await;
                }
            }
        }
    }

    /// The stop request: every instance with `make_before_break` hands over (a master
    /// resigns with priority 0 but keeps serving its addresses until the new master is
    /// heard or Master_Down_Interval passes, see [`Input::HandOver`]); the others get the
    /// RFC's Shutdown event at once. The loop then runs until [`Daemon::handing_over`]
    /// is false, and [`Daemon::shutdown_all`] finishes.
    async fn begin_stop(&mut self) {
        // Members leaving during a stop must not drag their sync groups along.
        self.stopping = true;
        self.notifier.stopping();
        for index in 0..self.slots.len() {
            let input = stop_input(&self.slots[index].config);
            self.feed(index, input).await;
        }
        if self.handing_over() {
            info!("handing over: {}", self.handing_over_names().join(", "));
        }
    }

    /// Whether a master is still handing over (a stop waits for it).
    fn handing_over(&self) -> bool {
        self.slots.iter().any(|slot| slot.instance.handing_over())
    }

    fn handing_over_names(&self) -> Vec<&str> {
        self.slots
            .iter()
            .filter(|slot| slot.instance.handing_over())
            .map(Slot::name)
            .collect()
    }

    /// Shutdown event for every instance (RFC 3768 §6.4.2/§6.4.3): a master sends
    /// priority 0 so a backup takes over in Skew_Time, and addresses are removed.
    async fn shutdown_all(&mut self) {
        self.stopping = true;
        for index in 0..self.slots.len() {
            self.feed(index, Input::Shutdown).await;
        }
        self.slots.clear();
        self.close_unused_interfaces();
    }

    /// SIGHUP: re-read and check the config in a task, so that the loop keeps sending
    /// and receiving adverts while the schema check's child process runs (see
    /// config::isolated); [`Daemon::finish_reload`] applies the result.
    fn begin_reload(&mut self) {
        self.notifier.reloading();
        info!("SIGHUP received, reloading {}", self.config_path.display());
        self.reload_generation += 1;
        let generation = self.reload_generation;
        let path = self.config_path.clone();
        let reloaded = self.reloaded.clone();
        tokio::spawn(async move {
            let loaded = config::isolated::load_file(&path).await;
            // Fails only when the loop has ended: nothing to apply then.
            let _ = reloaded.send((generation, loaded)).await;
        });
    }

    /// The checked config of a reload: apply it, or on error keep running the old one.
    async fn finish_reload(&mut self, generation: u64, loaded: Result<Config, ConfigError>) {
        if generation != self.reload_generation {
            debug!("a later SIGHUP superseded this reload");
            return;
        }
        match loaded {
            Err(error) => {
                error!("reload failed, still running the previous configuration: {error}")
            }
            Ok(new_config) => {
                if new_config.trackers != self.config.trackers {
                    // Restart every check: their results start over.
                    if let Err(error) = self.start_trackers(&new_config.trackers) {
                        error!("trackers: {error}");
                    }
                }
                let plan = plan_reload(&self.config.instances, &new_config.instances);
                // The new groups apply to the instances the reload starts.
                self.config.sync_groups = new_config.sync_groups.clone();
                self.apply_reload(plan).await;
                // Tracking and hooks change in place (see only_priority_changed).
                for slot in self.slots.iter_mut().filter(|slot| slot.leaving.is_none()) {
                    if let Some(fresh) = new_config
                        .instances
                        .iter()
                        .find(|config| config.name == slot.config.name)
                    {
                        slot.config.track = fresh.track.clone();
                        slot.config.notify = fresh.notify.clone();
                    }
                }
                for index in 0..self.slots.len() {
                    self.apply_tracking(index).await;
                }
                self.close_unused_interfaces();
                // Remember only what runs: an instance that failed to start counts as
                // "added" again at the next reload, which then retries it.
                let running: Vec<InstanceConfig> = new_config
                    .instances
                    .into_iter()
                    .filter(|config| self.slots.iter().any(|slot| slot.name() == config.name))
                    .collect();
                self.config = Config {
                    instances: running,
                    ..new_config
                };
                // Keep the config's order for STATUS= and logs.
                let order: Vec<&str> = self
                    .config
                    .instances
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect();
                self.slots
                    .sort_by_key(|slot| order.iter().position(|name| *name == slot.name()));
                self.recheck_sync_groups().await;
                info!("reload done: {}", self.status());
            }
        }
        self.notifier.ready(&self.status());
        release_startup_memory();
    }

    async fn apply_reload(&mut self, plan: ReloadPlan) {
        let mut to_start: Vec<InstanceConfig> = plan.added;
        let restarted_names: Vec<String> = plan
            .restarted
            .iter()
            .map(|config| config.name.clone())
            .collect();
        let mut restart_configs = plan.restarted;
        for name in plan.removed.iter().chain(restarted_names.iter()) {
            let Some(index) = self
                .slots
                .iter()
                .position(|slot| slot.active() && slot.name() == name)
            else {
                continue;
            };
            let restart = restart_configs
                .iter()
                .position(|config| &config.name == name)
                .map(|position| restart_configs.remove(position));
            // A master hands over first (make-before-break, like a stop), so that moving
            // an instance out of this daemon's config loses no packet; everything else
            // stops at once (RFC 3768 §6.4.3 Shutdown semantics via stop_input).
            let input = stop_input(&self.slots[index].config);
            self.feed(index, input).await;
            let Some(slot) = self.slots.get_mut(index) else {
                continue;
            };
            if slot.instance.handing_over() {
                info!("({name}) handing over before the reload stops it");
                slot.leaving = Some(Leaving {
                    then_start: restart.into_iter().collect(),
                });
            } else {
                self.slots.remove(index);
                info!("({name}) stopped by reload");
                to_start.extend(restart);
            }
        }
        self.close_unused_interfaces();
        for (name, priority) in &plan.reprioritized {
            if let Some(index) = self
                .slots
                .iter()
                .position(|slot| slot.active() && slot.name() == name)
            {
                self.slots[index].config.priority = *priority;
                info!("({name}) priority changed to {priority} by reload");
                // The trackers' weights apply on top of the new base.
                self.apply_tracking(index).await;
            }
        }
        for config in to_start {
            self.start_or_queue(config).await;
        }
    }

    /// Start `config` now, or, when an instance that a reload is taking out still holds
    /// its interface and VRID (a rename, say), once that one has handed over.
    async fn start_or_queue(&mut self, config: InstanceConfig) {
        let clashing = self.slots.iter_mut().find(|slot| {
            slot.leaving.is_some()
                && slot.config.interface == config.interface
                && slot.config.virtual_router_id == config.virtual_router_id
        });
        if let Some(slot) = clashing {
            info!(
                "({}) starts once ({}) has handed over VRID {} on {}",
                config.name,
                slot.name(),
                config.virtual_router_id,
                config.interface
            );
            if let Some(leaving) = &mut slot.leaving {
                leaving.then_start.push(config);
            }
            return;
        }
        let name = config.name.clone();
        match self.start_instance(config).await {
            Ok(()) => info!("({name}) started by reload"),
            Err(error) => error!("({name}) cannot start: {error}"),
        }
    }

    /// Whether a reload is still waiting for an instance to hand over (a further
    /// reload waits for it).
    fn reload_handing_over(&self) -> bool {
        self.slots.iter().any(|slot| slot.leaving.is_some())
    }

    /// Take out the instances a reload removed once their hand-over is over (the new
    /// master was heard, or the wait ran out), and start what waited for them.
    async fn finish_leaving(&mut self) {
        while let Some(index) = self
            .slots
            .iter()
            .position(|slot| slot.leaving.is_some() && !slot.instance.handing_over())
        {
            let slot = self.slots.remove(index);
            info!("({}) stopped by reload (handed over)", slot.name());
            self.close_unused_interfaces();
            if self.stopping {
                continue;
            }
            for config in slot
                .leaving
                .map(|leaving| leaving.then_start)
                .unwrap_or_default()
            {
                self.start_or_queue(config).await;
            }
            self.notifier.status(&self.status());
        }
    }
}

impl Daemon {
    /// (Re)start one task per tracker; results start over.
    /// A tracker whose config did not change keeps its results (a reload must not reset
    /// a failed check to healthy).
    fn start_trackers(&mut self, configs: &[TrackerConfig]) -> Result<(), CheckSetupError> {
        self.tracker_generation += 1;
        let mut previous: Vec<TrackerSlot> = std::mem::take(&mut self.trackers);
        let mut first_error = None;
        for (index, config) in configs.iter().enumerate() {
            let mut slot = match previous.iter().position(|old| old.config == *config) {
                Some(position) => {
                    let mut kept = previous.swap_remove(position);
                    if let Some(task) = kept.task.take() {
                        task.abort();
                    }
                    kept
                }
                None => TrackerSlot::new(config.clone()),
            };
            match spawn_tracker(
                index,
                self.tracker_generation,
                config,
                self.tracker_reports.clone(),
            ) {
                Ok(task) => slot.task = Some(task),
                Err(error) => {
                    // Keep the slot (status shows it) but run nothing.
                    slot.last_result = error.to_string();
                    first_error.get_or_insert(error);
                }
            }
            self.trackers.push(slot);
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    async fn on_tracker_report(&mut self, report: TrackerReport) {
        if report.generation != self.tracker_generation {
            return; // From a tracker that a reload replaced.
        }
        let Some(tracker) = self.trackers.get_mut(report.tracker) else {
            return;
        };
        let outcome = report.outcome;
        tracker.checks += 1;
        if !outcome.healthy {
            tracker.failures += 1;
        }
        let name = tracker.config.name.clone();
        let changed = match (tracker.value, outcome.value) {
            (Some(old), Some(new)) => {
                tracker.value = Some(new);
                if old != new {
                    info!("tracker {name}: {}", outcome.detail);
                }
                old != new
            }
            _ => match tracker.counter.record(outcome.healthy) {
                Some(true) => {
                    info!("tracker {name} is up: {}", outcome.detail);
                    true
                }
                Some(false) => {
                    warn!("tracker {name} is down: {}", outcome.detail);
                    true
                }
                None => {
                    debug!("tracker {name}: {}", outcome.detail);
                    false
                }
            },
        };
        tracker.last_result = outcome.detail;
        if changed {
            for index in 0..self.slots.len() {
                if self.slots[index]
                    .config
                    .track
                    .iter()
                    .any(|track| track.tracker == name)
                {
                    self.apply_tracking(index).await;
                }
            }
        }
    }

    /// The instance's tracked inputs: (tracker name, weight, what the policy sees).
    fn tracked(&self, slot: &Slot) -> Vec<(String, i32, TrackerInput)> {
        slot.config
            .track
            .iter()
            .filter_map(|track| {
                let tracker = self
                    .trackers
                    .iter()
                    .find(|tracker| tracker.config.name == track.tracker)?;
                Some((
                    track.tracker.clone(),
                    track.weight,
                    tracker.input(track.weight),
                ))
            })
            .collect()
    }

    /// Recompute the effective priority and the tracker FAULT of slot `index` and hand
    /// them to the core.
    async fn apply_tracking(&mut self, index: usize) {
        let Some(slot) = self.slots.get(index).filter(|slot| slot.active()) else {
            return;
        };
        let tracked = self.tracked(slot);
        let effective = effective_priority(
            slot.config.priority,
            tracked.iter().map(|(_, _, input)| *input),
        );
        let faulting = tracked
            .iter()
            .find(|(_, _, input)| input.contribution() == Contribution::Fault)
            .map(|(name, _, _)| name.clone());
        if effective.priority != slot.instance.priority() {
            info!(
                "({}) priority {} -> {} (base {})",
                slot.name(),
                slot.instance.priority(),
                effective.priority,
                slot.config.priority
            );
            let actions = self.slots[index]
                .instance
                .set_priority(Instant::now(), effective.priority);
            self.perform(index, actions).await;
        }
        let held = self.slots[index].instance.tracker_fault();
        match faulting {
            Some(tracker) if !held => {
                self.feed(index, Input::TrackerFault { tracker: &tracker })
                    .await
            }
            None if held => self.feed(index, Input::TrackerRecovered).await,
            _ => {}
        }
    }

    async fn on_control(&mut self, request: ControlRequest) {
        let response = match request.command {
            Command::Status => Response::status(self.status_report()),
            Command::Demote { instance } => self.change_hold(instance.as_deref(), true).await,
            Command::Promote { instance } => self.change_hold(instance.as_deref(), false).await,
        };
        // The client may have gone away meanwhile.
        let _ = request.reply.send(response);
    }

    /// `vrrpd demote` (`demote` true) or `vrrpd promote` for one instance, or all of them.
    /// The hold is saved before the instance is touched: a demote that cannot be kept
    /// across a restart is refused rather than half done.
    async fn change_hold(&mut self, name: Option<&str>, demote: bool) -> Response {
        let targets: Vec<usize> = match name {
            None => (0..self.slots.len())
                .filter(|&index| self.slots[index].active())
                .collect(),
            Some(name) => match self
                .slots
                .iter()
                .position(|slot| slot.active() && slot.name() == name)
            {
                // A sync group's members are master together: demoting one alone would
                // have the group pull it back (or push the others out without a
                // hand-over), so the hold applies to the whole group.
                Some(index) => match self
                    .config
                    .sync_groups
                    .iter()
                    .find(|group| group.instances.iter().any(|member| member == name))
                {
                    Some(group) => self.group_members(&group.instances),
                    None => vec![index],
                },
                None => {
                    let known: Vec<&str> = self.slots.iter().map(Slot::name).collect();
                    return Response::error(format!(
                        "no instance named {name:?} (instances: {})",
                        known.join(", ")
                    ));
                }
            },
        };
        let mut wanted = self.demoted.clone();
        match (demote, name) {
            (true, _) => wanted.extend(targets.iter().map(|&i| self.slots[i].name().to_owned())),
            // Promote everything also clears names no instance has any more.
            (false, None) => wanted.clear(),
            (false, Some(_)) => {
                for &index in &targets {
                    wanted.remove(self.slots[index].name());
                }
            }
        }
        if wanted != self.demoted {
            if let Err(error) = self.demoted_store.save(&wanted) {
                error!("{error}");
                return Response::error(format!("nothing changed: {error}"));
            }
            self.demoted = wanted;
        }
        let now = Instant::now();
        let mut changes = Vec::new();
        for index in targets {
            let slot = &mut self.slots[index];
            let was = slot.instance.state();
            let was_demoted = slot.instance.is_demoted();
            let actions = if demote {
                slot.instance.demote(now)
            } else {
                slot.instance.promote(now)
            };
            let handing_over = slot.instance.handing_over();
            let state = state_name(was);
            let message = match (demote, was_demoted, was) {
                (true, true, _) => format!("{state}, already demoted"),
                (true, false, State::Master) if handing_over => format!(
                    "MASTER: handing over (priority 0 sent; keeps the addresses until the \
                     new master is heard, at most {:.1}s), then stays BACKUP",
                    slot.instance
                        .master_down_interval()
                        .min(crate::core::state::MAX_HAND_OVER_WAIT)
                        .as_secs_f64()
                ),
                (true, false, _) => format!("{state}: demoted, stays BACKUP"),
                (false, false, _) => format!("{state}, was not demoted"),
                (false, true, State::Backup) => format!(
                    "BACKUP: promoted, advertising priority {} again (preempts a lower-priority \
                     master within Master_Down_Interval)",
                    slot.instance.priority()
                ),
                (false, true, _) => format!(
                    "{state}: promoted, priority {} again",
                    slot.instance.priority()
                ),
            };
            let verb = if demote { "demote" } else { "promote" };
            info!("({}) operator {verb}: {message}", slot.name());
            changes.push(HoldChange {
                instance: slot.name().to_owned(),
                message,
                handing_over,
            });
            self.perform(index, actions).await;
        }
        self.notifier.status(&self.status());
        Response::changes(changes)
    }

    fn status_report(&self) -> StatusReport {
        let instances = self
            .slots
            .iter()
            .map(|slot| {
                let stats = slot.instance.stats();
                let tracks = self
                    .tracked(slot)
                    .into_iter()
                    .map(|(tracker, weight, input)| {
                        let contribution = input.contribution();
                        TrackContribution {
                            tracker,
                            weight,
                            contribution: match contribution {
                                Contribution::Weight(weight) => weight,
                                Contribution::Fault => 0,
                            },
                            fault: contribution == Contribution::Fault,
                        }
                    })
                    .collect();
                InstanceStatus {
                    name: slot.name().to_owned(),
                    interface: slot.interface_name().to_owned(),
                    virtual_router_id: slot.config.virtual_router_id,
                    state: state_name(slot.instance.state()).to_owned(),
                    base_priority: slot.config.priority,
                    effective_priority: slot.instance.priority(),
                    tracks,
                    master_address: slot.instance.master_address(),
                    last_transition: slot.last_transition.clone(),
                    adverts_sent: stats.adverts_sent,
                    adverts_received: stats.adverts_received,
                    transitions: stats.transitions,
                    drops: stats
                        .drops
                        .iter()
                        .map(|(reason, count)| (reason.label().to_owned(), *count))
                        .collect(),
                    demoted: slot.instance.is_demoted(),
                    handing_over: slot.instance.handing_over(),
                }
            })
            .collect();
        let trackers = self
            .trackers
            .iter()
            .map(|tracker| TrackerStatus {
                name: tracker.config.name.clone(),
                kind: tracker.config.check.kind().to_owned(),
                healthy: tracker.counter.healthy(),
                checked: tracker.checks > 0,
                value: tracker.value,
                last_result: tracker.last_result.clone(),
                checks: tracker.checks,
                failures: tracker.failures,
            })
            .collect();
        let interface_drops = self
            .interfaces
            .values()
            .filter(|interface| !interface.drops.is_empty())
            .map(|interface| {
                (
                    interface.link.name.clone(),
                    interface
                        .drops
                        .iter()
                        .map(|(reason, count)| (reason.label().to_owned(), *count))
                        .collect(),
                )
            })
            .collect();
        StatusReport {
            instances,
            trackers,
            interface_drops,
        }
    }
}

/// What a stop request feeds an instance: a make-before-break hand-over, or, with
/// `make_before_break` off, the RFC's Shutdown event (addresses removed at once).
pub fn stop_input(config: &InstanceConfig) -> Input<'static> {
    if config.make_before_break {
        Input::HandOver {
            then: AfterHandOver::Stop,
        }
    } else {
        Input::Shutdown
    }
}

/// IPv6 when the virtual addresses (or, with none, the source address) are IPv6.
fn instance_is_ipv6(config: &InstanceConfig, addresses: &[(IpAddr, u8)]) -> bool {
    match addresses.first() {
        Some((address, _)) => address.is_ipv6(),
        None => config
            .source_address
            .is_some_and(|address| address.is_ipv6()),
    }
}

// ---------------------------------------------------------------------------
// Pure helpers: receive screening, wording, reload planning, log rate limiting.
// ---------------------------------------------------------------------------

/// A packet rejected before any instance saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub reason: DropReason,
    /// Known once the IP header parsed.
    pub source: Option<IpAddr>,
    /// The VRID byte, when the payload is long enough to have one: lets the
    /// drop be counted on the instance it was meant for.
    pub vrid: Option<u8>,
}

/// Parse the IPv4 header and apply the checks that live there: protocol 112
/// and TTL 255 (RFC 3768 §7.1, RFC 5798 §7.1).
pub fn screen_ipv4(datagram: &[u8]) -> Result<Ipv4Datagram<'_>, Rejected> {
    let parsed = parse_ipv4(datagram).map_err(|reason| Rejected {
        reason,
        source: None,
        vrid: None,
    })?;
    let rejected = |reason| Rejected {
        reason,
        source: Some(IpAddr::V4(parsed.source)),
        vrid: peek_vrid(parsed.payload),
    };
    if parsed.protocol != IP_PROTOCOL_VRRP {
        return Err(rejected(DropReason::NotVrrp));
    }
    if parsed.ttl != REQUIRED_TTL {
        return Err(rejected(DropReason::BadTtl));
    }
    Ok(parsed)
}

/// The VRID is the second byte of every VRRP version's header.
pub fn peek_vrid(message: &[u8]) -> Option<u8> {
    message.get(1).copied()
}

/// keepalived's state names, which operators grep journals for.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// The one line logged per transition, worded like keepalived's so existing
/// journal searches keep working, plus why:
/// `(VI_1) Entering MASTER STATE (reason: master down timer expired; last master 192.0.2.41 priority 150)`.
pub fn transition_line(
    name: &str,
    from: State,
    to: State,
    reason: &TransitionReason,
    last_advert: Option<(IpAddr, u8)>,
    interface: &str,
) -> String {
    let why = reason_text(reason, last_advert, interface);
    let _ = from; // keepalived's line names only the new state; `from` is in the debug log.
    format!("({name}) Entering {} STATE (reason: {why})", state_name(to))
}

/// Why a transition happened, in operator words (the transition line's "reason").
pub fn reason_text(
    reason: &TransitionReason,
    last_advert: Option<(IpAddr, u8)>,
    interface: &str,
) -> String {
    let last_master = match last_advert {
        Some((source, priority)) => format!("last master {source} priority {priority}"),
        None => "no other router heard".to_owned(),
    };
    match reason {
        TransitionReason::Startup => "startup".to_owned(),
        TransitionReason::AddressOwner => "priority 255: we own the virtual addresses".to_owned(),
        TransitionReason::MasterDown => format!("master down timer expired; {last_master}"),
        TransitionReason::MasterResigned => match last_advert {
            Some((source, _)) => format!("master {source} resigned (sent priority 0)"),
            None => "the master resigned (sent priority 0)".to_owned(),
        },
        TransitionReason::HigherPriorityMaster { source, priority } => {
            format!("advertisement from {source} priority {priority} takes precedence")
        }
        TransitionReason::Preempt { source, priority } => {
            format!("preempting lower priority master {source} priority {priority}")
        }
        TransitionReason::Shutdown => "shutting down".to_owned(),
        TransitionReason::HandedOver { source, priority } => {
            format!("handed over to the new master {source} priority {priority}")
        }
        TransitionReason::HandOverTimedOut => {
            "handing over: no new master within the master down interval".to_owned()
        }
        TransitionReason::LinkDown => format!("interface {interface} is down"),
        TransitionReason::LinkUp => format!("interface {interface} is up"),
        TransitionReason::TrackerFault { tracker } => format!("tracker {tracker} failed"),
        TransitionReason::TrackerRecovered => "trackers recovered".to_owned(),
        TransitionReason::SyncGroup => "its sync group follows another member".to_owned(),
    }
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The log line for a dropped packet, in operator words: who sent it and why
/// it was ignored (DropReason's Display), e.g.
/// `(VI_1) ignored a VRRP packet from 192.0.2.42: password differs from ours`.
pub fn drop_line(label: &str, reason: DropReason, source: Option<IpAddr>) -> String {
    match source {
        Some(source) => format!("{label} ignored a VRRP packet from {source}: {reason}"),
        None => format!("{label} ignored a VRRP packet: {reason}"),
    }
}

/// The line logged before a sync group moves a member, e.g.
/// `(VI_2) sync group G1: VI_1 went from MASTER to FAULT; holding VI_2 out of MASTER until no member is in FAULT`.
pub fn sync_line(group: &str, member: &str, command: SyncCommand, why: &str) -> String {
    let what = match command {
        SyncCommand::ForceBackup => format!("{member} leaves MASTER too (sending priority 0)"),
        SyncCommand::ForceMaster => format!("{member} becomes MASTER too"),
        SyncCommand::Hold => {
            format!("holding {member} out of MASTER until no member's interface is down")
        }
        SyncCommand::Release => format!("releasing {member}: no member's interface is down"),
    };
    format!("({member}) sync group {group}: {why}; {what}")
}

/// STATUS= text: `VI_1: MASTER (prio 150); VI_2: BACKUP (prio 100, demoted)`, from
/// (name, state, priority, demoted).
pub fn status_text<'a>(instances: impl IntoIterator<Item = (&'a str, State, u8, bool)>) -> String {
    let parts: Vec<String> = instances
        .into_iter()
        .map(|(name, state, priority, demoted)| {
            let hold = if demoted { ", demoted" } else { "" };
            format!("{name}: {} (prio {priority}{hold})", state_name(state))
        })
        .collect();
    if parts.is_empty() {
        "no VRRP instances".to_owned()
    } else {
        parts.join("; ")
    }
}

/// What a reload changes, by instance name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Identical: keeps its state and addresses.
    pub unchanged: Vec<String>,
    /// Gone from the new config: shut down (priority-0 advert if master, addresses removed).
    pub removed: Vec<String>,
    /// New: started.
    pub added: Vec<InstanceConfig>,
    /// Only the priority changed: applied in place (no state loss).
    pub reprioritized: Vec<(String, u8)>,
    /// Anything else changed: shut down and started again with the new config.
    pub restarted: Vec<InstanceConfig>,
}

/// Diff two instance lists by name.
pub fn plan_reload(old: &[InstanceConfig], new: &[InstanceConfig]) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    for before in old {
        if !new.iter().any(|after| after.name == before.name) {
            plan.removed.push(before.name.clone());
        }
    }
    for after in new {
        match old.iter().find(|before| before.name == after.name) {
            None => plan.added.push(after.clone()),
            Some(before) if before == after => plan.unchanged.push(after.name.clone()),
            Some(before) if only_priority_changed(before, after) => plan
                .reprioritized
                .push((after.name.clone(), after.priority)),
            Some(_) => plan.restarted.push(after.clone()),
        }
    }
    plan
}

/// Priority 255 means "address owner" (RFC 3768 §5.3.4), a different mode of
/// operation, so going to or from it is a restart, not a priority change.
/// `track` and `notify` are applied in place too: they only change the effective
/// priority (or FAULT) and what runs on the next transition, so a master need not let go.
fn only_priority_changed(before: &InstanceConfig, after: &InstanceConfig) -> bool {
    const OWNER: u8 = 255;
    let same_otherwise = InstanceConfig {
        priority: before.priority,
        track: before.track.clone(),
        notify: before.notify.clone(),
        ..after.clone()
    } == *before;
    same_otherwise && before.priority != OWNER && after.priority != OWNER
}

/// Outcome of [`DropLogLimiter::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropLog {
    /// Log at warn level; `suppressed` drops of this kind were not warned about since the last warning.
    Warn { suppressed: u64 },
    /// Within the quiet interval: log at debug level only.
    Quiet,
}

/// At most one warning per (reason, source) per interval, so one misconfigured
/// peer cannot flood the journal; the next warning says how many were skipped.
#[derive(Debug)]
pub struct DropLogLimiter {
    interval: Duration,
    last: HashMap<(DropReason, IpAddr), (Instant, u64)>,
}

impl DropLogLimiter {
    /// Bound on remembered sources (spoofed sources must not grow memory).
    pub const MAX_TRACKED: usize = 1024;

    pub fn new(interval: Duration) -> Self {
        DropLogLimiter {
            interval,
            last: HashMap::new(),
        }
    }

    pub fn check(&mut self, now: Instant, reason: DropReason, source: IpAddr) -> DropLog {
        if let Some((warned_at, suppressed)) = self.last.get_mut(&(reason, source)) {
            if now.saturating_duration_since(*warned_at) < self.interval {
                *suppressed += 1;
                return DropLog::Quiet;
            }
            let skipped = *suppressed;
            *warned_at = now;
            *suppressed = 0;
            return DropLog::Warn {
                suppressed: skipped,
            };
        }
        if self.last.len() >= Self::MAX_TRACKED {
            let interval = self.interval;
            self.last
                .retain(|_, (warned_at, _)| now.saturating_duration_since(*warned_at) < interval);
            if self.last.len() >= Self::MAX_TRACKED {
                return DropLog::Quiet;
            }
        }
        self.last.insert((reason, source), (now, 0));
        DropLog::Warn { suppressed: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthenticationConfig, V3Checksum, VirtualAddress, VrrpVersion};

    fn instance(name: &str, priority: u8) -> InstanceConfig {
        InstanceConfig {
            name: name.to_owned(),
            interface: "eth0".to_owned(),
            virtual_router_id: 50,
            version: VrrpVersion::V2,
            priority,
            advert_interval_ms: 1000,
            authentication: AuthenticationConfig::Pass {
                password: "password".to_owned(),
            },
            virtual_addresses: vec![VirtualAddress("192.0.2.40".to_owned())],
            preempt: true,
            preempt_delay_s: 0,
            v3_checksum: V3Checksum::WithPseudoHeader,
            source_address: None,
            garp_burst_count: 5,
            garp_burst_interval_ms: 0,
            garp_repeat_delay_s: 5,
            garp_master_refresh_s: 60,
            track: Vec::new(),
            notify: None,
            unicast_peers: Vec::new(),
            unicast_source: None,
            make_before_break: true,
        }
    }

    #[test]
    fn stop_hands_over_unless_make_before_break_is_off() {
        let mut config = instance("VI_1", 150);
        assert_eq!(
            stop_input(&config),
            Input::HandOver {
                then: AfterHandOver::Stop
            }
        );
        config.make_before_break = false;
        assert_eq!(stop_input(&config), Input::Shutdown);
    }

    #[test]
    fn reload_plan_sorts_instances_by_what_changed() {
        let old = vec![
            instance("same", 100),
            instance("gone", 100),
            instance("prio", 100),
            instance("vip", 100),
        ];
        let mut vip_changed = instance("vip", 100);
        vip_changed.virtual_addresses = vec![VirtualAddress("192.0.2.50".to_owned())];
        let new = vec![
            instance("same", 100),
            instance("prio", 150),
            vip_changed.clone(),
            instance("new", 90),
        ];
        let plan = plan_reload(&old, &new);
        assert_eq!(plan.unchanged, vec!["same".to_owned()]);
        assert_eq!(plan.removed, vec!["gone".to_owned()]);
        assert_eq!(plan.reprioritized, vec![("prio".to_owned(), 150)]);
        assert_eq!(plan.restarted, vec![vip_changed]);
        assert_eq!(plan.added, vec![instance("new", 90)]);
    }

    #[test]
    fn becoming_or_leaving_address_owner_is_a_restart() {
        let plan = plan_reload(&[instance("a", 100)], &[instance("a", 255)]);
        assert_eq!(plan.restarted, vec![instance("a", 255)]);
        assert!(plan.reprioritized.is_empty());
        let plan = plan_reload(&[instance("a", 255)], &[instance("a", 100)]);
        assert_eq!(plan.restarted, vec![instance("a", 100)]);
    }

    #[test]
    fn tracking_and_hook_changes_apply_in_place() {
        let mut changed = instance("a", 150);
        changed.track = vec![crate::config::TrackRef {
            tracker: "caddy".to_owned(),
            weight: -60,
        }];
        changed.notify = Some(crate::config::NotifyConfig::default());
        let plan = plan_reload(&[instance("a", 100)], std::slice::from_ref(&changed));
        assert_eq!(plan.reprioritized, vec![("a".to_owned(), 150)]);
        assert!(plan.restarted.is_empty());
    }

    #[test]
    fn priority_and_another_field_changed_is_a_restart() {
        let mut changed = instance("a", 150);
        changed.preempt = false;
        let plan = plan_reload(&[instance("a", 100)], std::slice::from_ref(&changed));
        assert_eq!(plan.restarted, vec![changed]);
    }

    #[test]
    fn transition_line_reads_like_keepalived_with_a_reason() {
        let last = Some(("192.0.2.41".parse().unwrap(), 150));
        assert_eq!(
            transition_line(
                "VI_1",
                State::Backup,
                State::Master,
                &TransitionReason::MasterDown,
                last,
                "eth0"
            ),
            "(VI_1) Entering MASTER STATE (reason: master down timer expired; last master 192.0.2.41 priority 150)"
        );
        assert_eq!(
            transition_line(
                "VI_1",
                State::Backup,
                State::Master,
                &TransitionReason::MasterDown,
                None,
                "eth0"
            ),
            "(VI_1) Entering MASTER STATE (reason: master down timer expired; no other router heard)"
        );
        let higher = TransitionReason::HigherPriorityMaster {
            source: "192.0.2.42".parse().unwrap(),
            priority: 200,
        };
        assert_eq!(
            transition_line("VI_1", State::Master, State::Backup, &higher, None, "eth0"),
            "(VI_1) Entering BACKUP STATE (reason: advertisement from 192.0.2.42 priority 200 takes precedence)"
        );
        assert_eq!(
            transition_line(
                "VI_1",
                State::Master,
                State::Fault,
                &TransitionReason::LinkDown,
                None,
                "eth0"
            ),
            "(VI_1) Entering FAULT STATE (reason: interface eth0 is down)"
        );
        assert!(
            transition_line(
                "VI_1",
                State::Backup,
                State::Master,
                &TransitionReason::MasterResigned,
                last,
                "eth0"
            )
            .contains("master 192.0.2.41 resigned")
        );
    }

    #[test]
    fn drop_line_carries_source_and_reason_text() {
        let source: IpAddr = "192.0.2.42".parse().unwrap();
        let line = drop_line("(VI_1)", DropReason::AuthMismatch, Some(source));
        assert!(line.starts_with("(VI_1) ignored a VRRP packet from 192.0.2.42: "));
        assert!(line.ends_with(&DropReason::AuthMismatch.to_string()));
        assert_eq!(
            drop_line("eth0", DropReason::TooShort, None),
            format!("eth0 ignored a VRRP packet: {}", DropReason::TooShort)
        );
    }

    #[test]
    fn sync_lines_say_which_member_moved_and_what_follows() {
        let why = "VI_internal went from MASTER to FAULT";
        assert_eq!(
            sync_line("G_lb", "VI_public", SyncCommand::Hold, why),
            "(VI_public) sync group G_lb: VI_internal went from MASTER to FAULT; holding VI_public out of MASTER until no member's interface is down"
        );
        assert!(
            sync_line(
                "G",
                "B",
                SyncCommand::ForceBackup,
                "A went from MASTER to BACKUP"
            )
            .ends_with("B leaves MASTER too (sending priority 0)")
        );
        assert!(
            sync_line(
                "G",
                "B",
                SyncCommand::ForceMaster,
                "A went from BACKUP to MASTER"
            )
            .ends_with("B becomes MASTER too")
        );
        assert!(
            sync_line(
                "G",
                "B",
                SyncCommand::Release,
                "A went from FAULT to BACKUP"
            )
            .ends_with("releasing B: no member's interface is down")
        );
        assert_eq!(
            transition_line(
                "B",
                State::Master,
                State::Backup,
                &TransitionReason::SyncGroup,
                None,
                "eth0"
            ),
            "(B) Entering BACKUP STATE (reason: its sync group follows another member)"
        );
    }

    #[test]
    fn non_peer_drops_read_in_operator_words() {
        let line = drop_line(
            "(VI_1)",
            DropReason::NotAPeer,
            Some("192.0.2.10".parse().unwrap()),
        );
        assert_eq!(
            line,
            "(VI_1) ignored a VRRP packet from 192.0.2.10: sender is not one of this instance's unicast_peers"
        );
    }

    #[test]
    fn status_text_lists_every_instance() {
        assert_eq!(
            status_text([
                ("VI_1", State::Master, 150, false),
                ("VI_2", State::Backup, 100, false)
            ]),
            "VI_1: MASTER (prio 150); VI_2: BACKUP (prio 100)"
        );
        assert_eq!(
            status_text([("VI_1", State::Backup, 150, true)]),
            "VI_1: BACKUP (prio 150, demoted)"
        );
        assert_eq!(status_text([]), "no VRRP instances");
    }

    #[test]
    fn drop_warnings_are_rate_limited_per_reason_and_source() {
        let mut limiter = DropLogLimiter::new(Duration::from_secs(10));
        let start = Instant::now();
        let peer: IpAddr = "192.0.2.42".parse().unwrap();
        let other: IpAddr = "192.0.2.43".parse().unwrap();
        assert_eq!(
            limiter.check(start, DropReason::AuthMismatch, peer),
            DropLog::Warn { suppressed: 0 }
        );
        for second in 1..=9 {
            let now = start + Duration::from_secs(second);
            assert_eq!(
                limiter.check(now, DropReason::AuthMismatch, peer),
                DropLog::Quiet
            );
        }
        // Another reason or another source is its own stream.
        assert_eq!(
            limiter.check(start, DropReason::BadTtl, peer),
            DropLog::Warn { suppressed: 0 }
        );
        assert_eq!(
            limiter.check(start, DropReason::AuthMismatch, other),
            DropLog::Warn { suppressed: 0 }
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(
            limiter.check(later, DropReason::AuthMismatch, peer),
            DropLog::Warn { suppressed: 9 }
        );
        assert_eq!(
            limiter.check(later, DropReason::AuthMismatch, peer),
            DropLog::Quiet
        );
    }

    #[test]
    fn drop_limiter_memory_is_bounded() {
        let mut limiter = DropLogLimiter::new(Duration::from_secs(10));
        let now = Instant::now();
        for n in 0..(DropLogLimiter::MAX_TRACKED as u32 + 10) {
            let source = IpAddr::V4(std::net::Ipv4Addr::from(0xc000_0200 + n));
            let _ = limiter.check(now, DropReason::BadTtl, source);
        }
        assert_eq!(limiter.last.len(), DropLogLimiter::MAX_TRACKED);
        // Once the old entries have aged out, new sources are warned about again.
        let later = now + Duration::from_secs(11);
        let fresh = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(
            limiter.check(later, DropReason::BadTtl, fresh),
            DropLog::Warn { suppressed: 0 }
        );
        assert_eq!(limiter.last.len(), 1);
    }

    /// A 20-byte IPv4 header (no options) from 192.0.2.41 to 224.0.0.18 followed by `payload`.
    fn ipv4_datagram(ttl: u8, protocol: u8, payload: &[u8]) -> Vec<u8> {
        let total = u16::try_from(20 + payload.len()).unwrap();
        let mut datagram = vec![0x45, 0];
        datagram.extend_from_slice(&total.to_be_bytes());
        datagram.extend_from_slice(&[
            0, 0, 0, 0, ttl, protocol, 0, 0, 192, 0, 2, 41, 224, 0, 0, 18,
        ]);
        datagram.extend_from_slice(payload);
        datagram
    }

    // These need core::ip::parse_ipv4, a todo!() stub on this branch.
    #[test]
    fn screening_passes_vrrp_with_ttl_255() {
        let payload = [0x21, 50, 150, 1, 1, 1, 0, 0];
        let datagram = ipv4_datagram(255, 112, &payload);
        let screened = screen_ipv4(&datagram).unwrap();
        assert_eq!(screened.source, std::net::Ipv4Addr::new(192, 0, 2, 41));
        assert_eq!(screened.destination, MULTICAST_V4);
        assert_eq!(screened.payload, &payload);
    }

    #[test]
    fn screening_rejects_a_ttl_other_than_255_naming_source_and_vrid() {
        let datagram = ipv4_datagram(254, 112, &[0x21, 50, 150, 1, 1, 1, 0, 0]);
        assert_eq!(
            screen_ipv4(&datagram),
            Err(Rejected {
                reason: DropReason::BadTtl,
                source: Some("192.0.2.41".parse().unwrap()),
                vrid: Some(50),
            })
        );
    }

    #[test]
    fn screening_rejects_other_protocols_and_truncated_headers() {
        let udp = ipv4_datagram(255, 17, &[0; 8]);
        assert_eq!(
            screen_ipv4(&udp).map_err(|r| r.reason),
            Err(DropReason::NotVrrp)
        );
        let truncated = &ipv4_datagram(255, 112, &[])[..12];
        let rejected = screen_ipv4(truncated).unwrap_err();
        assert_eq!(rejected.source, None, "no source before the header parsed");
    }

    #[test]
    fn vrid_is_the_second_byte() {
        assert_eq!(peek_vrid(&[0x21, 50, 150]), Some(50));
        assert_eq!(peek_vrid(&[0x21]), None);
    }

    #[test]
    fn ipv6_instances_are_recognised_by_their_addresses() {
        let mut config = instance("a", 100);
        assert!(!instance_is_ipv6(
            &config,
            &[("192.0.2.40".parse().unwrap(), 32)]
        ));
        assert!(instance_is_ipv6(
            &config,
            &[("2001:db8::40".parse().unwrap(), 128)]
        ));
        config.source_address = Some("fe80::1".parse().unwrap());
        assert!(instance_is_ipv6(&config, &[]));
    }
}
