//! Socket glue for drivers built on `tungstenite` (feature `tungstenite`).
//!
//! `tokio-tungstenite` and `async-tungstenite` share tungstenite's message
//! and error types, so everything but the connect call itself is here, once:
//! a driver's [`Runtime::connect`](super::Runtime::connect) is
//! [`connect`] with its library's connect function.
//!
//! For driver authors: the drivers do not re-export it, so its examples
//! name `runner_core`, a dependency of a driver crate.

use std::future::Future;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Error as WsError, Message};

use super::runtime::{BoxError, ConnectRequest, Inbound, Outbound, Socket};
use super::tls::ClientTls;
use crate::TransportClose;

/// Opens the runner WebSocket: builds the handshake request and the limits
/// from `request`, calls `open` (the WebSocket library's connect function,
/// given the TLS configuration for `wss://`), and turns the result into the
/// host's [`Socket`].
///
/// runner-tokio's `Runtime::connect` (compiled there, in
/// `runner-tokio/src/runtime.rs`; it needs a runtime this crate does not have):
///
/// ```text
/// tungstenite::connect(request, |http, config, tls| async move {
///     let tls = tls.map(|tls| Connector::Rustls(tls.rustls_config().clone()));
///     let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(http, Some(config), true, tls).await?;
///     Ok(ws)
/// })
/// .boxed()
/// ```
pub async fn connect<F, Fut, S>(request: ConnectRequest, open: F) -> Result<Socket, TransportClose>
where
    F: FnOnce(Request, WebSocketConfig, Option<ClientTls>) -> Fut,
    Fut: Future<Output = Result<S, WsError>>,
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Send + 'static,
{
    let http = client_request(&request)?;
    let config = websocket_config(&request);
    let ws = open(http, config, request.tls)
        .await
        .map_err(connect_error)?;
    Ok(socket(ws))
}

/// The handshake request: URL plus the `Sec-WebSocket-Protocol` offer.
///
/// # Examples
///
/// ```
/// use runner_core::host::{ConnectRequest, tungstenite::client_request};
///
/// let request = ConnectRequest {
///     url: "ws://127.0.0.1:6420/runners/connect?protocol_version=5".into(),
///     subprotocols: vec!["rivet".into(), "rivet_token.dev".into()],
///     max_message_size: 64 << 20,
///     tls: None,
/// };
/// let http = client_request(&request)?;
/// assert_eq!(http.uri().path(), "/runners/connect");
/// assert_eq!(http.headers()["sec-websocket-protocol"], "rivet, rivet_token.dev");
///
/// let bad = ConnectRequest { url: "not a url".into(), ..request };
/// assert!(client_request(&bad).unwrap_err().reason.starts_with("invalid connection request"));
/// # Ok::<(), runner_core::TransportClose>(())
/// ```
pub fn client_request(request: &ConnectRequest) -> Result<Request, TransportClose> {
    let mut http = request
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| TransportClose::error(format!("invalid connection request: {e}")))?;
    let protocols = request.subprotocols.join(", ");
    let value = protocols
        .parse()
        .map_err(|_| TransportClose::error("invalid sub-protocol list"))?;
    http.headers_mut().insert("sec-websocket-protocol", value);
    Ok(http)
}

/// Where to open the TCP connection for a handshake request: its host
/// (without IPv6 brackets) and its port, 80 for `ws://` and 443 for
/// `wss://` when the URL names none. For drivers that open the TCP
/// connection themselves.
///
/// # Examples
///
/// ```
/// use runner_core::host::tungstenite::host_and_port;
/// use tungstenite::client::IntoClientRequest;
///
/// let at = |url: &str| host_and_port(&url.into_client_request().unwrap()).unwrap();
/// assert_eq!(at("wss://rivet.example/runners/connect"), ("rivet.example".into(), 443));
/// assert_eq!(at("ws://[::1]:6420/"), ("::1".into(), 6420));
/// ```
pub fn host_and_port(request: &Request) -> Result<(String, u16), WsError> {
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or(WsError::Url(tungstenite::error::UrlError::NoHostName))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let default_port = if uri.scheme_str() == Some("wss") {
        443
    } else {
        80
    };
    Ok((host.to_owned(), uri.port_u16().unwrap_or(default_port)))
}

