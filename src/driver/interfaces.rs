//! The sockets of the interfaces the instances run on: finding where an instance runs
//! (its interface and source address), opening what its family needs there, receiving
//! from all of them and sending adverts. The event loop (`runtime.rs`) drives these.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use crate::config::InstanceConfig;
use crate::core::node::{NodeInput, Placement, instance_is_ipv6};
use crate::core::packet::MULTICAST_V4;
use crate::core::receive::ReceivedPacket;
use crate::driver::garp::{GarpSender, NeighbourAdvertiser};
use crate::driver::netlink::Netlink;
use crate::driver::runtime::RunError;
use crate::driver::socket::{VrrpSocketV4, VrrpSocketV6};

/// A datagram the loop received; its bytes are the first `length` of the loop's
/// receive buffer (no copy, no allocation per advert).
#[derive(Clone, Copy, Debug)]
pub enum Received {
    /// A raw IPv4 datagram, header included.
    Ipv4 { ifindex: u32, length: usize },
    /// A VRRP message from a raw IPv6 socket (no header: source, destination and hop
    /// limit come alongside).
    Ipv6 {
        ifindex: u32,
        source: Ipv6Addr,
        destination: Option<Ipv6Addr>,
        hop_limit: Option<u8>,
        length: usize,
    },
}

impl Received {
    pub fn input(self, buffer: &[u8]) -> NodeInput<'_> {
        let bytes = |length: usize| buffer.get(..length).unwrap_or(buffer);
        match self {
            Received::Ipv4 { ifindex, length } => NodeInput::Datagram {
                ifindex,
                packet: ReceivedPacket::Ipv4(bytes(length)),
            },
            Received::Ipv6 {
                ifindex,
                source,
                destination,
                hop_limit,
                length,
            } => NodeInput::Datagram {
                ifindex,
                packet: ReceivedPacket::Ipv6 {
                    source,
                    destination,
                    hop_limit,
                    message: bytes(length),
                },
            },
        }
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

/// Wait until one of the VRRP sockets has a datagram and read it into `buffer`.
pub fn poll_receive(
    interfaces: &HashMap<u32, Interface>,
    cx: &mut std::task::Context<'_>,
    buffer: &mut [u8],
) -> std::task::Poll<Result<Received, ReceiveFailure>> {
    use std::task::Poll;
    let failure = |interface: &Interface, ipv6: bool, error: io::Error| ReceiveFailure {
        interface: interface.name.clone(),
        ipv6,
        error,
    };
    for interface in interfaces.values() {
        if let Some(socket) = &interface.socket_v4 {
            match socket.poll_recv(cx, buffer) {
                Poll::Ready(Ok(length)) => {
                    return Poll::Ready(Ok(Received::Ipv4 {
                        ifindex: socket.ifindex(),
                        length,
                    }));
                }
                Poll::Ready(Err(error)) => {
                    return Poll::Ready(Err(failure(interface, false, error)));
                }
                Poll::Pending => {}
            }
        }
        if let Some(socket) = &interface.socket_v6 {
            match socket.poll_recv(cx, buffer) {
                Poll::Ready(Ok(received)) => {
                    return Poll::Ready(Ok(Received::Ipv6 {
                        ifindex: socket.ifindex(),
                        source: received.source,
                        destination: received.destination,
                        hop_limit: received.hop_limit,
                        length: received.length,
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
