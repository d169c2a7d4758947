//! Rules one JSON schema cannot express: relations between fields and between
//! instances, and byte lengths. Run on the deserialized config after schema validation.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{AuthenticationConfig, ConfigProblem, InstanceConfig, SyncGroupConfig, VrrpVersion};

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
    let mut virtual_macs: HashMap<String, usize> = HashMap::new();

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

        if instance.virtual_mac_interface.is_some() && !instance.use_virtual_mac {
            report(
                at("virtual_mac_interface"),
                "only used with use_virtual_mac: true".to_owned(),
            );
        }
        if let Some(name) = instance.virtual_mac_name() {
            let pointer = if instance.virtual_mac_interface.is_some() {
                at("virtual_mac_interface")
            } else {
                at("use_virtual_mac")
            };
            if let Some(message) = interface_name_problem(&name) {
                report(pointer, message);
            } else if name == instance.interface
                || instance
                    .address_interfaces()
                    .iter()
                    .any(|(interface, _)| *interface == name)
            {
                report(
                    pointer,
                    format!(
                        "{name:?} is an interface the instance runs on or holds addresses on; \
                         the virtual MAC interface is one vrrpd creates, so give it a name of its own"
                    ),
                );
            } else if let Some(first) = virtual_macs.get(&name) {
                report(
                    pointer,
                    format!(
                        "/instances/{first} already uses {name:?} as its virtual MAC interface; \
                         set virtual_mac_interface to a name of its own"
                    ),
                );
            } else {
                virtual_macs.insert(name, index);
            }
        }

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
            if let Some(mut message) = instance
                .source_address
                .and_then(|source| source_address_problem(source, family))
            {
                if family == Family::V6 && instance.is_unicast() {
                    message.push_str(
                        "; in unicast mode a global source goes in unicast_source instead",
                    );
                }
                report(at("source_address"), message);
            }
            check_unicast(instance, family, &at, &mut report);
        } else if instance.unicast_source.is_some() && instance.unicast_peers.is_empty() {
            report(at("unicast_source"), unicast_source_alone());
        }
    }
    problems.extend(super::routing::check(instances));
    problems
}

fn unicast_source_alone() -> String {
    "unicast_source is only used in unicast mode; list the peers in unicast_peers, or use source_address for multicast".to_owned()
}

/// `unicast_peers` / `unicast_source` (keepalived `unicast_peer` / `unicast_src_ip`).
fn check_unicast(
    instance: &InstanceConfig,
    family: Family,
    at: &dyn Fn(&str) -> String,
    report: &mut dyn FnMut(String, String),
) {
    if instance.unicast_peers.is_empty() {
        if instance.unicast_source.is_some() {
            report(at("unicast_source"), unicast_source_alone());
        }
        return;
    }
    let source = instance.configured_source();
    if let Some(unicast_source) = instance.unicast_source {
        if let Some(message) = unicast_source_problem(unicast_source, family) {
            report(at("unicast_source"), message);
        } else if let Some(source_address) = instance
            .source_address
            .filter(|source_address| *source_address != unicast_source)
        {
            report(
                at("unicast_source"),
                format!(
                    "{unicast_source} differs from source_address {source_address}; an instance sends from one address, so set only one of them (or both the same)"
                ),
            );
        }
    }
    let mut seen: HashMap<IpAddr, usize> = HashMap::new();
    for (position, peer) in instance.unicast_peers.iter().enumerate() {
        let pointer = at(&format!("unicast_peers/{position}"));
        if Family::of(peer) != family {
            report(
                pointer,
                format!(
                    "{peer} is {}, but the virtual addresses are {}; peers must be of the instance's family",
                    Family::of(peer).name(),
                    family.name()
                ),
            );
            continue;
        }
        if let Some(message) = unusable_address(peer).or_else(|| ipv4_mapped(peer)) {
            report(
                pointer,
                format!("{peer} {message} and cannot be a unicast peer"),
            );
            continue;
        }
        if let Some(first) = seen.insert(*peer, position) {
            seen.insert(*peer, first);
            report(
                pointer,
                format!(
                    "{peer} is already listed at {}",
                    at(&format!("unicast_peers/{first}"))
                ),
            );
            continue;
        }
        if Some(*peer) == source {
            report(
                pointer,
                format!("{peer} is this router's own source address; list only the other routers"),
            );
        } else if instance
            .virtual_addresses
            .iter()
            .filter_map(|address| address.parse().ok())
            .any(|(virtual_address, _)| virtual_address == *peer)
        {
            report(
                pointer,
                format!(
                    "{peer} is one of this instance's virtual addresses; a peer is another router's own address"
                ),
            );
        }
    }
}

