//! Gratuitous ARP frames (RFC 5227 §3 "ARP Announcement", RFC 3768 §8.1.1).
//! API CONTRACT: keep names and signatures; add freely.

use std::net::Ipv4Addr;

/// Length of an Ethernet + ARP frame, without padding.
pub const GRATUITOUS_ARP_FRAME_LEN: usize = 42;

/// Build a broadcast gratuitous ARP request announcing `address` at `mac`.
pub fn gratuitous_arp_frame(mac: [u8; 6], address: Ipv4Addr) -> [u8; GRATUITOUS_ARP_FRAME_LEN] {
    let _ = (mac, address);
    todo!("core helper implements")
}
