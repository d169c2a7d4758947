//! The I/O shell around the pure core: raw VRRP sockets ([`socket`], [`interfaces`]),
//! netlink ([`netlink`]), gratuitous ARP and NA ([`garp`]), systemd notification
//! ([`systemd`]), health-check tasks ([`checks`]), notify hooks ([`notify`]), the one way
//! both start a program ([`child`]: no capabilities, a clean environment), the control
//! socket and metrics ([`control`], [`metrics`]), the demoted-set file ([`demoted`]) and
//! the event loop that ties them to [`crate::core::node::Node`] ([`runtime`]).
//!
//! Everything that touches the kernel lives here; everything that decides lives in
//! [`crate::core`] (see docs/architecture.md).

pub mod garp;
pub mod interfaces;
pub mod memory;
pub mod netlink;
pub mod poller;
pub mod routing;
pub mod runtime;
pub mod socket;
pub mod sys;
pub mod systemd;

pub mod realtime;
pub use realtime::{enter_realtime, lock_memory};
pub use runtime::{RunError, run};
pub mod checks;
pub mod child;
pub mod control;
pub mod demoted;
pub mod metrics;
pub mod notify;
pub use crate::core::status;
