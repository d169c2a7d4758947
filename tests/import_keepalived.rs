//! `vrrpd import-keepalived`: keepalived.conf files in tests/keepalived-confs/ → vrrpd JSON.
//!
//! The fixtures were also run through keepalived 2.2.7 itself (`keepalived -d` dumps the
//! configuration it parsed): the expectations below are what keepalived made of them.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use vrrpd::config::VrrpVersion;
use vrrpd::import_keepalived::{Diagnostic, ImportError, ImportOutput, Severity, run};

fn conf(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keepalived-confs")
        .join(name)
}

/// 1-based number of the first line of fixture `name` that contains `needle`.
fn line_of(name: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(conf(name)).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {name}"))
        + 1
}

fn import(name: &str) -> ImportOutput {
    match run(&conf(name), false) {
        Ok(out) => out,
        Err(e) => panic!("importing {name} failed:\n{e}"),
    }
}

fn parsed(out: &ImportOutput) -> Value {
    serde_json::from_str(&out.json).unwrap()
}

/// How the config types serialize a version (integer or string, whichever they use).
fn v(version: VrrpVersion) -> Value {
    serde_json::to_value(version).unwrap()
}

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (file name, line, keyword) of each diagnostic of `severity`.
fn found(diagnostics: &[Diagnostic], severity: Severity) -> Vec<(String, usize, String)> {
    diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| {
            (
                d.file.file_name().unwrap().to_string_lossy().into_owned(),
                d.line,
                d.keyword.clone(),
            )
        })
        .collect()
}

fn at(file: &str, needle: &str, keyword: &str) -> (String, usize, String) {
    let name = Path::new(file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    (name, line_of(file, needle), keyword.to_owned())
}

fn message<'a>(diagnostics: &'a [Diagnostic], keyword: &str) -> &'a str {
    &diagnostics
        .iter()
        .find(|d| d.keyword == keyword)
        .unwrap_or_else(|| panic!("no diagnostic for {keyword}"))
        .message
}

#[test]
fn the_users_files_convert_to_the_examples() {
    for (conf_name, example_name) in [("lb01.conf", "lb01.json"), ("lb02.conf", "lb02.json")] {
        let out = import(conf_name);
        assert_eq!(
            parsed(&out),
            example(example_name),
            "{conf_name} → {example_name}"
        );
        // Only the informational note about `state`; nothing unsupported, nothing rewritten.
        assert_eq!(
            found(&out.warnings, Severity::Note),
            [at(conf_name, "state", "state")]
        );
        assert_eq!(out.warnings.len(), 1, "{:#?}", out.warnings);
        // The printed JSON is what vrrpd loads.
        assert_eq!(
            vrrpd::config::load_str(&out.json, conf_name).unwrap(),
            out.config
        );
    }
}

#[test]
fn version_and_interval_are_always_emitted() {
    let out = import("lb01.conf");
    let instance = &parsed(&out)["instances"][0];
    assert_eq!(instance["version"], v(VrrpVersion::V2));
    assert_eq!(instance["advert_interval_ms"], json!(1000));
    // Other defaults that vrrpd shares with keepalived are left out.
    for key in [
        "preempt",
        "preempt_delay_s",
        "garp_burst_count",
        "garp_repeat_delay_s",
    ] {
        assert!(
            instance.get(key).is_none(),
            "{key} should be omitted: {instance}"
        );
    }
    assert!(
        out.json
            .starts_with("{\n  \"$schema\": \"https://vrrpd.dev/schema/vrrpd.schema.json\",\n")
    );
    // Keys come in the config struct's order, not alphabetically.
    let name = out.json.find("\"name\"").unwrap();
    let interface = out.json.find("\"interface\"").unwrap();
    assert!(name < interface);
}

#[test]
fn a_one_line_authentication_block_loses_its_password_as_in_keepalived() {
    // The write-up's layout: keepalived never reads auth_pass and sends no authentication
    // (checked against keepalived 2.2.7 on the wire), so a vrrpd node configured with
    // the password would drop every advert of its keepalived peer.
    let name = "lb01-oneline-auth.conf";
    let out = import(name);
    let mut expected = example("lb01.json");
    expected["instances"][0]
        .as_object_mut()
        .unwrap()
        .remove("authentication");
    assert_eq!(parsed(&out), expected);
    let auth_line = line_of(name, "authentication {");
    let warnings: Vec<_> = out
        .warnings
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings
            .iter()
            .all(|d| d.line == auth_line && d.keyword == "auth_type"),
        "{warnings:#?}"
    );
    assert!(
        warnings[0].message.contains("auth_pass password"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].message.contains("no authentication"),
        "{}",
        warnings[1]
    );
}

