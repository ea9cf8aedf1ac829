//! The event loop around the core: the only place where time is read, the
//! socket is driven and user handlers are run. It makes no protocol
//! decision; it moves bytes, time and calls between [`crate::Runner`], the
//! [`Runtime`] and the [`Handler`].
//!
//! One concept per file: [`actors`] starts and stops actors, [`requests`]
//! serves HTTP requests, [`websockets`] serves the actors' WebSockets,
//! [`calls`] applies what handlers and handles ask for, [`connection`]
//! holds the socket to the engine (the loop reads and writes it itself), [`shutdown`] ends
//! the run (`on_shutdown` after every stop callback), [`local`] polls the
//! handlers that run on the loop, [`own_wakes`] keeps the loop's wakes of
//! itself inside its task and lets spawned tasks run during bursts, and
//! [`panics`] guards hooks and reads caught panics. This
//! file holds the loop itself: what wakes it and what it does with the
//! core's transmits and events.

mod actors;
mod attempts;
mod calls;
mod connection;
mod gate;
mod local;
mod own_wakes;
mod panics;
mod recording;
mod requests;
mod shutdown;
mod websockets;

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{AbortHandle, BoxFuture};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use tracing::warn;

use super::calls::{Call, CallTx, KvTicket, Reply};
use super::context::{ActorContext, ActorLink, Spawner};
use super::handle::{Published, RunnerHandle};
use super::handler::{ActorInfo, Handler};
use super::kv_call::KvCancels;
use super::metrics::{InputClock, RunnerMetrics};
use super::names::Names;
use super::recording::FlightWriter;
use super::runtime::{ConnectRequest, Inbound, Outbound, Runtime, Socket};
use super::tls::ClientTls;
use super::websocket::{CloseFrame, SocketEvent};
use crate::{
    ConnId, Event, KvRequestId, KvResponse, RequestKey, ShutdownMode, ShutdownReason, Timestamp,
    Transmit, TransportClose,
};

use actors::ByActor;
use connection::{FLUSH_EVERY, OpenSocket, WriterState};
use local::LocalTasks;
use own_wakes::{INPUTS_PER_YIELD, YieldNow};
use panics::guard_hook;
use requests::RequestTask;

/// Commands waiting for the loop, per runner.
const CALL_BACKLOG: usize = 1024;

/// Calls waiting from [`RunnerHandle`]s (shutdown, metrics): a channel of
/// their own, read like signals — even while the socket holds a frame —
/// so that a runner whose connection takes nothing can still be shut
/// down and observed through its handle.
const CONTROL_BACKLOG: usize = 16;

/// Signals, the handles' calls and timers are polled before anything else
/// on every this many inputs, so that a busy socket or call channel cannot
/// starve them.
const CLOCK_EVERY: u32 = 16;

/// A runner, built by [`Builder`](super::Builder): [`run`](Self::run) it.
///
/// # Examples
///
/// ```
/// use runner_tokio::{Handler, ShutdownMode, ShutdownReason};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let runner = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
/// let handle = runner.handle();
/// let running = tokio::spawn(runner.run());
/// handle.shutdown(ShutdownMode::Immediate).await;
/// assert_eq!(running.await.unwrap(), ShutdownReason::Requested);
/// # Ok::<(), runner_tokio::BuildError>(())
/// # }).unwrap();
/// ```
pub struct AsyncRunner<R, H> {
    pub(crate) handle: RunnerHandle,
    host: Host<R, H>,
}

// By hand, so that neither the runtime nor the handler has to be `Debug`.
/// Settings the host (not the core) uses.
#[derive(Debug, Clone)]
pub(crate) struct HostSettings {
    pub(crate) request_timeout: Duration,
    pub(crate) handle_signals: bool,
    pub(crate) max_message_size: usize,
    /// For `wss://` connections; `None` for `ws://`.
    pub(crate) tls: Option<ClientTls>,
    /// The flight recorder's file, when recording.
    pub(crate) recording: Option<super::recording::RecordSettings>,
    /// Request and WebSocket handlers on tasks of their own (see
    /// [`local`]).
    pub(crate) spawn_handlers: bool,
}

