use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;

/// The user's lb01 instance (keepalived: VRRPv2, PASS "password", VRID 50, priority 150,
/// advert_int 1, vrrp_garp_master_refresh 60).
fn lb01() -> Value {
    json!({
        "instances": [{
            "name": "VI_1",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": 2,
            "priority": 150,
            "authentication": { "type": "pass", "password": "password" },
            "virtual_addresses": ["192.168.0.40"],
            "garp_master_refresh_s": 60
        }]
    })
}

fn load(value: &Value) -> Result<Config, ConfigError> {
    load_value(value, "test.json")
}

fn problems(value: &Value) -> Vec<ConfigProblem> {
    match load(value) {
        Ok(config) => panic!("expected problems, loaded {config:?}"),
        Err(error) => error.problems().to_vec(),
    }
}

fn pattern_validator(pattern: String) -> jsonschema::Validator {
    jsonschema::validator_for(&json!({ "type": "string", "pattern": pattern }))
        .expect("pattern compiles")
}

/// Deterministic pseudo-random numbers (xorshift), so address samples are reproducible.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn ipv6_pattern_agrees_with_the_standard_parser() {
    let validator = pattern_validator(schema::ipv6_with_prefix_pattern());
    let mut samples: Vec<String> = [
        "::",
        "::1",
        "1::",
        "fe80::1",
        "fe80::",
        "2001:db8::40",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "1::8",
        "1:2:3:4:5:6::8",
        "::ffff:192.0.2.1",
        "64:ff9b::198.51.100.7",
        "1:2:3:4:5:6:192.0.2.1",
        "1:2:3:4:5::192.0.2.1",
        "::1.2.3.4",
        "FE80::ABCD",
        // invalid
        "",
        ":",
        ":::",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "12345::",
        "g::1",
        "1:2:3:4:5:6:7",
        "::ffff:256.0.0.1",
        "::ffff:1.2.3",
        "1:2:3:4:5:6:7:192.0.2.1",
        "fe80::1%eth0",
        " ::1",
        "::1 ",
        "1:2:3:4:5:6:7:8::",
        "::1.2.3.04",
        "192.0.2.1",
        "1:::2",
        ":1::2",
        "1::2:",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Random addresses with runs of zero groups, in compressed, full and mixed notation.
    let mut state = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut groups = [0u16; 8];
        for group in &mut groups {
            let r = xorshift(&mut state);
            *group = if r.is_multiple_of(3) {
                0
            } else {
                (r >> 8) as u16 >> (r % 13)
            };
        }
        let ip = Ipv6Addr::from(groups);
        samples.push(ip.to_string());
        samples.push(
            groups
                .iter()
                .map(|g| format!("{g:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        );
        // Mixed notation: the first six groups (compressed as std writes them), then IPv4.
        let v4 = Ipv4Addr::from((u32::from(groups[6]) << 16) | u32::from(groups[7]));
        let [a, b, c, d, e, f, _, _] = groups;
        let head = Ipv6Addr::from([a, b, c, d, e, f, 0, 1]).to_string();
        samples.push(format!("{}{v4}", head.strip_suffix('1').unwrap_or(&head)));
        samples.push(format!("{a:x}:{b:x}:{c:x}:{d:x}:{e:x}:{f:x}:{v4}"));
    }
    let valid = samples
        .iter()
        .filter(|s| s.parse::<Ipv6Addr>().is_ok())
        .count();
    assert!(
        valid > 4000 && samples.len() - valid > 20,
        "{valid} of {} samples valid",
        samples.len()
    );
    for sample in &samples {
        let expected = sample.parse::<Ipv6Addr>().is_ok();
        assert_eq!(
            validator.is_valid(&json!(sample)),
            expected,
            "{sample:?}: std says {expected}"
        );
        for prefix in ["0", "64", "128"] {
            let with_prefix = format!("{sample}/{prefix}");
            assert_eq!(
                validator.is_valid(&json!(with_prefix)),
                expected,
                "{with_prefix:?}"
            );
        }
    }
    for bad_prefix in ["::1/129", "::1/", "::1/01", "::1/+1", "::1/64/64"] {
        assert!(!validator.is_valid(&json!(bad_prefix)), "{bad_prefix:?}");
    }
}

#[test]
fn ipv4_pattern_agrees_with_the_standard_parser() {
    let validator = pattern_validator(schema::ipv4_with_prefix_pattern());
    let mut samples: Vec<String> = [
        "0.0.0.0",
        "255.255.255.255",
        "192.0.2.1",
        "256.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.4 ",
        "a.b.c.d",
        "1..2.3",
        "١.2.3.4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut state = 0x1234_5678_9abc_def1;
    for _ in 0..500 {
        samples.push(Ipv4Addr::from(xorshift(&mut state) as u32).to_string());
    }
    for sample in &samples {
        let expected = sample.parse::<Ipv4Addr>().is_ok();
        assert_eq!(validator.is_valid(&json!(sample)), expected, "{sample:?}");
    }
    for (text, valid) in [
        ("192.0.2.1/0", true),
        ("192.0.2.1/32", true),
        ("192.0.2.1/33", false),
        ("192.0.2.1/024", false),
    ] {
        assert_eq!(validator.is_valid(&json!(text)), valid, "{text:?}");
    }
}

#[test]
fn virtual_address_parse_gives_address_and_prefix() {
    let parse = |s: &str| VirtualAddress::new(s).parse();
    assert_eq!(parse("192.0.2.40"), Ok((IpAddr::from([192, 0, 2, 40]), 32)));
    assert_eq!(
        parse("192.0.2.40/24"),
        Ok((IpAddr::from([192, 0, 2, 40]), 24))
    );
    assert_eq!(
        parse("2001:db8::1"),
        Ok(("2001:db8::1".parse().unwrap(), 128))
    );
    assert_eq!(
        parse("2001:db8::1/64"),
        Ok(("2001:db8::1".parse().unwrap(), 64))
    );
    assert!(parse("192.0.2.40/33").is_err());
    assert!(parse("192.0.2.40/+24").is_err());
    assert!(parse("192.0.2.40/").is_err());
    assert!(parse("example.org").is_err());
}

#[test]
fn omitted_keys_take_their_documented_defaults() {
    let config = load(&json!({
        "instances": [{
            "name": "a", "interface": "eth0", "virtual_router_id": 1, "priority": 100,
            "virtual_addresses": ["192.0.2.1"]
        }]
    }))
    .expect("minimal config loads");
    let instance = &config.instances[0];
    assert_eq!(instance.version, VrrpVersion::V3);
    assert_eq!(instance.advert_interval_ms, 1000);
    assert_eq!(instance.authentication, AuthenticationConfig::None);
    assert!(instance.preempt);
    assert_eq!(instance.preempt_delay_s, 0);
    assert_eq!(instance.v3_checksum, V3Checksum::WithPseudoHeader);
    assert_eq!(instance.source_address, None);
    assert_eq!(instance.garp_burst_count, 5);
    assert_eq!(instance.garp_burst_interval_ms, 0);
    assert_eq!(instance.garp_repeat_delay_s, 5);
    assert_eq!(instance.garp_master_refresh_s, 0);
    assert!(instance.make_before_break);
}

#[test]
fn schema_defaults_match_serde_defaults() {
    // The `default` annotations editors show must be what serde actually fills in.
    let minimal: InstanceConfig = serde_json::from_value(json!({
        "name": "a", "interface": "eth0", "virtual_router_id": 1, "priority": 100,
        "virtual_addresses": ["192.0.2.1"]
    }))
    .unwrap();
    let filled = serde_json::to_value(&minimal).unwrap();
    let schema = schema();
    let properties = schema["$defs"]["InstanceConfig"]["properties"]
        .as_object()
        .unwrap();
    let mut checked = 0;
    for (key, property) in properties {
        if let Some(default) = property.get("default") {
            assert_eq!(&filled[key], default, "default of {key}");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 11,
        "every optional key but source_address documents its default"
    );
}

#[test]
fn version_is_an_integer_in_and_out() {
    for (written, expected) in [(json!(2), VrrpVersion::V2), (json!(3), VrrpVersion::V3)] {
        let mut doc = lb01();
        doc["instances"][0]["version"] = written.clone();
        if expected == VrrpVersion::V3 {
            doc["instances"][0]["authentication"] = json!({ "type": "none" });
        }
        let config = load(&doc).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(config.instances[0].version, expected);
        assert_eq!(serde_json::to_value(expected).unwrap(), written);
    }
    let mut doc = lb01();
    doc["instances"][0]["version"] = json!(4);
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/instances/0/version");
    assert_eq!(found[0].message, r#"4 is not one of 2 or 3"#);
    doc["instances"][0]["version"] = json!("2");
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/instances/0/version");
}

#[test]
fn to_params_maps_the_users_lb01_instance() {
    let config = load(&lb01()).expect("lb01 loads");
    let local = IpAddr::from([192, 168, 0, 41]);
    let params = config.instances[0].to_params(local);
    let expected = InstanceParams {
        version: Version::V2,
        virtual_router_id: 50,
        priority: 150,
        advert_interval_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        authentication: Authentication::SimplePassword(*b"password"),
        addresses: vec![IpAddr::from([192, 168, 0, 40])],
        local_address: local,
        checksum_mode: ChecksumMode::WithPseudoHeader,
        garp: GarpParams {
            burst_count: 5,
            burst_spacing: Duration::ZERO,
            second_burst_delay: Some(Duration::from_secs(5)),
            master_refresh: Some(Duration::from_secs(60)),
        },
    };
    assert_eq!(params, expected);
}

#[test]
fn to_params_pads_short_passwords_and_maps_v3_settings() {
    let mut instance = load(&lb01()).unwrap().instances.remove(0);
    instance.authentication = AuthenticationConfig::Pass {
        password: "abc".to_owned(),
    };
    let params = instance.to_params(IpAddr::from([192, 0, 2, 1]));
    assert_eq!(
        params.authentication,
        Authentication::SimplePassword(*b"abc\0\0\0\0\0")
    );

    let config = load(&json!({
        "instances": [{
            "name": "v6", "interface": "eth1", "virtual_router_id": 7, "priority": 255,
            "advert_interval_ms": 50, "preempt": false, "preempt_delay_s": 30,
            "v3_checksum": "message_only", "garp_burst_count": 1, "garp_burst_interval_ms": 20,
            "garp_repeat_delay_s": 0,
            "virtual_addresses": ["fe80::7", "2001:db8::7/64"]
        }]
    }))
    .expect("v3 IPv6 config loads");
    let local: IpAddr = "fe80::2".parse().unwrap();
    let params = config.instances[0].to_params(local);
    assert_eq!(params.version, Version::V3);
    assert_eq!(params.priority, 255);
    assert_eq!(params.advert_interval_cs, 5);
    assert!(!params.preempt);
    assert_eq!(params.preempt_delay, Duration::from_secs(30));
    assert_eq!(params.authentication, Authentication::None);
    assert_eq!(
        params.addresses,
        vec![
            "fe80::7".parse::<IpAddr>().unwrap(),
            "2001:db8::7".parse().unwrap()
        ]
    );
    assert_eq!(params.checksum_mode, ChecksumMode::MessageOnly);
    assert_eq!(
        params.garp,
        GarpParams {
            burst_count: 1,
            burst_spacing: Duration::from_millis(20),
            second_burst_delay: None,
            master_refresh: None
        }
    );
    assert_eq!(
        config.instances[0].addresses_with_prefix(),
        vec![
            ("fe80::7".parse().unwrap(), 128),
            ("2001:db8::7".parse().unwrap(), 64)
        ]
    );
    assert!(config.instances[0].is_ipv6());
}

#[test]
fn interval_conversion_clamps_to_what_the_wire_carries() {
    let mut instance = load(&lb01()).unwrap().instances.remove(0);
    for (version, ms, cs) in [
        (VrrpVersion::V2, 1000, 100),
        (VrrpVersion::V2, 255_000, 25_500),
        (VrrpVersion::V2, 300_000, 25_500),
        (VrrpVersion::V2, 10, 100),
        (VrrpVersion::V3, 10, 1),
        (VrrpVersion::V3, 40_950, 4095),
        (VrrpVersion::V3, 100_000, 4095),
        (VrrpVersion::V3, 0, 1),
    ] {
        instance.version = version;
        instance.advert_interval_ms = ms;
        assert_eq!(instance.advert_interval_cs(), cs, "{version:?} {ms} ms");
    }
}

#[test]
fn display_lists_every_problem_with_its_pointer() {
    let error = ConfigError::Invalid {
        path: "/etc/vrrpd.json".to_owned(),
        problems: vec![
            ConfigProblem {
                pointer: "/instances/0/priority".to_owned(),
                message: "300 is too big".to_owned(),
            },
            ConfigProblem {
                pointer: String::new(),
                message: "whole document".to_owned(),
            },
        ],
    };
    assert_eq!(
        error.to_string(),
        "/etc/vrrpd.json has 2 problems:\n  /instances/0/priority: 300 is too big\n  /: whole document"
    );
    let one = ConfigError::Invalid {
        path: "x".to_owned(),
        problems: vec![ConfigProblem {
            pointer: "/a".to_owned(),
            message: "m".to_owned(),
        }],
    };
    assert_eq!(one.to_string(), "x has 1 problem:\n  /a: m");
}

#[test]
fn syntax_errors_name_the_origin() {
    let error = load_str("{ \"instances\": [ }", "broken.json").unwrap_err();
    assert!(matches!(error, ConfigError::Json { .. }));
    assert!(
        error
            .to_string()
            .starts_with("broken.json is not valid JSON: "),
        "{error}"
    );
    assert!(error.problems().is_empty());
}

#[test]
fn load_file_reports_a_missing_file() {
    let error = load_file(std::path::Path::new("/nonexistent/vrrpd.json")).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(
        error
            .to_string()
            .starts_with("cannot read /nonexistent/vrrpd.json: "),
        "{error}"
    );
}

#[test]
fn a_problem_the_schema_reports_is_not_repeated_by_the_cross_field_rules() {
    // 16 bytes: both the schema (maxLength) and the byte check would object.
    let mut doc = lb01();
    doc["instances"][0]["interface"] = json!("a-very-long-name");
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/instances/0/interface");
}

// ---- Unicast peers and sync groups ---------------------------------------------------------

fn unicast_lb01() -> Value {
    let mut doc = lb01();
    doc["instances"][0]["unicast_source"] = json!("192.168.0.41");
    doc["instances"][0]["unicast_peers"] = json!(["192.168.0.42"]);
    doc
}

#[test]
fn unicast_peers_load_and_pick_the_source() {
    let config = load(&unicast_lb01()).expect("unicast config loads");
    let instance = &config.instances[0];
    assert!(instance.is_unicast());
    assert_eq!(
        instance.unicast_peers,
        vec![IpAddr::from([192, 168, 0, 42])]
    );
    assert_eq!(
        instance.configured_source(),
        Some(IpAddr::from([192, 168, 0, 41]))
    );
    // Without unicast_source, source_address (or later the interface) is the source.
    let mut doc = unicast_lb01();
    doc["instances"][0]
        .as_object_mut()
        .unwrap()
        .remove("unicast_source");
    doc["instances"][0]["source_address"] = json!("192.168.0.41");
    let config = load(&doc).expect("loads");
    assert_eq!(
        config.instances[0].configured_source(),
        Some(IpAddr::from([192, 168, 0, 41]))
    );
    // Multicast by default, and the keys are not written out then.
    let config = load(&lb01()).unwrap();
    assert!(!config.instances[0].is_unicast());
    let written = serde_json::to_value(&config).unwrap();
    assert!(written["instances"][0].get("unicast_peers").is_none());
    assert!(written.get("sync_groups").is_none());
}

#[test]
fn unicast_mistakes_are_reported_where_they_are() {
    let mut doc = unicast_lb01();
    doc["instances"][0]["unicast_peers"] = json!([
        "192.168.0.42",
        "2001:db8::1",
        "224.0.0.18",
        "192.168.0.41",
        "192.168.0.40",
    ]);
    doc["instances"][0]["source_address"] = json!("192.168.0.43");
    let found = problems(&doc);
    let pointers: Vec<&str> = found.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/instances/0/unicast_peers/1",
            "/instances/0/unicast_peers/2",
            "/instances/0/unicast_peers/3",
            "/instances/0/unicast_peers/4",
            "/instances/0/unicast_source",
        ],
        "{found:#?}"
    );
    assert!(found[0].message.contains("is IPv6"), "{}", found[0].message);
    assert!(
        found[1].message.contains("multicast"),
        "{}",
        found[1].message
    );
    assert!(found[2].message.contains("own source address"));
    assert!(found[3].message.contains("virtual addresses"));
    assert!(found[4].message.contains("differs from source_address"));
}

#[test]
fn duplicate_unicast_peers_are_refused() {
    let mut doc = unicast_lb01();
    doc["instances"][0]["unicast_peers"] = json!(["192.168.0.42", "192.168.0.42"]);
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/instances/0/unicast_peers/1");
    assert_eq!(
        found[0].message,
        "192.168.0.42 is already listed at /instances/0/unicast_peers/0"
    );
}

#[test]
fn unicast_source_needs_peers() {
    let mut doc = lb01();
    doc["instances"][0]["unicast_source"] = json!("192.168.0.41");
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/instances/0/unicast_source");
    assert!(found[0].message.contains("unicast_peers"));

    let mut doc = unicast_v6();
    doc["instances"][0]
        .as_object_mut()
        .unwrap()
        .remove("unicast_peers");
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/instances/0/unicast_source");
    assert!(found[0].message.contains("unicast_peers"));
}

/// A VRRPv3 IPv6 instance in unicast mode, its peer listed by its global address.
fn unicast_v6() -> Value {
    json!({
        "instances": [{
            "name": "VI_6", "interface": "eth0", "virtual_router_id": 60, "version": 3,
            "priority": 150,
            "virtual_addresses": ["fe80::40/64", "2001:db8::40/64"],
            "unicast_source": "2001:db8::41",
            "unicast_peers": ["2001:db8::42"]
        }]
    })
}

#[test]
fn ipv6_unicast_loads_with_a_global_or_a_link_local_source() {
    let config = load(&unicast_v6()).expect("IPv6 unicast config loads");
    let instance = &config.instances[0];
    assert!(instance.is_unicast() && instance.is_ipv6());
    assert_eq!(
        instance.unicast_peers,
        vec!["2001:db8::42".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(
        instance.configured_source(),
        Some("2001:db8::41".parse().unwrap())
    );

    // Link-local source and peers (what keepalived sends from without unicast_src_ip).
    let mut doc = unicast_v6();
    doc["instances"][0]["unicast_source"] = json!("fe80::41");
    doc["instances"][0]["unicast_peers"] = json!(["fe80::42", "2001:db8::43"]);
    let config = load(&doc).expect("link-local unicast config loads");
    assert_eq!(
        config.instances[0].configured_source(),
        Some("fe80::41".parse().unwrap())
    );

    // Without unicast_source: the interface's link-local address, found at run time.
    let mut doc = unicast_v6();
    doc["instances"][0]
        .as_object_mut()
        .unwrap()
        .remove("unicast_source");
    let config = load(&doc).expect("loads without unicast_source");
    assert_eq!(config.instances[0].configured_source(), None);
    // A link-local source_address serves as the unicast source too.
    doc["instances"][0]["source_address"] = json!("fe80::41");
    let config = load(&doc).expect("loads with a link-local source_address");
    assert_eq!(
        config.instances[0].configured_source(),
        Some("fe80::41".parse().unwrap())
    );
}

#[test]
fn ipv6_unicast_mistakes_name_their_json_path() {
    let mut doc = unicast_v6();
    doc["instances"][0]["unicast_peers"] = json!([
        "2001:db8::42",
        "192.0.2.42",
        "ff02::12",
        "::1",
        "::",
        "::ffff:192.0.2.42",
        "2001:db8::41",
        "fe80::40",
        "2001:db8::42",
    ]);
    let found = problems(&doc);
    let pointers: Vec<&str> = found.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/instances/0/unicast_peers/1",
            "/instances/0/unicast_peers/2",
            "/instances/0/unicast_peers/3",
            "/instances/0/unicast_peers/4",
            "/instances/0/unicast_peers/5",
            "/instances/0/unicast_peers/6",
            "/instances/0/unicast_peers/7",
            "/instances/0/unicast_peers/8",
        ],
        "{found:#?}"
    );
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages[0],
        "192.0.2.42 is IPv4, but the virtual addresses are IPv6; peers must be of the instance's family"
    );
    assert_eq!(
        messages[1],
        "ff02::12 is a multicast address and cannot be a unicast peer"
    );
    assert_eq!(
        messages[2],
        "::1 is a loopback address and cannot be a unicast peer"
    );
    assert_eq!(
        messages[3],
        ":: is the unspecified address and cannot be a unicast peer"
    );
    assert_eq!(
        messages[4],
        "::ffff:192.0.2.42 is an IPv4-mapped address (list the IPv4 address in an IPv4 instance) and cannot be a unicast peer"
    );
    assert!(
        messages[5].contains("own source address"),
        "{}",
        messages[5]
    );
    assert!(messages[6].contains("virtual addresses"), "{}", messages[6]);
    assert_eq!(
        messages[7],
        "2001:db8::42 is already listed at /instances/0/unicast_peers/0"
    );
}

#[test]
fn ipv6_unicast_source_mistakes_name_their_json_path() {
    for (source, expected) in [
        (
            "192.0.2.41",
            "192.0.2.41 is IPv4, but the virtual addresses are IPv6; the source must be of the same family",
        ),
        (
            "ff02::12",
            "ff02::12 is a multicast address and cannot be the source of advertisements",
        ),
        (
            "::1",
            "::1 is a loopback address and cannot be the source of advertisements",
        ),
        (
            "::ffff:192.0.2.41",
            "::ffff:192.0.2.41 is an IPv4-mapped address (list the IPv4 address in an IPv4 instance) and cannot be the source of advertisements",
        ),
    ] {
        let mut doc = unicast_v6();
        doc["instances"][0]["unicast_source"] = json!(source);
        let found = problems(&doc);
        assert_eq!(found.len(), 1, "{source}: {found:?}");
        assert_eq!(found[0].pointer, "/instances/0/unicast_source", "{source}");
        assert_eq!(found[0].message, expected);
    }

    // unicast_source and source_address disagree.
    let mut doc = unicast_v6();
    doc["instances"][0]["source_address"] = json!("fe80::41");
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/instances/0/unicast_source");
    assert!(
        found[0]
            .message
            .contains("differs from source_address fe80::41")
    );

    // A global source_address stays refused (it is the multicast source, RFC 5798
    // §5.1.2.1), with a pointer to the unicast key that takes one.
    let mut doc = unicast_v6();
    doc["instances"][0]
        .as_object_mut()
        .unwrap()
        .remove("unicast_source");
    doc["instances"][0]["source_address"] = json!("2001:db8::41");
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/instances/0/source_address");
    assert!(
        found[0]
            .message
            .ends_with("in unicast mode a global source goes in unicast_source instead"),
        "{}",
        found[0].message
    );
}

fn two_instances() -> Value {
    let mut doc = lb01();
    let mut second = doc["instances"][0].clone();
    second["name"] = json!("VI_2");
    second["virtual_router_id"] = json!(51);
    second["virtual_addresses"] = json!(["192.168.1.40"]);
    doc["instances"].as_array_mut().unwrap().push(second);
    doc
}

#[test]
fn sync_groups_load() {
    let mut doc = two_instances();
    doc["sync_groups"] = json!([{ "name": "G1", "instances": ["VI_1", "VI_2"] }]);
    let config = load(&doc).expect("loads");
    assert_eq!(
        config.sync_groups,
        vec![SyncGroupConfig {
            name: "G1".to_owned(),
            instances: vec!["VI_1".to_owned(), "VI_2".to_owned()],
        }]
    );
}

#[test]
fn sync_group_mistakes_are_reported_where_they_are() {
    let mut doc = two_instances();
    doc["sync_groups"] = json!([
        { "name": "G1", "instances": ["VI_1", "VI_2", "VI_1"] },
        { "name": "G1", "instances": ["VI_2", "VI_9"] },
    ]);
    let found = problems(&doc);
    let pointers: Vec<&str> = found.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/sync_groups/0/instances/2",
            "/sync_groups/1/instances/0",
            "/sync_groups/1/instances/1",
            "/sync_groups/1/name",
        ],
        "{found:#?}"
    );
    assert!(
        found[0]
            .message
            .contains("already listed at /sync_groups/0/instances/0")
    );
    assert!(
        found[1]
            .message
            .contains("already a member of sync group \"G1\"")
    );
    assert_eq!(found[2].message, "no instance is named \"VI_9\"");
    assert!(found[3].message.contains("already used by /sync_groups/0"));
}

