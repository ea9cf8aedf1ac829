//! Hibernatable WebSockets across actor restarts.
//!
//! The start command lists the sockets the gateway kept while the actor was
//! away. They are registered at once (held, like everything for a starting
//! actor), so messages the gateway replays for them wait in the inbox. The
//! user hands back what they persisted with [`Runner::restore_websockets`]:
//! matching sockets are open again without an open event, their last
//! persisted index is acknowledged at once (so the gateway stops replaying
//! it), and replayed messages at or before that index are dropped when the
//! inbox is released. Listed sockets nobody persisted are closed; persisted
//! ones the gateway no longer has are reported stale for the user to delete.
//!
//! The engine (2.3.19) resumes each socket some time after the actor reports
//! running and drops what the runner sends on it before then, the restore's
//! acknowledgement included; so the replays it sends as it resumes are
//! acknowledged again when they are dropped as duplicates.

use std::borrow::Cow;
use std::collections::HashSet;

use super::{EntryKind, reasons};
use crate::Timestamp;
use crate::error::CallError;
use crate::ids::ActorRef;
use crate::ids::RequestKey;
use crate::protocol::{HibernatingRequest, ToServerTunnelMessageKind, ToServerWebSocketMessageAck};
use crate::runner::actor_table::Phase;
use crate::runner::{Input, Outcome, Runner};
use crate::tunnel::{HibernatedSocket, RestoreReport};

impl Runner {
    /// Registers the sockets a start command lists as hibernated.
    pub(in crate::runner) fn register_hibernating(
        &mut self,
        actor: &ActorRef,
        list: &[HibernatingRequest],
    ) {
        for request in list {
            let key = RequestKey::from(*request);
            if !self.tunnel.entries.contains_key(&key) {
                self.insert_entry(key, actor.clone(), true, EntryKind::WsHibernating);
            }
        }
    }

    /// Reconciles the sockets the gateway kept for a starting actor with what
    /// the user persisted. Call it once, while the actor is starting (before
    /// [`Runner::actor_started`]); sockets not restored by then are closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use runner_core::protocol::*;
    /// # use runner_core::{testing, ActorRef, CallError, HibernatedSocket, RequestKey, Timestamp};
    /// # let (mut runner, conn) = testing::connected(testing::config())?;
    /// # let held = HibernatingRequest { gateway_id: GatewayId([1; 4]), request_id: RequestId([7; 4]) };
    /// # testing::feed(&mut runner, conn, &testing::start_command("A", vec![held]))?;
    /// # let actor = ActorRef::new("A", 0);
    /// # testing::drain(&mut runner);
    /// // The start command listed `held`, which the user had persisted:
    /// let key = RequestKey::from(held);
    /// let persisted = HibernatedSocket {
    ///     key,
    ///     last_received_index: 4,
    ///     next_sent_index: 2,
    ///     path: "/ws".into(),
    ///     headers: BareMap::new(),
    /// };
    /// let report = runner.restore_websockets(Timestamp::ZERO, &actor, vec![persisted])?;
    /// assert_eq!(report.restored, [key]);
    /// runner.actor_started(Timestamp::ZERO, &actor, Ok(()))?;
    /// // Open again, without an open event; index 2 went to the acknowledgement of 4.
    /// runner.websocket_send(Timestamp::ZERO, key, "welcome back".into(), false)?;
    /// assert_eq!(runner.websocket_indices(key).map(|i| i.next_sent_index), Some(4));
    /// // Restoring happens once, before the start completes.
    /// let late = runner.restore_websockets(Timestamp::ZERO, &actor, vec![]);
    /// assert!(matches!(late, Err(CallError::WrongState { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore_websockets(
        &mut self,
        now: Timestamp,
        actor: &ActorRef,
        persisted: Vec<HibernatedSocket>,
    ) -> Result<RestoreReport, CallError> {
        let actor = Cow::Borrowed(actor);
        match self.step(now, Input::RestoreWebSockets { actor, persisted }) {
            Outcome::Restored(report) => report,
            other => unreachable!("restore_websockets gave {other:?}"),
        }
    }

    pub(in crate::runner) fn restore_inner(
        &mut self,
        actor: &ActorRef,
        persisted: Vec<HibernatedSocket>,
    ) -> Result<RestoreReport, CallError> {
        let record = self
            .record(actor)
            .ok_or_else(|| CallError::ActorNotFound(actor.clone()))?;
        let state = match &mut record.phase {
            Phase::Starting { restored, .. } if !*restored => {
                *restored = true;
                None
            }
            Phase::Starting { .. } => Some("already restored"),
            _ => Some("past its start"),
        };
        if let Some(state) = state {
            return Err(CallError::WrongState {
                actor: actor.clone(),
                state,
                call: "restore_websockets",
            });
        }
        let mut report = RestoreReport::default();
        let mut seen = HashSet::new();
        for socket in persisted {
            if !seen.insert(socket.key) {
                continue;
            }
            if self.restore_one(actor, &socket) {
                report.restored.push(socket.key);
            } else {
                report.stale.push(socket.key);
            }
        }
        report.closed = self.close_unrestored(actor);
        Ok(report)
    }

    fn restore_one(&mut self, actor: &ActorRef, socket: &HibernatedSocket) -> bool {
        let Some(entry) = self.tunnel.entries.get_mut(&socket.key) else {
            return false;
        };
        if entry.owner != *actor || entry.kind != EntryKind::WsHibernating {
            return false;
        }
        entry.kind = EntryKind::WsOpen {
            hibernatable: true,
            last_in: socket.last_received_index,
        };
        entry.next_out = socket.next_sent_index;
        // Acknowledge what was persisted: otherwise the gateway keeps
        // replaying it and times the socket out 30 s after the original send.
        let ack = ToServerWebSocketMessageAck {
            index: socket.last_received_index,
        };
        self.send_on_entry_system(
            socket.key,
            ToServerTunnelMessageKind::WebSocketMessageAck(ack),
        );
        true
    }

    /// Closes the actor's listed sockets that were not restored.
    pub(super) fn close_unrestored(&mut self, actor: &ActorRef) -> Vec<RequestKey> {
        let Some(record) = self.record(actor) else {
            return Vec::new();
        };
        let keys = record.tunnel.request_keys();
        let mut closed = Vec::new();
        for key in keys {
            if self
                .tunnel
                .entries
                .get(&key)
                .is_some_and(|e| e.kind == EntryKind::WsHibernating)
            {
                if let Some(entry) = self.remove_entry(key) {
                    self.send_close(key, entry.next_out, 1000, reasons::META_NOT_FOUND);
                    closed.push(key);
                }
            }
        }
        closed
    }
}
