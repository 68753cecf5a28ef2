//! Fuzz target: `tidelog::fuzzing::queue_files` on arbitrary bytes (see that function's doc).
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidelog::fuzzing::queue_files(data));
