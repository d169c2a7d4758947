//! The VRRP state machine: RFC 3768 §6 (v2), RFC 5798 §6 / RFC 9568 §6 (v3).
//!
//! Pure: the caller passes `now`, feeds inputs, performs the returned actions and
//! calls [`Instance::on_timeout`] at [`Instance::next_deadline`].
//!
//! An instance is in one role at a time (Initialize, Backup, Master, and Fault, which is not
//! in the RFCs), and each role carries its own timers: a Backup its Master_Down_Timer, a
//! Master its Adver_Timer and GARP schedule (or, handing over, only its deadline).
//! [`State`] is the public name of the role.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::packet::{Advertisement, Authentication, ChecksumMode, DropReason, Version};

/// Priority of the address owner (RFC 3768 §5.3.4, RFC 5798 §5.2.4).
pub const OWNER_PRIORITY: u8 = 255;
/// Priority a master sends when it stops (RFC 3768 §5.3.4, RFC 5798 §5.2.4).
pub const RESIGN_PRIORITY: u8 = 0;
/// Upper bound on frames per GARP burst, so a mistaken config cannot make one burst endless.
pub const MAX_GARP_BURST_COUNT: u32 = 1000;

/// The longest a make-before-break hand-over waits for a new master, whatever the
/// intervals: a stop must end well within systemd's TimeoutStopSec (30 s in
/// packaging/vrrpd.service), or systemd kills the daemon with the addresses still on.
pub const MAX_HAND_OVER_WAIT: Duration = Duration::from_secs(10);
/// What a demoted instance advertises ([`Instance::demote`]): the lowest priority a
/// router may use (RFC 3768 §5.3.4, RFC 5798 §5.2.4).
pub const DEMOTED_PRIORITY: u8 = 1;

/// After a planned takeover (the master resigned, or we preempted it), gratuitous ARP is
/// sent again this long after becoming master, unless a spaced burst is still running.
/// The old master keeps its addresses until our first advert reaches it (make-before-break,
/// or RFC 3768 §6.4.3 when we preempt), so for those few milliseconds both answer ARP
/// requests; a host that asked then may have kept the old master's MAC. By now the old
/// master has let go, and this burst moves such a host over at once rather than at the
/// second burst, seconds later.
pub const FOLLOW_UP_GARP_DELAY: Duration = Duration::from_millis(100);

const CENTISECOND: Duration = Duration::from_millis(10);

/// Gratuitous ARP / unsolicited NA schedule (keepalived-like defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GarpParams {
    /// Frames per burst on becoming master (keepalived `vrrp_garp_master_repeat`, default 5).
    pub burst_count: u32,
    /// Spacing between frames of a burst (keepalived `vrrp_garp_interval`).
    pub burst_spacing: Duration,
    /// A second burst this long after becoming master (keepalived `vrrp_garp_master_delay`, 5 s); None = off.
    pub second_burst_delay: Option<Duration>,
    /// One burst every this long while master (keepalived `vrrp_garp_master_refresh`); None = off.
    pub master_refresh: Option<Duration>,
}

/// Everything the state machine needs to know about one virtual router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceParams {
    pub version: Version,
    pub virtual_router_id: u8,
    /// 1..=255; 255 means we own the addresses (RFC 3768 §5.3.4).
    pub priority: u8,
    /// Advertisement_Interval in centiseconds (v2: a multiple of 100).
    pub advert_interval_cs: u16,
    /// Preempt_Mode (RFC 3768 §6.1). Default true.
    pub preempt: bool,
    /// Wait this long after startup before preempting a lower-priority master (keepalived `preempt_delay`).
    pub preempt_delay: Duration,
    pub authentication: Authentication,
    /// Virtual addresses, one family.
    pub addresses: Vec<IpAddr>,
    /// Our primary address on the interface: the source of our adverts and the
    /// tie-breaker on equal priority (RFC 3768 §6.4.3).
    pub local_address: IpAddr,
    pub checksum_mode: ChecksumMode,
    pub garp: GarpParams,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// Not in the RFC (keepalived's FAULT): the interface is down, a tracker failed or the
    /// sync group holds the instance (see [`FaultCauses`]). No adverts, no addresses.
    Fault,
}

/// Why a transition happened, for the one-line log and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransitionReason {
    Startup,
    /// Priority 255 at startup (RFC 3768 §6.4.1).
    AddressOwner,
    /// Master_Down_Timer fired.
    MasterDown,
    /// The master sent priority 0 and Skew_Time passed.
    MasterResigned,
    /// A higher-priority (or equal priority, higher address) advert arrived while master.
    HigherPriorityMaster {
        source: IpAddr,
        priority: u8,
    },
    /// Preempting a lower-priority master.
    Preempt {
        source: IpAddr,
        priority: u8,
    },
    Shutdown,
    LinkDown,
    LinkUp,
    /// A tracker with weight 0 failed (health checks, see `core::track`).
    TrackerFault {
        tracker: String,
    },
    /// No tracker holds the instance in FAULT any more.
    TrackerRecovered,
    /// Moved by its sync group (see [`super::sync_group`]); the driver logs which member
    /// moved and why just before.
    SyncGroup,
    /// A make-before-break hand-over ended: the new master's advert was heard.
    HandedOver {
        source: IpAddr,
        priority: u8,
    },
    /// A make-before-break hand-over ended: nobody took over within Master_Down_Interval.
    HandOverTimedOut,
}

/// Where an instance goes once a make-before-break hand-over ends ([`Input::HandOver`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterHandOver {
    /// The daemon is stopping: Initialize, like the Shutdown event.
    Stop,
    /// The node stays up as a backup (an operator demote). Note that a Backup whose
    /// priority is higher than the new master's preempts it again after
    /// Master_Down_Interval: whoever demotes must also keep the node from preempting.
    Backup,
}

/// Side effects for the driver to perform, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Encode and multicast this advert.
    SendAdvertisement(Advertisement),
    /// Add the virtual addresses to the interface.
    AddAddresses,
    /// Remove the virtual addresses from the interface.
    RemoveAddresses,
    /// Send one gratuitous ARP (IPv4) / unsolicited NA (IPv6) for every virtual address.
    SendGratuitousArp,
    /// Log one line and update status.
    Transition {
        from: State,
        to: State,
        reason: TransitionReason,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Leave Initialize (RFC 3768 §6.4.1 Startup event).
    Startup,
    /// A decoded advert for our VRID, from `source`, that passed every §7.1 check
    /// (`core::receive::check`).
    Advertisement {
        source: IpAddr,
        advert: &'a Advertisement,
    },
    /// Shutdown event (RFC 3768 §6.4.2/6.4.3): priority-0 advert if master, addresses removed.
    /// During a hand-over it ends the hand-over at once (a second stop request means hurry).
    Shutdown,
    /// Make-before-break hand-over (not in the RFC, see [`Instance::handing_over`]): a master
    /// sends the priority-0 advert like Shutdown but keeps its addresses, and so keeps
    /// serving, until it hears the new master's advert or Master_Down_Interval passes; then
    /// it removes them and goes where `then` says. Outside Master it acts at once: `Stop`
    /// is a Shutdown, `Backup` leaves a Backup as it is and does nothing in Fault/Initialize.
    HandOver { then: AfterHandOver },
    /// The interface went down: give up mastership and addresses.
    LinkDown,
    /// The interface came up again: leave Fault as at Startup (backup, or master if the
    /// owner), unless a tracker or the sync group still holds it there.
    LinkUp,
    /// A tracker puts the instance in FAULT: like LinkDown (addresses removed, no adverts),
    /// but a master first resigns with priority 0 since the link still works
    /// (RFC 3768 §6.4.3 Shutdown), so the backup takes over after Skew_Time.
    TrackerFault { tracker: &'a str },
    /// No tracker holds FAULT any more: like LinkUp (unless the link is still down or the
    /// sync group holds the instance).
    TrackerRecovered,
    /// Sync group ([`super::sync_group::SyncCommand::ForceBackup`]): a master resigns with a
    /// priority-0 advert (so the other router takes over after Skew_Time), removes its
    /// addresses and becomes backup. Nothing in other states.
    SyncForceBackup,
    /// Sync group ([`super::sync_group::SyncCommand::ForceMaster`]): a backup becomes master
    /// at once, as if its Master_Down_Timer fired. Nothing in other states.
    SyncForceMaster,
    /// Sync group ([`super::sync_group::SyncCommand::Hold`]): go to Fault (a master resigns
    /// first) and stay there, whatever the link does, until [`Input::SyncRelease`].
    SyncHold,
    /// Sync group ([`super::sync_group::SyncCommand::Release`]): end the hold; start as
    /// backup (master if the owner) unless the interface is down or a tracker holds FAULT.
    SyncRelease,
}

/// Counters for status and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub adverts_sent: u64,
    /// Adverts that passed every receive check (drops are counted in `drops` instead).
    pub adverts_received: u64,
    pub transitions: u64,
    /// By reason; a reason never seen has no entry (see [`DropReason::ALL`] for them all).
    pub drops: std::collections::BTreeMap<DropReason, u64>,
    /// Accepted adverts whose address list differs from ours. RFC 3768 §7.1 would drop them
    /// (unless from the owner); RFC 5798 §7.1 and keepalived only log, and so do we.
    pub address_list_mismatches: u64,
    /// Adverts from our own `local_address` (our multicast looped back), ignored.
    pub own_adverts_ignored: u64,
}

/// Skew_Time (RFC 3768 §6.1, RFC 5798 §6.1).
///
/// v2: (256 − Priority) / 256 seconds; `interval_cs` is not used.
/// v3: ((256 − Priority) × Master_Adver_Interval) / 256 centiseconds, with
/// `interval_cs` = Master_Adver_Interval. Computed in nanoseconds rather than whole
/// centiseconds so that short intervals (10 ms) keep a skew that orders the backups.
pub fn skew_time(version: Version, priority: u8, interval_cs: u16) -> Duration {
    let weight = 256 - u64::from(priority);
    match version {
        Version::V2 => Duration::from_nanos(weight * 1_000_000_000 / 256),
        Version::V3 => Duration::from_nanos(weight * u64::from(interval_cs) * 10_000_000 / 256),
    }
}

/// Master_Down_Interval = 3 × interval + Skew_Time (RFC 3768 §6.1, RFC 5798 §6.1).
/// `interval_cs` is Advertisement_Interval for v2 and Master_Adver_Interval for v3.
pub fn master_down_interval(version: Version, priority: u8, interval_cs: u16) -> Duration {
    CENTISECOND * 3 * u32::from(interval_cs) + skew_time(version, priority, interval_cs)
}
/// What an instance is doing, with the timers and data that only this role has, so a
/// timer of one role can neither fire nor linger in another (RFC 3768 §6.4, RFC 5798 §6.4).
///
/// Backup and Master have no Fault causes: a cause that appears moves them to Fault.
#[derive(Debug)]
enum Role {
    /// RFC 3768 §6.4.1, RFC 5798 §6.4.1: waiting for the Startup event, or stopped by
    /// Shutdown. No timers. A Shutdown from Fault keeps the causes that still hold (the
    /// link stays down whatever the instance does), so that a later Startup goes straight
    /// back to Fault; before the first Startup they are empty, because a cause reported
    /// then moves the instance to Fault at once.
    Initialize(FaultCauses),
    /// RFC 3768 §6.4.2, RFC 5798 §6.4.2.
    Backup(Backup),
    /// RFC 3768 §6.4.3, RFC 5798 §6.4.3.
    Master(Master),
    /// Not in the RFCs (keepalived's FAULT): no adverts, no addresses, no timers, until
    /// the last of its causes clears. Entered only when a cause appears, and left when the
    /// last one clears, so at least one holds while here.
    Fault(FaultCauses),
}

impl Role {
    fn state(&self) -> State {
        match self {
            Role::Initialize(_) => State::Initialize,
            Role::Backup(_) => State::Backup,
            Role::Master(_) => State::Master,
            Role::Fault(_) => State::Fault,
        }
    }

    /// The Fault causes this role keeps (Initialize and Fault; see [`Role::Initialize`]).
    fn fault_causes_mut(&mut self) -> Option<&mut FaultCauses> {
        match self {
            Role::Initialize(causes) | Role::Fault(causes) => Some(causes),
            Role::Backup(_) | Role::Master(_) => None,
        }
    }

    /// The causes a move to Fault starts from: those kept in Initialize, none otherwise.
    fn take_fault_causes(&mut self) -> FaultCauses {
        self.fault_causes_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// A Backup's timer and what it heard from the master.
#[derive(Debug)]
struct Backup {
    /// Master_Down_Timer (RFC 3768 §6.2, RFC 5798 §6.2).
    master_down_at: Instant,
    /// The Master_Down_Timer was set to Skew_Time by a priority-0 advert.
    master_resigned: bool,
    heard_master: Option<HeardMaster>,
}

impl Backup {
    /// Why we take over when the Master_Down_Timer fires.
    fn takeover_reason(&self) -> TransitionReason {
        if self.master_resigned {
            return TransitionReason::MasterResigned;
        }
        match self.heard_master {
            Some(HeardMaster {
                address,
                priority,
                accepted: false,
            }) => TransitionReason::Preempt {
                source: address,
                priority,
            },
            _ => TransitionReason::MasterDown,
        }
    }
}

/// A Master either serves (advertises and holds the addresses) or hands over.
#[derive(Debug)]
enum Master {
    /// Adver_Timer (RFC 3768 §6.2, RFC 5798 §6.2) and the gratuitous ARP schedule.
    Serving {
        advert_at: Instant,
        garp: GarpTimers,
        answers: OutOfTurnAnswers,
    },
    /// A make-before-break hand-over ([`Input::HandOver`]): it has resigned with priority
    /// 0 and sends nothing but that resignation again every Advertisement_Interval (no
    /// advert of its own priority, no GARP), but still holds its addresses.
    HandingOver(HandOver),
}

/// A serving master's adverts out of turn: the answers to another master's priority-0
/// advert (RFC 3768 §6.4.3, RFC 5798 §6.4.3) and to a lower-priority master (a split
/// brain, keepalived's behaviour). Each such advert costs us an advert and, for a split
/// brain, a gratuitous ARP/NA per address, so a flood of forged adverts would be
/// amplified. At most one answer goes out per Advertisement_Interval (a burst of one);
/// a split brain heard within that interval of the last answer is answered by the next
/// regular advert instead, which is due within one interval (the answer restarted the
/// Adver_Timer) and then carries the gratuitous ARP/NA the answer would have sent, and
/// counts as the answer. A real split brain so still heals within one
/// Advertisement_Interval, and the hosts' caches end on our MAC; under a flood of forged
/// lower-priority adverts the master sends its regular adverts and nothing more, each
/// with one gratuitous ARP/NA per address.
#[derive(Clone, Copy, Debug, Default)]
struct OutOfTurnAnswers {
    /// When the last answer went out.
    last_at: Option<Instant>,
    /// A split brain was heard since: the next regular advert announces the addresses.
    garp_owed: bool,
}

/// Why an instance is in Fault: what the inputs reported and nothing has cleared yet.
/// Fault is left when the last one clears. [`Role::Fault`] carries them, and
/// [`Role::Initialize`] keeps them across a Shutdown from Fault.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCauses {
    /// The interface is down ([`Input::LinkDown`] without a later [`Input::LinkUp`]).
    pub link_down: bool,
    /// Held by its sync group ([`Input::SyncHold`] without a later [`Input::SyncRelease`]).
    pub held_by_sync_group: bool,
    /// A tracker holds FAULT ([`Input::TrackerFault`] without a later
    /// [`Input::TrackerRecovered`]): the one named by the latest [`Input::TrackerFault`].
    pub tracker: Option<String>,
}

impl FaultCauses {
    /// Whether any cause holds.
    pub fn any(&self) -> bool {
        self.link_down || self.held_by_sync_group || self.tracker.is_some()
    }

