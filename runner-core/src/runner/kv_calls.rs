//! KV calls from the user and answers from the engine.
//!
//! At most `limits.max_pending_kv` requests are out at once; calls past it
//! wait in the core, in call order, and go out as answers free slots. Each
//! call ends exactly once — an answer, its timeout (counted from the call),
//! runner lost or shutdown — unless the user cancels it first.

use tracing::{debug, trace};

use std::borrow::Cow;

use super::kv_table::{Answer, Expired};
use super::{Input, Outcome, Runner};
use crate::Timestamp;
use crate::error::CallError;
use crate::ids::{ActorRef, KvRequestId};
use crate::kv::KvError;
use crate::output::Event;
use crate::protocol::{KvListQuery, KvRequestData, ToClientKvResponse, ToServer};

impl Runner {
    /// Starts a KV operation on the actor's storage. The outcome arrives later
    /// as [`Event::KvResult`] with the returned id — exactly once: an answer,
    /// or a timeout, shutdown or runner-lost error — unless the call is
    /// cancelled first ([`cancel_kv`](Self::cancel_kv)).
    ///
    /// At most `limits.max_pending_kv` requests are out at once. A call past
    /// that waits in a queue in the core and is sent when an earlier one
    /// ends; calls go out in the order they were made. Requests made while
    /// disconnected wait and are sent after the next init; requests in flight
    /// when a connection drops are sent again, in their original order. The
    /// KV timeout (`timeouts.kv_request`) counts from this call, however long
    /// the call waited in the queue or for a connection.
    ///
    /// Refused with [`CallError::PayloadTooLarge`] when its keys and values
    /// add up to more than `limits.max_tunnel_payload` (a frame that large
    /// would make the engine drop the connection, and the resend after the
    /// reconnect would drop it again), and with [`CallError::KvQueueFull`]
    /// when `limits.max_pending_kv` requests are out and
    /// `limits.max_queued_kv` more wait already.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, ActorRef, CallError, Event, Timestamp, Transmit};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// let put = KvPutRequest { keys: vec!["count".into()], values: vec!["1".into()] };
    /// let id = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Put(put))?;
    /// let Some(Transmit::Frame(frame)) = runner.poll_transmit() else { panic!() };
    /// let ToServer::KvRequest(request) = decode_to_server(ProtocolVersion::V5, &frame)? else { panic!() };
    /// assert_eq!(&*request.actor_id, "A");
    /// assert!(matches!(request.data, KvRequestData::Put(_)));
    /// assert_eq!(runner.pending_kv_count(), 1); // until `Event::KvResult { id, .. }`
    /// // A call for an actor this runner does not host is refused.
    /// let ghost = ActorRef::new("ghost", 0);
    /// let refused = runner.kv(Timestamp::ZERO, &ghost, KvRequestData::Drop);
    /// assert_eq!(refused, Err(CallError::ActorNotFound(ghost)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Past `max_pending_kv`, calls wait their turn:
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Event, KvResponse, Timestamp};
    /// let mut config = testing::config();
    /// config.limits.max_pending_kv = 1;
    /// # let (mut runner, conn) = testing::connected(config)?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// let first = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
    /// let second = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
    /// assert_eq!(runner.queued_kv_count(), 1);
    /// let sent = testing::sent(&mut runner)?;
    /// let [ToServer::KvRequest(request)] = sent.as_slice() else { panic!("{sent:?}") };
    /// // The engine answers the first: the second goes out.
    /// let answer = ToClient::KvResponse(ToClientKvResponse { request_id: request.request_id, data: KvResponseData::Drop });
    /// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &answer)?);
    /// assert_eq!(runner.poll_event(), Some(Event::KvResult { id: first, result: Ok(KvResponse::Done) }));
    /// assert!(matches!(testing::sent(&mut runner)?.as_slice(), [ToServer::KvRequest(_)]));
    /// assert_eq!((runner.pending_kv_count(), runner.queued_kv_count()), (1, 0));
    /// # let _ = second;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kv(
        &mut self,
        now: Timestamp,
        actor: &ActorRef,
        data: KvRequestData,
    ) -> Result<KvRequestId, CallError> {
        let actor = Cow::Borrowed(actor);
        match self.step(now, Input::Kv { actor, data }) {
            Outcome::Kv(result) => result,
            other => unreachable!("kv gave {other:?}"),
        }
    }

    /// Cancels a KV call whose caller gave up: no [`Event::KvResult`] will
    /// come for `id`. A call not sent yet (queued, or waiting for a
    /// connection) is never sent. A call already sent cannot be taken back:
    /// its answer is dropped when it comes, and until then it counts
    /// against `limits.max_pending_kv`, as the engine is still working on
    /// it.
    ///
    /// Returns `true` when the call was cancelled, `false` when it had
    /// already ended: then its `KvResult` has been emitted (and is in
    /// [`poll_event`](Self::poll_event)'s queue if not polled yet) — or the
    /// id is unknown. Either way each id gets exactly one result or one
    /// successful cancel, never both.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, Timestamp};
    /// let mut config = testing::config();
    /// config.limits.max_pending_kv = 1;
    /// # let (mut runner, conn) = testing::connected(config)?;
    /// # let actor = testing::started_actor(&mut runner, conn, "A")?;
    /// let sent = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
    /// let queued = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
    /// assert_eq!(testing::sent(&mut runner)?.len(), 1);
    /// assert!(runner.cancel_kv(Timestamp::ZERO, queued)); // it will never be sent
    /// assert!(runner.cancel_kv(Timestamp::ZERO, sent)); // its answer will be dropped
    /// assert!(!runner.cancel_kv(Timestamp::ZERO, sent)); // already cancelled
    /// assert_eq!(runner.pending_kv_count(), 0);
    /// assert!(testing::sent(&mut runner)?.is_empty());
    /// assert_eq!(runner.poll_event(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_kv(&mut self, now: Timestamp, id: KvRequestId) -> bool {
        match self.step(now, Input::CancelKv { id }) {
            Outcome::Cancelled(cancelled) => cancelled,
            other => unreachable!("cancel_kv gave {other:?}"),
        }
    }

    pub(super) fn start_kv(
        &mut self,
        actor: &ActorRef,
        data: KvRequestData,
    ) -> Result<KvRequestId, CallError> {
        // Once the connection is gone for good nothing could answer.
        if self.is_finishing_or_done() {
            return Err(CallError::Shutdown);
        }
        if self.record(actor).is_none() {
            return Err(CallError::ActorNotFound(actor.clone()));
        }
        let version = self.config.protocol_version;
        if matches!(data, KvRequestData::DeleteRange(_)) && !version.has_kv_delete_range() {
            return Err(CallError::Unsupported {
                what: "KV delete-range",
                needs: 7,
                speaking: version.number(),
            });
        }
        let size = payload_len(&data);
        let limit = self.config.limits.max_tunnel_payload;
        if size > limit {
            self.counters.payload_refusals.kv_request += 1;
            return Err(CallError::PayloadTooLarge { size, limit });
        }
        // A call queues only behind taken slots (a free slot would have
        // taken the queue's head already).
        let limits = &self.config.limits;
        let slots_free = self.kv.slots_taken() < limits.max_pending_kv;
        if !slots_free && self.kv.queued() >= limits.max_queued_kv {
            return Err(CallError::KvQueueFull {
                limit: limits.max_queued_kv,
            });
        }
        let deadline = self.now + self.config.timeouts.kv_request;
        self.counters.kv_call(&data);
        let id = self
            .kv
            .push(actor.actor_id.clone(), data, self.now, deadline);
        self.fill_kv_slots();
        Ok(id)
    }

    pub(super) fn abandon_kv(&mut self, id: KvRequestId) -> bool {
        // Ready: every call in flight is on this connection's wire.
        let cancelled = self.kv.cancel(id, self.is_ready());
        if cancelled {
            self.counters.kv_cancelled += 1;
            self.fill_kv_slots();
        }
        cancelled
    }

    /// Gives free slots to queued calls, oldest first, and sends them.
    fn fill_kv_slots(&mut self) {
        let slots = self.config.limits.max_pending_kv;
        while let Some(id) = self.kv.promote(slots) {
            if self.is_ready() {
                self.send_kv(id);
            }
        }
    }

    fn send_kv(&mut self, id: KvRequestId) {
        if let Some(msg) = self.kv.lend_message(id) {
            let msg = ToServer::KvRequest(msg);
            self.send(&msg);
            if let ToServer::KvRequest(msg) = msg {
                self.kv.give_back(id, msg.data);
            }
        }
    }

    /// After an init: everything unanswered, oldest first, then the queued
    /// calls that fit in the slots of cancelled ones (whose answers cannot
    /// come on a new connection).
    pub(super) fn resend_kv(&mut self) {
        self.kv.forget_cancelled();
        let slots = self.config.limits.max_pending_kv;
        while self.kv.promote(slots).is_some() {}
        for id in self.kv.in_flight_ids() {
            self.send_kv(id);
        }
    }

    pub(super) fn on_kv_response(&mut self, response: ToClientKvResponse) {
        match self.kv.complete(response.request_id, response.data) {
            Answer::Call(id, result, made) => {
                let outcomes = &mut self.counters.kv_outcomes;
                if result.is_ok() {
                    outcomes.ok += 1;
                } else {
                    outcomes.error += 1;
                }
                let latency = self.now.saturating_duration_since(made);
                self.counters.kv_latency.observe(latency);
                trace!(?id, ?latency, ok = result.is_ok(), "KV call answered");
                self.events.push_back(Event::KvResult { id, result })
            }
            Answer::Cancelled => debug!(
                request_id = response.request_id,
                "KV answer for a cancelled call dropped"
            ),
            Answer::Unknown => debug!(
                request_id = response.request_id,
                "KV answer for no pending request"
            ),
        }
        self.fill_kv_slots();
    }

    pub(super) fn expire_kv(&mut self) {
        while let Some(expired) = self.kv.pop_expired(self.now) {
            if let Expired::Call(id) = expired {
                self.counters.kv_outcomes.timed_out += 1;
                self.events.push_back(Event::KvResult {
                    id,
                    result: Err(KvError::TimedOut),
                });
            }
        }
        self.fill_kv_slots();
    }

    /// Fails every call not ended, oldest first, queued ones included.
    pub(super) fn fail_all_kv(&mut self, error: KvError) {
        for id in self.kv.drain() {
            self.counters.kv_outcomes.aborted += 1;
            self.events.push_back(Event::KvResult {
                id,
                result: Err(error.clone()),
            });
        }
    }
}

/// Bytes of keys and values in a request: what makes its frame large.
fn payload_len(data: &KvRequestData) -> usize {
    let sum = |items: &[bytes::Bytes]| items.iter().map(|b| b.len()).sum::<usize>();
    match data {
        KvRequestData::Get(get) => sum(&get.keys),
        KvRequestData::List(list) => match &list.query {
            KvListQuery::All => 0,
            KvListQuery::Range(range) => range.start.len() + range.end.len(),
            KvListQuery::Prefix(prefix) => prefix.key.len(),
        },
        KvRequestData::Put(put) => sum(&put.keys) + sum(&put.values),
        KvRequestData::Delete(delete) => sum(&delete.keys),
        KvRequestData::DeleteRange(range) => range.start.len() + range.end.len(),
        KvRequestData::Drop => 0,
    }
}
