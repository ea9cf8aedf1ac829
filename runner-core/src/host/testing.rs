//! An in-memory runtime and engine connection, for examples and for testing
//! handlers without an engine.
//!
//! [`MemoryRuntime`] runs every task on a thread of its own and hands each
//! connection's engine end to the test ([`MemoryRuntime::accept`]), which
//! reads what the runner sends and answers it. [`NoEngine`] is the stateless
//! shorthand for a runner that never reaches an engine. Neither needs tokio
//! or async-std, and neither starts a thread that outlives the runner: task
//! threads end with their tasks, timer threads when their sleep fires or is
//! dropped.
//!
//! For runner-core's own tests and driver authors: the drivers do not
//! re-export it, so its examples name `runner_core`. A driver's user tests
//! handlers with the driver's `testing` kit (`runner_tokio::testing`, on the
//! user's runtime, engine included) instead.
//!
//! # Examples
//!
//! Play the engine: read the runner's init message and accept it.
//!
//! ```
//! use futures::executor::block_on;
//! use runner_core::host::testing::MemoryRuntime;
//! use runner_core::host::{Builder, Handler, Inbound, Outbound};
//! use runner_core::protocol::{ProtocolMetadata, ProtocolVersion, ToClient, ToClientInit, encode_to_client};
//! use runner_core::{ShutdownMode, ShutdownReason};
//!
//! struct Idle;
//! impl Handler for Idle {}
//!
//! let rt = MemoryRuntime::new();
//! let runner = Builder::new(rt.clone()).endpoint("http://engine").runner_name("r").build(Idle)?;
//! let handle = runner.handle();
//! let running = std::thread::spawn(move || block_on(runner.run()));
//!
//! let mut engine = block_on(rt.accept());
//! assert!(matches!(block_on(engine.recv()), Some(Outbound::Binary(_)))); // the init message
//! let metadata = ProtocolMetadata { runner_lost_threshold: 15_000, actor_stop_threshold: None, serverless_drain_grace_period: None };
//! let init = ToClient::Init(ToClientInit { runner_id: "runner-1".into(), metadata });
//! block_on(engine.send(Inbound::Binary(encode_to_client(ProtocolVersion::V5, &init)?.into())))?;
//! let asked = std::time::Instant::now();
//! while handle.runner_id().is_none() && asked.elapsed().as_secs() < 10 {
//!     std::thread::sleep(std::time::Duration::from_millis(1));
//! }
//! assert_eq!(handle.runner_id().as_deref(), Some("runner-1"));
//!
//! block_on(handle.shutdown(ShutdownMode::Immediate));
//! assert_eq!(running.join().unwrap(), ShutdownReason::Requested);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::channel::{mpsc, oneshot};
use futures::executor::block_on;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{BoxStream, StreamExt};
use futures::{SinkExt, task::AtomicWaker};

use super::event_loop::AsyncRunner;
use super::handler::Handler;
use super::runtime::{BoxError, ConnectRequest, Inbound, Outbound, Runtime, Socket};
use crate::protocol::{
    ProtocolMetadata, ProtocolVersion, ToClient, ToClientInit, ToServer, ToServerInit,
    decode_to_server, encode_to_client,
};
use crate::{ShutdownMode, TransportClose};

/// Frames each way on one in-memory connection before the sender waits
/// for the reader (the runner's own write backlog is as deep).
const FRAME_BACKLOG: usize = 1024;

/// A runtime on plain threads whose WebSocket client reaches an in-memory
/// engine that the test plays.
///
/// Clones share their state: keep one and give a clone to
/// [`Builder::new`](super::Builder::new). Every `connect` is recorded
/// ([`connects`](Self::connects)) and, unless refused, its engine end waits
/// in [`accept`](Self::accept). `random_u64` is fixed (0 unless set by
/// [`random`](Self::random)), so runner keys are reproducible.
///
/// # Examples
///
/// ```
/// use futures::executor::block_on;
/// use runner_core::host::testing::MemoryRuntime;
/// use runner_core::host::{Builder, Handler};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let rt = MemoryRuntime::new().random(7);
/// let runner = Builder::new(rt.clone()).endpoint("http://engine").runner_name("r").build(Idle)?;
/// let (request, init) = rt.connect_once(runner);
/// assert!(request.url.ends_with("&runner_key=00000000000000070000000000000007"));
/// assert_eq!(init.name, "r");
/// assert_eq!(rt.connects().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryRuntime {
    refusal: Option<TransportClose>,
    signals: usize,
    random: u64,
    shared: Arc<Shared>,
}

