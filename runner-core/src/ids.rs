//! Identities: what inputs and outputs are about. A connection attempt, an
//! actor generation, a tunnelled request, a KV call. They are neither inputs
//! nor outputs themselves, so every other module can name them without
//! depending on the ones that produce them.

use std::fmt;

use crate::protocol::{GatewayId, HibernatingRequest, Id, RequestId};

/// Identifies one connection attempt. Every transport event the driver reports
/// carries the id of the [`Transmit::Connect`](crate::Transmit::Connect) it
/// belongs to, so the core can ignore events of connections it has already
/// given up on.
///
/// # Examples
///
/// ```
/// use runner_core::{Config, ConnId, Runner, Timestamp, Transmit};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start(Timestamp::ZERO);
/// let Some(Transmit::Connect { conn, .. }) = runner.poll_transmit() else { panic!() };
/// // A report about some other attempt is ignored...
/// runner.handle_connected(Timestamp::ZERO, ConnId(conn.0 + 1));
/// assert_eq!(runner.poll_transmit(), None);
/// // ...while the right one gets the runner's hello out.
/// runner.handle_connected(Timestamp::ZERO, conn);
/// assert!(matches!(runner.poll_transmit(), Some(Transmit::Frame(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// One generation of one actor: what every actor call is addressed to.
///
/// # Examples
///
/// ```
/// use runner_core::ActorRef;
///
/// let actor = ActorRef::new("A", 3);
/// assert_eq!((&*actor.actor_id, actor.generation), ("A", 3));
/// assert_eq!(format!("{actor:?}"), "A@3");
/// // Each restart is a new generation, and a different actor to address.
/// assert_ne!(actor, ActorRef::new("A", 4));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorRef {
    /// The actor id.
    pub actor_id: Id,
    /// The generation (increases each time the engine starts the actor again).
    pub generation: u32,
}

impl ActorRef {
    /// An actor reference.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::ActorRef;
    ///
    /// let actor = ActorRef::new("A", 0);
    /// assert_eq!(actor, ActorRef { actor_id: "A".into(), generation: 0 });
    /// ```
    pub fn new(actor_id: impl Into<Id>, generation: u32) -> Self {
        ActorRef {
            actor_id: actor_id.into(),
            generation,
        }
    }
}

impl fmt::Debug for ActorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.actor_id, self.generation)
    }
}

/// Identifies one tunnelled HTTP request or WebSocket: the gateway that holds
/// the client connection and the request id within that gateway.
///
/// # Examples
///
/// ```
/// use runner_core::RequestKey;
/// use runner_core::protocol::{GatewayId, HibernatingRequest, RequestId};
///
/// let key = RequestKey::new(GatewayId([0xab, 0, 0, 1]), RequestId([0, 0, 0, 7]));
/// assert_eq!(key.to_string(), "ab000001-00000007");
/// // A start command lists hibernated sockets by the same two halves.
/// let listed = HibernatingRequest { gateway_id: key.gateway_id, request_id: key.request_id };
/// assert_eq!(RequestKey::from(listed), key);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey {
    /// The gateway.
    pub gateway_id: GatewayId,
    /// The request within it.
    pub request_id: RequestId,
}

impl RequestKey {
    /// A key from its two halves.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::RequestKey;
    /// use runner_core::protocol::{GatewayId, RequestId};
    ///
    /// let key = RequestKey::new(GatewayId([1, 2, 3, 4]), RequestId([5, 6, 7, 8]));
    /// assert_eq!(key.gateway_id, GatewayId([1, 2, 3, 4]));
    /// assert_eq!(key.request_id, RequestId([5, 6, 7, 8]));
    /// // Request ids are only unique within their gateway.
    /// assert_ne!(key, RequestKey::new(GatewayId([9; 4]), key.request_id));
    /// ```
    pub fn new(gateway_id: GatewayId, request_id: RequestId) -> Self {
        RequestKey {
            gateway_id,
            request_id,
        }
    }
}

