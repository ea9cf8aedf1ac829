//! Tunnelled WebSockets as user code sees them, in the style of
//! tokio-tungstenite and axum: accept a [`WebSocketRequest`], then `recv` and
//! `send` [`Message`]s on the [`WebSocket`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};

use super::calls::{Call, CallTx, SocketOp};
use super::error::Error;
use crate::protocol::MessageIndex;
use crate::{RequestKey, SocketIndices};

/// A WebSocket message.
///
/// # Examples
///
/// Text and bytes convert into messages, so `send` takes either:
///
/// ```
/// use runner_tokio::{CloseFrame, Message};
///
/// assert_eq!(Message::from("hi"), Message::Text("hi".into()));
/// assert_eq!(Message::from(vec![1u8, 2]), Message::Binary(vec![1u8, 2].into()));
/// let bye = Message::Close(Some(CloseFrame { code: 1000, reason: "done".into() }));
/// assert!(matches!(bye, Message::Close(Some(ref f)) if f.code == 1000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Binary(Bytes),
    /// The peer closed the socket (code and reason, if any).
    Close(Option<CloseFrame>),
}

/// Code and reason of a close.
///
/// # Examples
///
/// ```
/// use runner_tokio::{CloseFrame, Message};
///
/// /// Whether the peer ended the socket normally (1000) or just went away.
/// fn clean(message: &Message) -> bool {
///     matches!(message, Message::Close(Some(CloseFrame { code: 1000 | 1001, .. })))
/// }
/// assert!(clean(&Message::Close(Some(CloseFrame { code: 1000, reason: String::new() }))));
/// assert!(!clean(&Message::Close(Some(CloseFrame { code: 1011, reason: "crash".into() }))));
/// assert!(!clean(&Message::Close(None)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Close code.
    pub code: u16,
    /// Close reason.
    pub reason: String,
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.to_owned())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s)
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

/// Close reason of a socket whose handler panicked.
pub(crate) const HANDLER_PANICKED: &str = "runner.handler_panicked";

/// Bytes of the messages waiting for one WebSocket handler to read them:
/// the event loop adds what it queues, the socket takes off what it reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unread(Arc<AtomicUsize>);

impl Unread {
    /// Counts `len` more bytes, unless that would pass `limit`. Only the
    /// event loop adds, so a check then an add cannot overshoot (the reader
    /// only takes off).
    pub(crate) fn try_add(&self, len: usize, limit: usize) -> bool {
        let fits = self.0.load(Ordering::Relaxed).saturating_add(len) <= limit;
        if fits {
            self.0.fetch_add(len, Ordering::Relaxed);
        }
        fits
    }

    fn read(&self, len: usize) {
        self.0.fetch_sub(len, Ordering::Relaxed);
    }
}

impl Message {
    /// Bytes of its payload, as counted against the unread bound.
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            Message::Text(text) => text.len(),
            Message::Binary(bytes) => bytes.len(),
            Message::Close(_) => 0,
        }
    }
}

/// What the event loop tells a socket.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    Message {
        message: Message,
        index: MessageIndex,
    },
    Closed(Option<CloseFrame>),
    Hibernated,
}

/// A WebSocket a client wants to open: look at its path and headers, then
/// [`accept`](Self::accept) or [`reject`](Self::reject) it. Dropping it
/// unanswered rejects it (1011).
///
/// # Examples
///
/// ```no_run
/// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
///
/// struct Chat;
///
/// impl Handler for Chat {
///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
///         let authorized = socket.headers().get("authorization").is_some();
///         if socket.path() != "/chat" || !authorized {
///             let _ = socket.reject(1008, "forbidden").await;
///             return;
///         }
///         let Ok(mut ws) = socket.accept(false).await else { return };
///         let _ = ws.send(Message::from("welcome")).await;
///     }
/// }
/// ```
#[derive(Debug)]
pub struct WebSocketRequest {
    key: RequestKey,
    path: String,
    headers: http::HeaderMap,
    restored: bool,
    events: Option<(mpsc::Receiver<SocketEvent>, Unread)>,
    tx: CallTx,
}

impl WebSocketRequest {
    pub(crate) fn new(
        key: RequestKey,
        path: String,
        headers: http::HeaderMap,
        restored: bool,
        events: (mpsc::Receiver<SocketEvent>, Unread),
        tx: CallTx,
    ) -> Self {
        WebSocketRequest {
            key,
            path,
            headers,
            restored,
            events: Some(events),
            tx,
        }
    }

    /// The socket's id (persist it for hibernatable sockets).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         // The key identifies the socket, e.g. in logs or in what is persisted.
    ///         let key = socket.key();
    ///         eprintln!("socket {key} asks for {}", socket.path());
    ///         let _ = socket.accept(false).await;
    ///     }
    /// }
    /// ```
    pub fn key(&self) -> RequestKey {
        self.key
    }

