//! Where the runner's one connection slot stands, and the close codes it uses.

use crate::ids::ConnId;

/// Where the one connection slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConnState {
    /// `start` not called yet.
    Idle,
    /// `Connect` emitted, transport not open yet.
    Connecting(ConnId),
    /// Open, `ToServerInit` sent, waiting for `ToClientInit`.
    AwaitingInit(ConnId),
    /// The engine accepted the runner.
    Ready(ConnId),
    /// Waiting for the reconnect timer.
    Backoff,
    /// Shutdown asked the transport to close; waiting for it.
    Closing(ConnId),
    /// No connection and none will be made.
    Closed,
}

impl ConnState {
    pub(super) fn id(self) -> Option<ConnId> {
        match self {
            ConnState::Connecting(id)
            | ConnState::AwaitingInit(id)
            | ConnState::Ready(id)
            | ConnState::Closing(id) => Some(id),
            ConnState::Idle | ConnState::Backoff | ConnState::Closed => None,
        }
    }

    /// Whether the transport is open (frames can be sent).
    pub(super) fn is_open(self) -> bool {
        matches!(self, ConnState::AwaitingInit(_) | ConnState::Ready(_))
    }
}

/// Close code the runner uses for its own orderly closes.
pub(super) const CLOSE_NORMAL: u16 = 1000;
/// Close code for protocol errors and dead connections.
pub(super) const CLOSE_ERROR: u16 = 1011;
