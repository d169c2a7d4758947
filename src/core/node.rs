//! The node: every instance of the daemon and every decision across instances, pure.
//!
//! Why the boundary sits here. The shell (`driver`) owns what only the kernel or systemd
//! can answer: sockets, netlink, signals, the timerfd, sd_notify, the control socket,
//! child processes, the file that keeps the demoted set. Everything it learns becomes a
//! [`NodeInput`] carrying `now`; everything the daemon does becomes a [`NodeAction`] the
//! shell performs, in order. So every decision — the §7.1 receive checks, the state
//! machines, sync groups, trackers turned into priority and FAULT, reload plans and
//! hand-overs, operator demote/promote, drop accounting and its log rate limit, what STATUS=
//! says — runs here without a socket, a runtime or a clock, and whole pairs of daemons
//! can be simulated in virtual time (`tests/sim`). The node never reads the clock: `now`
//! comes with each input, and [`Node::next_deadline`] says when to call it next.
//!
//! Inputs whose outcome needs the shell's I/O are split in two, connlib-style: the node
//! asks ([`NodeAction::PersistDemoted`], [`NodeAction::LoadConfig`],
//! [`NodeAction::RestartTrackers`]) and the shell answers with a later input
//! ([`NodeInput::Persisted`], [`NodeInput::ConfigLoaded`],
//! [`NodeInput::TrackerSetupFailed`]).

mod homes;
mod virtual_mac;

pub use homes::HomeLink;
use homes::{HomeBinding, SlotAddress, home_tracker_name};
pub use virtual_mac::VirtualMacLink;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::{CheckConfig, Config, InstanceConfig, NotifyConfig, TrackerConfig};

use super::arp;
use super::control::{Command, HoldChange, Response};
use super::drop_log::{DROP_WARNING_INTERVAL, DropLog, DropLogLimiter};
use super::packet::Advertisement;
use super::packet::{self, DropReason, MULTICAST_V4, MULTICAST_V6};
use super::receive::{self, ReceivedPacket, Receiver, Rejected};
use super::reload::{ReloadPlan, plan_reload, stop_input};
use super::routes::{RouteKey, RouteSpec, RuleSpec};
use super::state::{Action, Input, Instance, MAX_HAND_OVER_WAIT, OWNER_PRIORITY, State};
use super::status::{
    InstanceStatus, LastReload, ReloadStats, StatusReport, TrackContribution, TrackerStatus,
    TransitionRecord,
};
use super::sync_group::{self, MemberStatus, MemberTransition, SyncCommand};
use super::track::{Contribution, RiseFall, TrackerInput, effective_priority};
use super::wording::{
    address_added_line, address_removed_line, drop_line, reason_text, state_name, status_text,
    sync_line, transition_line,
};

// Virtual routes and rules: the hooks below marked so call into this module.
mod routing;

/// Where an instance runs, as the shell found it: the interface and the address our
/// adverts come from (configured, or the interface's primary one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub ifindex: u32,
    pub interface: String,
    pub up: bool,
    /// None for links without an Ethernet address (then no GARP/NA is possible).
    pub mac: Option<[u8; 6]>,
    pub local_address: IpAddr,
    /// With `use_virtual_mac`: the macvlan carrying the virtual MAC (made down).
    pub virtual_mac: Option<VirtualMacLink>,
}

/// One interface as the kernel has it (see [`NodeInput::Resync`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSnapshot {
    pub ifindex: u32,
    pub name: String,
    pub up: bool,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
}

/// A checked config for a reload, with a placement (or why there is none) for each of its
/// instances, by name. Only the instances the reload starts use theirs.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    pub placements: BTreeMap<String, Result<Placement, String>>,
}

/// What the shell tells the node. Each is handled at the `now` passed along.
#[derive(Clone, Debug)]
pub enum NodeInput<'a> {
    /// Start every instance of the config given to [`Node::new`].
    Start,
    /// A datagram from a VRRP socket on interface `ifindex`.
    Datagram {
        ifindex: u32,
        packet: ReceivedPacket<'a>,
    },
    /// [`Node::next_deadline`] has come.
    Timeout,
    /// The kernel's news of an interface (netlink RTM_NEWLINK): sent for every change
    /// (up/down, a rename, a new MAC or MTU, a new interface), with what it is now. The
    /// node compares with what it knew.
    Link {
        ifindex: u32,
        name: String,
        up: bool,
        /// None for links without an Ethernet address (then no GARP/NA is possible).
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    },
    /// The interface was deleted (netlink RTM_DELLINK).
    LinkGone { ifindex: u32 },
    /// The outcome of [`NodeAction::Locate`]: where the instance can run now, or why it
    /// cannot yet (no such interface, no address to advertise from).
    Located {
        instance: String,
        result: Result<Placement, String>,
    },
    /// The outcome of [`NodeAction::LocateHome`]: the interface of that name, or why it
    /// cannot be used.
    HomeLocated {
        interface: String,
        ipv6: bool,
        result: Result<HomeLink, String>,
    },
    /// Every link and address as the kernel has them now, read again after its
    /// notifications overflowed (netlink ENOBUFS): some changes may have been lost.
    Resync {
        links: Vec<LinkSnapshot>,
        /// (interface index, address) for every address of every interface.
        addresses: Vec<(u32, IpAddr)>,
    },
    /// An address appeared on (`present`) or went from interface `ifindex` (netlink
    /// RTM_NEWADDR / RTM_DELADDR), whoever changed it: our own changes come back too.
    Address {
        ifindex: u32,
        address: IpAddr,
        present: bool,
    },
    /// One of our routes (routing protocol [`super::routes::ROUTING_PROTOCOL`]) appeared
    /// or was removed (RTM_NEWROUTE / RTM_DELROUTE), whoever did it.
    Route { route: RouteKey, present: bool },
    /// One of our rules appeared or was removed (RTM_NEWRULE / RTM_DELRULE).
    Rule { rule: RuleSpec, present: bool },
    /// Our routes and rules as the kernel has them now, read again after the route and
    /// rule notifications overflowed (netlink ENOBUFS).
    RoutingResync {
        routes: Vec<RouteKey>,
        rules: Vec<RuleSpec>,
    },
    /// One result of a tracker's check (`generation` as in [`NodeAction::RestartTrackers`]).
    TrackerResult {
        tracker: usize,
        generation: u64,
        healthy: bool,
        /// A file tracker's integer.
        value: Option<i64>,
        detail: String,
    },
    /// A tracker of [`NodeAction::RestartTrackers`] could not be started.
    TrackerSetupFailed {
        tracker: usize,
        generation: u64,
        error: String,
    },
    /// An operator or metrics request; answered by [`NodeAction::Reply`] with the same id.
    Control { request: u64, command: Command },
    /// The outcome of [`NodeAction::PersistDemoted`].
    Persisted {
        request: u64,
        result: Result<(), String>,
    },
    /// SIGHUP: re-read the config.
    ReloadRequested,
    /// The outcome of [`NodeAction::LoadConfig`]: a checked config, or why it is not one.
    ConfigLoaded {
        generation: u64,
        result: Result<LoadedConfig, String>,
    },
    /// SIGTERM/SIGINT: masters hand over (make-before-break), then everything stops.
    Stop,
    /// A second stop request, or the shell cannot go on: stop at once.
    StopNow,
}

/// Log levels of [`NodeAction::Log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// What the node asks the shell to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeAction {
    /// Send this VRRP message from `source` to `destination` (the multicast group, or a
    /// unicast peer) on `ifindex`, with TTL/hop limit 255.
    SendAdvertisement {
        instance: usize,
        ifindex: u32,
        source: IpAddr,
        destination: IpAddr,
        message: Vec<u8>,
    },
    /// Add these addresses to the interface.
    AddAddresses {
        instance: String,
        ifindex: u32,
        addresses: Vec<(IpAddr, u8)>,
    },
    /// Remove them; `leftover` when they are what a previous run left behind at start.
    RemoveAddresses {
        instance: String,
        ifindex: u32,
        addresses: Vec<(IpAddr, u8)>,
        leftover: bool,
    },
    /// Add these routes (an instance's, marked with protocol 112), in order; already
    /// there is fine. `repair` when they are added again in case the kernel dropped them:
    /// one that was missing deserves a warning.
    AddRoutes {
        instance: String,
        routes: Vec<RouteSpec>,
        repair: bool,
    },
    /// Remove them (ours only: protocol 112); absent is fine. `leftover` as for addresses.
    RemoveRoutes {
        instance: String,
        routes: Vec<RouteSpec>,
        leftover: bool,
    },
    /// Add these policy rules, as [`NodeAction::AddRoutes`].
    AddRules {
        instance: String,
        rules: Vec<RuleSpec>,
        repair: bool,
    },
    /// Remove them, as [`NodeAction::RemoveRoutes`].
    RemoveRules {
        instance: String,
        rules: Vec<RuleSpec>,
        leftover: bool,
    },
    /// Send one gratuitous ARP frame (RFC 5227 §3, RFC 3768 §8.1.1).
    SendGratuitousArp {
        instance: String,
        ifindex: u32,
        address: IpAddr,
        frame: Vec<u8>,
    },
    /// Send one unsolicited Neighbor Advertisement (RFC 4861 §7.2.6, RFC 5798 §6.4.2)
    /// from `source`, an address of interface `ifindex`.
    SendNeighbourAdvertisement {
        instance: String,
        ifindex: u32,
        address: IpAddr,
        source: std::net::Ipv6Addr,
        message: Vec<u8>,
    },
    Log {
        level: LogLevel,
        line: String,
    },
    /// Run the notify hooks of one transition (keepalived's state names: MASTER, BACKUP,
    /// FAULT, STOP).
    RunHooks {
        notify: NotifyConfig,
        instance: String,
        state: &'static str,
        old_state: &'static str,
        priority: u8,
    },
    /// Run the priority-change hook (`notify.priority_change`) of one instance.
    RunPriorityHook {
        notify: NotifyConfig,
        instance: String,
        state: &'static str,
        old_priority: u8,
        new_priority: u8,
    },
    /// Keep this set of demoted instances across restarts; answer with [`NodeInput::Persisted`].
    PersistDemoted {
        request: u64,
        names: BTreeSet<String>,
    },
    /// The answer to [`NodeInput::Control`].
    Reply {
        request: u64,
        response: Response,
    },
    /// Stop every tracker task and start these; their results carry `generation`.
    RestartTrackers {
        generation: u64,
        trackers: Vec<TrackerConfig>,
    },
    /// Load and check the config file again; answer with [`NodeInput::ConfigLoaded`].
    LoadConfig {
        generation: u64,
    },
    /// sd_notify STATUS=.
    Status(String),
    /// sd_notify READY=1 with STATUS= (start-up done, or a reload done).
    Ready(String),
    /// sd_notify RELOADING=1.
    Reloading,
    /// sd_notify STOPPING=1.
    Stopping,
    /// Find where `instance` runs now (its interface by name, and the address to advertise
    /// from) and open the sockets it needs there; answer with [`NodeInput::Located`].
    Locate {
        instance: String,
        config: Box<InstanceConfig>,
    },
    /// Find the interface named `interface`, which holds some instance's addresses (see
    /// `virtual_addresses` with an `interface`), and open what announcing them there needs
    /// (gratuitous ARP, or for `ipv6` unsolicited NA from its link-local address); answer
    /// with [`NodeInput::HomeLocated`].
    LocateHome {
        interface: String,
        ipv6: bool,
    },
    /// Set an instance's virtual MAC interface (its macvlan) up or down.
    SetVirtualMacUp {
        instance: String,
        ifindex: u32,
        up: bool,
    },
    /// Delete an instance's virtual MAC interface: the instance stops for good.
    DeleteVirtualMac {
        instance: String,
        ifindex: u32,
        name: String,
    },
    /// Close the sockets of every interface not in `in_use`.
    CloseUnusedInterfaces {
        in_use: Vec<u32>,
    },
    /// Everything has stopped: the shell may exit.
    Exit,
}

/// What the node knows of one interface its instances run on.
#[derive(Clone, Debug)]
struct Link {
    name: String,
    up: bool,
    mac: Option<[u8; 6]>,
    /// None until the kernel's first notification for the link says it.
    mtu: Option<u32>,
    /// Drops that could not be pinned on an instance (unknown VRID, unparsable packets).
    drops: BTreeMap<DropReason, u64>,
}

/// What happened to a link its instances are taken off (see `Node::detach`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkFate {
    Deleted,
    Renamed,
}

/// One running virtual router.
#[derive(Debug)]
struct Slot {
    config: InstanceConfig,
    instance: Instance,
    /// The interface it runs on; None while there is none of its configured name that it
    /// can use (absent at start, deleted, renamed): it then waits in FAULT, and the node
    /// asks the shell to locate it again whenever an interface of that name shows up.
    ifindex: Option<u32>,
    /// A [`NodeAction::Locate`] for it is out.
    locating: bool,
    ipv6: bool,
    /// Every address it holds as master, and where each lives.
    addresses: Vec<SlotAddress>,
    /// The other interfaces it holds addresses on (see `homes`).
    homes: Vec<HomeBinding>,
    /// With `use_virtual_mac`: its macvlan, which holds the addresses that live on the
    /// instance's own interface otherwise and sends its adverts (see `virtual_mac`).
    virtual_mac: Option<VirtualMacLink>,
    /// Source and priority of the last advert the instance accepted, for the
    /// "last master" part of the transition line.
    last_advert: Option<(IpAddr, u8)>,
    /// For `vrrpd status`: the last [`RECENT_TRANSITIONS`] state changes, oldest first.
    recent_transitions: VecDeque<TransitionRecord>,
    /// Gratuitous ARP frames and unsolicited NAs sent, for the metrics.
    announcements_sent: u64,
    /// Virtual addresses put back after someone else removed them from this master.
    addresses_restored: u64,
    /// Set when a reload removes or restarts the instance while it is master: it hands
    /// over (make-before-break) and leaves once the new master is heard.
    leaving: Option<Leaving>,
}

