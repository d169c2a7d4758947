//! rtnetlink: interface lookup, virtual address add/remove, link watching.
//!
//! Adding and removing addresses is idempotent: "already there" on add and
//! "not there" on remove are successes, because the daemon's own view and the
//! kernel's can legitimately differ (an operator ran `ip addr`, a previous run
//! was killed with SIGKILL and left a VIP behind, a reload raced a link flap).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use rtnetlink::packet_core::{DefaultNla, Emitable};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::link::{
    AfSpecInet, AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoMacVlan,
    LinkAttribute, LinkFlags, LinkInfo as LinkInfoAttribute, LinkMessage, MacVlanMode,
    State as OperState,
};
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec, MulticastGroup};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("cannot open a netlink socket: {0}")]
    Open(#[source] std::io::Error),
    #[error("interface {0:?} does not exist")]
    NoSuchInterface(String),
    #[error("interface index {0} does not exist")]
    NoSuchInterfaceIndex(u32),
    #[error(
        "interface {name:?} exists and is not a macvlan: vrrpd will not take it over as the \
         virtual MAC interface; set virtual_mac_interface to another name"
    )]
    NotOurVirtualMac { name: String },
    #[error("{what}: {source}")]
    Request {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
}

/// What we need to know about an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// None for links without an Ethernet address (then no GARP is possible).
    pub mac: Option<[u8; 6]>,
    pub up: bool,
    pub mtu: Option<u32>,
}

/// One address configured on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub address: IpAddr,
    pub prefix_len: u8,
    /// IFA_F_SECONDARY: an IPv4 address in a subnet another address already covers.
    pub secondary: bool,
    pub link_local: bool,
}

/// Whether an idempotent change did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Done,
    AlreadyThatWay,
}

