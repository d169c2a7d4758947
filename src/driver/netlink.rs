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
    /// A request of [`AddressWriter`]'s, which the kernel refused or did not answer.
    #[error("{what}: {source}")]
    Kernel {
        what: String,
        #[source]
        source: std::io::Error,
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
        for mut message in matching {
            // Without its label: the kernel matches a label it is given (IFA_LABEL, the
            // interface's name), and an interface renamed between the dump and the delete
            // carries the new one, so the delete would miss the address and read as gone.
            message
                .attributes
                .retain(|attribute| !matches!(attribute, AddressAttribute::Label(_)));
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

/// How many address requests go to the kernel in one `sendmsg` (see [`AddressWriter`]).
/// Each refused request comes back as an error message of its own, which waits in the
/// socket's receive queue until the batch is read: 64 of them (with NETLINK_CAP_ACK, a
/// header each, a few hundred bytes of buffer accounting apiece) fit well inside the
/// default 208 KiB receive buffer, so no answer can be dropped.
pub const ADDRESS_BATCH: usize = 64;

/// How long [`AddressWriter`] waits for the kernel's answer to a batch. The kernel handles
/// a netlink request while the `sendmsg` that carries it runs, so the answer is queued
/// before the call returns; the bound is only there so that the protocol thread can never
/// hang on a socket whose answer went missing.
const ADDRESS_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Virtual addresses added with one `sendmsg` for up to [`ADDRESS_BATCH`] of them, from the
/// protocol thread itself.
///
/// A takeover adds every virtual address before it announces one (RFC 5798 §6.4.2:
/// gratuitous ARP for each; the announcement of an address not yet up would be a lie), so
/// the last address's announcement waits for every add before it. Through rtnetlink's
/// connection each request costs a `sendmsg`, a `recvmsg` for its acknowledgement and two
/// hand-overs between the protocol and reactor threads; here a batch costs one `sendmsg`
/// (the kernel applies its requests in order, inside that call) and one `recvmsg` for the
/// acknowledgement of its last request, plus one per refused request.
#[derive(Debug)]
pub struct AddressWriter {
    socket: rtnetlink::sys::Socket,
    sequence: u32,
    request: Vec<u8>,
    answer: Vec<u8>,
}

/// Netlink's message header (<linux/netlink.h>): length, type, flags, sequence, port.
const NETLINK_HEADER_LEN: usize = 16;
/// NLMSG_ERROR: an acknowledgement (error code 0) or a refusal (a negative errno).
const NETLINK_ERROR_MESSAGE: u16 = 2;

impl AddressWriter {
    /// A netlink socket of its own, bound to the current network namespace.
    pub fn open() -> Result<Self, NetlinkError> {
        let mut socket = rtnetlink::sys::Socket::new(rtnetlink::sys::protocols::NETLINK_ROUTE)
            .map_err(NetlinkError::Open)?;
        socket.bind_auto().map_err(NetlinkError::Open)?;
        // A refusal carries the refused request's header, not the whole request.
        socket.set_cap_ack(true).map_err(NetlinkError::Open)?;
        let timeout = libc::timeval {
            tv_sec: ADDRESS_ANSWER_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: ADDRESS_ANSWER_TIMEOUT.subsec_micros() as libc::suseconds_t,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: setsockopt reads `timeout`, a timeval that lives across the call, for its
        // declared length.
        crate::driver::sys::check(unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })
        .map_err(NetlinkError::Open)?;
        Ok(AddressWriter {
            socket,
            sequence: 0,
            request: Vec::new(),
            answer: vec![0; 8192],
        })
    }

    /// Add `addresses` to interface `ifindex`, in order; one result per address, and
    /// already present is fine ([`Change::AlreadyThatWay`]).
    ///
    /// IPv6 addresses skip duplicate address detection (IFA_F_NODAD, as keepalived adds its
    /// VIPs): a virtual address moves between routers by design, and a tentative one
    /// answers nothing for the second or more DAD takes (RFC 4862 §5.4), which would add
    /// that to every takeover. The VRRP election, not DAD, keeps it unique.
    pub fn add_addresses(
        &mut self,
        ifindex: u32,
        addresses: &[(IpAddr, u8)],
    ) -> Vec<Result<Change, NetlinkError>> {
        let failed = |address: IpAddr, prefix_len: u8, source| NetlinkError::Kernel {
            what: format!("adding {address}/{prefix_len} to interface index {ifindex}"),
            source,
        };
        let mut results = Vec::with_capacity(addresses.len());
        for batch in addresses.chunks(ADDRESS_BATCH) {
            let first_sequence = self.sequence.wrapping_add(1);
            let answers = self
                .send_batch(ifindex, batch)
                .and_then(|()| self.read_answers(first_sequence, batch.len()));
            match answers {
                Ok(answers) => {
                    for (&(address, prefix_len), answer) in batch.iter().zip(answers) {
                        results.push(match answer {
                            Ok(()) => Ok(Change::Done),
                            Err(errno) if errno == libc::EEXIST => Ok(Change::AlreadyThatWay),
                            Err(errno) => Err(failed(
                                address,
                                prefix_len,
                                std::io::Error::from_raw_os_error(errno),
                            )),
                        });
                    }
                }
                Err(error) => {
                    for &(address, prefix_len) in batch {
                        let source = std::io::Error::new(error.kind(), error.to_string());
                        results.push(Err(failed(address, prefix_len, source)));
                    }
                }
            }
        }
        results
    }

    /// One RTM_NEWADDR per address, flagged as `ip address add` flags them (create, fail
    /// if present), in one `sendmsg`. Only the last asks for an acknowledgement: the
    /// kernel answers a refused request whether asked or not (`netlink_rcv_skb`), so the
    /// last one's acknowledgement is the end of the batch's answers.
    fn send_batch(&mut self, ifindex: u32, batch: &[(IpAddr, u8)]) -> std::io::Result<()> {
        use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
        self.request.clear();
        for (position, &(address, prefix_len)) in batch.iter().enumerate() {
            let mut message = address_message(ifindex, address, prefix_len);
            if address.is_ipv6() {
                // No duplicate address detection for a VIP (see above).
                message.header.flags |= AddressHeaderFlags::Nodad;
                message
                    .attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewAddress(message));
            request.header.flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
            if position + 1 == batch.len() {
                request.header.flags |= NLM_F_ACK;
            }
            self.sequence = self.sequence.wrapping_add(1);
            request.header.sequence_number = self.sequence;
            request.finalize();
            let start = self.request.len();
            // Each message starts on a 4-byte boundary (NLMSG_ALIGN).
            let length = request.buffer_len().next_multiple_of(4);
            self.request.resize(start + length, 0);
            request.serialize(&mut self.request[start..start + request.buffer_len()]);
        }
        let sent = self.socket.send(&self.request, 0)?;
        if sent != self.request.len() {
            return Err(std::io::Error::other(format!(
                "the kernel took {sent} of {} bytes",
                self.request.len()
            )));
        }
        Ok(())
    }

    /// The kernel's answer to each of `count` requests numbered from `first_sequence`:
    /// Ok, or the errno it refused the request with. Answers to other sequence numbers
    /// (a batch that timed out before) are skipped.
    fn read_answers(
        &mut self,
        first_sequence: u32,
        count: usize,
    ) -> std::io::Result<Vec<Result<(), i32>>> {
        let mut answers = vec![Ok(()); count];
        // Bounded: one read per answer of this batch, and as many again for stale ones.
        for _ in 0..2 * count + 1 {
            let length = match self.socket.recv(&mut &mut self.answer[..], 0) {
                Ok(length) => length,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the kernel did not answer within {ADDRESS_ANSWER_TIMEOUT:?}"),
                    ));
                }
                Err(error) => return Err(error),
            };
            let mut rest = &self.answer[..length.min(self.answer.len())];
            while let Some(header) = rest.get(..NETLINK_HEADER_LEN) {
                let field =
                    |at: usize| [header[at], header[at + 1], header[at + 2], header[at + 3]];
                let message_len = u32::from_ne_bytes(field(0)) as usize;
                let kind = u16::from_ne_bytes([header[4], header[5]]);
                let sequence = u32::from_ne_bytes(field(8));
                if message_len < NETLINK_HEADER_LEN || message_len > rest.len() {
                    break;
                }
                let position = sequence.wrapping_sub(first_sequence) as usize;
                if kind == NETLINK_ERROR_MESSAGE && position < count {
                    let code = rest
                        .get(NETLINK_HEADER_LEN..NETLINK_HEADER_LEN + 4)
                        .map(|bytes| i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                        .unwrap_or(0);
                    if code != 0 {
                        answers[position] = Err(-code);
                    }
                    if position + 1 == count {
                        return Ok(answers);
                    }
                }
                rest = rest
                    .get(message_len.next_multiple_of(4)..)
                    .unwrap_or_default();
            }
        }
        Err(std::io::Error::other(
            "no acknowledgement among the kernel's answers",
        ))
    }
}

/// RTM_NEWADDR's body for `address`/`prefix_len` on `ifindex`, as rtnetlink builds it
/// (IFA_LOCAL and IFA_ADDRESS for IPv4, IFA_ADDRESS for IPv6).
fn address_message(ifindex: u32, address: IpAddr, prefix_len: u8) -> AddressMessage {
    match address {
        IpAddr::V4(address) => rtnetlink::AddressMessageBuilder::<Ipv4Addr>::new()
            .index(ifindex)
            .address(address, prefix_len)
            .build(),
        IpAddr::V6(address) => rtnetlink::AddressMessageBuilder::<Ipv6Addr>::new()
            .index(ifindex)
            .address(address, prefix_len)
            .build(),
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
