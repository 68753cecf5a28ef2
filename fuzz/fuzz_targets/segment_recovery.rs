//! Fuzz target: `tidelog::fuzzing::segment_recovery` on arbitrary bytes (see that function's doc).
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidelog::fuzzing::segment_recovery(data));
