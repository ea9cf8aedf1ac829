//! The `core` fuzz target: the state machine fed a script of inputs, with
//! its invariants checked after every step.
//!
//! The script is read from the fuzzer's bytes with [`arbitrary::Unstructured`]:
//! the first byte picks the protocol version, then each step is one input —
//! a transport event (open, close with a code, reason or HTTP status, text
//! frame), an engine frame (well-formed from [`script`](super::script),
//! well-formed then damaged, or raw bytes), a timer advance (time only moves
//! forward, sometimes straight to [`Runner::poll_timeout`]), or a user call
//! (actor lifecycle, intents, alarms, KV, HTTP responses, WebSocket calls,
//! hibernation restore, shutdown). The runner runs with tiny limits so that
//! a short script reaches every one of them. A script ends with an immediate
//! shutdown.
//!
//! After every step, with the outputs drained as the drain contract says:
//!
//! * nothing panicked;
//! * actors, pending KV requests, retired generations, open requests (at most
//!   `max_requests_per_actor` per live actor) and buffered tunnel messages
//!   are within their limits, and the core's pending-KV count is the number
//!   of KV calls that have not ended;
//! * every outbound frame decodes, goes out on an open connection, and the
//!   first frame of each connection is `ToServerInit`;
//! * every ping delivered on the open connection is answered with its `ts`;
//! * every KV call ends exactly once, all before `ShutdownComplete`, and
//!   nothing at all comes out after it;
//! * a generation is started at most once per runner id, until the runner
//!   may have forgotten a stopped one (retired limit or retention);
//! * a refused user call emits nothing;
//! * after `handle_timeout(now)`, the next deadline is later than `now`.

use std::collections::BTreeSet;
use std::time::Duration;

use arbitrary::{Result, Unstructured};

use super::script::{self, ACTORS, Known};
use crate::protocol::ProtocolVersion;
use crate::protocol::{
    Id, ToClient, ToServer, decode_to_client, decode_to_server, encode_to_client,
};
use crate::{
    ActorRef, Config, ConnId, Event, HibernatedSocket, HttpResponse, KvRequestId, Limits,
    RequestKey, Runner, ShutdownMode, Timestamp, Transmit, TransportClose,
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
        max_unacked_events_per_actor: 3,
        max_retired_generations: 3,
        events_per_frame: 2,
        max_actors: 3,
        max_tunnel_payload: 128,
        max_request_body: 256,
        max_requests_per_actor: 2,
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

/// Where the harness believes the runner's connection is, from the
/// transmits it saw and the transport events it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// `Connect` seen, transport not open yet.
    Connecting,
    /// Transport open: frames may flow.
    Open,
    /// Closed by either side.
    Gone,
}

struct Harness {
    runner: Runner,
    version: ProtocolVersion,
    limits: Limits,
    now: Timestamp,
    conn: Option<(ConnId, Link)>,
    frames_on_conn: usize,
    known: Known,
    actors: Vec<ActorRef>,
    keys: Vec<RequestKey>,
    kv_pending: BTreeSet<KvRequestId>,
    kv_ended: BTreeSet<KvRequestId>,
    started: BTreeSet<ActorRef>,
    /// The runner may have forgotten a stopped generation (retired limit
    /// reached, or retention over): a replayed start may then run it again,
    /// as `Limits::max_retired_generations` documents.
    forgetting: bool,
    retired: usize,
    runner_id: Option<Id>,
    shut_down: bool,
    /// Outputs of the input being checked.
    frames: Vec<ToServer>,
    event_count: usize,
}

