//! vrrpd: a VRRP daemon (RFC 3768, RFC 5798, RFC 9568).
//!
//! - [`core`]: the pure protocol core (codec, state machine), no I/O.
//! - [`config`]: the JSON config, its schema and validation.
//! - [`driver`]: the tokio I/O shell: sockets, netlink, GARP, timers, signals, systemd.
//! - [`lab`]: network-namespace labs for the demo and the integration tests.
//!
//! The functions an advert runs through (the protocol loop's wait and read, the node's
//! receive and timer paths, the state machine's, the codec's) carry
//! `#[unsafe(link_section = ".text.hot.vrrpd")]`. Both GNU ld and LLD place that section
//! in `.text` as one block, so the code a wake-up runs sits in a few pages instead of
//! being spread over 8.5 MiB of text: a backup's wake-up ran code on 27 pages (the
//! executable's and libc's), 18 with the hot code together, as many as keepalived's
//! (`benches/advert_footprint.sh`). Between two adverts the machine's other processes
//! evict it, so each page touched again can cost a TLB miss, which inside a VM is dear
//! (docs/BENCHMARKS.md, "A wake-up's footprint"). Nothing else depends on the section.

pub mod config;
pub mod core;
pub mod driver;
pub mod import_keepalived;
pub mod lab;
