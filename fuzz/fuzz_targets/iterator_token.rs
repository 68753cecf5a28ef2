//! Fuzz target: `tidelog::fuzzing::iterator_token` on arbitrary bytes (see that function's doc).
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidelog::fuzzing::iterator_token(data));