#[test]
fn brace_styles_comments_and_quotes() {
    let name = "styles.conf";
    let out = import(name);
    let expected = json!({
        "$schema": "https://vrrpd.dev/schema/vrrpd.schema.json",
        "instances": [
            {
                "name": "VI_styles",
                "interface": "eth0",
                "virtual_router_id": 51,
                "version": v(VrrpVersion::V2),
                "priority": 120,
                "advert_interval_ms": 2000,
                "authentication": { "type": "pass", "password": "pa ss#1" },
                "virtual_addresses": ["192.0.2.10/24", "192.0.2.11", "192.0.2.12"],
                "preempt": false,
                "garp_burst_count": 2,
                "garp_burst_interval_ms": 250,
                "garp_repeat_delay_s": 3,
                "garp_master_refresh_s": 30
            },
            {
                "name": "VI_inline",
                "interface": "eth1",
                "virtual_router_id": 52,
                "advert_interval_ms": 1000,
                "version": v(VrrpVersion::V2),
                "priority": 90,
                "virtual_addresses": ["192.0.2.20"],
                "preempt_delay_s": 15,
                "source_address": "192.0.2.2",
                "garp_burst_count": 2,
                "garp_burst_interval_ms": 250,
                "garp_repeat_delay_s": 3
            }
        ]
    });
    assert_eq!(parsed(&out), expected);
    let notes = found(&out.warnings, Severity::Note);
    assert_eq!(
        notes,
        [
            at(name, "router_id", "router_id"),
            at(name, "notification_email", "notification_email"),
            at(name, "vrrp_script", "vrrp_script"),
            at(name, "state BACKUP", "state"),
            at(name, "label eth0:vip", "label"),
        ]
    );
    assert!(found(&out.warnings, Severity::Unsupported).is_empty());
    assert!(
        found(&out.warnings, Severity::Warning).is_empty(),
        "{:#?}",
        out.warnings
    );
}

#[test]
fn includes_follow_globs_relative_to_the_including_file() {
    let out = import("include/main.conf");
    let expected = json!({
        "$schema": "https://vrrpd.dev/schema/vrrpd.schema.json",
        "instances": [{
            "name": "VI_A",
            "interface": "eth0",
            "virtual_router_id": 60,
            // vrrp_version 3 from conf.d/10-global.conf
            "version": v(VrrpVersion::V3),
            "priority": 200,
            "advert_interval_ms": 500,
            // from ../nested/vips-{a,b}.inc, relative to conf.d/; not vips-c.inc
            "virtual_addresses": ["192.0.2.60", "192.0.2.61/32"]
        }]
    });
    assert_eq!(parsed(&out), expected);
    assert_eq!(
        found(&out.warnings, Severity::Warning),
        [at("include/main.conf", "missing-*", "include")]
    );
}

#[test]
fn diagnostics_in_included_files_name_that_file() {
    let out = run(&conf("include/main.conf"), false).unwrap();
    assert!(
        out.warnings
            .iter()
            .all(|d| d.file.starts_with(conf("include")))
    );
    let err = run(&conf("cycle/a.conf"), false).unwrap_err();
    let ImportError::Syntax { location, message } = &err else {
        panic!("{err}")
    };
    assert!(location.ends_with("cycle/b.conf:1"), "{location}");
    assert!(message.contains("include cycle"), "{message}");
}

#[test]
fn unbalanced_braces_are_a_syntax_error_with_the_line() {
    let err = run(&conf("unbalanced.conf"), true).unwrap_err();
    let ImportError::Syntax { location, message } = &err else {
        panic!("{err}")
    };
    assert!(location.ends_with("unbalanced.conf:1"), "{location}");
    assert!(
        message.contains("`vrrp_instance` is never closed"),
        "{message}"
    );

    let err = run(&conf("extra-brace.conf"), true).unwrap_err();
    let ImportError::Syntax { location, message } = &err else {
        panic!("{err}")
    };
    let line = std::fs::read_to_string(conf("extra-brace.conf"))
        .unwrap()
        .lines()
        .count();
    assert!(
        location.ends_with(&format!("extra-brace.conf:{line}")),
        "{location}"
    );
    assert!(message.contains("closes no block"), "{message}");
}

