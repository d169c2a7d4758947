//! The Internet checksum (RFC 1071): the one implementation behind every checksum vrrpd
//! computes or verifies.
//!
//! - VRRP advertisements ([`super::packet`]): v2 over the message (RFC 3768 §5.3.8), v3
//!   with the IPv4 or IPv6 pseudo-header (RFC 5798 §5.2.8, RFC 9568 §5.2.8);
//! - unsolicited Neighbor Advertisements ([`super::arp`]): ICMPv6, with the IPv6
//!   pseudo-header (RFC 4443 §2.3);
//! - the lab's ICMP echo requests (`lab::probe`, RFC 792), over the message.
//!
//! It is a module of its own rather than part of `packet` because two of its three users
//! are not VRRP. Verifying is computing: over a message that includes a correct checksum
//! (and the same pseudo-header) the result is 0.

use std::net::IpAddr;

/// The Internet checksum of `message`, whose checksum field must be zero when computing
/// (over a received message with its checksum in place, 0 means correct).
pub fn internet_checksum(message: &[u8]) -> u16 {
    !fold(ones_complement_sum(message))
}

/// The Internet checksum of `message` together with the pseudo-header of an upper-layer
/// `protocol` sent from `source` to `destination`: the IPv4 one of RFC 768 (also used by
/// RFC 5798 §5.2.8) or the IPv6 one of RFC 8200 §8.1.
#[unsafe(link_section = ".text.hot.vrrpd")]
pub fn internet_checksum_with_pseudo_header(
    message: &[u8],
    source: IpAddr,
    destination: IpAddr,
    protocol: u8,
) -> u16 {
    !fold(
        ones_complement_sum(message)
            + pseudo_header_sum(source, destination, message.len(), protocol),
    )
}

/// One's-complement sum of big-endian 16-bit words (RFC 1071 §4.1, unfolded); an odd last
/// byte is padded with a zero byte.
///
/// Added 32 bits at a time: a 32-bit word `hi·2^16 + lo` is congruent to `hi + lo`
/// modulo 0xffff (2^16 ≡ 1), which is all the folded sum keeps (RFC 1071 §2(B), "byte
/// order independence" and "parallel summation"). A u64 cannot overflow here: it holds
/// 2^32 such words, and no message is near 16 GiB. Half the additions of a 16-bit loop,
/// on every advert received and sent.
fn ones_complement_sum(bytes: &[u8]) -> u64 {
    let mut sum: u64 = 0;
    let mut words = bytes.chunks_exact(4);
    for word in &mut words {
        sum += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    match *words.remainder() {
        [a, b, c] => sum + (u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8)),
        [a, b] => sum + u64::from(u16::from_be_bytes([a, b])),
        [a] => sum + (u64::from(a) << 8),
        _ => sum,
    }
}

/// Sum of the IPv4 (RFC 768) or IPv6 (RFC 8200 §8.1) pseudo-header. Both layouts hold
/// source, destination, length and protocol (next header) on 16-bit boundaries, with
/// zeros elsewhere, so their sums only differ in how many address words there are (IPv4
/// carries the length in 16 bits, IPv6 in 32: the same sum for any message length that
/// fits 16 bits).
fn pseudo_header_sum(source: IpAddr, destination: IpAddr, length: usize, protocol: u8) -> u64 {
    // Whole 32-bit words of the address, as `ones_complement_sum` adds them.
    let address_sum = |address: IpAddr| match address {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            (0..4)
                .map(|word| u64::from((bits >> (32 * word)) as u32))
                .sum()
        }
    };
    let length = length as u64;
    address_sum(source)
        + address_sum(destination)
        + (length >> 16)
        + (length & 0xffff)
        + u64::from(protocol)
}

/// Fold the carries back in until the sum fits 16 bits (RFC 1071 §4.1).
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_worked_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 0x2ddf0, folded 0xddf2.
        let message = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&message), !0xddf2);
    }

    /// RFC 1071's definition, one 16-bit word at a time, to hold the 32-bit sum against.
    fn sum_by_16_bit_words(bytes: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        for pair in bytes.chunks(2) {
            let low = pair.get(1).copied().unwrap_or(0);
            sum += u64::from(u16::from_be_bytes([pair[0], low]));
        }
        fold(sum)
    }

    #[test]
    fn summing_32_bits_at_a_time_folds_to_the_16_bit_sum_for_every_length_and_tail() {
        // Every length from 0 to 64 (all four tails), with bytes that carry often (a
        // simple LCG: deterministic, and covering 0x00 and 0xff runs as well).
        let mut state: u32 = 12345;
        for length in 0..=64usize {
            for pattern in 0..8 {
                let bytes: Vec<u8> = (0..length)
                    .map(|_| {
                        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        match pattern {
                            0 => 0xff,
                            1 => 0x00,
                            _ => (state >> 16) as u8,
                        }
                    })
                    .collect();
                assert_eq!(
                    fold(ones_complement_sum(&bytes)),
                    sum_by_16_bit_words(&bytes),
                    "{bytes:02x?}"
                );
            }
        }
    }

    #[test]
    fn the_pseudo_header_sums_as_its_bytes_laid_out_by_rfc_768_and_rfc_8200() {
        let v4 = |a: [u8; 4], b: [u8; 4]| (IpAddr::from(a), IpAddr::from(b));
        for (source, destination) in [
            v4([192, 0, 2, 41], [224, 0, 0, 18]),
            v4([255, 255, 255, 255], [255, 255, 255, 255]),
        ] {
            let (IpAddr::V4(s), IpAddr::V4(d)) = (source, destination) else {
                unreachable!()
            };
            // RFC 768: source, destination, zero, protocol, length (16 bits).
            let mut bytes = Vec::new();
            bytes.extend(s.octets());
            bytes.extend(d.octets());
            bytes.extend([0, 112, 0, 20]);
            assert_eq!(
                fold(pseudo_header_sum(source, destination, 20, 112)),
                sum_by_16_bit_words(&bytes)
            );
        }
        let source: IpAddr = "fe80::1:ffff:42".parse().unwrap();
        let destination: IpAddr = "ff02::12".parse().unwrap();
        let (IpAddr::V6(s), IpAddr::V6(d)) = (source, destination) else {
            unreachable!()
        };
        // RFC 8200 §8.1: source, destination, length (32 bits), zeros, next header.
        let mut bytes = Vec::new();
        bytes.extend(s.octets());
        bytes.extend(d.octets());
        bytes.extend([0, 0, 0, 20, 0, 0, 0, 112]);
        assert_eq!(
            fold(pseudo_header_sum(source, destination, 20, 112)),
            sum_by_16_bit_words(&bytes)
        );
    }

    #[test]
    fn an_odd_last_byte_is_padded_with_zero() {
        assert_eq!(
            internet_checksum(&[0x12, 0x34, 0x56]),
            internet_checksum(&[0x12, 0x34, 0x56, 0])
        );
    }

    #[test]
    fn a_message_with_its_checksum_in_place_verifies_to_zero() {
        let source: IpAddr = "fe80::42".parse().unwrap();
        let destination: IpAddr = "ff02::12".parse().unwrap();
        let mut message = vec![0x31, 50, 100, 1, 0, 100, 0, 0, 0xfe, 0x80, 0, 0, 0, 0, 0, 0];
        let checksum = internet_checksum_with_pseudo_header(&message, source, destination, 112);
        message[6..8].copy_from_slice(&checksum.to_be_bytes());
        assert_eq!(
            internet_checksum_with_pseudo_header(&message, source, destination, 112),
            0
        );
        assert_ne!(internet_checksum(&message), 0, "the pseudo-header counts");
    }
}
