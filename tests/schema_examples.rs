//! Every shipped example validates against the schema and loads; the user's pair maps to
//! the core parameters the keepalived pair ran with.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrpd::config::{AuthenticationConfig, Config, SCHEMA_ID, VrrpVersion, load_file};
use vrrpd::core::state::GarpParams;
use vrrpd::core::{Authentication, ChecksumMode, InstanceParams, Version};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
}

fn example(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    load_file(&path).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn every_example_validates_against_the_schema_and_loads() {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&vrrpd::config::schema())
        .expect("the schema compiles");
    let paths = examples();
    assert!(
        paths.len() >= 3,
        "expected lb01, lb02 and v3-ipv4, found {paths:?}"
    );
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("readable");
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        assert_eq!(
            value["$schema"],
            SCHEMA_ID,
            "{} points editors at the schema",
            path.display()
        );
        load_file(&path).unwrap_or_else(|error| panic!("{error}"));
    }
}

fn users_params(priority: u8, local: [u8; 4]) -> InstanceParams {
    InstanceParams {
        version: Version::V2,
        virtual_router_id: 50,
        priority,
        advert_interval_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        authentication: Authentication::SimplePassword(*b"password"),
        addresses: vec![IpAddr::from([192, 168, 0, 40])],
        local_address: IpAddr::from(local),
        checksum_mode: ChecksumMode::WithPseudoHeader,
        garp: GarpParams {
            burst_count: 5,
            burst_spacing: Duration::ZERO,
            second_burst_delay: Some(Duration::from_secs(5)),
            master_refresh: Some(Duration::from_secs(60)),
        },
    }
}

#[test]
fn the_users_pair_maps_to_the_keepalived_settings() {
    for (file, priority, local) in [
        ("lb01.json", 150, [192, 168, 0, 41]),
        ("lb02.json", 100, [192, 168, 0, 42]),
    ] {
        let config = example(file);
        assert_eq!(config.instances.len(), 1, "{file}");
        let instance = &config.instances[0];
        assert_eq!(instance.interface, "eth0", "{file}");
        assert_eq!(instance.version, VrrpVersion::V2, "{file}");
        assert_eq!(
            instance.authentication,
            AuthenticationConfig::Pass {
                password: "password".to_owned()
            }
        );
        assert_eq!(
            instance.addresses_with_prefix(),
            vec![(IpAddr::from([192, 168, 0, 40]), 32)]
        );
        assert_eq!(
            instance.to_params(IpAddr::from(local)),
            users_params(priority, local),
            "{file}"
        );
    }
}

#[test]
fn the_pair_differs_only_in_priority() {
    let mut lb01 = example("lb01.json");
    let lb02 = example("lb02.json");
    lb01.instances[0].priority = 100;
    assert_eq!(lb01, lb02);
}

#[test]
fn the_v3_example_advertises_every_100_ms_from_documentation_addresses() {
    let config = example("v3-ipv4.json");
    let instance = &config.instances[0];
    assert_eq!(instance.version, VrrpVersion::V3);
    let params = instance.to_params(IpAddr::from([192, 0, 2, 11]));
    assert_eq!(params.advert_interval_cs, 10);
    assert_eq!(params.authentication, Authentication::None);
    for (ip, _) in instance.addresses_with_prefix() {
        let IpAddr::V4(v4) = ip else {
            panic!("{ip} is not IPv4")
        };
        let [a, b, c, _] = v4.octets();
        assert!(
            matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113)),
            "{ip} is not a documentation address"
        );
    }
}

#[test]
fn a_config_survives_serialization() {
    // The importer writes configs with serde: what it writes must load back unchanged.
    for path in examples() {
        let config = load_file(&path).unwrap_or_else(|error| panic!("{error}"));
        let text = serde_json::to_string_pretty(&config).expect("serializes");
        let reloaded =
            vrrpd::config::load_str(&text, "roundtrip").unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(reloaded, config, "{}", path.display());
    }
}
