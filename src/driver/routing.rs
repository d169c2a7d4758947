//! rtnetlink for virtual routes and rules: adding and removing them (idempotent, like
//! addresses: already there on add and already gone on remove are successes), the
//! kernel's notifications about ours, and a fresh read of ours after those overflowed.
//!
//! Everything carries routing protocol [`ROUTING_PROTOCOL`] (112; see `core::routes`):
//! the notifications of every other route and rule are dropped here, before the node,
//! so that a router's full table changing does not reach it. Removals name the protocol
//! too, and the kernel then removes only ours (fib_table_delete and ip6_route_del compare
//! it when given, as fib_rules.c's rule_find does for rules).
//!
//! The watcher is a socket of its own (not the link watcher's): a flood of route changes
//! can overflow it without costing the link and address notifications their own resync,
//! and it is only opened when some instance has routes or rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteScope,
    RouteType as KernelRouteType,
};
use rtnetlink::packet_route::rule::{RuleAction as KernelRuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, IpVersion, MulticastGroup, RouteMessageBuilder};
use tracing::{debug, error, info, warn};

use crate::config::{Config, RouteType, RuleAction};
use crate::core::node::NodeAction;
use crate::core::routes::{ROUTING_PROTOCOL, RouteKey, RouteSpec, RuleSpec};
use crate::driver::netlink::{Change, Netlink, NetlinkError, is_errno};

/// What the kernel notified about one of our routes or rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoutingEvent {
    /// RTM_NEWROUTE (`present`) or RTM_DELROUTE of a route of ours.
    Route { key: RouteKey, present: bool },
    /// RTM_NEWRULE (`present`) or RTM_DELRULE of a rule of ours.
    Rule { rule: RuleSpec, present: bool },
    /// The socket's buffer overflowed (ENOBUFS): read ours again ([`read_ours`]).
    Overrun,
}

/// Route and rule notifications (RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
/// RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE), ours only.
pub struct RoutingWatcher {
    messages: UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
    // Keeps the connection (and so the subscription) alive.
    _handle: Handle,
}

impl std::fmt::Debug for RoutingWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutingWatcher").finish_non_exhaustive()
    }
}

impl RoutingWatcher {
    /// Subscribe. Must be called inside a tokio runtime.
    pub fn open() -> Result<Self, NetlinkError> {
        let (connection, handle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Ipv4Route,
            MulticastGroup::Ipv6Route,
            MulticastGroup::Ipv4Rule,
            MulticastGroup::Ipv6Rule,
        ])
        .map_err(NetlinkError::Open)?;
        tokio::spawn(connection);
        Ok(RoutingWatcher {
            messages,
            _handle: handle,
        })
    }

    /// The next notification about one of ours; None when the connection is gone.
    pub async fn next(&mut self) -> Option<RoutingEvent> {
        while let Some((message, _)) = self.messages.next().await {
            let inner = match message.payload {
                // netlink-proto turns a receive that failed with ENOBUFS into this.
                NetlinkPayload::Overrun(_) => return Some(RoutingEvent::Overrun),
                NetlinkPayload::InnerMessage(inner) => inner,
                _ => continue,
            };
            let event = match inner {
                RouteNetlinkMessage::NewRoute(route) => {
                    route_key(&route).map(|key| RoutingEvent::Route { key, present: true })
                }
                RouteNetlinkMessage::DelRoute(route) => {
                    route_key(&route).map(|key| RoutingEvent::Route {
                        key,
                        present: false,
                    })
                }
                RouteNetlinkMessage::NewRule(rule) => {
                    rule_spec(&rule).map(|rule| RoutingEvent::Rule {
                        rule,
                        present: true,
                    })
                }
                RouteNetlinkMessage::DelRule(rule) => {
                    rule_spec(&rule).map(|rule| RoutingEvent::Rule {
                        rule,
                        present: false,
                    })
                }
                _ => None,
            };
            if let Some(event) = event {
                return Some(event);
            }
        }
        None
    }
}

