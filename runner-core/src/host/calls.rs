//! Messages from handles and handler tasks to the event loop.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::SinkExt;
use futures::channel::{mpsc, oneshot};

use super::error::Error;
use crate::protocol::{KvRequestData, MessageIndex};
use crate::{
    ActorRef, HibernatedSocket, HttpResponse, KvResponse, RequestKey, RestoreReport, ShutdownMode,
    SocketIndices,
};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// Names one KV call of an actor context to the event loop, which learns
/// the core's id only when it hands the call over: a cancel says which call
/// it is about with this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct KvTicket(pub(crate) u64);

/// An actor-level request to the engine.
#[derive(Debug)]
pub(crate) enum Intent {
    Sleep,
    Stop,
    Alarm(Option<i64>),
    Crash(String),
}

/// An operation on a tunnelled WebSocket.
#[derive(Debug)]
pub(crate) enum SocketOp {
    Accept {
        hibernatable: bool,
    },
    Reject {
        code: u16,
        reason: String,
    },
    Send {
        data: Bytes,
        binary: bool,
    },
    Close {
        code: Option<u16>,
        reason: Option<String>,
    },
    Ack(MessageIndex),
}

#[derive(Debug)]
pub(crate) enum Call {
    ActorStarted {
        actor: ActorRef,
        result: Result<(), String>,
    },
    ActorStopped {
        actor: ActorRef,
    },
    Intent {
        actor: ActorRef,
        intent: Intent,
        reply: Reply<()>,
    },
    /// A KV call; its cancel, if the caller gives up, comes on the loop's
    /// cancel channel (see `ActorLink`).
    Kv {
        ticket: KvTicket,
        actor: ActorRef,
        data: KvRequestData,
        reply: Reply<KvResponse>,
    },
    Restore {
        actor: ActorRef,
        sockets: Vec<HibernatedSocket>,
        reply: Reply<RestoreReport>,
    },
    Respond {
        key: RequestKey,
        response: HttpResponse,
    },
    Socket {
        key: RequestKey,
        op: SocketOp,
        reply: Option<Reply<()>>,
    },
    SocketIndices {
        key: RequestKey,
        reply: oneshot::Sender<Option<SocketIndices>>,
    },
    Shutdown {
        mode: ShutdownMode,
        done: oneshot::Sender<()>,
    },
    /// A metrics snapshot for a handle.
    Metrics {
        reply: oneshot::Sender<super::metrics::RunnerMetrics>,
    },
}

/// Bounded sender to the event loop: callers wait when it is busy.
///
/// Behind an `Arc`: cloning a `futures` sender allocates, and contexts are
/// cloned for every request. A send goes through the one shared sender
/// when it can (no allocation) and clones a sender of its own only while
/// another task waits on the shared one.
#[derive(Debug, Clone)]
pub(crate) struct CallTx(Arc<Mutex<SharedTx>>);

/// The shared sender, and whether a task waits on it.
#[derive(Debug)]
pub(crate) struct SharedTx {
    tx: mpsc::Sender<Call>,
    /// A task sent past the queue's buffer through `tx` and waits for the
    /// loop to take a command: only that task may poll `tx` (a `futures`
    /// sender keeps one waker), so the others use senders of their own.
    waited_on: bool,
}

impl CallTx {
    pub(crate) fn new(tx: mpsc::Sender<Call>) -> Self {
        let shared = SharedTx {
            tx,
            waited_on: false,
        };
        CallTx(Arc::new(Mutex::new(shared)))
    }

    /// The shared sender. Nothing panics while it is held, so a poisoned
    /// lock still holds a sound sender.
    fn shared(&self) -> MutexGuard<'_, SharedTx> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends a command, waiting for room: as a `futures` sender's `send`
    /// does, the command is queued at once and the caller waits while the
    /// queue is past its buffer.
    pub(crate) async fn send(&self, command: Call) -> Result<(), Error> {
        let command = match self.send_shared(command) {
            Shared::Sent => return Ok(()),
            Shared::Gone => return Err(Error::RunnerGone),
            Shared::Wait => {
                let waiting = Waiting(self);
                poll_fn(|cx| waiting.0.shared().tx.poll_ready(cx))
                    .await
                    .ok();
                return Ok(());
            }
            Shared::Busy(command) => command,
        };
        // What every send did before: a sender of its own.
        let mut own = self.shared().tx.clone();
        own.send(command).await.map_err(|_| Error::RunnerGone)
    }

