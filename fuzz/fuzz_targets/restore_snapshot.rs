//! `cargo +nightly fuzz run restore_snapshot`: see `runner_core::fuzzing::restore_snapshot`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| runner_core::fuzzing::restore_snapshot(data));
