//! What a KV call ends with: a response or an error.

use bytes::Bytes;
use thiserror::Error;

/// A successful KV answer.
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, Event, KvResponse, Timestamp, Transmit};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # let actor = testing::started_actor(&mut runner, conn, "A")?;
/// let keys = vec!["a".into(), "b".into()];
/// let id = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Get(KvGetRequest { keys }))?;
/// # let Some(ToServer::KvRequest(request)) = testing::sent(&mut runner)?.pop() else { unreachable!() };
/// // The engine answers with the keys it found...
/// let found = KvGetResponse { keys: vec!["a".into()], values: vec!["1".into()], metadata: vec![] };
/// let data = KvResponseData::Get(found);
/// let answer = ToClient::KvResponse(ToClientKvResponse { request_id: request.request_id, data });
/// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &answer)?);
/// // ...and the result has one entry per requested key, in request order.
/// let values = KvResponse::Values(vec![Some("1".into()), None]);
/// assert_eq!(runner.poll_event(), Some(Event::KvResult { id, result: Ok(values) }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvResponse {
    /// Get: one entry per requested key, in request order; `None` if absent.
    Values(Vec<Option<Bytes>>),
    /// List: key/value pairs in the order the engine returned them.
    Entries(Vec<(Bytes, Bytes)>),
    /// Put, delete, delete-range or drop done.
    Done,
}

/// Why a KV call failed.
///
/// # Examples
///
/// ```
/// # use runner_core::protocol::*;
/// # use runner_core::{testing, Event, KvError, KvResponse, Timestamp, Transmit};
/// # let (mut runner, conn) = testing::connected(testing::config())?;
/// # let actor = testing::started_actor(&mut runner, conn, "A")?;
/// let id = runner.kv(Timestamp::ZERO, &actor, KvRequestData::Drop)?;
/// # let Some(ToServer::KvRequest(request)) = testing::sent(&mut runner)?.pop() else { unreachable!() };
/// let data = KvResponseData::Error(KvErrorResponse { message: "quota exceeded".into() });
/// let answer = ToClient::KvResponse(ToClientKvResponse { request_id: request.request_id, data });
/// runner.handle_frame(Timestamp::ZERO, conn, &encode_to_client(ProtocolVersion::V5, &answer)?);
/// let Some(Event::KvResult { id: failed, result: Err(error) }) = runner.poll_event() else { panic!() };
/// assert_eq!(failed, id);
/// assert_eq!(error, KvError::Engine("quota exceeded".into()));
/// assert_eq!(error.to_string(), "engine KV error: quota exceeded");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KvError {
    /// The engine refused the request.
    #[error("engine KV error: {0}")]
    Engine(String),
    /// No answer within the KV timeout.
    #[error("KV request timed out")]
    TimedOut,
    /// The runner shut down before the answer came.
    #[error("runner shut down")]
    Shutdown,
    /// The engine stayed unreachable past the runner-lost threshold.
    #[error("runner lost its connection to the engine")]
    RunnerLost,
    /// The answer did not fit the request.
    #[error("malformed KV response: {0}")]
    Malformed(&'static str),
}

/// The texts of the [`KvError::Malformed`] answers the core gives, listed
/// so that a snapshot can read one back as the `&'static str` it holds.
pub(crate) const KV_MALFORMED: [&str; 3] = [MALFORMED_KIND, MALFORMED_GET, MALFORMED_LIST];
pub(crate) const MALFORMED_KIND: &str = "response kind does not match the request";
pub(crate) const MALFORMED_GET: &str = "get response has unequal key and value counts";
pub(crate) const MALFORMED_LIST: &str = "list response has unequal key and value counts";
