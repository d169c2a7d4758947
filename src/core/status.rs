//! What `vrrpd status` and `/metrics` report: the status model (serialized as the control
//! socket's JSON answer), its table rendering and its Prometheus text rendering.
//!
//! Pure: built by the node (`core::node`) from its instances and trackers, rendered here, so the
//! wording and the metric names are unit-tested without root.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The whole daemon.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub instances: Vec<InstanceStatus>,
    pub trackers: Vec<TrackerStatus>,
    /// Drops that no instance could be blamed for (unknown VRID, unparsable packets),
    /// by interface and reason label.
    #[serde(default)]
    pub interface_drops: BTreeMap<String, BTreeMap<String, u64>>,
    /// SIGHUP reloads since start.
    #[serde(default)]
    pub reloads: ReloadStats,
}

/// Reloads since start: how many were applied, how many refused (the previous config kept
/// running), and the newest one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadStats {
    pub succeeded: u64,
    pub failed: u64,
    pub last: Option<LastReload>,
}

/// The outcome of the newest reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReload {
    pub succeeded: bool,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

/// One VRRP instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub virtual_router_id: u8,
    /// "INIT", "BACKUP", "MASTER" or "FAULT" (keepalived's names).
    pub state: String,
    /// The configured priority.
    pub base_priority: u8,
    /// The priority advertised now (base + tracker weights, 1..254; 255 for an owner).
    pub effective_priority: u8,
    pub tracks: Vec<TrackContribution>,
    /// The current master as far as this router knows (itself when master).
    pub master_address: Option<IpAddr>,
    /// The newest of `recent_transitions` (kept for readers of earlier versions).
    pub last_transition: Option<TransitionRecord>,
    /// The last state changes, oldest first, at most
    /// [`RECENT_TRANSITIONS`](crate::core::node::RECENT_TRANSITIONS).
    #[serde(default)]
    pub recent_transitions: Vec<TransitionRecord>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub transitions: u64,
    /// Dropped adverts by reason label (e.g. "auth_mismatch").
    pub drops: BTreeMap<String, u64>,
    /// Demoted by the operator (`vrrpd demote`): it advertises priority 1 and stays
    /// backup until `vrrpd promote`; `effective_priority` is what it returns to.
    #[serde(default)]
    pub demoted: bool,
    /// A master resigned and waiting for the new master's advert (make-before-break).
    #[serde(default)]
    pub handing_over: bool,
    /// Gratuitous ARP frames and unsolicited Neighbor Advertisements sent.
    #[serde(default)]
    pub announcements_sent: u64,
    /// Virtual addresses put back after someone else removed them while master.
    #[serde(default)]
    pub addresses_restored: u64,
    /// Virtual routes and rules put back after someone else removed them while master.
    #[serde(default)]
    pub routes_restored: u64,
}

/// One tracker's effect on one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackContribution {
    pub tracker: String,
    pub weight: i32,
    /// What it adds to the priority now (0 when it has no effect).
    pub contribution: i64,
    /// Whether it holds the instance in FAULT.
    pub fault: bool,
}

/// The last state change of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRecord {
    pub from: String,
    pub to: String,
    /// The reason, in the words of the log line.
    pub reason: String,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

/// One tracker (health check).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerStatus {
    pub name: String,
    /// "interface", "tcp", "http", "exec" or "file".
    pub kind: String,
    /// The rise/fall-filtered state.
    pub healthy: bool,
    /// False until the first check finished.
    pub checked: bool,
    /// A file tracker's integer.
    pub value: Option<i64>,
    /// What the last check found, e.g. "HTTP 200" or "connection refused".
    pub last_result: String,
    pub checks: u64,
    pub failures: u64,
}

