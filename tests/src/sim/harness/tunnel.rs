//! The tunnel side of [`Sim`]: clients (through the engine's gateway), the
//! user's calls, and the user's handlers reacting to events.

use bytes::Bytes;
use runner_core::protocol::WebSocketMessage;
use runner_core::{
    ActorRef, CallError, Event, HibernatedSocket, HttpResponse, RequestKey, RestoreReport,
};

use super::Sim;
use crate::sim::engine::{ClientHttp, ClientId, ClientRequest, ClientSocket, Dispatch};
use crate::sim::user::tunnel::{
    HttpPolicy, TunnelAction, TunnelUser, UserRequest, UserSocket, WsPolicy,
};
use runner_core::fuzzing::invariants::tunnel::TunnelCall;

impl Sim {
    // ----- clients -------------------------------------------------------

    /// A client sends `request` to actor `actor` (the gateway waits for the
    /// actor to run, waking it if it sleeps).
    pub fn http(&mut self, actor: &str, request: ClientRequest) -> ClientId {
        self.engine_do(|e, now| e.http_request(now, actor, request, Dispatch::WhenReady))
    }

    /// Like [`http`](Self::http), sent at once whatever the actor's state
    /// (even an unknown actor id), never retried.
    pub fn http_now(&mut self, actor: &str, request: ClientRequest) -> ClientId {
        self.engine_do(|e, now| e.http_request(now, actor, request, Dispatch::Now))
    }

    /// The client sends a piece of its streamed body.
    pub fn http_chunk(&mut self, client: ClientId, data: &[u8], finish: bool) {
        let data = Bytes::copy_from_slice(data);
        self.engine_do(|e, now| e.http_chunk(now, client, data, finish));
    }

    /// The client gives up on its request.
    pub fn http_abort(&mut self, client: ClientId) {
        self.engine_do(|e, now| e.http_abort(now, client));
    }

    /// The HTTP client `id`.
    pub fn http_client(&self, id: ClientId) -> &ClientHttp {
        self.engine().http_client(id).expect("no such HTTP client")
    }

    /// A client opens a WebSocket to `actor` once it runs.
    pub fn ws_connect(&mut self, actor: &str, path: &str) -> ClientId {
        self.engine_do(|e, now| e.ws_open(now, actor, path, Dispatch::WhenReady))
    }

    /// Like [`ws_connect`](Self::ws_connect), sent at once.
    pub fn ws_connect_now(&mut self, actor: &str, path: &str) -> ClientId {
        self.engine_do(|e, now| e.ws_open(now, actor, path, Dispatch::Now))
    }

    /// The client sends a message.
    pub fn ws_client_send(&mut self, client: ClientId, message: WebSocketMessage) {
        self.engine_do(|e, now| e.ws_send(now, client, message));
    }

    /// The client closes its socket.
    pub fn ws_client_close(&mut self, client: ClientId, code: Option<u16>, reason: Option<&str>) {
        self.engine_do(|e, now| e.ws_close(now, client, code, reason));
    }

    /// The gateway sends the socket's open again (see [`SimEngine::ws_reopen`](crate::sim::SimEngine::ws_reopen)).
    pub fn ws_reopen(&mut self, client: ClientId, reset_index: bool) {
        self.engine_do(|e, now| e.ws_reopen(now, client, reset_index));
    }

    /// The WebSocket client `id`.
    pub fn socket_client(&self, id: ClientId) -> &ClientSocket {
        self.engine()
            .socket_client(id)
            .expect("no such socket client")
    }

    // ----- the user's calls ------------------------------------------------

    /// What the user holds and persisted.
    pub fn tunnel_user(&self) -> &TunnelUser {
        &self.tunnel_user
    }

    /// `Runner::respond`.
    pub fn respond(&mut self, key: RequestKey, response: HttpResponse) -> Result<(), CallError> {
        let r = self.runner.respond(self.now, key, response);
        self.tunnel_call(key, TunnelCall::Respond, "respond", r)
    }

    /// `Runner::abort_request`.
    pub fn abort_request(&mut self, key: RequestKey) -> Result<(), CallError> {
        let r = self.runner.abort_request(self.now, key);
        self.tunnel_call(key, TunnelCall::AbortRequest, "abort_request", r)
    }

