//! Errors of user calls into the core.

use thiserror::Error;

use crate::output::ActorRef;

/// Why the core refused a user call. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CallError {
    /// The runner has shut down (or is shutting down immediately).
    #[error("the runner is shut down")]
    ShutDown,
    /// No such actor generation is live on this runner.
    #[error("actor {0:?} is not running on this runner")]
    ActorNotFound(ActorRef),
    /// The call does not fit the actor's state (e.g. `actor_started` twice).
    #[error("actor {actor:?} is {state}, so {call} does not apply")]
    WrongState {
        /// The actor.
        actor: ActorRef,
        /// Its state.
        state: &'static str,
        /// The call refused.
        call: &'static str,
    },
    /// Too many KV requests await answers.
    #[error("too many pending KV requests (limit {limit})")]
    TooManyPendingKv {
        /// The configured limit.
        limit: usize,
    },
    /// The actor has too many events the engine has not acknowledged.
    #[error("actor {actor:?} has {limit} unacknowledged events")]
    EventBacklogFull {
        /// The actor.
        actor: ActorRef,
        /// The configured limit.
        limit: usize,
    },
    /// The operation needs a newer protocol version.
    #[error("{what} needs protocol v{needs} (speaking v{speaking})")]
    Unsupported {
        /// The operation.
        what: &'static str,
        /// Version that has it.
        needs: u16,
        /// Version in use.
        speaking: u16,
    },
}
