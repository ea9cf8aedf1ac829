//! The runner's invariants (spec §10.8), checked after every input by the
//! `core` fuzz target ([`core`](super::core)) and by every simulation of the
//! `tests` crate (`tests::sim`): one checker, so that both hold the runner
//! to the same rules.
//!
//! The checker only looks at what crosses the runner's boundary — frames,
//! events, deliveries, user calls — plus the runner's public counters, and
//! panics at the first violation:
//!
//! * connection ids are never reused;
//! * the first frame on every connection is `ToServerInit`, every frame
//!   decodes, and no frame goes out while no connection is open;
//! * every `ToClientPing` the runner processes is answered with the same ts;
//! * per (actor, generation), event indices start at 0 and increase by one,
//!   and a resent event is identical to the original: an index is never
//!   reused; an acknowledged event is never sent again; an orphaned
//!   generation (runner id changed, newer generation started) sends nothing;
//! * per connection, an event is sent at most once;
//! * after each init, every event not acknowledged and not droppable under
//!   the retention rule (`runner/outbox.rs`: a stopped generation is
//!   forgotten once its frames went out on a connection that stayed ready for
//!   `timeouts.retention` — never earlier, whatever
//!   `max_retired_generations`; only a refused start, which never ran, may
//!   not be remembered at all) is resent, in (actor, generation, index)
//!   order;
//! * a user start runs at most once per generation;
//! * every KV call ends exactly once (one `KvResult`, or one successful
//!   `cancel_kv` and then no `KvResult`), within the KV timeout counted from
//!   the call, and all are ended by `ShutdownComplete`; nothing is emitted
//!   after it; the runner's pending-KV count is the number of calls not
//!   ended, and at most `max_pending_kv` of them are out (the rest queued,
//!   at most `max_queued_kv`);
//! * KV requests go out for the first time in call order, each carrying
//!   its call's actor and data: never one for a call that was cancelled
//!   or had ended before it was sent; a request sent again (after a
//!   reconnect) belongs to a call not ended and not cancelled;
//! * a refused user call emits nothing;
//! * after `handle_timeout(now)`, `poll_timeout()` is later than `now`;
//! * every queue stays under its bound;
//! * the tunnel's invariants ([`TunnelCheck`]).
//!
//! **The engine's side.** A simulated engine follows the protocol; a fuzzer
//! sends anything. [`Invariants::new`] assumes the former. Some rules only
//! hold against such an engine, so [`Invariants::any_engine`], for the
//! fuzzer, leaves them out and checks everything else:
//!
//! * a generation may start again after a runner-id change, or once the
//!   runner may have forgotten a stopped generation (its retention over, or
//!   a refused start not remembered): such an engine may replay starts it
//!   has seen acknowledged;
//! * the resend after an init is not checked for completeness, nor an
//!   orphaned generation for silence: both follow the engine's acks and
//!   starts, which need not make sense;
//! * the tunnel is checked for its payloads and bounds only
//!   ([`TunnelCheck::any_gateway`]).

pub mod tunnel;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::protocol::{
    self, ActorState, Command, EventWrapper, Id, KvRequestData, ProtocolVersion, ToClient,
    ToServer, ToServerKvRequest, decode_to_server,
};
use crate::{ActorRef, Config, ConnId, Event, KvRequestId, Limits, Runner, Timestamp, Transmit};

use self::tunnel::TunnelCheck;

/// What reached the runner on a connection, for
/// [`Invariants::before_delivery`].
#[derive(Debug)]
pub enum Delivery {
    /// The transport opened (`handle_connected`).
    Open,
    /// A binary frame (`handle_frame`), with the message it decodes to.
    Frame(Option<ToClient>),
    /// A text frame (`handle_text_frame`).
    Text,
    /// The transport closed or was refused (`handle_closed`).
    Closed,
}

type GenKey = (Id, u32);

