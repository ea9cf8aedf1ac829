//! The KV routes: `/kv/<key>` (PUT, GET, DELETE), `/kv` (list), `/kv-range`
//! and `/kv-drop`. Keys and values are UTF-8 text.
//!
//! The keys live under the prefix `kv/` in the actor's KV, apart from the
//! `/hws` socket records, so a listing shows only what the routes stored.
//! `/kv-drop` drops every key of the actor, socket records included (a
//! hibernated `/hws` socket of that actor is then closed at the next wake).

use bytes::Bytes;
use http::{Method, StatusCode};
use runner_core::host::api::{ActorContext, Body, KvList, Request, Response};
use serde_json::Value;

use super::replies::{Failure, Reply, empty, json_response, percent_decode, query_param};

/// Where the routes' keys live in the actor's KV.
const PREFIX: &str = "kv/";
/// Largest value accepted (the engine's own limit is 128 KiB).
const MAX_VALUE: usize = 1 << 20;

/// Serves a KV route; `None` if the request is for none of them.
pub(super) async fn serve(actor: &ActorContext, request: Request) -> Option<Reply> {
    let path = request.uri().path().to_owned();
    // Queries are parsed before anything is awaited: a `&Request` cannot be
    // held across an await (its body is not `Sync`).
    let reply = match (request.method().clone(), path.as_str()) {
        (Method::GET, "/kv") => match list_query(&request) {
            Ok(query) => entries(actor, query).await,
            Err(failure) => Err(failure),
        },
        (Method::GET, "/kv-range") => match range_query(&request) {
            Ok(query) => entries(actor, query).await,
            Err(failure) => Err(failure),
        },
        (Method::POST, "/kv-drop") => drop_all(actor).await,
        (method, p) if p.starts_with("/kv/") => {
            let key = stored_key(&percent_decode(&p["/kv/".len()..], false))?;
            match method {
                Method::PUT => put(actor, key, request.into_body()).await,
                Method::GET => get(actor, key).await,
                Method::DELETE => delete(actor, key).await,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(reply)
}

/// The stored form of a route key; `None` for the empty key (`/kv/` is no key).
fn stored_key(key: &str) -> Option<Bytes> {
    (!key.is_empty()).then(|| format!("{PREFIX}{key}").into())
}

async fn put(actor: &ActorContext, key: Bytes, body: Body) -> Reply {
    let value = body.collect(MAX_VALUE).await?;
    actor.kv_put([(key, value)]).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn get(actor: &ActorContext, key: Bytes) -> Reply {
    match actor.kv_get_one(key).await? {
        Some(value) => Ok(Response::new(Body::from(value))),
        None => Ok(empty(StatusCode::NOT_FOUND)),
    }
}

async fn delete(actor: &ActorContext, key: Bytes) -> Reply {
    actor.kv_delete([key]).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `?prefix=P&reverse=true&limit=N`, every parameter optional.
fn list_query(request: &Request) -> Result<KvList, Failure> {
    let prefix = query_param(request, "prefix").unwrap_or_default();
    let mut query = KvList::prefix(format!("{PREFIX}{prefix}"));
    if is_true(query_param(request, "reverse")) {
        query = query.reverse();
    }
    if let Some(limit) = query_param(request, "limit") {
        let limit = limit
            .parse()
            .map_err(|_| Failure::bad_request(format!("limit={limit:?} is not a number")))?;
        query = query.limit(limit);
    }
    Ok(query)
}

/// `?start=A&end=B&exclusive=true`: `[A, B]`, or `[A, B)` when exclusive.
fn range_query(request: &Request) -> Result<KvList, Failure> {
    let bound = |name| {
        query_param(request, name)
            .ok_or_else(|| Failure::bad_request(format!("{name}=… is required")))
    };
    let (start, end) = (bound("start")?, bound("end")?);
    let mut query = KvList::range(format!("{PREFIX}{start}"), format!("{PREFIX}{end}"));
    if is_true(query_param(request, "exclusive")) {
        query = query.exclusive();
    }
    Ok(query)
}

async fn drop_all(actor: &ActorContext) -> Reply {
    actor.kv_drop().await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The listed pairs as a JSON array of `[key, value]`, route keys unprefixed.
async fn entries(actor: &ActorContext, query: KvList) -> Reply {
    let pairs = actor
        .kv_list(query)
        .await?
        .into_iter()
        .map(|(key, value)| {
            let key = key.strip_prefix(PREFIX.as_bytes()).unwrap_or(&key);
            Value::from(vec![utf8(key), utf8(&value)])
        })
        .collect();
    Ok(json_response(&Value::Array(pairs)))
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn is_true(value: Option<String>) -> bool {
    value.is_some_and(|v| v == "true" || v == "1")
}