/// What the clones of one [`MemoryRuntime`] share.
#[derive(Debug, Default)]
struct Shared {
    connects: Mutex<Vec<ConnectRequest>>,
    /// Engine ends not yet accepted. Test-only and unbounded: one per
    /// accepted connect, and the runner reconnects only with backoff.
    pending: Mutex<VecDeque<EngineSocket>>,
    arrived: AtomicWaker,
    signal_streams: AtomicUsize,
}

impl MemoryRuntime {
    /// A runtime that accepts every connect, never signals and draws 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::host::Runtime;
    /// use runner_core::host::testing::MemoryRuntime;
    ///
    /// let rt = MemoryRuntime::new();
    /// assert_eq!(rt.random_u64(), 0);
    /// assert!(rt.connects().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses every connect with `close` (recorded all the same); the
    /// runner then retries with backoff.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use runner_core::TransportClose;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{ConnectRequest, Runtime};
    ///
    /// let rt = MemoryRuntime::new().refuse_connects(TransportClose::error("no engine here"));
    /// let request = ConnectRequest { url: "ws://engine".into(), subprotocols: vec![], max_message_size: 1 << 20, tls: None };
    /// let refused = block_on(rt.connect(request)).unwrap_err();
    /// assert_eq!(refused.reason, "no engine here");
    /// assert_eq!(rt.connects()[0].url, "ws://engine");
    /// ```
    pub fn refuse_connects(mut self, close: TransportClose) -> Self {
        self.refusal = Some(close);
        self
    }

    /// Makes each [`Runtime::shutdown_signals`] stream fire `count` times at
    /// once, then never again.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::{FutureExt, StreamExt};
    /// use runner_core::host::Runtime;
    /// use runner_core::host::testing::MemoryRuntime;
    ///
    /// let mut signals = MemoryRuntime::new().signals(2).shutdown_signals();
    /// assert_eq!(signals.next().now_or_never(), Some(Some(())));
    /// assert_eq!(signals.next().now_or_never(), Some(Some(())));
    /// assert_eq!(signals.next().now_or_never(), None);
    /// ```
    pub fn signals(mut self, count: usize) -> Self {
        self.signals = count;
        self
    }

    /// Sets what [`Runtime::random_u64`] returns, every time.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::host::Runtime;
    /// use runner_core::host::testing::MemoryRuntime;
    ///
    /// let rt = MemoryRuntime::new().random(4);
    /// assert_eq!((rt.random_u64(), rt.random_u64()), (4, 4));
    /// ```
    pub fn random(mut self, value: u64) -> Self {
        self.random = value;
        self
    }

    /// Every connect asked of this runtime or its clones, refused ones too.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{ConnectRequest, Runtime};
    ///
    /// let rt = MemoryRuntime::new();
    /// let request = ConnectRequest { url: "ws://engine".into(), subprotocols: vec!["rivet".into()], max_message_size: 1 << 20, tls: None };
    /// let _socket = block_on(rt.clone().connect(request))?;
    /// assert_eq!(rt.connects()[0].subprotocols, ["rivet"]);
    /// # Ok::<(), runner_core::TransportClose>(())
    /// ```
    pub fn connects(&self) -> Vec<ConnectRequest> {
        self.shared.connects.lock().unwrap().clone()
    }

    /// How many times [`Runtime::shutdown_signals`] was called, i.e. whether
    /// the runner listens to signals at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::host::Runtime;
    /// use runner_core::host::testing::MemoryRuntime;
    ///
    /// let rt = MemoryRuntime::new();
    /// assert_eq!(rt.signal_streams(), 0);
    /// let _signals = rt.clone().shutdown_signals();
    /// assert_eq!(rt.signal_streams(), 1);
    /// ```
    pub fn signal_streams(&self) -> usize {
        self.shared.signal_streams.load(Ordering::SeqCst)
    }