fn expected_unsupported() -> Vec<(String, usize, String)> {
    let name = "unsupported.conf";
    vec![
        at(name, "vrrp_mcast_group4", "vrrp_mcast_group4"),
        at(name, "notify_master", "notify_master"),
        at(name, "192.0.2.2 min_ttl", "192.0.2.2"),
        at(name, "track_interface", "track_interface"),
        at(name, "192.0.2.71 dev eth1", "dev"),
        at(name, "auth_type AH", "auth_type"),
    ]
}

#[test]
fn unsupported_keywords_fail_the_import_with_their_lines() {
    let err = run(&conf("unsupported.conf"), false).unwrap_err();
    let ImportError::Unsupported { diagnostics } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        found(diagnostics, Severity::Unsupported),
        expected_unsupported()
    );
    let text = err.to_string();
    let line = line_of("unsupported.conf", "track_interface");
    assert!(
        text.contains(&format!(
            "unsupported.conf:{line}: unsupported: `track_interface`"
        )),
        "{text}"
    );
    assert!(text.contains("--allow-partial"), "{text}");
    // router_id is only a note, also shown.
    assert!(text.contains("note: `router_id`"), "{text}");
}

#[test]
fn allow_partial_prints_the_supported_subset() {
    let out = run(&conf("unsupported.conf"), true).unwrap();
    assert_eq!(
        found(&out.warnings, Severity::Unsupported),
        expected_unsupported()
    );
    let expected = json!({
        "$schema": "https://vrrpd.dev/schema/vrrpd.schema.json",
        "instances": [
            {
                "name": "VI_1",
                "interface": "eth0",
                "virtual_router_id": 70,
                "advert_interval_ms": 1000,
                "version": v(VrrpVersion::V2),
                "priority": 150,
                // 192.0.2.71 is on eth1: left out.
                "virtual_addresses": ["192.0.2.70"],
                // The peer's min_ttl is left out.
                "unicast_peers": ["192.0.2.2"],
                "unicast_source": "192.0.2.1"
            },
            {
                "name": "VI_2",
                "interface": "eth0",
                "virtual_router_id": 71,
                "advert_interval_ms": 1000,
                "version": v(VrrpVersion::V2),
                "priority": 150,
                // AH is left out.
                "virtual_addresses": ["192.0.2.72"]
            }
        ],
        // notify_master is left out.
        "sync_groups": [{ "name": "VG_1", "instances": ["VI_1", "VI_2"] }]
    });
    assert_eq!(parsed(&out), expected);
}

#[test]
fn silent_keepalived_rewrites_are_imported_and_reported() {
    let name = "quirks.conf";
    let out = import(name);
    let document = parsed(&out);
    let instances = document["instances"].as_array().unwrap();

    // state MASTER without priority: keepalived makes it the address owner (255), then
    // clears nopreempt and preempt_delay; v2 advert_int 1.5 becomes 2 s; the password is
    // cut to the 8 bytes keepalived sends.
    assert_eq!(
        instances[0],
        json!({
            "name": "VI_long_pass",
            "interface": "eth0",
            "virtual_router_id": 80,
            "version": v(VrrpVersion::V2),
            "priority": 255,
            "advert_interval_ms": 2000,
            "authentication": { "type": "pass", "password": "01234567" },
            "virtual_addresses": ["192.0.2.80"]
        })
    );
    // VRRPv3: advert_int 0.015 becomes 20 ms (centiseconds); authentication is ignored.
    assert_eq!(
        instances[1],
        json!({
            "name": "VI_v3",
            "interface": "eth0",
            "virtual_router_id": 81,
            "version": v(VrrpVersion::V3),
            "priority": 50,
            "advert_interval_ms": 20,
            "virtual_addresses": ["192.0.2.81"]
        })
    );
    // IPv6 addresses make keepalived use version 3 without being told.
    assert_eq!(instances[2]["version"], v(VrrpVersion::V3));
    assert_eq!(
        instances[2]["virtual_addresses"],
        json!(["fe80::1", "2001:db8::82/64"])
    );

    assert_eq!(
        found(&out.warnings, Severity::Warning),
        [
            at(name, "nopreempt", "nopreempt"),
            at(name, "preempt_delay", "preempt_delay"),
            at(name, "advert_int 1.5", "advert_int"),
            at(name, "auth_pass 0123456789ab", "auth_pass"),
            at(name, "advert_int 0.015", "advert_int"),
            at(name, "ignores this under VRRPv3", "authentication"),
        ]
    );
    let auth_pass = message(&out.warnings, "auth_pass");
    assert!(
        auth_pass.contains("\"01234567\"") && auth_pass.contains("first 8"),
        "{auth_pass}"
    );
    assert!(message(&out.warnings, "state").contains("255"));
}

