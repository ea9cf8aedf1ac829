//! The digest of one step's outputs: the transmits and events the input
//! produced and the value it returned, folded into 64 bits. The recorder
//! writes it after each input; the replay computes it again and compares.
//!
//! The hash is this file's own (stable across platforms and builds, unlike
//! `std`'s or foldhash's), streaming (how the bytes are split between writes
//! does not matter) and fast on large bodies (eight bytes per step). It
//! detects a divergence, it is no defence against a forger.

use crate::encoding::codec::Put;
use crate::encoding::redact;
use crate::encoding::values::{put_call_error, put_event, put_keys, put_kv_error};
use crate::error::CallError;
use crate::output::{Event, Transmit};
use crate::protocol::{ProtocolVersion, decode_to_server, encode_to_server};
use crate::runner::Outcome;
use crate::tunnel::RestoreReport;

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// A streaming 64-bit hash.
#[derive(Debug, Clone)]
pub(crate) struct Digest {
    state: u64,
    pending: u64,
    filled: u32,
    len: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            state: 0x243F_6A88_85A3_08D3,
            pending: 0,
            filled: 0,
            len: 0,
        }
    }
}

impl Digest {
    fn mix(&mut self, word: u64) {
        self.state = (self.state.rotate_left(29) ^ word).wrapping_mul(MULTIPLIER);
    }

    fn push(&mut self, byte: u8) {
        self.pending |= u64::from(byte) << (8 * self.filled);
        self.filled += 1;
        if self.filled == 8 {
            let word = std::mem::take(&mut self.pending);
            self.filled = 0;
            self.mix(word);
        }
    }

    pub(crate) fn write(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        while self.filled != 0 && !bytes.is_empty() {
            self.push(bytes[0]);
            bytes = &bytes[1..];
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut le = [0u8; 8];
            le.copy_from_slice(word);
            self.mix(u64::from_le_bytes(le));
        }
        for &b in words.remainder() {
            self.push(b);
        }
    }

    /// Mixes in what `write` left pending, so that the next word starts a
    /// fresh one (fields then never take the byte-at-a-time path).
    fn align(&mut self) {
        if self.filled != 0 {
            let word = std::mem::take(&mut self.pending);
            self.filled = 0;
            self.mix(word ^ 0xA5A5_A5A5_A5A5_A5A5);
        }
    }

    pub(crate) fn write_u64(&mut self, v: u64) {
        self.align();
        self.mix(v);
    }

    /// A length-prefixed field, so that `("ab", "c")` and `("a", "bc")` differ.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.write_u64(bytes.len() as u64);
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut le = [0u8; 8];
            le.copy_from_slice(word);
            self.mix(u64::from_le_bytes(le));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut le = [0u8; 8];
            le[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(le));
        }
    }

    pub(crate) fn finish(mut self) -> u64 {
        let (pending, len) = (self.pending, self.len);
        self.mix(pending);
        self.mix(len);
        // SplitMix64's finaliser: every input bit reaches every output bit.
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// How a recording digests outputs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DigestMode {
    pub(crate) version: ProtocolVersion,
    /// Digest outputs as if redacted: a redacted recording replays with
    /// placeholder bodies, so only their lengths can be compared.
    pub(crate) redact: bool,
}

/// The digest of one step: its transmits and events, in order, and what it
/// returned.
pub(crate) fn step_digest<'t, 'e>(
    mode: DigestMode,
    transmits: impl Iterator<Item = &'t Transmit>,
    events: impl Iterator<Item = &'e Event>,
    outcome: &Outcome,
) -> u64 {
    let mut digest = Digest::default();
    for transmit in transmits {
        digest_transmit(&mut digest, mode, transmit);
    }
    digest.write_u64(u64::MAX);
    for event in events {
        digest_event(&mut digest, mode.redact, event);
    }
    digest.write_u64(u64::MAX);
    digest_outcome(&mut digest, outcome);
    digest.finish()
}

