//! A first walk through the tunnel: HTTP and WebSocket through a running actor.

use bytes::Bytes;
use runner_core::protocol::*;
use runner_core::{
    ActorRef, Config, ConnId, Event, HttpResponse, RequestKey, Runner, Timestamp, Transmit,
};

const V: ProtocolVersion = ProtocolVersion::V5;

struct Rig {
    r: Runner,
    conn: ConnId,
    now: u64,
}

impl Rig {
    fn connected() -> Rig {
        let mut r = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO).unwrap();
        r.start(Timestamp::ZERO);
        let Some(Transmit::Connect { conn, .. }) = r.poll_transmit() else {
            panic!()
        };
        r.handle_connected(Timestamp::ZERO, conn);
        let mut rig = Rig { r, conn, now: 0 };
        rig.feed(ToClient::Init(ToClientInit {
            runner_id: "R".into(),
            metadata: ProtocolMetadata {
                runner_lost_threshold: 15000,
                actor_stop_threshold: None,
                serverless_drain_grace_period: None,
            },
        }));
        rig.frames();
        rig.events();
        rig
    }

    fn t(&mut self) -> Timestamp {
        self.now += 1;
        Timestamp::from_millis(self.now)
    }

    fn feed(&mut self, msg: ToClient) {
        let bytes = encode_to_client(V, &msg).unwrap();
        let now = self.t();
        self.r.handle_frame(now, self.conn, &bytes);
    }

    fn frames(&mut self) -> Vec<ToServer> {
        std::iter::from_fn(|| self.r.poll_transmit())
            .filter_map(|t| match t {
                Transmit::Frame(b) => Some(decode_to_server(V, &b).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn tunnel_frames(&mut self) -> Vec<ToServerTunnelMessage> {
        self.frames()
            .into_iter()
            .filter_map(|f| match f {
                ToServer::TunnelMessage(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.r.poll_event()).collect()
    }

    fn start_actor(&mut self, id: &str, hibernating: Vec<HibernatingRequest>) -> ActorRef {
        self.feed(ToClient::Commands(vec![CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: id.into(),
                generation: 0,
                index: 0,
            },
            inner: Command::StartActor(CommandStartActor {
                config: ActorConfig {
                    name: "n".into(),
                    key: None,
                    create_ts: 0,
                    input: None,
                },
                hibernating_requests: hibernating,
            }),
        }]));
        self.frames();
        self.events();
        ActorRef::new(id, 0)
    }

    fn tunnel(&mut self, key: u8, index: u16, kind: ToClientTunnelMessageKind) {
        self.feed(ToClient::TunnelMessage(ToClientTunnelMessage {
            message_id: mid(key, index),
            message_kind: kind,
        }));
    }
}

fn mid(key: u8, index: u16) -> MessageId {
    MessageId {
        gateway_id: GatewayId([9, 9, 9, 9]),
        request_id: RequestId([0, 0, 0, key]),
        message_index: index,
    }
}

fn key(k: u8) -> RequestKey {
    RequestKey::new(GatewayId([9, 9, 9, 9]), RequestId([0, 0, 0, k]))
}

fn get(actor: &str, path: &str) -> ToClientTunnelMessageKind {
    ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
        actor_id: actor.into(),
        method: "GET".into(),
        path: path.into(),
        headers: BareMap::new(),
        body: None,
        stream: false,
    })
}

fn ws_open(actor: &str) -> ToClientTunnelMessageKind {
    ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
        actor_id: actor.into(),
        path: "/ws".into(),
        headers: BareMap::new(),
    })
}

fn ws_msg(data: &'static str) -> ToClientTunnelMessageKind {
    ToClientTunnelMessageKind::WebSocketMessage(WebSocketMessage {
        data: Bytes::from_static(data.as_bytes()),
        binary: false,
    })
}

