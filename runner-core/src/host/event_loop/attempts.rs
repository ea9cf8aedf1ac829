//! Connection attempts that fail before the WebSocket opens: the core
//! reports a connection that opened and ended (`on_disconnected`), but an
//! attempt the transport refused, or one the core gave up on while it was
//! still opening, never opened — the host, which holds the attempt, tells
//! the handler ([`Handler::on_connect_failed`]). With `on_connected` and
//! `on_disconnected`, every attempt's outcome reaches the handler.

use super::Host;
use super::panics::guard_hook;
use crate::host::handler::Handler;
use crate::host::runtime::Runtime;

/// The close code of the core's orderly closes (a shutdown), which end an
/// attempt without it having failed.
const CLOSE_NORMAL: u16 = 1000;

impl<R: Runtime, H: Handler> Host<R, H> {
    /// The runtime could not open the connection.
    pub(super) fn connect_failed(&self, reason: &str) {
        let handler = &self.handler;
        guard_hook("on_connect_failed", || handler.on_connect_failed(reason));
    }

    /// The core closed a connection still opening: a timeout, unless it is
    /// the runner shutting down.
    pub(super) fn connect_abandoned(&self, code: u16, reason: &str) {
        if code != CLOSE_NORMAL {
            self.connect_failed(reason);
        }
    }
}
