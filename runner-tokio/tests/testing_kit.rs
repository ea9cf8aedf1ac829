//! `runner_tokio::testing`: the user's handler on tokio against the kit's
//! in-memory engine.

use std::time::Duration;

use runner_tokio::testing::{self, LifecycleEvent};
use runner_tokio::{
    ActorContext, ActorInfo, BareMap, BoxError, Handler, HibernatedSocket, KvList, Message,
    MessageIndex, Request, Response, WebSocketRequest, http,
};

struct Behaviours;

impl Handler for Behaviours {
    async fn on_actor_start(&self, actor: ActorContext, info: ActorInfo) -> Result<(), BoxError> {
        if info.name == "broken" {
            return Err("cannot start".into());
        }
        actor
            .kv_put([("log/1", "a"), ("log/2", "b"), ("other", "c")])
            .await?;
        Ok(())
    }

    async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
        match request.uri().path() {
            // Under `MemoryRuntime` this panicked: "no reactor running".
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Response::new("slept".into())
            }
            "/sleep" => {
                let _ = actor.sleep().await;
                Response::new("bye".into())
            }
            "/alarm" => {
                let _ = actor.set_alarm(42).await;
                let _ = actor.sleep().await;
                Response::new("later".into())
            }
            "/log" => {
                let listed = actor
                    .kv_list(KvList::prefix("log/").reverse())
                    .await
                    .unwrap();
                let keys: Vec<_> = listed
                    .iter()
                    .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                    .collect();
                Response::new(keys.join(",").into())
            }
            _ => http::Response::builder()
                .status(404)
                .body("".into())
                .unwrap(),
        }
    }

    async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
        let _ = socket.reject(1008, "no sockets here").await;
    }
}

fn get(path: &str) -> http::Request<&'static str> {
    http::Request::get(path).body("").unwrap()
}

#[tokio::test]
async fn a_handler_may_use_tokio_timers() {
    let kit = testing::start(Behaviours).await;
    let actor = kit.start_actor("a").await.unwrap();
    let response = kit.request(&actor, get("/slow")).await;
    assert_eq!(
        (response.status(), response.body().as_ref()),
        (http::StatusCode::OK, &b"slept"[..])
    );
}

#[tokio::test]
async fn kv_lists_and_statuses_come_back_as_the_engine_gives_them() {
    let kit = testing::start(Behaviours).await;
    let actor = kit.start_actor("a").await.unwrap();
    assert_eq!(kit.request(&actor, get("/log")).await.body(), "log/2,log/1");
    assert_eq!(kit.request(&actor, get("/nothing")).await.status(), 404);
    assert_eq!(kit.kv(&actor).len(), 3);
}

#[tokio::test]
async fn a_sleeping_actor_is_woken_by_the_next_request() {
    let kit = testing::start(Behaviours).await;
    let actor = kit.start_actor("a").await.unwrap();
    kit.request(&actor, get("/sleep")).await;
    kit.wait_for(|e| matches!(e, LifecycleEvent::Stopped { generation: 0, .. }))
        .await;
    assert_eq!(kit.request(&actor, get("/log")).await.body(), "log/2,log/1");
    assert_eq!(
        kit.events(),
        [
            LifecycleEvent::Started {
                actor_id: actor.clone(),
                generation: 0
            },
            LifecycleEvent::SleepRequested {
                actor_id: actor.clone(),
                generation: 0
            },
            LifecycleEvent::Stopped {
                actor_id: actor.clone(),
                generation: 0,
                error: None
            },
            LifecycleEvent::Started {
                actor_id: actor,
                generation: 1
            },
        ]
    );
}

#[tokio::test]
async fn an_alarm_is_seen_and_fired() {
    let kit = testing::start(Behaviours).await;
    let actor = kit.start_actor("a").await.unwrap();
    kit.request(&actor, get("/alarm")).await;
    assert_eq!(kit.alarm(&actor), Some(42));
    kit.fire_alarm(&actor).await.unwrap();
    assert_eq!(kit.generation(&actor), Some(1));
    let set = LifecycleEvent::AlarmSet {
        actor_id: actor.clone(),
        generation: 0,
        at_ms: Some(42),
    };
    assert!(kit.events().contains(&set));
}

#[tokio::test]
async fn a_failed_start_and_a_refused_socket_say_why() {
    let kit = testing::start(Behaviours).await;
    assert_eq!(kit.start_actor("broken").await.unwrap_err(), "cannot start");
    let actor = kit.start_actor("a").await.unwrap();
    let refused = kit.websocket(&actor, "/ws").await.unwrap_err();
    assert_eq!(
        (refused.code, refused.reason.as_str()),
        (1008, "no sockets here")
    );
    kit.shutdown().await;
}

/// Echoes text on hibernatable sockets as `"<generation>: <text>"`,
/// persisting what a restore needs (`ws/<key>` = `"<key> <last received>
/// <next sent>"`); `"sleep"` is acknowledged, then puts the actor to sleep.
struct Echo;

impl Handler for Echo {
    async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        let mut persisted = Vec::new();
        for (_, saved) in actor.kv_list(KvList::prefix("ws/")).await? {
            let saved = String::from_utf8(saved.to_vec())?;
            let mut fields = saved.split(' ');
            let mut next = || fields.next().ok_or("short record");
            persisted.push(HibernatedSocket {
                key: next()?.parse()?,
                last_received_index: next()?.parse()?,
                next_sent_index: next()?.parse()?,
                path: "/echo".into(),
                headers: BareMap::new(),
            });
        }
        actor.restore_websockets(persisted).await?;
        Ok(())
    }

    async fn on_websocket(&self, actor: ActorContext, socket: WebSocketRequest) {
        let Ok(mut ws) = socket.accept(true).await else {
            return;
        };
        let key = ws.key();
        let save = async |ws: &runner_tokio::WebSocket, received: MessageIndex| {
            let sent = ws.indices().await.map_or(0, |i| i.next_sent_index);
            let record = format!("{key} {received} {sent}");
            actor.kv_put([(format!("ws/{key}"), record)]).await.is_ok()
                && ws.ack(received).await.is_ok()
        };
        while let Some((Message::Text(text), index)) = ws.recv_indexed().await {
            if text == "sleep" {
                if save(&ws, index).await {
                    let _ = actor.sleep().await;
                }
                continue;
            }
            let answer = format!("{}: {text}", actor.generation());
            if ws.send(answer).await.is_err() || !save(&ws, index).await {
                return;
            }
        }
    }
}

#[tokio::test]
async fn a_hibernatable_socket_outlives_a_sleep_and_its_next_message_wakes_the_actor() {
    let kit = testing::start(Echo).await;
    let actor = kit.start_actor("echo").await.unwrap();
    let mut ws = kit.websocket(&actor, "/echo").await.unwrap();
    ws.send(Message::Text("hi".into()));
    assert_eq!(ws.recv().await, Message::Text("0: hi".into()));
    ws.send(Message::Text("sleep".into()));
    kit.wait_for(|e| matches!(e, LifecycleEvent::Stopped { generation: 0, .. }))
        .await;
    // Still open: the message wakes the actor, whose start restores the
    // socket, and then reaches it.
    ws.send(Message::Text("again".into()));
    assert_eq!(ws.recv().await, Message::Text("1: again".into()));
    assert_eq!(kit.generation(&actor), Some(1));
    ws.send(Message::Text("more".into()));
    assert_eq!(ws.recv().await, Message::Text("1: more".into()));
}
