//! Reading a snapshot back into a runner: a fresh one from the stored
//! configuration (which rebuilds what is derived from it: hashers, URL),
//! then every table from the bytes. Every count is checked against the
//! bytes left, every key for duplicates.

use super::super::Runner;
use super::super::actor_table::{ActorRecord, ActorSlot, Phase, QueuedStart};
use super::super::conn_state::ConnState;
use super::super::shutdown_phase::ShutdownPhase;
use crate::config::ConfigError;
use crate::encoding::codec::{Cursor, Malformed};
use crate::encoding::config::get_config;
use crate::encoding::state::{bare, counter, opt_token, queue};
use crate::encoding::values::{
    get_actor, get_event, get_metadata, get_shutdown_reason, get_stop_reason, get_time,
    get_transmit,
};
use crate::ids::ConnId;
use crate::rng::SplitMix64;

/// Why loading stopped.
#[derive(Debug)]
pub(super) enum LoadError {
    Malformed(Malformed),
    Config(ConfigError),
}

impl From<Malformed> for LoadError {
    fn from(what: Malformed) -> Self {
        LoadError::Malformed(what)
    }
}

pub(super) fn load(c: &mut Cursor<'_>, has_token: bool) -> Result<Runner, LoadError> {
    let config = get_config(c, has_token)?;
    let now = get_time(c)?;
    let mut runner = Runner::new(config, now).map_err(LoadError::Config)?;
    runner.stepped = c.bool()?;
    runner.rng = SplitMix64::new(u64::from_le_bytes(c.fixed()?));
    runner.conn = load_conn(c)?;
    runner.next_conn_id = counter(c)?;
    runner.backoff_attempt = c.u32()?;
    runner.runner_id = c.opt_string()?.map(Into::into);
    runner.metadata = if c.bool()? {
        Some(get_metadata(c)?)
    } else {
        None
    };
    runner.timers = super::super::timers::TimerTable::load(c)?;
    runner.shutdown = load_shutdown(c)?;
    runner.load_actors(c)?;
    runner.watchdogs = queue(c, super::super::actors::Watchdog::load)?;
    runner.retired.load(c)?;
    runner.kv = super::super::kv_table::KvTable::load(c)?;
    runner.tunnel.load(c, &runner.config.limits)?;
    runner.load_outputs(c)?;
    runner.counters = super::super::metrics::Counters::load(c)?;
    Ok(runner)
}

impl Runner {
    fn load_actors(&mut self, c: &mut Cursor<'_>) -> Result<(), Malformed> {
        for _ in 0..c.count()? {
            let current = self.load_record(c)?;
            let queued = if c.bool()? {
                Some(Box::new(QueuedStart {
                    checkpoint: bare(c)?,
                    command: bare(c)?,
                }))
            } else {
                None
            };
            let has_queued = queued.is_some();
            if self
                .actors
                .insert(Box::new(ActorSlot { current, queued }))
                .is_some()
            {
                return Err("an actor is listed twice");
            }
            if has_queued {
                self.actors.queue_added();
            }
        }
        Ok(())
    }

    fn load_record(&self, c: &mut Cursor<'_>) -> Result<ActorRecord, Malformed> {
        let actor = get_actor(c)?;
        let phase = load_phase(c)?;
        let last_command_index = c.zigzag()?;
        let events = super::super::event_log::EventLog::load(c)?;
        let orphaned = c.bool()?;
        let watchdog = opt_token(c)?;
        let tunnel = super::super::tunnel::actor_tunnel::ActorTunnel::load(c, &self.tunnel.hasher)?;
        Ok(ActorRecord {
            actor,
            phase,
            last_command_index,
            events,
            orphaned,
            watchdog,
            tunnel,
        })
    }

    fn load_outputs(&mut self, c: &mut Cursor<'_>) -> Result<(), Malformed> {
        for _ in 0..c.count()? {
            let transmit = get_transmit(c, &self.config)?;
            self.transmits.push_back(transmit);
        }
        for _ in 0..c.count()? {
            self.events.push_back(get_event(c)?);
        }
        self.transmits.mark();
        self.events.mark();
        for _ in 0..c.count()? {
            self.outgoing_events.push(bare(c)?);
        }
        for _ in 0..c.count()? {
            self.outgoing_acks.push(bare(c)?);
        }
        for _ in 0..c.count()? {
            self.drained.push(get_actor(c)?);
        }
        Ok(())
    }
}

fn load_conn(c: &mut Cursor<'_>) -> Result<ConnState, Malformed> {
    let id = |c: &mut Cursor<'_>| counter(c).map(ConnId);
    Ok(match c.u8()? {
        0 => ConnState::Idle,
        1 => ConnState::Connecting(id(c)?),
        2 => ConnState::AwaitingInit(id(c)?),
        3 => ConnState::Ready(id(c)?),
        4 => ConnState::Backoff,
        5 => ConnState::Closing(id(c)?),
        6 => ConnState::Closed,
        _ => return Err("unknown connection state"),
    })
}

fn load_shutdown(c: &mut Cursor<'_>) -> Result<ShutdownPhase, Malformed> {
    Ok(match c.u8()? {
        0 => ShutdownPhase::Running,
        1 => ShutdownPhase::Draining,
        2 => ShutdownPhase::Finishing(get_shutdown_reason(c)?),
        3 => ShutdownPhase::Complete,
        _ => return Err("unknown shutdown phase"),
    })
}

fn load_phase(c: &mut Cursor<'_>) -> Result<Phase, Malformed> {
    Ok(match c.u8()? {
        0 => {
            let restored = c.bool()?;
            let stop_after = if c.bool()? {
                Some(Box::new(get_stop_reason(c)?))
            } else {
                None
            };
            Phase::Starting {
                stop_after,
                restored,
            }
        }
        1 => Phase::Running,
        2 => {
            let draining = c.bool()?;
            Phase::Stopping {
                reason: Box::new(get_stop_reason(c)?),
                draining,
            }
        }
        _ => return Err("unknown actor phase"),
    })
}
