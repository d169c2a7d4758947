//! Each rule violated once: the error names the right JSON pointer and says what is wrong.

use serde_json::{Value, json};
use vrrpd::config::{ConfigError, load_str, load_value};

/// A valid VRRPv2 instance like the user's (values from the documentation ranges).
fn v2_instance(name: &str) -> Value {
    json!({
        "name": name,
        "interface": "eth0",
        "virtual_router_id": 50,
        "version": 2,
        "priority": 150,
        "authentication": { "type": "pass", "password": "password" },
        "virtual_addresses": ["192.0.2.40"]
    })
}

fn v3_instance(name: &str) -> Value {
    json!({
        "name": name,
        "interface": "eth0",
        "virtual_router_id": 51,
        "priority": 100,
        "virtual_addresses": ["192.0.2.41/24"]
    })
}

fn doc(instances: Vec<Value>) -> Value {
    json!({ "instances": instances })
}

/// One instance, modified by `edit`.
fn with(mut instance: Value, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    edit(instance.as_object_mut().expect("instance is an object"));
    doc(vec![instance])
}

fn problems(document: &Value) -> Vec<(String, String)> {
    match load_value(document, "test.json") {
        Ok(config) => panic!("expected problems, but it loaded: {config:?}"),
        Err(ConfigError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| (p.pointer, p.message))
            .collect(),
        Err(other) => panic!("expected ConfigError::Invalid, got {other}"),
    }
}

/// Exactly one problem, at `pointer`, whose message contains every one of `words`.
#[track_caller]
fn assert_single_problem(document: &Value, pointer: &str, words: &[&str]) {
    let found = problems(document);
    assert_eq!(
        found.len(),
        1,
        "expected one problem at {pointer}, got {found:#?}"
    );
    let (found_pointer, message) = &found[0];
    assert_eq!(found_pointer, pointer, "message: {message}");
    for word in words {
        assert!(
            message.contains(word),
            "{message:?} should contain {word:?}"
        );
    }
}

#[track_caller]
fn assert_loads(document: &Value) {
    if let Err(error) = load_value(document, "test.json") {
        panic!("expected to load, got: {error}");
    }
}

#[test]
fn the_valid_bases_load() {
    assert_loads(&doc(vec![v2_instance("a")]));
    assert_loads(&doc(vec![v3_instance("b")]));
}

#[test]
fn priority_out_of_range() {
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("priority".into(), json!(300))
        }),
        "/instances/0/priority",
        &["300 is greater than the maximum of 255"],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("priority".into(), json!(0))
        }),
        "/instances/0/priority",
        &["0 is less than the minimum of 1"],
    );
}

#[test]
fn priority_255_is_allowed_for_the_address_owner() {
    assert_loads(&with(v2_instance("a"), |i| {
        _ = i.insert("priority".into(), json!(255))
    }));
}

#[test]
fn virtual_router_id_out_of_range() {
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("virtual_router_id".into(), json!(0))
        }),
        "/instances/0/virtual_router_id",
        &["0 is less than the minimum of 1"],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("virtual_router_id".into(), json!(256))
        }),
        "/instances/0/virtual_router_id",
        &["256 is greater than the maximum of 255"],
    );
}

#[test]
fn wrong_type() {
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("priority".into(), json!("100"))
        }),
        "/instances/0/priority",
        &["expected an integer, found the string \"100\""],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("preempt".into(), json!("yes"))
        }),
        "/instances/0/preempt",
        &["expected a boolean"],
    );
}

#[test]
fn v2_interval_must_be_whole_seconds() {
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("advert_interval_ms".into(), json!(1500))
        }),
        "/instances/0/advert_interval_ms",
        &["1500 is not a multiple of 1000", "VRRPv2", "whole seconds"],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("advert_interval_ms".into(), json!(500))
        }),
        "/instances/0/advert_interval_ms",
        &["500 is less than the minimum of 1000", "VRRPv2"],
    );
    assert_loads(&with(v2_instance("a"), |i| {
        _ = i.insert("advert_interval_ms".into(), json!(255_000))
    }));
}

