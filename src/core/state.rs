//! The VRRP state machine: RFC 3768 §6 (v2), RFC 5798 §6 / RFC 9568 §6 (v3).
//!
//! Pure: the caller passes `now`, feeds inputs, performs the returned actions and
//! calls [`Instance::on_timeout`] at [`Instance::next_deadline`].
//!
//! API CONTRACT (shared by the driver): keep these names and signatures; add freely.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::packet::{
    Advertisement, Authentication, ChecksumMode, DropReason, Version, v2_interval_seconds,
};

/// Priority of the address owner (RFC 3768 §5.3.4, RFC 5798 §5.2.4).
pub const OWNER_PRIORITY: u8 = 255;
/// Priority a master sends when it stops (RFC 3768 §5.3.4, RFC 5798 §5.2.4).
pub const RESIGN_PRIORITY: u8 = 0;
/// Upper bound on frames per GARP burst, so a mistaken config cannot make one burst endless.
pub const MAX_GARP_BURST_COUNT: u32 = 1000;

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
    /// Not in the RFC: the interface is down (keepalived's FAULT). No adverts, no addresses.
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
    /// A received advert was dropped (already counted in [`Stats`]).
    Dropped { reason: DropReason, source: IpAddr },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Leave Initialize (RFC 3768 §6.4.1 Startup event).
    Startup,
    /// A decoded advert for our VRID, from `source`, already TTL-checked.
    Advertisement {
        source: IpAddr,
        advert: &'a Advertisement,
    },
    /// Shutdown event (RFC 3768 §6.4.2/6.4.3): priority-0 advert if master, addresses removed.
    Shutdown,
    /// The interface went down: give up mastership and addresses.
    LinkDown,
    /// The interface came up again: start as backup.
    LinkUp,
}

/// Counters for status and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub adverts_sent: u64,
    /// Adverts that passed every receive check (drops are counted in `drops` instead).
    pub adverts_received: u64,
    pub transitions: u64,
    /// Indexed like [`DropReason::ALL`].
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
    second_burst_at: Option<Instant>,
    refresh_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    MasterDown,
    Advertisement,
    GarpBurstFrame,
    GarpSecondBurst,
    GarpRefresh,
}

/// One virtual router.
#[derive(Debug)]
pub struct Instance {
    params: InstanceParams,
    state: State,
    /// The priority in force: the configured one, or what [`Instance::set_priority`] set.
    priority: u8,
    /// v3 Master_Adver_Interval (RFC 5798 §6.1), learned from the master while Backup.
    /// v2 has no such variable: it always equals our Advertisement_Interval.
    master_adver_interval_cs: u16,
    /// Backup only.
    master_down_at: Option<Instant>,
    /// The Master_Down_Timer was set to Skew_Time by a priority-0 advert.
    master_resigned: bool,
    heard_master: Option<HeardMaster>,
    /// Lower-priority masters are tolerated until then (keepalived `preempt_delay`).
    preempt_allowed_at: Option<Instant>,
    /// Master only.
    advert_at: Option<Instant>,
    garp: GarpTimers,
    stats: Stats,
}

