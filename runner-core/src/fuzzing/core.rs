//! The `core` fuzz target: the state machine fed a script of inputs, with
//! its invariants checked after every step.
//!
//! The script is read from the fuzzer's bytes with [`arbitrary::Unstructured`]:
//! the first byte picks the protocol version, then each step is one input —
//! a transport event (open, close with a code, reason or HTTP status, text
//! frame), an engine frame (well-formed from [`script`](super::script),
//! well-formed then damaged, or raw bytes), a timer advance (time only moves
//! forward, sometimes straight to [`Runner::poll_timeout`]), or a user call
//! (actor lifecycle, intents, alarms, KV calls and their cancellation, HTTP
//! responses, WebSocket calls, hibernation restore, shutdown). The runner runs with tiny limits so that
//! a short script reaches every one of them. A script ends with an immediate
//! shutdown.
//!
//! After every step, with the outputs drained as the drain contract says,
//! nothing panicked and the runner's invariants hold: the checker is
//! [`Invariants`], the one the `tests` crate's simulation uses, in its
//! [`any_engine`](Invariants::any_engine) form (the script's engine frames
//! break the protocol at will).

use std::time::Duration;

use arbitrary::{Result, Unstructured};

use super::invariants::tunnel::TunnelCall;
use super::invariants::{Delivery, Invariants};
use super::script::{self, ACTORS, Known};
use crate::protocol::ProtocolVersion;
use crate::protocol::{ToServer, decode_to_client, decode_to_server, encode_to_client};
use crate::{
    ActorRef, CallError, Config, ConnId, Event, HibernatedSocket, HttpResponse, KvRequestId,
    Limits, RequestKey, Runner, ShutdownMode, Timestamp, Transmit, TransportClose,
};

/// Longest script, in steps (bounds the time one input can take).
const MAX_STEPS: usize = 4096;

/// Runs one script; panics on the first broken invariant.
pub fn core(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let version = match u.arbitrary::<u8>() {
        Ok(b) => ProtocolVersion::ALL[usize::from(b) % ProtocolVersion::ALL.len()],
        Err(_) => return,
    };
    let mut harness = Harness::new(version);
    for _ in 0..MAX_STEPS {
        if u.is_empty() || harness.step(&mut u).is_err() {
            break;
        }
    }
    harness.finish();
}

/// Step codes [`core_seed`] writes (the first byte of a step, modulo 20).
const STEP_OPEN: u8 = 0;
const STEP_RAW_FRAME: u8 = 8;
const STEP_NEXT_DEADLINE: u8 = 11;
/// A `ratio(1, 8)` byte that comes out false: "the current connection".
const CURRENT_CONN: u8 = 1;

/// A `core` script that opens the connection, delivers `frames` (encoded
/// engine messages, at most 4095 bytes each) in order on it, then runs the
/// next timer: how the corpus is seeded from the golden vectors. The
/// version is `ProtocolVersion::ALL[version_index]`; the first frame is
/// usually a `ToClientInit`.
pub fn core_seed(version_index: u8, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut script = vec![version_index, STEP_OPEN, CURRENT_CONN];
    for frame in frames
        .iter()
        .filter(|f| f.len() <= usize::from(script::RAW_MAX))
    {
        script.push(STEP_RAW_FRAME);
        let len = u16::try_from(frame.len()).unwrap_or(script::RAW_MAX);
        script.extend_from_slice(&len.to_be_bytes());
        script.extend_from_slice(frame);
        script.push(CURRENT_CONN);
    }
    script.push(STEP_NEXT_DEADLINE);
    script
}

/// Tiny limits, so that short scripts reach each of them.
fn limits() -> Limits {
    Limits {
        max_pending_kv: 3,
        max_queued_kv: 2,
        max_unacked_events_per_actor: 3,
        max_retired_generations: 3,
        events_per_frame: 2,
        max_actors: 3,
        max_tunnel_payload: 128,
        max_request_body: 256,
        max_requests_per_actor: 2,
        max_request_headers: 2,
        max_inbox_messages: 3,
        max_inbox_bytes: 256,
        max_buffered_messages: 4,
        max_buffered_bytes: 256,
    }
}

fn config(version: ProtocolVersion) -> Config {
    let mut config = Config::new("http://127.0.0.1:1", "fuzz", "fuzz-key");
    config.protocol_version = version;
    config.rng_seed = 0x5eed;
    config.limits = limits();
    config
}

