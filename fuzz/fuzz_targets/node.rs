//! Fuzz target `node`: see `vrrpd_fuzz::node` (fuzz/src/node.rs) for the input and the
//! invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpd_fuzz::node::run(data));
