//! Tracking policy: how check results become an effective priority or a FAULT.
//!
//! Pure, like the rest of the core: the driver runs the checks (off the protocol loop) and
//! feeds each result to a [`RiseFall`] counter; [`effective_priority`] then combines the
//! tracker states of one instance, and the driver hands the outcome to the
//! [`super::Instance`] through `set_priority` and `Input::TrackerFault` /
//! `Input::TrackerRecovered`.
//!
//! Semantics (keepalived's `track_script` / `track_interface` / `track_file` weights):
//! - a boolean tracker (interface, TCP, HTTP, exec) with weight > 0 adds its weight while
//!   healthy; with weight < 0 it adds its (negative) weight while failed; with weight 0 a
//!   failure puts the instance in FAULT;
//! - a file tracker contributes `value × weight`; with weight 0 any non-zero value is a
//!   FAULT, and a contribution of −254 or less is a FAULT too (it would push any base
//!   priority to the floor of 1: the file means "never master");
//! - effective priority = base + contributions, clamped to 1..=254; an address owner (255,
//!   RFC 3768 §5.3.4) is never changed by weights (but can still be put in FAULT).

use super::state::OWNER_PRIORITY;

/// Highest priority a non-owner can advertise (RFC 3768 §5.3.4: 255 is the owner's).
pub const MAX_BACKUP_PRIORITY: u8 = OWNER_PRIORITY - 1;
/// Lowest priority a running router can advertise (0 means "resigning").
pub const MIN_PRIORITY: u8 = 1;
/// A file tracker contribution at or below this puts the instance in FAULT: it would pull
/// even the highest base priority (254) to the floor.
pub const FILE_FAULT_THRESHOLD: i64 = -254;

/// Consecutive-result counting: `rise` successes to become healthy, `fall` failures to
/// become failed.
///
/// Until the first result arrives the tracker is healthy (so a daemon does not start in
/// FAULT because a check had no time to run yet). The first result sets the state at once:
/// a check that fails from the start must not let this router win an election for
/// `fall` intervals. After that, a change needs `rise` (or `fall`) results in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    healthy: bool,
    /// Whether any result has been recorded yet.
    seen_result: bool,
    /// Results in a row that disagree with `healthy`.
    streak: u32,
}

impl RiseFall {
    /// `rise` and `fall` below 1 count as 1.
    pub fn new(rise: u32, fall: u32) -> Self {
        RiseFall {
            rise: rise.max(1),
            fall: fall.max(1),
            healthy: true,
            seen_result: false,
            streak: 0,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Whether at least one result was recorded.
    pub fn seen_result(&self) -> bool {
        self.seen_result
    }

    /// Record one check result; returns the new state when it changed.
    pub fn record(&mut self, success: bool) -> Option<bool> {
        if !self.seen_result {
            self.seen_result = true;
            self.streak = 0;
            let changed = success != self.healthy;
            self.healthy = success;
            return changed.then_some(success);
        }
        if success == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if success { self.rise } else { self.fall };
        if self.streak >= needed {
            self.healthy = success;
            self.streak = 0;
            Some(success)
        } else {
            None
        }
    }
}

/// What one tracker currently says, as the policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackerInput {
    /// Interface, TCP, HTTP(S) and exec trackers: healthy or failed, with the instance's
    /// weight for it.
    Check { healthy: bool, weight: i32 },
    /// File tracker: the integer read from the file and the instance's weight for it.
    File { value: i64, weight: i32 },
}

/// A tracker's effect on one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contribution {
    /// Added to the base priority (0 when it has no effect right now).
    Weight(i64),
    /// Puts the instance in FAULT.
    Fault,
}

impl TrackerInput {
    pub fn contribution(self) -> Contribution {
        match self {
            TrackerInput::Check { healthy, weight } => match (weight, healthy) {
                (0, false) => Contribution::Fault,
                (0, true) => Contribution::Weight(0),
                (w, true) if w > 0 => Contribution::Weight(i64::from(w)),
                (w, false) if w < 0 => Contribution::Weight(i64::from(w)),
                _ => Contribution::Weight(0),
            },
            TrackerInput::File { value, weight } => {
                if weight == 0 {
                    return if value == 0 {
                        Contribution::Weight(0)
                    } else {
                        Contribution::Fault
                    };
                }
                let product = value.saturating_mul(i64::from(weight));
                if product <= FILE_FAULT_THRESHOLD {
                    Contribution::Fault
                } else {
                    Contribution::Weight(product)
                }
            }
        }
    }
}

