//! The actor's WebSocket routes: `/ws` (echo) and `/hws` (the same echo on a
//! hibernatable socket, persisted in KV so that it survives sleep).

use runner_core::host::api::{
    ActorContext, CallError, CloseFrame, Error, Message, MessageIndex, WebSocket, WebSocketRequest,
};

use super::hibernation::{InFlight, SocketRecord};

/// Serves one WebSocket (a new one, or one restored after a wake).
pub(super) async fn serve(in_flight: &InFlight, actor: ActorContext, socket: WebSocketRequest) {
    let path = socket
        .path()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    match path.as_str() {
        "/ws" => echo(socket).await,
        "/hws" => hibernatable(in_flight, actor, socket).await,
        _ => {
            let _ = socket.reject(1011, "no such WebSocket route").await;
        }
    }
}

/// What became of the socket after a message.
enum Flow {
    Open,
    /// The client closed it, or asked us to (`close`).
    Closed,
}

/// Echoes one message; `close` closes the socket with 1000 `bye`, and a
/// message too large to go back through the tunnel closes it with 1009.
async fn answer(ws: &mut WebSocket, message: Message) -> Result<Flow, Error> {
    match message {
        Message::Close(_) => Ok(Flow::Closed),
        Message::Text(text) if text == "close" => close(ws, 1000, "bye").await,
        echo => match ws.send(echo).await {
            Ok(()) => Ok(Flow::Open),
            Err(Error::Call(CallError::PayloadTooLarge { .. })) => {
                close(ws, 1009, "message too big").await
            }
            Err(err) => Err(err),
        },
    }
}

async fn close(ws: &mut WebSocket, code: u16, reason: &str) -> Result<Flow, Error> {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    ws.send(Message::Close(Some(frame))).await?;
    Ok(Flow::Closed)
}

async fn echo(socket: WebSocketRequest) {
    let Ok(mut ws) = socket.accept(false).await else {
        return;
    };
    while let Some(message) = ws.recv().await {
        if !matches!(answer(&mut ws, message).await, Ok(Flow::Open)) {
            return;
        }
    }
}

/// The `/hws` echo. Each message is echoed, then persisted with its index,
/// then acknowledged; the record is deleted when the socket closes, and kept
/// when the actor stops (the gateway keeps the client connected and the next
/// start restores the socket).
async fn hibernatable(in_flight: &InFlight, actor: ActorContext, socket: WebSocketRequest) {
    let record = SocketRecord::new(&actor, socket.key(), socket.path(), socket.headers());
    let restored = socket.is_restored();
    let Ok(mut ws) = socket.accept(true).await else {
        return;
    };
    if !restored {
        if let Err(err) = record.save(&ws, 0).await {
            tracing::warn!(key = %ws.key(), %err, "socket record not saved");
        }
    }
    while let Some((message, index)) = ws.recv_indexed().await {
        let gate = in_flight.gate(actor.actor_ref());
        let _handling = gate.lock().await;
        match handle(&record, &mut ws, message, index).await {
            Ok(Flow::Open) => {}
            Ok(Flow::Closed) => return record.forget().await,
            // The actor is stopping: what was not persisted is replayed by
            // the gateway after the wake.
            Err(err) => return tracing::debug!(key = %ws.key(), %err, "socket handling ended"),
        }
    }
}

async fn handle(
    record: &SocketRecord,
    ws: &mut WebSocket,
    message: Message,
    index: MessageIndex,
) -> Result<Flow, Error> {
    let flow = answer(ws, message).await?;
    if let Flow::Open = flow {
        record.save(ws, index).await?;
        ws.ack(index).await?;
    }
    Ok(flow)
}
