//! What a reload changes (by instance name) and what a stop feeds an instance.
//!
//! A reload keeps every instance whose config did not change, applies priority, tracking
//! and hook changes in place (no state lost), and restarts the rest: a master hands over
//! first (make-before-break) so that moving an instance loses no packet.

use crate::config::InstanceConfig;

use super::state::{AfterHandOver, Input};

/// What a stop request feeds an instance: a make-before-break hand-over, or, with
/// `make_before_break` off, the RFC's Shutdown event (addresses removed at once).
pub fn stop_input(config: &InstanceConfig) -> Input<'static> {
    if config.make_before_break {
        Input::HandOver {
            then: AfterHandOver::Stop,
        }
    } else {
        Input::Shutdown
    }
}

/// What a reload changes, by instance name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Identical: keeps its state and addresses.
    pub unchanged: Vec<String>,
    /// Gone from the new config: shut down (priority-0 advert if master, addresses removed).
    pub removed: Vec<String>,
    /// New: started.
    pub added: Vec<InstanceConfig>,
    /// Only the priority changed: applied in place (no state loss).
    pub reprioritized: Vec<(String, u8)>,
    /// Anything else changed: shut down and started again with the new config.
    pub restarted: Vec<InstanceConfig>,
}

/// Diff two instance lists by name.
pub fn plan_reload(old: &[InstanceConfig], new: &[InstanceConfig]) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    for before in old {
        if !new.iter().any(|after| after.name == before.name) {
            plan.removed.push(before.name.clone());
        }
    }
    for after in new {
        match old.iter().find(|before| before.name == after.name) {
            None => plan.added.push(after.clone()),
            Some(before) if before == after => plan.unchanged.push(after.name.clone()),
            Some(before) if only_priority_changed(before, after) => plan
                .reprioritized
                .push((after.name.clone(), after.priority)),
            Some(_) => plan.restarted.push(after.clone()),
        }
    }
    plan
}

/// Priority 255 means "address owner" (RFC 3768 §5.3.4), a different mode of
/// operation, so going to or from it is a restart, not a priority change.
/// `track` and `notify` are applied in place too: they only change the effective
/// priority (or FAULT) and what runs on the next transition, so a master need not let go.
fn only_priority_changed(before: &InstanceConfig, after: &InstanceConfig) -> bool {
    const OWNER: u8 = 255;
    let same_otherwise = InstanceConfig {
        priority: before.priority,
        track: before.track.clone(),
        notify: before.notify.clone(),
        // Applied in place too (node/routing.rs: reconfigure_routing).
        virtual_routes: before.virtual_routes.clone(),
        virtual_rules: before.virtual_rules.clone(),
        ..after.clone()
    } == *before;
    same_otherwise && before.priority != OWNER && after.priority != OWNER
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{AuthenticationConfig, V3Checksum, VirtualAddress, VrrpVersion};

    pub(crate) fn instance(name: &str, priority: u8) -> InstanceConfig {
        InstanceConfig {
            name: name.to_owned(),
            interface: "eth0".to_owned(),
            virtual_router_id: 50,
            version: VrrpVersion::V2,
            priority,
            advert_interval_ms: 1000,
            authentication: AuthenticationConfig::Pass {
                password: "password".to_owned(),
            },
            virtual_addresses: vec![VirtualAddress::new("192.0.2.40")],
            excluded_addresses: Vec::new(),
            preempt: true,
            preempt_delay_s: 0,
            v3_checksum: V3Checksum::WithPseudoHeader,
            source_address: None,
            garp_burst_count: 5,
            garp_burst_interval_ms: 0,
            garp_repeat_delay_s: 5,
            garp_master_refresh_s: 60,
            track: Vec::new(),
            notify: None,
            unicast_peers: Vec::new(),
            unicast_source: None,
            make_before_break: true,
            use_virtual_mac: false,
            virtual_mac_interface: None,
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
        }
    }

    #[test]
    fn stop_hands_over_unless_make_before_break_is_off() {
        let mut config = instance("VI_1", 150);
        assert_eq!(
            stop_input(&config),
            Input::HandOver {
                then: AfterHandOver::Stop
            }
        );
        config.make_before_break = false;
        assert_eq!(stop_input(&config), Input::Shutdown);
    }

    #[test]
    fn reload_plan_sorts_instances_by_what_changed() {
        let old = vec![
            instance("same", 100),
            instance("gone", 100),
            instance("prio", 100),
            instance("vip", 100),
        ];
        let mut vip_changed = instance("vip", 100);
        vip_changed.virtual_addresses = vec![VirtualAddress::new("192.0.2.50")];
        let new = vec![
            instance("same", 100),
            instance("prio", 150),
            vip_changed.clone(),
            instance("new", 90),
        ];
        let plan = plan_reload(&old, &new);
        assert_eq!(plan.unchanged, vec!["same".to_owned()]);
        assert_eq!(plan.removed, vec!["gone".to_owned()]);
        assert_eq!(plan.reprioritized, vec![("prio".to_owned(), 150)]);
        assert_eq!(plan.restarted, vec![vip_changed]);
        assert_eq!(plan.added, vec![instance("new", 90)]);
    }

    #[test]
    fn becoming_or_leaving_address_owner_is_a_restart() {
        let plan = plan_reload(&[instance("a", 100)], &[instance("a", 255)]);
        assert_eq!(plan.restarted, vec![instance("a", 255)]);
        assert!(plan.reprioritized.is_empty());
        let plan = plan_reload(&[instance("a", 255)], &[instance("a", 100)]);
        assert_eq!(plan.restarted, vec![instance("a", 100)]);
    }

    #[test]
    fn tracking_and_hook_changes_apply_in_place() {
        let mut changed = instance("a", 150);
        changed.track = vec![crate::config::TrackRef {
            tracker: "caddy".to_owned(),
            weight: -60,
        }];
        changed.notify = Some(crate::config::NotifyConfig::default());
        let plan = plan_reload(&[instance("a", 100)], std::slice::from_ref(&changed));
        assert_eq!(plan.reprioritized, vec![("a".to_owned(), 150)]);
        assert!(plan.restarted.is_empty());
    }

    #[test]
    fn priority_and_another_field_changed_is_a_restart() {
        let mut changed = instance("a", 150);
        changed.preempt = false;
        let plan = plan_reload(&[instance("a", 100)], std::slice::from_ref(&changed));
        assert_eq!(plan.restarted, vec![changed]);
    }
}
