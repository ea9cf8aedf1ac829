//! The Rivet runner protocol, versions 5, 6 and 7, on the wire.
//!
//! One set of Rust types covers every supported version; the version is a
//! parameter of [`encode_to_server`], [`decode_to_client`] and friends. One
//! protocol message is one binary WebSocket message of plain BARE, with no
//! version prefix (the version is negotiated in the connection URL).
//!
//! ```
//! use runner_core::protocol::*;
//!
//! let version = ProtocolVersion::new(5).unwrap();
//! let init = ToServer::Init(ToServerInit {
//!     name: "r".into(),
//!     version: 1,
//!     total_slots: 1000,
//!     prepopulate_actor_names: None,
//!     metadata: None,
//! });
//! let bytes = encode_to_server(version, &init).unwrap();
//! assert_eq!(decode_to_server(version, &bytes).unwrap(), init);
//! assert!(ProtocolVersion::new(4).is_err());
//! ```

mod actor;
mod close_reason;
mod codec;
mod kv;
mod messages;
mod serverless;
mod tunnel;
mod versioned;
mod wire;

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

pub use actor::*;
pub use close_reason::CloseReason;
pub use codec::*;
pub use kv::*;
pub use messages::*;
pub use serverless::*;
pub use tunnel::*;
pub use wire::BareMap;

/// Actor and runner ids (`Id = str` in the schema); cheap to clone.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use runner_core::protocol::Id;
///
/// let id: Id = Id::from("actor-1");
/// let copy = id.clone(); // bumps a reference count, copies no text
/// assert!(Arc::ptr_eq(&id, &copy));
/// assert_eq!(&*copy, "actor-1");
/// ```
pub type Id = Arc<str>;

/// A runner protocol version this crate speaks.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::ProtocolVersion;
///
/// let version = ProtocolVersion::try_from(6)?;
/// assert_eq!(version, ProtocolVersion::V6);
/// assert_eq!(version.to_string(), "v6");
/// assert!(ProtocolVersion::V5 < version && version < ProtocolVersion::V7);
/// # Ok::<(), runner_core::protocol::UnsupportedVersion>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// v5: the version of `@rivetkit/engine-runner` 2.0.x.
    V5,
    /// v6: `ToClientInit` metadata gains stop threshold and drain grace period.
    V6,
    /// v7: KV delete-range.
    V7,
}

/// A version number this crate does not speak.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ProtocolVersion, UnsupportedVersion};
///
/// let err = ProtocolVersion::new(4).unwrap_err();
/// assert_eq!(err, UnsupportedVersion(4));
/// assert_eq!(
///     err.to_string(),
///     "runner protocol version 4 is not supported (supported: 5, 6, 7)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("runner protocol version {0} is not supported (supported: 5, 6, 7)")]
pub struct UnsupportedVersion(pub u16);

impl ProtocolVersion {
    /// Every supported version, oldest first.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::ProtocolVersion;
    ///
    /// assert_eq!(ProtocolVersion::ALL.map(ProtocolVersion::number), [5, 6, 7]);
    /// assert!(ProtocolVersion::ALL.is_sorted());
    /// ```
    pub const ALL: [ProtocolVersion; 3] = [Self::V5, Self::V6, Self::V7];
    /// The newest supported version.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::ProtocolVersion;
    ///
    /// assert_eq!(ProtocolVersion::ALL.last(), Some(&ProtocolVersion::LATEST));
    /// assert!(ProtocolVersion::ALL.iter().all(|&v| v <= ProtocolVersion::LATEST));
    /// ```
    pub const LATEST: ProtocolVersion = Self::V7;

    /// The version with this number.
    ///
    /// ```
    /// use runner_core::protocol::ProtocolVersion;
    /// assert_eq!(ProtocolVersion::new(7), Ok(ProtocolVersion::V7));
    /// assert!(ProtocolVersion::new(8).is_err());
    /// ```
    pub fn new(number: u16) -> Result<Self, UnsupportedVersion> {
        match number {
            5 => Ok(Self::V5),
            6 => Ok(Self::V6),
            7 => Ok(Self::V7),
            other => Err(UnsupportedVersion(other)),
        }
    }

    /// The version number, as sent in `protocol_version=`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::ProtocolVersion;
    ///
    /// let version = ProtocolVersion::V6;
    /// assert_eq!(version.number(), 6);
    /// assert_eq!(ProtocolVersion::new(version.number()), Ok(version));
    /// assert_eq!(
    ///     format!("protocol_version={}", version.number()),
    ///     "protocol_version=6"
    /// );
    /// ```
    pub fn number(self) -> u16 {
        match self {
            Self::V5 => 5,
            Self::V6 => 6,
            Self::V7 => 7,
        }
    }

    /// Whether KV delete-range exists in this version.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::*;
    ///
    /// assert!(!ProtocolVersion::V6.has_kv_delete_range());
    /// assert!(ProtocolVersion::V7.has_kv_delete_range());
    ///
    /// // The encoder refuses a delete-range where the version has none.
    /// let msg = ToServer::KvRequest(ToServerKvRequest {
    ///     actor_id: "actor".into(),
    ///     request_id: 1,
    ///     data: KvRequestData::DeleteRange(KvDeleteRangeRequest { start: "a".into(), end: "b".into() }),
    /// });
    /// for version in ProtocolVersion::ALL {
    ///     assert_eq!(encode_to_server(version, &msg).is_ok(), version.has_kv_delete_range());
    /// }
    /// ```
    pub fn has_kv_delete_range(self) -> bool {
        self >= Self::V7
    }
}

impl TryFrom<u16> for ProtocolVersion {
    type Error = UnsupportedVersion;
    fn try_from(number: u16) -> Result<Self, UnsupportedVersion> {
        Self::new(number)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}
