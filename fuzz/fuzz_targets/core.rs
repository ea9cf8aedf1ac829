//! `cargo +nightly fuzz run core`: see `runner_core::fuzzing::core`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| runner_core::fuzzing::core(data));
