//! The actor's HTTP routes (the KV ones are in `kv_routes`, the answers'
//! shapes in `replies`).

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode, header};
use runner_core::host::api::{ActorContext, Body, Error, Request, Response};
use serde_json::{Map, Value};

use super::replies::{Failure, Reply, empty, json_response, query_param};
use super::{App, bodies, kv_routes};

/// Largest request body `/echo` accepts (the gateway's own limit is 20 MiB).
const MAX_ECHO_BODY: usize = 32 << 20;

/// Serves one request.
pub(super) async fn serve(app: &App, actor: ActorContext, request: Request) -> Response {
    route(app, actor, request)
        .await
        .unwrap_or_else(Failure::into_response)
}

async fn route(app: &App, actor: ActorContext, request: Request) -> Reply {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match (method, path.as_str()) {
        (Method::GET, "/ping") => Ok(ping(app, &actor)),
        (Method::POST, "/echo") => echo(request).await,
        (Method::GET, "/headers") => Ok(headers(&request)),
        (Method::GET, p) if p.starts_with("/status/") => status(&p["/status/".len()..]),
        (Method::GET, "/big") => big(&request),
        (Method::POST, "/sleep") => Ok(then(app, empty(StatusCode::OK), sleep(actor))),
        (Method::POST, "/stop") => Ok(then(app, empty(StatusCode::OK), stop(actor))),
        (Method::POST, "/alarm") => match alarm_ms(&request) {
            Ok(ms) => alarm(app, actor, ms).await,
            Err(failure) => Err(failure),
        },
        (Method::POST, "/crash") => Ok(then(app, empty(StatusCode::OK), crash(actor))),
        _ => match kv_routes::serve(&actor, request).await {
            Some(reply) => reply,
            None => Err(Failure(StatusCode::NOT_FOUND, format!("no route {path}"))),
        },
    }
}

/// `{"actorId":…,"generation":…,"starts":…,"status":"ok"}`, written straight
/// into the body (the hot route of the load benchmarks: no `Value` tree).
fn ping(app: &App, actor: &ActorContext) -> Response {
    use std::io::Write;
    let mut body = Vec::with_capacity(96);
    body.extend_from_slice(b"{\"actorId\":");
    let _ = serde_json::to_writer(&mut body, actor.actor_id());
    let _ = write!(
        body,
        ",\"generation\":{},\"starts\":{},\"status\":\"ok\"}}",
        actor.generation(),
        app.starts(actor.actor_id())
    );
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The body back, byte for byte, with the request's `content-type`.
async fn echo(request: Request) -> Reply {
    let (parts, body) = request.into_parts();
    let body = body.collect(MAX_ECHO_BODY).await?;
    let mut response = Response::new(Body::from(body));
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    Ok(response)
}

/// The request headers as a JSON object (repeated names joined by `, `).
fn headers(request: &Request) -> Response {
    let mut object = Map::new();
    for name in request.headers().keys() {
        let values: Vec<&str> = request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        object.insert(name.as_str().to_owned(), values.join(", ").into());
    }
    json_response(&Value::Object(object))
}

/// `/status/<code>`: a number from 200 to 599 is answered with that status
/// and no body; any other `<code>` is "anything else" in the contract: 404.
fn status(code: &str) -> Reply {
    Some(code)
        .filter(|code| !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (200..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .map(empty)
        .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no route /status/{code}")))
}

/// `bytes` digits; the driver turns a body past the tunnel limit into a 500.
fn big(request: &Request) -> Reply {
    let bytes =
        query_param(request, "bytes").ok_or_else(|| Failure::bad_request("bytes=N is required"))?;
    let n = bytes
        .parse()
        .map_err(|_| Failure::bad_request(format!("bytes={bytes:?} is not a number")))?;
    let mut response = Response::new(bodies::digits(n));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    Ok(response)
}

/// `/alarm`'s `ms` parameter.
fn alarm_ms(request: &Request) -> Result<i64, Failure> {
    let ms = query_param(request, "ms").ok_or_else(|| Failure::bad_request("ms=N is required"))?;
    ms.parse()
        .map_err(|_| Failure::bad_request(format!("ms={ms:?} is not a number")))
}

/// Sets the alarm to now + `ms`, answers, then asks to sleep.
async fn alarm(app: &App, actor: ActorContext, ms: i64) -> Reply {
    actor.set_alarm(unix_ms().saturating_add(ms)).await?;
    Ok(then(app, empty(StatusCode::OK), sleep(actor)))
}

async fn sleep(actor: ActorContext) -> Result<(), Error> {
    actor.sleep().await
}

async fn stop(actor: ActorContext) -> Result<(), Error> {
    actor.stop().await
}

async fn crash(actor: ActorContext) -> Result<(), Error> {
    actor.crash("crashed on request (POST /crash)").await
}

/// Sends `response`, and runs `action` once the runner has taken the
/// response: the client gets its answer before the actor stops.
fn then<F>(app: &App, response: Response, action: F) -> Response
where
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    let (parts, body) = response.into_parts();
    let (body, taken) = bodies::notify_when_taken(body);
    app.spawn(async move {
        let _ = taken.await;
        if let Err(err) = action.await {
            tracing::warn!(%err, "actor call after the response failed");
        }
    });
    Response::from_parts(parts, body)
}

/// Milliseconds since the Unix epoch.
fn unix_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod unit {
    use super::*;

    fn status_of(code: &str) -> StatusCode {
        status(code).unwrap_or_else(Failure::into_response).status()
    }

    #[test]
    fn status_answers_200_to_599_and_anything_else_is_404() {
        for code in [200, 201, 204, 301, 400, 404, 418, 500, 503, 599] {
            assert_eq!(status_of(&code.to_string()).as_u16(), code);
        }
        for other in [
            "abc", "", "100", "199", "600", "999", "+200", "2 00", "70000",
        ] {
            assert_eq!(status_of(other), StatusCode::NOT_FOUND, "{other:?}");
        }
    }
}
