//! One KV call from an actor context, and its cancel when the caller gives
//! up (drops the future) before the answer.
//!
//! The core decides what a cancel means ([`Runner::cancel_kv`]: a call not
//! sent yet is never sent); the host only has to deliver it, without
//! blocking in `Drop` and without losing it. So cancels travel on a channel
//! of their own, unbounded but holding at most one ticket per KV call the
//! loop was handed and has not answered (each future sends at most one,
//! once), which the loop empties before it applies any input. A call whose
//! future is dropped while its command still waits in the loop's queue is
//! caught there instead: its reply channel is closed before the cancel is
//! sent, and the loop drops a call whose caller is gone without handing it
//! to the core.
//!
//! [`Runner::cancel_kv`]: crate::Runner::cancel_kv

use std::sync::atomic::{AtomicU64, Ordering};

use futures::channel::{mpsc, oneshot};

use super::calls::{Call, CallTx, KvTicket};
use super::error::Error;
use crate::protocol::KvRequestData;
use crate::{ActorRef, KvResponse};

/// Where dropped KV futures send their cancels, one for the whole runner.
#[derive(Debug)]
pub(crate) struct KvCancels {
    tx: mpsc::UnboundedSender<KvTicket>,
    next_ticket: AtomicU64,
}

impl KvCancels {
    /// The sending side, for the actor contexts, and the loop's receiver.
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<KvTicket>) {
        let (tx, rx) = mpsc::unbounded();
        let next_ticket = AtomicU64::new(0);
        (KvCancels { tx, next_ticket }, rx)
    }

    fn ticket(&self) -> KvTicket {
        KvTicket(self.next_ticket.fetch_add(1, Ordering::Relaxed))
    }
}

/// Runs one KV call through the event loop: `Call::Kv`, then its answer.
/// Dropped before the answer, it cancels the call.
pub(crate) async fn call(
    tx: &CallTx,
    cancels: &KvCancels,
    actor: ActorRef,
    data: KvRequestData,
) -> Result<KvResponse, Error> {
    let ticket = cancels.ticket();
    let (reply, answer) = oneshot::channel();
    // Dropped while this waits for room, the call may or may not be in the
    // loop's queue: `answer` goes with the future, which the loop sees.
    tx.send(Call::Kv {
        ticket,
        actor,
        data,
        reply,
    })
    .await?;
    let mut waiting = Waiting {
        answer: Some(answer),
        ticket,
        cancels,
    };
    waiting.answer().await
}

/// A call handed to the loop and not answered yet.
struct Waiting<'a> {
    /// `None` once answered: nothing to cancel then.
    answer: Option<oneshot::Receiver<Result<KvResponse, Error>>>,
    ticket: KvTicket,
    cancels: &'a KvCancels,
}

impl Waiting<'_> {
    async fn answer(&mut self) -> Result<KvResponse, Error> {
        let Some(answer) = self.answer.as_mut() else {
            return Err(Error::RunnerGone);
        };
        let outcome = answer.await;
        self.answer = None;
        outcome.map_err(|_| Error::RunnerGone)?
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut answer) = self.answer.take() else {
            return;
        };
        // Closed first: a loop that reads the cancel before the call itself
        // then finds the call's caller gone.
        answer.close();
        drop(answer);
        // Fails only once the loop has ended, when nothing is left to cancel.
        let _ = self.cancels.tx.unbounded_send(self.ticket);
    }
}
