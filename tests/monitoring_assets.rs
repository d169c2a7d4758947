//! docs/monitoring/ stays in step with what vrrpd exports: every metric the alert rules and
//! the Grafana dashboard use is one `/metrics` serves, and the dashboard is well-formed.
//! (`tests/monitoring.sh` has promtool parse the queries and run the rules' unit tests.)

use std::collections::BTreeSet;

use vrrpd::core::status::{StatusReport, render_prometheus};

fn read(path: &str) -> String {
    let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
}

/// The metric families `/metrics` serves: every `# TYPE` of the status rendering (which
/// lists each family even without samples) and the process memory the driver adds.
fn exported() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = render_prometheus(&StatusReport::default())
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        read("src/driver/metrics.rs").contains("# TYPE process_resident_memory_bytes gauge"),
        "the driver no longer serves process_resident_memory_bytes"
    );
    names.insert("process_resident_memory_bytes".to_owned());
    names
}

/// Every `vrrpd_…` or `process_…` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    for prefix in ["vrrpd_", "process_"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(prefix) {
            let start = from + at;
            let preceded_by_word =
                start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
            let end = text[start..]
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .map_or(text.len(), |length| start + length);
            if !preceded_by_word {
                names.insert(text[start..end].to_owned());
            }
            from = end;
        }
    }
    names
}

#[test]
fn the_alert_rules_use_only_exported_metrics() {
    let exported = exported();
    let rules = read("docs/monitoring/vrrpd.rules.yml");
    let expressions: String = rules
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("expr:"))
        .collect::<Vec<_>>()
        .join("\n");
    let used = metric_names(&expressions);
    assert!(
        used.len() >= 5,
        "too few metrics found in the rules: {used:?}"
    );
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the rules use metrics vrrpd does not export: {unknown:?}"
    );
    // The six alerts, by name.
    for alert in [
        "VrrpNoMaster",
        "VrrpSplitBrain",
        "VrrpFlapping",
        "VrrpTrackerFailing",
        "VrrpReloadFailed",
        "VrrpDemotedTooLong",
    ] {
        assert!(
            rules.contains(&format!("alert: {alert}\n")),
            "no {alert} rule"
        );
    }
}

#[test]
fn the_dashboard_is_well_formed_and_uses_only_exported_metrics() {
    let exported = exported();
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("docs/monitoring/grafana-dashboard.json"))
            .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut expressions = Vec::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().expect("a numeric id")),
            "duplicate id"
        );
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "{panel}");
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "a panel without a query: {panel}");
        for target in targets {
            expressions.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in [
        "State per instance",
        "Priority",
        "Transitions",
        "Dropped adverts by reason",
    ] {
        assert!(
            titles.contains(&wanted),
            "no {wanted:?} panel in {titles:?}"
        );
    }
    let used = metric_names(&expressions.join("\n"));
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard uses metrics vrrpd does not export: {unknown:?}"
    );
    assert!(
        used.contains("vrrpd_instance_state")
            && used.contains("vrrpd_instance_adverts_dropped_total")
    );
}

#[test]
fn metric_names_are_found_whole() {
    let names =
        metric_names("rate(vrrpd_a_total[5m]) + my_vrrpd_b + process_resident_memory_bytes{}");
    let expected: BTreeSet<String> = ["vrrpd_a_total", "process_resident_memory_bytes"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(names, expected);
}
