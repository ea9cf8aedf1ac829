//! The flight recorder: every input of the core, recorded so that a run can
//! be replayed exactly on another machine.
//!
//! The core is deterministic — the same configuration, seed and inputs give
//! the same outputs — and every input goes through one funnel
//! (`Runner::step`). While recording, that funnel appends each [`Input`]
//! with its `now` to an in-memory buffer, and after it ran the digest of
//! what it produced (transmits, events, return value). The caller drains
//! the buffer with [`Runner::take_recording`] and writes it wherever it
//! likes; the host does this for both drivers (`Builder::record_to`).
//! [`replay`] feeds a recording to a fresh core and checks each digest;
//! the `runner-replay` binary wraps it, with a [`Timeline`].
//!
//! ```
//! use runner_core::recording::{RecordOptions, replay};
//! use runner_core::{Config, Runner, ShutdownMode, Timestamp};
//!
//! // A custom loop records by turning recording on before the first input
//! // and draining the buffer whenever it drains the outputs.
//! let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
//! runner.start_recording(RecordOptions::new())?;
//! let mut file = Vec::new();
//! runner.start(Timestamp::ZERO);
//! runner.shutdown(Timestamp::from_millis(10), ShutdownMode::Immediate);
//! while runner.poll_transmit().is_some() {}
//! while runner.poll_event().is_some() {}
//! runner.take_recording(&mut file); // e.g. `file.write_all(..)` in a real loop
//! assert_eq!(replay(&file, |_| {})?.steps, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Format (version 2)
//!
//! All integers are little endian; `varint` is unsigned LEB128, `zigzag`
//! a signed varint, `bytes` and `str` a varint length then the bytes,
//! `opt<T>` a byte 0 (absent) or 1 then `T`, `dur` a varint of nanoseconds.
//!
//! ```text
//! file    = magic "RIVETREC" (8) | version u16 = 2 | header record
//!           [snapshot record, in a rotated segment] | step record*
//! record  = len u32 | check u8 | body (len bytes) | crc u32
//!           check = 0x5A xor the four length bytes; crc = CRC-32 (IEEE) of body
//! header  = kind 0 | created dur | flags u8 (1 = redacted, 2 = had a token,
//!           4 = rotated segment: a snapshot record follows, `created` is its time)
//!           | endpoint str | namespace str | runner_name str | runner_key str
//!           | version varint | total_slots varint
//!           | prepopulate: varint count, (name str, metadata str)*
//!           | metadata opt<str> | protocol_version varint | rng_seed varint
//!           | timeouts: 9 dur (connect, init, liveness, actor_start, actor_stop,
//!             kv_request, shutdown_drain, close, retention)
//!           | backoff: initial dur, max dur, jitter f64 bits (8)
//!           | limits: 14 varint (in `Limits` field order) | producer str
//! snapshot = kind 2 | a `Snapshot` (`crate::Snapshot`: its own magic,
//!           version and checksum; the runner's whole state when the segment began)
//! step    = kind 1 | now: zigzag nanoseconds since the previous step's now
//!           (the header's created for the first) | input | digest u64
//! input   = tag u8 | fields: 0 start, 1 timeout, 2 connected conn,
//!           3 frame conn bytes, 4 text_frame conn,
//!           5 closed conn code:opt<varint> reason:str http_status:opt<varint>,
//!           6 shutdown immediate:u8, 7 actor_started actor error:opt<str>,
//!           8 actor_stopped actor, 9 sleep actor, 10 stop actor,
//!           11 set_alarm actor set:u8 ts:zigzag, 12 crash actor message:str,
//!           13 kv actor request:bytes (serde_bare `KvRequestData`),
//!           14 cancel_kv id:varint, 15 ws_accept key can_hibernate:u8,
//!           16 ws_reject key code:varint reason:str,
//!           17 ws_send key data:bytes binary:u8,
//!           18 ws_close key code:opt<varint> reason:opt<str>,
//!           19 ws_ack key index:varint,
//!           20 respond key status:varint headers body:bytes,
//!           21 abort key, 22 restore actor count:varint (key last:varint
//!           next:varint path:str headers)*
//!           where conn = varint, actor = id:str generation:varint,
//!           key = 8 bytes (gateway id, request id), headers = varint count,
//!           (name str, value str)*
//! ```
//!
//! The token is never recorded (a replay uses a placeholder, and the digest
//! of a connect compares only that there is one). A cut file reads up to
//! its last complete record; a changed byte fails the length check or the
//! CRC ([`ReadError::Corrupt`]).
//!
//! **Redaction** ([`RecordOptions::redact`]) replaces request and response
//! bodies, WebSocket messages, KV values and header values by zero bytes or
//! `*` of the same length, in the inputs and in the digests, so a redacted
//! recording can be shared and still replays step for step: the core never
//! looks at those contents. Redacting costs a decode and re-encode of each
//! frame; without it, recording copies the input bytes and hashes the outputs.
//!
//! The digest covers each transmit and event field by field, and the rare
//! outputs and every error outcome through their structural encoding
//! (`values.rs`), never `Debug` text, so another build replays it alike.
//!
//! **Bounds**: the buffer grows until drained; past
//! [`RecordOptions::max_buffered`] recording stops
//! ([`RecordingState::Overflowed`]) and what was buffered stays a valid,
//! shorter recording.
//!
//! **Segments and rotation**: [`Runner::rotate_recording`] starts a new
//! segment — a file of its own, whose header is flagged as a segment and
//! followed by a [`Snapshot`](crate::Snapshot) of the runner's whole state
//! (redacted if the recording is). A segment replays on its own: [`replay`]
//! restores the core from its snapshot and checks the steps that follow.
//! The restart point is a snapshot because nothing else is one: a
//! connection's start is not (actors, their unacknowledged events, KV
//! calls, retired generations, open requests and timers outlive a
//! reconnection), and the run's start is only for the first segment. The
//! host keeps the current and the previous segment
//! ([`previous_segment_path`]), so a size cap keeps the newest inputs.

