//! The I/O shell around the pure core.
