//! The tunnel state each actor generation keeps: the keys of its requests
//! and sockets, and the inbox of gateway messages held while it starts.

use std::collections::{HashSet, VecDeque};

use crate::ids::RequestKey;
use crate::protocol::{ToClientTunnelMessage, ToClientTunnelMessageKind};
use crate::runner::Hasher;

/// The tunnel state each actor generation keeps.
#[derive(Debug, Default)]
pub(in crate::runner) struct ActorTunnel {
    /// Its requests and sockets and the messages held for it, allocated
    /// with the first of them: an idle actor carries one null pointer, not
    /// empty tables (this struct is inline in every slot of the actor map).
    live: Option<Box<LiveTunnel>>,
}

#[derive(Debug)]
struct LiveTunnel {
    requests: HashSet<RequestKey, Hasher>,
    inbox: VecDeque<ToClientTunnelMessage>,
    inbox_bytes: usize,
}

impl ActorTunnel {
    pub(in crate::runner) fn request_count(&self) -> usize {
        self.live.as_ref().map_or(0, |l| l.requests.len())
    }

    /// Its requests and sockets, in key order (the order outputs are made
    /// in, so that they are the same on every run).
    pub(super) fn request_keys(&self) -> Vec<RequestKey> {
        let mut keys: Vec<RequestKey> = match &self.live {
            Some(live) => live.requests.iter().copied().collect(),
            None => Vec::new(),
        };
        keys.sort_unstable();
        keys
    }

    fn live(&mut self, hasher: &Hasher) -> &mut LiveTunnel {
        self.live.get_or_insert_with(|| {
            Box::new(LiveTunnel {
                requests: HashSet::with_hasher(hasher.clone()),
                inbox: VecDeque::new(),
                inbox_bytes: 0,
            })
        })
    }

    pub(super) fn add_request(&mut self, key: RequestKey, hasher: &Hasher) {
        self.live(hasher).requests.insert(key);
    }

    pub(super) fn remove_request(&mut self, key: RequestKey) {
        if let Some(live) = &mut self.live {
            live.requests.remove(&key);
        }
    }

    /// Messages and payload bytes held while the actor starts.
    pub(super) fn inbox_size(&self) -> (usize, usize) {
        self.live
            .as_ref()
            .map_or((0, 0), |l| (l.inbox.len(), l.inbox_bytes))
    }

    pub(super) fn hold(&mut self, msg: ToClientTunnelMessage, len: usize, hasher: &Hasher) {
        let live = self.live(hasher);
        live.inbox_bytes += len;
        live.inbox.push_back(msg);
    }

    /// Drops the held messages of `key`.
    pub(super) fn purge(&mut self, key: RequestKey) {
        let Some(live) = &mut self.live else {
            return;
        };
        let before = live.inbox.len();
        live.inbox
            .retain(|m| RequestKey::new(m.message_id.gateway_id, m.message_id.request_id) != key);
        if live.inbox.len() != before {
            live.inbox_bytes = live
                .inbox
                .iter()
                .map(|m| payload_len(&m.message_kind))
                .sum();
        }
    }

    /// Takes every held message, in arrival order.
    pub(super) fn take_inbox(&mut self) -> VecDeque<ToClientTunnelMessage> {
        match &mut self.live {
            Some(live) => {
                live.inbox_bytes = 0;
                std::mem::take(&mut live.inbox)
            }
            None => VecDeque::new(),
        }
    }
}

/// Payload bytes of a gateway message, for the inbox's byte bound.
pub(super) fn payload_len(kind: &ToClientTunnelMessageKind) -> usize {
    match kind {
        ToClientTunnelMessageKind::RequestStart(s) => s.body.as_ref().map_or(0, |b| b.len()),
        ToClientTunnelMessageKind::RequestChunk(c) => c.body.len(),
        ToClientTunnelMessageKind::WebSocketMessage(m) => m.data.len(),
        _ => 0,
    }
}

// The snapshot's part (see `crate::runner::snapshot`): the request keys
// in key order, then the inbox in arrival order.
impl ActorTunnel {
    pub(in crate::runner) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        let keys = self.request_keys();
        s.buf.put_varint(keys.len() as u64);
        for key in keys {
            crate::encoding::values::put_key(&mut s.buf, key);
        }
        let inbox = self.live.as_ref().map(|l| &l.inbox);
        s.buf.put_varint(inbox.map_or(0, |i| i.len()) as u64);
        for msg in inbox.into_iter().flatten() {
            if s.redact {
                let mut msg = msg.clone();
                crate::encoding::redact::tunnel_to_client(&mut msg.message_kind);
                s.bare(&msg);
            } else {
                s.bare(msg);
            }
        }
    }

    pub(in crate::runner) fn load(
        c: &mut crate::encoding::codec::Cursor<'_>,
        hasher: &Hasher,
    ) -> Result<Self, crate::encoding::codec::Malformed> {
        let mut tunnel = ActorTunnel::default();
        for _ in 0..c.count()? {
            tunnel.add_request(crate::encoding::values::get_key(c)?, hasher);
        }
        for _ in 0..c.count()? {
            let msg: ToClientTunnelMessage = crate::encoding::state::bare(c)?;
            let len = payload_len(&msg.message_kind);
            tunnel.hold(msg, len, hasher);
        }
        Ok(tunnel)
    }
}
