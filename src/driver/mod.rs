//! The I/O shell around the pure core.
pub mod systemd;
