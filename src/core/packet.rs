//! VRRP advertisement codec: RFC 3768 §5 (v2), RFC 5798 §5 and RFC 9568 §5 (v3).
//!
//! API CONTRACT (shared by the driver): keep these names and signatures; add freely.

use std::net::IpAddr;

/// IP protocol number assigned to VRRP (RFC 3768 §5.2.4, RFC 5798 §5.1.1.3).
pub const IP_PROTOCOL_VRRP: u8 = 112;
/// IPv4 multicast group for VRRP (RFC 3768 §5.2.2, RFC 5798 §5.1.1.2).
pub const MULTICAST_V4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group for VRRP (RFC 5798 §5.1.2.2).
pub const MULTICAST_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Required TTL / hop limit on send and receive (RFC 3768 §5.2.3, RFC 5798 §5.1.1.3).
pub const REQUIRED_TTL: u8 = 255;

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
        }
    }
}

/// Decode the VRRP message (the IP payload). `source`/`destination` are needed
/// for the v3 pseudo-header checksum; both checksum forms are accepted for v3 IPv4.
/// TTL is checked by the caller via [`crate::core::ip`] (it lives in the IP header).
pub fn decode(message: &[u8], source: IpAddr, destination: IpAddr) -> Result<Advertisement, DropReason> {
    let _ = (message, source, destination);
    todo!("core helper implements")
}

/// Encode an advertisement into the VRRP message (the kernel adds the IP header).
pub fn encode(advert: &Advertisement, source: IpAddr, destination: IpAddr, mode: ChecksumMode) -> Vec<u8> {
    let _ = (advert, source, destination, mode);
    todo!("core helper implements")
}
