//! Virtual routes and rules (keepalived's `virtual_routes` / `virtual_rules`), pure: what
//! the kernel is asked to hold for an instance, and what identifies each entry in the
//! kernel's notifications.
//!
//! The node (`node/routing.rs`) decides when: routes and rules are held exactly while the
//! instance holds its addresses as master, added after the addresses (a gateway inside a
//! virtual address's subnet is only reachable once the address is there; a `source` must
//! be an address of the host) and rules after routes (a rule that selects a table before
//! its routes are in sends packets down to the next rule), and removed in the reverse
//! order.
//!
//! Every route and rule is marked with routing protocol [`ROUTING_PROTOCOL`], 112: the
//! kernel passes values above RTPROT_STATIC (4) through without interpreting them
//! (include/uapi/linux/rtnetlink.h), and 112 is in neither the kernel's list
//! (keepalived's is 18) nor iproute2's or FRR's rt_protos. It lets an operator list
//! ours (`ip route show table all proto 112`, `ip rule show protocol 112`), lets the shell
//! ignore every other route's notification, and lets a removal take only our own entry:
//! the kernel's route and rule deletes compare the protocol when one is given.

use std::fmt;
use std::net::IpAddr;

use crate::config::{
    InstanceConfig, MAIN_TABLE, RouteType, RuleAction, VirtualRouteConfig, VirtualRuleConfig,
};

/// The routing protocol number vrrpd marks its routes and rules with (the IANA protocol
/// number of VRRP, which makes it easy to remember).
pub const ROUTING_PROTOCOL: u8 = 112;

/// The metric the kernel gives an IPv6 route added without one (IP6_RT_PRIO_USER,
/// include/net/ip6_route.h; ip6_route_info_create): its notifications carry that value.
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// A firewall mark selector as the kernel keeps it (fib_nl2rule): a mark without a mask
/// compares every bit, and (0, 0) is no selector at all (fib_nl_fill_rule then leaves
/// both attributes out).
pub fn normalized_mark(fwmark: Option<u32>, fwmask: Option<u32>) -> (u32, u32) {
    match (fwmark, fwmask) {
        (None, _) => (0, 0),
        (Some(mark), Some(mask)) => (mark, mask),
        (Some(0), None) => (0, 0),
        (Some(mark), None) => (mark, u32::MAX),
    }
}

/// What identifies a route in the kernel, as its notifications carry it: the table,
/// destination prefix, TOS and metric (IPv4 keys its fib aliases by table, prefix, TOS
/// and priority; IPv6 its routes by table, prefix and metric). vrrpd's own routes have
/// TOS 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub table: u32,
    pub destination: IpAddr,
    pub prefix_len: u8,
    pub tos: u8,
    pub metric: u32,
}

/// One route of an instance, as the kernel is asked to hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub destination: IpAddr,
    pub prefix_len: u8,
    pub gateway: Option<IpAddr>,
    /// Looked up by name when the route is added.
    pub interface: Option<String>,
    pub source: Option<IpAddr>,
    pub table: u32,
    /// What the kernel holds: the configured metric, or its default (IPv4 0, IPv6 1024).
    pub metric: u32,
    pub kind: RouteType,
    pub onlink: bool,
}

impl RouteSpec {
    /// From a checked config entry of an instance of the given family; None for an entry
    /// the config checks refuse (never for a loaded config).
    pub fn from_config(route: &VirtualRouteConfig, ipv6: bool) -> Option<RouteSpec> {
        let (destination, prefix_len) = route.destination.parse(ipv6).ok()?;
        Some(RouteSpec {
            destination,
            prefix_len,
            gateway: route.gateway,
            interface: route.interface.clone(),
            source: route.source,
            table: route.table,
            metric: match (route.metric, destination.is_ipv6()) {
                (None | Some(0), true) => IPV6_DEFAULT_METRIC,
                (metric, _) => metric.unwrap_or(0),
            },
            kind: route.kind,
            onlink: route.onlink,
        })
    }

    pub fn key(&self) -> RouteKey {
        RouteKey {
            table: self.table,
            destination: self.destination,
            prefix_len: self.prefix_len,
            tos: 0,
            metric: self.metric,
        }
    }

    /// Whether the kernel routes through an interface of this name for it.
    pub fn uses_interface(&self, name: &str) -> bool {
        self.interface.as_deref() == Some(name)
    }
}

