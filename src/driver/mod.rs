//! The I/O shell around the pure core: raw VRRP sockets ([`socket`]), netlink
//! ([`netlink`]), gratuitous ARP ([`garp`]), systemd notification ([`systemd`])
//! and the event loop that ties them to [`crate::core::Instance`] ([`runtime`]).
//!
//! Everything that touches the kernel lives here; everything that decides lives
//! in [`crate::core`]. The runtime's decisions about *how* to talk to operators
//! (log lines, status text, reload plans, log rate limits) are plain functions in
//! [`runtime`] so they are unit-tested without root.

pub mod garp;
pub mod netlink;
pub mod runtime;
pub mod socket;
pub mod systemd;
pub mod timer;

pub use runtime::{RunError, run};
pub mod checks;
pub mod control;
pub mod demoted;
pub mod metrics;
pub mod notify;
pub use crate::core::status;
