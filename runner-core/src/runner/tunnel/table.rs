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
    pub(in crate::runner) hasher: Hasher,
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

    /// Every open request and socket with its owner (for a timeline that
    /// starts from a snapshot).
    pub(in crate::runner) fn owners(&self) -> impl Iterator<Item = (RequestKey, &ActorRef)> {
        self.entries.iter().map(|(key, entry)| (*key, &entry.owner))
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn buffered(&self) -> usize {
        self.outbound.len()
    }
}

// The snapshot's part (see `crate::runner::snapshot`): the entries by key,
// then the outbound buffer.
impl Tunnel {
    pub(in crate::runner) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        use crate::encoding::values::{put_actor, put_key};
        let mut keys: Vec<&RequestKey> = self.entries.keys().collect();
        keys.sort_unstable();
        s.buf.put_varint(keys.len() as u64);
        for key in keys {
            let Some(entry) = self.entries.get(key) else {
                continue;
            };
            put_key(&mut s.buf, *key);
            put_actor(&mut s.buf, &entry.owner);
            s.buf.put_varint(u64::from(entry.next_out));
            s.buf.put_bool(entry.held);
            match entry.kind {
                EntryKind::Http {
                    streaming,
                    body_bytes,
                } => {
                    s.buf.put_u8(0);
                    s.buf.put_bool(streaming);
                    s.buf.put_varint(body_bytes as u64);
                }
                EntryKind::WsOpening { open_index } => {
                    s.buf.put_u8(1);
                    s.buf.put_varint(u64::from(open_index));
                }
                EntryKind::WsOpen {
                    hibernatable,
                    last_in,
                } => {
                    s.buf.put_u8(2);
                    s.buf.put_bool(hibernatable);
                    s.buf.put_varint(u64::from(last_in));
                }
                EntryKind::WsHibernating => s.buf.put_u8(3),
            }
        }
        self.outbound.save(s);
    }

    /// Fills this (empty) tunnel.
    pub(in crate::runner) fn load(
        &mut self,
        c: &mut crate::encoding::codec::Cursor<'_>,
        limits: &crate::config::Limits,
    ) -> Result<(), crate::encoding::codec::Malformed> {
        use crate::encoding::values::{get_actor, get_key};
        for _ in 0..c.count()? {
            let key = get_key(c)?;
            let owner = get_actor(c)?;
            let next_out = c.u16()?;
            let held = c.bool()?;
            let kind = match c.u8()? {
                0 => EntryKind::Http {
                    streaming: c.bool()?,
                    body_bytes: c.usize()?,
                },
                1 => EntryKind::WsOpening {
                    open_index: c.u16()?,
                },
                2 => EntryKind::WsOpen {
                    hibernatable: c.bool()?,
                    last_in: c.u16()?,
                },
                3 => EntryKind::WsHibernating,
                _ => return Err("unknown tunnel entry kind"),
            };
            let entry = Entry {
                owner,
                next_out,
                held,
                kind,
            };
            if self.entries.insert(key, entry).is_some() {
                return Err("a tunnel entry is listed twice");
            }
        }
        self.outbound = OutboundBuffer::load(c, limits)?;
        Ok(())
    }
}
