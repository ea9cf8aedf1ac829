//! The gateway: clients' HTTP requests and WebSockets, tunnelled to actors
//! over the runner connection (spec §5, §6; engine.md, "measured here").
//!
//! It behaves like the real one where the runner can tell the difference:
//!
//! * gateway → runner indices per request start at 0 and wrap at `u16`
//!   (request start = 0; WebSocket open = 0, messages 1, 2, …);
//! * a request waits until its actor runs (a sleeping actor is woken), then
//!   exactly one `ToServerResponseStart` answers it; `ToServerResponseChunk`
//!   is ignored; `ToServerResponseAbort` (or the actor stopping) makes it
//!   retry with a new request id, up to [`GatewayConfig::http_attempts`];
//! * a hibernatable socket (`canHibernate`) keeps every gateway → runner
//!   message until acknowledged, hibernates while its actor is away (listed in
//!   the next `CommandStartActor.hibernatingRequests`), replays the pending
//!   messages with their original indices when the actor runs again, and is
//!   closed when a message stays unacknowledged for 30 s; what the runner
//!   sends on it before it is resumed (an ack, a message) is dropped;
//! * gateway → runner messages for a runner without a connection are lost
//!   (only the hibernation buffer redelivers, on the next wake); live sockets
//!   of a runner unreachable for 30 s are closed (the tunnel ping);
//! * a runner payload over 20 MiB closes the whole runner connection
//!   (`1011 ws.invalid_packet`), as the engine does.
//!
//! Simplifications, each a choice the real gateway may make differently: a
//! WebSocket closed before its open is not retried (the client sees the
//! runner's code and reason); a streamed request is not retried; a client
//! closing a hibernating socket forgets it at once (the runner then finds
//! the user's persisted copy stale).

mod http;
mod ws;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    BareMap, GatewayId, HibernatingRequest, Id, MessageId, RequestId, ToClient,
    ToClientTunnelMessage, ToClientTunnelMessageKind, ToServerTunnelMessage,
    ToServerTunnelMessageKind, WebSocketMessage,
};
use runner_core::{ConnId, RequestKey, Timestamp};

use super::{ActorPhase, SimEngine};
use crate::sim::rng::SimRng;

pub use http::{ClientHttp, ClientRequest, HttpOutcome};
pub use ws::{ClientSocket, SocketState};

/// The gateway's timeouts and limits. Defaults are the real engine's.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Gateway instances; each request goes through one of them.
    pub gateway_ids: Vec<GatewayId>,
    /// Attempts per HTTP request (the first included) before the client
    /// gets the error.
    pub http_attempts: u32,
    /// Delay before the first retry, doubled for each next one.
    pub retry_backoff: Duration,
    /// Longest wait for `ToServerResponseStart` (HEAD: 300 s).
    pub response_start_timeout: Duration,
    /// Longest wait for `ToServerWebSocketOpen` (15 s).
    pub ws_open_timeout: Duration,
    /// A hibernatable socket's message unacknowledged this long closes it (30 s).
    pub hws_ack_timeout: Duration,
    /// How often unacknowledged messages are checked (15 s).
    pub hws_gc_interval: Duration,
    /// Live sockets of a runner unreachable this long are closed (30 s).
    pub tunnel_ping_timeout: Duration,
    /// A hibernatable socket closed this recently is still listed in the
    /// actor's next start (keepalive entries live 90 s).
    pub hibernation_listing: Duration,
    /// Longest a request waits for its actor to run.
    pub actor_ready_timeout: Duration,
    /// Largest runner payload accepted (20 MiB); more closes the connection.
    pub max_payload: usize,
    /// How long after its actor runs a hibernating socket resumes. The
    /// engine's handler of each socket hears the actor's `Ready`, then
    /// resolves its route again before it takes the runner's messages for
    /// the socket again (~150 ms seen in engine 2.3.19 logs); what the
    /// runner sends on the socket before then is dropped.
    pub resume_delay: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            gateway_ids: vec![GatewayId(*b"gw-a"), GatewayId(*b"gw-b")],
            http_attempts: 5,
            retry_backoff: Duration::from_millis(100),
            response_start_timeout: Duration::from_secs(300),
            ws_open_timeout: Duration::from_secs(15),
            hws_ack_timeout: Duration::from_secs(30),
            hws_gc_interval: Duration::from_secs(15),
            tunnel_ping_timeout: Duration::from_secs(30),
            hibernation_listing: Duration::from_secs(90),
            actor_ready_timeout: Duration::from_secs(60),
            max_payload: 20 * 1024 * 1024,
            resume_delay: Duration::from_millis(150),
        }
    }
}