/// A reload is taking this instance out: what starts once it has handed over.
#[derive(Debug, Default)]
struct Leaving {
    /// The restarted instance's new config, and any added instance that needs the same
    /// interface and VRID: they start once this one is gone.
    then_start: Vec<(InstanceConfig, Result<Placement, String>)>,
}

impl Slot {
    fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether it waits for its interface, with no [`NodeAction::Locate`] out.
    fn waiting(&self) -> bool {
        self.ifindex.is_none() && !self.locating && self.active()
    }

    /// Whether this slot still takes part in the daemon's decisions (sync groups,
    /// trackers, operator commands): not when a reload is taking it out.
    fn active(&self) -> bool {
        self.leaving.is_none()
    }
}

/// One health check and what its results amount to so far.
#[derive(Debug)]
struct TrackerState {
    config: TrackerConfig,
    counter: RiseFall,
    /// A file tracker's integer (0 until read).
    value: Option<i64>,
    last_result: String,
    checks: u64,
    failures: u64,
}

impl TrackerState {
    fn new(config: TrackerConfig) -> Self {
        let value = matches!(config.check, CheckConfig::File { .. }).then_some(0);
        TrackerState {
            counter: RiseFall::new(config.rise, config.fall),
            config,
            value,
            last_result: "not checked yet".to_owned(),
            checks: 0,
            failures: 0,
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

/// One instance as [`Node::instance_states`] shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceView {
    pub name: String,
    /// None while the instance waits for its interface.
    pub ifindex: Option<u32>,
    pub state: State,
    /// What it advertises and compares with (1 while demoted).
    pub advertised_priority: u8,
    pub preempt: bool,
    pub handing_over: bool,
    pub demoted: bool,
    pub local_address: IpAddr,
}

/// A demote or promote waiting for [`NodeInput::Persisted`].
#[derive(Debug)]
struct PendingHold {
    request: u64,
    targets: Vec<String>,
    demote: bool,
    wanted: BTreeSet<String>,
}

/// The demoted set read at start, as the shell found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DemotedAtStart {
    Instances(BTreeSet<String>),
    /// The file exists but cannot be read or understood (the text says why).
    Unreadable(String),
}

/// Bound on the sync-group cascade per member: each member moves at most a few times per
/// cascade, so the bound only guards bugs.
const SYNC_CASCADE_STEPS_PER_MEMBER: usize = 16;

/// Advert buffers kept for reuse: one per instance of a large config (every VRID on an
/// interface falling due at once), ~64 bytes each.
const SPARE_MESSAGES: usize = 256;

/// See [`Node::receive_coalescing`]: the window is this fraction of an interval.
const RECEIVE_COALESCING_FRACTION: u32 = 50;

/// How many state changes per instance `vrrpd status` shows: enough to see a flap (a
/// move, its return and the cause of each), bounded so a flapping instance cannot grow
/// the daemon's memory.
pub const RECENT_TRANSITIONS: usize = 10;

/// Every instance of the daemon and every decision across them. See the module doc.
#[derive(Debug)]
pub struct Node {
    /// The running config: the instances that run, the sync groups, the trackers.
    config: Config,
    /// Placements for the instances of `config` not started yet (consumed by Start), or
    /// why the shell found none (the instance then starts in FAULT and waits).
    initial_placements: BTreeMap<String, Result<Placement, String>>,
    links: BTreeMap<u32, Link>,
    slots: Vec<Slot>,
    trackers: Vec<TrackerState>,
    /// Bumped whenever the tracker tasks are restarted, so late results of the old ones
    /// are ignored.
    tracker_generation: u64,
    drop_log: DropLogLimiter,
    /// Transitions (instance name, from, to) its sync group has not reacted to yet.
    sync_pending: VecDeque<(String, State, State)>,
    /// Set while the sync groups react, so that the transitions they cause are queued
    /// rather than handled recursively.
    following_sync_groups: bool,
    /// Set once the daemon stops: members shutting down move nobody.
    stopping: bool,
    exited: bool,
    /// Names of the instances demoted by the operator (as persisted).
    demoted: BTreeSet<String>,
    pending_holds: Vec<PendingHold>,
    /// Bumped at each reload request: only the newest reload's result is applied.
    reload_generation: u64,
    /// Reloads applied and refused, and the newest one's outcome, for the metrics.
    reloads: ReloadStats,
    /// The wall clock at one `now`, so transition records carry a Unix time without the
    /// node reading a clock.
    wall_clock: (Instant, u64),
    actions: VecDeque<NodeAction>,
    /// The address Vec of the last accepted advert, emptied and reused for the next one's
    /// decode: no allocation per received advert.
    address_scratch: Vec<IpAddr>,
    /// An instance's actions are collected here and handed back by [`Self::perform`]:
    /// no action list is allocated per advert, sent or received.
    action_scratch: Vec<Action>,
    /// Per VRID, the slot that last matched it: a hint, checked before use, so that
    /// finding an advert's instance does not walk every slot (see `slot_for`).
    vrid_hints: [Cell<u16>; 256],
    /// Set when a reload makes a slot hand over before leaving; cleared once none does.
    /// Lets `reload_handing_over`, asked after every input, skip its walk of the slots.
    maybe_leaving: bool,
    /// Virtual routes and rules: restore counts and the interfaces routes go through.
    routing: routing::RoutingState,
    /// Advert buffers the shell gave back after sending (see `recycle_message`).
    spare_messages: Vec<Vec<u8>>,
}

impl Node {
    /// A node for `config`, whose instances run where `placements` says (by name). Nothing
    /// happens until [`NodeInput::Start`]. `unix_ms` is the wall clock at `now`.
    pub fn new(
        config: Config,
        placements: BTreeMap<String, Result<Placement, String>>,
        demoted: DemotedAtStart,
        now: Instant,
        unix_ms: u64,
    ) -> Self {
        let mut node = Node {
            config,
            initial_placements: placements,
            links: BTreeMap::new(),
            slots: Vec::new(),
            trackers: Vec::new(),
            tracker_generation: 0,
            drop_log: DropLogLimiter::new(DROP_WARNING_INTERVAL),
            sync_pending: VecDeque::new(),
            following_sync_groups: false,
            stopping: false,
            exited: false,
            demoted: BTreeSet::new(),
            pending_holds: Vec::new(),
            reload_generation: 0,
            reloads: ReloadStats::default(),
            wall_clock: (now, unix_ms),
            actions: VecDeque::new(),
            address_scratch: Vec::new(),
            action_scratch: Vec::new(),
            vrid_hints: std::array::from_fn(|_| Cell::new(NO_HINT)),
            maybe_leaving: false,
            routing: routing::RoutingState::default(),
            spare_messages: Vec::new(),
        };
        node.demoted = match demoted {
            DemotedAtStart::Instances(names) => {
                if !names.is_empty() {
                    node.log(
                        LogLevel::Warn,
                        format!(
                            "demoted by the operator, staying backup until `vrrpd promote`: {}",
                            names.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
                names
            }
            DemotedAtStart::Unreadable(problem) => {
                // The operator demoted something, or this file would not exist: the safe
                // reading during maintenance is that every instance stays demoted.
                node.log(
                    LogLevel::Error,
                    format!(
                        "{problem}; treating EVERY instance as demoted (they stay backup unless \
                         no other router serves the addresses). Run `vrrpd promote` to clear it."
                    ),
                );
                node.config
                    .instances
                    .iter()
                    .map(|instance| instance.name.clone())
                    .collect()
            }
        };
        node
    }

    /// Handle one input at `now`; then take the actions with [`Node::poll_action`].
    #[unsafe(link_section = ".text.hot.vrrpd")]
    pub fn handle(&mut self, now: Instant, input: NodeInput<'_>) {
        match input {
            NodeInput::Datagram { ifindex, packet } => self.on_datagram(now, ifindex, packet),
            NodeInput::Timeout => self.fire_timers(now),
            input => self.handle_other(now, input),
        }
        self.settle(now);
    }

    /// Every input but an advert and a timer. Never inlined into [`Node::handle`]: what a
    /// backup runs per advert then stays a few cache lines of code and a small stack
    /// frame, instead of hopping across the code and frame of every rare input (see
    /// benches/advert_footprint.sh).
    #[inline(never)]
    fn handle_other(&mut self, now: Instant, input: NodeInput<'_>) {
        match input {
            // Taken by `handle`.
            NodeInput::Datagram { ifindex, packet } => self.on_datagram(now, ifindex, packet),
            NodeInput::Timeout => self.fire_timers(now),
            NodeInput::Start => self.start(now),
            NodeInput::Link {
                ifindex,
                name,
                up,
                mac,
                mtu,
            } => self.on_link(now, ifindex, &name, up, mac, mtu),
            NodeInput::LinkGone { ifindex } => self.on_link_gone(now, ifindex),
            NodeInput::Located { instance, result } => self.on_located(now, &instance, result),
            NodeInput::HomeLocated {
                interface,
                ipv6,
                result,
            } => self.on_home_located(now, &interface, ipv6, result),
            NodeInput::Resync { links, addresses } => self.on_resync(now, links, addresses),
            NodeInput::Address {
                ifindex,
                address,
                present,
            } => self.on_address(ifindex, address, present),
            // Virtual routes and rules.
            NodeInput::Route { route, present } => self.on_route(route, present),
            NodeInput::Rule { rule, present } => self.on_rule(rule, present),
            NodeInput::RoutingResync { routes, rules } => self.on_routing_resync(routes, rules),
            NodeInput::TrackerResult {
                tracker,
                generation,
                healthy,
                value,
                detail,
            } => self.on_tracker_result(now, tracker, generation, healthy, value, detail),
            NodeInput::TrackerSetupFailed {
                tracker,
                generation,
                error,
            } => {
                if generation == self.tracker_generation
                    && let Some(state) = self.trackers.get_mut(tracker)
                {
                    // Keep the tracker (status shows it) but nothing runs it.
                    state.last_result = error.clone();
                    self.log(LogLevel::Error, format!("trackers: {error}"));
                }
            }
            NodeInput::Control { request, command } => self.on_control(now, request, command),
            NodeInput::Persisted { request, result } => self.on_persisted(now, request, result),
            NodeInput::ReloadRequested => {
                self.reload_generation += 1;
                self.push(NodeAction::Reloading);
                self.push(NodeAction::LoadConfig {
                    generation: self.reload_generation,
                });
            }
            NodeInput::ConfigLoaded { generation, result } => {
                self.on_config_loaded(now, generation, result)
            }
            NodeInput::Stop => {
                if self.stopping {
                    self.shutdown_all(now);
                } else {
                    self.begin_stop(now);
                }
            }
            NodeInput::StopNow => {
                if !self.stopping {
                    self.push(NodeAction::Stopping);
                }
                self.shutdown_all(now);
            }
        }
    }

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<NodeAction> {
        self.actions.pop_front()
    }

    /// When [`NodeInput::Timeout`] is next due; None when no instance has a timer running.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|slot| slot.instance.next_deadline())
            .min()
    }

    /// How long the shell may leave datagrams queued on interface `ifindex` after reading
    /// some, so that a burst of adverts (a master running many instances sends them
    /// together) is read in one go rather than a wake-up per few of them; None when
    /// only one instance listens there (no bursts: every advert is read at once).
    ///
    /// The window is a fiftieth of the shortest advertisement interval there (0.2 ms at
    /// 10 ms, 2 ms at 100 ms, 20 ms at 1 s). Nothing it delays can be missed: the shell
    /// reads the sockets before firing any timer, so a Master_Down_Timer never expires on
    /// an advert that was waiting. What it can delay is the reaction to an advert by at
    /// most the window: a backup's takeover after a priority-0 advert comes Skew_Time
    /// plus at most 2 % of an interval after it (RFC 3768 §6.4.2, RFC 9568 §6.4.2), and
    /// a preemption as much later; both are far inside the three intervals a backup
    /// waits for a silent master, and a make-before-break hand-over loses nothing by it
    /// (the old master holds the addresses until it hears the new one).
    pub fn receive_coalescing(&self, ifindex: u32) -> Option<Duration> {
        let mut intervals = self
            .slots
            .iter()
            .filter(|slot| slot.ifindex == Some(ifindex))
            .map(|slot| slot.config.advert_interval_cs());
        // Two instances at least, or there are no bursts.
        let first = intervals.next()?;
        let second = intervals.next()?;
        let shortest = intervals.fold(first.min(second), u16::min);
        Some(Duration::from_millis(10) * u32::from(shortest) / RECEIVE_COALESCING_FRACTION)
    }

    /// The shell has sent an advert's bytes ([`NodeAction::SendAdvertisement`]): the buffer
    /// is kept for the next one, so that a master allocates nothing per advert. At most
    /// [`SPARE_MESSAGES`] are kept (enough for every instance falling due at once).
    pub fn recycle_message(&mut self, message: Vec<u8>) {
        if self.spare_messages.len() < SPARE_MESSAGES {
            self.spare_messages.push(message);
        }
    }

    /// Whether a reload request may be taken now. Not while stopping (it would restart
    /// instances that are leaving), nor while a reload still hands an instance over: the
    /// shell leaves the signal pending until then (bounded by MAX_HAND_OVER_WAIT).
    pub fn accepts_reload(&self) -> bool {
        !self.stopping && !self.reload_handing_over()
    }

    /// Whether the interface is known, and up.
    pub fn link_is_up(&self, ifindex: u32) -> Option<bool> {
        self.links.get(&ifindex).map(|link| link.up)
    }

    /// The STATUS= text.
    pub fn status_text(&self) -> String {
        status_text(self.slots.iter().map(|slot| {
            (
                slot.name(),
                slot.instance.state(),
                slot.instance.priority(),
                slot.instance.is_demoted(),
            )
        }))
    }

    /// The trackers to run, and the generation their results must carry.
    pub fn tracker_generation(&self) -> u64 {
        self.tracker_generation
    }

    /// Whether a stop request came (the node is handing over or has exited).
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// The generation a [`NodeInput::ConfigLoaded`] must carry to be applied.
    pub fn reload_generation(&self) -> u64 {
        self.reload_generation
    }

    /// The name of the instance that [`NodeAction::SendAdvertisement::instance`] names.
    pub fn instance_name(&self, index: usize) -> Option<&str> {
        self.slots.get(index).map(Slot::name)
    }

    /// Whether [`NodeAction::Exit`] has been emitted.
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// A short view of every instance, in config order (for the simulator and tests).
    pub fn instance_states(&self) -> Vec<InstanceView> {
        self.slots
            .iter()
            .map(|slot| InstanceView {
                name: slot.name().to_owned(),
                ifindex: slot.ifindex,
                state: slot.instance.state(),
                advertised_priority: slot.instance.advertised_priority(),
                preempt: slot.config.preempt,
                handing_over: slot.instance.handing_over(),
                demoted: slot.instance.is_demoted(),
                local_address: slot.instance.params().local_address,
            })
            .collect()
    }

    /// Whether a master is handing over (a stop waits for it).
    pub fn handing_over(&self) -> bool {
        self.slots.iter().any(|slot| slot.instance.handing_over())
    }

    /// What `vrrpd status` reports.
    pub fn status_report(&self) -> StatusReport {
        let instances = self
            .slots
            .iter()
            .map(|slot| {
                let stats = slot.instance.stats();
                let mut tracks: Vec<TrackContribution> = self
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
                // Tracked interfaces of addresses: weight 0, as keepalived tracks them.
                tracks.extend(slot.homes.iter().filter(|home| home.track).map(|home| {
                    TrackContribution {
                        tracker: home_tracker_name(&home.interface),
                        weight: 0,
                        contribution: 0,
                        fault: self.home_failing(home),
                    }
                }));
                InstanceStatus {
                    name: slot.name().to_owned(),
                    interface: slot.config.interface.clone(),
                    virtual_router_id: slot.config.virtual_router_id,
                    state: state_name(slot.instance.state()).to_owned(),
                    base_priority: slot.config.priority,
                    effective_priority: slot.instance.priority(),
                    tracks,
                    master_address: slot.instance.master_address(),
                    last_transition: slot.recent_transitions.back().cloned(),
                    recent_transitions: slot.recent_transitions.iter().cloned().collect(),
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
                    announcements_sent: slot.announcements_sent,
                    addresses_restored: slot.addresses_restored,
                    routes_restored: self.routing.restored(slot.name()),
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
            .links
            .values()
            .filter(|link| !link.drops.is_empty())
            .map(|link| {
                (
                    link.name.clone(),
                    link.drops
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
            reloads: self.reloads.clone(),
        }
    }

    // ---- Start, stop -------------------------------------------------------------------

    fn start(&mut self, now: Instant) {
        if !self.slots.is_empty() || self.exited {
            return;
        }
        let trackers = self.config.trackers.clone();
        self.restart_trackers(&trackers);
        let instances = self.config.instances.clone();
        let mut placements = std::mem::take(&mut self.initial_placements);
        for config in instances {
            match placements.remove(&config.name) {
                Some(Ok(placement)) => self.start_instance(now, config, placement),
                Some(Err(why)) => self.start_detached(now, config, &why),
                None => self.start_detached(now, config, "no interface found for it"),
            }
        }
        let status = self.status_text();
        self.log(LogLevel::Info, format!("vrrpd started: {status}"));
        self.push(NodeAction::Ready(status));
    }

    /// Clean leftovers and take the instance out of Initialize.
    fn start_instance(&mut self, now: Instant, config: InstanceConfig, placement: Placement) {
        let ipv6 = instance_is_ipv6(&config, &config.addresses_with_prefix());
        let (addresses, homes) = Slot::addresses_and_homes(&config);
        self.links.entry(placement.ifindex).or_insert_with(|| Link {
            name: placement.interface.clone(),
            up: placement.up,
            mac: placement.mac,
            mtu: None,
            drops: BTreeMap::new(),
        });
        // Virtual routes and rules: leftovers go before the addresses they may use.
        self.remove_leftover_routing(&config, ipv6);
        // We are not master yet: whatever a previous run (killed before it could clean
        // up) or an operator left on the interface must go, or two hosts would answer
        // for the VIPs. (Addresses on other interfaces: once those are located.) With a
        // virtual MAC, from its macvlan too, which goes down first (see `virtual_mac`).
        let own: Vec<(IpAddr, u8)> = addresses
            .iter()
            .filter(|held| held.home.is_none())
            .map(|held| (held.address, held.prefix_len))
            .collect();
        if let Some(virtual_mac) = &placement.virtual_mac {
            self.links.insert(
                virtual_mac.ifindex,
                Link {
                    name: virtual_mac.name.clone(),
                    up: false,
                    mac: Some(virtual_mac.mac),
                    mtu: None,
                    drops: BTreeMap::new(),
                },
            );
            self.push(NodeAction::SetVirtualMacUp {
                instance: config.name.clone(),
                ifindex: virtual_mac.ifindex,
                up: false,
            });
            let mut on_virtual_mac = own.clone();
            if ipv6 {
                on_virtual_mac.push((placement.local_address, 64));
            }
            self.push(NodeAction::RemoveAddresses {
                instance: config.name.clone(),
                ifindex: virtual_mac.ifindex,
                addresses: on_virtual_mac,
                leftover: true,
            });
        }
        self.push(NodeAction::RemoveAddresses {
            instance: config.name.clone(),
            ifindex: placement.ifindex,
            addresses: own,
            leftover: true,
        });
        let mut instance = Instance::new(config.to_params(placement.local_address));
        if self.demoted.contains(&config.name) {
            // Held before Startup, so that it never preempts (nor, as an address owner,
            // starts as master): see `Instance::demote`.
            instance.demote(now);
        }
        self.log(
            LogLevel::Debug,
            format!(
                "({}) starting on {} from {}",
                config.name, placement.interface, placement.local_address
            ),
        );
        self.slots.push(Slot {
            config,
            instance,
            ifindex: Some(placement.ifindex),
            locating: false,
            ipv6,
            addresses,
            homes,
            virtual_mac: placement.virtual_mac,
            last_advert: None,
            recent_transitions: VecDeque::new(),
            announcements_sent: 0,
            addresses_restored: 0,
            leaving: None,
        });
        let index = self.slots.len() - 1;
        self.feed(now, index, Input::Startup);
        if !placement.up {
            self.feed(now, index, Input::LinkDown);
        }
        self.apply_tracking(now, index);
        self.locate_homes(None);
    }

    /// Start an instance whose interface cannot be used (`why`): it waits in FAULT, and is
    /// located again whenever an interface of its configured name appears or gains an
    /// address (keepalived needs `dynamic_interfaces` for this; a daemon that exits here
    /// would leave the addresses unguarded until someone notices).
    fn start_detached(&mut self, now: Instant, config: InstanceConfig, why: &str) {
        let ipv6 = instance_is_ipv6(&config, &config.addresses_with_prefix());
        let (addresses, homes) = Slot::addresses_and_homes(&config);
        let unspecified = if ipv6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        let local_address = config.configured_source().unwrap_or(unspecified);
        // Virtual routes and rules: a blackhole or a route through another interface
        // outlives the interface a previous run used.
        self.remove_leftover_routing(&config, ipv6);
        let mut instance = Instance::new(config.to_params(local_address));
        if self.demoted.contains(&config.name) {
            instance.demote(now);
        }
        self.log(
            LogLevel::Error,
            format!(
                "({}) cannot use interface {}: {why}; FAULT until it can (vrrpd watches for it)",
                config.name, config.interface
            ),
        );
        self.slots.push(Slot {
            config,
            instance,
            ifindex: None,
            locating: false,
            ipv6,
            addresses,
            homes,
            virtual_mac: None,
            last_advert: None,
            recent_transitions: VecDeque::new(),
            announcements_sent: 0,
            addresses_restored: 0,
            leaving: None,
        });
        let index = self.slots.len() - 1;
        // LinkDown before Startup: straight from Initialize to Fault.
        self.feed(now, index, Input::LinkDown);
        self.feed(now, index, Input::Startup);
        self.apply_tracking(now, index);
        self.locate_homes(None);
    }

    /// The stop request: every instance with `make_before_break` hands over (a master
    /// resigns with priority 0 but keeps serving its addresses until the new master is
    /// heard or Master_Down_Interval passes, see [`Input::HandOver`]); the others get the
    /// RFC's Shutdown event at once. [`Node::settle`] finishes once none is handing over.
    fn begin_stop(&mut self, now: Instant) {
        // Members leaving during a stop must not drag their sync groups along.
        self.stopping = true;
        self.push(NodeAction::Stopping);
        for index in 0..self.slots.len() {
            let input = stop_input(&self.slots[index].config);
            self.feed(now, index, input);
        }
        if self.handing_over() {
            let names: Vec<&str> = self
                .slots
                .iter()
                .filter(|slot| slot.instance.handing_over())
                .map(Slot::name)
                .collect();
            let line = format!("handing over: {}", names.join(", "));
            self.log(LogLevel::Info, line);
        }
    }

    /// Shutdown event for every instance (RFC 3768 §6.4.2/§6.4.3): a master sends
    /// priority 0 so a backup takes over in Skew_Time, and addresses are removed.
    fn shutdown_all(&mut self, now: Instant) {
        if self.exited {
            return;
        }
        self.stopping = true;
        for index in 0..self.slots.len() {
            self.feed(now, index, Input::Shutdown);
        }
        for slot in std::mem::take(&mut self.slots) {
            self.release_virtual_mac(&slot);
        }
        self.links.clear();
        self.push(NodeAction::CloseUnusedInterfaces { in_use: Vec::new() });
        self.exited = true;
        self.push(NodeAction::Exit);
    }

    /// After every input: end what has finished (a reload's hand-overs, a stop).
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn settle(&mut self, now: Instant) {
        if self.reload_handing_over() {
            self.finish_leaving(now);
        }
        self.maybe_leaving = self.reload_handing_over();
        if self.stopping && !self.exited && !self.handing_over() {
            self.shutdown_all(now);
        }
    }

    // ---- Receiving ---------------------------------------------------------------------

    /// The slot of the instance for `vrid` on this interface and family. At most one
    /// matches: the config allows one instance per interface, family and VRID, and a
    /// reload starts a replacement only once the old one is gone. So the slot that
    /// matched last time, if it still matches, is the answer (slots move only on
    /// reloads, and the hint is checked); otherwise the slots are walked.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn slot_for(&self, ifindex: u32, ipv6: bool, vrid: u8) -> Option<usize> {
        let matches = |slot: &Slot| {
            slot.ifindex == Some(ifindex)
                && slot.ipv6 == ipv6
                && slot.config.virtual_router_id == vrid
        };
        let hint = &self.vrid_hints[usize::from(vrid)];
        let hinted = usize::from(hint.get());
        if self.slots.get(hinted).is_some_and(matches) {
            return Some(hinted);
        }
        let found = self.slots.iter().position(matches)?;
        // More than u16::MAX slots (never: at most 255 VRIDs × interfaces × 2) go unhinted.
        hint.set(u16::try_from(found).unwrap_or(NO_HINT));
        Some(found)
    }

    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn on_datagram(&mut self, now: Instant, ifindex: u32, packet: ReceivedPacket<'_>) {
        let ipv6 = packet.is_ipv6();
        // The previous accepted advert's address Vec, reused (see receive::check_reusing).
        let addresses = std::mem::take(&mut self.address_scratch);
        let checked = receive::check_reusing(packet, addresses, |vrid| {
            let index = self.slot_for(ifindex, ipv6, vrid)?;
            let slot = &self.slots[index];
            Some((
                index,
                Receiver {
                    params: slot.instance.params(),
                    unicast_peers: &slot.config.unicast_peers,
                },
            ))
        });
        match checked {
            Ok(mut accepted) => {
                let index = accepted.instance;
                let was_handing_over = self.slots[index].instance.handing_over();
                let mut actions = std::mem::take(&mut self.action_scratch);
                self.slots[index].instance.handle_into(
                    now,
                    Input::Advertisement {
                        source: accepted.source,
                        advert: &accepted.advert,
                    },
                    &mut actions,
                );
                self.slots[index].last_advert = Some((accepted.source, accepted.advert.priority));
                self.address_scratch = std::mem::take(&mut accepted.advert.addresses);
                self.perform(now, index, actions);
                if was_handing_over {
                    // Another master's resignation ends a demote hand-over by serving again.
                    self.after_hand_over_kept(now, index);
                }
            }
            Err(rejected) => self.count_rejected(now, ifindex, ipv6, rejected),
        }
    }

    /// Count (on the instance when the VRID names one, else on the interface) and log.
    /// Never inlined, for the reason given at [`Node::handle_other`].
    #[inline(never)]
    fn count_rejected(&mut self, now: Instant, ifindex: u32, ipv6: bool, rejected: Rejected) {
        let owner = rejected
            .vrid
            .and_then(|vrid| self.slot_for(ifindex, ipv6, vrid));
        let label = match owner {
            Some(index) => {
                let slot = &mut self.slots[index];
                slot.instance.count_drop(rejected.reason);
                format!("({})", slot.name())
            }
            None => match self.links.get_mut(&ifindex) {
                Some(link) => {
                    *link.drops.entry(rejected.reason).or_default() += 1;
                    link.name.clone()
                }
                None => format!("interface index {ifindex}"),
            },
        };
        self.log_drop(now, &label, rejected.reason, rejected.source);
    }

    /// At most one warning per (reason, source) per [`DROP_WARNING_INTERVAL`].
    fn log_drop(&mut self, now: Instant, label: &str, reason: DropReason, source: Option<IpAddr>) {
        let line = drop_line(label, reason, source);
        let Some(source) = source else {
            self.log(LogLevel::Debug, line);
            return;
        };
        match self.drop_log.check(now, reason, source) {
            DropLog::Warn { suppressed: 0 } => self.log(LogLevel::Warn, line),
            DropLog::Warn { suppressed } => self.log(
                LogLevel::Warn,
                format!("{line} ({suppressed} more like it not logged)"),
            ),
            DropLog::Quiet => self.log(LogLevel::Debug, line),
        }
    }

    // ---- Timers, links -----------------------------------------------------------------

    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn fire_timers(&mut self, now: Instant) {
        for index in 0..self.slots.len() {
            let due = self.slots[index]
                .instance
                .next_deadline()
                .is_some_and(|deadline| deadline <= now);
            if due {
                let was_handing_over = self.slots[index].instance.handing_over();
                let mut actions = std::mem::take(&mut self.action_scratch);
                self.slots[index]
                    .instance
                    .on_timeout_into(now, &mut actions);
                self.perform(now, index, actions);
                if was_handing_over {
                    self.after_hand_over_kept(now, index);
                }
            }
        }
    }

    /// A hand-over that nobody took over, that a promote ended, or that another master's
    /// resignation ended, leaves the instance
    /// keeping its addresses, as MASTER, without a transition. If a member of its sync group already became BACKUP
    /// meanwhile (it handed over to the other router, whose group then followed), the
    /// group told this one to leave MASTER too but a hand-over ignores that: do it now,
    /// so that the members are master together or not at all.
    #[inline(never)]
    fn after_hand_over_kept(&mut self, now: Instant, index: usize) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if slot.instance.handing_over() || slot.instance.state() != State::Master || !slot.active()
        {
            return;
        }
        let name = slot.name().to_owned();
        let Some(group) = self
            .config
            .sync_groups
            .iter()
            .find(|group| group.instances.contains(&name))
        else {
            return;
        };
        let group_name = group.name.clone();
        let members = self.group_members(&group.instances);
        let Some(sibling) = members
            .iter()
            .map(|&member| &self.slots[member])
            .find(|member| member.instance.state() == State::Backup && !member.instance.is_held())
            .map(|member| member.name().to_owned())
        else {
            return;
        };
        let why =
            format!("{name} kept MASTER (nobody took over its hand-over) but {sibling} is BACKUP");
        self.log(
            LogLevel::Info,
            sync_line(&group_name, &name, SyncCommand::ForceBackup, &why),
        );
        self.feed(now, index, Input::SyncForceBackup);
    }

    /// RTM_NEWLINK, for every change. What each means for the instances on the link:
    /// - up/down: LinkUp/LinkDown (Fault while down, RFC 5798 §6.4 leaves link handling
    ///   to the implementation; keepalived's FAULT);
    /// - a rename: the config names the interface, so the instances on it wait in FAULT
    ///   for an interface of their configured name (which may be this one renamed back);
    /// - a new MAC: hosts hold the old one for our addresses, so a master announces them
    ///   again (gratuitous ARP/NA) at once;
    /// - a new MTU: logged, nothing else (our adverts are far smaller than any MTU the
    ///   kernel accepts for an Ethernet link, 68 bytes for IPv4, 1280 for IPv6);
    /// - an interface we do not know, named as one an instance waits for: locate it.
    fn on_link(
        &mut self,
        now: Instant,
        ifindex: u32,
        name: &str,
        up: bool,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) {
        // Virtual routes and rules through this interface.
        self.routing_link(ifindex, name, up);
        let Some(link) = self.links.get_mut(&ifindex) else {
            self.locate_waiting(Some(name));
            self.locate_homes(Some(name));
            return;
        };
        if link.name != name {
            let old = std::mem::replace(&mut link.name, name.to_owned());
            let why = format!("interface {old} was renamed to {name}");
            self.homes_lost(now, ifindex, &why, true);
            self.detach(now, ifindex, &why, LinkFate::Renamed);
            // An instance may be configured for the new name.
            self.locate_waiting(Some(name));
            self.locate_homes(Some(name));
            return;
        }
        if self.virtual_mac_owner(ifindex).is_some() {
            // Our own macvlan: we set it up and down ourselves (see `virtual_mac`).
            if let Some(link) = self.links.get_mut(&ifindex) {
                link.up = up;
                link.mtu = mtu.or(link.mtu);
            }
            self.virtual_mac_link(now, ifindex, up);
            return;
        }
        let Some(link) = self.links.get_mut(&ifindex) else {
            return;
        };
        // What changed, in one look at the link.
        let mtu_change = match (link.mtu, mtu) {
            (Some(old), Some(new)) if old != new => Some((old, new)),
            _ => None,
        };
        link.mtu = mtu.or(link.mtu);
        let new_mac = mac.filter(|mac| Some(*mac) != link.mac);
        link.mac = new_mac.or(link.mac);
        let up_changed = link.up != up;
        link.up = up;
        if let Some((old, new)) = mtu_change {
            let line = format!("interface {name}: MTU {old} -> {new} (no effect on VRRP)");
            self.log(LogLevel::Info, line);
        }
        // On the way up a new MAC needs nothing more: becoming master announces anyway.
        if let Some(mac) = new_mac.filter(|_| up && !up_changed) {
            self.mac_changed(ifindex, name, mac);
        }
        if !up_changed {
            return; // The kernel notifies for many other changes.
        }
        let updown = if up { "up" } else { "down" };
        self.log(LogLevel::Info, format!("interface {name} is {updown}"));
        for index in 0..self.slots.len() {
            if self
                .slots
                .get(index)
                .is_some_and(|slot| slot.ifindex == Some(ifindex))
            {
                self.feed(now, index, if up { Input::LinkUp } else { Input::LinkDown });
                // A held instance changes no state on LinkUp/LinkDown, but whether its
                // group is at fault does.
                if let Some(slot) = self.slots.get(index) {
                    let instance = slot.name().to_owned();
                    let why = format!("{instance}'s interface {name} is {updown}");
                    self.recheck_group_of(now, &instance, &why);
                }
            }
        }
        self.home_link_changed(now, ifindex, up);
    }

    /// The link's MAC changed while it was up: every serving master on it announces its
    /// addresses again, so that hosts stop sending to the old MAC.
    fn mac_changed(&mut self, ifindex: u32, name: &str, mac: [u8; 6]) {
        let mac_text = mac
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        self.log(
            LogLevel::Info,
            format!("interface {name}: MAC address is now {mac_text}"),
        );
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            let holds_here = slot
                .addresses
                .iter()
                .any(|held| slot.ifindex_of(held) == Some(ifindex));
            if holds_here && slot.instance.state() == State::Master && !slot.instance.handing_over()
            {
                let line = format!(
                    "({}) announcing its addresses on {name} again from the new MAC",
                    slot.name()
                );
                self.log(LogLevel::Info, line);
                let slot = &self.slots[index];
                let on_this_link: Vec<IpAddr> = slot
                    .addresses
                    .iter()
                    .filter(|held| slot.ifindex_of(held) == Some(ifindex))
                    .map(|held| held.address)
                    .collect();
                self.announce_matching(index, |held| on_this_link.contains(&held.address));
            }
        }
    }

    /// RTM_DELLINK: the instances on the link go to FAULT and wait for an interface of
    /// their configured name (a VLAN or bond rebuilt, a NIC replugged, a veth recreated
    /// comes back with a new index). Nothing can be sent on a deleted link, so a master
    /// cannot resign with priority 0: the backup takes over after Master_Down_Interval.
    fn on_link_gone(&mut self, now: Instant, ifindex: u32) {
        // Virtual routes and rules through this interface.
        self.routing_link_gone(ifindex);
        if self.virtual_mac_gone(now, ifindex) {
            return;
        }
        let Some(link) = self.links.get(&ifindex) else {
            return;
        };
        let why = format!("interface {} was deleted", link.name);
        self.homes_lost(now, ifindex, &why, false);
        self.detach(now, ifindex, &why, LinkFate::Deleted);
    }

    /// Take every instance off link `ifindex` (deleted or renamed: `why`): FAULT, and wait.
    fn detach(&mut self, now: Instant, ifindex: u32, why: &str, fate: LinkFate) {
        let mut waiting = Vec::new();
        for index in 0..self.slots.len() {
            if self.slots[index].ifindex != Some(ifindex) {
                continue;
            }
            waiting.push(self.slots[index].name().to_owned());
            match fate {
                // The link is still there under another name: a master's addresses must
                // leave it (the peer takes them over), so LinkDown acts on it first.
                LinkFate::Renamed => {
                    self.feed(now, index, Input::LinkDown);
                    self.slots[index].ifindex = None;
                }
                // Detached first: the kernel took the link's addresses with it, and
                // nothing more may be sent on it or asked of it (see `perform`).
                LinkFate::Deleted => {
                    self.slots[index].ifindex = None;
                    self.feed(now, index, Input::LinkDown);
                }
            }
            // Its macvlan went with a deleted link; a renamed one keeps it, which is of no
            // use there (locating the instance again makes a new one on the right link).
            if let Some(virtual_mac) = self.slots[index].virtual_mac.take() {
                self.links.remove(&virtual_mac.ifindex);
                if fate == LinkFate::Renamed {
                    self.push(NodeAction::DeleteVirtualMac {
                        instance: self.slots[index].name().to_owned(),
                        ifindex: virtual_mac.ifindex,
                        name: virtual_mac.name,
                    });
                }
            }
            let instance = self.slots[index].name().to_owned();
            self.recheck_group_of(now, &instance, why);
        }
        self.links.remove(&ifindex);
        if !waiting.is_empty() {
            self.log(
                LogLevel::Warn,
                format!(
                    "{why}: {} in FAULT until an interface of that name is back",
                    waiting.join(", ")
                ),
            );
        }
        self.forget_unused_links();
        self.push(NodeAction::CloseUnusedInterfaces {
            in_use: self.interfaces_in_use(),
        });
    }

    /// Ask the shell to locate every instance that waits for an interface named `name`
    /// (None: whatever its name). Sent when a link we do not run on shows up with that
    /// name, and when an address appears on a link we do not run on: an interface that
    /// exists but has no address to advertise from yet (just created, or so at start)
    /// becomes usable then. At most one request per instance is out at a time.
    fn locate_waiting(&mut self, name: Option<&str>) {
        if self.stopping {
            return;
        }
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if !slot.waiting() || name.is_some_and(|name| slot.config.interface != name) {
                continue;
            }
            slot.locating = true;
            let action = NodeAction::Locate {
                instance: slot.name().to_owned(),
                config: Box::new(slot.config.clone()),
            };
            self.push(action);
        }
    }

    /// The shell's answer to [`NodeAction::Locate`].
    fn on_located(&mut self, now: Instant, instance: &str, result: Result<Placement, String>) {
        let Some(index) = self
            .slots
            .iter()
            .position(|slot| slot.name() == instance && slot.ifindex.is_none() && slot.locating)
        else {
            return; // Removed by a reload, or placed meanwhile.
        };
        self.slots[index].locating = false;
        let placement = match result {
            Ok(placement) => placement,
            Err(why) => {
                // Usually an interface that was just created and has no address yet: its
                // address notification locates it again.
                let line = format!("({instance}) cannot use its interface yet: {why}");
                self.log(LogLevel::Debug, line);
                return;
            }
        };
        let link = self.links.entry(placement.ifindex).or_insert_with(|| Link {
            name: placement.interface.clone(),
            up: placement.up,
            mac: placement.mac,
            mtu: None,
            drops: BTreeMap::new(),
        });
        let up = link.up;
        let slot = &mut self.slots[index];
        if !slot.instance.relocate(placement.local_address) {
            return; // Not in Fault (cannot happen while detached); leave it detached.
        }
        slot.ifindex = Some(placement.ifindex);
        if let Some(virtual_mac) = placement.virtual_mac.clone() {
            slot.virtual_mac = Some(virtual_mac.clone());
            self.links.insert(
                virtual_mac.ifindex,
                Link {
                    name: virtual_mac.name.clone(),
                    up: false,
                    mac: Some(virtual_mac.mac),
                    mtu: None,
                    drops: BTreeMap::new(),
                },
            );
            self.set_virtual_mac_up(index, false);
        }
        let line = format!(
            "({instance}) interface {} is back (index {}), advertising from {}{}",
            placement.interface,
            placement.ifindex,
            placement.local_address,
            if up {
                ""
            } else {
                "; waiting for it to come up"
            }
        );
        self.log(LogLevel::Info, line);
        if up {
            self.feed(now, index, Input::LinkUp);
            let why = format!("{instance}'s interface {} is back", placement.interface);
            self.recheck_group_of(now, instance, &why);
        }
        self.push(NodeAction::Status(self.status_text()));
    }

    /// After the kernel's notifications overflowed: what changed meanwhile is found by
    /// comparing everything with what the kernel says now, as if each change had been
    /// notified (links deleted, renamed, up/down, new; then every virtual address).
    fn on_resync(&mut self, now: Instant, links: Vec<LinkSnapshot>, addresses: Vec<(u32, IpAddr)>) {
        self.log(
            LogLevel::Warn,
            "the kernel's link and address notifications overflowed (some were lost): \
             re-reading every link and address"
                .to_owned(),
        );
        let gone: Vec<u32> = self
            .links
            .keys()
            .copied()
            .filter(|known| !links.iter().any(|link| link.ifindex == *known))
            .collect();
        for ifindex in gone {
            self.on_link_gone(now, ifindex);
        }
        for link in &links {
            self.on_link(now, link.ifindex, &link.name, link.up, link.mac, link.mtu);
        }
        // An interface that could not be used before may have an address now.
        self.locate_waiting(None);
        self.locate_homes(None);
        let expected: Vec<(u32, IpAddr)> = self
            .slots
            .iter()
            .flat_map(|slot| slot.addresses_by_interface())
            .flat_map(|(ifindex, held)| held.into_iter().map(move |(vip, _)| (ifindex, vip)))
            .collect();
        for (ifindex, vip) in expected {
            let present = addresses.contains(&(ifindex, vip));
            self.on_address(ifindex, vip, present);
        }
    }

    /// Keep the kernel's addresses what the roles say (the addresses are the master's, RFC
    /// 3768 §6.4.3, and nobody else's, §6.4.2): a virtual address that someone else (a
    /// network manager reconfiguring the link, a DHCP client, `ip addr flush`) removed
    /// from a master is put back and announced again, and one that someone else added to
    /// a backup or a faulty instance is removed, each with a warning. Both are idempotent,
    /// so our own changes coming back as events, even late, do no harm. An address owner
    /// (priority 255) is left alone: its virtual address is the interface's own.
    fn on_address(&mut self, ifindex: u32, address: IpAddr, present: bool) {
        if !self.links.contains_key(&ifindex) {
            if present {
                self.locate_waiting(None);
                // An IPv6 home needs a link-local address to announce from.
                self.locate_homes(None);
            }
            return;
        }
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if !slot.active() || slot.config.priority == OWNER_PRIORITY || self.stopping {
                continue;
            }
            if present && let Some(prefix_len) = slot.stray_on_parent(ifindex, address) {
                let name = slot.name().to_owned();
                let line = format!(
                    "({name}) {address} appeared on {}, the parent of its virtual MAC \
                     interface: removing it (it lives on the virtual MAC interface only)",
                    slot.config.interface
                );
                self.log(LogLevel::Warn, line);
                self.push(NodeAction::RemoveAddresses {
                    instance: name,
                    ifindex,
                    addresses: vec![(address, prefix_len)],
                    leftover: false,
                });
                continue;
            }
            let Some(prefix_len) = slot.holds_on(ifindex, address) else {
                continue;
            };
            let state = slot.instance.state();
            let name = slot.name().to_owned();
            let interface = self
                .links
                .get(&ifindex)
                .map_or_else(|| slot.config.interface.clone(), |link| link.name.clone());
            match (present, state) {
                (false, State::Master) => {
                    let handing_over = slot.instance.handing_over();
                    self.log(
                        LogLevel::Warn,
                        address_removed_line(&name, address, &interface, handing_over),
                    );
                    self.push(NodeAction::AddAddresses {
                        instance: name,
                        ifindex,
                        addresses: vec![(address, prefix_len)],
                    });
                    self.slots[index].addresses_restored += 1;
                    // Virtual routes and rules that used the address.
                    self.reassert_routing(index);
                    // A master handing over sends no GARP: hosts must learn the new
                    // master's MAC, not ours.
                    if !handing_over {
                        self.announce_address(index, address);
                    }
                }
                (true, State::Backup | State::Fault) => {
                    self.log(
                        LogLevel::Warn,
                        address_added_line(&name, address, &interface, state),
                    );
                    self.push(NodeAction::RemoveAddresses {
                        instance: name,
                        ifindex,
                        addresses: vec![(address, prefix_len)],
                        leftover: false,
                    });
                }
                _ => {}
            }
        }
    }

    // ---- Performing an instance's actions ----------------------------------------------

    /// Feed one input to slot `index` and perform what it asks.
    fn feed(&mut self, now: Instant, index: usize, input: Input<'_>) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let mut actions = std::mem::take(&mut self.action_scratch);
        slot.instance.handle_into(now, input, &mut actions);
        self.perform(now, index, actions);
    }

    /// Turn slot `index`'s actions into the node's, in order; then let the sync groups react.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn perform(&mut self, now: Instant, index: usize, mut actions: Vec<Action>) {
        // Most calls: a backup hearing its master's advert asks for nothing.
        if actions.is_empty() && self.sync_pending.is_empty() {
            self.action_scratch = actions;
            return;
        }
        for action in actions.drain(..) {
            if index >= self.slots.len() {
                return;
            }
            match action {
                Action::SendAdvertisement(advert) => self.perform_advert(index, advert),
                action => self.perform_state_change(now, index, action),
            }
        }
        // Emptied, its capacity kept for the next instance's actions.
        self.action_scratch = actions;
        if !self.following_sync_groups && !self.sync_pending.is_empty() {
            self.following_sync_groups = true;
            self.follow_sync_groups(now);
            self.following_sync_groups = false;
        }
    }

    /// Slot `index`'s actions other than an advert: its addresses, its announcements, its
    /// transitions. Never inlined into [`Node::perform`], which a master runs per advert
    /// (see [`Node::handle_other`]).
    #[inline(never)]
    fn perform_state_change(&mut self, now: Instant, index: usize, action: Action) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        match action {
            Action::SendAdvertisement(advert) => self.perform_advert(index, advert),
            // On every interface the addresses live on that is there now; a missing
            // one (deleted, renamed, not there yet) took its addresses with it, or
            // gets them once it is located. A virtual MAC's macvlan is up exactly
            // while it holds addresses.
            Action::AddAddresses => {
                let instance = slot.name().to_owned();
                let attached = slot.ifindex.is_some();
                let by_interface = slot.addresses_by_interface();
                self.set_virtual_mac_up(index, true);
                for (ifindex, addresses) in by_interface {
                    let addresses = self.with_virtual_mac_source(index, ifindex, addresses);
                    self.push(NodeAction::AddAddresses {
                        instance: instance.clone(),
                        ifindex,
                        addresses,
                    });
                }
                // Virtual routes and rules, once the addresses are there.
                if attached {
                    self.add_routing(index);
                }
            }
            Action::RemoveAddresses => {
                // Virtual routes and rules, before the addresses they may use.
                self.remove_routing(index);
                let Some(slot) = self.slots.get(index) else {
                    return;
                };
                let instance = slot.name().to_owned();
                let by_interface = slot.addresses_by_interface();
                self.set_virtual_mac_up(index, false);
                for (ifindex, addresses) in by_interface {
                    let addresses = self.with_virtual_mac_source(index, ifindex, addresses);
                    self.push(NodeAction::RemoveAddresses {
                        instance: instance.clone(),
                        ifindex,
                        addresses,
                        leftover: false,
                    });
                }
            }
            Action::SendGratuitousArp => self.announce(index),
            Action::Transition { from, to, reason } => {
                let interface = slot.config.interface.as_str();
                let line =
                    transition_line(slot.name(), from, to, &reason, slot.last_advert, interface);
                let record = TransitionRecord {
                    from: state_name(from).to_owned(),
                    to: state_name(to).to_owned(),
                    reason: reason_text(&reason, slot.last_advert, interface),
                    at_unix_ms: self.unix_ms(now),
                };
                let name = slot.name().to_owned();
                let hooks = slot
                    .config
                    .notify
                    .clone()
                    .map(|notify| NodeAction::RunHooks {
                        notify,
                        instance: name.clone(),
                        state: match to {
                            State::Initialize => "STOP",
                            other => state_name(other),
                        },
                        old_state: state_name(from),
                        priority: slot.instance.priority(),
                    });
                let leaving = !slot.active();
                self.log(LogLevel::Info, line);
                if let Some(hooks) = hooks {
                    self.push(hooks);
                }
                let recent = &mut self.slots[index].recent_transitions;
                if recent.len() == RECENT_TRANSITIONS {
                    recent.pop_front();
                }
                recent.push_back(record);
                self.push(NodeAction::Status(self.status_text()));
                if !self.stopping && !leaving {
                    self.sync_pending.push_back((name, from, to));
                }
            }
        }
    }

