//! vrrpd: a VRRP daemon (RFC 3768, RFC 5798, RFC 9568).
//!
//! - [`core`]: the pure protocol core (codec, state machine), no I/O.
//! - [`config`]: the JSON config, its schema and validation.
//! - [`driver`]: the tokio I/O shell: sockets, netlink, GARP, timers, signals, systemd.
//! - [`lab`]: network-namespace labs for the demo and the integration tests.

pub mod config;
pub mod core;
pub mod driver;
pub mod import_keepalived;
pub mod lab;
