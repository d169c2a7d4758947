//! `virtual_routes` and `virtual_rules` (keepalived's blocks of the same names): routes and
//! policy rules an instance holds exactly while it holds its addresses as master.
//!
//! The types here are the JSON keys (and so the schema); [`check`] holds the rules one
//! schema cannot express: address families, host bits, what each route type takes, and
//! that no two instances claim the same route or rule (one would remove what the other
//! holds on every failover). The core turns a checked entry into what the kernel gets
//! (`core::routes`).

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{ConfigProblem, InstanceConfig, schema};

/// The main routing table (RT_TABLE_MAIN, include/uapi/linux/rtnetlink.h), where
/// `ip route add` puts a route without `table`.
pub const MAIN_TABLE: u32 = 254;
/// The kernel's own table of local and broadcast addresses (RT_TABLE_LOCAL): not ours to
/// add to.
const LOCAL_TABLE: u32 = 255;

/// A route prefix: an address with an optional prefix length ("203.0.113.0/24"; without
/// one, a host route /32 or /128), or "default" (0.0.0.0/0 or ::/0, the instance's family).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoutePrefix(pub String);

impl RoutePrefix {
    /// Address and prefix length; "default" is the unspecified address of the family
    /// given, /0.
    pub fn parse(&self, ipv6: bool) -> Result<(IpAddr, u8), String> {
        if self.0 == "default" {
            let any = if ipv6 {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            };
            return Ok((any, 0));
        }
        super::VirtualAddress::new(self.0.clone()).parse()
    }
}

impl schemars::JsonSchema for RoutePrefix {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RoutePrefix".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schema::route_prefix_schema()
    }
}

/// What the kernel does with packets to a route's destination (`ip route add TYPE ...`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RouteType {
    /// Forward to `gateway` and/or out of `interface` (RTN_UNICAST).
    #[default]
    Unicast,
    /// Drop silently (RTN_BLACKHOLE).
    Blackhole,
    /// Drop and answer ICMP "host unreachable" (RTN_UNREACHABLE).
    Unreachable,
    /// Drop and answer ICMP "administratively prohibited" (RTN_PROHIBIT).
    Prohibit,
}

impl RouteType {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
        }
    }
}

/// One route added when the instance becomes master, right after its addresses, and
/// removed right before they are (keepalived: one line of `virtual_routes { ... }`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualRouteConfig {
    /// Destination prefix of the instance's family, e.g. "203.0.113.0/24",
    /// "2001:db8:1::/48", or "default"; without a prefix length a host route (/32, /128).
    /// The address must be the network's (no host bits set). keepalived: `[to] PREFIX`.
    pub destination: RoutePrefix,
    /// Next hop, of the destination's family; it must be reachable when the route is
    /// added (e.g. inside a virtual address's subnet: the addresses are added first).
    /// An IPv6 link-local gateway needs `interface`. keepalived: `via` (or `gw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::ip_address_schema")]
    pub gateway: Option<IpAddr>,
    /// Output interface, e.g. "eth1"; looked up by name each time the route is added (a
    /// missing interface is logged and the route skipped). A unicast route needs a
    /// `gateway`, an `interface`, or both. keepalived: `dev` (or `oif`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = schema::INTERFACE_NAME_PATTERN))]
    pub interface: Option<String>,
    /// Preferred source address of packets routed this way, of the destination's family
    /// (often a virtual address). Unicast routes only. keepalived: `src`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::ip_address_schema")]
    pub source: Option<IpAddr>,
    /// Routing table, 1 to 4294967295 except 255 (the kernel's local table). Default 254,
    /// the main table. A policy rule (`virtual_rules`) selects other tables. keepalived:
    /// `table`.
    #[serde(default = "main_table", skip_serializing_if = "is_main_table")]
    #[schemars(range(min = 1), extend("default" = MAIN_TABLE))]
    pub table: u32,
    /// Route metric (the kernel's priority: lower wins). Default: the kernel's, 0 for IPv4
    /// and 1024 for IPv6. keepalived: `metric` (or `priority`, `preference`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// "unicast" (default), "blackhole", "unreachable" or "prohibit"; the last three take
    /// no gateway, interface, source or onlink. keepalived: the type word before the
    /// destination (`blackhole 192.0.2.0/24`).
    #[serde(rename = "type", default, skip_serializing_if = "is_unicast")]
    #[schemars(extend("default" = "unicast"))]
    pub kind: RouteType,
    /// Use the gateway as if it were on the interface's link even when no address of the
    /// interface covers it (RTNH_F_ONLINK). Needs `gateway` and `interface`. Default
    /// false. keepalived: `onlink`.
    #[serde(default, skip_serializing_if = "is_false")]
    #[schemars(extend("default" = false))]
    pub onlink: bool,
}

