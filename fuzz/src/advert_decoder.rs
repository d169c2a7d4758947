//! The advert decoder with its IPv4/IPv6 screening: `core::receive::check` (every §7.1
//! rule of RFC 3768 and RFC 5798 / RFC 9568) and `core::packet::decode`.
//!
//! The input is a [`SETUP_LEN`]-byte receiver setup (which family the packet came in on,
//! the IPv6 source and hop limit, which instance the VRID lookup finds and how it is
//! configured) followed by the packet: an IPv4 datagram with its header, or an IPv6 VRRP
//! message. Seeds put real keepalived captures behind setups that accept them.
//!
//! What must hold, beyond "no panic":
//! - the lookup runs only for a packet that decodes with a valid checksum and TTL 255
//!   (format errors come before the VRID, RFC 3768 §7.1), and then with its VRID;
//! - an accepted advert passed every rule of the instance it was handed to: its VRID,
//!   version, family, TTL, authentication and (VRRPv2) interval;
//! - its checksum is right, recomputed here independently of the decoder;
//! - it re-encodes (`core::packet::encode`) to a message that decodes to the same advert
//!   and equals the received one in every field the decoder keeps;
//! - a drop names the reason's stage correctly: the source once the IP header parsed, the
//!   VRID once the message has one.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use vrrpd::core::ChecksumMode;
use vrrpd::core::checksum;
use vrrpd::core::ip::parse_ipv4;
use vrrpd::core::packet::{
    self, Advertisement, Authentication, DropReason, IP_PROTOCOL_VRRP, MULTICAST_V4, MULTICAST_V6,
    REQUIRED_TTL, Version,
};
use vrrpd::core::receive::{self, ReceivedPacket, Receiver};
use vrrpd::core::state::{GarpParams, InstanceParams};

/// Bytes of setup before the packet.
pub const SETUP_LEN: usize = 32;

/// Which instance the VRID lookup finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No instance on this interface has the VRID.
    Nothing,
    /// The instance configured with [`Setup::virtual_router_id`], for that VRID only.
    Configured,
    /// An instance for whatever VRID the advert names (its VRID is the advert's).
    Any,
}

/// Which unicast peers the instance has (keepalived's `unicast_peer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peers {
    None,
    /// The packet's own source.
    TheSource,
    /// Someone else (203.0.113.7 or 2001:db8::7).
    AStranger,
    Both,
}

/// The receiver side of one case, decoded from the first [`SETUP_LEN`] bytes:
///
/// | byte | meaning |
/// |---|---|
/// | 0 | bit 0 IPv6; bit 1 hop limit known (IPv6); bit 2 instance runs VRRPv3; bit 3 instance of the other family; bits 4-5 [`Lookup`] (0 nothing, 1 configured, 2-3 any); bits 6-7 [`Peers`] |
/// | 1 | IPv6 hop limit |
/// | 2 | the instance's VRID |
/// | 3 | the instance's auth type: 0 none, 1 PASS, else that type |
/// | 4-5 | the instance's advert interval, centiseconds, big-endian |
/// | 6-13 | the instance's 8 bytes of authentication data |
/// | 14-29 | IPv6 source address |
/// | 30 | the instance's priority |
/// | 31 | for the direct `decode`: bit 0 unicast destination, bit 1 destination of the other family |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    pub ipv6: bool,
    pub hop_limit: Option<u8>,
    pub version: Version,
    pub other_family: bool,
    pub lookup: Lookup,
    pub peers: Peers,
    pub virtual_router_id: u8,
    pub authentication: Authentication,
    pub advert_interval_cs: u16,
    pub ipv6_source: Ipv6Addr,
    pub priority: u8,
    pub unicast_destination: bool,
    pub destination_of_other_family: bool,
}

impl Setup {
    pub fn parse(data: &[u8]) -> Option<(Setup, &[u8])> {
        let (setup, packet) = data.split_first_chunk::<SETUP_LEN>()?;
        let flags = setup[0];
        let mut auth_data = [0u8; 8];
        auth_data.copy_from_slice(&setup[6..14]);
        let mut source = [0u8; 16];
        source.copy_from_slice(&setup[14..30]);
        Some((
            Setup {
                ipv6: flags & 1 != 0,
                hop_limit: (flags & 2 != 0).then_some(setup[1]),
                version: if flags & 4 != 0 {
                    Version::V3
                } else {
                    Version::V2
                },
                other_family: flags & 8 != 0,
                lookup: match (flags >> 4) & 3 {
                    0 => Lookup::Nothing,
                    1 => Lookup::Configured,
                    _ => Lookup::Any,
                },
                peers: match flags >> 6 {
                    0 => Peers::None,
                    1 => Peers::TheSource,
                    2 => Peers::AStranger,
                    _ => Peers::Both,
                },
                virtual_router_id: setup[2],
                authentication: match setup[3] {
                    0 => Authentication::None,
                    1 => Authentication::SimplePassword(auth_data),
                    other => Authentication::Other {
                        auth_type: other,
                        data: auth_data,
                    },
                },
                advert_interval_cs: u16::from_be_bytes([setup[4], setup[5]]),
                ipv6_source: Ipv6Addr::from(source),
                priority: setup[30],
                unicast_destination: setup[31] & 1 != 0,
                destination_of_other_family: setup[31] & 2 != 0,
            },
            packet,
        ))
    }