/// A watcher when some instance of `config` has routes or rules (nothing to watch
/// otherwise: on a router with full tables every change would wake the loop).
pub fn watcher_for(config: &Config) -> Result<Option<RoutingWatcher>, NetlinkError> {
    let needed = config
        .instances
        .iter()
        .any(|instance| !instance.virtual_routes.is_empty() || !instance.virtual_rules.is_empty());
    if needed {
        RoutingWatcher::open().map(Some)
    } else {
        Ok(None)
    }
}

/// The watcher's next event, or never when there is no watcher.
pub async fn next_event(watcher: &mut Option<RoutingWatcher>) -> Option<RoutingEvent> {
    match watcher {
        Some(watcher) => watcher.next().await,
        None => std::future::pending().await,
    }
}

/// Perform [`NodeAction::AddRoutes`], [`NodeAction::RemoveRoutes`],
/// [`NodeAction::AddRules`] or [`NodeAction::RemoveRules`], each entry in order, logging
/// what was done (other actions are not this module's and are ignored).
pub async fn perform(netlink: &Netlink, action: NodeAction) {
    match action {
        NodeAction::AddRoutes {
            instance,
            routes,
            repair,
        } => {
            for route in routes {
                match add_route(netlink, &route).await {
                    Ok(Change::Done) if repair => warn!(
                        "({instance}) route {route} was missing (the kernel had dropped it): \
                         put it back"
                    ),
                    Ok(Change::Done) => debug!("({instance}) added route {route}"),
                    Ok(Change::AlreadyThatWay) => {
                        debug!("({instance}) route {route} was already present")
                    }
                    Err(error) => error!("({instance}) cannot add route {route}: {error}"),
                }
            }
        }
        NodeAction::RemoveRoutes {
            instance,
            routes,
            leftover,
        } => {
            for route in routes {
                match (remove_route(netlink, &route).await, leftover) {
                    (Ok(Change::Done), true) => info!(
                        "({instance}) removed route {route}: it was left over, and we are not \
                         master"
                    ),
                    (Ok(Change::Done), false) => debug!("({instance}) removed route {route}"),
                    (Ok(Change::AlreadyThatWay), true) => {}
                    (Ok(Change::AlreadyThatWay), false) => {
                        debug!("({instance}) route {route} was already absent")
                    }
                    (Err(error), true) => {
                        warn!("({instance}) cannot remove leftover route {route}: {error}")
                    }
                    (Err(error), false) => {
                        error!("({instance}) cannot remove route {route}: {error}")
                    }
                }
            }
        }
        NodeAction::AddRules {
            instance,
            rules,
            repair,
        } => {
            for rule in rules {
                match add_rule(netlink, &rule).await {
                    Ok(Change::Done) if repair => {
                        warn!("({instance}) rule {rule} was missing: put it back")
                    }
                    Ok(Change::Done) => debug!("({instance}) added rule {rule}"),
                    Ok(Change::AlreadyThatWay) => {
                        debug!("({instance}) rule {rule} was already present")
                    }
                    Err(error) => error!("({instance}) cannot add rule {rule}: {error}"),
                }
            }
        }
        NodeAction::RemoveRules {
            instance,
            rules,
            leftover,
        } => {
            for rule in rules {
                match (remove_rule(netlink, &rule).await, leftover) {
                    (Ok(Change::Done), true) => info!(
                        "({instance}) removed rule {rule}: it was left over, and we are not \
                         master"
                    ),
                    (Ok(Change::Done), false) => debug!("({instance}) removed rule {rule}"),
                    (Ok(Change::AlreadyThatWay), true) => {}
                    (Ok(Change::AlreadyThatWay), false) => {
                        debug!("({instance}) rule {rule} was already absent")
                    }
                    (Err(error), true) => {
                        warn!("({instance}) cannot remove leftover rule {rule}: {error}")
                    }
                    (Err(error), false) => {
                        error!("({instance}) cannot remove rule {rule}: {error}")
                    }
                }
            }
        }
        _ => {}
    }
}

