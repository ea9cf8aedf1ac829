//! Shutdown: graceful drain, immediate stop, and the final report.
//!
//! Graceful: send `ToServerStopping`, keep serving (KV included) while the
//! engine stops every actor, then close with `1000 pegboard.runner_shutdown`
//! once no actor is left, the connection closes, or `shutdown_drain` passes.
//! Actors still present then get `ActorStop` and are waited for (each bounded
//! by the stop timeout) before `ShutdownComplete`; a newer generation
//! queued behind one of them is reported as never started. Immediate: close at once,
//! fail everything outstanding, `ActorStop` every actor, `ShutdownComplete`.

use tracing::info;

use super::actor_table::Phase;
use super::conn_state::{CLOSE_NORMAL, ConnState};
use super::shutdown_phase::ShutdownPhase;
use super::timers::Timer;
use super::{Runner, TransportClose};
use crate::Timestamp;
use crate::kv::KvError;
use crate::output::{Event, ShutdownReason, StopReason, Transmit};
use crate::protocol::ToServer;

const SHUTDOWN_REASON: &str = "pegboard.runner_shutdown";

/// How to shut down.
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, Event, Runner, ShutdownMode, StopReason, Timestamp};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # testing::started_actor(&mut runner, conn, "A")?;
/// # let sent = |r: &mut Runner| testing::sent(r).unwrap();
/// runner.shutdown(Timestamp::ZERO, ShutdownMode::Graceful);
/// // The engine is told, and stops the actors itself; the runner keeps serving.
/// assert_eq!(sent(&mut runner), [ToServer::Stopping]);
/// assert_eq!(runner.actor_count(), 1);
/// // Asked again (a second Ctrl-C): everything stops now.
/// runner.shutdown(Timestamp::ZERO, ShutdownMode::Graceful);
/// let events: Vec<Event> = std::iter::from_fn(|| runner.poll_event()).collect();
/// assert!(matches!(events[1], Event::ActorStop { reason: StopReason::Shutdown, .. }));
/// assert!(matches!(events.last(), Some(Event::ShutdownComplete { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Let the engine stop every actor first (bounded by `shutdown_drain`).
    Graceful,
    /// Close now.
    Immediate,
}

