//! Random tunnel operations on a [`Sim`], for property tests: clients'
//! requests, chunks, aborts, socket opens, messages and closes (through the
//! gateway), the user's answers at random times, plus the lifecycle and
//! fault operations of [`ops`] that matter to the tunnel.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use runner_core::protocol::WebSocketMessage;
use runner_core::{HttpResponse, RequestKey};

use super::{self as ops, Op};
use crate::sim::engine::{ClientId, ClientRequest};
use crate::sim::harness::Sim;

/// One step of a random tunnel run. Indices pick among what exists (modulo
/// its number), so every step means something whatever came before.
#[derive(Debug, Clone)]
pub enum TunnelOp {
    /// A lifecycle, time or fault operation.
    Core(Op),
    /// A client sends an HTTP request (`now`: at once, whatever the actor's
    /// state; `streamed`: the body follows in chunks).
    Http {
        /// Actor pick.
        actor: usize,
        /// Body length.
        body: u8,
        /// Streamed.
        streamed: bool,
        /// Sent at once.
        now: bool,
    },
    /// A client sends a piece of its streamed body.
    Chunk(usize, u8, bool),
    /// A client gives up on its request.
    ClientAbort(usize),
    /// A client opens a socket.
    WsOpen {
        /// Actor pick.
        actor: usize,
        /// Sent at once.
        now: bool,
    },
    /// A client sends a message.
    ClientSend(usize, u8, bool),
    /// A client closes its socket.
    ClientClose(usize, u16),
    /// The gateway repeats a socket's open.
    Reopen(usize, bool),
    /// The user responds (`big`: over the runner's payload limit).
    Respond(usize, u16, bool),
    /// The user aborts a request.
    UserAbort(usize),
    /// The user accepts a socket.
    Accept(usize, bool),
    /// The user refuses a socket (the code may be invalid).
    Reject(usize, u16),
    /// The user sends a message.
    UserSend(usize, u8, bool),
    /// The user closes a socket (the code may be invalid).
    UserClose(usize, Option<u16>),
    /// The user acknowledges a socket's last message (or one before it).
    Ack(usize, u8),
    /// The user asks the actor to sleep.
    Sleep(usize),
}

/// Close codes to draw from: valid ones and a few that must be refused.
fn close_code() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(1000u16),
        2 => 4000u16..4010,
        1 => prop::sample::select(vec![1005u16, 1006, 1015, 999, 5000]),
    ]
}

/// The lifecycle and fault operations that matter to the tunnel.
fn core_op() -> impl Strategy<Value = Op> {
    let idx = 0usize..8;
    prop_oneof![
        6 => (1u64..3_000).prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        1 => (1u64..40_000).prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        6 => (0..ops::NAMES.len()).prop_map(Op::Create),
        1 => idx.clone().prop_map(Op::EngineStop),
        3 => idx.clone().prop_map(Op::Wake),
        1 => idx.clone().prop_map(Op::Crash),
        2 => Just(Op::DropConnection),
        1 => Just(Op::EngineRestart),
        1 => (1u64..25_000).prop_map(|ms| Op::Outage(Duration::from_millis(ms))),
        1 => Just(Op::DeclareLost),
    ]
}

