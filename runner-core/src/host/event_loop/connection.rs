//! The connection to the engine: the open socket the loop reads, and the
//! task that writes frames to it.
//!
//! The loop never waits for the writer. A frame the writer's queue has no
//! room for is *held* here, and while one is held the loop pulls nothing
//! more from the core (which keeps its queue) and reads neither the socket
//! nor calls, the inputs that make more output: back-pressure that leaves
//! timers and signals running. A frame held for a whole liveness window
//! (`timeouts.liveness`) means the connection is dead: the loop reports it
//! to the core as closed, and the core reconnects.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{AbortHandle, Abortable, BoxFuture};
use futures::stream::BoxStream;
use futures::{FutureExt, SinkExt, StreamExt};

use super::Host;
use crate::host::BoxError;
use crate::host::handler::Handler;
use crate::host::runtime::{Inbound, Outbound, Runtime, Socket};
use crate::{ConnId, Transmit};

/// Frames waiting for the socket writer.
const WRITE_BACKLOG: usize = 1024;

/// The open connection to the engine: its frames in, the sender to its
/// writer task, and the frame the writer had no room for.
pub(super) struct OpenSocket {
    pub(super) conn: ConnId,
    pub(super) incoming: BoxStream<'static, Inbound>,
    writer: mpsc::Sender<Outbound>,
    /// The frame the writer's queue was full for, and since when.
    held: Option<(Outbound, Instant)>,
    /// Fires when a held frame may have waited a liveness window: the
    /// deadline it was armed for, and its timer.
    stall_check: Option<(Instant, BoxFuture<'static, ()>)>,
    /// Ends (with an error) when the writer task ends or is dropped.
    writer_done: Option<oneshot::Receiver<()>>,
    abort: AbortHandle,
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        // A writer stuck on a frozen connection must not outlive it.
        self.abort.abort();
    }
}

/// What the writer side of the socket has to say to the loop.
pub(super) enum WriterState {
    /// The held frame went to the writer (or the writer is gone): the loop
    /// may pull transmits again.
    Writable,
    /// The held frame waited a whole liveness window: the connection is dead.
    Stalled,
}

impl OpenSocket {
    /// Whether a frame waits for room in the writer: back-pressure.
    pub(super) fn is_blocked(&self) -> bool {
        self.held.is_some()
    }

    /// Hands `frame` to the writer without waiting; when its queue is full
    /// the frame is held (see [`is_blocked`](Self::is_blocked)) with the
    /// time `now` reads.
    fn write(&mut self, frame: Outbound, now: impl FnOnce() -> Instant) {
        match self.writer.try_send(frame) {
            Ok(()) => {}
            Err(e) if e.is_full() => self.held = Some((e.into_inner(), now())),
            // The writer ended (the sink failed): the reader sees the end.
            Err(_) => {}
        }
    }

    /// While a frame is held: moves it to the writer once there is room,
    /// or reports the connection dead once it waited `liveness`. The stall
    /// check is one timer per liveness window at most, however often
    /// frames are held and released: a check that fires early is re-armed
    /// for the frame held now.
    fn poll_writer<R: Runtime>(
        &mut self,
        cx: &mut Context<'_>,
        rt: &R,
        liveness: Duration,
    ) -> Poll<WriterState> {
        let Some((_, since)) = &self.held else {
            return Poll::Pending;
        };
        let since = *since;
        if let Poll::Ready(ready) = self.writer.poll_ready(cx) {
            if let (Some((frame, _)), Ok(())) = (self.held.take(), ready) {
                // Room was just granted: this cannot fail for lack of it.
                let _ = self.writer.start_send(frame);
            }
            return Poll::Ready(WriterState::Writable);
        }
        loop {
            let (deadline, check) = self
                .stall_check
                .get_or_insert_with(|| (since + liveness, rt.sleep_until(since + liveness)));
            if check.poll_unpin(cx).is_pending() {
                return Poll::Pending;
            }
            let armed_for_this_frame = *deadline >= since + liveness;
            self.stall_check = None;
            if armed_for_this_frame {
                return Poll::Ready(WriterState::Stalled);
            }
        }
    }