/// The outcome for one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effective {
    /// The priority to advertise (set with `Instance::set_priority`).
    pub priority: u8,
    /// Whether a tracker puts the instance in FAULT.
    pub fault: bool,
}

/// Combine the base priority and the trackers' contributions.
pub fn effective_priority(base: u8, trackers: impl IntoIterator<Item = TrackerInput>) -> Effective {
    let mut sum: i64 = 0;
    let mut fault = false;
    for tracker in trackers {
        match tracker.contribution() {
            Contribution::Weight(weight) => sum = sum.saturating_add(weight),
            Contribution::Fault => fault = true,
        }
    }
    let priority = if base == OWNER_PRIORITY {
        OWNER_PRIORITY
    } else {
        let clamped = i64::from(base)
            .saturating_add(sum)
            .clamp(i64::from(MIN_PRIORITY), i64::from(MAX_BACKUP_PRIORITY));
        // In 1..=254 after the clamp.
        u8::try_from(clamped).unwrap_or(MAX_BACKUP_PRIORITY)
    };
    Effective { priority, fault }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(healthy: bool, weight: i32) -> TrackerInput {
        TrackerInput::Check { healthy, weight }
    }

    #[test]
    fn first_result_sets_the_state_at_once() {
        let mut failing = RiseFall::new(2, 3);
        assert!(failing.healthy() && !failing.seen_result());
        assert_eq!(failing.record(false), Some(false));
        assert!(!failing.healthy());
        let mut passing = RiseFall::new(2, 3);
        assert_eq!(passing.record(true), None, "already healthy");
        assert!(passing.healthy() && passing.seen_result());
    }

    #[test]
    fn fall_needs_consecutive_failures_and_rise_consecutive_successes() {
        let mut counter = RiseFall::new(2, 3);
        counter.record(true);
        assert_eq!(counter.record(false), None);
        assert_eq!(counter.record(false), None);
        // A success in between restarts the count.
        assert_eq!(counter.record(true), None);
        assert_eq!(counter.record(false), None);
        assert_eq!(counter.record(false), None);
        assert_eq!(counter.record(false), Some(false));
        assert!(!counter.healthy());
        assert_eq!(counter.record(false), None, "stays failed");
        assert_eq!(counter.record(true), None);
        assert_eq!(counter.record(false), None, "failure resets the rise count");
        assert_eq!(counter.record(true), None);
        assert_eq!(counter.record(true), Some(true));
        assert!(counter.healthy());
    }

    #[test]
    fn rise_and_fall_of_zero_mean_one() {
        let mut counter = RiseFall::new(0, 0);
        counter.record(true);
        assert_eq!(counter.record(false), Some(false));
        assert_eq!(counter.record(true), Some(true));
    }

    #[test]
    fn check_contributions_follow_keepalived() {
        assert_eq!(check(true, 0).contribution(), Contribution::Weight(0));
        assert_eq!(check(false, 0).contribution(), Contribution::Fault);
        assert_eq!(check(true, 20).contribution(), Contribution::Weight(20));
        assert_eq!(check(false, 20).contribution(), Contribution::Weight(0));
        assert_eq!(check(true, -60).contribution(), Contribution::Weight(0));
        assert_eq!(check(false, -60).contribution(), Contribution::Weight(-60));
    }

    #[test]
    fn file_contributions_multiply_and_fault() {
        let file = |value, weight| TrackerInput::File { value, weight }.contribution();
        assert_eq!(file(3, -10), Contribution::Weight(-30));
        assert_eq!(file(-2, 5), Contribution::Weight(-10));
        assert_eq!(file(0, 0), Contribution::Weight(0));
        assert_eq!(file(1, 0), Contribution::Fault);
        assert_eq!(file(-1, 0), Contribution::Fault);
        assert_eq!(file(254, -1), Contribution::Fault);
        assert_eq!(file(253, -1), Contribution::Weight(-253));
        assert_eq!(file(i64::MAX, -254), Contribution::Fault, "no overflow");
    }

    #[test]
    fn weights_add_up_and_clamp_to_1_254() {
        let e = effective_priority(150, [check(false, -60), check(true, 10)]);
        assert_eq!(
            e,
            Effective {
                priority: 100,
                fault: false
            }
        );
        assert_eq!(effective_priority(100, [check(false, -200)]).priority, 1);
        assert_eq!(effective_priority(200, [check(true, 100)]).priority, 254);
        assert_eq!(effective_priority(150, []).priority, 150);
        assert_eq!(
            effective_priority(
                1,
                [TrackerInput::File {
                    value: i64::MAX,
                    weight: 254
                }]
            )
            .priority,
            254
        );
    }

    #[test]
    fn an_owner_keeps_255_but_can_fault() {
        assert_eq!(
            effective_priority(255, [check(false, -60), check(true, 10)]),
            Effective {
                priority: 255,
                fault: false
            }
        );
        assert_eq!(
            effective_priority(255, [check(false, 0)]),
            Effective {
                priority: 255,
                fault: true
            }
        );
    }

    #[test]
    fn any_fault_wins_over_weights() {
        let e = effective_priority(150, [check(true, 50), check(false, 0)]);
        assert!(e.fault);
        assert_eq!(e.priority, 200, "the priority is still computed for status");
    }

    /// Every base and weight combination stays within 1..=254 (255 only for the owner).
    #[test]
    fn exhaustive_range() {
        for base in 1..=255u8 {
            for weight in (-300..=300).step_by(7) {
                for healthy in [false, true] {
                    let e = effective_priority(base, [check(healthy, weight)]);
                    if base == 255 {
                        assert_eq!(e.priority, 255);
                    } else {
                        assert!((1..=254).contains(&e.priority), "{base} {weight}");
                        let expected = match check(healthy, weight).contribution() {
                            Contribution::Weight(w) => (i64::from(base) + w).clamp(1, 254),
                            Contribution::Fault => i64::from(base),
                        };
                        assert_eq!(i64::from(e.priority), expected);
                    }
                    assert_eq!(e.fault, weight == 0 && !healthy);
                }
            }
        }
    }
}

