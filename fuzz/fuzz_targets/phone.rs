//! Fuzz target `phone`: see [`passerelle_fuzz::phone`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| passerelle_fuzz::phone(data));