impl RequestKey {
    /// The 8 bytes of the key (gateway id, then request id), e.g. to persist it.
    ///
    /// ```
    /// use runner_core::{protocol::{GatewayId, RequestId}, RequestKey};
    /// let key = RequestKey::new(GatewayId([1, 2, 3, 4]), RequestId([5, 6, 7, 8]));
    /// assert_eq!(RequestKey::from_bytes(key.to_bytes()), key);
    /// assert_eq!(key.to_string(), "01020304-05060708");
    /// assert_eq!("01020304-05060708".parse::<RequestKey>(), Ok(key));
    /// ```
    pub fn to_bytes(self) -> [u8; 8] {
        let [a, b, c, d] = self.gateway_id.0;
        let [e, f, g, h] = self.request_id.0;
        [a, b, c, d, e, f, g, h]
    }

    /// The key of [`to_bytes`](Self::to_bytes)' output.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::RequestKey;
    /// use runner_core::protocol::{GatewayId, RequestId};
    ///
    /// let key = RequestKey::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
    /// assert_eq!(key, RequestKey::new(GatewayId([1, 2, 3, 4]), RequestId([5, 6, 7, 8])));
    /// assert_eq!(key.to_bytes(), [1, 2, 3, 4, 5, 6, 7, 8]);
    /// ```
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        let [a, b, c, d, e, f, g, h] = bytes;
        RequestKey::new(GatewayId([a, b, c, d]), RequestId([e, f, g, h]))
    }
}

/// A text that is not `gggggggg-rrrrrrrr` (hex).
///
/// # Examples
///
/// ```
/// use runner_core::{ParseRequestKeyError, RequestKey};
///
/// assert!("01020304-05060708".parse::<RequestKey>().is_ok());
/// for bad in ["0102030405060708", "0102030-405060708", "zz020304-05060708", ""] {
///     assert_eq!(bad.parse::<RequestKey>(), Err(ParseRequestKeyError));
/// }
/// assert_eq!(ParseRequestKeyError.to_string(), "a request key is written gggggggg-rrrrrrrr in hex");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a request key is written gggggggg-rrrrrrrr in hex")]
pub struct ParseRequestKeyError;

impl std::str::FromStr for RequestKey {
    type Err = ParseRequestKeyError;

    fn from_str(s: &str) -> Result<Self, ParseRequestKeyError> {
        let (gateway, request) = s.split_once('-').ok_or(ParseRequestKeyError)?;
        Ok(RequestKey::new(
            GatewayId(hex4(gateway)?),
            RequestId(hex4(request)?),
        ))
    }
}

fn hex4(s: &str) -> Result<[u8; 4], ParseRequestKeyError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseRequestKeyError);
    }
    let mut out = [0u8; 4];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = s.get(2 * i..2 * i + 2).ok_or(ParseRequestKeyError)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| ParseRequestKeyError)?;
    }
    Ok(out)
}

impl From<HibernatingRequest> for RequestKey {
    fn from(h: HibernatingRequest) -> Self {
        RequestKey::new(h.gateway_id, h.request_id)
    }
}

impl fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}-{:?}", self.gateway_id, self.request_id)
    }
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Identifies one KV call for the lifetime of the runner (never reused).
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, Event, KvResponse, Runner, Timestamp};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # let actor = testing::started_actor(&mut runner, conn, "A")?;
/// # let sent = |r: &mut Runner| testing::sent(r).unwrap();
/// let first = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
/// let second = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
/// assert_ne!(first, second);
/// # let wire: Vec<u32> = sent(&mut runner).into_iter().map(|m| match m { ToServer::KvRequest(k) => k.request_id, _ => unreachable!() }).collect();
/// // Answers may come in any order; each result carries the id of its call.
/// let answer = ToClient::KvResponse(ToClientKvResponse { request_id: wire[1], data: KvResponseData::Drop });
/// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &answer)?);
/// let done = Event::KvResult { id: second, result: Ok(KvResponse::Done) };
/// assert_eq!(runner.poll_event(), Some(done));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KvRequestId(pub u64);
