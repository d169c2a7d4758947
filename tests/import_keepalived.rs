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
        at(name, "eth1 weight 10 reverse", "track_interface"),
        at(name, "192.0.2.71 peer", "peer"),
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
    let line = line_of("unsupported.conf", "eth1 weight 10 reverse");
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
                // 192.0.2.71's `peer` is left out; the address is kept.
                "virtual_addresses": ["192.0.2.70", "192.0.2.71"],
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
        // notify_master (of the sync group) is left out, and so is eth1 tracked with `reverse`.
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

/// IPv6 `unicast_peer` blocks import as IPv6 unicast instances (global and link-local
/// peers and sources); without `unicast_src_ip` the source stays the interface's
/// link-local address, found at run time, as in keepalived.
#[test]
fn ipv6_unicast_peers_are_imported() {
    let name = "unicast-ipv6.conf";
    let out = import(name);
    assert_eq!(found(&out.warnings, Severity::Unsupported), vec![]);
    assert_eq!(
        found(&out.warnings, Severity::Note),
        vec![at(name, "unicast_ttl 255", "unicast_ttl")]
    );
    // keepalived leaves IPv6 unicast adverts at the kernel's hop limit without
    // `unicast_ttl 255`; vrrpd drops them, so the instance without it is flagged.
    assert_eq!(
        found(&out.warnings, Severity::Warning),
        vec![at(name, "vrrp_instance VI_6_LL", "unicast_peer")]
    );
    let warning = out
        .warnings
        .iter()
        .find(|d| d.severity == Severity::Warning)
        .unwrap();
    assert!(
        warning.message.contains("unicast_ttl 255") && warning.message.contains("RFC 9568 §7.1"),
        "{}",
        warning.message
    );
    let expected = json!({
        "$schema": "https://vrrpd.dev/schema/vrrpd.schema.json",
        "instances": [
            {
                "name": "VI_4",
                "interface": "eth0",
                "virtual_router_id": 50,
                "version": v(VrrpVersion::V2),
                "priority": 150,
                "advert_interval_ms": 1000,
                "virtual_addresses": ["192.0.2.40/24"],
                "unicast_peers": ["192.0.2.42"],
                "unicast_source": "192.0.2.41"
            },
            {
                "name": "VI_6",
                "interface": "eth0",
                "virtual_router_id": 50,
                "version": v(VrrpVersion::V3),
                "priority": 150,
                "advert_interval_ms": 1000,
                "virtual_addresses": ["fe80::40/64", "2001:db8::40/64"],
                "unicast_peers": ["2001:db8::42", "fe80::42"],
                "unicast_source": "2001:db8::41"
            },
            {
                "name": "VI_6_LL",
                "interface": "eth1",
                "virtual_router_id": 51,
                "version": v(VrrpVersion::V3),
                "priority": 100,
                "advert_interval_ms": 500,
                "virtual_addresses": ["fe80::1:40/64", "2001:db8:1::40/64"],
                "unicast_peers": ["fe80::1:42"]
            }
        ]
    });
    assert_eq!(parsed(&out), expected);
    let instances = &out.config.instances;
    assert!(instances.iter().all(|i| i.is_unicast()));
    assert!(!instances[0].is_ipv6() && instances[1].is_ipv6() && instances[2].is_ipv6());
    assert_eq!(
        instances[1].configured_source(),
        Some("2001:db8::41".parse().unwrap())
    );
    assert_eq!(instances[2].configured_source(), None);
}

/// An IPv6 instance given an IPv4 peer is refused by the validation the import ends with,
/// naming the peer's JSON path.
#[test]
fn an_ipv4_peer_in_an_ipv6_instance_is_refused() {
    let text = "vrrp_instance VI_6 {\n  interface eth0\n  virtual_router_id 50\n  priority 100\n  \
                unicast_peer {\n    192.0.2.42\n  }\n  virtual_ipaddress {\n    fe80::40/64\n  }\n}\n";
    let err = import_text("ipv4_peer_in_ipv6", text, false).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("/instances/0/unicast_peers/0")
            && message.contains("192.0.2.42 is IPv4, but the virtual addresses are IPv6"),
        "{message}"
    );
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

