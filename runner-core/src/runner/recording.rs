//! The runner's side of the flight recorder (see [`crate::recording`]):
//! turning it on, draining it, stopping it.

use super::Runner;
use crate::recording::{RecordError, RecordOptions, Recorder, RecordingState};

impl Runner {
    /// Starts recording every input. Must come before the first input, so
    /// that a fresh core can replay the recording.
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
        if self.recorder.is_some() {
            return Err(RecordError::AlreadyRecording);
        }
        if self.stepped {
            return Err(RecordError::AfterFirstInput);
        }
        self.recorder = Some(Box::new(Recorder::new(&self.config, self.now, &options)));
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
        self.recorder.as_ref().map_or(RecordingState::Off, |r| r.state())
    }
}
