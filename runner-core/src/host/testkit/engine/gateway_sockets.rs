//! The gateway's side of the WebSockets a test opened: which actor each
//! belongs to, what arrived from the runner, and — for a hibernatable one
//! — what the client sent that the runner has not acknowledged. Such a
//! socket outlives its actor's sleep: the next start lists it in
//! `hibernatingRequests`, and once that start has returned the
//! unacknowledged messages are sent again with their original indices
//! (spec §6.5), as the real gateway does.

use std::collections::VecDeque;

use super::{Engine, Phase};
use crate::RequestKey;
use crate::protocol::{
    HibernatingRequest, MessageIndex, ToClientTunnelMessageKind, ToServerWebSocketClose,
    WebSocketMessage,
};

/// A WebSocket the test opened, from the engine's side.
#[derive(Debug, Default)]
pub(in crate::host::testkit) struct SocketState {
    /// The actor it was opened to.
    pub(in crate::host::testkit) actor_id: String,
    /// `Some(true)` once the actor accepted it, `Some(false)` if refused.
    pub(in crate::host::testkit) accepted: Option<bool>,
    /// The actor accepted it as hibernatable.
    hibernatable: bool,
    pub(in crate::host::testkit) inbox: VecDeque<crate::host::Message>,
    pub(in crate::host::testkit) closed: Option<(Option<u16>, Option<String>)>,
    pub(in crate::host::testkit) next_index: MessageIndex,
    /// What the client sent and the runner has not acknowledged (for a
    /// hibernatable socket), oldest first, with its index.
    unacked: VecDeque<(MessageIndex, ToClientTunnelMessageKind)>,
}

impl SocketState {
    /// A socket the test is opening to actor `id`.
    pub(in crate::host::testkit) fn opened_to(id: &str) -> Self {
        SocketState {
            actor_id: id.to_owned(),
            ..SocketState::default()
        }
    }
}

impl Engine {
    /// The client sends `kind`, numbered `index`. A message to an actor
    /// that sleeps, or is going to sleep, wakes it and reaches it after the
    /// wake; a hibernatable socket's messages are kept until acknowledged
    /// (a close, which is not acknowledged, until it is delivered).
    pub(in crate::host::testkit) fn client_sends(
        &mut self,
        key: RequestKey,
        index: MessageIndex,
        kind: ToClientTunnelMessageKind,
    ) {
        let Some(socket) = self.sockets.get_mut(&key) else {
            return;
        };
        if socket.hibernatable {
            socket.unacked.push_back((index, kind.clone()));
        }
        let id = socket.actor_id.clone();
        let awake = self
            .actors
            .get(&id)
            .is_none_or(|a| matches!(a.phase, Phase::Starting | Phase::Running) && !a.asleep);
        if awake || !self.sockets[&key].hibernatable {
            self.send_tunnel(key, index, kind);
            return;
        }
        self.wake_for_socket(&id);
    }

    /// Wakes `id` for a hibernated socket's message: at once if it sleeps,
    /// when its stop is done if it is stopping.
    fn wake_for_socket(&mut self, id: &str) {
        let Some(actor) = self.actors.get_mut(id) else {
            return;
        };
        match actor.phase {
            Phase::Stopped if actor.asleep => {
                let (config, generation) = (actor.config.clone(), actor.generation + 1);
                self.start(id, config, generation);
            }
            Phase::Stopped => {}
            _ => actor.wake_when_stopped = true,
        }
    }

    /// `id` has stopped: a hibernated socket's message that came while it
    /// was stopping wakes it now.
    pub(in crate::host::testkit) fn wake_if_asked(&mut self, id: &str) {
        let Some(actor) = self.actors.get_mut(id) else {
            return;
        };
        if actor.phase == Phase::Stopped
            && actor.asleep
            && std::mem::take(&mut actor.wake_when_stopped)
        {
            let (config, generation) = (actor.config.clone(), actor.generation + 1);
            self.start(id, config, generation);
        }
    }

    /// The runner accepted, refused or closed a socket, or sent on it.
    pub(in crate::host::testkit) fn on_socket_open(
        &mut self,
        key: RequestKey,
        can_hibernate: bool,
    ) {
        let socket = self.sockets.entry(key).or_default();
        socket.accepted = Some(true);
        socket.hibernatable = can_hibernate;
    }

    pub(in crate::host::testkit) fn on_socket_message(
        &mut self,
        key: RequestKey,
        message: WebSocketMessage,
    ) {
        let socket = self.sockets.entry(key).or_default();
        let message = if message.binary {
            crate::host::Message::Binary(message.data)
        } else {
            crate::host::Message::Text(String::from_utf8_lossy(&message.data).into_owned())
        };
        socket.inbox.push_back(message);
    }

    /// Forgets the messages up to `index` (wrapping, as the gateway does).
    pub(in crate::host::testkit) fn on_socket_ack(&mut self, key: RequestKey, index: MessageIndex) {
        if let Some(socket) = self.sockets.get_mut(&key) {
            socket
                .unacked
                .retain(|(i, _)| (index.wrapping_sub(*i) as i16) < 0);
        }
    }

    pub(in crate::host::testkit) fn on_socket_close(
        &mut self,
        key: RequestKey,
        close: ToServerWebSocketClose,
    ) {
        let socket = self.sockets.entry(key).or_default();
        socket.accepted.get_or_insert(false);
        socket.closed = Some((close.code, close.reason));
    }

    /// The hibernatable sockets of `id` the gateway still holds: a start
    /// lists them for the runner to restore.
    pub(in crate::host::testkit) fn hibernating(&self, id: &str) -> Vec<HibernatingRequest> {
        let mut held: Vec<HibernatingRequest> = self
            .sockets
            .iter()
            .filter(|(_, s)| s.actor_id == id && s.hibernatable && s.closed.is_none())
            .map(|(key, _)| HibernatingRequest {
                gateway_id: key.gateway_id,
                request_id: key.request_id,
            })
            .collect();
        held.sort_by_key(|r| (r.gateway_id.0, r.request_id.0));
        held
    }

    /// `id`'s start returned: the runner restored its hibernated sockets,
    /// so what they were sent and did not acknowledge goes again.
    pub(in crate::host::testkit) fn resend_unacked(&mut self, id: &str) {
        let mut again = Vec::new();
        for (key, socket) in &mut self.sockets {
            if socket.actor_id == id && socket.hibernatable && socket.closed.is_none() {
                // A close is delivered once; messages stay until acked.
                let unacked: Vec<_> = socket.unacked.iter().cloned().collect();
                socket.unacked.retain(|(_, kind)| {
                    !matches!(kind, ToClientTunnelMessageKind::WebSocketClose(_))
                });
                again.extend(unacked.into_iter().map(|(i, kind)| (*key, i, kind)));
            }
        }
        for (key, index, kind) in again {
            self.send_tunnel(key, index, kind);
        }
    }

    fn send_tunnel(
        &mut self,
        key: RequestKey,
        index: MessageIndex,
        kind: ToClientTunnelMessageKind,
    ) {
        self.send(&crate::testing::tunnel_message(key, index, kind));
    }
}
