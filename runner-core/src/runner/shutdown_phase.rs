//! How far the runner is in shutting down (a field every chapter reads).

use crate::output::ShutdownReason;

/// Where shutdown stands; `Running` until one begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ShutdownPhase {
    Running,
    /// `ToServerStopping` sent; the engine is stopping the actors.
    Draining,
    /// Disconnected for good; the last actors are being stopped locally.
    Finishing(ShutdownReason),
    Complete,
}