/// The common outcomes by tag; the others (errors, restore reports: rare)
/// through their structural encoding (`values.rs`), never their `Debug`
/// text, which another build may print differently.
fn digest_outcome(digest: &mut Digest, outcome: &Outcome) {
    match outcome {
        Outcome::Done => {}
        Outcome::Call(Ok(())) => digest.write_u64(1),
        Outcome::Kv(Ok(id)) => {
            digest.write_u64(2);
            digest.write_u64(id.0);
        }
        Outcome::Cancelled(cancelled) => digest.write_u64(3 + u64::from(*cancelled)),
        other => {
            let mut encoded = Vec::new();
            put_outcome(&mut encoded, other);
            digest.write_u64(5);
            digest.field(&encoded);
        }
    }
}

fn digest_actor(digest: &mut Digest, actor: &crate::ActorRef) {
    digest.field(actor.actor_id.as_bytes());
    digest.write_u64(u64::from(actor.generation));
}

fn digest_transmit(digest: &mut Digest, mode: DigestMode, transmit: &Transmit) {
    match transmit {
        Transmit::Frame(frame) if mode.redact => {
            digest.write_u64(1);
            match decode_to_server(mode.version, frame) {
                Ok(mut message) => {
                    redact::to_server(&mut message);
                    let encoded = encode_to_server(mode.version, &message).unwrap_or_default();
                    digest.field(&encoded);
                }
                Err(_) => digest.field(frame),
            }
        }
        Transmit::Frame(frame) => {
            digest.write_u64(1);
            digest.field(frame);
        }
        Transmit::Connect {
            conn,
            url,
            subprotocols,
        } => {
            digest.write_u64(2);
            digest.write_u64(conn.0);
            digest.field(url.as_bytes());
            // The token is never recorded: a replay connects with a
            // placeholder, so only the fact that there is one is compared.
            for protocol in subprotocols {
                let shown = if protocol.starts_with("rivet_token.") {
                    "rivet_token.*"
                } else {
                    protocol
                };
                digest.field(shown.as_bytes());
            }
        }
        Transmit::Close { conn, code, reason } => {
            digest.write_u64(3);
            digest.write_u64(conn.0);
            digest.write_u64(u64::from(*code));
            digest.field(reason.as_bytes());
        }
    }
}

/// Events carrying user data are hashed field by field (and, redacted, by
/// length); the rare others through their structural encoding
/// (`values.rs`), never their `Debug` text.
fn digest_event(digest: &mut Digest, redact: bool, event: &Event) {
    let data = |digest: &mut Digest, bytes: &[u8]| {
        if redact {
            digest.write_u64(bytes.len() as u64);
        } else {
            digest.field(bytes);
        }
    };
    match event {
        Event::HttpRequest(request) => {
            digest.write_u64(10);
            digest.write(&request.key.to_bytes());
            digest_actor(digest, &request.actor);
            digest.field(request.method.as_bytes());
            digest.field(request.path.as_bytes());
            for (name, value) in request.headers.iter() {
                digest.field(name.as_bytes());
                data(digest, value.as_bytes());
            }
            data(digest, &request.body);
            digest.write_u64(u64::from(request.streamed));
        }
        Event::HttpRequestChunk {
            key,
            data: body,
            finish,
        } => {
            digest.write_u64(11);
            digest.write(&key.to_bytes());
            data(digest, body);
            digest.write_u64(u64::from(*finish));
        }
        Event::WebSocketOpen(open) => {
            digest.write_u64(12);
            digest.write(&open.key.to_bytes());
            digest_actor(digest, &open.actor);
            digest.field(open.path.as_bytes());
            for (name, value) in open.headers.iter() {
                digest.field(name.as_bytes());
                data(digest, value.as_bytes());
            }
        }
        Event::WebSocketMessage {
            key,
            data: message,
            binary,
            index,
        } => {
            digest.write_u64(13);
            digest.write(&key.to_bytes());
            data(digest, message);
            digest.write_u64(u64::from(*binary) | u64::from(*index) << 8);
        }
        Event::KvResult { id, result } => {
            digest.write_u64(14);
            digest.write_u64(id.0);
            match result {
                Ok(crate::KvResponse::Entries(entries)) => {
                    for (key, value) in entries {
                        digest.field(key);
                        data(digest, value);
                    }
                }
                Ok(crate::KvResponse::Values(values)) => {
                    for value in values {
                        digest.write_u64(u64::from(value.is_some()));
                        data(digest, value.as_deref().unwrap_or_default());
                    }
                }
                Ok(crate::KvResponse::Done) => digest.write_u64(1),
                Err(e) => {
                    let mut encoded = Vec::new();
                    put_kv_error(&mut encoded, e);
                    digest.write_u64(2);
                    digest.field(&encoded);
                }
            }
        }
        other => {
            let mut encoded = Vec::new();
            put_event(&mut encoded, other, redact);
            digest.write_u64(15);
            digest.field(&encoded);
        }
    }
}

