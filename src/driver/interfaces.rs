//! The sockets of the interfaces the instances run on: finding where an instance runs
//! (its interface and source address), opening what its family needs there, receiving
//! from all of them and sending adverts. The event loop (`runtime.rs`) drives these.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::InstanceConfig;
use crate::core::arp::virtual_router_mac;
use crate::core::node::{HomeLink, NodeInput, Placement, VirtualMacLink, instance_is_ipv6};
use crate::core::packet::MULTICAST_V4;
use crate::core::receive::ReceivedPacket;
use crate::driver::garp::{GarpSender, NeighbourAdvertiser};
use crate::driver::netlink::{Ipv4DevConf, LinkInfo, Netlink};
use crate::driver::runtime::RunError;
use crate::driver::socket::{OutgoingAdvert, ReceiveBatch, VrrpSocketV4, VrrpSocketV6};

/// Datagrams the loop read from one socket into its [`ReceiveBatch`] (no copy, no
/// allocation per advert).
#[derive(Clone, Copy, Debug)]
pub struct Received {
    pub ifindex: u32,
    /// From the raw IPv6 socket (VRRP message only, source and hop limit alongside);
    /// otherwise raw IPv4 datagrams, header included.
    pub ipv6: bool,
    /// How many datagrams the kernel handed over.
    pub count: usize,
}

impl Received {
    /// The node's inputs for the batch's datagrams, in arrival order.
    pub fn inputs(self, batch: &ReceiveBatch) -> impl Iterator<Item = NodeInput<'_>> {
        batch.entries().filter_map(move |entry| {
            let bytes = batch.bytes(&entry);
            let packet = if self.ipv6 {
                ReceivedPacket::Ipv6 {
                    source: entry.source?,
                    destination: entry.destination,
                    hop_limit: entry.hop_limit,
                    message: bytes,
                }
            } else {
                ReceivedPacket::Ipv4(bytes)
            };
            Some(NodeInput::Datagram {
                ifindex: self.ifindex,
                packet,
            })
        })
    }
}

/// The interfaces the instances use, by index: a handful, looked up on every advert, so
/// an ordered map (a few comparisons) rather than a hashed one (SipHash per lookup).
pub type Interfaces = BTreeMap<u32, Interface>;

/// The sockets of one interface that at least one instance runs on.
#[derive(Debug)]
pub struct Interface {
    pub name: String,
    /// Whether its VRRP sockets receive: not on a virtual MAC's macvlan, whose sockets only
    /// send (adverts are received on its parent).
    pub receives: bool,
    pub socket_v4: Option<Arc<VrrpSocketV4>>,
    pub socket_v6: Option<Arc<VrrpSocketV6>>,
    pub garp: Option<GarpSender>,
    pub neighbour_advertiser: Option<NeighbourAdvertiser>,
}

/// Find where `config` runs (its interface and source address) and open the sockets its
/// family needs there.
pub async fn place(
    netlink: &Netlink,
    interfaces: &mut Interfaces,
    raised: &mut RaisedArpSettings,
    config: &InstanceConfig,
) -> Result<Placement, RunError> {
    let addresses = config.addresses_with_prefix();
    let ipv6 = instance_is_ipv6(config, &addresses);
    let link = netlink.link_by_name(&config.interface).await?;
    let local_address = match config.configured_source() {
        Some(address) => address,
        None => {
            let virtual_only: Vec<IpAddr> = addresses.iter().map(|(address, _)| *address).collect();
            netlink
                .primary_address(link.index, ipv6, &virtual_only)
                .await?
                .ok_or_else(|| RunError::NoLocalAddress {
                    instance: config.name.clone(),
                    interface: config.interface.clone(),
                    family: if ipv6 { "IPv6 link-local" } else { "IPv4" },
                })?
        }
    };
    open_interface(interfaces, link.index, &link.name, ipv6, local_address)?;
    let virtual_mac = match config.virtual_mac_name() {
        Some(name) => Some(
            place_virtual_mac(
                netlink,
                interfaces,
                raised,
                &link,
                &name,
                config.virtual_router_id,
                local_address,
            )
            .await?,
        ),
        None => None,
    };
    Ok(Placement {
        ifindex: link.index,
        interface: link.name,
        up: link.up,
        mac: link.mac,
        local_address,
        virtual_mac,
    })
}

