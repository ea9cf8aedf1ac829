//! The actors' WebSockets: the task that serves each one with the handler,
//! the events it reads, what it asks of the core, and hibernated sockets
//! restored as open ones.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use futures::FutureExt;
use futures::channel::mpsc;
use tracing::{Instrument, warn};

use super::Host;
use crate::host::calls::{Call, Reply, SocketOp};
use crate::host::context::ActorContext;
use crate::host::error::Error;
use crate::host::handler::Handler;
use crate::host::runtime::Runtime;
use crate::host::spans;
use crate::host::websocket::{HANDLER_PANICKED, Message, SocketEvent, Unread, WebSocketRequest};
use crate::protocol::BareMap;
use crate::{ActorRef, HibernatedSocket, RequestKey, Timestamp, WebSocketOpen};

/// Messages waiting for a WebSocket handler to read them, counted and in
/// bytes; past either bound the socket is closed (1011
/// `runner.socket_backlog_full`). Closing is the only reaction that leaves
/// the rest flowing: every socket shares the one connection to the engine,
/// so holding back (not reading it) for one slow handler would stall every
/// actor. A hibernatable socket is closed alike: its unread messages were
/// never acknowledged, and the gateway does not replay a closed socket's.
const SOCKET_BACKLOG: usize = 1024;
/// See [`SOCKET_BACKLOG`]: the engine's largest frame, so any one message
/// fits a handler that keeps up.
const SOCKET_BACKLOG_BYTES: usize = 64 * 1024 * 1024;

/// The loop's end of one socket's events.
pub(super) struct SocketFeed {
    events: mpsc::Sender<SocketEvent>,
    unread: Unread,
}

impl<R: Runtime, H: Handler> Host<R, H> {
    pub(super) fn spawn_websocket(&mut self, open: WebSocketOpen) {
        let ctx = self.context(&open.actor);
        self.spawn_socket_handler(ctx, open.key, open.path, &open.headers, false);
    }

    fn spawn_socket_handler(
        &mut self,
        ctx: ActorContext,
        key: RequestKey,
        path: String,
        headers: &BareMap<String>,
        restored: bool,
    ) {
        let span = spans::websocket((ctx.actor_ref(), ctx.name()), &path, restored);
        let (events_tx, events) = mpsc::channel(SOCKET_BACKLOG);
        let unread = Unread::default();
        let feed = SocketFeed {
            events: events_tx,
            unread: unread.clone(),
        };
        self.sockets.insert(key, feed);
        let request = WebSocketRequest::new(
            key,
            path,
            header_map(headers),
            restored,
            (events, unread),
            self.tx.clone(),
        );
        let handler = self.handler.clone();
        let tx = self.tx.clone();
        let task = async move {
            if AssertUnwindSafe(handler.on_websocket(ctx, request))
                .catch_unwind()
                .await
                .is_err()
            {
                warn!(%key, "websocket handler panicked: closing");
                let op = SocketOp::Close {
                    code: Some(1011),
                    reason: Some(HANDLER_PANICKED.into()),
                };
                tx.send_now(Call::Socket {
                    key,
                    op,
                    reply: None,
                });
            }
        };
        self.run_handler(Box::pin(task.instrument(span)));
    }

    pub(super) fn on_socket_message(
        &mut self,
        key: RequestKey,
        data: Bytes,
        binary: bool,
        index: u16,
    ) {
        let message = if binary {
            Message::Binary(data)
        } else {
            Message::Text(String::from_utf8_lossy(&data).into_owned())
        };
        let Some(feed) = self.sockets.get_mut(&key) else {
            return;
        };
        if !feed
            .unread
            .try_add(message.payload_len(), SOCKET_BACKLOG_BYTES)
        {
            return self.close_backlogged(key);
        }
        match feed
            .events
            .try_send(SocketEvent::Message { message, index })
        {
            Ok(()) => {}
            Err(e) if e.is_full() => self.close_backlogged(key),
            Err(_) => {
                self.sockets.remove(&key);
            }
        }
    }

    /// The socket's handler is not reading: close the socket (see
    /// [`SOCKET_BACKLOG`]).
    fn close_backlogged(&mut self, key: RequestKey) {
        warn!(%key, "websocket handler is not reading: closing the socket");
        self.sockets.remove(&key);
        let now = self.now();
        let _ = self
            .core
            .websocket_close(now, key, Some(1011), Some("runner.socket_backlog_full"));
    }

    pub(super) fn notify_socket(&mut self, key: RequestKey, event: SocketEvent) {
        if let Some(mut feed) = self.sockets.remove(&key) {
            let _ = feed.events.try_send(event);
        }
    }

    pub(super) fn socket_op(
        &mut self,
        now: Timestamp,
        key: RequestKey,
        op: SocketOp,
    ) -> Result<(), crate::CallError> {
        match op {
            SocketOp::Accept { hibernatable } => self.core.websocket_accept(now, key, hibernatable),
            SocketOp::Reject { code, reason } => {
                self.sockets.remove(&key);
                self.core.websocket_reject(now, key, code, &reason)
            }
            SocketOp::Send { data, binary } => self.core.websocket_send(now, key, data, binary),
            SocketOp::Close { code, reason } => {
                self.sockets.remove(&key);
                self.core.websocket_close(now, key, code, reason.as_deref())
            }
            SocketOp::Ack(index) => self.core.websocket_ack(now, key, index),
        }
    }

    /// Restores hibernated sockets and hands each restored one to the
    /// handler as an already open socket.
    pub(super) fn restore(
        &mut self,
        actor: ActorRef,
        sockets: Vec<HibernatedSocket>,
        reply: Reply<crate::RestoreReport>,
    ) {
        let now = self.now();
        let described: HashMap<RequestKey, (String, BareMap<String>)> = sockets
            .iter()
            .map(|s| (s.key, (s.path.clone(), s.headers.clone())))
            .collect();
        let result = self.core.restore_websockets(now, &actor, sockets);
        if let Ok(report) = &result {
            let ctx = self.context(&actor);
            for key in &report.restored {
                if let Some((path, headers)) = described.get(key) {
                    self.spawn_socket_handler(ctx.clone(), *key, path.clone(), headers, true);
                }
            }
        }
        let _ = reply.send(result.map_err(Error::Call));
    }
}

/// The socket's headers as a `HeaderMap`. The core refuses opens past
/// `limits.max_request_headers`; past what a `HeaderMap` holds (a limit set
/// that high, or a restored socket's headers) the handler gets no headers
/// rather than the loop panicking.
fn header_map(headers: &BareMap<String>) -> http::HeaderMap {
    crate::host::http::header_map(headers).unwrap_or_else(|_| {
        warn!(
            headers = headers.len(),
            "more socket headers than a HeaderMap holds: none kept"
        );
        http::HeaderMap::new()
    })
}
