//! Invariants checked on every input of every simulation (spec §10.8).
//!
//! The checker only looks at what crosses the runner's boundary — frames,
//! events, deliveries — and panics at the first violation:
//!
//! * the first frame on every connection is `ToServerInit`, and no frame goes
//!   out while no connection is open;
//! * every `ToClientPing` the runner processes is answered with the same ts;
//! * per (actor, generation), event indices start at 0 and increase by one,
//!   and a resent event is identical to the original: an index is never
//!   reused; an acknowledged event is never sent again; an orphaned
//!   generation (runner id changed, newer generation started) sends nothing;
//! * per connection, an event is sent at most once;
//! * after each init, every event not acknowledged and not droppable under
//!   the retention rule (`runner/outbox.rs`: a stopped generation is
//!   forgotten once its frames went out on a connection that stayed ready for
//!   `timeouts.retention`, or when more than `max_retired_generations` newer
//!   ones exist) is resent, in (actor, generation, index) order;
//! * a user start runs at most once per generation;
//! * every KV call ends exactly once, within the KV timeout, and all are
//!   ended by `ShutdownComplete`; nothing is emitted after it;
//! * after `handle_timeout(now)`, `poll_timeout()` is later than `now`;
//! * every queue stays under its bound;
//! * the tunnel's invariants ([`TunnelCheck`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use runner_core::protocol::{
    ActorState, Command, Event as WireEvent, EventWrapper, Id, ProtocolVersion, ToClient, ToServer,
    decode_to_server,
};
use runner_core::{
    ActorRef, Config, ConnId, Event, KvRequestId, Limits, Runner, Timestamp, Transmit,
};

use super::link::Packet;
use super::tunnel_check::TunnelCheck;

/// Bound on messages in flight on the link and callbacks in progress.
const MAX_IN_FLIGHT: usize = 100_000;

type GenKey = (Id, u32);

/// What the checker knows of one (actor, generation).
#[derive(Debug)]
struct GenTrack {
    /// Events by index, as first sent.
    events: Vec<WireEvent>,
    /// Highest index the runner processed an acknowledgement for.
    acked: i64,
    /// The engine no longer cares: nothing may be sent for it.
    orphaned: bool,
    /// Input (counted by deliveries) in which its `Stopped` was first seen.
    retired: Option<u64>,
    /// (when, connection) at which the runner may forget it.
    confirms: Vec<(Timestamp, ConnId)>,
}

/// The runner's connection as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnPhase {
    Connecting,
    Open,
    Ready,
    Gone,
}

/// The invariant checker; see the module documentation.
#[derive(Debug)]
pub struct Invariants {
    limits: Limits,
    kv_timeout: Duration,
    retention: Duration,

    current: Option<ConnId>,
    phase: ConnPhase,
    frames_on_current: usize,
    sent_on_current: BTreeSet<(Id, u32, i64)>,
    ready_periods: BTreeMap<ConnId, (Timestamp, Option<Timestamp>)>,
    runner_id: Option<Id>,

    // Scratch of the input being processed.
    ping_to_answer: Option<i64>,
    drain_events: Vec<(Id, u32, i64)>,
    drain_pongs: Vec<i64>,

    gens: BTreeMap<GenKey, GenTrack>,
    live_gen: BTreeMap<Id, u32>,
    /// Deliveries so far: orders retirements (coarsely, so the check stays
    /// lenient where the runner's own order is not observable).
    input_seq: u64,
    init_pending: bool,
    started: BTreeSet<ActorRef>,
    kv_pending: BTreeMap<KvRequestId, Timestamp>,
    kv_seen: BTreeSet<KvRequestId>,
    shut_down: bool,
    now: Timestamp,
    /// The tunnel's part.
    pub tunnel: TunnelCheck,
}

impl Invariants {
    /// A checker for a runner configured with `config`.
    pub fn new(config: &Config) -> Self {
        Invariants {
            limits: config.limits.clone(),
            kv_timeout: config.timeouts.kv_request,
            retention: config.timeouts.retention,
            current: None,
            phase: ConnPhase::Gone,
            frames_on_current: 0,
            sent_on_current: BTreeSet::new(),
            ready_periods: BTreeMap::new(),
            runner_id: None,
            ping_to_answer: None,
            drain_events: Vec::new(),
            drain_pongs: Vec::new(),
            gens: BTreeMap::new(),
            live_gen: BTreeMap::new(),
            input_seq: 0,
            init_pending: false,
            started: BTreeSet::new(),
            kv_pending: BTreeMap::new(),
            kv_seen: BTreeSet::new(),
            shut_down: false,
            now: Timestamp::ZERO,
            tunnel: TunnelCheck::new(&config.limits),
        }
    }