    /// Encode and queue slot `index`'s advert; its address list goes back to the instance
    /// for the next one.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn perform_advert(&mut self, index: usize, advert: Advertisement) {
        self.send_advertisement(index, &advert);
        if let Some(slot) = self.slots.get_mut(index) {
            slot.instance.recycle_addresses(advert.addresses);
        }
    }

    /// Encode the advert for each destination: the multicast group (RFC 3768 §5.2.2,
    /// RFC 5798 §5.1.1.2), or each unicast peer (keepalived `unicast_peer`), whose v3
    /// pseudo-header then covers that peer (RFC 5798 §5.2.8).
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn send_advertisement(&mut self, index: usize, advert: &Advertisement) {
        let slot = &self.slots[index];
        let params = slot.instance.params();
        let source = params.local_address;
        let Some(ifindex) = slot.advert_ifindex() else {
            return;
        };
        if slot.config.is_unicast() {
            let messages: Vec<(IpAddr, Vec<u8>)> = slot
                .config
                .unicast_peers
                .iter()
                // Validation keeps a unicast instance's peers in its own family.
                .filter(|peer| peer.is_ipv4() == source.is_ipv4())
                .map(|peer| {
                    (
                        *peer,
                        packet::encode(advert, source, *peer, params.checksum_mode),
                    )
                })
                .collect();
            for (destination, message) in messages {
                self.push(NodeAction::SendAdvertisement {
                    instance: index,
                    ifindex,
                    source,
                    destination,
                    message,
                });
            }
            return;
        }
        let destination = match source {
            IpAddr::V4(_) => IpAddr::V4(MULTICAST_V4),
            IpAddr::V6(_) => IpAddr::V6(MULTICAST_V6),
        };
        let mut message = self.spare_messages.pop().unwrap_or_default();
        packet::encode_into(
            advert,
            source,
            destination,
            params.checksum_mode,
            &mut message,
        );
        self.push(NodeAction::SendAdvertisement {
            instance: index,
            ifindex,
            source,
            destination,
            message,
        });
    }

