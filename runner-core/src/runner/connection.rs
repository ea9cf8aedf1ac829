//! The connection: connect, init, liveness, close, backoff and reconnect.

use std::time::Duration;

use bytes::Bytes;
use tracing::{debug, info, warn};

use super::conn_state::{CLOSE_ERROR, ConnState};
use super::metrics::LostBy;
use super::shutdown_phase::ShutdownPhase;
use super::timers::Timer;
use super::{Runner, TransportClose};
use crate::ids::ConnId;
use crate::output::{Event, ShutdownReason, Transmit};
use crate::protocol::{
    CloseReason, ToClient, ToClientInit, ToServer, ToServerInit, ToServerPong, decode_to_client,
    encode_to_server_into,
};

impl Runner {
    /// Opens a new connection attempt.
    pub(super) fn connect(&mut self) {
        self.next_conn_id += 1;
        self.counters.connect_attempts += 1;
        let conn = ConnId(self.next_conn_id);
        self.conn = ConnState::Connecting(conn);
        self.timers
            .set(Timer::Handshake, self.now + self.config.timeouts.connect);
        debug!(?conn, url = %self.url, "connecting");
        self.transmits.push_back(Transmit::Connect {
            conn,
            url: self.url.clone(),
            // Built per attempt rather than kept: the runner's `Debug` must
            // not show the token.
            subprotocols: self.config.subprotocols(),
        });
    }

    pub(super) fn on_transport_open(&mut self, conn: ConnId) {
        if self.conn != ConnState::Connecting(conn) {
            return;
        }
        self.conn = ConnState::AwaitingInit(conn);
        self.timers
            .set(Timer::Handshake, self.now + self.config.timeouts.init);
        self.touch_liveness();
        let init = self.init_message();
        self.send(&ToServer::Init(init));
    }

    fn init_message(&self) -> ToServerInit {
        let names = self
            .config
            .prepopulate_actor_names
            .iter()
            .map(|(name, metadata)| {
                let entry = crate::protocol::ActorName {
                    metadata: metadata.clone(),
                };
                (name.clone(), entry)
            })
            .collect();
        ToServerInit {
            name: self.config.runner_name.clone(),
            version: self.config.version,
            total_slots: self.config.total_slots,
            prepopulate_actor_names: Some(names),
            metadata: self.config.metadata.clone(),
        }
    }

    pub(super) fn on_frame(&mut self, conn: ConnId, frame: &[u8]) {
        if !self.is_current(conn) || !self.conn.is_open() {
            return;
        }
        self.touch_liveness();
        let msg = match decode_to_client(self.config.protocol_version, frame) {
            Ok(msg) => msg,
            Err(e) => return self.protocol_error(conn, &e.to_string()),
        };
        match (self.conn, msg) {
            (_, ToClient::Ping(ping)) => {
                self.counters.engine_pings += 1;
                self.send(&ToServer::Pong(ToServerPong { ts: ping.ts }))
            }
            (_, ToClient::Init(init)) => self.on_init(conn, init),
            (ConnState::Ready(_), msg) => self.on_ready_message(msg),
            (_, _) => self.protocol_error(conn, "message before ToClientInit"),
        }
    }

    fn on_ready_message(&mut self, msg: ToClient) {
        match msg {
            ToClient::Commands(commands) => self.on_commands(commands),
            ToClient::AckEvents(ack) => self.on_ack_events(ack.last_event_checkpoints),
            ToClient::KvResponse(response) => self.on_kv_response(response),
            ToClient::TunnelMessage(msg) => self.on_tunnel_message(msg),
            ToClient::Init(_) | ToClient::Ping(_) => {}
        }
    }

    fn on_init(&mut self, conn: ConnId, init: ToClientInit) {
        if self.conn == ConnState::Ready(conn) {
            // The engine sends one init per connection; replaying everything
            // again on the same connection would send it all twice.
            return warn!("repeated ToClientInit on the same connection ignored");
        }
        self.conn = ConnState::Ready(conn);
        self.counters.connections += 1;
        self.timers.stop(Timer::Handshake);
        self.timers.stop(Timer::RunnerLost);
        self.backoff_attempt = 0;
        if self
            .runner_id
            .as_ref()
            .is_some_and(|old| *old != init.runner_id)
        {
            info!(old = ?self.runner_id, new = %init.runner_id, "runner id changed: stopping every actor");
            self.forget_previous_runner();
        }
        info!(runner_id = %init.runner_id, "connected");
        self.runner_id = Some(init.runner_id.clone());
        self.metadata = Some(init.metadata);
        // Replay order of the reference runner: KV, then events, then tunnel.
        self.resend_kv();
        self.resend_events(conn);
        self.resend_tunnel();
        self.events.push_back(Event::Connected {
            runner_id: init.runner_id,
            metadata: init.metadata,
        });
    }