    /// Queues `command` through the shared sender if no task waits on it.
    fn send_shared(&self, command: Call) -> Shared {
        let mut shared = self.shared();
        if shared.waited_on {
            return Shared::Busy(command);
        }
        match shared.tx.try_send(command) {
            Ok(()) => {}
            Err(e) if e.is_disconnected() => return Shared::Gone,
            // Parked by a send past the buffer that has not been read yet.
            Err(e) => return Shared::Busy(e.into_inner()),
        }
        // Queued; past the buffer it parked the sender: then wait, as a
        // `futures` send's flush does, for the loop to take one.
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        match shared.tx.poll_ready(&mut cx) {
            Poll::Pending => {
                shared.waited_on = true;
                Shared::Wait
            }
            Poll::Ready(_) => Shared::Sent,
        }
    }

    /// Sends a command that carries a reply and waits for the answer.
    pub(crate) async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Call) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply)).await?;
        answer.await.map_err(|_| Error::RunnerGone)?
    }

    /// Applies an operation to a tunnelled WebSocket and waits for the outcome.
    pub(crate) async fn socket_op(&self, key: RequestKey, op: SocketOp) -> Result<(), Error> {
        self.call(|reply| Call::Socket {
            key,
            op,
            reply: Some(reply),
        })
        .await
    }

    /// Applies an operation to a tunnelled WebSocket without waiting (from
    /// `Drop`); dropped if the loop is gone or busy.
    pub(crate) fn socket_op_now(&self, key: RequestKey, op: SocketOp) {
        self.send_now(Call::Socket {
            key,
            op,
            reply: None,
        });
    }

    /// Sends without waiting (from `Drop`); dropped if the loop is gone or busy.
    pub(crate) fn send_now(&self, command: Call) {
        let mut own = self.shared().tx.clone();
        if let Err(e) = own.try_send(command) {
            tracing::debug!(error = %e, "command not delivered");
        }
    }
}

/// Where a send through the shared sender stands.
enum Shared {
    Sent,
    /// Queued past the buffer: the caller waits on the shared sender.
    Wait,
    /// Another task waits on the shared sender, or it is parked.
    Busy(Call),
    Gone,
}

/// The task waiting on the shared sender; frees it when done or dropped.
struct Waiting<'a>(&'a CallTx);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.shared().waited_on = false;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use futures::{FutureExt, StreamExt};

    use super::*;

    fn stopped(n: usize) -> Call {
        Call::ActorStopped {
            actor: ActorRef::new(format!("a{n}"), 1),
        }
    }

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future + Unpin>(f: &mut F, wakes: &Arc<Wakes>) -> Poll<F::Output> {
        let waker = Arc::clone(wakes).into();
        f.poll_unpin(&mut Context::from_waker(&waker))
    }

    /// As a `futures` sender's send: past the buffer a command is queued
    /// and its sender waits, woken when the loop takes one; several
    /// waiting senders are each woken; nothing is lost or reordered; a
    /// dropped waiting send leaves the channel usable.
    #[test]
    fn past_the_buffer_senders_wait_and_are_woken_in_turn() {
        let (tx, mut rx) = mpsc::channel(1);
        let tx = CallTx::new(tx);
        assert!(matches!(tx.send(stopped(0)).now_or_never(), Some(Ok(()))));
        let (w1, w2) = (Arc::new(Wakes::default()), Arc::new(Wakes::default()));
        let mut first = Box::pin(tx.send(stopped(1)));
        let mut second = Box::pin(tx.send(stopped(2)));
        assert!(poll(&mut first, &w1).is_pending());
        assert!(poll(&mut second, &w2).is_pending());
        let read = |rx: &mut mpsc::Receiver<Call>| match rx.next().now_or_never() {
            Some(Some(Call::ActorStopped { actor })) => actor.actor_id.to_string(),
            _ => "nothing".to_owned(),
        };
        assert_eq!(read(&mut rx), "a0");
        assert_eq!(read(&mut rx), "a1");
        assert_eq!(read(&mut rx), "a2");
        assert!(w1.0.load(Ordering::SeqCst) > 0 && w2.0.load(Ordering::SeqCst) > 0);
        assert!(matches!(poll(&mut first, &w1), Poll::Ready(Ok(()))));
        assert!(matches!(poll(&mut second, &w2), Poll::Ready(Ok(()))));
        // A waiting send given up: later sends still go through and wait.
        assert!(matches!(tx.send(stopped(3)).now_or_never(), Some(Ok(()))));
        let mut given_up = Box::pin(tx.send(stopped(4)));
        assert!(poll(&mut given_up, &w1).is_pending());
        drop(given_up);
        let mut later = Box::pin(tx.send(stopped(5)));
        assert!(poll(&mut later, &w2).is_pending());
        assert_eq!(
            [read(&mut rx), read(&mut rx), read(&mut rx)],
            ["a3", "a4", "a5"]
        );
        assert!(matches!(poll(&mut later, &w2), Poll::Ready(Ok(()))));
        drop(rx);
        assert!(matches!(
            tx.send(stopped(6)).now_or_never(),
            Some(Err(Error::RunnerGone))
        ));
    }
}