/// A request/response netlink connection (its I/O task runs on the current
/// tokio runtime and ends when the last handle is dropped).
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Open the connection. Must be called inside a tokio runtime.
    pub fn connect() -> Result<Self, NetlinkError> {
        let (connection, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(NetlinkError::Open)?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// The request handle, for the other netlink users of the driver (virtual routes and
    /// rules, `driver::routing`).
    pub(super) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Look up an interface by name.
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, NetlinkError> {
        let mut replies = self.handle.link().get().match_name(name).execute();
        match replies.next().await {
            Some(Ok(message)) => Ok(link_info(&message)),
            Some(Err(error)) if is_errno(&error, &[libc::ENODEV]) => {
                Err(NetlinkError::NoSuchInterface(name.to_owned()))
            }
            Some(Err(source)) => Err(NetlinkError::Request {
                what: format!("looking up interface {name:?}"),
                source,
            }),
            None => Err(NetlinkError::NoSuchInterface(name.to_owned())),
        }
    }

    /// Look up an interface by index.
    pub async fn link_by_index(&self, index: u32) -> Result<LinkInfo, NetlinkError> {
        Ok(link_info(&self.link_message_by_index(index).await?))
    }

    /// The kernel's whole description of interface `index`.
    async fn link_message_by_index(&self, index: u32) -> Result<LinkMessage, NetlinkError> {
        let mut replies = self.handle.link().get().match_index(index).execute();
        match replies.next().await {
            Some(Ok(message)) => Ok(message),
            Some(Err(error)) if is_errno(&error, &[libc::ENODEV]) => {
                Err(NetlinkError::NoSuchInterfaceIndex(index))
            }
            Some(Err(source)) => Err(NetlinkError::Request {
                what: format!("looking up interface index {index}"),
                source,
            }),
            None => Err(NetlinkError::NoSuchInterfaceIndex(index)),
        }
    }

    /// Every link (a full dump, for a resync after lost notifications).
    pub async fn links(&self) -> Result<Vec<LinkInfo>, NetlinkError> {
        let mut replies = self.handle.link().get().execute();
        let mut found = Vec::new();
        while let Some(reply) = replies.next().await {
            let message = reply.map_err(|source| NetlinkError::Request {
                what: "listing interfaces".to_owned(),
                source,
            })?;
            found.push(link_info(&message));
        }
        Ok(found)
    }

    /// Every address of every interface, as (interface index, address).
    pub async fn all_addresses(&self) -> Result<Vec<(u32, IpAddr)>, NetlinkError> {
        let mut replies = self.handle.address().get().execute();
        let mut found = Vec::new();
        while let Some(reply) = replies.next().await {
            let message = reply.map_err(|source| NetlinkError::Request {
                what: "listing addresses".to_owned(),
                source,
            })?;
            if let Some(address) = interface_address(&message) {
                found.push((message.header.index, address.address));
            }
        }
        Ok(found)
    }

    /// Every address on the interface, in the kernel's order (for IPv4 the
    /// primary addresses come before their secondaries).
    pub async fn addresses(&self, ifindex: u32) -> Result<Vec<InterfaceAddress>, NetlinkError> {
        let mut replies = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute();
        let mut found = Vec::new();
        while let Some(reply) = replies.next().await {
            let message = reply.map_err(|source| NetlinkError::Request {
                what: format!("listing addresses of interface index {ifindex}"),
                source,
            })?;
            found.extend(interface_address(&message));
        }
        Ok(found)
    }

    /// The address adverts are sent from: IPv4 → the first primary address that
    /// is not one of `exclude` (our own virtual addresses, which a killed
    /// previous run may have left behind); IPv6 → the first link-local address
    /// (RFC 5798 §5.1.2.1).
    pub async fn primary_address(
        &self,
        ifindex: u32,
        ipv6: bool,
        exclude: &[IpAddr],
    ) -> Result<Option<IpAddr>, NetlinkError> {
        Ok(pick_primary_address(
            &self.addresses(ifindex).await?,
            ipv6,
            exclude,
        ))
    }

    /// Add `address/prefix_len` to the interface; already present is fine.
    ///
    /// IPv6 addresses skip duplicate address detection (IFA_F_NODAD, as keepalived adds its
    /// VIPs): a virtual address moves between routers by design, and a tentative one
    /// answers nothing for the second or more DAD takes (RFC 4862 §5.4), which would add
    /// that to every takeover. The VRRP election, not DAD, keeps it unique.
    pub async fn add_address(
        &self,
        ifindex: u32,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<Change, NetlinkError> {
        let mut request = self.handle.address().add(ifindex, address, prefix_len);
        if address.is_ipv6() {
            let message = request.message_mut();
            message.header.flags |= AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match request.execute().await {
            Ok(()) => Ok(Change::Done),
            Err(error) if is_errno(&error, &[libc::EEXIST]) => Ok(Change::AlreadyThatWay),
            Err(source) => Err(NetlinkError::Request {
                what: format!("adding {address}/{prefix_len} to interface index {ifindex}"),
                source,
            }),
        }
    }

    /// Remove `address` from the interface, whatever prefix length it was added
    /// with (the kernel matches the prefix too, and a leftover from another run
    /// or an operator may differ from ours); absent is fine.
    pub async fn remove_address(
        &self,
        ifindex: u32,
        address: IpAddr,
    ) -> Result<Change, NetlinkError> {
        let mut replies = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .set_address_filter(address)
            .execute();
        let mut matching = Vec::new();
        while let Some(reply) = replies.next().await {
            match reply {
                Ok(message) => matching.push(message),
                Err(source) => {
                    return Err(NetlinkError::Request {
                        what: format!("listing addresses of interface index {ifindex}"),
                        source,
                    });
                }
            }
        }
        let mut change = Change::AlreadyThatWay;
        for message in matching {
            match self.handle.address().del(message).execute().await {
                Ok(()) => change = Change::Done,
                // Gone between the dump and the delete: that is what we wanted.
                Err(error)
                    if is_errno(&error, &[libc::ENOENT, libc::EADDRNOTAVAIL, libc::ENODEV]) => {}
                Err(source) => {
                    return Err(NetlinkError::Request {
                        what: format!("removing {address} from interface index {ifindex}"),
                        source,
                    });
                }
            }
        }
        Ok(change)
    }
}

/// IPv4 per-interface settings (`IPV4_DEVCONF_*` of <linux/ip.h>) vrrpd changes on a
/// virtual MAC's interfaces, set over netlink (IFLA_AF_SPEC / AF_INET / IFLA_INET_CONF,
/// which `inet_set_link_af` applies) rather than through /proc/sys, which the shipped
/// unit's ProtectKernelTunables= makes read-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Ipv4DevConf {
    RpFilter = 8,
    ArpAnnounce = 18,
    ArpIgnore = 19,
}

impl Ipv4DevConf {
    /// Its name under net.ipv4.conf.IFACE.
    pub fn sysctl_name(self) -> &'static str {
        match self {
            Ipv4DevConf::RpFilter => "rp_filter",
            Ipv4DevConf::ArpAnnounce => "arp_announce",
            Ipv4DevConf::ArpIgnore => "arp_ignore",
        }
    }
}

/// IFLA_INET_CONF within the AF_INET entry of IFLA_AF_SPEC.
const IFLA_INET_CONF: u16 = 1;

impl Netlink {
    /// The macvlan `name` on interface `parent` with MAC `mac`, in bridge mode, made if
    /// missing (down, without IPv6 address generation) or found again (a run killed with
    /// SIGKILL leaves it; its up/down state and addresses are left to the caller). One of
    /// that name on another link, with another MAC or mode, is made again; an interface of
    /// that name that is not a macvlan is not touched ([`NetlinkError::NotOurVirtualMac`]).
    pub async fn ensure_virtual_mac(
        &self,
        parent: u32,
        name: &str,
        mac: [u8; 6],
    ) -> Result<LinkInfo, NetlinkError> {
        if let Some(existing) = self.link_message_by_name(name).await? {
            match macvlan_of(&existing) {
                Some((link, mode))
                    if link == parent
                        && mode == MacVlanMode::Bridge
                        && link_info(&existing).mac == Some(mac) =>
                {
                    return Ok(link_info(&existing));
                }
                Some(_) => self.delete_link(existing.header.index).await.map(|_| ())?,
                None => {
                    return Err(NetlinkError::NotOurVirtualMac {
                        name: name.to_owned(),
                    });
                }
            }
        }
        let message = LinkMacVlan::new(name, parent, MacVlanMode::Bridge)
            .address(mac.to_vec())
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|source| NetlinkError::Request {
                what: format!("creating the macvlan {name} on interface index {parent}"),
                source,
            })?;
        let created = self.link_by_name(name).await?;
        // No IPv6 address of its own (the kernel's EUI-64 one would be the same on every
        // router of the virtual router, and DAD cannot see that: it filters frames from
        // its own MAC). Set after creation: the kernel ignores IFLA_AF_SPEC on creation.
        let message = LinkUnspec::new_with_index(created.index)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]))
            .build();
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|source| NetlinkError::Request {
                what: format!("turning off IPv6 address generation on {name}"),
                source,
            })?;
        Ok(created)
    }

    /// Set interface `ifindex` up or down.
    pub async fn set_link_up(&self, ifindex: u32, up: bool) -> Result<(), NetlinkError> {
        let builder = LinkUnspec::new_with_index(ifindex);
        let message = if up { builder.up() } else { builder.down() }.build();
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|source| NetlinkError::Request {
                what: format!(
                    "setting interface index {ifindex} {}",
                    if up { "up" } else { "down" }
                ),
                source,
            })
    }

    /// Delete interface `ifindex`; already gone is fine.
    pub async fn delete_link(&self, ifindex: u32) -> Result<Change, NetlinkError> {
        match self.handle.link().del(ifindex).execute().await {
            Ok(()) => Ok(Change::Done),
            Err(error) if is_errno(&error, &[libc::ENODEV]) => Ok(Change::AlreadyThatWay),
            Err(source) => Err(NetlinkError::Request {
                what: format!("deleting interface index {ifindex}"),
                source,
            }),
        }
    }

    /// The current value of an IPv4 setting of interface `ifindex`.
    pub async fn ipv4_devconf(
        &self,
        ifindex: u32,
        setting: Ipv4DevConf,
    ) -> Result<Option<i32>, NetlinkError> {
        let message = self.link_message_by_index(ifindex).await?;
        for attribute in &message.attributes {
            let LinkAttribute::AfSpecUnspec(families) = attribute else {
                continue;
            };
            for family in families {
                let AfSpecUnspec::Inet(entries) = family else {
                    continue;
                };
                for entry in entries {
                    if let AfSpecInet::DevConf(conf) = entry {
                        return Ok(Some(match setting {
                            Ipv4DevConf::RpFilter => conf.rp_filter,
                            Ipv4DevConf::ArpAnnounce => conf.arp_announce,
                            Ipv4DevConf::ArpIgnore => conf.arp_ignore,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Set IPv4 settings of interface `ifindex` (net.ipv4.conf.IFACE.*).
    pub async fn set_ipv4_devconf(
        &self,
        ifindex: u32,
        settings: &[(Ipv4DevConf, u32)],
    ) -> Result<(), NetlinkError> {
        let mut nested = Vec::new();
        for (setting, value) in settings {
            let entry = DefaultNla::new(*setting as u16, value.to_ne_bytes().to_vec());
            let mut bytes = vec![0; entry.buffer_len()];
            entry.emit(&mut bytes);
            nested.extend_from_slice(&bytes);
        }
        let message = LinkUnspec::new_with_index(ifindex)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet(vec![
                AfSpecInet::Other(DefaultNla::new(IFLA_INET_CONF, nested)),
            ])]))
            .build();
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|source| NetlinkError::Request {
                what: format!("setting IPv4 options of interface index {ifindex}"),
                source,
            })
    }

    /// The link named `name`, None when there is none.
    async fn link_message_by_name(&self, name: &str) -> Result<Option<LinkMessage>, NetlinkError> {
        let mut replies = self.handle.link().get().match_name(name).execute();
        match replies.next().await {
            Some(Ok(message)) => Ok(Some(message)),
            Some(Err(error)) if is_errno(&error, &[libc::ENODEV]) => Ok(None),
            Some(Err(source)) => Err(NetlinkError::Request {
                what: format!("looking up interface {name:?}"),
                source,
            }),
            None => Ok(None),
        }
    }
}

/// A macvlan's lower link and mode; None for any other kind of link.
fn macvlan_of(message: &LinkMessage) -> Option<(u32, MacVlanMode)> {
    let mut lower = None;
    let mut mode = None;
    let mut is_macvlan = false;
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::Link(index) => lower = Some(*index),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfoAttribute::Kind(InfoKind::MacVlan) => is_macvlan = true,
                        LinkInfoAttribute::Data(InfoData::MacVlan(data)) => {
                            mode = data.iter().find_map(|entry| match entry {
                                InfoMacVlan::Mode(mode) => Some(*mode),
                                _ => None,
                            });
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    is_macvlan.then_some((lower?, mode?))
}

/// What the kernel notified: a link changed, or an address came or went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// RTM_NEWLINK: a link is new or changed (up/down, name, MAC, MTU...); what it is now.
    Link(LinkInfo),
    /// RTM_DELLINK.
    LinkGone { index: u32 },
    /// The socket's buffer overflowed (ENOBUFS): notifications were lost, so whoever
    /// keeps state from them must read everything again.
    Overrun,
    /// RTM_NEWADDR (`present`) or RTM_DELADDR on interface `index`.
    Address {
        index: u32,
        address: IpAddr,
        present: bool,
    },
}

/// Link and address notifications from the kernel (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
/// RTNLGRP_IPV6_IFADDR).
pub struct LinkWatcher {
    messages: UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
    // Keeps the connection (and so the subscription) alive.
    _handle: Handle,
}

impl std::fmt::Debug for LinkWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkWatcher").finish_non_exhaustive()
    }
}

impl LinkWatcher {
    /// Subscribe. Must be called inside a tokio runtime.
    pub fn open() -> Result<Self, NetlinkError> {
        Self::open_with_receive_buffer(None)
    }

    /// The same with the socket's receive buffer set to `bytes` (SO_RCVBUF; the kernel
    /// doubles it and caps it at net.core.rmem_max); None keeps the kernel's default.
    /// A small one makes an overrun easy to provoke in tests.
    pub fn open_with_receive_buffer(bytes: Option<usize>) -> Result<Self, NetlinkError> {
        use rtnetlink::sys::AsyncSocket;
        let (mut connection, handle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(NetlinkError::Open)?;
        if let Some(bytes) = bytes {
            connection
                .socket_mut()
                .socket_mut()
                .set_rx_buf_sz(bytes)
                .map_err(NetlinkError::Open)?;
        }
        tokio::spawn(connection);
        Ok(LinkWatcher {
            messages,
            _handle: handle,
        })
    }

    /// The next event; None when the netlink connection is gone.
    /// Link events are reported on every notification: the caller compares with
    /// what it knew (the kernel notifies for many changes besides up/down).
    pub async fn next(&mut self) -> Option<KernelEvent> {
        while let Some((message, _)) = self.messages.next().await {
            // netlink-proto turns a receive that failed with ENOBUFS into this message.
            if let NetlinkPayload::Overrun(_) = message.payload {
                return Some(KernelEvent::Overrun);
            }
            if let NetlinkPayload::InnerMessage(inner) = message.payload {
                let event = match inner {
                    RouteNetlinkMessage::NewLink(link) => KernelEvent::Link(link_info(&link)),
                    RouteNetlinkMessage::DelLink(link) => KernelEvent::LinkGone {
                        index: link.header.index,
                    },
                    RouteNetlinkMessage::NewAddress(message) => {
                        let Some(event) = address_event(&message, true) else {
                            continue;
                        };
                        event
                    }
                    RouteNetlinkMessage::DelAddress(message) => {
                        let Some(event) = address_event(&message, false) else {
                            continue;
                        };
                        event
                    }
                    _ => continue,
                };
                return Some(event);
            }
        }
        None
    }
}

fn address_event(message: &AddressMessage, present: bool) -> Option<KernelEvent> {
    Some(KernelEvent::Address {
        index: message.header.index,
        address: interface_address(message)?.address,
        present,
    })
}

/// Whether rtnetlink's error is a kernel error with one of `errnos`.
pub(super) fn is_errno(error: &rtnetlink::Error, errnos: &[i32]) -> bool {
    match error {
        rtnetlink::Error::NetlinkError(message) => errnos.contains(&message.raw_code().abs()),
        _ => false,
    }
}

/// Condense a link message.
pub fn link_info(message: &LinkMessage) -> LinkInfo {
    let mut name = String::new();
    let mut mac = None;
    let mut oper_state = None;
    let mut mtu = None;
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Mtu(value) => mtu = Some(*value),
            LinkAttribute::Address(bytes) => mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            LinkAttribute::OperState(state) => oper_state = Some(*state),
            _ => {}
        }
    }
    LinkInfo {
        index: message.header.index,
        name,
        mac,
        up: link_is_up(message.header.flags, oper_state),
        mtu,
    }
}