/// Add one route, its interface looked up by name now (it may have been created again
/// with another index since the config was read).
pub async fn add_route(netlink: &Netlink, route: &RouteSpec) -> Result<Change, NetlinkError> {
    let output = match &route.interface {
        Some(name) => Some(netlink.link_by_name(name).await?.index),
        None => None,
    };
    match netlink
        .handle()
        .route()
        .add(route_message(route, output))
        .execute()
        .await
    {
        Ok(()) => Ok(Change::Done),
        Err(error) if is_errno(&error, &[libc::EEXIST]) => Ok(Change::AlreadyThatWay),
        Err(source) => Err(NetlinkError::Request {
            what: format!("adding route {route}"),
            source,
        }),
    }
}

/// Remove one route of ours (table, destination, metric, type and protocol 112 name it).
pub async fn remove_route(netlink: &Netlink, route: &RouteSpec) -> Result<Change, NetlinkError> {
    match netlink
        .handle()
        .route()
        .del(route_removal_message(route))
        .execute()
        .await
    {
        Ok(()) => Ok(Change::Done),
        // IPv4 says ESRCH, IPv6 ENOENT.
        Err(error) if is_errno(&error, &[libc::ESRCH, libc::ENOENT]) => Ok(Change::AlreadyThatWay),
        Err(source) => Err(NetlinkError::Request {
            what: format!("removing route {route}"),
            source,
        }),
    }
}

pub async fn add_rule(netlink: &Netlink, rule: &RuleSpec) -> Result<Change, NetlinkError> {
    let mut request = netlink.handle().rule().add();
    *request.message_mut() = rule_message(rule);
    match request.execute().await {
        Ok(()) => Ok(Change::Done),
        Err(error) if is_errno(&error, &[libc::EEXIST]) => Ok(Change::AlreadyThatWay),
        Err(source) => Err(NetlinkError::Request {
            what: format!("adding rule {rule}"),
            source,
        }),
    }
}

pub async fn remove_rule(netlink: &Netlink, rule: &RuleSpec) -> Result<Change, NetlinkError> {
    match netlink
        .handle()
        .rule()
        .del(rule_message(rule))
        .execute()
        .await
    {
        Ok(()) => Ok(Change::Done),
        Err(error) if is_errno(&error, &[libc::ENOENT, libc::ESRCH]) => Ok(Change::AlreadyThatWay),
        Err(source) => Err(NetlinkError::Request {
            what: format!("removing rule {rule}"),
            source,
        }),
    }
}

/// Our routes and rules as the kernel has them now (a full dump of each family, ours kept).
pub async fn read_ours(netlink: &Netlink) -> Result<(Vec<RouteKey>, Vec<RuleSpec>), NetlinkError> {
    let mut routes = Vec::new();
    // Without NETLINK_GET_STRICT_CHK the kernel ignores the request's table and
    // protocol and dumps every table of the family.
    for request in [
        RouteMessageBuilder::<Ipv4Addr>::new().build(),
        RouteMessageBuilder::<Ipv6Addr>::new().build(),
    ] {
        let mut replies = netlink.handle().route().get(request).execute();
        while let Some(reply) = replies.next().await {
            let message = reply.map_err(|source| NetlinkError::Request {
                what: "listing routes".to_owned(),
                source,
            })?;
            routes.extend(route_key(&message));
        }
    }
    let mut rules = Vec::new();
    for version in [IpVersion::V4, IpVersion::V6] {
        let mut replies = netlink.handle().rule().get(version).execute();
        while let Some(reply) = replies.next().await {
            let message = reply.map_err(|source| NetlinkError::Request {
                what: "listing rules".to_owned(),
                source,
            })?;
            rules.extend(rule_spec(&message));
        }
    }
    Ok((routes, rules))
}

fn our_protocol() -> RouteProtocol {
    RouteProtocol::from(ROUTING_PROTOCOL)
}

fn kernel_route_type(kind: RouteType) -> KernelRouteType {
    match kind {
        RouteType::Unicast => KernelRouteType::Unicast,
        RouteType::Blackhole => KernelRouteType::BlackHole,
        RouteType::Unreachable => KernelRouteType::Unreachable,
        RouteType::Prohibit => KernelRouteType::Prohibit,
    }
}

