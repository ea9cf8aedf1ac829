//! The actors the engine starts and stops on a [`Conn`], the events it
//! receives about them, and the stop/start cycles of the events mode.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use runner_core::protocol::{
    ActorCheckpoint, ActorConfig, ActorState, Command, CommandStartActor, CommandWrapper, Event,
    EventWrapper, Id, ToClient,
};

use crate::sim::kv_store::KvStore;

use super::traffic::Load;
use super::{Conn, Life};

/// The engine acknowledges an actor's events once this many are new.
const EVENT_ACK_BATCH: i64 = 250;

#[derive(Debug)]
pub(super) struct Actor {
    pub(super) id: Id,
    generation: u32,
    pub(super) life: Life,
    /// Index of the next command for this generation.
    next_command: i64,
    last_event: i64,
    acked_event: i64,
    pub(super) kv: KvStore,
}

impl Conn {
    pub(super) fn on_event(&mut self, event: EventWrapper, acks: &mut Vec<ActorCheckpoint>) {
        let Some(&i) = self.index.get(&event.checkpoint.actor_id) else {
            return;
        };
        let actor = &mut self.actors[i];
        if event.checkpoint.generation != actor.generation
            || event.checkpoint.index <= actor.last_event
        {
            return;
        }
        self.events += 1;
        actor.last_event = event.checkpoint.index;
        if actor.last_event > actor.acked_event + EVENT_ACK_BATCH {
            actor.acked_event = actor.last_event;
            acks.push(event.checkpoint.clone());
        }
        match event.inner {
            Event::StateUpdate(update) => match update.state {
                ActorState::Running => {
                    if actor.life == Life::Starting {
                        actor.life = Life::Running;
                        self.running += 1;
                        self.start_done();
                        self.on_running(i);
                    }
                }
                ActorState::Stopped(_) => {
                    let was = std::mem::replace(&mut actor.life, Life::Stopped);
                    match was {
                        Life::Running => self.running -= 1,
                        Life::Starting => {
                            self.failed_starts += 1;
                            self.start_done();
                        }
                        _ => {}
                    }
                    self.on_stopped(i);
                }
            },
            Event::Intent(_) => {
                if matches!(actor.life, Life::Running | Life::Starting) {
                    self.stop_actor(i);
                }
            }
            Event::SetAlarm(_) => {}
        }
    }

    /// Starts `n` more actors named `load-actor-<i>`, one command per frame
    /// as the engine forwards them, at most `window` starts outstanding
    /// (0: all at once), and waits until every one runs.
    pub async fn start_actors(&mut self, n: usize, window: usize, timeout: Duration) -> Result<()> {
        let first = self.actors.len();
        for i in first..first + n {
            let id: Id = format!("load-actor-{i:08}").into();
            self.index.insert(id.clone(), i);
            self.actors.push(Actor {
                id,
                generation: 0,
                life: Life::Stopped,
                next_command: 0,
                last_event: -1,
                acked_event: -1,
                kv: KvStore::default(),
            });
            self.start_queue.push_back(i);
        }
        self.start_window = if window == 0 { usize::MAX } else { window };
        self.release_starts();
        let want = self.running + n;
        let result = self
            .pump_until(timeout, "every actor to run", |c| {
                c.running + c.failed_starts >= want
            })
            .await;
        self.start_window = usize::MAX;
        result?;
        if self.failed_starts > 0 {
            bail!("{} of {n} actors failed to start", self.failed_starts);
        }
        Ok(())
    }

    /// Sends queued start commands while fewer than the window are
    /// outstanding.
    fn release_starts(&mut self) {
        while self.starting < self.start_window {
            let Some(i) = self.start_queue.pop_front() else {
                return;
            };
            self.starting += 1;
            self.start_actor(i);
        }
    }

    fn start_done(&mut self) {
        self.starting = self.starting.saturating_sub(1);
        self.release_starts();
    }

    fn start_actor(&mut self, i: usize) {
        let actor = &mut self.actors[i];
        actor.life = Life::Starting;
        actor.next_command = 1;
        let command = CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor.id.clone(),
                generation: actor.generation,
                index: 0,
            },
            inner: Command::StartActor(CommandStartActor {
                config: ActorConfig {
                    name: "load".into(),
                    key: None,
                    create_ts: 0,
                    input: None,
                },
                hibernating_requests: vec![],
            }),
        };
        self.send(&ToClient::Commands(vec![command]));
    }

    pub(super) fn stop_actor(&mut self, i: usize) {
        let actor = &mut self.actors[i];
        if actor.life == Life::Running {
            self.running -= 1;
        }
        actor.life = Life::Stopping;
        let index = actor.next_command;
        actor.next_command += 1;
        let command = CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor.id.clone(),
                generation: actor.generation,
                index,
            },
            inner: Command::StopActor,
        };
        self.send(&ToClient::Commands(vec![command]));
    }

    /// Stops one running actor that is not cycling yet.
    pub(super) fn begin_cycle(&mut self) {
        let i = self.next_running_actor();
        if self.actors[i].life != Life::Running {
            return;
        }
        if let Load::Events { cycling } = &mut self.load {
            cycling.insert(i, Instant::now());
        }
        self.stop_actor(i);
    }

    fn on_stopped(&mut self, i: usize) {
        if self.stopping {
            return;
        }
        if let Load::Events { cycling } = &self.load {
            if cycling.contains_key(&i) {
                self.actors[i].generation += 1;
                self.actors[i].last_event = -1;
                self.actors[i].acked_event = -1;
                self.start_actor(i);
            }
        }
    }

    fn on_running(&mut self, i: usize) {
        let Load::Events { cycling } = &mut self.load else {
            return;
        };
        if let Some(sent) = cycling.remove(&i) {
            // One operation, two events (Stopped, Running).
            self.recorder.record(sent, true);
            if !self.draining {
                self.begin_cycle();
            }
        }
    }
}