#[test]
fn garp_settings_and_a_source_address_without_peers() {
    let name = "garp-and-source.conf";
    let out = import(name);
    let instances = &parsed(&out)["instances"];
    assert_eq!(
        instances[0],
        json!({
            "name": "VI_src",
            "interface": "eth0",
            "virtual_router_id": 90,
            "advert_interval_ms": 1000,
            "version": v(VrrpVersion::V2),
            "priority": 100,
            "virtual_addresses": ["192.0.2.90"],
            "source_address": "192.0.2.41",
            "garp_burst_count": 3,
            "garp_repeat_delay_s": 0,
            "garp_master_refresh_s": 120
        })
    );
    assert_eq!(
        instances[1],
        json!({
            "name": "VI_refresh",
            "interface": "eth0",
            "virtual_router_id": 91,
            "advert_interval_ms": 1000,
            "version": v(VrrpVersion::V2),
            "priority": 100,
            "virtual_addresses": ["192.0.2.91"],
            "garp_burst_count": 1,
            "garp_repeat_delay_s": 10
        })
    );
    assert_eq!(
        found(&out.warnings, Severity::Note),
        [at(name, "unicast_src_ip", "unicast_src_ip")]
    );
    assert_eq!(out.warnings.len(), 1, "{:#?}", out.warnings);

    let text = std::fs::read_to_string(conf(name)).unwrap().replace(
        "vrrp_garp_master_refresh_repeat 1 ",
        "vrrp_garp_master_refresh_repeat 2 ",
    );
    let err = import_text("refresh_repeat", &text, false).unwrap_err();
    assert_eq!(
        found(err.diagnostics(), Severity::Unsupported)
            .into_iter()
            .map(|(_, l, k)| (l, k))
            .collect::<Vec<_>>(),
        [(
            line_of(name, "refresh_repeat"),
            "vrrp_garp_master_refresh_repeat".to_owned()
        )]
    );
}

/// Writes `text` to a fresh file under the target directory and imports it.
fn import_text(test: &str, text: &str, allow_partial: bool) -> Result<ImportOutput, ImportError> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("import_keepalived")
        .join(test);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keepalived.conf");
    std::fs::write(&path, text).unwrap();
    run(&path, allow_partial)
}

#[test]
fn invalid_values_are_errors_with_their_lines_even_with_allow_partial() {
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 50\n  priority 300\n  \
                virtual_ipaddress {\n    192.0.2.400\n  }\n}\n";
    let err = import_text("invalid_values", text, true).unwrap_err();
    let ImportError::Invalid { diagnostics } = &err else {
        panic!("{err}")
    };
    let errors: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.line, d.keyword.as_str()))
        .collect();
    // In file order; the instance is left without a valid virtual address.
    assert_eq!(
        errors,
        [
            (1, "virtual_ipaddress"),
            (4, "priority"),
            (6, "192.0.2.400")
        ]
    );
}

#[test]
fn a_keyword_swallowing_a_block_is_an_error() {
    // keepalived: "Unexpected '{' - ignoring", then reads the VIP as an unknown keyword.
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 50\n  priority 120 virtual_ipaddress {\n    \
                192.0.2.40\n  }\n}\n";
    let err = import_text("swallowed_block", text, true).unwrap_err();
    let ImportError::Invalid { diagnostics } = &err else {
        panic!("{err}")
    };
    let priority: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.keyword == "priority")
        .map(|d| (d.line, d.severity))
        .collect();
    assert_eq!(priority, [(4, Severity::Error), (4, Severity::Warning)]);
}

