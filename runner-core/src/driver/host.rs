//! The event loop around the core: the only place where time is read, the
//! socket is driven and user handlers are spawned. It makes no protocol
//! decision; it moves bytes, time and calls between [`crate::Runner`], the
//! [`Runtime`] and the [`Handler`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::{AbortHandle, Abortable, BoxFuture, Either};
use futures::stream::BoxStream;
use futures::{FutureExt, SinkExt, StreamExt};
use tracing::{debug, warn};

use super::builder::HostSettings;
use super::command::{Command, CommandTx, Intent, Reply, SocketOp};
use super::context::{ActorContext, ActorLink, Published, RunnerHandle, Spawner};
use super::error::Error;
use super::handler::{ActorInfo, Handler};
use super::http::{error_response, from_http_response, to_http_request};
use super::names::Names;
use super::runtime::{ConnectRequest, Inbound, Outbound, Runtime, Socket};
use super::websocket::{CloseFrame, Message, SocketEvent, WebSocketRequest, HANDLER_PANICKED};
use super::Body;
use crate::protocol::BareMap;
use crate::{
    ActorRef, ConnId, Event, HibernatedSocket, HttpRequest, KvRequestId, KvResponse, RequestKey,
    ShutdownMode, ShutdownReason, Timestamp, Transmit, TransportClose, WebSocketOpen,
};

/// Commands waiting for the loop, per runner.
const COMMAND_BACKLOG: usize = 1024;
/// Frames waiting for the socket writer.
const WRITE_BACKLOG: usize = 1024;
/// Messages waiting for a WebSocket handler to read them; past it the
/// socket is closed (1011 `runner.socket_backlog_full`).
const SOCKET_BACKLOG: usize = 1024;

/// A runner, built by [`Builder`](super::Builder): [`run`](Self::run) it.
pub struct Runner<R, H> {
    pub(crate) handle: RunnerHandle,
    host: Host<R, H>,
}

// By hand, so that neither the runtime nor the handler has to be `Debug`.
impl<R, H> std::fmt::Debug for Runner<R, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("host", &self.host).finish()
    }
}

impl<R: Runtime, H: Handler> Runner<R, H> {
    /// Wraps a core created at time zero of the runtime's clock, read now.
    pub(crate) fn new(runtime: R, core: crate::Runner, handler: H, settings: HostSettings) -> Self {
        let (tx, commands) = mpsc::channel(COMMAND_BACKLOG);
        let tx = CommandTx::new(tx);
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
            published: published.clone(),
            connecting: None,
            socket: None,
            sleep: None,
            signals: None,
            turn: false,
            kv_waiters: HashMap::new(),
            kv_backlog: VecDeque::new(),
            actors: HashSet::new(),
            requests: HashMap::new(),
            in_flight: HashMap::new(),
            stop_pending: HashSet::new(),
            link: Arc::new(ActorLink {
                tx: tx.clone(),
                spawner,
            }),
            names: Names::default(),
            sockets: HashMap::new(),
            shutdown_waiters: Vec::new(),
            finished: None,
        };
        Runner {
            handle: RunnerHandle::new(tx, published),
            host,
        }
    }

    /// Connects and serves until the runner shuts down (a signal, a
    /// [`RunnerHandle::shutdown`], or an engine eviction), then returns why.
    ///
    /// The event loop runs as a task of its own on the runtime, not inside
    /// this future: `block_on` (`#[tokio::main]`, `#[async_std::main]`)
    /// polls its future on a thread outside the runtime's workers, and every
    /// request would then cross threads twice (a futex wake each way, and
    /// allocations freed on another thread than the one that made them).
    /// Dropping this future still stops the loop, and a panic in it comes
    /// out here.
    pub async fn run(self) -> ShutdownReason {
        let rt = self.host.rt.clone();
        let (task, abort) =
            futures::future::abortable(AssertUnwindSafe(self.host.run()).catch_unwind());
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
            Err(_) => panic!("the runtime dropped the runner's event loop task"),
        }
    }
}

