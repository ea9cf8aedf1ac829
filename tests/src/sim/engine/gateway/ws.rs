//! Tunnelled WebSockets at the gateway: open, messages both ways, close
//! both ways, and hibernation (spec §6.5).

use std::collections::VecDeque;

use runner_core::protocol::{
    BareMap, Id, ToClientTunnelMessageKind, ToClientWebSocketClose, ToClientWebSocketOpen,
    ToServerTunnelMessageKind, ToServerWebSocketClose, WebSocketMessage,
};
use runner_core::{RequestKey, Timestamp, tunnel_index_after};

use super::{ClientId, Dispatch, FlightKind, SimEngine};
use crate::sim::engine::ActorPhase;

/// A client's WebSocket, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketState {
    /// Waiting for the runner's `ToServerWebSocketOpen`.
    Connecting,
    /// Open.
    Open {
        /// The runner allowed hibernation.
        can_hibernate: bool,
    },
    /// Open on the client side while the actor is away.
    Hibernating,
    /// Closed with this code and reason.
    Closed {
        /// Close code.
        code: Option<u16>,
        /// Close reason.
        reason: Option<String>,
    },
}

/// One client WebSocket.
#[derive(Debug, Clone)]
pub struct ClientSocket {
    /// The actor.
    pub actor: Id,
    /// Path of the upgrade.
    pub path: String,
    /// Request id, once sent to the runner.
    pub key: Option<RequestKey>,
    /// Where it stands.
    pub state: SocketState,
    /// Messages from the actor, in order.
    pub received: Vec<WebSocketMessage>,
    /// Messages sent before the open completed, sent once it does.
    outbox: Vec<WebSocketMessage>,
    pub(super) waiting_since: Timestamp,
}

impl ClientSocket {
    /// Whether the client side is open (or hibernating).
    pub fn is_open(&self) -> bool {
        matches!(
            self.state,
            SocketState::Open { .. } | SocketState::Hibernating
        )
    }

    /// Code and reason, once closed.
    pub fn closed(&self) -> Option<(Option<u16>, Option<&str>)> {
        match &self.state {
            SocketState::Closed { code, reason } => Some((*code, reason.as_deref())),
            _ => None,
        }
    }

    pub(super) fn close_if_live(&mut self, code: Option<u16>, reason: Option<String>) {
        if !matches!(self.state, SocketState::Closed { .. }) {
            self.state = SocketState::Closed { code, reason };
        }
    }
}

/// Gateway side of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WsPhase {
    Opening,
    Open,
    Hibernating,
    Closed,
}

/// A gateway → runner message kept until acknowledged.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) index: u16,
    at: Timestamp,
    message: WebSocketMessage,
}

#[derive(Debug)]
pub(super) struct WsFlight {
    pub(super) phase: WsPhase,
    can_hibernate: bool,
    pub(super) pending: VecDeque<Pending>,
    pub(super) open_deadline: Timestamp,
}

impl WsFlight {
    /// Opening or open with the actor awake.
    pub(super) fn is_live(&self) -> bool {
        matches!(self.phase, WsPhase::Opening | WsPhase::Open)
    }
}

impl SimEngine {
    /// A client opens a WebSocket to `actor`.
    pub fn ws_open(
        &mut self,
        now: Timestamp,
        actor: &str,
        path: &str,
        dispatch: Dispatch,
    ) -> ClientId {
        self.advance(now);
        let id = self.gateway.client_id();
        let socket = ClientSocket {
            actor: actor.into(),
            path: path.to_owned(),
            key: None,
            state: SocketState::Connecting,
            received: Vec::new(),
            outbox: Vec::new(),
            waiting_since: self.now,
        };
        self.gateway.sockets.insert(id, socket);
        match dispatch {
            Dispatch::Now => match self.connected_runner() {
                Some(runner) => self.open_socket(id, runner),
                None => self.close_client(id, Some(1011), "guard.no_runner"),
            },
            Dispatch::WhenReady => {
                self.gateway.waiting.insert(id);
                self.pump_socket(id, self.now);
            }
        }
        id
    }

