//! The trait actor code implements.

use std::future::Future;

use bytes::Bytes;

use super::body::Body;
use super::context::ActorContext;
use super::runtime::BoxError;
use super::websocket::WebSocketRequest;
use crate::{RequestKey, StopReason};

/// An HTTP request for an actor, as `http` types.
pub type Request = http::Request<Body>;
/// An HTTP response.
pub type Response = http::Response<Body>;

/// What the engine said about an actor it starts.
#[derive(Debug, Clone)]
pub struct ActorInfo {
    /// Actor name.
    pub name: String,
    /// Actor key, if any.
    pub key: Option<String>,
    /// Creation time, Unix epoch milliseconds.
    pub create_ts: i64,
    /// Input given at creation.
    pub input: Option<Bytes>,
    /// Hibernated WebSockets the gateway kept for this actor: restore them
    /// with [`ActorContext::restore_websockets`].
    pub hibernating: Vec<RequestKey>,
}

/// Actor code. Every method has a default, so implement only what you need.
///
/// Methods run as separate tasks: many requests of one actor run
/// concurrently, and a panic in one becomes an error for that call only
/// (a 500, a closed socket, a failed start) — the runner carries on.
///
/// ```no_run
/// use runner_core::driver::{ActorContext, Handler, Request, Response};
///
/// struct Hello;
///
/// impl Handler for Hello {
///     async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
///         Response::new(format!("hello from {} at {}", actor.actor_id(), request.uri()).into())
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Starts an actor. An error (or a panic) stops it with code `ERROR`, so
    /// the engine applies its crash policy. Requests wait until this returns.
    fn on_actor_start(
        &self,
        actor: ActorContext,
        info: ActorInfo,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = (actor, info);
        async { Ok(()) }
    }

    /// Stops an actor. Requests still running for it are cancelled after this
    /// returns.
    fn on_actor_stop(
        &self,
        actor: ActorContext,
        reason: StopReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (actor, reason);
        async {}
    }

    /// Serves an HTTP request. The response body is read whole before it is
    /// sent (the gateway takes one response message).
    fn on_request(
        &self,
        actor: ActorContext,
        request: Request,
    ) -> impl Future<Output = Response> + Send {
        let _ = (actor, request);
        async {
            let mut response = Response::new(Body::from("not found"));
            *response.status_mut() = http::StatusCode::NOT_FOUND;
            response
        }
    }

    /// Handles a WebSocket: accept or reject the request, then talk.
    fn on_websocket(
        &self,
        actor: ActorContext,
        socket: WebSocketRequest,
    ) -> impl Future<Output = ()> + Send {
        let _ = actor;
        async move {
            let _ = socket.reject(1011, "websockets not supported").await;
        }
    }

    /// The engine accepted the runner.
    fn on_connected(&self, runner_id: &str) {
        let _ = runner_id;
    }

    /// The connection to the engine ended (the runner reconnects by itself).
    fn on_disconnected(&self, code: Option<u16>, reason: &str) {
        let _ = (code, reason);
    }

    /// The runner has shut down.
    fn on_shutdown(&self) {}
}
