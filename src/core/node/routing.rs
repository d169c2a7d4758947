//! The node's decisions about virtual routes and rules (`core::routes` has what they
//! are). Kept apart from `node.rs`, which only calls these hooks (each call there is
//! marked "virtual routes and rules"):
//!
//! - an instance starting removes what a previous run left behind (`remove_leftover_routing`);
//! - its addresses added as master: its routes, then its rules (`add_routing`);
//! - its addresses about to be removed (leaving MASTER for any reason: a higher priority,
//!   FAULT, the end of a hand-over, a stop, a reload): its rules, then its routes
//!   (`remove_routing`);
//! - a master's address put back: its routes and rules again (`reassert_routing`): the
//!   kernel removed the routes whose `source` the address is along with it, and they can
//!   only be added again once the address is back (putting one back on its own deletion
//!   notification fails while the address is still missing);
//! - an interface a master's route goes through coming up again (`routing_link`): setting
//!   a link down flushes the IPv4 routes through it without a notification (checked on
//!   Linux 6.18 with `ip monitor route`), and they do not come back with the link;
//! - the kernel's notification that one of ours was removed from a master: put back, with a
//!   warning, counted (`on_route`, `on_rule`); and the same after the notifications
//!   overflowed, from a fresh read (`on_routing_resync`);
//! - a reload that changes only an instance's routes or rules: applied in place
//!   (`reconfigure_routing`), so a master keeps its addresses.
//!
//! What keepalived does differently: a tracked virtual route or rule that is deleted makes
//! its instance leave MASTER (the peer takes over); vrrpd puts it back, as it does a
//! virtual address.

use std::collections::BTreeMap;

use super::{LogLevel, Node, NodeAction, Slot};
use crate::config::{Config, InstanceConfig};
use crate::core::routes::{RouteKey, RouteSpec, RuleSpec, changes, count, routes_of, rules_of};
use crate::core::state::State;

/// What the node keeps about routes and rules besides the config.
#[derive(Debug, Default)]
pub(super) struct RoutingState {
    /// Routes and rules put back after someone else removed them, per instance name
    /// (reset when an instance of that name starts, like `addresses_restored`).
    restored: BTreeMap<String, u64>,
    /// The interfaces some instance's routes go through, by name: the index and up state
    /// last notified, to see one come (back) up.
    links: BTreeMap<String, (u32, bool)>,
}

impl RoutingState {
    /// For `vrrpd status` and the metrics.
    pub(super) fn restored(&self, instance: &str) -> u64 {
        self.restored.get(instance).copied().unwrap_or(0)
    }
}

/// Whether the slot holds its addresses now (MASTER, also while handing over), and so
/// its routes and rules.
fn holds_addresses(slot: &Slot) -> bool {
    slot.ifindex.is_some() && slot.instance.state() == State::Master
}

impl Node {
    /// An instance is starting (not master yet): whatever a previous run killed before it
    /// could clean up (SIGKILL, a crash) left of its routes and rules goes, rules first.
    /// Each removal names protocol 112, so an operator's route with the same
    /// destination stays.
    pub(super) fn remove_leftover_routing(&mut self, config: &InstanceConfig, ipv6: bool) {
        let running: Vec<&str> = self.slots.iter().map(Slot::name).collect();
        self.routing
            .restored
            .retain(|name, _| running.contains(&name.as_str()));
        self.routing.restored.insert(config.name.clone(), 0);
        let rules = rules_of(config, ipv6);
        if !rules.is_empty() {
            self.push(NodeAction::RemoveRules {
                instance: config.name.clone(),
                rules,
                leftover: true,
            });
        }
        let routes = routes_of(config, ipv6);
        if !routes.is_empty() {
            self.push(NodeAction::RemoveRoutes {
                instance: config.name.clone(),
                routes,
                leftover: true,
            });
        }
    }

    /// Slot `index` has just added its addresses as master: its routes, then its rules.
    pub(super) fn add_routing(&mut self, index: usize) {
        self.push_additions(index, false);
    }

