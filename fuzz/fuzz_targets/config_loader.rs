//! Fuzz target `config_loader`: see `vrrpd_fuzz::config_loader` (fuzz/src/config_loader.rs) for the input and the
//! invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpd_fuzz::config_loader::run(data));
