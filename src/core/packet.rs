//! VRRP advertisement codec: RFC 3768 §5 (v2), RFC 5798 §5 and RFC 9568 §5 (v3).

use std::net::IpAddr;

use super::checksum;

/// IP protocol number assigned to VRRP (RFC 3768 §5.2.4, RFC 5798 §5.1.1.3).
pub const IP_PROTOCOL_VRRP: u8 = 112;
/// IPv4 multicast group for VRRP (RFC 3768 §5.2.2, RFC 5798 §5.1.1.2).
pub const MULTICAST_V4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group for VRRP (RFC 5798 §5.1.2.2).
pub const MULTICAST_V6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Required TTL / hop limit on send and receive (RFC 3768 §5.2.3, RFC 5798 §5.1.1.3).
pub const REQUIRED_TTL: u8 = 255;

/// The only VRRP packet type (RFC 3768 §5.3.2, RFC 5798 §5.2.2).
pub const PACKET_TYPE_ADVERTISEMENT: u8 = 1;
/// Version, type, VRID, priority, count, auth type/interval and checksum: 8 bytes in both versions.
pub const HEADER_LEN: usize = 8;
/// v2 Authentication Data length (RFC 3768 §5.3.10).
pub const AUTH_DATA_LEN: usize = 8;
/// v2 Auth Type 0: no authentication (RFC 3768 §5.3.6).
pub const AUTH_TYPE_NONE: u8 = 0;
/// v2 Auth Type 1: simple text password. Defined by RFC 2338 §5.3.6, only reserved by
/// RFC 3768 §5.3.6, still sent by keepalived as `auth_type PASS`.
pub const AUTH_TYPE_SIMPLE_PASSWORD: u8 = 1;
/// v3 Max Adver Int is 12 bits of centiseconds (RFC 5798 §5.2.7).
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// RFC 3768.
    V2,
    /// RFC 5798 / RFC 9568.
    V3,
}

/// v2 authentication (RFC 3768 §5.3.6). v3 has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authentication {
    /// Auth type 0.
    None,
    /// Auth type 1: simple text password, zero-padded to 8 bytes
    /// (keepalived's `auth_type PASS`).
    SimplePassword([u8; 8]),
    /// Any other auth type (2 was RFC 2338's IP Authentication Header form, reserved since RFC 3768),
    /// kept with its 8 data bytes so the instance can report [`DropReason::AuthTypeMismatch`].
    Other { auth_type: u8, data: [u8; 8] },
}

impl Authentication {
    /// The v2 wire value of the Auth Type field (RFC 3768 §5.3.6).
    pub fn auth_type(&self) -> u8 {
        match self {
            Authentication::None => AUTH_TYPE_NONE,
            Authentication::SimplePassword(_) => AUTH_TYPE_SIMPLE_PASSWORD,
            Authentication::Other { auth_type, .. } => *auth_type,
        }
    }

    /// A simple-text password as keepalived stores it: cut to 8 bytes, zero-padded.
    pub fn simple_password(password: &[u8]) -> Self {
        let mut data = [0u8; AUTH_DATA_LEN];
        let kept = password.len().min(AUTH_DATA_LEN);
        data[..kept].copy_from_slice(&password[..kept]);
        Authentication::SimplePassword(data)
    }

    /// The 8 Authentication Data bytes sent on the wire (zero for type 0, RFC 3768 §5.3.10).
    fn data(&self) -> [u8; AUTH_DATA_LEN] {
        match self {
            Authentication::None => [0; AUTH_DATA_LEN],
            Authentication::SimplePassword(data) | Authentication::Other { data, .. } => *data,
        }
    }
}

/// Which checksum form a v3 IPv4 advertisement is *sent* with. Both are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// RFC 5798 §5.2.8: the IPv4 pseudo-header is included. keepalived and FRR send this.
    #[default]
    WithPseudoHeader,
    /// RFC 9568 §5.2.8: IPv4 checksum over the VRRP message only (like v2).
    MessageOnly,
}

/// A decoded (or to-be-encoded) advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advertisement {
    pub version: Version,
    pub virtual_router_id: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds. v2 carries whole seconds on the
    /// wire (so this is a multiple of 100); v3 carries centiseconds (12 bits).
    pub interval_cs: u16,
    pub addresses: Vec<IpAddr>,
    /// Always [`Authentication::None`] for v3.
    pub authentication: Authentication,
}

/// Why a received packet was dropped. Each is counted; none changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum DropReason {
    #[error("TTL/hop limit is not 255 (the sender is not on this link, or is misconfigured)")]
    BadTtl,
    #[error("packet is too short to be a VRRP advertisement")]
    TooShort,
    #[error("VRRP version does not match this instance's version")]
    BadVersion,
    #[error("packet type is not ADVERTISEMENT (1)")]
    BadType,
    #[error("length does not match the address count")]
    LengthMismatch,
    #[error("checksum is wrong")]
    BadChecksum,
    #[error("virtual router ID is not configured on this interface")]
    UnknownVirtualRouterId,
    #[error("authentication type differs from ours")]
    AuthTypeMismatch,
    #[error("password differs from ours")]
    AuthMismatch,
    #[error("advertisement interval differs from ours (VRRPv2 requires them to match)")]
    IntervalMismatch,
    #[error("address family of the packet does not match the instance")]
    AddressFamilyMismatch,
    #[error("not an IPv4 packet carrying VRRP")]
    NotVrrp,
    #[error("advertisement interval is zero")]
    ZeroInterval,
    /// Unicast mode: only the routers in `unicast_peers` may take part.
    #[error("sender is not one of this instance's unicast_peers")]
    NotAPeer,
}

