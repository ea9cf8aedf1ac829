//! Replaying a recording: a fresh core, the recorded inputs in order, and
//! after each the digest of what it produced compared with the recorded one.

use thiserror::Error;

use super::digest::{DigestMode, step_digest};
use super::reader::{ReadError, RecordingReader};
use crate::Timestamp;
use crate::config::ConfigError;
use crate::output::{Event, Transmit};
use crate::runner::SnapshotError;
use crate::runner::{Input, Outcome, Runner};

/// One replayed step, as the observer of [`replay`] sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReplayedStep<'s> {
    /// Its number, from 0.
    pub index: u64,
    /// Where its record starts in the file.
    pub offset: usize,
    /// The `now` it was given.
    pub now: Timestamp,
    /// The input.
    pub input: &'s Input<'static>,
    /// What the input returned.
    pub outcome: &'s Outcome,
    /// What the replayed core sent, in order.
    pub transmits: &'s [Transmit],
    /// What the replayed core reported to the user's code, in order.
    pub events: &'s [Event],
    /// Whether its outputs match the recorded ones.
    pub matches: bool,
}

/// A replay that matched to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplaySummary {
    /// Steps replayed.
    pub steps: u64,
    /// Whether the recording was cut (it was replayed up to the cut).
    pub cut: bool,
    /// Whether the recording was redacted (bodies compared by length only).
    pub redacted: bool,
    /// Whether it was a rotated segment, replayed from its snapshot.
    pub from_snapshot: bool,
}

/// Where a replay stopped matching.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Divergence {
    /// The step's number, from 0.
    pub step: u64,
    /// Where its record starts in the file.
    pub offset: usize,
    /// The `now` it was given.
    pub now: Timestamp,
    /// The input, as `Debug` text.
    pub input: String,
    /// The recorded digest.
    pub recorded: u64,
    /// The replay's digest.
    pub replayed: u64,
}

/// Why a replay failed.
///
/// # Examples
///
/// ```
/// use runner_core::recording::{ReadError, ReplayError, replay};
///
/// let err = replay(b"RIVETREC", |_| {}).unwrap_err();
/// assert_eq!(err, ReplayError::Read(ReadError::NoHeader));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The recording does not read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The recorded configuration is refused by this build.
    #[error("the recorded configuration is refused: {0}")]
    Config(#[from] ConfigError),
    /// A rotated segment's snapshot does not restore.
    #[error("the segment's snapshot does not restore: {0}")]
    Snapshot(#[from] SnapshotError),
    /// The replay's outputs differ from the recorded ones.
    #[error(
        "step {} (record at byte {}, t={:?}) diverged: recorded outputs digest {:016x}, replayed {:016x}; input: {}",
        .0.step, .0.offset, .0.now, .0.recorded, .0.replayed, .0.input
    )]
    Diverged(Box<Divergence>),
}

/// Replays `recording` on a fresh core (a rotated segment: on the core its
/// snapshot restores), calling `observe` after each step (the diverging one
/// included), and stops at the first divergence.
///
/// # Errors
///
/// See [`ReplayError`].
///
/// # Examples
///
/// ```
/// use runner_core::recording::{RecordOptions, replay};
/// use runner_core::{Config, Runner, Timestamp, Transmit};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start_recording(RecordOptions::new())?;
/// runner.start(Timestamp::ZERO);
/// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
/// runner.handle_connected(Timestamp::from_millis(3), conn);
/// let mut file = Vec::new();
/// runner.take_recording(&mut file);
///
/// let mut sent = 0;
/// let summary = replay(&file, |step| sent += step.transmits.len())?;
/// assert_eq!((summary.steps, sent), (2, 2)); // the connect, then the hello
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn replay(
    recording: &[u8],
    mut observe: impl FnMut(&ReplayedStep<'_>),
) -> Result<ReplaySummary, ReplayError> {
    let mut reader = RecordingReader::new(recording)?;
    let header = reader.header().clone();
    let mode = DigestMode {
        version: header.config.protocol_version,
        redact: header.redacted,
    };
    let from_snapshot = reader.snapshot().is_some();
    let mut runner = match reader.snapshot() {
        Some(snapshot) => Runner::from_snapshot(snapshot)?,
        None => Runner::new(header.config, header.created)?,
    };
    // Outputs the snapshot holds still queued were produced by steps
    // before the segment: no recorded digest covers them.
    while runner.poll_transmit().is_some() {}
    while runner.poll_event().is_some() {}
    let (mut transmits, mut events) = (Vec::new(), Vec::new());
    let mut index = 0;
    while let Some(step) = reader.next_step()? {
        let outcome = runner.input(step.now, step.input.clone());
        transmits.clear();
        transmits.extend(std::iter::from_fn(|| runner.poll_transmit()));
        events.clear();
        events.extend(std::iter::from_fn(|| runner.poll_event()));
        let replayed = step_digest(mode, transmits.iter(), events.iter(), &outcome);
        observe(&ReplayedStep {
            index,
            offset: step.offset,
            now: step.now,
            input: &step.input,
            outcome: &outcome,
            transmits: &transmits,
            events: &events,
            matches: replayed == step.digest,
        });
        if replayed != step.digest {
            return Err(ReplayError::Diverged(Box::new(Divergence {
                step: index,
                offset: step.offset,
                now: step.now,
                input: input_summary(&step.input, 200),
                recorded: step.digest,
                replayed,
            })));
        }
        index += 1;
    }
    Ok(ReplaySummary {
        steps: index,
        cut: reader.was_cut(),
        redacted: mode.redact,
        from_snapshot,
    })
}

/// A short description of an input (frames by length).
pub(crate) fn input_summary(input: &Input<'_>, width: usize) -> String {
    match input {
        Input::Frame { conn, frame } => format!("frame on {conn:?} ({} bytes)", frame.len()),
        Input::Start => "start".into(),
        other => clip(format!("{other:?}"), width),
    }
}

/// `text` cut to `width` characters, with an ellipsis when cut.
pub(crate) fn clip(mut text: String, width: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(width) {
        text.truncate(cut);
        text.push('…');
    }
    text
}
