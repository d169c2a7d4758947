//! The IPv4 header as a raw IPPROTO_VRRP socket delivers it (RFC 791).
//! API CONTRACT: keep names and signatures; add freely.

use std::net::Ipv4Addr;

use super::packet::DropReason;

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
pub fn parse_ipv4(datagram: &[u8]) -> Result<Ipv4Datagram<'_>, DropReason> {
    let _ = datagram;
    todo!("core helper implements")
}
