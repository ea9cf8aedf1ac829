//! The runner's side of the flight recorder (see [`crate::recording`]):
//! the slot a recorder plugs into at the funnel, and the calls to drain,
//! stop and query it. The recorder itself lives in `crate::recording`; the
//! runner only knows it through [`StepRecorder`].

use std::fmt;

use thiserror::Error;

use super::{Input, Outcome, Runner};
use crate::Timestamp;
use crate::config::Config;
use crate::output::{Event, Transmit};

/// What `Runner::step` calls around every input while recording.
pub(crate) trait StepRecorder: fmt::Debug + Send + Sync {
    /// Before the input runs.
    fn begin_step(&mut self, now: Timestamp, input: &Input<'_>);
    /// After it ran and flushed: what it produced.
    fn end_step(
        &mut self,
        transmits: &mut dyn Iterator<Item = &Transmit>,
        events: &mut dyn Iterator<Item = &Event>,
        outcome: &Outcome,
    );
    /// Moves complete records to `out`.
    fn take(&mut self, out: &mut Vec<u8>);
    /// Whether it redacts (a segment's snapshot is redacted too).
    fn redacts(&self) -> bool;
    /// Drops what was not taken and starts a new segment at `snapshot`.
    fn restart(&mut self, config: &Config, now: Timestamp, snapshot: &super::Snapshot);
    /// Stops recording.
    fn stop(&mut self);
    /// Whether it records.
    fn state(&self) -> RecordingState;
}

/// Whether the runner is recording.
///
/// # Examples
///
/// ```
/// use runner_core::recording::{RecordOptions, RecordingState};
/// use runner_core::{Config, Runner, Timestamp};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// assert_eq!(runner.recording_state(), RecordingState::Off);
/// runner.start_recording(RecordOptions::new().max_buffered(1))?;
/// runner.start(Timestamp::ZERO); // the header alone fills the buffer
/// assert_eq!(runner.recording_state(), RecordingState::Overflowed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordingState {
    /// Not recording.
    Off,
    /// Recording.
    On,
    /// Stopped by [`Runner::stop_recording`].
    Stopped,
    /// Stopped because the buffer was not drained in time.
    Overflowed,
}

/// Why recording could not start.
///
/// # Examples
///
/// ```
/// use runner_core::recording::{RecordError, RecordOptions};
/// use runner_core::{Config, Runner, Timestamp};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start(Timestamp::ZERO);
/// let late = runner.start_recording(RecordOptions::new());
/// assert_eq!(late, Err(RecordError::AfterFirstInput));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// An input already ran: a replay from a fresh core could not reproduce
    /// the state it left.
    #[error("recording must start before the runner's first input")]
    AfterFirstInput,
    /// Recording was already started once.
    #[error("this runner is already recording (or has recorded)")]
    AlreadyRecording,
    /// Rotation asked of a runner that is not recording (any more).
    #[error("this runner is not recording")]
    NotRecording,
}

impl Runner {
    /// Plugs in the recorder `make` builds from the configuration and the
    /// creation time, if no input has run yet.
    pub(crate) fn attach_recorder(
        &mut self,
        make: impl FnOnce(&Config, Timestamp) -> Box<dyn StepRecorder>,
    ) -> Result<(), RecordError> {
        if self.recorder.is_some() {
            return Err(RecordError::AlreadyRecording);
        }
        if self.stepped {
            return Err(RecordError::AfterFirstInput);
        }
        self.recorder = Some(make(&self.config, self.now));
        Ok(())
    }

    /// Moves what was recorded since the last call to the end of `out`:
    /// whole records only, so that every prefix written is a valid
    /// recording. Call it where the outputs are drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::recording::{MAGIC, RecordOptions};
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start_recording(RecordOptions::new())?;
    /// let mut out = Vec::new();
    /// runner.take_recording(&mut out);
    /// assert!(out.starts_with(&MAGIC));
    /// let header = out.len();
    /// runner.start(Timestamp::ZERO);
    /// runner.take_recording(&mut out);
    /// assert!(out.len() > header);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_recording(&mut self, out: &mut Vec<u8>) {
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.take(out);
        }
    }

    /// Starts a new segment of the recording: what was not taken yet is
    /// dropped, and the next [`take_recording`](Self::take_recording)
    /// begins a new file — the format's header, then a [`Snapshot`] of the
    /// runner as it is now (redacted if the recording is), then the steps
    /// that follow. Such a segment replays on its own, from its snapshot,
    /// so a caller that keeps the newest segments (the host keeps two, see
    /// `Builder::record_max_bytes`) bounds the recording's size and keeps
    /// its newest inputs. `O(state)`: for rotation, not per input.
    ///
    /// [`Snapshot`]: super::Snapshot
    ///
    /// # Errors
    ///
    /// [`RecordError::NotRecording`] when the runner does not record (or
    /// stopped recording).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::recording::{RecordError, RecordOptions, replay};
    /// use runner_core::{Config, Runner, Timestamp, Transmit};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start_recording(RecordOptions::new())?;
    /// runner.start(Timestamp::ZERO);
    /// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
    /// let mut first = Vec::new();
    /// runner.take_recording(&mut first);
    ///
    /// runner.rotate_recording()?;
    /// runner.handle_connected(Timestamp::from_millis(4), conn);
    /// let mut second = Vec::new();
    /// runner.take_recording(&mut second);
    /// // Each segment replays on its own: the second from its snapshot.
    /// assert_eq!(replay(&first, |_| {})?.steps, 1);
    /// let summary = replay(&second, |_| {})?;
    /// assert_eq!((summary.steps, summary.from_snapshot), (1, true));
    /// // Once recording stopped, there is nothing to rotate.
    /// runner.stop_recording();
    /// assert_eq!(runner.rotate_recording(), Err(RecordError::NotRecording));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rotate_recording(&mut self) -> Result<(), RecordError> {
        let redact = match &self.recorder {
            Some(recorder) if recorder.state() == RecordingState::On => recorder.redacts(),
            _ => return Err(RecordError::NotRecording),
        };
        let snapshot = self.snapshot_with(redact);
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.restart(&self.config, self.now, &snapshot);
        }
        Ok(())
    }

    /// Stops recording (what is buffered can still be taken): for a caller
    /// that can no longer write, so that recording costs nothing more.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::recording::{RecordOptions, RecordingState};
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start_recording(RecordOptions::new())?;
    /// runner.stop_recording();
    /// assert_eq!(runner.recording_state(), RecordingState::Stopped);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_recording(&mut self) {
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.stop();
        }
    }

    /// Whether the runner is recording; see [`RecordingState`].
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::recording::RecordingState;
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// assert_eq!(runner.recording_state(), RecordingState::Off);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recording_state(&self) -> RecordingState {
        self.recorder
            .as_ref()
            .map_or(RecordingState::Off, |r| r.state())
    }
}
