//! The end of a run: `on_shutdown` comes after every `on_actor_stop` has
//! returned (bounded by the stop timeout), then the run returns.
//!
//! The core reports shutdown complete once no actor is left, but an actor
//! leaves it at its stop timeout even while its stop callback still runs,
//! and an immediate shutdown completes at once: the host waits here for the
//! callbacks it started, which only it can see.

use tracing::warn;

use super::Host;
use crate::host::handler::Handler;
use crate::host::runtime::Runtime;
use crate::{ShutdownReason, Timestamp};

impl<R: Runtime, H: Handler> Host<R, H> {
    /// The core has shut down: finish now, or once the stop callbacks still
    /// running have returned (at most `timeouts.actor_stop` from now).
    pub(super) fn begin_finish(&mut self, reason: ShutdownReason) {
        if self.stop_callbacks == 0 {
            return self.finish(reason);
        }
        let deadline = self.now() + self.core.config().timeouts.actor_stop;
        self.finishing = Some((reason, deadline));
    }

    /// An `on_actor_stop` callback returned.
    pub(super) fn stop_callback_done(&mut self) {
        self.stop_callbacks = self.stop_callbacks.saturating_sub(1);
        if self.stop_callbacks == 0 {
            if let Some((reason, _)) = self.finishing.take() {
                self.finish(reason);
            }
        }
    }

    /// The wait for stop callbacks is over at its deadline.
    pub(super) fn finish_if_due(&mut self, now: Timestamp) {
        if self.finishing.as_ref().is_some_and(|(_, at)| *at <= now) {
            if let Some((reason, _)) = self.finishing.take() {
                warn!(
                    running = self.stop_callbacks,
                    "stop callbacks still running at shutdown; not waiting longer"
                );
                self.finish(reason);
            }
        }
    }

    fn finish(&mut self, reason: ShutdownReason) {
        self.publish(|p| {
            p.connected = false;
            p.shut_down = true;
        });
        for (_, task) in self.requests.drain() {
            task.abort.abort();
        }
        self.sockets.clear();
        let handler = &self.handler;
        super::panics::guard_hook("on_shutdown", || handler.on_shutdown());
        for waiter in self.shutdown_waiters.drain(..) {
            let _ = waiter.send(());
        }
        self.finished = Some(reason);
    }
}
