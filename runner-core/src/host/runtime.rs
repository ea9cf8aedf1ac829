//! What a driver crate provides: a clock, timers, task spawning, a WebSocket
//! client and shutdown signals. Nothing protocol-related.
//!
//! For driver authors: the drivers do not re-export [`Runtime`] and its
//! plumbing, so the examples here are written in a driver crate, with
//! `runner_core` as a dependency ([`BoxError`], which they do re-export,
//! is written as a driver's user writes it).

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use futures::Sink;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::tls::ClientTls;
use crate::TransportClose;

/// Boxed error type used at the driver boundary.
///
/// # Examples
///
/// Any error converts into it with `?` or `.into()`, and so does a message:
///
/// ```
/// use runner_tokio::BoxError;
///
/// fn parse_port(text: &str) -> Result<u16, BoxError> {
///     if text.is_empty() {
///         return Err("no port given".into());
///     }
///     Ok(text.parse()?)
/// }
/// assert_eq!(parse_port("6420")?, 6420);
/// assert_eq!(parse_port("").unwrap_err().to_string(), "no port given");
/// assert!(parse_port("http").is_err());
/// # Ok::<(), BoxError>(())
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An async runtime, as the host needs it.
///
/// Implemented by `runner-tokio` and `runner-async-std`; implement it to run
/// the runner on any other executor.
///
/// # Examples
///
/// A runtime with a thread per task and no engine to reach: enough to run a
/// runner and shut it down.
///
/// ```
/// use std::time::Instant;
/// use futures::executor::block_on;
/// use futures::future::{BoxFuture, FutureExt};
/// use futures::stream::{BoxStream, StreamExt};
/// use runner_core::host::{Builder, ConnectRequest, Handler, Runtime, Socket};
/// use runner_core::{ShutdownMode, ShutdownReason, TransportClose};
///
/// #[derive(Clone)]
/// struct Threads;
///
/// impl Runtime for Threads {
///     fn now(&self) -> Instant {
///         Instant::now()
///     }
///
///     fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
///         let (wake, woken) = futures::channel::oneshot::channel::<()>();
///         std::thread::spawn(move || {
///             std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
///             let _ = wake.send(());
///         });
///         woken.map(drop).boxed()
///     }
///
///     fn spawn(&self, task: BoxFuture<'static, ()>) {
///         std::thread::spawn(move || block_on(task));
///     }
///
///     fn connect(&self, _: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> {
///         futures::future::ready(Err(TransportClose::error("no engine here"))).boxed()
///     }
///
///     fn shutdown_signals(&self) -> BoxStream<'static, ()> {
///         futures::stream::pending().boxed()
///     }
/// }
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// let runner = Builder::new(Threads).endpoint("http://127.0.0.1:6420").runner_name("r").build(Idle)?;
/// let handle = runner.handle();
/// let running = std::thread::spawn(move || block_on(runner.run()));
/// block_on(handle.shutdown(ShutdownMode::Immediate));
/// assert_eq!(running.join().unwrap(), ShutdownReason::Requested);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Runtime: Clone + Send + Sync + 'static {
    /// Reads the monotonic clock (the host's only clock read).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use futures::executor::block_on;
    /// # use futures::future::{BoxFuture, FutureExt};
    /// # use futures::stream::{BoxStream, StreamExt};
    /// # use runner_core::host::{ConnectRequest, Runtime, Socket};
    /// # use runner_core::TransportClose;
    /// # use runner_core::host::testing::NoEngine;
    /// #[derive(Clone)]
    /// struct Threads;
    ///
    /// impl Runtime for Threads {
    ///     fn now(&self) -> Instant {
    ///         Instant::now()
    ///     }
    /// #     fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> { NoEngine.sleep_until(deadline) }
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { NoEngine.spawn(task) }
    /// #     fn connect(&self, request: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> { NoEngine.connect(request) }
    /// #     fn shutdown_signals(&self) -> BoxStream<'static, ()> { NoEngine.shutdown_signals() }
    /// }
    ///
    /// let rt = Threads;
    /// let before = rt.now();
    /// block_on(rt.sleep_until(before + std::time::Duration::from_millis(5)));
    /// assert!(rt.now() >= before + std::time::Duration::from_millis(5));
    /// ```
    fn now(&self) -> Instant;

    /// A future that completes at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use futures::executor::block_on;
    /// # use futures::future::{BoxFuture, FutureExt};
    /// # use futures::stream::{BoxStream, StreamExt};
    /// # use runner_core::host::{ConnectRequest, Runtime, Socket};
    /// # use runner_core::TransportClose;
    /// # use runner_core::host::testing::NoEngine;
    /// #[derive(Clone)]
    /// struct Threads;
    ///
    /// impl Runtime for Threads {
    /// #     fn now(&self) -> Instant { NoEngine.now() }
    ///     fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
    ///         let (wake, woken) = futures::channel::oneshot::channel::<()>();
    ///         std::thread::spawn(move || {
    ///             std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    ///             let _ = wake.send(());
    ///         });
    ///         woken.map(drop).boxed()
    ///     }
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { NoEngine.spawn(task) }
    /// #     fn connect(&self, request: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> { NoEngine.connect(request) }
    /// #     fn shutdown_signals(&self) -> BoxStream<'static, ()> { NoEngine.shutdown_signals() }
    /// }
    ///
    /// let deadline = Instant::now() + std::time::Duration::from_millis(20);
    /// block_on(Threads.sleep_until(deadline));
    /// assert!(Instant::now() >= deadline);
    /// ```
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;

    /// Runs a task in the background.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use futures::executor::block_on;
    /// # use futures::future::{BoxFuture, FutureExt};
    /// # use futures::stream::{BoxStream, StreamExt};
    /// # use runner_core::host::{ConnectRequest, Runtime, Socket};
    /// # use runner_core::TransportClose;
    /// # use runner_core::host::testing::NoEngine;
    /// #[derive(Clone)]
    /// struct Threads;
    ///
    /// impl Runtime for Threads {
    /// #     fn now(&self) -> Instant { NoEngine.now() }
    /// #     fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> { NoEngine.sleep_until(deadline) }
    ///     fn spawn(&self, task: BoxFuture<'static, ()>) {
    ///         std::thread::spawn(move || block_on(task));
    ///     }
    /// #     fn connect(&self, request: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> { NoEngine.connect(request) }
    /// #     fn shutdown_signals(&self) -> BoxStream<'static, ()> { NoEngine.shutdown_signals() }
    /// }
    ///
    /// let (answer, answered) = futures::channel::oneshot::channel();
    /// Threads.spawn(async move { answer.send(6 * 7).unwrap() }.boxed());
    /// assert_eq!(block_on(answered).unwrap(), 42);
    /// ```
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// Opens the runner WebSocket.
    ///
    /// # Examples
    ///
    /// The host asks for the engine's URL with its sub-protocols; a runtime that
    /// cannot reach it reports why, and the runner retries with backoff:
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use futures::executor::block_on;
    /// # use futures::future::{BoxFuture, FutureExt};
    /// # use futures::stream::{BoxStream, StreamExt};
    /// # use runner_core::host::{ConnectRequest, Runtime, Socket};
    /// # use runner_core::TransportClose;
    /// # use runner_core::host::testing::NoEngine;
    /// #[derive(Clone)]
    /// struct Threads;
    ///
    /// impl Runtime for Threads {
    /// #     fn now(&self) -> Instant { NoEngine.now() }
    /// #     fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> { NoEngine.sleep_until(deadline) }
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { NoEngine.spawn(task) }
    ///     fn connect(&self, _: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> {
    ///         futures::future::ready(Err(TransportClose::error("no engine here"))).boxed()
    ///     }
    /// #     fn shutdown_signals(&self) -> BoxStream<'static, ()> { NoEngine.shutdown_signals() }
    /// }
    ///
    /// let request = ConnectRequest {
    ///     url: "ws://127.0.0.1:6420/runners/connect?protocol_version=5".into(),
    ///     subprotocols: vec!["rivet".into()],
    ///     max_message_size: 64 << 20,
    ///     tls: None,
    /// };
    /// let refused = block_on(Threads.connect(request)).unwrap_err();
    /// assert_eq!(refused.reason, "no engine here");
    /// ```
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>>;

    /// Fires once per SIGINT/SIGTERM (or the platform's equivalent).
    ///
    /// # Examples
    ///
    /// A runtime without signals: the runner is then shut down through its
    /// [`RunnerHandle`](super::RunnerHandle).
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use futures::executor::block_on;
    /// # use futures::future::{BoxFuture, FutureExt};
    /// # use futures::stream::{BoxStream, StreamExt};
    /// # use runner_core::host::{ConnectRequest, Runtime, Socket};
    /// # use runner_core::TransportClose;
    /// # use runner_core::host::testing::NoEngine;
    /// #[derive(Clone)]
    /// struct Threads;
    ///
    /// impl Runtime for Threads {
    /// #     fn now(&self) -> Instant { NoEngine.now() }
    /// #     fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> { NoEngine.sleep_until(deadline) }
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { NoEngine.spawn(task) }
    /// #     fn connect(&self, request: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> { NoEngine.connect(request) }
    ///     fn shutdown_signals(&self) -> BoxStream<'static, ()> {
    ///         futures::stream::pending().boxed()
    ///     }
    /// }
    ///
    /// let mut signals = Threads.shutdown_signals();
    /// assert_eq!(signals.next().now_or_never(), None); // never fires
    /// ```
    fn shutdown_signals(&self) -> BoxStream<'static, ()>;

    /// A random number (for the runner key and the backoff jitter seed).
    ///
    /// The default draws from std's hasher keys: the OS seeds them once per
    /// thread and every new `RandomState` steps them, so two calls differ.
    /// Override it to make a runner reproducible.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use futures::executor::block_on;
    /// # use futures::future::{BoxFuture, FutureExt};
    /// # use futures::stream::{BoxStream, StreamExt};
    /// # use runner_core::host::{ConnectRequest, Runtime, Socket};
    /// # use runner_core::TransportClose;
    /// # use runner_core::host::testing::NoEngine;
    /// #[derive(Clone)]
    /// struct Threads;
    ///
    /// impl Runtime for Threads {
    /// #     fn now(&self) -> Instant { NoEngine.now() }
    /// #     fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> { NoEngine.sleep_until(deadline) }
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { NoEngine.spawn(task) }
    /// #     fn connect(&self, request: ConnectRequest) -> BoxFuture<'static, Result<Socket, TransportClose>> { NoEngine.connect(request) }
    /// #     fn shutdown_signals(&self) -> BoxStream<'static, ()> { NoEngine.shutdown_signals() }
    /// }
    ///
    /// // The default: two draws differ.
    /// assert_ne!(Threads.random_u64(), Threads.random_u64());
    /// ```
    fn random_u64(&self) -> u64 {
        os_seeded_u64()
    }
}

