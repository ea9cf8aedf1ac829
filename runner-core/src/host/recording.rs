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
//! **Size cap and rotation.** The recording is written in segments of at
//! most half of [`record_max_bytes`](super::Builder::record_max_bytes): the
//! current one at the configured path, the previous one beside it with `.1`
//! appended ([`previous_segment_path`]). When the current segment would grow
//! past its half, the writer renames it to `.1` (replacing the older one),
//! and the core starts a new segment with a snapshot of its whole state
//! ([`Runner::rotate_recording`](crate::Runner::rotate_recording)): so the
//! files never take more than the cap together, and they always hold the
//! newest inputs. The restart point of a segment is its snapshot, not the
//! start of a connection: actors, their event logs, KV calls, retired
//! generations, open requests and timers all outlive a reconnection, so a
//! fresh core fed a connection's inputs would not be the runner that got
//! them. The first segment starts from the run's start (no snapshot). The
//! step whose records would overflow a segment is not written: the next
//! segment's snapshot, taken after it, holds its effects. A state whose
//! snapshot alone exceeds half the cap ends the recording with a warning.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use std::task::Context;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use tracing::warn;

use crate::recording::{RecordOptions, RecordingState, previous_segment_path};

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

/// What the loop hands the writer thread.
enum ToWriter {
    /// Bytes to append to the current segment.
    Chunk(Vec<u8>),
    /// Close the current segment (it becomes the previous one) and start
    /// the next file.
    Rotate,
}

/// The event loop's end of the recording.
pub(crate) struct FlightWriter {
    chunk: Vec<u8>,
    /// Bytes of the current segment taken from the core so far.
    segment: u64,
    /// Most bytes of one segment: half the cap.
    segment_max: u64,
    to_writer: Option<SyncSender<ToWriter>>,
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
    /// A previous segment left by an earlier run is removed: it would be
    /// taken for this run's.
    pub(crate) fn open(settings: &RecordSettings, now: Instant) -> Option<Self> {
        let file = File::create(&settings.path)
            .map_err(|e| warn!(path = %settings.path.display(), "cannot record: {e}"))
            .ok()?;
        let previous = previous_segment_path(&settings.path);
        if let Err(e) = std::fs::remove_file(&previous) {
            if e.kind() != std::io::ErrorKind::NotFound {
                warn!(path = %previous.display(), "cannot record: stale segment: {e}");
                return None;
            }
        }
        let (to_writer, chunks) = sync_channel(CHUNKS_IN_FLIGHT);
        let (done_tx, done) = oneshot::channel();
        let segment_max = settings.max_bytes / 2;
        let path = settings.path.clone();
        std::thread::Builder::new()
            .name("runner-recorder".into())
            .spawn(move || {
                write_segments(file, chunks, segment_max, &path);
                let _ = done_tx.send(());
            })
            .map_err(|e| warn!("cannot record: no writer thread: {e}"))
            .ok()?;
        Some(FlightWriter {
            chunk: Vec::with_capacity(CHUNK),
            segment: 0,
            segment_max,
            to_writer: Some(to_writer),
            done: Some(done),
            last_flush: now,
            flush_timer: None,
        })
    }

    /// Takes what the core recorded; sends a full chunk. After every input.
    pub(crate) fn collect(&mut self, core: &mut crate::Runner) {
        self.take(core);
        if self.chunk.len() >= CHUNK {
            self.send(core);
        }
    }

    /// Takes what the core recorded into the chunk, rotating first when
    /// it would not fit the current segment.
    fn take(&mut self, core: &mut crate::Runner) {
        let before = self.chunk.len();
        core.take_recording(&mut self.chunk);
        let taken = (self.chunk.len() - before) as u64;
        if self.segment.saturating_add(taken) <= self.segment_max {
            self.segment += taken;
            return;
        }
        // These records would overflow the segment: the next one's
        // snapshot, taken now, holds what they did.
        self.chunk.truncate(before);
        self.rotate(core);
    }