/// keepalived 2.2.7 logs "Virtual router VI_9 specified in sync group G doesn't exist -
/// ignoring" and runs the group without it; the importer leaves it out with a warning on
/// its line, and a group left with one instance is not imported.
#[test]
fn a_sync_group_member_naming_no_instance_is_left_out_as_keepalived_does() {
    let instance = |name: &str, vrid: u8| {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n priority 100\n virtual_ipaddress {{\n  192.0.2.{vrid}\n }}\n}}\n"
        )
    };
    let text = format!(
        "vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_9\n  VI_2\n }}\n}}\n{}{}",
        instance("VI_1", 1),
        instance("VI_2", 2)
    );
    let output = import_text("sync_group_missing", &text, false).unwrap();
    assert_eq!(output.config.sync_groups.len(), 1);
    assert_eq!(output.config.sync_groups[0].instances, ["VI_1", "VI_2"]);
    assert!(
        output
            .warnings
            .iter()
            .any(|d| d.severity == Severity::Warning
                && d.keyword == "VI_9"
                && d.line == 4
                && d.message.contains("no vrrp_instance has this name")),
        "{:?}",
        output.warnings
    );

    let text = format!(
        "vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_9\n }}\n}}\n{}",
        instance("VI_1", 1)
    );
    let output = import_text("sync_group_missing_one_left", &text, false).unwrap();
    assert!(output.config.sync_groups.is_empty());
    assert!(
        output
            .warnings
            .iter()
            .any(|d| d.severity == Severity::Warning
                && d.keyword == "vrrp_sync_group"
                && d.line == 1
                && d.message.contains("at least 2 instances")),
        "{:?}",
        output.warnings
    );
}

/// keepalived adds an address listed twice once (its own doc/samples/keepalived.conf.vrrp
/// lists 192.168.200.18 twice); the importer keeps the first and warns on the repeat,
/// whatever prefix either line gives.
#[test]
fn an_address_listed_twice_is_imported_once_with_a_warning() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 50\n priority 100\n \
                virtual_ipaddress {\n  192.0.2.40\n  192.0.2.41/24\n  192.0.2.40/32\n }\n}\n";
    let output = import_text("duplicate_address", text, false).unwrap();
    let addresses: Vec<String> = output.config.instances[0]
        .virtual_addresses
        .iter()
        .map(|a| a.address.clone())
        .collect();
    assert_eq!(addresses, ["192.0.2.40", "192.0.2.41/24"]);
    assert!(
        output
            .warnings
            .iter()
            .any(|d| d.severity == Severity::Warning
                && d.line == 8
                && d.message
                    .contains("192.0.2.40/32 is listed twice (first as 192.0.2.40)")),
        "{:?}",
        output.warnings
    );
}

/// `virtual_ipaddress_excluded` becomes `excluded_addresses` (held, not advertised), and
/// a `virtual_ipaddress` of more than 255 addresses keeps 255 in the adverts and holds
/// the rest the same way, with a note, where keepalived would do the same.
#[test]
fn excluded_and_surplus_addresses_are_held_without_being_advertised() {
    let addresses = |list: &[vrrpd::config::VirtualAddress]| -> Vec<String> {
        list.iter().map(|a| a.address.clone()).collect()
    };
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 50\n priority 100\n \
                virtual_ipaddress {\n  192.0.2.40\n }\n virtual_ipaddress_excluded {\n  \
                198.51.100.7/24\n  198.51.100.8\n  192.0.2.40\n }\n}\n";
    let output = import_text("excluded", text, false).unwrap();
    let instance = &output.config.instances[0];
    assert_eq!(addresses(&instance.virtual_addresses), ["192.0.2.40"]);
    assert_eq!(
        addresses(&instance.excluded_addresses),
        ["198.51.100.7/24", "198.51.100.8"]
    );
    assert!(
        output
            .warnings
            .iter()
            .any(|d| d.message.contains("192.0.2.40 is listed twice")),
        "{:?}",
        output.warnings
    );
    // 300 addresses in virtual_ipaddress: 198.51.100.1 .. 198.51.100.254, 203.0.113.1 ..
    let many: Vec<String> = (1..=254)
        .map(|n| format!("198.51.100.{n}"))
        .chain((1..=46).map(|n| format!("203.0.113.{n}")))
        .collect();
    let text = format!(
        "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 50\n priority 100\n \
         virtual_ipaddress {{\n{}\n }}\n}}\n",
        many.join("\n")
    );
    let output = import_text("surplus", &text, false).unwrap();
    let instance = &output.config.instances[0];
    assert_eq!(addresses(&instance.virtual_addresses), many[..255]);
    assert_eq!(addresses(&instance.excluded_addresses), many[255..]);
    assert!(
        output.warnings.iter().any(|d| d.severity == Severity::Note
            && d.message.contains("300 virtual addresses")
            && d.message
                .contains("the other 45 (203.0.113.2 to 203.0.113.46)")),
        "{:?}",
        output.warnings
    );
    // What the importer writes loads: 300 addresses in one instance.
    let json = serde_json::to_string(&output.config).unwrap();
    vrrpd::config::load_str(&json, "imported").unwrap();
}

