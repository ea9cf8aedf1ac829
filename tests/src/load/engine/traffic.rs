//! The load a [`Conn`] keeps in flight ([`Traffic`]'s knobs): tunnelled
//! HTTP requests, messages on open WebSockets, or stop/start cycles, begun
//! and ended a mode at a time, and the runner's tunnel replies that
//! complete them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use runner_core::protocol::{
    GatewayId, MessageId, RequestId, ToClient, ToClientRequestStart, ToClientTunnelMessage,
    ToClientTunnelMessageKind, ToClientWebSocketClose, ToClientWebSocketOpen,
    ToServerTunnelMessage, ToServerTunnelMessageKind, WebSocketMessage,
};

use super::Conn;
use super::Life;
use super::recorder::Recorder;
use crate::load::Mode;

/// The gateway id of every tunnelled request.
const GATEWAY: GatewayId = GatewayId([0x6c, 0x6f, 0x61, 0x64]);

/// What the load engine keeps in flight.
#[derive(Debug, Default)]
pub(super) enum Load {
    /// Nothing (between modes, or draining).
    #[default]
    Idle,
    /// Tunnelled HTTP requests: request id → when it was sent.
    Http {
        mode: Mode,
        in_flight: HashMap<u32, Instant>,
    },
    /// WebSocket echo: one message in flight per socket.
    Ws {
        sockets: Vec<Socket>,
        /// Request id → socket.
        by_request: HashMap<u32, usize>,
    },
    /// Stop/start cycles: actor index → when its stop was sent.
    Events { cycling: HashMap<usize, Instant> },
}

#[derive(Debug)]
pub(super) struct Socket {
    request: u32,
    open: bool,
    next_index: u16,
    sent_at: Option<Instant>,
}

/// Knobs of the traffic.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Operations kept in flight.
    pub in_flight: usize,
    /// `/echo` request body size.
    pub body_bytes: usize,
    /// WebSocket message size.
    pub ws_bytes: usize,
}

