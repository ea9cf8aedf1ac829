//! Commands: what actor contexts, handles and handler tasks ask of the loop,
//! applied to the core, and the KV calls that wait for room in it.

use tracing::debug;

use super::Host;
use crate::host::calls::{Call, Intent};
use crate::host::error::Error;
use crate::host::handler::Handler;
use crate::host::runtime::Runtime;

impl<R: Runtime, H: Handler> Host<R, H> {
    pub(super) fn apply(&mut self, command: Call) {
        let now = self.now();
        match command {
            Call::ActorStarted { actor, result } => {
                if let Err(e) = self.core.actor_started(now, &actor, result) {
                    debug!(error = %e, "late actor start ignored");
                }
            }
            Call::ActorStopped { actor } => {
                self.report_stopped(actor);
                self.stop_callback_done();
            }
            Call::Intent {
                actor,
                intent,
                reply,
            } => {
                let result = match intent {
                    Intent::Sleep => self.core.sleep_actor(now, &actor),
                    Intent::Stop => self.core.stop_actor(now, &actor),
                    Intent::Alarm(ts) => self.core.set_alarm(now, &actor, ts),
                    Intent::Crash(message) => self.core.crash_actor(now, &actor, message),
                };
                let _ = reply.send(result.map_err(Error::Call));
            }
            Call::Kv { actor, data, reply } => {
                self.kv_backlog.push_back((actor, data, reply));
                self.submit_kv_backlog();
            }
            Call::Restore {
                actor,
                sockets,
                reply,
            } => self.restore(actor, sockets, reply),
            Call::Respond { key, response } => {
                if self.requests.contains_key(&key) {
                    if let Err(e) = self.core.respond(now, key, response) {
                        debug!(%key, error = %e, "response not sent");
                    }
                    self.request_done(key);
                }
            }
            Call::Socket { key, op, reply } => {
                let result = self.socket_op(now, key, op);
                if let Some(reply) = reply {
                    let _ = reply.send(result.map_err(Error::Call));
                }
            }
            Call::SocketIndices { key, reply } => {
                let _ = reply.send(self.core.websocket_indices(key));
            }
            Call::Shutdown { mode, done } => {
                self.shutdown_waiters.push(done);
                self.core.shutdown(now, mode);
            }
        }
    }

    /// Hands waiting KV calls to the core while it has room for them.
    pub(super) fn submit_kv_backlog(&mut self) {
        let limit = self.core.config().limits.max_pending_kv;
        while self.core.pending_kv_count() < limit {
            let Some((actor, data, reply)) = self.kv_backlog.pop_front() else {
                return;
            };
            let now = self.now();
            match self.core.kv(now, &actor, data) {
                Ok(id) => {
                    self.kv_waiters.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(Error::Call(e)));
                }
            }
        }
    }
}
