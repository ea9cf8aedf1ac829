//! Property tests of the codec, for every protocol version and both
//! directions: round trips, arbitrary and mutated input, truncation.

use proptest::collection::vec;
use proptest::prelude::*;
use runner_core::protocol::*;
use tests::strategies::{protocol_version, versioned_to_client, versioned_to_server};

/// Enough cases to hit every variant of every union many times, few enough
/// that the whole file runs in a few seconds unoptimised.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

fn server_bytes(version: ProtocolVersion, msg: &ToServer) -> Vec<u8> {
    encode_to_server(version, msg).expect("strategies only make encodable messages")
}

fn client_bytes(version: ProtocolVersion, msg: &ToClient) -> Vec<u8> {
    encode_to_client(version, msg).expect("strategies only make encodable messages")
}

/// Whatever `bytes` are, decoding returns (no panic); when it succeeds, the
/// value re-encodes, and that encoding decodes to the same value again.
fn decode_any(version: ProtocolVersion, bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(msg) = decode_to_server(version, bytes) {
        let again = server_bytes(version, &msg);
        prop_assert_eq!(decode_to_server(version, &again), Ok(msg));
    }
    if let Ok(msg) = decode_to_client(version, bytes) {
        let again = client_bytes(version, &msg);
        prop_assert_eq!(decode_to_client(version, &again), Ok(msg));
    }
    Ok(())
}

/// Every strict prefix of a valid encoding is an early end of input, reported
/// at a place inside the prefix.
fn every_prefix_is_eof<T: std::fmt::Debug>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<(), TestCaseError> {
    for cut in 0..bytes.len() {
        match decode(&bytes[..cut]) {
            Err(DecodeError::UnexpectedEof { len, offset, .. }) => {
                prop_assert_eq!(len, cut);
                prop_assert!(
                    offset <= cut,
                    "offset {} past the {} bytes given",
                    offset,
                    cut
                );
            }
            other => prop_assert!(
                false,
                "prefix of {} of {} bytes gave {:?}",
                cut,
                bytes.len(),
                other
            ),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn to_server_round_trips((version, msg) in versioned_to_server()) {
        let bytes = server_bytes(version, &msg);
        prop_assert_eq!(decode_to_server(version, &bytes), Ok(msg));
    }

    #[test]
    fn to_client_round_trips((version, msg) in versioned_to_client()) {
        let bytes = client_bytes(version, &msg);
        prop_assert_eq!(decode_to_client(version, &bytes), Ok(msg));
    }

    #[test]
    fn encode_into_appends_the_same_bytes(
        (version, msg) in versioned_to_server(),
        prefix in vec(any::<u8>(), 0..8),
    ) {
        let mut out = prefix.clone();
        encode_to_server_into(version, &msg, &mut out).unwrap();
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&out[prefix.len()..], &server_bytes(version, &msg)[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(version in protocol_version(), bytes in vec(any::<u8>(), 0..96)) {
        decode_any(version, &bytes)?;
    }

    #[test]
    fn mutated_to_server_never_panics(
        (version, msg) in versioned_to_server(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        decode_any(version, &mutate(server_bytes(version, &msg), &edits))?;
    }

    #[test]
    fn mutated_to_client_never_panics(
        (version, msg) in versioned_to_client(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        decode_any(version, &mutate(client_bytes(version, &msg), &edits))?;
    }

    #[test]
    fn truncated_to_server_is_an_error((version, msg) in versioned_to_server()) {
        every_prefix_is_eof(&server_bytes(version, &msg), |b| decode_to_server(version, b))?;
    }

    #[test]
    fn truncated_to_client_is_an_error((version, msg) in versioned_to_client()) {
        every_prefix_is_eof(&client_bytes(version, &msg), |b| decode_to_client(version, b))?;
    }

    #[test]
    fn trailing_bytes_are_rejected(
        (version, msg) in versioned_to_server(),
        extra in vec(any::<u8>(), 1..8),
    ) {
        let mut bytes = server_bytes(version, &msg);
        let end = bytes.len();
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(
            decode_to_server(version, &bytes),
            Err(DecodeError::TrailingBytes { message: "ToServer", offset: end, trailing: extra.len() })
        );
    }
}

/// Overwrites a few bytes of `bytes` (a valid encoding), so that decoding gets
/// deep into the message before it meets something unexpected.
fn mutate(mut bytes: Vec<u8>, edits: &[(prop::sample::Index, u8)]) -> Vec<u8> {
    for (at, byte) in edits {
        let i = at.index(bytes.len());
        bytes[i] = *byte;
    }
    bytes
}

#[test]
fn delete_range_is_refused_before_v7() {
    let msg = ToServer::KvRequest(ToServerKvRequest {
        actor_id: "A".into(),
        request_id: 1,
        data: KvRequestData::DeleteRange(KvDeleteRangeRequest {
            start: "a".into(),
            end: "b".into(),
        }),
    });
    for version in [ProtocolVersion::V5, ProtocolVersion::V6] {
        assert!(matches!(
            encode_to_server(version, &msg),
            Err(EncodeError::NotInVersion { .. })
        ));
    }
    assert!(encode_to_server(ProtocolVersion::V7, &msg).is_ok());
}