    /// The client sends a message (kept for replay on hibernatable sockets).
    pub fn ws_send(&mut self, now: Timestamp, client: ClientId, message: WebSocketMessage) {
        self.advance(now);
        let Some(socket) = self.gateway.sockets.get_mut(&client) else {
            return;
        };
        match (&socket.state, socket.key) {
            (SocketState::Connecting, _) => socket.outbox.push(message),
            (SocketState::Open { .. } | SocketState::Hibernating, Some(key)) => {
                self.ws_message_out(key, message);
            }
            _ => {}
        }
    }

    /// The client closes its socket.
    pub fn ws_close(
        &mut self,
        now: Timestamp,
        client: ClientId,
        code: Option<u16>,
        reason: Option<&str>,
    ) {
        self.advance(now);
        self.gateway.waiting.remove(&client);
        let Some(socket) = self.gateway.sockets.get_mut(&client) else {
            return;
        };
        socket.close_if_live(code, reason.map(str::to_owned));
        let Some(key) = socket.key else {
            return;
        };
        match self.ws_phase(key) {
            Some(WsPhase::Opening | WsPhase::Open) => {
                let close = ToClientWebSocketClose {
                    code,
                    reason: reason.map(str::to_owned),
                };
                self.send_on_flight(key, ToClientTunnelMessageKind::WebSocketClose(close));
                self.end_ws(key);
            }
            Some(WsPhase::Hibernating) => {
                self.end_ws(key);
                self.gateway.registry.retain(|(_, k), _| *k != key);
            }
            _ => {}
        }
    }

    /// The gateway sends the open of a live (opening or open) socket again
    /// (a retransmit), with index 0 if `reset_index`, else the next index.
    pub fn ws_reopen(&mut self, now: Timestamp, client: ClientId, reset_index: bool) {
        self.advance(now);
        let Some(socket) = self.gateway.sockets.get(&client) else {
            return;
        };
        let (Some(key), actor, path) = (socket.key, socket.actor.clone(), socket.path.clone())
        else {
            return;
        };
        if !self.ws(key).is_some_and(|w| w.is_live()) {
            return;
        }
        if reset_index {
            if let Some(flight) = self.gateway.flights.get_mut(&key) {
                flight.next_index = 0;
            }
        }
        self.send_on_flight(key, open_message(actor, path));
    }

    pub(super) fn pump_socket(&mut self, client: ClientId, _now: Timestamp) {
        let Some(s) = self.gateway.sockets.get(&client) else {
            return;
        };
        let (actor, since) = (s.actor.clone(), s.waiting_since);
        let fail = |e: &mut Self, why: &'static str| e.close_client(client, Some(1011), why);
        if let Some(runner) = self.ready_or_wait(&actor, since, fail) {
            self.gateway.waiting.remove(&client);
            self.open_socket(client, runner);
        }
    }

    fn open_socket(&mut self, client: ClientId, runner: Id) {
        let Some(s) = self.gateway.sockets.get(&client) else {
            return;
        };
        let (actor, path) = (s.actor.clone(), s.path.clone());
        let flight = WsFlight {
            phase: WsPhase::Opening,
            can_hibernate: false,
            pending: VecDeque::new(),
            open_deadline: self.now + self.config.gateway.ws_open_timeout,
        };
        let key = self.new_flight(client, &actor, runner, FlightKind::Ws(flight));
        if let Some(s) = self.gateway.sockets.get_mut(&client) {
            s.key = Some(key);
        }
        self.send_on_flight(key, open_message(actor, path));
    }

    fn close_client(&mut self, client: ClientId, code: Option<u16>, why: &str) {
        self.gateway.waiting.remove(&client);
        if let Some(s) = self.gateway.sockets.get_mut(&client) {
            s.close_if_live(code, Some(why.to_owned()));
        }
    }

