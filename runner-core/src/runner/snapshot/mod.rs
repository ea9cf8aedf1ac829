//! [`Snapshot`]: the whole state of a [`Runner`] as bytes, and the runner
//! restored from them, whose outputs are then the original's for the same
//! inputs. The flight recorder starts every rotated segment with one
//! (see [`crate::recording`]), so that a size-capped recording keeps the
//! newest inputs and still replays.
//!
//! # Format (version 1)
//!
//! The recording's primitives (see [`crate::recording`]: LEB128 `varint`,
//! `zigzag`, length-prefixed `bytes`/`str`, `opt<T>`, `dur` in
//! nanoseconds); `bare<T>` is `bytes` holding the protocol type `T` in
//! BARE (`serde_bare`), the schema of `runner_core::protocol`.
//!
//! ```text
//! snapshot = magic "RIVETSNP" (8) | version u16 = 1 | flags u8 (1 = redacted,
//!            2 = had a token) | body | crc u32 (CRC-32 of everything before it)
//! body     = config (the recording header's) | now dur | stepped u8
//!            | rng u64 | conn | next_conn_id varint | backoff_attempt varint
//!            | runner_id opt<str> | metadata opt<(lost zigzag, stop opt, grace opt)>
//!            | timers: 6 opt<dur> (handshake, liveness, reconnect, runner lost,
//!              drain, close wait) | shutdown
//!            | actors: varint count, actor* (by id)
//!            | watchdogs: queue<actor, kind u8 (0 start, 1 stop)>
//!            | retired: varint count, (actor, last_command zigzag, log,
//!              confirm opt<token>)*, queue<actor, conn varint>
//!            | kv: next_id varint, next_wire_id varint,
//!              in flight: count, (id, wire_id, opt<call>, expiry token)*,
//!              queued: count, (id, call, expiry token)*, queue<id>
//!            | tunnel: count, (key, owner actor, next_out varint, held u8,
//!              kind)* (by key), outbound: count, bare<ToServerTunnelMessage>*,
//!              dropped varint
//!            | transmits: count, transmit* | events: count, event*
//!            | outgoing events: count, bare<EventWrapper>*
//!            | outgoing acks: count, bare<ActorCheckpoint>* | drained: count, actor*
//!            | counters (every `Metrics` counter, in `Counters` field order)
//! actor    = record | queued start opt<(bare<ActorCheckpoint>, bare<CommandStartActor>)>
//! record   = actor | phase | last_command zigzag | log | orphaned u8
//!            | watchdog opt<token> | requests: count, key* | inbox: count,
//!              bare<ToClientTunnelMessage>*
//! log      = next_index zigzag | count, bare<protocol::Event>*
//! queue<K> = next_seq varint | count, (token, K)*    token = at dur | seq varint
//! ```
//!
//! `conn`, `shutdown`, `phase`, `kind`, events and transmits are a tag byte
//! and their fields (`recording/values.rs`, this module's `load.rs`). Tables
//! are written in key order, so equal states give equal bytes. Derived
//! values (lookup tables by wire id or by actor, byte counts, the hashers,
//! the URL) are rebuilt, not stored. The token is never stored (a restored
//! runner has a placeholder, like a replayed recording); redacted, a
//! snapshot has bodies, messages, KV values and header values replaced by
//! placeholders of the same length.
//!
//! **Hostile bytes**: the checksum refuses a changed or cut snapshot; a
//! forged one decodes into a typed [`SnapshotError`], never a panic, and
//! never allocates more than its own size (every count is checked against
//! the bytes left).

mod load;
mod save;

use thiserror::Error;

use super::Runner;
use crate::config::ConfigError;
use crate::encoding::codec::{Cursor, Malformed, Put, crc32};
use crate::ids::RequestKey;
use crate::protocol::Id;

/// The first eight bytes of every snapshot.
///
/// # Examples
///
/// ```
/// use runner_core::{Config, Runner, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, Timestamp};
///
/// let runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// let bytes = runner.snapshot().into_bytes();
/// assert_eq!(bytes[..8], SNAPSHOT_MAGIC);
/// assert_eq!(bytes[8..10], SNAPSHOT_VERSION.to_le_bytes());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"RIVETSNP";

/// The snapshot format version this build writes and reads (two bytes,
/// little endian, after [`SNAPSHOT_MAGIC`]; see its example).
pub const SNAPSHOT_VERSION: u16 = 1;

const FLAG_REDACTED: u8 = 1;
const FLAG_TOKEN: u8 = 2;

/// Bytes before the body: magic, version, flags.
const PREFIX: usize = 11;

