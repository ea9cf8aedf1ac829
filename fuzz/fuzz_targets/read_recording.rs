//! `cargo +nightly fuzz run read_recording`: see `runner_core::fuzzing::read_recording`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| runner_core::fuzzing::read_recording(data));