#[test]
fn v3_interval_must_be_centiseconds() {
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert("advert_interval_ms".into(), json!(15))
        }),
        "/instances/0/advert_interval_ms",
        &["15 is not a multiple of 10", "VRRPv3"],
    );
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert("advert_interval_ms".into(), json!(50_000))
        }),
        "/instances/0/advert_interval_ms",
        &["50000 is greater than the maximum of 40950", "VRRPv3"],
    );
    assert_loads(&with(v3_instance("a"), |i| {
        _ = i.insert("advert_interval_ms".into(), json!(10))
    }));
    assert_loads(&with(v3_instance("a"), |i| {
        _ = i.insert("advert_interval_ms".into(), json!(40_950))
    }));
}

#[test]
fn password_longer_than_8_characters_is_refused_not_cut() {
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert(
                "authentication".into(),
                json!({ "type": "pass", "password": "password1" }),
            )
        }),
        "/instances/0/authentication/password",
        &["\"password1\" is longer than 8 characters"],
    );
}

#[test]
fn password_longer_than_8_bytes_is_refused() {
    // Five characters, ten bytes: the schema's maxLength counts characters, the wire bytes.
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert(
                "authentication".into(),
                json!({ "type": "pass", "password": "ééééé" }),
            )
        }),
        "/instances/0/authentication/password",
        &["10 bytes", "at most 8 bytes"],
    );
}

#[test]
fn password_needs_version_2() {
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert(
                "authentication".into(),
                json!({ "type": "pass", "password": "secret" }),
            )
        }),
        "/instances/0/authentication/type",
        &["needs version \"2\"", "VRRPv3 has no authentication"],
    );
    assert_loads(&with(v3_instance("a"), |i| {
        _ = i.insert("authentication".into(), json!({ "type": "none" }))
    }));
}

#[test]
fn authentication_variants() {
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("authentication".into(), json!({ "type": "pass" }))
        }),
        "/instances/0/authentication",
        &["the required key \"password\" is missing"],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("authentication".into(), json!({ "type": "ah" }))
        }),
        "/instances/0/authentication/type",
        &["\"ah\" is not one of \"none\" or \"pass\""],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert(
                "authentication".into(),
                json!({ "type": "none", "password": "x" }),
            )
        }),
        "/instances/0/authentication/password",
        &["unknown key \"password\""],
    );
}

#[test]
fn unknown_keys_are_rejected_with_their_pointer() {
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("priorty".into(), json!(100))
        }),
        "/instances/0/priorty",
        &["unknown key \"priorty\"", "did you mean \"priority\"?"],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("track_script".into(), json!("chk"))
        }),
        "/instances/0/track_script",
        &[
            "unknown key \"track_script\"",
            "the keys here are",
            "virtual_router_id",
        ],
    );
    let mut top = doc(vec![v2_instance("a")]);
    top["global_defs"] = json!({});
    assert_single_problem(&top, "/global_defs", &["unknown key \"global_defs\""]);
}

#[test]
fn missing_required_key() {
    assert_single_problem(
        &with(v2_instance("a"), |i| _ = i.remove("interface")),
        "/instances/0",
        &["the required key \"interface\" is missing"],
    );
    assert_single_problem(
        &json!({}),
        "",
        &["the required key \"instances\" is missing"],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            i.remove("interface");
            i.remove("priority");
        }),
        "/instances/0",
        &["the required keys \"interface\" and \"priority\" are missing"],
    );
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("authentication".into(), json!({ "password": "secret" }))
        }),
        "/instances/0/authentication",
        &["the required key \"type\" is missing"],
    );
}

