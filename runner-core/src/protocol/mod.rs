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
pub type Id = Arc<str>;

/// A runner protocol version this crate speaks.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("runner protocol version {0} is not supported (supported: 5, 6, 7)")]
pub struct UnsupportedVersion(pub u16);

impl ProtocolVersion {
    /// Every supported version, oldest first.
    pub const ALL: [ProtocolVersion; 3] = [Self::V5, Self::V6, Self::V7];
    /// The newest supported version.
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
    pub fn number(self) -> u16 {
        match self {
            Self::V5 => 5,
            Self::V6 => 6,
            Self::V7 => 7,
        }
    }

    /// Whether KV delete-range exists in this version.
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