    /// Path and query, relative to the actor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         // Path and query string, relative to the actor.
    ///         let room = socket.path().strip_prefix("/rooms/").map(str::to_owned);
    ///         match room {
    ///             Some(room) => drop(socket.accept(false).await.map(|_ws| room)),
    ///             None => drop(socket.reject(1008, "no such room").await),
    ///         }
    ///     }
    /// }
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Headers of the upgrade request.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let protocol = socket.headers().get("sec-websocket-protocol").cloned();
    ///         if protocol.as_ref().and_then(|p| p.to_str().ok()) != Some("chat.v1") {
    ///             let _ = socket.reject(1002, "expected the chat.v1 sub-protocol").await;
    ///             return;
    ///         }
    ///         let _ = socket.accept(false).await;
    ///     }
    /// }
    /// ```
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// Whether this is a hibernated socket coming back after the actor woke
    /// up ([`ActorContext::restore_websockets`](super::ActorContext::restore_websockets)):
    /// it is already open and [`accept`](Self::accept) just hands it over.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         // A restored socket was greeted before its actor went to sleep.
    ///         let restored = socket.is_restored();
    ///         let Ok(mut ws) = socket.accept(true).await else { return };
    ///         if !restored {
    ///             let _ = ws.send(Message::from("welcome")).await;
    ///         }
    ///     }
    /// }
    /// ```
    pub fn is_restored(&self) -> bool {
        self.restored
    }

    /// Accepts the socket. A `hibernatable` socket outlives its actor
    /// sleeping: persist its key, path, headers and the index of each message
    /// handled, [`ack`](WebSocket::ack) them, and restore it on the next start.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(true).await else { return };
    ///         while let Some((message, index)) = ws.recv_indexed().await {
    ///             // Persist what the message changes, then let the gateway forget it.
    ///             let _ = ws.send(message).await;
    ///             let _ = ws.ack(index).await;
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn accept(mut self, hibernatable: bool) -> Result<WebSocket, Error> {
        let (events, unread) = self.events.take().ok_or(Error::RunnerGone)?;
        if !self.restored {
            let op = SocketOp::Accept { hibernatable };
            self.tx.socket_op(self.key, op).await?;
        }
        Ok(WebSocket {
            key: self.key,
            events,
            unread,
            tx: self.tx.clone(),
            open: true,
            hibernatable: hibernatable || self.restored,
            hibernated: false,
        })
    }

    /// Refuses the socket with a close code and reason.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         if socket.path() != "/live" {
    ///             // The client sees the socket closed with code 1008 and this reason.
    ///             let _ = socket.reject(1008, "unknown path").await;
    ///             return;
    ///         }
    ///         let _ = socket.accept(false).await;
    ///     }
    /// }
    /// ```
    pub async fn reject(mut self, code: u16, reason: &str) -> Result<(), Error> {
        self.events.take();
        let op = SocketOp::Reject {
            code,
            reason: reason.to_owned(),
        };
        self.tx.socket_op(self.key, op).await
    }
}

impl Drop for WebSocketRequest {
    fn drop(&mut self) {
        if self.events.is_some() && !self.restored {
            let op = SocketOp::Reject {
                code: 1011,
                reason: "not accepted".into(),
            };
            self.tx.socket_op_now(self.key, op);
        }
    }
}

/// An open tunnelled WebSocket. Also a [`Stream`] of messages.
///
/// # Examples
///
/// ```no_run
/// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
///
/// struct Chat;
///
/// impl Handler for Chat {
///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
///         let Ok(mut ws) = socket.accept(false).await else { return };
///         ws.send("hello").await.ok();
///         while let Some(message) = ws.recv().await {
///             match message {
///                 Message::Text(text) => { let _ = ws.send(text.to_uppercase()).await; }
///                 Message::Binary(bytes) => { let _ = ws.send(bytes).await; }
///                 Message::Close(_) => break,
///             }
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct WebSocket {
    key: RequestKey,
    events: mpsc::Receiver<SocketEvent>,
    /// Bytes of the messages in `events`.
    unread: Unread,
    tx: CallTx,
    open: bool,
    hibernatable: bool,
    hibernated: bool,
}

impl WebSocket {
    /// The socket's id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let key = socket.key();
    ///         let Ok(ws) = socket.accept(false).await else { return };
    ///         assert_eq!(ws.key(), key); // the same id as the request's
    ///     }
    /// }
    /// ```
    pub fn key(&self) -> RequestKey {
        self.key
    }