#[test]
fn a_sync_group_needs_two_members() {
    let mut doc = two_instances();
    doc["sync_groups"] = json!([{ "name": "G1", "instances": ["VI_1"] }]);
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/sync_groups/0/instances");
}

#[test]
fn hook_user_and_keep_privileges_load_but_not_together() {
    let with_notify = |notify: Value| {
        let mut config = lb01();
        config["instances"][0]["notify"] = notify;
        config
    };
    let as_nobody = load(&with_notify(
        json!({"master": ["/usr/local/bin/up"], "user": "nobody"}),
    ))
    .unwrap();
    let notify = as_nobody.instances[0].notify.as_ref().unwrap();
    assert_eq!(notify.user.as_deref(), Some("nobody"));
    assert!(!notify.keep_privileges, "off unless asked for");
    assert!(as_nobody.instances_whose_hooks_keep_privileges().is_empty());

    let privileged = load(&with_notify(
        json!({"master": ["/usr/local/bin/up"], "keep_privileges": true}),
    ))
    .unwrap();
    assert_eq!(privileged.instances_whose_hooks_keep_privileges(), ["VI_1"]);

    let both = problems(&with_notify(json!({
        "master": ["/usr/local/bin/up"], "user": "nobody", "keep_privileges": true
    })));
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(both[0].pointer, "/instances/0/notify/keep_privileges");
    assert!(
        both[0].message.contains("\"nobody\""),
        "{}",
        both[0].message
    );

    let empty = problems(&with_notify(json!({"master": ["/x"], "user": ""})));
    assert_eq!(empty[0].pointer, "/instances/0/notify/user", "{empty:?}");
}

