//! The user's tunnel handlers: what they answer, what they hold, and what
//! they persist for hibernatable sockets.
//!
//! Policies answer automatically (for random runs and simple scenarios);
//! with `Manual` the test answers through the [`Sim`](crate::sim::Sim) calls.
//! Whatever the policy, the user keeps track of the requests and sockets it
//! holds, and persists every hibernatable socket's indices after each change,
//! the way the runner's documentation asks, so that a restore after a sleep
//! continues exactly where it left off.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{BareMap, Id};
use runner_core::{ActorRef, HibernatedSocket, RequestKey, RestoreReport};

/// How the user answers HTTP requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpPolicy {
    /// The test answers.
    Manual,
    /// `200` after this long, the body `"<method> <path>"` plus the request body.
    Respond(Duration),
}

/// How the user answers WebSocket opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsPolicy {
    /// The test answers.
    Manual,
    /// Accept at once.
    Accept {
        /// As hibernatable.
        hibernate: bool,
    },
    /// Refuse at once.
    Reject {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// The user's tunnel behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelPolicy {
    /// HTTP requests.
    pub http: HttpPolicy,
    /// WebSocket opens.
    pub ws: WsPolicy,
    /// Send every message back.
    pub echo: bool,
    /// Acknowledge every hibernatable socket message once persisted.
    pub ack: bool,
    /// When a start completes, hand the persisted sockets to
    /// `restore_websockets` first.
    pub restore: bool,
}

impl Default for TunnelPolicy {
    fn default() -> Self {
        TunnelPolicy {
            http: HttpPolicy::Manual,
            ws: WsPolicy::Manual,
            echo: false,
            ack: false,
            restore: true,
        }
    }
}

/// A tunnel call the user makes later (scheduled by a policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelAction {
    /// Respond to the request.
    Respond(RequestKey),
    /// Accept the socket.
    Accept(RequestKey, bool),
    /// Refuse the socket.
    Reject(RequestKey, u16, String),
    /// Send a message.
    Send(RequestKey, Bytes, bool),
    /// Acknowledge up to an index.
    Ack(RequestKey, u16),
}

/// An HTTP request the user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRequest {
    /// The actor.
    pub actor: ActorRef,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers.
    pub headers: BareMap<String>,
    /// Body received so far.
    pub body: Vec<u8>,
    /// Whether the whole body arrived.
    pub complete: bool,
}

/// A socket the user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSocket {
    /// The actor.
    pub actor: ActorRef,
    /// Path of the open.
    pub path: String,
    /// `None` while offered; `Some(hibernatable)` once open.
    pub accepted: Option<bool>,
    /// Messages received: (index, data, binary).
    pub received: Vec<(u16, Bytes, bool)>,
}

/// The user's tunnel state.
#[derive(Debug, Default, Clone)]
pub struct TunnelUser {
    /// Requests not answered yet.
    pub requests: BTreeMap<RequestKey, UserRequest>,
    /// Sockets offered or open.
    pub sockets: BTreeMap<RequestKey, UserSocket>,
    /// Persisted hibernatable sockets, by actor id.
    pub persisted: BTreeMap<Id, BTreeMap<RequestKey, HibernatedSocket>>,
    /// Every restore report, in order.
    pub reports: Vec<(ActorRef, RestoreReport)>,
}

impl TunnelUser {
    /// The persisted sockets of `actor`, in key order.
    pub fn persisted_of(&self, actor: &str) -> Vec<HibernatedSocket> {
        self.persisted
            .get(actor)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets a persisted socket (closed, or stale).
    pub fn forget(&mut self, key: RequestKey) {
        for sockets in self.persisted.values_mut() {
            sockets.remove(&key);
        }
    }

    /// The body the `Respond` policy answers with.
    pub fn echo_body(request: &UserRequest) -> Bytes {
        let mut body = format!("{} {}", request.method, request.path).into_bytes();
        body.extend_from_slice(&request.body);
        Bytes::from(body)
    }
}
