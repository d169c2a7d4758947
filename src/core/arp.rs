//! Gratuitous ARP frames (RFC 5227 §3 "ARP Announcement", RFC 3768 §8.1.1) and unsolicited
//! IPv6 Neighbor Advertisements (RFC 4861 §7.2.6, RFC 5798 §6.4.1).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum::internet_checksum_with_pseudo_header;

/// Length of an Ethernet + ARP frame, without padding.
pub const GRATUITOUS_ARP_FRAME_LEN: usize = 42;
/// Length of an unsolicited Neighbor Advertisement with one Target Link-Layer Address option.
pub const NEIGHBOUR_ADVERTISEMENT_LEN: usize = 32;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Destination of unsolicited Neighbor Advertisements: all-nodes (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

const BROADCAST_MAC: [u8; 6] = [0xff; 6];
const ETHERTYPE_IPV4: u16 = 0x0800;
const ARP_HARDWARE_ETHERNET: u16 = 1;
const ARP_OPERATION_REQUEST: u16 = 1;
const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
const IP_PROTOCOL_ICMPV6: u8 = 58;
const ND_OPTION_TARGET_LINK_LAYER_ADDRESS: u8 = 2;
const NA_FLAG_ROUTER: u8 = 0x80;
const NA_FLAG_OVERRIDE: u8 = 0x20;

/// The virtual router MAC address (RFC 5798 §7.3, RFC 3768 §7.3): 00-00-5E-00-01-{VRID}
/// for IPv4, 00-00-5E-00-02-{VRID} for IPv6 (IANA's block for VRRP).
pub fn virtual_router_mac(virtual_router_id: u8, ipv6: bool) -> [u8; 6] {
    [
        0x00,
        0x00,
        0x5e,
        0x00,
        if ipv6 { 0x02 } else { 0x01 },
        virtual_router_id,
    ]
}

/// Build a broadcast gratuitous ARP request announcing `address` at `mac`.
///
/// An ARP Announcement (RFC 5227 §3): a request with sender and target protocol address both
/// `address` and a zero target hardware address. keepalived 2.2.7 puts ff:ff:ff:ff:ff:ff in
/// the target hardware address instead; receivers ignore that field in a request either way.
pub fn gratuitous_arp_frame(mac: [u8; 6], address: Ipv4Addr) -> [u8; GRATUITOUS_ARP_FRAME_LEN] {
    let mut frame = [0u8; GRATUITOUS_ARP_FRAME_LEN];
    // Ethernet header.
    frame[0..6].copy_from_slice(&BROADCAST_MAC);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    // ARP (RFC 826).
    frame[14..16].copy_from_slice(&ARP_HARDWARE_ETHERNET.to_be_bytes());
    frame[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    frame[18] = 6; // hardware address length
    frame[19] = 4; // protocol address length
    frame[20..22].copy_from_slice(&ARP_OPERATION_REQUEST.to_be_bytes());
    frame[22..28].copy_from_slice(&mac);
    frame[28..32].copy_from_slice(&address.octets());
    // frame[32..38]: target hardware address, zero.
    frame[38..42].copy_from_slice(&address.octets());
    frame
}

/// The ICMPv6 message of an unsolicited Neighbor Advertisement for `target` at `mac`, sent from
/// `source` (our link-local address) to [`ALL_NODES`], for a raw ICMPv6 socket (hop limit 255).
///
/// Flags per RFC 5798 §6.4.1: Router set, Solicited clear, Override set; with a Target
/// Link-Layer Address option. The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3);
/// Linux recomputes it on raw ICMPv6 sockets anyway, but a correct one keeps the bytes
/// usable on a packet socket too.
pub fn unsolicited_neighbour_advertisement(
    mac: [u8; 6],
    target: Ipv6Addr,
    source: Ipv6Addr,
) -> [u8; NEIGHBOUR_ADVERTISEMENT_LEN] {
    neighbour_advertisement(mac, target, source, true)
}

/// Like [`unsolicited_neighbour_advertisement`] with the Router flag chosen by the caller
/// (keepalived sets it only when the host forwards IPv6).
pub fn neighbour_advertisement(
    mac: [u8; 6],
    target: Ipv6Addr,
    source: Ipv6Addr,
    router: bool,
) -> [u8; NEIGHBOUR_ADVERTISEMENT_LEN] {
    let mut message = [0u8; NEIGHBOUR_ADVERTISEMENT_LEN];
    message[0] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
    // message[1]: code 0; message[2..4]: checksum, filled below.
    message[4] = NA_FLAG_OVERRIDE | if router { NA_FLAG_ROUTER } else { 0 };
    message[8..24].copy_from_slice(&target.octets());
    message[24] = ND_OPTION_TARGET_LINK_LAYER_ADDRESS;
    message[25] = 1; // option length in units of 8 bytes
    message[26..32].copy_from_slice(&mac);
    let checksum = icmpv6_checksum(&message, source, ALL_NODES);
    message[2..4].copy_from_slice(&checksum.to_be_bytes());
    message
}

/// RFC 4443 §2.3: the Internet checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and message.
fn icmpv6_checksum(message: &[u8], source: Ipv6Addr, destination: Ipv6Addr) -> u16 {
    internet_checksum_with_pseudo_header(
        message,
        source.into(),
        destination.into(),
        IP_PROTOCOL_ICMPV6,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_virtual_router_mac_is_the_rfcs() {
        // RFC 5798 §7.3: 00-00-5E-00-01-{VRID} (IPv4), 00-00-5E-00-02-{VRID} (IPv6).
        assert_eq!(virtual_router_mac(50, false), [0, 0, 0x5e, 0, 1, 50]);
        assert_eq!(virtual_router_mac(255, true), [0, 0, 0x5e, 0, 2, 255]);
    }

    #[test]
    fn gratuitous_arp_is_an_rfc5227_announcement() {
        let mac = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
        let frame = gratuitous_arp_frame(mac, Ipv4Addr::new(192, 0, 2, 40));
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
            0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // source: our MAC
            0x08, 0x06,                         // EtherType ARP
            0x00, 0x01, 0x08, 0x00, 6, 4,       // Ethernet / IPv4, lengths 6 and 4
            0x00, 0x01,                         // request
            0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // sender hardware address
            192, 0, 2, 40,                      // sender protocol address: the VIP
            0, 0, 0, 0, 0, 0,                   // target hardware address: zero (RFC 5227 §3)
            192, 0, 2, 40,                      // target protocol address: the VIP
        ];
        assert_eq!(frame, expected);
    }

    #[test]
    fn gratuitous_arp_matches_keepalived_except_target_hardware_address() {
        // keepalived 2.2.7 announcing 192.0.2.40 on becoming master: a frame of
        // `tests/data/keepalived-2.2.7.pcap` (tests/capture-keepalived-packets.sh; found
        // there again by tests/keepalived_capture.rs).
        #[rustfmt::skip]
        let keepalived: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x46, 0x23, 0xbc, 0x5c, 0xc7, 0x60, 0x08, 0x06, 0x00, 0x01,
            0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x46, 0x23, 0xbc, 0x5c, 0xc7, 0x60, 0xc0, 0x00, 0x02, 0x28,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0, 0x00, 0x02, 0x28,
        ];
        let ours = gratuitous_arp_frame(
            [0x46, 0x23, 0xbc, 0x5c, 0xc7, 0x60],
            Ipv4Addr::new(192, 0, 2, 40),
        );
        assert_eq!(ours[..32], keepalived[..32]);
        assert_eq!(ours[32..38], [0; 6]);
        assert_eq!(ours[38..], keepalived[38..]);
    }

    #[test]
    fn neighbour_advertisement_matches_keepalived_capture() {
        // keepalived 2.2.7, VRRPv3 IPv6 instance (VIPs fe80::40, 2001:db8::40) becoming master:
        // a frame of `tests/data/keepalived-2.2.7.pcap` (tests/capture-keepalived-packets.sh).
        // keepalived sends it from the VIP itself, with the Router flag clear (no forwarding).
        #[rustfmt::skip]
        let keepalived: [u8; 32] = [
            0x88, 0x00, 0x48, 0x8d, 0x20, 0x00, 0x00, 0x00,
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40,
            0x02, 0x01, 0xea, 0x70, 0x7f, 0xcb, 0xa6, 0x54,
        ];
        let vip: Ipv6Addr = "fe80::40".parse().unwrap();
        let mac = [0xea, 0x70, 0x7f, 0xcb, 0xa6, 0x54];
        assert_eq!(neighbour_advertisement(mac, vip, vip, false), keepalived);
    }

    #[test]
    fn unsolicited_neighbour_advertisement_sets_router_and_override() {
        let mac = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
        let target: Ipv6Addr = "2001:db8::40".parse().unwrap();
        let source: Ipv6Addr = "fe80::42".parse().unwrap();
        let message = unsolicited_neighbour_advertisement(mac, target, source);
        assert_eq!(message[0], 136);
        assert_eq!(message[1], 0);
        assert_eq!(message[4..8], [0xa0, 0, 0, 0]); // R and O set, S clear
        assert_eq!(message[8..24], target.octets());
        assert_eq!(message[24..26], [2, 1]);
        assert_eq!(message[26..32], mac);
        // Hand check of the checksum. Words of the message with the checksum zeroed:
        // 8800 0000 a000 0000 2001 0db8 0000×5 0040 0201 0200 5e10 2030 → 0x1d83a;
        // pseudo-header fe80 0000×6 0042 ff02 0000×6 0001 0000 0020 0000 003a → 0x1fe1f;
        // 0x1d83a + 0x1fe1f = 0x3d659 → fold 0xd65c → checksum !0xd65c = 0x29a3.
        assert_eq!(message[2..4], [0x29, 0xa3]);
        // Verifying: the sum over pseudo-header and message is all ones.
        assert_eq!(icmpv6_checksum(&message, source, ALL_NODES), 0);
    }
}