impl DropReason {
    /// Every reason, for counters and metrics.
    pub const ALL: &'static [DropReason] = &[
        DropReason::BadTtl,
        DropReason::TooShort,
        DropReason::BadVersion,
        DropReason::BadType,
        DropReason::LengthMismatch,
        DropReason::BadChecksum,
        DropReason::UnknownVirtualRouterId,
        DropReason::AuthTypeMismatch,
        DropReason::AuthMismatch,
        DropReason::IntervalMismatch,
        DropReason::AddressFamilyMismatch,
        DropReason::NotVrrp,
        DropReason::ZeroInterval,
        DropReason::NotAPeer,
    ];

    /// A stable snake_case label for counters, JSON status and metrics.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::BadTtl => "bad_ttl",
            DropReason::TooShort => "too_short",
            DropReason::BadVersion => "bad_version",
            DropReason::BadType => "bad_type",
            DropReason::LengthMismatch => "length_mismatch",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::UnknownVirtualRouterId => "unknown_vrid",
            DropReason::AuthTypeMismatch => "auth_type_mismatch",
            DropReason::AuthMismatch => "auth_mismatch",
            DropReason::IntervalMismatch => "interval_mismatch",
            DropReason::AddressFamilyMismatch => "address_family_mismatch",
            DropReason::NotVrrp => "not_vrrp",
            DropReason::ZeroInterval => "zero_interval",
            DropReason::NotAPeer => "not_a_peer",
        }
    }
}

/// Decode the VRRP message (the IP payload). `source`/`destination` are needed
/// for the v3 pseudo-header checksum; both checksum forms are accepted for v3 IPv4.
/// The TTL / hop limit (§7.1 first rule) lives in the IP header, which this function
/// does not see: it is checked in `core::receive::check`.
///
/// The checks here are the ones that need only the packet (RFC 3768 §7.1, RFC 5798 §7.1):
/// length, version, type, address count against length, checksum and address family.
/// They run as part of `core::receive::check`, which holds every §7.1 rule in the RFC's
/// order, with the ones that need the instance's configuration (VRID, auth, interval).
pub fn decode(
    message: &[u8],
    source: IpAddr,
    destination: IpAddr,
) -> Result<Advertisement, DropReason> {
    decode_into(message, source, destination, Vec::new())
}

/// [`decode`], filling `addresses` (cleared first) with the advert's addresses: a receiver
/// that hands back the Vec of the previous advert decodes without allocating (a backup
/// decodes every advert of every master it hears).
#[unsafe(link_section = ".text.hot.vrrpd")]
pub fn decode_into(
    message: &[u8],
    source: IpAddr,
    destination: IpAddr,
    mut addresses: Vec<IpAddr>,
) -> Result<Advertisement, DropReason> {
    let Some(
        &[
            version_and_type,
            virtual_router_id,
            priority,
            count,
            auth_type_or_reserved,
            interval,
            _,
            _,
        ],
    ) = message.first_chunk::<HEADER_LEN>()
    else {
        return Err(DropReason::TooShort);
    };
    let version = match version_and_type >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        _ => return Err(DropReason::BadVersion),
    };
    if version_and_type & 0x0f != PACKET_TYPE_ADVERTISEMENT {
        return Err(DropReason::BadType);
    }
    if source.is_ipv4() != destination.is_ipv4() {
        return Err(DropReason::AddressFamilyMismatch);
    }
    let count = usize::from(count);
    match version {
        Version::V2 => {
            // RFC 3768 is IPv4 only.
            if !source.is_ipv4() {
                return Err(DropReason::AddressFamilyMismatch);
            }
            if message.len() < HEADER_LEN + AUTH_DATA_LEN {
                return Err(DropReason::TooShort);
            }
            if message.len() != HEADER_LEN + 4 * count + AUTH_DATA_LEN {
                return Err(DropReason::LengthMismatch);
            }
            // RFC 3768 §5.3.8: over the VRRP message only.
            if !checksum_is_valid(message, None) {
                return Err(DropReason::BadChecksum);
            }
            read_addresses(
                &message[HEADER_LEN..HEADER_LEN + 4 * count],
                AddressFamily::V4,
                &mut addresses,
            );
            // An interval of 0 would make every timer zero; see the v3 case below.
            if interval == 0 {
                return Err(DropReason::ZeroInterval);
            }
            let mut auth_data = [0u8; AUTH_DATA_LEN];
            auth_data.copy_from_slice(&message[HEADER_LEN + 4 * count..]);
            let authentication = match auth_type_or_reserved {
                // RFC 3768 §5.3.10: the data is ignored for type 0.
                AUTH_TYPE_NONE => Authentication::None,
                AUTH_TYPE_SIMPLE_PASSWORD => Authentication::SimplePassword(auth_data),
                other => Authentication::Other {
                    auth_type: other,
                    data: auth_data,
                },
            };
            Ok(Advertisement {
                version,
                virtual_router_id,
                priority,
                // RFC 3768 §5.3.7: whole seconds; at most 255 × 100 = 25500 cs, fits u16.
                interval_cs: u16::from(interval) * 100,
                addresses,
                authentication,
            })
        }
        Version::V3 => {
            let family = AddressFamily::of(source);
            let expected = HEADER_LEN + family.len() * count;
            // RFC 5798 §5.2.5: all addresses are of the family the packet was sent over.
            // A length that fits the *other* family means a family mismatch, not a bad length.
            let family_mismatch = if message.len() == expected {
                false
            } else if message.len() == HEADER_LEN + family.other().len() * count {
                true
            } else {
                return Err(DropReason::LengthMismatch);
            };
            // RFC 5798 §5.2.8 includes the pseudo-header for both families; RFC 9568 §5.2.8
            // makes IPv4 message-only again. Accept either form on IPv4 (interop with both).
            let valid = match family {
                AddressFamily::V4 => {
                    checksum_is_valid(message, Some((source, destination)))
                        || checksum_is_valid(message, None)
                }
                AddressFamily::V6 => checksum_is_valid(message, Some((source, destination))),
            };
            if !valid {
                return Err(DropReason::BadChecksum);
            }
            if family_mismatch {
                return Err(DropReason::AddressFamilyMismatch);
            }
            // RFC 5798 §5.2.7: the 4 reserved bits MUST be ignored on receipt.
            let interval_cs =
                u16::from_be_bytes([auth_type_or_reserved, interval]) & MAX_V3_INTERVAL_CS;
            // RFC 9568 erratum 8301 (verified): a zero Max Adver Int MUST be discarded, since it
            // would make Skew_Time and Master_Down_Interval zero and every backup take over.
            if interval_cs == 0 {
                return Err(DropReason::ZeroInterval);
            }
            read_addresses(&message[HEADER_LEN..], family, &mut addresses);
            Ok(Advertisement {
                version,
                virtual_router_id,
                priority,
                interval_cs,
                addresses,
                authentication: Authentication::None,
            })
        }
    }
}