// ---- virtual_routes, virtual_rules -----------------------------------------------------

/// lb01 with these routes and rules on its instance (IPv4, VIP 192.168.0.40).
fn lb01_routing(routes: Value, rules: Value) -> Value {
    let mut config = lb01();
    config["instances"][0]["virtual_routes"] = routes;
    config["instances"][0]["virtual_rules"] = rules;
    config
}

/// (pointer, message) of every problem.
fn routing_problems(routes: Value, rules: Value) -> Vec<(String, String)> {
    problems(&lb01_routing(routes, rules))
        .into_iter()
        .map(|problem| (problem.pointer, problem.message))
        .collect()
}

#[track_caller]
fn assert_one_routing_problem(routes: Value, rules: Value, pointer: &str, words: &[&str]) {
    let found = routing_problems(routes, rules);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, pointer, "{found:#?}");
    for word in words {
        assert!(found[0].1.contains(word), "{:?} lacks {word:?}", found[0].1);
    }
}

#[test]
fn routes_and_rules_load_with_their_defaults_and_serialize_without_them() {
    let config = load(&lb01_routing(
        json!([
            { "destination": "203.0.113.0/24", "gateway": "192.168.0.1" },
            { "destination": "198.51.100.0/24", "type": "blackhole", "table": 100, "metric": 5 },
            { "destination": "default", "interface": "eth1" }
        ]),
        json!([{ "priority": 1000, "from": "192.168.0.40", "table": 100 }]),
    ))
    .expect("loads");
    let instance = &config.instances[0];
    let route = &instance.virtual_routes[0];
    assert_eq!(route.table, MAIN_TABLE);
    assert_eq!(route.kind, RouteType::Unicast);
    assert_eq!(route.metric, None);
    assert!(!route.onlink);
    assert_eq!(instance.virtual_rules[0].action, RuleAction::Table);
    // The defaults are left out when written back (the importer's output stays short).
    let written = serde_json::to_value(instance).unwrap();
    assert_eq!(
        written["virtual_routes"][0],
        json!({ "destination": "203.0.113.0/24", "gateway": "192.168.0.1" })
    );
    assert_eq!(
        written["virtual_rules"][0],
        json!({ "priority": 1000, "from": "192.168.0.40", "table": 100 })
    );
    // What the schema says the defaults are is what serde fills in.
    let schema = schema();
    let route_defaults = schema["$defs"]["VirtualRouteConfig"]["properties"]
        .as_object()
        .unwrap();
    let filled: VirtualRouteConfig =
        serde_json::from_value(json!({ "destination": "203.0.113.0/24" })).unwrap();
    let filled = serde_json::to_value(&filled).unwrap();
    let mut checked = 0;
    for (key, property) in route_defaults {
        if let Some(default) = property.get("default") {
            let value = filled.get(key).cloned().unwrap_or_else(|| default.clone());
            assert_eq!(&value, default, "default of {key}");
            checked += 1;
        }
    }
    assert_eq!(checked, 3, "table, type and onlink document their defaults");
    let table = &schema["$defs"]["VirtualRouteConfig"]["properties"]["table"]["default"];
    assert_eq!(table, &json!(MAIN_TABLE));
}

