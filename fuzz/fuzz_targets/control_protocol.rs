//! Fuzz target `control_protocol`: see `vrrpd_fuzz::control_protocol` (fuzz/src/control_protocol.rs) for the input and the
//! invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpd_fuzz::control_protocol::run(data));