impl<R, H> AsyncRunner<R, H> {
    /// A handle to control the runner (shutdown, state).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::Handler;
    ///
    /// struct Nothing;
    /// impl Handler for Nothing {}
    ///
    /// let runner = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r").build(Nothing)?;
    /// let handle = runner.handle();
    /// assert!(!handle.is_connected());
    /// assert_eq!(handle.runner_id(), None);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// ```
    pub fn handle(&self) -> RunnerHandle {
        self.handle.clone()
    }
}

impl<R, H> std::fmt::Debug for AsyncRunner<R, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRunner")
            .field("host", &self.host)
            .finish()
    }
}

impl<R: Runtime, H: Handler> AsyncRunner<R, H> {
    /// Wraps a core created at time zero of the runtime's clock, read now.
    pub(crate) fn new(runtime: R, core: crate::Runner, handler: H, settings: HostSettings) -> Self {
        let (tx, commands) = mpsc::channel(CALL_BACKLOG);
        let tx = CallTx::new(tx);
        let (control_tx, control) = mpsc::channel(CONTROL_BACKLOG);
        let control_tx = CallTx::new(control_tx);
        let (kv_cancels, cancelled_kv) = KvCancels::new();
        let published = Arc::new(Mutex::new(Published::default()));
        let origin = runtime.now();
        let spawner: Spawner = {
            let runtime = runtime.clone();
            Arc::new(move |task| runtime.spawn(task))
        };
        let host = Host {
            rt: runtime,
            handler: Arc::new(handler),
            core,
            origin,
            settings,
            tx: tx.clone(),
            commands,
            _control_tx: control_tx.clone(),
            control,
            published: published.clone(),
            connecting: None,
            socket: None,
            sleep: None,
            signals: None,
            turn: false,
            polls: 0,
            kv_waiters: HashMap::new(),
            kv_tickets: HashMap::new(),
            cancelled_kv,
            actors: HashSet::new(),
            requests: HashMap::new(),
            local: LocalTasks::default(),
            link: Arc::new(ActorLink {
                tx: tx.clone(),
                kv_cancels,
                spawner,
            }),
            names: Names::default(),
            sockets: HashMap::new(),
            shutdown_waiters: Vec::new(),
            stop_callbacks: 0,
            finishing: None,
            finished: None,
            input_clock: InputClock::default(),
            flight: None,
        };
        AsyncRunner {
            handle: RunnerHandle::new(control_tx, published),
            host,
        }
    }

    /// Connects and serves until the runner shuts down (a signal, a
    /// [`RunnerHandle::shutdown`], or an engine eviction), then returns why
    /// — once the loop has written the close frame and what came
    /// before it, or `timeouts.close` has passed.
    ///
    /// The event loop runs as a task of its own on the runtime, not inside
    /// this future: `block_on` (`#[tokio::main]`, `#[async_std::main]`)
    /// polls its future on a thread outside the runtime's workers, and every
    /// request would then cross threads twice (a futex wake each way, and
    /// allocations freed on another thread than the one that made them).
    /// Dropping this future still stops the loop, and a panic in it comes
    /// out here.
    ///
    /// A runtime that drops the loop's task unfinished — shut down while
    /// this future is still polled elsewhere — ends the runner with
    /// [`ShutdownReason::Fatal`] naming that.
    ///
    /// # Panics
    ///
    /// When the event loop panicked (the panic resumes here; handler panics
    /// are caught and never reach it).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{Handler, ShutdownMode, ShutdownReason};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let runner = runner_tokio::builder().endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
    /// let handle = runner.handle();
    /// // Stop it from elsewhere once it runs; `run` then returns why.
    /// tokio::spawn(async move { handle.shutdown(ShutdownMode::Graceful).await });
    /// assert_eq!(runner.run().await, ShutdownReason::Requested);
    /// # Ok::<(), runner_tokio::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub async fn run(self) -> ShutdownReason {
        let rt = self.host.rt.clone();
        let span = super::spans::runner(&self.host.core.config().runner_name);
        let run = tracing::Instrument::instrument(self.host.run(), span);
        let (task, abort) = futures::future::abortable(AssertUnwindSafe(run).catch_unwind());
        let (done, result) = oneshot::channel();
        rt.spawn(Box::pin(async move {
            if let Ok(outcome) = task.await {
                let _ = done.send(outcome);
            }
        }));
        let _stop_on_drop = AbortOnDrop(abort);
        match result.await {
            Ok(Ok(reason)) => reason,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => ShutdownReason::Fatal(LOOP_TASK_DROPPED.into()),
        }
    }
}