fn put_restore_report(buf: &mut Vec<u8>, report: &RestoreReport) {
    put_keys(buf, &report.restored);
    put_keys(buf, &report.stale);
    put_keys(buf, &report.closed);
}

/// An outcome, field by field (for the step digest).
fn put_outcome(buf: &mut Vec<u8>, outcome: &Outcome) {
    match outcome {
        Outcome::Done => buf.put_u8(0),
        Outcome::Call(result) => {
            buf.put_u8(1);
            put_result(buf, result.as_ref(), |_, ()| {});
        }
        Outcome::Kv(result) => {
            buf.put_u8(2);
            put_result(buf, result.as_ref(), |buf, id| buf.put_varint(id.0));
        }
        Outcome::Cancelled(cancelled) => {
            buf.put_u8(3);
            buf.put_bool(*cancelled);
        }
        Outcome::Restored(result) => {
            buf.put_u8(4);
            put_result(buf, result.as_ref(), put_restore_report);
        }
    }
}

fn put_result<T>(
    buf: &mut Vec<u8>,
    result: Result<&T, &CallError>,
    ok: impl FnOnce(&mut Vec<u8>, &T),
) {
    match result {
        Ok(value) => {
            buf.put_u8(0);
            ok(buf, value);
        }
        Err(e) => {
            buf.put_u8(1);
            put_call_error(buf, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_bytes_are_split_does_not_matter() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = Digest::default();
        whole.write(&data);
        let mut pieces = Digest::default();
        for chunk in data.chunks(3) {
            pieces.write(chunk);
        }
        assert_eq!(whole.finish(), pieces.finish());
        let mut other = Digest::default();
        other.write(&data[1..]);
        let mut again = Digest::default();
        again.write(&data);
        assert_ne!(other.finish(), again.finish());
    }
}

/// The digests of the rare outputs are part of the recording format: they
/// come from the outputs' structure (`encoding::values`), so a build that
/// prints them differently (`Debug`) replays a recording alike. Pinned
/// here: a change of these values is a format change (bump
/// `FORMAT_VERSION`).
#[cfg(test)]
mod pinned {
    use super::*;
    use crate::error::CallError;
    use crate::output::{ShutdownReason, StopReason};
    use crate::{ActorRef, KvError, KvRequestId, RequestKey};

    fn digest(events: &[Event], outcome: &Outcome) -> u64 {
        let mode = DigestMode {
            version: ProtocolVersion::V7,
            redact: false,
        };
        step_digest(mode, std::iter::empty(), events.iter(), outcome)
    }

    #[test]
    fn rare_outputs_digest_to_pinned_values() {
        let actor = ActorRef::new("A", 2);
        let key = RequestKey::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
        let events = [
            Event::ActorStop {
                actor: actor.clone(),
                reason: StopReason::Crashed("boom".into()),
            },
            Event::KvResult {
                id: KvRequestId(3),
                result: Err(KvError::TimedOut),
            },
            Event::WebSocketClosed {
                key,
                code: Some(1000),
                reason: None,
            },
            Event::ShutdownComplete {
                reason: ShutdownReason::Fatal("refused".into()),
            },
        ];
        let refused = Outcome::Call(Err(CallError::WrongState {
            actor,
            state: "stopping",
            call: "sleep_actor",
        }));
        let got = [
            digest(&events, &Outcome::Done),
            digest(&[], &refused),
            digest(&[], &Outcome::Kv(Err(CallError::KvQueueFull { limit: 8 }))),
        ];
        assert_eq!(got, PINNED, "{got:#018x?}");
    }

    const PINNED: [u64; 3] = [
        0x15e4_a3b1_6495_15d8,
        0x59ed_f7d9_3bdf_fb4e,
        0x5531_6c9d_e83c_345c,
    ];
}
