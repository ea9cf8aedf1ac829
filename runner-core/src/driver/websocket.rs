//! Tunnelled WebSockets as user code sees them, in the style of
//! tokio-tungstenite and axum: accept a [`WebSocketRequest`], then `recv` and
//! `send` [`Message`]s on the [`WebSocket`].

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};

use super::command::{Command, CommandTx, SocketOp};
use super::error::Error;
use crate::protocol::MessageIndex;
use crate::{RequestKey, SocketIndices};

/// A WebSocket message.
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
#[derive(Debug)]
pub struct WebSocketRequest {
    key: RequestKey,
    path: String,
    headers: http::HeaderMap,
    restored: bool,
    events: Option<mpsc::Receiver<SocketEvent>>,
    tx: CommandTx,
}

impl WebSocketRequest {
    pub(crate) fn new(
        key: RequestKey,
        path: String,
        headers: http::HeaderMap,
        restored: bool,
        events: mpsc::Receiver<SocketEvent>,
        tx: CommandTx,
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
    pub fn key(&self) -> RequestKey {
        self.key
    }

    /// Path and query, relative to the actor.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Headers of the upgrade request.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// Whether this is a hibernated socket coming back after the actor woke
    /// up ([`ActorContext::restore_websockets`](super::ActorContext::restore_websockets)):
    /// it is already open and [`accept`](Self::accept) just hands it over.
    pub fn is_restored(&self) -> bool {
        self.restored
    }

    /// Accepts the socket. A `hibernatable` socket outlives its actor
    /// sleeping: persist its key, path, headers and the index of each message
    /// handled, [`ack`](WebSocket::ack) them, and restore it on the next start.
    pub async fn accept(mut self, hibernatable: bool) -> Result<WebSocket, Error> {
        let events = self.events.take().ok_or(Error::RunnerGone)?;
        if !self.restored {
            let op = SocketOp::Accept { hibernatable };
            let key = self.key;
            self.tx
                .call(|reply| Command::Socket {
                    key,
                    op,
                    reply: Some(reply),
                })
                .await?;
        }
        Ok(WebSocket {
            key: self.key,
            events,
            tx: self.tx.clone(),
            open: true,
            hibernatable: hibernatable || self.restored,
            hibernated: false,
        })
    }

    /// Refuses the socket with a close code and reason.
    pub async fn reject(mut self, code: u16, reason: &str) -> Result<(), Error> {
        self.events.take();
        let op = SocketOp::Reject {
            code,
            reason: reason.to_owned(),
        };
        let key = self.key;
        self.tx
            .call(|reply| Command::Socket {
                key,
                op,
                reply: Some(reply),
            })
            .await
    }
}

impl Drop for WebSocketRequest {
    fn drop(&mut self) {
        if self.events.is_some() && !self.restored {
            let op = SocketOp::Reject {
                code: 1011,
                reason: "not accepted".into(),
            };
            self.tx.send_now(Command::Socket {
                key: self.key,
                op,
                reply: None,
            });
        }
    }
}

/// An open tunnelled WebSocket. Also a [`Stream`] of messages.
#[derive(Debug)]
pub struct WebSocket {
    key: RequestKey,
    events: mpsc::Receiver<SocketEvent>,
    tx: CommandTx,
    open: bool,
    hibernatable: bool,
    hibernated: bool,
}

impl WebSocket {
    /// The socket's id.
    pub fn key(&self) -> RequestKey {
        self.key
    }

    /// The next message, with its gateway index (persist it for hibernatable
    /// sockets). After a [`Message::Close`], or when the actor stops, `None`.
    pub async fn recv_indexed(&mut self) -> Option<(Message, MessageIndex)> {
        futures::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// The next message; `None` once the socket is closed or hibernated.
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
    pub fn is_hibernated(&self) -> bool {
        self.hibernated
    }

    /// Sends a message. `Message::Close` closes the socket.
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
        let key = self.key;
        self.tx
            .call(|reply| Command::Socket {
                key,
                op,
                reply: Some(reply),
            })
            .await
    }

    /// Closes the socket with a code and reason.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        self.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned(),
        })))
        .await
    }

    /// Acknowledges gateway messages up to `index` once they are persisted
    /// (hibernatable sockets only).
    pub async fn ack(&self, index: MessageIndex) -> Result<(), Error> {
        let key = self.key;
        self.tx
            .call(|reply| Command::Socket {
                key,
                op: SocketOp::Ack(index),
                reply: Some(reply),
            })
            .await
    }

    /// Current message indices (hibernatable sockets only), to persist.
    pub async fn indices(&self) -> Option<SocketIndices> {
        let (reply, answer) = futures::channel::oneshot::channel();
        self.tx
            .send(Command::SocketIndices {
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
            self.tx.send_now(Command::Socket {
                key: self.key,
                op,
                reply: None,
            });
        }
    }
}