    /// The engine's end of the next accepted connection, once the runner
    /// has connected (in connect order).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use futures::FutureExt;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{ConnectRequest, Runtime};
    ///
    /// let rt = MemoryRuntime::new();
    /// assert!(rt.accept().now_or_never().is_none()); // nobody connected yet
    /// let request = ConnectRequest { url: "ws://engine".into(), subprotocols: vec![], max_message_size: 1 << 20, tls: None };
    /// let _socket = block_on(rt.connect(request))?;
    /// assert_eq!(block_on(rt.accept()).request().url, "ws://engine");
    /// # Ok::<(), runner_core::TransportClose>(())
    /// ```
    pub async fn accept(&self) -> EngineSocket {
        futures::future::poll_fn(|cx| {
            // Register first, so that a connect between the check and the
            // registration still wakes us.
            self.shared.arrived.register(cx.waker());
            match self.shared.pending.lock().unwrap().pop_front() {
                Some(engine) => std::task::Poll::Ready(engine),
                None => std::task::Poll::Pending,
            }
        })
        .await
    }

    /// Runs `runner` (built on this runtime or a clone) until it has
    /// connected and sent its init message, shuts it down, and returns the
    /// connect request and the decoded init message.
    ///
    /// Blocks the calling thread; meant for synchronous tests and examples.
    ///
    /// # Panics
    ///
    /// If this runtime refuses connects, if the runner's first frame is not
    /// an init message, or if the runner panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{Builder, Handler};
    ///
    /// struct Idle;
    /// impl Handler for Idle {}
    ///
    /// let rt = MemoryRuntime::new();
    /// let builder = Builder::new(rt.clone()).endpoint("http://engine").runner_name("r").token("dev");
    /// let (request, init) = rt.connect_once(builder.total_slots(8).build(Idle)?);
    /// assert_eq!(request.subprotocols, ["rivet", "rivet_token.dev"]);
    /// assert_eq!(init.total_slots, 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_once<H: Handler>(
        &self,
        runner: AsyncRunner<MemoryRuntime, H>,
    ) -> (ConnectRequest, ToServerInit) {
        // Refused connects would leave us waiting for a connection forever.
        assert!(
            self.refusal.is_none(),
            "connect_once needs accepted connects"
        );
        let handle = runner.handle();
        let running = std::thread::spawn(move || block_on(runner.run()));
        let mut engine = block_on(self.accept());
        let first = block_on(engine.recv());
        block_on(handle.shutdown(ShutdownMode::Immediate));
        if let Err(panic) = running.join() {
            std::panic::resume_unwind(panic);
        }
        let init = decode_init(&engine.request, first);
        (engine.request, init)
    }
}

/// The init message in the runner's first frame.
fn decode_init(request: &ConnectRequest, first: Option<Outbound>) -> ToServerInit {
    let Some(Outbound::Binary(frame)) = first else {
        panic!("the runner's first frame is not binary: {first:?}");
    };
    match decode_to_server(url_protocol_version(&request.url), &frame) {
        Ok(ToServer::Init(init)) => init,
        other => panic!("the runner's first frame is not an init message: {other:?}"),
    }
}

/// The `protocol_version=` of a connect URL (the frames carry no version).
fn url_protocol_version(url: &str) -> ProtocolVersion {
    let number = url
        .split_once("protocol_version=")
        .and_then(|(_, rest)| rest.split('&').next()?.parse().ok());
    number
        .and_then(|n| ProtocolVersion::new(n).ok())
        .unwrap_or_else(|| panic!("no supported protocol_version in {url}"))
}

impl Runtime for MemoryRuntime {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        thread_sleep(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        thread_spawn(task);
    }

    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        self.shared.connects.lock().unwrap().push(request.clone());
        if let Some(close) = &self.refusal {
            return futures::future::ready(Err(close.clone())).boxed();
        }
        let (socket, engine) = socket_pair(request);
        self.shared.pending.lock().unwrap().push_back(engine);
        self.shared.arrived.wake();
        futures::future::ready(Ok(socket)).boxed()
    }

    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        self.shared.signal_streams.fetch_add(1, Ordering::SeqCst);
        let fired = futures::stream::repeat(()).take(self.signals);
        fired.chain(futures::stream::pending()).boxed()
    }

    fn random_u64(&self) -> u64 {
        self.random
    }
}