/// Make (or find again) the macvlan that carries the virtual MAC on `parent`, set what
/// the kernel needs for it to be the only interface answering for the addresses, and open
/// its sending sockets. Whether it is up, and what it holds, is the node's business.
async fn place_virtual_mac(
    netlink: &Netlink,
    interfaces: &mut Interfaces,
    raised: &mut RaisedArpSettings,
    parent: &LinkInfo,
    name: &str,
    virtual_router_id: u8,
    local_address: IpAddr,
) -> Result<VirtualMacLink, RunError> {
    let ipv6 = local_address.is_ipv6();
    let mac = virtual_router_mac(virtual_router_id, ipv6);
    let link = netlink.ensure_virtual_mac(parent.index, name, mac).await?;
    // ARP (research in docs/configuration.md#use_virtual_mac): with the kernel's defaults
    // the parent answers ARP for an address on the macvlan too (arp_ignore 0: any local
    // address, on any interface), from its own MAC, and its own ARP requests name the
    // virtual address as sender (arp_announce 0) when a reply from it goes out there;
    // either points clients at the physical MAC again. arp_ignore 1 answers only for the
    // interface's own addresses, arp_announce 2 names the interface's own address. The
    // macvlan takes traffic whose reply route is the parent's, so its own reverse-path
    // filter is off.
    raised.macvlans.insert(link.name.clone(), parent.index);
    for (setting, value) in [(Ipv4DevConf::ArpIgnore, 1), (Ipv4DevConf::ArpAnnounce, 2)] {
        if let Some(before) = raise_ipv4_setting(netlink, parent, setting, value).await? {
            raised.record(parent, setting, before, value);
        }
    }
    netlink
        .set_ipv4_devconf(
            link.index,
            &[
                (Ipv4DevConf::ArpIgnore, 1),
                (Ipv4DevConf::ArpAnnounce, 2),
                (Ipv4DevConf::RpFilter, 0),
            ],
        )
        .await?;
    if !ipv6 && strict_reverse_path_filter() {
        tracing::warn!(
            "net.ipv4.conf.all.rp_filter is 1 (strict): traffic to the virtual addresses arrives \
             on {name} while the route back to its sender goes out {}, so the kernel drops it; \
             set net.ipv4.conf.all.rp_filter to 2 (loose) or 0",
            parent.name
        );
    }
    let socket_error = |what: &'static str, source: io::Error| RunError::Socket {
        what,
        interface: name.to_owned(),
        source,
    };
    let interface = interfaces.entry(link.index).or_insert_with(|| Interface {
        name: link.name.clone(),
        receives: false,
        socket_v4: None,
        socket_v6: None,
        garp: None,
        neighbour_advertiser: None,
    });
    match local_address {
        IpAddr::V4(_) if interface.socket_v4.is_none() => {
            interface.socket_v4 = Some(Arc::new(
                VrrpSocketV4::open_sender(&link.name, link.index)
                    .map_err(|source| socket_error("VRRP sending socket (IPv4)", source))?,
            ));
            interface.garp = Some(
                GarpSender::open(link.index)
                    .map_err(|source| socket_error("gratuitous ARP socket", source))?,
            );
        }
        IpAddr::V6(link_local) if interface.socket_v6.is_none() => {
            interface.socket_v6 = Some(Arc::new(
                VrrpSocketV6::open_sender(&link.name, link.index, link_local)
                    .map_err(|source| socket_error("VRRP sending socket (IPv6)", source))?,
            ));
            interface.neighbour_advertiser = Some(
                NeighbourAdvertiser::open(&link.name, link.index)
                    .map_err(|source| socket_error("neighbour advertisement socket", source))?,
            );
        }
        _ => {}
    }
    Ok(VirtualMacLink {
        ifindex: link.index,
        name: link.name,
        mac,
    })
}

/// Raise an IPv4 setting of `link` to at least `value` (never lower what an operator set
/// stricter), and say so when it changes. Returns what it was when it changed it and
/// knew the old value.
async fn raise_ipv4_setting(
    netlink: &Netlink,
    link: &LinkInfo,
    setting: Ipv4DevConf,
    value: i32,
) -> Result<Option<i32>, RunError> {
    let current = netlink.ipv4_devconf(link.index, setting).await?;
    if current.is_some_and(|current| current >= value) {
        return Ok(None);
    }
    netlink
        .set_ipv4_devconf(link.index, &[(setting, value.unsigned_abs())])
        .await?;
    tracing::info!(
        "set net.ipv4.conf.{}.{} to {value} (was {}) for the virtual MAC: only its interface \
         answers ARP for the virtual addresses",
        link.name,
        setting.sysctl_name(),
        current.map_or_else(|| "unknown".to_owned(), |current| current.to_string())
    );
    Ok(current)
}

