//! Fuzz target bodies and the runner's invariant checker (feature
//! `fuzzing`).
//!
//! Each function here is the whole body of one cargo-fuzz target in `fuzz/`:
//! it takes the fuzzer's bytes, never reads a clock or draws randomness, and
//! panics exactly when it finds a bug. The same functions are run by an
//! ordinary test (`tests/tests/fuzz_bodies.rs`) over the committed corpora
//! and a short proptest, so CI exercises them on stable without a fuzzer.
//!
//! They live in `runner-core` behind a feature, rather than in the `tests`
//! crate, so that the fuzz crate builds only `runner-core` and `arbitrary`
//! with sanitizer instrumentation — not tokio, reqwest and the engine
//! harness that the `tests` crate pulls in.
//!
//! | target | input | checks |
//! |---|---|---|
//! | [`decode_to_client`] | version byte + one frame | no panic; a decoded message re-encodes and decodes to itself; encoding is canonical |
//! | [`decode_to_server`] | version byte + one frame | the same for runner → engine messages (and the serverless init) |
//! | [`core`] | a script of inputs | the runner's invariants after every step |
//! | [`read_recording`] | a flight recording | no panic; the replay replays exactly the steps the reader reads (or diverges at one of them) |
//! | [`restore_snapshot`] | a snapshot's flags and body (framed with a correct checksum) | no panic restoring it; a restored runner's snapshot restores to the same bytes; it runs a timeout and a shutdown |
//!
//! The invariants are [`Invariants`], which the `tests` crate's simulation
//! checks after every input too.

mod core;
pub mod invariants;
mod recording;
mod script;
mod snapshot;

use std::fmt::Debug;

use crate::protocol::{
    DecodeError, EncodeError, ProtocolVersion, decode_to_client as decode_client,
    decode_to_server as decode_server, decode_to_serverless_server, encode_to_client,
    encode_to_server, encode_to_serverless_server,
};

pub use self::core::{core, core_seed};
pub use self::invariants::Invariants;
pub use self::recording::{read_recording, recording_seeds};
pub use self::snapshot::{restore_snapshot, snapshot_seeds};

/// The protocol version selected by an input's first byte, and the rest.
fn split_version(data: &[u8]) -> Option<(ProtocolVersion, &[u8])> {
    let (first, frame) = data.split_first()?;
    let version = ProtocolVersion::ALL[usize::from(*first) % ProtocolVersion::ALL.len()];
    Some((version, frame))
}

/// Decodes an engine → runner frame (first byte: version); when it decodes,
/// encoding it gives bytes that decode to the same message and re-encode to
/// the same bytes.
pub fn decode_to_client(data: &[u8]) {
    let Some((version, frame)) = split_version(data) else {
        return;
    };
    round_trip(version, frame, decode_client, encode_to_client);
}

/// Decodes a runner → engine frame (first byte: version; versions cycle
/// through v5, v6, v7 and then the serverless stream's init) and checks the
/// round trip as [`decode_to_client`] does.
pub fn decode_to_server(data: &[u8]) {
    let Some((first, frame)) = data.split_first() else {
        return;
    };
    if first % 4 == 3 {
        if let Ok(msg) = decode_to_serverless_server(frame) {
            let bytes = encode_to_serverless_server(&msg);
            assert_eq!(decode_to_serverless_server(&bytes).ok(), Some(msg));
        }
        return;
    }
    let version = ProtocolVersion::ALL[usize::from(first % 4)];
    round_trip(version, frame, decode_server, encode_to_server);
}

/// When `frame` decodes, encoding the message gives bytes that decode to
/// the same message, re-encode to the same bytes, and are no longer than
/// `frame`: the check of both directions' targets.
fn round_trip<M: PartialEq + Debug>(
    version: ProtocolVersion,
    frame: &[u8],
    decode: fn(ProtocolVersion, &[u8]) -> Result<M, DecodeError>,
    encode: fn(ProtocolVersion, &M) -> Result<Vec<u8>, EncodeError>,
) {
    let Ok(msg) = decode(version, frame) else {
        return;
    };
    let bytes = encode(version, &msg)
        .unwrap_or_else(|e| panic!("decoded {msg:?} but cannot encode it for {version}: {e}"));
    let again = decode(version, &bytes)
        .unwrap_or_else(|e| panic!("re-encoded {msg:?} does not decode for {version}: {e}"));
    assert_eq!(again, msg, "{version}: decode(encode(m)) != m");
    let canonical = encode(version, &again).expect("encodes once, encodes twice");
    assert_eq!(canonical, bytes, "{version}: encoding is not canonical");
    assert!(bytes.len() <= frame.len(), "re-encoding grew the message");
}
