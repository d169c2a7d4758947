//! The RFC's virtual MAC (RFC 5798 §7.3, RFC 3768 §7.3; config `use_virtual_mac`): the
//! decisions about the macvlan interface that carries it.
//!
//! The shell creates the macvlan (mode bridge, MAC 00-00-5E-00-0{1,2}-{VRID}) on the
//! instance's interface when it places the instance; everything else is decided here:
//!
//! - **Up only while master.** Before its addresses are added the macvlan is set up; when
//!   they go it is set down first. A backup's macvlan therefore sends nothing, not even the
//!   multicast listener reports the kernel sends when addresses come and go, which would
//!   teach the switches the virtual MAC's port wrongly (keepalived filters those with
//!   nftables instead; FRR keeps its backups' macvlans in protodown).
//! - **Adverts** leave through the macvlan, so their source MAC is the virtual MAC, as the
//!   RFC says (§7.3). They are received on the parent: in bridge mode the kernel hands a
//!   frame whose source MAC is our own macvlan's, which is what every other router of the
//!   virtual router sends from, to the parent only.
//! - **IPv6**: the kernel sends from the macvlan only with an address of its own there, so
//!   the instance's source (its interface's link-local address, the one its adverts carry)
//!   is added to the macvlan together with the virtual addresses.
//! - **The host interferes**: a macvlan someone sets down while master is set up again and
//!   its addresses put back; one someone deletes is made again (the instance waits in FAULT
//!   for the moment it takes); one left behind by a run killed with SIGKILL is reused.
//! - **Removal**: when the instance stops for good (exit, a reload that removes it).

use std::net::IpAddr;
use std::time::Instant;

use super::{Input, LogLevel, Node, NodeAction, Slot, State};

/// The macvlan that carries an instance's virtual MAC, as the shell made or found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualMacLink {
    pub ifindex: u32,
    pub name: String,
    pub mac: [u8; 6],
}

/// The prefix length the instance's own link-local address gets on the macvlan.
const LINK_LOCAL_PREFIX: u8 = 64;

impl Slot {
    /// Where the adverts go out: the virtual MAC's macvlan, else the instance's interface.
    pub(super) fn advert_ifindex(&self) -> Option<u32> {
        let parent = self.ifindex?;
        Some(
            self.virtual_mac
                .as_ref()
                .map_or(parent, |virtual_mac| virtual_mac.ifindex),
        )
    }

    /// The instance's own address that lives on its macvlan besides the virtual ones: for
    /// IPv6 the link-local source of its adverts (the kernel sends only from an address
    /// of the sending interface). None for IPv4, whose source may live on the parent.
    pub(super) fn virtual_mac_source(&self) -> Option<(IpAddr, u8)> {
        let local = self.instance.params().local_address;
        (self.virtual_mac.is_some() && local.is_ipv6()).then_some((local, LINK_LOCAL_PREFIX))
    }
}

impl Node {
    /// The slot whose macvlan is interface `ifindex`, if any.
    pub(super) fn virtual_mac_owner(&self, ifindex: u32) -> Option<usize> {
        self.slots.iter().position(|slot| {
            slot.virtual_mac
                .as_ref()
                .is_some_and(|virtual_mac| virtual_mac.ifindex == ifindex)
        })
    }

