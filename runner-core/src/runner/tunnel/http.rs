//! Tunnelled HTTP: requests in, one response out.
//!
//! The gateway reads exactly one `ToServerResponseStart` per request and
//! ignores response chunks (spec §5.4), so a response is always sent whole.

use tracing::{debug, warn};

use super::{Admission, EntryKind, reasons};
use crate::Timestamp;
use crate::error::CallError;
use crate::ids::RequestKey;
use crate::output::Event;
use crate::protocol::{
    BareMap, ToClientRequestChunk, ToClientRequestStart, ToClientTunnelMessage,
    ToClientTunnelMessageKind, ToServerResponseStart, ToServerTunnelMessageKind,
};
use crate::runner::{Input, Runner};
use crate::tunnel::{HttpRequest, HttpResponse};

impl Runner {
    pub(super) fn admit_request(&mut self, key: RequestKey, msg: ToClientTunnelMessage) {
        let ToClientTunnelMessageKind::RequestStart(start) = &msg.message_kind else {
            return;
        };
        if self.tunnel.entries.get(&key).is_some_and(|e| e.held) {
            return debug!(%key, "repeated request start while the actor starts; the first stands");
        }
        self.counters.http_requests += 1;
        if let Some(old) = self.remove_entry(key) {
            // A retransmitted start supersedes the request in progress.
            if !old.held && matches!(old.kind, EntryKind::Http { .. }) {
                self.events.push_back(Event::HttpRequestAborted { key });
            }
        }
        if start.headers.len() > self.config.limits.max_request_headers {
            warn!(%key, headers = start.headers.len(), "request with too many headers: 431");
            self.counters.payload_refusals.request_headers += 1;
            let response = HttpResponse::new(431)
                .header("content-type", "text/plain")
                .header("x-rivet-error", reasons::TOO_MANY_HEADERS)
                .body("too many request headers");
            return self.send_response(key, 0, response);
        }
        let streaming = start.stream;
        let body_bytes = start.body.as_ref().map_or(0, |b| b.len());
        match self.admission(&start.actor_id) {
            Admission::NoActor => {
                // The gateway retries an aborted request: the actor may be
                // waking up, or be gone for good (then it answers 404).
                debug!(%key, actor = %start.actor_id, "request for no running actor: aborted");
                self.send_tunnel_system(key, 0, ToServerTunnelMessageKind::ResponseAbort);
            }
            Admission::TooMany => {
                let response = HttpResponse::new(503)
                    .header("content-type", "text/plain")
                    .header("x-rivet-error", reasons::TOO_MANY_REQUESTS)
                    .body("too many requests for this actor");
                self.send_response(key, 0, response);
            }
            Admission::Accept { owner, held } => {
                self.insert_entry(
                    key,
                    owner,
                    held,
                    EntryKind::Http {
                        streaming,
                        body_bytes,
                    },
                );
                if held {
                    self.hold(key, msg);
                } else {
                    self.deliver(key, msg);
                }
            }
        }
    }

    pub(super) fn deliver_request(&mut self, key: RequestKey, start: ToClientRequestStart) {
        let Some(entry) = self.tunnel.entries.get(&key) else {
            return;
        };
        let request = HttpRequest {
            key,
            actor: entry.owner.clone(),
            method: start.method,
            path: start.path,
            headers: start.headers,
            body: start.body.unwrap_or_default(),
            streamed: start.stream,
        };
        self.events.push_back(Event::HttpRequest(request));
    }

    pub(super) fn on_request_chunk(&mut self, key: RequestKey, chunk: ToClientRequestChunk) {
        let limit = self.config.limits.max_request_body;
        let Some(entry) = self.tunnel.entries.get_mut(&key) else {
            return;
        };
        let EntryKind::Http {
            streaming: true,
            body_bytes,
        } = &mut entry.kind
        else {
            return debug!(%key, "body chunk for a request that is not streaming");
        };
        *body_bytes += chunk.body.len();
        if *body_bytes > limit {
            warn!(%key, limit, "streamed request body too large: 413");
            self.counters.payload_refusals.request_body += 1;
            self.events.push_back(Event::HttpRequestAborted { key });
            let response = HttpResponse::new(413)
                .header("content-type", "text/plain")
                .body("request body too large");
            if let Some(entry) = self.remove_entry(key) {
                self.send_response(key, entry.next_out, response);
            }
            return;
        }
        if chunk.finish {
            entry.kind = EntryKind::Http {
                streaming: false,
                body_bytes: *body_bytes,
            };
        }
        self.events.push_back(Event::HttpRequestChunk {
            key,
            data: chunk.body,
            finish: chunk.finish,
        });
    }

    pub(super) fn on_request_abort(&mut self, key: RequestKey) {
        if let Some(entry) = self.remove_entry(key) {
            if matches!(entry.kind, EntryKind::Http { .. }) {
                self.events.push_back(Event::HttpRequestAborted { key });
            }
        }
    }

