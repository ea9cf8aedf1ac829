//! The user's handler, shared by every serverless runner, wrapped per
//! runner so that the start stream learns when its runner has connected
//! (the init packet needs the runner id the engine assigned).

use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;

use crate::StopReason;
use crate::host::{
    ActorContext, ActorInfo, BoxError, Handler, Request, Response, WebSocketRequest,
};

/// One runner's view of the shared handler: every callback goes to the
/// user's handler; the first `on_connected` also tells the start stream.
pub(super) struct Tracked<H> {
    inner: Arc<H>,
    connected: Mutex<Option<oneshot::Sender<String>>>,
}

impl<H> Tracked<H> {
    /// The wrapper, and what receives the runner id once connected.
    pub(super) fn new(inner: Arc<H>) -> (Self, oneshot::Receiver<String>) {
        let (tx, rx) = oneshot::channel();
        let tracked = Tracked {
            inner,
            connected: Mutex::new(Some(tx)),
        };
        (tracked, rx)
    }
}

impl<H: Handler> Handler for Tracked<H> {
    fn on_actor_start(
        &self,
        actor: ActorContext,
        info: ActorInfo,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        self.inner.on_actor_start(actor, info)
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
        // Only the first connection counts: a reconnect keeps the runner id,
        // and the engine reads only the first init packet.
        let first = self.connected.lock().ok().and_then(|mut tx| tx.take());
        if let Some(tx) = first {
            let _ = tx.send(runner_id.to_owned());
        }
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