    /// Ends the current segment and starts the next with a snapshot.
    fn rotate(&mut self, core: &mut crate::Runner) {
        if !self.chunk.is_empty() {
            self.send(core);
        }
        // A core that no longer records makes no next segment: no new file.
        if core.recording_state() != RecordingState::On
            || !self.hand(core, ToWriter::Rotate)
            || core.rotate_recording().is_err()
        {
            return;
        }
        core.take_recording(&mut self.chunk);
        self.segment = self.chunk.len() as u64;
        if self.segment > self.segment_max {
            warn!(
                snapshot = self.segment,
                max = self.segment_max,
                "flight recording stopped: the runner's state alone exceeds half the size cap"
            );
            self.chunk.clear();
            self.to_writer = None;
            core.stop_recording();
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
        if self.to_writer.is_none() {
            self.chunk.clear();
            return;
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.hand(core, ToWriter::Chunk(chunk));
    }

    /// Hands `message` to the writer; `false` (and recording stopped) when
    /// it cannot take it.
    fn hand(&mut self, core: &mut crate::Runner, message: ToWriter) -> bool {
        let Some(to_writer) = &self.to_writer else {
            return false;
        };
        let failed = match to_writer.try_send(message) {
            Ok(()) => return true,
            Err(TrySendError::Full(_)) => "the writer cannot keep up",
            // The writer stopped and said why.
            Err(TrySendError::Disconnected(_)) => "",
        };
        if !failed.is_empty() {
            warn!("flight recording stopped: {failed}");
        }
        self.to_writer = None;
        core.stop_recording();
        false
    }

    /// Sends the rest and closes the channel; the returned future ends
    /// when the file is complete.
    pub(crate) fn finish(&mut self, core: &mut crate::Runner) -> Option<oneshot::Receiver<()>> {
        if core.recording_state() == RecordingState::Overflowed {
            warn!("flight recording stopped early: the loop did not drain it");
        }
        self.take(core);
        if !self.chunk.is_empty() {
            self.send(core);
        }
        self.to_writer = None;
        self.done.take()
    }
}

/// The writer thread: appends chunks to the current segment and rotates
/// when told, until the loop hangs up, a segment would pass its cap or a
/// write fails. Whenever it has caught up it flushes, so that an idle
/// runner's recording is on disk, not in a buffer, if it crashes.
fn write_segments(file: File, chunks: Receiver<ToWriter>, segment_max: u64, path: &Path) {
    let mut file = BufWriter::new(file);
    let mut written = 0u64;
    loop {
        let message = match chunks.try_recv() {
            Ok(message) => message,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if let Err(e) = file.flush() {
                    warn!(path = %path.display(), "flight recording stopped: {e}");
                    return;
                }
                match chunks.recv() {
                    Ok(message) => message,
                    Err(_) => break,
                }
            }
        };
        let chunk = match message {
            ToWriter::Chunk(chunk) => chunk,
            ToWriter::Rotate => {
                match next_segment(file, path) {
                    Ok(next) => file = next,
                    Err(e) => {
                        warn!(path = %path.display(), "flight recording stopped: cannot rotate: {e}");
                        return;
                    }
                }
                written = 0;
                continue;
            }
        };
        if written.saturating_add(chunk.len() as u64) > segment_max {
            // The loop rotates before this; a guard, should it not.
            warn!(path = %path.display(), segment_max, "flight recording reached its size cap: stopped");
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

/// Closes the current segment, makes it the previous one (replacing the
/// older) and opens the next at `path`.
fn next_segment(mut file: BufWriter<File>, path: &Path) -> std::io::Result<BufWriter<File>> {
    file.flush()?;
    drop(file);
    std::fs::rename(path, previous_segment_path(path))?;
    Ok(BufWriter::new(File::create(path)?))
}
