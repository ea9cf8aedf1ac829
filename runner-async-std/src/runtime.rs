//! [`Runtime`] for async-std: clock, timer, spawner, WebSocket client, signals.

use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use runner_core::TransportClose;
use runner_core::driver::{ConnectRequest, Runtime, Socket, tungstenite};

/// The async-std runtime (its global executor).
///
/// # Examples
///
/// [`builder()`](crate::builder) uses it; name it for generic code. Here a
/// runner that finds no engine (nothing listens on the port) is shut down:
///
/// ```
/// use runner_async_std::{AsyncStd, Builder, Handler, ShutdownMode, ShutdownReason};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// async_std::task::block_on(async {
///     let runner = Builder::new(AsyncStd)
///         .endpoint("http://127.0.0.1:9")
///         .runner_name("r")
///         .handle_signals(false)
///         .build(Idle)?;
///     let handle = runner.handle();
///     let running = async_std::task::spawn(runner.run());
///     handle.shutdown(ShutdownMode::Immediate).await;
///     assert_eq!(running.await, ShutdownReason::Requested);
///     Ok::<(), runner_async_std::BuildError>(())
/// })?;
/// # Ok::<(), runner_async_std::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        // async-std sleeps for a duration: measure it when first polled.
        async move { async_std::task::sleep(deadline.saturating_duration_since(Instant::now())).await }
            .boxed()
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        // Dropping the handle detaches the task.
        drop(async_std::task::spawn(task));
    }

    #[expect(
        deprecated,
        reason = "async-tungstenite deprecates its async-std support because async-std is \
                  discontinued upstream; this crate exists to run on async-std"
    )]
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        tungstenite::connect(request, |http, config| async move {
            let (ws, _) =
                async_tungstenite::async_std::connect_async_with_config(http, Some(config)).await?;
            // Acks and events are small frames: send them at once, as
            // tokio-tungstenite's `disable_nagle` does.
            let _ = ws.get_ref().set_nodelay(true);
            Ok(ws)
        })
        .boxed()
    }

    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        signals()
    }
}

/// SIGTERM and SIGINT, once each time one arrives (signals arriving together
/// may be merged).
#[cfg(unix)]
fn signals() -> BoxStream<'static, ()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    match signal_hook_async_std::Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals.map(drop).boxed(),
        Err(error) => {
            tracing::warn!(%error, "cannot handle SIGTERM/SIGINT: they will not shut the runner down");
            futures::stream::pending().boxed()
        }
    }
}

/// async-std has no portable Ctrl-C: no signal ever arrives.
#[cfg(not(unix))]
fn signals() -> BoxStream<'static, ()> {
    futures::stream::pending().boxed()
}