/// What the checker knows of one (actor, generation).
#[derive(Debug)]
struct GenTrack {
    /// Events by index, as first sent.
    events: Vec<protocol::Event>,
    /// Highest index the runner processed an acknowledgement for.
    acked: i64,
    /// The engine no longer cares: nothing may be sent for it.
    orphaned: bool,
    /// Input (counted by deliveries) in which its `Stopped` was first seen.
    retired: Option<u64>,
    /// The user was asked to start it (a refused start never is).
    started: bool,
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
    /// The engine may send anything ([`Invariants::any_engine`]).
    any_engine: bool,
    /// The runner may have forgotten a stopped generation: its retired
    /// count fell (only consulted with `any_engine`).
    forgetting: bool,
    retired: usize,
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
    /// Calls not ended, not cancelled and never sent: what the next first
    /// send must be (the oldest), with its actor and data.
    kv_unsent: BTreeMap<KvRequestId, (Id, KvRequestData)>,
    /// Wire ids sent so far, and their calls.
    kv_wire: BTreeMap<u32, KvRequestId>,
    kv_cancelled: BTreeSet<KvRequestId>,
    shut_down: bool,
    /// Frames and events since [`Invariants::before_call`].
    call_outputs: usize,
    now: Timestamp,
    /// The tunnel's part.
    pub tunnel: TunnelCheck,
}

impl Invariants {
    /// A checker for a runner configured with `config`, talking to an
    /// engine that follows the protocol.
    pub fn new(config: &Config) -> Self {
        Invariants {
            limits: config.limits.clone(),
            any_engine: false,
            forgetting: false,
            retired: 0,
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
            kv_unsent: BTreeMap::new(),
            kv_wire: BTreeMap::new(),
            kv_cancelled: BTreeSet::new(),
            shut_down: false,
            call_outputs: 0,
            now: Timestamp::ZERO,
            tunnel: TunnelCheck::new(&config.limits),
        }
    }

    /// A checker for a runner configured with `config`, fed by an engine
    /// that may send anything (a fuzzer): see the module documentation.
    pub fn any_engine(config: &Config) -> Self {
        Invariants {
            any_engine: true,
            tunnel: TunnelCheck::any_gateway(&config.limits),
            ..Invariants::new(config)
        }
    }

    /// Whether the runner emitted `ShutdownComplete`.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// KV calls issued and not ended yet.
    pub fn pending_kv(&self) -> usize {
        self.kv_pending.len()
    }

    // ----- hooks called by the harness ---------------------------------