/// The IPv4 settings raised on virtual MACs' parents (`arp_ignore`, `arp_announce`), put
/// back when the last macvlan on a parent goes, as keepalived does: an interface that no
/// longer carries a virtual MAC should answer ARP as it did before. A value someone changed
/// since is left as it is; a run killed with SIGKILL cannot put anything back, and the
/// next run then finds the raised values and takes them as the host's.
#[derive(Debug, Default)]
pub struct RaisedArpSettings {
    /// Each macvlan placed (by name, which outlives a macvlan made again) and its parent.
    macvlans: BTreeMap<String, u32>,
    /// Per parent (by index): what was raised there.
    parents: BTreeMap<u32, RaisedOnParent>,
}

#[derive(Debug)]
struct RaisedOnParent {
    name: String,
    /// Each setting raised, with its value before and the one set.
    settings: Vec<(Ipv4DevConf, i32, i32)>,
}

impl RaisedArpSettings {
    fn record(&mut self, parent: &LinkInfo, setting: Ipv4DevConf, before: i32, after: i32) {
        let raised = self
            .parents
            .entry(parent.index)
            .or_insert_with(|| RaisedOnParent {
                name: parent.name.clone(),
                settings: Vec::new(),
            });
        if !raised
            .settings
            .iter()
            .any(|(known, _, _)| *known == setting)
        {
            raised.settings.push((setting, before, after));
        }
    }

    /// The macvlan `name` is gone: if no other one is left on its parent, put the parent's
    /// raised settings back.
    pub async fn release(&mut self, netlink: &Netlink, name: &str) {
        let Some(parent) = self.macvlans.remove(name) else {
            return;
        };
        if self.macvlans.values().any(|&other| other == parent) {
            return;
        }
        let Some(RaisedOnParent {
            name: parent_name,
            settings,
        }) = self.parents.remove(&parent)
        else {
            return;
        };
        for (setting, before, after) in settings {
            let sysctl = format!("net.ipv4.conf.{parent_name}.{}", setting.sysctl_name());
            match netlink.ipv4_devconf(parent, setting).await {
                Ok(Some(current)) if current == after => {}
                Ok(current) => {
                    tracing::info!(
                        "{sysctl} is {} now, not the {after} set for the virtual MAC: left as it is",
                        current.map_or_else(|| "unknown".to_owned(), |value| value.to_string())
                    );
                    continue;
                }
                Err(error) => {
                    tracing::warn!("cannot read {sysctl} to put it back to {before}: {error}");
                    continue;
                }
            }
            match netlink
                .set_ipv4_devconf(parent, &[(setting, before.unsigned_abs())])
                .await
            {
                Ok(()) => tracing::info!(
                    "set {sysctl} back to {before}: no virtual MAC on {parent_name} any more"
                ),
                Err(error) => tracing::warn!("cannot set {sysctl} back to {before}: {error}"),
            }
        }
    }
}

/// Whether the host filters reverse paths strictly everywhere (net.ipv4.conf.all.rp_filter
/// 1), which no per-interface setting can relax (the kernel uses the larger of the two).
fn strict_reverse_path_filter() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/rp_filter")
        .is_ok_and(|value| value.trim() == "1")
}

/// Find the interface `name` that holds some instance's addresses, and open what
/// announcing them there needs: a gratuitous ARP socket, or for IPv6 an NA socket. No
/// VRRP socket: adverts go on the instance's own interface.
pub async fn locate_home(
    netlink: &Netlink,
    interfaces: &mut Interfaces,
    name: &str,
    ipv6: bool,
) -> Result<HomeLink, RunError> {
    let link = netlink.link_by_name(name).await?;
    let socket_error = |what: &'static str, source: io::Error| RunError::Socket {
        what,
        interface: name.to_owned(),
        source,
    };
    let interface = interfaces.entry(link.index).or_insert_with(|| Interface {
        name: link.name.clone(),
        receives: true,
        socket_v4: None,
        socket_v6: None,
        garp: None,
        neighbour_advertiser: None,
    });
    if ipv6 {
        if interface.neighbour_advertiser.is_none() {
            interface.neighbour_advertiser = Some(
                NeighbourAdvertiser::open(&link.name, link.index)
                    .map_err(|source| socket_error("neighbour advertisement socket", source))?,
            );
        }
    } else if interface.garp.is_none() {
        interface.garp = Some(
            GarpSender::open(link.index)
                .map_err(|source| socket_error("gratuitous ARP socket", source))?,
        );
    }
    Ok(HomeLink {
        ifindex: link.index,
        up: link.up,
        mac: link.mac,
    })
}

