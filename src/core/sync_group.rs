//! Sync groups: instances that are MASTER together or not at all (keepalived's
//! `vrrp_sync_group`), as a pure policy.
//!
//! VRRP itself (RFC 3768, RFC 5798) knows only independent virtual routers; a router with a
//! public and an internal address must not be master of one and backup of the other, or
//! traffic enters through one box and leaves through the other. The policy, evaluated after
//! every transition of a member, says which other members to push where:
//!
//! 1. **Fault holds the group.** While any member is in FAULT of its own (its interface is
//!    down, or a tracker with weight 0 failed), every other member is held in FAULT too ([`SyncCommand::Hold`]); a held master
//!    first resigns with a priority-0 advert, so the other router takes over after Skew_Time.
//! 2. **Recovery releases it.** Once no member has a fault of its own, the held members are
//!    released ([`SyncCommand::Release`]) and start again as BACKUP, like after a link-up.
//! 3. **Leaving MASTER for BACKUP takes the group along.** When a member goes from MASTER to
//!    BACKUP, every other member in MASTER resigns (priority-0 advert) and becomes BACKUP
//!    ([`SyncCommand::ForceBackup`]).
//! 4. **Becoming MASTER takes the group along.** When a member becomes MASTER, every other
//!    member in BACKUP becomes MASTER at once ([`SyncCommand::ForceMaster`]); and a member
//!    that joins as BACKUP (after startup or a release) while another member is MASTER is
//!    made MASTER too.
//!
//! Transitions to INIT (shutdown, reload) move nobody. Forced transitions are transitions
//! like any other and are fed back through the policy; every rule only moves members
//! towards the state that triggered it, so the cascade ends after at most one round per
//! member.
//!
//! keepalived differs in one point: its forced BACKUP sends no priority-0 advert, so the
//! other router waits a whole Master_Down_Interval; vrrpd resigns so it takes over after
//! Skew_Time. Like with keepalived, the members of a group must rank the routers the same
//! way (the same router has the highest priority in every member), or the group flaps.

use super::state::State;

/// What one member of a sync group looks like to the policy.
///
/// A member is in INIT before it starts and after it stops; the policy commands no member
/// in INIT to hold, and a transition to INIT moves nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    pub state: State,
    /// Held in FAULT by the group ([`SyncCommand::Hold`]), not released yet.
    pub held: bool,
    /// In FAULT of its own: its interface is down or a tracker holds it there, not only
    /// its group (false in any other state).
    pub own_fault: bool,
}

/// A transition of one member: index into the member list, old and new state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberTransition {
    pub member: usize,
    pub from: State,
    pub to: State,
}

/// What the group asks of one member. Each maps to one core input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncCommand {
    /// MASTER → resign (priority 0) → BACKUP. `Input::SyncForceBackup`.
    ForceBackup,
    /// BACKUP → MASTER now. `Input::SyncForceMaster`.
    ForceMaster,
    /// Go to (or stay in) FAULT until released; a master resigns first. `Input::SyncHold`.
    Hold,
    /// End a hold: start as BACKUP unless the interface is down or a tracker holds FAULT.
    /// `Input::SyncRelease`.
    Release,
}