/// Encode an advertisement into the VRRP message (the kernel adds the IP header).
///
/// Never fails; values the wire cannot carry are normalised rather than sent broken:
/// - addresses of a family other than the packet's (IPv4 for v2, `source`'s for v3) are left out,
///   and at most 255 addresses are sent (the count is 8 bits);
/// - a v2 interval is rounded to whole seconds within 1..=255 (RFC 3768 §5.3.7);
/// - a v3 interval is capped at 4095 cs (12 bits, RFC 5798 §5.2.7);
/// - v3 carries no authentication, whatever `advert.authentication` says.
///
/// Checksums: v2 over the message (RFC 3768 §5.3.8); v3 IPv6 always with the pseudo-header;
/// v3 IPv4 as `mode` says (RFC 5798 §5.2.8 vs RFC 9568 §5.2.8).
pub fn encode(
    advert: &Advertisement,
    source: IpAddr,
    destination: IpAddr,
    mode: ChecksumMode,
) -> Vec<u8> {
    let mut message = Vec::new();
    encode_into(advert, source, destination, mode, &mut message);
    message
}

/// [`encode`] into `message` (emptied first): a buffer that is reused allocates nothing.
#[unsafe(link_section = ".text.hot.vrrpd")]
pub fn encode_into(
    advert: &Advertisement,
    source: IpAddr,
    destination: IpAddr,
    mode: ChecksumMode,
    message: &mut Vec<u8>,
) {
    let family = match advert.version {
        Version::V2 => AddressFamily::V4,
        Version::V3 => AddressFamily::of(source),
    };
    // Walked twice (count, then bytes) rather than collected: no allocation but the
    // message's own, per advert sent.
    let addresses = || {
        advert
            .addresses
            .iter()
            .filter(move |address| AddressFamily::of(**address) == family)
            .take(usize::from(u8::MAX))
    };
    let count = u8::try_from(addresses().count()).unwrap_or(u8::MAX);
    let (version_nibble, second_word) = match advert.version {
        Version::V2 => (
            2u8,
            [
                advert.authentication.auth_type(),
                v2_interval_seconds(advert.interval_cs),
            ],
        ),
        Version::V3 => (
            3u8,
            advert.interval_cs.min(MAX_V3_INTERVAL_CS).to_be_bytes(),
        ),
    };
    message.clear();
    message.reserve(HEADER_LEN + family.len() * usize::from(count) + AUTH_DATA_LEN);
    message.extend_from_slice(&[
        (version_nibble << 4) | PACKET_TYPE_ADVERTISEMENT,
        advert.virtual_router_id,
        advert.priority,
        count,
        second_word[0],
        second_word[1],
        0,
        0,
    ]);
    for address in addresses() {
        match address {
            IpAddr::V4(v4) => message.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => message.extend_from_slice(&v6.octets()),
        }
    }
    if advert.version == Version::V2 {
        message.extend_from_slice(&advert.authentication.data());
    }
    let pseudo_header = match (advert.version, family, mode) {
        (Version::V2, _, _) | (Version::V3, AddressFamily::V4, ChecksumMode::MessageOnly) => None,
        (Version::V3, _, _) => Some((source, destination)),
    };
    let checksum = internet_checksum(message, pseudo_header);
    message[6..8].copy_from_slice(&checksum.to_be_bytes());
}

