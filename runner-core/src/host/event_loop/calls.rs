//! Commands: what actor contexts, handles and handler tasks ask of the loop,
//! applied to the core; and KV calls, forwarded to the core (which queues,
//! times out and cancels them) and answered from its results.

use futures::{FutureExt, StreamExt};
use tracing::debug;

use super::Host;
use crate::host::calls::{Call, Intent, KvTicket, Reply};
use crate::host::error::Error;
use crate::host::handler::Handler;
use crate::host::runtime::Runtime;
use crate::protocol::KvRequestData;
use crate::{ActorRef, KvError, KvRequestId, KvResponse, Timestamp};

impl<R: Runtime, H: Handler> Host<R, H> {
    /// Applies `command`, which arrived at `now` (the time its input was
    /// read: no clock read of its own).
    pub(super) fn apply(&mut self, now: Timestamp, command: Call) {
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
            Call::Kv {
                ticket,
                actor,
                data,
                reply,
            } => self.start_kv(now, ticket, &actor, data, reply),
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
            Call::Metrics { reply } => {
                let _ = reply.send(self.metrics_snapshot());
            }
            Call::Shutdown { mode, done } => {
                self.shutdown_waiters.push(done);
                self.core.shutdown(now, mode);
            }
        }
    }

    fn start_kv(
        &mut self,
        now: Timestamp,
        ticket: KvTicket,
        actor: &ActorRef,
        data: KvRequestData,
        reply: Reply<KvResponse>,
    ) {
        // Its caller gave up while the command waited: never send it.
        if reply.is_canceled() {
            return;
        }
        match self.core.kv(now, actor, data) {
            Ok(id) => {
                self.kv_tickets.insert(ticket, id);
                self.kv_waiters.insert(id, (ticket, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(Error::Call(e)));
            }
        }
    }

    /// Hands the core the cancels of dropped KV futures. A ticket the loop
    /// does not know is for a call already answered, refused, or not read
    /// yet — and that one's caller is seen gone when it is.
    pub(super) fn apply_kv_cancels(&mut self) {
        while let Some(Some(ticket)) = self.cancelled_kv.next().now_or_never() {
            if let Some(id) = self.kv_tickets.remove(&ticket) {
                self.kv_waiters.remove(&id);
                self.core.cancel_kv(self.now(), id);
            }
        }
    }

    pub(super) fn kv_result(&mut self, id: KvRequestId, result: Result<KvResponse, KvError>) {
        if let Some((ticket, waiter)) = self.kv_waiters.remove(&id) {
            self.kv_tickets.remove(&ticket);
            let _ = waiter.send(result.map_err(Error::Kv));
        }
    }
}