    pub(super) fn on_transport_closed(&mut self, conn: ConnId, close: TransportClose) {
        if !self.is_current(conn) {
            return;
        }
        if self.conn == ConnState::Closing(conn) {
            return self.on_shutdown_close_confirmed(close);
        }
        let was_open = self.conn.is_open();
        self.conn = ConnState::Backoff;
        let lost = &mut self.counters.disconnects;
        if close.code.is_some() {
            lost.closed += 1;
        } else {
            lost.transport_error += 1;
        }
        if was_open {
            self.events.push_back(Event::Disconnected {
                code: close.code,
                reason: close.reason.clone(),
            });
        }
        // While shutting down, any close (the engine ends a drained runner
        // with an eviction) just lets the shutdown finish.
        let fatal = fatal_reason(&close).filter(|_| self.shutdown == ShutdownPhase::Running);
        if let Some(reason) = fatal {
            warn!(%reason, "engine refused the runner; not reconnecting");
            let shutdown = if reason.starts_with("ws.eviction") {
                ShutdownReason::Evicted
            } else {
                ShutdownReason::Fatal(reason)
            };
            return self.shutdown_now(shutdown);
        }
        warn!(code = ?close.code, reason = %close.reason, "connection lost");
        self.after_connection_lost();
    }

    /// Closes the current connection for a fault of ours or the engine's and
    /// goes through the ordinary reconnect path.
    pub(super) fn protocol_error(&mut self, conn: ConnId, why: &str) {
        warn!(why, "protocol error; closing the connection");
        self.counters.lost(LostBy::ProtocolError);
        self.drop_connection(conn, CLOSE_ERROR, "runner.invalid_frame", why);
    }

    /// Abandons `conn` (asking the transport to close it) and reconnects.
    fn drop_connection(&mut self, conn: ConnId, code: u16, reason: &str, why: &str) {
        let was_open = self.conn.is_open();
        self.transmits.push_back(Transmit::Close {
            conn,
            code,
            reason: reason.to_owned(),
        });
        self.conn = ConnState::Backoff;
        if was_open {
            self.events.push_back(Event::Disconnected {
                code: Some(code),
                reason: format!("{reason}: {why}"),
            });
        }
        self.after_connection_lost();
    }

    /// Common tail of every lost connection: forget its frames, arm the
    /// runner-lost timer, and either reconnect or let shutdown finish.
    fn after_connection_lost(&mut self) {
        self.transmits.retain(|t| !matches!(t, Transmit::Frame(_)));
        self.timers.stop(Timer::Handshake);
        self.timers.stop(Timer::Liveness);
        if self.shutdown != ShutdownPhase::Running {
            return self.on_connection_lost_during_shutdown();
        }
        self.arm_runner_lost();
        self.schedule_reconnect();
    }

    fn arm_runner_lost(&mut self) {
        let threshold = self.metadata.map_or(0, |m| m.runner_lost_threshold);
        if threshold > 0 && !self.timers.is_armed(Timer::RunnerLost) {
            let threshold = Duration::from_millis(threshold.unsigned_abs());
            self.timers.set(Timer::RunnerLost, self.now + threshold);
        }
    }

    fn schedule_reconnect(&mut self) {
        let delay = self.backoff_delay();
        debug!(
            ?delay,
            attempt = self.backoff_attempt,
            "reconnecting after backoff"
        );
        self.conn = ConnState::Backoff;
        self.timers.set(Timer::Reconnect, self.now + delay);
    }

    /// `min(initial · 2^attempt, max) · (1 + U[0,1) · jitter)`. While the
    /// runner-lost timer runs, the base is also capped at a quarter of the
    /// engine's threshold, so that an engine that comes back in time is
    /// reached before the runner gives its actors up.
    fn backoff_delay(&mut self) -> Duration {
        let b = &self.config.backoff;
        let exp = b
            .initial
            .saturating_mul(1u32.checked_shl(self.backoff_attempt).unwrap_or(u32::MAX));
        let mut base = exp.min(b.max);
        if self.timers.is_armed(Timer::RunnerLost) {
            let threshold = self
                .metadata
                .map_or(0, |m| m.runner_lost_threshold.unsigned_abs());
            base = base.min(Duration::from_millis(threshold / 4).max(b.initial));
        }
        let jitter = self.rng.next_f64() * b.jitter;
        base.mul_f64(1.0 + jitter)
    }

