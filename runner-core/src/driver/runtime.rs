//! What a driver crate provides: a clock, timers, task spawning, a WebSocket
//! client and shutdown signals. Nothing protocol-related.

use std::time::Instant;

use bytes::Bytes;
use futures::Sink;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::TransportClose;

/// Boxed error type used at the driver boundary.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An async runtime, as the host needs it.
///
/// Implemented by `runner-tokio` and `runner-async-std`; implement it to run
/// the runner on any other executor.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// Reads the monotonic clock (the host's only clock read).
    fn now(&self) -> Instant;

    /// A future that completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;

    /// Runs a task in the background.
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// Opens the runner WebSocket.
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>>;

    /// Fires once per SIGINT/SIGTERM (or the platform's equivalent).
    fn shutdown_signals(&self) -> BoxStream<'static, ()>;

    /// A random number (for the runner key and the backoff jitter seed).
    ///
    /// The default draws from std's hasher keys: the OS seeds them once per
    /// thread and every new `RandomState` steps them, so two calls differ.
    /// Override it to make a runner reproducible.
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
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Sub-protocols to offer.
    pub subprotocols: Vec<String>,
    /// Largest message to accept from the engine.
    pub max_message_size: usize,
}

/// One open WebSocket, split into what arrives and what to send.
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
