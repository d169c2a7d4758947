//! The IPv4 header as a raw IPPROTO_VRRP socket delivers it (RFC 791).

use std::net::Ipv4Addr;

use super::packet::DropReason;

/// Length of an IPv4 header without options (IHL = 5).
pub const IPV4_MIN_HEADER_LEN: usize = 20;

/// The parts of a received IPv4 datagram that VRRP validation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Datagram<'a> {
    pub source: Ipv4Addr,
    pub destination: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
    /// The IP payload (the VRRP message), honouring IHL and total length.
    pub payload: &'a [u8],
}

/// Parse the IPv4 header (IHL honoured, options skipped).
///
/// Errors: fewer bytes than the header or the total length claim → [`DropReason::TooShort`];
/// not version 4, or an IHL / total length that contradicts itself → [`DropReason::NotVrrp`].
/// The protocol and TTL are returned, not checked: the §7.1 receive checks are all in
/// `core::receive::check`, in RFC order.
/// Linux hands raw sockets the header as it was on the wire (total length in network
/// order, including the header), unlike the BSDs.
pub fn parse_ipv4(datagram: &[u8]) -> Result<Ipv4Datagram<'_>, DropReason> {
    let Some(header) = datagram.first_chunk::<IPV4_MIN_HEADER_LEN>() else {
        return Err(DropReason::TooShort);
    };
    if header[0] >> 4 != 4 {
        return Err(DropReason::NotVrrp);
    }
    let header_len = usize::from(header[0] & 0x0f) * 4;
    if header_len < IPV4_MIN_HEADER_LEN {
        return Err(DropReason::NotVrrp);
    }
    let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if total_len < header_len {
        return Err(DropReason::NotVrrp);
    }
    // Anything after total length (e.g. Ethernet padding) is not part of the datagram.
    let payload = datagram
        .get(header_len..total_len)
        .ok_or(DropReason::TooShort)?;
    Ok(Ipv4Datagram {
        source: Ipv4Addr::new(header[12], header[13], header[14], header[15]),
        destination: Ipv4Addr::new(header[16], header[17], header[18], header[19]),
        ttl: header[8],
        protocol: header[9],
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keepalived 2.2.7 VRRPv2 advert as a raw socket returns it (see the capture notes in
    /// `packet.rs`): 20-byte header, TTL 255, protocol 112, 192.0.2.41 → 224.0.0.18.
    const KEEPALIVED_V2_DATAGRAM: [u8; 40] = [
        0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x69, 192, 0, 2, 41, 224,
        0, 0, 18, //
        0x21, 0x32, 0x96, 0x01, 0x01, 0x01, 0xb7, 0xf9, 192, 0, 2, 40, b'p', b'a', b's', b's',
        b'w', b'o', b'r', b'd',
    ];

    #[test]
    fn parses_a_keepalived_datagram() {
        let datagram = parse_ipv4(&KEEPALIVED_V2_DATAGRAM).unwrap();
        assert_eq!(datagram.source, Ipv4Addr::new(192, 0, 2, 41));
        assert_eq!(datagram.destination, Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(datagram.ttl, 255);
        assert_eq!(datagram.protocol, 112);
        assert_eq!(datagram.payload, &KEEPALIVED_V2_DATAGRAM[20..]);
    }

    #[test]
    fn skips_options_by_ihl() {
        // IHL 6: one 4-byte option (a Router Alert, RFC 2113) between header and payload.
        let mut bytes = KEEPALIVED_V2_DATAGRAM[..20].to_vec();
        bytes[0] = 0x46;
        bytes[2..4].copy_from_slice(&44u16.to_be_bytes());
        bytes.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        bytes.extend_from_slice(&KEEPALIVED_V2_DATAGRAM[20..]);
        let datagram = parse_ipv4(&bytes).unwrap();
        assert_eq!(datagram.payload, &KEEPALIVED_V2_DATAGRAM[20..]);
    }

    #[test]
    fn honours_total_length() {
        let mut padded = KEEPALIVED_V2_DATAGRAM.to_vec();
        padded.extend_from_slice(&[0xee; 6]);
        assert_eq!(
            parse_ipv4(&padded).unwrap().payload,
            &KEEPALIVED_V2_DATAGRAM[20..]
        );
        // Total length larger than what arrived.
        assert_eq!(
            parse_ipv4(&KEEPALIVED_V2_DATAGRAM[..39]),
            Err(DropReason::TooShort)
        );
    }

    #[test]
    fn rejects_malformed_headers() {
        for len in 0..IPV4_MIN_HEADER_LEN {
            assert_eq!(
                parse_ipv4(&KEEPALIVED_V2_DATAGRAM[..len]),
                Err(DropReason::TooShort)
            );
        }
        let with = |index: usize, value: u8| {
            let mut bytes = KEEPALIVED_V2_DATAGRAM.to_vec();
            bytes[index] = value;
            bytes
        };
        assert_eq!(parse_ipv4(&with(0, 0x65)), Err(DropReason::NotVrrp)); // version 6
        assert_eq!(parse_ipv4(&with(0, 0x44)), Err(DropReason::NotVrrp)); // IHL 4 < 5
        assert_eq!(parse_ipv4(&with(0, 0x4f)), Err(DropReason::NotVrrp)); // IHL 15: 60 > total length 40
        assert_eq!(parse_ipv4(&with(3, 19)), Err(DropReason::NotVrrp)); // total length < header
    }

    #[test]
    fn never_panics() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (state >> (i % 8 * 8)) as u8 ^ i as u8)
                .collect();
            if let Ok(datagram) = parse_ipv4(&bytes) {
                assert!(datagram.payload.len() <= bytes.len());
            }
        }
    }
}