/// Any tunnel operation, weighted towards traffic.
pub fn tunnel_op() -> impl Strategy<Value = TunnelOp> {
    let i = 0usize..16;
    prop_oneof![
        5 => core_op().prop_map(TunnelOp::Core),
        5 => (i.clone(), 0u8..100, prop::bool::weighted(0.2), prop::bool::weighted(0.15))
            .prop_map(|(actor, body, streamed, now)| TunnelOp::Http { actor, body, streamed, now }),
        2 => (i.clone(), 0u8..40, prop::bool::weighted(0.4)).prop_map(|(c, n, f)| TunnelOp::Chunk(c, n, f)),
        1 => i.clone().prop_map(TunnelOp::ClientAbort),
        3 => (i.clone(), prop::bool::weighted(0.1)).prop_map(|(actor, now)| TunnelOp::WsOpen { actor, now }),
        6 => (i.clone(), 0u8..100, any::<bool>()).prop_map(|(c, n, b)| TunnelOp::ClientSend(c, n, b)),
        1 => (i.clone(), close_code()).prop_map(|(c, code)| TunnelOp::ClientClose(c, code)),
        1 => (i.clone(), any::<bool>()).prop_map(|(c, r)| TunnelOp::Reopen(c, r)),
        4 => (i.clone(), prop::sample::select(vec![200u16, 404, 500, 1000]), prop::bool::weighted(0.1))
            .prop_map(|(p, s, big)| TunnelOp::Respond(p, s, big)),
        1 => i.clone().prop_map(TunnelOp::UserAbort),
        3 => (i.clone(), any::<bool>()).prop_map(|(p, h)| TunnelOp::Accept(p, h)),
        1 => (i.clone(), close_code()).prop_map(|(p, c)| TunnelOp::Reject(p, c)),
        4 => (i.clone(), 0u8..100, any::<bool>()).prop_map(|(p, n, b)| TunnelOp::UserSend(p, n, b)),
        1 => (i.clone(), prop::option::of(close_code())).prop_map(|(p, c)| TunnelOp::UserClose(p, c)),
        2 => (i.clone(), 0u8..3).prop_map(|(p, d)| TunnelOp::Ack(p, d)),
        2 => i.prop_map(TunnelOp::Sleep),
    ]
}

fn pick<T: Copy>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()])
}

fn actor_id(sim: &Sim, i: usize) -> Option<String> {
    let ids: Vec<String> = sim.engine().actors().map(|a| a.id.to_string()).collect();
    (!ids.is_empty()).then(|| ids[i % ids.len()].clone())
}

fn payload(n: u8, binary: bool) -> Bytes {
    let byte = if binary { 0xab } else { b'x' };
    Bytes::from(vec![byte; usize::from(n)])
}

/// Applies `op`, then lets a little time pass. User calls may be refused;
/// refusals are part of the behaviour under test.
pub fn apply_tunnel(sim: &mut Sim, op: &TunnelOp) {
    match op {
        TunnelOp::Core(op) => return ops::apply(sim, op),
        TunnelOp::Http {
            actor,
            body,
            streamed,
            now,
        } => http(sim, *actor, *body, *streamed, *now),
        TunnelOp::Chunk(c, n, finish) => {
            if let Some(c) = pick(&sim.engine().http_clients(), *c) {
                sim.http_chunk(c, &payload(*n, true), *finish);
            }
        }
        TunnelOp::ClientAbort(c) => {
            if let Some(c) = pick(&sim.engine().http_clients(), *c) {
                sim.http_abort(c);
            }
        }
        TunnelOp::WsOpen { actor, now } => {
            if let Some(id) = actor_id(sim, *actor) {
                if *now {
                    sim.ws_connect_now(&id, "/ws");
                } else {
                    sim.ws_connect(&id, "/ws");
                }
            }
        }
        TunnelOp::ClientSend(c, n, binary) => {
            if let Some(c) = pick(&sim.engine().socket_clients(), *c) {
                let message = WebSocketMessage {
                    data: payload(*n, *binary),
                    binary: *binary,
                };
                sim.ws_client_send(c, message);
            }
        }
        TunnelOp::ClientClose(c, code) => {
            if let Some(c) = pick(&sim.engine().socket_clients(), *c) {
                sim.ws_client_close(c, Some(*code), Some("client"));
            }
        }
        TunnelOp::Reopen(c, reset) => {
            if let Some(c) = pick(&sim.engine().socket_clients(), *c) {
                sim.ws_reopen(c, *reset);
            }
        }
        TunnelOp::Sleep(i) => {
            if let Some(actor) = sim.tunnel_user_actor(*i) {
                let _ = sim.sleep_actor(&actor);
            }
        }
        user_op => user(sim, user_op),
    }
    sim.run_for(Duration::from_millis(30));
}