#[test]
fn bad_virtual_address_format_is_rejected() {
    for bad in [
        "192.168.0.300",
        "192.0.2.40/33",
        "lb.example",
        "2001:db8::1::2",
        "192.0.2.40 ",
    ] {
        assert_single_problem(
            &with(v3_instance("a"), |i| {
                _ = i.insert("virtual_addresses".into(), json!(["192.0.2.1", bad]))
            }),
            "/instances/0/virtual_addresses/1",
            &[&format!(
                "{bad:?} is not an IPv4 or IPv6 address with an optional prefix length"
            )],
        );
    }
}

#[test]
fn bad_source_address_format_is_rejected() {
    // Formats are enforced: "format": "ipv4"/"ipv6" is not a mere annotation here.
    for bad in ["192.0.2.999", "192.0.2.1/24", "fe80::1%eth0", "localhost"] {
        assert_single_problem(
            &with(v3_instance("a"), |i| {
                _ = i.insert("source_address".into(), json!(bad))
            }),
            "/instances/0/source_address",
            &[&format!("{bad:?} is not an IPv4 or IPv6 address")],
        );
    }
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert("source_address".into(), json!(17))
        }),
        "/instances/0/source_address",
        &["expected a string, found the number 17"],
    );
}

#[test]
fn at_least_one_virtual_address() {
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert("virtual_addresses".into(), json!([]))
        }),
        "/instances/0/virtual_addresses",
        &["needs at least 1 virtual address"],
    );
}

#[test]
fn at_least_one_instance() {
    assert_single_problem(
        &json!({ "instances": [] }),
        "/instances",
        &["needs at least 1 instance"],
    );
}

#[test]
fn instance_names_are_unique() {
    assert_single_problem(
        &doc(vec![
            v2_instance("VI_1"),
            with_vrid(v2_instance("VI_1"), 60),
        ]),
        "/instances/1/name",
        &["\"VI_1\" is already used by /instances/0"],
    );
}

fn with_vrid(mut instance: Value, vrid: u8) -> Value {
    instance["virtual_router_id"] = json!(vrid);
    instance
}

#[test]
fn interface_vrid_family_is_unique() {
    let mut second = v3_instance("b");
    second["virtual_router_id"] = json!(50);
    second["virtual_addresses"] = json!(["198.51.100.1"]);
    assert_single_problem(
        &doc(vec![v2_instance("a"), second.clone()]),
        "/instances/1/virtual_router_id",
        &["virtual router 50 already runs for IPv4 on interface \"eth0\" (/instances/0)"],
    );
    // The same VRID on another interface, or for the other family, is a different router.
    let mut other_interface = second.clone();
    other_interface["interface"] = json!("eth1");
    assert_loads(&doc(vec![v2_instance("a"), other_interface]));
    let mut other_family = second;
    other_family["virtual_addresses"] = json!(["fe80::50", "2001:db8::50"]);
    assert_loads(&doc(vec![v2_instance("a"), other_family]));
}

#[test]
fn one_address_family_per_instance() {
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert(
                "virtual_addresses".into(),
                json!(["192.0.2.1", "2001:db8::1"]),
            )
        }),
        "/instances/0/virtual_addresses/1",
        &["2001:db8::1 is IPv6, but this instance's first virtual address is IPv4"],
    );
}

#[test]
fn version_2_is_ipv4_only() {
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("virtual_addresses".into(), json!(["fe80::1"]))
        }),
        "/instances/0/virtual_addresses/0",
        &["VRRPv2 (RFC 3768) is IPv4-only"],
    );
}

#[test]
fn v3_ipv6_first_address_is_link_local() {
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert(
                "virtual_addresses".into(),
                json!(["2001:db8::1", "fe80::1"]),
            )
        }),
        "/instances/0/virtual_addresses/0",
        &[
            "2001:db8::1 is not link-local",
            "first virtual address must be the link-local one",
            "RFC 5798 §5.2.9",
        ],
    );
    assert_loads(&with(v3_instance("a"), |i| {
        _ = i.insert(
            "virtual_addresses".into(),
            json!(["fe80::1", "2001:db8::1/64"]),
        )
    }));
}