/// The RTM_NEWROUTE message for `route`, out of interface index `output` if it names one.
pub fn route_message(route: &RouteSpec, output: Option<u32>) -> RouteMessage {
    let mut message = match route.destination {
        IpAddr::V4(destination) => {
            let mut builder = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(destination, route.prefix_len);
            if let Some(IpAddr::V4(gateway)) = route.gateway {
                builder = builder.gateway(gateway);
            }
            if let Some(IpAddr::V4(source)) = route.source {
                builder = builder.pref_source(source);
            }
            builder.build()
        }
        IpAddr::V6(destination) => {
            let mut builder = RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(destination, route.prefix_len);
            if let Some(IpAddr::V6(gateway)) = route.gateway {
                builder = builder.gateway(gateway);
            }
            if let Some(IpAddr::V6(source)) = route.source {
                builder = builder.pref_source(source);
            }
            builder.build()
        }
    };
    set_identity(&mut message, route);
    // As `ip route add` chooses: a unicast route without a gateway reaches its
    // destination on the link (scope link); everything else is scope universe.
    message.header.scope = if route.kind == RouteType::Unicast && route.gateway.is_none() {
        RouteScope::Link
    } else {
        RouteScope::Universe
    };
    if let Some(index) = output {
        message.attributes.push(RouteAttribute::Oif(index));
    }
    if route.onlink {
        message.header.flags.insert(RouteFlags::Onlink);
    }
    message
}

/// The RTM_DELROUTE message for `route`: what identifies it, of protocol 112, any scope
/// (RT_SCOPE_NOWHERE), and neither gateway nor interface (the interface may be gone, and
/// the route with it; the kernel then answers "not there").
pub fn route_removal_message(route: &RouteSpec) -> RouteMessage {
    let mut message = match route.destination {
        IpAddr::V4(destination) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(destination, route.prefix_len)
            .build(),
        IpAddr::V6(destination) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(destination, route.prefix_len)
            .build(),
    };
    set_identity(&mut message, route);
    message.header.scope = RouteScope::NoWhere;
    message
}

/// Table, metric, type and protocol.
fn set_identity(message: &mut RouteMessage, route: &RouteSpec) {
    // Tables above 255 only fit RTA_TABLE; the header then says RT_TABLE_UNSPEC.
    match u8::try_from(route.table) {
        Ok(table) => message.header.table = table,
        Err(_) => {
            message.header.table = 0;
            message.attributes.push(RouteAttribute::Table(route.table));
        }
    }
    if route.metric != 0 {
        message
            .attributes
            .push(RouteAttribute::Priority(route.metric));
    }
    message.header.kind = kernel_route_type(route.kind);
    message.header.protocol = our_protocol();
}

/// The identity of a route in a notification or dump, if it is one of ours (protocol
/// 112, IPv4 or IPv6, not a cached clone).
pub fn route_key(message: &RouteMessage) -> Option<RouteKey> {
    let header = &message.header;
    if header.protocol != our_protocol() || header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let mut destination = match header.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let mut table = u32::from(header.table);
    let mut metric = 0;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(value) => table = *value,
            RouteAttribute::Priority(value) => metric = *value,
            RouteAttribute::Destination(RouteAddress::Inet(address)) => {
                destination = IpAddr::V4(*address)
            }
            RouteAttribute::Destination(RouteAddress::Inet6(address)) => {
                destination = IpAddr::V6(*address)
            }
            _ => {}
        }
    }
    Some(RouteKey {
        table,
        destination,
        prefix_len: header.destination_prefix_length,
        tos: header.tos,
        metric,
    })
}

fn kernel_rule_action(action: RuleAction) -> KernelRuleAction {
    match action {
        RuleAction::Table => KernelRuleAction::ToTable,
        RuleAction::Blackhole => KernelRuleAction::Blackhole,
        RuleAction::Unreachable => KernelRuleAction::Unreachable,
        RuleAction::Prohibit => KernelRuleAction::Prohibit,
    }
}

