//! The one handler wrapper of the host: [`Forward`] hands every hook to
//! the user's handler, telling an [`Observer`] what it needs to know on the
//! way (the serverless endpoint: the runner id once connected; the test
//! kit: when `on_actor_start` returned). Wrappers written hook by hook
//! dropped the hooks added after them; here a new `Handler` hook is
//! forwarded once, for every wrapper (and `handler.rs`'s tests fail until
//! it is).

use std::future::Future;
use std::sync::Arc;

use super::{ActorContext, ActorInfo, BoxError, Handler, Request, Response, WebSocketRequest};
use crate::StopReason;

/// What a [`Forward`] tells besides forwarding; every method defaults to
/// nothing.
pub(crate) trait Observer: Send + Sync + 'static {
    /// `on_actor_start` of generation `generation` of `actor_id` returned.
    fn start_returned(&self, actor_id: &str, generation: u32, outcome: Result<(), String>) {
        let _ = (actor_id, generation, outcome);
    }

    /// The runner connected (before the user's `on_connected` runs).
    fn connected(&self, runner_id: &str) {
        let _ = runner_id;
    }
}

/// The user's handler (shared: the serverless endpoint hands one to every
/// runner), every hook forwarded, `observer` told.
pub(crate) struct Forward<H, O> {
    pub(crate) inner: Arc<H>,
    pub(crate) observer: Arc<O>,
}

impl<H: Handler, O: Observer> Handler for Forward<H, O> {
    fn on_actor_start(
        &self,
        actor: ActorContext,
        info: ActorInfo,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let observer = self.observer.clone();
        let (id, generation) = (actor.actor_id().to_owned(), actor.generation());
        let start = self.inner.on_actor_start(actor, info);
        async move {
            let outcome = start.await;
            let told = outcome.as_ref().map(drop).map_err(|e| e.to_string());
            observer.start_returned(&id, generation, told);
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
        self.observer.connected(runner_id);
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
