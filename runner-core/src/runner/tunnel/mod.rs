//! The tunnel: HTTP requests and WebSockets between the gateway and actors.
//!
//! Every request or socket is an [`Entry`] keyed by its [`RequestKey`], owned
//! by one actor generation, which lists its keys so that stopping it touches
//! only its own entries. Routing a gateway message is one hash lookup of an
//! 8-byte key — no scan over actors or requests.
//!
//! While the owning actor is still starting, gateway messages wait in that
//! actor's inbox (bounded) and are delivered in arrival order once the start
//! succeeds; if it fails or times out they are refused at once (HTTP
//! aborted, sockets closed, listed hibernated sockets left to the gateway).
//! A gateway abort or close of a request still waiting ends it at once.
//! While disconnected, outbound tunnel messages wait in a bounded buffer,
//! sent after the next init (dropped if the runner id changed: they belong
//! to requests of the old runner). A user call the buffer cannot take is
//! refused and changes nothing (the request stays open, no index is used),
//! except an HTTP answer (`respond`, `abort_request`): a request is never
//! left open for want of room, it is aborted instead; a runner-decided
//! abort or close the buffer cannot take is dropped and counted
//! ([`Runner::dropped_tunnel_messages`]).
//!
//! This file routes and ends entries. The table itself is in `table`, an
//! actor's side of the tunnel (its keys and inbox) in `actor_tunnel`, the
//! outbound buffer in `outbound`,
//! and the user's calls in `http`, `websocket` and `hibernation`.
//!
//! Indices: every runner → gateway message of a request takes the next
//! index, only once it is sent or buffered, so they stay consecutive (with
//! `u16` wrap-around) whatever is refused.

pub(super) mod actor_tunnel;
mod hibernation;
mod http;
mod outbound;
pub(super) mod reasons;
mod table;
mod websocket;

use tracing::{debug, warn};

use super::Runner;
use super::actor_table::Phase;
use crate::error::CallError;
use crate::ids::{ActorRef, RequestKey};
use crate::output::Event;
use crate::protocol::{
    MessageId, MessageIndex, ToClientTunnelMessage, ToClientTunnelMessageKind, ToServer,
    ToServerTunnelMessage, ToServerTunnelMessageKind, ToServerWebSocketClose,
};

use actor_tunnel::{ActorTunnel, payload_len};
use table::{Entry, EntryKind};

pub(super) use table::Tunnel;

/// Gauges read from the tunnel's entries for a metrics snapshot.
#[derive(Debug, Default)]
pub(super) struct TunnelGauges {
    pub(super) http_open: usize,
    pub(super) websockets_open: usize,
    pub(super) websockets_hibernatable: usize,
}

/// Outcome of [`Runner::admission`].
enum Admission {
    /// Take it for `owner`; `held` while the owner is starting.
    Accept { owner: ActorRef, held: bool },
    /// No actor can take it.
    NoActor,
    /// The actor has too many open requests.
    TooMany,
}

/// Why an entry ends without the user having answered it.
#[derive(Debug, Clone, Copy)]
enum EndCause {
    /// Its actor stopped.
    ActorStopped,
    /// The runner cannot serve it (limits, no actor).
    Refused(&'static str),
    /// The connection it belonged to is gone for good (new runner id, shutdown).
    ConnectionGone,
}

/// Whether a gateway message ends its request.
fn ends_request(kind: &ToClientTunnelMessageKind) -> bool {
    matches!(
        kind,
        ToClientTunnelMessageKind::RequestAbort | ToClientTunnelMessageKind::WebSocketClose(_)
    )
}

/// Truncates a close reason to the 123 bytes a close frame can carry, at a
/// character boundary.
pub(super) fn close_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

impl Runner {
    /// Routes one gateway message.
    pub(super) fn on_tunnel_message(&mut self, msg: ToClientTunnelMessage) {
        let key = RequestKey::new(msg.message_id.gateway_id, msg.message_id.request_id);
        match &msg.message_kind {
            ToClientTunnelMessageKind::RequestStart(_) => self.admit_request(key, msg),
            ToClientTunnelMessageKind::WebSocketOpen(_) => self.admit_websocket(key, msg),
            _ => match self.tunnel.entries.get(&key) {
                None => debug!(%key, "tunnel message for no known request"),
                Some(entry) if entry.held && ends_request(&msg.message_kind) => {
                    self.end_held_by_gateway(key, msg.message_kind)
                }
                Some(entry) if entry.held => self.hold(key, msg),
                Some(_) => self.deliver(key, msg),
            },
        }
    }

