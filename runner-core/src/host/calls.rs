//! Messages from handles and handler tasks to the event loop.

use std::sync::Arc;

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
/// cloned for every request; each send clones the sender it needs.
#[derive(Debug, Clone)]
pub(crate) struct CallTx(Arc<mpsc::Sender<Call>>);

impl CallTx {
    pub(crate) fn new(tx: mpsc::Sender<Call>) -> Self {
        CallTx(Arc::new(tx))
    }

    /// Sends a command, waiting for room.
    pub(crate) async fn send(&self, command: Call) -> Result<(), Error> {
        (*self.0)
            .clone()
            .send(command)
            .await
            .map_err(|_| Error::RunnerGone)
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
        if let Err(e) = (*self.0).clone().try_send(command) {
            tracing::debug!(error = %e, "command not delivered");
        }
    }
}