    /// The reason to give for entering Fault with these causes (None: no cause holds).
    fn reason(&self) -> Option<TransitionReason> {
        if self.link_down {
            Some(TransitionReason::LinkDown)
        } else if let Some(tracker) = &self.tracker {
            Some(TransitionReason::TrackerFault {
                tracker: tracker.clone(),
            })
        } else if self.held_by_sync_group {
            Some(TransitionReason::SyncGroup)
        } else {
            None
        }
    }
}

/// The last advert heard from another router while Backup.
#[derive(Clone, Copy, Debug)]
struct HeardMaster {
    address: IpAddr,
    priority: u8,
    /// False when it was discarded as a lower-priority master we mean to preempt.
    accepted: bool,
}

/// The remaining frames of a GARP burst whose frames are spaced apart.
#[derive(Clone, Copy, Debug)]
struct GarpBurst {
    next_at: Instant,
    remaining: u32,
}

/// The timers a Master runs besides the advert timer.
#[derive(Clone, Copy, Debug, Default)]
struct GarpTimers {
    burst: Option<GarpBurst>,
    /// See [`FOLLOW_UP_GARP_DELAY`].
    follow_up_at: Option<Instant>,
    second_burst_at: Option<Instant>,
    refresh_at: Option<Instant>,
}

impl GarpTimers {
    /// The schedule of a new master: a burst now (see [`GarpTimers::start_burst`]), the
    /// follow-up burst after a planned takeover, the second burst and the refresh.
    fn on_becoming_master(
        params: &GarpParams,
        now: Instant,
        planned_takeover: bool,
        actions: &mut Vec<Action>,
    ) -> Self {
        let mut garp = GarpTimers {
            burst: None,
            follow_up_at: planned_takeover.then(|| now + FOLLOW_UP_GARP_DELAY),
            second_burst_at: params.second_burst_delay.map(|delay| now + delay),
            refresh_at: params.refresh_period().map(|period| now + period),
        };
        garp.start_burst(params, now, actions);
        garp
    }

    /// The earliest GARP timer; on a tie, the first in this order. A plain loop: a
    /// master asks this several times per advert.
    fn earliest(&self) -> Option<(Instant, GarpTimer)> {
        let timers = [
            (self.burst.map(|burst| burst.next_at), GarpTimer::BurstFrame),
            (self.follow_up_at, GarpTimer::FollowUp),
            (self.second_burst_at, GarpTimer::SecondBurst),
            (self.refresh_at, GarpTimer::Refresh),
        ];
        let mut earliest: Option<(Instant, GarpTimer)> = None;
        for (at, timer) in timers {
            if let Some(at) = at
                && earliest.is_none_or(|(first, _)| at < first)
            {
                earliest = Some((at, timer));
            }
        }
        earliest
    }

    fn fire(
        &mut self,
        timer: GarpTimer,
        params: &GarpParams,
        at: Instant,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        match timer {
            GarpTimer::BurstFrame => {
                actions.push(Action::SendGratuitousArp);
                self.burst = self.burst.and_then(|burst| {
                    let remaining = burst.remaining.saturating_sub(1);
                    (remaining > 0).then(|| GarpBurst {
                        next_at: burst.next_at + params.burst_spacing,
                        remaining,
                    })
                });
            }
            GarpTimer::FollowUp => {
                self.follow_up_at = None;
                // A spaced burst still running already continues past the old master's exit.
                if self.burst.is_none() {
                    self.start_burst(params, now, actions);
                }
            }
            GarpTimer::SecondBurst => {
                self.second_burst_at = None;
                self.start_burst(params, now, actions);
            }
            GarpTimer::Refresh => {
                self.refresh_at = params
                    .refresh_period()
                    .map(|period| next_period(at, period, now));
                self.start_burst(params, now, actions);
            }
        }
    }

