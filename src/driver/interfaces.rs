//! The sockets of the interfaces the instances run on: finding where an instance runs
//! (its interface and source address), opening what its family needs there, receiving
//! from all of them and sending adverts. The event loop (`runtime.rs`) drives these.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::InstanceConfig;
use crate::core::node::{HomeLink, NodeInput, Placement, instance_is_ipv6};
use crate::core::packet::MULTICAST_V4;
use crate::core::receive::ReceivedPacket;
use crate::driver::garp::{GarpSender, NeighbourAdvertiser};
use crate::driver::netlink::Netlink;
use crate::driver::runtime::RunError;
use crate::driver::socket::{ReceiveBatch, VrrpSocketV4, VrrpSocketV6};

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

/// A socket read failed with something other than "nothing queued".
#[derive(Debug)]
pub struct ReceiveFailure {
    pub interface: String,
    pub ipv6: bool,
    pub error: io::Error,
}

/// The sockets of one interface that at least one instance runs on.
#[derive(Debug)]
pub struct Interface {
    pub name: String,
    pub socket_v4: Option<Arc<VrrpSocketV4>>,
    pub socket_v6: Option<Arc<VrrpSocketV6>>,
    pub garp: Option<GarpSender>,
    pub neighbour_advertiser: Option<NeighbourAdvertiser>,
}

/// Find where `config` runs (its interface and source address) and open the sockets its
/// family needs there.
pub async fn place(
    netlink: &Netlink,
    interfaces: &mut HashMap<u32, Interface>,
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
    Ok(Placement {
        ifindex: link.index,
        interface: link.name,
        up: link.up,
        mac: link.mac,
        local_address,
    })
}

/// Find the interface `name` that holds some instance's addresses, and open what
/// announcing them there needs: a gratuitous ARP socket, or for IPv6 an NA socket sending
/// from the interface's link-local address. No VRRP socket: adverts go on the instance's
/// own interface.
pub async fn locate_home(
    netlink: &Netlink,
    interfaces: &mut HashMap<u32, Interface>,
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
        socket_v4: None,
        socket_v6: None,
        garp: None,
        neighbour_advertiser: None,
    });
    let mut ipv6_source = None;
    if ipv6 {
        let Some(IpAddr::V6(link_local)) = netlink.primary_address(link.index, true, &[]).await?
        else {
            // Usually a link just created: its address notification locates it again.
            return Err(RunError::NoAnnouncingAddress {
                interface: name.to_owned(),
            });
        };
        if interface.neighbour_advertiser.is_none() {
            interface.neighbour_advertiser = Some(
                NeighbourAdvertiser::open(&link.name, link.index, link_local)
                    .map_err(|source| socket_error("neighbour advertisement socket", source))?,
            );
        }
        ipv6_source = Some(link_local);
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
        ipv6_source,
    })
}

/// Make sure the interface has the sockets an instance of this family needs.
fn open_interface(
    interfaces: &mut HashMap<u32, Interface>,
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
            NeighbourAdvertiser::open(name, ifindex, link_local)
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

/// Wait until one of the VRRP sockets has datagrams and read those queued there (at most
/// [`crate::driver::socket::RECEIVE_BATCH`]) into `batch`.
pub fn poll_receive(
    interfaces: &HashMap<u32, Interface>,
    cx: &mut std::task::Context<'_>,
    batch: &mut ReceiveBatch,
) -> std::task::Poll<Result<Received, ReceiveFailure>> {
    use std::task::Poll;
    let failure = |interface: &Interface, ipv6: bool, error: io::Error| ReceiveFailure {
        interface: interface.name.clone(),
        ipv6,
        error,
    };
    for interface in interfaces.values() {
        if let Some(socket) = &interface.socket_v4 {
            match socket.poll_recv_batch(cx, batch) {
                Poll::Ready(Ok(count)) => {
                    return Poll::Ready(Ok(Received {
                        ifindex: socket.ifindex(),
                        ipv6: false,
                        count,
                    }));
                }
                Poll::Ready(Err(error)) => {
                    return Poll::Ready(Err(failure(interface, false, error)));
                }
                Poll::Pending => {}
            }
        }
        if let Some(socket) = &interface.socket_v6 {
            match socket.poll_recv_batch(cx, batch) {
                Poll::Ready(Ok(count)) => {
                    return Poll::Ready(Ok(Received {
                        ifindex: socket.ifindex(),
                        ipv6: true,
                        count,
                    }));
                }
                Poll::Ready(Err(error)) => {
                    return Poll::Ready(Err(failure(interface, true, error)));
                }
                Poll::Pending => {}
            }
        }
    }
    Poll::Pending
}