/// The default of [`Runtime::random_u64`].
fn os_seeded_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

/// Where and how to connect.
///
/// Its `Debug` output never shows the token: the `rivet_token.` sub-protocol
/// is printed as `rivet_token.<redacted>`.
///
/// # Examples
///
/// ```
/// use runner_core::host::ConnectRequest;
///
/// let request = ConnectRequest {
///     url: "wss://rivet.example/runners/connect?protocol_version=5".into(),
///     subprotocols: vec!["rivet".into(), "rivet_token.s3cret".into()],
///     max_message_size: 64 << 20,
///     tls: None,
/// };
/// assert!(request.url.starts_with("wss://"));
/// assert!(request.subprotocols.iter().any(|p| p.starts_with("rivet_token.")));
/// assert!(!format!("{request:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ConnectRequest {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Sub-protocols to offer (the token among them: keep it out of logs).
    pub subprotocols: Vec<String>,
    /// Largest message to accept from the engine.
    pub max_message_size: usize,
    /// TLS settings for a `wss://` URL (`None` for `ws://`).
    pub tls: Option<ClientTls>,
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("url", &self.url)
            .field(
                "subprotocols",
                &crate::RedactedSubprotocols(&self.subprotocols),
            )
            .field("max_message_size", &self.max_message_size)
            .field("tls", &self.tls)
            .finish()
    }
}