    /// The inverse of [`Setup::parse`], for writing seeds.
    pub fn to_bytes(&self) -> [u8; SETUP_LEN] {
        let mut bytes = [0u8; SETUP_LEN];
        bytes[0] = u8::from(self.ipv6)
            | u8::from(self.hop_limit.is_some()) << 1
            | u8::from(self.version == Version::V3) << 2
            | u8::from(self.other_family) << 3
            | match self.lookup {
                Lookup::Nothing => 0,
                Lookup::Configured => 1,
                Lookup::Any => 2,
            } << 4
            | match self.peers {
                Peers::None => 0,
                Peers::TheSource => 1,
                Peers::AStranger => 2,
                Peers::Both => 3,
            } << 6;
        bytes[1] = self.hop_limit.unwrap_or(0);
        bytes[2] = self.virtual_router_id;
        let (auth_type, data) = match &self.authentication {
            Authentication::None => (0, [0; 8]),
            Authentication::SimplePassword(data) => (1, *data),
            Authentication::Other { auth_type, data } => (*auth_type, *data),
        };
        bytes[3] = auth_type;
        bytes[4..6].copy_from_slice(&self.advert_interval_cs.to_be_bytes());
        bytes[6..14].copy_from_slice(&data);
        bytes[14..30].copy_from_slice(&self.ipv6_source.octets());
        bytes[30] = self.priority;
        bytes[31] =
            u8::from(self.unicast_destination) | u8::from(self.destination_of_other_family) << 1;
        bytes
    }

    /// A setup whose instance accepts `advert` from `source` (v6: hop limit 255).
    pub fn accepting(advert: &Advertisement, source: IpAddr) -> Setup {
        Setup {
            ipv6: source.is_ipv6(),
            hop_limit: source.is_ipv6().then_some(REQUIRED_TTL),
            version: advert.version,
            other_family: false,
            lookup: Lookup::Configured,
            peers: Peers::None,
            virtual_router_id: advert.virtual_router_id,
            authentication: advert.authentication.clone(),
            advert_interval_cs: advert.interval_cs,
            ipv6_source: match source {
                IpAddr::V6(v6) => v6,
                IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED,
            },
            priority: 100,
            unicast_destination: false,
            destination_of_other_family: false,
        }
    }

    fn local_address(&self) -> IpAddr {
        if self.ipv6 != self.other_family {
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x41))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 41))
        }
    }

    fn params(&self, virtual_router_id: u8) -> InstanceParams {
        let local_address = self.local_address();
        let vip = if local_address.is_ipv4() {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 40))
        } else {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x40))
        };
        InstanceParams {
            version: self.version,
            virtual_router_id,
            priority: self.priority,
            advert_interval_cs: self.advert_interval_cs,
            preempt: true,
            preempt_delay: Duration::ZERO,
            authentication: self.authentication.clone(),
            addresses: vec![vip],
            local_address,
            checksum_mode: ChecksumMode::WithPseudoHeader,
            garp: GarpParams {
                burst_count: 5,
                burst_spacing: Duration::ZERO,
                second_burst_delay: None,
                master_refresh: None,
            },
        }
    }
}

/// The IP layer as the checks see it: source, destination, TTL, VRRP message; None when
/// the IPv4 header does not parse.
fn ip_layer<'a>(setup: &Setup, packet: &'a [u8]) -> Option<(IpAddr, IpAddr, Option<u8>, &'a [u8])> {
    if setup.ipv6 {
        Some((
            IpAddr::V6(setup.ipv6_source),
            IpAddr::V6(MULTICAST_V6),
            setup.hop_limit,
            packet,
        ))
    } else {
        parse_ipv4(packet).ok().map(|datagram| {
            (
                IpAddr::V4(datagram.source),
                IpAddr::V4(datagram.destination),
                Some(datagram.ttl),
                datagram.payload,
            )
        })
    }
}