/// Make sure the interface has the sockets an instance of this family needs.
fn open_interface(
    interfaces: &mut Interfaces,
    ifindex: u32,
    name: &str,
    ipv6: bool,
    local_address: IpAddr,
) -> Result<(), RunError> {
    let socket_error = |what: &'static str, source: io::Error| RunError::Socket {
        what,
        interface: name.to_owned(),
        source,
    };
    let interface = interfaces.entry(ifindex).or_insert_with(|| Interface {
        name: name.to_owned(),
        receives: true,
        socket_v4: None,
        socket_v6: None,
        garp: None,
        neighbour_advertiser: None,
    });
    if !ipv6 && interface.socket_v4.is_none() {
        let socket = Arc::new(
            VrrpSocketV4::open(name, ifindex)
                .map_err(|source| socket_error("raw VRRP socket (IPv4)", source))?,
        );
        interface.socket_v4 = Some(socket);
        interface.garp = Some(
            GarpSender::open(ifindex)
                .map_err(|source| socket_error("gratuitous ARP socket", source))?,
        );
    }
    if ipv6 && interface.socket_v6.is_none() {
        let IpAddr::V6(link_local) = local_address else {
            return Err(socket_error(
                "raw VRRP socket (IPv6)",
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an IPv6 instance needs an IPv6 source address",
                ),
            ));
        };
        let socket = Arc::new(
            VrrpSocketV6::open(name, ifindex, link_local)
                .map_err(|source| socket_error("raw VRRP socket (IPv6)", source))?,
        );
        interface.socket_v6 = Some(socket);
        interface.neighbour_advertiser = Some(
            NeighbourAdvertiser::open(name, ifindex)
                .map_err(|source| socket_error("neighbour advertisement socket", source))?,
        );
    }
    Ok(())
}

/// Send one advert on `ifindex`: to the multicast group from `source`, or to a unicast
/// peer, always with TTL/hop limit 255 (the sockets set it).
pub async fn send_advertisement(
    interface: &Interface,
    source: IpAddr,
    destination: IpAddr,
    message: &[u8],
) -> io::Result<()> {
    match (
        source,
        destination,
        &interface.socket_v4,
        &interface.socket_v6,
    ) {
        (IpAddr::V4(source), IpAddr::V4(group), Some(socket), _) if group == MULTICAST_V4 => {
            socket.send_from(message, source).await
        }
        // Unicast mode: TTL 255 like multicast (the socket sets IP_TTL too).
        (IpAddr::V4(source), IpAddr::V4(peer), Some(socket), _) => {
            socket.send_to(message, peer, Some(source)).await
        }
        // ff02::12 or a unicast peer, from the instance's own source (its link-local
        // address, or its unicast_source): the one its v3 checksum covers.
        (IpAddr::V6(source), IpAddr::V6(destination), _, Some(socket)) => {
            socket.send_to(message, destination, source).await
        }
        _ => Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "no socket of the instance's family",
        )),
    }
}

/// Send several adverts on `interface`, all of one family (see
/// [`VrrpSocketV4::send_batch`]); errors come back with the position of their advert.
/// [`send_advertisement`] now, in one attempt and with no future: what the protocol loop
/// sends an advert with. When the socket's buffer is full (see
/// [`crate::driver::socket::send_buffer_full`]), the caller retries with
/// [`send_advertisement`], which waits.
pub fn try_send_advertisement(
    interface: &Interface,
    advert: &OutgoingAdvert<'_>,
) -> io::Result<()> {
    match (
        advert.source,
        advert.destination,
        &interface.socket_v4,
        &interface.socket_v6,
    ) {
        (IpAddr::V4(_), IpAddr::V4(_), Some(socket), _) => socket.try_send(advert),
        (IpAddr::V6(_), IpAddr::V6(_), _, Some(socket)) => socket.try_send(advert),
        _ => Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "no socket of the instance's family",
        )),
    }
}

pub async fn send_advertisements(
    interface: &Interface,
    adverts: &[OutgoingAdvert<'_>],
) -> Vec<(usize, io::Error)> {
    let ipv6 = adverts
        .first()
        .is_some_and(|advert| advert.source.is_ipv6());
    match (ipv6, &interface.socket_v4, &interface.socket_v6) {
        (false, Some(socket), _) => socket.send_batch(adverts).await,
        (true, _, Some(socket)) => socket.send_batch(adverts).await,
        _ => (0..adverts.len())
            .map(|position| {
                let error = io::Error::new(
                    io::ErrorKind::NotConnected,
                    "no socket of the instance's family",
                );
                (position, error)
            })
            .collect(),
    }
}