/// `vrrp_track_process` becomes a `process` tracker: by process name alone, or by the
/// command line when parameters are given (a prefix in vrrpd, with a warning unless
/// `param_match partial` already asked for one); `quorum` is `min_count`; what vrrpd
/// cannot do (`param_match initial`, `quorum_max`) is reported unsupported.
#[test]
fn tracked_processes_become_process_trackers() {
    let text = "vrrp_track_process caddy {\n process caddy\n quorum 2\n weight -60\n}\n\
                vrrp_track_process nginx {\n process /usr/sbin/nginx -g daemon\n param_match partial\n delay 0.5\n}\n\
                vrrp_track_process haproxy {\n process /usr/sbin/haproxy -Ws\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 50\n priority 150\n \
                virtual_ipaddress {\n  192.0.2.40\n }\n track_process {\n  caddy\n  nginx weight -10\n  haproxy\n }\n}\n";
    let output = import_text("processes", text, false).unwrap();
    let config = serde_json::to_value(&output.config).unwrap();
    assert_eq!(
        config["trackers"],
        json!([
            { "name": "process-caddy", "check": { "type": "process", "name": "caddy", "min_count": 2 },
              "interval_ms": 1000, "timeout_ms": 1000, "rise": 1, "fall": 1 },
            { "name": "process-nginx", "check": { "type": "process",
                "argv_prefix": ["/usr/sbin/nginx", "-g", "daemon"], "min_count": 1 },
              "interval_ms": 1000, "timeout_ms": 1000, "rise": 1, "fall": 1 },
            { "name": "process-haproxy", "check": { "type": "process",
                "argv_prefix": ["/usr/sbin/haproxy", "-Ws"], "min_count": 1 },
              "interval_ms": 1000, "timeout_ms": 1000, "rise": 1, "fall": 1 }
        ])
    );
    assert_eq!(
        config["instances"][0]["track"],
        json!([
            { "tracker": "process-caddy", "weight": -60 },
            { "tracker": "process-nginx", "weight": -10 },
            { "tracker": "process-haproxy", "weight": 1 }
        ])
    );
    // haproxy's command line is matched as a prefix: said so. nginx asked for that.
    let prefix_warnings: Vec<usize> = output
        .warnings
        .iter()
        .filter(|d| d.message.contains("matches these arguments as its start"))
        .map(|d| d.line)
        .collect();
    assert_eq!(prefix_warnings, [12], "{:?}", output.warnings);
    let unsupported = "vrrp_track_process p {\n process app --x\n param_match initial\n}\n\
                       vrrp_track_process q {\n process app\n quorum_max 1\n}\n\
                       vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 50\n priority 150\n \
                       virtual_ipaddress {\n  192.0.2.40\n }\n track_process {\n  p\n  q\n }\n}\n";
    let error = import_text("processes_unsupported", unsupported, false)
        .unwrap_err()
        .to_string();
    for wanted in [
        ":3: unsupported: `param_match`: `param_match initial`",
        ":7: unsupported: `quorum_max`: vrrpd has no maximum",
    ] {
        assert!(error.contains(wanted), "{wanted:?} in {error}");
    }
}