    fn ws(&mut self, key: RequestKey) -> Option<&mut WsFlight> {
        match self.gateway.flights.get_mut(&key).map(|f| &mut f.kind) {
            Some(FlightKind::Ws(ws)) => Some(ws),
            _ => None,
        }
    }

    fn ws_phase(&self, key: RequestKey) -> Option<WsPhase> {
        match self.gateway.flights.get(&key).map(|f| &f.kind) {
            Some(FlightKind::Ws(ws)) => Some(ws.phase),
            _ => None,
        }
    }

    fn client_of(&mut self, key: RequestKey) -> Option<&mut ClientSocket> {
        let client = self.gateway.flights.get(&key)?.client;
        self.gateway.sockets.get_mut(&client)
    }

    /// The gateway side is over; a hibernatable socket's listing ages out.
    fn end_ws(&mut self, key: RequestKey) {
        let now = self.now;
        if let Some(ws) = self.ws(key) {
            ws.phase = WsPhase::Closed;
            ws.pending.clear();
        }
        for ((_, k), closed) in self.gateway.registry.iter_mut() {
            if *k == key {
                closed.get_or_insert(now);
            }
        }
    }

    /// Sends (or, hibernating, keeps) one client message, with the next index.
    fn ws_message_out(&mut self, key: RequestKey, message: WebSocketMessage) {
        let now = self.now;
        let Some(flight) = self.gateway.flights.get_mut(&key) else {
            return;
        };
        let index = flight.next_index;
        flight.next_index = index.wrapping_add(1);
        let (runner, actor) = (flight.runner.clone(), flight.actor.clone());
        let FlightKind::Ws(ws) = &mut flight.kind else {
            return;
        };
        if ws.can_hibernate {
            let pending = Pending {
                index,
                at: now,
                message: message.clone(),
            };
            ws.pending.push_back(pending);
            self.gateway
                .next_gc
                .get_or_insert(now + self.config.gateway.hws_gc_interval);
        }
        match ws.phase {
            WsPhase::Open => {
                let kind = ToClientTunnelMessageKind::WebSocketMessage(message);
                self.send_tunnel(&runner, key, index, kind);
            }
            WsPhase::Hibernating => self.wake_for_socket(&actor),
            _ => {}
        }
    }

    /// A client message for a hibernating socket wakes its actor.
    fn wake_for_socket(&mut self, actor: &Id) {
        let asleep = self
            .actors
            .get(actor)
            .is_some_and(|a| matches!(a.phase, ActorPhase::Sleeping | ActorPhase::Lost));
        if asleep && self.can_allocate() {
            let now = self.now;
            self.wake_actor(now, actor);
        }
    }

    /// A runner message for a socket.
    pub(super) fn on_ws_reply(&mut self, key: RequestKey, kind: ToServerTunnelMessageKind) {
        match kind {
            ToServerTunnelMessageKind::WebSocketOpen(open) => {
                self.on_ws_open(key, open.can_hibernate)
            }
            ToServerTunnelMessageKind::WebSocketMessage(m) => {
                let open = self.ws_phase(key) == Some(WsPhase::Open);
                match self.client_of(key) {
                    Some(client) if open => client.received.push(m),
                    _ => self.gateway.log.ignored += 1,
                }
            }
            ToServerTunnelMessageKind::WebSocketMessageAck(ack) => {
                // Like the engine (2.3.19), an ack for a socket that is not
                // resumed yet is dropped ("message handler channel closed"):
                // a restore's ack, sent during the start, never lands.
                if self.ws_phase(key) != Some(WsPhase::Open) {
                    return self.gateway.log.ignored += 1;
                }
                // Pending messages are in index order: the acknowledged
                // ones (index ≤ ack, wrapping) are a prefix.
                if let Some(ws) = self.ws(key) {
                    while ws
                        .pending
                        .front()
                        .is_some_and(|p| !tunnel_index_after(p.index, ack.index))
                    {
                        ws.pending.pop_front();
                    }
                }
            }
            ToServerTunnelMessageKind::WebSocketClose(close) => self.on_ws_close(key, close),
            _ => self.gateway.log.ignored += 1,
        }
    }