/// Aborts the event loop task when [`Runner::run`]'s future is dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Host<R, H> {
    rt: R,
    handler: Arc<H>,
    core: crate::Runner,
    origin: Instant,
    settings: HostSettings,
    tx: CommandTx,
    commands: mpsc::Receiver<Command>,
    published: Arc<Mutex<Published>>,
    connecting: Option<(ConnId, BoxFuture<'static, Result<Socket, TransportClose>>)>,
    socket: Option<OpenSocket>,
    sleep: Option<(Timestamp, BoxFuture<'static, ()>)>,
    signals: Option<BoxStream<'static, ()>>,
    /// Alternates which of socket and commands is polled first, for fairness.
    turn: bool,
    kv_waiters: HashMap<KvRequestId, Reply<KvResponse>>,
    /// KV calls made while the core had `limits.max_pending_kv` in flight,
    /// in call order: they go to the core as answers free its slots, so
    /// that a burst (every actor of a big runner loading its state at
    /// start) waits instead of failing with `TooManyPendingKv`. Bounded by
    /// the callers, each of which awaits its one call.
    kv_backlog: VecDeque<(ActorRef, crate::protocol::KvRequestData, Reply<KvResponse>)>,
    /// The live actors' contexts, found by actor (see [`ByActor`]).
    actors: HashSet<ByActor>,
    requests: HashMap<RequestKey, RequestTask>,
    /// Unanswered requests per actor: an actor whose stop callback has
    /// returned is reported stopped only once its requests are answered
    /// (bounded by the core's stop timeout, which aborts the rest).
    in_flight: HashMap<ActorRef, usize>,
    /// Actors whose stop callback returned while requests were in flight.
    stop_pending: HashSet<ActorRef>,
    /// Handed to every actor context.
    link: Arc<ActorLink>,
    names: Names,
    sockets: HashMap<RequestKey, mpsc::Sender<SocketEvent>>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    finished: Option<ShutdownReason>,
}

impl<R, H> std::fmt::Debug for Host<R, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

/// An actor's context, hashed and compared as its actor: a set of them maps
/// actors to contexts at one pointer per bucket (a map would repeat the
/// actor, 24 bytes, in every bucket, empty ones included).
struct ByActor(ActorContext);

impl std::hash::Hash for ByActor {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.0.actor_ref().hash(state);
    }
}

impl PartialEq for ByActor {
    fn eq(&self, other: &Self) -> bool {
        self.0.actor_ref() == other.0.actor_ref()
    }
}

impl Eq for ByActor {}

impl std::borrow::Borrow<ActorRef> for ByActor {
    fn borrow(&self) -> &ActorRef {
        self.0.actor_ref()
    }
}

struct OpenSocket {
    conn: ConnId,
    incoming: BoxStream<'static, Inbound>,
    writer: mpsc::Sender<Outbound>,
    abort: AbortHandle,
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        // A writer stuck on a frozen connection must not outlive it.
        self.abort.abort();
    }
}

struct RequestTask {
    actor: ActorRef,
    body: Option<mpsc::UnboundedSender<Bytes>>,
    abort: AbortHandle,
}

/// Inputs the loop handles before it lets the tasks it spawned run. While
/// the engine keeps the socket busy (a burst of thousands of starts) every
/// poll finds an input ready, and without a yield the loop would keep its
/// thread: the start and request tasks it spawns would wait in the run queue
/// — holding their memory — until the burst ends (seen with the tokio driver
/// on one CPU: 10 000 starts left ~500 B per actor of heap behind).
const INPUTS_PER_YIELD: u32 = 32;

/// Pending once, after waking itself: the task goes to the back of the
/// runtime's queue. Runtime-neutral.
#[derive(Default)]
struct YieldNow {
    yielded: bool,
}

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// One thing that woke the loop.
enum Input {
    Connected(ConnId, Result<Socket, TransportClose>),
    Socket(ConnId, Option<Inbound>),
    Command(Command),
    Signal,
    Timer,
}