    pub(super) fn on_reconnect_timer(&mut self) {
        if self.conn == ConnState::Backoff && self.shutdown == ShutdownPhase::Running {
            self.backoff_attempt = self.backoff_attempt.saturating_add(1);
            self.connect();
        }
    }

    pub(super) fn on_handshake_timeout(&mut self) {
        if let Some(conn) = self.conn.id() {
            let stage = match self.conn {
                ConnState::Connecting(_) => "transport did not open in time",
                _ => "no ToClientInit in time",
            };
            warn!(stage, "connection handshake timed out");
            self.counters.lost(LostBy::HandshakeTimeout);
            self.drop_connection(conn, CLOSE_ERROR, "runner.handshake_timeout", stage);
        }
    }

    pub(super) fn on_liveness_timeout(&mut self) {
        if let Some(conn) = self.conn.id().filter(|_| self.conn.is_open()) {
            warn!("no frame from the engine for the liveness window: reconnecting");
            self.counters.lost(LostBy::LivenessTimeout);
            self.drop_connection(
                conn,
                CLOSE_ERROR,
                "runner.liveness_timeout",
                "no frame from the engine",
            );
        }
    }

    fn touch_liveness(&mut self) {
        self.counters.last_engine_contact = Some(self.now);
        self.timers
            .set(Timer::Liveness, self.now + self.config.timeouts.liveness);
    }

    /// Encodes and queues one message if the transport is open; messages
    /// that must survive a disconnect are kept in their own tables instead.
    pub(super) fn send(&mut self, msg: &ToServer) {
        if !self.conn.is_open() {
            return;
        }
        // Encoded into the kept buffer, a small frame is copied out into one
        // exact allocation (a fresh buffer grows by reallocations, and its
        // spare capacity costs `Bytes` one more allocation); a large one
        // moves out as it is, its payload copied once only.
        self.encode_buf.clear();
        match encode_to_server_into(self.config.protocol_version, msg, &mut self.encode_buf) {
            Ok(()) if self.encode_buf.len() <= SMALL_FRAME => {
                let frame = Bytes::copy_from_slice(&self.encode_buf);
                // Emptied at once: `Debug` never shows a frame (the init
                // frame holds the token).
                self.encode_buf.clear();
                self.transmits.push_back(Transmit::Frame(frame));
            }
            Ok(()) => {
                let frame = Bytes::from(std::mem::take(&mut self.encode_buf));
                self.transmits.push_back(Transmit::Frame(frame));
            }
            Err(e) => warn!(error = %e, "message not sent"),
        }
    }

    pub(super) fn is_ready(&self) -> bool {
        matches!(self.conn, ConnState::Ready(_))
    }

    pub(super) fn ready_conn(&self) -> Option<ConnId> {
        match self.conn {
            ConnState::Ready(conn) => Some(conn),
            _ => None,
        }
    }
}

/// Frames up to this size are copied out of the kept encoding buffer, which
/// therefore never holds more than twice this (what growing to it reserves).
const SMALL_FRAME: usize = 16 * 1024;

/// Close reasons and handshake refusals that retrying cannot fix.
fn fatal_reason(close: &TransportClose) -> Option<String> {
    if let Some(status @ (401 | 403)) = close.http_status {
        return Some(format!("handshake refused with HTTP {status}"));
    }
    let reason = CloseReason::parse(&close.reason)?;
    let fatal = reason.is("ws", "eviction") || reason.is("namespace", "not_found");
    fatal.then(|| close.reason.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_eviction_missing_namespace_and_auth_are_fatal() {
        let frame = |r: &str| TransportClose::frame(1011, r);
        assert!(fatal_reason(&frame("ws.eviction#x")).is_some());
        assert!(fatal_reason(&frame("namespace.not_found#x")).is_some());
        assert!(fatal_reason(&frame("ws.going_away#x")).is_none());
        assert!(fatal_reason(&frame("core.internal_error")).is_none());
        let refused = TransportClose {
            http_status: Some(403),
            ..TransportClose::default()
        };
        assert!(fatal_reason(&refused).is_some());
        let unavailable = TransportClose {
            http_status: Some(503),
            ..TransportClose::default()
        };
        assert!(fatal_reason(&unavailable).is_none());
    }
}
