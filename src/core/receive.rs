//! The receive checks of RFC 3768 §7.1 (VRRPv2) and RFC 5798 / RFC 9568 §7.1 (VRRPv3),
//! in one function, [`check`], in the RFC's order.
//!
//! Every packet a VRRP socket hands the daemon goes through [`check`] before any instance
//! sees it: a packet that fails a rule is counted and dropped ([`Rejected`]) and changes
//! no state. What passes is an [`Accepted`] advert for one instance, which the state
//! machine (`core::state`) then reacts to (§6.4.2 Backup, §6.4.3 Master).

use std::net::{IpAddr, Ipv6Addr};

use super::ip::parse_ipv4;
use super::packet::{
    self, Advertisement, Authentication, DropReason, IP_PROTOCOL_VRRP, MULTICAST_V6, REQUIRED_TTL,
    Version, v2_interval_seconds,
};
use super::state::InstanceParams;

/// A datagram as a VRRP socket delivered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceivedPacket<'a> {
    /// A raw IPv4 datagram, header included (what a raw IPPROTO_VRRP socket returns).
    Ipv4(&'a [u8]),
    /// A VRRP message from a raw IPv6 socket: the kernel strips the header, so the source,
    /// the destination (IPV6_RECVPKTINFO) and the hop limit (IPV6_RECVHOPLIMIT) come
    /// alongside.
    Ipv6 {
        source: Ipv6Addr,
        /// ff02::12, or our own address for a unicast peer's advert; None when the socket
        /// did not say, taken as ff02::12 (RFC 5798 §5.1.2.2).
        destination: Option<Ipv6Addr>,
        hop_limit: Option<u8>,
        message: &'a [u8],
    },
}

impl ReceivedPacket<'_> {
    pub fn is_ipv6(&self) -> bool {
        matches!(self, ReceivedPacket::Ipv6 { .. })
    }
}

/// What the checks need to know about the instance a VRID names on the receiving interface.
#[derive(Clone, Copy, Debug)]
pub struct Receiver<'a> {
    pub params: &'a InstanceParams,
    /// keepalived's `unicast_peer`: when not empty, only these routers take part.
    pub unicast_peers: &'a [IpAddr],
}

/// A packet that passed every check: an advert for the instance at `instance`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// What the lookup passed to [`check`] returned for the advert's VRID.
    pub instance: usize,
    pub source: IpAddr,
    pub advert: Advertisement,
}

/// A packet dropped by [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub reason: DropReason,
    /// Known once the IP header parsed.
    pub source: Option<IpAddr>,
    /// The VRID byte, when the message is long enough to have one: lets the drop be
    /// counted on the instance it was meant for.
    pub vrid: Option<u8>,
}

/// Apply the §7.1 receive checks to `packet`, in RFC order. `instance_for` looks up the
/// instance configured for a VRID on the interface the packet arrived on (and of the
/// packet's family), returning an index that [`Accepted::instance`] carries back.
///
/// One deliberate deviation: RFC 3768 / RFC 5798 §7.1 (rule 5) also discard every advert
/// while we are the address owner (priority 255). We keep processing them: two owners by
/// mistake still settle by the address tie-break, and an owner hearing a lower-priority
/// master heals the split brain (`core::state`, §6.4.3).
pub fn check<'p>(
    packet: ReceivedPacket<'_>,
    instance_for: impl FnOnce(u8) -> Option<(usize, Receiver<'p>)>,
) -> Result<Accepted, Rejected> {
    check_reusing(packet, Vec::new(), instance_for)
}

