//! Addresses that live on another interface than the instance's own (keepalived's
//! `virtual_ipaddress { ADDR dev IFACE }`): where they are, and what that interface's
//! state means for the instance.
//!
//! Adverts go on the instance's interface; an address on another interface (its "home") is
//! added, announced (gratuitous ARP/NA) and watched there, while master, like the others.
//! Homes are looked up by name through the shell ([`NodeAction::LocateHome`], answered by
//! [`NodeInput::HomeLocated`]): at start, and again whenever an interface of that name
//! shows up after it was missing, deleted or renamed. A tracked home (keepalived tracks
//! the interface of such an address unless `no_track`) that is down or missing puts the
//! instance in FAULT the way a failing tracker of weight 0 does: a master resigns with
//! priority 0 first, since its own link still works.

use std::net::IpAddr;

use super::{LogLevel, Node, NodeAction, Slot};

/// An interface an instance holds addresses on, as the shell found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HomeLink {
    pub ifindex: u32,
    pub up: bool,
    /// None for links without an Ethernet address (then no GARP/NA is possible).
    pub mac: Option<[u8; 6]>,
}

/// Where one of an instance's held addresses lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SlotAddress {
    pub address: IpAddr,
    pub prefix_len: u8,
    /// Index into [`Slot::homes`]; None: the instance's own interface.
    pub home: Option<usize>,
}

/// What is known of one home of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum HomeState {
    /// Not looked up yet (a [`NodeAction::LocateHome`] is out): no cause for FAULT yet,
    /// the answer comes with the same wake-up.
    Unknown,
    /// Looked up and not there (or not usable); the text says why.
    Missing(String),
    Found(HomeLink),
}

/// One other interface an instance holds addresses on.
#[derive(Clone, Debug)]
pub(super) struct HomeBinding {
    pub interface: String,
    /// Whether any address there is tracked: then down or missing means FAULT.
    pub track: bool,
    pub state: HomeState,
    /// A [`NodeAction::LocateHome`] for it is out.
    pub locating: bool,
}

impl HomeBinding {
    pub fn ifindex(&self) -> Option<u32> {
        match &self.state {
            HomeState::Found(link) => Some(link.ifindex),
            _ => None,
        }
    }
}

/// The tracker-like name a failing tracked home is reported under (as the importer names
/// keepalived's `track_interface` trackers).
pub(super) fn home_tracker_name(interface: &str) -> String {
    format!("interface-{interface}")
}

impl Slot {
    /// The slot's addresses and homes from its config.
    pub(super) fn addresses_and_homes(
        config: &crate::config::InstanceConfig,
    ) -> (Vec<SlotAddress>, Vec<HomeBinding>) {
        let homes: Vec<HomeBinding> = config
            .address_interfaces()
            .into_iter()
            .map(|(interface, track)| HomeBinding {
                interface,
                track,
                state: HomeState::Unknown,
                locating: false,
            })
            .collect();
        let addresses = config
            .held_addresses()
            .into_iter()
            .map(|held| SlotAddress {
                address: held.address,
                prefix_len: held.prefix_len,
                home: held
                    .interface
                    .and_then(|name| homes.iter().position(|home| home.interface == name)),
            })
            .collect();
        (addresses, homes)
    }

    /// The interface index address `held` lives on, if that interface is known now.
    pub(super) fn ifindex_of(&self, held: &SlotAddress) -> Option<u32> {
        match held.home {
            // With a virtual MAC, its macvlan holds them (only while the instance has its
            // interface: a detached one has no macvlan either).
            None => self.advert_ifindex(),
            Some(home) => self.homes.get(home).and_then(HomeBinding::ifindex),
        }
    }

