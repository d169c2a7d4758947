//! `virtual_routes { ... }` and `virtual_rules { ... }` of a vrrp_instance → the
//! instance's `virtual_routes` and `virtual_rules`.
//!
//! The grammar is keepalived 2.2's (alloc_route in vrrp_iproute.c, alloc_rule in
//! vrrp_iprule.c): each line is one route or rule in `ip route` / `ip rule` words. The
//! lines are read when the instance's block is complete, because an entry must be of the
//! instance's family (vrrpd's rule), which its virtual addresses say. An option vrrpd
//! does not have makes the whole line unsupported (with its FILE:LINE): a route without
//! its `mtu` or a rule without its `not` would be another route or rule.

use std::net::IpAddr;

use super::syntax::{Statement, Word};
use super::{Importer, Severity};
use crate::config::{
    MAIN_TABLE, RoutePrefix, RouteType, RuleAction, VirtualRouteConfig, VirtualRuleConfig,
    network_of,
};

/// keepalived gives a rule without `preference` the next of 16384, 16383, ... per family,
/// in file order (RULE_START_PRIORITY in vrrp_iprule.c, since 2.0.10).
const KEEPALIVED_FIRST_RULE_PRIORITY: u32 = 16384;

/// The lines of an instance's `virtual_routes` and `virtual_rules` blocks.
#[derive(Default)]
pub(super) struct RoutingDraft {
    routes: Vec<Statement>,
    rules: Vec<Statement>,
}

/// Route options of `ip route` that vrrpd does not have (each makes the line unsupported).
const ROUTE_OPTIONS_UNSUPPORTED: &[&str] = &[
    "from",
    "tos",
    "dsfield",
    "mtu",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "realms",
    "rto_min",
    "initcwnd",
    "initrwnd",
    "features",
    "quickack",
    "congctl",
    "pref",
    "expires",
    "encap",
    "as",
    "nexthop",
    "or",
    "vrf",
    "fastopen_no_cookie",
    "hoplimit",
    "ttl-propagate",
    "append",
    "prepend",
    "add",
    "track_group",
    "lock",
];

/// Route types of `ip route` other than the four vrrpd has.
const ROUTE_TYPES_UNSUPPORTED: &[&str] = &[
    "local",
    "broadcast",
    "anycast",
    "multicast",
    "throw",
    "nat",
    "xresolve",
];

/// Rule options of `ip rule` that vrrpd does not have.
const RULE_OPTIONS_UNSUPPORTED: &[&str] = &[
    "not",
    "goto",
    "nop",
    "tos",
    "dsfield",
    "realms",
    "suppress_prefixlength",
    "sup_pl",
    "suppress_ifgroup",
    "sup_group",
    "tunnel-id",
    "uidrange",
    "l3mdev",
    "ipproto",
    "sport",
    "dport",
    "track_group",
];

fn family_name(ipv6: bool) -> &'static str {
    if ipv6 { "IPv6" } else { "IPv4" }
}

/// keepalived reads table names from iproute2's rt_tables; the importer knows the
/// kernel's own.
fn table_number(text: &str) -> Option<u32> {
    match text {
        "main" => Some(MAIN_TABLE),
        "default" => Some(253),
        "local" => Some(255),
        number => number.parse().ok(),
    }
}

/// A number as strtoul(…, 0) reads it, as keepalived reads a fwmark: 0x… hexadecimal,
/// 0… octal, else decimal.
fn c_unsigned(text: &str) -> Option<u32> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if text.len() > 1
        && let Some(octal) = text.strip_prefix('0')
    {
        u32::from_str_radix(octal, 8).ok()
    } else {
        text.parse().ok()
    }
}

