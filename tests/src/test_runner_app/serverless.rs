//! The test runner's serverless mode (`RIVET_SERVERLESS_LISTEN`): instead of
//! connecting by itself it serves `GET /api/rivet/start` and
//! `GET /api/rivet/metadata` on that address and starts one runner per
//! `/start`, configured from the request's headers (the contract's
//! "Serverless mode"). The HTTP server is in [`http`].

pub mod http;

use std::net::SocketAddr;
use std::process::ExitCode;

use futures::StreamExt;
use runner_core::ShutdownMode;
use runner_core::host::serverless::Serverless;
use runner_core::host::{Builder, Runtime};

use super::{App, Config, bad_config, output};

/// Serves until SIGINT/SIGTERM, then shuts every runner down gracefully
/// (a second signal: immediately) and prints `shutdown`.
pub async fn main<R: Runtime>(runtime: R, config: Config, listen: SocketAddr) -> ExitCode {
    // Endpoint, namespace, runner name and slots come with each /start; the
    // token is the default for a /start without one.
    let template = config.apply(Builder::new(runtime.clone()));
    let serverless = match Serverless::builder(template).build(App::new(runtime.clone())) {
        Ok(serverless) => serverless,
        Err(err) => return bad_config(&err),
    };
    let listener = match http::Listener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => return cannot_listen(listen, &err),
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(err) => return cannot_listen(listen, &err),
    };
    runtime.spawn(Box::pin(
        listener.serve(runtime.clone(), serverless.clone()),
    ));
    output::listening(addr);

    let mut signals = runtime.shutdown_signals();
    signals.next().await;
    tracing::info!("shutting down every serverless runner");
    let graceful = serverless.shutdown(ShutdownMode::Graceful);
    let second = signals.next();
    futures::pin_mut!(graceful);
    if let futures::future::Either::Right(_) = futures::future::select(graceful, second).await {
        serverless.shutdown(ShutdownMode::Immediate).await;
    }
    output::shutdown();
    ExitCode::SUCCESS
}

fn cannot_listen(addr: SocketAddr, err: &std::io::Error) -> ExitCode {
    eprintln!("test_runner: cannot listen on {addr}: {err}");
    ExitCode::FAILURE
}
