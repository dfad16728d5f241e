//! Fuzz target `jose_tokens`: see [`passerelle_fuzz::jose_tokens`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| passerelle_fuzz::jose_tokens(data));
