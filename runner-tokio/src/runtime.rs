//! [`Runtime`] for tokio: clock, timer, spawner, WebSocket client, signals.

use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use runner_core::TransportClose;
use runner_core::host::{ConnectRequest, Runtime, Socket, tungstenite};
#[cfg(feature = "tls")]
use tokio_tungstenite::Connector;

/// The tokio runtime (the one the runner is started on).
///
/// # Examples
///
/// [`builder()`](crate::builder) uses it; name it for generic code. Here a
/// runner that finds no engine (nothing listens on the port) is shut down:
///
/// ```
/// use runner_tokio::{Builder, Handler, ShutdownMode, ShutdownReason, Tokio};
///
/// struct Idle;
/// impl Handler for Idle {}
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), runner_tokio::BuildError> {
///     let runner = Builder::new(Tokio)
///         .endpoint("http://127.0.0.1:9")
///         .runner_name("r")
///         .handle_signals(false)
///         .build(Idle)?;
///     let handle = runner.handle();
///     let running = tokio::spawn(runner.run());
///     handle.shutdown(ShutdownMode::Immediate).await;
///     assert_eq!(running.await.unwrap(), ShutdownReason::Requested);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    fn now(&self) -> Instant {
        // tokio's clock, so that `tokio::time::pause` works in tests.
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        tokio::time::sleep_until(deadline.into()).boxed()
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }

    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        tungstenite::connect(request, |http, config, tls| async move {
            let disable_nagle = true;
            #[cfg(feature = "tls")]
            let (ws, _) = {
                let connector = tls.map(|tls| Connector::Rustls(tls.rustls_config().clone()));
                tokio_tungstenite::connect_async_tls_with_config(
                    http,
                    Some(config),
                    disable_nagle,
                    connector,
                )
                .await?
            };
            // Without TLS there is no `ClientTls` value (the builder refuses
            // `wss://`), and tungstenite refuses a `wss://` URL by itself.
            #[cfg(not(feature = "tls"))]
            let (ws, _) = {
                let _ = tls;
                tokio_tungstenite::connect_async_with_config(http, Some(config), disable_nagle)
                    .await?
            };
            Ok(ws)
        })
        .boxed()
    }

    fn shutdown_signals(&self) -> BoxStream<'static, ()> {
        signals().boxed()
    }
}

#[cfg(unix)]
fn signals() -> impl futures::Stream<Item = ()> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    futures::stream::unfold(None, |state| async move {
        let (mut term, mut int) = match state {
            Some(pair) => pair,
            None => match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => (term, int),
                _ => return None,
            },
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Some(((), Some((term, int))))
    })
}

#[cfg(not(unix))]
fn signals() -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold((), |()| async {
        tokio::signal::ctrl_c().await.ok()?;
        Some(((), ()))
    })
}