/// Sync groups: unique names, members that exist, each instance in at most one group,
/// each member listed once. `instance_names` are every instance name in the document.
pub(super) fn check_sync_groups(
    groups: &[SyncGroupConfig],
    instance_names: &[&str],
) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let mut group_names: HashMap<&str, usize> = HashMap::new();
    // Instance name → (group index, member position) of its first membership.
    let mut membership: HashMap<&str, (usize, usize)> = HashMap::new();
    for (index, group) in groups.iter().enumerate() {
        let at = |key: &str| format!("/sync_groups/{index}/{key}");
        if let Some(first) = group_names.insert(&group.name, index) {
            group_names.insert(&group.name, first);
            problems.push(ConfigProblem {
                pointer: at("name"),
                message: format!(
                    "the group name {:?} is already used by /sync_groups/{first}",
                    group.name
                ),
            });
        }
        if group.instances.len() < 2 {
            problems.push(ConfigProblem {
                pointer: at("instances"),
                message: "a sync group needs at least 2 instances".to_owned(),
            });
        }
        for (position, member) in group.instances.iter().enumerate() {
            let pointer = at(&format!("instances/{position}"));
            if !instance_names.contains(&member.as_str()) {
                problems.push(ConfigProblem {
                    pointer,
                    message: format!("no instance is named {member:?}"),
                });
                continue;
            }
            match membership.get(member.as_str()) {
                Some(&(first_group, first_position)) if first_group == index => {
                    problems.push(ConfigProblem {
                        pointer,
                        message: format!(
                            "{member:?} is already listed at /sync_groups/{index}/instances/{first_position}"
                        ),
                    })
                }
                Some(&(first_group, _)) => problems.push(ConfigProblem {
                    pointer,
                    message: format!(
                        "{member:?} is already a member of sync group {:?} (/sync_groups/{first_group}); an instance can belong to one group only",
                        groups[first_group].name
                    ),
                }),
                None => {
                    membership.insert(member, (index, position));
                }
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
pub(super) fn interface_name_problem(name: &str) -> Option<String> {
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
        if let Some(message) = address
            .interface
            .as_deref()
            .and_then(interface_name_problem)
        {
            report(format!("{pointer}/interface"), message);
        }
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
                } else if this_family == Family::V6
                    && let Some(other) = address.other_interface(&instance.interface)
                {
                    // The link-local virtual address is the router's address on the link
                    // the adverts go to (RFC 5798 §5.2.9, §8.2.1): another link's
                    // link-local address cannot stand for it.
                    report(
                        format!("{pointer}/interface"),
                        format!(
                            "{ip} is the virtual router's link-local address, which lives on the instance's interface {:?}, not on {other:?} (RFC 5798 §5.2.9)",
                            instance.interface
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
    let excluded_pointer = format!("/instances/{index}/excluded_addresses");
    for (position, address) in instance.excluded_addresses.iter().enumerate() {
        let pointer = format!("{excluded_pointer}/{position}");
        let (ip, _prefix) = match address.parse() {
            Ok(parsed) => parsed,
            Err(message) => {
                report(pointer, message);
                continue;
            }
        };
        if let Some(message) = address
            .interface
            .as_deref()
            .and_then(interface_name_problem)
        {
            report(format!("{pointer}/interface"), message);
        }
        if let Some(message) = unusable_address(&ip) {
            report(pointer, format!("{ip} {message} and cannot be held"));
            continue;
        }
        if let Some(first) = seen.get(&ip).copied() {
            let where_first = if first < instance.virtual_addresses.len() {
                format!("{list_pointer}/{first}")
            } else {
                format!(
                    "{excluded_pointer}/{}",
                    first - instance.virtual_addresses.len()
                )
            };
            report(pointer, format!("{ip} is already listed at {where_first}"));
            continue;
        }
        seen.insert(ip, instance.virtual_addresses.len() + position);
        if let Some(expected) = family
            && Family::of(&ip) != expected
        {
            report(
                pointer,
                format!(
                    "{ip} is {}, but this instance's virtual addresses are {}: an instance \
                     announces one family (gratuitous ARP or NA), so use an instance of the other",
                    Family::of(&ip).name(),
                    expected.name()
                ),
            );
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

/// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) is an IPv4 host seen
/// through an IPv6 socket API; it is never on the wire as an IPv6 source or destination.
fn ipv4_mapped(ip: &IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            Some("is an IPv4-mapped address (list the IPv4 address in an IPv4 instance)")
        }
        _ => None,
    }
}

/// `unicast_source`: unlike the multicast source (`source_address`, which RFC 5798
/// §5.1.2.1 makes link-local for IPv6), an IPv6 unicast source may be link-local or
/// global, as keepalived's `unicast_src_ip` may: the peers send to it, and a global one
/// is what they list when peers are configured from their global addresses.
fn unicast_source_problem(source: IpAddr, family: Family) -> Option<String> {
    if Family::of(&source) != family {
        return Some(format!(
            "{source} is {}, but the virtual addresses are {}; the source must be of the same family",
            Family::of(&source).name(),
            family.name()
        ));
    }
    unusable_address(&source)
        .or_else(|| ipv4_mapped(&source))
        .map(|message| format!("{source} {message} and cannot be the source of advertisements"))
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