    fn on_ws_open(&mut self, key: RequestKey, can_hibernate: bool) {
        match self.ws_phase(key) {
            Some(WsPhase::Opening) => {}
            Some(WsPhase::Open) => return self.gateway.log.repeated_opens += 1,
            _ => return self.gateway.log.ignored += 1,
        }
        if let Some(ws) = self.ws(key) {
            ws.phase = WsPhase::Open;
            ws.can_hibernate = can_hibernate;
        }
        let Some(flight) = self.gateway.flights.get(&key) else {
            return;
        };
        if can_hibernate {
            let entry = (flight.actor.clone(), key);
            self.gateway.registry.insert(entry, None);
        }
        let outbox = match self.client_of(key) {
            Some(client) => {
                client.state = SocketState::Open { can_hibernate };
                std::mem::take(&mut client.outbox)
            }
            None => Vec::new(),
        };
        for message in outbox {
            self.ws_message_out(key, message);
        }
    }

    fn on_ws_close(&mut self, key: RequestKey, close: ToServerWebSocketClose) {
        let phase = self.ws_phase(key);
        let can_hibernate = self.ws(key).is_some_and(|w| w.can_hibernate);
        match phase {
            Some(WsPhase::Open) if close.hibernate && can_hibernate => {
                if let Some(ws) = self.ws(key) {
                    ws.phase = WsPhase::Hibernating;
                }
            }
            Some(WsPhase::Opening) => {
                if let Some(c) = self.client_of(key) {
                    c.close_if_live(close.code, close.reason);
                }
                self.end_ws(key);
            }
            Some(WsPhase::Open | WsPhase::Hibernating) => {
                let code = close.code.or(Some(1000));
                let reason = close.reason.clone().or_else(|| Some("ws.closed".into()));
                if let Some(c) = self.client_of(key) {
                    c.close_if_live(code, reason);
                }
                // The gateway's handler ends by telling the runner, even
                // after a close the runner started (spec §6.4).
                let echo = ToClientWebSocketClose {
                    code: close.code,
                    reason: close.reason,
                };
                self.send_on_flight(key, ToClientTunnelMessageKind::WebSocketClose(echo));
                self.end_ws(key);
            }
            _ => self.gateway.log.ignored += 1,
        }
    }

    /// The socket's actor stopped: hibernatable sockets hibernate, others close.
    pub(super) fn ws_actor_gone(&mut self, key: RequestKey) {
        let can_hibernate = self.ws(key).is_some_and(|w| w.can_hibernate);
        let (code, reason) = match self.ws_phase(key) {
            Some(WsPhase::Open) if can_hibernate => {
                if let Some(ws) = self.ws(key) {
                    ws.phase = WsPhase::Hibernating;
                }
                if let Some(c) = self.client_of(key) {
                    c.state = SocketState::Hibernating;
                }
                return;
            }
            Some(WsPhase::Open) => (1000, "actor.stopped"),
            Some(WsPhase::Opening) => (1011, "guard.actor_stopped"),
            _ => return,
        };
        if let Some(c) = self.client_of(key) {
            c.close_if_live(Some(code), Some(reason.into()));
        }
        self.end_ws(key);
    }

