//! WebSockets a test opens to an actor, from the client's side.

use super::TestKit;
use super::engine::SocketState;
use crate::RequestKey;
use crate::host::runtime::Runtime;
use crate::host::websocket::{CloseFrame, Message};
use crate::protocol::{
    BareMap, ToClientTunnelMessageKind, ToClientWebSocketClose, ToClientWebSocketOpen,
    WebSocketMessage,
};

impl<R: Runtime> TestKit<R> {
    /// Opens a WebSocket to actor `id` on `path` (waking it if it sleeps)
    /// and waits until the actor accepts it — or refuses it: then the
    /// close it sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{ActorContext, Handler, Message, WebSocketRequest};
    ///
    /// struct Echo;
    ///
    /// impl Handler for Echo {
    ///     async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
    ///         let Ok(mut ws) = socket.accept(false).await else { return };
    ///         while let Some(Message::Text(text)) = ws.recv().await {
    ///             let _ = ws.send(text).await;
    ///         }
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Echo).await;
    /// let actor = kit.start_actor("echo").await.unwrap();
    /// let mut ws = kit.websocket(&actor, "/ws").await.unwrap();
    /// ws.send(Message::Text("hi".into()));
    /// assert_eq!(ws.recv().await, Message::Text("hi".into()));
    /// # });
    /// ```
    pub async fn websocket(&self, id: &str, path: &str) -> Result<TestSocket<'_, R>, CloseFrame> {
        if let Err(stopped) = self.wake(id).await {
            return Err(CloseFrame {
                code: 1011,
                reason: stopped,
            });
        }
        let open = ToClientWebSocketOpen {
            actor_id: id.into(),
            path: path.into(),
            headers: BareMap::new(),
        };
        let key = self.open(ToClientTunnelMessageKind::WebSocketOpen(open), |e, key| {
            e.sockets.insert(key, SocketState::opened_to(id));
        });
        let accepted = self
            .until("the socket to be accepted or refused", |e| {
                e.sockets.get(&key)?.accepted
            })
            .await;
        if accepted {
            return Ok(TestSocket { kit: self, key });
        }
        let engine = self.engine.lock().unwrap();
        let (code, reason) = engine.sockets[&key].closed.clone().unwrap_or_default();
        Err(CloseFrame {
            code: code.unwrap_or(1006),
            reason: reason.unwrap_or_default(),
        })
    }
}

/// A WebSocket the test opened to an actor, from the client's side.
///
/// # Examples
///
/// See [`TestKit::websocket`].
pub struct TestSocket<'k, R> {
    kit: &'k TestKit<R>,
    key: RequestKey,
}

impl<R> std::fmt::Debug for TestSocket<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSocket")
            .field("key", &self.key)
            .finish()
    }
}

impl<R: Runtime> TestSocket<'_, R> {
    /// Sends the actor a message (text or binary; a `Close` closes).
    ///
    /// As the gateway does for a socket the actor accepted as hibernatable:
    /// when the actor sleeps (or is going to), the message wakes it and
    /// reaches it once the new generation's `on_actor_start` (which restores
    /// the socket) has returned; messages the runner did not acknowledge
    /// ([`WebSocket::ack`](crate::host::WebSocket::ack)) are sent again,
    /// with their indices, after every wake.
    ///
    /// # Examples
    ///
    /// See [`TestKit::websocket`]; a socket across a sleep is in the tests
    /// of the chat examples (`runner-tokio/examples/chat.rs`).
    pub fn send(&mut self, message: Message) {
        let mut engine = self.kit.engine.lock().unwrap();
        let Some(socket) = engine.sockets.get_mut(&self.key) else {
            return;
        };
        socket.next_index = socket.next_index.wrapping_add(1);
        let index = socket.next_index;
        let kind = match message {
            Message::Text(text) => ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage {
                data: text.into(),
                binary: false,
            }),
            Message::Binary(data) => {
                ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage { data, binary: true })
            }
            Message::Close(frame) => {
                ToClientTunnelMessageKind::WebSocketClose(ToClientWebSocketClose {
                    code: frame.as_ref().map(|f| f.code),
                    reason: frame.map(|f| f.reason),
                })
            }
        };
        engine.client_sends(self.key, index, kind);
    }

    /// The next message the actor sent; a `Close` once it closed the socket.
    ///
    /// # Panics
    ///
    /// When nothing comes within [`WAIT_BOUND`](super::WAIT_BOUND).
    ///
    /// # Examples
    ///
    /// See [`TestKit::websocket`].
    pub async fn recv(&mut self) -> Message {
        let key = self.key;
        self.kit
            .until("a WebSocket message", |e| {
                let socket = e.sockets.get_mut(&key)?;
                if let Some(message) = socket.inbox.pop_front() {
                    return Some(message);
                }
                let (code, reason) = socket.closed.clone()?;
                Some(Message::Close(code.map(|code| CloseFrame {
                    code,
                    reason: reason.unwrap_or_default(),
                })))
            })
            .await
    }
}