    /// The gateway ended a request still held for its starting actor: it is
    /// over now (nothing waits in the inbox for it any more); the user hears
    /// of it only if they knew of it (a restored socket).
    fn end_held_by_gateway(&mut self, key: RequestKey, kind: ToClientTunnelMessageKind) {
        let Some(entry) = self.remove_entry(key) else {
            return;
        };
        self.purge_inbox(&entry.owner, key);
        if let (true, ToClientTunnelMessageKind::WebSocketClose(close)) =
            (entry.known_to_user(), kind)
        {
            self.events.push_back(Event::WebSocketClosed {
                key,
                code: close.code,
                reason: close.reason,
            });
        }
    }

    /// Drops what waits in `owner`'s inbox for `key`.
    fn purge_inbox(&mut self, owner: &ActorRef, key: RequestKey) {
        let Some(record) = self.record(owner) else {
            return;
        };
        record.tunnel.purge(key);
    }

    /// Hands one message of a known, not held, entry to its handler.
    fn deliver(&mut self, key: RequestKey, msg: ToClientTunnelMessage) {
        let index = msg.message_id.message_index;
        match msg.message_kind {
            ToClientTunnelMessageKind::RequestStart(start) => self.deliver_request(key, start),
            ToClientTunnelMessageKind::RequestChunk(chunk) => self.on_request_chunk(key, chunk),
            ToClientTunnelMessageKind::RequestAbort => self.on_request_abort(key),
            ToClientTunnelMessageKind::WebSocketOpen(open) => self.deliver_websocket(key, open),
            ToClientTunnelMessageKind::WebSocketMessage(m) => {
                self.on_websocket_message(key, index, m)
            }
            ToClientTunnelMessageKind::WebSocketClose(c) => self.on_websocket_close(key, c),
        }
    }

    /// Queues a message for an actor that is still starting. Past the inbox
    /// bounds the request is given up (aborted or closed) rather than grown.
    fn hold(&mut self, key: RequestKey, msg: ToClientTunnelMessage) {
        let Some(owner) = self.tunnel.entries.get(&key).map(|e| e.owner.clone()) else {
            return;
        };
        let limits = (
            self.config.limits.max_inbox_messages,
            self.config.limits.max_inbox_bytes,
        );
        let len = payload_len(&msg.message_kind);
        let hasher = self.tunnel.hasher.clone();
        let Some(record) = self.record(&owner) else {
            return;
        };
        let (count, bytes) = record.tunnel.inbox_size();
        if count >= limits.0 || bytes + len > limits.1 {
            warn!(%key, actor = ?owner, "inbox of a starting actor is full; giving the request up");
            self.purge_inbox(&owner, key);
            return self.give_up(key, reasons::TOO_MANY_REQUESTS);
        }
        record.tunnel.hold(msg, len, &hasher);
    }

    /// Whether a new request or socket for `actor_id` can be taken, and by
    /// which generation. Requests for actors that are unknown, stopping or
    /// superseded are answered at once rather than left to hang.
    fn admission(&mut self, actor_id: &str) -> Admission {
        let limit = self.config.limits.max_requests_per_actor;
        let Some(slot) = self.actors.get(actor_id) else {
            return Admission::NoActor;
        };
        let record = &slot.current;
        if record.orphaned {
            return Admission::NoActor;
        }
        let held = match record.phase {
            Phase::Starting { .. } => true,
            Phase::Running => false,
            Phase::Stopping { .. } => return Admission::NoActor,
        };
        if record.tunnel.request_count() >= limit {
            return Admission::TooMany;
        }
        Admission::Accept {
            owner: record.actor.clone(),
            held,
        }
    }