/// The table `vrrpd status` prints. `now_unix_ms` gives the "ago" of the last transition.
pub fn render_table(report: &StatusReport, now_unix_ms: u64) -> String {
    let mut out = String::new();
    if report.instances.is_empty() {
        out.push_str("no VRRP instances\n");
    }
    for instance in &report.instances {
        let hold = match (instance.handing_over, instance.demoted) {
            (true, _) => ", handing over",
            (false, true) => ", demoted (advertises priority 1 until `vrrpd promote`)",
            (false, false) => "",
        };
        let _ = writeln!(
            out,
            "{} ({} VRID {}): {}{hold}",
            instance.name, instance.interface, instance.virtual_router_id, instance.state
        );
        let tracks: Vec<String> = instance
            .tracks
            .iter()
            .map(|track| {
                if track.fault {
                    format!("{} FAULT", track.tracker)
                } else {
                    format!("{} {:+}", track.tracker, track.contribution)
                }
            })
            .collect();
        let tracks = if tracks.is_empty() {
            String::new()
        } else {
            format!(" ({})", tracks.join(", "))
        };
        let _ = writeln!(
            out,
            "  priority       {} -> {}{tracks}",
            instance.base_priority, instance.effective_priority
        );
        let master = instance
            .master_address
            .map_or_else(|| "unknown".to_owned(), |address| address.to_string());
        let _ = writeln!(out, "  master         {master}");
        // Newest first, like a log read backwards: the first line is the current state's
        // cause. A report from an older daemon has only `last_transition`.
        let recent: Vec<&TransitionRecord> = if instance.recent_transitions.is_empty() {
            instance.last_transition.iter().collect()
        } else {
            instance.recent_transitions.iter().rev().collect()
        };
        if recent.is_empty() {
            out.push_str("  last change    none\n");
        }
        for (position, change) in recent.iter().enumerate() {
            let ago = now_unix_ms.saturating_sub(change.at_unix_ms) / 1000;
            let _ = writeln!(
                out,
                "  {:<14} {} -> {}, {} ago: {}",
                if position == 0 { "last change" } else { "" },
                change.from,
                change.to,
                human_duration(ago),
                change.reason
            );
        }
        let _ = writeln!(
            out,
            "  adverts        {} sent, {} received; {} transitions",
            instance.adverts_sent, instance.adverts_received, instance.transitions
        );
        let drops: Vec<String> = instance
            .drops
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(reason, count)| format!("{reason} {count}"))
            .collect();
        let _ = writeln!(
            out,
            "  drops          {}",
            if drops.is_empty() {
                "none".to_owned()
            } else {
                drops.join(", ")
            }
        );
    }
    for (interface, reasons) in &report.interface_drops {
        let reasons: Vec<String> = reasons
            .iter()
            .map(|(reason, count)| format!("{reason} {count}"))
            .collect();
        let _ = writeln!(
            out,
            "{interface}: dropped before reaching an instance: {}",
            reasons.join(", ")
        );
    }
    if !report.trackers.is_empty() {
        out.push_str("trackers\n");
        let width = report
            .trackers
            .iter()
            .map(|tracker| tracker.name.len())
            .max()
            .unwrap_or(0);
        for tracker in &report.trackers {
            let state = match (tracker.checked, tracker.healthy, tracker.value) {
                (false, _, _) => "pending".to_owned(),
                (true, _, Some(value)) => format!("value {value}"),
                (true, true, None) => "up".to_owned(),
                (true, false, None) => "DOWN".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {:width$}  {:9}  {:8}  {} ({} checks, {} failed)",
                tracker.name,
                tracker.kind,
                state,
                tracker.last_result,
                tracker.checks,
                tracker.failures,
            );
        }
    }
    out
}