/// The whole state of a [`Runner`], encoded (see the module's format).
///
/// # Examples
///
/// ```
/// use runner_core::{Config, Runner, Snapshot, Timestamp, Transmit};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start(Timestamp::ZERO);
/// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
/// let snapshot = runner.snapshot();
/// // Stored as bytes, read back, restored: the copy goes on as the original.
/// let bytes = snapshot.as_bytes().to_vec();
/// let mut copy = Runner::from_snapshot(&Snapshot::from_bytes(bytes))?;
/// for r in [&mut runner, &mut copy] {
///     r.handle_connected(Timestamp::from_millis(5), conn);
/// }
/// assert_eq!(runner.poll_transmit(), copy.poll_transmit()); // the same hello
/// assert_eq!(runner.poll_timeout(), copy.poll_timeout());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Snapshot {
    /// A snapshot from stored bytes; they are checked by
    /// [`Runner::from_snapshot`].
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Runner, Snapshot, SnapshotError};
    ///
    /// let junk = Snapshot::from_bytes(b"RIVETSNP\x09\x00".to_vec());
    /// assert_eq!(Runner::from_snapshot(&junk).unwrap_err(), SnapshotError::UnsupportedVersion(9));
    /// ```
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Snapshot { bytes }
    }

    /// The encoded snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// let snapshot = runner.snapshot();
    /// assert!(snapshot.as_bytes().starts_with(b"RIVETSNP"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded snapshot, owned.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// let snapshot = runner.snapshot();
    /// let copy = snapshot.clone();
    /// assert_eq!(snapshot.into_bytes(), copy.as_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Whether bodies, messages, KV values and header values were replaced
    /// by placeholders (`false` when the bytes are not a snapshot). A
    /// redacted recording's segments hold redacted snapshots.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::recording::{RecordOptions, RecordingReader};
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// assert!(!runner.snapshot().is_redacted());
    /// runner.start_recording(RecordOptions::new().redact(true))?;
    /// runner.rotate_recording()?;
    /// let mut segment = Vec::new();
    /// runner.take_recording(&mut segment);
    /// let reader = RecordingReader::new(&segment)?;
    /// assert!(reader.snapshot().is_some_and(|s| s.is_redacted()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_redacted(&self) -> bool {
        self.bytes.get(10).is_some_and(|f| f & FLAG_REDACTED != 0)
    }
}

/// Why a snapshot does not restore.
///
/// # Examples
///
/// ```
/// use runner_core::{Config, Runner, Snapshot, SnapshotError, Timestamp};
///
/// let runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// let mut bytes = runner.snapshot().into_bytes();
/// let cut = Snapshot::from_bytes(bytes[..bytes.len() - 1].to_vec());
/// assert_eq!(Runner::from_snapshot(&cut).unwrap_err(), SnapshotError::Checksum);
/// bytes[20] ^= 1;
/// let changed = Runner::from_snapshot(&Snapshot::from_bytes(bytes)).unwrap_err();
/// assert_eq!(changed.to_string(), "the snapshot's checksum does not match: it was cut or changed");
/// let not = Runner::from_snapshot(&Snapshot::from_bytes(b"hello".to_vec())).unwrap_err();
/// assert_eq!(not, SnapshotError::NotASnapshot);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not start with [`SNAPSHOT_MAGIC`].
    #[error("not a runner snapshot (wrong magic bytes)")]
    NotASnapshot,
    /// A format version this build does not read.
    #[error(
        "snapshot format version {0} is not supported (this build reads version {SNAPSHOT_VERSION})"
    )]
    UnsupportedVersion(u16),
    /// The checksum does not match: the snapshot was cut or changed.
    #[error("the snapshot's checksum does not match: it was cut or changed")]
    Checksum,
    /// It passed its checksum but does not decode: written by a different
    /// build, or forged.
    #[error("malformed snapshot at byte {offset}: {what}")]
    Malformed {
        /// Where decoding stopped.
        offset: usize,
        /// What did not decode.
        what: &'static str,
    },
    /// The stored configuration is refused by this build.
    #[error("the snapshot's configuration is refused: {0}")]
    Config(#[from] ConfigError),
}

/// The open requests and sockets by key, and the KV calls in flight by
/// wire id, each with its actor's id.
pub(crate) type OpenWork = (Vec<(RequestKey, Id)>, Vec<(u32, Id)>);

impl Runner {
    /// The open requests and sockets by key, and the KV calls in flight by
    /// wire id, each with its actor: what a timeline that starts from a
    /// snapshot needs to place their later messages.
    pub(crate) fn open_work(&self) -> OpenWork {
        let requests = self.tunnel.owners();
        let requests = requests.map(|(key, owner)| (key, owner.actor_id.clone()));
        let kv = self.kv.wire_owners().map(|(wire, id)| (wire, id.clone()));
        (requests.collect(), kv.collect())
    }