/// Usable for VRRP: administratively up and running (carrier present, RFC 2863
/// operstate not down). Operstate "unknown" counts as up: drivers that do not
/// report it (and loopback-like links) say unknown while working.
pub fn link_is_up(flags: LinkFlags, oper_state: Option<OperState>) -> bool {
    let running = flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running);
    let oper_ok = !matches!(
        oper_state,
        Some(
            OperState::Down
                | OperState::LowerLayerDown
                | OperState::NotPresent
                | OperState::Dormant
        )
    );
    running && oper_ok
}

fn interface_address(message: &AddressMessage) -> Option<InterfaceAddress> {
    // IPv4 puts the interface's own address in IFA_LOCAL (IFA_ADDRESS is the
    // peer on point-to-point links); IPv6 only sends IFA_ADDRESS.
    let mut local = None;
    let mut address = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    let address = local.or(address)?;
    let link_local = match address {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => is_ipv6_link_local(a),
    } || message.header.scope == AddressScope::Link;
    Some(InterfaceAddress {
        address,
        prefix_len: message.header.prefix_len,
        secondary: message.header.flags.contains(AddressHeaderFlags::Secondary),
        link_local,
    })
}

/// fe80::/10 (std's `is_unicast_link_local` is newer than our MSRV allows us to rely on).
pub fn is_ipv6_link_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xffc0) == 0xfe80
}