impl Conn {
    /// Begins keeping `traffic.in_flight` operations of `mode` in flight.
    /// WebSocket mode opens its sockets first and waits for them.
    pub async fn begin(&mut self, mode: Mode, traffic: &Traffic) -> Result<()> {
        if self.running == 0 {
            bail!("no actor runs");
        }
        self.traffic = traffic.clone();
        self.draining = false;
        self.recorder = Recorder::default();
        self.body = Bytes::from(vec![b'x'; traffic.body_bytes]);
        self.ws_payload = Bytes::from(vec![b'w'; traffic.ws_bytes]);
        match mode {
            Mode::HttpPing | Mode::HttpEcho | Mode::Kv => {
                self.load = Load::Http {
                    mode,
                    in_flight: HashMap::with_capacity(traffic.in_flight),
                };
                for _ in 0..traffic.in_flight {
                    self.send_request();
                }
            }
            Mode::Ws => {
                let mut sockets = Vec::with_capacity(traffic.in_flight);
                let mut by_request = HashMap::with_capacity(traffic.in_flight);
                for s in 0..traffic.in_flight {
                    let request = self.request_id();
                    let actor = self.next_running_actor();
                    let open = ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
                        actor_id: self.actors[actor].id.clone(),
                        path: "/ws".into(),
                        headers: self.headers.clone(),
                    });
                    self.send_tunnel(request, 0, open);
                    by_request.insert(request, s);
                    sockets.push(Socket {
                        request,
                        open: false,
                        next_index: 1,
                        sent_at: None,
                    });
                }
                self.load = Load::Ws {
                    sockets,
                    by_request,
                };
                self.pump_until(Duration::from_secs(60), "every WebSocket to open", |c| {
                    matches!(&c.load, Load::Ws { sockets, .. } if sockets.iter().all(|s| s.open))
                })
                .await?;
                for s in 0..traffic.in_flight {
                    self.send_ws_message(s);
                }
            }
            Mode::Events => {
                let wanted = traffic.in_flight.min(self.running);
                self.load = Load::Events {
                    cycling: HashMap::with_capacity(wanted),
                };
                for _ in 0..wanted {
                    self.begin_cycle();
                }
            }
        }
        Ok(())
    }

    /// Stops issuing new operations, waits for those in flight, and closes
    /// the mode's sockets.
    pub async fn end(&mut self) -> Result<()> {
        self.draining = true;
        self.pump_until(Duration::from_secs(60), "operations in flight", |c| {
            c.in_flight() == 0
        })
        .await?;
        if let Load::Ws { sockets, .. } = std::mem::take(&mut self.load) {
            for socket in sockets {
                let close = ToClientTunnelMessageKind::WebSocketClose(ToClientWebSocketClose {
                    code: Some(1000),
                    reason: None,
                });
                self.send_tunnel(socket.request, socket.next_index, close);
            }
        }
        self.load = Load::Idle;
        // Let the runner see the closes before the next mode.
        self.pump(Instant::now() + Duration::from_millis(200), |_| false)
            .await?;
        Ok(())
    }

    fn in_flight(&self) -> usize {
        match &self.load {
            Load::Idle => 0,
            Load::Http { in_flight, .. } => in_flight.len(),
            Load::Ws { sockets, .. } => sockets.iter().filter(|s| s.sent_at.is_some()).count(),
            Load::Events { cycling } => cycling.len(),
        }
    }

    fn request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        id
    }

    /// The next running actor, round robin over all of them.
    pub(super) fn next_running_actor(&mut self) -> usize {
        for _ in 0..self.actors.len() {
            let i = self.next_actor % self.actors.len();
            self.next_actor = self.next_actor.wrapping_add(1);
            if self.actors[i].life == Life::Running {
                return i;
            }
        }
        0
    }

    fn send_tunnel(&mut self, request: u32, index: u16, kind: ToClientTunnelMessageKind) {
        let message = ToClient::TunnelMessage(ToClientTunnelMessage {
            message_id: MessageId {
                gateway_id: GATEWAY,
                request_id: RequestId(request.to_le_bytes()),
                message_index: index,
            },
            message_kind: kind,
        });
        self.send(&message);
    }

    fn send_request(&mut self) {
        let Load::Http { mode, .. } = self.load else {
            return;
        };
        let request = self.request_id();
        let actor = self.next_running_actor();
        let mut headers = self.headers.clone();
        let (method, path, body) = match mode {
            Mode::HttpEcho => {
                headers.insert("content-type", "application/octet-stream".to_owned());
                ("POST", "/echo".to_owned(), Some(self.body.clone()))
            }
            // Alternately write and read one key per actor.
            Mode::Kv if request % 2 == 0 => (
                "PUT",
                format!("/kv/k{}", request % 64),
                Some(Bytes::from_static(b"a value of 24 bytes long")),
            ),
            Mode::Kv => (
                "GET",
                format!("/kv/k{}", request.wrapping_sub(1) % 64),
                None,
            ),
            _ => ("GET", "/ping".to_owned(), None),
        };
        let start = ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: self.actors[actor].id.clone(),
            method: method.into(),
            path,
            headers,
            body,
            stream: false,
        });
        self.send_tunnel(request, 0, start);
        if let Load::Http { in_flight, .. } = &mut self.load {
            in_flight.insert(request, Instant::now());
        }
    }

    fn send_ws_message(&mut self, s: usize) {
        let payload = self.ws_payload.clone();
        let Load::Ws { sockets, .. } = &mut self.load else {
            return;
        };
        let socket = &mut sockets[s];
        let (request, index) = (socket.request, socket.next_index);
        socket.next_index = socket.next_index.wrapping_add(1);
        socket.sent_at = Some(Instant::now());
        let message = ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage {
            data: payload,
            binary: false,
        });
        self.send_tunnel(request, index, message);
    }

    pub(super) fn on_tunnel(&mut self, message: ToServerTunnelMessage) {
        let request = u32::from_le_bytes(message.message_id.request_id.0);
        match (&mut self.load, message.message_kind) {
            (Load::Http { mode, in_flight }, kind) => {
                let ok = match (kind, *mode) {
                    (ToServerTunnelMessageKind::ResponseStart(r), Mode::HttpEcho) => {
                        r.status == 200 && r.body.as_ref().map_or(0, Bytes::len) == self.body.len()
                    }
                    // A GET of a key this actor was never given is a 404,
                    // after a KV round trip all the same.
                    (ToServerTunnelMessageKind::ResponseStart(r), Mode::Kv) => {
                        matches!(r.status, 200 | 204 | 404)
                    }
                    (ToServerTunnelMessageKind::ResponseStart(r), _) => r.status == 200,
                    (ToServerTunnelMessageKind::ResponseAbort, _) => false,
                    _ => return,
                };
                if let Some(sent) = in_flight.remove(&request) {
                    self.recorder.record(sent, ok);
                    if !self.draining {
                        self.send_request();
                    }
                }
            }
            (
                Load::Ws {
                    sockets,
                    by_request,
                },
                kind,
            ) => {
                let Some(&s) = by_request.get(&request) else {
                    return;
                };
                match kind {
                    ToServerTunnelMessageKind::WebSocketOpen(_) => sockets[s].open = true,
                    ToServerTunnelMessageKind::WebSocketMessage(m) => {
                        let ok = m.data.len() == self.ws_payload.len();
                        if let Some(sent) = sockets[s].sent_at.take() {
                            self.recorder.record(sent, ok);
                            if !self.draining {
                                self.send_ws_message(s);
                            }
                        }
                    }
                    ToServerTunnelMessageKind::WebSocketClose(close) => {
                        self.closed = Some(format!(
                            "the runner closed WebSocket {request}: {:?} {:?}",
                            close.code, close.reason
                        ));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}
