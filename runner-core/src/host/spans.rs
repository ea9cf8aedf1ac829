//! The `tracing` spans the host opens, with the fields people search by.
//!
//! * `runner` (info): `runner_name`, `runner_id` (recorded once the engine
//!   gives it) — around the event loop, so every span below is inside it;
//! * `actor` (info): `actor_id`, `generation`, `actor_name` — around the
//!   handler's start and stop callbacks;
//! * `request` (info): the actor's fields, `method`, `path` (without the
//!   query, which may carry secrets), `ray_id` (the gateway's
//!   `x-rivet-ray-id`), `status` (recorded when answered) — around the
//!   handler's `on_request` and its response body;
//! * `websocket` (info): the actor's fields, `path`, `restored`;
//! * `kv` (debug): `kind`, `keys`, `outcome` — around one KV call.
//!
//! User handler code runs inside these spans, so the user's own `tracing`
//! events carry their fields. With the level filtered out (the load tests
//! run at `warn`) a span is a no-op and none of its fields is computed.

use tracing::{Span, debug_span, field, info_span};

use crate::ActorRef;
use crate::protocol::{BareMap, KvRequestData};

/// Around the event loop.
pub(crate) fn runner(runner_name: &str) -> Span {
    info_span!("runner", runner_name, runner_id = field::Empty)
}

/// Around an actor's start or stop callback.
pub(crate) fn actor(actor: &ActorRef, name: &str) -> Span {
    info_span!(
        "actor",
        actor_id = &*actor.actor_id,
        generation = actor.generation,
        actor_name = name
    )
}

/// Around one HTTP request's handling.
pub(crate) fn request(
    (actor, name): (&ActorRef, &str),
    method: &str,
    path: &str,
    headers: &BareMap<String>,
) -> Span {
    info_span!(
        "request",
        actor_id = &*actor.actor_id,
        generation = actor.generation,
        actor_name = name,
        method,
        path = without_query(path),
        ray_id = headers.get("x-rivet-ray-id").map(String::as_str),
        status = field::Empty,
    )
}

/// Around one WebSocket handler.
pub(crate) fn websocket((actor, name): (&ActorRef, &str), path: &str, restored: bool) -> Span {
    info_span!(
        "websocket",
        actor_id = &*actor.actor_id,
        generation = actor.generation,
        actor_name = name,
        path = without_query(path),
        restored,
    )
}

/// Around one KV call; `outcome` is recorded when it ends.
pub(crate) fn kv(data: &KvRequestData) -> Span {
    debug_span!(
        "kv",
        kind = kv_kind(data),
        keys = kv_keys(data),
        outcome = field::Empty
    )
}

fn without_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(path, _)| path)
}

fn kv_kind(data: &KvRequestData) -> &'static str {
    match data {
        KvRequestData::Get(_) => "get",
        KvRequestData::List(_) => "list",
        KvRequestData::Put(_) => "put",
        KvRequestData::Delete(_) => "delete",
        KvRequestData::DeleteRange(_) => "delete_range",
        KvRequestData::Drop => "drop",
    }
}

/// Keys the call names (0 for ranges, lists and drops).
fn kv_keys(data: &KvRequestData) -> usize {
    match data {
        KvRequestData::Get(get) => get.keys.len(),
        KvRequestData::Put(put) => put.keys.len(),
        KvRequestData::Delete(delete) => delete.keys.len(),
        KvRequestData::List(_) | KvRequestData::DeleteRange(_) | KvRequestData::Drop => 0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_query_is_not_recorded() {
        assert_eq!(super::without_query("/a/b?token=secret"), "/a/b");
        assert_eq!(super::without_query("/a"), "/a");
    }
}