impl<R: Runtime, H: Handler> Host<R, H> {
    async fn run(mut self) -> ShutdownReason {
        if self.settings.handle_signals {
            self.signals = Some(self.rt.shutdown_signals());
        }
        let now = self.now();
        self.core.start(now);
        let mut handled = 0u32;
        loop {
            self.drain().await;
            if let Some(reason) = self.finished.take() {
                return reason;
            }
            self.arm_sleep();
            handled += 1;
            if handled == INPUTS_PER_YIELD {
                handled = 0;
                YieldNow::default().await;
            }
            let input = futures::future::poll_fn(|cx| self.poll_input(cx)).await;
            self.handle(input);
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from(self.rt.now().saturating_duration_since(self.origin))
    }

    /// Keeps one sleep future for the core's next deadline.
    fn arm_sleep(&mut self) {
        match self.core.poll_timeout() {
            None => self.sleep = None,
            Some(at) if self.sleep.as_ref().is_some_and(|(t, _)| *t == at) => {}
            Some(at) => {
                let deadline = self.origin + at.as_duration();
                self.sleep = Some((at, self.rt.sleep_until(deadline)));
            }
        }
    }

    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        if let Some((conn, connect)) = &mut self.connecting {
            if let Poll::Ready(result) = connect.poll_unpin(cx) {
                let conn = *conn;
                self.connecting = None;
                return Poll::Ready(Input::Connected(conn, result));
            }
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
        if let Some(signals) = &mut self.signals {
            if let Poll::Ready(Some(())) = signals.poll_next_unpin(cx) {
                return Poll::Ready(Input::Signal);
            }
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
            .incoming
            .poll_next_unpin(cx)
            .map(|item| Input::Socket(socket.conn, item))
    }

    fn poll_command(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        // The loop holds a sender itself, so the stream never ends.
        match self.commands.poll_next_unpin(cx) {
            Poll::Ready(Some(command)) => Poll::Ready(Input::Command(command)),
            _ => Poll::Pending,
        }
    }

    fn handle(&mut self, input: Input) {
        let now = self.now();
        match input {
            Input::Connected(conn, Ok(socket)) => {
                self.open_socket(conn, socket);
                self.core.handle_connected(now, conn);
            }
            Input::Connected(conn, Err(close)) => self.core.handle_closed(now, conn, close),
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
            Input::Command(command) => self.apply(command),
            Input::Signal => {
                warn!("shutdown signal received");
                self.core.shutdown(now, ShutdownMode::Graceful);
            }
            Input::Timer => self.core.handle_timeout(now),
        }
    }

    fn open_socket(&mut self, conn: ConnId, socket: Socket) {
        let (writer, rx) = mpsc::channel(WRITE_BACKLOG);
        let (abort, registration) = AbortHandle::new_pair();
        let task = Abortable::new(write_loop(socket.outgoing, rx), registration).map(drop);
        self.rt.spawn(task.boxed());
        self.socket = Some(OpenSocket {
            conn,
            incoming: socket.incoming,
            writer,
            abort,
        });
    }

    /// Carries out everything the core asked for, until it asks for nothing.
    async fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(transmit) = self.core.poll_transmit() {
                self.apply_transmit(transmit).await;
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

    async fn apply_transmit(&mut self, transmit: Transmit) {
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
                };
                self.connecting = Some((conn, self.rt.connect(request)));
            }
            Transmit::Frame(frame) => {
                if let Some(socket) = &mut self.socket {
                    // Waits when the writer is behind: back-pressure on the loop.
                    let _ = socket.writer.send(Outbound::Binary(frame)).await;
                }
            }
            Transmit::Close { conn, code, reason } => {
                if self.connecting.as_ref().is_some_and(|(c, _)| *c == conn) {
                    self.connecting = None;
                }
                if let Some(socket) = self.socket.as_mut().filter(|s| s.conn == conn) {
                    // Keep reading: the close handshake ends the stream.
                    let _ = socket.writer.send(Outbound::Close { code, reason }).await;
                }
            }
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Connected { runner_id, .. } => {
                self.publish(|p| {
                    p.connected = true;
                    p.runner_id = Some(runner_id.to_string());
                });
                self.handler.on_connected(&runner_id);
            }
            Event::Disconnected { code, reason } => {
                self.publish(|p| p.connected = false);
                self.handler.on_disconnected(code, &reason);
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
            Event::KvResult { id, result } => {
                if let Some(waiter) = self.kv_waiters.remove(&id) {
                    let _ = waiter.send(result.map_err(Error::Kv));
                }
                self.submit_kv_backlog();
            }
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
            Event::ShutdownComplete { reason } => self.finish(reason),
        }
    }

    fn publish(&self, update: impl FnOnce(&mut Published)) {
        if let Ok(mut published) = self.published.lock() {
            update(&mut published);
        }
    }

    fn finish(&mut self, reason: ShutdownReason) {
        self.publish(|p| {
            p.connected = false;
            p.shut_down = true;
        });
        for (_, task) in self.requests.drain() {
            task.abort.abort();
        }
        self.in_flight.clear();
        self.stop_pending.clear();
        self.sockets.clear();
        // Their callers see the runner gone.
        self.kv_backlog.clear();
        self.handler.on_shutdown();
        for waiter in self.shutdown_waiters.drain(..) {
            let _ = waiter.send(());
        }
        self.finished = Some(reason);
    }

    fn spawn_actor_start(&self, actor: ActorRef, ctx: ActorContext, info: ActorInfo) {
        let handler = self.handler.clone();
        let tx = self.tx.clone();
        self.rt.spawn(Box::pin(async move {
            let outcome = AssertUnwindSafe(handler.on_actor_start(ctx, info))
                .catch_unwind()
                .await;
            let result = match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(panic) => Err(format!("start panicked: {}", panic_message(panic))),
            };
            let _ = tx.send(Command::ActorStarted { actor, result }).await;
        }));
    }