    /// `Runner::websocket_accept`.
    pub fn ws_accept(&mut self, key: RequestKey, hibernatable: bool) -> Result<(), CallError> {
        let r = self.runner.websocket_accept(self.now, key, hibernatable);
        if r.is_ok() {
            if let Some(s) = self.tunnel_user.sockets.get_mut(&key) {
                s.accepted = Some(hibernatable);
            }
        }
        let r = self.tunnel_call(
            key,
            TunnelCall::Accept { hibernatable },
            "websocket_accept",
            r,
        );
        self.persist(key);
        r
    }

    /// `Runner::websocket_reject`.
    pub fn ws_reject(&mut self, key: RequestKey, code: u16, reason: &str) -> Result<(), CallError> {
        let r = self.runner.websocket_reject(self.now, key, code, reason);
        self.tunnel_call(key, TunnelCall::Reject, "websocket_reject", r)
    }

    /// `Runner::websocket_send`.
    pub fn ws_send(&mut self, key: RequestKey, data: &[u8], binary: bool) -> Result<(), CallError> {
        let data = Bytes::copy_from_slice(data);
        let r = self.runner.websocket_send(self.now, key, data, binary);
        let r = self.tunnel_call(key, TunnelCall::Send, "websocket_send", r);
        self.persist(key);
        r
    }

    /// `Runner::websocket_close`.
    pub fn ws_close(
        &mut self,
        key: RequestKey,
        code: Option<u16>,
        reason: Option<&str>,
    ) -> Result<(), CallError> {
        let r = self.runner.websocket_close(self.now, key, code, reason);
        self.tunnel_call(key, TunnelCall::Close, "websocket_close", r)
    }

    /// `Runner::websocket_ack`.
    pub fn ws_ack(&mut self, key: RequestKey, index: u16) -> Result<(), CallError> {
        let r = self.runner.websocket_ack(self.now, key, index);
        self.tunnel_call(key, TunnelCall::Send, "websocket_ack", r)
    }

    /// `Runner::restore_websockets` with `persisted`.
    pub fn restore_websockets(
        &mut self,
        actor: &ActorRef,
        persisted: Vec<HibernatedSocket>,
    ) -> Result<RestoreReport, CallError> {
        let metas: Vec<HibernatedSocket> = persisted.clone();
        let r = self.runner.restore_websockets(self.now, actor, persisted);
        self.record_call(format!("restore_websockets({actor:?}) = {r:?}"));
        if let Ok(report) = &r {
            if let Some(inv) = &mut self.invariants {
                inv.tunnel.on_restore(report);
            }
            self.after_restore(actor, &metas, report);
        }
        self.drain_runner();
        r
    }

    fn after_restore(
        &mut self,
        actor: &ActorRef,
        metas: &[HibernatedSocket],
        report: &RestoreReport,
    ) {
        for key in &report.stale {
            self.tunnel_user.forget(*key);
        }
        for meta in metas.iter().filter(|m| report.restored.contains(&m.key)) {
            let socket = UserSocket {
                actor: actor.clone(),
                path: meta.path.clone(),
                accepted: Some(true),
                received: Vec::new(),
            };
            self.tunnel_user.sockets.insert(meta.key, socket);
        }
        self.tunnel_user
            .reports
            .push((actor.clone(), report.clone()));
    }

    /// Records a tunnel call, tells the checker, updates the user's view.
    fn tunnel_call(
        &mut self,
        key: RequestKey,
        call: TunnelCall,
        name: &str,
        r: Result<(), CallError>,
    ) -> Result<(), CallError> {
        self.record_call(format!("{name}({key}) = {r:?}"));
        if r.is_ok() {
            if let Some(inv) = &mut self.invariants {
                inv.tunnel.on_call(key, &call);
            }
            match call {
                TunnelCall::Respond | TunnelCall::AbortRequest => {
                    self.tunnel_user.requests.remove(&key);
                }
                TunnelCall::Reject | TunnelCall::Close => {
                    self.tunnel_user.sockets.remove(&key);
                    self.tunnel_user.forget(key);
                }
                _ => {}
            }
        }
        self.drain_call(&r);
        r
    }

    /// Persists a hibernatable socket's indices (what a careful user does
    /// after every message and send).
    fn persist(&mut self, key: RequestKey) {
        let Some(indices) = self.runner.websocket_indices(key) else {
            return;
        };
        let Some(socket) = self.tunnel_user.sockets.get(&key) else {
            return;
        };
        let meta = HibernatedSocket {
            key,
            last_received_index: indices.last_received_index,
            next_sent_index: indices.next_sent_index,
            path: socket.path.clone(),
            headers: Default::default(),
        };
        let actor = socket.actor.actor_id.clone();
        self.tunnel_user
            .persisted
            .entry(actor)
            .or_default()
            .insert(key, meta);
    }

