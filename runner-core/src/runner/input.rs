//! [`Input`]: every input of the core as one value, and [`Outcome`], what
//! it returned. The public methods (`handle_frame`, `respond`, …) build one
//! and hand it to `Runner::step`, the funnel; the flight recorder
//! (`crate::recording`) writes exactly these values, and a replay feeds them
//! back through [`Runner::input`].

use std::borrow::Cow;

use bytes::Bytes;

use super::{Runner, ShutdownMode, TransportClose};
use crate::Timestamp;
use crate::error::CallError;
use crate::ids::{ActorRef, ConnId, KvRequestId, RequestKey};
use crate::protocol::{KvRequestData, MessageIndex};
use crate::tunnel::{HibernatedSocket, HttpResponse, RestoreReport};

/// One input of the core: a transport report, a timer tick or a user call,
/// with its arguments. Borrowed where the public method borrows, so building
/// one costs nothing.
///
/// # Examples
///
/// ```
/// use runner_core::{Config, Input, Outcome, Runner, Timestamp, Transmit};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// // The same as `runner.start(Timestamp::ZERO)`.
/// assert_eq!(runner.input(Timestamp::ZERO, Input::Start), Outcome::Done);
/// assert!(matches!(runner.poll_transmit(), Some(Transmit::Connect { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Input<'a> {
    /// [`Runner::start`].
    Start,
    /// [`Runner::handle_timeout`].
    Timeout,
    /// [`Runner::handle_connected`].
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// [`Runner::handle_frame`].
    Frame {
        /// The connection.
        conn: ConnId,
        /// The binary message.
        frame: Cow<'a, [u8]>,
    },
    /// [`Runner::handle_text_frame`].
    TextFrame {
        /// The connection.
        conn: ConnId,
    },
    /// [`Runner::handle_closed`].
    Closed {
        /// The connection.
        conn: ConnId,
        /// How it ended.
        close: TransportClose,
    },
    /// [`Runner::shutdown`].
    Shutdown {
        /// Graceful or immediate.
        mode: ShutdownMode,
    },
    /// [`Runner::actor_started`].
    ActorStarted {
        /// The actor.
        actor: Cow<'a, ActorRef>,
        /// The start callback's result.
        result: Result<(), String>,
    },
    /// [`Runner::actor_stopped`].
    ActorStopped {
        /// The actor.
        actor: Cow<'a, ActorRef>,
    },
    /// [`Runner::sleep_actor`].
    SleepActor {
        /// The actor.
        actor: Cow<'a, ActorRef>,
    },
    /// [`Runner::stop_actor`].
    StopActor {
        /// The actor.
        actor: Cow<'a, ActorRef>,
    },
    /// [`Runner::set_alarm`].
    SetAlarm {
        /// The actor.
        actor: Cow<'a, ActorRef>,
        /// Unix epoch ms, or `None` to clear.
        alarm_ts: Option<i64>,
    },
    /// [`Runner::crash_actor`].
    CrashActor {
        /// The actor.
        actor: Cow<'a, ActorRef>,
        /// Why it crashed.
        message: String,
    },
    /// [`Runner::kv`].
    Kv {
        /// The actor.
        actor: Cow<'a, ActorRef>,
        /// The request.
        data: KvRequestData,
    },
    /// [`Runner::cancel_kv`].
    CancelKv {
        /// The call.
        id: KvRequestId,
    },
    /// [`Runner::websocket_accept`].
    WebSocketAccept {
        /// The socket.
        key: RequestKey,
        /// Whether it survives the actor's sleep.
        can_hibernate: bool,
    },
    /// [`Runner::websocket_reject`].
    WebSocketReject {
        /// The socket.
        key: RequestKey,
        /// Close code.
        code: u16,
        /// Close reason.
        reason: Cow<'a, str>,
    },
    /// [`Runner::websocket_send`].
    WebSocketSend {
        /// The socket.
        key: RequestKey,
        /// The message.
        data: Bytes,
        /// Binary or text.
        binary: bool,
    },
    /// [`Runner::websocket_close`].
    WebSocketClose {
        /// The socket.
        key: RequestKey,
        /// Close code.
        code: Option<u16>,
        /// Close reason.
        reason: Option<Cow<'a, str>>,
    },
    /// [`Runner::websocket_ack`].
    WebSocketAck {
        /// The socket.
        key: RequestKey,
        /// Last message index persisted.
        index: MessageIndex,
    },
    /// [`Runner::respond`].
    Respond {
        /// The request.
        key: RequestKey,
        /// The answer.
        response: HttpResponse,
    },
    /// [`Runner::abort_request`].
    AbortRequest {
        /// The request.
        key: RequestKey,
    },
    /// [`Runner::restore_websockets`].
    RestoreWebSockets {
        /// The actor.
        actor: Cow<'a, ActorRef>,
        /// What the user persisted.
        persisted: Vec<HibernatedSocket>,
    },
}

