//! Tunnelled WebSockets: open, messages both ways, close both ways.

use std::borrow::Cow;

use bytes::Bytes;
use tracing::{debug, warn};

use super::{Admission, EntryKind, close_reason, reasons};
use crate::Timestamp;
use crate::error::CallError;
use crate::ids::RequestKey;
use crate::output::Event;
use crate::protocol::{
    MessageIndex, ToClientTunnelMessage, ToClientTunnelMessageKind, ToClientWebSocketClose,
    ToClientWebSocketOpen, ToServerTunnelMessageKind, ToServerWebSocketClose,
    ToServerWebSocketMessageAck, ToServerWebSocketOpen, WebSocketMessage,
};
use crate::runner::{Input, Runner};
use crate::tunnel::{SocketIndices, WebSocketOpen, tunnel_index_after};

/// Close codes that may appear in a close frame (RFC 6455 §7.4).
pub(super) fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

impl Runner {
    pub(super) fn admit_websocket(&mut self, key: RequestKey, msg: ToClientTunnelMessage) {
        let ToClientTunnelMessageKind::WebSocketOpen(open) = &msg.message_kind else {
            return;
        };
        let open_index = msg.message_id.message_index;
        if self.replay_open(key, open_index) {
            return;
        }
        if open.headers.len() > self.config.limits.max_request_headers {
            warn!(%key, headers = open.headers.len(), "socket with too many headers: closed");
            return self.send_close(key, 0, 1008, reasons::TOO_MANY_HEADERS);
        }
        match self.admission(&open.actor_id) {
            Admission::NoActor => {
                debug!(%key, actor = %open.actor_id, "socket for no running actor: closed");
                self.send_close(key, 0, 1011, reasons::ACTOR_NOT_FOUND);
            }
            Admission::TooMany => self.send_close(key, 0, 1011, reasons::TOO_MANY_REQUESTS),
            Admission::Accept { owner, held } => {
                self.insert_entry(key, owner, held, EntryKind::WsOpening { open_index });
                if held {
                    self.hold(key, msg);
                } else {
                    self.deliver(key, msg);
                }
            }
        }
    }

    /// A repeated open for a socket the runner already has (the gateway
    /// retried it): keep the socket, follow the gateway's numbering, and
    /// confirm the open again. Returns whether the open was handled so.
    fn replay_open(&mut self, key: RequestKey, open_index: MessageIndex) -> bool {
        let Some(entry) = self.tunnel.entries.get_mut(&key) else {
            return false;
        };
        match &mut entry.kind {
            _ if entry.held => true,
            EntryKind::WsOpening { .. } => true,
            EntryKind::WsOpen {
                hibernatable,
                last_in,
            } => {
                if open_index == 0 || tunnel_index_after(open_index, *last_in) {
                    *last_in = open_index;
                }
                let can_hibernate = *hibernatable;
                let open = ToServerWebSocketOpen { can_hibernate };
                self.send_on_entry_system(key, ToServerTunnelMessageKind::WebSocketOpen(open));
                true
            }
            EntryKind::Http { .. } | EntryKind::WsHibernating => {
                if let Some(old) = self.remove_entry(key) {
                    if !old.held && matches!(old.kind, EntryKind::Http { .. }) {
                        self.events.push_back(Event::HttpRequestAborted { key });
                    }
                }
                false
            }
        }
    }

    pub(super) fn deliver_websocket(&mut self, key: RequestKey, open: ToClientWebSocketOpen) {
        let Some(entry) = self.tunnel.entries.get(&key) else {
            return;
        };
        if !matches!(entry.kind, EntryKind::WsOpening { .. }) {
            return;
        }
        let open = WebSocketOpen {
            key,
            actor: entry.owner.clone(),
            path: open.path,
            headers: open.headers,
        };
        self.events.push_back(Event::WebSocketOpen(open));
    }