/// [`check`], decoding the advert's addresses into `addresses` (see
/// [`packet::decode_into`]): the caller takes the Vec back from
/// [`Accepted::advert`] for the next packet, so accepting an advert allocates nothing.
pub fn check_reusing<'p>(
    packet: ReceivedPacket<'_>,
    addresses: Vec<IpAddr>,
    instance_for: impl FnOnce(u8) -> Option<(usize, Receiver<'p>)>,
) -> Result<Accepted, Rejected> {
    // The IP layer: which source, which TTL, and the VRRP message itself.
    let (source, destination, ttl, message) = match packet {
        ReceivedPacket::Ipv4(datagram) => {
            let parsed = parse_ipv4(datagram).map_err(|reason| Rejected {
                reason,
                source: None,
                vrid: None,
            })?;
            let source = IpAddr::V4(parsed.source);
            // The raw socket is opened for protocol 112; a datagram of another protocol
            // here means a malformed header or a socket bug: never an advert.
            if parsed.protocol != IP_PROTOCOL_VRRP {
                return Err(rejected(DropReason::NotVrrp, source, parsed.payload));
            }
            (
                source,
                IpAddr::V4(parsed.destination),
                Some(parsed.ttl),
                parsed.payload,
            )
        }
        // The checksum's pseudo-header covers the destination (RFC 5798 §5.2.8): ff02::12
        // (§5.1.2.2), or in unicast mode the address the peer sent to. Without
        // IPV6_PKTINFO it is not seen; the group is then the RFC's destination.
        ReceivedPacket::Ipv6 {
            source,
            destination,
            hop_limit,
            message,
        } => (
            IpAddr::V6(source),
            IpAddr::V6(destination.unwrap_or(MULTICAST_V6)),
            hop_limit,
            message,
        ),
    };

    // Rule 1: "MUST verify that the IP TTL is 255" (RFC 3768 §7.1; "IPv4 TTL or IPv6 Hop
    // Limit is 255", RFC 5798 §7.1): only a router on this link can send it.
    if ttl != Some(REQUIRED_TTL) {
        return Err(rejected(DropReason::BadTtl, source, message));
    }

    // Rule 2: "MUST verify the VRRP version"; rule 3: "MUST verify that the received packet
    // contains the complete VRRP packet (including fixed fields, IP Address(es), and
    // Authentication Data)"; rule 4: "MUST verify the VRRP checksum". The decoder checks
    // these as it reads the format (§5): version 2 or 3, type ADVERTISEMENT, the length
    // against the address count, the checksum (v3: with the pseudo-header, RFC 5798 §5.2.8)
    // and a non-zero interval. Which version this router runs is checked below, once the
    // VRID names the instance.
    let advert = packet::decode_into(message, source, destination, addresses)
        .map_err(|reason| rejected(reason, source, message))?;
    let vrid = advert.virtual_router_id;
    let drop = |reason| Rejected {
        reason,
        source: Some(source),
        vrid: Some(vrid),
    };

    // Rule 5: "MUST verify that the VRID is configured on the receiving interface".
    let Some((instance, receiver)) = instance_for(vrid) else {
        return Err(Rejected {
            reason: DropReason::UnknownVirtualRouterId,
            source: Some(source),
            vrid: None,
        });
    };
    let params = receiver.params;

    // keepalived's unicast mode (not in the RFCs): the VRID is shared with the configured
    // peers only, so anyone else's advert is not part of this virtual router.
    if !receiver.unicast_peers.is_empty() && !receiver.unicast_peers.contains(&source) {
        return Err(drop(DropReason::NotAPeer));
    }

    // Rule 2 for this virtual router: the version it is configured for.
    if advert.version != params.version {
        return Err(drop(DropReason::BadVersion));
    }
    // The family of the sender and of every address must be this instance's (an IPv4
    // router never takes IPv6 addresses from an advert, RFC 5798 §5.2.9).
    let our_family_is_v4 = params.local_address.is_ipv4();
    if source.is_ipv4() != our_family_is_v4
        || advert
            .addresses
            .iter()
            .any(|address| address.is_ipv4() != our_family_is_v4)
    {
        return Err(drop(DropReason::AddressFamilyMismatch));
    }

    if params.version == Version::V2 {
        // RFC 3768 §7.1 rule 6: "MUST verify that the Auth Type matches the locally
        // configured authentication method for the virtual router".
        if advert.authentication.auth_type() != params.authentication.auth_type() {
            return Err(drop(DropReason::AuthTypeMismatch));
        }
        // Rule 7: "MUST verify that the Authentication Data ... matches" (type 1, simple
        // text password; type 0 carries none).
        if params.authentication != Authentication::None
            && advert.authentication != params.authentication
        {
            return Err(drop(DropReason::AuthMismatch));
        }
        // Rule 8 "MAY verify that the IP address(es) associated with the VRID match": we
        // only count a mismatch (`Stats::address_list_mismatches`), as RFC 5798 and
        // keepalived do: an advert with another list still proves the master is alive.
        // Rule 9: "MUST verify that the Adver Interval in the VRRP packet is the same as
        // the Adver Interval configured for the local virtual router", compared as sent
        // (whole seconds on the wire).
        if advert.interval_cs != u16::from(v2_interval_seconds(params.advert_interval_cs)) * 100 {
            return Err(drop(DropReason::IntervalMismatch));
        }
    }
    // VRRPv3 (RFC 5798 / RFC 9568 §7.1) has no authentication and no interval rule: the
    // backup learns Master_Adver_Interval from the advert instead (§6.4.2).

    Ok(Accepted {
        instance,
        source,
        advert,
    })
}