    /// The held addresses grouped by the interface they live on, in config order (the
    /// instance's own interface first); addresses whose interface is unknown are left out.
    pub(super) fn addresses_by_interface(&self) -> Vec<(u32, Vec<(IpAddr, u8)>)> {
        let mut grouped: Vec<(u32, Vec<(IpAddr, u8)>)> = Vec::new();
        for held in &self.addresses {
            let Some(ifindex) = self.ifindex_of(held) else {
                continue;
            };
            let entry = (held.address, held.prefix_len);
            match grouped.iter_mut().find(|(known, _)| *known == ifindex) {
                Some((_, addresses)) => addresses.push(entry),
                None => grouped.push((ifindex, vec![entry])),
            }
        }
        grouped
    }

    /// The addresses that live on home `home`.
    pub(super) fn addresses_of_home(&self, home: usize) -> Vec<(IpAddr, u8)> {
        self.addresses
            .iter()
            .filter(|held| held.home == Some(home))
            .map(|held| (held.address, held.prefix_len))
            .collect()
    }

    /// With a virtual MAC, an address of the slot's that lives on the macvlan but shows up
    /// on the parent interface (a network manager putting it back where it was before the
    /// migration, an `ip addr add` by hand): its prefix length. The parent would answer
    /// ARP and ND for it with its own MAC, and a backup's parent would answer at all: the
    /// address must only ever be answered for by the master, from the virtual MAC
    /// (RFC 3768 §7.2, RFC 9568 §7.2).
    pub(super) fn stray_on_parent(&self, ifindex: u32, address: IpAddr) -> Option<u8> {
        let virtual_mac = self.virtual_mac.as_ref()?;
        if self.ifindex != Some(ifindex) {
            return None;
        }
        self.addresses
            .iter()
            .find(|held| {
                held.address == address && self.ifindex_of(held) == Some(virtual_mac.ifindex)
            })
            .map(|held| held.prefix_len)
    }

    /// Whether the slot holds `address` on interface `ifindex`; its prefix length if so.
    /// With an IPv6 virtual MAC that includes the instance's own link-local address there.
    pub(super) fn holds_on(&self, ifindex: u32, address: IpAddr) -> Option<u8> {
        let on_virtual_mac = self
            .virtual_mac
            .as_ref()
            .is_some_and(|virtual_mac| virtual_mac.ifindex == ifindex);
        if on_virtual_mac
            && let Some((source, prefix_len)) = self.virtual_mac_source()
            && source == address
        {
            return Some(prefix_len);
        }
        self.addresses
            .iter()
            .find(|held| held.address == address && self.ifindex_of(held) == Some(ifindex))
            .map(|held| held.prefix_len)
    }
}

impl Node {
    /// Ask the shell to look up the homes not found yet (never looked up, missing, deleted,
    /// renamed) named `name`, or all of them (None), at most one request out per home.
    pub(super) fn locate_homes(&mut self, name: Option<&str>) {
        if self.stopping {
            return;
        }
        let mut wanted: Vec<(String, bool)> = Vec::new();
        for slot in self.slots.iter_mut().filter(|slot| slot.active()) {
            let ipv6 = slot.ipv6;
            for home in &mut slot.homes {
                let unresolved = !matches!(home.state, HomeState::Found(_));
                if !unresolved || home.locating || name.is_some_and(|name| home.interface != name) {
                    continue;
                }
                home.locating = true;
                if !wanted.contains(&(home.interface.clone(), ipv6)) {
                    wanted.push((home.interface.clone(), ipv6));
                }
            }
        }
        for (interface, ipv6) in wanted {
            self.push(NodeAction::LocateHome { interface, ipv6 });
        }
    }