    pub(super) fn on_websocket_message(
        &mut self,
        key: RequestKey,
        index: MessageIndex,
        msg: WebSocketMessage,
    ) {
        let Some(entry) = self.tunnel.entries.get_mut(&key) else {
            return;
        };
        let EntryKind::WsOpen {
            hibernatable,
            last_in,
        } = &mut entry.kind
        else {
            return debug!(%key, "message for a socket that is not open");
        };
        if *hibernatable {
            if !tunnel_index_after(index, *last_in) {
                // Replayed by the gateway as it resumed the socket after a
                // wake: already seen, so persisted. Acknowledged again: the
                // restore's acknowledgement went out before the gateway
                // resumed the socket, and the engine drops what comes that
                // early; left unacknowledged, the replay would close the
                // socket 30 s after its first send.
                debug!(%key, index, last = *last_in, "duplicate message dropped");
                let ack = ToServerWebSocketMessageAck { index };
                let kind = ToServerTunnelMessageKind::WebSocketMessageAck(ack);
                return self.send_on_entry_system(key, kind);
            }
            if index != last_in.wrapping_add(1) {
                warn!(%key, index, last = *last_in, "message index skipped: closing the socket");
                return self.close_for_skip(key);
            }
        }
        *last_in = index;
        self.events.push_back(Event::WebSocketMessage {
            key,
            data: msg.data,
            binary: msg.binary,
            index,
        });
    }

    fn close_for_skip(&mut self, key: RequestKey) {
        let Some(entry) = self.remove_entry(key) else {
            return;
        };
        self.send_close(key, entry.next_out, 1008, reasons::INDEX_SKIP);
        let reason = Some(reasons::INDEX_SKIP.to_owned());
        self.events.push_back(Event::WebSocketClosed {
            key,
            code: Some(1008),
            reason,
        });
    }

    pub(super) fn on_websocket_close(&mut self, key: RequestKey, close: ToClientWebSocketClose) {
        let Some(entry) = self.remove_entry(key) else {
            return;
        };
        if entry.known_to_user()
            && matches!(
                entry.kind,
                EntryKind::WsOpening { .. } | EntryKind::WsOpen { .. }
            )
        {
            self.events.push_back(Event::WebSocketClosed {
                key,
                code: close.code,
                reason: close.reason,
            });
        }
    }

    /// Accepts a socket offered by [`Event::WebSocketOpen`]. A hibernatable
    /// socket survives its actor sleeping (see [`Runner::restore_websockets`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
    /// # testing::drain(&mut runner);
    /// runner.websocket_accept(Timestamp::ZERO, key, true)?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::TunnelMessage(msg) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let accepted = ToServerWebSocketOpen { can_hibernate: true };
    /// assert_eq!(msg.message_kind, ToServerTunnelMessageKind::WebSocketOpen(accepted));
    /// assert_eq!(msg.message_id.message_index, 0); // the socket's first runner message
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn websocket_accept(
        &mut self,
        now: Timestamp,
        key: RequestKey,
        can_hibernate: bool,
    ) -> Result<(), CallError> {
        self.step(now, Input::WebSocketAccept { key, can_hibernate })
            .into_call()
    }

    pub(in crate::runner) fn accept_inner(
        &mut self,
        key: RequestKey,
        can_hibernate: bool,
    ) -> Result<(), CallError> {
        let EntryKind::WsOpening { open_index } =
            self.socket_entry(key, "websocket_accept", true)?
        else {
            return Err(self.wrong_state(key, "websocket_accept"));
        };
        let open = ToServerWebSocketOpen { can_hibernate };
        self.send_on_entry(key, ToServerTunnelMessageKind::WebSocketOpen(open))?;
        self.counters.websockets_opened += 1;
        if let Some(entry) = self.tunnel.entries.get_mut(&key) {
            entry.kind = EntryKind::WsOpen {
                hibernatable: can_hibernate,
                last_in: open_index,
            };
        }
        Ok(())
    }

