//! Connections: the upgrade, the init handshake and the ping task
//! (spec §2.1–§2.6).

use std::collections::VecDeque;
use std::time::Duration;

use runner_core::protocol::{
    Id, ProtocolMetadata, ProtocolVersion, ToClient, ToClientInit, ToClientPing, ToServer,
    ToServerInit, decode_to_server,
};
use runner_core::{ConnId, Timestamp};

use super::{EngineTransmit, RunnerRecord, SimEngine};

/// Pings remembered per connection to check pong timestamps.
const PINGS_REMEMBERED: usize = 16;

/// One open connection, as the engine sees it.
#[derive(Debug, Clone)]
pub(super) enum EngineConn {
    /// Upgraded; the first frame must be `ToServerInit` by `deadline`.
    AwaitingInit { deadline: Timestamp },
    /// Init done; the ping task runs.
    Ready(ReadyConn),
}

#[derive(Debug, Clone)]
pub(super) struct ReadyConn {
    pub(super) runner_id: Id,
    next_ping: Timestamp,
    last_pong: Timestamp,
    pings: VecDeque<i64>,
}

impl EngineConn {
    pub(super) fn runner_id(&self) -> Option<&Id> {
        match self {
            EngineConn::Ready(r) => Some(&r.runner_id),
            EngineConn::AwaitingInit { .. } => None,
        }
    }

    pub(super) fn deadline(&self) -> Timestamp {
        match self {
            EngineConn::AwaitingInit { deadline } => *deadline,
            EngineConn::Ready(r) => r.next_ping,
        }
    }
}

impl SimEngine {
    /// A WebSocket upgrade request for `url` offering `subprotocols`. The
    /// answer (accept, refuse, or accept then close) comes as transmits.
    pub fn handle_connect(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        url: &str,
        subprotocols: &[String],
    ) {
        self.advance(now);
        self.log
            .connects
            .push((conn, url.to_owned(), subprotocols.to_vec()));
        if let Some(http_status) = self.refusal(url, subprotocols) {
            self.transmits
                .push_back(EngineTransmit::Refuse { conn, http_status });
            return;
        }
        self.transmits.push_back(EngineTransmit::Accept { conn });
        let deadline = self.now + self.config.init_timeout;
        self.conns
            .insert(conn, EngineConn::AwaitingInit { deadline });
        if query_param(url, "namespace").as_deref() != Some(self.config.namespace.as_str()) {
            // The engine upgrades first and then fails the connection.
            self.close(conn, 1011, "namespace.not_found");
        }
    }

    /// HTTP status refusing the upgrade, if any: wrong path or version (400),
    /// missing `rivet` sub-protocol (400), bad token (403).
    fn refusal(&self, url: &str, subprotocols: &[String]) -> Option<u16> {
        let path_ok = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .is_some_and(|(_, path)| path.starts_with("runners/connect?"));
        let version = query_param(url, "protocol_version");
        let version_ok = version.as_deref() == Some(&self.config.version.number().to_string());
        if !path_ok || !version_ok || !subprotocols.iter().any(|p| p == "rivet") {
            return Some(400);
        }
        let token = subprotocols
            .iter()
            .find_map(|p| p.strip_prefix("rivet_token."));
        match &self.config.token {
            Some(required) if token != Some(required.as_str()) => Some(403),
            _ => None,
        }
    }

    /// One binary message from the runner.
    pub fn handle_frame(&mut self, now: Timestamp, conn: ConnId, bytes: &[u8]) {
        self.advance(now);
        let Some(state) = self.conns.get(&conn) else {
            return;
        };
        let awaiting_init = matches!(state, EngineConn::AwaitingInit { .. });
        let msg = match decode_to_server(self.config.version, bytes) {
            Ok(msg) => msg,
            Err(_) if awaiting_init => return self.close(conn, 1011, "ws.invalid_initial_packet"),
            Err(_) => {
                // Later undecodable frames are ignored with a warning.
                self.log.undecodable += 1;
                return;
            }
        };
        self.log.received.push((self.now, conn, msg.clone()));
        match (awaiting_init, msg) {
            (true, ToServer::Init(_)) if !self.config.answer_init => {}
            (true, ToServer::Init(init)) => self.on_init(conn, init),
            (true, _) => self.close(conn, 1011, "ws.invalid_initial_packet"),
            // A second init on the same connection is ignored.
            (false, ToServer::Init(_)) => {}
            (false, msg) => self.on_message(conn, msg),
        }
    }

