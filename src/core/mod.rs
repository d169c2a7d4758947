//! The pure protocol core: no sockets, no tokio, no clock of its own.
//!
//! Everything here takes `now` and an input and returns actions plus the next
//! deadline, so it can be unit-tested exhaustively without root.
//!
//! Where each RFC section lives:
//! - [`packet`]: the advertisement format (RFC 3768 §5, RFC 5798/9568 §5), its
//!   checksum and the receive checks that need only the packet (§7.1).
//! - [`checksum`]: the Internet checksum (RFC 1071) with the IPv4/IPv6 pseudo-headers,
//!   the one implementation behind the advert, Neighbor Advertisement and lab ICMP checksums.
//! - [`ip`]: parsing the IPv4 header a raw socket hands us (TTL, addresses).
//! - [`state`]: the state machine and its timers (RFC 3768 §6, RFC 5798/9568 §6),
//!   and the receive checks that need the instance's config (§7.1: VRID, auth, interval).
//! - [`track`]: health tracking policy: rise/fall counting and the effective priority
//!   (base + tracker weights, clamped to 1..=254; weight-0 failures mean FAULT).
//! - [`arp`]: the gratuitous ARP frame (RFC 5227 §3, RFC 3768 §8.1) and the unsolicited
//!   IPv6 Neighbor Advertisement (RFC 4861 §7.2.6, RFC 5798 §6.4.1).
//! - [`sync_group`]: which members of a sync group follow a member's transition
//!   (keepalived's `vrrp_sync_group`; not in the RFCs).

pub mod arp;
pub mod checksum;
pub mod ip;
pub mod packet;
pub mod state;
pub mod sync_group;
pub mod track;

pub use packet::{Advertisement, Authentication, ChecksumMode, DropReason, Version};
pub use state::{
    Action, AfterHandOver, FaultCauses, GarpParams, Input, Instance, InstanceParams, State, Stats,
    TransitionReason, master_down_interval, skew_time,
};