impl Runner {
    /// Shuts the runner down. A graceful call while a graceful shutdown is
    /// already under way escalates to immediate (a second Ctrl-C).
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, ShutdownMode, Timestamp, Transmit, TransportClose};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// runner.shutdown(Timestamp::ZERO, ShutdownMode::Graceful);
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// assert_eq!(decode_to_server(ProtocolVersion::V5, &frame)?, ToServer::Stopping);
    /// // No actor to wait for: the connection is closed at once...
    /// let Some(Transmit::Close { conn, code: 1000, .. }) = runner.poll_transmit() else { panic!() };
    /// // ...and once the transport confirms, shutdown is complete.
    /// runner.handle_closed(Timestamp::ZERO, conn, TransportClose::frame(1000, "bye"));
    /// assert!(runner.is_shut_down());
    /// assert!(std::iter::from_fn(|| runner.poll_event()).any(|e| matches!(e, Event::ShutdownComplete { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&mut self, now: Timestamp, mode: ShutdownMode) {
        self.step(now, super::Input::Shutdown { mode });
    }

    pub(super) fn on_shutdown(&mut self, mode: ShutdownMode) {
        match (&self.shutdown, mode) {
            (ShutdownPhase::Complete, _) => {}
            (ShutdownPhase::Running, ShutdownMode::Graceful) => self.begin_drain(),
            _ => self.shutdown_now(ShutdownReason::Requested),
        }
    }

    fn begin_drain(&mut self) {
        info!("graceful shutdown: draining");
        self.shutdown = ShutdownPhase::Draining;
        self.timers.stop(Timer::Reconnect);
        self.timers.stop(Timer::RunnerLost);
        self.timers
            .set(Timer::Drain, self.now + self.config.timeouts.shutdown_drain);
        if !self.is_ready() {
            // Nobody to drain with: close any attempt and stop locally.
            if let Some(conn) = self.conn.id() {
                self.transmits.push_back(Transmit::Close {
                    conn,
                    code: CLOSE_NORMAL,
                    reason: SHUTDOWN_REASON.into(),
                });
            }
            self.conn = ConnState::Closed;
            return self.enter_finishing(ShutdownReason::Requested);
        }
        self.send(&ToServer::Stopping);
        self.check_drained();
    }

    /// Immediate shutdown, also used for eviction and fatal refusals.
    pub(super) fn shutdown_now(&mut self, reason: ShutdownReason) {
        if self.shutdown == ShutdownPhase::Complete {
            return;
        }
        info!(?reason, "shutting down now");
        if let Some(conn) = self.conn.id() {
            let was_open = matches!(self.conn, ConnState::AwaitingInit(_) | ConnState::Ready(_));
            self.transmits.retain(|t| !matches!(t, Transmit::Frame(_)));
            self.transmits.push_back(Transmit::Close {
                conn,
                code: CLOSE_NORMAL,
                reason: SHUTDOWN_REASON.into(),
            });
            if was_open {
                self.events.push_back(Event::Disconnected {
                    code: Some(CLOSE_NORMAL),
                    reason: SHUTDOWN_REASON.into(),
                });
            }
        }
        self.conn = ConnState::Closed;
        self.fail_all_kv(KvError::Shutdown);
        // Every actor gets its stop callback, but nothing waits for it.
        self.stop_all_actors_now();
        self.complete(reason);
    }

    fn stop_all_actors_now(&mut self) {
        for id in self.sorted_actor_ids() {
            if let Some(slot) = self.actors.get_mut(&id) {
                // Starting actors too: the run is over, there is no start to wait for.
                slot.current.phase = Phase::Running;
            }
            self.begin_stop(&id, StopReason::Shutdown);
        }
    }

    fn check_drained(&mut self) {
        if self.shutdown == ShutdownPhase::Draining && self.actors.is_empty() {
            self.finish_drain();
        }
    }

    /// Drain over (actors gone or time up): close the connection.
    fn finish_drain(&mut self) {
        self.timers.stop(Timer::Drain);
        match self.conn {
            ConnState::AwaitingInit(conn) | ConnState::Ready(conn) => {
                // The input that removed the last actor recorded its
                // `Stopped`; send it (and pending acks) before the close, or
                // the engine never learns that actor stopped.
                self.flush();
                self.transmits.push_back(Transmit::Close {
                    conn,
                    code: CLOSE_NORMAL,
                    reason: SHUTDOWN_REASON.into(),
                });
                self.conn = ConnState::Closing(conn);
                self.timers
                    .set(Timer::CloseWait, self.now + self.config.timeouts.close);
            }
            _ => {
                self.conn = ConnState::Closed;
                self.enter_finishing(ShutdownReason::Requested);
            }
        }
    }

    pub(super) fn on_shutdown_close_confirmed(&mut self, close: TransportClose) {
        self.timers.stop(Timer::CloseWait);
        self.conn = ConnState::Closed;
        self.events.push_back(Event::Disconnected {
            code: close.code,
            reason: close.reason,
        });
        self.enter_finishing(ShutdownReason::Requested);
    }

    pub(super) fn on_close_wait_timeout(&mut self) {
        if let ConnState::Closing(_) = self.conn {
            let close = TransportClose::frame(CLOSE_NORMAL, SHUTDOWN_REASON);
            self.on_shutdown_close_confirmed(close);
        }
    }

    pub(super) fn on_drain_timeout(&mut self) {
        if self.shutdown == ShutdownPhase::Draining {
            info!(actors = self.actors.len(), "drain time is up");
            self.finish_drain();
        }
    }

    /// The connection dropped while shutting down: no reconnect.
    pub(super) fn on_connection_lost_during_shutdown(&mut self) {
        self.conn = ConnState::Closed;
        self.timers.stop(Timer::Reconnect);
        if self.shutdown == ShutdownPhase::Draining {
            self.enter_finishing(ShutdownReason::Requested);
        }
    }

    fn enter_finishing(&mut self, reason: ShutdownReason) {
        self.timers.stop(Timer::Drain);
        self.shutdown = ShutdownPhase::Finishing(reason);
        self.fail_all_kv(KvError::Shutdown);
        self.stop_all_actors(StopReason::Shutdown);
        self.remove_draining_actors();
        self.check_finished();
    }

    /// Disconnected for good (or the engine gave every actor up): an actor
    /// waiting for its requests waits for answers that can no longer reach
    /// anyone.
    pub(super) fn remove_draining_actors(&mut self) {
        for id in self.sorted_actor_ids() {
            let reason = match self.actors.get(&id).map(|slot| &slot.current.phase) {
                Some(Phase::Stopping {
                    reason,
                    draining: true,
                }) => (**reason).clone(),
                _ => continue,
            };
            self.remove_actor(&id, &reason);
        }
    }

    fn check_finished(&mut self) {
        if let ShutdownPhase::Finishing(reason) = &self.shutdown {
            if self.actors.is_empty() {
                let reason = reason.clone();
                self.complete(reason);
            }
        }
    }

    /// Called whenever an actor leaves the table.
    pub(super) fn on_actor_removed(&mut self) {
        match self.shutdown {
            ShutdownPhase::Draining => self.check_drained(),
            ShutdownPhase::Finishing(_) => self.check_finished(),
            _ => {}
        }
    }

    fn complete(&mut self, reason: ShutdownReason) {
        info!(?reason, "shutdown complete");
        self.shutdown = ShutdownPhase::Complete;
        self.conn = ConnState::Closed;
        self.timers.stop_all();
        self.watchdogs.clear();
        self.drop_all_requests();
        self.events.push_back(Event::ShutdownComplete { reason });
    }

    pub(super) fn is_finishing_or_done(&self) -> bool {
        matches!(
            self.shutdown,
            ShutdownPhase::Finishing(_) | ShutdownPhase::Complete
        )
    }
}
