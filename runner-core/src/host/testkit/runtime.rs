//! [`KitRuntime`]: the user's runtime for everything (clock, timers, tasks,
//! so a handler's `tokio::time::sleep` works), with the WebSocket to the
//! engine replaced by an in-memory one whose other end the kit's engine
//! task plays.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::SinkExt;
use futures::channel::mpsc;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{BoxStream, StreamExt};

use super::engine::{self, Engine};
use crate::TransportClose;
use crate::host::runtime::{BoxError, ConnectRequest, Outbound, Runtime, Socket};

/// The runtime a [`TestKit`](super::TestKit)'s runner runs on: the user's
/// runtime `R` for everything (clock, timers, tasks), its WebSocket client
/// replaced by an in-memory connection to the kit's engine, no signals.
/// Named in [`TestKit::start_with`](super::TestKit::start_with)'s builder.
///
/// # Examples
///
/// ```
/// use runner_tokio::testing::KitBuilder; // = Builder<KitRuntime<Tokio>>
///
/// // What `start_with`'s `configure` receives and returns:
/// fn configure(builder: KitBuilder) -> KitBuilder {
///     builder.total_slots(4)
/// }
/// # let _ = configure;
/// ```
#[derive(Clone)]
pub struct KitRuntime<R> {
    pub(super) inner: R,
    pub(super) engine: Arc<Mutex<Engine>>,
}

impl<R> std::fmt::Debug for KitRuntime<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KitRuntime")
    }
}

impl<R: Runtime> Runtime for KitRuntime<R> {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        self.inner.sleep_until(deadline)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.inner.spawn(task);
    }

    /// A new in-memory connection; the engine task serving it runs on the
    /// user's runtime.
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        // Test-only and unbounded: the kit's engine answers what the
        // runner sends, one answer per message.
        let (to_runner, incoming) = mpsc::unbounded();
        let (outgoing, from_runner) = mpsc::unbounded::<Outbound>();
        let socket = Socket {
            incoming: incoming.boxed(),
            outgoing: Box::pin(outgoing.sink_map_err(|e| Box::new(e) as BoxError)),
        };
        let conn = engine::connected(&self.engine, &request, to_runner);
        let serve = engine::serve(self.engine.clone(), conn, from_runner);
        self.inner.spawn(serve.boxed());
        futures::future::ready(Ok(socket)).boxed()
    }

    /// No signals: a test shuts the runner down through the kit.
    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        futures::stream::pending().boxed()
    }

    fn random_u64(&self) -> u64 {
        0
    }
}