    /// Refuses a socket offered by [`Event::WebSocketOpen`]; the client's
    /// connection is closed with `code` and `reason` (truncated to 123 bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
    /// # testing::drain(&mut runner);
    /// runner.websocket_reject(Timestamp::ZERO, key, 4001, "unauthorized")?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::TunnelMessage(msg) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let close = ToServerWebSocketClose { code: Some(4001), reason: Some("unauthorized".into()), hibernate: false };
    /// assert_eq!(msg.message_kind, ToServerTunnelMessageKind::WebSocketClose(close));
    /// assert!(!runner.request_is_open(key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn websocket_reject(
        &mut self,
        now: Timestamp,
        key: RequestKey,
        code: u16,
        reason: &str,
    ) -> Result<(), CallError> {
        let reason = Cow::Borrowed(reason);
        self.step(now, Input::WebSocketReject { key, code, reason })
            .into_call()
    }

    pub(in crate::runner) fn reject_inner(
        &mut self,
        key: RequestKey,
        code: u16,
        reason: &str,
    ) -> Result<(), CallError> {
        match self.socket_entry(key, "websocket_reject", true)? {
            EntryKind::WsOpening { .. } => self.close_inner(key, Some(code), Some(reason)),
            _ => Err(self.wrong_state(key, "websocket_reject")),
        }
    }

    /// Sends a message on an open socket. Payloads over the tunnel limit are
    /// refused (they would make the engine drop the whole runner connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, CallError, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
    /// # testing::drain(&mut runner);
    /// # runner.websocket_accept(Timestamp::ZERO, key, false)?;
    /// # testing::drain(&mut runner);
    /// runner.websocket_send(Timestamp::ZERO, key, "hello".into(), false)?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::TunnelMessage(msg) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let sent = WebSocketMessage { data: "hello".into(), binary: false };
    /// assert_eq!(msg.message_kind, ToServerTunnelMessageKind::WebSocketMessage(sent));
    /// let huge = bytes::Bytes::from(vec![0; runner.config().limits.max_tunnel_payload + 1]);
    /// let refused = runner.websocket_send(Timestamp::ZERO, key, huge, true);
    /// assert!(matches!(refused, Err(CallError::PayloadTooLarge { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn websocket_send(
        &mut self,
        now: Timestamp,
        key: RequestKey,
        data: Bytes,
        binary: bool,
    ) -> Result<(), CallError> {
        self.step(now, Input::WebSocketSend { key, data, binary })
            .into_call()
    }

    pub(in crate::runner) fn send_inner(
        &mut self,
        key: RequestKey,
        data: Bytes,
        binary: bool,
    ) -> Result<(), CallError> {
        let EntryKind::WsOpen { .. } = self.socket_entry(key, "websocket_send", false)? else {
            return Err(self.wrong_state(key, "websocket_send"));
        };
        let limit = self.config.limits.max_tunnel_payload;
        if data.len() > limit {
            warn!(%key, size = data.len(), limit, "WebSocket message over the tunnel limit refused");
            self.counters.payload_refusals.websocket_message += 1;
            return Err(CallError::PayloadTooLarge {
                size: data.len(),
                limit,
            });
        }
        self.send_on_entry(
            key,
            ToServerTunnelMessageKind::WebSocketMessage(WebSocketMessage { data, binary }),
        )
    }

    /// Closes a socket (open, or offered and not yet answered).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, CallError, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
    /// # testing::drain(&mut runner);
    /// # runner.websocket_accept(Timestamp::ZERO, key, false)?;
    /// # testing::drain(&mut runner);
    /// // 1005 ("no status") may not appear in a close frame.
    /// let refused = runner.websocket_close(Timestamp::ZERO, key, Some(1005), None);
    /// assert_eq!(refused, Err(CallError::InvalidCloseCode(1005)));
    /// runner.websocket_close(Timestamp::ZERO, key, Some(1000), Some("done"))?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::TunnelMessage(msg) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let close = ToServerWebSocketClose { code: Some(1000), reason: Some("done".into()), hibernate: false };
    /// assert_eq!(msg.message_kind, ToServerTunnelMessageKind::WebSocketClose(close));
    /// assert!(!runner.request_is_open(key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn websocket_close(
        &mut self,
        now: Timestamp,
        key: RequestKey,
        code: Option<u16>,
        reason: Option<&str>,
    ) -> Result<(), CallError> {
        let reason = reason.map(Cow::Borrowed);
        self.step(now, Input::WebSocketClose { key, code, reason })
            .into_call()
    }

    pub(in crate::runner) fn close_socket_call(
        &mut self,
        key: RequestKey,
        code: Option<u16>,
        reason: Option<&str>,
    ) -> Result<(), CallError> {
        self.socket_entry(key, "websocket_close", false)?;
        self.close_inner(key, code, reason)
    }

    fn close_inner(
        &mut self,
        key: RequestKey,
        code: Option<u16>,
        reason: Option<&str>,
    ) -> Result<(), CallError> {
        if let Some(code) = code.filter(|c| !valid_close_code(*c)) {
            return Err(CallError::InvalidCloseCode(code));
        }
        let close = ToServerWebSocketClose {
            code,
            reason: reason.map(close_reason),
            hibernate: false,
        };
        self.finish_entry(key, ToServerTunnelMessageKind::WebSocketClose(close))
    }

    /// Acknowledges gateway messages up to `index` of a hibernatable socket,
    /// once they are persisted. Unacknowledged messages are kept (and
    /// replayed) by the gateway, which closes the socket if one stays
    /// unacknowledged for 30 s.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
    /// # testing::drain(&mut runner);
    /// # runner.websocket_accept(Timestamp::ZERO, key, true)?;
    /// # testing::drain(&mut runner);
    /// # let hi = ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage { data: "hi".into(), binary: false });
    /// # testing::feed(&mut runner, conn, &testing::tunnel_message(key, 1, hi))?;
    /// let Some(Event::WebSocketMessage { index, .. }) = runner.poll_event() else { panic!() };
    /// // ...persist the message with its index, then:
    /// runner.websocket_ack(Timestamp::ZERO, key, index)?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::TunnelMessage(msg) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let ack = ToServerWebSocketMessageAck { index: 1 };
    /// assert_eq!(msg.message_kind, ToServerTunnelMessageKind::WebSocketMessageAck(ack));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn websocket_ack(
        &mut self,
        now: Timestamp,
        key: RequestKey,
        index: MessageIndex,
    ) -> Result<(), CallError> {
        self.step(now, Input::WebSocketAck { key, index })
            .into_call()
    }

    pub(in crate::runner) fn ack_inner(
        &mut self,
        key: RequestKey,
        index: MessageIndex,
    ) -> Result<(), CallError> {
        match self.socket_entry(key, "websocket_ack", false)? {
            EntryKind::WsOpen {
                hibernatable: true, ..
            } => {
                let ack = ToServerWebSocketMessageAck { index };
                self.send_on_entry(key, ToServerTunnelMessageKind::WebSocketMessageAck(ack))
            }
            _ => Err(self.wrong_state(key, "websocket_ack")),
        }
    }

    /// Message indices of a hibernatable socket, to persist with it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, SocketIndices, Timestamp};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::websocket(&mut runner, conn, 3, "A", "/ws")?;
    /// # testing::drain(&mut runner);
    /// # runner.websocket_accept(Timestamp::ZERO, key, true)?;
    /// # testing::drain(&mut runner);
    /// let indices = SocketIndices { last_received_index: 0, next_sent_index: 1 };
    /// assert_eq!(runner.websocket_indices(key), Some(indices));
    /// runner.websocket_send(Timestamp::ZERO, key, "hi".into(), false)?;
    /// assert_eq!(runner.websocket_indices(key).map(|i| i.next_sent_index), Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn websocket_indices(&self, key: RequestKey) -> Option<SocketIndices> {
        let entry = self.tunnel.entries.get(&key)?;
        match entry.kind {
            EntryKind::WsOpen {
                hibernatable: true,
                last_in,
            } => Some(SocketIndices {
                last_received_index: last_in,
                next_sent_index: entry.next_out,
            }),
            _ => None,
        }
    }

    /// The kind of a socket entry the user may act on. `opening_ok` admits
    /// sockets still waiting for accept or reject.
    fn socket_entry(
        &self,
        key: RequestKey,
        call: &'static str,
        opening_ok: bool,
    ) -> Result<EntryKind, CallError> {
        let entry = self
            .tunnel
            .entries
            .get(&key)
            .ok_or(CallError::RequestNotFound(key))?;
        match entry.kind {
            _ if entry.held => Err(self.wrong_state(key, call)),
            EntryKind::WsOpen { .. } => Ok(entry.kind),
            EntryKind::WsOpening { .. } if opening_ok || call == "websocket_close" => {
                Ok(entry.kind)
            }
            _ => Err(self.wrong_state(key, call)),
        }
    }

    fn wrong_state(&self, key: RequestKey, call: &'static str) -> CallError {
        match self.tunnel.entries.get(&key) {
            Some(entry) => CallError::WrongRequestState {
                key,
                state: entry.kind.name(),
                call,
            },
            None => CallError::RequestNotFound(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_that_may_be_sent() {
        for ok in [1000, 1001, 1003, 1007, 1008, 1011, 1014, 3000, 4999] {
            assert!(valid_close_code(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(!valid_close_code(bad), "{bad}");
        }
    }
}