impl Harness {
    fn new(version: ProtocolVersion) -> Self {
        let config = config(version);
        let limits = config.limits.clone();
        let runner = Runner::new(config, Timestamp::ZERO).expect("the fuzz config is valid");
        let mut h = Harness {
            runner,
            version,
            limits,
            now: Timestamp::ZERO,
            conn: None,
            frames_on_conn: 0,
            known: Known::default(),
            actors: Vec::new(),
            keys: Vec::new(),
            kv_pending: BTreeSet::new(),
            kv_ended: BTreeSet::new(),
            started: BTreeSet::new(),
            forgetting: false,
            retired: 0,
            runner_id: None,
            shut_down: false,
            frames: Vec::new(),
            event_count: 0,
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
                self.runner.handle_text_frame(self.now, conn);
                self.after_input();
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
            Some((conn, _)) if !u.ratio(1, 8)? => conn,
            _ => ConnId(u.int_in_range(0..=4)?),
        })
    }

    fn transport_open(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let conn = self.some_conn(u)?;
        if self.conn == Some((conn, Link::Connecting)) {
            self.conn = Some((conn, Link::Open));
        }
        tracing::debug!(target: "fuzz", ?conn, "step: transport open");
        self.runner.handle_connected(self.now, conn);
        self.after_input();
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
        if self.conn.is_some_and(|(c, _)| c == conn) {
            self.conn = Some((conn, Link::Gone));
        }
        tracing::debug!(target: "fuzz", ?conn, ?close, "step: transport closed");
        self.runner.handle_closed(self.now, conn, close);
        self.after_input();
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
        let on_open_conn = self.conn == Some((conn, Link::Open));
        let ping = match decode_to_client(self.version, &frame) {
            Ok(ToClient::Ping(p)) if on_open_conn => Some(p.ts),
            _ => None,
        };
        tracing::debug!(
            target: "fuzz",
            ?conn,
            msg = ?decode_to_client(self.version, &frame),
            "step: frame"
        );
        self.runner.handle_frame(self.now, conn, &frame);
        self.after_input();
        if let Some(ts) = ping {
            let answered = self
                .frames
                .iter()
                .any(|f| matches!(f, ToServer::Pong(p) if p.ts == ts));
            assert!(
                answered,
                "ping {ts} on the open connection was not answered"
            );
        }
        Ok(())
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        tracing::debug!(target: "fuzz", now = ?self.now, "step: timers");
        self.runner.handle_timeout(self.now);
        self.after_input();
        if let Some(next) = self.runner.poll_timeout() {
            assert!(
                next > self.now,
                "after handle_timeout({:?}) the next deadline is {next:?}",
                self.now
            );
        }
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

    fn user_call(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let now = self.now;
        let outcome = match u.int_in_range(0..=17)? {
            0 | 1 => {
                let actor = self.actor(u)?;
                let result = if u.ratio(1, 6)? {
                    Err(script::text(u)?)
                } else {
                    Ok(())
                };
                self.runner.actor_started(now, &actor, result)
            }
            2 => {
                let actor = self.actor(u)?;
                self.runner.actor_stopped(now, &actor)
            }
            3 => {
                let actor = self.actor(u)?;
                self.runner.sleep_actor(now, &actor)
            }
            4 => {
                let actor = self.actor(u)?;
                self.runner.stop_actor(now, &actor)
            }
            5 => {
                let actor = self.actor(u)?;
                let ts = u.arbitrary()?;
                self.runner.set_alarm(now, &actor, ts)
            }
            6 => {
                let actor = self.actor(u)?;
                let message = script::text(u)?;
                self.runner.crash_actor(now, &actor, message)
            }
            7 | 8 => {
                let actor = self.actor(u)?;
                let data = script::kv_request(u)?;
                self.runner.kv(now, &actor, data).map(|id| {
                    assert!(
                        !self.kv_ended.contains(&id) && self.kv_pending.insert(id),
                        "KV id {id:?} reused"
                    );
                })
            }
            9 | 10 => {
                let key = self.key(u)?;
                let response = HttpResponse {
                    status: u.arbitrary()?,
                    headers: [("x", script::text(u)?)].into_iter().collect(),
                    body: script::payload(u, 200)?,
                };
                self.runner.respond(now, key, response)
            }
            11 => {
                let key = self.key(u)?;
                self.runner.abort_request(now, key)
            }
            12 => {
                let key = self.key(u)?;
                let hibernatable = u.arbitrary()?;
                self.runner.websocket_accept(now, key, hibernatable)
            }
            13 => {
                let key = self.key(u)?;
                let code = *script::pick(u, &[1000, 1005, 1011, 3000, 0])?;
                let reason = script::text(u)?;
                self.runner.websocket_reject(now, key, code, &reason)
            }
            14 => {
                let key = self.key(u)?;
                let data = script::payload(u, 200)?;
                let binary = u.arbitrary()?;
                self.runner.websocket_send(now, key, data, binary)
            }
            15 => {
                let key = self.key(u)?;
                let code = *script::pick(u, &[None, Some(1000), Some(1006), Some(4000)])?;
                let reason = script::text(u)?;
                self.runner.websocket_close(now, key, code, Some(&reason))
            }
            16 => {
                let key = self.key(u)?;
                let index = u.arbitrary()?;
                let _ = self.runner.websocket_indices(key);
                self.runner.websocket_ack(now, key, index)
            }
            _ => return self.runner_call(u),
        };
        tracing::debug!(target: "fuzz", ?outcome, "step: user call");
        self.after_input();
        if let Err(e) = outcome {
            assert!(
                self.frames.is_empty() && self.event_count == 0,
                "refused call ({e}) emitted frames {:?} or {} events",
                self.frames,
                self.event_count
            );
        }
        Ok(())
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
                let _ = self.runner.restore_websockets(self.now, &actor, persisted);
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
            self.shut_down,
            "no ShutdownComplete after an immediate shutdown"
        );
        assert!(self.runner.is_shut_down());
    }

    // ------------------------------------------------------------ checks

    /// Drains the outputs of one input and checks them and the state.
    fn after_input(&mut self) {
        self.frames.clear();
        self.event_count = 0;
        while let Some(transmit) = self.runner.poll_transmit() {
            assert!(!self.shut_down, "{transmit:?} after ShutdownComplete");
            self.on_transmit(transmit);
        }
        while let Some(event) = self.runner.poll_event() {
            assert!(!self.shut_down, "{event:?} after ShutdownComplete");
            self.event_count += 1;
            self.on_event(event);
        }
        self.check_bounds();
    }

    fn on_transmit(&mut self, transmit: Transmit) {
        match transmit {
            Transmit::Connect { conn, .. } => {
                if let Some((old, _)) = self.conn {
                    assert!(conn > old, "connection id {conn:?} reused after {old:?}");
                }
                self.conn = Some((conn, Link::Connecting));
                self.frames_on_conn = 0;
            }
            Transmit::Close { conn, .. } => {
                if self.conn.is_some_and(|(c, _)| c == conn) {
                    self.conn = Some((conn, Link::Gone));
                }
            }
            Transmit::Frame(bytes) => {
                assert!(
                    matches!(self.conn, Some((_, Link::Open))),
                    "frame sent while the connection is {:?}",
                    self.conn
                );
                let msg = decode_to_server(self.version, &bytes)
                    .unwrap_or_else(|e| panic!("the runner sent an undecodable frame: {e}"));
                self.frames_on_conn += 1;
                if self.frames_on_conn == 1 {
                    assert!(matches!(msg, ToServer::Init(_)), "first frame is {msg:?}");
                }
                if let ToServer::KvRequest(kv) = &msg {
                    let ids = &mut self.known.kv_wire_ids;
                    ids.push(kv.request_id);
                    if ids.len() > 8 {
                        ids.remove(0);
                    }
                }
                self.frames.push(msg);
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected { runner_id, .. } => {
                if self.runner_id.as_ref().is_some_and(|old| *old != runner_id) {
                    // A new runner id: the engine may start any generation again.
                    self.started.clear();
                }
                self.runner_id = Some(runner_id);
            }
            Event::ActorStart { actor, .. } => {
                assert!(
                    self.started.insert(actor.clone()) || self.forgetting,
                    "{actor:?} started twice"
                );
                self.actors.push(actor);
            }
            Event::KvResult { id, .. } => {
                assert!(
                    self.kv_pending.remove(&id) && self.kv_ended.insert(id),
                    "KV result for {id:?}, which is not pending"
                );
            }
            Event::HttpRequest(request) => self.keys.push(request.key),
            Event::WebSocketOpen(open) => self.keys.push(open.key),
            Event::ShutdownComplete { .. } => {
                assert!(
                    self.kv_pending.is_empty(),
                    "shutdown completed with KV calls pending: {:?}",
                    self.kv_pending
                );
                self.shut_down = true;
            }
            _ => {}
        }
    }

    fn check_bounds(&mut self) {
        let retired = self.runner.retired_generation_count();
        if retired < self.retired || retired >= self.limits.max_retired_generations {
            self.forgetting = true;
        }
        self.retired = retired;
        let r = &self.runner;
        let l = &self.limits;
        assert!(
            r.actor_count() <= l.max_actors,
            "{} actors",
            r.actor_count()
        );
        assert_eq!(
            r.pending_kv_count(),
            self.kv_pending.len(),
            "the core's pending KV count differs from the calls not ended"
        );
        assert!(r.pending_kv_count() <= l.max_pending_kv);
        assert!(
            r.retired_generation_count() <= l.max_retired_generations,
            "{} retired generations",
            r.retired_generation_count()
        );
        let request_bound = r.actor_count() * l.max_requests_per_actor;
        assert!(
            r.open_request_count() <= request_bound,
            "{} open requests for {} actors",
            r.open_request_count(),
            r.actor_count()
        );
        assert!(r.buffered_tunnel_messages() <= l.max_buffered_messages);
    }
}
