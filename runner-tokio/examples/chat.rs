//! A chat room with hibernatable WebSockets: each actor is a room. Clients
//! connect to `/ws` and send text; every message is stored in the room's KV
//! and sent to everyone in the room as `"<n>: <text>"`. The sockets are
//! hibernatable: when the room sleeps (`POST /sleep`, or the engine's idle
//! timeout) the gateway keeps its clients connected, and the next message
//! wakes the room, which restores the sockets from what it persisted and
//! carries on; a restored member hears the room's lines once its client
//! has spoken since the wake (until then the gateway may drop them). Next to the sockets, the room's HTTP is an axum `Router`
//! served with [`serve`]: `GET /messages` is the history, `POST /sleep`
//! puts the room to sleep. One actor, an axum app and the runner's
//! WebSocket API side by side (the engine's tunnel is not an HTTP upgrade,
//! so WebSockets do not go through axum).
//!
//! Needs the driver's `tower` feature. Run against a local engine
//! (`RIVET_*` variables override the defaults):
//!
//! ```text
//! cargo run -p runner-tokio --example chat
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use runner_tokio::{
    ActorContext, ActorInfo, BareMap, BoxError, Handler, HibernatedSocket, KvList, Message,
    MessageIndex, Request, RequestKey, Response, StopReason, WebSocket, WebSocketRequest,
    serde_json, serve,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

/// One room: what a generation keeps in memory (its state).
struct Room {
    http: Router,
    /// The sockets connected now, each fed the room's messages.
    members: Mutex<HashMap<RequestKey, mpsc::UnboundedSender<String>>>,
    /// Inboxes of the sockets being restored at the start, made before
    /// they are (their `on_websocket` runs at once, and messages may come
    /// before it joins), until their `on_websocket` takes them.
    restored: Mutex<HashMap<RequestKey, mpsc::UnboundedReceiver<String>>>,
    /// The last message number; held while a message is stored, so numbers
    /// are given in order and never twice.
    last: tokio::sync::Mutex<u64>,
    /// Held (shared) while a socket handles a message or sends one, and
    /// taken whole by the stop: a message is stored, sent and acknowledged
    /// before the room sleeps, or not at all (then the gateway sends it
    /// again after the wake) — never stored twice; and what a socket sent is
    /// persisted with its index.
    handling: RwLock<()>,
}

struct Chat;

impl Handler for Chat {
    async fn on_actor_start(&self, actor: ActorContext, info: ActorInfo) -> Result<(), BoxError> {
        let newest = actor
            .kv_list(KvList::prefix("msg/").reverse().limit(1))
            .await?;
        let last = match newest.first() {
            Some((key, _)) => std::str::from_utf8(&key[4..])?.parse()?,
            None => 0,
        };
        let room = Room {
            // No `with_state(actor)`: the room is in the actor's state, so
            // the router takes the actor from the request (`Extension`).
            http: Router::new()
                .route("/messages", get(history))
                .route("/sleep", post(sleep)),
            members: Mutex::default(),
            restored: Mutex::default(),
            last: tokio::sync::Mutex::new(last),
            handling: RwLock::new(()),
        };
        let _ = actor.set_state(room);
        if !info.hibernating.is_empty() {
            restore(&actor).await?;
        }
        Ok(())
    }

    async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
        let Some(room) = actor.state::<Room>() else {
            return Response::new("no room".into());
        };
        let http = room.http.clone();
        serve(&http, actor, request).await
    }

    async fn on_websocket(&self, actor: ActorContext, socket: WebSocketRequest) {
        if socket.path() != "/ws" {
            let _ = socket.reject(1008, "connect to /ws").await;
            return;
        }
        let Some(room) = actor.state::<Room>() else {
            return;
        };
        let mut record = Record::new(&socket);
        let restored = socket.is_restored();
        if restored {
            record.heard = heard_before(&actor, &record).await;
        }
        let Ok(ws) = socket.accept(true).await else {
            return;
        };
        let mut member = Member {
            actor: &actor,
            room,
            ws,
            record,
        };
        // In the room from the accept on: a line stored once this socket
        // is open reaches it (lines are stored under `last`), and a new
        // member hears from the next line on.
        let inbox = {
            let last = room.last.lock().await;
            if !restored {
                member.record.heard = *last;
            }
            member.join()
        };
        if restored || member.save().await.is_ok() {
            member.talk(inbox, restored).await;
        }
        member.leave();
    }

    async fn on_actor_stop(&self, actor: ActorContext, _reason: StopReason) {
        if let Some(room) = actor.state::<Room>() {
            let _quiet = room.handling.write().await; // messages in hand are finished
        }
    }
}

