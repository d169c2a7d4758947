//! The VRRP state machine: RFC 3768 §6 (v2), RFC 5798 §6 / RFC 9568 §6 (v3).
//!
//! Pure: the caller passes `now`, feeds inputs, performs the returned actions and
//! calls [`Instance::on_timeout`] at [`Instance::next_deadline`].
//!
//! API CONTRACT (shared by the driver): keep these names and signatures; add freely.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::packet::{Advertisement, Authentication, ChecksumMode, DropReason, Version};

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
    pub adverts_received: u64,
    pub transitions: u64,
    /// Indexed like [`DropReason::ALL`].
    pub drops: std::collections::BTreeMap<DropReason, u64>,
}

/// One virtual router.
#[derive(Debug)]
pub struct Instance {
    params: InstanceParams,
    state: State,
}

impl Instance {
    pub fn new(params: InstanceParams) -> Self {
        Instance {
            params,
            state: State::Initialize,
        }
    }
    pub fn params(&self) -> &InstanceParams {
        &self.params
    }
    pub fn state(&self) -> State {
        self.state
    }
    /// Handle one input at `now`.
    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Vec<Action> {
        let _ = (now, input);
        todo!("core helper implements")
    }
    /// Fire every timer due at or before `now`.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action> {
        let _ = now;
        todo!("core helper implements")
    }
    /// When [`Instance::on_timeout`] must next be called; None when idle (Initialize/Fault).
    pub fn next_deadline(&self) -> Option<Instant> {
        todo!("core helper implements")
    }
    /// Change the priority at runtime (reload, trackers). Never changes an owner's 255.
    pub fn set_priority(&mut self, now: Instant, priority: u8) -> Vec<Action> {
        let _ = (now, priority);
        todo!("core helper implements")
    }
    /// The current master's address as we know it (ourselves when master).
    pub fn master_address(&self) -> Option<IpAddr> {
        todo!("core helper implements")
    }
    pub fn stats(&self) -> &Stats {
        todo!("core helper implements")
    }
    /// Count a drop detected before the instance was found (e.g. bad TTL).
    pub fn count_drop(&mut self, reason: DropReason) {
        let _ = reason;
        todo!("core helper implements")
    }
}