    /// The shell's answer to [`NodeAction::LocateHome`]: every slot of that family with a
    /// home of that name learns where it is (or that it is missing). A master puts its
    /// addresses there and announces them; anyone else removes what a previous run (killed
    /// before it could clean up) or someone else left there.
    pub(super) fn on_home_located(
        &mut self,
        now: std::time::Instant,
        interface: &str,
        ipv6: bool,
        result: Result<HomeLink, String>,
    ) {
        let mut affected = Vec::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.ipv6 != ipv6 || !slot.active() {
                continue;
            }
            for (home, binding) in slot.homes.iter_mut().enumerate() {
                if binding.interface != interface || !binding.locating {
                    continue;
                }
                binding.locating = false;
                binding.state = match &result {
                    Ok(link) => HomeState::Found(link.clone()),
                    Err(why) => HomeState::Missing(why.clone()),
                };
                affected.push((index, home));
            }
        }
        if let Ok(link) = &result {
            self.links
                .entry(link.ifindex)
                .or_insert_with(|| super::Link {
                    name: interface.to_owned(),
                    up: link.up,
                    mac: link.mac,
                    mtu: None,
                    drops: Default::default(),
                });
        }
        for (index, home) in affected {
            match &result {
                Ok(link) => self.home_found(index, home, link.ifindex),
                Err(why) => {
                    let line = format!(
                        "({}) cannot use interface {interface} for its addresses: {why}{}",
                        self.slots[index].name(),
                        if self.slots[index].homes[home].track {
                            "; FAULT until it can (vrrpd watches for it)"
                        } else {
                            "; they are added once it is there"
                        }
                    );
                    self.log(LogLevel::Warn, line);
                }
            }
            self.apply_tracking(now, index);
        }
    }

    /// Home `home` of slot `index` is now interface `ifindex`.
    fn home_found(&mut self, index: usize, home: usize, ifindex: u32) {
        let slot = &self.slots[index];
        let addresses = slot.addresses_of_home(home);
        let instance = slot.name().to_owned();
        if slot.instance.state() == super::State::Master {
            self.push(NodeAction::AddAddresses {
                instance,
                ifindex,
                addresses,
            });
            if !self.slots[index].instance.handing_over() {
                self.announce_matching(index, |held| held.home == Some(home));
            }
        } else {
            self.push(NodeAction::RemoveAddresses {
                instance,
                ifindex,
                addresses,
                leftover: true,
            });
        }
    }

    /// Interface `ifindex` was deleted or renamed: the homes on it are missing until an
    /// interface of their name shows up. A master's addresses leave a renamed link (the
    /// config names the interface, and the peer takes over if the home is tracked).
    pub(super) fn homes_lost(
        &mut self,
        now: std::time::Instant,
        ifindex: u32,
        why: &str,
        renamed: bool,
    ) {
        let mut affected = Vec::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            for (home, binding) in slot.homes.iter_mut().enumerate() {
                if binding.ifindex() == Some(ifindex) {
                    binding.state = HomeState::Missing(why.to_owned());
                    affected.push((index, home));
                }
            }
        }
        for (index, home) in affected {
            let slot = &self.slots[index];
            if renamed && slot.instance.state() == super::State::Master {
                let action = NodeAction::RemoveAddresses {
                    instance: slot.name().to_owned(),
                    ifindex,
                    addresses: slot.addresses_of_home(home),
                    leftover: false,
                };
                self.push(action);
            }
            let line = format!(
                "({}) {why}: its addresses there are not held until an interface of that name is back",
                self.slots[index].name()
            );
            self.log(LogLevel::Warn, line);
            self.apply_tracking(now, index);
        }
    }

    /// Interface `ifindex` went up or down: slots with a home there re-evaluate their
    /// tracking; a master whose untracked home came back up puts its addresses there again
    /// (IPv6 drops an interface's addresses when it goes down).
    pub(super) fn home_link_changed(&mut self, now: std::time::Instant, ifindex: u32, up: bool) {
        for index in 0..self.slots.len() {
            let homes: Vec<usize> = self.slots[index]
                .homes
                .iter()
                .enumerate()
                .filter(|(_, binding)| binding.ifindex() == Some(ifindex))
                .map(|(home, _)| home)
                .collect();
            if homes.is_empty() {
                continue;
            }
            if up && self.slots[index].instance.state() == super::State::Master {
                for &home in &homes {
                    if !self.slots[index].homes[home].track {
                        self.home_found(index, home, ifindex);
                    }
                }
            }
            self.apply_tracking(now, index);
        }
    }

    /// The tracked home that holds `slot` in FAULT, if any: missing, or down.
    pub(super) fn failing_home(&self, slot: &Slot) -> Option<String> {
        slot.homes
            .iter()
            .find(|home| home.track && self.home_failing(home))
            .map(|home| home_tracker_name(&home.interface))
    }

    /// Whether `binding`'s interface is missing or down (never looked up yet: not failing,
    /// the answer comes with the same wake-up).
    pub(super) fn home_failing(&self, binding: &HomeBinding) -> bool {
        match &binding.state {
            HomeState::Unknown => false,
            HomeState::Missing(_) => true,
            HomeState::Found(link) => !self
                .links
                .get(&link.ifindex)
                .map_or(link.up, |known| known.up),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, Instant};

    use super::super::{DemotedAtStart, NodeInput, Placement, State};
    use super::*;

    const CONFIG: &str = r#"{
        "instances": [{
            "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 3,
            "priority": 150, "advert_interval_ms": 100,
            "virtual_addresses": [
                "192.0.2.40",
                { "address": "198.51.100.7/24", "interface": "eth1" }
            ]
        }]
    }"#;
    const ETH0: u32 = 5;
    const ETH1: u32 = 7;
    const ETH0_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const ETH1_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn drain(node: &mut Node) -> Vec<NodeAction> {
        std::iter::from_fn(|| node.poll_action()).collect()
    }

    fn eth1(ifindex: u32) -> HomeLink {
        HomeLink {
            ifindex,
            up: true,
            mac: Some(ETH1_MAC),
        }
    }

    /// A node running `config` on eth0, started; the actions of the start.
    fn started(config: &str, now: Instant) -> (Node, Vec<NodeAction>) {
        let config = crate::config::load_str(config, "test").unwrap();
        let placement = Placement {
            ifindex: ETH0,
            interface: "eth0".to_owned(),
            up: true,
            mac: Some(ETH0_MAC),
            local_address: ip("192.0.2.1"),
            virtual_mac: None,
        };
        let placements = BTreeMap::from([("VI_1".to_owned(), Ok(placement))]);
        let demoted = DemotedAtStart::Instances(BTreeSet::new());
        let mut node = Node::new(config, placements, demoted, now, 0);
        node.handle(now, NodeInput::Start);
        let actions = drain(&mut node);
        (node, actions)
    }

    fn located(node: &mut Node, now: Instant, result: Result<HomeLink, String>) -> Vec<NodeAction> {
        node.handle(
            now,
            NodeInput::HomeLocated {
                interface: "eth1".to_owned(),
                ipv6: false,
                result,
            },
        );
        drain(node)
    }

    /// Started, eth1 found at ETH1, and master after its Master_Down_Interval.
    fn master(now: Instant) -> (Node, Instant) {
        let (mut node, _) = started(CONFIG, now);
        located(&mut node, now, Ok(eth1(ETH1)));
        let later = now + Duration::from_secs(1);
        node.handle(later, NodeInput::Timeout);
        drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Master);
        (node, later)
    }

    fn added_on(actions: &[NodeAction], wanted: u32) -> Vec<(IpAddr, u8)> {
        actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::AddAddresses {
                    ifindex, addresses, ..
                } if *ifindex == wanted => Some(addresses.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn removed_on(actions: &[NodeAction], wanted: u32) -> Vec<(IpAddr, bool)> {
        actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::RemoveAddresses {
                    ifindex,
                    addresses,
                    leftover,
                    ..
                } if *ifindex == wanted => Some(
                    addresses
                        .iter()
                        .map(|(address, _)| (*address, *leftover))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn garps(actions: &[NodeAction]) -> Vec<(u32, IpAddr, [u8; 6])> {
        actions
            .iter()
            .filter_map(|action| match action {
                NodeAction::SendGratuitousArp {
                    ifindex,
                    address,
                    frame,
                    ..
                } => {
                    // The sender hardware address of the ARP payload (RFC 826).
                    let mac: [u8; 6] = frame[22..28].try_into().unwrap();
                    Some((*ifindex, *address, mac))
                }
                _ => None,
            })
            .collect()
    }

    fn sends_priority(actions: &[NodeAction], wanted: u8) -> bool {
        actions.iter().any(|action| match action {
            NodeAction::SendAdvertisement {
                source,
                destination,
                message,
                ..
            } => crate::core::packet::decode(message, *source, *destination)
                .is_ok_and(|advert| advert.priority == wanted),
            _ => false,
        })
    }

    #[test]
    fn the_other_interface_is_located_and_leftovers_there_are_removed_at_start() {
        let now = Instant::now();
        let (mut node, actions) = started(CONFIG, now);
        assert!(
            actions.iter().any(|action| matches!(action,
                NodeAction::LocateHome { interface, ipv6: false } if interface == "eth1")),
            "{actions:?}"
        );
        // The instance's own leftovers go from eth0 only: eth1 is not known yet.
        assert_eq!(removed_on(&actions, ETH0), vec![(ip("192.0.2.40"), true)]);
        // Not found yet is no FAULT: the answer comes in the same wake-up.
        assert_eq!(node.instance_states()[0].state, State::Backup);
        let actions = located(&mut node, now, Ok(eth1(ETH1)));
        assert_eq!(removed_on(&actions, ETH1), vec![(ip("198.51.100.7"), true)]);
        assert_eq!(node.instance_states()[0].state, State::Backup);
    }

    #[test]
    fn a_master_adds_and_announces_each_address_on_its_own_interface() {
        let now = Instant::now();
        let (mut node, _) = started(CONFIG, now);
        located(&mut node, now, Ok(eth1(ETH1)));
        node.handle(now + Duration::from_secs(1), NodeInput::Timeout);
        let actions = drain(&mut node);
        assert_eq!(added_on(&actions, ETH0), vec![(ip("192.0.2.40"), 32)]);
        assert_eq!(added_on(&actions, ETH1), vec![(ip("198.51.100.7"), 24)]);
        let announced = garps(&actions);
        assert!(announced.contains(&(ETH0, ip("192.0.2.40"), ETH0_MAC)));
        assert!(announced.contains(&(ETH1, ip("198.51.100.7"), ETH1_MAC)));
        assert!(
            !announced.contains(&(ETH0, ip("198.51.100.7"), ETH0_MAC)),
            "announced on the wrong interface: {announced:?}"
        );
        // The advert, on eth0, lists both (keepalived's adverts list every VIP too).
        let advert = actions
            .iter()
            .find_map(|action| match action {
                NodeAction::SendAdvertisement {
                    ifindex,
                    source,
                    destination,
                    message,
                    ..
                } => {
                    assert_eq!(*ifindex, ETH0);
                    crate::core::packet::decode(message, *source, *destination).ok()
                }
                _ => None,
            })
            .expect("an advert");
        assert_eq!(advert.addresses, vec![ip("192.0.2.40"), ip("198.51.100.7")]);
    }

    #[test]
    fn a_tracked_interface_going_down_is_a_fault_and_its_return_a_recovery() {
        let (mut node, now) = master(Instant::now());
        node.handle(
            now,
            NodeInput::Link {
                ifindex: ETH1,
                name: "eth1".to_owned(),
                up: false,
                mac: Some(ETH1_MAC),
                mtu: Some(1500),
            },
        );
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Fault);
        // eth0 still works: the master resigns first so that the backup takes over in
        // Skew_Time, then lets go of every address.
        assert!(sends_priority(&actions, 0), "{actions:?}");
        assert_eq!(removed_on(&actions, ETH0), vec![(ip("192.0.2.40"), false)]);
        assert_eq!(
            removed_on(&actions, ETH1),
            vec![(ip("198.51.100.7"), false)]
        );
        let status = node.status_report();
        let track = &status.instances[0].tracks;
        assert!(
            track
                .iter()
                .any(|entry| entry.tracker == "interface-eth1" && entry.fault),
            "{track:?}"
        );
        let line = actions
            .iter()
            .find_map(|action| match action {
                NodeAction::Log { line, .. } if line.contains("FAULT") => Some(line.clone()),
                _ => None,
            })
            .expect("a transition line");
        assert!(line.contains("interface-eth1"), "{line}");
        node.handle(
            now,
            NodeInput::Link {
                ifindex: ETH1,
                name: "eth1".to_owned(),
                up: true,
                mac: Some(ETH1_MAC),
                mtu: Some(1500),
            },
        );
        drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Backup);
    }

    #[test]
    fn an_untracked_interface_going_down_changes_nothing() {
        let config = CONFIG.replace(
            r#""interface": "eth1" }"#,
            r#""interface": "eth1", "track": false }"#,
        );
        let now = Instant::now();
        let (mut node, _) = started(&config, now);
        located(&mut node, now, Ok(eth1(ETH1)));
        let now = now + Duration::from_secs(1);
        node.handle(now, NodeInput::Timeout);
        drain(&mut node);
        node.handle(
            now,
            NodeInput::Link {
                ifindex: ETH1,
                name: "eth1".to_owned(),
                up: false,
                mac: Some(ETH1_MAC),
                mtu: None,
            },
        );
        drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Master);
        // Back up: IPv6 would have dropped the addresses with the link, so they are put
        // back (idempotent for IPv4) and announced.
        node.handle(
            now,
            NodeInput::Link {
                ifindex: ETH1,
                name: "eth1".to_owned(),
                up: true,
                mac: Some(ETH1_MAC),
                mtu: None,
            },
        );
        let actions = drain(&mut node);
        assert_eq!(added_on(&actions, ETH1), vec![(ip("198.51.100.7"), 24)]);
        assert_eq!(garps(&actions), vec![(ETH1, ip("198.51.100.7"), ETH1_MAC)]);
    }

    #[test]
    fn a_deleted_interface_is_a_fault_until_one_of_its_name_is_back() {
        let (mut node, now) = master(Instant::now());
        node.handle(now, NodeInput::LinkGone { ifindex: ETH1 });
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Fault);
        assert!(sends_priority(&actions, 0), "{actions:?}");
        // The kernel took eth1's addresses with it: nothing to remove there.
        assert!(removed_on(&actions, ETH1).is_empty(), "{actions:?}");
        assert_eq!(removed_on(&actions, ETH0), vec![(ip("192.0.2.40"), false)]);
        // Another interface shows up: nothing. eth1 again, with a new index: located.
        node.handle(
            now,
            NodeInput::Link {
                ifindex: 8,
                name: "eth2".to_owned(),
                up: true,
                mac: None,
                mtu: None,
            },
        );
        assert!(
            !drain(&mut node)
                .iter()
                .any(|action| matches!(action, NodeAction::LocateHome { .. }))
        );
        node.handle(
            now,
            NodeInput::Link {
                ifindex: 9,
                name: "eth1".to_owned(),
                up: true,
                mac: Some(ETH1_MAC),
                mtu: None,
            },
        );
        let actions = drain(&mut node);
        assert!(
            actions.iter().any(|action| matches!(action,
                NodeAction::LocateHome { interface, .. } if interface == "eth1")),
            "{actions:?}"
        );
        let actions = located(&mut node, now, Ok(eth1(9)));
        assert_eq!(removed_on(&actions, 9), vec![(ip("198.51.100.7"), true)]);
        assert_eq!(node.instance_states()[0].state, State::Backup);
        node.handle(now + Duration::from_secs(1), NodeInput::Timeout);
        let actions = drain(&mut node);
        assert_eq!(added_on(&actions, 9), vec![(ip("198.51.100.7"), 24)]);
    }

    #[test]
    fn a_missing_tracked_interface_at_start_is_a_fault_and_an_untracked_one_is_not() {
        let now = Instant::now();
        let (mut node, _) = started(CONFIG, now);
        located(
            &mut node,
            now,
            Err("interface \"eth1\" does not exist".to_owned()),
        );
        assert_eq!(node.instance_states()[0].state, State::Fault);

        let config = CONFIG.replace(
            r#""interface": "eth1" }"#,
            r#""interface": "eth1", "track": false }"#,
        );
        let (mut node, _) = started(&config, now);
        located(
            &mut node,
            now,
            Err("interface \"eth1\" does not exist".to_owned()),
        );
        let now = now + Duration::from_secs(1);
        node.handle(now, NodeInput::Timeout);
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Master);
        assert_eq!(added_on(&actions, ETH0), vec![(ip("192.0.2.40"), 32)]);
        // It shows up: the master puts the address there and announces it.
        node.handle(
            now,
            NodeInput::Link {
                ifindex: ETH1,
                name: "eth1".to_owned(),
                up: true,
                mac: Some(ETH1_MAC),
                mtu: None,
            },
        );
        drain(&mut node);
        let actions = located(&mut node, now, Ok(eth1(ETH1)));
        assert_eq!(added_on(&actions, ETH1), vec![(ip("198.51.100.7"), 24)]);
        assert_eq!(garps(&actions), vec![(ETH1, ip("198.51.100.7"), ETH1_MAC)]);
    }

    #[test]
    fn an_address_removed_from_the_other_interface_is_put_back_there() {
        let (mut node, now) = master(Instant::now());
        node.handle(
            now,
            NodeInput::Address {
                ifindex: ETH1,
                address: ip("198.51.100.7"),
                present: false,
            },
        );
        let actions = drain(&mut node);
        assert_eq!(added_on(&actions, ETH1), vec![(ip("198.51.100.7"), 24)]);
        assert!(added_on(&actions, ETH0).is_empty());
        assert_eq!(garps(&actions), vec![(ETH1, ip("198.51.100.7"), ETH1_MAC)]);
        // The same address going from eth0 (where it never lived) is none of our business.
        node.handle(
            now,
            NodeInput::Address {
                ifindex: ETH0,
                address: ip("198.51.100.7"),
                present: false,
            },
        );
        assert!(added_on(&drain(&mut node), ETH0).is_empty());
    }

    #[test]
    fn a_renamed_interface_loses_the_addresses_and_a_new_mac_is_announced() {
        let (mut node, now) = master(Instant::now());
        let new_mac = [2, 0, 0, 0, 1, 2];
        node.handle(
            now,
            NodeInput::Link {
                ifindex: ETH1,
                name: "eth1".to_owned(),
                up: true,
                mac: Some(new_mac),
                mtu: None,
            },
        );
        let actions = drain(&mut node);
        assert_eq!(
            garps(&actions),
            vec![(ETH1, ip("198.51.100.7"), new_mac)],
            "only eth1's address, from its new MAC"
        );
        node.handle(
            now,
            NodeInput::Link {
                ifindex: ETH1,
                name: "wan0".to_owned(),
                up: true,
                mac: Some(new_mac),
                mtu: None,
            },
        );
        let actions = drain(&mut node);
        assert_eq!(node.instance_states()[0].state, State::Fault);
        // The renamed link keeps the address unless it is taken off; it is, like a VIP
        // leaves a renamed VRRP interface.
        assert!(
            removed_on(&actions, ETH1).contains(&(ip("198.51.100.7"), false)),
            "{actions:?}"
        );
    }
}