/// A client of the gateway: one HTTP request (across its retries) or one
/// WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// When the gateway sends a new request or socket to the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Once the actor runs (waking it if it sleeps), like the real gateway.
    WhenReady,
    /// At once, to the runner's current connection, whatever the engine
    /// thinks of the actor (even an unknown id): a request racing a stop or
    /// a destroy. Never retried.
    Now,
}

/// What the gateway noticed, for assertions.
#[derive(Debug, Default, Clone)]
pub struct GatewayLog {
    /// Runner payloads over the limit (each closed the runner connection).
    pub oversize: usize,
    /// Runner messages the gateway dropped (chunks, late or misplaced ones).
    pub ignored: usize,
    /// Runner messages for requests the gateway never sent.
    pub unknown: usize,
    /// Gateway messages lost because the runner had no connection.
    pub lost: usize,
    /// Repeated `ToServerWebSocketOpen` for an open socket.
    pub repeated_opens: usize,
    /// Hibernating sockets resumed (pending messages replayed).
    pub resumed: usize,
}

/// One request id's state at the gateway.
#[derive(Debug)]
struct Flight {
    client: ClientId,
    actor: Id,
    runner: Id,
    /// Index of the next gateway → runner message.
    next_index: u16,
    kind: FlightKind,
}

#[derive(Debug)]
enum FlightKind {
    Http(http::HttpFlight),
    Ws(ws::WsFlight),
}

/// The gateway's state inside [`SimEngine`].
#[derive(Debug)]
pub(super) struct Gateway {
    rng: SimRng,
    next_client: u64,
    used_keys: BTreeSet<RequestKey>,
    http: BTreeMap<ClientId, ClientHttp>,
    sockets: BTreeMap<ClientId, ClientSocket>,
    /// Clients waiting for their actor (or a retry time) to send.
    waiting: BTreeSet<ClientId>,
    flights: BTreeMap<RequestKey, Flight>,
    /// Hibernatable sockets per actor, with the time they closed (if so).
    registry: BTreeMap<(Id, RequestKey), Option<Timestamp>>,
    /// Runners without a ready connection, since when.
    runner_down: BTreeMap<Id, Timestamp>,
    /// Actors running again whose hibernating sockets resume at the time.
    resume_at: BTreeMap<Id, Timestamp>,
    next_gc: Option<Timestamp>,
    log: GatewayLog,
}

impl Gateway {
    pub(super) fn new(rng: SimRng) -> Self {
        Gateway {
            rng,
            next_client: 0,
            used_keys: BTreeSet::new(),
            http: BTreeMap::new(),
            sockets: BTreeMap::new(),
            waiting: BTreeSet::new(),
            flights: BTreeMap::new(),
            registry: BTreeMap::new(),
            runner_down: BTreeMap::new(),
            resume_at: BTreeMap::new(),
            next_gc: None,
            log: GatewayLog::default(),
        }
    }

    fn client_id(&mut self) -> ClientId {
        self.next_client += 1;
        ClientId(self.next_client)
    }

    /// A request id never used before, through one of `ids`.
    fn fresh_key(&mut self, ids: &[GatewayId]) -> RequestKey {
        loop {
            let r = self.rng.next_u64();
            let gateway = ids[(r >> 32) as usize % ids.len().max(1)];
            let request = RequestId((r as u32).to_le_bytes());
            let key = RequestKey::new(gateway, request);
            if self.used_keys.insert(key) {
                return key;
            }
        }
    }
}