    fn spawn_actor_stop(&self, actor: ActorRef, reason: crate::StopReason) {
        let handler = self.handler.clone();
        let tx = self.tx.clone();
        let ctx = self.context(&actor);
        self.rt.spawn(Box::pin(async move {
            if AssertUnwindSafe(handler.on_actor_stop(ctx, reason))
                .catch_unwind()
                .await
                .is_err()
            {
                warn!(?actor, "actor stop panicked");
            }
            let _ = tx.send(Command::ActorStopped { actor }).await;
        }));
    }

    fn context(&self, actor: &ActorRef) -> ActorContext {
        self.actors
            .get(actor)
            .map(|c| c.0.clone())
            .unwrap_or_else(|| {
                ActorContext::new(actor.clone(), Arc::from(""), None, self.link.clone())
            })
    }

    fn spawn_request(&mut self, request: HttpRequest) {
        let key = request.key;
        let actor = request.actor.clone();
        let ctx = self.context(&actor);
        let (body, body_tx) = if request.streamed {
            let (tx, rx) = mpsc::unbounded();
            if !request.body.is_empty() {
                let _ = tx.unbounded_send(request.body.clone());
            }
            (Body::channel(rx), Some(tx))
        } else {
            (Body::from(request.body.clone()), None)
        };
        let request = match to_http_request(request, body) {
            Ok(request) => request,
            Err(e) => {
                debug!(%key, error = %e, "request is not valid HTTP: 400");
                let now = self.now();
                let _ = self
                    .core
                    .respond(now, key, error_response(400, "bad request"));
                return;
            }
        };
        let handler = self.handler.clone();
        let tx = self.tx.clone();
        let limit = self.core.config().limits.max_tunnel_payload;
        let timeout = self
            .rt
            .sleep_until(self.rt.now() + self.settings.request_timeout);
        let work = async move {
            let serve = AssertUnwindSafe(handler.on_request(ctx, request)).catch_unwind();
            let response = match futures::future::select(Box::pin(serve), timeout).await {
                Either::Left((Ok(response), _)) => from_http_response(response, limit).await,
                Either::Left((Err(panic), _)) => {
                    warn!(%key, panic = panic_message(panic), "request handler panicked: 500");
                    error_response(500, "internal server error")
                }
                Either::Right(_) => {
                    warn!(%key, "request handler timed out: 504");
                    error_response(504, "handler timed out")
                }
            };
            let _ = tx.send(Command::Respond { key, response }).await;
        };
        let (abort, registration) = AbortHandle::new_pair();
        self.rt
            .spawn(Abortable::new(work, registration).map(drop).boxed());
        *self.in_flight.entry(actor.clone()).or_default() += 1;
        self.requests.insert(
            key,
            RequestTask {
                actor,
                body: body_tx,
                abort,
            },
        );
    }