#[test]
fn source_address_family_matches() {
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert("source_address".into(), json!("fe80::2"))
        }),
        "/instances/0/source_address",
        &["fe80::2 is IPv6, but the virtual addresses are IPv4"],
    );
    assert_loads(&with(v3_instance("a"), |i| {
        _ = i.insert("source_address".into(), json!("192.0.2.11"))
    }));
}

#[test]
fn ipv6_source_address_is_link_local() {
    let mut instance = v3_instance("a");
    instance["virtual_addresses"] = json!(["fe80::1"]);
    instance["source_address"] = json!("2001:db8::2");
    assert_single_problem(
        &doc(vec![instance]),
        "/instances/0/source_address",
        &["not link-local"],
    );
}

#[test]
fn virtual_addresses_are_unicast_and_listed_once() {
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert(
                "virtual_addresses".into(),
                json!(["192.0.2.1", "192.0.2.1/24"]),
            )
        }),
        "/instances/0/virtual_addresses/1",
        &["192.0.2.1 is already listed at /instances/0/virtual_addresses/0"],
    );
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert("virtual_addresses".into(), json!(["224.0.0.18"]))
        }),
        "/instances/0/virtual_addresses/0",
        &["multicast", "cannot be a virtual address"],
    );
}

#[test]
fn interface_names_follow_linux_rules() {
    for (name, words) in [
        ("eth 0", "may not contain"),
        ("eth0/1", "may not contain"),
        ("eth0:1", "may not contain"),
        ("", "must not be empty"),
        ("averyveryverylong", "longer than 15 characters"),
        ("..", "not a valid interface name"),
        ("ééééééééé", "18 bytes long"),
    ] {
        assert_single_problem(
            &with(v2_instance("a"), |i| {
                _ = i.insert("interface".into(), json!(name))
            }),
            "/instances/0/interface",
            &[words],
        );
    }
    assert_loads(&with(v2_instance("a"), |i| {
        _ = i.insert("interface".into(), json!("enp0s31f6.100"))
    }));
}

#[test]
fn enum_values_are_listed() {
    assert_single_problem(
        &with(v3_instance("a"), |i| {
            _ = i.insert("v3_checksum".into(), json!("rfc9568"))
        }),
        "/instances/0/v3_checksum",
        &["\"rfc9568\" is not one of \"with_pseudo_header\" or \"message_only\""],
    );
}

#[test]
fn every_problem_is_reported_together() {
    let mut first = v2_instance("a");
    first["priority"] = json!(300);
    first["prio"] = json!(1);
    let mut second = v3_instance("b");
    second["virtual_addresses"] = json!(["192.0.2.999"]);
    second["advert_interval_ms"] = json!(15);
    let found = problems(&doc(vec![first, second]));
    let pointers: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "/instances/0/priority",
        "/instances/0/prio",
        "/instances/1/virtual_addresses/0",
        "/instances/1/advert_interval_ms",
    ] {
        assert!(
            pointers.contains(&expected),
            "{expected} missing from {found:#?}"
        );
    }
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn schema_and_cross_field_problems_are_reported_together() {
    // The interval is the schema's to judge, the duplicate name the cross-field rules'.
    let mut second = with_vrid(v2_instance("a"), 60);
    second["advert_interval_ms"] = json!(1500);
    let found = problems(&doc(vec![v2_instance("a"), second]));
    let pointers: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        pointers,
        ["/instances/1/advert_interval_ms", "/instances/1/name"],
        "{found:#?}"
    );
}

#[test]
fn the_error_display_reads_well() {
    let text = serde_json::to_string(&with(v2_instance("a"), |i| {
        _ = i.insert("priority".into(), json!(300))
    }))
    .unwrap();
    let error = load_str(&text, "/etc/vrrpd/vrrpd.json").unwrap_err();
    assert_eq!(
        error.to_string(),
        "/etc/vrrpd/vrrpd.json has 1 problem:\n  /instances/0/priority: 300 is greater than the maximum of 255"
    );
}