fn rejected(reason: DropReason, source: IpAddr, message: &[u8]) -> Rejected {
    Rejected {
        reason,
        source: Some(source),
        vrid: peek_vrid(message),
    }
}

/// The VRID is the second byte of every VRRP version's header.
pub fn peek_vrid(message: &[u8]) -> Option<u8> {
    message.get(1).copied()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::core::packet::{ChecksumMode, MULTICAST_V4, encode};
    use crate::core::state::GarpParams;

    const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 42);
    const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 41);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 40);

    /// The user's pair: VRRPv2, PASS, VRID 50, 1 s.
    fn v2_params() -> InstanceParams {
        InstanceParams {
            version: Version::V2,
            virtual_router_id: 50,
            priority: 100,
            advert_interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            authentication: Authentication::simple_password(b"password"),
            addresses: vec![IpAddr::V4(VIP)],
            local_address: IpAddr::V4(US),
            checksum_mode: ChecksumMode::WithPseudoHeader,
            garp: GarpParams {
                burst_count: 5,
                burst_spacing: Duration::ZERO,
                second_burst_delay: None,
                master_refresh: None,
            },
        }
    }

    fn v3_params() -> InstanceParams {
        InstanceParams {
            version: Version::V3,
            authentication: Authentication::None,
            advert_interval_cs: 10,
            ..v2_params()
        }
    }

    fn advert(params: &InstanceParams) -> Advertisement {
        Advertisement {
            version: params.version,
            virtual_router_id: params.virtual_router_id,
            priority: 150,
            interval_cs: params.advert_interval_cs,
            addresses: params.addresses.clone(),
            authentication: params.authentication.clone(),
        }
    }

    /// A 20-byte IPv4 header (no options) from `source` to 224.0.0.18 followed by `payload`.
    fn ipv4_datagram(source: Ipv4Addr, ttl: u8, protocol: u8, payload: &[u8]) -> Vec<u8> {
        let total = u16::try_from(20 + payload.len()).unwrap();
        let mut datagram = vec![0x45, 0];
        datagram.extend_from_slice(&total.to_be_bytes());
        datagram.extend_from_slice(&[0, 0, 0, 0, ttl, protocol, 0, 0]);
        datagram.extend_from_slice(&source.octets());
        datagram.extend_from_slice(&MULTICAST_V4.octets());
        datagram.extend_from_slice(payload);
        datagram
    }

    fn wire(advert: &Advertisement, source: Ipv4Addr, ttl: u8) -> Vec<u8> {
        let message = encode(
            advert,
            IpAddr::V4(source),
            IpAddr::V4(MULTICAST_V4),
            ChecksumMode::WithPseudoHeader,
        );
        ipv4_datagram(source, ttl, IP_PROTOCOL_VRRP, &message)
    }

    fn check_with(
        datagram: &[u8],
        params: &InstanceParams,
        peers: &[IpAddr],
    ) -> Result<Accepted, Rejected> {
        check(ReceivedPacket::Ipv4(datagram), |vrid| {
            (vrid == params.virtual_router_id).then_some((
                7,
                Receiver {
                    params,
                    unicast_peers: peers,
                },
            ))
        })
    }

    fn reason(result: Result<Accepted, Rejected>) -> DropReason {
        result.map(|accepted| accepted.advert).unwrap_err().reason
    }

    #[test]
    fn a_good_v2_advert_passes_for_its_instance() {
        let params = v2_params();
        let accepted = check_with(&wire(&advert(&params), PEER, 255), &params, &[]).unwrap();
        assert_eq!(accepted.instance, 7);
        assert_eq!(accepted.source, IpAddr::V4(PEER));
        assert_eq!(accepted.advert, advert(&params));
    }

    #[test]
    fn ttl_is_checked_first_and_names_source_and_vrid() {
        let params = v2_params();
        // Even with a wrong password, the TTL rule comes first (rule 1).
        let bad = Advertisement {
            authentication: Authentication::simple_password(b"other"),
            ..advert(&params)
        };
        assert_eq!(
            check_with(&wire(&bad, PEER, 254), &params, &[]),
            Err(Rejected {
                reason: DropReason::BadTtl,
                source: Some(IpAddr::V4(PEER)),
                vrid: Some(50),
            })
        );
    }

    #[test]
    fn ipv6_hop_limit_must_be_255_and_be_known() {
        let params = v3_params();
        for hop_limit in [None, Some(64), Some(254)] {
            let result = check(
                ReceivedPacket::Ipv6 {
                    source: "fe80::42".parse().unwrap(),
                    destination: Some(MULTICAST_V6),
                    hop_limit,
                    message: &[0x31, 50, 150, 1, 0, 10, 0, 0],
                },
                |_| None,
            );
            assert_eq!(reason(result), DropReason::BadTtl, "{hop_limit:?}");
        }
        let _ = params;
    }

    #[test]
    fn other_protocols_and_truncated_headers_are_not_vrrp() {
        let params = v2_params();
        let udp = ipv4_datagram(PEER, 255, 17, &[0; 8]);
        assert_eq!(reason(check_with(&udp, &params, &[])), DropReason::NotVrrp);
        let truncated = &wire(&advert(&params), PEER, 255)[..12];
        let rejected = check_with(truncated, &params, &[]).unwrap_err();
        assert_eq!(rejected.source, None, "no source before the header parsed");
    }

    #[test]
    fn format_errors_come_before_the_vrid_lookup() {
        let params = v2_params();
        let mut datagram = wire(&advert(&params), PEER, 255);
        let last = datagram.len() - 1;
        datagram[last] ^= 0xff; // corrupt the auth data: the checksum no longer matches
        assert_eq!(
            check(
                ReceivedPacket::Ipv4(&datagram),
                |_| -> Option<(usize, Receiver)> {
                    panic!("looked up a VRID before the checksum was verified")
                }
            )
            .unwrap_err()
            .reason,
            DropReason::BadChecksum
        );
    }

    #[test]
    fn every_config_dependent_drop() {
        let params = v2_params();
        let good = advert(&params);
        let cases = [
            (
                Advertisement {
                    virtual_router_id: 51,
                    ..good.clone()
                },
                DropReason::UnknownVirtualRouterId,
            ),
            (
                Advertisement {
                    version: Version::V3,
                    authentication: Authentication::None,
                    ..good.clone()
                },
                DropReason::BadVersion,
            ),
            (
                Advertisement {
                    authentication: Authentication::None,
                    ..good.clone()
                },
                DropReason::AuthTypeMismatch,
            ),
            (
                Advertisement {
                    authentication: Authentication::simple_password(b"passw0rd"),
                    ..good.clone()
                },
                DropReason::AuthMismatch,
            ),
            (
                Advertisement {
                    interval_cs: 200,
                    ..good.clone()
                },
                DropReason::IntervalMismatch,
            ),
        ];
        for (bad, expected) in cases {
            assert_eq!(
                reason(check_with(&wire(&bad, PEER, 255), &params, &[])),
                expected
            );
        }
        // An instance without authentication drops a PASS advert by type (rule 6).
        let open = InstanceParams {
            authentication: Authentication::None,
            ..v2_params()
        };
        assert_eq!(
            reason(check_with(&wire(&good, PEER, 255), &open, &[])),
            DropReason::AuthTypeMismatch
        );
    }

    #[test]
    fn an_ipv4_instance_never_takes_an_ipv6_advert() {
        // The sockets are per family, so this is a defence: a lookup that handed an IPv6
        // advert to an IPv4 instance must still not let it through.
        let params = v3_params();
        let source: Ipv6Addr = "fe80::42".parse().unwrap();
        let v6_advert = Advertisement {
            addresses: vec!["2001:db8::40".parse().unwrap()],
            ..advert(&params)
        };
        let message = encode(
            &v6_advert,
            IpAddr::V6(source),
            IpAddr::V6(MULTICAST_V6),
            ChecksumMode::WithPseudoHeader,
        );
        let result = check(
            ReceivedPacket::Ipv6 {
                source,
                destination: None,
                hop_limit: Some(255),
                message: &message,
            },
            |_| {
                Some((
                    0,
                    Receiver {
                        params: &params,
                        unicast_peers: &[],
                    },
                ))
            },
        );
        assert_eq!(reason(result), DropReason::AddressFamilyMismatch);
    }

    #[test]
    fn v3_interval_differences_are_learned_not_dropped() {
        let params = v3_params();
        let slower = Advertisement {
            interval_cs: 100,
            ..advert(&params)
        };
        assert!(check_with(&wire(&slower, PEER, 255), &params, &[]).is_ok());
    }

    #[test]
    fn unicast_mode_takes_only_its_peers() {
        let params = v2_params();
        let datagram = wire(&advert(&params), PEER, 255);
        assert!(check_with(&datagram, &params, &[IpAddr::V4(PEER)]).is_ok());
        let stranger = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))];
        assert_eq!(
            reason(check_with(&datagram, &params, &stranger)),
            DropReason::NotAPeer
        );
    }

    /// VRRPv3 over IPv6 in unicast mode: the advert is checksummed for the address it was
    /// sent to (RFC 5798 §5.2.8), which the socket reports; only the peers take part, and
    /// the hop limit must still be 255 (RFC 9568 §7.1).
    #[test]
    fn ipv6_unicast_adverts_are_checked_against_their_destination_and_peers() {
        let mut params = v3_params();
        let ours: Ipv6Addr = "2001:db8::41".parse().unwrap();
        params.local_address = IpAddr::V6(ours);
        let peer: Ipv6Addr = "2001:db8::42".parse().unwrap();
        let v6_advert = Advertisement {
            addresses: vec!["fe80::40".parse().unwrap()],
            ..advert(&params)
        };
        let message = encode(
            &v6_advert,
            IpAddr::V6(peer),
            IpAddr::V6(ours),
            ChecksumMode::WithPseudoHeader,
        );
        let run = |source: Ipv6Addr,
                   destination: Option<Ipv6Addr>,
                   hop_limit: Option<u8>,
                   peers: &[IpAddr]| {
            check(
                ReceivedPacket::Ipv6 {
                    source,
                    destination,
                    hop_limit,
                    message: &message,
                },
                |_| {
                    Some((
                        3,
                        Receiver {
                            params: &params,
                            unicast_peers: peers,
                        },
                    ))
                },
            )
        };
        let peers = [IpAddr::V6(peer)];
        let accepted = run(peer, Some(ours), Some(255), &peers).unwrap();
        assert_eq!(accepted.instance, 3);
        assert_eq!(accepted.source, IpAddr::V6(peer));
        assert_eq!(accepted.advert, v6_advert);
        // The same bytes taken as sent to ff02::12 fail the checksum: the destination the
        // socket reported is the one that counts.
        assert_eq!(
            reason(run(peer, Some(MULTICAST_V6), Some(255), &peers)),
            DropReason::BadChecksum
        );
        assert_eq!(
            reason(run(peer, None, Some(255), &peers)),
            DropReason::BadChecksum
        );
        assert_eq!(
            reason(run(peer, Some(ours), Some(64), &peers)),
            DropReason::BadTtl
        );
        // From a router that is not listed (the checksum covers the source too, so the
        // stranger's advert is encoded for it).
        let stranger: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let from_stranger = encode(
            &v6_advert,
            IpAddr::V6(stranger),
            IpAddr::V6(ours),
            ChecksumMode::WithPseudoHeader,
        );
        let result = check(
            ReceivedPacket::Ipv6 {
                source: stranger,
                destination: Some(ours),
                hop_limit: Some(255),
                message: &from_stranger,
            },
            |_| {
                Some((
                    3,
                    Receiver {
                        params: &params,
                        unicast_peers: &peers,
                    },
                ))
            },
        );
        assert_eq!(reason(result), DropReason::NotAPeer);
    }

    /// Found by the advert_decoder fuzz target (fuzz/corpus/advert_decoder/
    /// regression-icmp-datagram-carrying-an-advert): keepalived's priority-0 advert, whole
    /// and with TTL 255, in a datagram whose protocol byte says ICMP. It is not VRRP
    /// whatever it carries, and the VRID is never looked up.
    #[test]
    fn a_datagram_of_another_protocol_carrying_a_valid_advert_is_not_vrrp() {
        let datagram = [
            0x45, 0xc0, 0x00, 0x28, 0x00, 0x04, 0x00, 0x00, 0xff, 0x01, 0x00, 0x66, 192, 0, 2, 41,
            224, 0, 0, 18, //
            0x21, 0x32, 0x00, 0x01, 0x01, 0x01, 0x4d, 0xfa, 192, 0, 2, 40, b'p', b'a', b's', b's',
            b'w', b'o', b'r', b'd',
        ];
        let params = v2_params();
        let rejected = check(
            ReceivedPacket::Ipv4(&datagram),
            |_| -> Option<(usize, Receiver)> {
                panic!("looked up the VRID of a datagram that is not VRRP")
            },
        )
        .unwrap_err();
        assert_eq!(
            rejected,
            Rejected {
                reason: DropReason::NotVrrp,
                source: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 41))),
                vrid: Some(50),
            }
        );
        // The same bytes as protocol 112 are a good advert.
        let mut vrrp = datagram;
        vrrp[9] = IP_PROTOCOL_VRRP;
        assert!(check_with(&vrrp, &params, &[]).is_ok());
    }

    #[test]
    fn vrid_is_the_second_byte() {
        assert_eq!(peek_vrid(&[0x21, 50, 150]), Some(50));
        assert_eq!(peek_vrid(&[0x21]), None);
    }
}