/// One open WebSocket, split into what arrives and what to send.
///
/// # Examples
///
/// An in-memory socket (e.g. a test engine): whatever the host sends is
/// collected, and the engine closes at once.
///
/// ```
/// use futures::executor::block_on;
/// use futures::{SinkExt, StreamExt};
/// use runner_core::host::{BoxError, Inbound, Outbound, Socket};
/// use runner_core::TransportClose;
///
/// let (to_engine, mut engine_reads) = futures::channel::mpsc::unbounded::<Outbound>();
/// let mut socket = Socket {
///     incoming: futures::stream::iter([Inbound::Closed(TransportClose::frame(1000, "bye"))]).boxed(),
///     outgoing: Box::pin(to_engine.sink_map_err(|e| Box::new(e) as BoxError)),
/// };
/// block_on(socket.outgoing.send(Outbound::Binary("init".into())))?;
/// assert_eq!(block_on(engine_reads.next()), Some(Outbound::Binary("init".into())));
/// assert!(matches!(block_on(socket.incoming.next()), Some(Inbound::Closed(c)) if c.code == Some(1000)));
/// # Ok::<(), BoxError>(())
/// ```
pub struct Socket {
    /// Messages from the engine. Control frames are handled by the
    /// WebSocket library; the stream ends after `Closed`.
    pub incoming: BoxStream<'static, Inbound>,
    /// Messages to the engine.
    pub outgoing: std::pin::Pin<Box<dyn Sink<Outbound, Error = BoxError> + Send>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Socket")
    }
}

