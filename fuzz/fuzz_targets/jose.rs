//! Fuzz target `jose`: see [`passerelle_fuzz::jose`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| passerelle_fuzz::jose(data));
