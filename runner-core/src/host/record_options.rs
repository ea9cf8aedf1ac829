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

    /// The most bytes a recording may take (default 1 GiB). Past it,
    /// recording stops with a warning and the file keeps the *start* of
    /// the run, which replays up to the cap. The start is the restart point
    /// because a replay begins from a fresh core: a connection's start is
    /// not one (actors, KV calls and retired generations outlive a
    /// reconnection), and a snapshot would have to serialise every table of
    /// the core. Without [`record_to`](Self::record_to) it does nothing.
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