    /// Registers a new entry for `owner`.
    fn insert_entry(&mut self, key: RequestKey, owner: ActorRef, held: bool, kind: EntryKind) {
        let hasher = self.tunnel.hasher.clone();
        if let Some(record) = self.record(&owner) {
            record.tunnel.add_request(key, &hasher);
        }
        self.tunnel.entries.insert(
            key,
            Entry {
                owner,
                next_out: 0,
                held,
                kind,
            },
        );
    }

    /// Removes an entry and its listing in the owner. The last one of a
    /// draining owner lets it be reported stopped when the input ends.
    fn remove_entry(&mut self, key: RequestKey) -> Option<Entry> {
        let entry = self.tunnel.entries.remove(&key)?;
        if let Some(record) = self.record(&entry.owner) {
            record.tunnel.remove_request(key);
            let draining = matches!(record.phase, Phase::Stopping { draining: true, .. });
            if draining && record.tunnel.request_count() == 0 {
                self.drained.push(entry.owner.clone());
            }
        }
        Some(entry)
    }

    /// Ends a request the runner cannot serve: HTTP is aborted (the gateway
    /// retries it), a socket closed with 1011 and `reason`.
    fn give_up(&mut self, key: RequestKey, reason: &'static str) {
        let Some(entry) = self.remove_entry(key) else {
            return;
        };
        self.end_entry(key, entry, EndCause::Refused(reason));
    }

    /// Tells the gateway and the user (if they were told about the entry)
    /// that it is over, each as `cause` requires.
    fn end_entry(&mut self, key: RequestKey, entry: Entry, cause: EndCause) {
        let known_to_user = entry.known_to_user();
        let notify_gateway = !matches!(cause, EndCause::ConnectionGone);
        match (entry.kind, cause) {
            (EntryKind::Http { .. }, _) => {
                if notify_gateway {
                    self.send_tunnel_system(
                        key,
                        entry.next_out,
                        ToServerTunnelMessageKind::ResponseAbort,
                    );
                }
                if known_to_user {
                    self.events.push_back(Event::HttpRequestAborted { key });
                }
            }
            // Still hibernated at the gateway: the next start lists it again.
            (EntryKind::WsHibernating, EndCause::ActorStopped | EndCause::ConnectionGone) => {}
            (EntryKind::WsHibernating, EndCause::Refused(reason)) => {
                self.send_close(key, entry.next_out, 1011, reason);
            }
            // The gateway keeps a hibernatable client connection while the
            // actor is away; the user keeps what they persisted.
            (
                EntryKind::WsOpen {
                    hibernatable: true, ..
                },
                EndCause::ActorStopped | EndCause::ConnectionGone,
            ) => {
                self.events.push_back(Event::WebSocketHibernated { key });
            }
            (EntryKind::WsOpening { .. } | EntryKind::WsOpen { .. }, cause) => {
                let (code, reason) = match (entry.kind, cause) {
                    (_, EndCause::Refused(reason)) => (1011, reason),
                    (_, EndCause::ConnectionGone) => (1001, reasons::SHUTDOWN),
                    (EntryKind::WsOpening { .. }, EndCause::ActorStopped) => {
                        (1011, reasons::ACTOR_STOPPED)
                    }
                    (_, EndCause::ActorStopped) => (1000, reasons::ACTOR_STOPPED),
                };
                if notify_gateway {
                    self.send_close(key, entry.next_out, code, reason);
                }
                if known_to_user {
                    let reason = Some(reason.to_owned());
                    self.events.push_back(Event::WebSocketClosed {
                        key,
                        code: Some(code),
                        reason,
                    });
                }
            }
        }
    }

