//! A small HTTP/1 server for the serverless endpoint, written once for both
//! drivers: hyper 1 is runtime-neutral, so only the sockets differ. On
//! tokio they are tokio's (wrapped by hyper-util's `TokioIo`); elsewhere
//! (async-std) they are async-io's, async-std's own reactor, behind
//! [`FuturesIo`]. Connections are served as tasks of the runner's runtime.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::io::{AsyncRead, AsyncWrite};
use hyper::rt::{Read, ReadBufCursor, Write};
use runner_core::host::Handler;
use runner_core::host::Runtime;
use runner_core::host::serverless::Serverless;

/// A bound listening socket, of the runtime the program runs on.
#[derive(Debug)]
pub enum Listener {
    /// Inside a tokio runtime.
    Tokio(tokio::net::TcpListener),
    /// Anywhere else: async-io drives it (async-std runs on it).
    AsyncIo(async_io::Async<std::net::TcpListener>),
}

impl Listener {
    /// Binds `addr` with the IO of the runtime this runs on.
    pub async fn bind(addr: SocketAddr) -> io::Result<Listener> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Ok(Listener::Tokio(tokio::net::TcpListener::bind(addr).await?));
        }
        Ok(Listener::AsyncIo(
            async_io::Async::<std::net::TcpListener>::bind(addr)?,
        ))
    }

    /// The address bound (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tokio(listener) => listener.local_addr(),
            Listener::AsyncIo(listener) => listener.get_ref().local_addr(),
        }
    }

    /// Accepts connections forever, serving each with `serverless` as a
    /// task of `runtime`. A failed accept (e.g. out of file descriptors) is
    /// logged and the loop goes on after a short pause.
    pub async fn serve<R: Runtime, H: Handler>(self, runtime: R, serverless: Serverless<R, H>) {
        loop {
            let accepted = match &self {
                Listener::Tokio(listener) => listener.accept().await.map(|(stream, _)| {
                    let _ = stream.set_nodelay(true);
                    serve_connection(hyper_util::rt::TokioIo::new(stream), serverless.clone())
                }),
                Listener::AsyncIo(listener) => listener.accept().await.map(|(stream, _)| {
                    let _ = stream.get_ref().set_nodelay(true);
                    serve_connection(FuturesIo(stream), serverless.clone())
                }),
            };
            match accepted {
                Ok(connection) => runtime.spawn(connection),
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    let pause = runtime.now() + std::time::Duration::from_millis(100);
                    runtime.sleep_until(pause).await;
                }
            }
        }
    }
}

/// Serves one connection until the client or the server closes it. When
/// the client goes away mid-stream, hyper drops the response body, which
/// shuts that runner down gracefully.
fn serve_connection<I, R, H>(
    io: I,
    serverless: Serverless<R, H>,
) -> futures::future::BoxFuture<'static, ()>
where
    I: Read + Write + Unpin + Send + 'static,
    R: Runtime,
    H: Handler,
{
    let service = hyper::service::service_fn(move |request| {
        let response = serverless.call(request);
        async move { Ok::<_, Infallible>(response) }
    });
    Box::pin(async move {
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        if let Err(err) = connection.await {
            tracing::debug!(%err, "serverless HTTP connection ended");
        }
    })
}

/// futures-io (async-io, async-std) sockets as hyper's IO traits. Reads go
/// through a stack buffer: filling hyper's uninitialised buffer in place
/// would need `unsafe`, which the workspace forbids.
#[derive(Debug)]
pub struct FuturesIo<T>(pub T);

impl<T: AsyncRead + Unpin> Read for FuturesIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; 8 * 1024];
        let room = buf.remaining().min(chunk.len());
        let read = ready!(Pin::new(&mut self.0).poll_read(cx, &mut chunk[..room]))?;
        buf.put_slice(&chunk[..read]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> Write for FuturesIo<T> {
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