/// The whole seconds a v2 advert carries for `interval_cs` (RFC 3768 §5.3.7): rounded, 1..=255.
pub fn v2_interval_seconds(interval_cs: u16) -> u8 {
    let seconds = (u32::from(interval_cs) + 50) / 100;
    u8::try_from(seconds.clamp(1, 255)).unwrap_or(u8::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddressFamily {
    V4,
    V6,
}

impl AddressFamily {
    fn of(address: IpAddr) -> Self {
        if address.is_ipv4() {
            AddressFamily::V4
        } else {
            AddressFamily::V6
        }
    }
    fn other(self) -> Self {
        match self {
            AddressFamily::V4 => AddressFamily::V6,
            AddressFamily::V6 => AddressFamily::V4,
        }
    }
    /// Bytes per address on the wire.
    fn len(self) -> usize {
        match self {
            AddressFamily::V4 => 4,
            AddressFamily::V6 => 16,
        }
    }
}

/// Split `bytes` (a whole number of addresses, checked by the caller) into addresses,
/// replacing what `addresses` held (its capacity is kept).
#[unsafe(link_section = ".text.hot.vrrpd")]
fn read_addresses(bytes: &[u8], family: AddressFamily, addresses: &mut Vec<IpAddr>) {
    addresses.clear();
    match family {
        AddressFamily::V4 => addresses.extend(
            bytes
                .chunks_exact(4)
                .filter_map(|chunk| <[u8; 4]>::try_from(chunk).ok())
                .map(IpAddr::from),
        ),
        AddressFamily::V6 => addresses.extend(
            bytes
                .chunks_exact(16)
                .filter_map(|chunk| <[u8; 16]>::try_from(chunk).ok())
                .map(IpAddr::from),
        ),
    }
}

/// The VRRP checksum ([`super::checksum`], RFC 1071) of `message` (whose checksum field
/// must be zero), with the pseudo-header of (`source`, `destination`) and protocol 112 when
/// given: v3 always over IPv6 and by default over IPv4 (RFC 5798 §5.2.8), never for v2
/// (RFC 3768 §5.3.8) nor v3 IPv4 in the RFC 9568 §5.2.8 form.
pub fn internet_checksum(message: &[u8], pseudo_header: Option<(IpAddr, IpAddr)>) -> u16 {
    match pseudo_header {
        Some((source, destination)) => checksum::internet_checksum_with_pseudo_header(
            message,
            source,
            destination,
            IP_PROTOCOL_VRRP,
        ),
        None => checksum::internet_checksum(message),
    }
}

/// A received message (checksum field included) sums to 0xffff when its checksum is right.
#[unsafe(link_section = ".text.hot.vrrpd")]
fn checksum_is_valid(message: &[u8], pseudo_header: Option<(IpAddr, IpAddr)>) -> bool {
    internet_checksum(message, pseudo_header) == 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(text: &str) -> IpAddr {
        IpAddr::V4(text.parse::<Ipv4Addr>().unwrap())
    }
    fn v6(text: &str) -> IpAddr {
        IpAddr::V6(text.parse::<Ipv6Addr>().unwrap())
    }
    fn group_v4() -> IpAddr {
        IpAddr::V4(MULTICAST_V4)
    }
    fn group_v6() -> IpAddr {
        IpAddr::V6(MULTICAST_V6)
    }
    pub(crate) fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    // ---- Hand-computed vectors -------------------------------------------------------------

    /// v2, VRID 50, priority 100, 2 addresses, auth PASS "password", 1 s.
    /// Words: 2132 6402 0101 [0000] c000 0228 c000 022b 7061 7373 776f 7264
    /// sum = 0x3d82f → fold 0xd82f + 0x3 = 0xd832 → checksum !0xd832 = 0x27cd.
    const V2_PASS_HAND: [u8; 24] = [
        0x21, 50, 100, 2, // version 2, type 1; VRID; priority; count
        0x01, 0x01, 0x27, 0xcd, // auth type 1 (PASS); 1 s; checksum
        192, 0, 2, 40, // 192.0.2.40
        192, 0, 2, 43, // 192.0.2.43
        b'p', b'a', b's', b's', b'w', b'o', b'r', b'd',
    ];

    fn v2_pass_advert() -> Advertisement {
        Advertisement {
            version: Version::V2,
            virtual_router_id: 50,
            priority: 100,
            interval_cs: 100,
            addresses: vec![v4("192.0.2.40"), v4("192.0.2.43")],
            authentication: Authentication::simple_password(b"password"),
        }
    }

    #[test]
    fn v2_pass_encodes_to_hand_computed_bytes() {
        let bytes = encode(
            &v2_pass_advert(),
            v4("192.0.2.42"),
            group_v4(),
            ChecksumMode::WithPseudoHeader,
        );
        assert_eq!(bytes, V2_PASS_HAND);
        // v2 ignores the checksum mode: always message-only.
        let bytes = encode(
            &v2_pass_advert(),
            v4("192.0.2.42"),
            group_v4(),
            ChecksumMode::MessageOnly,
        );
        assert_eq!(bytes, V2_PASS_HAND);
        assert_eq!(
            decode(&V2_PASS_HAND, v4("192.0.2.42"), group_v4()),
            Ok(v2_pass_advert())
        );
    }

    #[test]
    fn encoding_into_a_used_buffer_gives_the_same_bytes() {
        // A master's recycled buffer still holds the previous advert (here a longer one).
        let mut buffer = vec![0xaa; 200];
        encode_into(
            &v2_pass_advert(),
            v4("192.0.2.42"),
            group_v4(),
            ChecksumMode::WithPseudoHeader,
            &mut buffer,
        );
        assert_eq!(buffer, V2_PASS_HAND);
    }

    /// v3 IPv4, VRID 50, priority 100, 1 address 192.0.2.40, 100 cs, from 192.0.2.42 to 224.0.0.18.
    /// Message words: 3132 6401 0064 [0000] c000 0228 → sum 0x157bf → fold 0x57c0.
    /// Message-only checksum: !0x57c0 = 0xa83f.
    /// Pseudo-header words: c000 022a e000 0012 0070(proto) 000c(len) → sum 0x1a2b8;
    /// 0x157bf + 0x1a2b8 = 0x2fa77 → fold 0xfa79 → checksum !0xfa79 = 0x0586.
    const V3_V4_MESSAGE_ONLY_HAND: [u8; 12] =
        [0x31, 50, 100, 1, 0x00, 0x64, 0xa8, 0x3f, 192, 0, 2, 40];
    const V3_V4_PSEUDO_HAND: [u8; 12] = [0x31, 50, 100, 1, 0x00, 0x64, 0x05, 0x86, 192, 0, 2, 40];

    fn v3_v4_advert() -> Advertisement {
        Advertisement {
            version: Version::V3,
            virtual_router_id: 50,
            priority: 100,
            interval_cs: 100,
            addresses: vec![v4("192.0.2.40")],
            authentication: Authentication::None,
        }
    }

    #[test]
    fn v3_ipv4_encodes_both_checksum_forms_to_hand_computed_bytes() {
        let source = v4("192.0.2.42");
        assert_eq!(
            encode(
                &v3_v4_advert(),
                source,
                group_v4(),
                ChecksumMode::MessageOnly
            ),
            V3_V4_MESSAGE_ONLY_HAND
        );
        assert_eq!(
            encode(
                &v3_v4_advert(),
                source,
                group_v4(),
                ChecksumMode::WithPseudoHeader
            ),
            V3_V4_PSEUDO_HAND
        );
    }

    #[test]
    fn v3_ipv4_accepts_both_checksum_forms() {
        let source = v4("192.0.2.42");
        assert_eq!(
            decode(&V3_V4_MESSAGE_ONLY_HAND, source, group_v4()),
            Ok(v3_v4_advert())
        );
        assert_eq!(
            decode(&V3_V4_PSEUDO_HAND, source, group_v4()),
            Ok(v3_v4_advert())
        );
        // The pseudo-header form is tied to the addresses: from another source it is wrong.
        assert_eq!(
            decode(&V3_V4_PSEUDO_HAND, v4("192.0.2.43"), group_v4()),
            Err(DropReason::BadChecksum)
        );
        // The message-only form is not.
        assert_eq!(
            decode(&V3_V4_MESSAGE_ONLY_HAND, v4("192.0.2.43"), group_v4()),
            Ok(v3_v4_advert())
        );
    }

    /// v3 IPv6, VRID 50, priority 100, fe80::40 and 2001:db8::40, 10 cs, fe80::42 → ff02::12.
    /// Message words sum (checksum zero) = 0x1c1f7; pseudo-header (fe80::42, ff02::12,
    /// length 40 = 0x28 as 32 bits, next header 112) sums to 0x1fe6e;
    /// 0x1c1f7 + 0x1fe6e = 0x3c065 → fold 0xc068 → checksum !0xc068 = 0x3f97.
    const V3_V6_HAND: [u8; 40] = [
        0x31, 50, 100, 2, 0x00, 0x0a, 0x3f, 0x97, //
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, // fe80::40
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, // 2001:db8::40
    ];

    fn v3_v6_advert() -> Advertisement {
        Advertisement {
            version: Version::V3,
            virtual_router_id: 50,
            priority: 100,
            interval_cs: 10,
            addresses: vec![v6("fe80::40"), v6("2001:db8::40")],
            authentication: Authentication::None,
        }
    }

    #[test]
    fn v3_ipv6_uses_pseudo_header_whatever_the_mode() {
        let source = v6("fe80::42");
        for mode in [ChecksumMode::MessageOnly, ChecksumMode::WithPseudoHeader] {
            assert_eq!(
                encode(&v3_v6_advert(), source, group_v6(), mode),
                V3_V6_HAND
            );
        }
        assert_eq!(decode(&V3_V6_HAND, source, group_v6()), Ok(v3_v6_advert()));
        assert_eq!(
            decode(&V3_V6_HAND, v6("fe80::43"), group_v6()),
            Err(DropReason::BadChecksum)
        );
    }

    // ---- Captured from keepalived ----------------------------------------------------------
    //
    // The capture is committed: `tests/data/keepalived-2.2.7.pcap`, recorded by
    // `tests/capture-keepalived-packets.sh`; `tests/keepalived_capture.rs` finds each of
    // these constants in it again. How it was taken:
    // keepalived v2.2.7 (Debian), run as `keepalived -n -l -f CONF -p … -r … -c … --vrrp` in one
    // network namespace (veth address 192.0.2.41/24, 2001:db8::41/64), captured with
    // `tshark -i IF -w file.pcap 'ip proto 112'` (or `'ip6 proto 112'`) in a second namespace on
    // the veth peer; the IP payload was cut out of each frame. Common conf:
    //   vrrp_instance VI_1 { state BACKUP  interface vka  virtual_router_id 50  priority 150
    //                        advert_int 1  virtual_ipaddress { 192.0.2.40 } }
    // plus `authentication { auth_type PASS  auth_pass password }` for v2, and
    // `global_defs { vrrp_version 3 }` for v3. keepalived 2.2.7 does not know `v3_checksum_as_v2`
    // ("Unknown keyword"), so only its default (pseudo-header) v3 form could be captured.

    /// v2 PASS advert as master; IP header was 45c0 0028 0001 0000 ff70 1869 c0000229 e0000012.
    pub(crate) const KEEPALIVED_V2_PASS: &str = "213296010101b7f9c000022870617373776f7264";
    /// The same instance stopped with SIGTERM: its priority-0 advert.
    pub(crate) const KEEPALIVED_V2_PASS_SHUTDOWN: &str = "2132000101014dfac000022870617373776f7264";
    /// v3 IPv4 (pseudo-header checksum), 192.0.2.41 → 224.0.0.18.
    pub(crate) const KEEPALIVED_V3_V4: &str = "313296010064d386c0000228";
    /// v3 IPv6, VIPs `fe80::40` and `2001:db8::40`, from fe80::dc56:d7ff:fe87:bc12 to ff02::12.
    pub(crate) const KEEPALIVED_V3_V6: &str =
        "3132960200649e8dfe80000000000000000000000000004020010db8000000000000000000000040";

    #[test]
    fn decodes_keepalived_v2_pass() {
        let advert = decode(&hex(KEEPALIVED_V2_PASS), v4("192.0.2.41"), group_v4()).unwrap();
        assert_eq!(advert.version, Version::V2);
        assert_eq!(advert.virtual_router_id, 50);
        assert_eq!(advert.priority, 150);
        assert_eq!(advert.interval_cs, 100);
        assert_eq!(advert.addresses, vec![v4("192.0.2.40")]);
        assert_eq!(
            advert.authentication,
            Authentication::SimplePassword(*b"password")
        );
        assert_eq!(advert.authentication.auth_type(), AUTH_TYPE_SIMPLE_PASSWORD);
        // Re-encoding gives keepalived's bytes back, checksum included.
        assert_eq!(
            encode(
                &advert,
                v4("192.0.2.41"),
                group_v4(),
                ChecksumMode::default()
            ),
            hex(KEEPALIVED_V2_PASS)
        );
    }

    #[test]
    fn decodes_keepalived_v2_shutdown_priority_zero() {
        let advert = decode(
            &hex(KEEPALIVED_V2_PASS_SHUTDOWN),
            v4("192.0.2.41"),
            group_v4(),
        )
        .unwrap();
        assert_eq!(advert.priority, 0);
        assert_eq!(advert.virtual_router_id, 50);
        assert_eq!(advert.interval_cs, 100);
        assert_eq!(advert.addresses, vec![v4("192.0.2.40")]);
        assert_eq!(
            advert.authentication,
            Authentication::SimplePassword(*b"password")
        );
        let ours = Advertisement {
            priority: 0,
            ..advert.clone()
        };
        assert_eq!(
            encode(&ours, v4("192.0.2.41"), group_v4(), ChecksumMode::default()),
            hex(KEEPALIVED_V2_PASS_SHUTDOWN)
        );
    }

    #[test]
    fn decode_into_replaces_the_given_addresses_and_keeps_their_allocation() {
        let mut stale = Vec::with_capacity(8);
        stale.extend([v4("198.51.100.1"), v4("198.51.100.2"), v4("198.51.100.3")]);
        let allocation = stale.as_ptr();
        let advert =
            decode_into(&hex(KEEPALIVED_V3_V4), v4("192.0.2.41"), group_v4(), stale).unwrap();
        assert_eq!(advert.addresses, vec![v4("192.0.2.40")]);
        assert_eq!(advert.addresses.as_ptr(), allocation, "no new allocation");
        assert_eq!(
            Ok(advert),
            decode(&hex(KEEPALIVED_V3_V4), v4("192.0.2.41"), group_v4())
        );
    }

    #[test]
    fn decodes_keepalived_v3_ipv4() {
        let advert = decode(&hex(KEEPALIVED_V3_V4), v4("192.0.2.41"), group_v4()).unwrap();
        assert_eq!(advert.version, Version::V3);
        assert_eq!(advert.virtual_router_id, 50);
        assert_eq!(advert.priority, 150);
        assert_eq!(advert.interval_cs, 100);
        assert_eq!(advert.addresses, vec![v4("192.0.2.40")]);
        assert_eq!(advert.authentication, Authentication::None);
        // keepalived sends the RFC 5798 pseudo-header form, our default.
        let source = v4("192.0.2.41");
        assert_eq!(
            encode(&advert, source, group_v4(), ChecksumMode::WithPseudoHeader),
            hex(KEEPALIVED_V3_V4)
        );
        assert_ne!(
            encode(&advert, source, group_v4(), ChecksumMode::MessageOnly),
            hex(KEEPALIVED_V3_V4)
        );
    }

    #[test]
    fn decodes_keepalived_v3_ipv6() {
        let source = v6("fe80::dc56:d7ff:fe87:bc12");
        let advert = decode(&hex(KEEPALIVED_V3_V6), source, group_v6()).unwrap();
        assert_eq!(advert.version, Version::V3);
        assert_eq!(advert.virtual_router_id, 50);
        assert_eq!(advert.priority, 150);
        assert_eq!(advert.interval_cs, 100);
        assert_eq!(advert.addresses, vec![v6("fe80::40"), v6("2001:db8::40")]);
        assert_eq!(advert.authentication, Authentication::None);
        assert_eq!(
            encode(&advert, source, group_v6(), ChecksumMode::MessageOnly),
            hex(KEEPALIVED_V3_V6)
        );
    }

    // ---- Every decode error ----------------------------------------------------------------

    /// Rewrite the checksum of a v2 / v3-message-only message after editing it.
    fn refresh_message_only_checksum(message: &mut [u8]) {
        message[6..8].copy_from_slice(&[0, 0]);
        let checksum = internet_checksum(message, None);
        message[6..8].copy_from_slice(&checksum.to_be_bytes());
    }

    #[test]
    fn too_short() {
        let source = v4("192.0.2.42");
        for len in 0..HEADER_LEN {
            assert_eq!(
                decode(&V2_PASS_HAND[..len], source, group_v4()),
                Err(DropReason::TooShort),
                "len {len}"
            );
        }
        // A v2 header without its 8 auth bytes is too short whatever the count says.
        let mut message = V2_PASS_HAND[..12].to_vec();
        message[3] = 0;
        assert_eq!(
            decode(&message, source, group_v4()),
            Err(DropReason::TooShort)
        );
    }

    #[test]
    fn bad_version_and_type() {
        let source = v4("192.0.2.42");
        for version in [0u8, 1, 4, 15] {
            let mut message = V2_PASS_HAND.to_vec();
            message[0] = (version << 4) | 1;
            assert_eq!(
                decode(&message, source, group_v4()),
                Err(DropReason::BadVersion),
                "version {version}"
            );
        }
        for packet_type in [0u8, 2, 15] {
            let mut message = V2_PASS_HAND.to_vec();
            message[0] = 0x20 | packet_type;
            refresh_message_only_checksum(&mut message);
            assert_eq!(
                decode(&message, source, group_v4()),
                Err(DropReason::BadType),
                "type {packet_type}"
            );
        }
    }

    #[test]
    fn length_mismatch() {
        let source = v4("192.0.2.42");
        // Count says 3 but only 2 addresses are present, and the reverse.
        for count in [1u8, 3, 255] {
            let mut message = V2_PASS_HAND.to_vec();
            message[3] = count;
            refresh_message_only_checksum(&mut message);
            assert_eq!(
                decode(&message, source, group_v4()),
                Err(DropReason::LengthMismatch),
                "count {count}"
            );
        }
        // Trailing garbage.
        let mut message = V3_V4_MESSAGE_ONLY_HAND.to_vec();
        message.extend_from_slice(&[0, 0]);
        assert_eq!(
            decode(&message, source, group_v4()),
            Err(DropReason::LengthMismatch)
        );
    }

    #[test]
    fn bad_checksum() {
        let source = v4("192.0.2.42");
        let mut message = V2_PASS_HAND.to_vec();
        message[7] ^= 1;
        assert_eq!(
            decode(&message, source, group_v4()),
            Err(DropReason::BadChecksum)
        );
        // A corrupted password byte is a checksum error before it is an auth error.
        let mut message = V2_PASS_HAND.to_vec();
        message[20] ^= 0x20;
        assert_eq!(
            decode(&message, source, group_v4()),
            Err(DropReason::BadChecksum)
        );
        let mut message = V3_V6_HAND.to_vec();
        message[9] ^= 1;
        assert_eq!(
            decode(&message, v6("fe80::42"), group_v6()),
            Err(DropReason::BadChecksum)
        );
        // IPv6 never accepts the message-only form.
        let mut message = V3_V6_HAND.to_vec();
        refresh_message_only_checksum(&mut message);
        assert_eq!(
            decode(&message, v6("fe80::42"), group_v6()),
            Err(DropReason::BadChecksum)
        );
    }

    #[test]
    fn address_family_mismatch() {
        // v3 IPv6 addresses arriving over IPv4.
        let mut from_v4 = V3_V6_HAND.to_vec();
        refresh_message_only_checksum(&mut from_v4);
        assert_eq!(
            decode(&from_v4, v4("192.0.2.42"), group_v4()),
            Err(DropReason::AddressFamilyMismatch)
        );
        // A v3 IPv4 address list arriving over IPv6 (valid IPv6 pseudo-header checksum).
        let mut from_v6 = V3_V4_MESSAGE_ONLY_HAND.to_vec();
        from_v6[6..8].copy_from_slice(&[0, 0]);
        let checksum = internet_checksum(&from_v6, Some((v6("fe80::42"), group_v6())));
        from_v6[6..8].copy_from_slice(&checksum.to_be_bytes());
        assert_eq!(
            decode(&from_v6, v6("fe80::42"), group_v6()),
            Err(DropReason::AddressFamilyMismatch)
        );
        // v2 is IPv4 only.
        assert_eq!(
            decode(&V2_PASS_HAND, v6("fe80::42"), group_v6()),
            Err(DropReason::AddressFamilyMismatch)
        );
        // Source and destination of different families.
        assert_eq!(
            decode(&V2_PASS_HAND, v4("192.0.2.42"), group_v6()),
            Err(DropReason::AddressFamilyMismatch)
        );
    }

    #[test]
    fn zero_interval() {
        let source = v4("192.0.2.42");
        let mut message = V2_PASS_HAND.to_vec();
        message[5] = 0;
        refresh_message_only_checksum(&mut message);
        assert_eq!(
            decode(&message, source, group_v4()),
            Err(DropReason::ZeroInterval)
        );
        // v3: the 12 interval bits are zero even though a reserved bit is set.
        let mut message = V3_V4_MESSAGE_ONLY_HAND.to_vec();
        message[4] = 0x10;
        message[5] = 0;
        refresh_message_only_checksum(&mut message);
        assert_eq!(
            decode(&message, source, group_v4()),
            Err(DropReason::ZeroInterval)
        );
    }

    #[test]
    fn v2_auth_types_are_preserved_for_the_instance_to_judge() {
        let source = v4("192.0.2.42");
        let mut message = V2_PASS_HAND.to_vec();
        message[4] = 0;
        refresh_message_only_checksum(&mut message);
        assert_eq!(
            decode(&message, source, group_v4()).unwrap().authentication,
            Authentication::None
        );
        message[4] = 2;
        refresh_message_only_checksum(&mut message);
        assert_eq!(
            decode(&message, source, group_v4()).unwrap().authentication,
            Authentication::Other {
                auth_type: 2,
                data: *b"password"
            }
        );
        // Other auth types re-encode unchanged.
        let advert = decode(&message, source, group_v4()).unwrap();
        assert_eq!(
            encode(&advert, source, group_v4(), ChecksumMode::default()),
            message
        );
    }

    #[test]
    fn v2_interval_is_seconds_and_v3_reserved_bits_are_ignored() {
        let source = v4("192.0.2.42");
        let mut message = V2_PASS_HAND.to_vec();
        message[5] = 255;
        refresh_message_only_checksum(&mut message);
        assert_eq!(
            decode(&message, source, group_v4()).unwrap().interval_cs,
            25500
        );

        let mut message = V3_V4_MESSAGE_ONLY_HAND.to_vec();
        message[4] = 0xf0 | 0x0f; // reserved bits set, 12-bit interval 0xfff
        message[5] = 0xff;
        refresh_message_only_checksum(&mut message);
        assert_eq!(
            decode(&message, source, group_v4()).unwrap().interval_cs,
            MAX_V3_INTERVAL_CS
        );
    }

    #[test]
    fn encode_normalises_what_the_wire_cannot_carry() {
        let source = v4("192.0.2.42");
        // v2: 150 cs rounds to 2 s; 0 becomes 1 s; 30000 cs caps at 255 s.
        for (interval_cs, seconds) in [(150u16, 2u8), (0, 1), (30000, 255), (100, 1)] {
            let advert = Advertisement {
                interval_cs,
                ..v2_pass_advert()
            };
            assert_eq!(
                encode(&advert, source, group_v4(), ChecksumMode::default())[5],
                seconds,
                "{interval_cs} cs"
            );
        }
        // v3: interval capped at 12 bits; addresses of the wrong family dropped; no auth bytes.
        let advert = Advertisement {
            interval_cs: 5000,
            addresses: vec![v4("192.0.2.40"), v6("2001:db8::40")],
            authentication: Authentication::simple_password(b"ignored"),
            ..v3_v4_advert()
        };
        let bytes = encode(&advert, source, group_v4(), ChecksumMode::MessageOnly);
        assert_eq!(bytes.len(), 12);
        assert_eq!(&bytes[3..6], &[1, 0x0f, 0xff]);
        // At most 255 addresses.
        let many: Vec<IpAddr> = (0..300u32)
            .map(|i| IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i)))
            .collect();
        let advert = Advertisement {
            addresses: many,
            ..v3_v4_advert()
        };
        let bytes = encode(&advert, source, group_v4(), ChecksumMode::MessageOnly);
        assert_eq!(bytes[3], 255);
        assert_eq!(bytes.len(), HEADER_LEN + 4 * 255);
        assert_eq!(
            decode(&bytes, source, group_v4()).unwrap().addresses.len(),
            255
        );
    }

    #[test]
    fn simple_password_is_cut_to_8_bytes_and_zero_padded() {
        assert_eq!(
            Authentication::simple_password(b"pw"),
            Authentication::SimplePassword(*b"pw\0\0\0\0\0\0")
        );
        assert_eq!(
            Authentication::simple_password(b"password-too-long"),
            Authentication::SimplePassword(*b"password")
        );
    }

    #[test]
    fn round_trips() {
        for (advert, source, destination) in [
            (v2_pass_advert(), v4("192.0.2.42"), group_v4()),
            (v3_v4_advert(), v4("192.0.2.42"), group_v4()),
            (v3_v6_advert(), v6("fe80::42"), group_v6()),
            (
                Advertisement {
                    addresses: vec![],
                    ..v3_v4_advert()
                },
                v4("192.0.2.42"),
                group_v4(),
            ),
        ] {
            for mode in [ChecksumMode::MessageOnly, ChecksumMode::WithPseudoHeader] {
                let bytes = encode(&advert, source, destination, mode);
                assert_eq!(decode(&bytes, source, destination), Ok(advert.clone()));
            }
        }
    }

    /// A small deterministic generator (xorshift64*) so the fuzz-ish tests are reproducible.
    struct Xorshift(u64);
    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn never_panics_on_truncated_or_random_input() {
        let sources = [
            (v4("192.0.2.42"), group_v4()),
            (v6("fe80::42"), group_v6()),
            (v4("192.0.2.42"), group_v6()),
        ];
        let valid: [&[u8]; 3] = [&V2_PASS_HAND, &V3_V4_PSEUDO_HAND, &V3_V6_HAND];
        for message in valid {
            for len in 0..=message.len() {
                for (source, destination) in sources {
                    let _ = decode(&message[..len], source, destination);
                }
            }
        }
        let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let len = (random.next() % 80) as usize;
            let mut message: Vec<u8> = (0..len).map(|_| random.next() as u8).collect();
            // Bias half of them towards plausible headers so the deeper checks run too.
            if random.next().is_multiple_of(2) && len >= HEADER_LEN {
                message[0] = if random.next().is_multiple_of(2) {
                    0x21
                } else {
                    0x31
                };
            }
            for (source, destination) in sources {
                if let Ok(advert) = decode(&message, source, destination) {
                    accepted += 1;
                    // Whatever decodes must re-encode to something that decodes the same.
                    let bytes = encode(&advert, source, destination, ChecksumMode::MessageOnly);
                    assert_eq!(decode(&bytes, source, destination), Ok(advert));
                }
            }
        }
        // Random bytes essentially never carry a valid checksum and length at once.
        assert!(accepted < 20, "{accepted} random messages decoded");
    }

    #[test]
    fn drop_reason_labels_are_unique_and_all_listed() {
        let labels: std::collections::BTreeSet<_> = DropReason::ALL
            .iter()
            .map(|reason| reason.label())
            .collect();
        assert_eq!(labels.len(), DropReason::ALL.len());
    }
}
