//! Fuzz target `advert_decoder`: see `vrrpd_fuzz::advert_decoder` (fuzz/src/advert_decoder.rs) for the input and the
//! invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpd_fuzz::advert_decoder::run(data));
