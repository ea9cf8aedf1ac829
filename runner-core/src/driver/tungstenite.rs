//! Socket glue for drivers built on `tungstenite` (feature `tungstenite`).
//!
//! `tokio-tungstenite` and `async-tungstenite` share tungstenite's message
//! and error types, so everything but the connect call itself is here, once:
//! a driver's [`Runtime::connect`](super::Runtime::connect) is
//! [`connect`] with its library's connect function.

use std::future::Future;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Error as WsError, Message};

use super::runtime::{BoxError, ConnectRequest, Inbound, Outbound, Socket};
use crate::TransportClose;

/// Opens the runner WebSocket: builds the handshake request and the limits
/// from `request`, calls `open` (the WebSocket library's connect function),
/// and turns the result into the host's [`Socket`].
///
/// runner-tokio's `Runtime::connect` (compiled there, in
/// `runner-tokio/src/runtime.rs`; it needs a runtime this crate does not have):
///
/// ```text
/// tungstenite::connect(request, |http, config| async move {
///     let (ws, _) = tokio_tungstenite::connect_async_with_config(http, Some(config), true).await?;
///     Ok(ws)
/// })
/// .boxed()
/// ```
pub async fn connect<F, Fut, S>(request: ConnectRequest, open: F) -> Result<Socket, TransportClose>
where
    F: FnOnce(Request, WebSocketConfig) -> Fut,
    Fut: Future<Output = Result<S, WsError>>,
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Send + 'static,
{
    let http = client_request(&request)?;
    let ws = open(http, websocket_config(&request))
        .await
        .map_err(connect_error)?;
    Ok(socket(ws))
}

/// The handshake request: URL plus the `Sec-WebSocket-Protocol` offer.
///
/// # Examples
///
/// ```
/// use runner_core::driver::{ConnectRequest, tungstenite::client_request};
///
/// let request = ConnectRequest {
///     url: "ws://127.0.0.1:6420/runners/connect?protocol_version=5".into(),
///     subprotocols: vec!["rivet".into(), "rivet_token.dev".into()],
///     max_message_size: 64 << 20,
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
/// use runner_core::driver::{ConnectRequest, tungstenite::websocket_config};
///
/// let request = ConnectRequest {
///     url: "ws://127.0.0.1:6420/runners/connect".into(),
///     subprotocols: vec!["rivet".into()],
///     max_message_size: 1 << 20,
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
/// # Examples
///
/// ```
/// use runner_core::driver::tungstenite::connect_error;
/// use tungstenite::http::Response;
///
/// let refused = Response::builder().status(401).body(None).unwrap();
/// let close = connect_error(tungstenite::Error::Http(Box::new(refused)));
/// assert_eq!(close.http_status, Some(401));
/// assert_eq!(close.reason, "upgrade refused with HTTP 401 Unauthorized");
///
/// let dropped = connect_error(tungstenite::Error::ConnectionClosed);
/// assert_eq!((dropped.code, dropped.http_status), (None, None));
/// ```
pub fn connect_error(error: WsError) -> TransportClose {
    match error {
        WsError::Http(response) => TransportClose {
            code: None,
            reason: format!("upgrade refused with HTTP {}", response.status()),
            http_status: Some(response.status().as_u16()),
        },
        other => TransportClose::error(format!("connect failed: {other}")),
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
/// use runner_core::driver::{Inbound, Outbound, tungstenite::socket};
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
/// # Ok::<(), runner_core::driver::BoxError>(())
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
