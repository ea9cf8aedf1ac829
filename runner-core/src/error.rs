//! Errors of user calls into the core.

use thiserror::Error;

use crate::ids::{ActorRef, RequestKey};

/// Why the core refused a user call. Refusals change nothing.
///
/// # Examples
///
/// ```
/// use runner_core::{ActorRef, CallError, Config, Runner, Timestamp};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// let ghost = ActorRef::new("ghost", 0);
/// let error = runner.sleep_actor(Timestamp::ZERO, &ghost).unwrap_err();
/// assert_eq!(error.to_string(), "actor ghost@0 is not running on this runner");
/// assert_eq!(error, CallError::ActorNotFound(ghost));
/// assert_eq!(runner.poll_transmit(), None); // nothing happened
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CallError {
    /// The runner has shut down (or is shutting down immediately).
    #[error("the runner is shut down")]
    Shutdown,
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
    /// `limits.max_pending_kv` KV requests await answers and
    /// `limits.max_queued_kv` more calls wait for one of them to end. The
    /// call changed nothing; the caller may retry once results come in.
    #[error("KV queue full: {limit} calls already wait for a slot")]
    KvQueueFull {
        /// The configured `max_queued_kv`.
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
    /// No such tunnelled request or socket (it ended, or never existed).
    #[error("no request or socket {0}")]
    RequestNotFound(RequestKey),
    /// The request or socket is not in a state where this call applies.
    #[error("request {key} is {state}, so {call} does not apply")]
    WrongRequestState {
        /// The request.
        key: RequestKey,
        /// Its state.
        state: &'static str,
        /// The call refused.
        call: &'static str,
    },
    /// A WebSocket message larger than the engine accepts (it would close the
    /// whole runner connection).
    #[error("payload of {size} bytes exceeds the {limit}-byte tunnel limit")]
    PayloadTooLarge {
        /// The payload's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Disconnected, and the tunnel's outbound buffer is full.
    #[error("tunnel buffer full while disconnected ({messages} messages, {bytes} bytes)")]
    TunnelBufferFull {
        /// Messages buffered.
        messages: usize,
        /// Bytes buffered.
        bytes: usize,
    },
    /// A close code that must not appear in a close frame (1005, 1006, 1015,
    /// or outside 1000–4999).
    #[error("close code {0} cannot be sent")]
    InvalidCloseCode(u16),
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