impl Instance {
    pub fn new(params: InstanceParams) -> Self {
        let priority = params.priority.max(1);
        let master_adver_interval_cs = params.advert_interval_cs.max(1);
        Instance {
            params,
            state: State::Initialize,
            priority,
            master_adver_interval_cs,
            master_down_at: None,
            master_resigned: false,
            heard_master: None,
            preempt_allowed_at: None,
            advert_at: None,
            garp: GarpTimers::default(),
            stats: Stats::default(),
        }
    }
    pub fn params(&self) -> &InstanceParams {
        &self.params
    }
    pub fn state(&self) -> State {
        self.state
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
    /// Skew_Time with the current priority and Master_Adver_Interval.
    pub fn skew_time(&self) -> Duration {
        skew_time(
            self.params.version,
            self.priority,
            self.master_adver_interval_cs(),
        )
    }
    /// Master_Down_Interval with the current priority and Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.params.version,
            self.priority,
            self.master_adver_interval_cs(),
        )
    }

    /// Handle one input at `now`.
    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Startup => {
                if self.state == State::Initialize {
                    self.start(now, None, &mut actions);
                }
            }
            Input::Advertisement { source, advert } => {
                self.receive(now, source, advert, &mut actions)
            }
            Input::Shutdown => self.shut_down(&mut actions),
            Input::LinkDown => self.link_down(&mut actions),
            Input::LinkUp => {
                if self.state == State::Fault {
                    self.start(now, Some(TransitionReason::LinkUp), &mut actions);
                }
            }
        }
        actions
    }

    /// Fire every timer due at or before `now`.
    ///
    /// Timers fire in deadline order. Called late, periodic timers catch up once rather than
    /// replaying every missed period; called early, nothing happens.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        // Each firing either clears its timer or moves it past `now`, except the frames of a
        // late burst, which are bounded by MAX_GARP_BURST_COUNT; the cap only guards bugs.
        for _ in 0..(4 * MAX_GARP_BURST_COUNT + 16) {
            match self.earliest_timer() {
                Some((at, timer)) if at <= now => self.fire(timer, at, now, &mut actions),
                _ => break,
            }
        }
        actions
    }

    /// When [`Instance::on_timeout`] must next be called; None when idle (Initialize/Fault).
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
        if self.state == State::Master {
            self.send_advertisement(self.priority, &mut actions);
            self.advert_at = Some(now + self.advert_interval());
        }
        actions
    }

    /// The current master's address as we know it (ourselves when master).
    pub fn master_address(&self) -> Option<IpAddr> {
        match self.state {
            State::Master => Some(self.params.local_address),
            State::Backup => self.heard_master.map(|heard| heard.address),
            State::Initialize | State::Fault => None,
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

    /// The Startup event (RFC 3768 §6.4.1, RFC 5798 §6.4.1); also used for LinkUp from Fault,
    /// with `reason` LinkUp.
    fn start(&mut self, now: Instant, reason: Option<TransitionReason>, actions: &mut Vec<Action>) {
        self.preempt_allowed_at = Some(now + self.params.preempt_delay);
        self.master_adver_interval_cs = self.advert_interval_cs();
        if self.priority == OWNER_PRIORITY {
            self.become_master(
                now,
                reason.unwrap_or(TransitionReason::AddressOwner),
                actions,
            );
        } else {
            self.become_backup(now, reason.unwrap_or(TransitionReason::Startup), actions);
        }
    }

    /// Shutdown (RFC 3768 §6.4.2 / §6.4.3, RFC 5798 likewise): a master resigns with a
    /// priority-0 advert so a backup takes over after Skew_Time instead of
    /// Master_Down_Interval.
    fn shut_down(&mut self, actions: &mut Vec<Action>) {
        let from = self.state;
        match from {
            State::Initialize => return,
            State::Master => {
                self.send_advertisement(RESIGN_PRIORITY, actions);
                actions.push(Action::RemoveAddresses);
            }
            State::Backup | State::Fault => {}
        }
        self.enter(from, State::Initialize, TransitionReason::Shutdown, actions);
    }

    /// The interface went down: nothing can be sent, so just let go (keepalived's FAULT).
    fn link_down(&mut self, actions: &mut Vec<Action>) {
        let from = self.state;
        match from {
            State::Fault => return,
            State::Master => actions.push(Action::RemoveAddresses),
            State::Backup | State::Initialize => {}
        }
        self.enter(from, State::Fault, TransitionReason::LinkDown, actions);
    }

    /// The receive checks that need our configuration (RFC 3768 §7.1, RFC 5798 §7.1), then
    /// the state's reaction (§6.4.2 Backup, §6.4.3 Master).
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
        if let Err(reason) = self.check_advertisement(source, advert) {
            self.count_drop(reason);
            actions.push(Action::Dropped { reason, source });
            return;
        }
        self.stats.adverts_received += 1;
        if !same_addresses(&advert.addresses, &self.params.addresses) {
            self.stats.address_list_mismatches += 1;
        }
        match self.state {
            State::Backup => self.backup_receive(now, source, advert),
            State::Master => self.master_receive(now, source, advert, actions),
            // Not taking part: RFC §6.4 defines no reaction outside Backup and Master.
            State::Initialize | State::Fault => {}
        }
    }

    fn check_advertisement(
        &self,
        source: IpAddr,
        advert: &Advertisement,
    ) -> Result<(), DropReason> {
        if advert.virtual_router_id != self.params.virtual_router_id {
            return Err(DropReason::UnknownVirtualRouterId);
        }
        if advert.version != self.params.version {
            return Err(DropReason::BadVersion);
        }
        let our_family = self.params.local_address.is_ipv4();
        if source.is_ipv4() != our_family
            || advert
                .addresses
                .iter()
                .any(|address| address.is_ipv4() != our_family)
        {
            return Err(DropReason::AddressFamilyMismatch);
        }
        if self.params.version == Version::V2 {
            // RFC 3768 §7.1: auth type, then auth data, then the interval must match ours.
            if advert.authentication.auth_type() != self.params.authentication.auth_type() {
                return Err(DropReason::AuthTypeMismatch);
            }
            if self.params.authentication != Authentication::None
                && advert.authentication != self.params.authentication
            {
                return Err(DropReason::AuthMismatch);
            }
            // Compared as sent: our interval as whole seconds on the wire.
            if advert.interval_cs
                != u16::from(v2_interval_seconds(self.params.advert_interval_cs)) * 100
            {
                return Err(DropReason::IntervalMismatch);
            }
        }
        // v3: RFC 9568 §7.1 removed the interval check; the interval is learned instead.
        Ok(())
    }

    /// RFC 3768 §6.4.2, RFC 5798 §6.4.2.
    fn backup_receive(&mut self, now: Instant, source: IpAddr, advert: &Advertisement) {
        if advert.priority == RESIGN_PRIORITY {
            // The master is leaving: take over after Skew_Time, so the highest-priority backup
            // goes first. Never postpone an already earlier deadline.
            let resign_deadline = now + self.skew_time();
            self.master_down_at = Some(
                self.master_down_at
                    .map_or(resign_deadline, |at| at.min(resign_deadline)),
            );
            self.master_resigned = true;
            self.heard_master = None;
            return;
        }
        let tolerated_by_preempt_delay = self
            .preempt_allowed_at
            .is_some_and(|allowed_at| now < allowed_at);
        let accepted =
            advert.priority >= self.priority || !self.params.preempt || tolerated_by_preempt_delay;
        self.heard_master = Some(HeardMaster {
            address: source,
            priority: advert.priority,
            accepted,
        });
        if accepted {
            self.learn_master_adver_interval(advert);
            self.master_down_at = Some(now + self.master_down_interval());
            self.master_resigned = false;
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
        if advert.priority == RESIGN_PRIORITY {
            // Another master is leaving (a split brain healing): assert ourselves at once.
            self.send_advertisement(self.priority, actions);
            self.advert_at = Some(now + self.advert_interval());
            return;
        }
        let they_win = advert.priority > self.priority
            || (advert.priority == self.priority
                && address_as_integer(source) > address_as_integer(self.params.local_address));
        if they_win {
            actions.push(Action::RemoveAddresses);
            self.learn_master_adver_interval(advert);
            let reason = TransitionReason::HigherPriorityMaster {
                source,
                priority: advert.priority,
            };
            self.become_backup(now, reason, actions);
            self.heard_master = Some(HeardMaster {
                address: source,
                priority: advert.priority,
                accepted: true,
            });
        } else {
            // A lower-priority master means a split brain (e.g. adverts were filtered).
            // Answer at once so it steps down, and re-announce our MAC for the VIPs, since
            // hosts may have learned the other router's (as keepalived does).
            self.send_advertisement(self.priority, actions);
            self.advert_at = Some(now + self.advert_interval());
            actions.push(Action::SendGratuitousArp);
        }
    }

    // ---- Transitions -------------------------------------------------------------------

    /// Become master: addresses, GARP, advert, then the Transition (RFC 3768 §6.4.1 / §6.4.2).
    fn become_master(&mut self, now: Instant, reason: TransitionReason, actions: &mut Vec<Action>) {
        let from = self.state;
        actions.push(Action::AddAddresses);
        self.garp = GarpTimers {
            burst: None,
            second_burst_at: self.params.garp.second_burst_delay.map(|delay| now + delay),
            refresh_at: self.garp_refresh_period().map(|period| now + period),
        };
        self.start_garp_burst(now, actions);
        self.send_advertisement(self.priority, actions);
        self.enter(from, State::Master, reason, actions);
        self.advert_at = Some(now + self.advert_interval());
    }

    fn become_backup(&mut self, now: Instant, reason: TransitionReason, actions: &mut Vec<Action>) {
        let from = self.state;
        self.enter(from, State::Backup, reason, actions);
        self.master_down_at = Some(now + self.master_down_interval());
    }

    /// Change state: clear every timer of the old state and emit the one Transition.
    fn enter(
        &mut self,
        from: State,
        to: State,
        reason: TransitionReason,
        actions: &mut Vec<Action>,
    ) {
        if to != State::Master {
            self.advert_at = None;
            self.garp = GarpTimers::default();
        }
        self.master_down_at = None;
        self.master_resigned = false;
        self.heard_master = None;
        if matches!(to, State::Initialize | State::Fault) {
            self.preempt_allowed_at = None;
        }
        self.state = to;
        self.stats.transitions += 1;
        actions.push(Action::Transition { from, to, reason });
    }

    // ---- Timers ------------------------------------------------------------------------

    fn earliest_timer(&self) -> Option<(Instant, Timer)> {
        let candidates: [(Option<Instant>, Timer); 5] = match self.state {
            State::Backup => [
                (self.master_down_at, Timer::MasterDown),
                (None, Timer::Advertisement),
                (None, Timer::GarpBurstFrame),
                (None, Timer::GarpSecondBurst),
                (None, Timer::GarpRefresh),
            ],
            State::Master => [
                (None, Timer::MasterDown),
                (self.advert_at, Timer::Advertisement),
                (
                    self.garp.burst.map(|burst| burst.next_at),
                    Timer::GarpBurstFrame,
                ),
                (self.garp.second_burst_at, Timer::GarpSecondBurst),
                (self.garp.refresh_at, Timer::GarpRefresh),
            ],
            State::Initialize | State::Fault => return None,
        };
        candidates
            .into_iter()
            .filter_map(|(at, timer)| at.map(|at| (at, timer)))
            .min_by_key(|(at, _)| *at)
    }

    fn fire(&mut self, timer: Timer, at: Instant, now: Instant, actions: &mut Vec<Action>) {
        match timer {
            Timer::MasterDown => {
                let reason = if self.master_resigned {
                    TransitionReason::MasterResigned
                } else {
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
                };
                self.become_master(now, reason, actions);
            }
            Timer::Advertisement => {
                self.send_advertisement(self.priority, actions);
                self.advert_at = Some(next_period(at, self.advert_interval(), now));
            }
            Timer::GarpBurstFrame => {
                actions.push(Action::SendGratuitousArp);
                self.garp.burst = self.garp.burst.and_then(|burst| {
                    let remaining = burst.remaining.saturating_sub(1);
                    (remaining > 0).then(|| GarpBurst {
                        next_at: burst.next_at + self.params.garp.burst_spacing,
                        remaining,
                    })
                });
            }
            Timer::GarpSecondBurst => {
                self.garp.second_burst_at = None;
                self.start_garp_burst(now, actions);
            }
            Timer::GarpRefresh => {
                self.garp.refresh_at = self
                    .garp_refresh_period()
                    .map(|period| next_period(at, period, now));
                self.start_garp_burst(now, actions);
            }
        }
    }

    /// One burst of `burst_count` frames: the first now, the others `burst_spacing` apart
    /// (all now when the spacing is zero). A burst replaces one still in progress.
    fn start_garp_burst(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let count = self.params.garp.burst_count.min(MAX_GARP_BURST_COUNT);
        if count == 0 {
            self.garp.burst = None;
            return;
        }
        let spacing = self.params.garp.burst_spacing;
        if spacing.is_zero() {
            actions.extend((0..count).map(|_| Action::SendGratuitousArp));
            self.garp.burst = None;
        } else {
            actions.push(Action::SendGratuitousArp);
            self.garp.burst = (count > 1).then(|| GarpBurst {
                next_at: now + spacing,
                remaining: count - 1,
            });
        }
    }

    // ---- Helpers -----------------------------------------------------------------------

    fn send_advertisement(&mut self, priority: u8, actions: &mut Vec<Action>) {
        let authentication = match self.params.version {
            Version::V2 => self.params.authentication.clone(),
            Version::V3 => Authentication::None,
        };
        self.stats.adverts_sent += 1;
        actions.push(Action::SendAdvertisement(Advertisement {
            version: self.params.version,
            virtual_router_id: self.params.virtual_router_id,
            priority,
            interval_cs: self.params.advert_interval_cs,
            addresses: self.params.addresses.clone(),
            authentication,
        }));
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

    fn garp_refresh_period(&self) -> Option<Duration> {
        self.params
            .garp
            .master_refresh
            .filter(|period| !period.is_zero())
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
    let theirs: std::collections::BTreeSet<_> = theirs.iter().collect();
    let ours: std::collections::BTreeSet<_> = ours.iter().collect();
    theirs == ours
}
