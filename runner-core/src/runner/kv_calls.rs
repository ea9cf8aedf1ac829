//! KV calls from the user and answers from the engine.

use tracing::debug;

use super::Runner;
use crate::Timestamp;
use crate::error::CallError;
use crate::ids::{ActorRef, KvRequestId};
use crate::kv::KvError;
use crate::output::Event;
use crate::protocol::{KvListQuery, KvRequestData, ToClientKvResponse, ToServer};

impl Runner {
    /// Starts a KV operation on the actor's storage. The outcome arrives later
    /// as [`Event::KvResult`] with the returned id — exactly once: an answer,
    /// or a timeout, shutdown or runner-lost error.
    ///
    /// Requests made while disconnected wait (up to the KV timeout) and are
    /// sent after the next init; requests in flight when a connection drops
    /// are sent again, in their original order.
    ///
    /// Refused with [`CallError::PayloadTooLarge`] when its keys and values
    /// add up to more than `limits.max_tunnel_payload` (a frame that large
    /// would make the engine drop the connection, and the resend after the
    /// reconnect would drop it again), and with
    /// [`CallError::TooManyPendingKv`] past `limits.max_pending_kv`.
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
    pub fn kv(
        &mut self,
        now: Timestamp,
        actor: &ActorRef,
        data: KvRequestData,
    ) -> Result<KvRequestId, CallError> {
        self.step(now, |r| r.start_kv(actor, data))
    }

    fn start_kv(
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
            return Err(CallError::PayloadTooLarge { size, limit });
        }
        let limit = self.config.limits.max_pending_kv;
        if self.kv.len() >= limit {
            return Err(CallError::TooManyPendingKv { limit });
        }
        let deadline = self.now + self.config.timeouts.kv_request;
        let id = self.kv.insert(actor.actor_id.clone(), data, deadline);
        if self.is_ready() {
            self.send_kv(id);
        }
        Ok(id)
    }

    fn send_kv(&mut self, id: KvRequestId) {
        if let Some(msg) = self.kv.message(id) {
            self.send(&ToServer::KvRequest(msg));
        }
    }

    /// After an init: everything unanswered, oldest first.
    pub(super) fn resend_kv(&mut self) {
        for id in self.kv.ids() {
            self.send_kv(id);
        }
    }

    pub(super) fn on_kv_response(&mut self, response: ToClientKvResponse) {
        match self.kv.complete(response.request_id, response.data) {
            Some((id, result)) => self.events.push_back(Event::KvResult { id, result }),
            None => debug!(
                request_id = response.request_id,
                "KV answer for no pending request"
            ),
        }
    }

    pub(super) fn expire_kv(&mut self) {
        while let Some(id) = self.kv.pop_expired(self.now) {
            self.events.push_back(Event::KvResult {
                id,
                result: Err(KvError::TimedOut),
            });
        }
    }

    /// Fails every pending request with `error`, oldest first.
    pub(super) fn fail_all_kv(&mut self, error: KvError) {
        for id in self.kv.drain() {
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
