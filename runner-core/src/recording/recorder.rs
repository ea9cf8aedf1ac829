//! The recorder the runner carries while recording: it appends records to
//! an in-memory buffer that the caller drains with
//! [`Runner::take_recording`](crate::Runner::take_recording). Pure: no IO,
//! no clock; the caller writes the bytes wherever it likes.

use tracing::warn;

use super::digest::{DigestMode, step_digest};
use super::reader::{FORMAT_VERSION, MAGIC};
use super::wire::{
    FLAG_REDACTED, FLAG_SEGMENT, FLAG_TOKEN, KIND_HEADER, KIND_SNAPSHOT, KIND_STEP, put_input,
};
use super::{RecordOptions, redact};
use crate::Timestamp;
use crate::config::Config;
use crate::encoding::codec::{FRAME_OVERHEAD, Put, crc32, length_check};
use crate::encoding::config::put_config;
use crate::output::{Event, Transmit};
use crate::runner::{Input, Outcome, RecordingState, Snapshot, StepRecorder};

/// Bytes before a record's body: the length and its check byte.
const PREFIX: usize = 5;

#[derive(Debug)]
pub(crate) struct Recorder {
    buf: Vec<u8>,
    /// Where the record being written starts, between `begin_step` and
    /// `end_step`: it is not handed out until complete.
    open: Option<usize>,
    last_now: Timestamp,
    mode: DigestMode,
    max_buffered: usize,
    state: RecordingState,
}

impl Recorder {
    /// A recorder whose buffer starts with the file header and the header
    /// record (configuration and creation time).
    pub(crate) fn new(config: &Config, created: Timestamp, options: &RecordOptions) -> Self {
        let mut recorder = Recorder {
            buf: Vec::with_capacity(4096),
            open: None,
            last_now: created,
            mode: DigestMode {
                version: config.protocol_version,
                redact: options.redact,
            },
            max_buffered: options.max_buffered,
            state: RecordingState::On,
        };
        recorder.write_header(config, created, 0);
        recorder
    }

    /// The file header and the header record; `segment` flags a rotated
    /// segment, whose snapshot record follows.
    fn write_header(&mut self, config: &Config, created: Timestamp, segment: u8) {
        self.buf.extend_from_slice(&MAGIC);
        self.buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        self.open_record(KIND_HEADER);
        self.buf.put_duration(created.as_duration());
        let flags = if self.mode.redact { FLAG_REDACTED } else { 0 }
            | if config.token.is_some() {
                FLAG_TOKEN
            } else {
                0
            }
            | segment;
        self.buf.put_u8(flags);
        put_config(&mut self.buf, config);
        self.buf
            .put_str(concat!("runner-core ", env!("CARGO_PKG_VERSION")));
        self.close_record();
    }

    fn open_record(&mut self, kind: u8) {
        self.open = Some(self.buf.len());
        self.buf.extend_from_slice(&[0; PREFIX]);
        self.buf.push(kind);
    }

    fn close_record(&mut self) {
        let Some(start) = self.open.take() else {
            return;
        };
        let body = start + PREFIX;
        let len = u32::try_from(self.buf.len() - body)
            .unwrap_or(u32::MAX)
            .to_le_bytes();
        self.buf[start..start + 4].copy_from_slice(&len);
        self.buf[start + 4] = length_check(len);
        let crc = crc32(&self.buf[body..]);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(
            self.buf.len() - start,
            u32::from_le_bytes(len) as usize + FRAME_OVERHEAD
        );
    }
}

impl StepRecorder for Recorder {
    fn state(&self) -> RecordingState {
        self.state
    }

    fn stop(&mut self) {
        if self.state == RecordingState::On {
            self.state = RecordingState::Stopped;
        }
    }

    /// Writes the input (redacted if asked) before it runs.
    fn begin_step(&mut self, now: Timestamp, input: &Input<'_>) {
        if self.state != RecordingState::On {
            return;
        }
        if self.buf.len() >= self.max_buffered {
            // Complete records stay available to `take`: the recording ends
            // cleanly here, as if cut, rather than with a gap.
            warn!(
                buffered = self.buf.len(),
                "flight recording stopped: its buffer was not drained"
            );
            self.state = RecordingState::Overflowed;
            return;
        }
        self.open_record(KIND_STEP);
        let delta =
            now.as_duration().as_nanos() as i128 - self.last_now.as_duration().as_nanos() as i128;
        self.buf
            .put_zigzag(delta.clamp(i64::MIN.into(), i64::MAX.into()) as i64);
        self.last_now = now;
        let redacted = self
            .mode
            .redact
            .then(|| redact::input(self.mode.version, input))
            .flatten();
        put_input(&mut self.buf, redacted.as_ref().unwrap_or(input));
    }

    /// Appends the digest of what the input produced and closes its record.
    fn end_step(
        &mut self,
        transmits: &mut dyn Iterator<Item = &Transmit>,
        events: &mut dyn Iterator<Item = &Event>,
        outcome: &Outcome,
    ) {
        if self.open.is_none() {
            return;
        }
        let digest = step_digest(self.mode, transmits, events, outcome);
        self.buf.extend_from_slice(&digest.to_le_bytes());
        self.close_record();
    }

    fn redacts(&self) -> bool {
        self.mode.redact
    }

    /// Drops what was not taken and starts a segment: the file header, the
    /// header record (flagged as a segment, created at `now`) and the
    /// snapshot record.
    fn restart(&mut self, config: &Config, now: Timestamp, snapshot: &Snapshot) {
        if self.state != RecordingState::On {
            return;
        }
        self.buf.clear();
        self.open = None;
        self.last_now = now;
        self.write_header(config, now, FLAG_SEGMENT);
        self.open_record(KIND_SNAPSHOT);
        self.buf.extend_from_slice(snapshot.as_bytes());
        self.close_record();
    }

    /// Moves the complete records into `out`.
    fn take(&mut self, out: &mut Vec<u8>) {
        if self.open.is_none() {
            out.append(&mut self.buf);
        }
    }
}
