//! Random operations on a [`Sim`], for property tests and long random runs:
//! engine actions (valid ones chosen from the engine's state, plus mutated
//! and garbage frames), user calls, time, and transport faults. The tunnel's
//! operations (clients' requests and sockets) are in [`tunnel`].

pub mod tunnel;

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use runner_core::protocol::{
    KvDeleteRangeRequest, KvDeleteRequest, KvGetRequest, KvListQuery, KvListRequest, KvPutRequest,
    KvRequestData, ToClient, encode_to_client,
};
use runner_core::{ActorRef, ShutdownMode};

use super::harness::Sim;
use super::user::{Callback, UserConfig};

/// Actor names; each can get its own callback behaviour.
pub const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// A KV operation on a tiny key space (so reads see writes).
#[derive(Debug, Clone)]
pub enum KvOp {
    /// Get keys.
    Get(Vec<u8>),
    /// Put key = value.
    Put(u8, u8),
    /// Delete keys.
    Delete(Vec<u8>),
    /// Delete-range `[a, b)` (refused before v7).
    DeleteRange(u8, u8),
    /// List everything, maybe reversed and limited.
    List(bool, Option<u8>),
    /// Drop everything.
    Drop,
}

impl KvOp {
    fn data(&self) -> KvRequestData {
        let key = |k: &u8| Bytes::from(vec![*k]);
        match self {
            KvOp::Get(keys) => KvRequestData::Get(KvGetRequest {
                keys: keys.iter().map(key).collect(),
            }),
            KvOp::Put(k, v) => KvRequestData::Put(KvPutRequest {
                keys: vec![key(k)],
                values: vec![key(v)],
            }),
            KvOp::Delete(keys) => KvRequestData::Delete(KvDeleteRequest {
                keys: keys.iter().map(key).collect(),
            }),
            KvOp::DeleteRange(a, b) => KvRequestData::DeleteRange(KvDeleteRangeRequest {
                start: key(a),
                end: key(b),
            }),
            KvOp::List(reverse, limit) => KvRequestData::List(KvListRequest {
                query: KvListQuery::All,
                reverse: reverse.then_some(true),
                limit: limit.map(u64::from),
            }),
            KvOp::Drop => KvRequestData::Drop,
        }
    }
}

/// One step of a random run. Actor indices pick among the engine's actors
/// (modulo their number), so every step is meaningful whatever came before.
#[derive(Debug, Clone)]
pub enum Op {
    /// Let virtual time pass.
    Advance(Duration),
    /// The engine creates an actor with one of [`NAMES`].
    Create(usize),
    /// The engine stops an actor.
    EngineStop(usize),
    /// The engine wakes a sleeping/stopped actor (next generation).
    Wake(usize),
    /// User: sleep intent (`stale`: for the previous generation).
    Sleep(usize, bool),
    /// User: stop intent.
    StopIntent(usize),
    /// User: set or clear the alarm.
    Alarm(usize, Option<i64>),
    /// User: the actor crashed.
    Crash(usize),
    /// User: KV calls made at once (past a small `max_pending_kv` some
    /// queue), then maybe one of them cancelled (by index, modulo their
    /// number) before any time passes.
    Kv(usize, Vec<KvOp>, Option<usize>),
    /// User: gives up on one of the last four KV calls made (picked modulo
    /// their number; it may have ended already).
    KvCancel(usize),
    /// The transport of the current connection breaks.
    DropConnection,
    /// The engine restarts (connections vanish, state stays).
    EngineRestart,
    /// The engine goes away (`1011 ws.going_away`).
    GoingAway,
    /// The engine becomes unreachable for a while, then reachable.
    Outage(Duration),
    /// The engine declares the runner lost (only while disconnected).
    DeclareLost,
    /// The engine sends random bytes.
    Garbage(Vec<u8>),
    /// The engine re-sends one of its earlier frames, damaged.
    Mutate(usize, usize, Damage),
    /// The engine sends a text frame.
    Text,
    /// User: shut down.
    Shutdown(bool),
}

/// How [`Op::Mutate`] damages a frame.
#[derive(Debug, Clone, Copy)]
pub enum Damage {
    /// Cut at the position.
    Truncate,
    /// One byte too many.
    Trailing,
    /// XOR one byte with this value. Never applied to commands or inits:
    /// a changed actor id, generation or runner id would be a *valid*
    /// message the engine can never send (a start for a generation the
    /// runner was told to forget), not damage.
    Xor(u8),
}