    // ----- the user's handlers -----------------------------------------------

    /// Keeps the user's view and runs its policies for one event.
    pub(super) fn on_tunnel_event(&mut self, event: &Event) {
        let policy = self.user.config.tunnel.clone();
        let now = self.now;
        let u = &mut self.tunnel_user;
        match event {
            Event::HttpRequest(r) => {
                let request = UserRequest {
                    actor: r.actor.clone(),
                    method: r.method.clone(),
                    path: r.path.clone(),
                    headers: r.headers.clone(),
                    body: r.body.to_vec(),
                    complete: !r.streamed,
                };
                u.requests.insert(r.key, request);
                if let HttpPolicy::Respond(after) = policy.http {
                    let action = TunnelAction::Respond(r.key);
                    self.user.schedule_tunnel(now + after, action);
                }
            }
            Event::HttpRequestChunk { key, data, finish } => {
                if let Some(r) = u.requests.get_mut(key) {
                    r.body.extend_from_slice(data);
                    r.complete = *finish;
                }
            }
            Event::HttpRequestAborted { key } => {
                u.requests.remove(key);
            }
            Event::WebSocketOpen(open) => {
                let socket = UserSocket {
                    actor: open.actor.clone(),
                    path: open.path.clone(),
                    accepted: None,
                    received: Vec::new(),
                };
                u.sockets.insert(open.key, socket);
                let action = match policy.ws {
                    WsPolicy::Manual => return,
                    WsPolicy::Accept { hibernate } => TunnelAction::Accept(open.key, hibernate),
                    WsPolicy::Reject { code, reason } => {
                        TunnelAction::Reject(open.key, code, reason)
                    }
                };
                self.user.schedule_tunnel(now, action);
            }
            Event::WebSocketMessage {
                key,
                data,
                binary,
                index,
            } => self.on_user_message(*key, data, *binary, *index),
            Event::WebSocketClosed { key, .. } => {
                u.sockets.remove(key);
                u.forget(*key);
            }
            Event::WebSocketHibernated { key } => {
                u.sockets.remove(key);
            }
            _ => {}
        }
    }

    fn on_user_message(&mut self, key: RequestKey, data: &Bytes, binary: bool, index: u16) {
        let policy = self.user.config.tunnel.clone();
        let Some(socket) = self.tunnel_user.sockets.get_mut(&key) else {
            return;
        };
        socket.received.push((index, data.clone(), binary));
        let hibernatable = socket.accepted == Some(true);
        self.persist(key);
        let now = self.now;
        if policy.echo {
            let action = TunnelAction::Send(key, data.clone(), binary);
            self.user.schedule_tunnel(now, action);
        }
        if policy.ack && hibernatable {
            self.user
                .schedule_tunnel(now, TunnelAction::Ack(key, index));
        }
    }

    /// A policy's call comes due.
    pub(super) fn run_tunnel_action(&mut self, action: TunnelAction) {
        let _ = match action {
            TunnelAction::Respond(key) => {
                let Some(request) = self.tunnel_user.requests.get(&key) else {
                    return;
                };
                let body = TunnelUser::echo_body(request);
                self.respond(key, HttpResponse::new(200).body(body))
            }
            TunnelAction::Accept(key, hibernate) => self.ws_accept(key, hibernate),
            TunnelAction::Reject(key, code, reason) => self.ws_reject(key, code, &reason),
            TunnelAction::Send(key, data, binary) => self.ws_send(key, &data, binary),
            TunnelAction::Ack(key, index) => self.ws_ack(key, index),
        };
    }

    /// Before reporting a start done: restore what the user persisted for
    /// the actor (if the policy says so and there is anything to reconcile).
    pub(super) fn restore_before_start(&mut self, actor: &ActorRef) {
        if !self.user.config.tunnel.restore {
            return;
        }
        let persisted = self.tunnel_user.persisted_of(&actor.actor_id);
        let listed = self.hibernating.remove(actor).unwrap_or_default();
        if persisted.is_empty() && listed.is_empty() {
            return;
        }
        let _ = self.restore_websockets(actor, persisted);
    }
}