#[test]
fn routes_and_rules_are_of_the_instances_family() {
    assert_one_routing_problem(
        json!([{ "destination": "2001:db8:1::/48", "interface": "eth0" }]),
        json!([]),
        "/instances/0/virtual_routes/0/destination",
        &["IPv6", "IPv4", "instance of the other family"],
    );
    assert_one_routing_problem(
        json!([{ "destination": "203.0.113.0/24", "gateway": "2001:db8::1" }]),
        json!([]),
        "/instances/0/virtual_routes/0/gateway",
        &["IPv6", "destination is IPv4"],
    );
    assert_one_routing_problem(
        json!([{ "destination": "203.0.113.0/24", "interface": "eth0", "source": "fe80::1" }]),
        json!([]),
        "/instances/0/virtual_routes/0/source",
        &["IPv6"],
    );
    assert_one_routing_problem(
        json!([]),
        json!([{ "priority": 10, "to": "2001:db8::/32", "table": 100 }]),
        "/instances/0/virtual_rules/0/to",
        &["IPv6", "IPv4"],
    );
}

#[test]
fn prefixes_with_host_bits_are_refused_with_the_network_named() {
    assert_one_routing_problem(
        json!([{ "destination": "203.0.113.5/24", "interface": "eth0" }]),
        json!([]),
        "/instances/0/virtual_routes/0/destination",
        &["host bits", "203.0.113.0/24"],
    );
    assert_one_routing_problem(
        json!([]),
        json!([{ "priority": 10, "from": "192.168.0.40/24", "table": 100 }]),
        "/instances/0/virtual_rules/0/from",
        &["192.168.0.0/24"],
    );
}

