//! Redacting a recorded input (see `crate::encoding::redact` for the
//! messages and values it shares with the snapshot).

use std::borrow::Cow;

use crate::encoding::redact::{blank, blank_values, kv_request, to_client};
use crate::protocol::{ProtocolVersion, decode_to_client, encode_to_client};
use crate::runner::Input;

/// The redacted copy of an input, or `None` when it carries nothing to
/// redact (then the input itself is recorded, without a copy). A frame that
/// does not decode is kept as it is: its bytes are what the core choked on.
pub(crate) fn input(version: ProtocolVersion, input: &Input<'_>) -> Option<Input<'static>> {
    Some(match input {
        Input::Frame { conn, frame } => {
            let mut message = decode_to_client(version, frame).ok()?;
            to_client(&mut message);
            let encoded = encode_to_client(version, &message).ok()?;
            Input::Frame {
                conn: *conn,
                frame: Cow::Owned(encoded),
            }
        }
        Input::Respond { key, response } => {
            let mut response = response.clone();
            blank_values(&mut response.headers);
            blank(&mut response.body);
            Input::Respond {
                key: *key,
                response,
            }
        }
        Input::WebSocketSend { key, data, binary } => {
            let mut data = data.clone();
            blank(&mut data);
            Input::WebSocketSend {
                key: *key,
                data,
                binary: *binary,
            }
        }
        Input::Kv { actor, data } => {
            let mut data = data.clone();
            kv_request(&mut data);
            Input::Kv {
                actor: Cow::Owned(actor.clone().into_owned()),
                data,
            }
        }
        Input::RestoreWebSockets { actor, persisted } => {
            let mut persisted = persisted.clone();
            for socket in &mut persisted {
                blank_values(&mut socket.headers);
            }
            Input::RestoreWebSockets {
                actor: Cow::Owned(actor.clone().into_owned()),
                persisted,
            }
        }
        _ => return None,
    })
}