/// Gives actor `NAMES[i]` the start callback `starts[i]` and the stop
/// callback `stops[i]` (as the property tests draw them).
pub fn callbacks_by_name(user: &mut UserConfig, starts: &[Callback], stops: &[Callback]) {
    for ((name, start), stop) in NAMES.iter().zip(starts).zip(stops) {
        user.start_by_name.insert((*name).to_owned(), start.clone());
        user.stop_by_name.insert((*name).to_owned(), stop.clone());
    }
}

/// Starts the runner, lets it connect, applies `ops` in order, then shuts
/// down gracefully and runs until the shutdown completes or ten virtual
/// minutes pass.
pub fn run_then_shut_down(sim: &mut Sim, ops: &[Op]) {
    sim.start();
    sim.run_for(Duration::from_secs(1));
    for op in ops {
        apply(sim, op);
    }
    sim.shutdown(ShutdownMode::Graceful);
    sim.run_until(|s| s.runner().is_shut_down(), Duration::from_secs(600));
}

/// Callback behaviours to draw from.
pub fn callback() -> impl Strategy<Value = Callback> {
    prop_oneof![
        4 => Just(Callback::Immediate),
        2 => (1u64..5000).prop_map(|ms| Callback::After(Duration::from_millis(ms))),
        1 => (1u64..3000).prop_map(|ms| Callback::Fail(Duration::from_millis(ms), "nope".into())),
        1 => Just(Callback::Hang),
    ]
}

fn kv_op() -> impl Strategy<Value = KvOp> {
    let key = 0u8..6;
    prop_oneof![
        proptest::collection::vec(key.clone(), 0..4).prop_map(KvOp::Get),
        (key.clone(), any::<u8>()).prop_map(|(k, v)| KvOp::Put(k, v)),
        proptest::collection::vec(key.clone(), 0..3).prop_map(KvOp::Delete),
        (key.clone(), key).prop_map(|(a, b)| KvOp::DeleteRange(a, b)),
        (any::<bool>(), proptest::option::of(0u8..4)).prop_map(|(r, l)| KvOp::List(r, l)),
        Just(KvOp::Drop),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        Just(Damage::Truncate),
        Just(Damage::Trailing),
        (1u8..=255).prop_map(Damage::Xor),
    ]
}

/// Any operation, weighted towards the common ones.
pub fn op() -> impl Strategy<Value = Op> {
    let idx = 0usize..8;
    prop_oneof![
        8 => (1u64..20_000).prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        4 => (0..NAMES.len()).prop_map(Op::Create),
        2 => idx.clone().prop_map(Op::EngineStop),
        2 => idx.clone().prop_map(Op::Wake),
        2 => (idx.clone(), proptest::bool::weighted(0.1)).prop_map(|(i, s)| Op::Sleep(i, s)),
        1 => idx.clone().prop_map(Op::StopIntent),
        2 => (idx.clone(), proptest::option::of(0i64..1_000_000)).prop_map(|(i, t)| Op::Alarm(i, t)),
        1 => idx.clone().prop_map(Op::Crash),
        4 => (
            idx.clone(),
            proptest::collection::vec(kv_op(), 1..5),
            proptest::option::weighted(0.3, any::<usize>()),
        )
            .prop_map(|(i, k, c)| Op::Kv(i, k, c)),
        2 => any::<usize>().prop_map(Op::KvCancel),
        2 => Just(Op::DropConnection),
        1 => Just(Op::EngineRestart),
        1 => Just(Op::GoingAway),
        1 => (1u64..40_000).prop_map(|ms| Op::Outage(Duration::from_millis(ms))),
        1 => Just(Op::DeclareLost),
        1 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(Op::Garbage),
        2 => (any::<usize>(), any::<usize>(), damage()).prop_map(|(f, p, d)| Op::Mutate(f, p, d)),
        1 => Just(Op::Text),
        1 => proptest::bool::weighted(0.5).prop_map(Op::Shutdown),
    ]
}

/// The current generation of the `idx`-th engine actor (or the one
/// before, if `stale`).
fn pick(sim: &Sim, idx: usize, stale: bool) -> Option<ActorRef> {
    let actors: Vec<_> = sim.engine().actors().collect();
    let a = actors.get(idx % actors.len().max(1))?;
    let generation = if stale {
        a.generation.checked_sub(1)?
    } else {
        a.generation
    };
    Some(ActorRef::new(a.id.clone(), generation))
}

