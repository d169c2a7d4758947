//! Fuzz target `keepalived_import`: see `vrrpd_fuzz::keepalived_import` (fuzz/src/keepalived_import.rs) for the input and the
//! invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpd_fuzz::keepalived_import::run(data));