/// What a policy rule does with the packets it selects (`ip rule add ... ACTION`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Look the route up in `table` (FR_ACT_TO_TBL).
    #[default]
    Table,
    /// Drop silently (FR_ACT_BLACKHOLE).
    Blackhole,
    /// Drop with "network unreachable" (FR_ACT_UNREACHABLE).
    Unreachable,
    /// Drop with "administratively prohibited" (FR_ACT_PROHIBIT).
    Prohibit,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Table => "table",
            RuleAction::Blackhole => "blackhole",
            RuleAction::Unreachable => "unreachable",
            RuleAction::Prohibit => "prohibit",
        }
    }
}

/// One policy routing rule added when the instance becomes master, after its routes, and
/// removed before them (keepalived: one line of `virtual_rules { ... }`). At least one
/// selector (`from`, `to`, `fwmark`, `in_interface`, `out_interface`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualRuleConfig {
    /// The rule's priority, 1 to 4294967295 (lower is looked at first; the main table's
    /// rule is 32766). Required: without one the kernel picks a new value at every add,
    /// and vrrpd could neither find the rule again nor add it only once. keepalived:
    /// `preference` (or `priority`, `order`).
    #[schemars(range(min = 1))]
    pub priority: u32,
    /// Select packets from this source prefix, of the instance's family, e.g.
    /// "198.51.100.40/32". keepalived: `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<RoutePrefix>,
    /// Select packets to this destination prefix, of the instance's family. keepalived:
    /// `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<RoutePrefix>,
    /// Select packets with this firewall mark (after `fwmask`). keepalived: `fwmark
    /// MARK[/MASK]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// The bits of the mark compared with `fwmark`. Default: all of them. Needs `fwmark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<u32>,
    /// Select packets arriving on this interface (by name; the rule waits for an
    /// interface of that name). keepalived: `iif`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = schema::INTERFACE_NAME_PATTERN))]
    pub in_interface: Option<String>,
    /// Select packets sent from sockets bound to this interface. keepalived: `oif`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = schema::INTERFACE_NAME_PATTERN))]
    pub out_interface: Option<String>,
    /// "table" (default: look up `table`), "blackhole", "unreachable" or "prohibit".
    /// keepalived: `table N`, or the action word (`blackhole`, `unreachable`,
    /// `prohibit`).
    #[serde(default, skip_serializing_if = "is_table_action")]
    #[schemars(extend("default" = "table"))]
    pub action: RuleAction,
    /// The table to look up, 1 to 4294967295; needed by the "table" action and taken by
    /// no other. keepalived: `table` (or `lookup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub table: Option<u32>,
}

fn main_table() -> u32 {
    MAIN_TABLE
}
fn is_main_table(table: &u32) -> bool {
    *table == MAIN_TABLE
}
fn is_unicast(kind: &RouteType) -> bool {
    *kind == RouteType::Unicast
}
fn is_table_action(action: &RuleAction) -> bool {
    *action == RuleAction::Table
}
fn is_false(value: &bool) -> bool {
    !*value
}

/// What identifies a route to the kernel, to find two entries that would be the same
/// route: table, destination and metric (IPv4's fib alias is keyed by table, prefix, TOS
/// and priority; IPv6's by table, prefix and metric, 1024 when none is given,
/// IP6_RT_PRIO_USER).
type RouteIdentity = (u32, IpAddr, u8, u32);