    fn send_close(&mut self, key: RequestKey, index: MessageIndex, code: u16, reason: &str) {
        let close = ToServerWebSocketClose {
            code: Some(code),
            reason: Some(close_reason(reason)),
            hibernate: false,
        };
        self.send_tunnel_system(key, index, ToServerTunnelMessageKind::WebSocketClose(close));
    }

    /// Whether `kind` can go out now: sent while connected, else buffered
    /// if the buffer has room.
    fn room_for(&self, kind: &ToServerTunnelMessageKind) -> Result<(), CallError> {
        let limits = &self.config.limits;
        let outbound = &self.tunnel.outbound;
        if self.is_ready() || outbound.has_room(kind, limits) {
            return Ok(());
        }
        Err(CallError::TunnelBufferFull {
            messages: outbound.len(),
            bytes: outbound.bytes(),
        })
    }

    /// Sends (or, while disconnected, buffers) a message the user asked for.
    /// A refusal (buffer full) changes nothing.
    fn send_tunnel(
        &mut self,
        key: RequestKey,
        index: MessageIndex,
        kind: ToServerTunnelMessageKind,
    ) -> Result<(), CallError> {
        self.room_for(&kind)?;
        match &kind {
            ToServerTunnelMessageKind::ResponseStart(start) => {
                self.counters.http_response(start.status);
            }
            ToServerTunnelMessageKind::ResponseAbort => self.counters.http_outcomes.aborted += 1,
            _ => {}
        }
        let message_id = MessageId {
            gateway_id: key.gateway_id,
            request_id: key.request_id,
            message_index: index,
        };
        let msg = ToServerTunnelMessage {
            message_id,
            message_kind: kind,
        };
        if self.is_ready() {
            self.send(&ToServer::TunnelMessage(msg));
            return Ok(());
        }
        self.tunnel.outbound.push(msg);
        Ok(())
    }

    /// Sends the next message of a live entry; its index is taken only if
    /// the message goes out (or into the buffer), so indices stay
    /// consecutive whatever is refused.
    fn send_on_entry(
        &mut self,
        key: RequestKey,
        kind: ToServerTunnelMessageKind,
    ) -> Result<(), CallError> {
        // Checked first, so that the index is taken (in one lookup) only
        // when the message surely goes out.
        self.room_for(&kind)?;
        let entry = self
            .tunnel
            .entries
            .get_mut(&key)
            .ok_or(CallError::RequestNotFound(key))?;
        let index = entry.next_out;
        entry.next_out = index.wrapping_add(1);
        self.send_tunnel(key, index, kind)
    }

    /// Ends an entry with a final message from the user: refused (and the
    /// entry kept) if the message cannot go out.
    fn finish_entry(
        &mut self,
        key: RequestKey,
        kind: ToServerTunnelMessageKind,
    ) -> Result<(), CallError> {
        self.room_for(&kind)?;
        let entry = self
            .remove_entry(key)
            .ok_or(CallError::RequestNotFound(key))?;
        self.send_tunnel(key, entry.next_out, kind)
    }

    /// Like `send_tunnel`, for messages the runner itself decided on.
    fn send_tunnel_system(
        &mut self,
        key: RequestKey,
        index: MessageIndex,
        kind: ToServerTunnelMessageKind,
    ) {
        if let Err(e) = self.send_tunnel(key, index, kind) {
            self.tunnel.outbound.count_dropped();
            warn!(%key, error = %e, "runner tunnel message dropped");
        }
    }

    /// Like `send_on_entry`, for messages the runner itself decided on.
    fn send_on_entry_system(&mut self, key: RequestKey, kind: ToServerTunnelMessageKind) {
        if let Err(e) = self.send_on_entry(key, kind) {
            self.tunnel.outbound.count_dropped();
            warn!(%key, error = %e, "runner tunnel message dropped");
        }
    }

