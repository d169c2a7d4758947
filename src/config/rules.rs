//! Rules one JSON schema cannot express: relations between fields and between
//! instances, and byte lengths. Run on the deserialized config after schema validation.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{AuthenticationConfig, ConfigProblem, InstanceConfig, VrrpVersion};

/// Linux IFNAMSIZ is 16 bytes including the terminating NUL.
const MAX_INTERFACE_NAME_BYTES: usize = 15;
/// RFC 3768 §5.3.10: 8 bytes of Authentication Data.
const MAX_PASSWORD_BYTES: usize = 8;

/// Every cross-field problem of the given instances, each with its index in the
/// document's `instances` (a document whose other instances do not deserialize is still
/// checked as far as it can be).
pub(super) fn check(instances: &[(usize, &InstanceConfig)]) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut routers: HashMap<(&str, u8, Family), usize> = HashMap::new();

    for &(index, instance) in instances {
        let at = |key: &str| format!("/instances/{index}/{key}");
        let mut report =
            |pointer: String, message: String| problems.push(ConfigProblem { pointer, message });

        if let Some(first) = names.insert(&instance.name, index) {
            names.insert(&instance.name, first);
            report(
                at("name"),
                format!(
                    "the name {:?} is already used by /instances/{first}",
                    instance.name
                ),
            );
        }

        if let Some(message) = interface_name_problem(&instance.interface) {
            report(at("interface"), message);
        }

        check_authentication(instance, &at, &mut report);

        let family = check_addresses(instance, index, &mut report);

        if let Some(family) = family {
            let key = (
                instance.interface.as_str(),
                instance.virtual_router_id,
                family,
            );
            if let Some(&first) = routers.get(&key) {
                report(
                    at("virtual_router_id"),
                    format!(
                        "virtual router {} already runs for {} on interface {:?} (/instances/{first}); \
                         a VRID must be unique per interface and address family",
                        instance.virtual_router_id,
                        family.name(),
                        instance.interface
                    ),
                );
            } else {
                routers.insert(key, index);
            }
            if let Some(message) = instance
                .source_address
                .and_then(|source| source_address_problem(source, family))
            {
                report(at("source_address"), message);
            }
        }
    }
    problems
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
    fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// Linux `dev_valid_name()`: 1 to 15 bytes, not "." or "..", no '/', ':' or whitespace.
fn interface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the interface name must not be empty".to_owned());
    }
    if name.len() > MAX_INTERFACE_NAME_BYTES {
        return Some(format!(
            "the interface name {name:?} is {} bytes long; Linux allows at most {MAX_INTERFACE_NAME_BYTES}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("{name:?} is not a valid interface name"));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Some(format!(
            "{name:?} is not a valid interface name: it may not contain '/', ':' or whitespace"
        ));
    }
    None
}

fn check_authentication(
    instance: &InstanceConfig,
    at: &dyn Fn(&str) -> String,
    report: &mut dyn FnMut(String, String),
) {
    let AuthenticationConfig::Pass { password } = &instance.authentication else {
        return;
    };
    if instance.version != VrrpVersion::V2 {
        report(
            at("authentication"),
            "password authentication needs version \"2\": VRRPv3 has no authentication (RFC 5798 §9)".to_owned(),
        );
    }
    if password.is_empty() {
        report(
            at("authentication/password"),
            "the password must not be empty".to_owned(),
        );
    } else if password.len() > MAX_PASSWORD_BYTES {
        // keepalived cuts silently; a cut password that differs from the peer's would
        // only show up as dropped adverts, so refuse instead.
        report(
            at("authentication/password"),
            format!(
                "the password is {} bytes long (UTF-8); VRRPv2 carries at most {MAX_PASSWORD_BYTES} bytes and vrrpd does not cut it",
                password.len()
            ),
        );
    }
}

/// Checks the virtual addresses; returns the instance's address family when known.
fn check_addresses(
    instance: &InstanceConfig,
    index: usize,
    report: &mut dyn FnMut(String, String),
) -> Option<Family> {
    let list_pointer = format!("/instances/{index}/virtual_addresses");
    if instance.virtual_addresses.is_empty() {
        report(list_pointer, "needs at least 1 virtual address".to_owned());
        return None;
    }
    let mut family = None;
    let mut seen: HashMap<IpAddr, usize> = HashMap::new();
    for (position, address) in instance.virtual_addresses.iter().enumerate() {
        let pointer = format!("{list_pointer}/{position}");
        let (ip, _prefix) = match address.parse() {
            Ok(parsed) => parsed,
            Err(message) => {
                report(pointer, message);
                continue;
            }
        };
        if let Some(message) = unusable_address(&ip) {
            report(
                pointer,
                format!("{ip} {message} and cannot be a virtual address"),
            );
            continue;
        }
        if let Some(first) = seen.insert(ip, position) {
            seen.insert(ip, first);
            report(
                pointer,
                format!("{ip} is already listed at {list_pointer}/{first}"),
            );
            continue;
        }
        let this_family = Family::of(&ip);
        match family {
            None => {
                family = Some(this_family);
                if instance.version == VrrpVersion::V2 && this_family == Family::V6 {
                    report(
                        pointer,
                        format!(
                            "{ip} is IPv6, but VRRPv2 (RFC 3768) is IPv4-only; use version \"3\""
                        ),
                    );
                } else if this_family == Family::V6 && !is_link_local(&ip) {
                    // RFC 5798 §5.2.9: for IPv6 the first address is the link-local one.
                    report(
                        pointer,
                        format!(
                            "{ip} is not link-local; with IPv6 the first virtual address must be the link-local one (fe80::/10), RFC 5798 §5.2.9"
                        ),
                    );
                }
            }
            Some(expected) if expected != this_family => report(
                pointer,
                format!(
                    "{ip} is {}, but this instance's first virtual address is {}; an instance serves one address family, so use a separate instance",
                    this_family.name(),
                    expected.name()
                ),
            ),
            Some(_) => {}
        }
    }
    family
}

/// Why `ip` cannot be held as a unicast virtual address, if it cannot.
fn unusable_address(ip: &IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        Some("is the unspecified address")
    } else if ip.is_multicast() {
        Some("is a multicast address")
    } else if ip.is_loopback() {
        Some("is a loopback address")
    } else if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        Some("is the broadcast address")
    } else {
        None
    }
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
        IpAddr::V4(v4) => v4.is_link_local(),
    }
}

fn source_address_problem(source: IpAddr, family: Family) -> Option<String> {
    if Family::of(&source) != family {
        return Some(format!(
            "{source} is {}, but the virtual addresses are {}; the source must be of the same family",
            Family::of(&source).name(),
            family.name()
        ));
    }
    if let Some(message) = unusable_address(&source) {
        return Some(format!(
            "{source} {message} and cannot be the source of advertisements"
        ));
    }
    // RFC 5798 §5.1.2.1: IPv6 adverts come from the interface's link-local address.
    if family == Family::V6 && !is_link_local(&source) {
        return Some(format!(
            "{source} is not link-local; VRRPv3 over IPv6 sends from a link-local address (RFC 5798 §5.1.2.1)"
        ));
    }
    None
}