/// Bytes asked of the socket per read. tungstenite zero-fills this much of
/// its read buffer before every read (its default, 128 KiB, cost a 128 KiB
/// memset per read: 3 % of the runner's CPU under tunnel load); larger
/// messages take several reads.
const READ_BUFFER_SIZE: usize = 16 * 1024;

/// WebSocket limits: messages up to `max_message_size`, and a bounded write
/// buffer (tungstenite's default is unbounded).
///
/// # Examples
///
/// ```
/// use runner_core::host::{ConnectRequest, tungstenite::websocket_config};
///
/// let request = ConnectRequest {
///     url: "ws://127.0.0.1:6420/runners/connect".into(),
///     subprotocols: vec!["rivet".into()],
///     max_message_size: 1 << 20,
///     tls: None,
/// };
/// let config = websocket_config(&request);
/// assert_eq!(config.max_message_size, Some(1 << 20));
/// assert_eq!(config.max_frame_size, Some(1 << 20));
/// assert_eq!(config.max_write_buffer_size, 2 << 20);
/// ```
pub fn websocket_config(request: &ConnectRequest) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .max_message_size(Some(request.max_message_size))
        .max_frame_size(Some(request.max_message_size))
        .max_write_buffer_size(request.max_message_size.saturating_mul(2))
}

/// Why a connection attempt failed, keeping the HTTP status of a refused
/// upgrade (401/403 are fatal to the core).
///
/// TLS failures (a certificate the runner does not trust, an expired one, a
/// host name it does not cover, a build without TLS given `wss://`) are
/// logged at error level, with the reason, and named as TLS failures in the
/// reason the user's `on_disconnected` hook receives. The core retries them
/// like any other failed attempt: a server's certificate can be fixed
/// without restarting its runners. What retrying can never fix (no TLS in
/// the build, a host that is not a valid TLS name, unreadable certificates)
/// is refused earlier, by the builder.
///
/// # Examples
///
/// ```
/// use runner_core::host::tungstenite::connect_error;
/// use tungstenite::http::Response;
///
/// let refused = Response::builder().status(401).body(None).unwrap();
/// let close = connect_error(tungstenite::Error::Http(Box::new(refused)));
/// assert_eq!(close.http_status, Some(401));
/// assert_eq!(close.reason, "upgrade refused with HTTP 401 Unauthorized");
///
/// let dropped = connect_error(tungstenite::Error::ConnectionClosed);
/// assert_eq!((dropped.code, dropped.http_status), (None, None));
///
/// let no_tls = tungstenite::Error::Url(tungstenite::error::UrlError::TlsFeatureNotEnabled);
/// assert!(connect_error(no_tls).reason.starts_with("TLS failed: "));
/// ```
pub fn connect_error(error: WsError) -> TransportClose {
    match error {
        WsError::Http(response) => TransportClose {
            code: None,
            reason: format!("upgrade refused with HTTP {}", response.status()),
            http_status: Some(response.status().as_u16()),
        },
        other => match tls_failure(&other) {
            Some(why) => {
                tracing::error!(error = %why, "TLS failed: the engine's connection cannot be secured");
                TransportClose::error(format!("TLS failed: {why}"))
            }
            None => TransportClose::error(format!("connect failed: {other}")),
        },
    }
}

/// The TLS failure inside a connect error, if it is one: tungstenite's own
/// TLS errors, and the TLS library's errors that reach it as I/O errors.
fn tls_failure(error: &WsError) -> Option<String> {
    match error {
        WsError::Tls(e) => Some(e.to_string()),
        WsError::Url(tungstenite::error::UrlError::TlsFeatureNotEnabled) => {
            Some("TLS support not compiled in (enable the `tls` feature)".into())
        }
        #[cfg(feature = "tls")]
        WsError::Io(e) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|e| e.to_string()),
        _ => None,
    }
}