/// Run one case; panics when an invariant does not hold.
pub fn run(data: &[u8]) {
    let Some((setup, packet)) = Setup::parse(data) else {
        return;
    };
    check_receive(&setup, packet);
    let message = if setup.ipv6 {
        packet
    } else {
        parse_ipv4(packet).map_or(packet, |datagram| datagram.payload)
    };
    check_decode(&setup, message);
}

fn check_receive(setup: &Setup, packet: &[u8]) {
    let received = if setup.ipv6 {
        ReceivedPacket::Ipv6 {
            source: setup.ipv6_source,
            // As without IPV6_PKTINFO: the group, which `ip_layer` checks against.
            destination: None,
            hop_limit: setup.hop_limit,
            message: packet,
        }
    } else {
        ReceivedPacket::Ipv4(packet)
    };
    let layer = ip_layer(setup, packet);
    let looked_up = Cell::new(None);
    let stranger = if setup.ipv6 != setup.other_family {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7))
    } else {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))
    };
    let source = layer.map(|(source, ..)| source);
    let peers: Vec<IpAddr> = match setup.peers {
        Peers::None => Vec::new(),
        Peers::TheSource => source.into_iter().collect(),
        Peers::AStranger => vec![stranger],
        Peers::Both => source.into_iter().chain([stranger]).collect(),
    };
    // Built for the VRID the lookup is asked about (`Any` takes it from the advert).
    let params_for = |vrid: u8| setup.params(vrid);
    let params_any = layer
        .and_then(|(.., message)| receive::peek_vrid(message))
        .map(params_for);
    let params_configured = params_for(setup.virtual_router_id);
    let result = receive::check(received, |vrid| {
        assert!(
            looked_up.replace(Some(vrid)).is_none(),
            "the VRID was looked up twice"
        );
        let params = match setup.lookup {
            Lookup::Nothing => return None,
            Lookup::Configured if vrid != setup.virtual_router_id => return None,
            Lookup::Configured => &params_configured,
            Lookup::Any => params_any.as_ref()?,
        };
        Some((
            7,
            Receiver {
                params,
                unicast_peers: &peers,
            },
        ))
    });

    // An IPv4 datagram of another protocol is never an advert, whatever it decodes to.
    let not_vrrp = !setup.ipv6 && parse_ipv4(packet).is_ok_and(|d| d.protocol != IP_PROTOCOL_VRRP);
    // The lookup runs exactly when the IP layer parsed, the protocol is VRRP, the TTL is
    // 255 and the message decodes: every packet-only rule comes first.
    let decoded = layer.and_then(|(source, destination, ttl, message)| {
        (!not_vrrp && ttl == Some(REQUIRED_TTL))
            .then(|| packet::decode(message, source, destination).ok())
            .flatten()
    });
    assert_eq!(
        looked_up.get(),
        decoded.as_ref().map(|advert| advert.virtual_router_id),
        "lookup versus what the packet-only rules allow: {result:?}"
    );
    match result {
        Ok(accepted) => {
            let (source, destination, ttl, message) = layer.expect("accepted without an IP layer");
            assert!(!not_vrrp, "accepted a datagram of another protocol");
            assert_eq!(ttl, Some(REQUIRED_TTL));
            assert_eq!(accepted.instance, 7);
            assert_eq!(accepted.source, source);
            let advert = &accepted.advert;
            assert_eq!(Some(advert), decoded.as_ref());
            if setup.lookup == Lookup::Configured {
                assert_eq!(advert.virtual_router_id, setup.virtual_router_id);
            }
            assert_eq!(advert.version, setup.version);
            let family_v4 = setup.local_address().is_ipv4();
            assert_eq!(source.is_ipv4(), family_v4);
            assert!(advert.addresses.iter().all(|a| a.is_ipv4() == family_v4));
            if !peers.is_empty() {
                assert!(peers.contains(&source), "accepted from a non-peer");
            }
            if advert.version == Version::V2 {
                assert_eq!(
                    advert.authentication.auth_type(),
                    setup.authentication.auth_type()
                );
                if setup.authentication != Authentication::None {
                    assert_eq!(advert.authentication, setup.authentication);
                }
                assert_eq!(
                    advert.interval_cs,
                    u16::from(packet::v2_interval_seconds(setup.advert_interval_cs)) * 100
                );
            }
            assert_round_trip(advert, message, source, destination);
        }
        Err(rejected) => {
            match layer {
                None => {
                    assert_eq!(rejected.source, None);
                    assert_eq!(rejected.vrid, None);
                    assert!(matches!(
                        rejected.reason,
                        DropReason::TooShort | DropReason::NotVrrp
                    ));
                }
                Some((source, _, _, message)) => {
                    assert_eq!(rejected.source, Some(source));
                    if rejected.reason == DropReason::UnknownVirtualRouterId {
                        assert_eq!(rejected.vrid, None);
                        assert!(setup.lookup != Lookup::Any);
                    } else {
                        assert_eq!(rejected.vrid, receive::peek_vrid(message));
                    }
                    if not_vrrp {
                        assert_eq!(rejected.reason, DropReason::NotVrrp);
                    }
                }
            }
            if decoded.is_some() {
                assert!(
                    matches!(
                        rejected.reason,
                        DropReason::UnknownVirtualRouterId
                            | DropReason::NotAPeer
                            | DropReason::BadVersion
                            | DropReason::AddressFamilyMismatch
                            | DropReason::AuthTypeMismatch
                            | DropReason::AuthMismatch
                            | DropReason::IntervalMismatch
                    ),
                    "a well-formed advert dropped for {:?}",
                    rejected.reason
                );
            }
        }
    }
}