fn human_duration(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds}s"),
        120..=7199 => format!("{}m{}s", seconds / 60, seconds % 60),
        _ => format!("{}h{}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// Every state, for the one-gauge-per-state encoding of `vrrpd_instance_state`.
pub const STATE_NAMES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

/// The Prometheus text exposition format (version 0.0.4).
///
/// Conventions: `vrrpd_` prefix, `_total` counters, base units; the state is one gauge per
/// state (1 for the current one) so that `vrrpd_instance_state{state="MASTER"} == 1`
/// selects masters; every instance series has an `instance_name` label (the `instance`
/// label is Prometheus's own target label, which a scrape would overwrite).
pub fn render_prometheus(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP vrrpd_build_info The running vrrpd's version (the value is always 1).\n\
         # TYPE vrrpd_build_info gauge\n\
         vrrpd_build_info{{version=\"{}\"}} 1",
        escape(env!("CARGO_PKG_VERSION"))
    );
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    };
    let instance_label = |instance: &InstanceStatus| {
        format!(
            "instance_name=\"{}\",interface=\"{}\",vrid=\"{}\"",
            escape(&instance.name),
            escape(&instance.interface),
            instance.virtual_router_id
        )
    };
    let per_instance = |value: &dyn Fn(&InstanceStatus) -> String| {
        report
            .instances
            .iter()
            .map(|instance| (instance_label(instance), value(instance)))
            .collect::<Vec<_>>()
    };
    family(
        "vrrpd_instance_state",
        "gauge",
        "1 for the instance's current state (INIT, BACKUP, MASTER, FAULT), 0 for the others.",
        report
            .instances
            .iter()
            .flat_map(|instance| {
                STATE_NAMES.iter().map(move |state| {
                    (
                        format!("{},state=\"{state}\"", instance_label(instance)),
                        u8::from(instance.state == *state).to_string(),
                    )
                })
            })
            .collect(),
    );
    family(
        "vrrpd_instance_priority",
        "gauge",
        "Priority advertised now (base plus tracker weights).",
        per_instance(&|i| i.effective_priority.to_string()),
    );
    family(
        "vrrpd_instance_demoted",
        "gauge",
        "1 while demoted by `vrrpd demote` (advertises priority 1, never preempts).",
        per_instance(&|i| u8::from(i.demoted).to_string()),
    );
    family(
        "vrrpd_instance_base_priority",
        "gauge",
        "Configured priority.",
        per_instance(&|i| i.base_priority.to_string()),
    );
    family(
        "vrrpd_instance_transitions_total",
        "counter",
        "State transitions.",
        per_instance(&|i| i.transitions.to_string()),
    );
    family(
        "vrrpd_instance_last_transition_timestamp_seconds",
        "gauge",
        "Unix time of the instance's last state change (absent before the first).",
        report
            .instances
            .iter()
            .filter_map(|instance| {
                let last = instance.last_transition.as_ref()?;
                Some((
                    instance_label(instance),
                    format!("{}.{:03}", last.at_unix_ms / 1000, last.at_unix_ms % 1000),
                ))
            })
            .collect(),
    );
    family(
        "vrrpd_instance_adverts_sent_total",
        "counter",
        "Advertisements sent.",
        per_instance(&|i| i.adverts_sent.to_string()),
    );
    family(
        "vrrpd_instance_announcements_sent_total",
        "counter",
        "Gratuitous ARP frames and unsolicited Neighbor Advertisements sent.",
        per_instance(&|i| i.announcements_sent.to_string()),
    );
    family(
        "vrrpd_instance_addresses_restored_total",
        "counter",
        "Virtual addresses put back after someone else removed them from the master.",
        per_instance(&|i| i.addresses_restored.to_string()),
    );
    family(
        "vrrpd_instance_routes_restored_total",
        "counter",
        "Virtual routes and rules put back after someone else removed them from the master.",
        per_instance(&|i| i.routes_restored.to_string()),
    );
    family(
        "vrrpd_reloads_total",
        "counter",
        "Reloads (SIGHUP), by result: success (applied) or failure (the previous config kept).",
        vec![
            (
                "result=\"success\"".to_owned(),
                report.reloads.succeeded.to_string(),
            ),
            (
                "result=\"failure\"".to_owned(),
                report.reloads.failed.to_string(),
            ),
        ],
    );
    family(
        "vrrpd_last_reload_success",
        "gauge",
        "1 if the newest reload was applied, 0 if it failed (absent before the first).",
        report
            .reloads
            .last
            .iter()
            .map(|last| (String::new(), u8::from(last.succeeded).to_string()))
            .collect(),
    );
    family(
        "vrrpd_last_reload_timestamp_seconds",
        "gauge",
        "Unix time of the newest reload (absent before the first).",
        report
            .reloads
            .last
            .iter()
            .map(|last| {
                (
                    String::new(),
                    format!("{}.{:03}", last.at_unix_ms / 1000, last.at_unix_ms % 1000),
                )
            })
            .collect(),
    );
    family(
        "vrrpd_instance_adverts_received_total",
        "counter",
        "Advertisements received that passed every check.",
        per_instance(&|i| i.adverts_received.to_string()),
    );
    let mut drops = Vec::new();
    for instance in &report.instances {
        for reason in crate::core::DropReason::ALL {
            let count = instance.drops.get(reason.label()).copied().unwrap_or(0);
            drops.push((
                format!("{},reason=\"{}\"", instance_label(instance), reason.label()),
                count.to_string(),
            ));
        }
    }
    family(
        "vrrpd_instance_adverts_dropped_total",
        "counter",
        "Received advertisements dropped, by reason.",
        drops,
    );
    let mut interface_drops = Vec::new();
    for (interface, reasons) in &report.interface_drops {
        for (reason, count) in reasons {
            interface_drops.push((
                format!(
                    "interface=\"{}\",reason=\"{}\"",
                    escape(interface),
                    escape(reason)
                ),
                count.to_string(),
            ));
        }
    }
    family(
        "vrrpd_interface_packets_dropped_total",
        "counter",
        "Received VRRP packets dropped before reaching an instance, by reason.",
        interface_drops,
    );
    let tracker_label = |tracker: &TrackerStatus| {
        format!(
            "tracker=\"{}\",kind=\"{}\"",
            escape(&tracker.name),
            escape(&tracker.kind)
        )
    };
    let per_tracker = |value: &dyn Fn(&TrackerStatus) -> String| {
        report
            .trackers
            .iter()
            .map(|tracker| (tracker_label(tracker), value(tracker)))
            .collect::<Vec<_>>()
    };
    family(
        "vrrpd_tracker_up",
        "gauge",
        "1 while the tracker counts as healthy (after rise/fall), else 0.",
        per_tracker(&|t| u8::from(t.healthy).to_string()),
    );
    family(
        "vrrpd_tracker_checks_total",
        "counter",
        "Checks run.",
        per_tracker(&|t| t.checks.to_string()),
    );
    family(
        "vrrpd_tracker_check_failures_total",
        "counter",
        "Checks that failed.",
        per_tracker(&|t| t.failures.to_string()),
    );
    family(
        "vrrpd_tracker_value",
        "gauge",
        "The integer a file tracker read.",
        report
            .trackers
            .iter()
            .filter_map(|t| t.value.map(|v| (tracker_label(t), v.to_string())))
            .collect(),
    );
    let mut contributions = Vec::new();
    for instance in &report.instances {
        for track in &instance.tracks {
            contributions.push((
                format!(
                    "{},tracker=\"{}\"",
                    instance_label(instance),
                    escape(&track.tracker)
                ),
                track.contribution.to_string(),
            ));
        }
    }
    family(
        "vrrpd_instance_tracker_contribution",
        "gauge",
        "What a tracker adds to the instance's priority now.",
        contributions,
    );
    out
}