    /// One gratuitous ARP per IPv4 virtual address (RFC 3768 §8.1.1), one unsolicited NA
    /// per IPv6 one (RFC 5798 §6.4.2); the instance schedules the bursts and refreshes.
    fn announce(&mut self, index: usize) {
        self.announce_matching(index, |_| true);
    }

    /// The same for one virtual address only (one put back after someone removed it).
    fn announce_address(&mut self, index: usize, address: IpAddr) {
        self.announce_matching(index, |held| held.address == address);
    }

    /// Announce the `wanted` addresses of slot `index`, each on the interface it lives on,
    /// from that interface's MAC (and, for NA, from an address of that interface).
    fn announce_matching(&mut self, index: usize, wanted: impl Fn(&SlotAddress) -> bool) {
        let slot = &self.slots[index];
        let local_address = slot.instance.params().local_address;
        let mut announcements = Vec::with_capacity(slot.addresses.len());
        let mut without_mac: Vec<String> = Vec::new();
        for held in slot.addresses.iter().filter(|held| wanted(held)) {
            let Some(ifindex) = slot.ifindex_of(held) else {
                continue;
            };
            let link = self.links.get(&ifindex);
            let Some(mac) = link.and_then(|link| link.mac) else {
                let name =
                    link.map_or_else(|| format!("index {ifindex}"), |link| link.name.clone());
                if !without_mac.contains(&name) {
                    without_mac.push(name);
                }
                continue;
            };
            let instance = slot.name().to_owned();
            match held.address {
                IpAddr::V4(v4) => announcements.push(NodeAction::SendGratuitousArp {
                    instance,
                    ifindex,
                    address: held.address,
                    frame: arp::gratuitous_arp_frame(mac, v4).to_vec(),
                }),
                IpAddr::V6(v6) => {
                    let source = match (held.home, local_address) {
                        (None, IpAddr::V6(source)) => Some(source),
                        // On another interface: from the address itself, which is one of
                        // that interface's (RFC 4861 §7.2.6) and, added without DAD, usable
                        // at once, unlike a link-local address still being checked there.
                        (Some(_), _) => Some(v6),
                        (None, IpAddr::V4(_)) => None,
                    };
                    if let Some(source) = source {
                        announcements.push(NodeAction::SendNeighbourAdvertisement {
                            instance,
                            ifindex,
                            address: held.address,
                            source,
                            message: arp::unsolicited_neighbour_advertisement(mac, v6, source)
                                .to_vec(),
                        })
                    }
                }
            }
        }
        let lines: Vec<String> = without_mac
            .iter()
            .map(|name| {
                format!(
                    "({}) {name} has no Ethernet address: no gratuitous ARP/NA",
                    slot.name()
                )
            })
            .collect();
        for line in lines {
            self.log(LogLevel::Debug, line);
        }
        self.slots[index].announcements_sent += announcements.len() as u64;
        self.actions.extend(announcements);
    }