    /// Forgets a finished request; the last one of a stopping actor lets the
    /// actor's stop be reported.
    fn request_done(&mut self, key: RequestKey) -> Option<RequestTask> {
        let task = self.requests.remove(&key)?;
        let count = self.in_flight.get_mut(&task.actor).map(|n| {
            *n -= 1;
            *n
        });
        if count == Some(0) {
            self.in_flight.remove(&task.actor);
            if self.stop_pending.remove(&task.actor) {
                self.report_stopped(task.actor.clone());
            }
        }
        Some(task)
    }

    fn report_stopped(&mut self, actor: ActorRef) {
        self.actors.remove(&actor);
        let now = self.now();
        if let Err(e) = self.core.actor_stopped(now, &actor) {
            debug!(error = %e, "late actor stop ignored");
        }
    }

    fn on_chunk(&mut self, key: RequestKey, data: Bytes, finish: bool) {
        let Some(task) = self.requests.get_mut(&key) else {
            return;
        };
        if let Some(body) = &task.body {
            let _ = body.unbounded_send(data);
        }
        if finish {
            task.body = None;
        }
    }

    fn spawn_websocket(&mut self, open: WebSocketOpen) {
        let ctx = self.context(&open.actor);
        self.spawn_socket_handler(ctx, open.key, open.path, &open.headers, false);
    }

    fn spawn_socket_handler(
        &mut self,
        ctx: ActorContext,
        key: RequestKey,
        path: String,
        headers: &BareMap<String>,
        restored: bool,
    ) {
        let (events_tx, events) = mpsc::channel(SOCKET_BACKLOG);
        self.sockets.insert(key, events_tx);
        let request = WebSocketRequest::new(
            key,
            path,
            header_map(headers),
            restored,
            events,
            self.tx.clone(),
        );
        let handler = self.handler.clone();
        let tx = self.tx.clone();
        self.rt.spawn(Box::pin(async move {
            if AssertUnwindSafe(handler.on_websocket(ctx, request))
                .catch_unwind()
                .await
                .is_err()
            {
                warn!(%key, "websocket handler panicked: closing");
                let op = SocketOp::Close {
                    code: Some(1011),
                    reason: Some(HANDLER_PANICKED.into()),
                };
                tx.send_now(Command::Socket {
                    key,
                    op,
                    reply: None,
                });
            }
        }));
    }

    fn on_socket_message(&mut self, key: RequestKey, data: Bytes, binary: bool, index: u16) {
        let message = if binary {
            Message::Binary(data)
        } else {
            Message::Text(String::from_utf8_lossy(&data).into_owned())
        };
        let Some(events) = self.sockets.get_mut(&key) else {
            return;
        };
        match events.try_send(SocketEvent::Message { message, index }) {
            Ok(()) => {}
            Err(e) if e.is_full() => {
                warn!(%key, "websocket handler is not reading: closing the socket");
                self.sockets.remove(&key);
                let now = self.now();
                let _ = self.core.websocket_close(
                    now,
                    key,
                    Some(1011),
                    Some("runner.socket_backlog_full"),
                );
            }
            Err(_) => {
                self.sockets.remove(&key);
            }
        }
    }

    fn notify_socket(&mut self, key: RequestKey, event: SocketEvent) {
        if let Some(mut events) = self.sockets.remove(&key) {
            let _ = events.try_send(event);
        }
    }

