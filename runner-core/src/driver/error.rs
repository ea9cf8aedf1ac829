//! Errors of the driver-level API.

use thiserror::Error;

use crate::{CallError, KvError};

/// Why a call through an [`ActorContext`](super::ActorContext),
/// [`WebSocket`](super::WebSocket) or [`RunnerHandle`](super::RunnerHandle) failed.
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