/// A timer thread that ends when the deadline passes or the sleep is
/// dropped (its `cancel` end then disconnects), so none outlives the runner.
fn thread_sleep(deadline: Instant) -> BoxFuture<'static, ()> {
    let (cancel, cancelled) = std::sync::mpsc::sync_channel::<()>(0);
    let (wake, woken) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = cancelled.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let _ = wake.send(());
    });
    async move {
        let _cancel = cancel;
        let _ = woken.await;
    }
    .boxed()
}

/// A thread per task: it ends when the task does.
fn thread_spawn(task: BoxFuture<'static, ()>) {
    std::thread::spawn(move || block_on(task));
}

/// The runner's socket and the engine's end of one in-memory connection.
fn socket_pair(request: ConnectRequest) -> (Socket, EngineSocket) {
    let (to_engine, from_runner) = mpsc::channel(FRAME_BACKLOG);
    let (to_runner, from_engine) = mpsc::channel(FRAME_BACKLOG);
    let socket = Socket {
        incoming: from_engine.boxed(),
        outgoing: Box::pin(to_engine.sink_map_err(|e| Box::new(e) as BoxError)),
    };
    let engine = EngineSocket {
        request,
        from_runner,
        to_runner,
    };
    (socket, engine)
}

/// The engine's end of one in-memory connection: what the runner sends, and
/// a way to answer it and close.
///
/// Dropping it ends the connection without a close frame, as a lost
/// transport would.
///
/// # Examples
///
/// ```
/// use futures::executor::block_on;
/// use futures::{SinkExt, StreamExt};
/// use runner_core::host::testing::MemoryRuntime;
/// use runner_core::host::{ConnectRequest, Inbound, Outbound, Runtime};
///
/// let rt = MemoryRuntime::new();
/// let request = ConnectRequest { url: "ws://engine".into(), subprotocols: vec![], max_message_size: 1 << 20, tls: None };
/// let mut socket = block_on(rt.connect(request))?;
/// let mut engine = block_on(rt.accept());
/// block_on(socket.outgoing.send(Outbound::Binary("ping".into()))).unwrap();
/// assert_eq!(block_on(engine.recv()), Some(Outbound::Binary("ping".into())));
/// drop(engine);
/// assert_eq!(block_on(socket.incoming.next()), None); // a lost connection
/// # Ok::<(), runner_core::TransportClose>(())
/// ```
#[derive(Debug)]
pub struct EngineSocket {
    request: ConnectRequest,
    from_runner: mpsc::Receiver<Outbound>,
    to_runner: mpsc::Sender<Inbound>,
}

impl EngineSocket {
    /// The connect request this connection answered.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{ConnectRequest, Runtime};
    ///
    /// let rt = MemoryRuntime::new();
    /// let request = ConnectRequest { url: "ws://engine/a".into(), subprotocols: vec![], max_message_size: 1 << 20, tls: None };
    /// let _socket = block_on(rt.connect(request))?;
    /// assert_eq!(block_on(rt.accept()).request().url, "ws://engine/a");
    /// # Ok::<(), runner_core::TransportClose>(())
    /// ```
    pub fn request(&self) -> &ConnectRequest {
        &self.request
    }

    /// The next frame the runner sent; `None` once it dropped its end.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use futures::SinkExt;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{ConnectRequest, Outbound, Runtime};
    ///
    /// let rt = MemoryRuntime::new();
    /// let request = ConnectRequest { url: "ws://engine".into(), subprotocols: vec![], max_message_size: 1 << 20, tls: None };
    /// let mut socket = block_on(rt.connect(request))?;
    /// let mut engine = block_on(rt.accept());
    /// let close = Outbound::Close { code: 1000, reason: "bye".into() };
    /// block_on(socket.outgoing.send(close.clone())).unwrap();
    /// drop(socket);
    /// assert_eq!(block_on(engine.recv()), Some(close));
    /// assert_eq!(block_on(engine.recv()), None);
    /// # Ok::<(), runner_core::TransportClose>(())
    /// ```
    pub async fn recv(&mut self) -> Option<Outbound> {
        self.from_runner.next().await
    }