    /// One burst of `burst_count` frames: the first now, the others `burst_spacing` apart
    /// (all now when the spacing is zero). A burst replaces one still in progress.
    fn start_burst(&mut self, params: &GarpParams, now: Instant, actions: &mut Vec<Action>) {
        let count = params.burst_count.min(MAX_GARP_BURST_COUNT);
        if count == 0 {
            self.burst = None;
            return;
        }
        let spacing = params.burst_spacing;
        if spacing.is_zero() {
            actions.extend((0..count).map(|_| Action::SendGratuitousArp));
            self.burst = None;
        } else {
            actions.push(Action::SendGratuitousArp);
            self.burst = (count > 1).then(|| GarpBurst {
                next_at: now + spacing,
                remaining: count - 1,
            });
        }
    }
}

impl GarpParams {
    /// The refresh period, None when off (unset or zero).
    fn refresh_period(&self) -> Option<Duration> {
        self.master_refresh.filter(|period| !period.is_zero())
    }
}

/// Which timer is due: each belongs to one role ([`Instance::earliest_timer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Backup.
    MasterDown,
    /// Master, serving.
    Advertisement,
    /// Master, serving.
    Garp(GarpTimer),
    /// Master, handing over: the priority-0 advert again.
    Resignation,
    /// Master, handing over.
    HandOverDeadline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GarpTimer {
    BurstFrame,
    FollowUp,
    SecondBurst,
    Refresh,
}

/// One virtual router.
#[derive(Debug)]
pub struct Instance {
    params: InstanceParams,
    role: Role,
    /// The priority in force: the configured one, or what [`Instance::set_priority`] set.
    priority: u8,
    /// v3 Master_Adver_Interval (RFC 5798 §6.1), learned from the master while Backup.
    /// v2 has no such variable: it always equals our Advertisement_Interval.
    master_adver_interval_cs: u16,
    /// Lower-priority masters are tolerated until then (keepalived `preempt_delay`).
    preempt_allowed_at: Option<Instant>,
    stats: Stats,
    /// The operator demoted it ([`Instance::demote`]): it advertises and compares with
    /// [`DEMOTED_PRIORITY`] and never preempts, until [`Instance::promote`].
    demoted: bool,
    /// The address list of the last advert sent, given back once it was encoded
    /// ([`Instance::recycle_addresses`]): the next advert reuses it, no allocation.
    spare_addresses: Vec<IpAddr>,
}

/// A master that resigned (priority 0 sent) but still holds its addresses.
#[derive(Clone, Copy, Debug)]
struct HandOver {
    /// Give up waiting for a new master then: Master_Down_Interval after the resignation,
    /// at most [`MAX_HAND_OVER_WAIT`].
    deadline: Instant,
    then: AfterHandOver,
    /// The priority-0 advert is sent again then, every Advertisement_Interval.
    resign_again_at: Instant,
}

impl Instance {
    pub fn new(params: InstanceParams) -> Self {
        let priority = params.priority.max(1);
        let master_adver_interval_cs = params.advert_interval_cs.max(1);
        Instance {
            params,
            role: Role::Initialize(FaultCauses::default()),
            priority,
            master_adver_interval_cs,
            preempt_allowed_at: None,
            stats: Stats::default(),
            demoted: false,
            spare_addresses: Vec::new(),
        }
    }
    pub fn params(&self) -> &InstanceParams {
        &self.params
    }
    /// The interface came back (recreated with a new index, or it appeared after start)
    /// with this primary address: our adverts come from it from now on. Only while the
    /// instance sends nothing (Initialize or Fault); elsewhere it does nothing and returns
    /// false, because a master's or backup's comparisons (§6.4.3) rest on the address.
    pub fn relocate(&mut self, local_address: IpAddr) -> bool {
        if !matches!(self.role, Role::Initialize(_) | Role::Fault(_)) {
            return false;
        }
        self.params.local_address = local_address;
        true
    }
    pub fn state(&self) -> State {
        self.role.state()
    }
    /// The priority in force (the configured one unless [`Instance::set_priority`] changed it).
    pub fn priority(&self) -> u8 {
        self.priority
    }
    /// Master_Adver_Interval in centiseconds: learned from the master for v3, ours for v2.
    pub fn master_adver_interval_cs(&self) -> u16 {
        match self.params.version {
            Version::V2 => self.advert_interval_cs(),
            Version::V3 => self.master_adver_interval_cs,
        }
    }
    /// The priority this instance advertises and compares with: [`DEMOTED_PRIORITY`] while
    /// demoted, otherwise [`Instance::priority`].
    pub fn advertised_priority(&self) -> u8 {
        if self.demoted {
            DEMOTED_PRIORITY
        } else {
            self.priority
        }
    }
    /// Skew_Time with the current priority and Master_Adver_Interval.
    pub fn skew_time(&self) -> Duration {
        skew_time(
            self.params.version,
            self.advertised_priority(),
            self.master_adver_interval_cs(),
        )
    }
    /// Master_Down_Interval with the current priority and Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.params.version,
            self.advertised_priority(),
            self.master_adver_interval_cs(),
        )
    }

    /// Handle one input at `now`.
    ///
    /// Inputs that are not events in the current state do nothing: Startup outside Initialize
    /// (in Fault the instance waits for its last [`FaultCauses`] to clear), LinkUp outside
    /// Fault, Shutdown in Initialize, LinkDown in Fault. LinkDown, TrackerFault and SyncHold
    /// before Startup move Initialize to Fault.
    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Vec<Action> {
        let mut actions = Vec::new();
        self.handle_into(now, input, &mut actions);
        actions
    }

    /// [`Self::handle`] into the caller's buffer: a node that keeps one allocates no
    /// action list per advert.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    pub fn handle_into(&mut self, now: Instant, input: Input<'_>, actions: &mut Vec<Action>) {
        match input {
            Input::Startup => {
                if let Role::Initialize(causes) = &mut self.role {
                    if let Some(reason) = causes.reason() {
                        // A cause that still holds from before a Shutdown, or the sync
                        // group holding an instance not started yet: straight to Fault.
                        let causes = std::mem::take(causes);
                        self.enter(Role::Fault(causes), reason, actions);
                    } else {
                        self.start(now, None, actions);
                    }
                }
            }
            Input::Advertisement { source, advert } => self.receive(now, source, advert, actions),
            Input::Shutdown => self.shut_down(actions),
            Input::HandOver { then } => self.hand_over(now, then, actions),
            Input::LinkDown => self.link_down(actions),
            Input::LinkUp => {
                if let Some(causes) = self.role.fault_causes_mut() {
                    causes.link_down = false;
                }
                self.leave_fault_if_no_cause(now, TransitionReason::LinkUp, actions);
            }
            Input::SyncForceBackup => {
                // A master handing over has already resigned and becomes backup as soon as
                // the new master is heard: letting go now would break its make-before-break
                // (a demoted group member whose sibling finished first).
                if let Role::Master(Master::Serving { .. }) = self.role {
                    self.resign(actions);
                    self.become_backup(now, TransitionReason::SyncGroup, None, actions);
                }
            }
            Input::SyncForceMaster => {
                if let Role::Backup(_) = self.role {
                    self.become_master(now, TransitionReason::SyncGroup, actions);
                }
            }
            Input::SyncHold => self.fault_enter(
                |causes| causes.held_by_sync_group = true,
                TransitionReason::SyncGroup,
                actions,
            ),
            Input::SyncRelease => {
                if let Some(causes) = self.role.fault_causes_mut() {
                    causes.held_by_sync_group = false;
                }
                self.leave_fault_if_no_cause(now, TransitionReason::SyncGroup, actions);
            }
            Input::TrackerFault { tracker } => self.fault_enter(
                |causes| causes.tracker = Some(tracker.to_owned()),
                TransitionReason::TrackerFault {
                    tracker: tracker.to_owned(),
                },
                actions,
            ),
            Input::TrackerRecovered => {
                if let Some(causes) = self.role.fault_causes_mut() {
                    causes.tracker = None;
                }
                self.leave_fault_if_no_cause(now, TransitionReason::TrackerRecovered, actions);
            }
        }
    }

    /// Held in Fault by its sync group ([`Input::SyncHold`]) and not released yet.
    pub fn is_held(&self) -> bool {
        self.fault_causes().held_by_sync_group
    }

    /// In Fault, or kept in Initialize across a Shutdown, because its interface is down
    /// ([`Input::LinkDown`] without a later [`Input::LinkUp`]).
    pub fn is_link_down(&self) -> bool {
        self.fault_causes().link_down
    }

    /// In Fault for a cause of its own (the link or a tracker), not only because its sync
    /// group holds it: what holds the rest of its group (`core::sync_group` rule 1).
    pub fn has_own_fault(&self) -> bool {
        match &self.role {
            Role::Fault(causes) => causes.link_down || causes.tracker.is_some(),
            _ => false,
        }
    }

    /// Why the instance is in Fault (empty in Backup and Master, which have no causes).
    pub fn fault_causes(&self) -> &FaultCauses {
        const NONE: &FaultCauses = &FaultCauses {
            link_down: false,
            held_by_sync_group: false,
            tracker: None,
        };
        match &self.role {
            Role::Initialize(causes) | Role::Fault(causes) => causes,
            Role::Backup(_) | Role::Master(_) => NONE,
        }
    }

    /// Fire every timer due at or before `now`.
    ///
    /// Timers fire in deadline order. Called late, periodic timers catch up once rather than
    /// replaying every missed period; called early, nothing happens.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        self.on_timeout_into(now, &mut actions);
        actions
    }

    /// [`Self::on_timeout`] into the caller's buffer (see [`Self::handle_into`]).
    #[unsafe(link_section = ".text.hot.vrrpd")]
    pub fn on_timeout_into(&mut self, now: Instant, actions: &mut Vec<Action>) {
        // Each firing either clears its timer or moves it past `now`, except the frames of a
        // late burst, which are bounded by MAX_GARP_BURST_COUNT; the cap only guards bugs.
        for _ in 0..(4 * MAX_GARP_BURST_COUNT + 16) {
            match self.earliest_timer() {
                Some((at, timer)) if at <= now => self.fire(timer, at, now, actions),
                _ => break,
            }
        }
    }

    /// When [`Instance::on_timeout`] must next be called; None when idle (Initialize/Fault).
    #[unsafe(link_section = ".text.hot.vrrpd")]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.earliest_timer().map(|(at, _)| at)
    }

    /// Change the priority at runtime (reload, trackers). Never changes an owner's 255.
    ///
    /// Other routers get a priority in 1..=254 (255 and 0 have fixed meanings). A Backup needs
    /// nothing more: a master now below us is preempted because its adverts get discarded
    /// (RFC 3768 §6.4.2). A Master stays master even if now lower — a higher-priority backup
    /// with preempt on takes over by itself — and announces its new priority at once.
    pub fn set_priority(&mut self, now: Instant, priority: u8) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.params.priority == OWNER_PRIORITY {
            return actions;
        }
        let priority = priority.clamp(1, OWNER_PRIORITY - 1);
        if priority == self.priority {
            return actions;
        }
        self.priority = priority;
        // A master handing over has resigned: it announces nothing more. A demoted one
        // keeps advertising DEMOTED_PRIORITY, so it has nothing new to say.
        if let Role::Master(Master::Serving { .. }) = self.role
            && !self.demoted
        {
            self.send_advertisement(self.priority, &mut actions);
            self.restart_advert_timer(now);
        }
        actions
    }

    /// Operator hold (`vrrpd demote`): hand mastership to a peer and stay backup until
    /// [`Instance::promote`]. Not in the RFCs. While demoted the instance advertises and
    /// compares with [`DEMOTED_PRIORITY`] (1, the lowest a router may use, RFC 3768 §5.3.4)
    /// and never preempts; it still takes over when its Master_Down_Timer fires, because
    /// a demoted node must keep serving the addresses when no other router can.
    ///
    /// A master hands over make-before-break ([`Input::HandOver`] then Backup): if nobody
    /// takes over within the hand-over wait it stays master at priority 1. A backup, or an
    /// instance in Fault or not started, just records the hold. Returns what to do.
    pub fn demote(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.demoted {
            return actions;
        }
        self.demoted = true;
        if let Role::Master(Master::Serving { .. }) = self.role {
            self.hand_over(now, AfterHandOver::Backup, &mut actions);
        }
        actions
    }

    /// Clear the operator hold of [`Instance::demote`]: the priority in force is advertised
    /// again. A backup then preempts a lower-priority master through the ordinary rule
    /// (its adverts are discarded and the Master_Down_Timer fires, RFC 3768 §6.4.2), which
    /// is make-before-break: the new master adds its addresses and sends GARP before the
    /// old one hears it and lets go. A master announces its restored priority at once.
    pub fn promote(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if !std::mem::replace(&mut self.demoted, false) {
            return actions;
        }
        match &mut self.role {
            Role::Master(Master::Serving { .. }) => {
                self.send_advertisement(self.priority, &mut actions);
                self.restart_advert_timer(now);
            }
            Role::Master(Master::HandingOver(hand_over)) => {
                // A demote hand-over in progress. Its only purpose was the demote, so it
                // ends here: the instance never let go of its addresses, and advertising
                // its priority at once keeps the peer a backup (one that took over after
                // our priority-0 advert steps down when it hears this). Going through
                // with it would move the addresses away and, Master_Down_Interval later,
                // back by preemption: two moves for nothing (found by the simulator). A
                // hand-over for a stop (`AfterHandOver::Stop`) goes on.
                if hand_over.then == AfterHandOver::Backup {
                    self.send_advertisement(self.priority, &mut actions);
                    self.role = Role::Master(Master::Serving {
                        advert_at: now + self.advert_interval(),
                        garp: GarpTimers {
                            refresh_at: self
                                .params
                                .garp
                                .refresh_period()
                                .map(|period| now + period),
                            ..GarpTimers::default()
                        },
                        answers: OutOfTurnAnswers::default(),
                    });
                }
            }
            Role::Backup(backup) => {
                // The heard master was accepted because we were demoted; judge it again
                // at our own priority from its next advert on.
                if let Some(heard) = &mut backup.heard_master
                    && self.params.preempt
                    && heard.priority < self.priority
                {
                    heard.accepted = false;
                }
            }
            Role::Initialize(_) | Role::Fault(_) => {}
        }
        actions
    }

    /// Demoted by the operator ([`Instance::demote`]) and not promoted since.
    pub fn is_demoted(&self) -> bool {
        self.demoted
    }

    /// True while a master hands over (see [`Input::HandOver`]): it has resigned with
    /// priority 0 and sends nothing but that resignation, but still holds and serves its
    /// addresses.
    pub fn handing_over(&self) -> bool {
        matches!(self.role, Role::Master(Master::HandingOver(_)))
    }

    /// The current master's address as we know it (ourselves when master).
    pub fn master_address(&self) -> Option<IpAddr> {
        match &self.role {
            Role::Master(_) => Some(self.params.local_address),
            Role::Backup(backup) => backup.heard_master.map(|heard| heard.address),
            Role::Initialize(_) | Role::Fault(_) => None,
        }
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Count a drop detected before the instance was found (e.g. bad TTL).
    pub fn count_drop(&mut self, reason: DropReason) {
        *self.stats.drops.entry(reason).or_default() += 1;
    }

    // ---- Events ------------------------------------------------------------------------

    /// The Startup event (RFC 3768 §6.4.1, RFC 5798 §6.4.1); also used to leave Fault, with
    /// the reason that ended it.
    fn start(&mut self, now: Instant, reason: Option<TransitionReason>, actions: &mut Vec<Action>) {
        self.preempt_allowed_at = Some(now + self.params.preempt_delay);
        self.master_adver_interval_cs = self.advert_interval_cs();
        if self.advertised_priority() == OWNER_PRIORITY {
            self.become_master(
                now,
                reason.unwrap_or(TransitionReason::AddressOwner),
                actions,
            );
        } else {
            self.become_backup(
                now,
                reason.unwrap_or(TransitionReason::Startup),
                None,
                actions,
            );
        }
    }

    /// A Fault cause just cleared: start again if it was the last one. Outside Fault there
    /// is nothing to leave (the cause is only forgotten).
    fn leave_fault_if_no_cause(
        &mut self,
        now: Instant,
        reason: TransitionReason,
        actions: &mut Vec<Action>,
    ) {
        if let Role::Fault(causes) = &self.role
            && !causes.any()
        {
            self.start(now, Some(reason), actions);
        }
    }

    /// The Shutdown event (RFC 3768 §6.4.2 / §6.4.3, RFC 5798 likewise): a master resigns
    /// ([`Instance::resign`]), every role but Initialize goes to Initialize.
    fn shut_down(&mut self, actions: &mut Vec<Action>) {
        match self.role {
            Role::Initialize(_) => return,
            // Already resigned when the hand-over began: just let go now.
            Role::Master(Master::HandingOver(_)) => actions.push(Action::RemoveAddresses),
            Role::Master(Master::Serving { .. }) => self.resign(actions),
            Role::Backup(_) | Role::Fault(_) => {}
        }
        // The causes that still hold go along (see [`Role::Initialize`]).
        let causes = self.role.take_fault_causes();
        self.enter(
            Role::Initialize(causes),
            TransitionReason::Shutdown,
            actions,
        );
    }

    /// Make-before-break: a deliberate deviation from RFC 3768 §6.4.3 / RFC 5798 §6.4.3,
    /// where a master leaving sends priority 0 and removes its addresses at once. Then the
    /// addresses are nowhere for Skew_Time plus the new master's start (keepalived: 0.63 s
    /// at 1 s adverts), and every packet sent meanwhile is lost. Here the master sends the
    /// same priority-0 advert, so the backups take over after Skew_Time as the RFC intends,
    /// but it keeps the addresses and keeps answering for them until the new master's first
    /// advert shows that the addresses are served again (that advert follows the new
    /// master's AddAddresses and GARP, §6.4.2), or until Master_Down_Interval passes with
    /// nobody taking over. Meanwhile it sends no advert with a priority of its own (it is
    /// leaving, and such an advert would make the new master, or a lower-priority one, step
    /// down) and no GARP (hosts must learn the new master's MAC, not ours); only the
    /// priority-0 advert again every Advertisement_Interval, so that a backup that lost
    /// the first one still takes over after Skew_Time, a new master whose first advert we
    /// lost answers at once (§6.4.3: a master hearing priority 0 advertises), and a master
    /// that hands over on the other side of a healed partition learns that we leave too.
    fn hand_over(&mut self, now: Instant, then: AfterHandOver, actions: &mut Vec<Action>) {
        match (&mut self.role, then) {
            // Already handing over: a stop request overrides a demote.
            (Role::Master(Master::HandingOver(hand_over)), _) => {
                if then == AfterHandOver::Stop {
                    hand_over.then = AfterHandOver::Stop;
                }
            }
            (Role::Master(Master::Serving { .. }), _) => {
                // Resign, but keep the addresses.
                self.send_resignation(actions);
                // Our own Master_Down_Interval at our own Advertisement_Interval: the
                // backups learned that interval from us, and every backup's Skew_Time
                // is shorter than this, so any live backup takes over well within it.
                // Capped so that long intervals cannot stretch a stop past systemd's
                // stop timeout.
                let wait = master_down_interval(
                    self.params.version,
                    self.advertised_priority(),
                    self.advert_interval_cs(),
                )
                .min(MAX_HAND_OVER_WAIT);
                // The advert and GARP timers end here; only the resignation repeats.
                self.role = Role::Master(Master::HandingOver(HandOver {
                    deadline: now + wait,
                    then,
                    resign_again_at: now + self.advert_interval(),
                }));
            }
            (_, AfterHandOver::Stop) => self.shut_down(actions),
            (_, AfterHandOver::Backup) => {}
        }
    }

    /// End a hand-over: remove the addresses, then go where it was meant to go.
    fn finish_hand_over(
        &mut self,
        now: Instant,
        reason: TransitionReason,
        heard: Option<HeardMaster>,
        actions: &mut Vec<Action>,
    ) {
        let Role::Master(Master::HandingOver(hand_over)) = self.role else {
            return;
        };
        if hand_over.then == AfterHandOver::Backup && reason == TransitionReason::HandOverTimedOut {
            // Nobody took over from a master that meant to stay up as a backup (a demote,
            // even one promoted again meanwhile): nobody else can protect the addresses, so
            // it keeps them (it never let go of them) and advertises again, at the priority
            // it now has (DEMOTED_PRIORITY while demoted, so any peer that appears takes
            // over at once). Letting go here would leave the addresses with nobody until a
            // backup's Master_Down_Timer fires (found by the simulator, tests/simulation.rs).
            self.resume_serving(now, actions);
            return;
        }
        actions.push(Action::RemoveAddresses);
        match hand_over.then {
            AfterHandOver::Stop => {
                self.enter(Role::Initialize(FaultCauses::default()), reason, actions)
            }
            AfterHandOver::Backup => self.become_backup(now, reason, heard, actions),
        }
    }

    /// End a hand-over by serving again: advertise now at the priority in force (it never
    /// let go of the addresses). The GARP schedule ended with the hand-over and is not
    /// restarted: the hosts never learned another MAC.
    fn resume_serving(&mut self, now: Instant, actions: &mut Vec<Action>) {
        self.send_advertisement(self.advertised_priority(), actions);
        self.role = Role::Master(Master::Serving {
            advert_at: now + self.advert_interval(),
            garp: GarpTimers::default(),
            answers: OutOfTurnAnswers::default(),
        });
    }

    /// The interface went down: nothing can be sent, so just let go (keepalived's FAULT).
    fn link_down(&mut self, actions: &mut Vec<Action>) {
        match &mut self.role {
            Role::Fault(causes) => {
                causes.link_down = true;
                return;
            }
            Role::Master(_) => actions.push(Action::RemoveAddresses),
            Role::Backup(_) | Role::Initialize(_) => {}
        }
        let mut causes = self.role.take_fault_causes();
        causes.link_down = true;
        self.enter(Role::Fault(causes), TransitionReason::LinkDown, actions);
    }

    /// A tracker failed or the sync group holds the instance: leave Backup/Master (or
    /// Initialize) for Fault, or add the cause when already there. Unlike a link going
    /// down, the link still works, so a master resigns first ([`Instance::resign`]): the
    /// backup takes over after Skew_Time instead of Master_Down_Interval.
    fn fault_enter(
        &mut self,
        add_cause: impl FnOnce(&mut FaultCauses),
        reason: TransitionReason,
        actions: &mut Vec<Action>,
    ) {
        match &mut self.role {
            Role::Fault(causes) => {
                add_cause(causes);
                return;
            }
            // Also while handing over: a second priority-0 advert.
            Role::Master(_) => self.resign(actions),
            Role::Backup(_) | Role::Initialize(_) => {}
        }
        let mut causes = self.role.take_fault_causes();
        add_cause(&mut causes);
        self.enter(Role::Fault(causes), reason, actions);
    }

    /// Whether a tracker holds the instance in FAULT.
    pub fn tracker_fault(&self) -> bool {
        self.fault_causes().tracker.is_some()
    }

    /// An advert that passed every §7.1 check (`core::receive::check`): the state's
    /// reaction (§6.4.2 Backup, §6.4.3 Master). Our own adverts, looped back by the
    /// multicast socket, are ignored.
    fn receive(
        &mut self,
        now: Instant,
        source: IpAddr,
        advert: &Advertisement,
        actions: &mut Vec<Action>,
    ) {
        if source == self.params.local_address {
            self.stats.own_adverts_ignored += 1;
            return;
        }
        self.stats.adverts_received += 1;
        if !same_addresses(&advert.addresses, &self.params.addresses) {
            self.stats.address_list_mismatches += 1;
        }
        match self.role {
            Role::Backup(_) => self.backup_receive(now, source, advert),
            Role::Master(_) => self.master_receive(now, source, advert, actions),
            // Not taking part: RFC §6.4 defines no reaction outside Backup and Master.
            Role::Initialize(_) | Role::Fault(_) => {}
        }
    }

    /// RFC 3768 §6.4.2, RFC 5798 §6.4.2.
    fn backup_receive(&mut self, now: Instant, source: IpAddr, advert: &Advertisement) {
        if advert.priority == RESIGN_PRIORITY {
            // The master is leaving: take over after Skew_Time, so the highest-priority backup
            // goes first. Never postpone an already earlier deadline.
            let resign_deadline = now + self.skew_time();
            if let Role::Backup(backup) = &mut self.role {
                backup.master_down_at = backup.master_down_at.min(resign_deadline);
                backup.master_resigned = true;
                backup.heard_master = None;
            }
            return;
        }
        let tolerated_by_preempt_delay = self
            .preempt_allowed_at
            .is_some_and(|allowed_at| now < allowed_at);
        // A demoted backup never preempts, whatever the master's priority.
        let accepted = advert.priority >= self.advertised_priority()
            || !self.params.preempt
            || tolerated_by_preempt_delay
            || self.demoted;
        if accepted {
            self.learn_master_adver_interval(advert);
        }
        let master_down_at = now + self.master_down_interval();
        let Role::Backup(backup) = &mut self.role else {
            return;
        };
        backup.heard_master = Some(HeardMaster {
            address: source,
            priority: advert.priority,
            accepted,
        });
        if accepted {
            backup.master_down_at = master_down_at;
            backup.master_resigned = false;
        }
        // Otherwise discard: the Master_Down_Timer keeps running and we preempt when it fires.
    }

    /// RFC 3768 §6.4.3, RFC 5798 §6.4.3.
    fn master_receive(
        &mut self,
        now: Instant,
        source: IpAddr,
        advert: &Advertisement,
        actions: &mut Vec<Action>,
    ) {
        if let Role::Master(Master::HandingOver(hand_over)) = &self.role {
            // We are leaving: any router advertising a priority above 0 now is the new
            // master (backups never advertise), and it added its addresses and sent GARP
            // before this advert (§6.4.2).
            if advert.priority == RESIGN_PRIORITY {
                // Another master resigns too (both were demoted while a partition kept
                // them apart): nobody is left to take over, so one that means to stay up
                // as a backup serves again at once, as when its hand-over times out, and
                // §6.4.3's master-against-master comparison keeps one of them. Waiting
                // for the deadline would leave two holders for up to
                // Master_Down_Interval (found by the simulator's soak, property d). A
                // master that stops lets the other one have the addresses.
                if hand_over.then == AfterHandOver::Backup {
                    self.resume_serving(now, actions);
                }
            } else {
                self.learn_master_adver_interval(advert);
                let reason = TransitionReason::HandedOver {
                    source,
                    priority: advert.priority,
                };
                let new_master = HeardMaster {
                    address: source,
                    priority: advert.priority,
                    accepted: true,
                };
                self.finish_hand_over(now, reason, Some(new_master), actions);
            }
            return;
        }
        if advert.priority == RESIGN_PRIORITY {
            // Another master is leaving (a split brain healing): assert ourselves at once,
            // at most once per Advertisement_Interval (see OutOfTurnAnswers).
            self.answer_out_of_turn(now, false, actions);
            return;
        }
        let ours = self.advertised_priority();
        let they_win = advert.priority > ours
            || (advert.priority == ours
                && address_as_integer(source) > address_as_integer(self.params.local_address));
        if they_win {
            actions.push(Action::RemoveAddresses);
            // One last advert at our own priority (RFC 3768/5798 §6.4.3 send nothing
            // here). If this is a split brain healing, hosts on our side of the partition
            // learned our MAC for the addresses, and the new master may never hear from
            // us otherwise (its advert reached us first): this one tells it there were two
            // masters, and it answers with gratuitous ARP/NA (its split-brain answer), so
            // the hosts' caches move to it at once instead of when they time out. It
            // carries a priority, not 0, so that backups do not cut their timers to
            // Skew_Time (§6.4.2) and take over for a moment.
            self.send_advertisement(self.advertised_priority(), actions);
            self.learn_master_adver_interval(advert);
            let reason = TransitionReason::HigherPriorityMaster {
                source,
                priority: advert.priority,
            };
            let new_master = HeardMaster {
                address: source,
                priority: advert.priority,
                accepted: true,
            };
            self.become_backup(now, reason, Some(new_master), actions);
        } else {
            // A lower-priority master means a split brain (e.g. adverts were filtered).
            // Answer at once so it steps down, and re-announce our MAC for the VIPs, since
            // hosts may have learned the other router's (as keepalived does); at most
            // once per Advertisement_Interval (see OutOfTurnAnswers).
            self.answer_out_of_turn(now, true, actions);
        }
    }

    /// Advertise now (and announce the addresses when `split_brain`), unless an answer went
    /// out less than one Advertisement_Interval ago: then the next regular advert, due
    /// within that interval, answers instead (see [`OutOfTurnAnswers`]).
    fn answer_out_of_turn(&mut self, now: Instant, split_brain: bool, actions: &mut Vec<Action>) {
        let interval = self.advert_interval();
        let Role::Master(Master::Serving { answers, .. }) = &mut self.role else {
            return;
        };
        let allowed = answers
            .last_at
            .is_none_or(|last| now.saturating_duration_since(last) >= interval);
        if !allowed {
            answers.garp_owed |= split_brain;
            return;
        }
        answers.last_at = Some(now);
        // This answer announces the addresses itself.
        answers.garp_owed &= !split_brain;
        self.send_advertisement(self.advertised_priority(), actions);
        self.restart_advert_timer(now);
        if split_brain {
            actions.push(Action::SendGratuitousArp);
        }
    }

    // ---- Transitions -------------------------------------------------------------------

    /// Become master: addresses, GARP, advert, then the Transition (RFC 3768 §6.4.1 / §6.4.2).
    fn become_master(&mut self, now: Instant, reason: TransitionReason, actions: &mut Vec<Action>) {
        actions.push(Action::AddAddresses);
        let planned_takeover = matches!(
            reason,
            TransitionReason::MasterResigned | TransitionReason::Preempt { .. }
        );
        let garp =
            GarpTimers::on_becoming_master(&self.params.garp, now, planned_takeover, actions);
        self.send_advertisement(self.advertised_priority(), actions);
        let advert_at = now + self.advert_interval();
        self.enter(
            Role::Master(Master::Serving {
                advert_at,
                garp,
                answers: OutOfTurnAnswers::default(),
            }),
            reason,
            actions,
        );
    }

    /// Become backup, with the Master_Down_Timer at Master_Down_Interval (RFC 3768 §6.4.1 /
    /// §6.4.3); `heard_master` is the master we step down for, if any.
    fn become_backup(
        &mut self,
        now: Instant,
        reason: TransitionReason,
        heard_master: Option<HeardMaster>,
        actions: &mut Vec<Action>,
    ) {
        let backup = Backup {
            master_down_at: now + self.master_down_interval(),
            master_resigned: false,
            heard_master,
        };
        self.enter(Role::Backup(backup), reason, actions);
    }

    /// Change role, and so drop every timer of the old one; emit the one Transition.
    fn enter(&mut self, role: Role, reason: TransitionReason, actions: &mut Vec<Action>) {
        let from = self.role.state();
        let to = role.state();
        self.role = role;
        self.stats.transitions += 1;
        actions.push(Action::Transition { from, to, reason });
    }

    // ---- Timers ------------------------------------------------------------------------

    /// The earliest timer of the current role: the other roles' timers do not exist.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn earliest_timer(&self) -> Option<(Instant, Timer)> {
        match &self.role {
            Role::Initialize(_) | Role::Fault(_) => None,
            Role::Backup(backup) => Some((backup.master_down_at, Timer::MasterDown)),
            Role::Master(Master::HandingOver(hand_over)) => {
                // On a tie the deadline goes first: no resignation just before letting go.
                Some(if hand_over.resign_again_at < hand_over.deadline {
                    (hand_over.resign_again_at, Timer::Resignation)
                } else {
                    (hand_over.deadline, Timer::HandOverDeadline)
                })
            }
            Role::Master(Master::Serving {
                advert_at, garp, ..
            }) => {
                // On a tie the advert goes first.
                let advert = (*advert_at, Timer::Advertisement);
                Some(match garp.earliest() {
                    Some((at, timer)) if at < advert.0 => (at, Timer::Garp(timer)),
                    _ => advert,
                })
            }
        }
    }

    fn fire(&mut self, timer: Timer, at: Instant, now: Instant, actions: &mut Vec<Action>) {
        match timer {
            Timer::MasterDown => {
                let Role::Backup(backup) = &self.role else {
                    return;
                };
                let reason = backup.takeover_reason();
                self.become_master(now, reason, actions);
            }
            Timer::Advertisement => {
                let next = next_period(at, self.advert_interval(), now);
                self.send_advertisement(self.advertised_priority(), actions);
                if let Role::Master(Master::Serving {
                    advert_at, answers, ..
                }) = &mut self.role
                {
                    *advert_at = next;
                    if std::mem::take(&mut answers.garp_owed) {
                        // This advert is the answer: the next may come an interval on.
                        answers.last_at = Some(now);
                        actions.push(Action::SendGratuitousArp);
                    }
                }
            }
            Timer::Garp(timer) => {
                if let Role::Master(Master::Serving { garp, .. }) = &mut self.role {
                    garp.fire(timer, &self.params.garp, at, now, actions);
                }
            }
            Timer::Resignation => {
                let next = next_period(at, self.advert_interval(), now);
                self.send_resignation(actions);
                if let Role::Master(Master::HandingOver(hand_over)) = &mut self.role {
                    hand_over.resign_again_at = next;
                }
            }
            Timer::HandOverDeadline => {
                self.finish_hand_over(now, TransitionReason::HandOverTimedOut, None, actions)
            }
        }
    }

    // ---- Helpers -----------------------------------------------------------------------

    /// A master stops being master while its link still works (RFC 3768 §6.4.3, RFC 5798
    /// §6.4.3, the Shutdown event): "Send an ADVERTISEMENT with Priority = 0", so the
    /// backups take over after their Skew_Time instead of Master_Down_Interval (§6.4.2),
    /// then remove the addresses, which only the master may answer for (§6.4.2: a backup
    /// must neither answer ARP / Neighbor Solicitations for them nor accept packets
    /// addressed to them). Shutdown, a tracker fault and the sync group's ForceBackup and
    /// Hold all resign this way; the caller then leaves Master. A link that went down
    /// cannot carry the advert, so [`Input::LinkDown`] only removes the addresses.
    fn resign(&mut self, actions: &mut Vec<Action>) {
        self.send_resignation(actions);
        actions.push(Action::RemoveAddresses);
    }

    /// The priority-0 advert of [`Instance::resign`] alone: a make-before-break hand-over
    /// ([`Input::HandOver`]) sends it but keeps the addresses until a new master is heard.
    fn send_resignation(&mut self, actions: &mut Vec<Action>) {
        self.send_advertisement(RESIGN_PRIORITY, actions);
    }

    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn send_advertisement(&mut self, priority: u8, actions: &mut Vec<Action>) {
        let authentication = match self.params.version {
            Version::V2 => self.params.authentication.clone(),
            Version::V3 => Authentication::None,
        };
        self.stats.adverts_sent += 1;
        let mut addresses = std::mem::take(&mut self.spare_addresses);
        addresses.clear();
        addresses.extend_from_slice(&self.params.addresses);
        actions.push(Action::SendAdvertisement(Advertisement {
            version: self.params.version,
            virtual_router_id: self.params.virtual_router_id,
            priority,
            interval_cs: self.params.advert_interval_cs,
            addresses,
            authentication,
        }));
    }

    /// Give back the address list of an advert of [`Action::SendAdvertisement`] once it
    /// has been encoded, for the next advert to reuse.
    pub fn recycle_addresses(&mut self, addresses: Vec<IpAddr>) {
        self.spare_addresses = addresses;
    }

    /// A serving master just advertised out of turn: the next advert is one
    /// Advertisement_Interval from now (RFC 3768 §6.4.3 "Reset the Adver_Timer").
    fn restart_advert_timer(&mut self, now: Instant) {
        let next = now + self.advert_interval();
        if let Role::Master(Master::Serving { advert_at, .. }) = &mut self.role {
            *advert_at = next;
        }
    }

    /// RFC 5798 §6.4.2 / §6.4.3: Master_Adver_Interval := the advert's interval (v3 only).
    fn learn_master_adver_interval(&mut self, advert: &Advertisement) {
        if self.params.version == Version::V3 {
            // An interval of 0 would make Master_Down_Interval zero; treat it as the minimum.
            self.master_adver_interval_cs = advert.interval_cs.max(1);
        }
    }

    /// Our Advertisement_Interval, at least 1 cs so the advert timer always moves forward.
    fn advert_interval_cs(&self) -> u16 {
        self.params.advert_interval_cs.max(1)
    }

    fn advert_interval(&self) -> Duration {
        CENTISECOND * u32::from(self.advert_interval_cs())
    }
}

