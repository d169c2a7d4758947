//! The pure core: no sockets, no tokio, no clock of its own.
//!
//! Everything here takes `now` and an input and returns actions plus the next
//! deadline, so it can be unit-tested exhaustively, and whole pairs simulated, without
//! root. [`node::Node`] owns every instance and every decision across them; the driver
//! only translates between it and the kernel (see docs/architecture.md).
//!
//! Where each RFC section lives:
//! - [`packet`]: the advertisement format (RFC 3768 §5, RFC 5798/9568 §5).
//! - [`checksum`]: the Internet checksum (RFC 1071) with the IPv4/IPv6 pseudo-headers,
//!   the one implementation behind the advert, Neighbor Advertisement and lab ICMP checksums.
//! - [`receive`]: every receive check of §7.1, in one function, in the RFC's order.
//! - [`ip`]: parsing the IPv4 header a raw socket hands us (TTL, addresses).
//! - [`state`]: the state machine and its timers (RFC 3768 §6, RFC 5798/9568 §6).
//! - [`track`]: health tracking policy: rise/fall counting and the effective priority
//!   (base + tracker weights, clamped to 1..=254; weight-0 failures mean FAULT).
//! - [`arp`]: the gratuitous ARP frame (RFC 5227 §3, RFC 3768 §8.1) and the unsolicited
//!   IPv6 Neighbor Advertisement (RFC 4861 §7.2.6, RFC 5798 §6.4.1).
//! - [`sync_group`]: which members of a sync group follow a member's transition
//!   (keepalived's `vrrp_sync_group`; not in the RFCs).
//! - [`node`]: the daemon: instances, sync groups, trackers, reloads, operator holds.
//! - [`routes`]: the routes and policy rules a master holds (keepalived's
//!   `virtual_routes`/`virtual_rules`) and what identifies them in the kernel's
//!   notifications; `node` decides when they are added and removed.
//! - [`reload`], [`drop_log`], [`wording`], [`status`], [`control`]: what the node
//!   plans on a reload, how often it warns about drops, its words to operators, its
//!   status snapshot and the control protocol's messages.

pub mod arp;
pub mod checksum;
pub mod control;
pub mod drop_log;
pub mod ip;
pub mod node;
pub mod packet;
pub mod receive;
pub mod reload;
pub mod routes;
pub mod state;
pub mod status;
pub mod sync_group;
pub mod track;
pub mod wording;

pub use packet::{Advertisement, Authentication, ChecksumMode, DropReason, Version};
pub use state::{
    Action, AfterHandOver, FaultCauses, GarpParams, Input, Instance, InstanceParams, State, Stats,
    TransitionReason, master_down_interval, skew_time,
};