#[test]
fn an_instance_that_does_not_deserialize_does_not_hide_the_others_problems() {
    // 300 does not fit the priority's u8, so instance 0 cannot be read; instances 1 and 2
    // are still checked, alone and against each other.
    let mut first = v2_instance("a");
    first["priority"] = json!(300);
    let mut second = v3_instance("b");
    second["virtual_addresses"] = json!(["2001:db8::1"]);
    let mut third = v3_instance("b");
    third["interface"] = json!("eth1");
    let found = problems(&doc(vec![first, second, third]));
    let pointers: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/instances/0/priority",
            "/instances/1/virtual_addresses/0",
            "/instances/2/name"
        ],
        "{found:#?}"
    );
}

#[test]
fn problems_are_listed_in_document_order() {
    let mut instances: Vec<Value> = (0..12)
        .map(|i| with_vrid(v3_instance(&format!("i{i}")), i + 1))
        .collect();
    instances[10]["priority"] = json!(0);
    instances[2]["priority"] = json!(0);
    instances[2]["advert_interval_ms"] = json!(15);
    let found = problems(&doc(instances));
    let pointers: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/instances/2/advert_interval_ms",
            "/instances/2/priority",
            "/instances/10/priority"
        ]
    );
}

#[test]
fn whole_numbers_written_with_a_fraction_are_located() {
    // JSON Schema accepts 100.0 as an integer; the config types do not.
    assert_single_problem(
        &with(v2_instance("a"), |i| {
            _ = i.insert("priority".into(), json!(100.0))
        }),
        "/instances/0/priority",
        &["write 100.0 as the whole number 100"],
    );
}

#[test]
fn a_fractional_number_is_named_next_to_other_instances_problems() {
    let mut first = v2_instance("a");
    first["priority"] = json!(100.0);
    let mut second = v3_instance("b");
    second["virtual_addresses"] = json!(["2001:db8::1"]);
    let found = problems(&doc(vec![first, second]));
    let pointers: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        pointers,
        ["/instances/0/priority", "/instances/1/virtual_addresses/0"],
        "{found:#?}"
    );
}

#[test]
fn a_ca_file_needs_verification_and_https() {
    let tracker = |url: &str, verify_tls: bool| {
        let mut document = doc(vec![v3_instance("VI_1")]);
        document["trackers"] = json!([{
            "name": "caddy",
            "check": { "type": "http", "url": url, "verify_tls": verify_tls,
                       "ca_file": "/var/lib/caddy/root.crt" }
        }]);
        document
    };
    assert_loads(&tracker("https://127.0.0.1/", true));
    assert_single_problem(
        &tracker("https://127.0.0.1/", false),
        "/trackers/0/check/ca_file",
        &["verify_tls is false"],
    );
    assert_single_problem(
        &tracker("http://127.0.0.1/", true),
        "/trackers/0/check/ca_file",
        &["plain HTTP", "https://"],
    );
}