#[test]
fn what_each_route_type_takes() {
    assert_one_routing_problem(
        json!([{ "destination": "203.0.113.0/24" }]),
        json!([]),
        "/instances/0/virtual_routes/0",
        &["needs a `gateway`, an `interface`"],
    );
    let found = routing_problems(
        json!([{ "destination": "203.0.113.0/24", "type": "blackhole",
                 "gateway": "192.168.0.1", "interface": "eth0" }]),
        json!([]),
    );
    let pointers: Vec<&str> = found.iter().map(|(pointer, _)| pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/instances/0/virtual_routes/0/gateway",
            "/instances/0/virtual_routes/0/interface"
        ],
        "{found:#?}"
    );
    assert!(found[0].1.contains("a blackhole route forwards nothing"));
    assert_one_routing_problem(
        json!([{ "destination": "203.0.113.0/24", "gateway": "192.168.0.1", "onlink": true }]),
        json!([]),
        "/instances/0/virtual_routes/0/onlink",
        &["`interface`"],
    );
    assert_one_routing_problem(
        json!([{ "destination": "203.0.113.0/24", "gateway": "192.168.0.1", "table": 255 }]),
        json!([]),
        "/instances/0/virtual_routes/0/table",
        &["local table"],
    );
    // Every type loads where it is complete.
    load(&lb01_routing(
        json!([
            { "destination": "203.0.113.0/25", "type": "unreachable" },
            { "destination": "203.0.113.128/25", "type": "prohibit" },
            { "destination": "198.51.100.0/24", "gateway": "192.0.2.1", "interface": "eth0",
              "onlink": true }
        ]),
        json!([]),
    ))
    .expect("loads");
}