/// `core::packet::decode` alone, with any source and destination of either family.
fn check_decode(setup: &Setup, message: &[u8]) {
    let v4_source = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 42));
    let source = if setup.ipv6 {
        IpAddr::V6(setup.ipv6_source)
    } else {
        v4_source
    };
    let destination = match (
        source.is_ipv4() != setup.destination_of_other_family,
        setup.unicast_destination,
    ) {
        (true, false) => IpAddr::V4(MULTICAST_V4),
        (true, true) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 41)),
        (false, false) => IpAddr::V6(MULTICAST_V6),
        (false, true) => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x41)),
    };
    match packet::decode(message, source, destination) {
        Ok(advert) => {
            assert_eq!(source.is_ipv4(), destination.is_ipv4());
            assert_round_trip(&advert, message, source, destination);
        }
        Err(reason) => assert!(
            !matches!(
                reason,
                DropReason::BadTtl
                    | DropReason::UnknownVirtualRouterId
                    | DropReason::AuthTypeMismatch
                    | DropReason::AuthMismatch
                    | DropReason::IntervalMismatch
                    | DropReason::NotVrrp
                    | DropReason::NotAPeer
            ),
            "the decoder alone cannot know {reason:?}"
        ),
    }
}

/// `advert` was decoded from `message`: its checksum is right, and encoding it again gives
/// a message that decodes to the same advert and keeps every field the decoder keeps.
fn assert_round_trip(advert: &Advertisement, message: &[u8], source: IpAddr, destination: IpAddr) {
    assert_ne!(advert.interval_cs, 0, "a zero interval was accepted");
    let pseudo = checksum::internet_checksum_with_pseudo_header(
        message,
        source,
        destination,
        IP_PROTOCOL_VRRP,
    ) == 0;
    let plain = checksum::internet_checksum(message) == 0;
    let mode = match (advert.version, source) {
        (Version::V2, _) => {
            assert!(plain, "v2 checksum is over the message (RFC 3768 §5.3.8)");
            assert_eq!(advert.interval_cs % 100, 0);
            ChecksumMode::MessageOnly
        }
        (Version::V3, IpAddr::V6(_)) => {
            assert!(pseudo, "v3 IPv6 checksum has the pseudo-header");
            ChecksumMode::WithPseudoHeader
        }
        (Version::V3, IpAddr::V4(_)) => {
            assert!(pseudo || plain, "v3 IPv4 checksum in neither form");
            if pseudo {
                ChecksumMode::WithPseudoHeader
            } else {
                ChecksumMode::MessageOnly
            }
        }
    };
    if advert.version == Version::V3 {
        assert!(advert.interval_cs <= packet::MAX_V3_INTERVAL_CS);
        assert_eq!(advert.authentication, Authentication::None);
    }
    let encoded = packet::encode(advert, source, destination, mode);
    assert_eq!(
        packet::decode(&encoded, source, destination).as_ref(),
        Ok(advert),
        "re-encoded {encoded:02x?} from {message:02x?}"
    );
    assert_eq!(encoded.len(), message.len(), "re-encoded length");
    // Byte for byte, but for what the decoder deliberately drops: the checksum (0x0000
    // and 0xffff both verify), v3's 4 reserved bits (RFC 5798 §5.2.7, ignored on
    // receipt) and v2 type-0 authentication data (RFC 3768 §5.3.10, ignored).
    let mut expected = message.to_vec();
    expected[6] = encoded[6];
    expected[7] = encoded[7];
    match advert.version {
        Version::V3 => expected[4] &= 0x0f,
        Version::V2 if advert.authentication == Authentication::None => {
            let start = expected.len() - packet::AUTH_DATA_LEN;
            expected[start..].fill(0);
        }
        Version::V2 => {}
    }
    assert_eq!(encoded, expected, "re-encoded message differs");
}