    /// Sends the runner a message; fails once the runner dropped its end.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use futures::StreamExt;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{ConnectRequest, Inbound, Runtime};
    ///
    /// let rt = MemoryRuntime::new();
    /// let request = ConnectRequest { url: "ws://engine".into(), subprotocols: vec![], max_message_size: 1 << 20, tls: None };
    /// let mut socket = block_on(rt.connect(request))?;
    /// let mut engine = block_on(rt.accept());
    /// block_on(engine.send(Inbound::Binary(vec![1, 2].into()))).unwrap();
    /// assert_eq!(block_on(socket.incoming.next()), Some(Inbound::Binary(vec![1, 2].into())));
    /// drop(socket);
    /// assert!(block_on(engine.send(Inbound::Text)).is_err());
    /// # Ok::<(), runner_core::TransportClose>(())
    /// ```
    pub async fn send(&mut self, message: Inbound) -> Result<(), mpsc::SendError> {
        self.to_runner.send(message).await
    }

    /// The protocol version the runner asked for in its connect URL.
    ///
    /// # Panics
    ///
    /// When the URL names no supported `protocol_version`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{ConnectRequest, Runtime};
    /// use runner_core::protocol::ProtocolVersion;
    ///
    /// let rt = MemoryRuntime::new();
    /// let url = "ws://engine/runners/connect?protocol_version=6&namespace=default".into();
    /// let _socket = block_on(rt.connect(ConnectRequest { url, subprotocols: vec![], max_message_size: 1 << 20, tls: None }))?;
    /// assert_eq!(block_on(rt.accept()).protocol_version(), ProtocolVersion::V6);
    /// # Ok::<(), runner_core::TransportClose>(())
    /// ```
    pub fn protocol_version(&self) -> ProtocolVersion {
        url_protocol_version(&self.request.url)
    }