fn http(sim: &mut Sim, actor: usize, body: u8, streamed: bool, now: bool) {
    let Some(id) = actor_id(sim, actor) else {
        return;
    };
    let mut request = ClientRequest::new("POST", "/p?q=1").body(payload(body, true));
    if streamed {
        request = request.streamed();
    }
    let _: ClientId = if now {
        sim.http_now(&id, request)
    } else {
        sim.http(&id, request)
    };
}

/// The user's calls, on what the user holds.
fn user(sim: &mut Sim, op: &TunnelOp) {
    let requests: Vec<RequestKey> = sim.tunnel_user().requests.keys().copied().collect();
    let sockets: Vec<RequestKey> = sim.tunnel_user().sockets.keys().copied().collect();
    let _ = match op {
        TunnelOp::Respond(p, status, big) => {
            let Some(key) = pick(&requests, *p) else {
                return;
            };
            let limit = sim.runner().config().limits.max_tunnel_payload;
            let body = if *big {
                vec![b'b'; limit + 1]
            } else {
                b"ok".to_vec()
            };
            sim.respond(key, HttpResponse::new(*status).body(body))
        }
        TunnelOp::UserAbort(p) => match pick(&requests, *p) {
            Some(key) => sim.abort_request(key),
            None => return,
        },
        TunnelOp::Accept(p, hibernate) => match pick(&sockets, *p) {
            Some(key) => sim.ws_accept(key, *hibernate),
            None => return,
        },
        TunnelOp::Reject(p, code) => match pick(&sockets, *p) {
            Some(key) => sim.ws_reject(key, *code, "refused"),
            None => return,
        },
        TunnelOp::UserSend(p, n, binary) => match pick(&sockets, *p) {
            Some(key) => sim.ws_send(key, &payload(*n, *binary), *binary),
            None => return,
        },
        TunnelOp::UserClose(p, code) => match pick(&sockets, *p) {
            Some(key) => sim.ws_close(key, *code, Some("bye")),
            None => return,
        },
        TunnelOp::Ack(p, back) => {
            let Some(key) = pick(&sockets, *p) else {
                return;
            };
            let Some(last) = sim.tunnel_user().sockets[&key].received.last().map(|m| m.0) else {
                return;
            };
            sim.ws_ack(key, last.wrapping_sub(u16::from(*back)))
        }
        _ => return,
    };
}

impl Sim {
    /// An actor the user holds a request or socket of (for user calls on
    /// actors with traffic), else any engine actor's current generation.
    fn tunnel_user_actor(&self, i: usize) -> Option<runner_core::ActorRef> {
        let u = self.tunnel_user();
        let mut actors: Vec<runner_core::ActorRef> = u
            .requests
            .values()
            .map(|r| r.actor.clone())
            .chain(u.sockets.values().map(|s| s.actor.clone()))
            .collect();
        actors.sort();
        actors.dedup();
        if actors.is_empty() {
            let a = self
                .engine()
                .actors()
                .nth(i % self.engine().actors().count().max(1))?;
            return Some(runner_core::ActorRef::new(a.id.clone(), a.generation));
        }
        Some(actors[i % actors.len()].clone())
    }

    /// The user answers everything it holds: responds 200 to requests,
    /// refuses offered sockets, closes open ones.
    pub fn answer_everything(&mut self) {
        let requests: Vec<RequestKey> = self.tunnel_user().requests.keys().copied().collect();
        for key in requests {
            let _ = self.respond(key, HttpResponse::new(200));
        }
        let sockets: Vec<(RequestKey, bool)> = self
            .tunnel_user()
            .sockets
            .iter()
            .map(|(k, s)| (*k, s.accepted.is_some()))
            .collect();
        for (key, open) in sockets {
            let _ = if open {
                self.ws_close(key, Some(1000), Some("done"))
            } else {
                self.ws_reject(key, 1000, "done")
            };
        }
    }
}