#[test]
fn requests_wait_for_the_start_then_get_answered() {
    let mut rig = Rig::connected();
    let actor = rig.start_actor("A", vec![]);
    rig.tunnel(1, 0, get("A", "/ping"));
    assert!(rig.events().is_empty(), "held while the actor starts");
    let now = rig.t();
    rig.r.actor_started(now, &actor, Ok(())).unwrap();
    let events = rig.events();
    let [Event::HttpRequest(req)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!((req.path.as_str(), req.key), ("/ping", key(1)));
    let now = rig.t();
    rig.r
        .respond(now, key(1), HttpResponse::new(200).body("pong"))
        .unwrap();
    let out = rig.tunnel_frames();
    let [m] = &out[..] else { panic!("{out:?}") };
    assert_eq!(m.message_id, mid(1, 0));
    let ToServerTunnelMessageKind::ResponseStart(start) = &m.message_kind else {
        panic!()
    };
    assert_eq!(
        (start.status, start.body.as_deref()),
        (200, Some(&b"pong"[..]))
    );
    assert_eq!(
        start.headers.get("content-length").map(String::as_str),
        Some("4")
    );
    assert_eq!(rig.r.open_request_count(), 0);
}

#[test]
fn unknown_actor_is_aborted_at_once_and_oversize_becomes_500() {
    let mut rig = Rig::connected();
    rig.tunnel(1, 0, get("nobody", "/"));
    let out = rig.tunnel_frames();
    assert!(matches!(&out[..], [m] if m.message_kind == ToServerTunnelMessageKind::ResponseAbort));

    let actor = rig.start_actor("A", vec![]);
    let now = rig.t();
    rig.r.actor_started(now, &actor, Ok(())).unwrap();
    rig.tunnel(2, 0, get("A", "/big"));
    rig.events();
    let big = Bytes::from(vec![b'x'; 20 * 1024 * 1024 + 1]);
    let now = rig.t();
    rig.r
        .respond(now, key(2), HttpResponse::new(200).body(big))
        .unwrap();
    let out = rig.tunnel_frames();
    let ToServerTunnelMessageKind::ResponseStart(start) = &out[0].message_kind else {
        panic!()
    };
    assert_eq!(start.status, 500);
}

#[test]
fn websocket_echo_close_and_actor_stop() {
    let mut rig = Rig::connected();
    let actor = rig.start_actor("A", vec![]);
    let now = rig.t();
    rig.r.actor_started(now, &actor, Ok(())).unwrap();
    rig.tunnel(3, 0, ws_open("A"));
    assert!(matches!(&rig.events()[..], [Event::WebSocketOpen(o)] if o.key == key(3)));
    let now = rig.t();
    rig.r.websocket_accept(now, key(3), false).unwrap();
    rig.tunnel(3, 1, ws_msg("hi"));
    let events = rig.events();
    assert!(
        matches!(
            &events[..],
            [Event::WebSocketMessage {
                index: 1,
                binary: false,
                ..
            }]
        ),
        "{events:?}"
    );
    let now = rig.t();
    rig.r
        .websocket_send(now, key(3), Bytes::from_static(b"hi"), false)
        .unwrap();
    let out = rig.tunnel_frames();
    assert_eq!(
        out.iter()
            .map(|m| m.message_id.message_index)
            .collect::<Vec<_>>(),
        [0, 1]
    );

    // Stopping the actor closes its plain sockets towards the gateway.
    rig.feed(ToClient::Commands(vec![CommandWrapper {
        checkpoint: ActorCheckpoint {
            actor_id: "A".into(),
            generation: 0,
            index: 1,
        },
        inner: Command::StopActor,
    }]));
    rig.events();
    let now = rig.t();
    rig.r.actor_stopped(now, &actor).unwrap();
    let events = rig.events();
    assert!(
        matches!(
            &events[..],
            [Event::WebSocketClosed {
                code: Some(1000),
                ..
            }]
        ),
        "{events:?}"
    );
    let out = rig.tunnel_frames();
    assert!(
        matches!(&out[..], [m] if matches!(&m.message_kind, ToServerTunnelMessageKind::WebSocketClose(c) if c.code == Some(1000)))
    );
    assert_eq!(rig.r.actor_count(), 0);
}

#[test]
fn hibernated_socket_is_restored_and_replays_deduplicated() {
    let mut rig = Rig::connected();
    let hib = HibernatingRequest {
        gateway_id: GatewayId([9, 9, 9, 9]),
        request_id: RequestId([0, 0, 0, 7]),
    };
    let actor = rig.start_actor("A", vec![hib]);
    // The gateway replays 4 and 5 although the user persisted up to 4.
    rig.tunnel(7, 4, ws_msg("old"));
    rig.tunnel(7, 5, ws_msg("new"));
    let now = rig.t();
    let report = rig
        .r
        .restore_websockets(
            now,
            &actor,
            vec![runner_core::HibernatedSocket {
                key: key(7),
                last_received_index: 4,
                next_sent_index: 3,
                path: "/hws".into(),
                headers: BareMap::new(),
            }],
        )
        .unwrap();
    assert_eq!(report.restored, [key(7)]);
    let out = rig.tunnel_frames();
    assert!(matches!(&out[..], [m] if m.message_id.message_index == 3
        && m.message_kind == ToServerTunnelMessageKind::WebSocketMessageAck(ToServerWebSocketMessageAck { index: 4 })));
    let now = rig.t();
    rig.r.actor_started(now, &actor, Ok(())).unwrap();
    let events = rig.events();
    assert!(
        matches!(&events[..], [Event::WebSocketMessage { index: 5, data, .. }] if &data[..] == b"new"),
        "{events:?}"
    );
}
