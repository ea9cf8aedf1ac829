//! The body of every serverless response: a whole text (metadata, a
//! refusal) or the `/start` event stream, which lives as long as its runner.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use http_body::{Frame, SizeHint};

use crate::ShutdownMode;
use crate::host::{RunnerHandle, Runtime};
use crate::protocol::{ProtocolVersion, serverless_init_packet};

/// The body of a [`Serverless`](super::Serverless) response.
///
/// For `/start` it is a `text/event-stream` that never ends on its own
/// while its runner runs: the init packet as the first `message` event once
/// the runner is connected, then a `ping` event at every ping interval. It
/// ends when the runner ends. **Dropping it** (the HTTP server does when the
/// client went away) shuts that runner down gracefully.
///
/// # Examples
///
/// A refusal is a whole body:
///
/// ```
/// use runner_tokio::{http, serverless, Body, Handler};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let serverless = serverless::builder(runner_tokio::builder()).build(Idle)?;
/// let start = http::Request::get("/api/rivet/start").body(())?; // no x-rivet-* headers
/// let response = serverless.call(start);
/// assert_eq!(response.status(), 400);
/// let text = Body::new(response.into_body()).collect(1024).await?;
/// assert_eq!(text, "missing header x-rivet-total-slots");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct ServerlessBody {
    kind: Kind,
}

enum Kind {
    Whole(Option<Bytes>),
    Events(Box<EventStream>),
}

impl std::fmt::Debug for ServerlessBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Whole(_) => "whole",
            Kind::Events(_) => "events",
        };
        f.debug_struct("ServerlessBody")
            .field("kind", &kind)
            .finish()
    }
}

impl ServerlessBody {
    pub(super) fn whole(bytes: impl Into<Bytes>) -> Self {
        ServerlessBody {
            kind: Kind::Whole(Some(bytes.into())),
        }
    }

    pub(super) fn events(stream: EventStream) -> Self {
        ServerlessBody {
            kind: Kind::Events(Box::new(stream)),
        }
    }
}

impl http_body::Body for ServerlessBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Events(stream) => stream.poll_event(cx).map(|e| e.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Whole(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Whole(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Whole(None) => SizeHint::with_exact(0),
            Kind::Events(_) => SizeHint::default(),
        }
    }
}

/// The SSE frame of the `ping` event.
pub(super) const PING: &str = "event: ping\ndata:\n\n";

/// The SSE frame of the init packet: an event with the default name.
pub(super) fn init_event(version: ProtocolVersion, runner_id: &str) -> Bytes {
    format!("data: {}\n\n", serverless_init_packet(version, runner_id)).into()
}

/// Where the stream is in its runner's life.
enum Phase {
    /// Waiting for the runner's first connection (or the connect deadline).
    Connecting {
        connected: oneshot::Receiver<String>,
        deadline: BoxFuture<'static, ()>,
    },
    /// Init sent: a ping at every interval.
    Running { next_ping: BoxFuture<'static, ()> },
    /// Nothing more to send; waiting for the runner to end.
    Ending,
}

/// What the `/start` stream needs of its runner.
pub(super) struct EventStream {
    pub(super) sleep: Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>,
    pub(super) spawn: Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>,
    pub(super) handle: RunnerHandle,
    pub(super) version: ProtocolVersion,
    pub(super) ping_interval: Duration,
    phase: Phase,
    /// Fires (or is cancelled) when the runner's `run` returned.
    ended: oneshot::Receiver<()>,
    /// Set once the runner ended, so a drop after that does nothing.
    ended_flag: Arc<AtomicBool>,
}

/// The parts of an [`EventStream`] the runner's task owns.
pub(super) struct RunnerEnd {
    pub(super) ended: oneshot::Sender<()>,
    pub(super) ended_flag: Arc<AtomicBool>,
}

impl RunnerEnd {
    /// Tells the stream its runner ended.
    pub(super) fn finish(self) {
        self.ended_flag.store(true, Ordering::SeqCst);
        let _ = self.ended.send(());
    }
}

/// How the stream reaches the runtime (boxed: the body is not generic).
pub(super) struct StreamParts<R> {
    pub(super) runtime: R,
    pub(super) handle: RunnerHandle,
    pub(super) version: ProtocolVersion,
    pub(super) ping_interval: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) connected: oneshot::Receiver<String>,
}

impl EventStream {
    /// The stream of one runner, and the end its task reports through.
    pub(super) fn new<R: Runtime>(parts: StreamParts<R>) -> (Self, RunnerEnd) {
        let (ended_tx, ended) = oneshot::channel();
        let ended_flag = Arc::new(AtomicBool::new(false));
        let sleep: Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync> = {
            let rt = parts.runtime.clone();
            Arc::new(move |d| rt.sleep_until(rt.now() + d))
        };
        let spawn: Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync> = {
            let rt = parts.runtime;
            Arc::new(move |task| rt.spawn(task))
        };
        let phase = Phase::Connecting {
            connected: parts.connected,
            deadline: sleep(parts.connect_timeout),
        };
        let stream = EventStream {
            sleep,
            spawn,
            handle: parts.handle,
            version: parts.version,
            ping_interval: parts.ping_interval,
            phase,
            ended,
            ended_flag: ended_flag.clone(),
        };
        let end = RunnerEnd {
            ended: ended_tx,
            ended_flag,
        };
        (stream, end)
    }

    /// The next SSE frame; `None` once the runner ended.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        // The runner's end ends the stream, whatever phase it is in.
        if self.ended.poll_unpin(cx).is_ready() {
            return Poll::Ready(None);
        }
        loop {
            match &mut self.phase {
                Phase::Connecting {
                    connected,
                    deadline,
                } => match connected.poll_unpin(cx) {
                    Poll::Ready(Ok(runner_id)) => {
                        self.phase = Phase::Running {
                            next_ping: (self.sleep)(self.ping_interval),
                        };
                        return Poll::Ready(Some(init_event(self.version, &runner_id)));
                    }
                    // The runner ended without connecting: wait for its end.
                    Poll::Ready(Err(_)) => self.phase = Phase::Ending,
                    Poll::Pending => {
                        if deadline.poll_unpin(cx).is_pending() {
                            return Poll::Pending;
                        }
                        // Never connected (an unreachable endpoint, a
                        // refusing engine): give up, so that the engine sees
                        // the stream end and retries, and nothing is left.
                        tracing::warn!("serverless runner did not connect in time; stopping it");
                        self.shutdown(ShutdownMode::Immediate);
                        self.phase = Phase::Ending;
                    }
                },
                Phase::Running { next_ping } => {
                    if next_ping.poll_unpin(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *next_ping = (self.sleep)(self.ping_interval);
                    return Poll::Ready(Some(Bytes::from_static(PING.as_bytes())));
                }
                Phase::Ending => return Poll::Pending,
            }
        }
    }

    /// Asks the runner to shut down, without waiting here.
    fn shutdown(&self, mode: ShutdownMode) {
        let handle = self.handle.clone();
        (self.spawn)(Box::pin(async move { handle.shutdown(mode).await }));
    }
}

impl Drop for EventStream {
    /// The client went away (the engine aborted the request, a proxy cut
    /// it): the runner shuts down gracefully, its actors stopped first.
    fn drop(&mut self) {
        if !self.ended_flag.load(Ordering::SeqCst) {
            self.shutdown(ShutdownMode::Graceful);
        }
    }
}
