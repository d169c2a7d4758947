//! keepalived 2.2.7 on the wire, decoded with vrrpd's codec: `tests/data/keepalived-2.2.7.pcap`
//! was recorded by `tests/capture-keepalived-packets.sh` (keepalived alone in a lab
//! namespace, tshark on the veth peer; see the script for the four phases). It is where
//! the keepalived bytes of the unit tests in `src/core/packet.rs`, `ip.rs` and `arp.rs`
//! come from: each of them is found here again, and every VRRP frame of the capture
//! decodes with a valid checksum. No root needed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrpd::core::arp::{gratuitous_arp_frame, neighbour_advertisement};
use vrrpd::core::packet::{self, Advertisement, Authentication, ChecksumMode, Version};

mod pcap;

use pcap::{CAPTURE, Frame, frames, vrrp_adverts};

// The same bytes as the unit tests' constants (`packet.rs` KEEPALIVED_*, `ip.rs`
// KEEPALIVED_V2_DATAGRAM, `arp.rs`'s two keepalived frames).
const V2_PASS: &str = "213296010101b7f9c000022870617373776f7264";
const V2_PASS_SHUTDOWN: &str = "2132000101014dfac000022870617373776f7264";
const V3_V4: &str = "313296010064d386c0000228";
const V3_V6: &str =
    "3132960200649e8dfe80000000000000000000000000004020010db8000000000000000000000040";
const V2_DATAGRAM_HEADER: &str = "45c0002800010000ff701869c0000229e0000012";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn addr(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn every_captured_advert_decodes_and_re_encodes_to_keepalived_s_bytes() {
    let frames = frames(CAPTURE);
    let adverts = vrrp_adverts(&frames);
    // Four phases of at least four adverts each (master after Master_Down_Interval,
    // 2.5 s of adverts, the priority-0 one).
    assert!(adverts.len() >= 16, "{} VRRP adverts", adverts.len());
    for advert in &adverts {
        let decoded = packet::decode(advert.message, advert.source, advert.destination)
            .unwrap_or_else(|reason| {
                panic!(
                    "keepalived's advert {} from {} rejected: {reason:?}",
                    hex(advert.message),
                    advert.source
                )
            });
        assert_eq!(decoded.virtual_router_id, 50);
        assert_eq!(decoded.interval_cs, 100);
        assert!(decoded.priority == 150 || decoded.priority == 0);
        // keepalived sends the pseudo-header checksum for VRRPv3 (IPv4 and IPv6), vrrpd's
        // default; VRRPv2 has no pseudo-header.
        let reencoded = packet::encode(
            &decoded,
            advert.source,
            advert.destination,
            ChecksumMode::WithPseudoHeader,
        );
        assert_eq!(
            hex(&reencoded),
            hex(advert.message),
            "from {}",
            advert.source
        );
    }
}

#[test]
fn the_unit_tests_keepalived_adverts_are_in_the_capture() {
    let frames = frames(CAPTURE);
    let adverts = vrrp_adverts(&frames);
    let find = |message: &str| {
        adverts
            .iter()
            .find(|advert| hex(advert.message) == message)
            .unwrap_or_else(|| panic!("{message} is not in the capture"))
    };

    let v2 = find(V2_PASS);
    assert_eq!(v2.source, addr("192.0.2.41"));
    assert_eq!(v2.destination, addr("224.0.0.18"));
    let decoded = packet::decode(v2.message, v2.source, v2.destination).unwrap();
    assert_eq!(
        (decoded.version, decoded.priority, decoded.addresses.clone()),
        (Version::V2, 150, vec![addr("192.0.2.40")])
    );
    assert_eq!(
        decoded.authentication,
        Authentication::SimplePassword(*b"password")
    );
    // ip.rs's datagram: keepalived's own IPv4 header (it numbers its packets from 1).
    assert!(
        adverts
            .iter()
            .any(|advert| hex(advert.ip_header) == V2_DATAGRAM_HEADER
                && hex(advert.message) == V2_PASS),
        "ip.rs's KEEPALIVED_V2_DATAGRAM (header {V2_DATAGRAM_HEADER}) is not in the capture"
    );

    let shutdown = find(V2_PASS_SHUTDOWN);
    let decoded = packet::decode(shutdown.message, shutdown.source, shutdown.destination).unwrap();
    assert_eq!(decoded.priority, 0, "the priority-0 advert on SIGTERM");

    let v3 = find(V3_V4);
    let decoded = packet::decode(v3.message, v3.source, v3.destination).unwrap();
    assert_eq!(
        decoded,
        Advertisement {
            version: Version::V3,
            virtual_router_id: 50,
            priority: 150,
            interval_cs: 100,
            addresses: vec![addr("192.0.2.40")],
            authentication: Authentication::None,
        }
    );

    let v6 = find(V3_V6);
    assert_eq!(v6.source, addr("fe80::dc56:d7ff:fe87:bc12"));
    assert_eq!(v6.destination, addr("ff02::12"));
    let decoded = packet::decode(v6.message, v6.source, v6.destination).unwrap();
    assert_eq!(
        decoded.addresses,
        vec![addr("fe80::40"), addr("2001:db8::40")]
    );
}

#[test]
fn the_unit_tests_gratuitous_arp_and_neighbour_advertisement_are_in_the_capture() {
    let frames = frames(CAPTURE);
    let keepalived_mac = [0x46, 0x23, 0xbc, 0x5c, 0xc7, 0x60];
    let garps: Vec<&Frame> = frames
        .iter()
        .filter(|frame| frame.ethertype() == 0x0806)
        .collect();
    assert!(!garps.is_empty(), "no gratuitous ARP in the capture");
    let ours = gratuitous_arp_frame(keepalived_mac, Ipv4Addr::new(192, 0, 2, 40));
    for garp in &garps {
        assert_eq!(garp.source_mac(), keepalived_mac);
        // arp.rs: equal but for the target hardware address (keepalived: broadcast; RFC
        // 5227 §3 and vrrpd: zero).
        assert_eq!(garp.bytes[..32], ours[..32]);
        assert_eq!(garp.bytes[32..38], [0xff; 6]);
        assert_eq!(ours[32..38], [0; 6]);
        assert_eq!(garp.bytes[38..42], ours[38..]);
    }

    // arp.rs's neighbour advertisement: for fe80::40, from keepalived with MAC
    // ea:70:7f:cb:a6:54, sent from the VIP itself with the Router flag clear.
    let na_mac = [0xea, 0x70, 0x7f, 0xcb, 0xa6, 0x54];
    let vip: Ipv6Addr = "fe80::40".parse().unwrap();
    let expected = neighbour_advertisement(na_mac, vip, vip, false);
    let found = frames.iter().any(|frame| {
        let ip = frame.payload();
        frame.ethertype() == 0x86dd
            && ip[6] == 58
            && frame.source_mac() == na_mac
            && ip[8..24] == vip.octets()
            && ip[40..] == expected[..]
    });
    assert!(
        found,
        "arp.rs's neighbour advertisement {} is not in the capture",
        hex(&expected)
    );
}