    /// The next message the runner sent, decoded; `None` once it dropped
    /// its end or sent a close frame.
    ///
    /// # Panics
    ///
    /// When the runner sent bytes that do not decode: a runner bug.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{Builder, Handler};
    /// use runner_core::protocol::ToServer;
    /// use runner_core::ShutdownMode;
    /// # struct Idle;
    /// # impl Handler for Idle {}
    ///
    /// let rt = MemoryRuntime::new();
    /// let runner = Builder::new(rt.clone()).endpoint("http://engine").runner_name("r").build(Idle)?;
    /// let handle = runner.handle();
    /// let running = std::thread::spawn(move || block_on(runner.run()));
    /// let mut engine = block_on(rt.accept());
    /// assert!(matches!(block_on(engine.recv_message()), Some(ToServer::Init(_))));
    /// block_on(handle.shutdown(ShutdownMode::Immediate));
    /// running.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn recv_message(&mut self) -> Option<ToServer> {
        let version = self.protocol_version();
        match self.recv().await? {
            Outbound::Binary(frame) => Some(
                decode_to_server(version, &frame)
                    .expect("the runner sent a frame that does not decode"),
            ),
            Outbound::Close { .. } => None,
        }
    }

    /// Sends the runner a message, encoded in the version it asked for.
    ///
    /// # Panics
    ///
    /// When `message` cannot be encoded in that version (a test bug).
    ///
    /// # Examples
    ///
    /// See [`accept_init`](Self::accept_init), which sends the init message.
    pub async fn send_message(&mut self, message: &ToClient) -> Result<(), mpsc::SendError> {
        let frame = encode_to_client(self.protocol_version(), message)
            .expect("message encodes in the runner's version");
        self.send(Inbound::Binary(frame.into())).await
    }

    /// Plays the engine's side of the handshake: reads the runner's init
    /// message, answers with `runner_id` (liveness threshold 15 s, the
    /// engine's default), and returns what the runner sent.
    ///
    /// # Panics
    ///
    /// When the runner's first message is not an init.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{Builder, Handler};
    /// use runner_core::ShutdownMode;
    /// # struct Idle;
    /// # impl Handler for Idle {}
    ///
    /// let rt = MemoryRuntime::new();
    /// let runner = Builder::new(rt.clone()).endpoint("http://engine").runner_name("r").build(Idle)?;
    /// let handle = runner.handle();
    /// let running = std::thread::spawn(move || block_on(runner.run()));
    /// let mut engine = block_on(rt.accept());
    /// let init = block_on(engine.accept_init("runner-1"))?;
    /// assert_eq!(&*init.name, "r");
    /// block_on(handle.shutdown(ShutdownMode::Immediate));
    /// running.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn accept_init(&mut self, runner_id: &str) -> Result<ToServerInit, mpsc::SendError> {
        let Some(ToServer::Init(init)) = self.recv_message().await else {
            panic!("the runner's first message is not an init");
        };
        let metadata = ProtocolMetadata {
            runner_lost_threshold: 15_000,
            actor_stop_threshold: Some(30_000),
            serverless_drain_grace_period: None,
        };
        let answer = ToClient::Init(ToClientInit {
            runner_id: runner_id.into(),
            metadata,
        });
        self.send_message(&answer).await?;
        Ok(init)
    }

    /// Closes the connection with a close frame, as the engine would.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use futures::StreamExt;
    /// use runner_core::host::testing::MemoryRuntime;
    /// use runner_core::host::{ConnectRequest, Inbound, Runtime};
    ///
    /// let rt = MemoryRuntime::new();
    /// let request = ConnectRequest { url: "ws://engine".into(), subprotocols: vec![], max_message_size: 1 << 20, tls: None };
    /// let mut socket = block_on(rt.connect(request))?;
    /// block_on(block_on(rt.accept()).close(1012, "restarting"));
    /// let Some(Inbound::Closed(close)) = block_on(socket.incoming.next()) else { panic!("not closed") };
    /// assert_eq!((close.code, close.reason.as_str()), (Some(1012), "restarting"));
    /// assert_eq!(block_on(socket.incoming.next()), None); // nothing after the close
    /// # Ok::<(), runner_core::TransportClose>(())
    /// ```
    pub async fn close(mut self, code: u16, reason: impl Into<String>) {
        let close = TransportClose::frame(code, reason);
        // A runner that already dropped its end needs no close frame.
        let _ = self.to_runner.send(Inbound::Closed(close)).await;
    }
}

/// A stateless runtime with no engine to reach: tasks on threads, real
/// timers, every connect refused (`"no engine here"`), no signals, and the
/// default [`Runtime::random_u64`].
///
/// For examples that only build or start and stop a runner; being a unit
/// value, it is `Copy`.
///
/// # Examples
///
/// ```
/// use futures::executor::block_on;
/// use runner_core::host::testing::NoEngine;
/// use runner_core::host::{Builder, Handler};
/// use runner_core::{ShutdownMode, ShutdownReason};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let runner = Builder::new(NoEngine).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
/// let handle = runner.handle();
/// let running = std::thread::spawn(move || block_on(runner.run()));
/// assert!(!handle.is_connected());
/// block_on(handle.shutdown(ShutdownMode::Immediate));
/// assert_eq!(running.join().unwrap(), ShutdownReason::Requested);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEngine;

impl Runtime for NoEngine {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        thread_sleep(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        thread_spawn(task);
    }

    fn connect(&self, _: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        futures::future::ready(Err(TransportClose::error("no engine here"))).boxed()
    }

    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        futures::stream::pending().boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_version_is_read_wherever_it_sits_in_the_query() {
        let first = "ws://e/runners/connect?protocol_version=7&namespace=default";
        let last = "ws://e/runners/connect?namespace=default&protocol_version=6";
        assert_eq!(url_protocol_version(first), ProtocolVersion::V7);
        assert_eq!(url_protocol_version(last), ProtocolVersion::V6);
    }

    #[test]
    fn a_sleep_fires_at_its_deadline_and_not_before() {
        let deadline = Instant::now() + std::time::Duration::from_millis(20);
        block_on(thread_sleep(deadline));
        assert!(Instant::now() >= deadline);
    }
}