    /// Answers an HTTP request. The whole response goes out as one message.
    ///
    /// A body larger than `limits.max_tunnel_payload` would make the engine
    /// drop the runner's whole connection, so it is replaced by
    /// [`HttpResponse::payload_too_large`] (and a warning in the log),
    /// the one place this limit is enforced; the call still
    /// succeeds, since the request was answered. Likewise, while
    /// disconnected with the outbound buffer full, the request is aborted
    /// rather than left open (the gateway retries it or fails it for the
    /// client), and the call succeeds.
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Config, HttpResponse, Timestamp, TransportClose};
    /// # let mut config = Config::new("http://h:1", "r", "k");
    /// config.limits.max_buffered_bytes = 4;
    /// # let (mut runner, conn) = testing::connected(config)?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/ping"))?;
    /// # testing::drain(&mut runner);
    /// runner.handle_closed(Timestamp::ZERO, conn, TransportClose::error("connection reset"));
    /// runner.respond(Timestamp::ZERO, key, HttpResponse::new(200).body("too big"))?;
    /// assert!(!runner.request_is_open(key)); // aborted, not left open
    /// assert_eq!(runner.buffered_tunnel_messages(), 1); // the abort, sent after the next init
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, CallError, HttpResponse, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/ping"))?;
    /// # testing::drain(&mut runner);
    /// runner.respond(Timestamp::ZERO, key, HttpResponse::new(200).body("pong"))?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::TunnelMessage(msg) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// let ToServerTunnelMessageKind::ResponseStart(response) = msg.message_kind else { panic!() };
    /// assert_eq!((response.status, response.body.as_deref()), (200, Some(&b"pong"[..])));
    /// // The request is over: a second answer is refused.
    /// let again = runner.respond(Timestamp::ZERO, key, HttpResponse::new(500));
    /// assert_eq!(again, Err(CallError::RequestNotFound(key)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn respond(
        &mut self,
        now: Timestamp,
        key: RequestKey,
        response: HttpResponse,
    ) -> Result<(), CallError> {
        self.step(now, Input::Respond { key, response }).into_call()
    }

    pub(in crate::runner) fn respond_inner(
        &mut self,
        key: RequestKey,
        response: HttpResponse,
    ) -> Result<(), CallError> {
        self.http_entry(key, "respond")?;
        let limit = self.config.limits.max_tunnel_payload;
        let response = if response.body.len() > limit {
            warn!(%key, size = response.body.len(), limit, "response body over the tunnel limit: sending 500 instead");
            self.counters.payload_refusals.response_body += 1;
            HttpResponse::payload_too_large(limit)
        } else {
            response
        };
        self.finish_http(key, response_start(response))
    }

    /// Ends an HTTP request with the user's answer. A request is never left
    /// open for want of room (it would count toward the actor's
    /// `max_requests_per_actor` until the actor stops, and the client would
    /// wait for the gateway's timeout): when the outbound buffer cannot take
    /// the answer while disconnected, the request is aborted instead — the
    /// abort buffered if it fits, else dropped and counted
    /// ([`Runner::dropped_tunnel_messages`]) — and the call succeeds.
    fn finish_http(
        &mut self,
        key: RequestKey,
        kind: ToServerTunnelMessageKind,
    ) -> Result<(), CallError> {
        if self.room_for(&kind).is_ok() {
            return self.finish_entry(key, kind);
        }
        warn!(%key, "outbound buffer full while disconnected: the request is aborted instead of answered");
        let entry = self
            .remove_entry(key)
            .ok_or(CallError::RequestNotFound(key))?;
        self.send_tunnel_system(
            key,
            entry.next_out,
            ToServerTunnelMessageKind::ResponseAbort,
        );
        Ok(())
    }

    /// Gives a request up: the gateway retries it (or fails it for the client).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # testing::started_actor(&mut runner, conn, "A")?;
    /// # let key = testing::http_request(&mut runner, conn, 2, testing::get("A", "/ping"))?;
    /// # testing::drain(&mut runner);
    /// runner.abort_request(Timestamp::ZERO, key)?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::TunnelMessage(msg) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// assert_eq!(msg.message_kind, ToServerTunnelMessageKind::ResponseAbort);
    /// assert!(!runner.request_is_open(key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort_request(&mut self, now: Timestamp, key: RequestKey) -> Result<(), CallError> {
        self.step(now, Input::AbortRequest { key }).into_call()
    }

    pub(in crate::runner) fn abort_inner(&mut self, key: RequestKey) -> Result<(), CallError> {
        self.http_entry(key, "abort_request")?;
        self.finish_http(key, ToServerTunnelMessageKind::ResponseAbort)
    }

    fn http_entry(&self, key: RequestKey, call: &'static str) -> Result<(), CallError> {
        match self.tunnel.entries.get(&key) {
            None => Err(CallError::RequestNotFound(key)),
            Some(e) if e.held || !matches!(e.kind, EntryKind::Http { .. }) => {
                Err(CallError::WrongRequestState {
                    key,
                    state: e.kind.name(),
                    call,
                })
            }
            Some(_) => Ok(()),
        }
    }

    fn send_response(&mut self, key: RequestKey, index: u16, response: HttpResponse) {
        self.send_tunnel_system(key, index, response_start(response));
    }
}

/// The one message a response goes out as: the whole body, its length, and
/// a status the gateway accepts (an impossible one becomes 500).
fn response_start(response: HttpResponse) -> ToServerTunnelMessageKind {
    let HttpResponse {
        status,
        mut headers,
        body,
    } = response;
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    if !body.is_empty() && headers.get("content-length").is_none() {
        headers.insert("content-length", body.len().to_string());
    }
    ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
        status,
        headers: BareMap(headers.0),
        body: (!body.is_empty()).then_some(body),
        stream: false,
    })
}
