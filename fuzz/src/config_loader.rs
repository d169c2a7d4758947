//! The config loader: JSON text → schema check → deserialize → cross-field rules, exactly
//! what `vrrpd check` runs (`config::load_str`), and the daemon's split of the same work
//! (the schema check in a child process, `config::isolated`, whose two sides are pure
//! functions: `serve_schema_check` and `parse_answer`).
//!
//! What must hold, beyond "no panic":
//! - a config that loads serializes back to JSON that loads to the same config (the
//!   importer and the NixOS module write configs through these types);
//! - it gives every instance core parameters the wire can carry, and a node started from
//!   it (every instance placed on an interface that is up) starts without panicking,
//!   with a bounded number of actions and no deadline in the past;
//! - a config that does not load says why: at least one problem, each with a JSON pointer
//!   ("" or "/…") into the document (the value itself, or the object a key is missing
//!   from) and a message;
//! - the child process's answer, read back by the daemon, is exactly the in-process
//!   schema check, and the daemon's split gives the same result as `vrrpd check`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use vrrpd::config::{self, Config, ConfigError, isolated};
use vrrpd::core::Version;
use vrrpd::core::node::{Placement, instance_is_ipv6};

/// The most actions starting an instance can take: a few log lines, the leftover
/// addresses removed, and (an address owner, priority 255, is master at once, RFC 3768
/// §6.4.1) an advert and a GARP burst for every virtual address. More is a node that
/// does not stop sending.
fn start_bound(config: &Config) -> usize {
    64 + config
        .instances
        .iter()
        .map(|instance| {
            16 + instance.virtual_addresses.len() * (instance.garp_burst_count as usize + 1)
        })
        .sum::<usize>()
}

pub fn run(data: &[u8]) {
    // `vrrpd check` reads the file as UTF-8 (`read_to_string`); other bytes never get here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = config::load_str(text, "fuzz.json");
    check_child_protocol(text, &loaded);
    match loaded {
        Ok(config) => check_loaded(config),
        Err(ConfigError::Json { .. }) => {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            let document: serde_json::Value =
                serde_json::from_str(text).expect("an invalid config parsed as JSON");
            assert!(!problems.is_empty(), "invalid without a problem");
            for problem in &problems {
                assert!(
                    problem.pointer.is_empty() || problem.pointer.starts_with('/'),
                    "not a JSON pointer: {problem:?}"
                );
                assert!(!problem.message.is_empty(), "no message: {problem:?}");
                let parent = problem
                    .pointer
                    .rsplit_once('/')
                    .map_or("", |(parent, _)| parent);
                assert!(
                    document.pointer(&problem.pointer).is_some()
                        || document.pointer(parent).is_some(),
                    "{problem:?} points at nothing in the document"
                );
            }
        }
        Err(error @ (ConfigError::Read { .. } | ConfigError::Unchecked { .. })) => {
            panic!("loading text cannot fail with {error}")
        }
    }
}

/// The daemon's way (`config::isolated`): the child's answer, parsed back, then the rules.
fn check_child_protocol(text: &str, loaded: &Result<Config, ConfigError>) {
    let mut answer = Vec::new();
    let status = isolated::serve_schema_check(text.as_bytes(), &mut answer);
    let Ok(document) = config::parse_document(text, "fuzz.json") else {
        assert_eq!(status, 2, "the child accepted text that is not JSON");
        return;
    };
    assert_eq!(status, 0, "the child failed on a JSON document");
    let problems = isolated::parse_answer(&answer).expect("the child's answer does not parse");
    assert_eq!(problems, config::schema_problems(&document));
    let split = config::load_checked_value(&document, "fuzz.json", problems);
    match (&split, loaded) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("the daemon's load and `vrrpd check` disagree: {split:?} / {loaded:?}"),
    }
}

fn check_loaded(config: Config) {
    let value = serde_json::to_value(&config).expect("a config serializes");
    let again = config::load_value(&value, "fuzz.json (serialized)")
        .unwrap_or_else(|error| panic!("a loaded config, serialized, does not load: {error}"));
    assert_eq!(
        again, config,
        "a loaded config changed on its way through JSON"
    );

    let mut placements = BTreeMap::new();
    let mut interfaces: Vec<&str> = Vec::new();
    for instance in &config.instances {
        let addresses = instance.addresses_with_prefix();
        assert_eq!(
            addresses.len(),
            instance.virtual_addresses.len() + instance.excluded_addresses.len(),
            "a virtual or excluded address of a loaded config does not parse"
        );
        let ipv6 = instance_is_ipv6(instance, &addresses);
        // Every route and rule of a loaded config is one the kernel can be asked for.
        assert_eq!(
            vrrpd::core::routes::routes_of(instance, ipv6).len(),
            instance.virtual_routes.len(),
            "a virtual route of a loaded config does not resolve"
        );
        assert_eq!(
            vrrpd::core::routes::rules_of(instance, ipv6).len(),
            instance.virtual_rules.len(),
            "a virtual rule of a loaded config does not resolve"
        );
        assert!(
            addresses
                .iter()
                .all(|(address, _)| address.is_ipv6() == ipv6),
            "one instance with addresses of both families"
        );
        let local_address = instance.configured_source().unwrap_or(if ipv6 {
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x41))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 41))
        });
        let params = instance.to_params(local_address);
        assert_eq!(params.virtual_router_id, instance.virtual_router_id);
        assert!(params.advert_interval_cs >= 1);
        match params.version {
            Version::V2 => assert_eq!(params.advert_interval_cs % 100, 0),
            Version::V3 => {
                assert!(params.advert_interval_cs <= vrrpd::core::packet::MAX_V3_INTERVAL_CS)
            }
        }
        let ifindex = match interfaces
            .iter()
            .position(|name| *name == instance.interface)
        {
            Some(index) => index,
            None => {
                interfaces.push(&instance.interface);
                interfaces.len() - 1
            }
        };
        placements.insert(
            instance.name.clone(),
            Placement {
                ifindex: ifindex as u32 + 1,
                interface: instance.interface.clone(),
                up: true,
                mac: Some([0x02, 0, 0, 0, 0, 0x41]),
                local_address,
                virtual_mac: None,
            },
        );
    }

    let bound = start_bound(&config);
    let now = Instant::now();
    let (node, actions) = super::started_node(config, placements, now);
    assert!(
        actions <= bound,
        "starting a node took {actions} actions, more than {bound}"
    );
    if let Some(deadline) = node.next_deadline() {
        assert!(deadline >= now, "a deadline in the past right after start");
    }
}
