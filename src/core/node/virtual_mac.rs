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
    /// still holds.
    pub(super) fn release_virtual_mac(&mut self, slot: &Slot) {
        let Some(virtual_mac) = &slot.virtual_mac else {
            return;
        };
        let still_used = self.slots.iter().any(|other| {
            other
                .virtual_mac
                .as_ref()
                .is_some_and(|other| other.ifindex == virtual_mac.ifindex)
        }) || self.slots.iter().any(|other| {
            other.leaving.as_ref().is_some_and(|leaving| {
                leaving.then_start.iter().any(|(_, placement)| {
                    placement.as_ref().is_ok_and(|placement| {
                        placement
                            .virtual_mac
                            .as_ref()
                            .is_some_and(|next| next.ifindex == virtual_mac.ifindex)
                    })
                })
            })
        });
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
