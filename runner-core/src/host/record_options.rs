//! The builder's flight-recorder options (see [`super::recording`] for
//! what the host does with them).

use std::path::PathBuf;

use super::builder::Builder;
use super::recording::RecordSettings;

impl<R> Builder<R> {
    /// Records every input of the runner's core to the file at `path`
    /// (created, or truncated), for `runner-replay` to replay. See
    /// [`crate::recording`] for what is recorded; the token never is.
    /// Recording never changes what the runner does: when the file cannot
    /// be written it stops with a warning.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::Handler;
    ///
    /// struct Nothing;
    /// impl Handler for Nothing {}
    ///
    /// let path = std::env::temp_dir().join("runner-doc-record_to.rec");
    /// let runner = runner_tokio::builder()
    ///     .endpoint("http://127.0.0.1:6420")
    ///     .runner_name("r")
    ///     .record_to(&path)
    ///     .record_max_bytes(100 << 20)
    ///     .record_redacted(true)
    ///     .build(Nothing)?;
    /// # drop(runner);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn record_to(mut self, path: impl Into<PathBuf>) -> Self {
        let settings = self.recording.get_or_insert_with(|| RecordSettings {
            path: PathBuf::new(),
            max_bytes: 1 << 30,
            redact: false,
        });
        settings.path = path.into();
        self
    }

    /// The most bytes a recording may take on disk (default 1 GiB). It
    /// is written in two segments of at most half of this each: the
    /// current one at the [`record_to`](Self::record_to) path and the
    /// previous one at that path with `.1` appended
    /// ([`previous_segment_path`](crate::recording::previous_segment_path)).
    /// When the current one is full it becomes the previous one, and the
    /// next starts with a snapshot of the runner's whole state: the
    /// recording keeps the *newest* inputs, and each segment replays on
    /// its own from its snapshot (`runner-replay <path>` replays both, the
    /// older first). The restart point is a snapshot, not a connection's
    /// start: actors, KV calls, retired generations and open requests
    /// outlive a reconnection. A runner whose snapshot alone exceeds half
    /// the cap stops recording with a warning. Without
    /// [`record_to`](Self::record_to) it does nothing.
    ///
    /// # Examples
    ///
    /// See [`record_to`](Self::record_to).
    pub fn record_max_bytes(mut self, bytes: u64) -> Self {
        if let Some(settings) = &mut self.recording {
            settings.max_bytes = bytes;
        }
        self
    }

    /// Replaces bodies, KV values and header values by placeholders of the
    /// same length in the recording, so that it can be shared (default
    /// off). Without [`record_to`](Self::record_to) it does nothing.
    ///
    /// # Examples
    ///
    /// See [`record_to`](Self::record_to).
    pub fn record_redacted(mut self, redact: bool) -> Self {
        if let Some(settings) = &mut self.recording {
            settings.redact = redact;
        }
        self
    }
}