impl Importer {
    /// `virtual_routes { ... }` or `virtual_rules { ... }` in a vrrp_instance: keep the
    /// lines for [`Importer::finish_routing`].
    pub(super) fn instance_routing(&mut self, statement: &Statement, draft: &mut RoutingDraft) {
        let rules = statement.name() == "virtual_rules";
        self.extra_args(statement, 0);
        for item in self.block(statement) {
            if item.block.is_some() {
                self.no_block(item);
                continue;
            }
            if rules {
                draft.rules.push(item.clone());
            } else {
                draft.routes.push(item.clone());
            }
        }
    }

    /// The instance's routes and rules, for an instance of the given family.
    pub(super) fn finish_routing(
        &mut self,
        instance: &str,
        ipv6: bool,
        draft: RoutingDraft,
    ) -> (Vec<VirtualRouteConfig>, Vec<VirtualRuleConfig>) {
        let routes = draft
            .routes
            .iter()
            .filter_map(|line| self.route(instance, ipv6, line))
            .collect();
        let rules = draft
            .rules
            .iter()
            .filter_map(|line| self.rule(instance, ipv6, line))
            .collect();
        (routes, rules)
    }

    fn words_of(statement: &Statement) -> Vec<&Word> {
        std::iter::once(&statement.keyword)
            .chain(&statement.args)
            .collect()
    }