/// The rules across keys and instances of `virtual_routes` and `virtual_rules`, for every
/// instance that could be read, by its index in the document.
pub(super) fn check(instances: &[(usize, &InstanceConfig)]) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let mut routes: HashMap<RouteIdentity, String> = HashMap::new();
    let mut rules: HashMap<RuleIdentity, String> = HashMap::new();
    for &(index, instance) in instances {
        let ipv6 = instance.is_ipv6();
        for (position, route) in instance.virtual_routes.iter().enumerate() {
            let at = format!("/instances/{index}/virtual_routes/{position}");
            let Some(identity) = check_route(route, ipv6, &at, &mut problems) else {
                continue;
            };
            if let Some(first) = routes.get(&identity) {
                problems.push(ConfigProblem {
                    pointer: at,
                    message: format!(
                        "the same route (table {}, destination {}/{}, metric {}) is already at \
                         {first}; the kernel holds one, so two entries would remove each other's",
                        identity.0, identity.1, identity.2, identity.3
                    ),
                });
            } else {
                routes.insert(identity, at);
            }
        }
        for (position, rule) in instance.virtual_rules.iter().enumerate() {
            let at = format!("/instances/{index}/virtual_rules/{position}");
            let Some(identity) = check_rule(rule, ipv6, &at, &mut problems) else {
                continue;
            };
            if let Some(first) = rules.get(&identity) {
                problems.push(ConfigProblem {
                    pointer: at,
                    message: format!(
                        "the same rule (priority {}, the same selectors and action) is already \
                         at {first}; the kernel holds one, so two entries would remove each other's",
                        rule.priority
                    ),
                });
            } else {
                rules.insert(identity, at);
            }
        }
    }
    problems
}

fn family_name(ipv6: bool) -> &'static str {
    if ipv6 { "IPv6" } else { "IPv4" }
}

/// A prefix of the instance's family whose host bits are clear (the kernel refuses an
/// IPv4 route "192.0.2.5/24", and the rule or route would not be what was meant).
fn check_prefix(
    prefix: &RoutePrefix,
    ipv6: bool,
    pointer: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<(IpAddr, u8)> {
    let mut report = |message: String| {
        problems.push(ConfigProblem {
            pointer: pointer.to_owned(),
            message,
        })
    };
    let (address, length) = match prefix.parse(ipv6) {
        Ok(parsed) => parsed,
        Err(message) => {
            report(message);
            return None;
        }
    };
    if address.is_ipv6() != ipv6 {
        report(format!(
            "{} is {}, but this instance's virtual addresses are {}; an instance's routes and \
             rules are of its own family (use an instance of the other family)",
            prefix.0,
            family_name(address.is_ipv6()),
            family_name(ipv6)
        ));
        return None;
    }
    let network = network_of(address, length);
    if network != address {
        report(format!(
            "{} has host bits set; the network is {network}/{length}",
            prefix.0
        ));
        return None;
    }
    Some((address, length))
}

/// The first `length` bits of `address`, the rest cleared.
pub fn network_of(address: IpAddr, length: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(length.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(length.min(128)))
                .unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    }
}

/// A gateway or source address: of the family, and one a host can use.
fn address_problem(address: IpAddr, ipv6: bool, role: &str) -> Option<String> {
    if address.is_ipv6() != ipv6 {
        return Some(format!(
            "{address} is {}, but the destination is {}; a route's {role} is of its family",
            family_name(address.is_ipv6()),
            family_name(ipv6)
        ));
    }
    let unusable = if address.is_unspecified() {
        "the unspecified address"
    } else if address.is_multicast() {
        "a multicast address"
    } else if address.is_loopback() {
        "a loopback address"
    } else if matches!(address, IpAddr::V4(v4) if v4.is_broadcast()) {
        "the broadcast address"
    } else {
        return None;
    };
    Some(format!(
        "{address} is {unusable} and cannot be a route's {role}"
    ))
}