    /// A text message from the runner: ignored, like the engine does.
    pub fn handle_text(&mut self, now: Timestamp, _conn: ConnId) {
        self.advance(now);
        self.log.undecodable += 1;
    }

    /// The runner's side of `conn` closed (close frame or reset).
    pub fn handle_closed(&mut self, now: Timestamp, conn: ConnId) {
        self.advance(now);
        self.forget_conn(conn);
    }

    fn on_init(&mut self, conn: ConnId, init: ToServerInit) {
        let runner_id = self.runner_for_init();
        // Only one connection per runner: evict every other one.
        let others: Vec<ConnId> = self.conns.keys().copied().filter(|c| *c != conn).collect();
        for other in others {
            self.close(other, 1000, "ws.eviction");
        }
        self.log.inits.push((conn, init));
        let ready = ReadyConn {
            runner_id: runner_id.clone(),
            next_ping: self.next_ping_time(),
            last_pong: self.now,
            pings: VecDeque::new(),
        };
        self.conns.insert(conn, EngineConn::Ready(ready));
        self.disconnected_since = None;
        let metadata = self.protocol_metadata();
        self.send(
            conn,
            ToClient::Init(ToClientInit {
                runner_id: runner_id.clone(),
                metadata,
            }),
        );
        let missed = self.commands.pending(&runner_id);
        if !missed.is_empty() {
            self.send(conn, ToClient::Commands(missed));
        }
        self.gateway_runner_up(&runner_id);
        self.pump_gateway();
    }

    /// Reuses the runner's id unless it expired; mints one otherwise.
    fn runner_for_init(&mut self) -> Id {
        if let Some(r) = self.runner.as_ref().filter(|r| !r.expired) {
            return r.id.clone();
        }
        self.runner_seq += 1;
        let id: Id = format!("runner-{}", self.runner_seq).into();
        self.runner = Some(RunnerRecord {
            id: id.clone(),
            expired: false,
        });
        self.draining = false;
        id
    }

    fn protocol_metadata(&self) -> ProtocolMetadata {
        let v6 = self.config.version >= ProtocolVersion::V6;
        ProtocolMetadata {
            runner_lost_threshold: self.config.runner_lost_threshold_ms,
            actor_stop_threshold: v6.then_some(self.config.actor_stop_threshold_ms),
            serverless_drain_grace_period: None,
        }
    }

    fn next_ping_time(&mut self) -> Timestamp {
        let jitter = self.rng.below(self.config.ping_jitter_ms);
        self.now + self.config.ping_interval + Duration::from_millis(jitter)
    }

    pub(super) fn on_pong(&mut self, conn: ConnId, ts: i64) {
        let Some(EngineConn::Ready(ready)) = self.conns.get_mut(&conn) else {
            return;
        };
        match ready.pings.iter().position(|p| *p == ts) {
            Some(pos) => {
                ready.pings.drain(..=pos);
                ready.last_pong = self.now;
            }
            None => self.log.bad_pongs += 1,
        }
    }

    pub(super) fn run_conn_timers(&mut self) {
        for conn in self.conn_ids() {
            match self.conns.get(&conn) {
                Some(EngineConn::AwaitingInit { deadline }) if *deadline <= self.now => {
                    self.close(conn, 1011, "ws.timed_out_waiting_for_init");
                }
                Some(EngineConn::Ready(r)) if r.next_ping <= self.now => self.ping_tick(conn),
                _ => {}
            }
        }
    }

    /// One tick of the ping task: fail a silent runner, else ping it.
    fn ping_tick(&mut self, conn: ConnId) {
        let next = self.next_ping_time();
        let now = self.now;
        let ts = self.now_ms();
        let timeout = self.config.pong_timeout;
        let Some(EngineConn::Ready(ready)) = self.conns.get_mut(&conn) else {
            return;
        };
        if now.saturating_duration_since(ready.last_pong) > timeout {
            return self.close(conn, 1011, "core.internal_error");
        }
        ready.next_ping = next;
        if ready.pings.len() == PINGS_REMEMBERED {
            ready.pings.pop_front();
        }
        ready.pings.push_back(ts);
        self.send(conn, ToClient::Ping(ToClientPing { ts }));
    }
}

/// The value of `name` in the URL's query (not percent-decoded: the sim's
/// names are plain).
fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
