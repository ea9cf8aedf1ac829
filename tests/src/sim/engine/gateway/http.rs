//! Tunnelled HTTP at the gateway: one request id per attempt, exactly one
//! response start accepted, aborts and actor stops retried.

use std::time::Duration;

use bytes::Bytes;
use runner_core::protocol::{
    BareMap, Id, ToClientRequestChunk, ToClientRequestStart, ToClientTunnelMessageKind,
    ToServerTunnelMessageKind,
};
use runner_core::{RequestKey, Timestamp};

use super::{ClientId, Dispatch, FlightKind, SimEngine};

/// An HTTP request as a client sends it to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// Method.
    pub method: String,
    /// Path and query, relative to the actor.
    pub path: String,
    /// Headers (lower-case names).
    pub headers: BareMap<String>,
    /// Body sent with the start (empty: none).
    pub body: Bytes,
    /// Whether the body follows in chunks ([`SimEngine::http_chunk`]).
    pub streamed: bool,
}

impl ClientRequest {
    /// A request without headers or body.
    pub fn new(method: &str, path: &str) -> Self {
        ClientRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: BareMap::new(),
            body: Bytes::new(),
            streamed: false,
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name, value.to_owned());
        self
    }

    /// Sets the body sent with the start.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The body follows in chunks.
    pub fn streamed(mut self) -> Self {
        self.streamed = true;
        self
    }
}

/// How an HTTP request ended for its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// The runner's `ToServerResponseStart`.
    Response {
        /// Status.
        status: u16,
        /// Headers.
        headers: BareMap<String>,
        /// Body (empty if absent).
        body: Bytes,
    },
    /// The gateway gave up, with its error code.
    Failed(String),
}

/// One client HTTP request, across the gateway's attempts.
#[derive(Debug, Clone)]
pub struct ClientHttp {
    /// The actor it is for.
    pub actor: Id,
    /// What the client sent.
    pub request: ClientRequest,
    /// Request id of each attempt, in order.
    pub keys: Vec<RequestKey>,
    /// The end, once there is one.
    pub outcome: Option<HttpOutcome>,
    /// Body chunks the client sent (streamed requests).
    pub chunks: Vec<(Bytes, bool)>,
    dispatch: Dispatch,
    pub(super) retry_at: Option<Timestamp>,
    pub(super) waiting_since: Timestamp,
}

impl ClientHttp {
    /// The response status, if a response arrived.
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Some(HttpOutcome::Response { status, .. }) => Some(*status),
            _ => None,
        }
    }

    /// The response body, if a response arrived.
    pub fn body(&self) -> Option<&Bytes> {
        match &self.outcome {
            Some(HttpOutcome::Response { body, .. }) => Some(body),
            _ => None,
        }
    }

    /// The failure, if the gateway gave up.
    pub fn failure(&self) -> Option<&str> {
        match &self.outcome {
            Some(HttpOutcome::Failed(why)) => Some(why),
            _ => None,
        }
    }

    /// The request id of the latest attempt.
    pub fn key(&self) -> Option<RequestKey> {
        self.keys.last().copied()
    }

    pub(super) fn fail(&mut self, why: &str) {
        if self.outcome.is_none() {
            self.outcome = Some(HttpOutcome::Failed(why.to_owned()));
        }
    }

    fn retries(&self) -> bool {
        self.dispatch == Dispatch::WhenReady && !self.request.streamed
    }
}

/// One attempt's state.
#[derive(Debug)]
pub(super) struct HttpFlight {
    /// No response start (or abort) yet, and the gateway still waits.
    pub(super) awaiting: bool,
    /// When the gateway stops waiting.
    pub(super) deadline: Timestamp,
}

impl SimEngine {
    /// A client sends `request` to `actor` through the gateway.
    pub fn http_request(
        &mut self,
        now: Timestamp,
        actor: &str,
        request: ClientRequest,
        dispatch: Dispatch,
    ) -> ClientId {
        self.advance(now);
        let id = self.gateway.client_id();
        let client = ClientHttp {
            actor: actor.into(),
            request,
            keys: Vec::new(),
            outcome: None,
            chunks: Vec::new(),
            dispatch,
            retry_at: None,
            waiting_since: self.now,
        };
        self.gateway.http.insert(id, client);
        match dispatch {
            Dispatch::Now => match self.connected_runner() {
                Some(runner) => self.send_http(id, runner),
                None => self.fail_http(id, "guard.no_runner"),
            },
            Dispatch::WhenReady => {
                self.gateway.waiting.insert(id);
                self.pump_http(id, self.now);
            }
        }
        id
    }

    /// The client sends the next piece of a streamed body (held until the
    /// request is sent, if it waits for its actor).
    pub fn http_chunk(&mut self, now: Timestamp, client: ClientId, data: Bytes, finish: bool) {
        self.advance(now);
        let Some(c) = self.gateway.http.get_mut(&client) else {
            return;
        };
        c.chunks.push((data.clone(), finish));
        if let Some(key) = c.key().filter(|k| self.http_awaiting(*k)) {
            let chunk = ToClientRequestChunk { body: data, finish };
            self.send_on_flight(key, ToClientTunnelMessageKind::RequestChunk(chunk));
        }
    }

    /// The client gives up on its request (the gateway sends
    /// `ToClientRequestAbort` if the runner has it).
    pub fn http_abort(&mut self, now: Timestamp, client: ClientId) {
        self.advance(now);
        self.gateway.waiting.remove(&client);
        let Some(c) = self.gateway.http.get_mut(&client) else {
            return;
        };
        c.fail("client aborted");
        if let Some(key) = c.key().filter(|k| self.http_awaiting(*k)) {
            self.set_awaiting(key, false);
            self.send_on_flight(key, ToClientTunnelMessageKind::RequestAbort);
        }
    }

