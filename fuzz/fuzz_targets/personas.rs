//! Fuzz target `personas`: see [`passerelle_fuzz::personas`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| passerelle_fuzz::personas(data));
