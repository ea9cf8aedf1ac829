//! The tunnel's table: every open request and socket ([`Entry`]) by its
//! [`RequestKey`], and the outbound buffer. Routing and ending entries is in
//! the parent module; this file only holds the state.

use std::collections::HashMap;

use super::actor_tunnel::ActorTunnel;
use super::outbound::OutboundBuffer;
use crate::ids::{ActorRef, RequestKey};
use crate::protocol::MessageIndex;
use crate::runner::Hasher;

/// Gateway-side state of the tunnel for the whole runner.
#[derive(Debug)]
pub(in crate::runner) struct Tunnel {
    pub(super) entries: HashMap<RequestKey, Entry, Hasher>,
    pub(super) hasher: Hasher,
    /// Outbound messages held while disconnected.
    pub(super) outbound: OutboundBuffer,
}

/// One request or socket.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) owner: ActorRef,
    /// Index of the next runner → gateway message.
    pub(super) next_out: MessageIndex,
    /// The owner is still starting: gateway messages go to its inbox.
    pub(super) held: bool,
    pub(super) kind: EntryKind,
}

impl Entry {
    /// Whether the user was told of it: everything delivered, and sockets
    /// restored (reported by `restore_websockets`) even while still held.
    pub(super) fn known_to_user(&self) -> bool {
        !self.held || matches!(self.kind, EntryKind::WsOpen { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntryKind {
    /// HTTP request not answered yet; `streaming` while body chunks may follow.
    Http { streaming: bool, body_bytes: usize },
    /// WebSocket offered to the user, who has not accepted or refused yet.
    WsOpening { open_index: MessageIndex },
    /// WebSocket open.
    WsOpen {
        hibernatable: bool,
        last_in: MessageIndex,
    },
    /// Listed by the start command as hibernated; waiting for restore.
    WsHibernating,
}

impl EntryKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            EntryKind::Http { .. } => "an HTTP request",
            EntryKind::WsOpening { .. } => "a WebSocket awaiting accept",
            EntryKind::WsOpen { .. } => "an open WebSocket",
            EntryKind::WsHibernating => "a hibernated WebSocket",
        }
    }
}

impl Tunnel {
    pub(in crate::runner) fn new(hasher: Hasher) -> Self {
        Tunnel {
            entries: HashMap::with_hasher(hasher.clone()),
            hasher,
            outbound: OutboundBuffer::default(),
        }
    }

    /// Empty per-actor state.
    pub(in crate::runner) fn actor_state(&self) -> ActorTunnel {
        ActorTunnel::default()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn buffered(&self) -> usize {
        self.outbound.len()
    }
}