/// Something that arrived on the socket.
///
/// # Examples
///
/// ```
/// use runner_core::host::Inbound;
/// use runner_core::TransportClose;
///
/// // What a driver makes of what its WebSocket library read:
/// fn inbound(binary: Option<&'static [u8]>) -> Inbound {
///     match binary {
///         Some(bytes) => Inbound::Binary(bytes.into()),
///         None => Inbound::Closed(TransportClose::frame(1000, "")),
///     }
/// }
/// assert_eq!(inbound(Some(b"\x01")), Inbound::Binary(vec![1u8].into()));
/// assert!(matches!(inbound(None), Inbound::Closed(c) if c.code == Some(1000)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A binary message.
    Binary(Bytes),
    /// A text message (a protocol error on this connection).
    Text,
    /// The connection ended (close frame or transport error).
    Closed(TransportClose),
}

/// Something to put on the socket.
///
/// # Examples
///
/// ```
/// use runner_core::host::Outbound;
///
/// // What a driver hands to its WebSocket library:
/// fn describe(out: &Outbound) -> String {
///     match out {
///         Outbound::Binary(bytes) => format!("{} bytes", bytes.len()),
///         Outbound::Close { code, reason } => format!("close {code} {reason}"),
///     }
/// }
/// assert_eq!(describe(&Outbound::Binary(vec![0u8; 3].into())), "3 bytes");
/// let close = Outbound::Close { code: 1000, reason: "shutdown".into() };
/// assert_eq!(describe(&close), "close 1000 shutdown");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A binary message.
    Binary(Bytes),
    /// A close frame.
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::os_seeded_u64;

    #[test]
    fn the_default_random_numbers_differ_call_to_call() {
        let drawn: std::collections::HashSet<u64> = (0..1000).map(|_| os_seeded_u64()).collect();
        assert_eq!(drawn.len(), 1000);
    }
}