/// `ip route` syntax, for logs: "203.0.113.0/24 via 198.51.100.1 table 100".
impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != RouteType::Unicast {
            write!(f, "{} ", self.kind.as_str())?;
        }
        write!(f, "{}/{}", self.destination, self.prefix_len)?;
        if let Some(gateway) = self.gateway {
            write!(f, " via {gateway}")?;
        }
        if let Some(interface) = &self.interface {
            write!(f, " dev {interface}")?;
        }
        if let Some(source) = self.source {
            write!(f, " src {source}")?;
        }
        if self.table != MAIN_TABLE {
            write!(f, " table {}", self.table)?;
        }
        let default_metric = if self.destination.is_ipv6() {
            IPV6_DEFAULT_METRIC
        } else {
            0
        };
        if self.metric != default_metric {
            write!(f, " metric {}", self.metric)?;
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        Ok(())
    }
}

/// One policy rule, as the kernel is asked to hold it and as its notifications describe
/// it: every field takes part in its identity (fib_rules.c's rule_exists and rule_find).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    pub ipv6: bool,
    pub priority: u32,
    /// None for no selector (a /0 prefix selects nothing either, and the kernel reports
    /// it as none).
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    /// (mark, mask), see [`normalized_mark`]; (0, 0) for none.
    pub fwmark: (u32, u32),
    pub in_interface: Option<String>,
    pub out_interface: Option<String>,
    pub action: RuleAction,
    /// 0 (RT_TABLE_UNSPEC) for the actions that look up no table.
    pub table: u32,
}

impl RuleSpec {
    /// From a checked config entry of an instance of the given family.
    pub fn from_config(rule: &VirtualRuleConfig, ipv6: bool) -> Option<RuleSpec> {
        let prefix = |prefix: &Option<crate::config::RoutePrefix>| {
            prefix
                .as_ref()
                .and_then(|prefix| prefix.parse(ipv6).ok())
                .filter(|(_, length)| *length > 0)
        };
        Some(RuleSpec {
            ipv6,
            priority: rule.priority,
            from: prefix(&rule.from),
            to: prefix(&rule.to),
            fwmark: normalized_mark(rule.fwmark, rule.fwmask),
            in_interface: rule.in_interface.clone(),
            out_interface: rule.out_interface.clone(),
            action: rule.action,
            table: match rule.action {
                RuleAction::Table => rule.table?,
                _ => 0,
            },
        })
    }
}

/// `ip rule` syntax, for logs: "priority 1000 from 198.51.100.40/32 lookup 100".
impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "priority {}", self.priority)?;
        if let Some((address, length)) = self.from {
            write!(f, " from {address}/{length}")?;
        }
        if let Some((address, length)) = self.to {
            write!(f, " to {address}/{length}")?;
        }
        if self.fwmark != (0, 0) {
            write!(f, " fwmark {:#x}/{:#x}", self.fwmark.0, self.fwmark.1)?;
        }
        if let Some(interface) = &self.in_interface {
            write!(f, " iif {interface}")?;
        }
        if let Some(interface) = &self.out_interface {
            write!(f, " oif {interface}")?;
        }
        match self.action {
            RuleAction::Table => write!(f, " lookup {}", self.table),
            other => write!(f, " {}", other.as_str()),
        }
    }
}

/// An instance's routes and rules, in config order.
pub fn routes_of(config: &InstanceConfig, ipv6: bool) -> Vec<RouteSpec> {
    config
        .virtual_routes
        .iter()
        .filter_map(|route| RouteSpec::from_config(route, ipv6))
        .collect()
}

pub fn rules_of(config: &InstanceConfig, ipv6: bool) -> Vec<RuleSpec> {
    config
        .virtual_rules
        .iter()
        .filter_map(|rule| RuleSpec::from_config(rule, ipv6))
        .collect()
}

/// What changes from `old` to `new`: (entries to remove, entries to add), each in its
/// list's order.
pub fn changes<T: PartialEq + Clone>(old: &[T], new: &[T]) -> (Vec<T>, Vec<T>) {
    let removed = old.iter().filter(|entry| !new.contains(entry)).cloned();
    let added = new.iter().filter(|entry| !old.contains(entry)).cloned();
    (removed.collect(), added.collect())
}