    /// Ask the shell to set slot `index`'s macvlan up or down (nothing without one).
    pub(super) fn set_virtual_mac_up(&mut self, index: usize, up: bool) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if let Some(virtual_mac) = &slot.virtual_mac {
            let action = NodeAction::SetVirtualMacUp {
                instance: slot.name().to_owned(),
                ifindex: virtual_mac.ifindex,
                up,
            };
            self.push(action);
        }
    }

    /// `addresses` for interface `ifindex` of slot `index`, with the instance's own
    /// link-local address first when that is its IPv6 macvlan.
    pub(super) fn with_virtual_mac_source(
        &self,
        index: usize,
        ifindex: u32,
        mut addresses: Vec<(IpAddr, u8)>,
    ) -> Vec<(IpAddr, u8)> {
        let slot = &self.slots[index];
        let on_virtual_mac = slot
            .virtual_mac
            .as_ref()
            .is_some_and(|virtual_mac| virtual_mac.ifindex == ifindex);
        if on_virtual_mac && let Some(source) = slot.virtual_mac_source() {
            addresses.insert(0, source);
        }
        addresses
    }

    /// A link event for one of our macvlans (true), or not ours (false). We set them up
    /// and down ourselves, so only a state other than the instance's role calls for action:
    /// set down under a master (an operator, a network manager that thinks it owns every
    /// link) means back up, with its addresses (IPv6 drops a link's addresses when it goes
    /// down) announced again; set up under anyone else means back down.
    pub(super) fn virtual_mac_link(&mut self, now: Instant, ifindex: u32, up: bool) -> bool {
        let Some(index) = self.virtual_mac_owner(ifindex) else {
            return false;
        };
        let _ = now;
        let slot = &self.slots[index];
        let master = slot.instance.state() == State::Master;
        let name = slot
            .virtual_mac
            .as_ref()
            .map_or_else(String::new, |virtual_mac| virtual_mac.name.clone());
        let instance = slot.name().to_owned();
        if master && !up {
            self.log(
                LogLevel::Warn,
                format!(
                    "({instance}) virtual MAC interface {name} went down while MASTER, not by \
                     vrrpd: setting it up again and putting its addresses back"
                ),
            );
            self.set_virtual_mac_up(index, true);
            let slot = &self.slots[index];
            let addresses: Vec<(IpAddr, u8)> = slot
                .addresses
                .iter()
                .filter(|held| held.home.is_none())
                .map(|held| (held.address, held.prefix_len))
                .collect();
            let addresses = self.with_virtual_mac_source(index, ifindex, addresses);
            self.push(NodeAction::AddAddresses {
                instance,
                ifindex,
                addresses,
            });
            if !self.slots[index].instance.handing_over() {
                self.announce_matching(index, |held| held.home.is_none());
            }
        } else if !master && up {
            self.log(
                LogLevel::Warn,
                format!(
                    "({instance}) virtual MAC interface {name} was set up while {}, not by \
                     vrrpd: setting it down again (only the master's may send)",
                    super::state_name(self.slots[index].instance.state())
                ),
            );
            self.set_virtual_mac_up(index, false);
        }
        true
    }

    /// Interface `ifindex` was deleted: if it was one of our macvlans (true), the instance
    /// cannot hold its addresses nor send adverts from the virtual MAC until it is made
    /// again, which the shell does when it locates the instance anew (at once: the parent
    /// is still there). Meanwhile the instance is in FAULT.
    pub(super) fn virtual_mac_gone(&mut self, now: Instant, ifindex: u32) -> bool {
        let Some(index) = self.virtual_mac_owner(ifindex) else {
            return false;
        };
        let slot = &mut self.slots[index];
        let name = slot
            .virtual_mac
            .take()
            .map_or_else(String::new, |virtual_mac| virtual_mac.name);
        let instance = slot.name().to_owned();
        // Detached like an instance whose interface went: FAULT, then located again.
        slot.ifindex = None;
        self.links.remove(&ifindex);
        let why = format!("its virtual MAC interface {name} was deleted, not by vrrpd");
        self.log(
            LogLevel::Warn,
            format!("({instance}) {why}: FAULT until it is made again"),
        );
        self.feed(now, index, Input::LinkDown);
        self.recheck_group_of(now, &instance, &why);
        let parent = self.slots[index].config.interface.clone();
        self.locate_waiting(Some(&parent));
        self.forget_unused_links();
        self.push(NodeAction::CloseUnusedInterfaces {
            in_use: self.interfaces_in_use(),
        });
        true
    }

    /// Delete `slot`'s macvlan (it stops for good), unless another slot uses the same one:
    /// a reload that restarts an instance places the new one on the macvlan the old one
    /// still holds, also when the old one leaves only after handing over (its own
    /// `then_start` is then what keeps the macvlan, unless the daemon is stopping).
    pub(super) fn release_virtual_mac(&mut self, slot: &Slot) {
        let Some(virtual_mac) = &slot.virtual_mac else {
            return;
        };
        let waits_for_it = |leaving: &Option<super::Leaving>| {
            leaving.as_ref().is_some_and(|leaving| {
                leaving.then_start.iter().any(|(_, placement)| {
                    placement.as_ref().is_ok_and(|placement| {
                        placement
                            .virtual_mac
                            .as_ref()
                            .is_some_and(|next| next.ifindex == virtual_mac.ifindex)
                    })
                })
            })
        };
        let still_used = self.slots.iter().any(|other| {
            other
                .virtual_mac
                .as_ref()
                .is_some_and(|other| other.ifindex == virtual_mac.ifindex)
        }) || self.slots.iter().any(|other| waits_for_it(&other.leaving))
            || (!self.stopping && waits_for_it(&slot.leaving));
        if still_used {
            return;
        }
        self.push(NodeAction::DeleteVirtualMac {
            instance: slot.name().to_owned(),
            ifindex: virtual_mac.ifindex,
            name: virtual_mac.name.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, Instant};

    use super::super::{DemotedAtStart, LoadedConfig, NodeInput, Placement};
    use super::*;

    const ETH0: u32 = 5;
    const VMAC_INDEX: u32 = 9;
    const VMAC: [u8; 6] = [0, 0, 0x5e, 0, 1, 50];

    fn config(ipv6: bool) -> crate::config::Config {
        let addresses = if ipv6 {
            r#"["fe80::40", "2001:db8::40/64"]"#
        } else {
            r#"["192.0.2.40/24"]"#
        };
        let text = format!(
            r#"{{"instances": [{{
                "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
                "priority": 150, "advert_interval_ms": 100, "use_virtual_mac": true,
                "virtual_addresses": {addresses}
            }}]}}"#
        );
        crate::config::load_str(&text, "test").unwrap()
    }

    fn placement(ipv6: bool, vmac_index: u32) -> Placement {
        Placement {
            ifindex: ETH0,
            interface: "eth0".to_owned(),
            up: true,
            mac: Some([2, 0, 0, 0, 0, 1]),
            local_address: if ipv6 {
                "fe80::1".parse().unwrap()
            } else {
                "192.0.2.1".parse().unwrap()
            },
            virtual_mac: Some(VirtualMacLink {
                ifindex: vmac_index,
                name: if ipv6 { "vrrp6.50" } else { "vrrp.50" }.to_owned(),
                mac: VMAC,
            }),
        }
    }

    fn drain(node: &mut Node) -> Vec<NodeAction> {
        std::iter::from_fn(|| node.poll_action()).collect()
    }

    fn started(ipv6: bool, now: Instant) -> (Node, Vec<NodeAction>) {
        let placements = BTreeMap::from([("VI_1".to_owned(), Ok(placement(ipv6, VMAC_INDEX)))]);
        let demoted = DemotedAtStart::Instances(BTreeSet::new());
        let mut node = Node::new(config(ipv6), placements, demoted, now, 0);
        node.handle(now, NodeInput::Start);
        let actions = drain(&mut node);
        (node, actions)
    }

    fn master(ipv6: bool) -> (Node, Instant, Vec<NodeAction>) {
        let now = Instant::now();
        let (mut node, _) = started(ipv6, now);
        let later = now + Duration::from_secs(1);
        node.handle(later, NodeInput::Timeout);
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Master);
        (node, later, actions)
    }

    /// A short name for each action that matters here, in order.
    fn steps(actions: &[NodeAction]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::SetVirtualMacUp { ifindex, up, .. } => {
                    Some(format!("{} {ifindex}", if *up { "up" } else { "down" }))
                }
                NodeAction::AddAddresses {
                    ifindex, addresses, ..
                } => Some(format!("add {ifindex} {addresses:?}")),
                NodeAction::RemoveAddresses {
                    ifindex,
                    addresses,
                    leftover,
                    ..
                } => Some(format!(
                    "{} {ifindex} {addresses:?}",
                    if *leftover { "leftover" } else { "remove" }
                )),
                NodeAction::SendAdvertisement { ifindex, .. } => Some(format!("advert {ifindex}")),
                NodeAction::SendGratuitousArp { ifindex, frame, .. } => {
                    Some(format!("garp {ifindex} from {:02x?}", &frame[6..12]))
                }
                NodeAction::SendNeighbourAdvertisement {
                    ifindex, source, ..
                } => Some(format!("na {ifindex} from {source}")),
                NodeAction::DeleteVirtualMac { ifindex, .. } => Some(format!("delete {ifindex}")),
                NodeAction::Locate { .. } => Some("locate".to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn at_start_the_macvlan_goes_down_and_leftovers_go_from_it_and_the_parent() {
        let (_, actions) = started(false, Instant::now());
        assert_eq!(
            steps(&actions),
            [
                "down 9",
                "leftover 9 [(192.0.2.40, 24)]",
                "leftover 5 [(192.0.2.40, 24)]"
            ]
        );
    }

    #[test]
    fn a_master_sets_the_macvlan_up_first_and_sends_everything_from_it() {
        let (_, _, actions) = master(false);
        let steps = steps(&actions);
        assert_eq!(steps[0], "up 9", "{steps:?}");
        assert_eq!(steps[1], "add 9 [(192.0.2.40, 24)]", "{steps:?}");
        assert!(
            steps.iter().all(|step| step.split(' ').nth(1) != Some("5")),
            "something went to the parent: {steps:?}"
        );
        assert!(steps.contains(&"advert 9".to_owned()), "{steps:?}");
        assert!(
            steps.contains(&"garp 9 from [00, 00, 5e, 00, 01, 32]".to_owned()),
            "{steps:?}"
        );
    }

    #[test]
    fn ipv6_adds_the_instances_link_local_to_the_macvlan_and_announces_from_it() {
        let (_, _, actions) = master(true);
        let steps = steps(&actions);
        assert_eq!(steps[0], "up 9");
        assert_eq!(
            steps[1],
            "add 9 [(fe80::1, 64), (fe80::40, 128), (2001:db8::40, 64)]"
        );
        assert!(steps.contains(&"na 9 from fe80::1".to_owned()), "{steps:?}");
    }

    #[test]
    fn leaving_master_sets_the_macvlan_down_before_the_addresses_go() {
        let (mut node, now, _) = master(false);
        node.handle(now, NodeInput::StopNow);
        let steps = steps(&drain(&mut node));
        let down = steps
            .iter()
            .position(|step| step == "down 9")
            .expect("down");
        let remove = steps
            .iter()
            .position(|step| step.starts_with("remove 9"))
            .expect("remove");
        let delete = steps
            .iter()
            .position(|step| step == "delete 9")
            .expect("delete");
        assert!(down < remove && remove < delete, "{steps:?}");
        assert!(
            steps.contains(&"advert 9".to_owned()),
            "priority 0 from the vmac"
        );
    }

    #[test]
    fn the_host_setting_it_down_or_up_is_undone() {
        let (mut node, now, _) = master(false);
        let link = |up: bool| NodeInput::Link {
            ifindex: VMAC_INDEX,
            name: "vrrp.50".to_owned(),
            up,
            mac: Some(VMAC),
            mtu: None,
        };
        node.handle(now, link(true));
        assert!(steps(&drain(&mut node)).is_empty(), "our own up: nothing");
        node.handle(now, link(false));
        let steps_down = steps(&drain(&mut node));
        assert_eq!(steps_down[0], "up 9");
        assert_eq!(steps_down[1], "add 9 [(192.0.2.40, 24)]");
        assert!(steps_down[2].starts_with("garp 9"), "{steps_down:?}");
        assert_eq!(node.instance_states()[0].state, State::Master);

        let (mut backup, now, _) = {
            let now = Instant::now();
            let (node, _) = started(false, now);
            (node, now, ())
        };
        backup.handle(now, link(true));
        assert_eq!(steps(&drain(&mut backup)), ["down 9"]);
        backup.handle(now, link(false));
        assert!(steps(&drain(&mut backup)).is_empty());
    }

    #[test]
    fn a_deleted_macvlan_is_a_fault_until_it_is_made_again() {
        let (mut node, now, _) = master(false);
        node.handle(
            now,
            NodeInput::LinkGone {
                ifindex: VMAC_INDEX,
            },
        );
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Fault);
        assert!(
            steps(&actions).contains(&"locate".to_owned()),
            "{actions:?}"
        );
        node.handle(
            now,
            NodeInput::Located {
                instance: "VI_1".to_owned(),
                result: Ok(placement(false, 11)),
            },
        );
        let steps = steps(&drain(&mut node));
        assert_eq!(steps[0], "down 11");
        assert_eq!(node.instance_states()[0].state, State::Backup);
        node.handle(now + Duration::from_secs(1), NodeInput::Timeout);
        let steps = super::tests::steps(&drain(&mut node));
        assert_eq!(steps[0], "up 11", "{steps:?}");
    }

    /// Fire the node's timers from `now` until `done` holds (at most 100 of them), adding
    /// what each does to `seen`; returns the time of the last one.
    fn fire_timers_until(
        node: &mut Node,
        now: Instant,
        seen: &mut Vec<String>,
        done: impl Fn(&Node) -> bool,
    ) -> Instant {
        let mut later = now;
        for _ in 0..100 {
            if done(node) {
                break;
            }
            later = node
                .next_deadline()
                .unwrap_or(later + Duration::from_millis(100));
            node.handle(later, NodeInput::Timeout);
            seen.extend(steps(&drain(node)));
        }
        later
    }

    /// A reload that restarts VI_1 (a new interval) on the same macvlan.
    fn restart_by_reload(node: &mut Node, now: Instant) {
        let mut restarted = config(false);
        restarted.instances[0].advert_interval_ms = 200;
        node.handle(now, NodeInput::ReloadRequested);
        drain(node);
        let placements = BTreeMap::from([("VI_1".to_owned(), Ok(placement(false, VMAC_INDEX)))]);
        let result = Ok(LoadedConfig {
            config: restarted,
            placements,
        });
        node.handle(
            now,
            NodeInput::ConfigLoaded {
                generation: node.reload_generation(),
                result,
            },
        );
    }

    #[test]
    fn a_reload_deletes_the_macvlan_of_a_removed_instance_only() {
        let now = Instant::now();
        let (mut node, _) = started(false, now);
        // A restart on the same macvlan (a priority and an interval change): kept.
        restart_by_reload(&mut node, now);
        let steps_restart = steps(&drain(&mut node));
        assert!(
            !steps_restart.iter().any(|step| step.starts_with("delete")),
            "{steps_restart:?}"
        );
        // The instance renamed away: its macvlan goes.
        let mut renamed = config(false);
        renamed.instances[0].name = "VI_2".to_owned();
        renamed.instances[0].use_virtual_mac = false;
        node.handle(now, NodeInput::ReloadRequested);
        drain(&mut node);
        let mut plain = placement(false, VMAC_INDEX);
        plain.virtual_mac = None;
        node.handle(
            now,
            NodeInput::ConfigLoaded {
                generation: 2,
                result: Ok(LoadedConfig {
                    config: renamed,
                    placements: BTreeMap::from([("VI_2".to_owned(), Ok(plain))]),
                }),
            },
        );
        assert!(steps(&drain(&mut node)).contains(&"delete 9".to_owned()));
    }

    /// Found by the simulator: the address put on the parent by someone else would make
    /// the parent answer for it with its own MAC, so it goes in every state; the parent's
    /// own addresses and the macvlan's copy are left alone.
    #[test]
    fn a_virtual_address_that_appears_on_the_parent_is_removed_from_it() {
        let appears = |ifindex: u32, address: &str| NodeInput::Address {
            ifindex,
            address: address.parse().unwrap(),
            present: true,
        };
        let now = Instant::now();
        let (mut backup, _) = started(false, now);
        backup.handle(now, appears(ETH0, "192.0.2.40"));
        assert_eq!(steps(&drain(&mut backup)), ["remove 5 [(192.0.2.40, 24)]"]);
        let (mut master, now, _) = master(false);
        master.handle(now, appears(ETH0, "192.0.2.40"));
        assert_eq!(steps(&drain(&mut master)), ["remove 5 [(192.0.2.40, 24)]"]);
        master.handle(now, appears(ETH0, "192.0.2.1"));
        master.handle(now, appears(VMAC_INDEX, "192.0.2.40"));
        assert!(steps(&drain(&mut master)).is_empty());
    }

    /// Found by the simulator: a master restarted by a reload hands over first, and the
    /// restarted instance must find its macvlan still there when the old one leaves.
    #[test]
    fn a_master_restarted_by_a_reload_keeps_the_macvlan_after_handing_over() {
        let (mut node, now, _) = master(false);
        restart_by_reload(&mut node, now);
        let mut seen = steps(&drain(&mut node));
        assert!(node.reload_handing_over(), "a master hands over: {seen:?}");
        // No new master is heard: the hand-over's wait runs out, bounded in steps.
        let later = fire_timers_until(&mut node, now, &mut seen, |node| {
            !node.reload_handing_over()
        });
        assert!(!node.reload_handing_over(), "{seen:?}");
        assert!(
            !seen.iter().any(|step| step.starts_with("delete")),
            "the restarted instance's macvlan was deleted: {seen:?}"
        );
        // It runs again on the same macvlan and takes over from it.
        fire_timers_until(&mut node, later, &mut seen, |node| {
            node.instance_states()[0].state == State::Master
        });
        assert_eq!(node.instance_states()[0].state, State::Master, "{seen:?}");
        assert!(seen.contains(&"up 9".to_owned()), "{seen:?}");
    }
}