/// A member whose vrrp_instance is defined but fails to import: the import fails on that
/// instance's own error (with its line), not on the sync group.
#[test]
fn a_sync_group_member_that_fails_to_import_fails_on_its_own_error() {
    let text = "vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n  VI_3\n }\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n\
                vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 2\n priority 100\n virtual_ipaddress {\n  192.0.2.2\n }\n}\n\
                vrrp_instance VI_3 {\n interface eth0\n priority 100\n virtual_ipaddress {\n  192.0.2.3\n }\n}\n";
    for allow_partial in [false, true] {
        let error = import_text("sync_group_not_imported", text, allow_partial).unwrap_err();
        let ImportError::Invalid { diagnostics } = &error else {
            panic!("expected the instance's own error, got {error}");
        };
        assert!(
            diagnostics
                .iter()
                .any(|d| d.line == 24 && d.message.contains("VI_3: no `virtual_router_id`")),
            "{diagnostics:?}"
        );
    }
}

/// An exec tracker as the importer writes it.
fn exec_tracker(
    name: &str,
    command: &[&str],
    shell: bool,
    interval_ms: u32,
    timeout_ms: u32,
) -> Value {
    json!({
        "name": name,
        "check": { "type": "exec", "command": command, "shell": shell },
        "interval_ms": interval_ms, "timeout_ms": timeout_ms, "rise": 1, "fall": 1
    })
}

/// An interface or file tracker: polled every 100 ms (keepalived reacts at once).
fn polled_tracker(name: &str, check: Value) -> Value {
    json!({ "name": name, "check": check, "interval_ms": 100, "timeout_ms": 1000, "rise": 1, "fall": 1 })
}

#[test]
fn trackers_and_notify_scripts_convert() {
    let name = "tracking.conf";
    let out = import(name);
    let mut caddy = exec_tracker(
        "chk_caddy",
        &[
            "/usr/bin/curl",
            "-fsS",
            "--max-time",
            "2",
            "http://127.0.0.1/health",
        ],
        false,
        2000,
        3000,
    );
    caddy["check"]["user"] = json!("www-data");
    caddy["rise"] = json!(2);
    caddy["fall"] = json!(3);
    let expected = json!({
        "$schema": "https://vrrpd.dev/schema/vrrpd.schema.json",
        "instances": [{
            "name": "VI_1",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": v(VrrpVersion::V2),
            "priority": 150,
            "advert_interval_ms": 1000,
            "virtual_addresses": ["192.0.2.40"],
            "track": [
                { "tracker": "interface-eth1", "weight": 0 },
                { "tracker": "interface-eth2", "weight": -20 },
                // keepalived turns 254 into 253.
                { "tracker": "interface-eth3", "weight": 253 },
                // The vrrp_script's own weight, then overridden ones.
                { "tracker": "chk_caddy", "weight": -60 },
                { "tracker": "chk_default", "weight": 10 },
                { "tracker": "chk_port", "weight": -253 },
                // A tracked file's weight defaults to its block's.
                { "tracker": "file-maint", "weight": -10 },
                { "tracker": "file-drain", "weight": 0 }
            ],
            "notify": {
                "master": ["/usr/local/bin/notify.sh", "master"],
                "backup": ["/usr/local/bin/notify.sh", "backup"],
                "fault": ["/usr/local/bin/notify-fault"],
                "stop": ["/usr/local/bin/notify.sh", "stop now"],
                "generic": ["/usr/local/bin/notify-all"],
                // notify_priority_changes: the notify script runs on priority changes too.
                "priority_change": ["/usr/local/bin/notify-all"],
                "timeout_s": 30
            }
        }],
        "trackers": [
            polled_tracker("interface-eth1", json!({ "type": "interface", "interface": "eth1" })),
            polled_tracker("interface-eth2", json!({ "type": "interface", "interface": "eth2" })),
            polled_tracker("interface-eth3", json!({ "type": "interface", "interface": "eth3" })),
            caddy,
            // keepalived's defaults: interval 1 s, timeout = interval, rise = fall = 1.
            exec_tracker("chk_default", &["/usr/local/bin/check-default"], false, 1000, 1000),
            // A redirection runs through /bin/sh; keepalived 2.2.7 reads `interval 0.5` as
            // 0, hence 1 s; the timeout follows the interval.
            exec_tracker("chk_port", &["</dev/tcp/127.0.0.1/443"], true, 1000, 1000),
            polled_tracker("file-maint", json!({ "type": "file", "path": "/run/keepalived/maint" })),
            polled_tracker("file-drain", json!({ "type": "file", "path": "/run/keepalived/drain" }))
        ]
    });
    assert_eq!(parsed(&out), expected);
    assert_eq!(
        found(&out.warnings, Severity::Warning),
        [
            at(name, "</dev/tcp", "script"),
            at(name, "interval 0.5", "interval"),
            at(name, "interval 0.5", "interval"),
            at(name, "eth3 weight 254", "weight"),
            at(name, "chk_port weight -254", "weight"),
        ]
    );
    let notes = found(&out.warnings, Severity::Note);
    for expected in [
        at(name, "vrrp_script chk_unused", "vrrp_script"),
        at(name, "init_file 0", "init_file"),
        at(name, "notify_master", "notify_master"),
    ] {
        assert!(notes.contains(&expected), "{expected:?} not in {notes:?}");
    }
    // The generic notify hook gets keepalived's `INSTANCE NAME STATE PRIORITY`.
    assert!(message(&out.warnings, "vrrp_script").contains("chk_unused"));
}