    fn http_awaiting(&self, key: RequestKey) -> bool {
        matches!(
            self.gateway.flights.get(&key).map(|f| &f.kind),
            Some(FlightKind::Http(h)) if h.awaiting
        )
    }

    fn set_awaiting(&mut self, key: RequestKey, awaiting: bool) {
        if let Some(FlightKind::Http(h)) = self.gateway.flights.get_mut(&key).map(|f| &mut f.kind) {
            h.awaiting = awaiting;
        }
    }

    pub(super) fn pump_http(&mut self, client: ClientId, now: Timestamp) {
        let Some(c) = self.gateway.http.get(&client) else {
            return;
        };
        if c.retry_at.is_some_and(|at| at > now) {
            return;
        }
        let (actor, since) = (c.actor.clone(), c.waiting_since);
        let fail = |e: &mut Self, why: &'static str| e.fail_http(client, why);
        if let Some(runner) = self.ready_or_wait(&actor, since, fail) {
            self.gateway.waiting.remove(&client);
            self.send_http(client, runner);
        }
    }

    /// Sends one attempt: the start (and the chunks the client sent so far).
    fn send_http(&mut self, client: ClientId, runner: Id) {
        let Some(c) = self.gateway.http.get(&client) else {
            return;
        };
        let (actor, request, chunks) = (c.actor.clone(), c.request.clone(), c.chunks.clone());
        let deadline = self.now + self.config.gateway.response_start_timeout;
        let flight = HttpFlight {
            awaiting: true,
            deadline,
        };
        let key = self.new_flight(client, &actor, runner, FlightKind::Http(flight));
        if let Some(c) = self.gateway.http.get_mut(&client) {
            c.keys.push(key);
            c.retry_at = None;
        }
        let start = ToClientRequestStart {
            actor_id: actor,
            method: request.method,
            path: request.path,
            headers: request.headers,
            body: (!request.body.is_empty()).then_some(request.body),
            stream: request.streamed,
        };
        self.send_on_flight(key, ToClientTunnelMessageKind::RequestStart(start));
        for (body, finish) in chunks {
            let chunk = ToClientRequestChunk { body, finish };
            self.send_on_flight(key, ToClientTunnelMessageKind::RequestChunk(chunk));
        }
    }

    fn fail_http(&mut self, client: ClientId, why: &str) {
        self.gateway.waiting.remove(&client);
        if let Some(c) = self.gateway.http.get_mut(&client) {
            c.fail(why);
        }
    }

    /// A runner message for an HTTP attempt: only the first response start
    /// or abort while the gateway waits counts.
    pub(super) fn on_http_reply(&mut self, key: RequestKey, kind: ToServerTunnelMessageKind) {
        let awaiting = self.http_awaiting(key);
        let Some(client) = self.gateway.flights.get(&key).map(|f| f.client) else {
            return;
        };
        match kind {
            ToServerTunnelMessageKind::ResponseStart(r) if awaiting => {
                self.set_awaiting(key, false);
                if let Some(c) = self.gateway.http.get_mut(&client) {
                    c.outcome.get_or_insert(HttpOutcome::Response {
                        status: r.status,
                        headers: r.headers,
                        body: r.body.unwrap_or_default(),
                    });
                }
            }
            ToServerTunnelMessageKind::ResponseAbort if awaiting => {
                self.set_awaiting(key, false);
                self.retry_http(client, "guard.tunnel_request_aborted");
            }
            _ => self.gateway.log.ignored += 1,
        }
    }

    /// Tries again later with a new request id, or fails the client.
    fn retry_http(&mut self, client: ClientId, why: &str) {
        let max = self.config.gateway.http_attempts;
        let base = self.config.gateway.retry_backoff;
        let now = self.now;
        let Some(c) = self.gateway.http.get_mut(&client) else {
            return;
        };
        let attempts = u32::try_from(c.keys.len()).unwrap_or(u32::MAX);
        if c.outcome.is_some() {
            return;
        }
        if !c.retries() || attempts >= max {
            return c.fail(why);
        }
        let backoff = base * 2u32.pow(attempts.saturating_sub(1).min(6));
        c.retry_at = Some(now + backoff.max(Duration::from_millis(1)));
        c.waiting_since = now;
        self.gateway.waiting.insert(client);
    }

    /// The actor stopped while the attempt waited: retried.
    pub(super) fn http_actor_gone(&mut self, key: RequestKey) {
        if !self.http_awaiting(key) {
            return;
        }
        self.set_awaiting(key, false);
        if let Some(client) = self.gateway.flights.get(&key).map(|f| f.client) {
            self.retry_http(client, "guard.actor_stopped_while_waiting");
        }
    }

    /// Attempts past the response start timeout fail their client.
    pub(super) fn expire_http(&mut self) {
        let now = self.now;
        let expired: Vec<(RequestKey, ClientId)> = self
            .gateway
            .flights
            .iter()
            .filter(
                |(_, f)| matches!(&f.kind, FlightKind::Http(h) if h.awaiting && h.deadline <= now),
            )
            .map(|(k, f)| (*k, f.client))
            .collect();
        for (key, client) in expired {
            self.set_awaiting(key, false);
            self.fail_http(client, "guard.gateway_response_start_timeout");
        }
    }
}