    /// The actor runs again: its hibernating sockets resume, replaying every
    /// unacknowledged message with its original index.
    pub(super) fn resume_sockets(&mut self, actor: &Id) {
        let Some(runner) = self.actors.get(actor).and_then(|a| a.runner_id.clone()) else {
            return;
        };
        let keys: Vec<RequestKey> = self
            .gateway
            .flights
            .iter()
            .filter(|(_, f)| f.actor == *actor)
            .filter(
                |(_, f)| matches!(&f.kind, FlightKind::Ws(w) if w.phase == WsPhase::Hibernating),
            )
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.gateway.log.resumed += 1;
            let Some(flight) = self.gateway.flights.get_mut(&key) else {
                continue;
            };
            flight.runner = runner.clone();
            let FlightKind::Ws(ws) = &mut flight.kind else {
                continue;
            };
            ws.phase = WsPhase::Open;
            let replay: Vec<Pending> = ws.pending.iter().cloned().collect();
            if let Some(c) = self.client_of(key) {
                c.state = SocketState::Open {
                    can_hibernate: true,
                };
            }
            for p in replay {
                let kind = ToClientTunnelMessageKind::WebSocketMessage(p.message);
                self.send_tunnel(&runner, key, p.index, kind);
            }
        }
    }

    /// Open timeouts and the tunnel ping: sockets the runner cannot serve.
    pub(super) fn expire_sockets(&mut self) {
        let now = self.now;
        let ping = self.config.gateway.tunnel_ping_timeout;
        let mut doomed = Vec::new();
        for (key, f) in &self.gateway.flights {
            let FlightKind::Ws(ws) = &f.kind else {
                continue;
            };
            let down = self.gateway.runner_down.get(&f.runner);
            if ws.is_live() && down.is_some_and(|at| *at + ping <= now) {
                doomed.push((*key, false, "guard.websocket_tunnel_ping_timeout"));
            } else if ws.phase == WsPhase::Opening && ws.open_deadline <= now {
                doomed.push((*key, true, "guard.websocket_open_timeout"));
            }
        }
        for (key, tell_runner, why) in doomed {
            self.gateway_closes(key, tell_runner, why);
        }
    }

    /// The gateway ends a socket on its own: the client gets 1011 `why`; the
    /// runner (if `tell_runner`) a close.
    fn gateway_closes(&mut self, key: RequestKey, tell_runner: bool, why: &str) {
        if let Some(c) = self.client_of(key) {
            c.close_if_live(Some(1011), Some(why.to_owned()));
        }
        if tell_runner {
            let close = ToClientWebSocketClose {
                code: Some(1011),
                reason: Some(why.to_owned()),
            };
            self.send_on_flight(key, ToClientTunnelMessageKind::WebSocketClose(close));
        }
        self.end_ws(key);
    }

    pub(super) fn any_pending(&self) -> bool {
        self.gateway
            .flights
            .values()
            .any(|f| matches!(&f.kind, FlightKind::Ws(w) if !w.pending.is_empty()))
    }

    /// The periodic check of unacknowledged messages: a socket whose oldest
    /// one is older than the ack timeout is closed.
    pub(super) fn gc_pending(&mut self) {
        let now = self.now;
        let timeout = self.config.gateway.hws_ack_timeout;
        let stale: Vec<(RequestKey, bool)> = self
            .gateway
            .flights
            .iter()
            .filter_map(|(k, f)| match &f.kind {
                FlightKind::Ws(w) if w.pending.front().is_some_and(|p| p.at + timeout <= now) => {
                    Some((*k, w.phase == WsPhase::Open))
                }
                _ => None,
            })
            .collect();
        for (key, awake) in stale {
            self.gateway_closes(key, awake, "guard.websocket_message_ack_timeout");
        }
        let interval = self.config.gateway.hws_gc_interval;
        self.gateway.next_gc = self.any_pending().then_some(now + interval);
    }
}

fn open_message(actor: Id, path: String) -> ToClientTunnelMessageKind {
    let headers: BareMap<String> = [("sec-websocket-protocol", "rivet".to_owned())]
        .into_iter()
        .collect();
    ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
        actor_id: actor,
        path,
        headers,
    })
}