/// The RTM_NEWRULE / RTM_DELRULE message for `rule`: both name every part of it (with a
/// priority given, the kernel's rule_find matches that one rule).
pub fn rule_message(rule: &RuleSpec) -> RuleMessage {
    let mut message = RuleMessage::default();
    let header = &mut message.header;
    header.family = if rule.ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    header.action = kernel_rule_action(rule.action);
    // Tables above 255 only fit FRA_TABLE, which the kernel prefers when present.
    header.table = u8::try_from(rule.table).unwrap_or(0);
    let attributes = &mut message.attributes;
    if rule.table != 0 {
        attributes.push(RuleAttribute::Table(rule.table));
    }
    attributes.push(RuleAttribute::Priority(rule.priority));
    attributes.push(RuleAttribute::Protocol(our_protocol()));
    if let Some((address, length)) = rule.from {
        message.header.src_len = length;
        message.attributes.push(RuleAttribute::Source(address));
    }
    if let Some((address, length)) = rule.to {
        message.header.dst_len = length;
        message.attributes.push(RuleAttribute::Destination(address));
    }
    if rule.fwmark != (0, 0) {
        message
            .attributes
            .push(RuleAttribute::FwMark(rule.fwmark.0));
        message
            .attributes
            .push(RuleAttribute::FwMask(rule.fwmark.1));
    }
    if let Some(name) = &rule.in_interface {
        message
            .attributes
            .push(RuleAttribute::Iifname(name.clone()));
    }
    if let Some(name) = &rule.out_interface {
        message
            .attributes
            .push(RuleAttribute::Oifname(name.clone()));
    }
    message
}