/// Why [`AsyncRunner::run`] ended when the runtime dropped the loop's task
/// (a runtime shut down under a runner still awaited elsewhere).
const LOOP_TASK_DROPPED: &str =
    "the runtime dropped the runner's event loop task (it was shut down)";

/// Aborts the event loop task when [`AsyncRunner::run`]'s future is dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The event loop's state. Its methods are spread over this module's
/// files, one concept each; the loop itself is below.
struct Host<R, H> {
    rt: R,
    handler: Arc<H>,
    core: crate::Runner,
    origin: Instant,
    settings: HostSettings,
    tx: CallTx,
    commands: mpsc::Receiver<Call>,
    /// Held so that the control stream never ends.
    _control_tx: CallTx,
    /// The handles' calls (see [`CONTROL_BACKLOG`]).
    control: mpsc::Receiver<Call>,
    published: Arc<Mutex<Published>>,
    connecting: Option<(ConnId, BoxFuture<'static, Result<Socket, TransportClose>>)>,
    socket: Option<OpenSocket>,
    sleep: Option<(Timestamp, BoxFuture<'static, ()>)>,
    signals: Option<(gate::WakeGate, BoxStream<'static, ()>)>,
    /// Alternates which of socket and commands is polled first, for fairness.
    turn: bool,
    /// Inputs polled for, to poll signals and timers first every
    /// [`CLOCK_EVERY`]-th time.
    polls: u32,
    /// The callers of the KV calls the core has not ended, and the way
    /// from a caller's ticket to its call (see [`calls`]).
    kv_waiters: HashMap<KvRequestId, (KvTicket, Reply<KvResponse>)>,
    kv_tickets: HashMap<KvTicket, KvRequestId>,
    /// Cancels of dropped KV futures, applied before every input.
    cancelled_kv: mpsc::UnboundedReceiver<KvTicket>,
    /// The live actors' contexts, found by actor (see [`ByActor`]).
    actors: HashSet<ByActor>,
    requests: HashMap<RequestKey, RequestTask>,
    /// Request and WebSocket handlers the loop polls (see [`local`]).
    local: LocalTasks,
    /// Handed to every actor context.
    link: Arc<ActorLink>,
    names: Names,
    sockets: HashMap<RequestKey, websockets::SocketFeed>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    /// `on_actor_stop` callbacks running: `on_shutdown` waits for them.
    stop_callbacks: usize,
    /// The core has shut down; `on_shutdown` waits for the stop callbacks
    /// still running, until this deadline.
    finishing: Option<(ShutdownReason, Timestamp)>,
    finished: Option<ShutdownReason>,
    /// Time spent per input, for [`RunnerHandle::metrics`].
    input_clock: InputClock,
    /// Moves the core's recording to its file, when recording.
    flight: Option<FlightWriter>,
}

impl<R, H> std::fmt::Debug for Host<R, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

/// One thing that woke the loop.
enum Input {
    Connected(ConnId, Result<Socket, TransportClose>),
    Socket(ConnId, Option<Inbound>),
    Call(Call),
    Signal,
    Timer,
    /// The sink took the frame it was not ready for: pull transmits again.
    Writable,
    /// The sink was not ready for a whole liveness window: the connection
    /// is dead.
    WriteStalled(ConnId),
    /// A handler task the loop polls ended (what it did came as calls).
    HandlerEnded,
}

impl<R: Runtime, H: Handler> Host<R, H> {
    /// The loop, behind a waker that keeps its own wake-ups inside its
    /// task (see [`own_wakes`]).
    async fn run(self) -> ShutdownReason {
        let shared = Arc::new(own_wakes::Shared::default());
        own_wakes::KeepOwnWakes::new(self.run_loop(shared.clone()), shared).await
    }

    async fn run_loop(mut self, own_wakes: Arc<own_wakes::Shared>) -> ShutdownReason {
        if self.settings.handle_signals {
            self.signals = Some((gate::WakeGate::default(), self.rt.shutdown_signals()));
        }
        self.open_recording();
        let now = self.now();
        self.core.start(now);
        let mut handled = 0u32;
        let mut input_began = None;
        loop {
            self.drain();
            self.collect_recording();
            if let Some(began) = input_began.take() {
                let spent = self.rt.now().saturating_duration_since(began);
                self.input_clock.record(spent);
            }
            if let Some(reason) = self.finished.take() {
                self.finish_socket().await;
                self.finish_recording().await;
                return reason;
            }
            self.arm_sleep();
            handled += 1;
            if handled == INPUTS_PER_YIELD {
                handled = 0;
                YieldNow::new(own_wakes.clone()).await;
            }
            let input = futures::future::poll_fn(|cx| {
                let input = self.poll_input(cx);
                if input.is_pending() {
                    self.recording_idle(cx);
                }
                input
            })
            .await;
            let began = self.rt.now();
            input_began = Some(began);
            self.handle(input, began);
        }
    }

    /// Runs a request's or a WebSocket's handler: on the loop (see
    /// [`local`]), or as a task of its own when the builder asked for it.
    fn run_handler(&mut self, task: BoxFuture<'static, ()>) {
        if self.settings.spawn_handlers {
            self.rt.spawn(task);
        } else {
            self.local.push(task);
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from(self.rt.now().saturating_duration_since(self.origin))
    }

    /// Keeps one sleep future for the core's next deadline.
    fn arm_sleep(&mut self) {
        let finish_by = self.finishing.as_ref().map(|(_, at)| *at);
        match self.core.poll_timeout().into_iter().chain(finish_by).min() {
            None => self.sleep = None,
            // A sleep due no later than the next deadline is kept, and the
            // loop re-arms when it fires early: re-arming on every input
            // that moves the deadline later (the liveness deadline moves
            // with every frame) costs a timer registration each time, on
            // async-io a wake of its reactor thread (five syscalls).
            Some(at) if self.sleep.as_ref().is_some_and(|(t, _)| *t <= at) => {}
            Some(at) => {
                let deadline = self.origin + at.as_duration();
                self.sleep = Some((at, self.rt.sleep_until(deadline)));
            }
        }
    }

    /// The next input. A socket or a call channel that is always ready
    /// must not starve timers and signals (a liveness timeout, a second
    /// Ctrl-C): they are polled first on every [`CLOCK_EVERY`]-th input,
    /// and whenever nothing else is ready — not on every input, as polling
    /// a runtime's timer registers its waker again each time, a cost the
    /// hot path does not need. While the socket's sink is not ready (see
    /// [`connection`]) neither the socket nor handlers' calls are read: they
    /// make more output (the handles' calls are, see [`CONTROL_BACKLOG`]),
    /// and back-pressure is how the loop waits for the sink without ever
    /// blocking on it. Frames fed are flushed when nothing
    /// else is ready, and on every [`FLUSH_EVERY`]-th input under a flood.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        self.polls = self.polls.wrapping_add(1);
        if self.polls % FLUSH_EVERY == 0 {
            self.flush(cx);
        }
        let input = self.poll_next_input(cx);
        if input.is_pending() {
            // Nothing else to do: what this burst fed leaves in one write.
            self.flush(cx);
        }
        input
    }

    /// [`poll_input`](Self::poll_input) without the flushes.
    fn poll_next_input(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        if self.polls % CLOCK_EVERY == 0 {
            if let Poll::Ready(input) = self.poll_clock(cx) {
                return Poll::Ready(input);
            }
        }
        if let Some((conn, connect)) = &mut self.connecting {
            if let Poll::Ready(result) = connect.poll_unpin(cx) {
                let conn = *conn;
                self.connecting = None;
                return Poll::Ready(Input::Connected(conn, result));
            }
        }
        if let Some(socket) = self.socket.as_ref().filter(|s| s.is_blocked()) {
            let conn = socket.conn;
            let writer = self.poll_writer(cx).map(|state| match state {
                WriterState::Writable => Input::Writable,
                WriterState::Stalled => Input::WriteStalled(conn),
            });
            return match writer {
                Poll::Pending => self.poll_clock(cx),
                ready => ready,
            };
        }
        if let Poll::Ready(()) = self.local.poll_ended(cx) {
            return Poll::Ready(Input::HandlerEnded);
        }
        self.turn = !self.turn;
        for first in [self.turn, !self.turn] {
            let ready = if first {
                self.poll_socket(cx)
            } else {
                self.poll_command(cx)
            };
            if let Poll::Ready(input) = ready {
                return Poll::Ready(input);
            }
        }
        self.poll_clock(cx)
    }

    /// Signals, the handles' calls and the core's timer.
    fn poll_clock(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        if let Some((gate, signals)) = &mut self.signals {
            if let Poll::Ready(Some(())) = gate.poll_next(signals, cx) {
                return Poll::Ready(Input::Signal);
            }
        }
        if let Poll::Ready(Some(call)) = self.control.poll_next_unpin(cx) {
            return Poll::Ready(Input::Call(call));
        }
        if let Some((_, sleep)) = &mut self.sleep {
            if sleep.poll_unpin(cx).is_ready() {
                self.sleep = None;
                return Poll::Ready(Input::Timer);
            }
        }
        Poll::Pending
    }

    fn poll_socket(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        let Some(socket) = &mut self.socket else {
            return Poll::Pending;
        };
        socket
            .poll_incoming(cx)
            .map(|item| Input::Socket(socket.conn, item))
    }

    fn poll_command(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        // The loop holds a sender itself, so the stream never ends.
        match self.commands.poll_next_unpin(cx) {
            Poll::Ready(Some(command)) => Poll::Ready(Input::Call(command)),
            _ => Poll::Pending,
        }
    }

    /// Applies one input that arrived at `arrived` (read once, for the
    /// core's `now` and for the input's timing alike).
    fn handle(&mut self, input: Input, arrived: Instant) {
        // First, so that no input sends a call whose caller is gone.
        self.apply_kv_cancels();
        let now = Timestamp::from(arrived.saturating_duration_since(self.origin));
        match input {
            Input::Connected(conn, Ok(socket)) => {
                self.open_socket(conn, socket);
                self.core.handle_connected(now, conn);
            }
            Input::Connected(conn, Err(close)) => {
                self.connect_failed(&close.reason);
                self.core.handle_closed(now, conn, close)
            }
            Input::Socket(conn, Some(Inbound::Binary(frame))) => {
                self.core.handle_frame(now, conn, &frame)
            }
            Input::Socket(conn, Some(Inbound::Text)) => self.core.handle_text_frame(now, conn),
            Input::Socket(conn, Some(Inbound::Closed(close))) => {
                self.socket = None;
                self.core.handle_closed(now, conn, close);
            }
            Input::Socket(conn, None) => {
                self.socket = None;
                self.core
                    .handle_closed(now, conn, TransportClose::error("connection ended"));
            }
            Input::Call(command) => self.apply(now, command),
            Input::Signal => {
                warn!("shutdown signal received");
                self.core.shutdown(now, ShutdownMode::Graceful);
            }
            Input::Timer => {
                // A sleep kept for an earlier deadline (see `arm_sleep`)
                // may fire before anything is due.
                if self.core.poll_timeout().is_some_and(|at| at <= now) {
                    self.core.handle_timeout(now);
                }
                self.finish_if_due(now);
            }
            Input::Writable | Input::HandlerEnded => {}
            Input::WriteStalled(conn) => {
                warn!(
                    ?conn,
                    "the connection took no frame for a liveness window: closing it"
                );
                self.socket = None;
                let close = TransportClose::error("write stalled");
                self.core.handle_closed(now, conn, close);
            }
        }
    }

    /// Carries out everything the core asked for, until it asks for nothing
    /// or the sink is not ready: then the core keeps its transmits until
    /// the sink takes the frame held (see [`connection`]).
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while !self.socket.as_ref().is_some_and(OpenSocket::is_blocked) {
                let Some(transmit) = self.core.poll_transmit() else {
                    break;
                };
                self.apply_transmit(transmit);
                progressed = true;
            }
            while let Some(event) = self.core.poll_event() {
                self.dispatch(event);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    fn apply_transmit(&mut self, transmit: Transmit) {
        match transmit {
            Transmit::Connect {
                conn,
                url,
                subprotocols,
            } => {
                self.socket = None;
                let request = ConnectRequest {
                    url,
                    subprotocols,
                    max_message_size: self.settings.max_message_size,
                    tls: self.settings.tls.clone(),
                };
                self.connecting = Some((conn, self.rt.connect(request)));
            }
            Transmit::Frame(frame) => self.write(Outbound::Binary(frame)),
            Transmit::Close { conn, code, reason } => {
                if self.connecting.as_ref().is_some_and(|(c, _)| *c == conn) {
                    self.connecting = None;
                    self.connect_abandoned(code, &reason);
                }
                if self.socket.as_ref().is_some_and(|s| s.conn == conn) {
                    // Keep reading: the close handshake ends the stream.
                    self.write(Outbound::Close { code, reason });
                }
            }
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Connected { runner_id, .. } => {
                // The loop runs inside its `runner` span (see `run`).
                tracing::Span::current().record("runner_id", &*runner_id);
                self.publish(|p| {
                    p.connected = true;
                    p.runner_id = Some(runner_id.to_string());
                });
                let handler = &self.handler;
                guard_hook("on_connected", || handler.on_connected(&runner_id));
            }
            Event::Disconnected { code, reason } => {
                self.publish(|p| p.connected = false);
                let handler = &self.handler;
                guard_hook("on_disconnected", || handler.on_disconnected(code, &reason));
            }
            Event::ActorStart {
                actor,
                config,
                hibernating,
            } => {
                let ctx = ActorContext::new(
                    actor.clone(),
                    self.names.get(&config.name),
                    config.key.as_deref().map(Box::from),
                    self.link.clone(),
                );
                self.actors.insert(ByActor(ctx.clone()));
                let info = ActorInfo {
                    name: config.name,
                    key: config.key,
                    create_ts: config.create_ts,
                    input: config.input,
                    hibernating: hibernating.into_iter().map(RequestKey::from).collect(),
                };
                self.spawn_actor_start(actor, ctx, info);
            }
            Event::ActorStop { actor, reason } => self.spawn_actor_stop(actor, reason),
            Event::KvResult { id, result } => self.kv_result(id, result),
            Event::HttpRequest(request) => self.spawn_request(request),
            Event::HttpRequestChunk { key, data, finish } => self.on_chunk(key, data, finish),
            Event::HttpRequestAborted { key } => {
                if let Some(task) = self.request_done(key) {
                    task.abort.abort();
                }
            }
            Event::WebSocketOpen(open) => self.spawn_websocket(open),
            Event::WebSocketMessage {
                key,
                data,
                binary,
                index,
            } => self.on_socket_message(key, data, binary, index),
            Event::WebSocketClosed { key, code, reason } => {
                let frame = code.map(|code| CloseFrame {
                    code,
                    reason: reason.unwrap_or_default(),
                });
                self.notify_socket(key, SocketEvent::Closed(frame));
            }
            Event::WebSocketHibernated { key } => self.notify_socket(key, SocketEvent::Hibernated),
            Event::ShutdownComplete { reason } => self.begin_finish(reason),
        }
    }

    /// The snapshot [`RunnerHandle::metrics`] returns.
    fn metrics_snapshot(&self) -> RunnerMetrics {
        let mut core = self.core.metrics();
        // The core's clock stands at its last input; ages are as of now.
        core.at = core.at.max(self.now());
        RunnerMetrics {
            core,
            input_time: self.input_clock.histogram.clone(),
            write_blocked: self.socket.as_ref().is_some_and(OpenSocket::is_blocked),
        }
    }

    fn publish(&self, update: impl FnOnce(&mut Published)) {
        if let Ok(mut published) = self.published.lock() {
            update(&mut published);
            // `RunnerHandle::ready` callers look again.
            published.waiting.drain(..).for_each(std::task::Waker::wake);
        }
    }
}
