//! Sending gratuitous ARP frames (RFC 3768 §8.1.1, RFC 5227 §3).
//!
//! A new master must tell the LAN's switches and hosts that the virtual
//! addresses now live at its MAC. The frame itself is built by
//! [`crate::core::arp::gratuitous_arp_frame`]; this module only puts it on the
//! wire through an AF_PACKET socket, addressed by interface index to the
//! Ethernet broadcast address.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};

use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

/// EtherType of ARP (IEEE 802 numbers; `ETH_P_ARP` in <linux/if_ether.h>).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// The Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// An AF_PACKET socket that sends complete Ethernet frames out of one interface.
#[derive(Debug)]
pub struct GarpSender {
    socket: Socket,
    destination: SockAddr,
    ifindex: u32,
}

impl GarpSender {
    /// Open the sender for the interface with index `ifindex` (needs CAP_NET_RAW).
    pub fn open(ifindex: u32) -> io::Result<Self> {
        // Protocol 0: a send-only packet socket (packet(7): "no packets are received").
        // With ETH_P_ARP the kernel would hand it a copy of every ARP frame on the host,
        // to be dropped for want of buffer space; the EtherType of what we send is in
        // the destination address instead.
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))?;
        // A send that would block is reported rather than stalling the event
        // loop; the next refresh burst sends again.
        socket.set_nonblocking(true)?;
        let destination = link_layer_address(ifindex, ETHERTYPE_ARP, BROADCAST_MAC)?;
        Ok(GarpSender {
            socket,
            destination,
            ifindex,
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Send one complete Ethernet frame (header included) to the broadcast address.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        let sent = self.socket.send_to(frame, &self.destination)?;
        if sent == frame.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} frame bytes", frame.len()),
            ))
        }
    }
}

/// Sends unsolicited Neighbor Advertisements (RFC 5798 §6.4.2 via RFC 4861
/// §7.2.6), IPv6's gratuitous ARP, through a raw ICMPv6 socket to ff02::1 with
/// hop limit 255 (receivers drop NAs with any other, RFC 4861 §7.1.2).
/// The message comes from `core::arp::unsolicited_neighbour_advertisement`.
#[derive(Debug)]
pub struct NeighbourAdvertiser {
    socket: Socket,
    ifindex: u32,
}

impl NeighbourAdvertiser {
    /// Open on interface `interface` (index `ifindex`). Not bound to an address: each
    /// message names its source (an address of this interface, which for a virtual MAC's
    /// macvlan exists only while master).
    pub fn open(interface: &str, ifindex: u32) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        socket.bind_device(Some(interface.as_bytes()))?;
        socket.set_multicast_if_v6(ifindex)?;
        socket.set_multicast_hops_v6(u32::from(ND_HOP_LIMIT))?;
        socket.set_multicast_loop_v6(false)?;
        socket.set_nonblocking(true)?;
        // We never read; keep the kernel from queueing the LAN's ICMPv6 for us.
        socket.set_recv_buffer_size(0)?;
        Ok(NeighbourAdvertiser { socket, ifindex })
    }

    /// Send one ICMPv6 message from `source` (IPV6_PKTINFO, RFC 3542 §6.1) to all-nodes;
    /// the kernel fills in the checksum on raw ICMPv6 sockets.
    pub fn send_message(&self, message: &[u8], source: Ipv6Addr) -> io::Result<()> {
        use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn6, sendmsg};
        use std::os::fd::AsRawFd;
        let destination = SockaddrIn6::from(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
        let packet_info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: source.octets(),
            },
            ipi6_ifindex: self.ifindex,
        };
        let control = [ControlMessage::Ipv6PacketInfo(&packet_info)];
        let iov = [io::IoSlice::new(message)];
        let sent = sendmsg(
            self.socket.as_raw_fd(),
            &iov,
            &control,
            MsgFlags::empty(),
            Some(&destination),
        )
        .map_err(io::Error::from)?;
        if sent == message.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", message.len()),
            ))
        }
    }
}

/// ff02::1, the all-nodes link-local multicast group (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Neighbor Discovery messages must carry hop limit 255 (RFC 4861 §7.1.2).
pub const ND_HOP_LIMIT: u8 = 255;

/// A `sockaddr_ll` naming `ifindex`, the EtherType and a 6-byte destination MAC.
pub fn link_layer_address(ifindex: u32, ethertype: u16, mac: [u8; 6]) -> io::Result<SockAddr> {
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of the platform's sockaddr types and fits in
    // `sockaddr_storage` (view_as asserts the size).
    let address = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    address.sll_family = libc::AF_PACKET as libc::sa_family_t;
    address.sll_protocol = ethertype.to_be();
    address.sll_ifindex = ifindex;
    address.sll_halen = 6;
    address.sll_addr[..6].copy_from_slice(&mac);
    let length = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds a fully initialised `sockaddr_ll` of `length` bytes.
    Ok(unsafe { SockAddr::new(storage, length) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_layer_address_names_interface_protocol_and_broadcast() {
        let address = link_layer_address(7, ETHERTYPE_ARP, BROADCAST_MAC).unwrap();
        assert_eq!(address.family(), libc::AF_PACKET as libc::sa_family_t);
        assert_eq!(address.len() as usize, size_of::<libc::sockaddr_ll>());
        // SAFETY (test): the address was built as a sockaddr_ll above.
        let raw = unsafe { &*(address.as_ptr() as *const libc::sockaddr_ll) };
        assert_eq!(raw.sll_ifindex, 7);
        assert_eq!(u16::from_be(raw.sll_protocol), 0x0806);
        assert_eq!(raw.sll_halen, 6);
        assert_eq!(&raw.sll_addr[..6], &[0xff; 6]);
    }

    #[test]
    fn link_layer_address_rejects_out_of_range_index() {
        assert!(link_layer_address(u32::MAX, ETHERTYPE_ARP, BROADCAST_MAC).is_err());
    }
}