/// The next deadline of a periodic timer that was due at `at`: one period later, or one
/// period from `now` when the caller was so late that it would already be past.
fn next_period(at: Instant, period: Duration, now: Instant) -> Instant {
    let next = at + period;
    if next > now { next } else { now + period }
}

/// RFC 3768 §6.4.3 / RFC 5798 §6.4.3 compare primary addresses as unsigned integers.
fn address_as_integer(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The same set of addresses, in any order.
fn same_addresses(theirs: &[IpAddr], ours: &[IpAddr]) -> bool {
    // Every advert of a master configured like us takes this path: no allocation.
    if theirs == ours {
        return true;
    }
    let theirs: std::collections::BTreeSet<_> = theirs.iter().collect();
    let ours: std::collections::BTreeSet<_> = ours.iter().collect();
    theirs == ours
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 42);
    const PEER_LOWER_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 41);
    const PEER_HIGHER_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 43);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 40);

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn no_garp_repeats() -> GarpParams {
        GarpParams {
            burst_count: 1,
            burst_spacing: Duration::ZERO,
            second_burst_delay: None,
            master_refresh: None,
        }
    }

    /// The user's pair: VRRPv2, VRID 50, 1 s, PASS "password", preempt on.
    fn v2_params(priority: u8) -> InstanceParams {
        InstanceParams {
            version: Version::V2,
            virtual_router_id: 50,
            priority,
            advert_interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            authentication: Authentication::simple_password(b"password"),
            addresses: vec![IpAddr::V4(VIP)],
            local_address: IpAddr::V4(LOCAL),
            checksum_mode: ChecksumMode::default(),
            garp: no_garp_repeats(),
        }
    }

    fn v3_params(priority: u8, advert_interval_cs: u16) -> InstanceParams {
        InstanceParams {
            version: Version::V3,
            advert_interval_cs,
            authentication: Authentication::None,
            ..v2_params(priority)
        }
    }

    /// An advert as a peer configured like `params` would send it.
    fn advert_like(params: &InstanceParams, priority: u8) -> Advertisement {
        Advertisement {
            version: params.version,
            virtual_router_id: params.virtual_router_id,
            priority,
            interval_cs: params.advert_interval_cs,
            addresses: params.addresses.clone(),
            authentication: params.authentication.clone(),
        }
    }

    fn receive(
        instance: &mut Instance,
        now: Instant,
        source: Ipv4Addr,
        advert: &Advertisement,
    ) -> Vec<Action> {
        instance.handle(
            now,
            Input::Advertisement {
                source: IpAddr::V4(source),
                advert,
            },
        )
    }

    fn transitions(actions: &[Action]) -> Vec<(State, State, TransitionReason)> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Transition { from, to, reason } => Some((*from, *to, reason.clone())),
                _ => None,
            })
            .collect()
    }

    fn sent_priorities(actions: &[Action]) -> Vec<u8> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::SendAdvertisement(advert) => Some(advert.priority),
                _ => None,
            })
            .collect()
    }

    fn garp_count(actions: &[Action]) -> usize {
        actions
            .iter()
            .filter(|action| **action == Action::SendGratuitousArp)
            .count()
    }

    /// A backup started at `start`, for the given params.
    fn started_backup(params: InstanceParams, start: Instant) -> Instance {
        let mut instance = Instance::new(params);
        let actions = instance.handle(start, Input::Startup);
        assert_eq!(instance.state(), State::Backup, "{actions:?}");
        instance
    }

    /// A master: started as backup and taken over when the Master_Down_Timer fired.
    /// Returns the instance and the time it became master.
    fn started_master(params: InstanceParams, start: Instant) -> (Instance, Instant) {
        let mut instance = started_backup(params, start);
        let became_master_at = instance.next_deadline().unwrap();
        instance.on_timeout(became_master_at);
        assert_eq!(instance.state(), State::Master);
        (instance, became_master_at)
    }

    // ---- Timer formulas ----------------------------------------------------------------

    #[test]
    fn v2_timers_for_the_users_pair() {
        // Backup priority 100, 1 s: Skew_Time = 156/256 s = 0.609375 s; MDI = 3.609375 s.
        assert_eq!(
            skew_time(Version::V2, 100, 100),
            Duration::from_nanos(609_375_000)
        );
        assert_eq!(
            master_down_interval(Version::V2, 100, 100),
            Duration::from_nanos(3_609_375_000)
        );
        // Priority 150: 106/256 s = 0.4140625 s.
        assert_eq!(
            skew_time(Version::V2, 150, 100),
            Duration::from_nanos(414_062_500)
        );
        // The owner: 1/256 s.
        assert_eq!(
            skew_time(Version::V2, 255, 100),
            Duration::from_nanos(3_906_250)
        );
        let instance = Instance::new(v2_params(100));
        assert_eq!(instance.skew_time(), Duration::from_nanos(609_375_000));
        assert_eq!(
            instance.master_down_interval(),
            Duration::from_nanos(3_609_375_000)
        );
    }

    #[test]
    fn v3_timers_at_10_ms_and_100_ms() {
        // 1 cs, priority 100: Skew = 156 × 1 / 256 cs = 6.09375 ms; MDI = 30 ms + skew.
        assert_eq!(
            skew_time(Version::V3, 100, 1),
            Duration::from_nanos(6_093_750)
        );
        assert_eq!(
            master_down_interval(Version::V3, 100, 1),
            Duration::from_nanos(36_093_750)
        );
        // 10 cs: Skew = 1560/256 cs = 60.9375 ms; MDI = 300 ms + skew.
        assert_eq!(
            skew_time(Version::V3, 100, 10),
            Duration::from_nanos(60_937_500)
        );
        assert_eq!(
            master_down_interval(Version::V3, 100, 10),
            Duration::from_nanos(360_937_500)
        );
        let instance = Instance::new(v3_params(100, 10));
        assert_eq!(
            instance.master_down_interval(),
            Duration::from_nanos(360_937_500)
        );
    }

    // ---- Startup -----------------------------------------------------------------------

    #[test]
    fn owner_starts_as_master_in_order() {
        let now = Instant::now();
        let mut instance = Instance::new(v2_params(255));
        let actions = instance.handle(now, Input::Startup);
        assert_eq!(
            actions,
            vec![
                Action::AddAddresses,
                Action::SendGratuitousArp,
                Action::SendAdvertisement(advert_like(&v2_params(255), 255)),
                Action::Transition {
                    from: State::Initialize,
                    to: State::Master,
                    reason: TransitionReason::AddressOwner
                },
            ]
        );
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.next_deadline(), Some(now + ms(1000)));
        assert_eq!(instance.master_address(), Some(IpAddr::V4(LOCAL)));
        assert_eq!(instance.stats().adverts_sent, 1);
        assert_eq!(instance.stats().transitions, 1);
        // A second Startup is not a new event.
        assert_eq!(instance.handle(now, Input::Startup), vec![]);
    }

    #[test]
    fn non_owner_starts_as_backup_and_takes_over_at_master_down_interval() {
        let start = Instant::now();
        let mut instance = Instance::new(v2_params(100));
        let actions = instance.handle(start, Input::Startup);
        assert_eq!(
            actions,
            vec![Action::Transition {
                from: State::Initialize,
                to: State::Backup,
                reason: TransitionReason::Startup
            }]
        );
        let deadline = start + Duration::from_nanos(3_609_375_000);
        assert_eq!(instance.next_deadline(), Some(deadline));
        assert_eq!(instance.master_address(), None);
        // Early: nothing.
        assert_eq!(
            instance.on_timeout(deadline - Duration::from_nanos(1)),
            vec![]
        );
        assert_eq!(instance.state(), State::Backup);
        let actions = instance.on_timeout(deadline);
        assert_eq!(
            actions,
            vec![
                Action::AddAddresses,
                Action::SendGratuitousArp,
                Action::SendAdvertisement(advert_like(&v2_params(100), 100)),
                Action::Transition {
                    from: State::Backup,
                    to: State::Master,
                    reason: TransitionReason::MasterDown
                },
            ]
        );
        assert_eq!(instance.next_deadline(), Some(deadline + ms(1000)));
    }

    #[test]
    fn idle_states_have_no_deadline() {
        let now = Instant::now();
        let instance = Instance::new(v2_params(100));
        assert_eq!(instance.state(), State::Initialize);
        assert_eq!(instance.next_deadline(), None);
        let mut instance = Instance::new(v2_params(100));
        assert!(instance.on_timeout(now + ms(100_000)).is_empty());
    }

    // ---- Backup ------------------------------------------------------------------------

    #[test]
    fn backup_takes_over_skew_time_after_priority_zero() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        let peer = v2_params(150);
        receive(
            &mut instance,
            start + ms(500),
            PEER_HIGHER_ADDRESS,
            &advert_like(&peer, 150),
        );
        assert_eq!(
            instance.master_address(),
            Some(IpAddr::V4(PEER_HIGHER_ADDRESS))
        );
        let resigned_at = start + ms(1200);
        assert!(
            receive(
                &mut instance,
                resigned_at,
                PEER_HIGHER_ADDRESS,
                &advert_like(&peer, 0)
            )
            .is_empty()
        );
        let takeover = resigned_at + Duration::from_nanos(609_375_000);
        assert_eq!(instance.next_deadline(), Some(takeover));
        assert!(
            instance
                .on_timeout(takeover - Duration::from_nanos(1))
                .is_empty()
        );
        let actions = instance.on_timeout(takeover);
        assert_eq!(
            transitions(&actions),
            vec![(
                State::Backup,
                State::Master,
                TransitionReason::MasterResigned
            )]
        );
    }

    #[test]
    fn backup_resets_timer_on_higher_or_equal_priority() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        let mdi = Duration::from_nanos(3_609_375_000);
        for (offset, priority) in [(1000, 150), (2000, 100), (3000, 254)] {
            let at = start + ms(offset);
            assert!(
                receive(
                    &mut instance,
                    at,
                    PEER_LOWER_ADDRESS,
                    &advert_like(&v2_params(priority), priority)
                )
                .is_empty()
            );
            assert_eq!(
                instance.next_deadline(),
                Some(at + mdi),
                "priority {priority}"
            );
            assert_eq!(
                instance.master_address(),
                Some(IpAddr::V4(PEER_LOWER_ADDRESS))
            );
        }
        assert_eq!(instance.stats().adverts_received, 3);
        assert_eq!(instance.state(), State::Backup);
    }

    #[test]
    fn backup_preempts_a_lower_priority_master() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(150), start);
        let deadline = instance.next_deadline().unwrap();
        // The lower-priority master keeps advertising; its adverts are discarded.
        for second in 1..=3 {
            let at = start + ms(1000 * second);
            receive(
                &mut instance,
                at,
                PEER_LOWER_ADDRESS,
                &advert_like(&v2_params(100), 100),
            );
            assert_eq!(instance.next_deadline(), Some(deadline));
        }
        let actions = instance.on_timeout(deadline);
        assert_eq!(
            transitions(&actions),
            vec![(
                State::Backup,
                State::Master,
                TransitionReason::Preempt {
                    source: IpAddr::V4(PEER_LOWER_ADDRESS),
                    priority: 100
                }
            )]
        );
    }

    #[test]
    fn backup_without_preempt_accepts_a_lower_priority_master() {
        let start = Instant::now();
        let params = InstanceParams {
            preempt: false,
            ..v2_params(150)
        };
        let mut instance = started_backup(params, start);
        let at = start + ms(3000);
        receive(
            &mut instance,
            at,
            PEER_LOWER_ADDRESS,
            &advert_like(&v2_params(100), 100),
        );
        assert_eq!(
            instance.next_deadline(),
            Some(at + master_down_interval(Version::V2, 150, 100))
        );
        assert_eq!(
            instance.master_address(),
            Some(IpAddr::V4(PEER_LOWER_ADDRESS))
        );
    }

    #[test]
    fn preempt_delay_tolerates_a_lower_priority_master_until_it_passes() {
        let start = Instant::now();
        let params = InstanceParams {
            preempt_delay: Duration::from_secs(10),
            ..v2_params(150)
        };
        let mdi = master_down_interval(Version::V2, 150, 100);
        let mut instance = started_backup(params, start);
        let lower = advert_like(&v2_params(100), 100);
        // Adverts every second: accepted (timer reset) until start + 10 s.
        let mut last_accepted = start;
        for second in 1..=12 {
            let at = start + ms(1000 * second);
            receive(&mut instance, at, PEER_LOWER_ADDRESS, &lower);
            if second < 10 {
                last_accepted = at;
            }
            assert_eq!(
                instance.next_deadline(),
                Some(last_accepted + mdi),
                "second {second}"
            );
            assert_eq!(instance.state(), State::Backup);
        }
        let actions = instance.on_timeout(last_accepted + mdi);
        assert_eq!(
            transitions(&actions),
            vec![(
                State::Backup,
                State::Master,
                TransitionReason::Preempt {
                    source: IpAddr::V4(PEER_LOWER_ADDRESS),
                    priority: 100
                }
            )]
        );
    }

    #[test]
    fn preempt_delay_does_not_protect_a_dead_master() {
        let start = Instant::now();
        let params = InstanceParams {
            preempt_delay: Duration::from_secs(60),
            ..v2_params(150)
        };
        let mut instance = started_backup(params, start);
        let last = start + ms(1000);
        receive(
            &mut instance,
            last,
            PEER_LOWER_ADDRESS,
            &advert_like(&v2_params(100), 100),
        );
        let deadline = last + master_down_interval(Version::V2, 150, 100);
        assert_eq!(instance.next_deadline(), Some(deadline));
        let actions = instance.on_timeout(deadline);
        assert_eq!(
            transitions(&actions),
            vec![(State::Backup, State::Master, TransitionReason::MasterDown)]
        );
    }

    #[test]
    fn v3_backup_learns_master_adver_interval() {
        let start = Instant::now();
        let mut instance = started_backup(v3_params(100, 100), start);
        // Before hearing anyone: our own 1 s interval.
        assert_eq!(
            instance.next_deadline(),
            Some(start + master_down_interval(Version::V3, 100, 100))
        );
        // The master advertises every 10 cs; no drop (RFC 9568 removed the interval check).
        let at = start + ms(200);
        let advert = advert_like(&v3_params(150, 10), 150);
        assert!(receive(&mut instance, at, PEER_HIGHER_ADDRESS, &advert).is_empty());
        assert_eq!(instance.master_adver_interval_cs(), 10);
        assert_eq!(
            instance.master_down_interval(),
            Duration::from_nanos(360_937_500)
        );
        assert_eq!(
            instance.next_deadline(),
            Some(at + Duration::from_nanos(360_937_500))
        );
        // Skew_Time follows the learned interval too.
        let resign_at = at + ms(100);
        receive(
            &mut instance,
            resign_at,
            PEER_HIGHER_ADDRESS,
            &advert_like(&v3_params(150, 10), 0),
        );
        assert_eq!(
            instance.next_deadline(),
            Some(resign_at + Duration::from_nanos(60_937_500))
        );
    }

    #[test]
    fn v3_at_10_ms_backup_takes_over_at_36_09375_ms() {
        let start = Instant::now();
        let mut instance = started_backup(v3_params(100, 1), start);
        let at = start + ms(5);
        receive(
            &mut instance,
            at,
            PEER_HIGHER_ADDRESS,
            &advert_like(&v3_params(150, 1), 150),
        );
        let deadline = at + Duration::from_nanos(36_093_750);
        assert_eq!(instance.next_deadline(), Some(deadline));
        let actions = instance.on_timeout(deadline);
        assert_eq!(
            transitions(&actions),
            vec![(State::Backup, State::Master, TransitionReason::MasterDown)]
        );
        // v3 adverts carry the interval in centiseconds and no authentication.
        let Some(Action::SendAdvertisement(sent)) = actions
            .iter()
            .find(|action| matches!(action, Action::SendAdvertisement(_)))
        else {
            panic!("no advert in {actions:?}");
        };
        assert_eq!(
            (sent.version, sent.interval_cs, &sent.authentication),
            (Version::V3, 1, &Authentication::None)
        );
        assert_eq!(instance.next_deadline(), Some(deadline + ms(10)));
    }

    // ---- Master ------------------------------------------------------------------------

    #[test]
    fn master_advertises_every_interval_and_catches_up_once_when_late() {
        let (mut instance, became) = started_master(v2_params(100), Instant::now());
        assert!(instance.on_timeout(became + ms(999)).is_empty());
        assert_eq!(
            sent_priorities(&instance.on_timeout(became + ms(1000))),
            vec![100]
        );
        assert_eq!(instance.next_deadline(), Some(became + ms(2000)));
        // 5.5 s late: one advert, then the next a full interval later.
        let late = became + ms(7500);
        assert_eq!(sent_priorities(&instance.on_timeout(late)), vec![100]);
        assert_eq!(instance.next_deadline(), Some(late + ms(1000)));
        // Slightly late: the period keeps its phase.
        let next = late + ms(1000);
        instance.on_timeout(next + ms(30));
        assert_eq!(instance.next_deadline(), Some(next + ms(1000)));
        assert_eq!(instance.stats().adverts_sent, 4);
    }

    #[test]
    fn master_answers_priority_zero_at_once() {
        let (mut instance, became) = started_master(v2_params(100), Instant::now());
        let at = became + ms(300);
        let actions = receive(
            &mut instance,
            at,
            PEER_HIGHER_ADDRESS,
            &advert_like(&v2_params(150), 0),
        );
        assert_eq!(
            actions,
            vec![Action::SendAdvertisement(advert_like(&v2_params(100), 100))]
        );
        assert_eq!(instance.next_deadline(), Some(at + ms(1000)));
        assert_eq!(instance.state(), State::Master);
    }

    #[test]
    fn master_yields_to_higher_priority() {
        let (mut instance, became) = started_master(v3_params(100, 100), Instant::now());
        let at = became + ms(300);
        let advert = advert_like(&v3_params(200, 50), 200);
        let actions = receive(&mut instance, at, PEER_LOWER_ADDRESS, &advert);
        assert_eq!(
            actions,
            vec![
                Action::RemoveAddresses,
                // The last advert, at our priority: the new master learns of the split
                // brain and re-announces the addresses.
                Action::SendAdvertisement(advert_like(&v3_params(100, 100), 100)),
                Action::Transition {
                    from: State::Master,
                    to: State::Backup,
                    reason: TransitionReason::HigherPriorityMaster {
                        source: IpAddr::V4(PEER_LOWER_ADDRESS),
                        priority: 200
                    },
                },
            ]
        );
        // v3: Master_Adver_Interval learned from the new master (50 cs).
        assert_eq!(
            instance.next_deadline(),
            Some(at + master_down_interval(Version::V3, 100, 50))
        );
        assert_eq!(
            instance.master_address(),
            Some(IpAddr::V4(PEER_LOWER_ADDRESS))
        );
    }

    #[test]
    fn master_breaks_equal_priority_ties_by_address() {
        // Equal priority, higher address: yield (RFC 3768 §6.4.3).
        let (mut instance, became) = started_master(v2_params(100), Instant::now());
        let actions = receive(
            &mut instance,
            became + ms(10),
            PEER_HIGHER_ADDRESS,
            &advert_like(&v2_params(100), 100),
        );
        assert_eq!(
            transitions(&actions),
            vec![(
                State::Master,
                State::Backup,
                TransitionReason::HigherPriorityMaster {
                    source: IpAddr::V4(PEER_HIGHER_ADDRESS),
                    priority: 100
                }
            )]
        );
        // Equal priority, lower address: we stay, and assert ourselves.
        let (mut instance, became) = started_master(v2_params(100), Instant::now());
        let actions = receive(
            &mut instance,
            became + ms(10),
            PEER_LOWER_ADDRESS,
            &advert_like(&v2_params(100), 100),
        );
        assert_eq!(instance.state(), State::Master);
        assert_eq!(sent_priorities(&actions), vec![100]);
        assert_eq!(garp_count(&actions), 1);
    }

    #[test]
    fn address_comparison_is_numeric() {
        // 192.0.2.9 < 192.0.2.10 as integers although "9" > "10" as text.
        assert!(
            address_as_integer("192.0.2.10".parse().unwrap())
                > address_as_integer("192.0.2.9".parse().unwrap())
        );
        assert!(
            address_as_integer("fe80::10".parse().unwrap())
                > address_as_integer("fe80::9".parse().unwrap())
        );
    }

    #[test]
    fn master_heals_split_brain_with_lower_priority_peer() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let at = became + ms(400);
        let actions = receive(
            &mut instance,
            at,
            PEER_HIGHER_ADDRESS,
            &advert_like(&v2_params(100), 100),
        );
        assert_eq!(
            actions,
            vec![
                Action::SendAdvertisement(advert_like(&v2_params(150), 150)),
                Action::SendGratuitousArp
            ]
        );
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.next_deadline(), Some(at + ms(1000)));
    }

    /// A flood of forged lower-priority adverts (5,000/s for 5 s, as issue 11 measured) is
    /// not amplified: the master answers the first at once and then at most once per
    /// Advertisement_Interval, and its regular adverts keep their cadence.
    #[test]
    fn split_brain_answers_are_limited_to_one_per_advert_interval() {
        let start = Instant::now();
        let (mut instance, became) = started_master(v2_params(150), start);
        let forged = advert_like(&v2_params(100), 1);
        let mut adverts = 0;
        let mut announcements = 0;
        let mut now = became;
        let end = became + ms(5000);
        while now < end {
            now += Duration::from_micros(200);
            let mut actions = instance.on_timeout(now);
            actions.extend(receive(&mut instance, now, PEER_HIGHER_ADDRESS, &forged));
            for action in actions {
                match action {
                    Action::SendAdvertisement(advert) => {
                        assert_eq!(advert.priority, 150);
                        adverts += 1;
                    }
                    Action::SendGratuitousArp => announcements += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(instance.state(), State::Master);
        // 5 s at 1 s: the first forged advert is answered at once; after it the regular
        // adverts answer (with their announcement), and nothing is sent besides them.
        assert!(
            (5..=6).contains(&adverts),
            "{adverts} adverts for 25,000 forged ones"
        );
        assert!(
            (5..=6).contains(&announcements),
            "{announcements} announcements for 25,000 forged adverts"
        );
    }

    #[test]
    fn a_split_brain_heard_right_after_an_answer_is_announced_by_the_next_advert() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let lower = advert_like(&v2_params(100), 100);
        let answered = became + ms(400);
        let first = receive(&mut instance, answered, PEER_HIGHER_ADDRESS, &lower);
        assert_eq!(
            first,
            vec![
                Action::SendAdvertisement(advert_like(&v2_params(150), 150)),
                Action::SendGratuitousArp
            ]
        );
        // Another one 300 ms later: inside the interval, so no answer now...
        let again = receive(
            &mut instance,
            answered + ms(300),
            PEER_HIGHER_ADDRESS,
            &lower,
        );
        assert_eq!(again, vec![]);
        assert_eq!(instance.next_deadline(), Some(answered + ms(1000)));
        // ...but the regular advert one interval after the answer announces the addresses.
        let regular = instance.on_timeout(answered + ms(1000));
        assert_eq!(
            regular,
            vec![
                Action::SendAdvertisement(advert_like(&v2_params(150), 150)),
                Action::SendGratuitousArp
            ]
        );
        // And only once: the advert after it is a plain one.
        let next = instance.on_timeout(answered + ms(2000));
        assert_eq!(
            next,
            vec![Action::SendAdvertisement(advert_like(&v2_params(150), 150))]
        );
        // A split brain an interval after the last answer is answered at once again.
        let later = receive(
            &mut instance,
            answered + ms(2100),
            PEER_HIGHER_ADDRESS,
            &lower,
        );
        assert_eq!(
            later,
            vec![
                Action::SendAdvertisement(advert_like(&v2_params(150), 150)),
                Action::SendGratuitousArp
            ]
        );
    }

    #[test]
    fn resignations_of_another_master_are_answered_at_most_once_per_interval() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let resigning = advert_like(&v2_params(100), 0);
        let at = became + ms(100);
        assert_eq!(
            receive(&mut instance, at, PEER_HIGHER_ADDRESS, &resigning),
            vec![Action::SendAdvertisement(advert_like(&v2_params(150), 150))]
        );
        for step in 1..10 {
            let actions = receive(
                &mut instance,
                at + ms(step * 50),
                PEER_HIGHER_ADDRESS,
                &resigning,
            );
            assert_eq!(actions, vec![], "answer {step} within the interval");
        }
        // No GARP is owed for a resignation: the next regular advert is a plain one.
        assert_eq!(
            instance.on_timeout(at + ms(1000)),
            vec![Action::SendAdvertisement(advert_like(&v2_params(150), 150))]
        );
    }

    // ---- Shutdown, link ----------------------------------------------------------------

    #[test]
    fn master_shutdown_resigns_with_priority_zero() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let actions = instance.handle(became + ms(10), Input::Shutdown);
        assert_eq!(
            actions,
            vec![
                Action::SendAdvertisement(advert_like(&v2_params(150), 0)),
                Action::RemoveAddresses,
                Action::Transition {
                    from: State::Master,
                    to: State::Initialize,
                    reason: TransitionReason::Shutdown
                },
            ]
        );
        assert_eq!(instance.next_deadline(), None);
        assert_eq!(instance.master_address(), None);
        assert!(instance.on_timeout(became + ms(100_000)).is_empty());
        // Shutting down twice does nothing more.
        assert!(instance.handle(became + ms(20), Input::Shutdown).is_empty());
    }

    #[test]
    fn backup_shutdown_just_stops() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        assert_eq!(
            instance.handle(start, Input::Shutdown),
            vec![Action::Transition {
                from: State::Backup,
                to: State::Initialize,
                reason: TransitionReason::Shutdown
            }]
        );
        assert_eq!(instance.next_deadline(), None);
    }

    // ---- Make-before-break hand-over ---------------------------------------------------

    const STOP: Input<'static> = Input::HandOver {
        then: AfterHandOver::Stop,
    };

    /// Run a hand-over's timers up to its deadline, which is returned: every firing before
    /// it must be the priority-0 advert again, one Advertisement_Interval apart.
    fn resignations_until_deadline(instance: &mut Instance) -> (Instant, usize) {
        let Role::Master(Master::HandingOver(HandOver { deadline, .. })) = instance.role else {
            panic!("not handing over: {:?}", instance.role);
        };
        let mut resignations = 0;
        while let Some(at) = instance.next_deadline().filter(|&at| at < deadline) {
            assert_eq!(
                sent_priorities(&instance.on_timeout(at)),
                vec![0],
                "at {at:?}"
            );
            resignations += 1;
            assert!(resignations < 100);
        }
        (deadline, resignations)
    }

    #[test]
    fn hand_over_resigns_but_keeps_the_addresses_until_the_new_master_is_heard() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let stop_at = became + ms(10);
        assert_eq!(
            instance.handle(stop_at, STOP),
            vec![Action::SendAdvertisement(advert_like(&v2_params(150), 0))]
        );
        assert_eq!(instance.state(), State::Master);
        assert!(instance.handing_over());
        assert_eq!(instance.master_address(), Some(IpAddr::V4(LOCAL)));
        // Nothing but the resignation again is sent while waiting: no advert of its own
        // priority, no GARP.
        assert!(instance.on_timeout(stop_at + ms(999)).is_empty());
        assert_eq!(
            instance.on_timeout(stop_at + ms(1000)),
            vec![Action::SendAdvertisement(advert_like(&v2_params(150), 0))]
        );
        assert!(instance.on_timeout(stop_at + ms(1500)).is_empty());
        // Another resignation is not answered (we are leaving).
        assert!(
            receive(
                &mut instance,
                stop_at + ms(1600),
                PEER_LOWER_ADDRESS,
                &advert_like(&v2_params(100), 0)
            )
            .is_empty()
        );
        // A lower-priority router's advert means it took over: now let go.
        let heard_at = stop_at + ms(1700);
        assert_eq!(
            receive(
                &mut instance,
                heard_at,
                PEER_LOWER_ADDRESS,
                &advert_like(&v2_params(100), 100)
            ),
            vec![
                Action::RemoveAddresses,
                Action::Transition {
                    from: State::Master,
                    to: State::Initialize,
                    reason: TransitionReason::HandedOver {
                        source: IpAddr::V4(PEER_LOWER_ADDRESS),
                        priority: 100
                    }
                },
            ]
        );
        assert!(!instance.handing_over());
        assert_eq!(instance.next_deadline(), None);
        assert_eq!(instance.master_address(), None);
        assert_eq!(instance.stats().adverts_sent, 3);
    }

    #[test]
    fn hand_over_times_out_at_master_down_interval() {
        for (params, wait) in [
            // v2, 1 s, priority 150: 3 s + (256 − 150)/256 s.
            (v2_params(150), Duration::from_nanos(3_414_062_500)),
            // v3, 10 ms, priority 150: 30 ms + 106 × 10 ms / 256.
            (v3_params(150, 1), Duration::from_nanos(34_140_625)),
        ] {
            let (mut instance, became) = started_master(params.clone(), Instant::now());
            let stop_at = became + ms(5);
            assert_eq!(sent_priorities(&instance.handle(stop_at, STOP)), vec![0]);
            let (deadline, resignations) = resignations_until_deadline(&mut instance);
            assert_eq!(deadline, stop_at + wait);
            // Three Advertisement_Intervals fit in Master_Down_Interval.
            assert_eq!(resignations, 3, "{:?}", params.version);
            assert!(
                instance
                    .on_timeout(stop_at + wait - Duration::from_nanos(1))
                    .is_empty()
            );
            assert_eq!(
                instance.on_timeout(stop_at + wait),
                vec![
                    Action::RemoveAddresses,
                    Action::Transition {
                        from: State::Master,
                        to: State::Initialize,
                        reason: TransitionReason::HandOverTimedOut
                    },
                ],
                "{:?}",
                params.version
            );
            assert_eq!(instance.next_deadline(), None);
        }
    }

    #[test]
    fn hand_over_wait_is_capped_for_long_intervals() {
        // v3 at 40.95 s: Master_Down_Interval would be over two minutes.
        let (mut instance, became) = started_master(v3_params(150, 4095), Instant::now());
        instance.handle(became, STOP);
        assert_eq!(instance.next_deadline(), Some(became + MAX_HAND_OVER_WAIT));
        assert_eq!(
            transitions(&instance.on_timeout(became + MAX_HAND_OVER_WAIT)),
            vec![(
                State::Master,
                State::Initialize,
                TransitionReason::HandOverTimedOut
            )]
        );
    }

    #[test]
    fn backup_and_fault_stop_at_once_on_hand_over() {
        let start = Instant::now();
        let mut backup = started_backup(v2_params(100), start);
        assert_eq!(
            backup.handle(start, STOP),
            vec![Action::Transition {
                from: State::Backup,
                to: State::Initialize,
                reason: TransitionReason::Shutdown
            }]
        );
        let mut fault = started_backup(v2_params(100), start);
        fault.handle(start, Input::LinkDown);
        assert_eq!(
            transitions(&fault.handle(start, STOP)),
            vec![(State::Fault, State::Initialize, TransitionReason::Shutdown)]
        );
        let mut idle = Instance::new(v2_params(100));
        assert!(idle.handle(start, STOP).is_empty());
    }

    #[test]
    fn shutdown_during_hand_over_lets_go_without_a_second_resignation() {
        let (mut instance, became) = started_master(v3_params(150, 1), Instant::now());
        instance.handle(became, STOP);
        assert_eq!(
            instance.handle(became + ms(1), Input::Shutdown),
            vec![
                Action::RemoveAddresses,
                Action::Transition {
                    from: State::Master,
                    to: State::Initialize,
                    reason: TransitionReason::Shutdown
                },
            ]
        );
        // A second hand-over request while handing over sends nothing more either.
        let (mut instance, became) = started_master(v3_params(150, 1), Instant::now());
        instance.handle(became, STOP);
        assert!(instance.handle(became + ms(1), STOP).is_empty());
        assert!(instance.handing_over());
    }

    #[test]
    fn priority_change_during_hand_over_is_not_announced() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.handle(became, STOP);
        assert!(instance.set_priority(became + ms(1), 120).is_empty());
        assert!(instance.handing_over());
    }

    #[test]
    fn link_down_during_hand_over_ends_it() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.handle(became, STOP);
        assert_eq!(
            transitions(&instance.handle(became + ms(1), Input::LinkDown)),
            vec![(State::Master, State::Fault, TransitionReason::LinkDown)]
        );
        assert!(!instance.handing_over());
        assert_eq!(instance.next_deadline(), None);
    }

    #[test]
    fn hand_over_to_backup_follows_the_new_master() {
        let (mut instance, became) = started_master(v3_params(150, 1), Instant::now());
        let demote = Input::HandOver {
            then: AfterHandOver::Backup,
        };
        assert_eq!(sent_priorities(&instance.handle(became, demote)), vec![0]);
        let mut peer = v3_params(100, 2);
        peer.local_address = IpAddr::V4(PEER_LOWER_ADDRESS);
        let heard_at = became + ms(8);
        let actions = receive(
            &mut instance,
            heard_at,
            PEER_LOWER_ADDRESS,
            &advert_like(&peer, 100),
        );
        assert_eq!(actions.first(), Some(&Action::RemoveAddresses));
        assert_eq!(
            transitions(&actions),
            vec![(
                State::Master,
                State::Backup,
                TransitionReason::HandedOver {
                    source: IpAddr::V4(PEER_LOWER_ADDRESS),
                    priority: 100
                }
            )]
        );
        assert_eq!(
            instance.master_address(),
            Some(IpAddr::V4(PEER_LOWER_ADDRESS))
        );
        // The new master's 20 ms interval is learned: 60 ms + 106 × 20 ms / 256.
        assert_eq!(
            instance.next_deadline(),
            Some(heard_at + Duration::from_nanos(68_281_250))
        );
        // A demote request to a backup leaves it as it is.
        assert!(instance.handle(heard_at, demote).is_empty());
        assert_eq!(instance.state(), State::Backup);
    }

    // ---- Operator demote / promote -----------------------------------------------------

    fn peer_v2(priority: u8) -> InstanceParams {
        InstanceParams {
            local_address: IpAddr::V4(PEER_LOWER_ADDRESS),
            ..v2_params(priority)
        }
    }

    #[test]
    fn demoting_a_master_hands_over_make_before_break_and_stays_backup() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let actions = instance.demote(became);
        // Resigns with priority 0 but keeps the addresses until the peer is heard.
        assert_eq!(sent_priorities(&actions), vec![0]);
        assert!(!actions.contains(&Action::RemoveAddresses));
        assert!(instance.handing_over());
        assert!(instance.is_demoted());
        assert_eq!(instance.advertised_priority(), DEMOTED_PRIORITY);
        assert_eq!(instance.priority(), 150);
        let heard_at = became + ms(700);
        let actions = receive(
            &mut instance,
            heard_at,
            PEER_LOWER_ADDRESS,
            &advert_like(&peer_v2(100), 100),
        );
        assert_eq!(actions.first(), Some(&Action::RemoveAddresses));
        assert_eq!(instance.state(), State::Backup);
        // The peer's 100 is below our 150, yet a demoted backup never preempts: every
        // advert is accepted and the Master_Down_Timer keeps being pushed back.
        let mut now = heard_at;
        for _ in 0..10 {
            now += ms(1000);
            receive(
                &mut instance,
                now,
                PEER_LOWER_ADDRESS,
                &advert_like(&peer_v2(100), 100),
            );
            assert!(instance.on_timeout(now + ms(999)).is_empty());
            assert_eq!(instance.state(), State::Backup);
        }
        // Demoted, its Master_Down_Interval is priority 1's: 3 s + 255/256 s.
        assert_eq!(
            instance.next_deadline(),
            Some(now + master_down_interval(Version::V2, 1, 100))
        );
    }

    #[test]
    fn demoted_backup_still_takes_over_when_the_peer_dies() {
        let mut instance = started_backup(v2_params(150), Instant::now());
        assert!(instance.demote(Instant::now()).is_empty());
        let heard_at = Instant::now() + ms(100);
        receive(
            &mut instance,
            heard_at,
            PEER_LOWER_ADDRESS,
            &advert_like(&peer_v2(100), 100),
        );
        let down_at = heard_at + master_down_interval(Version::V2, 1, 100);
        assert!(instance.on_timeout(down_at - ms(1)).is_empty());
        let actions = instance.on_timeout(down_at);
        assert_eq!(
            transitions(&actions),
            vec![(State::Backup, State::Master, TransitionReason::MasterDown)]
        );
        // It serves the addresses, but advertises 1 so any returning peer takes them back.
        assert_eq!(sent_priorities(&actions), vec![DEMOTED_PRIORITY]);
        let actions = receive(
            &mut instance,
            down_at + ms(10),
            PEER_LOWER_ADDRESS,
            &advert_like(&peer_v2(100), 100),
        );
        assert_eq!(instance.state(), State::Backup, "{actions:?}");
    }

    #[test]
    fn demoted_master_with_nobody_to_take_over_keeps_the_addresses() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.demote(became);
        let (deadline, _) = resignations_until_deadline(&mut instance);
        let actions = instance.on_timeout(deadline);
        assert!(!actions.contains(&Action::RemoveAddresses), "{actions:?}");
        assert!(transitions(&actions).is_empty());
        assert_eq!(sent_priorities(&actions), vec![DEMOTED_PRIORITY]);
        assert_eq!(instance.state(), State::Master);
        assert!(!instance.handing_over());
        assert_eq!(instance.next_deadline(), Some(deadline + ms(1000)));
    }

    #[test]
    fn demote_is_held_from_before_startup_and_beats_address_ownership() {
        let mut instance = Instance::new(v2_params(OWNER_PRIORITY));
        instance.demote(Instant::now());
        let actions = instance.handle(Instant::now(), Input::Startup);
        assert_eq!(instance.state(), State::Backup, "{actions:?}");
        let mut fault = Instance::new(v2_params(150));
        fault.handle(Instant::now(), Input::LinkDown);
        assert!(fault.demote(Instant::now()).is_empty());
        assert!(fault.is_demoted());
        assert_eq!(fault.state(), State::Fault);
    }

    #[test]
    fn promoting_a_backup_preempts_the_lower_priority_peer_again() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(150), start);
        instance.demote(start);
        let peer_advert = advert_like(&peer_v2(100), 100);
        receive(
            &mut instance,
            start + ms(100),
            PEER_LOWER_ADDRESS,
            &peer_advert,
        );
        assert!(instance.promote(start + ms(200)).is_empty());
        assert!(!instance.is_demoted());
        // From now on its adverts are discarded: the timer set at 100 ms is not pushed back.
        for step in 1..=3 {
            receive(
                &mut instance,
                start + ms(100 + step * 1000),
                PEER_LOWER_ADDRESS,
                &peer_advert,
            );
        }
        let down_at = start + ms(100) + master_down_interval(Version::V2, 1, 100);
        assert_eq!(instance.next_deadline(), Some(down_at));
        let actions = instance.on_timeout(down_at);
        assert_eq!(
            transitions(&actions),
            vec![(
                State::Backup,
                State::Master,
                TransitionReason::Preempt {
                    source: IpAddr::V4(PEER_LOWER_ADDRESS),
                    priority: 100
                }
            )]
        );
        // Addresses and GARP before the advert that makes the peer let go.
        assert_eq!(actions.first(), Some(&Action::AddAddresses));
        assert_eq!(sent_priorities(&actions), vec![150]);
    }

    #[test]
    fn sync_force_backup_leaves_a_demote_hand_over_alone() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.demote(became);
        assert!(
            instance
                .handle(became + ms(10), Input::SyncForceBackup)
                .is_empty()
        );
        assert!(instance.handing_over());
        assert_eq!(instance.state(), State::Master);
    }

    #[test]
    fn a_demote_hand_over_that_nobody_takes_keeps_the_addresses() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.demote(became);
        assert!(instance.handing_over());
        let (deadline, _) = resignations_until_deadline(&mut instance);
        let actions = instance.on_timeout(deadline);
        assert!(!actions.contains(&Action::RemoveAddresses), "{actions:?}");
        assert_eq!(sent_priorities(&actions), vec![DEMOTED_PRIORITY]);
        assert_eq!(instance.state(), State::Master);
        assert!(!instance.handing_over());
    }

    /// Both masters of a healed partition demoted: each hears the other resign. The one
    /// that stays up as a backup serves again at once (the usual master-against-master
    /// comparison then keeps one), instead of both holding the addresses until the
    /// deadline; one that stops waits for whoever serves.
    #[test]
    fn a_demote_hand_over_that_hears_another_resignation_serves_again() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.demote(became);
        let heard_at = became + ms(300);
        let actions = receive(
            &mut instance,
            heard_at,
            PEER_LOWER_ADDRESS,
            &advert_like(&v2_params(100), 0),
        );
        assert_eq!(sent_priorities(&actions), vec![DEMOTED_PRIORITY]);
        assert!(!actions.contains(&Action::RemoveAddresses));
        assert!(transitions(&actions).is_empty());
        assert!(!instance.handing_over());
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.next_deadline(), Some(heard_at + ms(1000)));

        let (mut stopping, became) = started_master(v2_params(150), Instant::now());
        stopping.handle(became, STOP);
        let actions = receive(
            &mut stopping,
            became + ms(300),
            PEER_LOWER_ADDRESS,
            &advert_like(&v2_params(100), 0),
        );
        assert!(actions.is_empty(), "{actions:?}");
        assert!(stopping.handing_over());
    }

    #[test]
    fn promoting_during_a_demote_hand_over_ends_it_and_advertises_at_once() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.demote(became);
        assert!(instance.handing_over());
        let actions = instance.promote(became + ms(500));
        assert_eq!(sent_priorities(&actions), vec![150]);
        assert!(!actions.contains(&Action::RemoveAddresses));
        assert!(!instance.handing_over());
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.next_deadline(), Some(became + ms(1_500)));
        // A stop's hand-over is not cancelled by a promote.
        let (mut stopping, became) = started_master(v2_params(150), Instant::now());
        stopping.demote(became);
        stopping.handle(
            became + ms(10),
            Input::HandOver {
                then: AfterHandOver::Stop,
            },
        );
        assert!(stopping.promote(became + ms(20)).is_empty());
        assert!(stopping.handing_over());
    }

    #[test]
    fn promoting_a_demoted_master_announces_its_priority_at_once() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.demote(became);
        instance.on_timeout(instance.next_deadline().unwrap());
        let actions = instance.promote(became + ms(20_000));
        assert_eq!(sent_priorities(&actions), vec![150]);
        assert_eq!(instance.advertised_priority(), 150);
        // Promote twice, or demote twice, changes nothing.
        assert!(instance.promote(became + ms(20_001)).is_empty());
        instance.demote(became + ms(20_002));
        assert!(instance.demote(became + ms(20_003)).is_empty());
    }

    #[test]
    fn priority_changes_while_demoted_are_kept_but_not_advertised() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        instance.demote(became);
        instance.on_timeout(instance.next_deadline().unwrap());
        assert!(instance.set_priority(became + ms(12_000), 200).is_empty());
        assert_eq!(instance.priority(), 200);
        assert_eq!(instance.advertised_priority(), DEMOTED_PRIORITY);
        assert_eq!(
            sent_priorities(&instance.promote(became + ms(12_001))),
            vec![200]
        );
    }

    /// Two routers wired together: the master hands over, and at every step at least one
    /// of them holds the addresses. The backup takes over after its Skew_Time (it got
    /// priority 0), adds the addresses and sends GARP before its advert, and only that
    /// advert makes the old master remove them.
    #[test]
    fn addresses_are_never_absent_during_a_hand_over() {
        for (old_params, new_params) in [
            (v2_params(150), v2_params(100)),
            (v3_params(150, 1), v3_params(100, 1)),
        ] {
            let start = Instant::now();
            let (mut old, became) = started_master(old_params.clone(), start);
            let mut new_params = new_params;
            new_params.local_address = IpAddr::V4(PEER_LOWER_ADDRESS);
            let mut new = started_backup(new_params, start);
            // The backup heard the master's last advert just before it stops.
            let stop_at = became + ms(100);
            receive(&mut new, stop_at, LOCAL, &advert_like(&old_params, 150));
            let holds = |actions: &[Action], held: &mut bool| {
                for action in actions {
                    match action {
                        Action::AddAddresses => *held = true,
                        Action::RemoveAddresses => *held = false,
                        _ => {}
                    }
                }
            };
            let (mut old_holds, mut new_holds) = (true, false);
            let deliver = |to: &mut Instance, now: Instant, from: Ipv4Addr, actions: &[Action]| {
                let mut replies = Vec::new();
                for action in actions {
                    if let Action::SendAdvertisement(advert) = action {
                        replies.extend(receive(to, now, from, advert));
                    }
                }
                replies
            };
            let resigned = old.handle(stop_at, STOP);
            let replies = deliver(&mut new, stop_at, LOCAL, &resigned);
            holds(&replies, &mut new_holds);
            let mut now = stop_at;
            for _ in 0..10_000 {
                let Some(next) = [old.next_deadline(), new.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min()
                else {
                    break;
                };
                now = next;
                let from_old = old.on_timeout(now);
                holds(&from_old, &mut old_holds);
                let from_new = new.on_timeout(now);
                holds(&from_new, &mut new_holds);
                let at_old = deliver(&mut old, now, PEER_LOWER_ADDRESS, &from_new);
                holds(&at_old, &mut old_holds);
                let at_new = deliver(&mut new, now, LOCAL, &from_old);
                holds(&at_new, &mut new_holds);
                assert!(old_holds || new_holds, "addresses absent at {now:?}");
                if old.state() == State::Initialize {
                    break;
                }
            }
            assert_eq!(old.state(), State::Initialize);
            assert_eq!(new.state(), State::Master);
            assert!(new_holds && !old_holds);
            // The new master took over after its Skew_Time, not Master_Down_Interval.
            assert_eq!(now - stop_at, new.skew_time());
        }
    }

    /// A backup that heard the 150 master at `start` + 500 ms and its priority-0 advert at
    /// + 1200 ms; returns it and the takeover time (Skew_Time later).
    fn backup_after_resignation(params: InstanceParams, start: Instant) -> (Instance, Instant) {
        let mut instance = started_backup(params.clone(), start);
        let peer = advert_like(&params, 150);
        receive(&mut instance, start + ms(500), PEER_HIGHER_ADDRESS, &peer);
        let resigned_at = start + ms(1200);
        let resigned = advert_like(&params, 0);
        receive(&mut instance, resigned_at, PEER_HIGHER_ADDRESS, &resigned);
        let takeover = resigned_at + instance.skew_time();
        (instance, takeover)
    }

    #[test]
    fn planned_takeover_sends_gratuitous_arp_again_after_the_old_master_let_go() {
        let start = Instant::now();
        let (mut instance, takeover) = backup_after_resignation(v2_params(100), start);
        let actions = instance.on_timeout(takeover);
        assert_eq!(garp_count(&actions), 1);
        let follow_up = takeover + FOLLOW_UP_GARP_DELAY;
        assert_eq!(instance.next_deadline(), Some(follow_up));
        assert_eq!(
            instance.on_timeout(follow_up),
            vec![Action::SendGratuitousArp]
        );
        assert_eq!(instance.next_deadline(), Some(takeover + ms(1000)));

        // Preempting a lower-priority master is a planned move too.
        let mut preempting = started_backup(v2_params(200), start);
        let lower = advert_like(&v2_params(100), 100);
        receive(&mut preempting, start + ms(100), PEER_LOWER_ADDRESS, &lower);
        let became = preempting.next_deadline().unwrap();
        let actions = preempting.on_timeout(became);
        assert!(matches!(
            transitions(&actions)[0].2,
            TransitionReason::Preempt { .. }
        ));
        assert_eq!(
            preempting.next_deadline(),
            Some(became + FOLLOW_UP_GARP_DELAY)
        );
    }

    #[test]
    fn takeover_from_a_silent_master_has_no_follow_up_garp() {
        let start = Instant::now();
        let (mut instance, became) = started_master(v2_params(100), start);
        assert_eq!(instance.next_deadline(), Some(became + ms(1000)));
        assert_eq!(
            garp_count(&instance.on_timeout(became + ms(1000))),
            0,
            "only the advert is due"
        );
    }

    #[test]
    fn follow_up_garp_leaves_a_running_spaced_burst_alone() {
        let start = Instant::now();
        let mut params = v2_params(100);
        params.garp = GarpParams {
            burst_count: 5,
            burst_spacing: ms(50),
            second_burst_delay: None,
            master_refresh: None,
        };
        let (mut instance, takeover) = backup_after_resignation(params, start);
        let mut sent = garp_count(&instance.on_timeout(takeover));
        let mut now = takeover;
        while now < takeover + ms(900) {
            now += ms(10);
            sent += garp_count(&instance.on_timeout(now));
        }
        // The burst's 5 frames (0, 50, …, 200 ms): the follow-up at 100 ms adds none.
        assert_eq!(sent, 5);
    }

    #[test]
    fn link_down_and_up() {
        let (mut instance, became) = started_master(v2_params(100), Instant::now());
        let down = became + ms(100);
        assert_eq!(
            instance.handle(down, Input::LinkDown),
            vec![
                Action::RemoveAddresses,
                Action::Transition {
                    from: State::Master,
                    to: State::Fault,
                    reason: TransitionReason::LinkDown
                },
            ]
        );
        assert_eq!(instance.next_deadline(), None);
        // Adverts and timers do nothing in Fault, nor does a repeated LinkDown.
        assert!(
            receive(
                &mut instance,
                down,
                PEER_HIGHER_ADDRESS,
                &advert_like(&v2_params(150), 150)
            )
            .is_empty()
        );
        assert!(instance.handle(down, Input::LinkDown).is_empty());
        assert!(instance.on_timeout(down + ms(100_000)).is_empty());
        assert_eq!(instance.state(), State::Fault);
        let up = down + ms(5000);
        assert_eq!(
            instance.handle(up, Input::LinkUp),
            vec![Action::Transition {
                from: State::Fault,
                to: State::Backup,
                reason: TransitionReason::LinkUp
            }]
        );
        assert_eq!(
            instance.next_deadline(),
            Some(up + Duration::from_nanos(3_609_375_000))
        );
        // LinkUp outside Fault is not an event.
        assert!(instance.handle(up, Input::LinkUp).is_empty());
        // Backup → Fault has no addresses to remove.
        assert_eq!(
            instance.handle(up, Input::LinkDown),
            vec![Action::Transition {
                from: State::Backup,
                to: State::Fault,
                reason: TransitionReason::LinkDown
            }]
        );
    }

    #[test]
    fn owner_link_up_goes_straight_to_master() {
        let now = Instant::now();
        let mut instance = Instance::new(v2_params(255));
        instance.handle(now, Input::Startup);
        instance.handle(now, Input::LinkDown);
        let actions = instance.handle(now + ms(10), Input::LinkUp);
        assert_eq!(actions[0], Action::AddAddresses);
        assert_eq!(
            transitions(&actions),
            vec![(State::Fault, State::Master, TransitionReason::LinkUp)]
        );
    }

    // ---- Sync group inputs -------------------------------------------------------------

    #[test]
    fn sync_force_backup_resigns_a_master_and_nothing_else() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let at = became + ms(100);
        assert_eq!(
            instance.handle(at, Input::SyncForceBackup),
            vec![
                Action::SendAdvertisement(advert_like(&v2_params(150), 0)),
                Action::RemoveAddresses,
                Action::Transition {
                    from: State::Master,
                    to: State::Backup,
                    reason: TransitionReason::SyncGroup
                },
            ]
        );
        // A backup again, with the full Master_Down_Interval (150: 3 s + 0.414 s).
        assert_eq!(
            instance.next_deadline(),
            Some(at + Duration::from_nanos(3_414_062_500))
        );
        assert!(instance.handle(at, Input::SyncForceBackup).is_empty());
    }

    #[test]
    fn sync_force_master_takes_over_from_backup_only() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        let actions = instance.handle(start + ms(10), Input::SyncForceMaster);
        assert_eq!(actions[0], Action::AddAddresses);
        assert_eq!(sent_priorities(&actions), vec![100]);
        assert_eq!(
            transitions(&actions),
            vec![(State::Backup, State::Master, TransitionReason::SyncGroup)]
        );
        assert!(instance.handle(start, Input::SyncForceMaster).is_empty());
        instance.handle(start, Input::LinkDown);
        assert!(instance.handle(start, Input::SyncForceMaster).is_empty());
        assert_eq!(instance.state(), State::Fault);
    }

    #[test]
    fn sync_hold_keeps_fault_across_link_up_until_released() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let at = became + ms(100);
        assert_eq!(
            instance.handle(at, Input::SyncHold),
            vec![
                Action::SendAdvertisement(advert_like(&v2_params(150), 0)),
                Action::RemoveAddresses,
                Action::Transition {
                    from: State::Master,
                    to: State::Fault,
                    reason: TransitionReason::SyncGroup
                },
            ]
        );
        assert!(instance.is_held());
        assert_eq!(instance.next_deadline(), None);
        // Its own link going down and up again does not end the hold.
        instance.handle(at, Input::LinkDown);
        assert!(instance.is_link_down());
        assert!(instance.handle(at, Input::LinkUp).is_empty());
        assert_eq!(instance.state(), State::Fault);
        // Released: starts as backup.
        assert_eq!(
            transitions(&instance.handle(at, Input::SyncRelease)),
            vec![(State::Fault, State::Backup, TransitionReason::SyncGroup)]
        );
        assert!(!instance.is_held());
        // A release without a hold does nothing.
        assert!(instance.handle(at, Input::SyncRelease).is_empty());
    }

    #[test]
    fn sync_release_with_the_link_down_waits_for_link_up() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        instance.handle(start, Input::LinkDown);
        // Already in Fault: the hold adds no transition.
        assert!(instance.handle(start, Input::SyncHold).is_empty());
        assert!(instance.handle(start, Input::SyncRelease).is_empty());
        assert_eq!(instance.state(), State::Fault);
        assert_eq!(
            transitions(&instance.handle(start, Input::LinkUp)),
            vec![(State::Fault, State::Backup, TransitionReason::LinkUp)]
        );
    }

    #[test]
    fn sync_hold_before_startup_keeps_the_instance_out() {
        let start = Instant::now();
        let mut instance = Instance::new(v2_params(255));
        assert_eq!(
            transitions(&instance.handle(start, Input::SyncHold)),
            vec![(State::Initialize, State::Fault, TransitionReason::SyncGroup)]
        );
        assert!(instance.handle(start, Input::Startup).is_empty());
        // The owner goes straight to master once released.
        let actions = instance.handle(start, Input::SyncRelease);
        assert_eq!(
            transitions(&actions),
            vec![(State::Fault, State::Master, TransitionReason::SyncGroup)]
        );
    }

    // ---- Receive checks ----------------------------------------------------------------

    #[test]
    fn v3_interval_difference_is_not_a_drop() {
        let start = Instant::now();
        let mut instance = started_backup(v3_params(100, 100), start);
        let actions = receive(
            &mut instance,
            start,
            PEER_HIGHER_ADDRESS,
            &advert_like(&v3_params(200, 300), 200),
        );
        assert!(actions.is_empty());
        assert!(instance.stats().drops.is_empty());
        assert_eq!(instance.stats().adverts_received, 1);
    }

    #[test]
    fn drops_counted_outside_the_instance() {
        let mut instance = Instance::new(v2_params(100));
        instance.count_drop(DropReason::BadTtl);
        instance.count_drop(DropReason::BadTtl);
        instance.count_drop(DropReason::BadChecksum);
        assert_eq!(instance.stats().drops.get(&DropReason::BadTtl), Some(&2));
        assert_eq!(
            instance.stats().drops.get(&DropReason::BadChecksum),
            Some(&1)
        );
    }

    #[test]
    fn own_adverts_are_ignored() {
        let (mut instance, became) = started_master(v2_params(100), Instant::now());
        let deadline = instance.next_deadline();
        // Even with a higher priority (impossible unless looped back after a priority change).
        let actions = receive(
            &mut instance,
            became + ms(5),
            LOCAL,
            &advert_like(&v2_params(200), 200),
        );
        assert!(actions.is_empty());
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.next_deadline(), deadline);
        assert_eq!(instance.stats().own_adverts_ignored, 1);
        assert_eq!(instance.stats().adverts_received, 0);
    }

    #[test]
    fn address_list_mismatch_is_counted_not_dropped() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        let advert = Advertisement {
            addresses: vec![IpAddr::V4(VIP), "192.0.2.44".parse().unwrap()],
            ..advert_like(&v2_params(200), 200)
        };
        let at = start + ms(100);
        assert!(receive(&mut instance, at, PEER_HIGHER_ADDRESS, &advert).is_empty());
        assert_eq!(instance.stats().address_list_mismatches, 1);
        assert_eq!(
            instance.next_deadline(),
            Some(at + master_down_interval(Version::V2, 100, 100))
        );
        // Order does not matter.
        let params = InstanceParams {
            addresses: vec![IpAddr::V4(VIP), "192.0.2.44".parse().unwrap()],
            ..v2_params(100)
        };
        let mut instance = started_backup(params, start);
        let advert = Advertisement {
            addresses: vec!["192.0.2.44".parse().unwrap(), IpAddr::V4(VIP)],
            ..advert_like(&v2_params(200), 200)
        };
        receive(&mut instance, at, PEER_HIGHER_ADDRESS, &advert);
        assert_eq!(instance.stats().address_list_mismatches, 0);
    }

    // ---- GARP schedule -----------------------------------------------------------------

    #[test]
    fn garp_burst_without_spacing_is_sent_at_once() {
        let params = InstanceParams {
            garp: GarpParams {
                burst_count: 5,
                burst_spacing: Duration::ZERO,
                second_burst_delay: None,
                master_refresh: None,
            },
            ..v2_params(255)
        };
        let now = Instant::now();
        let mut instance = Instance::new(params);
        let actions = instance.handle(now, Input::Startup);
        assert_eq!(actions.len(), 1 + 5 + 1 + 1);
        assert_eq!(actions[0], Action::AddAddresses);
        assert!(
            actions[1..6]
                .iter()
                .all(|action| *action == Action::SendGratuitousArp)
        );
        assert!(matches!(actions[6], Action::SendAdvertisement(_)));
        assert!(matches!(actions[7], Action::Transition { .. }));
        assert_eq!(instance.next_deadline(), Some(now + ms(1000)));
    }

    #[test]
    fn garp_bursts_second_burst_and_refresh() {
        let params = InstanceParams {
            garp: GarpParams {
                burst_count: 3,
                burst_spacing: ms(200),
                second_burst_delay: Some(Duration::from_secs(5)),
                master_refresh: Some(Duration::from_secs(60)),
            },
            ..v2_params(255)
        };
        let t0 = Instant::now();
        let mut instance = Instance::new(params);
        assert_eq!(garp_count(&instance.handle(t0, Input::Startup)), 1);
        // The rest of the first burst: +200 ms and +400 ms, before the advert at +1 s.
        assert_eq!(instance.next_deadline(), Some(t0 + ms(200)));
        assert_eq!(
            instance.on_timeout(t0 + ms(200)),
            vec![Action::SendGratuitousArp]
        );
        assert_eq!(instance.next_deadline(), Some(t0 + ms(400)));
        assert_eq!(
            instance.on_timeout(t0 + ms(400)),
            vec![Action::SendGratuitousArp]
        );
        assert_eq!(instance.next_deadline(), Some(t0 + ms(1000)));
        // Walk to 5 s: adverts only, then the second burst (1 now + 2 spaced).
        let mut garps_at = Vec::new();
        let mut now = t0 + ms(400);
        for _ in 0..200 {
            let Some(deadline) = instance.next_deadline() else {
                break;
            };
            if deadline > t0 + Duration::from_secs(125) {
                break;
            }
            now = deadline;
            let count = garp_count(&instance.on_timeout(now));
            garps_at.extend(std::iter::repeat_n(now.duration_since(t0), count));
        }
        assert!(now > t0 + Duration::from_secs(124));
        let expected: Vec<Duration> = [
            5000, 5200, 5400, 60_000, 60_200, 60_400, 120_000, 120_200, 120_400,
        ]
        .into_iter()
        .map(ms)
        .collect();
        assert_eq!(garps_at, expected);
    }

    #[test]
    fn garp_schedule_stops_when_leaving_master() {
        let params = InstanceParams {
            garp: GarpParams {
                burst_count: 3,
                burst_spacing: ms(200),
                second_burst_delay: Some(Duration::from_secs(5)),
                master_refresh: Some(Duration::from_secs(60)),
            },
            ..v2_params(100)
        };
        let (mut instance, became) = started_master(params, Instant::now());
        let at = became + ms(100);
        receive(
            &mut instance,
            at,
            PEER_HIGHER_ADDRESS,
            &advert_like(&v2_params(200), 200),
        );
        assert_eq!(instance.state(), State::Backup);
        // Only the Master_Down_Timer is left.
        assert_eq!(
            instance.next_deadline(),
            Some(at + master_down_interval(Version::V2, 100, 100))
        );
        // Keep the backup fed: no GARP ever fires.
        let mut now = at;
        for _ in 0..100 {
            now += ms(1000);
            receive(
                &mut instance,
                now,
                PEER_HIGHER_ADDRESS,
                &advert_like(&v2_params(200), 200),
            );
            assert_eq!(garp_count(&instance.on_timeout(now)), 0);
        }
    }

    #[test]
    fn late_on_timeout_sends_the_rest_of_a_burst() {
        let params = InstanceParams {
            garp: GarpParams {
                burst_count: 4,
                burst_spacing: ms(100),
                second_burst_delay: None,
                master_refresh: None,
            },
            ..v2_params(255)
        };
        let t0 = Instant::now();
        let mut instance = Instance::new(params);
        instance.handle(t0, Input::Startup);
        let actions = instance.on_timeout(t0 + ms(350));
        assert_eq!(garp_count(&actions), 3);
        assert_eq!(instance.next_deadline(), Some(t0 + ms(1000)));
    }

    // ---- Priority changes --------------------------------------------------------------

    #[test]
    fn owner_priority_never_changes() {
        let now = Instant::now();
        let mut instance = Instance::new(v2_params(255));
        instance.handle(now, Input::Startup);
        assert!(instance.set_priority(now, 10).is_empty());
        assert_eq!(instance.priority(), 255);
    }

    #[test]
    fn raised_backup_preempts_through_discarded_adverts() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        let master = advert_like(&v2_params(150), 150);
        let first = start + ms(1000);
        receive(&mut instance, first, PEER_LOWER_ADDRESS, &master);
        assert!(instance.set_priority(first + ms(10), 200).is_empty());
        assert_eq!(instance.priority(), 200);
        // The old master's next adverts no longer reset the timer (armed with the old MDI).
        let deadline = first + master_down_interval(Version::V2, 100, 100);
        receive(&mut instance, first + ms(1000), PEER_LOWER_ADDRESS, &master);
        receive(&mut instance, first + ms(2000), PEER_LOWER_ADDRESS, &master);
        assert_eq!(instance.next_deadline(), Some(deadline));
        let actions = instance.on_timeout(deadline);
        assert_eq!(
            transitions(&actions),
            vec![(
                State::Backup,
                State::Master,
                TransitionReason::Preempt {
                    source: IpAddr::V4(PEER_LOWER_ADDRESS),
                    priority: 150
                }
            )]
        );
        assert_eq!(sent_priorities(&actions), vec![200]);
    }

    #[test]
    fn lowered_master_stays_master_and_announces_it() {
        let (mut instance, became) = started_master(v2_params(150), Instant::now());
        let at = became + ms(300);
        assert_eq!(sent_priorities(&instance.set_priority(at, 50)), vec![50]);
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.next_deadline(), Some(at + ms(1000)));
        assert_eq!(
            sent_priorities(&instance.on_timeout(at + ms(1000))),
            vec![50]
        );
        // Unchanged priority: nothing to announce.
        assert!(instance.set_priority(at, 50).is_empty());
        // 255 and 0 are reserved.
        instance.set_priority(at, 255);
        assert_eq!(instance.priority(), 254);
        instance.set_priority(at, 0);
        assert_eq!(instance.priority(), 1);
    }

    // ---- keepalived interop --------------------------------------------------------------

    /// keepalived 2.2.7's captured adverts (see `packet.rs`), decoded and fed to a backup
    /// configured like the user's lb02 (v2, PASS "password", priority 100, 1 s).
    #[test]
    fn backup_follows_captured_keepalived_master_and_its_resignation() {
        use crate::core::packet::tests::{KEEPALIVED_V2_PASS, KEEPALIVED_V2_PASS_SHUTDOWN, hex};
        let keepalived = IpAddr::V4(PEER_LOWER_ADDRESS);
        let group = IpAddr::V4(crate::core::packet::MULTICAST_V4);
        let master =
            crate::core::packet::decode(&hex(KEEPALIVED_V2_PASS), keepalived, group).unwrap();
        let resign =
            crate::core::packet::decode(&hex(KEEPALIVED_V2_PASS_SHUTDOWN), keepalived, group)
                .unwrap();
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        let heard = start + ms(2000);
        assert!(
            instance
                .handle(
                    heard,
                    Input::Advertisement {
                        source: keepalived,
                        advert: &master
                    }
                )
                .is_empty()
        );
        assert_eq!(instance.master_address(), Some(keepalived));
        assert_eq!(
            instance.next_deadline(),
            Some(heard + Duration::from_nanos(3_609_375_000))
        );
        assert!(instance.stats().drops.is_empty());
        assert_eq!(instance.stats().address_list_mismatches, 0);
        let resigned = heard + ms(500);
        instance.handle(
            resigned,
            Input::Advertisement {
                source: keepalived,
                advert: &resign,
            },
        );
        assert_eq!(
            instance.next_deadline(),
            Some(resigned + Duration::from_nanos(609_375_000))
        );
        // With another password, keepalived's adverts are dropped before they reach the
        // instance: see core::receive's tests.
    }

    // ---- Whole-life properties ---------------------------------------------------------

    /// Random inputs at random times: never panics, each state change has exactly one
    /// Transition, and deadlines exist exactly in Backup and Master.
    #[test]
    fn random_sequences_keep_the_invariants() {
        let mut seed = 0x0123_4567_89ab_cdefu64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let version = if round % 2 == 0 {
                Version::V2
            } else {
                Version::V3
            };
            let mut params = if version == Version::V2 {
                v2_params(100)
            } else {
                v3_params(100, 10)
            };
            params.priority = [1, 100, 200, 255][round % 4];
            params.preempt = round % 3 != 0;
            params.preempt_delay = ms(random() % 3000);
            params.garp = GarpParams {
                burst_count: (random() % 4) as u32,
                burst_spacing: ms(random() % 300),
                second_burst_delay: Some(ms(random() % 6000)),
                master_refresh: Some(ms(random() % 10_000)),
            };
            let mut instance = Instance::new(params.clone());
            let mut now = Instant::now();
            let mut state = instance.state();
            let mut transitions_seen = 0u64;
            for _ in 0..300 {
                now += Duration::from_micros(random() % 2_000_000);
                let peer_priority = (random() % 256) as u8;
                let peer = if random() % 2 == 0 {
                    PEER_LOWER_ADDRESS
                } else {
                    PEER_HIGHER_ADDRESS
                };
                let advert = advert_like(&params, peer_priority);
                let choice = random() % 16;
                let actions = match choice {
                    0 => instance.handle(now, Input::Startup),
                    1 if random() % 2 == 0 => instance.handle(now, Input::Shutdown),
                    1 => instance.handle(
                        now,
                        Input::HandOver {
                            then: if random() % 2 == 0 {
                                AfterHandOver::Stop
                            } else {
                                AfterHandOver::Backup
                            },
                        },
                    ),
                    2 => instance.handle(now, Input::LinkDown),
                    3 => instance.handle(now, Input::LinkUp),
                    4 => instance.set_priority(now, (random() % 256) as u8),
                    5 | 6 => receive(&mut instance, now, peer, &advert),
                    10 => instance.handle(now, Input::SyncForceBackup),
                    11 => instance.handle(now, Input::SyncForceMaster),
                    12 => instance.handle(now, Input::SyncHold),
                    13 => instance.handle(now, Input::SyncRelease),
                    14 => instance.demote(now),
                    15 => instance.promote(now),
                    _ => instance.on_timeout(now),
                };
                // A demoted instance announces nothing above priority 1 (0 to resign).
                if instance.is_demoted() {
                    assert!(
                        sent_priorities(&actions).iter().all(|p| *p <= 1),
                        "{actions:?}"
                    );
                }
                // A held instance never runs (Initialize after a shutdown is not running either).
                assert!(
                    !instance.is_held()
                        || matches!(instance.state(), State::Fault | State::Initialize)
                );
                if (7..10).contains(&choice) {
                    // Nothing overdue is left behind after on_timeout.
                    assert!(
                        instance
                            .next_deadline()
                            .is_none_or(|deadline| deadline > now)
                    );
                }
                let changes = transitions(&actions);
                transitions_seen += changes.len() as u64;
                for (from, to, _) in &changes {
                    assert_eq!(*from, state);
                    assert_ne!(from, to);
                    state = *to;
                }
                assert_eq!(instance.state(), state);
                let deadline = instance.next_deadline();
                match state {
                    State::Initialize | State::Fault => assert_eq!(deadline, None),
                    State::Backup | State::Master => assert!(deadline.is_some()),
                }
                assert_eq!(
                    (instance.master_address() == Some(IpAddr::V4(LOCAL))),
                    state == State::Master
                );
            }
            assert_eq!(instance.stats().transitions, transitions_seen);
        }
    }
    // ---- Roles and Fault causes --------------------------------------------------------

    /// Each role's deadline comes from its own timers only: a Backup has just its
    /// Master_Down_Timer, a serving Master its advert and GARP timers, a Master handing
    /// over just its hand-over deadline, and Initialize and Fault none.
    #[test]
    fn each_role_has_only_its_own_timers() {
        let start = Instant::now();
        let mut params = v2_params(100);
        params.garp = GarpParams {
            burst_count: 3,
            burst_spacing: ms(40),
            second_burst_delay: Some(ms(5000)),
            master_refresh: Some(ms(60_000)),
        };
        let mut instance = Instance::new(params.clone());
        assert_eq!(instance.next_deadline(), None, "Initialize");

        instance.handle(start, Input::Startup);
        let down_interval = instance.master_down_interval();
        assert_eq!(instance.next_deadline(), Some(start + down_interval));

        let became_master_at = start + down_interval;
        instance.on_timeout(became_master_at);
        assert_eq!(instance.state(), State::Master);
        // The second GARP frame (40 ms) comes before the advert (1 s).
        assert_eq!(instance.next_deadline(), Some(became_master_at + ms(40)));

        let hand_over_at = became_master_at + ms(10);
        instance.handle(
            hand_over_at,
            Input::HandOver {
                then: AfterHandOver::Stop,
            },
        );
        // No GARP frame or advert any more: only the resignation again, one interval
        // on, and the hand-over deadline.
        assert_eq!(instance.next_deadline(), Some(hand_over_at + ms(1000)));
        assert!(instance.on_timeout(became_master_at + ms(40)).is_empty());
        let wait = master_down_interval(Version::V2, 100, 100);
        let (deadline, _) = resignations_until_deadline(&mut instance);
        assert_eq!(deadline, hand_over_at + wait);

        let (mut master, _) = started_master(params, start);
        master.handle(start, Input::LinkDown);
        assert_eq!(master.state(), State::Fault);
        assert_eq!(master.next_deadline(), None, "Fault");
    }

    #[test]
    fn fault_causes_name_what_holds_the_instance() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        assert_eq!(*instance.fault_causes(), FaultCauses::default());
        instance.handle(start, Input::TrackerFault { tracker: "caddy" });
        instance.handle(start, Input::LinkDown);
        instance.handle(start, Input::SyncHold);
        assert_eq!(
            *instance.fault_causes(),
            FaultCauses {
                link_down: true,
                held_by_sync_group: true,
                tracker: Some("caddy".to_owned()),
            }
        );
        instance.handle(start, Input::TrackerRecovered);
        instance.handle(start, Input::SyncRelease);
        assert_eq!(instance.state(), State::Fault, "the link is still down");
        let actions = instance.handle(start, Input::LinkUp);
        assert_eq!(
            transitions(&actions),
            vec![(State::Fault, State::Backup, TransitionReason::LinkUp)]
        );
        assert!(!instance.fault_causes().any());
    }

    /// A Shutdown does not bring a link up: started again while it is still down, the
    /// instance goes straight back to Fault instead of running on a dead link.
    #[test]
    fn a_cause_kept_across_shutdown_sends_the_next_startup_to_fault() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        instance.handle(start, Input::LinkDown);
        instance.handle(start, Input::Shutdown);
        assert_eq!(instance.state(), State::Initialize);
        assert!(instance.is_link_down());
        let actions = instance.handle(start, Input::Startup);
        assert_eq!(
            transitions(&actions),
            vec![(State::Initialize, State::Fault, TransitionReason::LinkDown)]
        );
        let actions = instance.handle(start, Input::LinkUp);
        assert_eq!(
            transitions(&actions),
            vec![(State::Fault, State::Backup, TransitionReason::LinkUp)]
        );
    }

    /// What holds a sync group (`core::sync_group` rule 1) is a fault of the instance's own
    /// (its link or a tracker), not its group's hold.
    #[test]
    fn own_fault_is_the_link_or_a_tracker_not_the_group_hold() {
        let start = Instant::now();
        let mut instance = started_backup(v2_params(100), start);
        assert!(!instance.has_own_fault());
        instance.handle(start, Input::SyncHold);
        assert_eq!(instance.state(), State::Fault);
        assert!(!instance.has_own_fault());
        instance.handle(start, Input::TrackerFault { tracker: "caddy" });
        assert!(instance.has_own_fault());
        instance.handle(start, Input::TrackerRecovered);
        assert!(!instance.has_own_fault());
        instance.handle(start, Input::LinkDown);
        assert!(instance.has_own_fault());
    }

    /// Random inputs, trackers included: Fault is only ever entered with a cause, and left
    /// as soon as the last one clears; a held instance never runs.
    #[test]
    fn random_sequences_keep_fault_and_its_causes_together() {
        let mut seed = 0x0fed_cba9_8765_4321u64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let mut params = v3_params([1, 100, 200, 255][round % 4], 10);
            params.preempt = round % 3 != 0;
            let mut instance = Instance::new(params.clone());
            let mut now = Instant::now();
            for _ in 0..300 {
                now += Duration::from_micros(random() % 200_000);
                let advert = advert_like(&params, (random() % 256) as u8);
                let before = instance.state();
                match random() % 14 {
                    0 => instance.handle(now, Input::Startup),
                    1 => instance.handle(now, Input::Shutdown),
                    2 => instance.handle(now, Input::LinkDown),
                    3 => instance.handle(now, Input::LinkUp),
                    4 => instance.handle(now, Input::TrackerFault { tracker: "caddy" }),
                    5 => instance.handle(now, Input::TrackerRecovered),
                    6 => instance.handle(now, Input::SyncHold),
                    7 => instance.handle(now, Input::SyncRelease),
                    8 => instance.handle(
                        now,
                        Input::HandOver {
                            then: AfterHandOver::Backup,
                        },
                    ),
                    9 => receive(&mut instance, now, PEER_HIGHER_ADDRESS, &advert),
                    _ => instance.on_timeout(now),
                };
                if instance.state() == State::Fault {
                    assert!(instance.fault_causes().any());
                } else if before == State::Fault && instance.state() != State::Initialize {
                    // Left by its last cause clearing (a Shutdown keeps the causes).
                    assert!(!instance.fault_causes().any());
                }
                assert!(
                    !instance.is_held()
                        || matches!(instance.state(), State::Fault | State::Initialize)
                );
            }
        }
    }
}
