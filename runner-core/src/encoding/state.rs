//! The helpers every table of the runner writes its part of a snapshot
//! with (see `crate::runner::snapshot`, whose module documentation has the
//! format): a [`Saver`] that knows whether to redact, protocol values in
//! BARE, deadline tokens and queues, and bounded counters.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{Cursor, Malformed, Put};
use super::values::{get_time, put_time};
use crate::deadline::{DeadlineQueue, DeadlineToken};
use crate::protocol::ProtocolVersion;

/// Where a snapshot is written, and how.
pub(crate) struct Saver {
    pub(crate) buf: Vec<u8>,
    /// Bodies, messages, KV values and header values as placeholders.
    pub(crate) redact: bool,
    /// The protocol version frames are encoded with (to redact them).
    pub(crate) version: ProtocolVersion,
}

impl Saver {
    /// A protocol value in BARE, as `bytes`.
    pub(crate) fn bare<T: Serialize>(&mut self, value: &T) {
        let encoded = serde_bare::to_vec(value).unwrap_or_default();
        self.buf.put_bytes(&encoded);
    }

    pub(crate) fn token(&mut self, token: DeadlineToken) {
        let (at, seq) = token.parts();
        put_time(&mut self.buf, at);
        self.buf.put_varint(seq);
    }

    pub(crate) fn opt_token(&mut self, token: Option<DeadlineToken>) {
        self.buf.put_bool(token.is_some());
        if let Some(token) = token {
            self.token(token);
        }
    }

    /// A deadline queue: its next sequence number, then its entries.
    pub(crate) fn queue<K>(
        &mut self,
        queue: &DeadlineQueue<K>,
        mut key: impl FnMut(&mut Saver, &K),
    ) {
        let (entries, next_seq) = queue.parts();
        self.buf.put_varint(next_seq);
        let entries: Vec<_> = entries.collect();
        self.buf.put_varint(entries.len() as u64);
        for (token, k) in entries {
            self.token(token);
            key(self, k);
        }
    }
}

/// Ids and counters past this are refused: a forged one near `u64::MAX`
/// would overflow when the runner counts on from it.
const MAX_COUNTER: u64 = 1 << 62;

/// A protocol value in BARE, from `bytes`.
pub(crate) fn bare<T: DeserializeOwned>(c: &mut Cursor<'_>) -> Result<T, Malformed> {
    serde_bare::from_slice(c.bytes()?).map_err(|_| "protocol value does not decode")
}

pub(crate) fn token(c: &mut Cursor<'_>) -> Result<DeadlineToken, Malformed> {
    let at = get_time(c)?;
    Ok(DeadlineToken::from_parts(at, c.varint()?))
}

pub(crate) fn opt_token(c: &mut Cursor<'_>) -> Result<Option<DeadlineToken>, Malformed> {
    Ok(if c.bool()? { Some(token(c)?) } else { None })
}

/// A counter or id, refused past [`MAX_COUNTER`].
pub(crate) fn counter(c: &mut Cursor<'_>) -> Result<u64, Malformed> {
    let v = c.varint()?;
    if v > MAX_COUNTER {
        return Err("counter out of range");
    }
    Ok(v)
}

/// A deadline queue written by `Saver::queue`.
pub(crate) fn queue<K>(
    c: &mut Cursor<'_>,
    mut key: impl FnMut(&mut Cursor<'_>) -> Result<K, Malformed>,
) -> Result<DeadlineQueue<K>, Malformed> {
    let next_seq = counter(c)?;
    let mut entries = Vec::new();
    for _ in 0..c.count()? {
        let t = token(c)?;
        entries.push((t, key(c)?));
    }
    DeadlineQueue::from_parts(entries, next_seq)
}