/// See [`Netlink::primary_address`].
pub fn pick_primary_address(
    addresses: &[InterfaceAddress],
    ipv6: bool,
    exclude: &[IpAddr],
) -> Option<IpAddr> {
    addresses
        .iter()
        .filter(|a| !exclude.contains(&a.address))
        .find(|a| match a.address {
            IpAddr::V4(v4) => !ipv6 && !a.secondary && v4 != Ipv4Addr::UNSPECIFIED,
            IpAddr::V6(_) => ipv6 && a.link_local,
        })
        .map(|a| a.address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(address: &str, secondary: bool) -> InterfaceAddress {
        InterfaceAddress {
            address: address.parse().unwrap(),
            prefix_len: 24,
            secondary,
            link_local: false,
        }
    }

    #[test]
    fn primary_ipv4_skips_secondaries_and_our_leftover_vips() {
        let addresses = [
            v4("192.0.2.40", false), // a VIP left behind by a killed run
            v4("192.0.2.41", false),
            v4("192.0.2.99", true),
        ];
        let vip: IpAddr = "192.0.2.40".parse().unwrap();
        assert_eq!(
            pick_primary_address(&addresses, false, &[vip]),
            Some("192.0.2.41".parse().unwrap())
        );
        assert_eq!(pick_primary_address(&addresses, false, &[]), Some(vip));
        let only_secondary = [v4("192.0.2.99", true)];
        assert_eq!(pick_primary_address(&only_secondary, false, &[]), None);
    }

    #[test]
    fn primary_ipv6_is_the_link_local_one() {
        let global = InterfaceAddress {
            address: "2001:db8::1".parse().unwrap(),
            prefix_len: 64,
            secondary: false,
            link_local: false,
        };
        let link_local = InterfaceAddress {
            address: "fe80::1".parse().unwrap(),
            prefix_len: 64,
            secondary: false,
            link_local: true,
        };
        assert_eq!(
            pick_primary_address(&[global, link_local], true, &[]),
            Some(link_local.address)
        );
        assert_eq!(
            pick_primary_address(&[global, link_local], false, &[]),
            None
        );
    }

    #[test]
    fn link_up_needs_up_running_and_a_live_operstate() {
        let up_running = LinkFlags::Up | LinkFlags::Running;
        assert!(link_is_up(up_running, Some(OperState::Up)));
        assert!(link_is_up(up_running, Some(OperState::Unknown)));
        assert!(link_is_up(up_running, None));
        assert!(
            !link_is_up(LinkFlags::Up, Some(OperState::Up)),
            "no carrier"
        );
        assert!(
            !link_is_up(LinkFlags::Running, None),
            "administratively down"
        );
        assert!(!link_is_up(up_running, Some(OperState::LowerLayerDown)));
        assert!(!link_is_up(up_running, Some(OperState::Down)));
    }

    #[test]
    fn link_local_detection() {
        assert!(is_ipv6_link_local("fe80::1".parse().unwrap()));
        assert!(is_ipv6_link_local("febf::1".parse().unwrap()));
        assert!(!is_ipv6_link_local("fec0::1".parse().unwrap()));
        assert!(!is_ipv6_link_local("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn link_info_reads_name_mac_and_state() {
        let mut message = LinkMessage::default();
        message.header.index = 4;
        message.header.flags = LinkFlags::Up | LinkFlags::Running;
        message
            .attributes
            .push(LinkAttribute::IfName("eth0".into()));
        message
            .attributes
            .push(LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]));
        message
            .attributes
            .push(LinkAttribute::OperState(OperState::Up));
        let info = link_info(&message);
        assert_eq!(
            info,
            LinkInfo {
                index: 4,
                name: "eth0".into(),
                mac: Some([2, 0, 0, 0, 0, 1]),
                up: true,
                mtu: None,
            }
        );
        message
            .attributes
            .push(LinkAttribute::OperState(OperState::Down));
        assert!(!link_info(&message).up);
    }
}