    /// The runner's transmit, as polled; `conn` is the connection a frame
    /// goes out on (the one of the last `Connect`).
    pub fn on_transmit(
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
                if let Some(old) = self.current {
                    assert!(*conn > old, "connection id {conn:?} reused after {old:?}");
                }
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
                self.call_outputs += 1;
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
            ToServer::KvRequest(request) => self.on_kv_sent(request),
            _ => {}
        }
    }

    fn on_kv_sent(&mut self, request: ToServerKvRequest) {
        if let Some(id) = self.kv_wire.get(&request.request_id) {
            assert!(
                self.kv_pending.contains_key(id),
                "KV request {} of {id:?} sent again, but that call ended or was cancelled",
                request.request_id
            );
            return;
        }
        let Some((id, (actor_id, data))) = self.kv_unsent.pop_first() else {
            panic!("KV request {request:?} sent for no call (a cancelled or ended one?)");
        };
        assert!(
            actor_id == request.actor_id && data == request.data,
            "KV request {request:?} is not the oldest unsent call {id:?} ({actor_id}: {data:?}): \
             out of order, or a cancelled or ended call was sent"
        );
        self.kv_wire.insert(request.request_id, id);
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
            self.any_engine || !track.orphaned,
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

    /// The runner's event, as polled (after the transmits of its input).
    pub fn on_event(&mut self, now: Timestamp, event: &Event) {
        self.now = now;
        assert!(!self.shut_down, "{event:?} after ShutdownComplete");
        self.call_outputs += 1;
        self.tunnel.on_event(event);
        match event {
            Event::Connected { runner_id, .. } => {
                if self.any_engine && self.runner_id.as_ref() != Some(runner_id) {
                    // A new runner id: the engine may start any generation again.
                    self.started.clear();
                }
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
                let may_repeat = self.any_engine && self.forgetting;
                assert!(
                    self.started.insert(actor.clone()) || may_repeat,
                    "{actor:?} started twice"
                );
                self.live_gen
                    .insert(actor.actor_id.clone(), actor.generation);
                let key = (actor.actor_id.clone(), actor.generation);
                self.gens.entry(key).or_default().started = true;
            }
            Event::KvResult { id, .. } => {
                assert!(
                    !self.kv_cancelled.contains(id),
                    "KV result for {id:?}, which was cancelled"
                );
                assert!(
                    self.kv_pending.remove(id).is_some(),
                    "KV result for {id:?}, which is not pending (unknown or already ended)"
                );
                self.kv_unsent.remove(id);
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

    /// `Runner::kv(now, actor, data)` returned `id`.
    pub fn kv_called(
        &mut self,
        now: Timestamp,
        id: KvRequestId,
        actor: &ActorRef,
        data: &KvRequestData,
    ) {
        assert!(self.kv_seen.insert(id), "KV id {id:?} reused");
        self.kv_pending.insert(id, now);
        let call = (actor.actor_id.clone(), data.clone());
        self.kv_unsent.insert(id, call);
    }

    /// `Runner::cancel_kv(_, id)` returned `cancelled` (told before its
    /// outputs are drained): `true` exactly when the call had not ended.
    /// The outputs of every earlier input must have been drained.
    pub fn kv_cancel_returned(&mut self, id: KvRequestId, cancelled: bool) {
        let was_pending = self.kv_pending.remove(&id).is_some();
        assert_eq!(
            cancelled,
            was_pending,
            "cancel_kv({id:?}) returned {cancelled}, but the call {}",
            if was_pending { "was open" } else { "had ended" }
        );
        if cancelled {
            self.kv_unsent.remove(&id);
            self.kv_cancelled.insert(id);
        }
    }

    /// A user call is about to run, or ran and its outputs are not drained
    /// yet: what it emits is counted for [`Invariants::after_call`].
    pub fn before_call(&mut self) {
        self.call_outputs = 0;
    }

    /// The call's `result`, once its outputs were drained: a refused call
    /// emits nothing.
    pub fn after_call<T, E: std::fmt::Debug>(&self, result: &Result<T, E>) {
        if let Err(e) = result {
            assert_eq!(
                self.call_outputs, 0,
                "refused call ({e:?}) emitted frames or events"
            );
        }
    }

    /// `delivery` is about to reach the runner (in the state `runner`
    /// shows) on `conn`.
    pub fn before_delivery(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        delivery: Delivery,
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
        let decoded = match delivery {
            Delivery::Open if self.phase == ConnPhase::Connecting => {
                self.phase = ConnPhase::Open;
                None
            }
            Delivery::Closed => {
                // Nothing may go out on it any more, whatever the runner
                // makes of the close.
                self.end_ready(now);
                self.phase = ConnPhase::Gone;
                None
            }
            Delivery::Frame(decoded) => decoded,
            Delivery::Open | Delivery::Text => None,
        };
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
            .filter(|(key, g)| !g.orphaned && !self.droppable(key, g, now))
            .flat_map(|((actor, generation), g)| {
                let first = g.acked + 1;
                let count = i64::try_from(g.events.len()).unwrap_or(i64::MAX);
                (first..count).map(move |i| (actor.clone(), *generation, i))
            })
            .collect()
    }

    /// Whether the runner may have forgotten a stopped generation: a
    /// refused start (never started) may not have been remembered at all;
    /// any other only once the engine has surely seen its frames, or once
    /// the runner holds a newer generation of the same actor (the engine
    /// starts one only when it is done with the older ones).
    fn droppable(&self, key: &GenKey, track: &GenTrack, now: Timestamp) -> bool {
        if track.retired.is_none() {
            return false;
        }
        !track.started
            || self.newer_generation_held(key)
            || track
                .confirms
                .iter()
                .any(|(at, conn)| *at <= now && self.was_ready_at(*conn, *at))
    }

    /// Whether the runner started or stopped a newer generation of the
    /// actor (so it holds one, live or retired).
    fn newer_generation_held(&self, (actor, generation): &GenKey) -> bool {
        let Some(next) = generation.checked_add(1) else {
            return false;
        };
        self.gens
            .range((actor.clone(), next)..=(actor.clone(), u32::MAX))
            .any(|(_, g)| g.started || g.retired.is_some())
    }

    fn was_ready_at(&self, conn: ConnId, at: Timestamp) -> bool {
        self.ready_periods
            .get(&conn)
            .is_some_and(|(from, until)| *from <= at && until.is_none_or(|u| u >= at))
    }

    /// The outputs of the delivery were drained.
    pub fn after_delivery(&mut self, now: Timestamp) {
        if let Some(ts) = self.ping_to_answer.take() {
            assert!(
                self.drain_pongs.contains(&ts),
                "ping {ts} not answered (pongs sent: {:?})",
                self.drain_pongs
            );
        }
        if std::mem::take(&mut self.init_pending) {
            if !self.any_engine {
                let expected = self.expected_resend(now);
                self.check_resend(&expected);
            }
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

    /// `handle_timeout(now)` ran and its outputs were drained.
    pub fn after_timeout(&mut self, now: Timestamp, runner: &Runner) {
        if let Some(next) = runner.poll_timeout() {
            assert!(
                next > now,
                "poll_timeout {next:?} not after handle_timeout({now:?})"
            );
        }
    }

    /// After the outputs of one input were drained: the tunnel's checks and
    /// [`Invariants::check_bounds`].
    pub fn after_drain(&mut self, runner: &Runner) {
        self.tunnel.after_drain(runner);
        self.note_retired(runner.retired_generation_count());
        self.check_bounds(runner);
    }

    /// Every table of the runner is within its bound, and no KV call is
    /// pending past its timeout. Checked after each drain; a harness whose
    /// clock also moves for other reasons checks it then too.
    pub fn check_bounds(&self, runner: &Runner) {
        let l = &self.limits;
        assert!(
            runner.actor_count() <= l.max_actors,
            "actor table over its limit"
        );
        let queued = runner.queued_kv_count();
        assert!(queued <= l.max_queued_kv, "KV queue over its limit");
        assert!(
            runner.pending_kv_count() - queued <= l.max_pending_kv,
            "more KV requests out than max_pending_kv"
        );
        assert_eq!(
            runner.pending_kv_count(),
            self.kv_pending.len(),
            "the runner's pending KV count differs from the calls not ended"
        );
        assert!(
            runner.retired_generation_count() <= l.max_retired_generations,
            "retired generations over their limit"
        );
        for (id, issued) in &self.kv_pending {
            let age = self.now.saturating_duration_since(*issued);
            assert!(age <= self.kv_timeout, "KV call {id:?} pending for {age:?}");
        }
    }

    /// Once the retired count falls (the runner forgot one, its retention
    /// over), a stopped generation may be gone. Reaching the limit forgets
    /// nothing: starts are refused instead.
    fn note_retired(&mut self, retired: usize) {
        if retired < self.retired {
            self.forgetting = true;
        }
        self.retired = retired;
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
            started: false,
            confirms: Vec::new(),
        }
    }
}

fn is_stopped(e: &protocol::Event) -> bool {
    matches!(
        e,
        protocol::Event::StateUpdate(u) if matches!(u.state, ActorState::Stopped(_))
    )
}