    /// A start failed or timed out: the requests held for it are refused
    /// now rather than when its stop completes.
    pub(super) fn end_held_requests(&mut self, actor: &ActorRef) {
        let Some(record) = self.record(actor) else {
            return;
        };
        record.tunnel.take_inbox();
        for key in record.tunnel.request_keys() {
            if self.tunnel.entries.get(&key).is_some_and(|e| e.held) {
                if let Some(entry) = self.remove_entry(key) {
                    self.end_entry(key, entry, EndCause::ActorStopped);
                }
            }
        }
    }

    /// The owner's stop callback returned: its sockets end now — a
    /// hibernatable one is handed back to the gateway (it outlives the
    /// actor), a plain one closed 1000 `actor.stopped` — leaving the HTTP
    /// requests its stop waits for.
    pub(super) fn end_sockets_of_stopped(&mut self, actor: &ActorRef) {
        let Some(record) = self.record(actor) else {
            return;
        };
        for key in record.tunnel.request_keys() {
            let is_socket = self
                .tunnel
                .entries
                .get(&key)
                .is_some_and(|e| !matches!(e.kind, EntryKind::Http { .. }));
            if is_socket {
                if let Some(entry) = self.remove_entry(key) {
                    self.end_entry(key, entry, EndCause::ActorStopped);
                }
            }
        }
    }

    /// After an init: what was buffered while disconnected, in order.
    pub(super) fn resend_tunnel(&mut self) {
        for msg in self.tunnel.outbound.take() {
            self.send(&ToServer::TunnelMessage(msg));
        }
    }

    /// The owner's start succeeded: release what waited in its inbox.
    pub(super) fn release_inbox(&mut self, actor: &ActorRef) {
        self.close_unrestored(actor);
        let Some(record) = self.record(actor) else {
            return;
        };
        let inbox = record.tunnel.take_inbox();
        for key in record.tunnel.request_keys() {
            if let Some(entry) = self.tunnel.entries.get_mut(&key) {
                entry.held = false;
            }
        }
        for msg in inbox {
            let key = RequestKey::new(msg.message_id.gateway_id, msg.message_id.request_id);
            if self.tunnel.entries.contains_key(&key) {
                self.deliver(key, msg);
            }
        }
    }

    /// The owner is gone: end every request and socket it had.
    pub(super) fn end_actor_requests(&mut self, tunnel: ActorTunnel) {
        for key in tunnel.request_keys() {
            if let Some(entry) = self.tunnel.entries.remove(&key) {
                self.end_entry(key, entry, EndCause::ActorStopped);
            }
        }
    }

    /// The runner id changed or the runner shut down: every request belongs
    /// to a connection that is gone. The user is told; the gateway is not.
    pub(super) fn drop_all_requests(&mut self) {
        self.tunnel.outbound.clear();
        let mut keys: Vec<RequestKey> = self.tunnel.entries.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            if let Some(entry) = self.remove_entry(key) {
                self.end_entry(key, entry, EndCause::ConnectionGone);
            }
        }
    }

