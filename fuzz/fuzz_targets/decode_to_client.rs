//! `cargo +nightly fuzz run decode_to_client`: see `runner_core::fuzzing::decode_to_client`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| runner_core::fuzzing::decode_to_client(data));