/// Applies `op`, then lets a little time pass so its effects play out.
/// User calls may be refused; refusals are part of the behaviour under test.
pub fn apply(sim: &mut Sim, op: &Op) {
    match op {
        Op::Advance(d) => return sim.run_for(*d),
        Op::Create(name) if sim.engine().can_allocate() => {
            sim.create_actor(NAMES[*name % NAMES.len()]);
        }
        Op::EngineStop(i) => {
            if let Some(a) = pick(sim, *i, false) {
                sim.engine_do(|e, now| e.stop_actor(now, &a.actor_id));
            }
        }
        Op::Wake(i) if sim.engine().can_allocate() => {
            if let Some(a) = pick(sim, *i, false) {
                sim.engine_do(|e, now| e.wake_actor(now, &a.actor_id));
            }
        }
        Op::Sleep(i, stale) => user(sim, *i, *stale, |s, a| s.sleep_actor(a).map(drop)),
        Op::StopIntent(i) => user(sim, *i, false, |s, a| s.stop_intent(a).map(drop)),
        Op::Alarm(i, ts) => user(sim, *i, false, |s, a| s.set_alarm(a, *ts).map(drop)),
        Op::Crash(i) => user(sim, *i, false, |s, a| s.crash_actor(a, "crash").map(drop)),
        Op::Kv(i, ops, cancel) => kv_burst(sim, *i, ops, *cancel),
        Op::KvCancel(i) => {
            let calls = sim.kv_calls();
            let recent = &calls[calls.len().saturating_sub(4)..];
            if let Some(id) = recent.get(i % recent.len().max(1)).copied() {
                sim.cancel_kv(id);
            }
        }
        Op::DropConnection => sim.drop_connection(),
        Op::EngineRestart => sim.restart_engine(),
        Op::GoingAway => sim.engine_do(|e, now| e.going_away(now)),
        Op::Outage(d) => {
            sim.link().reachable = false;
            sim.drop_connection();
            sim.run_for(*d);
            sim.link().reachable = true;
        }
        Op::DeclareLost if sim.engine().ready_conn().is_none() => {
            sim.engine_do(|e, now| e.declare_lost(now));
        }
        Op::Garbage(bytes) => sim.inject_frame(Bytes::from(bytes.clone())),
        Op::Mutate(frame, pos, xor) => mutate(sim, *frame, *pos, *xor),
        Op::Text => sim.engine_do(|e, now| e.send_text(now, "?")),
        Op::Shutdown(immediate) => {
            let mode = if *immediate {
                ShutdownMode::Immediate
            } else {
                ShutdownMode::Graceful
            };
            sim.shutdown(mode);
        }
        _ => {}
    }
    sim.run_for(Duration::from_millis(50));
}

fn kv_burst(sim: &mut Sim, idx: usize, ops: &[KvOp], cancel: Option<usize>) {
    let Some(actor) = pick(sim, idx, false) else {
        return;
    };
    let ids: Vec<_> = ops
        .iter()
        .filter_map(|op| sim.kv(&actor, op.data()).ok())
        .collect();
    if let Some(id) = cancel.and_then(|c| ids.get(c % ids.len().max(1))) {
        sim.cancel_kv(*id);
    }
}

fn user(
    sim: &mut Sim,
    idx: usize,
    stale: bool,
    call: impl FnOnce(&mut Sim, &ActorRef) -> Result<(), runner_core::CallError>,
) {
    if let Some(actor) = pick(sim, idx, stale) {
        let _ = call(sim, &actor);
    }
}

/// Re-sends an earlier engine frame, damaged.
fn mutate(sim: &mut Sim, frame: usize, pos: usize, damage: Damage) {
    let sent = &sim.engine().log().sent;
    if sent.is_empty() {
        return;
    }
    let (_, _, msg) = &sent[frame % sent.len()];
    let identity = matches!(msg, ToClient::Commands(_) | ToClient::Init(_));
    let version = sim.engine().config.version;
    let Ok(mut bytes) = encode_to_client(version, msg) else {
        return;
    };
    let at = pos % bytes.len();
    match damage {
        Damage::Truncate => bytes.truncate(at),
        Damage::Trailing => bytes.push(0),
        Damage::Xor(_) if identity => return,
        Damage::Xor(x) => bytes[at] ^= x,
    }
    sim.inject_frame(Bytes::from(bytes));
}
