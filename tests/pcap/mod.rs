//! Reading `tests/data/keepalived-2.2.7.pcap` (recorded by
//! `tests/capture-keepalived-packets.sh`): its Ethernet frames and the VRRP adverts in
//! them. Shared by `tests/keepalived_capture.rs` and the fuzz seed corpora
//! (`fuzz/src/seeds.rs`), which both include this file.
#![allow(dead_code)] // each includer uses a different part

use std::net::{IpAddr, Ipv6Addr};

use vrrpd::core::ip::parse_ipv4;

/// keepalived 2.2.7 on the wire: every phase of the capture script.
pub const CAPTURE: &[u8] = include_bytes!("../data/keepalived-2.2.7.pcap");

/// One captured Ethernet frame.
pub struct Frame<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Frame<'a> {
    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes([self.bytes[12], self.bytes[13]])
    }

    pub fn source_mac(&self) -> [u8; 6] {
        self.bytes[6..12].try_into().unwrap()
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[14..]
    }
}

/// The frames of a classic libpcap file (tshark `-F pcap`), Ethernet link type.
pub fn frames(file: &[u8]) -> Vec<Frame<'_>> {
    assert!(file.len() >= 24, "a pcap global header");
    let magic = u32::from_le_bytes(file[0..4].try_into().unwrap());
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "little-endian libpcap, got magic {magic:#x}"
    );
    let link_type = u32::from_le_bytes(file[20..24].try_into().unwrap());
    assert_eq!(link_type, 1, "LINKTYPE_ETHERNET");
    let mut frames = Vec::new();
    let mut at = 24;
    while at < file.len() {
        let header = &file[at..at + 16];
        let captured = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        let original = u32::from_le_bytes(header[12..16].try_into().unwrap()) as usize;
        assert_eq!(captured, original, "frame {} was cut", frames.len() + 1);
        frames.push(Frame {
            bytes: &file[at + 16..at + 16 + captured],
        });
        at += 16 + captured;
    }
    frames
}

/// A captured VRRP advert: its source, destination, IP header bytes and VRRP message.
pub struct Vrrp<'a> {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub ip_header: &'a [u8],
    pub message: &'a [u8],
}

pub fn vrrp_adverts<'a>(frames: &[Frame<'a>]) -> Vec<Vrrp<'a>> {
    let mut adverts = Vec::new();
    for frame in frames {
        let ip = frame.payload();
        match frame.ethertype() {
            0x0800 if ip[9] == 112 => {
                let datagram = parse_ipv4(ip).expect("keepalived's IPv4 header parses");
                assert_eq!(datagram.ttl, 255, "RFC 3768 §5.1.1.3");
                assert_eq!(datagram.protocol, 112, "IPPROTO_VRRP (RFC 3768 §5.1.1.4)");
                adverts.push(Vrrp {
                    source: datagram.source.into(),
                    destination: datagram.destination.into(),
                    ip_header: &ip[..ip.len() - datagram.payload.len()],
                    message: datagram.payload,
                });
            }
            0x86dd if ip[6] == 112 => {
                assert_eq!(ip[7], 255, "hop limit 255 (RFC 5798 §5.1.2.3)");
                let length = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                let address = |at: usize| {
                    IpAddr::V6(Ipv6Addr::from(
                        <[u8; 16]>::try_from(&ip[at..at + 16]).unwrap(),
                    ))
                };
                adverts.push(Vrrp {
                    source: address(8),
                    destination: address(24),
                    ip_header: &ip[..40],
                    message: &ip[40..40 + length],
                });
            }
            _ => {}
        }
    }
    adverts
}