/// A rule in a notification or dump, if it is one of ours (FRA_PROTOCOL 112).
pub fn rule_spec(message: &RuleMessage) -> Option<RuleSpec> {
    let header = &message.header;
    let ipv6 = match header.family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return None,
    };
    let action = match header.action {
        KernelRuleAction::ToTable => RuleAction::Table,
        KernelRuleAction::Blackhole => RuleAction::Blackhole,
        KernelRuleAction::Unreachable => RuleAction::Unreachable,
        KernelRuleAction::Prohibit => RuleAction::Prohibit,
        _ => return None,
    };
    let mut ours = false;
    let mut rule = RuleSpec {
        ipv6,
        priority: 0,
        from: None,
        to: None,
        fwmark: (0, 0),
        in_interface: None,
        out_interface: None,
        action,
        table: u32::from(header.table),
    };
    for attribute in &message.attributes {
        match attribute {
            RuleAttribute::Protocol(protocol) => ours = *protocol == our_protocol(),
            RuleAttribute::Priority(priority) => rule.priority = *priority,
            RuleAttribute::Table(table) => rule.table = *table,
            RuleAttribute::Source(address) => rule.from = Some((*address, header.src_len)),
            RuleAttribute::Destination(address) => rule.to = Some((*address, header.dst_len)),
            RuleAttribute::FwMark(mark) => rule.fwmark.0 = *mark,
            RuleAttribute::FwMask(mask) => rule.fwmark.1 = *mask,
            RuleAttribute::Iifname(name) => rule.in_interface = Some(name.clone()),
            RuleAttribute::Oifname(name) => rule.out_interface = Some(name.clone()),
            _ => {}
        }
    }
    if !ours {
        return None;
    }
    // As core::routes keeps them: no /0 selectors, no table for a dropping action.
    rule.from = rule.from.filter(|(_, length)| *length > 0);
    rule.to = rule.to.filter(|(_, length)| *length > 0);
    if action != RuleAction::Table {
        rule.table = 0;
    }
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MAIN_TABLE;

    fn spec(destination: &str, table: u32) -> RouteSpec {
        let (destination, prefix_len) = crate::config::RoutePrefix(destination.to_owned())
            .parse(destination.contains(':'))
            .unwrap();
        RouteSpec {
            destination,
            prefix_len,
            gateway: None,
            interface: None,
            source: None,
            table,
            metric: if destination.is_ipv6() { 1024 } else { 0 },
            kind: RouteType::Unicast,
            onlink: false,
        }
    }

    /// What we send comes back as the same key: the notification of our own route must
    /// match what the node holds.
    #[test]
    fn a_route_we_add_reads_back_as_its_key() {
        for (route, output) in [
            (
                RouteSpec {
                    gateway: Some("198.51.100.1".parse().unwrap()),
                    ..spec("203.0.113.0/24", 100)
                },
                None,
            ),
            (
                RouteSpec {
                    kind: RouteType::Blackhole,
                    metric: 50,
                    ..spec("203.0.113.128/25", MAIN_TABLE)
                },
                None,
            ),
            (spec("2001:db8:1::/48", 100_000), Some(3)),
            (spec("default", MAIN_TABLE), None),
        ] {
            let message = route_message(&route, output);
            assert_eq!(route_key(&message), Some(route.key()), "{route}");
            // The removal names the same route.
            assert_eq!(
                route_key(&route_removal_message(&route)),
                Some(route.key()),
                "{route}"
            );
        }
    }

    #[test]
    fn only_our_routes_are_reported() {
        let mut message = route_message(&spec("203.0.113.0/24", MAIN_TABLE), None);
        message.header.protocol = RouteProtocol::Static;
        assert_eq!(route_key(&message), None);
        let mut cloned = route_message(&spec("2001:db8:1::/48", MAIN_TABLE), None);
        cloned.header.flags.insert(RouteFlags::Cloned);
        assert_eq!(route_key(&cloned), None);
    }

    #[test]
    fn a_device_route_is_scope_link_and_the_others_universe() {
        let device = RouteSpec {
            interface: Some("eth1".to_owned()),
            ..spec("203.0.113.0/24", MAIN_TABLE)
        };
        assert_eq!(
            route_message(&device, Some(4)).header.scope,
            RouteScope::Link
        );
        let via = RouteSpec {
            gateway: Some("198.51.100.1".parse().unwrap()),
            ..device.clone()
        };
        assert_eq!(
            route_message(&via, Some(4)).header.scope,
            RouteScope::Universe
        );
        assert_eq!(
            route_removal_message(&via).header.scope,
            RouteScope::NoWhere
        );
    }

    #[test]
    fn a_rule_we_add_reads_back_as_itself() {
        let table_rule = RuleSpec {
            ipv6: false,
            priority: 1000,
            from: Some(("198.51.100.40".parse().unwrap(), 32)),
            to: None,
            fwmark: (0x10, 0xff),
            in_interface: Some("eth0".to_owned()),
            out_interface: None,
            action: RuleAction::Table,
            table: 100,
        };
        let blackhole = RuleSpec {
            ipv6: true,
            priority: 7,
            from: None,
            to: Some(("2001:db8:2::".parse().unwrap(), 48)),
            fwmark: (0, 0),
            in_interface: None,
            out_interface: Some("eth1".to_owned()),
            action: RuleAction::Blackhole,
            table: 0,
        };
        let big_table = RuleSpec {
            table: 100_000,
            ..table_rule.clone()
        };
        for rule in [table_rule, blackhole, big_table] {
            assert_eq!(
                rule_spec(&rule_message(&rule)),
                Some(rule.clone()),
                "{rule}"
            );
        }
    }

    #[test]
    fn only_our_rules_are_reported() {
        let mut message = rule_message(&RuleSpec {
            ipv6: false,
            priority: 1000,
            from: Some(("198.51.100.40".parse().unwrap(), 32)),
            to: None,
            fwmark: (0, 0),
            in_interface: None,
            out_interface: None,
            action: RuleAction::Table,
            table: 100,
        });
        message
            .attributes
            .retain(|attribute| !matches!(attribute, RuleAttribute::Protocol(_)));
        assert_eq!(rule_spec(&message), None, "no protocol: not ours");
        message
            .attributes
            .push(RuleAttribute::Protocol(RouteProtocol::Boot));
        assert_eq!(rule_spec(&message), None);
    }
}