/// How far an actor is from taking a request.
enum Readiness {
    /// Running on `runner`, which is connected.
    Ready(Id),
    /// Starting, stopping, or its runner is away: wait.
    Wait,
    /// Asleep (or lost): wake it, then wait.
    Wake,
    /// Gone for good: fail with this reason.
    Gone(&'static str),
}

impl SimEngine {
    // ----- queries -------------------------------------------------------

    /// What the gateway noticed.
    pub fn gateway_log(&self) -> &GatewayLog {
        &self.gateway.log
    }

    /// The HTTP client `id`.
    pub fn http_client(&self, id: ClientId) -> Option<&ClientHttp> {
        self.gateway.http.get(&id)
    }

    /// The WebSocket client `id`.
    pub fn socket_client(&self, id: ClientId) -> Option<&ClientSocket> {
        self.gateway.sockets.get(&id)
    }

    /// Every HTTP client, in id order.
    pub fn http_clients(&self) -> Vec<ClientId> {
        self.gateway.http.keys().copied().collect()
    }

    /// Every WebSocket client, in id order.
    pub fn socket_clients(&self) -> Vec<ClientId> {
        self.gateway.sockets.keys().copied().collect()
    }

    /// Unacknowledged messages the gateway keeps for a hibernatable socket.
    pub fn pending_messages(&self, key: RequestKey) -> Vec<u16> {
        match self.gateway.flights.get(&key).map(|f| &f.kind) {
            Some(FlightKind::Ws(ws)) => ws.pending.iter().map(|p| p.index).collect(),
            _ => Vec::new(),
        }
    }

    // ----- plumbing shared by http.rs and ws.rs ----------------------------