    // ---- Sync groups -------------------------------------------------------------------

    /// Let the sync groups react to the queued transitions (see `core::sync_group`), and to
    /// the transitions that causes, until nothing moves.
    fn follow_sync_groups(&mut self, now: Instant) {
        let mut budget = SYNC_CASCADE_STEPS_PER_MEMBER * (self.slots.len() + 1);
        while let Some((name, from, to)) = self.sync_pending.pop_front() {
            if budget == 0 {
                self.log(
                    LogLevel::Error,
                    "sync groups did not settle; leaving the remaining transitions alone"
                        .to_owned(),
                );
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
            self.command_group(now, &group_name, &members, mover, &why);
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

    fn command_group(
        &mut self,
        now: Instant,
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
                    own_fault: instance.has_own_fault(),
                }
            })
            .collect();
        for (member, command) in sync_group::follow(&statuses, transition) {
            let Some(&index) = members.get(member) else {
                continue;
            };
            let name = self.slots[index].name().to_owned();
            self.log(LogLevel::Info, sync_line(group, &name, command, why));
            let input = match command {
                SyncCommand::ForceBackup => Input::SyncForceBackup,
                SyncCommand::ForceMaster => Input::SyncForceMaster,
                SyncCommand::Hold => Input::SyncHold,
                SyncCommand::Release => Input::SyncRelease,
            };
            let actions = self.slots[index].instance.handle(now, input);
            // perform → follow_sync_groups → perform: the flag stops the recursion one
            // level down; the transitions this causes are queued and taken by the loop.
            self.perform(now, index, actions);
        }
    }

    /// Re-check the group of instance `name` when something the policy looks at changed
    /// without a transition (a held instance's link went up or down).
    fn recheck_group_of(&mut self, now: Instant, name: &str, why: &str) {
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
        self.command_group(now, &group_name, &members, None, why);
    }

    /// After a reload: groups may have changed. Re-check every group's holds, and release
    /// instances held by a group they are no longer in.
    fn recheck_sync_groups(&mut self, now: Instant) {
        for index in 0..self.slots.len() {
            let name = self.slots[index].name().to_owned();
            let grouped = self
                .config
                .sync_groups
                .iter()
                .any(|group| group.instances.contains(&name));
            if !grouped && self.slots[index].instance.is_held() {
                self.log(
                    LogLevel::Info,
                    format!("({name}) no longer in a sync group: released"),
                );
                self.feed(now, index, Input::SyncRelease);
            }
        }
        for group in self.config.sync_groups.clone() {
            let members = self.group_members(&group.instances);
            self.command_group(now, &group.name, &members, None, "reload");
        }
    }

