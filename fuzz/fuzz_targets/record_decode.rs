//! Fuzz target: `tidelog::fuzzing::record_decode` on arbitrary bytes (see that function's doc).
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidelog::fuzzing::record_decode(data));
