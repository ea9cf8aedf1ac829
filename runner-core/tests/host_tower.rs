//! An actor's HTTP served by a tower `Service` (feature `tower`): an axum
//! router with extractors, KV through the context (as axum state and as a
//! request extension), handler and service errors, panics, streaming bodies
//! both ways, and the request timeout and payload limit applied as for any
//! `on_request`. On the tokio test kit, and on the in-memory runtime with
//! the test playing the engine where the kit cannot say it (streamed
//! request bodies, a short timeout, a small limit).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::extract::{Json, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use futures::executor::block_on;
use futures::future::{Either, select};
use runner_core::host::testing::{EngineSocket, MemoryRuntime};
use runner_core::host::{ActorContext, Builder, RunnerHandle, Runtime, ServiceHandler};
use runner_core::protocol::{
    ToClientRequestChunk, ToClientRequestStart, ToClientTunnelMessageKind, ToServer,
    ToServerResponseStart, ToServerTunnelMessageKind,
};
use runner_core::{Limits, RequestKey, ShutdownMode, testing};
use serde::{Deserialize, Serialize};

/// How long a test waits for something that should happen at once.
const BOUND: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct Paging {
    limit: usize,
}

#[derive(Deserialize, Serialize)]
struct Note {
    text: String,
}

/// `GET /users/{id}/notes?limit=N`: path and query extractors, KV read
/// through axum state.
async fn list_notes(
    State(actor): State<ActorContext>,
    Path(user): Path<String>,
    Query(paging): Query<Paging>,
) -> Result<Json<Vec<String>>, AppError> {
    let list = runner_core::host::KvList::prefix(format!("{user}/"));
    let notes = actor.kv_list(list).await.map_err(|_| AppError::Storage)?;
    let texts = notes
        .into_iter()
        .take(paging.limit)
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned());
    Ok(Json(texts.collect()))
}

/// `POST /users/{id}/notes/{n}` with a JSON body: KV written through the
/// request extension.
async fn add_note(
    Extension(actor): Extension<ActorContext>,
    Path((user, n)): Path<(String, u32)>,
    Json(note): Json<Note>,
) -> Result<(StatusCode, Json<Note>), AppError> {
    if note.text.is_empty() {
        return Err(AppError::Empty);
    }
    let key = format!("{user}/{n:04}");
    actor
        .kv_put([(key, note.text.clone())])
        .await
        .map_err(|_| AppError::Storage)?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// A handler error of the app's own, rendered by axum.
enum AppError {
    Empty,
    Storage,
}

impl IntoResponse for AppError {
    fn into_response(self) -> AxumResponse {
        match self {
            AppError::Empty => (StatusCode::UNPROCESSABLE_ENTITY, "empty note").into_response(),
            AppError::Storage => (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response(),
        }
    }
}

/// A response body in three chunks, produced one at a time.
async fn chunked() -> axum::body::Body {
    let chunks = ["one ", "two ", "three"].map(|c| Ok::<_, Infallible>(Bytes::from(c)));
    axum::body::Body::from_stream(futures::stream::iter(chunks))
}

/// Reads the request body frame by frame (it may arrive in chunks).
async fn count_bytes(body: axum::body::Body) -> String {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let (mut frames, mut bytes) = (0, 0);
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return "body failed".into();
        };
        frames += 1;
        bytes += chunk.len();
    }
    format!("{bytes} bytes in {frames} frames")
}

async fn panics() -> &'static str {
    panic!("a bug in a route")
}

fn app(actor: &ActorContext) -> Router {
    Router::new()
        .route("/users/{id}/notes", get(list_notes))
        .route("/users/{id}/notes/{n}", post(add_note))
        .route("/chunked", get(chunked))
        .route("/count", post(count_bytes))
        .route("/panic", get(panics))
        .route("/forever", get(futures::future::pending::<()>))
        .with_state(actor.clone())
}