#[test]
fn excluded_addresses_are_checked_like_virtual_ones() {
    let with_excluded = |excluded: Value| {
        with(v3_instance("VI_1"), |i| {
            _ = i.insert("excluded_addresses".into(), excluded)
        })
    };
    assert_loads(&with_excluded(json!(["198.51.100.1/24", "198.51.100.2"])));
    let first = v3_instance("VI_1")["virtual_addresses"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_single_problem(
        &with_excluded(json!([first])),
        "/instances/0/excluded_addresses/0",
        &["already listed at /instances/0/virtual_addresses/0"],
    );
    assert_single_problem(
        &with_excluded(json!(["192.0.2.99", "192.0.2.99"])),
        "/instances/0/excluded_addresses/1",
        &["already listed at /instances/0/excluded_addresses/0"],
    );
    assert_single_problem(
        &with_excluded(json!(["2001:db8::1"])),
        "/instances/0/excluded_addresses/0",
        &["IPv6", "IPv4"],
    );
    assert_single_problem(
        &with_excluded(json!(["224.0.0.1"])),
        "/instances/0/excluded_addresses/0",
        &["multicast"],
    );
}

#[test]
fn a_process_check_names_what_it_looks_for() {
    let with_check = |check: Value| {
        let mut document = doc(vec![v3_instance("VI_1")]);
        document["trackers"] = json!([{ "name": "caddy", "check": check }]);
        document
    };
    assert_loads(&with_check(json!({ "type": "process", "name": "caddy" })));
    assert_loads(&with_check(
        json!({ "type": "process", "argv_prefix": ["/usr/bin/caddy", "run"], "min_count": 2 }),
    ));
    assert_single_problem(
        &with_check(json!({ "type": "process" })),
        "/trackers/0/check",
        &["`name`, `argv_prefix` or both"],
    );
    assert_single_problem(
        &with_check(json!({ "type": "process", "name": "a-process-name-too-long" })),
        "/trackers/0/check/name",
        &["15"],
    );
}

#[test]
fn a_systemd_unit_check_names_a_service_or_scope() {
    let with_unit = |unit: &str| {
        let mut document = doc(vec![v3_instance("VI_1")]);
        document["trackers"] =
            json!([{ "name": "caddy", "check": { "type": "systemd_unit", "unit": unit } }]);
        document
    };
    assert_loads(&with_unit("caddy.service"));
    assert_loads(&with_unit("session-1.scope"));
    for bad in ["caddy", "multi-user.target", "../caddy.service"] {
        assert_single_problem(
            &with_unit(bad),
            "/trackers/0/check/unit",
            &["not a service or scope unit name"],
        );
    }
}

#[test]
fn an_address_on_another_interface_is_an_object() {
    // The object form loads, with and without `track`, next to plain strings.
    assert_loads(&with(v3_instance("VI_1"), |i| {
        i.insert(
            "virtual_addresses".into(),
            json!([
                "192.0.2.41/24",
                { "address": "198.51.100.7/24", "interface": "eth1" },
                { "address": "198.51.100.8", "interface": "eth2", "track": false }
            ]),
        );
        i.insert(
            "excluded_addresses".into(),
            json!([{ "address": "203.0.113.9/24", "interface": "eth1" }]),
        );
    }));
    // A bad address inside the object is named at its own key.
    assert_single_problem(
        &with(v3_instance("VI_1"), |i| {
            i.insert(
                "virtual_addresses".into(),
                json!([{ "address": "198.51.100.300/24", "interface": "eth1" }]),
            );
        }),
        "/instances/0/virtual_addresses/0/address",
        &["\"198.51.100.300/24\"", "not an IPv4 or IPv6 address"],
    );
    // A bad string is still reported as an address, not as "expected an object".
    assert_single_problem(
        &with(v3_instance("VI_1"), |i| {
            i.insert("virtual_addresses".into(), json!(["192.0.2.300"]));
        }),
        "/instances/0/virtual_addresses/0",
        &["\"192.0.2.300\"", "not an IPv4 or IPv6 address"],
    );
    // An unknown key, with a suggestion.
    assert_single_problem(
        &with(v3_instance("VI_1"), |i| {
            i.insert(
                "virtual_addresses".into(),
                json!([{ "address": "198.51.100.7/24", "interfce": "eth1" }]),
            );
        }),
        "/instances/0/virtual_addresses/0/interfce",
        &["unknown key", "\"interface\""],
    );
    // The address is required.
    assert_single_problem(
        &with(v3_instance("VI_1"), |i| {
            i.insert("virtual_addresses".into(), json!([{ "interface": "eth1" }]));
        }),
        "/instances/0/virtual_addresses/0",
        &["address"],
    );
    // Interface names follow Linux's rules there too.
    assert_single_problem(
        &with(v3_instance("VI_1"), |i| {
            i.insert(
                "virtual_addresses".into(),
                json!([{ "address": "198.51.100.7", "interface": "a-name-longer-than-15" }]),
            );
        }),
        "/instances/0/virtual_addresses/0/interface",
        &["longer than 15"],
    );
}

#[test]
fn the_ipv6_link_local_virtual_address_stays_on_the_instances_interface() {
    assert_single_problem(
        &with(v3_instance("VI_1"), |i| {
            i.insert(
                "virtual_addresses".into(),
                json!([{ "address": "fe80::40", "interface": "eth1" }, "2001:db8::40/64"]),
            );
        }),
        "/instances/0/virtual_addresses/0/interface",
        &["fe80::40", "link-local", "\"eth0\"", "RFC 5798 §5.2.9"],
    );
    // A global IPv6 address on another interface is fine.
    assert_loads(&with(v3_instance("VI_1"), |i| {
        i.insert(
            "virtual_addresses".into(),
            json!(["fe80::40", { "address": "2001:db8:1::40/64", "interface": "eth1" }]),
        );
    }));
}

#[test]
fn virtual_routes_and_rules_are_checked_by_the_schema() {
    let with_routing = |routes: Value, rules: Value| {
        with(v3_instance("VI_1"), |i| {
            i.insert("virtual_routes".into(), routes);
            i.insert("virtual_rules".into(), rules);
        })
    };
    assert_loads(&with_routing(
        json!([
            { "destination": "203.0.113.0/24", "gateway": "192.0.2.1", "table": 100 },
            { "destination": "198.51.100.0/24", "type": "blackhole", "metric": 10 },
            { "destination": "default", "interface": "eth0" }
        ]),
        json!([{ "priority": 100, "from": "192.0.2.41", "table": 100 }]),
    ));
    assert_single_problem(
        &with_routing(
            json!([{ "destination": "203.0.113.0/24", "via": "192.0.2.1" }]),
            json!([]),
        ),
        "/instances/0/virtual_routes/0/via",
        &["unknown key", "gateway"],
    );
    assert_single_problem(
        &with_routing(
            json!([{ "destination": "203.0.113.0/24", "type": "throw" }]),
            json!([]),
        ),
        "/instances/0/virtual_routes/0/type",
        &["blackhole", "unreachable", "prohibit"],
    );
    assert_single_problem(
        &with_routing(
            json!([{ "destination": "203.0.113.0/33", "interface": "eth0" }]),
            json!([]),
        ),
        "/instances/0/virtual_routes/0/destination",
        &["203.0.113.0/33"],
    );
    assert_single_problem(
        &with_routing(
            json!([{ "destination": "203.0.113.0/24", "interface": "eth0", "table": 0 }]),
            json!([]),
        ),
        "/instances/0/virtual_routes/0/table",
        &["0", "1"],
    );
    assert_single_problem(
        &with_routing(
            json!([{ "destination": "203.0.113.0/24", "gateway": "192.0.2.300" }]),
            json!([]),
        ),
        "/instances/0/virtual_routes/0/gateway",
        &["192.0.2.300"],
    );
    assert_single_problem(
        &with_routing(json!([{ "gateway": "192.0.2.1" }]), json!([])),
        "/instances/0/virtual_routes/0",
        &["destination"],
    );
    // A rule's priority is required: the kernel would pick one at every add.
    assert_single_problem(
        &with_routing(json!([]), json!([{ "from": "192.0.2.41", "table": 100 }])),
        "/instances/0/virtual_rules/0",
        &["priority"],
    );
    assert_single_problem(
        &with_routing(
            json!([]),
            json!([{ "priority": 1, "from": "192.0.2.41", "action": "goto" }]),
        ),
        "/instances/0/virtual_rules/0/action",
        &["table", "blackhole"],
    );
    assert_single_problem(
        &with_routing(
            json!([]),
            json!([{ "priority": 1, "in_interface": "eth0:1", "table": 5 }]),
        ),
        "/instances/0/virtual_rules/0/in_interface",
        &["eth0:1"],
    );
}
