//! Actors: their contexts, found by actor, and the tasks that run the
//! handler's start and stop callbacks.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tracing::{Instrument, debug, warn};

use super::Host;
use super::panics::panic_message;
use crate::ActorRef;
use crate::host::calls::Call;
use crate::host::context::ActorContext;
use crate::host::handler::{ActorInfo, Handler};
use crate::host::runtime::Runtime;
use crate::host::spans;

/// An actor's context, hashed and compared as its actor: a set of them maps
/// actors to contexts at one pointer per bucket (a map would repeat the
/// actor, 24 bytes, in every bucket, empty ones included).
pub(super) struct ByActor(pub(super) ActorContext);

impl std::hash::Hash for ByActor {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.0.actor_ref().hash(state);
    }
}

impl PartialEq for ByActor {
    fn eq(&self, other: &Self) -> bool {
        self.0.actor_ref() == other.0.actor_ref()
    }
}

impl Eq for ByActor {}

impl std::borrow::Borrow<ActorRef> for ByActor {
    fn borrow(&self) -> &ActorRef {
        self.0.actor_ref()
    }
}

impl<R: Runtime, H: Handler> Host<R, H> {
    pub(super) fn spawn_actor_start(&self, actor: ActorRef, ctx: ActorContext, info: ActorInfo) {
        let handler = self.handler.clone();
        let tx = self.tx.clone();
        let span = spans::actor(ctx.actor_ref(), ctx.name());
        let task = async move {
            let outcome = AssertUnwindSafe(handler.on_actor_start(ctx, info))
                .catch_unwind()
                .await;
            let result = match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(panic) => Err(format!("start panicked: {}", panic_message(panic))),
            };
            let _ = tx.send(Call::ActorStarted { actor, result }).await;
        };
        self.rt.spawn(Box::pin(task.instrument(span)));
    }

    pub(super) fn spawn_actor_stop(&mut self, actor: ActorRef, reason: crate::StopReason) {
        self.stop_callbacks += 1;
        let handler = self.handler.clone();
        let tx = self.tx.clone();
        let ctx = self.context(&actor);
        let span = spans::actor(ctx.actor_ref(), ctx.name());
        let task = async move {
            if AssertUnwindSafe(handler.on_actor_stop(ctx, reason))
                .catch_unwind()
                .await
                .is_err()
            {
                warn!(?actor, "actor stop panicked");
            }
            let _ = tx.send(Call::ActorStopped { actor }).await;
        };
        self.rt.spawn(Box::pin(task.instrument(span)));
    }

    pub(super) fn context(&self, actor: &ActorRef) -> ActorContext {
        self.actors
            .get(actor)
            .map(|c| c.0.clone())
            .unwrap_or_else(|| {
                ActorContext::new(actor.clone(), Arc::from(""), None, self.link.clone())
            })
    }

    pub(super) fn report_stopped(&mut self, actor: ActorRef) {
        self.actors.remove(&actor);
        let now = self.now();
        if let Err(e) = self.core.actor_stopped(now, &actor) {
            debug!(error = %e, "late actor stop ignored");
        }
    }
}