    // ---- Reload ------------------------------------------------------------------------

    fn on_config_loaded(
        &mut self,
        now: Instant,
        generation: u64,
        result: Result<LoadedConfig, String>,
    ) {
        if generation != self.reload_generation {
            self.log(
                LogLevel::Debug,
                "a later SIGHUP superseded this reload".to_owned(),
            );
            return;
        }
        let at_unix_ms = self.unix_ms(now);
        self.reloads.last = Some(LastReload {
            succeeded: result.is_ok(),
            at_unix_ms,
        });
        match result {
            Err(error) => {
                self.reloads.failed += 1;
                self.log(
                    LogLevel::Error,
                    format!("reload failed, still running the previous configuration: {error}"),
                );
            }
            Ok(LoadedConfig {
                config: new_config,
                mut placements,
            }) => {
                self.reloads.succeeded += 1;
                if new_config.trackers != self.config.trackers {
                    // Restart every check; a tracker whose config did not change keeps its
                    // results (a reload must not reset a failed check to healthy).
                    self.restart_trackers(&new_config.trackers);
                }
                let plan = plan_reload(&self.config.instances, &new_config.instances);
                // The new groups apply to the instances the reload starts.
                self.config.sync_groups = new_config.sync_groups.clone();
                self.config.trackers = new_config.trackers.clone();
                self.apply_reload(now, plan, &mut placements);
                // Virtual routes and rules change in place.
                self.reconfigure_routing(&new_config);
                // Tracking and hooks change in place (see reload::only_priority_changed).
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
                    self.apply_tracking(now, index);
                }
                // The shell opened sockets for every instance of the new config (it cannot
                // know the plan): close what no instance ended up using.
                self.forget_unused_links();
                self.push(NodeAction::CloseUnusedInterfaces {
                    in_use: self.interfaces_in_use(),
                });
                // Remember only what runs: an instance that failed to start counts as
                // "added" again at the next reload, which then retries it.
                let running: Vec<InstanceConfig> = new_config
                    .instances
                    .iter()
                    .filter(|config| self.slots.iter().any(|slot| slot.name() == config.name))
                    .cloned()
                    .collect();
                self.config = Config {
                    instances: running,
                    ..new_config
                };
                // Keep the config's order for STATUS= and logs.
                let order: Vec<String> = self
                    .config
                    .instances
                    .iter()
                    .map(|instance| instance.name.clone())
                    .collect();
                self.slots
                    .sort_by_key(|slot| order.iter().position(|name| name == slot.name()));
                self.recheck_sync_groups(now);
                let line = format!("reload done: {}", self.status_text());
                self.log(LogLevel::Info, line);
            }
        }
        self.push(NodeAction::Ready(self.status_text()));
    }

    fn apply_reload(
        &mut self,
        now: Instant,
        plan: ReloadPlan,
        placements: &mut BTreeMap<String, Result<Placement, String>>,
    ) {
        let mut placed = |config: InstanceConfig| {
            let placement = placements
                .remove(&config.name)
                .unwrap_or_else(|| Err("no interface found for it".to_owned()));
            (config, placement)
        };
        let mut to_start: Vec<(InstanceConfig, Result<Placement, String>)> =
            plan.added.into_iter().map(&mut placed).collect();
        let restarted_names: Vec<String> = plan
            .restarted
            .iter()
            .map(|config| config.name.clone())
            .collect();
        let mut restart_configs: Vec<(InstanceConfig, Result<Placement, String>)> =
            plan.restarted.into_iter().map(&mut placed).collect();
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
                .position(|(config, _)| &config.name == name)
                .map(|position| restart_configs.remove(position));
            // A master hands over first (make-before-break, like a stop), so that moving
            // an instance out of this daemon's config loses no packet; everything else
            // stops at once (RFC 3768 §6.4.3 Shutdown semantics via stop_input).
            let input = stop_input(&self.slots[index].config);
            self.feed(now, index, input);
            if self.slots[index].instance.handing_over() {
                self.log(
                    LogLevel::Info,
                    format!("({name}) handing over before the reload stops it"),
                );
                self.maybe_leaving = true;
                self.slots[index].leaving = Some(Leaving {
                    then_start: restart.into_iter().collect(),
                });
            } else {
                let slot = self.slots.remove(index);
                // A restarted instance placed on the same macvlan keeps it.
                let kept = restart.as_ref().is_some_and(|(_, placement)| {
                    placement.as_ref().is_ok_and(|placement| {
                        placement.virtual_mac.as_ref().map(|next| next.ifindex)
                            == slot.virtual_mac.as_ref().map(|old| old.ifindex)
                    })
                });
                if !kept {
                    self.release_virtual_mac(&slot);
                }
                self.log(LogLevel::Info, format!("({name}) stopped by reload"));
                to_start.extend(restart);
            }
        }
        for (name, priority) in &plan.reprioritized {
            if let Some(index) = self
                .slots
                .iter()
                .position(|slot| slot.active() && slot.name() == name)
            {
                self.slots[index].config.priority = *priority;
                self.log(
                    LogLevel::Info,
                    format!("({name}) priority changed to {priority} by reload"),
                );
                // The trackers' weights apply on top of the new base.
                self.apply_tracking(now, index);
            }
        }
        for (config, placement) in to_start {
            self.start_or_queue(now, config, placement);
        }
    }

    /// Start `config` now, or, when an instance that a reload is taking out still holds
    /// its interface and VRID (a rename, say), once that one has handed over.
    fn start_or_queue(
        &mut self,
        now: Instant,
        config: InstanceConfig,
        placement: Result<Placement, String>,
    ) {
        let clashing = self.slots.iter().position(|slot| {
            slot.leaving.is_some()
                && slot.config.interface == config.interface
                && slot.config.virtual_router_id == config.virtual_router_id
        });
        if let Some(index) = clashing {
            let line = format!(
                "({}) starts once ({}) has handed over VRID {} on {}",
                config.name,
                self.slots[index].name(),
                config.virtual_router_id,
                config.interface
            );
            self.log(LogLevel::Info, line);
            if let Some(leaving) = &mut self.slots[index].leaving {
                leaving.then_start.push((config, placement));
            }
            return;
        }
        let name = config.name.clone();
        match placement {
            Ok(placement) => {
                self.start_instance(now, config, placement);
                self.log(LogLevel::Info, format!("({name}) started by reload"));
            }
            Err(error) => {
                self.start_detached(now, config, &error);
                self.log(LogLevel::Info, format!("({name}) started by reload"));
            }
        }
    }

    /// Whether a reload is still waiting for an instance to hand over.
    fn reload_handing_over(&self) -> bool {
        self.maybe_leaving && self.slots.iter().any(|slot| slot.leaving.is_some())
    }

    /// Take out the instances a reload removed once their hand-over is over (the new
    /// master was heard, or the wait ran out), and start what waited for them.
    fn finish_leaving(&mut self, now: Instant) {
        while let Some(index) = self
            .slots
            .iter()
            .position(|slot| slot.leaving.is_some() && !slot.instance.handing_over())
        {
            let slot = self.slots.remove(index);
            self.release_virtual_mac(&slot);
            self.log(
                LogLevel::Info,
                format!("({}) stopped by reload (handed over)", slot.name()),
            );
            if !self.stopping {
                for (config, placement) in slot
                    .leaving
                    .map(|leaving| leaving.then_start)
                    .unwrap_or_default()
                {
                    self.start_or_queue(now, config, placement);
                }
            }
            self.forget_unused_links();
            self.push(NodeAction::CloseUnusedInterfaces {
                in_use: self.interfaces_in_use(),
            });
            if !self.stopping {
                self.push(NodeAction::Status(self.status_text()));
            }
        }
    }

    /// The interfaces an instance runs on, or will once a hand-over ends.
    fn interfaces_in_use(&self) -> Vec<u32> {
        let mut in_use: Vec<u32> = self.slots.iter().filter_map(|slot| slot.ifindex).collect();
        in_use.extend(
            self.slots
                .iter()
                .flat_map(|slot| slot.homes.iter().filter_map(HomeBinding::ifindex)),
        );
        in_use.extend(self.slots.iter().filter_map(|slot| {
            slot.virtual_mac
                .as_ref()
                .map(|virtual_mac| virtual_mac.ifindex)
        }));
        for slot in &self.slots {
            if let Some(leaving) = &slot.leaving {
                in_use.extend(
                    leaving
                        .then_start
                        .iter()
                        .filter_map(|(_, placement)| placement.as_ref().ok())
                        .map(|placement| placement.ifindex),
                );
            }
        }
        in_use.sort_unstable();
        in_use.dedup();
        in_use
    }

    /// Forget the interfaces no instance uses any more (their drop counters go with them).
    fn forget_unused_links(&mut self) {
        let in_use = self.interfaces_in_use();
        self.links.retain(|ifindex, _| in_use.contains(ifindex));
    }

    // ---- Trackers ----------------------------------------------------------------------

    /// A new generation of trackers; a tracker whose config did not change keeps its results.
    fn restart_trackers(&mut self, configs: &[TrackerConfig]) {
        self.tracker_generation += 1;
        let mut previous = std::mem::take(&mut self.trackers);
        for config in configs {
            let state = match previous.iter().position(|old| old.config == *config) {
                Some(position) => previous.swap_remove(position),
                None => TrackerState::new(config.clone()),
            };
            self.trackers.push(state);
        }
        self.push(NodeAction::RestartTrackers {
            generation: self.tracker_generation,
            trackers: configs.to_vec(),
        });
    }

    fn on_tracker_result(
        &mut self,
        now: Instant,
        tracker: usize,
        generation: u64,
        healthy: bool,
        value: Option<i64>,
        detail: String,
    ) {
        if generation != self.tracker_generation {
            return; // From a tracker that a reload replaced.
        }
        let Some(state) = self.trackers.get_mut(tracker) else {
            return;
        };
        state.checks += 1;
        if !healthy {
            state.failures += 1;
        }
        let name = state.config.name.clone();
        let (changed, line) = match (state.value, value) {
            (Some(old), Some(new)) => {
                state.value = Some(new);
                let line =
                    (old != new).then(|| (LogLevel::Info, format!("tracker {name}: {detail}")));
                (old != new, line)
            }
            _ => match state.counter.record(healthy) {
                Some(true) => (
                    true,
                    Some((LogLevel::Info, format!("tracker {name} is up: {detail}"))),
                ),
                Some(false) => (
                    true,
                    Some((LogLevel::Warn, format!("tracker {name} is down: {detail}"))),
                ),
                None => (
                    false,
                    Some((LogLevel::Debug, format!("tracker {name}: {detail}"))),
                ),
            },
        };
        state.last_result = detail;
        if let Some((level, line)) = line {
            self.log(level, line);
        }
        if changed {
            for index in 0..self.slots.len() {
                if self.slots[index]
                    .config
                    .track
                    .iter()
                    .any(|track| track.tracker == name)
                {
                    self.apply_tracking(now, index);
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
    /// them to the instance.
    fn apply_tracking(&mut self, now: Instant, index: usize) {
        let Some(slot) = self.slots.get(index).filter(|slot| slot.active()) else {
            return;
        };
        let tracked = self.tracked(slot);
        let effective = effective_priority(
            slot.config.priority,
            tracked.iter().map(|(_, _, input)| *input),
        );
        // A tracked interface that holds some of its addresses counts as a tracker of
        // weight 0 (keepalived tracks it unless `no_track`).
        let faulting = tracked
            .iter()
            .find(|(_, _, input)| input.contribution() == Contribution::Fault)
            .map(|(name, _, _)| name.clone())
            .or_else(|| self.failing_home(slot));
        if effective.priority != slot.instance.priority() {
            let line = format!(
                "({}) priority {} -> {} (base {})",
                slot.name(),
                slot.instance.priority(),
                effective.priority,
                slot.config.priority
            );
            let old_priority = slot.instance.priority();
            let hook = slot
                .config
                .notify
                .clone()
                .filter(|notify| notify.priority_change.is_some())
                .map(|notify| NodeAction::RunPriorityHook {
                    notify,
                    instance: slot.name().to_owned(),
                    state: state_name(slot.instance.state()),
                    old_priority,
                    new_priority: effective.priority,
                });
            self.log(LogLevel::Info, line);
            let actions = self.slots[index]
                .instance
                .set_priority(now, effective.priority);
            self.perform(now, index, actions);
            if let Some(hook) = hook {
                self.push(hook);
            }
        }
        let held = self.slots[index].instance.tracker_fault();
        let why = match faulting {
            Some(tracker) if !held => {
                self.feed(now, index, Input::TrackerFault { tracker: &tracker });
                format!("tracker {tracker} failed")
            }
            None if held => {
                self.feed(now, index, Input::TrackerRecovered);
                "its tracker recovered".to_owned()
            }
            _ => return,
        };
        // An instance its group holds changes no state when its tracker fails or
        // recovers, but whether the group is at fault of its own does (as on_link).
        if let Some(slot) = self.slots.get(index) {
            let instance = slot.name().to_owned();
            self.recheck_group_of(now, &instance, &format!("{instance}: {why}"));
        }
    }

    // ---- Operator commands -------------------------------------------------------------

    fn on_control(&mut self, now: Instant, request: u64, command: Command) {
        match command {
            Command::Status => {
                let response = Response::status(self.status_report());
                self.push(NodeAction::Reply { request, response });
            }
            Command::Demote { instance } => self.request_hold(now, request, instance, true),
            Command::Promote { instance } => self.request_hold(now, request, instance, false),
        }
    }

    /// `vrrpd demote` (`demote` true) or `vrrpd promote` for one instance, or all of them.
    /// The hold is saved before the instance is touched ([`NodeAction::PersistDemoted`]):
    /// a demote that cannot be kept across a restart is refused rather than half done.
    fn request_hold(&mut self, now: Instant, request: u64, name: Option<String>, demote: bool) {
        let targets: Vec<usize> = match &name {
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
                    let response = Response::error(format!(
                        "no instance named {name:?} (instances: {})",
                        known.join(", ")
                    ));
                    self.push(NodeAction::Reply { request, response });
                    return;
                }
            },
        };
        let targets: Vec<String> = targets
            .into_iter()
            .map(|index| self.slots[index].name().to_owned())
            .collect();
        let mut wanted = self.demoted.clone();
        match (demote, &name) {
            (true, _) => wanted.extend(targets.iter().cloned()),
            // Promote everything also clears names no instance has any more.
            (false, None) => wanted.clear(),
            (false, Some(_)) => {
                for target in &targets {
                    wanted.remove(target);
                }
            }
        }
        if wanted == self.demoted {
            self.apply_hold(now, request, &targets, demote);
            return;
        }
        self.push(NodeAction::PersistDemoted {
            request,
            names: wanted.clone(),
        });
        self.pending_holds.push(PendingHold {
            request,
            targets,
            demote,
            wanted,
        });
    }

    fn on_persisted(&mut self, now: Instant, request: u64, result: Result<(), String>) {
        let Some(position) = self
            .pending_holds
            .iter()
            .position(|pending| pending.request == request)
        else {
            return;
        };
        let pending = self.pending_holds.remove(position);
        match result {
            Err(error) => {
                self.log(LogLevel::Error, error.clone());
                let response = Response::error(format!("nothing changed: {error}"));
                self.push(NodeAction::Reply { request, response });
            }
            Ok(()) => {
                self.demoted = pending.wanted;
                self.apply_hold(now, request, &pending.targets, pending.demote);
            }
        }
    }

    fn apply_hold(&mut self, now: Instant, request: u64, targets: &[String], demote: bool) {
        let mut changes = Vec::new();
        for name in targets {
            let Some(index) = self
                .slots
                .iter()
                .position(|slot| slot.active() && slot.name() == name)
            else {
                continue;
            };
            let slot = &mut self.slots[index];
            let was = slot.instance.state();
            let was_demoted = slot.instance.is_demoted();
            let was_handing_over = slot.instance.handing_over();
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
                        .min(MAX_HAND_OVER_WAIT)
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
            let line = format!("({}) operator {verb}: {message}", slot.name());
            changes.push(HoldChange {
                instance: slot.name().to_owned(),
                message,
                handing_over,
            });
            self.log(LogLevel::Info, line);
            self.perform(now, index, actions);
            if was_handing_over {
                // A promote ends a demote hand-over with the instance still MASTER.
                self.after_hand_over_kept(now, index);
            }
        }
        self.push(NodeAction::Status(self.status_text()));
        self.push(NodeAction::Reply {
            request,
            response: Response::changes(changes),
        });
    }

    // ---- Helpers -----------------------------------------------------------------------

    fn push(&mut self, action: NodeAction) {
        self.actions.push_back(action);
    }

    fn log(&mut self, level: LogLevel, line: String) {
        self.actions.push_back(NodeAction::Log { level, line });
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        let (at, unix_ms) = self.wall_clock;
        let elapsed = u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(0);
        unix_ms.saturating_add(elapsed)
    }
}

/// IPv6 when the virtual addresses (or, with none, the source address) are IPv6.
pub fn instance_is_ipv6(config: &InstanceConfig, addresses: &[(IpAddr, u8)]) -> bool {
    match addresses.first() {
        Some((address, _)) => address.is_ipv6(),
        None => config
            .source_address
            .is_some_and(|address| address.is_ipv6()),
    }
}

/// [`Node::vrid_hints`] entry for a VRID not seen yet.
const NO_HINT: u16 = u16::MAX;

/// How long the node may sleep at most when nothing has a deadline (Initialize/Fault only):
/// the shell wakes up this often anyway.
pub const IDLE_WAKE_UP: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::reload::tests::instance;

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

    // ---- Interfaces that change under us (issue 11) ------------------------------------

    const CONFIG: &str = r#"{
        "instances": [{
            "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
            "priority": 150, "advert_interval_ms": 100,
            "virtual_addresses": ["192.0.2.40"]
        }]
    }"#;
    const VIP: &str = "192.0.2.40";
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn placement(ifindex: u32, local: &str) -> Placement {
        Placement {
            ifindex,
            interface: "eth0".to_owned(),
            up: true,
            mac: Some(MAC),
            local_address: local.parse().unwrap(),
            virtual_mac: None,
        }
    }

    fn node_with(placement: Result<Placement, String>, now: Instant) -> Node {
        let config = crate::config::load_str(CONFIG, "test").unwrap();
        let placements = BTreeMap::from([("VI_1".to_owned(), placement)]);
        let demoted = DemotedAtStart::Instances(BTreeSet::new());
        let mut node = Node::new(config, placements, demoted, now, 0);
        node.handle(now, NodeInput::Start);
        drain(&mut node);
        node
    }

    fn drain(node: &mut Node) -> Vec<NodeAction> {
        std::iter::from_fn(|| node.poll_action()).collect()
    }

    /// A master on eth0 (index 5), after it took over (no peer).
    fn master(now: Instant) -> (Node, Instant) {
        let mut node = node_with(Ok(placement(5, "192.0.2.1")), now);
        let later = now + Duration::from_secs(1);
        node.handle(later, NodeInput::Timeout);
        drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Master);
        (node, later)
    }

    fn link(ifindex: u32, name: &str, mac: [u8; 6], mtu: u32) -> NodeInput<'static> {
        NodeInput::Link {
            ifindex,
            name: name.to_owned(),
            up: true,
            mac: Some(mac),
            mtu: Some(mtu),
        }
    }

    fn locates(actions: &[NodeAction]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::Locate { instance, .. } => Some(instance.as_str()),
                _ => None,
            })
            .collect()
    }

    fn sends_on(actions: &[NodeAction], wanted: u32) -> bool {
        actions.iter().any(|action| match action {
            NodeAction::SendAdvertisement { ifindex, .. }
            | NodeAction::AddAddresses { ifindex, .. }
            | NodeAction::RemoveAddresses { ifindex, .. }
            | NodeAction::SendGratuitousArp { ifindex, .. } => *ifindex == wanted,
            _ => false,
        })
    }

    /// A VRRPv3 advert from 192.0.2.2 (priority 200) for `vrid`, as a raw socket
    /// delivers it (IPv4 header, TTL 255).
    fn advert_datagram(vrid: u8) -> Vec<u8> {
        let source: IpAddr = "192.0.2.2".parse().unwrap();
        let advert = crate::core::packet::Advertisement {
            version: crate::core::packet::Version::V3,
            virtual_router_id: vrid,
            priority: 200,
            interval_cs: 10,
            addresses: vec![VIP.parse().unwrap()],
            authentication: crate::core::packet::Authentication::None,
        };
        let message = crate::core::packet::encode(
            &advert,
            source,
            IpAddr::V4(MULTICAST_V4),
            crate::core::packet::ChecksumMode::WithPseudoHeader,
        );
        let total = u16::try_from(20 + message.len()).unwrap();
        let mut datagram = vec![0x45, 0];
        datagram.extend_from_slice(&total.to_be_bytes());
        datagram.extend_from_slice(&[0, 0, 0, 0, 255, 112, 0, 0]);
        datagram.extend_from_slice(&[192, 0, 2, 2]);
        datagram.extend_from_slice(&MULTICAST_V4.octets());
        datagram.extend_from_slice(&message);
        datagram
    }

    #[test]
    fn status_keeps_the_last_ten_transitions_oldest_first() {
        let start = Instant::now();
        let (mut node, mut now) = master(start);
        let higher = advert_datagram(50);
        // Flap: a priority-200 master appears (MASTER -> BACKUP), then falls silent
        // (BACKUP -> MASTER), eight times: sixteen changes after the first two.
        for _ in 0..8 {
            now += Duration::from_millis(100);
            node.handle(
                now,
                NodeInput::Datagram {
                    ifindex: 5,
                    packet: ReceivedPacket::Ipv4(&higher),
                },
            );
            drain(&mut node);
            assert_eq!(node.instance_states()[0].state, State::Backup);
            now += Duration::from_secs(1);
            node.handle(now, NodeInput::Timeout);
            drain(&mut node);
            assert_eq!(node.instance_states()[0].state, State::Master);
        }
        let report = node.status_report();
        let me = &report.instances[0];
        assert_eq!(me.transitions, 18);
        assert_eq!(me.recent_transitions.len(), RECENT_TRANSITIONS);
        assert_eq!(me.last_transition.as_ref(), me.recent_transitions.last());
        let pairs: Vec<(&str, &str)> = me
            .recent_transitions
            .iter()
            .map(|change| (change.from.as_str(), change.to.as_str()))
            .collect();
        // Oldest first, ending with the last takeover.
        assert_eq!(pairs[RECENT_TRANSITIONS - 1], ("BACKUP", "MASTER"));
        assert_eq!(pairs[RECENT_TRANSITIONS - 2], ("MASTER", "BACKUP"));
        assert!(
            me.recent_transitions
                .windows(2)
                .all(|pair| pair[0].at_unix_ms <= pair[1].at_unix_ms)
        );
    }

    #[test]
    fn adverts_reach_their_instance_after_a_reload_moves_its_slot() {
        // Two backups (VRIDs 50 and 51); a reload removes the first, so the second moves
        // from slot 1 to slot 0 and the VRID hints of both go stale.
        const TWO: &str = r#"{ "instances": [
            { "name": "A", "interface": "eth0", "virtual_router_id": 50, "version": 3,
              "priority": 100, "advert_interval_ms": 100, "virtual_addresses": ["192.0.2.40"] },
            { "name": "B", "interface": "eth0", "virtual_router_id": 51, "version": 3,
              "priority": 100, "advert_interval_ms": 100, "virtual_addresses": ["192.0.2.41"] }
        ] }"#;
        let now = Instant::now();
        let config = crate::config::load_str(TWO, "test").unwrap();
        let reloaded = crate::config::Config {
            instances: config.instances[1..].to_vec(),
            ..config.clone()
        };
        let placements = || {
            BTreeMap::from([
                ("A".to_owned(), Ok(placement(5, "192.0.2.1"))),
                ("B".to_owned(), Ok(placement(5, "192.0.2.1"))),
            ])
        };
        let demoted = DemotedAtStart::Instances(BTreeSet::new());
        let mut node = Node::new(config, placements(), demoted, now, 0);
        node.handle(now, NodeInput::Start);
        drain(&mut node);
        let datagram = |vrid| advert_datagram(vrid);
        let receive = |node: &mut Node, at: Instant, bytes: &[u8]| {
            node.handle(
                at,
                NodeInput::Datagram {
                    ifindex: 5,
                    packet: ReceivedPacket::Ipv4(bytes),
                },
            );
            drain(node)
        };
        let (a, b) = (datagram(50), datagram(51));
        // Both heard once: each hint now names its slot.
        let t1 = now + Duration::from_millis(50);
        receive(&mut node, t1, &a);
        receive(&mut node, t1, &b);
        node.handle(t1, NodeInput::ReloadRequested);
        drain(&mut node);
        let result = Ok(LoadedConfig {
            config: reloaded,
            placements: placements(),
        });
        let generation = node.reload_generation();
        node.handle(t1, NodeInput::ConfigLoaded { generation, result });
        drain(&mut node);
        let names: Vec<String> = node
            .instance_states()
            .into_iter()
            .map(|view| view.name)
            .collect();
        assert_eq!(names, vec!["B"]);
        // B's advert still resets B's Master_Down_Timer (RFC 5798 §6.4.2)...
        let before = node.next_deadline().unwrap();
        let t2 = t1 + Duration::from_millis(100);
        receive(&mut node, t2, &b);
        let after = node.next_deadline().unwrap();
        assert!(after > before, "B's advert did not reach B");
        // ...and A's VRID, whose hint names B's new slot, reaches nobody.
        let t3 = t2 + Duration::from_millis(10);
        let actions = receive(&mut node, t3, &a);
        assert_eq!(
            node.next_deadline(),
            Some(after),
            "A's advert moved B's timer"
        );
        assert!(
            actions.iter().any(|action| matches!(
                action,
                NodeAction::Log { line, .. } if line.contains("virtual router ID is not configured")
            )),
            "the unknown VRID is logged: {actions:?}"
        );
    }

    #[test]
    fn a_timeout_before_the_master_down_deadline_does_nothing() {
        // The shell's timer may wake the node early (driver::timer re-arms lazily): the
        // Master_Down_Timer must still expire only at its deadline (RFC 3768 §6.4.2,
        // RFC 9568 §6.4.2), so an early Timeout is a no-op.
        let now = Instant::now();
        let mut node = node_with(Ok(placement(5, "192.0.2.1")), now);
        assert_eq!(node.instance_states()[0].state, State::Backup);
        let deadline = node.next_deadline().unwrap();
        assert!(deadline > now);
        for early in [
            now,
            deadline - Duration::from_millis(1),
            deadline - Duration::from_nanos(1),
        ] {
            node.handle(early, NodeInput::Timeout);
            let actions = drain(&mut node);
            assert!(actions.is_empty(), "acted early at {early:?}: {actions:?}");
            assert_eq!(node.instance_states()[0].state, State::Backup);
            assert_eq!(node.next_deadline(), Some(deadline), "the deadline moved");
        }
        node.handle(deadline, NodeInput::Timeout);
        drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Master);
    }

    #[test]
    fn a_deleted_interface_puts_its_instances_in_fault_until_one_of_that_name_is_back() {
        let (mut node, now) = master(Instant::now());
        node.handle(now, NodeInput::LinkGone { ifindex: 5 });
        let actions = drain(&mut node);
        let view = &node.instance_states()[0];
        assert_eq!((view.state, view.ifindex), (State::Fault, None));
        // Nothing is asked of the deleted link; its sockets are closed.
        assert!(!sends_on(&actions, 5), "{actions:?}");
        assert!(actions.contains(&NodeAction::CloseUnusedInterfaces { in_use: vec![] }));
        // Another interface appearing means nothing to it.
        node.handle(now, link(6, "eth1", MAC, 1500));
        assert!(locates(&drain(&mut node)).is_empty());
        // eth0 created again (new index 7): the node asks where it runs now.
        node.handle(now, link(7, "eth0", MAC, 1500));
        assert_eq!(locates(&drain(&mut node)), vec!["VI_1"]);
        // Only one request at a time.
        node.handle(now, link(7, "eth0", MAC, 1500));
        assert!(locates(&drain(&mut node)).is_empty());
        // The new interface has no address yet: it keeps waiting...
        let result = Err("no IPv4 address".to_owned());
        node.handle(
            now,
            NodeInput::Located {
                instance: "VI_1".to_owned(),
                result,
            },
        );
        drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Fault);
        // ...until an address appears on it.
        let address = NodeInput::Address {
            ifindex: 7,
            address: "192.0.2.9".parse().unwrap(),
            present: true,
        };
        node.handle(now, address);
        assert_eq!(locates(&drain(&mut node)), vec!["VI_1"]);
        let result = Ok(placement(7, "192.0.2.9"));
        node.handle(
            now,
            NodeInput::Located {
                instance: "VI_1".to_owned(),
                result,
            },
        );
        drain(&mut node);
        let view = &node.instance_states()[0];
        assert_eq!((view.state, view.ifindex), (State::Backup, Some(7)));
        assert_eq!(view.local_address, "192.0.2.9".parse::<IpAddr>().unwrap());
        // And it takes over on the new interface, from the new address.
        node.handle(now + Duration::from_secs(1), NodeInput::Timeout);
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Master);
        assert!(sends_on(&actions, 7), "{actions:?}");
        assert!(!sends_on(&actions, 5), "{actions:?}");
    }

    #[test]
    fn an_interface_missing_at_start_is_waited_for_in_fault() {
        let now = Instant::now();
        let mut node = node_with(Err("interface \"eth0\" does not exist".to_owned()), now);
        let view = &node.instance_states()[0];
        assert_eq!((view.state, view.ifindex), (State::Fault, None));
        assert!(!node.exited());
        // An address appearing on some interface we do not know may be the one we need.
        let address = NodeInput::Address {
            ifindex: 3,
            address: "192.0.2.1".parse().unwrap(),
            present: true,
        };
        node.handle(now, address);
        assert_eq!(locates(&drain(&mut node)), vec!["VI_1"]);
        let result = Ok(placement(3, "192.0.2.1"));
        node.handle(
            now,
            NodeInput::Located {
                instance: "VI_1".to_owned(),
                result,
            },
        );
        drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Backup);
    }

    #[test]
    fn a_renamed_interface_is_left_and_its_instances_wait_for_the_configured_name() {
        let (mut node, now) = master(Instant::now());
        node.handle(now, link(5, "lan0", MAC, 1500));
        let actions = drain(&mut node);
        assert!(locates(&actions).is_empty());
        // The renamed link keeps its addresses unless we remove them: the peer takes over.
        let vip: IpAddr = VIP.parse().unwrap();
        assert!(
            actions.iter().any(|action| matches!(action,
                NodeAction::RemoveAddresses { ifindex: 5, addresses, .. } if addresses == &vec![(vip, 32)])),
            "{actions:?}"
        );
        let view = &node.instance_states()[0];
        assert_eq!((view.state, view.ifindex), (State::Fault, None));
        // Renamed back: the same interface is located again.
        node.handle(now, link(5, "eth0", MAC, 1500));
        assert_eq!(locates(&drain(&mut node)), vec!["VI_1"]);
    }

    #[test]
    fn a_new_mac_while_master_is_announced_at_once_and_an_mtu_change_only_logged() {
        let (mut node, now) = master(Instant::now());
        node.handle(now, link(5, "eth0", MAC, 1500));
        drain(&mut node);
        let new_mac = [2, 0, 0, 0, 0, 9];
        node.handle(now, link(5, "eth0", new_mac, 1500));
        let actions = drain(&mut node);
        let frames: Vec<&Vec<u8>> = actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::SendGratuitousArp { frame, .. } => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(frames.len(), 1, "{actions:?}");
        // Ethernet source = the new MAC.
        assert_eq!(&frames[0][6..12], &new_mac);
        node.handle(now, link(5, "eth0", new_mac, 9000));
        let actions = drain(&mut node);
        assert!(
            actions.iter().all(|action| matches!(
                action,
                NodeAction::Log {
                    level: LogLevel::Info,
                    ..
                }
            )),
            "{actions:?}"
        );
        assert_eq!(actions.len(), 1);
        assert_eq!(node.instance_states()[0].state, State::Master);
    }

    #[test]
    fn excluded_addresses_are_held_and_announced_but_not_advertised() {
        const WITH_EXCLUDED: &str = r#"{
            "instances": [{
                "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
                "priority": 150, "advert_interval_ms": 100,
                "virtual_addresses": ["192.0.2.40"],
                "excluded_addresses": ["198.51.100.7/24", "198.51.100.8"]
            }]
        }"#;
        let now = Instant::now();
        let config = crate::config::load_str(WITH_EXCLUDED, "test").unwrap();
        let placements = BTreeMap::from([("VI_1".to_owned(), Ok(placement(5, "192.0.2.1")))]);
        let demoted = DemotedAtStart::Instances(BTreeSet::new());
        let mut node = Node::new(config, placements, demoted, now, 0);
        node.handle(now, NodeInput::Start);
        let leftovers = drain(&mut node);
        let removed: Vec<IpAddr> = leftovers
            .iter()
            .filter_map(|action| match action {
                NodeAction::RemoveAddresses { addresses, .. } => Some(addresses.clone()),
                _ => None,
            })
            .flatten()
            .map(|(address, _)| address)
            .collect();
        assert_eq!(
            removed.len(),
            3,
            "leftovers of all three are cleaned: {leftovers:?}"
        );
        let later = now + Duration::from_secs(1);
        node.handle(later, NodeInput::Timeout);
        let actions = drain(&mut node);
        let added: Vec<(IpAddr, u8)> = actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::AddAddresses { addresses, .. } => Some(addresses.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(
            added,
            vec![
                (ip("192.0.2.40"), 32),
                (ip("198.51.100.7"), 24),
                (ip("198.51.100.8"), 32)
            ]
        );
        let announced: Vec<IpAddr> = actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::SendGratuitousArp { address, .. } => Some(*address),
                _ => None,
            })
            .collect();
        for address in ["192.0.2.40", "198.51.100.7", "198.51.100.8"] {
            assert!(
                announced.contains(&ip(address)),
                "{address} not announced: {actions:?}"
            );
        }
        let advert = actions
            .iter()
            .find_map(|action| match action {
                NodeAction::SendAdvertisement {
                    source,
                    destination,
                    message,
                    ..
                } => Some(packet::decode(message, *source, *destination).unwrap()),
                _ => None,
            })
            .expect("an advert");
        // Only the virtual address is in the advert (RFC 5798 §5.2.5's count is 1).
        assert_eq!(advert.addresses, vec![ip("192.0.2.40")]);
    }

    #[test]
    fn a_priority_change_runs_the_priority_hook_with_old_and_new() {
        const TRACKED: &str = r#"{
            "trackers": [{ "name": "caddy", "check": { "type": "tcp", "address": "127.0.0.1:443" },
                           "interval_ms": 1000, "rise": 1, "fall": 1 }],
            "instances": [{
                "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
                "priority": 150, "advert_interval_ms": 100,
                "virtual_addresses": ["192.0.2.40"],
                "track": [{ "tracker": "caddy", "weight": -60 }],
                "notify": { "priority_change": ["/usr/local/bin/prio"] }
            }]
        }"#;
        let now = Instant::now();
        let config = crate::config::load_str(TRACKED, "test").unwrap();
        let placements = BTreeMap::from([("VI_1".to_owned(), Ok(placement(5, "192.0.2.1")))]);
        let demoted = DemotedAtStart::Instances(BTreeSet::new());
        let mut node = Node::new(config, placements, demoted, now, 0);
        node.handle(now, NodeInput::Start);
        let generation = drain(&mut node)
            .iter()
            .find_map(|action| match action {
                NodeAction::RestartTrackers { generation, .. } => Some(*generation),
                _ => None,
            })
            .expect("the trackers start");
        let result = |node: &mut Node, healthy: bool| {
            node.handle(
                now,
                NodeInput::TrackerResult {
                    tracker: 0,
                    generation,
                    healthy,
                    value: None,
                    detail: String::new(),
                },
            );
            drain(node)
                .into_iter()
                .filter_map(|action| match action {
                    NodeAction::RunPriorityHook {
                        instance,
                        state,
                        old_priority,
                        new_priority,
                        ..
                    } => Some((instance, state, old_priority, new_priority)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        // The first healthy result changes nothing: no hook.
        assert_eq!(result(&mut node, true), vec![]);
        assert_eq!(
            result(&mut node, false),
            vec![("VI_1".to_owned(), "BACKUP", 150, 90)]
        );
        // Still down: no change, no hook. Up again: back to 150.
        assert_eq!(result(&mut node, false), vec![]);
        assert_eq!(
            result(&mut node, true),
            vec![("VI_1".to_owned(), "BACKUP", 90, 150)]
        );
    }

    #[test]
    fn announcements_restores_and_reloads_are_counted_for_the_metrics() {
        let (mut node, now) = master(Instant::now());
        node.handle(now, link(5, "eth0", MAC, 1500));
        let count = |actions: &[NodeAction]| {
            actions
                .iter()
                .filter(|action| matches!(action, NodeAction::SendGratuitousArp { .. }))
                .count() as u64
        };
        let sent_so_far = node.status_report().instances[0].announcements_sent;
        assert!(sent_so_far >= 1, "the takeover's gratuitous ARP");
        // Someone removes the VIP: it is put back and announced once more.
        node.handle(
            now,
            NodeInput::Address {
                ifindex: 5,
                address: "192.0.2.40".parse().unwrap(),
                present: false,
            },
        );
        let actions = drain(&mut node);
        let status = &node.status_report().instances[0];
        assert_eq!(status.addresses_restored, 1);
        assert_eq!(status.announcements_sent, sent_so_far + count(&actions));
        assert_eq!(count(&actions), 1, "{actions:?}");
        // A reload that fails, then one that is applied: both counted, the newest kept.
        let config = crate::config::load_str(CONFIG, "test").unwrap();
        for result in [
            Err("line 3: expected value".to_owned()),
            Ok(LoadedConfig {
                config,
                placements: BTreeMap::from([("VI_1".to_owned(), Ok(placement(5, "192.0.2.1")))]),
            }),
        ] {
            node.handle(now, NodeInput::ReloadRequested);
            let generation = node.reload_generation();
            node.handle(now, NodeInput::ConfigLoaded { generation, result });
            drain(&mut node);
        }
        let reloads = node.status_report().reloads;
        assert_eq!((reloads.succeeded, reloads.failed), (1, 1));
        assert!(reloads.last.is_some_and(|last| last.succeeded));
    }

    #[test]
    fn bursts_are_coalesced_only_where_several_instances_listen() {
        let now = Instant::now();
        // One instance on eth0: every advert is read at once.
        let node = node_with(Ok(placement(5, "192.0.2.1")), now);
        assert_eq!(node.receive_coalescing(5), None);
        assert_eq!(node.receive_coalescing(6), None);
        // Three on eth0 at 100 ms, 1 s and 30 ms: a fiftieth of the shortest.
        let config = crate::config::load_str(
            r#"{ "instances": [
                { "name": "a", "interface": "eth0", "virtual_router_id": 1, "priority": 100,
                  "advert_interval_ms": 100, "virtual_addresses": ["192.0.2.41"] },
                { "name": "b", "interface": "eth0", "virtual_router_id": 2, "priority": 100,
                  "advert_interval_ms": 1000, "virtual_addresses": ["192.0.2.42"] },
                { "name": "c", "interface": "eth0", "virtual_router_id": 3, "priority": 100,
                  "advert_interval_ms": 30, "virtual_addresses": ["192.0.2.43"] }
            ] }"#,
            "test",
        )
        .unwrap();
        let placements = ["a", "b", "c"]
            .into_iter()
            .map(|name| (name.to_owned(), Ok(placement(5, "192.0.2.1"))))
            .collect();
        let mut node = Node::new(
            config,
            placements,
            DemotedAtStart::Instances(BTreeSet::new()),
            now,
            0,
        );
        node.handle(now, NodeInput::Start);
        drain(&mut node);
        assert_eq!(node.receive_coalescing(5), Some(Duration::from_micros(600)));
        assert_eq!(node.receive_coalescing(6), None);
    }

    #[test]
    fn a_resync_finds_what_the_lost_notifications_said() {
        let (mut node, now) = master(Instant::now());
        // Lost: the VIP was flushed. Nothing else changed.
        let links = vec![LinkSnapshot {
            ifindex: 5,
            name: "eth0".to_owned(),
            up: true,
            mac: Some(MAC),
            mtu: Some(1500),
        }];
        node.handle(
            now,
            NodeInput::Resync {
                links: links.clone(),
                addresses: vec![(5, "192.0.2.1".parse().unwrap())],
            },
        );
        let actions = drain(&mut node);
        let vip: IpAddr = VIP.parse().unwrap();
        assert!(
            actions.iter().any(|action| matches!(action,
                NodeAction::AddAddresses { ifindex: 5, addresses, .. } if addresses == &vec![(vip, 32)])),
            "{actions:?}"
        );
        // A resync that finds everything as it should be changes nothing.
        node.handle(
            now,
            NodeInput::Resync {
                links,
                addresses: vec![(5, "192.0.2.1".parse().unwrap()), (5, vip)],
            },
        );
        let actions = drain(&mut node);
        assert!(
            actions
                .iter()
                .all(|action| matches!(action, NodeAction::Log { .. })),
            "{actions:?}"
        );
        // Lost: eth0 deleted and created again as index 8.
        node.handle(
            now,
            NodeInput::Resync {
                links: vec![LinkSnapshot {
                    ifindex: 8,
                    name: "eth0".to_owned(),
                    up: true,
                    mac: Some(MAC),
                    mtu: Some(1500),
                }],
                addresses: vec![(8, "192.0.2.1".parse().unwrap())],
            },
        );
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Fault);
        assert_eq!(locates(&actions), vec!["VI_1"]);
    }
}