    /// The next message, with its gateway index (persist it for hibernatable
    /// sockets). After a [`Message::Close`], or when the actor stops, `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(true).await else { return };
    ///         while let Some((message, index)) = ws.recv_indexed().await {
    ///             let _ = ws.send(message).await;
    ///             // Acknowledged indices are not replayed after the actor wakes up.
    ///             let _ = ws.ack(index).await;
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn recv_indexed(&mut self) -> Option<(Message, MessageIndex)> {
        futures::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// The next message; `None` once the socket is closed or hibernated.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(false).await else { return };
    ///         while let Some(message) = ws.recv().await {
    ///             if matches!(message, Message::Close(_)) || ws.send(message).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn recv(&mut self) -> Option<Message> {
        self.recv_indexed().await.map(|(m, _)| m)
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Message, MessageIndex)>> {
        if !self.open {
            return Poll::Ready(None);
        }
        match self.events.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(SocketEvent::Message { message, index })) => {
                self.unread.read(message.payload_len());
                Poll::Ready(Some((message, index)))
            }
            Poll::Ready(Some(SocketEvent::Closed(frame))) => {
                self.open = false;
                Poll::Ready(Some((Message::Close(frame), 0)))
            }
            Poll::Ready(Some(SocketEvent::Hibernated)) => {
                self.hibernated = true;
                self.open = false;
                Poll::Ready(None)
            }
            // The runner is gone (shut down): the socket just ends.
            Poll::Ready(None) => {
                self.open = false;
                Poll::Ready(None)
            }
        }
    }

    /// Whether the socket ended because its actor stopped while the gateway
    /// keeps the client connected (hibernation): keep what was persisted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(true).await else { return };
    ///         while let Some((_message, index)) = ws.recv_indexed().await {
    ///             let _ = ws.ack(index).await;
    ///         }
    ///         if ws.is_hibernated() {
    ///             // The client is still connected: the next start restores the socket.
    ///             return;
    ///         }
    ///     }
    /// }
    /// ```
    pub fn is_hibernated(&self) -> bool {
        self.hibernated
    }

    /// Sends a message. `Message::Close` closes the socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(false).await else { return };
    ///         ws.send("text").await.ok();
    ///         ws.send(vec![0u8, 1, 2]).await.ok(); // binary
    ///         ws.send(Message::Close(None)).await.ok(); // and closed
    ///     }
    /// }
    /// ```
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let op = match message.into() {
            Message::Text(t) => SocketOp::Send {
                data: Bytes::from(t),
                binary: false,
            },
            Message::Binary(b) => SocketOp::Send {
                data: b,
                binary: true,
            },
            Message::Close(frame) => {
                self.open = false;
                let (code, reason) = frame
                    .map(|f| (Some(f.code), Some(f.reason)))
                    .unwrap_or((None, None));
                SocketOp::Close { code, reason }
            }
        };
        self.tx.socket_op(self.key, op).await
    }

    /// Closes the socket with a code and reason.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(false).await else { return };
    ///         if let Some(Message::Text(name)) = ws.recv().await {
    ///             if name.is_empty() {
    ///                 let _ = ws.close(4000, "a name is required").await;
    ///                 return;
    ///             }
    ///             let _ = ws.send(format!("hello, {name}")).await;
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        self.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned(),
        })))
        .await
    }

    /// Acknowledges gateway messages up to `index` once they are persisted
    /// (hibernatable sockets only).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(true).await else { return };
    ///         let mut log = Vec::new();
    ///         while let Some((message, index)) = ws.recv_indexed().await {
    ///             log.push(format!("{message:?}"));
    ///             // Once it is stored for good (e.g. with `ActorContext::kv_put`):
    ///             let _ = ws.ack(index).await;
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn ack(&self, index: MessageIndex) -> Result<(), Error> {
        self.tx.socket_op(self.key, SocketOp::Ack(index)).await
    }

    /// Current message indices (hibernatable sockets only), to persist.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use runner_tokio::{ActorContext, Handler, WebSocketRequest};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(true).await else { return };
    ///         let _ = ws.send("state").await;
    ///         if let Some(indices) = ws.indices().await {
    ///             // Persist these with the socket's key, path and headers.
    ///             eprintln!("received up to {}, next sent {}", indices.last_received_index, indices.next_sent_index);
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn indices(&self) -> Option<SocketIndices> {
        let (reply, answer) = futures::channel::oneshot::channel();
        self.tx
            .send(Call::SocketIndices {
                key: self.key,
                reply,
            })
            .await
            .ok()?;
        answer.await.ok().flatten()
    }
}

impl Stream for WebSocket {
    type Item = Message;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.get_mut().poll_event(cx).map(|o| o.map(|(m, _)| m))
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        // A plain socket dropped while open is closed; a hibernatable one is
        // left to the gateway, which keeps it while the actor sleeps. A
        // socket dropped by a panicking handler is closed as an error, not
        // as a normal closure the client would take for success.
        let panicking = std::thread::panicking();
        if self.open && (!self.hibernatable || panicking) {
            let (code, reason) = if panicking {
                (1011, Some(HANDLER_PANICKED.to_owned()))
            } else {
                (1000, None)
            };
            let op = SocketOp::Close {
                code: Some(code),
                reason,
            };
            self.tx.socket_op_now(self.key, op);
        }
    }
}