/// The commands for the other members after `transition` (None: just re-check the holds,
/// e.g. after a reload). Members are identified by their index in `members`, which holds
/// every running member (a member that is not running is simply left out). The member
/// that moved is never commanded by its own transition's rules 3 and 4.
pub fn follow(
    members: &[MemberStatus],
    transition: Option<MemberTransition>,
) -> Vec<(usize, SyncCommand)> {
    // Rule 1: a fault of its own anywhere holds everybody else not held yet. A member at
    // fault is in FAULT anyway; it is not held, so that its recovery is a transition of
    // its own (FAULT → BACKUP) that brings the policy back. A member in INIT is not
    // running: it is held, if need be, once it starts.
    if members.iter().any(|member| member.own_fault) {
        return members
            .iter()
            .enumerate()
            .filter(|(_, member)| {
                !member.held && !member.own_fault && member.state != State::Initialize
            })
            .map(|(index, _)| (index, SyncCommand::Hold))
            .collect();
    }
    // Rule 2: nobody is at fault: release every hold.
    let mut commands: Vec<(usize, SyncCommand)> = members
        .iter()
        .enumerate()
        .filter(|(_, member)| member.held)
        .map(|(index, _)| (index, SyncCommand::Release))
        .collect();
    let Some(transition) = transition else {
        return commands;
    };
    let others = || {
        members
            .iter()
            .enumerate()
            .filter(move |(index, member)| *index != transition.member && !member.held)
    };
    match (transition.from, transition.to) {
        // Rule 3.
        (State::Master, State::Backup) => commands.extend(
            others()
                .filter(|(_, member)| member.state == State::Master)
                .map(|(index, _)| (index, SyncCommand::ForceBackup)),
        ),
        // Rule 4: the group follows a new master.
        (from, State::Master) if from != State::Master => commands.extend(
            others()
                .filter(|(_, member)| member.state == State::Backup)
                .map(|(index, _)| (index, SyncCommand::ForceMaster)),
        ),
        // Rule 4: a member joining as backup follows a group that is master.
        (State::Initialize | State::Fault, State::Backup)
            if others().any(|(_, member)| member.state == State::Master) =>
        {
            commands.push((transition.member, SyncCommand::ForceMaster));
        }
        _ => {}
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [State; 4] = [
        State::Initialize,
        State::Backup,
        State::Master,
        State::Fault,
    ];

    fn member(state: State) -> MemberStatus {
        MemberStatus {
            state,
            held: false,
            own_fault: false,
        }
    }

    fn moved(member: usize, from: State, to: State) -> Option<MemberTransition> {
        Some(MemberTransition { member, from, to })
    }

    #[test]
    fn a_member_going_backup_takes_the_masters_along() {
        let members = [
            member(State::Backup),
            member(State::Master),
            member(State::Master),
        ];
        assert_eq!(
            follow(&members, moved(0, State::Master, State::Backup)),
            vec![(1, SyncCommand::ForceBackup), (2, SyncCommand::ForceBackup)]
        );
    }

    #[test]
    fn a_member_becoming_master_takes_the_backups_along() {
        let members = [
            member(State::Master),
            member(State::Backup),
            member(State::Initialize),
        ];
        assert_eq!(
            follow(&members, moved(0, State::Backup, State::Master)),
            vec![(1, SyncCommand::ForceMaster)]
        );
    }

    #[test]
    fn a_link_down_member_holds_the_whole_group() {
        let members = [
            MemberStatus {
                state: State::Fault,
                held: false,
                own_fault: true,
            },
            member(State::Master),
            member(State::Backup),
        ];
        assert_eq!(
            follow(&members, moved(0, State::Master, State::Fault)),
            vec![(1, SyncCommand::Hold), (2, SyncCommand::Hold)]
        );
    }

    #[test]
    fn the_hold_ends_when_the_last_fault_clears() {
        let held = |state, own_fault| MemberStatus {
            state,
            held: true,
            own_fault,
        };
        // Two links down: one coming back (to BACKUP) is not enough, it is held too.
        let members = [
            member(State::Backup),
            MemberStatus {
                state: State::Fault,
                held: false,
                own_fault: true,
            },
            held(State::Fault, false),
        ];
        assert_eq!(
            follow(&members, moved(0, State::Fault, State::Backup)),
            vec![(0, SyncCommand::Hold)]
        );
        let members = [
            held(State::Fault, false),
            held(State::Fault, false),
            held(State::Fault, false),
        ];
        assert_eq!(
            follow(&members, None),
            vec![
                (0, SyncCommand::Release),
                (1, SyncCommand::Release),
                (2, SyncCommand::Release)
            ]
        );
    }

    #[test]
    fn a_member_joining_a_master_group_becomes_master() {
        let members = [member(State::Master), member(State::Backup)];
        assert_eq!(
            follow(&members, moved(1, State::Initialize, State::Backup)),
            vec![(1, SyncCommand::ForceMaster)]
        );
        // Not when it came down from MASTER: that is rule 3's business.
        assert_eq!(
            follow(&members, moved(1, State::Master, State::Backup)),
            vec![(0, SyncCommand::ForceBackup)]
        );
    }

    #[test]
    fn shutdown_moves_nobody() {
        let members = [member(State::Initialize), member(State::Master)];
        assert_eq!(
            follow(&members, moved(0, State::Master, State::Initialize)),
            vec![]
        );
    }

    /// A small model of how the core reacts to each command (see `Instance::handle`).
    fn apply(
        members: &mut [MemberStatus],
        index: usize,
        command: SyncCommand,
    ) -> Option<MemberTransition> {
        let member = &mut members[index];
        let from = member.state;
        let to = match command {
            SyncCommand::ForceBackup if from == State::Master => State::Backup,
            SyncCommand::ForceMaster if from == State::Backup => State::Master,
            SyncCommand::Hold => {
                member.held = true;
                State::Fault
            }
            SyncCommand::Release => {
                member.held = false;
                if from == State::Fault && !member.own_fault {
                    State::Backup
                } else {
                    from
                }
            }
            _ => from,
        };
        member.state = to;
        (from != to).then_some(MemberTransition {
            member: index,
            from,
            to,
        })
    }

    /// What can happen to one member on its own (not commanded by the group), as the
    /// core would do it; None when the event does not apply in the member's state.
    fn event(member: &mut MemberStatus, event: usize) -> Option<(State, State)> {
        let from = member.state;
        let to = match event {
            // LinkDown.
            0 if !member.own_fault => {
                member.own_fault = true;
                State::Fault
            }
            // LinkUp, as a normal router and as an address owner.
            1 | 2 if member.own_fault => {
                member.own_fault = false;
                match (member.held, event) {
                    (true, _) => State::Fault,
                    (false, 1) => State::Backup,
                    (false, _) => State::Master,
                }
            }
            // Master_Down_Timer fired.
            3 if from == State::Backup => State::Master,
            // A higher-priority advert.
            4 if from == State::Master => State::Backup,
            // Startup (a held member goes to FAULT instead).
            5 if from == State::Initialize && member.held => State::Fault,
            5 if from == State::Initialize => State::Backup,
            // Shutdown: no longer in FAULT of its own.
            6 if from != State::Initialize => {
                member.own_fault = false;
                State::Initialize
            }
            _ => return None,
        };
        member.state = to;
        Some((from, to))
    }

    /// The group invariant: master together or not at all, held exactly while a member is
    /// at fault.
    fn consistent(members: &[MemberStatus]) -> bool {
        let at_fault = members.iter().any(|m| m.own_fault);
        let holds_right = members.iter().all(|m| {
            if m.state == State::Initialize {
                !m.own_fault
            } else if m.own_fault {
                m.state == State::Fault
            } else if at_fault {
                m.held && m.state == State::Fault
            } else {
                !m.held
            }
        });
        let masters = members.iter().any(|m| m.state == State::Master);
        let backups = members.iter().any(|m| m.state == State::Backup);
        holds_right && !(masters && backups)
    }

    /// Every consistent group of three members, hit by every event on every member: feeding
    /// the commands (and the transitions they cause) back until nothing moves always ends
    /// in a consistent group, within a few rounds.
    #[test]
    fn every_event_on_every_consistent_group_settles_consistently() {
        let mut cases = 0;
        for code in 0..(16u32 * 16 * 16) {
            let start: Vec<MemberStatus> = (0..3)
                .map(|i| {
                    let bits = (code >> (4 * i)) & 0xf;
                    MemberStatus {
                        state: STATES[(bits & 3) as usize],
                        held: bits & 4 != 0,
                        own_fault: bits & 8 != 0,
                    }
                })
                .collect();
            // The core keeps a member with a fault of its own, or held, in FAULT.
            if start
                .iter()
                .any(|m| (m.own_fault || m.held) && m.state != State::Fault)
                || !consistent(&start)
            {
                continue;
            }
            for mover in 0..3 {
                for kind in 0..7 {
                    let mut members = start.clone();
                    let Some((from, to)) = event(&mut members[mover], kind) else {
                        continue;
                    };
                    cases += 1;
                    let mut pending = vec![MemberTransition {
                        member: mover,
                        from,
                        to,
                    }];
                    let mut rounds = 0;
                    while let Some(transition) = pending.pop() {
                        rounds += 1;
                        assert!(rounds <= 10, "no fixed point from {start:?}");
                        for (index, command) in follow(&members, Some(transition)) {
                            pending.extend(apply(&mut members, index, command));
                        }
                    }
                    // Nothing left to do, and the group is consistent again.
                    assert_eq!(follow(&members, None), vec![], "{start:?} → {members:?}");
                    assert!(
                        consistent(&members),
                        "event {kind} on member {mover}: {start:?} → {members:?}"
                    );
                }
            }
        }
        assert!(cases > 100, "only {cases} cases");
    }
}