/// The core's fault input (`Input::TrackerFault` / `TrackerRecovered`) together with the
/// link inputs, on a real [`super::Instance`].
#[cfg(test)]
mod instance_tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    use crate::core::state::GarpParams;
    use crate::core::{
        Action, Authentication, ChecksumMode, Input, Instance, InstanceParams, State,
        TransitionReason, Version,
    };

    fn params(priority: u8) -> InstanceParams {
        InstanceParams {
            version: Version::V2,
            virtual_router_id: 50,
            priority,
            advert_interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            authentication: Authentication::simple_password(b"password"),
            addresses: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 40))],
            local_address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 41)),
            checksum_mode: ChecksumMode::default(),
            garp: GarpParams {
                burst_count: 1,
                burst_spacing: Duration::ZERO,
                second_burst_delay: None,
                master_refresh: None,
            },
        }
    }

    fn master(start: Instant) -> (Instance, Instant) {
        let mut instance = Instance::new(params(150));
        instance.handle(start, Input::Startup);
        let at = instance.next_deadline().unwrap();
        instance.on_timeout(at);
        assert_eq!(instance.state(), State::Master);
        (instance, at)
    }

    fn transition(actions: &[Action]) -> Option<(State, State, TransitionReason)> {
        actions.iter().find_map(|action| match action {
            Action::Transition { from, to, reason } => Some((*from, *to, reason.clone())),
            _ => None,
        })
    }

    fn fault_reason() -> TransitionReason {
        TransitionReason::TrackerFault {
            tracker: "caddy".to_owned(),
        }
    }

    #[test]
    fn a_faulted_master_resigns_removes_addresses_and_goes_quiet() {
        let start = Instant::now();
        let (mut instance, at) = master(start);
        let actions = instance.handle(at, Input::TrackerFault { tracker: "caddy" });
        let resign = actions
            .iter()
            .position(|a| matches!(a, Action::SendAdvertisement(advert) if advert.priority == 0));
        let remove = actions.iter().position(|a| *a == Action::RemoveAddresses);
        assert!(resign.is_some() && remove.is_some(), "{actions:?}");
        assert_eq!(
            transition(&actions),
            Some((State::Master, State::Fault, fault_reason()))
        );
        assert_eq!(instance.state(), State::Fault);
        assert!(instance.tracker_fault());
        assert_eq!(instance.next_deadline(), None, "no adverts in FAULT");
        assert_eq!(instance.master_address(), None);
        // A second fault is not an event.
        assert!(
            instance
                .handle(at, Input::TrackerFault { tracker: "other" })
                .is_empty()
        );
    }

    #[test]
    fn recovery_starts_as_backup() {
        let start = Instant::now();
        let (mut instance, at) = master(start);
        instance.handle(at, Input::TrackerFault { tracker: "caddy" });
        let later = at + Duration::from_secs(5);
        let actions = instance.handle(later, Input::TrackerRecovered);
        assert_eq!(
            transition(&actions),
            Some((
                State::Fault,
                State::Backup,
                TransitionReason::TrackerRecovered
            ))
        );
        assert!(!instance.tracker_fault());
        assert_eq!(
            instance.next_deadline(),
            Some(later + instance.master_down_interval())
        );
        // Recovered when not faulted is not an event.
        assert!(instance.handle(later, Input::TrackerRecovered).is_empty());
    }

    #[test]
    fn a_backup_faults_without_sending() {
        let start = Instant::now();
        let mut instance = Instance::new(params(100));
        instance.handle(start, Input::Startup);
        let actions = instance.handle(start, Input::TrackerFault { tracker: "caddy" });
        assert_eq!(
            actions,
            vec![Action::Transition {
                from: State::Backup,
                to: State::Fault,
                reason: fault_reason()
            }]
        );
    }

    #[test]
    fn fault_before_startup_holds_until_recovered() {
        let start = Instant::now();
        let mut instance = Instance::new(params(100));
        instance.handle(start, Input::TrackerFault { tracker: "caddy" });
        assert_eq!(instance.state(), State::Fault);
        assert!(instance.handle(start, Input::Startup).is_empty());
        instance.handle(start, Input::TrackerRecovered);
        assert_eq!(instance.state(), State::Backup);
    }

    #[test]
    fn link_and_tracker_faults_both_have_to_clear() {
        let start = Instant::now();
        let (mut instance, at) = master(start);
        instance.handle(at, Input::LinkDown);
        instance.handle(at, Input::TrackerFault { tracker: "caddy" });
        assert!(
            instance.handle(at, Input::LinkUp).is_empty(),
            "tracker holds"
        );
        assert_eq!(instance.state(), State::Fault);
        instance.handle(at, Input::LinkDown);
        assert!(
            instance.handle(at, Input::TrackerRecovered).is_empty(),
            "link still down"
        );
        let actions = instance.handle(at, Input::LinkUp);
        assert_eq!(
            transition(&actions),
            Some((State::Fault, State::Backup, TransitionReason::LinkUp))
        );
    }

    #[test]
    fn a_sync_group_hold_and_a_tracker_fault_both_have_to_clear() {
        let start = Instant::now();
        let (mut instance, at) = master(start);
        instance.handle(at, Input::SyncHold);
        instance.handle(at, Input::TrackerFault { tracker: "caddy" });
        assert!(
            instance.handle(at, Input::TrackerRecovered).is_empty(),
            "still held by the group"
        );
        instance.handle(at, Input::TrackerFault { tracker: "caddy" });
        assert!(
            instance.handle(at, Input::SyncRelease).is_empty(),
            "still faulted by the tracker"
        );
        assert_eq!(instance.state(), State::Fault);
        let actions = instance.handle(at, Input::TrackerRecovered);
        assert_eq!(
            transition(&actions),
            Some((
                State::Fault,
                State::Backup,
                TransitionReason::TrackerRecovered
            ))
        );
    }

    #[test]
    fn an_owner_faults_and_comes_back_as_master() {
        let start = Instant::now();
        let mut instance = Instance::new(params(255));
        instance.handle(start, Input::Startup);
        assert_eq!(instance.state(), State::Master);
        instance.handle(start, Input::TrackerFault { tracker: "caddy" });
        assert_eq!(instance.state(), State::Fault);
        let actions = instance.handle(start, Input::TrackerRecovered);
        assert_eq!(
            transition(&actions),
            Some((
                State::Fault,
                State::Master,
                TransitionReason::TrackerRecovered
            ))
        );
    }

    #[test]
    fn set_priority_from_trackers_is_announced_by_a_master() {
        let start = Instant::now();
        let (mut instance, at) = master(start);
        let effective = super::effective_priority(
            150,
            [super::TrackerInput::Check {
                healthy: false,
                weight: -60,
            }],
        );
        let actions = instance.set_priority(at, effective.priority);
        assert_eq!(instance.priority(), 90);
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::SendAdvertisement(advert) if advert.priority == 90))
        );
    }
}