    /// A master's address was put back: the kernel removed the routes whose `source` it
    /// is along with it, and a route cannot be added before its source address, so all of
    /// them are added again now; those still there are left as they are.
    pub(super) fn reassert_routing(&mut self, index: usize) {
        self.push_additions(index, true);
    }

    fn push_additions(&mut self, index: usize, repair: bool) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let routes = routes_of(&slot.config, slot.ipv6);
        let rules = rules_of(&slot.config, slot.ipv6);
        let instance = slot.name().to_owned();
        if repair && !(routes.is_empty() && rules.is_empty()) {
            let line = format!(
                "({instance}) adding its routes and rules again after its address came back \
                 (the kernel removes the routes whose source address goes)"
            );
            self.log(LogLevel::Debug, line);
        }
        if !routes.is_empty() {
            self.push(NodeAction::AddRoutes {
                instance: instance.clone(),
                routes,
                repair,
            });
        }
        if !rules.is_empty() {
            self.push(NodeAction::AddRules {
                instance,
                rules,
                repair,
            });
        }
    }

    /// Slot `index` is about to remove its addresses: its rules, then its routes, first
    /// (the reverse of adding). Also when its interface is gone (the kernel then took
    /// the addresses, but not a blackhole route or a route through another interface).
    pub(super) fn remove_routing(&mut self, index: usize) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let routes = routes_of(&slot.config, slot.ipv6);
        let rules = rules_of(&slot.config, slot.ipv6);
        let instance = slot.name().to_owned();
        if !rules.is_empty() {
            self.push(NodeAction::RemoveRules {
                instance: instance.clone(),
                rules,
                leftover: false,
            });
        }
        if !routes.is_empty() {
            self.push(NodeAction::RemoveRoutes {
                instance,
                routes,
                leftover: false,
            });
        }
    }

    /// The masters (not leaving, not while stopping) that hold routes and rules now.
    fn holding_indexes(&self) -> Vec<usize> {
        if self.stopping {
            return Vec::new();
        }
        (0..self.slots.len())
            .filter(|&index| {
                let slot = &self.slots[index];
                slot.active() && holds_addresses(slot)
            })
            .collect()
    }

    /// The kernel's news of one of our routes (RTM_NEWROUTE / RTM_DELROUTE of protocol
    /// 112). Only a removal from a master matters: it is put back. An appearance is our
    /// own addition coming back (or one a moment late).
    pub(super) fn on_route(&mut self, key: RouteKey, present: bool) {
        if present {
            return;
        }
        for index in self.holding_indexes() {
            let slot = &self.slots[index];
            let missing: Vec<RouteSpec> = routes_of(&slot.config, slot.ipv6)
                .into_iter()
                .filter(|route| route.key() == key)
                .collect();
            self.restore_routes(index, missing, "was removed");
        }
    }

    /// The same for one of our rules (RTM_NEWRULE / RTM_DELRULE of protocol 112).
    pub(super) fn on_rule(&mut self, rule: RuleSpec, present: bool) {
        if present {
            return;
        }
        for index in self.holding_indexes() {
            let slot = &self.slots[index];
            let missing: Vec<RuleSpec> = rules_of(&slot.config, slot.ipv6)
                .into_iter()
                .filter(|held| *held == rule)
                .collect();
            self.restore_rules(index, missing, "was removed");
        }
    }

    /// After the route and rule notifications overflowed (ENOBUFS): our routes and rules
    /// as the kernel has them now. What a master should hold and does not is put back.
    pub(super) fn on_routing_resync(&mut self, routes: Vec<RouteKey>, rules: Vec<RuleSpec>) {
        self.log(
            LogLevel::Warn,
            "the kernel's route and rule notifications overflowed (some were lost): \
             re-reading vrrpd's routes and rules"
                .to_owned(),
        );
        for index in self.holding_indexes() {
            let slot = &self.slots[index];
            let missing_routes: Vec<RouteSpec> = routes_of(&slot.config, slot.ipv6)
                .into_iter()
                .filter(|route| !routes.contains(&route.key()))
                .collect();
            let missing_rules: Vec<RuleSpec> = rules_of(&slot.config, slot.ipv6)
                .into_iter()
                .filter(|rule| !rules.contains(rule))
                .collect();
            self.restore_routes(index, missing_routes, "is missing");
            self.restore_rules(index, missing_rules, "is missing");
        }
    }

    fn restore_routes(&mut self, index: usize, routes: Vec<RouteSpec>, what: &str) {
        if routes.is_empty() {
            return;
        }
        let instance = self.slots[index].name().to_owned();
        for route in &routes {
            let line = format!(
                "({instance}) route {route} {what} while MASTER, not by vrrpd: putting it back"
            );
            self.log(LogLevel::Warn, line);
        }
        *self.routing.restored.entry(instance.clone()).or_default() += routes.len() as u64;
        self.push(NodeAction::AddRoutes {
            instance,
            routes,
            repair: false,
        });
    }

    fn restore_rules(&mut self, index: usize, rules: Vec<RuleSpec>, what: &str) {
        if rules.is_empty() {
            return;
        }
        let instance = self.slots[index].name().to_owned();
        for rule in &rules {
            let line = format!(
                "({instance}) rule {rule} {what} while MASTER, not by vrrpd: putting it back"
            );
            self.log(LogLevel::Warn, line);
        }
        *self.routing.restored.entry(instance.clone()).or_default() += rules.len() as u64;
        self.push(NodeAction::AddRules {
            instance,
            rules,
            repair: false,
        });
    }

    /// Every RTM_NEWLINK, before the node looks at it otherwise: an interface that some
    /// master's routes go through and that is up now, but was not (or was not known, or
    /// had another index: deleted and created again), gets those routes again. Setting a
    /// link down flushes the IPv4 routes through it without a notification, and they do
    /// not come back with the link.
    pub(super) fn routing_link(&mut self, ifindex: u32, name: &str, up: bool) {
        let named = self.slots.iter().any(|slot| {
            slot.config
                .virtual_routes
                .iter()
                .any(|route| route.interface.as_deref() == Some(name))
        });
        if !named {
            self.routing.links.remove(name);
            return;
        }
        let before = self.routing.links.insert(name.to_owned(), (ifindex, up));
        if !up || before == Some((ifindex, true)) {
            return;
        }
        for index in self.holding_indexes() {
            let slot = &self.slots[index];
            let routes: Vec<RouteSpec> = routes_of(&slot.config, slot.ipv6)
                .into_iter()
                .filter(|route| route.uses_interface(name))
                .collect();
            if routes.is_empty() {
                continue;
            }
            let instance = slot.name().to_owned();
            let line = format!(
                "({instance}) interface {name} is up (index {ifindex}): adding the {} through \
                 it again (the kernel drops IPv4 routes through a link that goes down)",
                count(routes.len(), "route")
            );
            self.log(LogLevel::Info, line);
            self.push(NodeAction::AddRoutes {
                instance,
                routes,
                repair: true,
            });
        }
    }

    /// RTM_DELLINK: forget the interface's state, so that one created again under the
    /// same name counts as coming up.
    pub(super) fn routing_link_gone(&mut self, ifindex: u32) {
        self.routing.links.retain(|_, (known, _)| *known != ifindex);
    }

    /// A reload that keeps an instance running (see `reload::only_priority_changed`)
    /// may change its routes and rules: a master removes the ones no longer configured
    /// (rules first) and adds the new ones (routes first) at once; a backup only keeps
    /// the new lists for its next time as master.
    pub(super) fn reconfigure_routing(&mut self, new_config: &Config) {
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if !slot.active() {
                continue;
            }
            let Some(fresh) = new_config
                .instances
                .iter()
                .find(|config| config.name == slot.config.name)
            else {
                continue;
            };
            if fresh.virtual_routes == slot.config.virtual_routes
                && fresh.virtual_rules == slot.config.virtual_rules
            {
                continue;
            }
            let (gone_routes, new_routes) = changes(
                &routes_of(&slot.config, slot.ipv6),
                &routes_of(fresh, slot.ipv6),
            );
            let (gone_rules, new_rules) = changes(
                &rules_of(&slot.config, slot.ipv6),
                &rules_of(fresh, slot.ipv6),
            );
            let holding = slot.active() && holds_addresses(slot) && !self.stopping;
            let instance = slot.name().to_owned();
            let slot = &mut self.slots[index];
            slot.config.virtual_routes = fresh.virtual_routes.clone();
            slot.config.virtual_rules = fresh.virtual_rules.clone();
            let when = if holding {
                "applied now (MASTER)"
            } else {
                "applied when it is next MASTER"
            };
            let line = format!(
                "({instance}) reload changed its routes and rules: {} and {} removed, {} and {} \
                 added; {when}",
                count(gone_routes.len(), "route"),
                count(gone_rules.len(), "rule"),
                count(new_routes.len(), "route"),
                count(new_rules.len(), "rule"),
            );
            self.log(LogLevel::Info, line);
            if !holding {
                continue;
            }
            if !gone_rules.is_empty() {
                self.push(NodeAction::RemoveRules {
                    instance: instance.clone(),
                    rules: gone_rules,
                    leftover: false,
                });
            }
            if !gone_routes.is_empty() {
                self.push(NodeAction::RemoveRoutes {
                    instance: instance.clone(),
                    routes: gone_routes,
                    leftover: false,
                });
            }
            if !new_routes.is_empty() {
                self.push(NodeAction::AddRoutes {
                    instance: instance.clone(),
                    routes: new_routes,
                    repair: false,
                });
            }
            if !new_rules.is_empty() {
                self.push(NodeAction::AddRules {
                    instance,
                    rules: new_rules,
                    repair: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, Instant};

    use super::super::{DemotedAtStart, LoadedConfig, Node, NodeAction, NodeInput, Placement};
    use crate::core::routes::{RouteKey, RuleSpec};
    use crate::core::state::State;

    /// VI_1 on eth0 (index 5) with a route through a gateway of its excluded address's
    /// subnet in table 100, a blackhole, and a rule for the excluded address.
    const ROUTED: &str = r#"{
        "instances": [{
            "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
            "priority": 150, "advert_interval_ms": 100,
            "virtual_addresses": ["192.0.2.40"],
            "excluded_addresses": ["198.51.100.40/24"],
            "virtual_routes": [
                { "destination": "203.0.113.0/25", "gateway": "198.51.100.1", "table": 100 },
                { "destination": "203.0.113.128/25", "type": "blackhole" },
                { "destination": "192.0.2.128/25", "interface": "eth1" }
            ],
            "virtual_rules": [{ "priority": 1000, "from": "198.51.100.40", "table": 100 }]
        }]
    }"#;

    fn placement() -> Placement {
        Placement {
            ifindex: 5,
            interface: "eth0".to_owned(),
            up: true,
            mac: Some([2, 0, 0, 0, 0, 1]),
            local_address: "192.0.2.1".parse().unwrap(),
            virtual_mac: None,
        }
    }

    fn drain(node: &mut Node) -> Vec<NodeAction> {
        std::iter::from_fn(|| node.poll_action()).collect()
    }

    fn started(text: &str, now: Instant) -> (Node, Vec<NodeAction>) {
        let config = crate::config::load_str(text, "test").unwrap();
        let placements = BTreeMap::from([("VI_1".to_owned(), Ok(placement()))]);
        let demoted = DemotedAtStart::Instances(BTreeSet::new());
        let mut node = Node::new(config, placements, demoted, now, 0);
        node.handle(now, NodeInput::Start);
        let actions = drain(&mut node);
        (node, actions)
    }

    /// A master (no peer), and the actions of its takeover.
    fn master(now: Instant) -> (Node, Instant, Vec<NodeAction>) {
        let (mut node, _) = started(ROUTED, now);
        let later = now + Duration::from_secs(1);
        node.handle(later, NodeInput::Timeout);
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Master);
        (node, later, actions)
    }

    /// The address, route and rule changes among `actions`, in order, in short.
    fn changes(actions: &[NodeAction]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::AddAddresses { .. } => Some("add addresses".to_owned()),
                NodeAction::RemoveAddresses { leftover, .. } => Some(if *leftover {
                    "remove leftover addresses".to_owned()
                } else {
                    "remove addresses".to_owned()
                }),
                NodeAction::AddRoutes { routes, repair, .. } => Some(format!(
                    "add {} routes{}",
                    routes.len(),
                    if *repair { " (repair)" } else { "" }
                )),
                NodeAction::RemoveRoutes {
                    routes, leftover, ..
                } => Some(format!(
                    "remove {}{} routes",
                    if *leftover { "leftover " } else { "" },
                    routes.len()
                )),
                NodeAction::AddRules { rules, repair, .. } => Some(format!(
                    "add {} rules{}",
                    rules.len(),
                    if *repair { " (repair)" } else { "" }
                )),
                NodeAction::RemoveRules {
                    rules, leftover, ..
                } => Some(format!(
                    "remove {}{} rules",
                    if *leftover { "leftover " } else { "" },
                    rules.len()
                )),
                _ => None,
            })
            .collect()
    }

    fn warnings(actions: &[NodeAction]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::Log {
                    level: super::LogLevel::Warn,
                    line,
                } => Some(line.as_str()),
                _ => None,
            })
            .collect()
    }

    fn table_100_route() -> RouteKey {
        RouteKey {
            table: 100,
            destination: "203.0.113.0".parse().unwrap(),
            prefix_len: 25,
            tos: 0,
            metric: 0,
        }
    }

    fn the_rule() -> RuleSpec {
        RuleSpec {
            ipv6: false,
            priority: 1000,
            from: Some(("198.51.100.40".parse().unwrap(), 32)),
            to: None,
            fwmark: (0, 0),
            in_interface: None,
            out_interface: None,
            action: crate::config::RuleAction::Table,
            table: 100,
        }
    }

    #[test]
    fn leftovers_go_at_start_rules_first_and_before_the_addresses() {
        let (_, actions) = started(ROUTED, Instant::now());
        assert_eq!(
            changes(&actions),
            [
                "remove leftover 1 rules",
                "remove leftover 3 routes",
                "remove leftover addresses"
            ]
        );
        // Without routes or rules nothing is asked about them (the golden traces of
        // configs without them do not change).
        let plain = ROUTED
            .split("\"virtual_routes\"")
            .next()
            .unwrap()
            .trim_end()
            .trim_end_matches(',')
            .to_owned()
            + "}]}";
        let (_, actions) = started(&plain, Instant::now());
        assert_eq!(changes(&actions), ["remove leftover addresses"]);
    }

    #[test]
    fn a_master_holds_routes_after_its_addresses_and_rules_after_its_routes() {
        let (mut node, now, actions) = master(Instant::now());
        assert_eq!(
            changes(&actions),
            ["add addresses", "add 3 routes", "add 1 rules"]
        );
        let routes = actions.iter().find_map(|action| match action {
            NodeAction::AddRoutes { routes, .. } => Some(routes.clone()),
            _ => None,
        });
        let shown: Vec<String> = routes
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "203.0.113.0/25 via 198.51.100.1 table 100",
                "blackhole 203.0.113.128/25",
                "192.0.2.128/25 dev eth1"
            ]
        );
        // The link goes down: FAULT; the rules go, then the routes, then the addresses.
        node.handle(
            now,
            NodeInput::Link {
                ifindex: 5,
                name: "eth0".to_owned(),
                up: false,
                mac: Some([2, 0, 0, 0, 0, 1]),
                mtu: Some(1500),
            },
        );
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Fault);
        assert_eq!(
            changes(&actions),
            ["remove 1 rules", "remove 3 routes", "remove addresses"]
        );
    }

    #[test]
    fn a_stop_and_a_deleted_interface_take_the_routes_too() {
        let (mut node, now, _) = master(Instant::now());
        node.handle(now, NodeInput::StopNow);
        assert_eq!(
            changes(&drain(&mut node)),
            ["remove 1 rules", "remove 3 routes", "remove addresses"]
        );
        // The interface deleted: the kernel took the addresses, but not the blackhole or
        // the route through eth1.
        let (mut node, now, _) = master(Instant::now());
        node.handle(now, NodeInput::LinkGone { ifindex: 5 });
        assert_eq!(
            changes(&drain(&mut node)),
            ["remove 1 rules", "remove 3 routes"]
        );
    }

    #[test]
    fn a_route_or_rule_removed_from_the_master_is_put_back_and_counted() {
        let (mut node, now, _) = master(Instant::now());
        node.handle(
            now,
            NodeInput::Route {
                route: table_100_route(),
                present: false,
            },
        );
        let actions = drain(&mut node);
        assert_eq!(changes(&actions), ["add 1 routes"]);
        assert_eq!(
            warnings(&actions),
            [
                "(VI_1) route 203.0.113.0/25 via 198.51.100.1 table 100 was removed while MASTER, \
              not by vrrpd: putting it back"
            ]
        );
        node.handle(
            now,
            NodeInput::Rule {
                rule: the_rule(),
                present: false,
            },
        );
        assert_eq!(changes(&drain(&mut node)), ["add 1 rules"]);
        assert_eq!(node.status_report().instances[0].routes_restored, 2);
        // Our own additions coming back, and routes that are not ours, change nothing.
        node.handle(
            now,
            NodeInput::Route {
                route: table_100_route(),
                present: true,
            },
        );
        let other = RouteKey {
            metric: 5,
            ..table_100_route()
        };
        node.handle(
            now,
            NodeInput::Route {
                route: other,
                present: false,
            },
        );
        assert!(changes(&drain(&mut node)).is_empty());
        assert_eq!(node.status_report().instances[0].routes_restored, 2);
    }

    #[test]
    fn a_backup_does_not_put_routes_back() {
        let (mut node, _) = started(ROUTED, Instant::now());
        assert_eq!(node.instance_states()[0].state, State::Backup);
        node.handle(
            Instant::now(),
            NodeInput::Route {
                route: table_100_route(),
                present: false,
            },
        );
        assert!(changes(&drain(&mut node)).is_empty());
    }

    #[test]
    fn an_address_put_back_brings_the_routes_and_rules_back_too() {
        let (mut node, now, _) = master(Instant::now());
        node.handle(
            now,
            NodeInput::Address {
                ifindex: 5,
                address: "198.51.100.40".parse().unwrap(),
                present: false,
            },
        );
        assert_eq!(
            changes(&drain(&mut node)),
            [
                "add addresses",
                "add 3 routes (repair)",
                "add 1 rules (repair)"
            ]
        );
    }

    #[test]
    fn an_interface_a_route_goes_through_coming_up_gets_its_routes_again() {
        let (mut node, now, _) = master(Instant::now());
        let eth1 = |up: bool| NodeInput::Link {
            ifindex: 6,
            name: "eth1".to_owned(),
            up,
            mac: None,
            mtu: Some(1500),
        };
        node.handle(now, eth1(true));
        let first = drain(&mut node);
        // The first news of it: added again in case (idempotent).
        assert_eq!(changes(&first), ["add 1 routes (repair)"]);
        node.handle(now, eth1(true));
        assert!(
            changes(&drain(&mut node)).is_empty(),
            "no change, nothing to do"
        );
        node.handle(now, eth1(false));
        assert!(changes(&drain(&mut node)).is_empty());
        node.handle(now, eth1(true));
        let actions = drain(&mut node);
        let routes: Vec<String> = actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::AddRoutes { routes, .. } => Some(routes[0].to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(routes, ["192.0.2.128/25 dev eth1"]);
        // Deleted and created again with another index: the same.
        node.handle(now, NodeInput::LinkGone { ifindex: 6 });
        drain(&mut node);
        node.handle(
            now,
            NodeInput::Link {
                ifindex: 9,
                name: "eth1".to_owned(),
                up: true,
                mac: None,
                mtu: Some(1500),
            },
        );
        assert_eq!(changes(&drain(&mut node)), ["add 1 routes (repair)"]);
    }

    #[test]
    fn after_lost_notifications_what_is_missing_is_put_back() {
        let (mut node, now, _) = master(Instant::now());
        // Of three routes and one rule, the kernel still has the blackhole only.
        let blackhole = RouteKey {
            table: 254,
            destination: "203.0.113.128".parse().unwrap(),
            prefix_len: 25,
            tos: 0,
            metric: 0,
        };
        node.handle(
            now,
            NodeInput::RoutingResync {
                routes: vec![blackhole],
                rules: vec![the_rule()],
            },
        );
        let actions = drain(&mut node);
        assert_eq!(changes(&actions), ["add 2 routes"]);
        assert_eq!(warnings(&actions).len(), 3, "the overrun and each route");
        assert_eq!(node.status_report().instances[0].routes_restored, 2);
    }

    #[test]
    fn a_reload_that_changes_only_routes_applies_them_in_place() {
        let (mut node, now, _) = master(Instant::now());
        let changed = ROUTED
            .replace(r#""type": "blackhole""#, r#""type": "unreachable""#)
            .replace(r#""priority": 1000"#, r#""priority": 1001"#);
        let config = crate::config::load_str(&changed, "test").unwrap();
        node.handle(now, NodeInput::ReloadRequested);
        let generation = node.reload_generation();
        let result = Ok(LoadedConfig {
            config,
            placements: BTreeMap::from([("VI_1".to_owned(), Ok(placement()))]),
        });
        node.handle(now, NodeInput::ConfigLoaded { generation, result });
        let actions = drain(&mut node);
        // The master keeps its addresses: only the changed entries move.
        assert_eq!(node.instance_states()[0].state, State::Master);
        assert_eq!(
            changes(&actions),
            [
                "remove 1 rules",
                "remove 1 routes",
                "add 1 routes",
                "add 1 rules"
            ]
        );
        // And the new lists are what it holds from now on.
        node.handle(now, NodeInput::StopNow);
        let removed: Vec<String> = drain(&mut node)
            .iter()
            .filter_map(|action| match action {
                NodeAction::RemoveRoutes { routes, .. } => Some(routes[1].to_string()),
                NodeAction::RemoveRules { rules, .. } => Some(rules[0].to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            removed,
            [
                "priority 1001 from 198.51.100.40/32 lookup 100",
                "unreachable 203.0.113.128/25"
            ]
        );
    }

    #[test]
    fn a_handing_over_master_keeps_its_routes_until_it_lets_go() {
        let (mut node, now, _) = master(Instant::now());
        node.handle(now, NodeInput::Stop);
        let actions = drain(&mut node);
        assert!(node.handing_over());
        assert!(changes(&actions).is_empty(), "{:?}", changes(&actions));
        // While vrrpd stops, a route removed meanwhile is left alone, as an address is.
        node.handle(
            now,
            NodeInput::Route {
                route: table_100_route(),
                present: false,
            },
        );
        assert!(changes(&drain(&mut node)).is_empty());
        // Nobody takes over: it lets go after the wait, routes before addresses.
        node.handle(now + Duration::from_secs(11), NodeInput::Timeout);
        assert_eq!(
            changes(&drain(&mut node)),
            ["remove 1 rules", "remove 3 routes", "remove addresses"]
        );
    }
}
