//! Redaction: bodies, KV values and header values replaced by placeholders
//! of the same length (zero bytes, `*` characters), so a recording can be
//! shared. Header names, paths, KV keys, actor ids and lengths are kept: the
//! core's behaviour depends on them, never on the redacted contents, so a
//! redacted recording still replays step for step.

use std::borrow::Cow;

use bytes::Bytes;

use crate::protocol::{
    BareMap, KvRequestData, KvResponseData, ProtocolVersion, ToClient, ToClientTunnelMessageKind,
    ToServer, ToServerTunnelMessageKind, decode_to_client, encode_to_client,
};
use crate::runner::Input;

fn blank(bytes: &mut Bytes) {
    if !bytes.is_empty() {
        *bytes = Bytes::from(vec![0; bytes.len()]);
    }
}

fn blank_values(headers: &mut BareMap<String>) {
    for (_, value) in &mut headers.0 {
        *value = "*".repeat(value.len());
    }
}

/// Redacts a message from the engine in place.
pub(crate) fn to_client(message: &mut ToClient) {
    match message {
        ToClient::TunnelMessage(tunnel) => tunnel_to_client(&mut tunnel.message_kind),
        ToClient::KvResponse(response) => match &mut response.data {
            KvResponseData::Get(get) => get.values.iter_mut().for_each(blank),
            KvResponseData::List(list) => list.values.iter_mut().for_each(blank),
            _ => {}
        },
        _ => {}
    }
}

/// Redacts a message to the engine in place.
pub(crate) fn to_server(message: &mut ToServer) {
    match message {
        ToServer::TunnelMessage(tunnel) => tunnel_to_server(&mut tunnel.message_kind),
        ToServer::KvRequest(request) => kv_request(&mut request.data),
        _ => {}
    }
}

/// Redacts a gateway message in place.
pub(crate) fn tunnel_to_client(kind: &mut ToClientTunnelMessageKind) {
    match kind {
        ToClientTunnelMessageKind::RequestStart(start) => {
            blank_values(&mut start.headers);
            if let Some(body) = &mut start.body {
                blank(body);
            }
        }
        ToClientTunnelMessageKind::RequestChunk(chunk) => blank(&mut chunk.body),
        ToClientTunnelMessageKind::WebSocketOpen(open) => blank_values(&mut open.headers),
        ToClientTunnelMessageKind::WebSocketMessage(message) => blank(&mut message.data),
        _ => {}
    }
}

/// Redacts a message to the gateway in place.
pub(crate) fn tunnel_to_server(kind: &mut ToServerTunnelMessageKind) {
    match kind {
        ToServerTunnelMessageKind::ResponseStart(start) => {
            blank_values(&mut start.headers);
            if let Some(body) = &mut start.body {
                blank(body);
            }
        }
        ToServerTunnelMessageKind::ResponseChunk(chunk) => blank(&mut chunk.body),
        ToServerTunnelMessageKind::WebSocketMessage(message) => blank(&mut message.data),
        _ => {}
    }
}

/// Redacts a KV request's values in place.
pub(crate) fn kv_request(data: &mut KvRequestData) {
    if let KvRequestData::Put(put) = data {
        put.values.iter_mut().for_each(blank);
    }
}

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