fn check_route(
    route: &VirtualRouteConfig,
    ipv6: bool,
    at: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<RouteIdentity> {
    let (destination, length) = check_prefix(
        &route.destination,
        ipv6,
        &format!("{at}/destination"),
        problems,
    )?;
    let mut report = |key: &str, message: String| {
        let pointer = if key.is_empty() {
            at.to_owned()
        } else {
            format!("{at}/{key}")
        };
        problems.push(ConfigProblem { pointer, message })
    };
    if route.table == LOCAL_TABLE {
        report(
            "table",
            "table 255 is the kernel's local table (its own addresses); use another table"
                .to_owned(),
        );
    }
    if let Some(name) = &route.interface
        && let Some(message) = super::rules::interface_name_problem(name)
    {
        report("interface", message);
    }
    if let Some(gateway) = route.gateway
        && let Some(message) = address_problem(gateway, ipv6, "gateway")
    {
        report("gateway", message);
    }
    if let Some(source) = route.source
        && let Some(message) = address_problem(source, ipv6, "source")
    {
        report("source", message);
    }
    match route.kind {
        RouteType::Unicast => {
            if route.gateway.is_none() && route.interface.is_none() {
                report(
                    "",
                    "a unicast route needs a `gateway`, an `interface`, or both (or a `type` \
                     such as \"blackhole\")"
                        .to_owned(),
                );
            }
            if route.onlink && (route.gateway.is_none() || route.interface.is_none()) {
                report(
                    "onlink",
                    "onlink needs both `gateway` and `interface`: it says the gateway is on \
                     that interface's link"
                        .to_owned(),
                );
            }
            if let Some(IpAddr::V6(gateway)) = route.gateway
                && gateway.is_unicast_link_local()
                && route.interface.is_none()
            {
                report(
                    "gateway",
                    format!("{gateway} is link-local; the kernel needs the `interface` it is on"),
                );
            }
        }
        other => {
            for (key, given) in [
                ("gateway", route.gateway.is_some()),
                ("interface", route.interface.is_some()),
                ("source", route.source.is_some()),
                ("onlink", route.onlink),
            ] {
                if given {
                    report(
                        key,
                        format!(
                            "a {} route forwards nothing, so it takes no {key}",
                            other.as_str()
                        ),
                    );
                }
            }
        }
    }
    let metric = match (route.metric, ipv6) {
        (None | Some(0), true) => crate::core::routes::IPV6_DEFAULT_METRIC,
        (metric, _) => metric.unwrap_or(0),
    };
    Some((route.table, destination, length, metric))
}

/// Everything that identifies a rule to the kernel (fib_rules.c's rule_exists compares
/// the priority, the selectors, the action and the table).
type RuleIdentity = (
    u32,
    Option<(IpAddr, u8)>,
    Option<(IpAddr, u8)>,
    (u32, u32),
    Option<String>,
    Option<String>,
    RuleAction,
    u32,
);

fn check_rule(
    rule: &VirtualRuleConfig,
    ipv6: bool,
    at: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<RuleIdentity> {
    let from = match &rule.from {
        Some(prefix) => Some(check_prefix(prefix, ipv6, &format!("{at}/from"), problems)?),
        None => None,
    };
    let to = match &rule.to {
        Some(prefix) => Some(check_prefix(prefix, ipv6, &format!("{at}/to"), problems)?),
        None => None,
    };
    let mut report = |key: &str, message: String| {
        let pointer = if key.is_empty() {
            at.to_owned()
        } else {
            format!("{at}/{key}")
        };
        problems.push(ConfigProblem { pointer, message })
    };
    let mut valid = true;
    for (key, name) in [
        ("in_interface", &rule.in_interface),
        ("out_interface", &rule.out_interface),
    ] {
        if let Some(message) = name
            .as_deref()
            .and_then(super::rules::interface_name_problem)
        {
            report(key, message);
            valid = false;
        }
    }
    if rule.fwmask.is_some() && rule.fwmark.is_none() {
        report("fwmask", "fwmask needs fwmark".to_owned());
        valid = false;
    }
    let mark = crate::core::routes::normalized_mark(rule.fwmark, rule.fwmask);
    let selects = from.is_some_and(|(_, length)| length > 0)
        || to.is_some_and(|(_, length)| length > 0)
        || mark != (0, 0)
        || rule.in_interface.is_some()
        || rule.out_interface.is_some();
    if !selects {
        report(
            "",
            "a rule needs a selector (`from`, `to`, `fwmark`, `in_interface` or \
             `out_interface`, other than /0); one that matches every packet would take all of \
             the host's traffic"
                .to_owned(),
        );
        valid = false;
    }
    match (rule.action, rule.table) {
        (RuleAction::Table, None) => {
            report(
                "table",
                "the \"table\" action needs the `table` to look up".to_owned(),
            );
            valid = false;
        }
        (RuleAction::Table, Some(_)) | (_, None) => {}
        (other, Some(_)) => {
            report(
                "table",
                format!(
                    "a rule with action \"{}\" looks up no table",
                    other.as_str()
                ),
            );
            valid = false;
        }
    }
    valid.then(|| {
        (
            rule.priority,
            from.filter(|(_, length)| *length > 0),
            to.filter(|(_, length)| *length > 0),
            mark,
            rule.in_interface.clone(),
            rule.out_interface.clone(),
            rule.action,
            rule.table.unwrap_or(0),
        )
    })
}