    /// The ready connection of `runner`.
    pub(super) fn conn_of(&self, runner: &Id) -> Option<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.runner_id() == Some(runner))
            .map(|(id, _)| *id)
            .next_back()
    }

    fn readiness(&self, actor: &str) -> Readiness {
        let Some(a) = self.actors.get(actor) else {
            return Readiness::Gone("guard.actor_not_found");
        };
        match (&a.phase, &a.runner_id) {
            (ActorPhase::Running, Some(runner)) if self.conn_of(runner).is_some() => {
                Readiness::Ready(runner.clone())
            }
            (ActorPhase::Sleeping | ActorPhase::Lost, _) => Readiness::Wake,
            (ActorPhase::Stopped(_), _) => Readiness::Gone("guard.actor_destroyed"),
            _ => Readiness::Wait,
        }
    }

    /// Sends one gateway → runner tunnel message; `false` if the runner has
    /// no connection (the message is lost, as on the real engine).
    fn send_tunnel(
        &mut self,
        runner: &Id,
        key: RequestKey,
        index: u16,
        kind: ToClientTunnelMessageKind,
    ) -> bool {
        let Some(conn) = self.conn_of(runner) else {
            self.gateway.log.lost += 1;
            return false;
        };
        let message_id = MessageId {
            gateway_id: key.gateway_id,
            request_id: key.request_id,
            message_index: index,
        };
        let msg = ToClientTunnelMessage {
            message_id,
            message_kind: kind,
        };
        self.send(conn, ToClient::TunnelMessage(msg));
        true
    }

    /// Sends the next message of a flight (taking its index).
    fn send_on_flight(&mut self, key: RequestKey, kind: ToClientTunnelMessageKind) -> bool {
        let Some(flight) = self.gateway.flights.get_mut(&key) else {
            return false;
        };
        let index = flight.next_index;
        flight.next_index = index.wrapping_add(1);
        let runner = flight.runner.clone();
        self.send_tunnel(&runner, key, index, kind)
    }

    /// Registers a flight for `client` to `actor` on `runner`; returns its key.
    fn new_flight(
        &mut self,
        client: ClientId,
        actor: &Id,
        runner: Id,
        kind: FlightKind,
    ) -> RequestKey {
        let ids = self.config.gateway.gateway_ids.clone();
        let key = self.gateway.fresh_key(&ids);
        let flight = Flight {
            client,
            actor: actor.clone(),
            runner,
            next_index: 0,
            kind,
        };
        self.gateway.flights.insert(key, flight);
        key
    }

    /// The runner a `Dispatch::Now` request goes to: the one connected.
    fn connected_runner(&self) -> Option<Id> {
        let conn = self.ready_conn()?;
        self.conns.get(&conn)?.runner_id().cloned()
    }

    /// One tunnel message from the runner.
    pub(super) fn on_tunnel_message(&mut self, conn: ConnId, msg: ToServerTunnelMessage) {
        if payload_len(&msg.message_kind) > self.config.gateway.max_payload {
            // The engine fails the whole connection (spec §5.4).
            self.gateway.log.oversize += 1;
            return self.close(conn, 1011, "ws.invalid_packet");
        }
        let key = RequestKey::new(msg.message_id.gateway_id, msg.message_id.request_id);
        match self.gateway.flights.get(&key).map(|f| &f.kind) {
            None => self.gateway.log.unknown += 1,
            Some(FlightKind::Http(_)) => self.on_http_reply(key, msg.message_kind),
            Some(FlightKind::Ws(_)) => self.on_ws_reply(key, msg.message_kind),
        }
    }

    /// Sends what waits and can go now; wakes sleeping actors it waits for.
    pub(super) fn pump_gateway(&mut self) {
        let now = self.now;
        let due: Vec<ClientId> = self.gateway.waiting.iter().copied().collect();
        for client in due {
            if self.gateway.http.contains_key(&client) {
                self.pump_http(client, now);
            } else {
                self.pump_socket(client, now);
            }
        }
    }

    /// Whether `client`, waiting since `since` for `actor`, can be sent now:
    /// `Some(runner)` if so; wakes the actor or fails the client otherwise
    /// (`fail` is called with the reason).
    fn ready_or_wait(
        &mut self,
        actor: &Id,
        since: Timestamp,
        fail: impl FnOnce(&mut Self, &'static str),
    ) -> Option<Id> {
        match self.readiness(actor) {
            Readiness::Ready(runner) => return Some(runner),
            Readiness::Gone(why) => fail(self, why),
            Readiness::Wake if self.can_allocate() => {
                let now = self.now;
                self.wake_actor(now, actor);
            }
            Readiness::Wake | Readiness::Wait => {
                if since + self.config.gateway.actor_ready_timeout <= self.now {
                    fail(self, "guard.actor_ready_timeout");
                }
            }
        }
        None
    }

    /// When the gateway has something to do next.
    pub(super) fn gateway_deadline(&self) -> Option<Timestamp> {
        let g = &self.gateway;
        let waiting = g.waiting.iter().filter_map(|c| self.wait_deadline(*c));
        let flights = g.flights.values().filter_map(|f| self.flight_deadline(f));
        let gc = g.next_gc.filter(|_| self.any_pending());
        let resumes = g.resume_at.values().copied();
        waiting.chain(flights).chain(gc).chain(resumes).min()
    }

    fn wait_deadline(&self, client: ClientId) -> Option<Timestamp> {
        let timeout = self.config.gateway.actor_ready_timeout;
        if let Some(c) = self.gateway.http.get(&client) {
            let retry = c.retry_at.filter(|at| *at > self.now);
            return Some(retry.unwrap_or(c.waiting_since + timeout));
        }
        let s = self.gateway.sockets.get(&client)?;
        Some(s.waiting_since + timeout)
    }

    fn flight_deadline(&self, flight: &Flight) -> Option<Timestamp> {
        match &flight.kind {
            FlightKind::Http(h) => h.awaiting.then_some(h.deadline),
            FlightKind::Ws(w) if w.is_live() => {
                let down = self.gateway.runner_down.get(&flight.runner);
                let ping = down.map(|at| *at + self.config.gateway.tunnel_ping_timeout);
                let open = (w.phase == ws::WsPhase::Opening).then_some(w.open_deadline);
                ping.into_iter().chain(open).min()
            }
            FlightKind::Ws(_) => None,
        }
    }

    /// Runs every gateway timer due now.
    pub(super) fn run_gateway_timers(&mut self) {
        self.resume_due();
        self.expire_http();
        self.expire_sockets();
        if self.gateway.next_gc.is_some_and(|at| at <= self.now) {
            self.gc_pending();
        }
        self.pump_gateway();
    }

    /// The runner has a ready connection again / none any more.
    pub(super) fn gateway_runner_up(&mut self, runner: &Id) {
        self.gateway.runner_down.remove(runner);
    }

    pub(super) fn gateway_runner_down(&mut self, runner: &Id) {
        let now = self.now;
        self.gateway
            .runner_down
            .entry(runner.clone())
            .or_insert(now);
    }

    /// The actor reported `Running`: its hibernating sockets resume after
    /// [`GatewayConfig::resume_delay`]; what waits for it is sent.
    pub(super) fn gateway_actor_ready(&mut self, actor: &Id) {
        let at = self.now + self.config.gateway.resume_delay;
        self.gateway.resume_at.insert(actor.clone(), at);
        self.resume_due();
        self.pump_gateway();
    }

    /// Resumes the sockets of the actors whose resume time has come.
    fn resume_due(&mut self) {
        let now = self.now;
        let due: Vec<Id> = self
            .gateway
            .resume_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(actor, _)| actor.clone())
            .collect();
        for actor in due {
            self.gateway.resume_at.remove(&actor);
            self.resume_sockets(&actor);
        }
    }

    /// The actor stopped (or was lost): fail its requests (they retry),
    /// hibernate or close its sockets.
    pub(super) fn gateway_actor_gone(&mut self, actor: &Id) {
        self.gateway.resume_at.remove(actor);
        let keys: Vec<RequestKey> = self
            .gateway
            .flights
            .iter()
            .filter(|(_, f)| f.actor == *actor)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            match self.gateway.flights.get(&key).map(|f| &f.kind) {
                Some(FlightKind::Http(_)) => self.http_actor_gone(key),
                Some(FlightKind::Ws(_)) => self.ws_actor_gone(key),
                None => {}
            }
        }
    }

    /// The hibernatable sockets to list in `actor`'s next start.
    pub(super) fn hibernating_list(&self, actor: &Id) -> Vec<HibernatingRequest> {
        let fresh = self.config.gateway.hibernation_listing;
        self.gateway
            .registry
            .iter()
            .filter(|((a, _), closed)| a == actor && closed.is_none_or(|at| at + fresh > self.now))
            .map(|((_, key), _)| HibernatingRequest {
                gateway_id: key.gateway_id,
                request_id: key.request_id,
            })
            .collect()
    }

    /// The engine crashed: every client connection went with it.
    pub(super) fn reset_gateway(&mut self) {
        for client in self.gateway.http.values_mut() {
            client.fail("engine restarted");
        }
        for socket in self.gateway.sockets.values_mut() {
            socket.close_if_live(Some(1011), Some("engine restarted".into()));
        }
        self.gateway.waiting.clear();
        self.gateway.flights.clear();
        self.gateway.registry.clear();
        self.gateway.resume_at.clear();
        self.gateway.next_gc = None;
    }
}

/// Payload bytes of a runner message, as the engine measures them.
fn payload_len(kind: &ToServerTunnelMessageKind) -> usize {
    match kind {
        ToServerTunnelMessageKind::ResponseStart(r) => r.body.as_ref().map_or(0, Bytes::len),
        ToServerTunnelMessageKind::ResponseChunk(c) => c.body.len(),
        ToServerTunnelMessageKind::WebSocketMessage(m) => m.data.len(),
        _ => 0,
    }
}

/// A header map from pairs.
pub fn headers(pairs: &[(&str, &str)]) -> BareMap<String> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// A text WebSocket message.
pub fn text(s: &str) -> WebSocketMessage {
    WebSocketMessage {
        data: Bytes::copy_from_slice(s.as_bytes()),
        binary: false,
    }
}
