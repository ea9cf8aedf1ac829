//! `cargo +nightly fuzz run decode_to_server`: see `runner_core::fuzzing::decode_to_server`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| runner_core::fuzzing::decode_to_server(data));