/// What an [`Input`] returned: the return value of the matching method.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use runner_core::{ActorRef, CallError, Config, Input, Outcome, Runner, Timestamp};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// let actor = Cow::Owned(ActorRef::new("A", 0));
/// let outcome = runner.input(Timestamp::ZERO, Input::SleepActor { actor });
/// assert!(matches!(outcome, Outcome::Call(Err(CallError::ActorNotFound(_)))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The method returns nothing.
    Done,
    /// A user call returning `Result<(), CallError>`.
    Call(Result<(), CallError>),
    /// [`Runner::kv`]'s result.
    Kv(Result<KvRequestId, CallError>),
    /// [`Runner::cancel_kv`]'s result.
    Cancelled(bool),
    /// [`Runner::restore_websockets`]'s result.
    Restored(Result<RestoreReport, CallError>),
}

impl Outcome {
    /// The `Result<(), CallError>` of a plain user call. `apply` gives each
    /// input kind exactly one outcome kind (see the test below), so the
    /// other arms are unreachable.
    pub(super) fn into_call(self) -> Result<(), CallError> {
        match self {
            Outcome::Call(result) => result,
            other => unreachable!("a user call gave {other:?}"),
        }
    }
}

impl Runner {
    /// Applies one input at `now`: what every input method does, as a
    /// value. Replaying a recording is calling this with each recorded
    /// input in turn.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::{Config, Input, Outcome, Runner, ShutdownMode, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// let mode = ShutdownMode::Immediate;
    /// assert_eq!(runner.input(Timestamp::ZERO, Input::Shutdown { mode }), Outcome::Done);
    /// assert!(runner.is_shut_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn input(&mut self, now: Timestamp, input: Input<'_>) -> Outcome {
        self.step(now, input)
    }

    /// Dispatches one input to the submodule that handles it.
    pub(super) fn apply(&mut self, input: Input<'_>) -> Outcome {
        use Outcome::Call;
        let outcome = match input {
            Input::Start => {
                self.on_start();
                None
            }
            Input::Timeout => {
                self.run_timers();
                None
            }
            Input::Connected { conn } => {
                self.on_transport_open(conn);
                None
            }
            Input::Frame { conn, frame } => {
                self.on_frame(conn, &frame);
                None
            }
            Input::TextFrame { conn } => {
                self.on_text_frame(conn);
                None
            }
            Input::Closed { conn, close } => {
                self.on_transport_closed(conn, close);
                None
            }
            Input::Shutdown { mode } => {
                self.on_shutdown(mode);
                None
            }
            Input::ActorStarted { actor, result } => {
                Some(Call(self.on_actor_started(&actor, result)))
            }
            Input::ActorStopped { actor } => Some(Call(self.on_actor_stopped(&actor))),
            Input::SleepActor { actor } => Some(Call(self.user_intent(&actor, true))),
            Input::StopActor { actor } => Some(Call(self.user_intent(&actor, false))),
            Input::SetAlarm { actor, alarm_ts } => Some(Call(self.user_alarm(&actor, alarm_ts))),
            Input::CrashActor { actor, message } => {
                Some(Call(self.on_crash_actor(&actor, message)))
            }
            Input::Kv { actor, data } => Some(Outcome::Kv(self.start_kv(&actor, data))),
            Input::CancelKv { id } => Some(Outcome::Cancelled(self.abandon_kv(id))),
            Input::RestoreWebSockets { actor, persisted } => {
                Some(Outcome::Restored(self.restore_inner(&actor, persisted)))
            }
            tunnel => Some(Call(self.apply_tunnel_call(tunnel))),
        };
        outcome.unwrap_or(Outcome::Done)
    }

    /// The tunnel's user calls (answers and socket operations).
    fn apply_tunnel_call(&mut self, input: Input<'_>) -> Result<(), CallError> {
        match input {
            Input::WebSocketAccept { key, can_hibernate } => self.accept_inner(key, can_hibernate),
            Input::WebSocketReject { key, code, reason } => self.reject_inner(key, code, &reason),
            Input::WebSocketSend { key, data, binary } => self.send_inner(key, data, binary),
            Input::WebSocketClose { key, code, reason } => {
                self.close_socket_call(key, code, reason.as_deref())
            }
            Input::WebSocketAck { key, index } => self.ack_inner(key, index),
            Input::Respond { key, response } => self.respond_inner(key, response),
            Input::AbortRequest { key } => self.abort_inner(key),
            other => unreachable!("not a tunnel call: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    /// Every input kind gives the outcome kind its public method returns,
    /// so the extractors' unreachable arms are indeed unreachable.
    #[test]
    fn each_input_kind_has_its_outcome_kind() {
        let (mut runner, conn) = testing::connected(testing::config()).unwrap();
        let actor = || Cow::Owned(ActorRef::new("A", 0));
        let key = RequestKey::from_bytes([0; 8]);
        let now = Timestamp::ZERO;
        let plain = [
            Input::Start,
            Input::Timeout,
            Input::Connected { conn },
            Input::Frame {
                conn: ConnId(99),
                frame: Cow::Borrowed(b""),
            },
            Input::TextFrame { conn: ConnId(99) },
            Input::Closed {
                conn: ConnId(99),
                close: TransportClose::error("x"),
            },
        ];
        for input in plain {
            assert_eq!(runner.input(now, input), Outcome::Done);
        }
        let calls = [
            Input::ActorStarted {
                actor: actor(),
                result: Ok(()),
            },
            Input::ActorStopped { actor: actor() },
            Input::SleepActor { actor: actor() },
            Input::StopActor { actor: actor() },
            Input::SetAlarm {
                actor: actor(),
                alarm_ts: None,
            },
            Input::CrashActor {
                actor: actor(),
                message: "m".into(),
            },
            Input::WebSocketAccept {
                key,
                can_hibernate: false,
            },
            Input::WebSocketReject {
                key,
                code: 1000,
                reason: "r".into(),
            },
            Input::WebSocketSend {
                key,
                data: Bytes::new(),
                binary: true,
            },
            Input::WebSocketClose {
                key,
                code: None,
                reason: None,
            },
            Input::WebSocketAck { key, index: 0 },
            Input::Respond {
                key,
                response: HttpResponse::new(200),
            },
            Input::AbortRequest { key },
        ];
        for input in calls {
            assert!(matches!(runner.input(now, input), Outcome::Call(Err(_))));
        }
        let kv = Input::Kv {
            actor: actor(),
            data: KvRequestData::Drop,
        };
        assert!(matches!(runner.input(now, kv), Outcome::Kv(Err(_))));
        let cancel = Input::CancelKv { id: KvRequestId(7) };
        assert_eq!(runner.input(now, cancel), Outcome::Cancelled(false));
        let restore = Input::RestoreWebSockets {
            actor: actor(),
            persisted: vec![],
        };
        assert!(matches!(
            runner.input(now, restore),
            Outcome::Restored(Err(_))
        ));
        let shutdown = Input::Shutdown {
            mode: ShutdownMode::Immediate,
        };
        assert_eq!(runner.input(now, shutdown), Outcome::Done);
    }
}