    /// Hands the writer what is left (held frame first, then `rest`), lets
    /// it end, and waits until it has written everything (a close frame
    /// included) or ended. Unbounded: the caller bounds it.
    async fn finish(mut self, rest: Vec<Outbound>) {
        let held = self.held.take().map(|(frame, _)| frame);
        for frame in held.into_iter().chain(rest) {
            if self.writer.send(frame).await.is_err() {
                break;
            }
        }
        // The writer ends once it has written its queue.
        self.writer.close_channel();
        if let Some(done) = self.writer_done.take() {
            let _ = done.await;
        }
    }
}

impl<R: Runtime, H: Handler> Host<R, H> {
    pub(super) fn open_socket(&mut self, conn: ConnId, socket: Socket) {
        let (writer, rx) = mpsc::channel(WRITE_BACKLOG);
        let (abort, registration) = AbortHandle::new_pair();
        let (done, writer_done) = oneshot::channel::<()>();
        let task = Abortable::new(write_loop(socket.outgoing, rx), registration);
        self.rt.spawn(Box::pin(async move {
            // Dropped when the task ends or is aborted: `writer_done` fires.
            let _done = done;
            let _ = task.await;
        }));
        self.socket = Some(OpenSocket {
            conn,
            incoming: socket.incoming,
            writer,
            held: None,
            stall_check: None,
            writer_done: Some(writer_done),
            abort,
        });
    }

    /// Hands one frame to the open socket's writer, never waiting.
    pub(super) fn write(&mut self, frame: Outbound) {
        if let Some(socket) = &mut self.socket {
            let rt = &self.rt;
            socket.write(frame, || rt.now());
        }
    }

    /// The writer's news while a frame is held (see [`OpenSocket`]).
    pub(super) fn poll_writer(&mut self, cx: &mut Context<'_>) -> Poll<WriterState> {
        let liveness = self.core.config().timeouts.liveness;
        match &mut self.socket {
            Some(socket) => socket.poll_writer(cx, &self.rt, liveness),
            None => Poll::Pending,
        }
    }

    /// Once the runner is done: lets the writer write what the core still
    /// asked for on this connection (its close frame above all) and waits
    /// for it, bounded by `timeouts.close`. Without this an immediate
    /// shutdown would return before its close frame was written, and on a
    /// current-thread runtime it never would be.
    pub(super) async fn finish_socket(&mut self) {
        let Some(socket) = self.socket.take() else {
            return;
        };
        let mut rest = Vec::new();
        while let Some(transmit) = self.core.poll_transmit() {
            match transmit {
                Transmit::Frame(frame) => rest.push(Outbound::Binary(frame)),
                Transmit::Close { conn, code, reason } if conn == socket.conn => {
                    rest.push(Outbound::Close { code, reason });
                }
                _ => {}
            }
        }
        let deadline = self.rt.now() + self.core.config().timeouts.close;
        let bound = self.rt.sleep_until(deadline);
        futures::future::select(Box::pin(socket.finish(rest)), bound).await;
    }
}

/// Moves frames from the loop to the socket, flushing once per burst.
async fn write_loop(
    mut sink: std::pin::Pin<Box<dyn futures::Sink<Outbound, Error = BoxError> + Send>>,
    mut frames: mpsc::Receiver<Outbound>,
) {
    while let Some(first) = frames.next().await {
        let mut closing = matches!(first, Outbound::Close { .. });
        if sink.feed(first).await.is_err() {
            return;
        }
        while !closing {
            match frames.try_recv() {
                Ok(next) => {
                    closing = matches!(next, Outbound::Close { .. });
                    if sink.feed(next).await.is_err() {
                        return;
                    }
                }
                _ => break,
            }
        }
        if sink.flush().await.is_err() || closing {
            return;
        }
    }
}