/// "1 route" / "2 routes".
pub fn count(count: usize, what: &str) -> String {
    if count == 1 {
        format!("1 {what}")
    } else {
        format!("{count} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoutePrefix;

    fn route(destination: &str) -> VirtualRouteConfig {
        VirtualRouteConfig {
            destination: RoutePrefix(destination.to_owned()),
            gateway: None,
            interface: None,
            source: None,
            table: MAIN_TABLE,
            metric: None,
            kind: RouteType::Unicast,
            onlink: false,
        }
    }

    #[test]
    fn the_metric_is_what_the_kernel_will_report() {
        let v4 = RouteSpec::from_config(&route("203.0.113.0/24"), false).unwrap();
        assert_eq!(v4.key().metric, 0);
        let v6 = RouteSpec::from_config(&route("2001:db8:1::/48"), true).unwrap();
        assert_eq!(v6.key().metric, IPV6_DEFAULT_METRIC);
        let explicit = VirtualRouteConfig {
            metric: Some(7),
            ..route("2001:db8:1::/48")
        };
        assert_eq!(RouteSpec::from_config(&explicit, true).unwrap().metric, 7);
        // ip6_route_info_create turns metric 0 into IP6_RT_PRIO_USER as well.
        let zero = VirtualRouteConfig {
            metric: Some(0),
            ..route("2001:db8:1::/48")
        };
        assert_eq!(
            RouteSpec::from_config(&zero, true).unwrap().metric,
            IPV6_DEFAULT_METRIC
        );
    }

    #[test]
    fn default_is_the_instances_family() {
        let v4 = RouteSpec::from_config(&route("default"), false).unwrap();
        assert_eq!(
            (v4.destination, v4.prefix_len),
            ("0.0.0.0".parse().unwrap(), 0)
        );
        let v6 = RouteSpec::from_config(&route("default"), true).unwrap();
        assert_eq!((v6.destination, v6.prefix_len), ("::".parse().unwrap(), 0));
        // A bare address is a host route.
        let host = RouteSpec::from_config(&route("203.0.113.9"), false).unwrap();
        assert_eq!(host.prefix_len, 32);
    }

    #[test]
    fn routes_and_rules_read_like_iproute2() {
        let spec = RouteSpec::from_config(
            &VirtualRouteConfig {
                gateway: Some("198.51.100.1".parse().unwrap()),
                table: 100,
                ..route("203.0.113.0/24")
            },
            false,
        )
        .unwrap();
        assert_eq!(
            spec.to_string(),
            "203.0.113.0/24 via 198.51.100.1 table 100"
        );
        let blackhole = RouteSpec::from_config(
            &VirtualRouteConfig {
                kind: RouteType::Blackhole,
                metric: Some(50),
                ..route("203.0.113.128/25")
            },
            false,
        )
        .unwrap();
        assert_eq!(
            blackhole.to_string(),
            "blackhole 203.0.113.128/25 metric 50"
        );
        let rule = RuleSpec::from_config(
            &VirtualRuleConfig {
                priority: 1000,
                from: Some(RoutePrefix("198.51.100.40".to_owned())),
                to: None,
                fwmark: Some(16),
                fwmask: None,
                in_interface: None,
                out_interface: None,
                action: RuleAction::Table,
                table: Some(100),
            },
            false,
        )
        .unwrap();
        assert_eq!(
            rule.to_string(),
            "priority 1000 from 198.51.100.40/32 fwmark 0x10/0xffffffff lookup 100"
        );
    }

    #[test]
    fn marks_are_kept_as_the_kernel_keeps_them() {
        assert_eq!(normalized_mark(None, None), (0, 0));
        assert_eq!(normalized_mark(Some(0x10), None), (0x10, u32::MAX));
        assert_eq!(normalized_mark(Some(0x10), Some(0xff)), (0x10, 0xff));
        // "Unmarked packets" is a selector; a bare mark 0 is none (fib_nl2rule).
        assert_eq!(normalized_mark(Some(0), Some(0xff)), (0, 0xff));
        assert_eq!(normalized_mark(Some(0), None), (0, 0));
    }

    #[test]
    fn a_rule_without_a_table_action_has_table_zero_and_a_slash_zero_selects_nothing() {
        let rule = RuleSpec::from_config(
            &VirtualRuleConfig {
                priority: 5,
                from: Some(RoutePrefix("0.0.0.0/0".to_owned())),
                to: Some(RoutePrefix("203.0.113.0/24".to_owned())),
                fwmark: None,
                fwmask: None,
                in_interface: None,
                out_interface: None,
                action: RuleAction::Blackhole,
                table: None,
            },
            false,
        )
        .unwrap();
        assert_eq!((rule.table, rule.from), (0, None));
        assert_eq!(rule.to_string(), "priority 5 to 203.0.113.0/24 blackhole");
    }

    #[test]
    fn changes_list_what_goes_and_what_comes() {
        let (removed, added) = changes(&[1, 2, 3], &[3, 4]);
        assert_eq!((removed, added), (vec![1, 2], vec![4]));
        let (removed, added) = changes(&[1], &[1]);
        assert!(removed.is_empty() && added.is_empty());
    }
}
