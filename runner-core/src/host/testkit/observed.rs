//! The user's handler, watched: the kit learns when `on_actor_start` has
//! returned (the runner reports an actor running as soon as it is asked to
//! start it, so the engine's messages cannot say), and with what.

use std::future::Future;
use std::sync::{Arc, Mutex};

use super::engine::Engine;
use crate::StopReason;
use crate::host::context::ActorContext;
use crate::host::handler::{ActorInfo, Handler, Request, Response};
use crate::host::runtime::BoxError;
use crate::host::websocket::WebSocketRequest;

/// Delegates every call to the user's handler; reports start outcomes.
pub(super) struct Observed<H> {
    pub(super) inner: H,
    pub(super) engine: Arc<Mutex<Engine>>,
}

impl<H: Handler> Handler for Observed<H> {
    fn on_actor_start(
        &self,
        actor: ActorContext,
        info: ActorInfo,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let engine = self.engine.clone();
        let (id, generation) = (actor.actor_id().to_owned(), actor.generation());
        let start = self.inner.on_actor_start(actor, info);
        async move {
            let outcome = start.await;
            let reported = outcome.as_ref().map(drop).map_err(|e| e.to_string());
            engine
                .lock()
                .unwrap()
                .start_returned(&id, generation, reported);
            outcome
        }
    }

    fn on_actor_stop(
        &self,
        actor: ActorContext,
        reason: StopReason,
    ) -> impl Future<Output = ()> + Send {
        self.inner.on_actor_stop(actor, reason)
    }

    fn on_request(
        &self,
        actor: ActorContext,
        request: Request,
    ) -> impl Future<Output = Response> + Send {
        self.inner.on_request(actor, request)
    }

    fn on_websocket(
        &self,
        actor: ActorContext,
        socket: WebSocketRequest,
    ) -> impl Future<Output = ()> + Send {
        self.inner.on_websocket(actor, socket)
    }

    fn on_connected(&self, runner_id: &str) {
        self.inner.on_connected(runner_id);
    }

    fn on_disconnected(&self, code: Option<u16>, reason: &str) {
        self.inner.on_disconnected(code, reason);
    }

    fn on_connect_failed(&self, reason: &str) {
        self.inner.on_connect_failed(reason);
    }

    fn on_shutdown(&self) {
        self.inner.on_shutdown();
    }
}
