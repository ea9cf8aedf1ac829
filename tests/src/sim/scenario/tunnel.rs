//! Shortcuts for tunnel scenario tests: waiting for tunnel events and
//! clients, and reading what crossed the wire for one request.

use std::time::Duration;

use runner_core::protocol::{
    ToClient, ToClientTunnelMessage, ToServer, ToServerTunnelMessage, ToServerTunnelMessageKind,
};
use runner_core::{Event, HttpRequest, RequestKey, WebSocketOpen};

use crate::sim::engine::ClientId;
use crate::sim::harness::Sim;

/// Longest a shortcut waits.
const PATIENCE: Duration = Duration::from_secs(600);

/// The key a tunnel message belongs to.
pub fn key_of_sent(m: &ToServerTunnelMessage) -> RequestKey {
    RequestKey::new(m.message_id.gateway_id, m.message_id.request_id)
}

impl Sim {
    /// Runs until the user gets an `HttpRequest` (after `since`).
    pub fn next_http_request(&mut self, since: usize) -> HttpRequest {
        match self.run_until_event(since, |e| matches!(e, Event::HttpRequest(_))) {
            Some((_, Event::HttpRequest(r))) => r,
            _ => panic!("no HTTP request reached the user"),
        }
    }

    /// Runs until the user is offered a socket (after `since`).
    pub fn next_ws_open(&mut self, since: usize) -> WebSocketOpen {
        match self.run_until_event(since, |e| matches!(e, Event::WebSocketOpen(_))) {
            Some((_, Event::WebSocketOpen(o))) => o,
            _ => panic!("no WebSocket open reached the user"),
        }
    }

    /// Runs until the HTTP client has an outcome; panics if it never does.
    pub fn await_http(&mut self, client: ClientId) {
        let done = self.run_until(|s| s.http_client(client).outcome.is_some(), PATIENCE);
        assert!(done, "HTTP client {client:?} got no answer");
    }

    /// Runs until `pred` holds for the socket client; panics if it never does.
    pub fn await_socket(
        &mut self,
        client: ClientId,
        mut pred: impl FnMut(&crate::sim::engine::ClientSocket) -> bool,
    ) {
        let done = self.run_until(|s| pred(s.socket_client(client)), PATIENCE);
        assert!(
            done,
            "socket client {client:?}: {:?}",
            self.socket_client(client)
        );
    }

    /// Tunnel messages the runner sent after `since`.
    pub fn tunnel_sent_since(&self, since: usize) -> Vec<ToServerTunnelMessage> {
        self.sent_since(since)
            .into_iter()
            .filter_map(|(_, _, m)| match m {
                ToServer::TunnelMessage(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// Tunnel messages the runner sent for `key`, ever.
    pub fn tunnel_sent_for(&self, key: RequestKey) -> Vec<ToServerTunnelMessage> {
        self.tunnel_sent_since(0)
            .into_iter()
            .filter(|m| key_of_sent(m) == key)
            .collect()
    }

    /// Kinds of the tunnel messages the runner sent for `key`, ever.
    pub fn tunnel_kinds_for(&self, key: RequestKey) -> Vec<ToServerTunnelMessageKind> {
        self.tunnel_sent_for(key)
            .into_iter()
            .map(|m| m.message_kind)
            .collect()
    }

    /// Tunnel messages the engine sent to the runner for `key`.
    pub fn gateway_sent_for(&self, key: RequestKey) -> Vec<ToClientTunnelMessage> {
        self.engine()
            .log()
            .sent
            .iter()
            .filter_map(|(_, _, m)| match m {
                ToClient::TunnelMessage(t)
                    if RequestKey::new(t.message_id.gateway_id, t.message_id.request_id) == key =>
                {
                    Some(t.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Tunnel events the user got for `key` after `since`.
    pub fn tunnel_events_for(&self, since: usize, key: RequestKey) -> Vec<Event> {
        self.events_since(since)
            .into_iter()
            .filter(|e| event_key(e) == Some(key))
            .collect()
    }
}

/// The request or socket an event is about.
pub fn event_key(e: &Event) -> Option<RequestKey> {
    match e {
        Event::HttpRequest(r) => Some(r.key),
        Event::WebSocketOpen(o) => Some(o.key),
        Event::HttpRequestChunk { key, .. }
        | Event::HttpRequestAborted { key }
        | Event::WebSocketMessage { key, .. }
        | Event::WebSocketClosed { key, .. }
        | Event::WebSocketHibernated { key } => Some(*key),
        _ => None,
    }
}