    /// Number of open requests and sockets (all actors).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, HttpResponse, Timestamp};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # assert_eq!(runner.open_request_count(), 0);
    /// # let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/ping"))?;
    /// # testing::drain(&mut runner);
    /// assert_eq!(runner.open_request_count(), 1);
    /// runner.respond(Timestamp::ZERO, key, HttpResponse::new(204))?;
    /// assert_eq!(runner.open_request_count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_request_count(&self) -> usize {
        self.tunnel.len()
    }

    /// Counts the open entries by kind: one pass, for a metrics snapshot
    /// (never per message).
    pub(super) fn tunnel_gauges(&self) -> TunnelGauges {
        let mut gauges = TunnelGauges::default();
        for entry in self.tunnel.entries.values() {
            match entry.kind {
                EntryKind::Http { .. } => gauges.http_open += 1,
                EntryKind::WsOpening { .. } => {}
                EntryKind::WsOpen { hibernatable, .. } => {
                    gauges.websockets_open += 1;
                    gauges.websockets_hibernatable += usize::from(hibernatable);
                }
                EntryKind::WsHibernating => gauges.websockets_hibernatable += 1,
            }
        }
        gauges
    }

    /// Whether the request or socket `key` is still open: held for its
    /// starting actor, waiting for the user's answer, or open.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, Timestamp};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/ping"))?;
    /// # testing::drain(&mut runner);
    /// assert!(runner.request_is_open(key));
    /// // The client goes away: the gateway aborts the request.
    /// let message_id = MessageId { gateway_id: key.gateway_id, request_id: key.request_id, message_index: 1 };
    /// let message_kind = ToClientTunnelMessageKind::RequestAbort;
    /// let abort = ToClient::TunnelMessage(ToClientTunnelMessage { message_id, message_kind });
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &abort)?);
    /// assert_eq!(runner.poll_event(), Some(Event::HttpRequestAborted { key }));
    /// assert!(!runner.request_is_open(key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn request_is_open(&self, key: RequestKey) -> bool {
        self.tunnel.entries.contains_key(&key)
    }

    /// Number of tunnel messages waiting for a connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, HttpResponse, Timestamp, Transmit, TransportClose};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let metadata = ProtocolMetadata { runner_lost_threshold: 15_000, actor_stop_threshold: None, serverless_drain_grace_period: None };
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/ping"))?;
    /// # testing::drain(&mut runner);
    /// runner.handle_closed(Timestamp::ZERO, conn, TransportClose::error("connection reset"));
    /// runner.respond(Timestamp::ZERO, key, HttpResponse::new(200))?;
    /// assert_eq!(runner.buffered_tunnel_messages(), 1);
    /// // Reconnected: the response goes out after the engine's init.
    /// runner.handle_timeout(runner.poll_timeout().unwrap());
    /// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
    /// runner.handle_connected(Timestamp::ZERO, conn);
    /// let init = ToClient::Init(ToClientInit { runner_id: "R".into(), metadata });
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &init)?);
    /// assert_eq!(runner.buffered_tunnel_messages(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffered_tunnel_messages(&self) -> usize {
        self.tunnel.buffered()
    }

    /// Aborts and closes (the runner's own, or standing in for an answer the
    /// buffer could not take) dropped because the outbound buffer was full
    /// while disconnected (the gateway times those requests out instead).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Config, Timestamp, TransportClose};
    /// # let (mut runner, conn) = testing::connected({ let mut c = Config::new("http://h:1", "r", "k"); c.limits.max_buffered_messages = 1; c })?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// # for id in [1, 2] { testing::http_request(&mut runner, conn, id, testing::get("A", "/"))?; }
    /// # testing::drain(&mut runner);
    /// // Two requests are open and the outbound buffer holds one message
    /// // (`limits.max_buffered_messages = 1`). The connection drops...
    /// runner.handle_closed(Timestamp::ZERO, conn, TransportClose::error("connection reset"));
    /// // ...and the actor stops. It waits for its requests (they can still
    /// // be answered after a reconnect) until the stop timeout, when the
    /// // runner aborts both of them.
    /// runner.crash_actor(Timestamp::ZERO, &actor, "boom")?;
    /// runner.actor_stopped(Timestamp::ZERO, &actor)?;
    /// assert_eq!(runner.dropped_tunnel_messages(), 0);
    /// runner.handle_timeout(Timestamp::ZERO + runner.config().timeouts.actor_stop);
    /// assert_eq!(runner.buffered_tunnel_messages(), 1);
    /// assert_eq!(runner.dropped_tunnel_messages(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dropped_tunnel_messages(&self) -> u64 {
        self.tunnel.outbound.dropped()
    }
}
