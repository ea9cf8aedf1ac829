//! Errors of the driver-level API.

use thiserror::Error;

use crate::{CallError, KvError};

/// Why a call through an [`ActorContext`](super::ActorContext),
/// [`WebSocket`](super::WebSocket) or [`RunnerHandle`](super::RunnerHandle) failed.
///
/// # Examples
///
/// Handlers usually match on it, or pass it on with `?`:
///
/// ```
/// use runner_tokio::KvError;
/// use runner_tokio::Error;
///
/// let gone = Error::RunnerGone;
/// assert_eq!(gone.to_string(), "the runner has stopped");
/// let timed_out = Error::from(KvError::TimedOut);
/// assert_eq!(timed_out, Error::Kv(KvError::TimedOut));
/// assert_eq!(timed_out.to_string(), "KV request timed out");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The core refused the call.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A KV operation failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The runner's event loop has ended.
    #[error("the runner has stopped")]
    RunnerGone,
}