    /// The word after `words[at]`, or an error at that keyword.
    fn value_after<'s>(&mut self, words: &[&'s Word], at: usize) -> Option<&'s Word> {
        let value = words.get(at + 1).copied();
        if value.is_none() {
            self.push(
                &words[at].loc,
                &words[at].text,
                Severity::Error,
                "needs a value",
            );
        }
        value
    }

    fn line_address(&mut self, word: &Word, keyword: &str) -> Option<IpAddr> {
        match word.text.parse() {
            Ok(address) => Some(address),
            Err(_) => {
                self.push(
                    &word.loc,
                    keyword,
                    Severity::Error,
                    format!("{:?} is not an IP address", word.text),
                );
                None
            }
        }
    }

    /// "default", "all" (rules) or ADDRESS[/LENGTH], with its family; host bits are an
    /// error (the kernel refuses such an IPv4 route, and it is not what was meant).
    fn line_prefix(&mut self, word: &Word, keyword: &str) -> Option<(RoutePrefix, Option<bool>)> {
        if word.text == "default" || word.text == "all" {
            return Some((RoutePrefix("default".to_owned()), None));
        }
        let prefix = RoutePrefix(word.text.clone());
        match prefix.parse(false) {
            Ok((address, length)) if network_of(address, length) == address => {
                Some((prefix, Some(address.is_ipv6())))
            }
            Ok((address, length)) => {
                self.push(
                    &word.loc,
                    keyword,
                    Severity::Error,
                    format!(
                        "{} has host bits set: the network is {}/{length}",
                        word.text,
                        network_of(address, length)
                    ),
                );
                None
            }
            Err(why) => {
                self.push(&word.loc, keyword, Severity::Error, why);
                None
            }
        }
    }

    /// Records the family an address or keyword of the line says; false (reported) when
    /// it contradicts an earlier one, as keepalived refuses "mixed IPv4 and IPv6".
    fn same_family(&mut self, family: &mut Option<bool>, this: bool, word: &Word) -> bool {
        match family {
            Some(known) if *known != this => {
                self.push(
                    &word.loc,
                    &word.text,
                    Severity::Error,
                    "mixes IPv4 and IPv6 in one line; keepalived refuses it",
                );
                false
            }
            _ => {
                *family = Some(this);
                true
            }
        }
    }

    /// `inet` / `inet6` at the start of a route or rule: keepalived 2.2 steps over the
    /// word after it as well (alloc_route and alloc_rule advance twice), so the line does
    /// not say what keepalived does with it.
    fn family_word(&mut self, word: &Word) {
        self.push(
            &word.loc,
            &word.text,
            Severity::Unsupported,
            format!(
                "keepalived 2.2 skips the word after `{}` (it reads the line as if that word \
                 were not there), so this line does not do what it says; leave `{}` out (the \
                 addresses give the family) and import again",
                word.text, word.text
            ),
        );
    }

    /// A line of the wrong family for a vrrpd instance.
    fn wrong_family(
        &mut self,
        line: &Statement,
        instance: &str,
        ipv6: bool,
        line_ipv6: bool,
    ) -> bool {
        if line_ipv6 == ipv6 {
            return false;
        }
        self.report(
            line,
            Severity::Unsupported,
            format!(
                "this entry is {} and {instance}'s virtual addresses are {}: vrrpd keeps an \
                 instance's routes and rules in its family; move it to an instance of the other \
                 family",
                family_name(line_ipv6),
                family_name(ipv6)
            ),
        );
        true
    }

    /// One `virtual_routes` line: `[src ADDR] [to] [TYPE] PREFIX [via|gw ADDR] [dev IF]
    /// [table N] [metric N] [scope S] [onlink] [protocol P] [no_track]`.
    fn route(
        &mut self,
        instance: &str,
        ipv6: bool,
        line: &Statement,
    ) -> Option<VirtualRouteConfig> {
        let words = Self::words_of(line);
        let mut family: Option<bool> = None;
        let mut route = VirtualRouteConfig {
            destination: RoutePrefix(String::new()),
            gateway: None,
            interface: None,
            source: None,
            table: MAIN_TABLE,
            metric: None,
            kind: RouteType::Unicast,
            onlink: false,
        };
        let mut destination = None;
        let mut scope: Option<&Word> = None;
        let mut at = 0;
        while at < words.len() {
            let word = words[at];
            let keyword = word.text.as_str();
            match keyword {
                "inet" | "inet6" => {
                    self.family_word(word);
                    return None;
                }
                "src" => {
                    let value = self.value_after(&words, at)?;
                    let address = self.line_address(value, "src")?;
                    if !self.same_family(&mut family, address.is_ipv6(), value) {
                        return None;
                    }
                    route.source = Some(address);
                    at += 1;
                }
                "via" | "gw" => {
                    let mut value = self.value_after(&words, at)?;
                    if value.text == "inet" || value.text == "inet6" {
                        at += 1;
                        value = self.value_after(&words, at)?;
                    }
                    let address = self.line_address(value, keyword)?;
                    if !self.same_family(&mut family, address.is_ipv6(), value) {
                        return None;
                    }
                    route.gateway = Some(address);
                    at += 1;
                }
                "dev" | "oif" => {
                    route.interface = Some(self.value_after(&words, at)?.text.clone());
                    at += 1;
                }
                "table" => {
                    let value = self.value_after(&words, at)?;
                    match table_number(&value.text) {
                        Some(0) | None => {
                            self.push(
                                &value.loc,
                                "table",
                                Severity::Unsupported,
                                format!(
                                    "table {:?}: the importer knows the numbers and main, default \
                                     and local; write the table's number",
                                    value.text
                                ),
                            );
                            return None;
                        }
                        Some(table) => route.table = table,
                    }
                    at += 1;
                }
                "metric" | "priority" | "preference" => {
                    let value = self.value_after(&words, at)?;
                    route.metric =
                        Some(self.integer(keyword, value, "a metric (0 to 4294967295)")?);
                    at += 1;
                }
                "scope" => {
                    scope = Some(self.value_after(&words, at)?);
                    at += 1;
                }
                "onlink" => route.onlink = true,
                "protocol" => {
                    self.value_after(&words, at)?;
                    self.push(
                        &word.loc,
                        "protocol",
                        Severity::Note,
                        "not imported: vrrpd marks every virtual route with protocol 112",
                    );
                    at += 1;
                }
                "no_track" => self.push(
                    &word.loc,
                    "no_track",
                    Severity::Warning,
                    "vrrpd puts a virtual route that someone deletes back while master (keepalived \
                     without no_track leaves MASTER instead); there is no setting to leave it \
                     deleted",
                ),
                option if ROUTE_OPTIONS_UNSUPPORTED.contains(&option) => {
                    self.push(
                        &word.loc,
                        option,
                        Severity::Unsupported,
                        format!(
                            "virtual_routes option `{option}` is not supported: vrrpd adds a \
                             route with a destination, gateway, interface, source, table, \
                             metric, type and onlink only; the route is not imported"
                        ),
                    );
                    return None;
                }
                _ => {
                    // keepalived: an optional `to`, an optional type, then the destination.
                    let mut position = at;
                    if keyword == "to" {
                        position += 1;
                    }
                    let mut target = words.get(position).copied();
                    if let Some(type_word) = target {
                        let kind = match type_word.text.as_str() {
                            "unicast" => Some(RouteType::Unicast),
                            "blackhole" => Some(RouteType::Blackhole),
                            "unreachable" => Some(RouteType::Unreachable),
                            "prohibit" => Some(RouteType::Prohibit),
                            other if ROUTE_TYPES_UNSUPPORTED.contains(&other) => {
                                self.push(
                                    &type_word.loc,
                                    other,
                                    Severity::Unsupported,
                                    format!(
                                        "route type `{other}` is not supported: vrrpd has \
                                         unicast, blackhole, unreachable and prohibit routes"
                                    ),
                                );
                                return None;
                            }
                            _ => None,
                        };
                        if let Some(kind) = kind {
                            route.kind = kind;
                            position += 1;
                            target = words.get(position).copied();
                        }
                    }
                    let Some(target) = target else {
                        self.push(&word.loc, keyword, Severity::Error, "needs a destination");
                        return None;
                    };
                    let (prefix, prefix_family) = self.line_prefix(target, "virtual_routes")?;
                    if let Some(this) = prefix_family
                        && !self.same_family(&mut family, this, target)
                    {
                        return None;
                    }
                    destination = Some(prefix);
                    at = position;
                }
            }
            at += 1;
        }
        let Some(destination) = destination else {
            self.report(
                line,
                Severity::Error,
                "a route needs a destination (keepalived: \"Route must have a destination\")",
            );
            return None;
        };
        route.destination = destination;
        // keepalived takes a line without any address as IPv4.
        if self.wrong_family(line, instance, ipv6, family.unwrap_or(false)) {
            return None;
        }
        if route.table == 255 {
            self.report(
                line,
                Severity::Unsupported,
                "a route in the kernel's local table (255) is not supported",
            );
            return None;
        }
        let takes_a_nexthop = route.kind == RouteType::Unicast;
        if !takes_a_nexthop
            && (route.gateway.is_some() || route.interface.is_some() || route.source.is_some())
        {
            self.report(
                line,
                Severity::Unsupported,
                format!(
                    "a {} route with a gateway, device or source is not supported: it forwards \
                     nothing",
                    route.kind.as_str()
                ),
            );
            return None;
        }
        if takes_a_nexthop && route.gateway.is_none() && route.interface.is_none() {
            self.report(
                line,
                Severity::Error,
                "a unicast route needs `via` or `dev`: the kernel refuses it without a next hop",
            );
            return None;
        }
        if let Some(scope) = scope {
            // What vrrpd chooses, as `ip route add` does (see driver::routing).
            let link = takes_a_nexthop && route.gateway.is_none();
            let same = if link {
                scope.text == "link"
            } else {
                scope.text == "global" || scope.text == "universe"
            };
            if same {
                self.push(
                    &scope.loc,
                    "scope",
                    Severity::Note,
                    format!(
                        "scope {} is what vrrpd uses for this route anyway",
                        scope.text
                    ),
                );
            } else {
                self.push(
                    &scope.loc,
                    "scope",
                    Severity::Unsupported,
                    format!(
                        "scope {}: vrrpd adds a route without a gateway with scope link and \
                         every other with scope global; the route is not imported",
                        scope.text
                    ),
                );
                return None;
            }
        }
        Some(route)
    }

    /// One `virtual_rules` line: `[from P] [to P] [table|lookup N] [preference N] [fwmark
    /// M[/MASK]] [iif|dev IF] [oif IF] [blackhole|unreachable|prohibit] [no_track]`.
    fn rule(&mut self, instance: &str, ipv6: bool, line: &Statement) -> Option<VirtualRuleConfig> {
        let words = Self::words_of(line);
        let mut family: Option<bool> = None;
        let mut rule = VirtualRuleConfig {
            priority: 0,
            from: None,
            to: None,
            fwmark: None,
            fwmask: None,
            in_interface: None,
            out_interface: None,
            action: RuleAction::Table,
            table: None,
        };
        let mut priority = None;
        let mut action: Option<(RuleAction, &Word)> = None;
        let mut at = 0;
        while at < words.len() {
            let word = words[at];
            let keyword = word.text.as_str();
            let mut set_action = |importer: &mut Importer, chosen: RuleAction| {
                if let Some((_, first)) = action {
                    importer.push(
                        &word.loc,
                        keyword,
                        Severity::Error,
                        format!(
                            "a rule has one action and `{}` already gave it; keepalived refuses it",
                            first.text
                        ),
                    );
                    return false;
                }
                action = Some((chosen, word));
                true
            };
            match keyword {
                "inet" | "inet6" => {
                    self.family_word(word);
                    return None;
                }
                "from" | "to" => {
                    let value = self.value_after(&words, at)?;
                    let (prefix, prefix_family) = self.line_prefix(value, keyword)?;
                    if let Some(this) = prefix_family
                        && !self.same_family(&mut family, this, value)
                    {
                        return None;
                    }
                    // "all" selects everything: no selector.
                    let prefix = prefix_family.map(|_| prefix);
                    if keyword == "from" {
                        rule.from = prefix;
                    } else {
                        rule.to = prefix;
                    }
                    at += 1;
                }
                "table" | "lookup" => {
                    let value = self.value_after(&words, at)?;
                    match table_number(&value.text) {
                        Some(0) | None => {
                            self.push(
                                &value.loc,
                                keyword,
                                Severity::Unsupported,
                                format!(
                                    "table {:?}: the importer knows the numbers and main, default \
                                     and local; write the table's number",
                                    value.text
                                ),
                            );
                            return None;
                        }
                        Some(table) => rule.table = Some(table),
                    }
                    if !set_action(self, RuleAction::Table) {
                        return None;
                    }
                    at += 1;
                }
                "preference" | "order" | "priority" => {
                    let value = self.value_after(&words, at)?;
                    priority = Some(self.integer::<u32>(
                        keyword,
                        value,
                        "a priority (0 to 4294967295)",
                    )?);
                    at += 1;
                }
                "fwmark" => {
                    let value = self.value_after(&words, at)?;
                    let (mark, mask) = match value.text.split_once('/') {
                        Some((mark, mask)) => (c_unsigned(mark), Some(c_unsigned(mask))),
                        None => (c_unsigned(&value.text), None),
                    };
                    match (mark, mask) {
                        (Some(mark), None) => rule.fwmark = Some(mark),
                        (Some(mark), Some(Some(mask))) => {
                            rule.fwmark = Some(mark);
                            rule.fwmask = Some(mask);
                        }
                        _ => {
                            self.push(
                                &value.loc,
                                "fwmark",
                                Severity::Error,
                                format!("{:?} is not MARK or MARK/MASK", value.text),
                            );
                            return None;
                        }
                    }
                    at += 1;
                }
                "iif" | "dev" => {
                    rule.in_interface = Some(self.value_after(&words, at)?.text.clone());
                    at += 1;
                }
                "oif" => {
                    rule.out_interface = Some(self.value_after(&words, at)?.text.clone());
                    at += 1;
                }
                "type" => {
                    // `type ACTION`: the next word is the action, handled next round.
                }
                "blackhole" | "unreachable" | "prohibit" => {
                    let chosen = match keyword {
                        "blackhole" => RuleAction::Blackhole,
                        "unreachable" => RuleAction::Unreachable,
                        _ => RuleAction::Prohibit,
                    };
                    if !set_action(self, chosen) {
                        return None;
                    }
                }
                "protocol" => {
                    self.value_after(&words, at)?;
                    self.push(
                        &word.loc,
                        "protocol",
                        Severity::Note,
                        "not imported: vrrpd marks every virtual rule with protocol 112",
                    );
                    at += 1;
                }
                "no_track" => self.push(
                    &word.loc,
                    "no_track",
                    Severity::Warning,
                    "vrrpd puts a virtual rule that someone deletes back while master (keepalived \
                     without no_track leaves MASTER instead); there is no setting to leave it \
                     deleted",
                ),
                option if RULE_OPTIONS_UNSUPPORTED.contains(&option) => {
                    self.push(
                        &word.loc,
                        option,
                        Severity::Unsupported,
                        format!(
                            "virtual_rules option `{option}` is not supported: vrrpd selects by \
                             from, to, fwmark, iif and oif, and looks up a table or drops; the \
                             rule is not imported"
                        ),
                    );
                    return None;
                }
                other => {
                    self.push(
                        &word.loc,
                        other,
                        Severity::Error,
                        format!(
                            "unknown rule option `{other}`; keepalived refuses the rule (\"Unknown \
                             rule option\")"
                        ),
                    );
                    return None;
                }
            }
            at += 1;
        }
        let Some((chosen, _)) = action else {
            self.report(
                line,
                Severity::Error,
                "a rule needs an action (`table N`, `blackhole`, ...); keepalived ignores it (\"No \
                 action specified for rule\")",
            );
            return None;
        };
        rule.action = chosen;
        let line_ipv6 = family.unwrap_or(false);
        if self.wrong_family(line, instance, ipv6, line_ipv6) {
            return None;
        }
        let selects = rule.from.is_some()
            || rule.to.is_some()
            || crate::core::routes::normalized_mark(rule.fwmark, rule.fwmask) != (0, 0)
            || rule.in_interface.is_some()
            || rule.out_interface.is_some();
        if !selects {
            self.report(
                line,
                Severity::Unsupported,
                "a rule that selects every packet (no from, to, fwmark, iif or oif) is not \
                 supported: it would take all of the host's traffic",
            );
            return None;
        }
        rule.priority = match priority {
            Some(0) => {
                self.report(
                    line,
                    Severity::Unsupported,
                    "preference 0 is the kernel's own local rule; vrrpd needs 1 or more",
                );
                return None;
            }
            Some(priority) => priority,
            None => {
                let given = &mut self.rules_without_priority[usize::from(line_ipv6)];
                let priority = KEEPALIVED_FIRST_RULE_PRIORITY.saturating_sub(*given);
                *given += 1;
                self.report(
                    line,
                    Severity::Warning,
                    format!(
                        "no preference: keepalived gives this rule {priority} (counting down from \
                         16384 in file order, \"Rule has no preference specified\"); imported as \
                         priority {priority}. vrrpd needs a fixed one to find the rule again"
                    ),
                );
                priority
            }
        };
        Some(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fwmarks_read_as_strtoul_base_0() {
        assert_eq!(c_unsigned("16"), Some(16));
        assert_eq!(c_unsigned("0x10"), Some(16));
        assert_eq!(c_unsigned("020"), Some(16));
        assert_eq!(c_unsigned("0"), Some(0));
        assert_eq!(c_unsigned("0x"), None);
        assert_eq!(c_unsigned("-1"), None);
    }

    #[test]
    fn table_names_of_the_kernel() {
        assert_eq!(table_number("main"), Some(254));
        assert_eq!(table_number("100"), Some(100));
        assert_eq!(table_number("isp2"), None);
    }
}
