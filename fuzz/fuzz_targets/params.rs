//! Fuzz target `params`: see [`passerelle_fuzz::params`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| passerelle_fuzz::params(data));