/// Turns an open tungstenite stream into the host's [`Socket`].
///
/// # Examples
///
/// A peer that sends one message and closes; what the host sends is kept:
///
/// ```
/// # use std::pin::Pin;
/// # use std::sync::{Arc, Mutex};
/// # use std::task::{Context, Poll};
/// # use tungstenite::{Error, Message};
/// # /// An in-memory WebSocket: scripted messages in, sent messages kept.
/// # struct Peer(futures::stream::Iter<std::vec::IntoIter<Result<Message, Error>>>, Arc<Mutex<Vec<Message>>>);
/// # impl futures::Stream for Peer {
/// #     type Item = Result<Message, Error>;
/// #     fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
/// #         Pin::new(&mut self.0).poll_next(cx)
/// #     }
/// # }
/// # impl futures::Sink<Message> for Peer {
/// #     type Error = Error;
/// #     fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> { Poll::Ready(Ok(())) }
/// #     fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> { self.1.lock().unwrap().push(item); Ok(()) }
/// #     fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> { Poll::Ready(Ok(())) }
/// #     fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> { Poll::Ready(Ok(())) }
/// # }
/// use futures::executor::block_on;
/// use futures::{SinkExt, StreamExt};
/// use runner_core::host::{Inbound, Outbound, tungstenite::socket};
///
/// let script = vec![Ok(Message::Binary(vec![1u8, 2].into())), Ok(Message::Ping(Vec::new().into()))];
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let mut socket = socket(Peer(futures::stream::iter(script), sent.clone()));
///
/// block_on(socket.outgoing.send(Outbound::Binary(vec![9u8].into())))?;
/// assert_eq!(sent.lock().unwrap()[0], Message::Binary(vec![9u8].into()));
/// let incoming: Vec<Inbound> = block_on(socket.incoming.collect());
/// assert_eq!(incoming[0], Inbound::Binary(vec![1u8, 2].into())); // pings are dropped
/// assert!(matches!(&incoming[1], Inbound::Closed(close) if close.code.is_none()));
/// assert_eq!(incoming.len(), 2);
/// # Ok::<(), runner_core::host::BoxError>(())
/// ```
pub fn socket<S>(ws: S) -> Socket
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Send + 'static,
{
    let (sink, stream) = ws.split();
    let outgoing = sink
        .sink_map_err(|e| Box::new(e) as BoxError)
        .with(|out: Outbound| futures::future::ready(Ok::<_, BoxError>(to_message(out))));
    Socket {
        incoming: incoming(stream).boxed(),
        outgoing: Box::pin(outgoing),
    }
}

fn to_message(out: Outbound) -> Message {
    match out {
        Outbound::Binary(bytes) => Message::Binary(bytes),
        Outbound::Close { code, reason } => Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        })),
    }
}

/// Data messages in, control frames dropped (tungstenite answers pings),
/// and exactly one `Closed` at the end.
fn incoming<S>(stream: S) -> impl Stream<Item = Inbound> + Send
where
    S: Stream<Item = Result<Message, WsError>> + Send,
{
    let ended = TransportClose::error("connection ended without a close frame");
    stream
        .filter_map(|item| futures::future::ready(to_inbound(item)))
        .chain(futures::stream::once(futures::future::ready(
            Inbound::Closed(ended),
        )))
        .scan(false, |closed, item| {
            let emit = !*closed;
            *closed |= matches!(item, Inbound::Closed(_));
            futures::future::ready(emit.then_some(item))
        })
}

fn to_inbound(item: Result<Message, WsError>) -> Option<Inbound> {
    match item {
        Ok(Message::Binary(bytes)) => Some(Inbound::Binary(bytes)),
        Ok(Message::Text(_)) => Some(Inbound::Text),
        Ok(Message::Close(frame)) => Some(Inbound::Closed(match frame {
            Some(f) => TransportClose::frame(u16::from(f.code), f.reason.as_str()),
            None => TransportClose::frame(1005, ""),
        })),
        Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => None,
        Err(e) => Some(Inbound::Closed(TransportClose::error(e.to_string()))),
    }
}
