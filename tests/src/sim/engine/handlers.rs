//! Messages of a ready connection: events, command acknowledgements, KV,
//! stopping, pongs (spec §2.7, §3.5, §3.6, §4, §7).

use runner_core::ConnId;
use runner_core::protocol::{
    ActorCheckpoint, Command, EventWrapper, Id, KvErrorResponse, KvResponseData, ToClient,
    ToClientAckEvents, ToClientKvResponse, ToServer, ToServerKvRequest,
};

use super::SimEngine;
use super::actors::{ActorPhase, Reaction};

impl SimEngine {
    pub(super) fn on_message(&mut self, conn: ConnId, msg: ToServer) {
        let Some(runner) = self.conns.get(&conn).and_then(|c| c.runner_id()).cloned() else {
            return;
        };
        match msg {
            ToServer::Events(events) => self.on_events(conn, &runner, events),
            ToServer::AckCommands(ack) => {
                for cp in &ack.last_command_checkpoints {
                    self.commands.ack(&runner, cp);
                }
            }
            ToServer::Stopping => self.on_stopping(&runner),
            ToServer::Pong(pong) => self.on_pong(conn, pong.ts),
            ToServer::KvRequest(request) => self.on_kv(conn, &runner, request),
            ToServer::TunnelMessage(msg) => self.on_tunnel_message(conn, msg),
            ToServer::Init(_) => {}
        }
    }

    fn on_events(&mut self, conn: ConnId, runner: &Id, events: Vec<EventWrapper>) {
        let mut stops = Vec::new();
        let mut touched = Vec::new();
        let mut changed = Vec::new();
        for event in events {
            let Some(actor) = self.actors.get_mut(&*event.checkpoint.actor_id) else {
                self.log.ignored_events += 1;
                continue;
            };
            if !actor.accepts(runner, &event) {
                self.log.ignored_events += 1;
                continue;
            }
            let before = actor.phase.clone();
            if actor.apply(&event) == Reaction::SendStop {
                stops.push(actor.id.clone());
            }
            if actor.phase != before {
                changed.push((actor.id.clone(), actor.phase.clone()));
            }
            if !touched.contains(&actor.id) {
                touched.push(actor.id.clone());
            }
        }
        for id in stops {
            self.send_command(&id, Command::StopActor);
        }
        self.ack_events(conn, &touched);
        for (id, phase) in changed {
            self.gateway_actor_phase(&id, &phase);
        }
    }

    /// Tells the gateway that an actor runs, or is gone.
    fn gateway_actor_phase(&mut self, id: &Id, phase: &ActorPhase) {
        match phase {
            ActorPhase::Running => self.gateway_actor_ready(id),
            ActorPhase::Sleeping | ActorPhase::Stopped(_) => self.gateway_actor_gone(id),
            _ => {}
        }
    }

    /// Acknowledges the actors that passed the batch size, in one frame.
    fn ack_events(&mut self, conn: ConnId, touched: &[Id]) {
        let batch = self.config.event_ack_batch;
        let mut checkpoints = Vec::new();
        for id in touched {
            let Some(actor) = self.actors.get_mut(id) else {
                continue;
            };
            if actor.ack_due(batch) {
                actor.last_ack_idx = actor.last_event_idx;
                checkpoints.push(ActorCheckpoint {
                    actor_id: actor.id.clone(),
                    generation: actor.generation,
                    index: actor.last_event_idx,
                });
            }
        }
        if !checkpoints.is_empty() {
            let ack = ToClientAckEvents {
                last_event_checkpoints: checkpoints,
            };
            self.send(conn, ToClient::AckEvents(ack));
        }
    }

    /// The runner drains: every actor it hosts gets a stop (going away).
    fn on_stopping(&mut self, runner: &Id) {
        self.draining = true;
        let hosted: Vec<Id> = self
            .actors
            .values()
            .filter(|a| a.runner_id.as_ref() == Some(runner) && a.phase.is_allocated())
            .map(|a| a.id.clone())
            .collect();
        for id in hosted {
            if let Some(actor) = self.actors.get_mut(&id) {
                actor.phase = ActorPhase::Stopping;
            }
            self.send_command(&id, Command::StopActor);
        }
    }

    /// KV requests are answered inline, in order, like the engine's receive
    /// loop does.
    fn on_kv(&mut self, conn: ConnId, runner: &Id, request: ToServerKvRequest) {
        if !self.config.answer_kv {
            return;
        }
        let data = match self.actors.get(&*request.actor_id) {
            None => error("actor does not exist"),
            Some(actor) if actor.runner_id.as_ref() != Some(runner) => {
                error("actor does not belong to runner")
            }
            Some(_) => {
                let now_ms = self.now_ms();
                let store = self.kv.entry(request.actor_id.clone()).or_default();
                store.apply(&request.data, now_ms)
            }
        };
        let response = ToClientKvResponse {
            request_id: request.request_id,
            data,
        };
        self.send(conn, ToClient::KvResponse(response));
    }
}

fn error(message: &str) -> KvResponseData {
    KvResponseData::Error(KvErrorResponse {
        message: message.to_owned(),
    })
}
