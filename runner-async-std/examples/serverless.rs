//! A serverless runner on async-std: the engine starts runners on demand by
//! calling `GET /api/rivet/start` here; every actor counts the requests it
//! answered, in its KV (so the count survives sleeping and waking).
//!
//!     cargo run -p runner-async-std --example serverless        # listens on 127.0.0.1:8080
//!
//! then configure the engine as in `runner-tokio/examples/serverless.rs`.
//!
//! The HTTP server is hyper 1: the most used Rust HTTP server, and
//! runtime-neutral, so it runs on async-std's sockets through the small
//! [`Io`] adapter below (async-std's own server crates, e.g. tide, are no
//! longer maintained). SIGINT/SIGTERM drains every runner, then exits.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_std::net::{TcpListener, TcpStream};
use futures::StreamExt;
use futures::io::{AsyncRead, AsyncWrite};
use runner_async_std::serverless::{self, Serverless};
use runner_async_std::{ActorContext, Handler, Request, Response, ShutdownMode};
use runner_core::host::Runtime as _;

struct Counter;

impl Handler for Counter {
    async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
        let count = match actor.kv_get_one("count").await {
            Ok(value) => value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()),
            Err(err) => return Response::new(format!("KV failed: {err}\n").into()),
        };
        let count = count.unwrap_or(0u64) + 1;
        if let Err(err) = actor.kv_put([("count", count.to_string())]).await {
            return Response::new(format!("KV failed: {err}\n").into());
        }
        Response::new(format!("{count}\n").into())
    }
}

/// An async-std socket as hyper's IO. Reads go through a stack buffer:
/// filling hyper's uninitialised buffer in place would need `unsafe`.
struct Io(TcpStream);

impl hyper::rt::Read for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; 8 * 1024];
        let room = buf.remaining().min(chunk.len());
        let read = ready!(Pin::new(&mut self.0).poll_read(cx, &mut chunk[..room]))?;
        buf.put_slice(&chunk[..read]);
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Accepts HTTP/1 connections and hands every request to the endpoint.
async fn serve(listener: TcpListener, endpoint: Serverless<Counter>) {
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        let Ok(stream) = stream else { continue };
        let endpoint = endpoint.clone();
        let service = hyper::service::service_fn(move |request| {
            let response = endpoint.call(request);
            async move { Ok::<_, Infallible>(response) }
        });
        async_std::task::spawn(async move {
            // A dropped connection drops the /start stream: that runner
            // then shuts down gracefully.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(Io(stream), service)
                .await;
        });
    }
}

#[async_std::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // Endpoint, namespace, runner name, slots and token come with each
    // /start; the rest of the runner's settings are set here.
    let template = runner_async_std::builder().token("dev");
    let endpoint = serverless::builder(template)
        .max_runners(32)
        .build(Counter)?;
    let listener = TcpListener::bind(&listen).await?;
    eprintln!(
        "serverless endpoint: http://{}/api/rivet",
        listener.local_addr()?
    );
    async_std::task::spawn(serve(listener, endpoint.clone()));
    // SIGINT/SIGTERM, from the driver's runtime (as a runner uses them).
    let mut signals = runner_async_std::AsyncStd.shutdown_signals();
    signals.next().await;
    endpoint.shutdown(ShutdownMode::Graceful).await;
    Ok(())
}