#[test]
fn sync_group_members_and_owners_lose_weighted_trackers_as_in_keepalived() {
    let name = "tracking-fixups.conf";
    let out = import(name);
    let doc = parsed(&out);
    let track = |index: usize| doc["instances"][index]["track"].clone();
    // VI_A, in a group without sync_group_tracking_weight: the interface and the file
    // with the default weight 1 become weight 0; the weighted script and file are
    // dropped; its own interface is always followed.
    assert_eq!(
        track(0),
        json!([{ "tracker": "interface-eth1", "weight": 0 }, { "tracker": "file-f1", "weight": 0 }])
    );
    assert_eq!(track(1), Value::Null);
    // VI_O, the address owner: the weighted interface is dropped, weight 0 stays, and the
    // file with weight 1 becomes weight 0.
    assert_eq!(
        track(2),
        json!([{ "tracker": "chk", "weight": 0 }, { "tracker": "file-f1", "weight": 0 }])
    );
    // One tracker per tracked object, shared by the instances.
    let names: Vec<&str> = doc["trackers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["interface-eth1", "file-f1", "chk"]);
    let warned: Vec<usize> = found(&out.warnings, Severity::Warning)
        .into_iter()
        .map(|(_, line, _)| line)
        .collect();
    let lines = |needles: &[&str]| -> Vec<usize> {
        let text = std::fs::read_to_string(conf(name)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // The needles are found in order, each after the previous one.
        let mut from = 0;
        needles
            .iter()
            .map(|needle| {
                let at = from
                    + lines[from..]
                        .iter()
                        .position(|l| l.trim() == *needle)
                        .unwrap();
                from = at + 1;
                at + 1
            })
            .collect()
    };
    assert_eq!(
        warned,
        lines(&[
            "eth1 weight -10",
            "chk",
            "f1",
            "f2",
            "eth1 weight -10",
            "f1"
        ])
    );
    assert!(
        found(&out.warnings, Severity::Note).contains(&at(name, "      eth0", "track_interface")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn sync_group_tracking_weight_keeps_the_members_weights() {
    let text = "vrrp_script chk {\n script /bin/check\n weight -30\n}\n\
                vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n sync_group_tracking_weight\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n  192.0.2.1\n }\n track_script {\n  chk\n }\n}\n\
                vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 2\n priority 100\n virtual_ipaddress {\n  192.0.2.2\n }\n}\n";
    let out = import_text("sync_group_tracking_weight", text, false).unwrap();
    assert_eq!(out.config.instances[0].track.len(), 1);
    assert_eq!(out.config.instances[0].track[0].weight, -30);
}

#[test]
fn tracking_options_vrrpd_cannot_express_are_unsupported() {
    let text = r#"global_defs {
 script_user nobody
}
vrrp_script rev {
 script "/bin/check"
 weight 10 reverse
 rise 200
 user nobody nogroup
}
vrrp_script esc {
 script "/bin/echo a\"b"
}
vrrp_script fast {
 script "/bin/check fast"
 interval 7200
}
vrrp_track_file f {
 file /run/f
 init_file 5 overwrite
}
vrrp_sync_group G {
 group {
  VI_1
  VI_2
 }
 notify "/bin/group-notify"
 track_script {
  rev
 }
 sync_group_tracking_weight
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 1
 priority 100
 virtual_ipaddress {
  192.0.2.1
 }
 track_script {
  rev
  esc
  fast weight 5 reverse
 }
 track_interface {
  eth1 weight -5 reverse
 }
 track_file {
  f weight 2 reverse
 }
 notify_master "/bin/up" root
 notify_backup "/bin/down"
}
vrrp_instance VI_2 {
 interface eth0
 virtual_router_id 2
 priority 100
 virtual_ipaddress {
  192.0.2.2
 }
}
"#;
    let err = import_text("tracking_unsupported", text, false).unwrap_err();
    let line = |needle: &str| text.lines().position(|l| l.trim() == needle).unwrap() + 1;
    let unsupported: Vec<(usize, String)> = err
        .diagnostics()
        .iter()
        .filter(|d| d.severity == Severity::Unsupported)
        .map(|d| (d.line, d.keyword.clone()))
        .collect();
    let expected: Vec<(usize, String)> = [
        // script_user is reported for the notify program it cannot apply to.
        (line("script_user nobody"), "script_user"),
        (line("rise 200"), "rise"),
        (line("user nobody nogroup"), "user"),
        (line(r#"script "/bin/echo a\"b""#), "script"),
        (line("interval 7200"), "interval"),
        (line("init_file 5 overwrite"), "init_file"),
        (line(r#"notify "/bin/group-notify""#), "notify"),
        (line("track_script {"), "track_script"),
        // `rev` has `weight 10 reverse` in its vrrp_script block.
        (line("weight 10 reverse"), "track_script"),
        (line("fast weight 5 reverse"), "track_script"),
        (line("eth1 weight -5 reverse"), "track_interface"),
        (line("f weight 2 reverse"), "track_file"),
        (line(r#"notify_master "/bin/up" root"#), "notify_master"),
    ]
    .into_iter()
    .map(|(l, k)| (l, k.to_owned()))
    .collect();
    let mut sorted = unsupported.clone();
    sorted.sort();
    let mut expected_sorted = expected;
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted, "{err}");
    // The rest imports with --allow-partial: `esc` (unconvertible) is left out and so is
    // every reversed tracker; notify_backup stays.
    let out = import_text("tracking_unsupported", text, true).unwrap();
    let instance = &out.config.instances[0];
    assert!(instance.track.is_empty(), "{:?}", instance.track);
    let notify = instance.notify.as_ref().unwrap();
    assert_eq!(notify.backup, Some(vec!["/bin/down".to_owned()]));
    assert_eq!(notify.master, None);
    assert!(out.config.trackers.is_empty());
}

#[test]
fn an_unterminated_quote_in_a_script_is_an_error() {
    let text = "vrrp_script chk {\n script \"/bin/check 'x\"\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n  192.0.2.1\n }\n track_script {\n  chk\n }\n}\n";
    let err = import_text("unterminated_script_quote", text, true).unwrap_err();
    let ImportError::Invalid { diagnostics } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count(),
        1
    );
    let error = diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .unwrap();
    assert_eq!((error.line, error.keyword.as_str()), (2, "script"));
    assert!(
        error.message.contains("missing terminating '"),
        "{}",
        error.message
    );
}

#[test]
fn an_address_on_another_interface_keeps_its_interface_and_tracking() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 50\n priority 100\n \
                virtual_ipaddress {\n  192.0.2.40/24\n  198.51.100.7/24 dev eth1\n  \
                198.51.100.8/24 dev eth2 no_track\n  192.0.2.41 dev eth0\n }\n \
                virtual_ipaddress_excluded {\n  203.0.113.9/24 dev eth1\n }\n}\n";
    let output = import_text("address-dev", text, false).unwrap();
    let document = parsed(&output);
    let instance = &document["instances"][0];
    assert_eq!(
        instance["virtual_addresses"],
        json!([
            "192.0.2.40/24",
            { "address": "198.51.100.7/24", "interface": "eth1" },
            { "address": "198.51.100.8/24", "interface": "eth2", "track": false },
            // `dev` naming the instance's own interface is the plain form.
            "192.0.2.41"
        ])
    );
    assert_eq!(
        instance["excluded_addresses"],
        json!([{ "address": "203.0.113.9/24", "interface": "eth1" }])
    );
    assert!(
        found(&output.warnings, Severity::Unsupported).is_empty(),
        "{:?}",
        output.warnings
    );
    // What the importer printed is a config vrrpd loads.
    let loaded = vrrpd::config::load_str(&output.json, "imported").unwrap();
    let held = loaded.instances[0].held_addresses();
    assert_eq!(held[1].interface.as_deref(), Some("eth1"));
    assert!(held[1].track);
    assert_eq!(held[2].interface.as_deref(), Some("eth2"));
    assert!(!held[2].track);
    assert_eq!(held[3].interface, None);
}

/// virtual_routes and virtual_rules, in the forms keepalived.conf(5) and its samples use.
#[test]
fn virtual_routes_and_rules_are_imported() {
    let name = "routes.conf";
    let out = import(name);
    let json = parsed(&out);
    assert_eq!(
        json["instances"][0]["virtual_routes"],
        json!([
            { "destination": "203.0.113.0/24", "gateway": "198.51.100.1", "interface": "eth0",
              "source": "198.51.100.40" },
            { "destination": "203.0.113.0/25", "gateway": "198.51.100.1", "table": 100,
              "metric": 10 },
            { "destination": "192.0.2.128/25", "interface": "eth1" },
            { "destination": "198.51.100.128/25", "type": "blackhole" },
            { "destination": "203.0.113.200/32", "type": "unreachable" },
            { "destination": "0.0.0.0/0", "gateway": "198.51.100.1", "interface": "eth0",
              "table": 100, "onlink": true },
            { "destination": "default", "gateway": "198.51.100.254", "table": 200 }
        ])
    );
    // A rule without a preference gets the one keepalived gives it: 16384, then 16383,
    // per family, in file order.
    assert_eq!(
        json["instances"][0]["virtual_rules"],
        json!([
            { "priority": 1000, "from": "198.51.100.40", "table": 100 },
            { "priority": 1001, "to": "203.0.113.0/24", "fwmark": 16, "fwmask": 255,
              "in_interface": "eth0", "table": 100 },
            { "priority": 16384, "from": "198.51.100.0/24", "table": 200 },
            { "priority": 1002, "to": "192.0.2.128/25", "action": "blackhole" },
            { "priority": 16383, "from": "198.51.100.41", "out_interface": "eth1",
              "action": "unreachable" }
        ])
    );
    assert_eq!(
        json["instances"][1]["virtual_routes"],
        json!([
            { "destination": "2001:db8:1::/48", "gateway": "2001:db8::1" },
            { "destination": "2001:db8:2::/48", "type": "prohibit", "metric": 100 },
            { "destination": "::/0", "gateway": "fe80::1", "interface": "eth0", "table": 100 }
        ])
    );
    assert_eq!(
        json["instances"][1]["virtual_rules"],
        json!([
            { "priority": 2000, "from": "2001:db8::40", "table": 100 },
            { "priority": 16384, "to": "2001:db8:3::/48", "fwmark": 7, "table": 100 }
        ])
    );
    // What keepalived does otherwise is said, line by line.
    assert_eq!(
        found(&out.warnings, Severity::Warning),
        [
            at(name, "onlink dev eth0 no_track", "no_track"),
            at(name, "from 198.51.100.0/24 table 200", "from"),
            at(name, "oif eth1 from", "oif"),
            at(name, "to 2001:db8:3::/48 fwmark 7", "to"),
        ]
    );
    assert!(message(&out.warnings, "oif").contains("16383"));
    assert!(message(&out.warnings, "no_track").contains("puts a virtual route"));
    let notes = found(&out.warnings, Severity::Note);
    assert!(
        notes.contains(&at(name, "dev eth1 scope link", "scope")),
        "{notes:?}"
    );
    assert!(
        notes.contains(&at(name, "protocol static", "protocol")),
        "{notes:?}"
    );
}

#[test]
fn route_and_rule_options_vrrpd_lacks_are_reported_and_left_out() {
    let name = "routes-unsupported.conf";
    let expected = [
        at(name, "mtu 1400", "mtu"),
        at(name, "throw 198.51.100.0/24", "throw"),
        at(name, "2001:db8:1::/48 dev eth0", "2001:db8:1::/48"),
        at(name, "table isp2", "table"),
        at(name, "scope host", "scope"),
        at(name, "blackhole 192.0.2.128/25 via", "blackhole"),
        at(name, "not from 192.0.2.40", "not"),
        at(name, "table 100 preference 11", "table"),
        at(name, "goto 100", "goto"),
        at(name, "inet6 to 2001:db8", "inet6"),
    ];
    let err = run(&conf(name), false).unwrap_err();
    assert_eq!(found(err.diagnostics(), Severity::Unsupported), expected);
    let out = run(&conf(name), true).unwrap();
    assert_eq!(found(&out.warnings, Severity::Unsupported), expected);
    let instance = &parsed(&out)["instances"][0];
    assert_eq!(
        instance["virtual_routes"],
        json!([{ "destination": "192.0.2.64/26", "interface": "eth0" }])
    );
    assert_eq!(
        instance["virtual_rules"],
        json!([{ "priority": 13, "to": "192.0.2.64/26", "table": 100 }])
    );
    assert!(message(&out.warnings, "2001:db8:1::/48").contains("in its family"));
    assert!(message(&out.warnings, "scope").contains("scope link"));
}

#[test]
fn route_and_rule_lines_keepalived_refuses_are_errors() {
    let name = "routes-errors.conf";
    let err = run(&conf(name), true).unwrap_err();
    let ImportError::Invalid { diagnostics } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        found(diagnostics, Severity::Error),
        [
            at(name, "203.0.113.5/24", "virtual_routes"),
            at(name, "via 192.0.2.1 dev eth0", "via"),
            at(name, "203.0.113.0/24", "203.0.113.0/24"),
            at(name, "via 2001:db8::1", "2001:db8::1"),
            at(name, "from 192.0.2.41 preference 10", "from"),
            at(name, "table 100 blackhole", "blackhole"),
            at(name, "bogus", "bogus"),
        ]
    );
    assert!(message(diagnostics, "virtual_routes").contains("203.0.113.0/24"));
}

#[test]
fn use_vmac_becomes_use_virtual_mac() {
    let instance = |name: &str, vrid: u8, use_vmac: &str| {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n priority 100\n \
             {use_vmac}\n virtual_ipaddress {{\n  192.0.2.{vrid}\n }}\n}}\n"
        )
    };
    let text = [
        instance("VI_1", 50, "use_vmac"),
        instance("VI_2", 51, "use_vmac vrrp4-51"),
        // `name` lets an interface be called like a keyword.
        instance("VI_3", 52, "use_vmac name group netlink_notify_msg"),
    ]
    .concat();
    let output = import_text("use-vmac", &text, false).unwrap();
    let document = parsed(&output);
    let instances = document["instances"].as_array().unwrap();
    assert_eq!(instances[0]["use_virtual_mac"], json!(true));
    assert_eq!(instances[0].get("virtual_mac_interface"), None);
    assert_eq!(instances[1]["virtual_mac_interface"], json!("vrrp4-51"));
    assert_eq!(instances[2]["virtual_mac_interface"], json!("group"));
    // A MAC of one's own is keepalived's, not the RFC's: unsupported.
    let own_mac = instance("VI_1", 50, "use_vmac vrrp.50 02:00:00:00:00:01");
    let Err(ImportError::Unsupported { diagnostics }) =
        import_text("use-vmac-mac", &own_mac, false)
    else {
        panic!("a MAC of one's own was imported");
    };
    assert!(
        diagnostics
            .iter()
            .any(|d| d.keyword == "use_vmac" && d.message.contains("02:00:00:00:00:01")),
        "{diagnostics:?}"
    );
}
