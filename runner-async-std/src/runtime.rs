//! [`Runtime`] for async-std: clock, timer, spawner, WebSocket client, signals.

use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
#[cfg(feature = "tls")]
use futures_rustls::TlsConnector;
use runner_core::TransportClose;
use runner_core::host::{ConnectRequest, Runtime, Socket, tungstenite};

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

    #[cfg_attr(
        not(feature = "tls"),
        expect(
            deprecated,
            reason = "async-tungstenite deprecates its async-std support because async-std is \
                  discontinued upstream; this crate exists to run on async-std"
        )
    )]
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Socket, TransportClose>> {
        tungstenite::connect(request, |http, config, tls| async move {
            #[cfg(feature = "tls")]
            let ws = {
                // async-tungstenite's rustls support (futures-rustls) is
                // runtime-neutral but lives in its `smol` module: it takes
                // any futures-io stream, here async-std's TcpStream.
                let (host, port) = tungstenite::host_and_port(&http)?;
                let tcp = async_std::net::TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                let connector = tls.map(|tls| TlsConnector::from(tls.rustls_config().clone()));
                let (ws, _) = async_tungstenite::smol::client_async_tls_with_connector_and_config(
                    http,
                    tcp,
                    connector,
                    Some(config),
                )
                .await?;
                ws
            };
            // Without TLS there is no `ClientTls` value (the builder refuses
            // `wss://`), and async-tungstenite refuses a `wss://` URL by itself.
            #[cfg(not(feature = "tls"))]
            let ws = {
                let _ = tls;
                let (ws, _) =
                    async_tungstenite::async_std::connect_async_with_config(http, Some(config))
                        .await?;
                // Acks and events are small frames: send them at once, as
                // tokio-tungstenite's `disable_nagle` does.
                let _ = ws.get_ref().set_nodelay(true);
                ws
            };
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