/// `GET /messages`: the room's history, oldest first.
async fn history(Extension(actor): Extension<ActorContext>) -> Json<Vec<String>> {
    let stored = actor
        .kv_list(KvList::prefix("msg/"))
        .await
        .unwrap_or_default();
    let lines = stored
        .into_iter()
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned());
    Json(lines.collect())
}

/// `POST /sleep`: the room sleeps; its sockets stay connected.
async fn sleep(Extension(actor): Extension<ActorContext>) -> &'static str {
    let _ = actor.sleep().await;
    "sleeping"
}

/// One connected socket of the room.
struct Member<'a> {
    actor: &'a ActorContext,
    room: &'a Room,
    ws: WebSocket,
    record: Record,
}

impl Member<'_> {
    /// Joins the room: its messages come into the returned inbox (made at
    /// the start for a restored socket).
    fn join(&self) -> mpsc::UnboundedReceiver<String> {
        if let Some(inbox) = self.room.restored.lock().unwrap().remove(&self.ws.key()) {
            return inbox;
        }
        let (tx, inbox) = mpsc::unbounded();
        self.room.members.lock().unwrap().insert(self.ws.key(), tx);
        inbox
    }

    fn leave(&self) {
        self.room.members.lock().unwrap().remove(&self.ws.key());
    }

    /// Relays the client's messages to the room and the room's to the
    /// client, until the socket closes or hibernates.
    ///
    /// A restored socket's lines wait in its inbox until its client has
    /// spoken since the wake. The engine's gateway resumes each hibernated
    /// connection on its own, some time after the room reports running,
    /// and drops what the room sends on it before then (engine 2.3.19:
    /// "message handler channel closed"); a message from the client comes
    /// through a resumed connection, so from then on lines arrive.
    async fn talk(&mut self, mut inbox: mpsc::UnboundedReceiver<String>, restored: bool) {
        let mut resumed = !restored;
        loop {
            let next_line = match resumed {
                true => inbox.next().left_future(),
                false => futures::future::pending().right_future(),
            };
            futures::select! {
                incoming = self.ws.recv_indexed().fuse() => {
                    if !resumed && self.catch_up().await.is_err() {
                        break; // the room is stopping
                    }
                    resumed = true;
                    match incoming {
                        Some((Message::Close(_), _)) => {
                            let _ = self.actor.kv_delete([self.record.kv_key()]).await;
                            break;
                        }
                        Some((message, index)) => {
                            let _handling = self.room.handling.read().await;
                            if self.said(message, index).await.is_err() {
                                break; // the room is stopping: the gateway sends it again
                            }
                        }
                        None => break, // hibernated (the record stays) or gone
                    }
                },
                outgoing = next_line.fuse() => {
                    let Some(line) = outgoing else { break };
                    // Sent and its index persisted before the room sleeps:
                    // a stale index would make the gateway drop the next
                    // message after the wake as one it has seen.
                    let _handling = self.room.handling.read().await;
                    if self.hear_up_to(line_number(&line)).await.is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// The client said `message`: store it, send it to its speaker (before
    /// the acknowledgement: a room stopping right after still answers) and
    /// to the others' inboxes, then acknowledge it (it is not sent again
    /// after a wake). A line still in an inbox when the room stops is in
    /// the history: [`catch_up`](Self::catch_up) sends it after the wake.
    async fn said(&mut self, message: Message, index: MessageIndex) -> Result<(), BoxError> {
        if let Message::Text(text) = message {
            let mut last = self.room.last.lock().await;
            let line = format!("{}: {text}", *last + 1);
            self.actor
                .kv_put([(format!("msg/{:010}", *last + 1), line.clone())])
                .await?;
            *last += 1;
            for (key, member) in self.room.members.lock().unwrap().iter() {
                if *key != self.ws.key() {
                    let _ = member.unbounded_send(line.clone());
                }
            }
            let number = *last;
            drop(last);
            self.hear_up_to(number).await?;
        }
        self.record.last_received = index;
        self.save().await?;
        self.ws.ack(index).await?;
        Ok(())
    }

    /// Sends the client the lines of the history it has not heard, up to
    /// line `number`, in order, and persists that it has. Lines come from
    /// the history rather than the inbox (which only says there is one):
    /// a line is never sent twice, skipped or out of order, whichever way
    /// it reached this member.
    async fn hear_up_to(&mut self, number: u64) -> Result<(), BoxError> {
        if number <= self.record.heard {
            return Ok(());
        }
        let from = format!("msg/{:010}", self.record.heard + 1);
        let lines = self
            .actor
            .kv_list(KvList::range(from, format!("msg/{number:010}")))
            .await?;
        for (_, line) in lines {
            let line = String::from_utf8_lossy(&line).into_owned();
            let heard = line_number(&line);
            self.ws.send(line).await?;
            self.record.heard = heard;
        }
        self.save().await
    }

    /// A restored member's client has spoken since the wake, so its
    /// connection is resumed: it is sent the lines it has not heard
    /// (dropped by the gateway before it resumed, or still in its inbox
    /// when the room last stopped).
    async fn catch_up(&mut self) -> Result<(), BoxError> {
        let room = self.room;
        let _handling = room.handling.read().await;
        let last = *room.last.lock().await;
        self.hear_up_to(last).await
    }

    /// Persists what restoring the socket needs (its indices change with
    /// every message either way).
    async fn save(&self) -> Result<(), BoxError> {
        let mut record = self.record.clone();
        record.next_sent = self.ws.indices().await.map_or(0, |i| i.next_sent_index);
        let value = serde_json::to_vec(&record)?;
        self.actor.kv_put([(self.record.kv_key(), value)]).await?;
        Ok(())
    }
}

/// What is persisted about a socket, under `sock/<key>`.
#[derive(Clone, Serialize, Deserialize)]
struct Record {
    key: String,
    last_received: MessageIndex,
    next_sent: MessageIndex,
    /// The number of the last line the client was sent.
    #[serde(default)]
    heard: u64,
    path: String,
    headers: BareMap<String>,
}

impl Record {
    fn new(socket: &WebSocketRequest) -> Self {
        let headers = socket.headers().iter();
        Record {
            key: socket.key().to_string(),
            last_received: 0,
            next_sent: 0,
            heard: 0,
            path: socket.path().to_owned(),
            headers: headers
                .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?.to_owned())))
                .collect(),
        }
    }

    fn kv_key(&self) -> String {
        format!("sock/{}", self.key)
    }

    fn into_socket(self) -> Option<HibernatedSocket> {
        Some(HibernatedSocket {
            key: self.key.parse().ok()?,
            last_received_index: self.last_received,
            next_sent_index: self.next_sent,
            path: self.path,
            headers: self.headers,
        })
    }
}

