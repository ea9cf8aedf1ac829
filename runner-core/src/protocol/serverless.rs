//! The serverless init packet a runner hands to the engine's serverless pool.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use super::codec::{DecodeError, decode_to_serverless_server, encode_to_serverless_server};
use super::messages::{ToServerlessServer, ToServerlessServerInit};
use super::{Id, ProtocolVersion};

/// Builds the serverless init packet: base64 (standard, padded) of the `u16`
/// little-endian protocol version followed by `ToServerlessServerInit`.
///
/// ```
/// use runner_core::protocol::{serverless_init_packet, ProtocolVersion};
/// assert_eq!(serverless_init_packet(ProtocolVersion::V5, "R"), "BQAAAVIFAA==");
/// ```
pub fn serverless_init_packet(version: ProtocolVersion, runner_id: &str) -> String {
    let msg = ToServerlessServer::Init(ToServerlessServerInit {
        runner_id: Id::from(runner_id),
        runner_protocol_version: version.number(),
    });
    let mut bytes = version.number().to_le_bytes().to_vec();
    bytes.extend_from_slice(&encode_to_serverless_server(&msg));
    STANDARD.encode(bytes)
}

/// Why a serverless init packet could not be read.
///
/// # Examples
///
/// ```
/// use runner_core::protocol::{ServerlessPacketError, parse_serverless_init_packet};
///
/// let parse = parse_serverless_init_packet;
/// assert_eq!(parse("not base64!"), Err(ServerlessPacketError::Base64));
/// assert_eq!(parse("BQ=="), Err(ServerlessPacketError::MissingVersion)); // one byte
/// // The version prefix alone: the message after it is missing.
/// assert!(matches!(parse("BQA="), Err(ServerlessPacketError::Decode(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ServerlessPacketError {
    /// Not valid base64.
    #[error("serverless init packet is not valid base64")]
    Base64,
    /// Shorter than the two-byte version prefix.
    #[error("serverless init packet has no version prefix")]
    MissingVersion,
    /// The message after the prefix does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Reads a serverless init packet back: the embedded version and the message.
///
/// ```
/// use runner_core::protocol::{parse_serverless_init_packet, ToServerlessServer};
/// let (version, ToServerlessServer::Init(init)) = parse_serverless_init_packet("BQAAAVIFAA==").unwrap();
/// assert_eq!((version, &*init.runner_id), (5, "R"));
/// ```
pub fn parse_serverless_init_packet(
    packet: &str,
) -> Result<(u16, ToServerlessServer), ServerlessPacketError> {
    let bytes = STANDARD
        .decode(packet)
        .map_err(|_| ServerlessPacketError::Base64)?;
    let (prefix, rest) = bytes
        .split_first_chunk::<2>()
        .ok_or(ServerlessPacketError::MissingVersion)?;
    Ok((
        u16::from_le_bytes(*prefix),
        decode_to_serverless_server(rest)?,
    ))
}