    /// The whole state of this runner (see [`Snapshot`]). `O(state)`: for
    /// occasional use (the recorder takes one per rotated segment), never
    /// per input. The flight recorder, if any, is not part of it.
    ///
    /// # Examples
    ///
    /// See [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with(false)
    }

    /// The snapshot, with bodies, messages, KV values and header values
    /// replaced by placeholders of the same length when `redact`.
    pub(crate) fn snapshot_with(&self, redact: bool) -> Snapshot {
        let mut buf = Vec::with_capacity(1024);
        buf.extend_from_slice(&SNAPSHOT_MAGIC);
        buf.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        let token = if self.config.token.is_some() {
            FLAG_TOKEN
        } else {
            0
        };
        buf.put_u8(if redact { FLAG_REDACTED } else { 0 } | token);
        let mut saver = crate::encoding::state::Saver {
            buf,
            redact,
            version: self.config.protocol_version,
        };
        self.save(&mut saver);
        let mut buf = saver.buf;
        let crc = crc32(&buf);
        buf.extend_from_slice(&crc.to_le_bytes());
        Snapshot { bytes: buf }
    }

    /// The runner a [`Snapshot`] holds: for the same inputs from here on,
    /// its outputs are the original's. Its configuration's token, never
    /// stored, is a placeholder if there was one. It does not record.
    ///
    /// # Errors
    ///
    /// See [`SnapshotError`].
    ///
    /// # Examples
    ///
    /// See [`Snapshot`].
    pub fn from_snapshot(snapshot: &Snapshot) -> Result<Runner, SnapshotError> {
        let bytes = &snapshot.bytes;
        let Some(magic) = bytes.get(..8) else {
            return Err(SnapshotError::NotASnapshot);
        };
        if magic != SNAPSHOT_MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let [v0, v1] = *bytes.get(8..10).ok_or(SnapshotError::Checksum)? else {
            return Err(SnapshotError::Checksum);
        };
        let version = u16::from_le_bytes([v0, v1]);
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let flags = *bytes.get(10).ok_or(SnapshotError::Checksum)?;
        let (covered, crc) = bytes
            .split_at_checked(bytes.len().saturating_sub(4))
            .filter(|(covered, _)| covered.len() >= PREFIX)
            .ok_or(SnapshotError::Checksum)?;
        if crc32(covered).to_le_bytes() != crc {
            return Err(SnapshotError::Checksum);
        }
        let body = &covered[PREFIX..];
        let mut cursor = Cursor::new(body);
        let malformed = |cursor: &Cursor<'_>, what: Malformed| SnapshotError::Malformed {
            offset: PREFIX + body.len() - cursor.remaining(),
            what,
        };
        let runner = load::load(&mut cursor, flags & FLAG_TOKEN != 0).map_err(|e| match e {
            load::LoadError::Malformed(what) => malformed(&cursor, what),
            load::LoadError::Config(e) => SnapshotError::Config(e),
        })?;
        if !cursor.is_empty() {
            return Err(malformed(&cursor, "bytes left after the state"));
        }
        Ok(runner)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::protocol::{KvPutRequest, KvRequestData, ToClientRequestStart};
    use crate::{HttpResponse, Runner, Timestamp, TransportClose, testing};

    const SECRETS: [&[u8]; 4] = [
        b"held-request-body",
        b"kv-secret-value",
        b"buffered-response-body",
        b"queued-event-body",
    ];

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn request(actor: &str, body: &'static [u8]) -> ToClientRequestStart {
        ToClientRequestStart {
            body: Some(Bytes::from_static(body)),
            ..testing::get(actor, "/")
        }
    }

    /// A runner holding user data in every place a snapshot keeps it: a
    /// request held for a starting actor, a KV put, a response buffered
    /// while disconnected, an event still queued.
    fn runner_with_secrets() -> Runner {
        let (mut runner, conn) = testing::connected(testing::config()).unwrap();
        let running = testing::started_actor(&mut runner, conn, "A").unwrap();
        testing::start_actor(&mut runner, conn, "B").unwrap();
        testing::http_request(&mut runner, conn, 1, request("B", SECRETS[0])).unwrap();
        let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/")).unwrap();
        testing::drain(&mut runner);
        // Not drained from here on: this request's event stays queued.
        testing::http_request(&mut runner, conn, 3, request("A", SECRETS[3])).unwrap();
        runner.handle_closed(Timestamp::ZERO, conn, TransportClose::error("reset"));
        let put = KvPutRequest {
            keys: vec![Bytes::from_static(b"k")],
            values: vec![Bytes::from_static(SECRETS[1])],
        };
        let kv = KvRequestData::Put(put);
        runner.kv(Timestamp::ZERO, &running, kv).unwrap();
        let answer = HttpResponse::new(200).body(Bytes::from_static(SECRETS[2]));
        runner.respond(Timestamp::ZERO, key, answer).unwrap();
        runner
    }

    #[test]
    fn a_redacted_snapshot_keeps_no_user_data_and_restores() {
        let runner = runner_with_secrets();
        let plain = runner.snapshot_with(false);
        for secret in SECRETS {
            let text = String::from_utf8_lossy(secret);
            assert!(contains(plain.as_bytes(), secret), "{text} not held");
        }
        let redacted = runner.snapshot_with(true);
        assert!(redacted.is_redacted() && !plain.is_redacted());
        for secret in SECRETS {
            let text = String::from_utf8_lossy(secret);
            assert!(!contains(redacted.as_bytes(), secret), "{text} kept");
        }
        assert_eq!(redacted.as_bytes().len(), plain.as_bytes().len());
        let restored = Runner::from_snapshot(&redacted).unwrap();
        assert_eq!(restored.pending_kv_count(), runner.pending_kv_count());
    }
}