struct Harness {
    runner: Runner,
    version: ProtocolVersion,
    now: Timestamp,
    /// The connection of the runner's last `Connect`.
    conn: Option<ConnId>,
    known: Known,
    actors: Vec<ActorRef>,
    keys: Vec<RequestKey>,
    /// Ids of recent KV calls, to cancel.
    kv_ids: Vec<KvRequestId>,
    invariants: Invariants,
}

impl Harness {
    fn new(version: ProtocolVersion) -> Self {
        let config = config(version);
        let invariants = Invariants::any_engine(&config);
        let runner = Runner::new(config, Timestamp::ZERO).expect("the fuzz config is valid");
        let mut h = Harness {
            runner,
            version,
            now: Timestamp::ZERO,
            conn: None,
            known: Known::default(),
            actors: Vec::new(),
            keys: Vec::new(),
            kv_ids: Vec::new(),
            invariants,
        };
        h.runner.start(Timestamp::ZERO);
        h.after_input();
        h
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        match u.int_in_range(0..=19u8)? {
            STEP_OPEN => self.transport_open(u),
            1 => self.transport_closed(u),
            2..=6 => self.valid_frame(u),
            7 => self.mutated_frame(u),
            STEP_RAW_FRAME => {
                let frame = script::raw(u)?;
                self.frame(u, frame)
            }
            9 => {
                let conn = self.some_conn(u)?;
                self.deliver(conn, Delivery::Text, |r, now| {
                    r.handle_text_frame(now, conn);
                });
                Ok(())
            }
            10 => {
                let ms = u.int_in_range(0..=3000u64)?;
                self.advance(Duration::from_millis(ms));
                Ok(())
            }
            STEP_NEXT_DEADLINE => {
                if let Some(at) = self.runner.poll_timeout() {
                    self.advance(at.saturating_duration_since(self.now));
                }
                Ok(())
            }
            _ => self.user_call(u),
        }
    }

    // ------------------------------------------------------------ inputs

    fn some_conn(&self, u: &mut Unstructured<'_>) -> Result<ConnId> {
        Ok(match self.conn {
            Some(conn) if !u.ratio(1, 8)? => conn,
            _ => ConnId(u.int_in_range(0..=4)?),
        })
    }

    /// One transport input on `conn`, with the checker told before and after.
    fn deliver(
        &mut self,
        conn: ConnId,
        delivery: Delivery,
        input: impl FnOnce(&mut Runner, Timestamp),
    ) {
        self.invariants
            .before_delivery(self.now, conn, delivery, &self.runner);
        input(&mut self.runner, self.now);
        self.after_input();
        self.invariants.after_delivery(self.now);
    }

    fn transport_open(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let conn = self.some_conn(u)?;
        tracing::debug!(target: "fuzz", ?conn, "step: transport open");
        self.deliver(conn, Delivery::Open, |r, now| r.handle_connected(now, conn));
        Ok(())
    }

    fn transport_closed(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let conn = self.some_conn(u)?;
        let reasons = [
            "",
            "ws.eviction#ray",
            "namespace.not_found",
            "pegboard.runner_shutdown",
            "ws.invalid_packet",
        ];
        let close = TransportClose {
            code: *script::pick(u, &[None, Some(1000), Some(1005), Some(1011)])?,
            reason: (*script::pick(u, &reasons)?).to_owned(),
            http_status: *script::pick(u, &[None, None, Some(401), Some(503)])?,
        };
        tracing::debug!(target: "fuzz", ?conn, ?close, "step: transport closed");
        self.deliver(conn, Delivery::Closed, |r, now| {
            r.handle_closed(now, conn, close);
        });
        Ok(())
    }

    fn valid_frame(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let msg = script::to_client(u, self.version, &mut self.known)?;
        let frame = encode_to_client(self.version, &msg).expect("generated frames encode");
        self.frame(u, frame)
    }

    fn mutated_frame(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let msg = script::to_client(u, self.version, &mut self.known)?;
        let mut frame = encode_to_client(self.version, &msg).expect("generated frames encode");
        script::mutate(u, &mut frame)?;
        self.frame(u, frame)
    }