#[test]
fn unknown_keywords_are_reported_not_dropped() {
    let text = "global_defs {\n  vrrp_brand_new_option 1\n}\nvrrp_instance VI_1 {\n  interface eth0\n  \
                virtual_router_id 50\n  frobnicate yes\n  virtual_ipaddress {\n    192.0.2.40\n  }\n}\n";
    let err = import_text("unknown_keywords", text, false).unwrap_err();
    assert_eq!(
        found(err.diagnostics(), Severity::Unsupported)
            .into_iter()
            .map(|(_, l, k)| (l, k))
            .collect::<Vec<_>>(),
        [
            (2, "vrrp_brand_new_option".to_owned()),
            (7, "frobnicate".to_owned())
        ]
    );
}

#[test]
fn a_file_without_instances_is_an_error() {
    let err = import_text("no_instances", "global_defs {\n  router_id x\n}\n", true).unwrap_err();
    assert!(matches!(err, ImportError::NoInstances { .. }), "{err}");
}

#[test]
fn unicast_peers_and_sync_groups_are_imported() {
    let name = "unicast-sync.conf";
    let out = import(name);
    assert_eq!(found(&out.warnings, Severity::Unsupported), vec![]);
    assert_eq!(
        found(&out.warnings, Severity::Note),
        vec![
            at(name, "vrrp_check_unicast_src", "vrrp_check_unicast_src"),
            at(name, "smtp_alert", "smtp_alert"),
            (name.to_owned(), 16, "state".to_owned()),
            (name.to_owned(), 35, "state".to_owned()),
        ]
    );
    let expected = json!({
        "$schema": "https://vrrpd.dev/schema/vrrpd.schema.json",
        "instances": [
            {
                "name": "VI_public",
                "interface": "eth0",
                "virtual_router_id": 60,
                "version": v(VrrpVersion::V2),
                "priority": 150,
                "advert_interval_ms": 1000,
                "authentication": { "type": "pass", "password": "password" },
                "virtual_addresses": ["192.0.2.60/24"],
                "unicast_peers": ["192.0.2.42"],
                "unicast_source": "192.0.2.41"
            },
            {
                "name": "VI_internal",
                "interface": "eth1",
                "virtual_router_id": 61,
                "version": v(VrrpVersion::V2),
                "priority": 150,
                "advert_interval_ms": 1000,
                "virtual_addresses": ["198.51.100.61/24"],
                // mcast_src_ip is keepalived's other spelling of the unicast source.
                "unicast_peers": ["198.51.100.42"],
                "unicast_source": "198.51.100.41"
            }
        ],
        "sync_groups": [{ "name": "VG_lb", "instances": ["VI_public", "VI_internal"] }]
    });
    assert_eq!(parsed(&out), expected);
    assert_eq!(out.config.sync_groups.len(), 1);
    assert!(out.config.instances.iter().all(|i| i.is_unicast()));
}

#[test]
fn sync_group_leftovers_are_reported() {
    let text = "vrrp_sync_group G {\n group {\n  VI_1\n }\n track_interface {\n  eth1\n }\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
    let err = import_text("sync_group_leftovers", text, false).unwrap_err();
    let ImportError::Unsupported { diagnostics } = &err else {
        panic!("{err}")
    };
    let unsupported: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Unsupported)
        .map(|d| d.keyword.as_str())
        .collect();
    assert_eq!(unsupported, ["track_interface"]);
    // The one-member group is left out with a warning (keepalived only warns too).
    let out = import_text("sync_group_leftovers", text, true).unwrap();
    assert!(out.config.sync_groups.is_empty());
    assert!(
        out.warnings
            .iter()
            .any(|d| d.keyword == "vrrp_sync_group" && d.message.contains("at least 2")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn a_sync_group_naming_a_missing_instance_fails_validation() {
    let text = "vrrp_sync_group G {\n group {\n  VI_1\n  VI_9\n }\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
    let err = import_text("sync_group_missing", text, false).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/sync_groups/0/instances/1: no instance is named \"VI_9\""),
        "{text}"
    );
}
