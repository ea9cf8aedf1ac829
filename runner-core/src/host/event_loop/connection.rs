//! The connection to the engine: the open socket, both halves of which the
//! loop drives itself — it reads frames from one and feeds frames to the
//! other, with no task or channel between it and the socket.
//!
//! The loop never waits for the socket. Frames are fed to its sink as the
//! core asks for them and flushed once the loop has nothing else ready (or
//! every [`FLUSH_EVERY`] inputs under a flood): a burst's frames leave in one
//! write. A frame the sink is not ready for is *held* here, and while one is
//! held the loop pulls nothing more from the core (which keeps its queue)
//! and reads neither the socket nor calls, the inputs that make more output:
//! back-pressure that leaves timers and signals running. A frame held for a
//! whole liveness window (`timeouts.liveness`) means the connection is dead:
//! the loop reports it to the core as closed, and the core reconnects.
//! Dropping the socket drops its sink: a write stuck on a frozen
//! connection never outlives it.
//!
//! The loop wakes for calls and timers too, and reads the socket only when
//! the socket woke it (see [`WakeGate`]): on a runtime whose sockets try
//! the read syscall on every poll (async-io, under async-std), each wake
//! would otherwise cost a failed read and a re-registration with the
//! reactor.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Sink, SinkExt};

use super::Host;
use super::gate::WakeGate;
use crate::host::BoxError;
use crate::host::handler::Handler;
use crate::host::runtime::{Inbound, Outbound, Runtime, Socket};
use crate::{ConnId, Transmit};

/// Under a flood of inputs (the loop never runs out of work), frames fed
/// are flushed at least on every this many inputs.
pub(super) const FLUSH_EVERY: u32 = 16;

type FrameSink = Pin<Box<dyn Sink<Outbound, Error = BoxError> + Send>>;

/// The open connection to the engine: its frames in, its sink for frames
/// out, and the frame the sink was not ready for.
pub(super) struct OpenSocket {
    pub(super) conn: ConnId,
    incoming: BoxStream<'static, Inbound>,
    /// Whether `incoming` woke the loop since it was last pending.
    read_gate: WakeGate,
    sink: FrameSink,
    /// The frame the sink was not ready for, and since when.
    held: Option<(Outbound, Instant)>,
    /// Frames were fed since the sink last flushed.
    unflushed: bool,
    /// The sink failed: frames are dropped from now on, and the reader
    /// sees the connection end.
    failed: bool,
    /// Fires when a held frame may have waited a liveness window: the
    /// deadline it was armed for, and its timer.
    stall_check: Option<(Instant, BoxFuture<'static, ()>)>,
}

/// What the writing side of the socket has to say to the loop.
pub(super) enum WriterState {
    /// The held frame went to the sink (or the sink failed): the loop may
    /// pull transmits again.
    Writable,
    /// The held frame waited a whole liveness window: the connection is dead.
    Stalled,
}

impl OpenSocket {
    fn new(conn: ConnId, socket: Socket) -> Self {
        OpenSocket {
            conn,
            incoming: socket.incoming,
            read_gate: WakeGate::default(),
            sink: socket.outgoing,
            held: None,
            unflushed: false,
            failed: false,
            stall_check: None,
        }
    }

    /// The next frame in, polled only when the socket woke the loop since
    /// it was last pending (or something came last time).
    pub(super) fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Poll<Option<Inbound>> {
        self.read_gate.poll_next(&mut self.incoming, cx)
    }

    /// Whether a frame waits for the sink: back-pressure.
    pub(super) fn is_blocked(&self) -> bool {
        self.held.is_some()
    }

    /// Feeds `frame` to the sink without waiting (and without flushing);
    /// when the sink is not ready the frame is held (see
    /// [`is_blocked`](Self::is_blocked)) with the time `now` reads. Called
    /// outside the loop's poll, so with a waker that wakes nothing: the
    /// loop polls the sink again with its own (see
    /// [`poll_writer`](Self::poll_writer)) while the frame is held.
    fn write(&mut self, frame: Outbound, now: impl FnOnce() -> Instant) {
        if self.failed {
            return;
        }
        // The loop pulls no transmit while a frame is held.
        debug_assert!(self.held.is_none(), "a frame fed while one is held");
        let cx = &mut Context::from_waker(futures::task::noop_waker_ref());
        match self.sink.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => self.feed(frame),
            Poll::Ready(Err(_)) => self.failed = true,
            Poll::Pending => self.held = Some((frame, now())),
        }
    }

    /// Hands `frame` to a sink that said it was ready.
    fn feed(&mut self, frame: Outbound) {
        match self.sink.as_mut().start_send(frame) {
            Ok(()) => self.unflushed = true,
            Err(_) => self.failed = true,
        }
    }

    /// Flushes what was fed since the last flush. A flush the socket cannot
    /// finish now goes on at the next poll (the sink wakes the loop).
    fn poll_flush(&mut self, cx: &mut Context<'_>) {
        if !self.unflushed || self.failed {
            return;
        }
        match self.sink.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => self.unflushed = false,
            Poll::Ready(Err(_)) => self.failed = true,
            Poll::Pending => {}
        }
    }

    /// While a frame is held: feeds it to the sink once it is ready, or
    /// reports the connection dead once it waited `liveness`. The stall
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
        if let Poll::Ready(ready) = self.sink.as_mut().poll_ready(cx) {
            let held = self.held.take().map(|(frame, _)| frame);
            match (held, ready) {
                (Some(frame), Ok(())) => self.feed(frame),
                // The sink failed: the reader sees the end.
                _ => self.failed = true,
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

    /// Writes what is left (held frame first, then `rest`, up to a close
    /// frame) and flushes it. Unbounded: the caller bounds it.
    async fn finish(mut self, rest: Vec<Outbound>) {
        if self.failed {
            return;
        }
        let held = self.held.take().map(|(frame, _)| frame);
        for frame in held.into_iter().chain(rest) {
            let closing = matches!(frame, Outbound::Close { .. });
            if self.sink.feed(frame).await.is_err() {
                return;
            }
            if closing {
                break;
            }
        }
        let _ = self.sink.flush().await;
    }
}

impl<R: Runtime, H: Handler> Host<R, H> {
    pub(super) fn open_socket(&mut self, conn: ConnId, socket: Socket) {
        self.socket = Some(OpenSocket::new(conn, socket));
    }

    /// Feeds one frame to the open socket, never waiting.
    pub(super) fn write(&mut self, frame: Outbound) {
        if let Some(socket) = &mut self.socket {
            let rt = &self.rt;
            socket.write(frame, || rt.now());
        }
    }

    /// Flushes the frames fed since the last flush, if any.
    pub(super) fn flush(&mut self, cx: &mut Context<'_>) {
        if let Some(socket) = &mut self.socket {
            socket.poll_flush(cx);
        }
    }

    /// The sink's news while a frame is held (see [`OpenSocket`]).
    pub(super) fn poll_writer(&mut self, cx: &mut Context<'_>) -> Poll<WriterState> {
        let liveness = self.core.config().timeouts.liveness;
        match &mut self.socket {
            Some(socket) => socket.poll_writer(cx, &self.rt, liveness),
            None => Poll::Pending,
        }
    }

    /// Once the runner is done: writes what the core still asked for on
    /// this connection (its close frame above all) and waits for it,
    /// bounded by `timeouts.close`. Without this an immediate shutdown
    /// would return before its close frame was written.
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
