//! Fuzz target `nin`: see [`passerelle_fuzz::nin`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| passerelle_fuzz::nin(data));
