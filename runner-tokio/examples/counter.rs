use runner_tokio::{
    ActorContext, ActorInfo, BoxError, Handler, Message, Request, Response, WebSocketRequest, http,
};
use tokio::sync::Mutex;

/// Counts each actor's hits. Requests to one actor run concurrently and KV
/// has no compare-and-swap, so the count lives in the actor's state, read
/// once at start, behind a lock held across the write: no update is lost.
struct Counter;

impl Handler for Counter {
    async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        let hits: u64 = match actor.kv_get_one("hits").await? {
            Some(stored) => String::from_utf8_lossy(&stored).parse()?,
            None => 0,
        };
        let _ = actor.set_state(Mutex::new(hits)); // every later call of this actor sees it
        Ok(())
    }

    async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
        let Some(hits) = actor.state::<Mutex<u64>>() else {
            return status(500, "no state");
        };
        let mut hits = hits.lock().await; // one read-modify-write at a time
        let next = *hits + 1;
        if actor.kv_put([("hits", next.to_string())]).await.is_err() {
            return status(503, "storage unavailable, try again");
        }
        *hits = next;
        Response::new(format!("{} {} -> hit {}\n", request.method(), request.uri(), *hits).into())
    }

    async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
        let Ok(mut ws) = socket.accept(false).await else {
            return;
        };
        while let Some(Message::Text(text)) = ws.recv().await {
            if ws.send(text).await.is_err() {
                break;
            }
        }
    }
}

fn status(code: u16, text: &'static str) -> Response {
    http::Response::builder()
        .status(code)
        .body(text.into())
        .unwrap()
}

#[tokio::main]
async fn main() -> Result<(), runner_tokio::BuildError> {
    let runner = runner_tokio::builder()
        .endpoint("http://127.0.0.1:6420")
        .token("dev")
        .runner_name("counter")
        .build(Counter)?;
    runner.run().await; // until SIGINT/SIGTERM: graceful, a second one: immediate
    Ok(())
}

// The README's example ends above; its tests, on the test kit:
#[cfg(test)]
mod tests {
    use super::*;
    use runner_tokio::testing::LifecycleEvent;

    fn post() -> http::Request<&'static str> {
        http::Request::post("/hit").body("").unwrap()
    }

    /// Three POSTs at once each count once (the example used to answer
    /// "hit 1" three times: each read the count before any wrote it).
    #[tokio::test]
    async fn concurrent_posts_each_count_once() {
        let kit = runner_tokio::testing::start(Counter).await;
        let actor = kit.start_actor("counter").await.unwrap();
        let (a, b, c) = tokio::join!(
            kit.request(&actor, post()),
            kit.request(&actor, post()),
            kit.request(&actor, post())
        );
        let mut answers = [a, b, c].map(|r| String::from_utf8_lossy(r.body()).into_owned());
        answers.sort();
        assert_eq!(
            answers,
            [
                "POST /hit -> hit 1\n",
                "POST /hit -> hit 2\n",
                "POST /hit -> hit 3\n"
            ]
        );
        assert_eq!(kit.kv(&actor)[&b"hits"[..]], "3");
    }

    /// The count survives a restart: the next generation reads it back.
    #[tokio::test]
    async fn the_count_survives_a_restart() {
        let kit = runner_tokio::testing::start(Counter).await;
        let actor = kit.start_actor("counter").await.unwrap();
        kit.request(&actor, post()).await;
        kit.restart_actor(&actor).await.unwrap();
        assert_eq!(
            kit.request(&actor, post()).await.body(),
            "POST /hit -> hit 2\n"
        );
        let stopped = LifecycleEvent::Stopped {
            actor_id: actor.clone(),
            generation: 0,
            error: None,
        };
        let restarted = LifecycleEvent::Started {
            actor_id: actor,
            generation: 1,
        };
        assert!(kit.events().ends_with(&[stopped, restarted]));
    }

    #[tokio::test]
    async fn websocket_echoes_text() {
        let kit = runner_tokio::testing::start(Counter).await;
        let actor = kit.start_actor("counter").await.unwrap();
        let mut ws = kit.websocket(&actor, "/ws").await.unwrap();
        ws.send(Message::Text("hello".into()));
        assert_eq!(ws.recv().await, Message::Text("hello".into()));
    }
}