    fn frame(&mut self, u: &mut Unstructured<'_>, frame: Vec<u8>) -> Result<()> {
        let conn = self.some_conn(u)?;
        let msg = decode_to_client(self.version, &frame).ok();
        tracing::debug!(target: "fuzz", ?conn, ?msg, "step: frame");
        self.deliver(conn, Delivery::Frame(msg), |r, now| {
            r.handle_frame(now, conn, &frame);
        });
        Ok(())
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        tracing::debug!(target: "fuzz", now = ?self.now, "step: timers");
        self.runner.handle_timeout(self.now);
        self.after_input();
        self.invariants.after_timeout(self.now, &self.runner);
    }

    fn actor(&self, u: &mut Unstructured<'_>) -> Result<ActorRef> {
        if !self.actors.is_empty() && !u.ratio(1, 8)? {
            let recent = &self.actors[self.actors.len().saturating_sub(8)..];
            return Ok(script::pick(u, recent)?.clone());
        }
        Ok(ActorRef::new(
            *script::pick(u, &ACTORS)?,
            u.int_in_range(0..=3)?,
        ))
    }

    fn key(&self, u: &mut Unstructured<'_>) -> Result<RequestKey> {
        if !self.keys.is_empty() && !u.ratio(1, 8)? {
            let recent = &self.keys[self.keys.len().saturating_sub(8)..];
            return Ok(*script::pick(u, recent)?);
        }
        script::request_key(u)
    }

    /// One user call (codes 0..=8 about actors and KV — 8 sometimes cancels
    /// a recent KV call instead —, 9..=16 on the tunnel, 17 about the whole
    /// runner).
    fn user_call(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        self.invariants.before_call();
        let outcome = match u.int_in_range(0..=17)? {
            8 if !self.kv_ids.is_empty() && u.ratio(1, 2)? => return self.cancel_kv(u),
            code @ 0..=8 => self.actor_call(u, code)?,
            code @ 9..=16 => self.tunnel_call(u, code)?,
            _ => return self.runner_call(u),
        };
        tracing::debug!(target: "fuzz", ?outcome, "step: user call");
        self.after_input();
        self.invariants.after_call(&outcome);
        Ok(())
    }

    fn actor_call(&mut self, u: &mut Unstructured<'_>, code: u8) -> Result<CallOutcome> {
        let now = self.now;
        let actor = self.actor(u)?;
        Ok(match code {
            0 | 1 => {
                let result = if u.ratio(1, 6)? {
                    Err(script::text(u)?)
                } else {
                    Ok(())
                };
                self.runner.actor_started(now, &actor, result)
            }
            2 => self.runner.actor_stopped(now, &actor),
            3 => self.runner.sleep_actor(now, &actor),
            4 => self.runner.stop_actor(now, &actor),
            5 => {
                let ts = u.arbitrary()?;
                self.runner.set_alarm(now, &actor, ts)
            }
            6 => {
                let message = script::text(u)?;
                self.runner.crash_actor(now, &actor, message)
            }
            _ => {
                let data = script::kv_request(u)?;
                let id = self.runner.kv(now, &actor, data.clone());
                id.map(|id| {
                    self.invariants.kv_called(now, id, &actor, &data);
                    self.kv_ids.push(id);
                    if self.kv_ids.len() > 8 {
                        self.kv_ids.remove(0);
                    }
                })
            }
        })
    }

    /// Cancels a recent KV call (maybe one that has ended already).
    fn cancel_kv(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let id = *script::pick(u, &self.kv_ids)?;
        let cancelled = self.runner.cancel_kv(self.now, id);
        tracing::debug!(target: "fuzz", ?id, cancelled, "step: cancel KV");
        // Told before the drain, whose bounds check counts the calls open.
        self.invariants.kv_cancel_returned(id, cancelled);
        self.after_input();
        Ok(())
    }

