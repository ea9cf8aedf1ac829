//! The state of `/hws` sockets, persisted in the actor's KV so that a socket
//! survives its actor sleeping: one JSON record per socket under
//! `hws/<gatewayId><requestId>` (hex), written after each message and read
//! back when the actor starts again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use runner_core::host::api::{
    ActorContext, ActorInfo, ActorRef, BareMap, BoxError, Error, GatewayId, HibernatedSocket,
    KvList, MessageIndex, RequestId, RequestKey, WebSocket,
};
use serde::{Deserialize, Serialize};

/// KV prefix of the socket records (the KV routes use another one).
const PREFIX: &str = "hws/";

/// What is persisted about one socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    gateway_id: String,
    request_id: String,
    last_received_index: MessageIndex,
    next_sent_index: MessageIndex,
    path: String,
    headers: Vec<(String, String)>,
}

/// Restores the actor's hibernated sockets from KV (call it while the actor
/// starts) and deletes the records the gateway no longer knows.
///
/// When the engine lists no hibernated socket there is nothing to restore,
/// and the KV is not read: most starts list none, and a read per start
/// would be most of a start's cost. Records of sockets that ended while
/// their actor slept stay until the next start that lists any socket,
/// which reads them all and deletes the stale ones.
pub(super) async fn restore(actor: &ActorContext, info: &ActorInfo) -> Result<(), BoxError> {
    if info.hibernating.is_empty() {
        return Ok(());
    }
    let (persisted, mut unreadable) = load(actor).await?;
    let report = actor.restore_websockets(persisted).await?;
    tracing::debug!(
        actor = actor.actor_id(),
        listed = info.hibernating.len(),
        ?report,
        "hibernated sockets restored"
    );
    unreadable.extend(report.stale.into_iter().map(record_key));
    if !unreadable.is_empty() {
        actor.kv_delete(unreadable).await?;
    }
    Ok(())
}

/// The persisted sockets, and the keys of records that do not parse.
async fn load(actor: &ActorContext) -> Result<(Vec<HibernatedSocket>, Vec<Bytes>), Error> {
    let mut sockets = Vec::new();
    let mut unreadable = Vec::new();
    for (key, value) in actor.kv_list(KvList::prefix(PREFIX)).await? {
        match serde_json::from_slice::<Record>(&value)
            .ok()
            .and_then(Record::into_socket)
        {
            Some(socket) => sockets.push(socket),
            None => {
                tracing::warn!(?key, "unreadable socket record: deleting it");
                unreadable.push(key);
            }
        }
    }
    Ok((sockets, unreadable))
}

impl Record {
    fn into_socket(self) -> Option<HibernatedSocket> {
        let key = RequestKey::new(
            GatewayId(from_hex(&self.gateway_id)?),
            RequestId(from_hex(&self.request_id)?),
        );
        Some(HibernatedSocket {
            key,
            last_received_index: self.last_received_index,
            next_sent_index: self.next_sent_index,
            path: self.path,
            headers: self.headers.into_iter().collect(),
        })
    }
}

/// One `/hws` socket's persistence.
#[derive(Debug)]
pub(super) struct SocketRecord {
    actor: ActorContext,
    key: RequestKey,
    path: String,
    headers: BareMap<String>,
}

impl SocketRecord {
    /// The record of the socket `key`, opened at `path` with `headers`.
    pub(super) fn new(
        actor: &ActorContext,
        key: RequestKey,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Self {
        let headers = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?.to_owned())))
            .collect();
        SocketRecord {
            actor: actor.clone(),
            key,
            path: path.to_owned(),
            headers,
        }
    }

    /// Persists the socket with `last_received` as the last message handled
    /// (and the socket's current send index).
    pub(super) async fn save(
        &self,
        ws: &WebSocket,
        last_received: MessageIndex,
    ) -> Result<(), Error> {
        let next_sent = ws.indices().await.map_or(0, |i| i.next_sent_index);
        let record = Record {
            gateway_id: hex(&self.key.gateway_id.0),
            request_id: hex(&self.key.request_id.0),
            last_received_index: last_received,
            next_sent_index: next_sent,
            path: self.path.clone(),
            headers: self.headers.0.clone(),
        };
        let value = serde_json::to_vec(&record).expect("a record serialises");
        self.actor.kv_put([(record_key(self.key), value)]).await
    }

    /// Deletes the record: the socket is closed for good.
    pub(super) async fn forget(&self) {
        if let Err(err) = self.actor.kv_delete([record_key(self.key)]).await {
            tracing::warn!(key = %self.key, %err, "socket record not deleted");
        }
    }
}

/// Serialises the message handling of each actor generation's `/hws`
/// sockets with its stop, so that a message whose echo left is persisted
/// and acknowledged before the actor stops (else the gateway would replay it
/// after the wake, and the client would see it twice).
#[derive(Debug, Default)]
pub(super) struct InFlight {
    gates: Mutex<HashMap<ActorRef, Arc<futures::lock::Mutex<()>>>>,
}

impl InFlight {
    /// The gate to hold while handling one message of `actor`.
    pub(super) fn gate(&self, actor: &ActorRef) -> Arc<futures::lock::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(actor.clone()).or_default().clone()
    }

    /// Waits until no message of `actor` is being handled, and forgets it.
    pub(super) async fn drain(&self, actor: &ActorRef) {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
            gates.remove(actor)
        };
        if let Some(gate) = gate {
            drop(gate.lock().await);
        }
    }
}

fn record_key(key: RequestKey) -> Bytes {
    format!(
        "{PREFIX}{}{}",
        hex(&key.gateway_id.0),
        hex(&key.request_id.0)
    )
    .into()
}

fn hex(bytes: &[u8; 4]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    if text.len() != 8 || !text.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn records_round_trip() {
        let record = Record {
            gateway_id: hex(&[0, 1, 0xab, 0xff]),
            request_id: hex(&[9, 8, 7, 6]),
            last_received_index: 3,
            next_sent_index: 5,
            path: "/hws".into(),
            headers: vec![("x-a".into(), "1".into())],
        };
        let json = serde_json::to_vec(&record).unwrap();
        let socket = serde_json::from_slice::<Record>(&json)
            .unwrap()
            .into_socket()
            .unwrap();
        assert_eq!(socket.key.gateway_id.0, [0, 1, 0xab, 0xff]);
        assert_eq!(socket.key.request_id.0, [9, 8, 7, 6]);
        assert_eq!((socket.last_received_index, socket.next_sent_index), (3, 5));
        assert_eq!(socket.headers.get("x-a").map(String::as_str), Some("1"));
        assert_eq!(&record_key(socket.key)[..], b"hws/0001abff09080706");
    }

    #[test]
    fn bad_hex_is_refused() {
        for text in ["", "0001abf", "0001abfg", "0001abffff", "é001abf"] {
            assert_eq!(from_hex(text), None, "{text}");
        }
    }
}
