//! Redaction: bodies, KV values and header values replaced by placeholders
//! of the same length (zero bytes, `*` characters), so a recording or a
//! snapshot can be shared. Header names, paths, KV keys, actor ids and lengths are kept: the
//! core's behaviour depends on them, never on the redacted contents, so a
//! redacted recording still replays step for step.

use bytes::Bytes;

use crate::protocol::{
    BareMap, KvRequestData, KvResponseData, ToClient, ToClientTunnelMessageKind, ToServer,
    ToServerTunnelMessageKind,
};

pub(crate) fn blank(bytes: &mut Bytes) {
    if !bytes.is_empty() {
        *bytes = Bytes::from(vec![0; bytes.len()]);
    }
}

pub(crate) fn blank_values(headers: &mut BareMap<String>) {
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
