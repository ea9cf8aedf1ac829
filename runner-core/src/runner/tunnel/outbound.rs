//! The outbound buffer: runner → gateway tunnel messages held while
//! disconnected, bounded in count and payload bytes, sent in order after the
//! next init. It also counts the runner-decided messages it had no room for.

use std::collections::VecDeque;

use crate::config::Limits;
use crate::protocol::{ToServerTunnelMessage, ToServerTunnelMessageKind};

#[derive(Debug, Default)]
pub(super) struct OutboundBuffer {
    messages: VecDeque<ToServerTunnelMessage>,
    /// Payload bytes of `messages`, kept so the byte bound costs no scan.
    bytes: usize,
    /// Runner-decided messages dropped because the buffer was full.
    dropped: u64,
}

impl OutboundBuffer {
    pub(super) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether a message of `kind` fits within the buffer's bounds.
    pub(super) fn has_room(&self, kind: &ToServerTunnelMessageKind, limits: &Limits) -> bool {
        self.messages.len() < limits.max_buffered_messages
            && self.bytes + outbound_len(kind) <= limits.max_buffered_bytes
    }

    /// Holds `msg`; the caller checked [`has_room`](Self::has_room).
    pub(super) fn push(&mut self, msg: ToServerTunnelMessage) {
        self.bytes += outbound_len(&msg.message_kind);
        self.messages.push_back(msg);
    }

    /// Takes every held message, oldest first.
    pub(super) fn take(&mut self) -> VecDeque<ToServerTunnelMessage> {
        self.bytes = 0;
        std::mem::take(&mut self.messages)
    }

    /// Forgets every held message (they belong to a connection gone for good).
    pub(super) fn clear(&mut self) {
        self.messages.clear();
        self.bytes = 0;
    }

    /// A runner-decided message found no room.
    pub(super) fn count_dropped(&mut self) {
        self.dropped += 1;
    }
}

/// Payload bytes of a runner message, for the buffer's byte bound.
fn outbound_len(kind: &ToServerTunnelMessageKind) -> usize {
    match kind {
        ToServerTunnelMessageKind::ResponseStart(r) => r.body.as_ref().map_or(0, |b| b.len()),
        ToServerTunnelMessageKind::ResponseChunk(c) => c.body.len(),
        ToServerTunnelMessageKind::WebSocketMessage(m) => m.data.len(),
        _ => 0,
    }
}

// The snapshot's part (see `crate::runner::snapshot`): the held messages,
// oldest first, then the dropped count. The byte count is rebuilt.
impl OutboundBuffer {
    pub(super) fn save(&self, s: &mut crate::encoding::state::Saver) {
        use crate::encoding::codec::Put;
        s.buf.put_varint(self.messages.len() as u64);
        for msg in &self.messages {
            if s.redact {
                let mut msg = msg.clone();
                crate::encoding::redact::tunnel_to_server(&mut msg.message_kind);
                s.bare(&msg);
            } else {
                s.bare(msg);
            }
        }
        s.buf.put_varint(self.dropped);
    }

    pub(super) fn load(
        c: &mut crate::encoding::codec::Cursor<'_>,
        limits: &Limits,
    ) -> Result<Self, crate::encoding::codec::Malformed> {
        let mut buffer = OutboundBuffer::default();
        for _ in 0..c.count()? {
            let msg: ToServerTunnelMessage = crate::encoding::state::bare(c)?;
            if !buffer.has_room(&msg.message_kind, limits) {
                return Err("outbound buffer past its limits");
            }
            buffer.push(msg);
        }
        buffer.dropped = crate::encoding::state::counter(c)?;
        Ok(buffer)
    }
}