    fn apply(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::ActorStarted { actor, result } => {
                if let Err(e) = self.core.actor_started(now, &actor, result) {
                    debug!(error = %e, "late actor start ignored");
                }
            }
            Command::ActorStopped { actor } => {
                if self.in_flight.contains_key(&actor) {
                    self.stop_pending.insert(actor);
                } else {
                    self.report_stopped(actor);
                }
            }
            Command::Intent {
                actor,
                intent,
                reply,
            } => {
                let result = match intent {
                    Intent::Sleep => self.core.sleep_actor(now, &actor),
                    Intent::Stop => self.core.stop_actor(now, &actor),
                    Intent::Alarm(ts) => self.core.set_alarm(now, &actor, ts),
                    Intent::Crash(message) => self.core.crash_actor(now, &actor, message),
                };
                let _ = reply.send(result.map_err(Error::Call));
            }
            Command::Kv { actor, data, reply } => {
                self.kv_backlog.push_back((actor, data, reply));
                self.submit_kv_backlog();
            }
            Command::Restore {
                actor,
                sockets,
                reply,
            } => self.restore(actor, sockets, reply),
            Command::Respond { key, response } => {
                if self.requests.contains_key(&key) {
                    if let Err(e) = self.core.respond(now, key, response) {
                        debug!(%key, error = %e, "response not sent");
                    }
                    self.request_done(key);
                }
            }
            Command::Socket { key, op, reply } => {
                let result = self.socket_op(now, key, op);
                if let Some(reply) = reply {
                    let _ = reply.send(result.map_err(Error::Call));
                }
            }
            Command::SocketIndices { key, reply } => {
                let _ = reply.send(self.core.websocket_indices(key));
            }
            Command::Shutdown { mode, done } => {
                self.shutdown_waiters.push(done);
                self.core.shutdown(now, mode);
            }
        }
    }

    /// Hands waiting KV calls to the core while it has room for them.
    fn submit_kv_backlog(&mut self) {
        let limit = self.core.config().limits.max_pending_kv;
        while self.core.pending_kv_count() < limit {
            let Some((actor, data, reply)) = self.kv_backlog.pop_front() else {
                return;
            };
            let now = self.now();
            match self.core.kv(now, &actor, data) {
                Ok(id) => {
                    self.kv_waiters.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(Error::Call(e)));
                }
            }
        }
    }

    fn socket_op(
        &mut self,
        now: Timestamp,
        key: RequestKey,
        op: SocketOp,
    ) -> Result<(), crate::CallError> {
        match op {
            SocketOp::Accept { hibernatable } => self.core.websocket_accept(now, key, hibernatable),
            SocketOp::Reject { code, reason } => {
                self.sockets.remove(&key);
                self.core.websocket_reject(now, key, code, &reason)
            }
            SocketOp::Send { data, binary } => self.core.websocket_send(now, key, data, binary),
            SocketOp::Close { code, reason } => {
                self.sockets.remove(&key);
                self.core.websocket_close(now, key, code, reason.as_deref())
            }
            SocketOp::Ack(index) => self.core.websocket_ack(now, key, index),
        }
    }

    /// Restores hibernated sockets and hands each restored one to the
    /// handler as an already open socket.
    fn restore(
        &mut self,
        actor: ActorRef,
        sockets: Vec<HibernatedSocket>,
        reply: Reply<crate::RestoreReport>,
    ) {
        let now = self.now();
        let described: HashMap<RequestKey, (String, BareMap<String>)> = sockets
            .iter()
            .map(|s| (s.key, (s.path.clone(), s.headers.clone())))
            .collect();
        let result = self.core.restore_websockets(now, &actor, sockets);
        if let Ok(report) = &result {
            let ctx = self.context(&actor);
            for key in &report.restored {
                if let Some((path, headers)) = described.get(key) {
                    self.spawn_socket_handler(ctx.clone(), *key, path.clone(), headers, true);
                }
            }
        }
        let _ = reply.send(result.map_err(Error::Call));
    }
}

/// Moves frames from the loop to the socket, flushing once per burst.
async fn write_loop(
    mut sink: std::pin::Pin<Box<dyn futures::Sink<Outbound, Error = super::BoxError> + Send>>,
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

fn header_map(headers: &BareMap<String>) -> http::HeaderMap {
    let mut map = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::header::HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// The message of a caught panic. Takes the box itself: a `&Box<dyn Any>`
/// passed where a `&dyn Any` is expected coerces to the box, whose downcasts
/// all fail (every message came out as "unknown panic").
fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => panic
            .downcast_ref::<&str>()
            .map_or_else(|| "unknown panic".into(), |s| (*s).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_messages_survive_catch_unwind() {
        let caught = std::panic::catch_unwind(|| panic!("a literal")).unwrap_err();
        assert_eq!(panic_message(caught), "a literal");
        let n = 7;
        let caught = std::panic::catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(caught), "formatted 7");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(5u8)).unwrap_err();
        assert_eq!(panic_message(caught), "unknown panic");
    }
}