mod digest;
mod reader;
mod recorder;
mod redact;
mod replay;
mod timeline;
mod wire;

pub use reader::{
    FORMAT_VERSION, MAGIC, ReadError, RecordedStep, RecordingHeader, RecordingReader,
};
pub use replay::{Divergence, ReplayError, ReplaySummary, ReplayedStep, replay};
pub use timeline::Timeline;

#[doc(no_inline)]
pub use crate::runner::{Input, Outcome, RecordError, RecordingState};

use crate::Runner;
use recorder::Recorder;

/// Where a rotated recording keeps its previous segment: `path` with `.1`
/// appended to its file name (`run.rec` → `run.rec.1`). The host writes
/// the current segment at `path` and renames it to this when it rotates
/// (see `Builder::record_max_bytes`); `runner-replay <path>` replays this
/// one first when it exists.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use runner_core::recording::previous_segment_path;
///
/// let previous = previous_segment_path(Path::new("/var/log/runner/run.rec"));
/// assert_eq!(previous, Path::new("/var/log/runner/run.rec.1"));
/// ```
pub fn previous_segment_path(path: &std::path::Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    name.into()
}

/// How to record.
///
/// # Examples
///
/// ```
/// use runner_core::recording::RecordOptions;
///
/// let options = RecordOptions::new().redact(true).max_buffered(1 << 20);
/// assert!(options.redact);
/// assert_eq!(options.max_buffered, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordOptions {
    /// Replace bodies, KV values and header values by placeholders of the
    /// same length. Default: off.
    pub redact: bool,
    /// Most bytes kept in the core's buffer between two
    /// [`Runner::take_recording`](crate::Runner::take_recording) calls
    /// before recording stops. Default: 64 MiB.
    pub max_buffered: usize,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            redact: false,
            max_buffered: 64 << 20,
        }
    }
}

impl RecordOptions {
    /// The defaults: no redaction, 64 MiB of buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`redact`](Self::redact).
    #[must_use]
    pub fn redact(mut self, redact: bool) -> Self {
        self.redact = redact;
        self
    }

    /// Sets [`max_buffered`](Self::max_buffered).
    #[must_use]
    pub fn max_buffered(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }
}

impl Runner {
    /// Starts recording every input (see [`crate::recording`]). Must come
    /// before the first input, so that a fresh core can replay the
    /// recording.
    ///
    /// # Errors
    ///
    /// [`RecordError::AfterFirstInput`], [`RecordError::AlreadyRecording`].
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::recording::{RecordOptions, RecordingState};
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start_recording(RecordOptions::new())?;
    /// assert_eq!(runner.recording_state(), RecordingState::On);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_recording(&mut self, options: RecordOptions) -> Result<(), RecordError> {
        self.attach_recorder(|config, created| Box::new(Recorder::new(config, created, &options)))
    }
}
