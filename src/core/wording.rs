//! The daemon's words to operators: the one line per transition (worded like
//! keepalived's, which operators grep journals for), drop warnings, sync-group lines and
//! the STATUS= text. Pure, so the wording is unit-tested.

use std::net::IpAddr;

use super::packet::DropReason;
use super::state::{State, TransitionReason};
use super::sync_group::SyncCommand;

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
            format!(
                "holding {member} out of MASTER until no member is in FAULT of its own (link or tracker)"
            )
        }
        SyncCommand::Release => format!("releasing {member}: no member is in FAULT of its own"),
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

/// A virtual address someone else removed from a master: put back.
pub fn address_removed_line(
    instance: &str,
    address: IpAddr,
    interface: &str,
    handing_over: bool,
) -> String {
    let announce = if handing_over {
        "no gratuitous ARP/NA: handing over"
    } else {
        "announcing it again (gratuitous ARP/NA)"
    };
    format!(
        "({instance}) virtual address {address} was removed from {interface} while MASTER, \
         not by vrrpd: putting it back, {announce}"
    )
}

/// A virtual address someone else added to a non-master: taken away again.
pub fn address_added_line(
    instance: &str,
    address: IpAddr,
    interface: &str,
    state: State,
) -> String {
    format!(
        "({instance}) virtual address {address} appeared on {interface} while {}, not added \
         by vrrpd: removing it (only the master holds it)",
        state_name(state)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "(VI_public) sync group G_lb: VI_internal went from MASTER to FAULT; holding VI_public out of MASTER until no member is in FAULT of its own (link or tracker)"
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
            .ends_with("releasing B: no member is in FAULT of its own")
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
}