/// Label value escaping of the text format: backslash, double quote, newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StatusReport {
        StatusReport {
            instances: vec![InstanceStatus {
                name: "VI_1".to_owned(),
                interface: "eth0".to_owned(),
                virtual_router_id: 50,
                state: "MASTER".to_owned(),
                base_priority: 150,
                effective_priority: 90,
                tracks: vec![TrackContribution {
                    tracker: "caddy".to_owned(),
                    weight: -60,
                    contribution: -60,
                    fault: false,
                }],
                master_address: Some("192.0.2.41".parse().unwrap()),
                last_transition: Some(TransitionRecord {
                    from: "BACKUP".to_owned(),
                    to: "MASTER".to_owned(),
                    reason: "master down timer expired".to_owned(),
                    at_unix_ms: 1_000_000,
                }),
                // As an older daemon reports it: the table falls back to last_transition.
                recent_transitions: vec![],
                adverts_sent: 12,
                adverts_received: 3,
                transitions: 2,
                drops: BTreeMap::from([("auth_mismatch".to_owned(), 4)]),
                demoted: false,
                handing_over: false,
                announcements_sent: 6,
                addresses_restored: 1,
                routes_restored: 2,
            }],
            trackers: vec![TrackerStatus {
                name: "caddy".to_owned(),
                kind: "http".to_owned(),
                healthy: false,
                checked: true,
                value: None,
                last_result: "connection refused".to_owned(),
                checks: 10,
                failures: 4,
            }],
            interface_drops: BTreeMap::new(),
            reloads: ReloadStats::default(),
        }
    }

    #[test]
    fn table_shows_priorities_contributions_master_and_counters() {
        let table = render_table(&report(), 1_065_000);
        assert!(table.contains("VI_1 (eth0 VRID 50): MASTER"), "{table}");
        assert!(table.contains("150 -> 90 (caddy -60)"), "{table}");
        assert!(table.contains("master         192.0.2.41"), "{table}");
        assert!(
            table.contains("BACKUP -> MASTER, 65s ago: master down timer expired"),
            "{table}"
        );
        assert!(
            table.contains("12 sent, 3 received; 2 transitions"),
            "{table}"
        );
        assert!(table.contains("auth_mismatch 4"), "{table}");
        assert!(table.contains("DOWN"), "{table}");
        assert!(table.contains("(10 checks, 4 failed)"), "{table}");
        let mut with_strays = report();
        with_strays.interface_drops.insert(
            "eth0".to_owned(),
            BTreeMap::from([("unknown_vrid".to_owned(), 7)]),
        );
        let table = render_table(&with_strays, 1_065_000);
        assert!(
            table.contains("eth0: dropped before reaching an instance: unknown_vrid 7"),
            "{table}"
        );
    }

    #[test]
    fn table_lists_the_recent_transitions_newest_first() {
        let change = |from: &str, to: &str, reason: &str, at_unix_ms: u64| TransitionRecord {
            from: from.to_owned(),
            to: to.to_owned(),
            reason: reason.to_owned(),
            at_unix_ms,
        };
        let mut flapping = report();
        flapping.instances[0].recent_transitions = vec![
            change("INIT", "BACKUP", "startup", 1_000_000),
            change("BACKUP", "MASTER", "master down timer expired", 1_004_000),
            change(
                "MASTER",
                "BACKUP",
                "higher priority advert from 192.0.2.42",
                1_060_000,
            ),
        ];
        let table = render_table(&flapping, 1_065_000);
        let lines: Vec<&str> = table.lines().filter(|line| line.contains(" -> ")).collect();
        let changes: Vec<&str> = lines
            .iter()
            .filter(|line| line.contains(" ago: "))
            .copied()
            .collect();
        assert_eq!(changes.len(), 3, "{table}");
        assert!(
            changes[0].starts_with("  last change    MASTER -> BACKUP, 5s ago: higher priority"),
            "{table}"
        );
        assert!(
            changes[1].starts_with("                 BACKUP -> MASTER, 61s ago"),
            "{table}"
        );
        assert!(
            changes[2].contains("INIT -> BACKUP, 65s ago: startup"),
            "{table}"
        );
    }

    #[test]
    fn prometheus_text_has_conventional_names_and_one_gauge_per_state() {
        let text = render_prometheus(&report());
        let labels = "instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\"";
        for line in [
            format!("vrrpd_instance_state{{{labels},state=\"MASTER\"}} 1"),
            format!("vrrpd_instance_state{{{labels},state=\"BACKUP\"}} 0"),
            format!("vrrpd_instance_priority{{{labels}}} 90"),
            format!("vrrpd_instance_base_priority{{{labels}}} 150"),
            format!("vrrpd_instance_demoted{{{labels}}} 0"),
            format!("vrrpd_instance_transitions_total{{{labels}}} 2"),
            format!("vrrpd_instance_last_transition_timestamp_seconds{{{labels}}} 1000.000"),
            format!(
                "vrrpd_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
            format!("vrrpd_instance_adverts_sent_total{{{labels}}} 12"),
            format!("vrrpd_instance_adverts_received_total{{{labels}}} 3"),
            format!("vrrpd_instance_adverts_dropped_total{{{labels},reason=\"auth_mismatch\"}} 4"),
            format!("vrrpd_instance_adverts_dropped_total{{{labels},reason=\"bad_ttl\"}} 0"),
            format!("vrrpd_instance_tracker_contribution{{{labels},tracker=\"caddy\"}} -60"),
            "vrrpd_tracker_up{tracker=\"caddy\",kind=\"http\"} 0".to_owned(),
            "vrrpd_tracker_checks_total{tracker=\"caddy\",kind=\"http\"} 10".to_owned(),
            format!("vrrpd_instance_announcements_sent_total{{{labels}}} 6"),
            format!("vrrpd_instance_addresses_restored_total{{{labels}}} 1"),
            format!("vrrpd_instance_routes_restored_total{{{labels}}} 2"),
            "vrrpd_reloads_total{result=\"success\"} 0".to_owned(),
            "vrrpd_reloads_total{result=\"failure\"} 0".to_owned(),
            "# TYPE vrrpd_instance_transitions_total counter".to_owned(),
            "# TYPE vrrpd_instance_state gauge".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        // Every counter family ends in _total.
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = line.split_whitespace().skip(2);
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
            assert!(name.starts_with("vrrpd_"));
        }
    }

    #[test]
    fn reloads_show_as_counters_and_the_newest_outcome() {
        let text = render_prometheus(&report());
        // Before the first reload there is no outcome to report.
        assert!(!text.contains("\nvrrpd_last_reload_success "), "{text}");
        assert!(
            !text.contains("\nvrrpd_last_reload_timestamp_seconds "),
            "{text}"
        );
        let mut reloaded = report();
        reloaded.reloads = ReloadStats {
            succeeded: 3,
            failed: 1,
            last: Some(LastReload {
                succeeded: false,
                at_unix_ms: 1_700_000_000_250,
            }),
        };
        let text = render_prometheus(&reloaded);
        for line in [
            "vrrpd_reloads_total{result=\"success\"} 3",
            "vrrpd_reloads_total{result=\"failure\"} 1",
            "vrrpd_last_reload_success 0",
            "vrrpd_last_reload_timestamp_seconds 1700000000.250",
            "# TYPE vrrpd_last_reload_success gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn demoted_and_handing_over_show_in_table_and_metrics() {
        let mut demoted = report();
        demoted.instances[0].state = "BACKUP".to_owned();
        demoted.instances[0].demoted = true;
        let table = render_table(&demoted, 1_065_000);
        assert!(
            table.contains("VI_1 (eth0 VRID 50): BACKUP, demoted"),
            "{table}"
        );
        let text = render_prometheus(&demoted);
        assert!(
            text.lines().any(|l| l
                == "vrrpd_instance_demoted{instance_name=\"VI_1\",interface=\"eth0\",vrid=\"50\"} 1"),
            "{text}"
        );
        demoted.instances[0].handing_over = true;
        let table = render_table(&demoted, 1_065_000);
        assert!(table.contains("BACKUP, handing over"), "{table}");
        assert!(!render_table(&report(), 1_065_000).contains("demoted"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn the_report_round_trips_through_json() {
        let report = report();
        let text = serde_json::to_string(&report).unwrap();
        let back: StatusReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }
}
