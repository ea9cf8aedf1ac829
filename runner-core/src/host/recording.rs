//! Flight recording in the host (see [`crate::recording`]): the builder
//! option, and the writer that moves the core's recording to a file off
//! the event loop.
//!
//! The loop drains the core's buffer after every input into a chunk, and
//! hands full chunks (and, when it is about to wait, whatever it has) to a
//! writer thread through a bounded channel. Writing never blocks the loop:
//! a write error, a full disk or a writer that cannot keep up (the channel
//! full) ends the recording with one warning — the file then holds a valid,
//! shorter recording — and the runner goes on as before.
//!
//! **Size cap.** A recording replays from a fresh core, so its restart point
//! is the start of the run: the only state a fresh core can reproduce
//! without a snapshot of every table (actors, requests, KV calls, retired
//! generations), and a connection's start is not one (actors outlive
//! reconnections). So the cap keeps the *start*: at
//! [`record_max_bytes`](super::Builder::record_max_bytes) the recording
//! stops with a warning, and the file replays up to there.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use std::task::Context;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use tracing::warn;

use crate::recording::{RecordOptions, RecordingState};

/// Bytes gathered before a chunk goes to the writer while busy.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the writer before recording gives up (~4 MiB).
const CHUNKS_IN_FLIGHT: usize = 64;
/// How long the end of a run waits for the writer to finish the file.
pub(crate) const FINISH_WAIT: Duration = Duration::from_secs(5);
/// When idle, a partial chunk goes to the writer at most this often.
const IDLE_FLUSH: Duration = Duration::from_millis(20);

/// Where and how to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordSettings {
    pub(crate) path: PathBuf,
    pub(crate) max_bytes: u64,
    pub(crate) redact: bool,
}

impl RecordSettings {
    pub(crate) fn options(&self) -> RecordOptions {
        RecordOptions::new().redact(self.redact)
    }
}

/// The event loop's end of the recording.
pub(crate) struct FlightWriter {
    chunk: Vec<u8>,
    to_writer: Option<SyncSender<Vec<u8>>>,
    done: Option<oneshot::Receiver<()>>,
    last_flush: Instant,
    /// Wakes the idle loop to send a chunk held back by the rate limit.
    flush_timer: Option<BoxFuture<'static, ()>>,
}

impl std::fmt::Debug for FlightWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightWriter")
            .field("chunk", &self.chunk.len())
            .field("open", &self.to_writer.is_some())
            .finish_non_exhaustive()
    }
}

impl FlightWriter {
    /// Opens the file and starts the writer thread; `None` (after a
    /// warning) when either fails.
    pub(crate) fn open(settings: &RecordSettings, now: Instant) -> Option<Self> {
        let file = File::create(&settings.path)
            .map_err(|e| warn!(path = %settings.path.display(), "cannot record: {e}"))
            .ok()?;
        let (to_writer, chunks) = sync_channel(CHUNKS_IN_FLIGHT);
        let (done_tx, done) = oneshot::channel();
        let max = settings.max_bytes;
        let path = settings.path.clone();
        std::thread::Builder::new()
            .name("runner-recorder".into())
            .spawn(move || {
                write_chunks(BufWriter::new(file), chunks, max, &path);
                let _ = done_tx.send(());
            })
            .map_err(|e| warn!("cannot record: no writer thread: {e}"))
            .ok()?;
        Some(FlightWriter {
            chunk: Vec::with_capacity(CHUNK),
            to_writer: Some(to_writer),
            done: Some(done),
            last_flush: now,
            flush_timer: None,
        })
    }

    /// Takes what the core recorded; sends a full chunk. After every input.
    pub(crate) fn collect(&mut self, core: &mut crate::Runner) {
        core.take_recording(&mut self.chunk);
        if self.chunk.len() >= CHUNK {
            self.send(core);
        }
    }

    /// The loop is about to wait: send what it has — at most every
    /// [`IDLE_FLUSH`] (a busy loop waits often, briefly), with a timer
    /// (`sleep`, polled with the loop's `cx`) to send the rest if the loop
    /// then stays idle.
    pub(crate) fn idle(
        &mut self,
        core: &mut crate::Runner,
        now: Instant,
        cx: &mut Context<'_>,
        sleep: impl FnOnce(Instant) -> BoxFuture<'static, ()>,
    ) {
        if self.chunk.is_empty() {
            self.flush_timer = None;
            return;
        }
        let due = self.last_flush + IDLE_FLUSH;
        let timer = self.flush_timer.get_or_insert_with(|| sleep(due));
        if now >= due || timer.poll_unpin(cx).is_ready() {
            self.flush_timer = None;
            self.last_flush = now;
            self.send(core);
        }
    }

    fn send(&mut self, core: &mut crate::Runner) {
        let Some(to_writer) = &self.to_writer else {
            self.chunk.clear();
            return;
        };
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let failed = match to_writer.try_send(chunk) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "the writer cannot keep up",
            // The writer stopped and said why.
            Err(TrySendError::Disconnected(_)) => "",
        };
        if !failed.is_empty() {
            warn!("flight recording stopped: {failed}");
        }
        self.to_writer = None;
        core.stop_recording();
    }

    /// Sends the rest and closes the channel; the returned future ends
    /// when the file is complete.
    pub(crate) fn finish(&mut self, core: &mut crate::Runner) -> Option<oneshot::Receiver<()>> {
        if core.recording_state() == RecordingState::Overflowed {
            warn!("flight recording stopped early: the loop did not drain it");
        }
        core.take_recording(&mut self.chunk);
        if !self.chunk.is_empty() {
            self.send(core);
        }
        self.to_writer = None;
        self.done.take()
    }
}

/// The writer thread: appends chunks until the loop hangs up, the cap is
/// reached or a write fails. Whenever it has caught up it flushes, so that
/// an idle runner's recording is on disk, not in a buffer, if it crashes.
fn write_chunks(
    mut file: BufWriter<File>,
    chunks: Receiver<Vec<u8>>,
    max: u64,
    path: &std::path::Path,
) {
    let mut written = 0u64;
    loop {
        let chunk = match chunks.try_recv() {
            Ok(chunk) => chunk,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if let Err(e) = file.flush() {
                    warn!(path = %path.display(), "flight recording stopped: {e}");
                    return;
                }
                match chunks.recv() {
                    Ok(chunk) => chunk,
                    Err(_) => break,
                }
            }
        };
        if written.saturating_add(chunk.len() as u64) > max {
            warn!(path = %path.display(), max, "flight recording reached its size cap: stopped");
            break;
        }
        if let Err(e) = file.write_all(&chunk) {
            warn!(path = %path.display(), "flight recording stopped: {e}");
            let _ = file.flush();
            return;
        }
        written += chunk.len() as u64;
    }
    if let Err(e) = file.flush() {
        warn!(path = %path.display(), "flight recording: last write failed: {e}");
    }
}