    fn tunnel_call(&mut self, u: &mut Unstructured<'_>, code: u8) -> Result<CallOutcome> {
        let now = self.now;
        let key = self.key(u)?;
        let (call, outcome) = match code {
            9 | 10 => {
                let response = HttpResponse {
                    status: u.arbitrary()?,
                    headers: [("x", script::text(u)?)].into_iter().collect(),
                    body: script::payload(u, 200)?,
                };
                (TunnelCall::Respond, self.runner.respond(now, key, response))
            }
            11 => (
                TunnelCall::AbortRequest,
                self.runner.abort_request(now, key),
            ),
            12 => {
                let hibernatable = u.arbitrary()?;
                let outcome = self.runner.websocket_accept(now, key, hibernatable);
                (TunnelCall::Accept { hibernatable }, outcome)
            }
            13 => {
                let code = *script::pick(u, &[1000, 1005, 1011, 3000, 0])?;
                let reason = script::text(u)?;
                let outcome = self.runner.websocket_reject(now, key, code, &reason);
                (TunnelCall::Reject, outcome)
            }
            14 => {
                let data = script::payload(u, 200)?;
                let binary = u.arbitrary()?;
                let outcome = self.runner.websocket_send(now, key, data, binary);
                (TunnelCall::Send, outcome)
            }
            15 => {
                let code = *script::pick(u, &[None, Some(1000), Some(1006), Some(4000)])?;
                let reason = script::text(u)?;
                let outcome = self.runner.websocket_close(now, key, code, Some(&reason));
                (TunnelCall::Close, outcome)
            }
            _ => {
                let index = u.arbitrary()?;
                let _ = self.runner.websocket_indices(key);
                (TunnelCall::Send, self.runner.websocket_ack(now, key, index))
            }
        };
        if outcome.is_ok() {
            self.invariants.tunnel.on_call(key, &call);
        }
        Ok(outcome)
    }

    /// Calls about the whole runner, or several sockets at once.
    fn runner_call(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        match u.int_in_range(0..=3)? {
            0 => {
                let actor = self.actor(u)?;
                let mut persisted = Vec::new();
                for _ in 0..u.int_in_range(0..=3)? {
                    persisted.push(HibernatedSocket {
                        key: self.key(u)?,
                        last_received_index: u.int_in_range(0..=3)?,
                        next_sent_index: u.int_in_range(0..=3)?,
                        path: "/".into(),
                        headers: Default::default(),
                    });
                }
                let restored = self.runner.restore_websockets(self.now, &actor, persisted);
                if let Ok(report) = &restored {
                    self.invariants.tunnel.on_restore(report);
                }
            }
            1 => self.runner.start(self.now),
            2 => self.runner.shutdown(self.now, ShutdownMode::Graceful),
            _ => self.runner.shutdown(self.now, ShutdownMode::Immediate),
        }
        self.after_input();
        Ok(())
    }

    /// The end of every script: an immediate shutdown ends everything.
    fn finish(&mut self) {
        self.runner.shutdown(self.now, ShutdownMode::Immediate);
        self.after_input();
        assert!(
            self.invariants.is_shut_down(),
            "no ShutdownComplete after an immediate shutdown"
        );
        assert!(self.runner.is_shut_down());
    }

    // ------------------------------------------------------------ outputs

    /// Drains the outputs of one input (the drain contract), learning the
    /// script's ids from them, and has the checker check them.
    fn after_input(&mut self) {
        while let Some(transmit) = self.runner.poll_transmit() {
            self.on_transmit(&transmit);
        }
        while let Some(event) = self.runner.poll_event() {
            self.invariants.on_event(self.now, &event);
            self.learn(event);
        }
        self.invariants.after_drain(&self.runner);
    }

    fn on_transmit(&mut self, transmit: &Transmit) {
        if let Transmit::Connect { conn, .. } = transmit {
            self.conn = Some(*conn);
        }
        let frame_conn = matches!(transmit, Transmit::Frame(_))
            .then_some(self.conn)
            .flatten();
        self.invariants
            .on_transmit(self.now, frame_conn, transmit, self.version);
        if let Transmit::Frame(bytes) = transmit {
            if let Ok(ToServer::KvRequest(kv)) = decode_to_server(self.version, bytes) {
                let ids = &mut self.known.kv_wire_ids;
                ids.push(kv.request_id);
                if ids.len() > 8 {
                    ids.remove(0);
                }
            }
        }
    }

    /// Remembers the actors and request keys the runner names, so that
    /// later steps call on them.
    fn learn(&mut self, event: Event) {
        match event {
            Event::ActorStart { actor, .. } => self.actors.push(actor),
            Event::HttpRequest(request) => self.keys.push(request.key),
            Event::WebSocketOpen(open) => self.keys.push(open.key),
            _ => {}
        }
    }
}

/// What a user call returned, its value dropped.
type CallOutcome = std::result::Result<(), CallError>;