fn json_post(path: &str, body: &'static str) -> http::Request<&'static str> {
    http::Request::post(path)
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn extractors_and_kv_through_the_context() {
    let kit = runner_tokio::testing::start(ServiceHandler::new(app)).await;
    let actor = kit.start_actor("notes").await.unwrap();
    for (n, text) in [(1, "first"), (2, "second"), (3, "third")] {
        let body = match text {
            "first" => r#"{"text":"first"}"#,
            "second" => r#"{"text":"second"}"#,
            _ => r#"{"text":"third"}"#,
        };
        let added = kit
            .request(&actor, json_post(&format!("/users/ann/notes/{n}"), body))
            .await;
        assert_eq!(added.status(), 201, "{:?}", added.body());
        assert_eq!(added.body(), body); // the JSON echoed back
    }
    assert_eq!(kit.kv(&actor)[&b"ann/0002"[..]], "second");
    let get = http::Request::get("/users/ann/notes?limit=2")
        .body("")
        .unwrap();
    let listed = kit.request(&actor, get).await;
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.body(), r#"["first","second"]"#);
    // Extractor refusals are axum's own answers.
    let no_query = http::Request::get("/users/ann/notes").body("").unwrap();
    assert_eq!(kit.request(&actor, no_query).await.status(), 400);
    let bad_n = json_post("/users/ann/notes/x", r#"{"text":"x"}"#);
    assert_eq!(kit.request(&actor, bad_n).await.status(), 400);
    let unknown = http::Request::get("/nowhere").body("").unwrap();
    assert_eq!(kit.request(&actor, unknown).await.status(), 404);
}

#[tokio::test]
async fn handler_errors_and_panics_become_responses() {
    let kit = runner_tokio::testing::start(ServiceHandler::new(app)).await;
    let actor = kit.start_actor("notes").await.unwrap();
    let empty = kit
        .request(&actor, json_post("/users/ann/notes/1", r#"{"text":""}"#))
        .await;
    assert_eq!(
        (empty.status().as_u16(), &empty.body()[..]),
        (422, &b"empty note"[..])
    );
    let panicked = http::Request::get("/panic").body("").unwrap();
    assert_eq!(kit.request(&actor, panicked).await.status(), 500);
    // The actor goes on serving.
    let get = http::Request::get("/users/ann/notes?limit=9")
        .body("")
        .unwrap();
    assert_eq!(kit.request(&actor, get).await.body(), "[]");
}

#[tokio::test]
async fn a_streamed_response_body_arrives_whole() {
    let kit = runner_tokio::testing::start(ServiceHandler::new(app)).await;
    let actor = kit.start_actor("notes").await.unwrap();
    let get = http::Request::get("/chunked").body("").unwrap();
    assert_eq!(kit.request(&actor, get).await.body(), "one two three");
}

/// A service (not a router) that fails: a 500, its error not shown.
#[tokio::test]
async fn a_service_error_is_a_500() {
    #[derive(Clone)]
    struct Failing;
    impl runner_core::host::api::tower_service::Service<runner_core::host::Request> for Failing {
        type Response = http::Response<String>;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: runner_core::host::Request) -> Self::Future {
            std::future::ready(Err(std::io::Error::other("secret detail")))
        }
    }
    let kit = runner_tokio::testing::start(ServiceHandler::new(|_: &ActorContext| Failing)).await;
    let actor = kit.start_actor("failing").await.unwrap();
    let response = kit
        .request(&actor, http::Request::get("/").body("").unwrap())
        .await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.body(), "internal server error");
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A router holding its generation's context (axum's `State<ActorContext>`)
/// would keep that generation alive for ever if the service outlived the
/// stop: the context holds the service, the service the context.
#[tokio::test]
async fn a_stopped_generation_is_dropped_with_its_service() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let handler = ServiceHandler::new(move |actor: &ActorContext| {
        let held = Arc::new(DropFlag(flag.clone()));
        Router::new()
            .route("/", get(|| async { "up" }))
            .layer(Extension(held))
            .with_state(actor.clone())
    });
    let kit = runner_tokio::testing::start(handler).await;
    let actor = kit.start_actor("cycle").await.unwrap();
    let up = kit
        .request(&actor, http::Request::get("/").body("").unwrap())
        .await;
    assert_eq!(up.body(), "up");
    kit.stop_actor(&actor).await;
    let asked = Instant::now();
    while !dropped.load(Ordering::SeqCst) && asked.elapsed() < BOUND {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(dropped.load(Ordering::SeqCst), "the generation was kept");
}

/// A runner on the in-memory runtime serving [`app`], with actor "A"
/// started, the test playing the engine.
struct Rig {
    rt: MemoryRuntime,
    engine: EngineSocket,
    handle: RunnerHandle,
    running: JoinHandle<runner_core::ShutdownReason>,
}

fn rig(configure: impl FnOnce(Builder<MemoryRuntime>) -> Builder<MemoryRuntime>) -> Rig {
    let rt = MemoryRuntime::new();
    let builder = Builder::new(rt.clone())
        .endpoint("http://engine")
        .runner_name("r");
    let runner = configure(builder)
        .build(ServiceHandler::new(app))
        .expect("valid settings");
    let handle = runner.handle();
    let running = std::thread::spawn(move || block_on(runner.run()));
    let mut engine = within(&rt, rt.accept());
    within(&rt, engine.accept_init("runner-1")).expect("init sent");
    let start = testing::start_command("A", vec![]);
    within(&rt, engine.send_message(&start)).expect("start sent");
    Rig {
        rt,
        engine,
        handle,
        running,
    }
}

impl Rig {
    fn send(&mut self, key: RequestKey, index: u16, kind: ToClientTunnelMessageKind) {
        let message = testing::tunnel_message(key, index, kind);
        within(&self.rt, self.engine.send_message(&message)).expect("sent");
    }

    fn get(&mut self, id: u32, path: &str) -> RequestKey {
        let key = testing::key(id);
        let start = ToClientTunnelMessageKind::RequestStart(testing::get("A", path));
        self.send(key, 0, start);
        key
    }

    /// The response to `key` (other messages skipped).
    fn response(&mut self, key: RequestKey) -> ToServerResponseStart {
        loop {
            match within(&self.rt, self.engine.recv_message()) {
                Some(ToServer::TunnelMessage(t))
                    if RequestKey::new(t.message_id.gateway_id, t.message_id.request_id) == key =>
                {
                    if let ToServerTunnelMessageKind::ResponseStart(response) = t.message_kind {
                        return response;
                    }
                }
                Some(_) => {}
                None => panic!("the runner closed the connection"),
            }
        }
    }

    fn shut_down(self) {
        block_on(self.handle.shutdown(ShutdownMode::Immediate));
        self.running.join().unwrap();
    }
}

/// `future`'s output, or a panic once [`BOUND`] has passed.
fn within<T>(rt: &MemoryRuntime, future: impl std::future::Future<Output = T>) -> T {
    let timer = rt.sleep_until(Instant::now() + BOUND);
    match block_on(select(Box::pin(future), timer)) {
        Either::Left((output, _)) => output,
        Either::Right(_) => panic!("nothing within {BOUND:?}"),
    }
}

fn body(response: &ToServerResponseStart) -> String {
    String::from_utf8_lossy(response.body.as_deref().unwrap_or_default()).into_owned()
}

/// A body the gateway streams reaches the router chunk by chunk.
#[test]
fn a_streamed_request_body_reaches_the_router_in_chunks() {
    let mut rig = rig(|b| b);
    let key = testing::key(1);
    let start = ToClientRequestStart {
        actor_id: "A".into(),
        method: "POST".into(),
        path: "/count".into(),
        headers: Default::default(),
        body: None,
        stream: true,
    };
    rig.send(key, 0, ToClientTunnelMessageKind::RequestStart(start));
    for (index, (part, finish)) in [("abc", false), ("defg", false), ("hi", true)]
        .into_iter()
        .enumerate()
    {
        let chunk = ToClientRequestChunk {
            body: Bytes::from(part),
            finish,
        };
        rig.send(
            key,
            index as u16 + 1,
            ToClientTunnelMessageKind::RequestChunk(chunk),
        );
    }
    let response = rig.response(key);
    assert_eq!(response.status, 200);
    assert_eq!(body(&response), "9 bytes in 3 frames");
    rig.shut_down();
}

/// The runner's request timeout applies to a route that never answers.
#[test]
fn the_request_timeout_applies_to_a_route() {
    let mut rig = rig(|b| b.request_timeout(Duration::from_millis(200)));
    let key = rig.get(1, "/forever");
    assert_eq!(rig.response(key).status, 504);
    rig.shut_down();
}

/// The payload limit applies to a router's response body too.
#[test]
fn the_payload_limit_applies_to_a_streamed_response() {
    let mut limits = Limits::default();
    limits.max_tunnel_payload = 8; // "one two three" is 13 bytes
    let mut rig = rig(|b| b.limits(limits));
    let key = rig.get(1, "/chunked");
    let response = rig.response(key);
    assert_eq!(response.status, 500);
    assert_eq!(
        response.headers.get("x-rivet-error").map(String::as_str),
        Some("runner.response_too_large")
    );
    rig.shut_down();
}