    /// KV calls issued and not ended yet.
    pub fn pending_kv(&self) -> usize {
        self.kv_pending.len()
    }

    /// Events the runner sent for (actor, generation), by index.
    pub fn events_of(&self, actor: &ActorRef) -> Vec<WireEvent> {
        let key = (actor.actor_id.clone(), actor.generation);
        self.gens
            .get(&key)
            .map(|g| g.events.clone())
            .unwrap_or_default()
    }

    // ----- hooks called by the harness ---------------------------------

    pub(super) fn on_transmit(
        &mut self,
        now: Timestamp,
        conn: Option<ConnId>,
        transmit: &Transmit,
        version: ProtocolVersion,
    ) {
        self.now = now;
        assert!(!self.shut_down, "{transmit:?} after ShutdownComplete");
        match transmit {
            Transmit::Connect { conn, .. } => {
                self.end_ready(now);
                self.current = Some(*conn);
                self.phase = ConnPhase::Connecting;
                self.frames_on_current = 0;
                self.sent_on_current.clear();
            }
            Transmit::Close { conn, .. } => {
                if self.current == Some(*conn) {
                    self.end_ready(now);
                    self.phase = ConnPhase::Gone;
                }
            }
            Transmit::Frame(bytes) => {
                let msg = decode_to_server(version, bytes)
                    .unwrap_or_else(|e| panic!("runner sent an undecodable frame: {e}"));
                self.on_frame_sent(now, conn, msg);
            }
        }
    }

    fn on_frame_sent(&mut self, now: Timestamp, conn: Option<ConnId>, msg: ToServer) {
        assert!(
            conn.is_some() && conn == self.current,
            "frame {msg:?} sent with no connection"
        );
        assert!(
            matches!(self.phase, ConnPhase::Open | ConnPhase::Ready),
            "frame {msg:?} sent while the connection is {:?}",
            self.phase
        );
        self.frames_on_current += 1;
        if self.frames_on_current == 1 {
            assert!(
                matches!(msg, ToServer::Init(_)),
                "first frame on {conn:?} is {msg:?}"
            );
        }
        match msg {
            ToServer::Events(events) => {
                for e in events {
                    self.on_event_sent(now, e);
                }
            }
            ToServer::Pong(p) => self.drain_pongs.push(p.ts),
            ToServer::TunnelMessage(m) => self.tunnel.on_sent(&m),
            _ => {}
        }
    }

    fn on_event_sent(&mut self, now: Timestamp, e: EventWrapper) {
        let cp = &e.checkpoint;
        let key = (cp.actor_id.clone(), cp.generation);
        let conn_key = (cp.actor_id.clone(), cp.generation, cp.index);
        assert!(
            self.sent_on_current.insert(conn_key.clone()),
            "event {conn_key:?} sent twice on one connection"
        );
        self.drain_events.push(conn_key);
        let track = self.gens.entry(key.clone()).or_default();
        assert!(
            !track.orphaned,
            "event {cp:?} of an orphaned generation was sent"
        );
        assert!(
            cp.index > track.acked,
            "acknowledged event {cp:?} was sent again"
        );
        let index = usize::try_from(cp.index).expect("negative event index");
        match index.cmp(&track.events.len()) {
            std::cmp::Ordering::Less => assert_eq!(
                track.events[index], e.inner,
                "event index {cp:?} reused for a different event"
            ),
            std::cmp::Ordering::Equal => track.events.push(e.inner.clone()),
            std::cmp::Ordering::Greater => panic!(
                "event {cp:?} skips indices (next expected {})",
                track.events.len()
            ),
        }
        if is_stopped(&e.inner) && track.retired.is_none() {
            track.retired = Some(self.input_seq);
            if self.phase == ConnPhase::Ready && !self.init_pending {
                let conn = self.current.expect("ready without a connection");
                track.confirms.push((now + self.retention, conn));
            }
            if self.live_gen.get(&key.0) == Some(&key.1) {
                self.live_gen.remove(&key.0);
            }
        }
    }