#[test]
fn an_ipv6_link_local_gateway_needs_its_interface() {
    let mut config = unicast_v6();
    config["instances"][0]["virtual_routes"] =
        json!([{ "destination": "2001:db8:1::/48", "gateway": "fe80::1" }]);
    let found = problems(&config);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].pointer, "/instances/0/virtual_routes/0/gateway");
    assert!(found[0].message.contains("link-local"));
    config["instances"][0]["virtual_routes"][0]["interface"] = json!("eth0");
    load(&config).expect("with its interface it loads");
}

#[test]
fn a_route_or_rule_claimed_twice_is_refused() {
    // The same route in one instance, with the metric the kernel would give it anyway.
    assert_one_routing_problem(
        json!([
            { "destination": "203.0.113.0/24", "gateway": "192.168.0.1" },
            { "destination": "203.0.113.0/24", "interface": "eth1", "metric": 0 }
        ]),
        json!([]),
        "/instances/0/virtual_routes/1",
        &["already at /instances/0/virtual_routes/0"],
    );
    // Another metric or table is another route.
    load(&lb01_routing(
        json!([
            { "destination": "203.0.113.0/24", "gateway": "192.168.0.1" },
            { "destination": "203.0.113.0/24", "gateway": "192.168.0.1", "metric": 10 },
            { "destination": "203.0.113.0/24", "gateway": "192.168.0.1", "table": 10 }
        ]),
        json!([]),
    ))
    .expect("three routes");
    // Across instances: each would remove the other's on every failover.
    let mut doc = two_instances();
    for instance in doc["instances"].as_array_mut().unwrap() {
        instance["virtual_rules"] = json!([{ "priority": 100, "fwmark": 1, "table": 7 }]);
    }
    let found = problems(&doc);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].pointer, "/instances/1/virtual_rules/0");
    assert!(
        found[0]
            .message
            .contains("already at /instances/0/virtual_rules/0")
    );
}

