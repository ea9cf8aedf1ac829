//! An axum app as an actor: every actor generation gets its own `Router`,
//! which reaches the actor (KV, sleep) through axum state or a request
//! extension. A notes service: `POST /notes` (JSON) adds a note to the
//! actor's KV, `GET /notes?limit=N` lists them, `GET /notes/{id}` reads
//! one, `POST /sleep` puts the actor to sleep (the next request wakes it;
//! the notes are still there).
//!
//! Needs the driver's `tower` feature (`runner-async-std = { features =
//! ["tower"] }`) and axum (no default features needed: a `Router` is only
//! a tower `Service`). axum runs on async-std as it is: a `Router` is
//! only a tower `Service`, polled like any future, with no tokio inside.
//! Run (`RIVET_*` variables override the defaults):
//!
//! ```text
//! cargo run -p runner-async-std --example axum_app
//! ```

use axum::extract::{Json, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use runner_async_std::{ActorContext, KvList, ServiceHandler};
use serde::{Deserialize, Serialize};

/// The actor's HTTP: built once per generation, for that generation.
fn notes_app(actor: &ActorContext) -> Router {
    Router::new()
        .route("/notes", get(list_notes).post(add_note))
        .route("/notes/{id}", get(read_note))
        .route("/sleep", post(sleep))
        .with_state(actor.clone()) // dropped when the generation stops
}

#[derive(Deserialize, Serialize)]
struct Note {
    id: u32,
    text: String,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default = "ten")]
    limit: u64,
}

fn ten() -> u64 {
    10
}

/// `POST /notes` `{"id": 1, "text": "…"}`: the JSON extractor, KV through
/// axum state.
async fn add_note(
    State(actor): State<ActorContext>,
    Json(note): Json<Note>,
) -> Result<(StatusCode, Json<Note>), AppError> {
    if note.text.is_empty() {
        return Err(AppError::EmptyNote);
    }
    actor
        .kv_put([(key(note.id), note.text.clone())])
        .await
        .map_err(|_| AppError::Storage)?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// `GET /notes?limit=N`: the query extractor.
async fn list_notes(
    State(actor): State<ActorContext>,
    Query(paging): Query<Paging>,
) -> Result<Json<Vec<Note>>, AppError> {
    let list = KvList::prefix("note/").limit(paging.limit);
    let stored = actor.kv_list(list).await.map_err(|_| AppError::Storage)?;
    let notes = stored.into_iter().filter_map(|(k, v)| {
        let id = std::str::from_utf8(&k)
            .ok()?
            .strip_prefix("note/")?
            .parse()
            .ok()?;
        let text = String::from_utf8_lossy(&v).into_owned();
        Some(Note { id, text })
    });
    Ok(Json(notes.collect()))
}

/// `GET /notes/{id}`: the path extractor; the actor from the request's
/// extensions, where the runner puts it for every request.
async fn read_note(
    Extension(actor): Extension<ActorContext>,
    Path(id): Path<u32>,
) -> Result<String, AppError> {
    match actor.kv_get_one(key(id)).await {
        Ok(Some(text)) => Ok(String::from_utf8_lossy(&text).into_owned()),
        Ok(None) => Err(AppError::NotFound),
        Err(_) => Err(AppError::Storage),
    }
}

/// `POST /sleep`: the actor asks to sleep; the next request wakes it.
async fn sleep(State(actor): State<ActorContext>) -> Result<&'static str, AppError> {
    actor.sleep().await.map_err(|_| AppError::Storage)?;
    Ok("going to sleep")
}

/// Zero-padded, so that KV's byte order is the ids' order.
fn key(id: u32) -> String {
    format!("note/{id:010}")
}

/// The app's errors, as responses.
enum AppError {
    EmptyNote,
    NotFound,
    Storage,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::EmptyNote => (StatusCode::UNPROCESSABLE_ENTITY, "empty note").into_response(),
            AppError::NotFound => (StatusCode::NOT_FOUND, "no such note").into_response(),
            AppError::Storage => (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response(),
        }
    }
}

#[async_std::main]
async fn main() -> Result<(), runner_async_std::BuildError> {
    // Logs on stderr (stdout is the program's), filtered by RUST_LOG.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runner = runner_async_std::builder()
        .endpoint("http://127.0.0.1:6420")
        .token("dev")
        .runner_name("axum-app")
        .from_env() // RIVET_ENDPOINT, RIVET_TOKEN, RIVET_RUNNER_NAME, …
        .build(ServiceHandler::new(notes_app))?;
    runner.run().await; // until SIGINT/SIGTERM
    Ok(())
}

// The example ends above; its tests, on the test kit (no engine):
#[cfg(test)]
mod tests {
    use super::*;
    use runner_async_std::http;

    fn add(id: u32, text: &str) -> http::Request<String> {
        http::Request::post("/notes")
            .header("content-type", "application/json")
            .body(format!(r#"{{"id":{id},"text":"{text}"}}"#))
            .unwrap()
    }

    fn get(path: &str) -> http::Request<&'static str> {
        http::Request::get(path).body("").unwrap()
    }

    #[async_std::test]
    async fn notes_are_added_listed_and_read() {
        let kit = runner_async_std::testing::start(ServiceHandler::new(notes_app)).await;
        let actor = kit.start_actor("notes").await.unwrap();
        for (id, text) in [(2, "two"), (1, "one"), (3, "three")] {
            assert_eq!(kit.request(&actor, add(id, text)).await.status(), 201);
        }
        let listed = kit.request(&actor, get("/notes?limit=2")).await;
        assert_eq!(
            listed.body(),
            r#"[{"id":1,"text":"one"},{"id":2,"text":"two"}]"#
        );
        assert_eq!(kit.request(&actor, get("/notes/3")).await.body(), "three");
        assert_eq!(kit.request(&actor, get("/notes/4")).await.status(), 404);
        assert_eq!(kit.request(&actor, get("/notes/x")).await.status(), 400);
        assert_eq!(kit.request(&actor, add(5, "")).await.status(), 422);
    }

    #[async_std::test]
    async fn notes_survive_sleep() {
        let kit = runner_async_std::testing::start(ServiceHandler::new(notes_app)).await;
        let actor = kit.start_actor("notes").await.unwrap();
        kit.request(&actor, add(1, "kept")).await;
        let slept = kit.request(&actor, http::Request::post("/sleep").body("").unwrap());
        assert_eq!(slept.await.body(), "going to sleep");
        // The next request wakes the actor: a new generation, a new router.
        assert_eq!(kit.request(&actor, get("/notes/1")).await.body(), "kept");
        assert_eq!(kit.generation(&actor), Some(1));
    }
}