/// The number of a line `"<n>: <text>"` (0 if it has none).
fn line_number(line: &str) -> u64 {
    line.split_once(':')
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0)
}

/// The last line number a restored socket's client was sent, as persisted.
async fn heard_before(actor: &ActorContext, record: &Record) -> u64 {
    let saved = actor.kv_get_one(record.kv_key()).await.ok().flatten();
    saved
        .and_then(|v| serde_json::from_slice::<Record>(&v).ok())
        .map_or(0, |r| r.heard)
}

/// Restores the room's sockets the gateway kept, each in the room before
/// it is open, and forgets the others.
async fn restore(actor: &ActorContext) -> Result<(), BoxError> {
    let room = actor.state::<Room>().ok_or("no room")?;
    let records = actor.kv_list(KvList::prefix("sock/")).await?;
    let sockets: Vec<HibernatedSocket> = records
        .iter()
        .filter_map(|(_, v)| serde_json::from_slice::<Record>(v).ok()?.into_socket())
        .collect();
    for socket in &sockets {
        let (tx, inbox) = mpsc::unbounded();
        room.members.lock().unwrap().insert(socket.key, tx);
        room.restored.lock().unwrap().insert(socket.key, inbox);
    }
    let report = actor.restore_websockets(sockets).await?;
    for key in report.stale.iter().chain(&report.closed) {
        room.members.lock().unwrap().remove(key);
        room.restored.lock().unwrap().remove(key);
    }
    let stale: Vec<String> = report.stale.iter().map(|k| format!("sock/{k}")).collect();
    if !stale.is_empty() {
        actor.kv_delete(stale).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), runner_tokio::BuildError> {
    // Logs on stderr (stdout is the program's), filtered by RUST_LOG.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runner = runner_tokio::builder()
        .endpoint("http://127.0.0.1:6420")
        .token("dev")
        .runner_name("chat")
        .from_env()
        .build(Chat)?;
    runner.run().await;
    Ok(())
}

// The example ends above; its tests, on the test kit (sleep and
// hibernation included; `tests/tests/e2e_gallery.rs` runs this example
// against the real engine too).
#[cfg(test)]
mod tests {
    use super::*;
    use runner_tokio::http;
    use runner_tokio::testing::LifecycleEvent;

    #[tokio::test]
    async fn messages_go_to_everyone_and_into_the_history() {
        let kit = runner_tokio::testing::start(Chat).await;
        let room = kit.start_actor("room").await.unwrap();
        // Each member hears its own message first: then it is surely in
        // the room (joining follows the accept the kit waits for).
        let mut ann = kit.websocket(&room, "/ws").await.unwrap();
        ann.send(Message::Text("hi".into()));
        assert_eq!(ann.recv().await, Message::Text("1: hi".into()));
        let mut bob = kit.websocket(&room, "/ws").await.unwrap();
        bob.send(Message::Text("hi ann".into()));
        assert_eq!(bob.recv().await, Message::Text("2: hi ann".into()));
        assert_eq!(ann.recv().await, Message::Text("2: hi ann".into()));
        ann.send(Message::Text("hi bob".into()));
        assert_eq!(bob.recv().await, Message::Text("3: hi bob".into()));
        let get = http::Request::get("/messages").body("").unwrap();
        let history = kit.request(&room, get).await;
        assert_eq!(history.body(), r#"["1: hi","2: hi ann","3: hi bob"]"#);
    }

    #[tokio::test]
    async fn the_history_and_numbering_survive_a_restart() {
        let kit = runner_tokio::testing::start(Chat).await;
        let room = kit.start_actor("room").await.unwrap();
        let mut ann = kit.websocket(&room, "/ws").await.unwrap();
        ann.send(Message::Text("first".into()));
        assert_eq!(ann.recv().await, Message::Text("1: first".into()));
        kit.restart_actor(&room).await.unwrap();
        let mut bob = kit.websocket(&room, "/ws").await.unwrap();
        bob.send(Message::Text("second".into()));
        assert_eq!(bob.recv().await, Message::Text("2: second".into()));
        assert_eq!(kit.kv(&room)[&b"msg/0000000001"[..]], "1: first");
    }

    #[tokio::test]
    async fn sockets_stay_in_the_room_across_a_sleep() {
        let kit = runner_tokio::testing::start(Chat).await;
        let room = kit.start_actor("room").await.unwrap();
        let mut ann = kit.websocket(&room, "/ws").await.unwrap();
        ann.send(Message::Text("before".into()));
        assert_eq!(ann.recv().await, Message::Text("1: before".into()));
        let sleep = http::Request::post("/sleep").body("").unwrap();
        assert_eq!(kit.request(&room, sleep).await.body(), "sleeping");
        kit.wait_for(|e| matches!(e, LifecycleEvent::Stopped { generation: 0, .. }))
            .await;
        // Ann's socket was kept by the gateway: her next message wakes the
        // room, which restores her socket and numbers on from its history.
        ann.send(Message::Text("after".into()));
        assert_eq!(ann.recv().await, Message::Text("2: after".into()));
        assert_eq!(kit.generation(&room), Some(1));
        let get = http::Request::get("/messages").body("").unwrap();
        let history = kit.request(&room, get).await;
        assert_eq!(history.body(), r#"["1: before","2: after"]"#);
    }

    #[tokio::test]
    async fn other_paths_are_refused() {
        let kit = runner_tokio::testing::start(Chat).await;
        let room = kit.start_actor("room").await.unwrap();
        let refused = kit.websocket(&room, "/other").await.unwrap_err();
        assert_eq!(refused.code, 1008);
    }
}