    pub(super) fn on_event(&mut self, now: Timestamp, event: &Event) {
        self.now = now;
        assert!(!self.shut_down, "{event:?} after ShutdownComplete");
        self.tunnel.on_event(event);
        match event {
            Event::Connected { .. } => {
                let conn = self.current.expect("connected without a connection");
                self.phase = ConnPhase::Ready;
                // A second init on the same connection keeps it ready since
                // the first.
                self.ready_periods.entry(conn).or_insert((now, None));
            }
            Event::Disconnected { .. } => {
                self.end_ready(now);
                if self.phase != ConnPhase::Connecting {
                    self.phase = ConnPhase::Gone;
                }
            }
            Event::ActorStart { actor, .. } => {
                assert!(
                    self.started.insert(actor.clone()),
                    "{actor:?} started twice"
                );
                self.live_gen
                    .insert(actor.actor_id.clone(), actor.generation);
            }
            Event::KvResult { id, .. } => {
                assert!(
                    self.kv_pending.remove(id).is_some(),
                    "KV result for {id:?}, which is not pending (unknown or already ended)"
                );
            }
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

    pub(super) fn kv_called(&mut self, now: Timestamp, id: KvRequestId) {
        assert!(self.kv_seen.insert(id), "KV id {id:?} reused");
        self.kv_pending.insert(id, now);
    }

    pub(super) fn before_delivery(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        packet: &Packet,
        decoded: Option<ToClient>,
        runner: &Runner,
    ) {
        self.now = now;
        self.input_seq += 1;
        self.ping_to_answer = None;
        self.init_pending = false;
        self.drain_events.clear();
        self.drain_pongs.clear();
        if Some(conn) != self.current {
            return;
        }
        if *packet == Packet::Open && self.phase == ConnPhase::Connecting {
            self.phase = ConnPhase::Open;
        }
        let processed = matches!(self.phase, ConnPhase::Open | ConnPhase::Ready);
        if let Some(msg) = decoded.as_ref().filter(|_| self.phase == ConnPhase::Ready) {
            self.tunnel.on_delivery(msg, runner);
        }
        match decoded {
            Some(ToClient::Ping(p)) if processed => self.ping_to_answer = Some(p.ts),
            Some(ToClient::Init(init)) if processed => self.before_init(init.runner_id),
            Some(ToClient::AckEvents(ack)) if self.phase == ConnPhase::Ready => {
                for cp in ack.last_event_checkpoints {
                    if let Some(track) = self.gens.get_mut(&(cp.actor_id, cp.generation)) {
                        let last = i64::try_from(track.events.len()).unwrap_or(i64::MAX) - 1;
                        track.acked = track.acked.max(cp.index.min(last));
                    }
                }
            }
            Some(ToClient::Commands(commands)) if self.phase == ConnPhase::Ready => {
                for c in commands {
                    if matches!(c.inner, Command::StartActor(_)) {
                        self.superseded(&c.checkpoint.actor_id, c.checkpoint.generation);
                    }
                }
            }
            _ => {}
        }
    }

    /// A start for a newer generation orphans the live one.
    fn superseded(&mut self, actor: &Id, generation: u32) {
        let Some(&live) = self.live_gen.get(actor) else {
            return;
        };
        if live < generation {
            self.live_gen.remove(actor);
            if let Some(track) = self.gens.get_mut(&(actor.clone(), live)) {
                track.orphaned = true;
            }
        }
    }

    fn before_init(&mut self, runner_id: Id) {
        if self.runner_id.as_ref().is_some_and(|old| *old != runner_id) {
            self.tunnel.runner_id_changed();
            // Everything belonged to the old runner id.
            for track in self.gens.values_mut() {
                track.orphaned = true;
            }
            self.live_gen.clear();
        }
        self.runner_id = Some(runner_id);
        // A (re-)init starts a new resend on this connection.
        self.sent_on_current.clear();
        self.init_pending = true;
    }

    /// What the resend must contain, judged once it went out (so that
    /// generations it reveals as stopped count for the retention limit).
    fn expected_resend(&self, now: Timestamp) -> Vec<(Id, u32, i64)> {
        self.gens
            .iter()
            .filter(|(_, g)| !g.orphaned && !self.droppable(g, now))
            .flat_map(|((actor, generation), g)| {
                let first = g.acked + 1;
                let count = i64::try_from(g.events.len()).unwrap_or(i64::MAX);
                (first..count).map(move |i| (actor.clone(), *generation, i))
            })
            .collect()
    }

    /// Whether the runner may have forgotten a stopped generation.
    fn droppable(&self, track: &GenTrack, now: Timestamp) -> bool {
        let Some(seq) = track.retired else {
            return false;
        };
        // Generations retired in the same input or later; the runner
        // forgets the oldest beyond its limit.
        let newer = self
            .gens
            .values()
            .filter(|g| g.retired.is_some_and(|s| s >= seq))
            .count()
            - 1;
        newer >= self.limits.max_retired_generations
            || track
                .confirms
                .iter()
                .any(|(at, conn)| *at <= now && self.was_ready_at(*conn, *at))
    }

    fn was_ready_at(&self, conn: ConnId, at: Timestamp) -> bool {
        self.ready_periods
            .get(&conn)
            .is_some_and(|(from, until)| *from <= at && until.is_none_or(|u| u >= at))
    }

    pub(super) fn after_delivery(&mut self, now: Timestamp) {
        if let Some(ts) = self.ping_to_answer.take() {
            assert!(
                self.drain_pongs.contains(&ts),
                "ping {ts} not answered (pongs sent: {:?})",
                self.drain_pongs
            );
        }
        if std::mem::take(&mut self.init_pending) {
            let expected = self.expected_resend(now);
            self.check_resend(&expected);
            if self.phase == ConnPhase::Ready {
                let conn = self.current.expect("ready without a connection");
                let at = now + self.retention;
                for track in self.gens.values_mut() {
                    if track.retired.is_some() && !track.orphaned {
                        track.confirms.push((at, conn));
                    }
                }
            }
        }
    }

    fn check_resend(&self, expected: &[(Id, u32, i64)]) {
        let sent = &self.drain_events;
        assert!(
            sent.windows(2).all(|w| w[0] < w[1]),
            "resend not in (actor, generation, index) order: {sent:?}"
        );
        let sent_set: BTreeSet<_> = sent.iter().collect();
        let missing: Vec<_> = expected.iter().filter(|k| !sent_set.contains(k)).collect();
        assert!(
            missing.is_empty(),
            "unacknowledged events not resent after init: {missing:?} (sent {sent:?})"
        );
    }

    pub(super) fn after_timeout(&mut self, now: Timestamp, runner: &Runner) {
        if let Some(next) = runner.poll_timeout() {
            assert!(
                next > now,
                "poll_timeout {next:?} not after handle_timeout({now:?})"
            );
        }
    }

    pub(super) fn check_bounds(
        &mut self,
        runner: &Runner,
        in_flight: usize,
        engine_queued: usize,
        callbacks: usize,
    ) {
        let l = &self.limits;
        assert!(
            runner.actor_count() <= l.max_actors,
            "actor table over its limit"
        );
        assert!(
            runner.pending_kv_count() <= l.max_pending_kv,
            "KV table over its limit"
        );
        assert!(
            runner.retired_generation_count() <= l.max_retired_generations,
            "retired generations over their limit"
        );
        assert!(in_flight <= MAX_IN_FLIGHT, "{in_flight} messages in flight");
        assert_eq!(engine_queued, 0, "engine output not drained");
        assert!(
            callbacks <= MAX_IN_FLIGHT,
            "{callbacks} callbacks in progress"
        );
        for (id, issued) in &self.kv_pending {
            let age = self.now.saturating_duration_since(*issued);
            assert!(age <= self.kv_timeout, "KV call {id:?} pending for {age:?}");
        }
    }

    fn end_ready(&mut self, now: Timestamp) {
        if self.phase != ConnPhase::Ready {
            return;
        }
        if let Some(conn) = self.current {
            if let Some(period) = self.ready_periods.get_mut(&conn) {
                period.1.get_or_insert(now);
            }
        }
    }
}

impl Default for GenTrack {
    fn default() -> Self {
        GenTrack {
            events: Vec::new(),
            acked: -1,
            orphaned: false,
            retired: None,
            confirms: Vec::new(),
        }
    }
}

fn is_stopped(e: &WireEvent) -> bool {
    matches!(
        e,
        WireEvent::StateUpdate(u) if matches!(u.state, ActorState::Stopped(_))
    )
}