#[test]
fn a_rule_needs_a_selector_and_the_table_its_action_looks_up() {
    assert_one_routing_problem(
        json!([]),
        json!([{ "priority": 10, "table": 100 }]),
        "/instances/0/virtual_rules/0",
        &["needs a selector"],
    );
    // /0 selects every packet: no selector.
    assert_one_routing_problem(
        json!([]),
        json!([{ "priority": 10, "from": "0.0.0.0/0", "table": 100 }]),
        "/instances/0/virtual_rules/0",
        &["needs a selector"],
    );
    assert_one_routing_problem(
        json!([]),
        json!([{ "priority": 10, "to": "203.0.113.0/24" }]),
        "/instances/0/virtual_rules/0/table",
        &["needs the `table`"],
    );
    assert_one_routing_problem(
        json!([]),
        json!([{ "priority": 10, "to": "203.0.113.0/24", "action": "blackhole", "table": 1 }]),
        "/instances/0/virtual_rules/0/table",
        &["\"blackhole\" looks up no table"],
    );
    assert_one_routing_problem(
        json!([]),
        json!([{ "priority": 10, "in_interface": "eth1", "fwmask": 255, "table": 1 }]),
        "/instances/0/virtual_rules/0/fwmask",
        &["needs fwmark"],
    );
    load(&lb01_routing(
        json!([]),
        json!([
            { "priority": 10, "fwmark": 0, "fwmask": 255, "table": 1 },
            { "priority": 11, "in_interface": "eth1", "action": "unreachable" },
            { "priority": 12, "out_interface": "eth1", "to": "203.0.113.0/24", "table": 1 }
        ]),
    ))
    .expect("an unmarked-packets selector, interfaces and actions load");
}
