//! Tunnel invariants, checked on every input (issue 4, spec §5, §6, §10.8).
//!
//! Like the rest of the checker it only looks at the runner's boundary: the
//! tunnel messages it processes and sends, the events it emits, the user's
//! calls, and (per key) whether the runner still holds a request open.
//!
//! **Instances.** A request *instance* begins when the runner processes a
//! `ToClientRequestStart` (HTTP) or a `ToClientWebSocketOpen` for a key with
//! no live socket (a repeated open belongs to the live socket), or when a
//! start command lists a hibernated socket (the socket's instance resumes).
//! It ends exactly once, by the first of:
//!
//! 1. the runner's terminal message on the wire (`ResponseStart` or
//!    `ResponseAbort`; `WebSocketClose`), whether the user asked for it or
//!    the runner decided (actor stopped, limits);
//! 2. the gateway's end, once the runner processed it (`ToClientRequestAbort`,
//!    `ToClientWebSocketClose`);
//! 3. the runner dropping it with its connection (new runner id, shutdown
//!    complete): nothing goes on the wire.
//!
//! A socket whose actor stops while it is hibernatable is *suspended*, not
//! ended: the user is told `WebSocketHibernated` and the next start resumes
//! it.
//!
//! **Checked.** On the wire: runner → gateway indices per key start at 0 and
//! are consecutive across the `u16` wrap (a resumed socket, or one surviving
//! a runner-id change, may continue from any index: that is the user's
//! persisted state); nothing is sent for an instance after it ended; one
//! `ToServerWebSocketOpen` per open the gateway sent at most, none of the
//! socket's messages before it; never a `ResponseChunk` nor a streamed
//! response, `content-length` right, no payload over 20 MiB, close codes
//! sendable and reasons ≤ 123 bytes. For the user: at most one
//! `HttpRequest`/`WebSocketOpen` per instance, body chunks only until the
//! last, no event after the user's end, the user told at most once (and,
//! when the runner or the gateway ends a request the user holds, told in
//! the same input). In the runner: a request the user holds is open, one the
//! user or the wire ended is not (nothing leaks), the outbound buffer stays
//! within its bound and is empty while connected, and open requests stay
//! within the per-actor bound.

use std::collections::{BTreeMap, BTreeSet};

use crate::protocol::{
    ToClient, ToClientTunnelMessage, ToClientTunnelMessageKind, ToServerTunnelMessage,
    ToServerTunnelMessageKind,
};
use crate::{Event, Limits, RequestKey, RestoreReport, Runner};

/// The engine drops the whole runner connection past this payload size.
pub const ENGINE_MAX_PAYLOAD: usize = 20 * 1024 * 1024;

/// A user call on the tunnel that succeeded, for [`TunnelCheck::on_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelCall {
    /// `respond`.
    Respond,
    /// `abort_request`.
    AbortRequest,
    /// `websocket_accept`.
    Accept {
        /// Accepted as hibernatable.
        hibernatable: bool,
    },
    /// `websocket_reject`.
    Reject,
    /// `websocket_close`.
    Close,
    /// `websocket_send` or `websocket_ack`.
    Send,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Ws,
}

/// What the user knows of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserView {
    /// Not told (held for a starting actor, or refused at once).
    Unknown,
    /// HTTP request handed over.
    Known,
    /// Socket offered, not answered.
    Offered,
    /// Socket open (accepted or restored).
    Open { hibernatable: bool },
    /// Suspended: the actor stopped, the gateway keeps the client.
    Hibernated,
    /// Over for the user.
    Ended,
}

/// What the checker knows of one key.
#[derive(Debug, Clone)]
struct Track {
    kind: Kind,
    /// The instance has not ended (see the module documentation).
    open: bool,
    ended_by: &'static str,
    last_out: Option<u16>,
    /// The next index may be any (resumed socket, new runner id).
    resync: bool,
    opens_owed: u32,
    opened_on_wire: bool,
    user: UserView,
    body_finished: bool,
    /// An instance the user held was superseded by a repeated start: one
    /// `HttpRequestAborted` for it is due.
    superseded: bool,
    /// A hibernatable socket whose actor is away: the gateway keeps it, the
    /// runner does not, until a start lists it and the user restores it.
    suspended: bool,
    /// Ended during the current input: the input's events (drained after
    /// its transmits) may still introduce it to the user.
    ended_now: bool,
}

impl Track {
    fn new(kind: Kind) -> Self {
        Track {
            kind,
            open: true,
            ended_by: "",
            last_out: None,
            resync: false,
            opens_owed: 0,
            opened_on_wire: false,
            user: UserView::Unknown,
            body_finished: true,
            superseded: false,
            suspended: false,
            ended_now: false,
        }
    }

    fn end(&mut self, by: &'static str) {
        if self.open {
            self.open = false;
            self.ended_by = by;
            self.ended_now = true;
        }
    }

    /// Whether the user may be told of it now.
    fn introducible(&self, kind: Kind) -> bool {
        self.kind == kind && self.user == UserView::Unknown && (self.open || self.ended_now)
    }
}

/// Counts of what a run exercised, to check that a random run was not empty.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TunnelStats {
    /// HTTP instances begun.
    pub http: usize,
    /// Socket instances begun.
    pub sockets: usize,
    /// Sockets resumed by a start's listing.
    pub resumed: usize,
    /// Tunnel messages the runner sent.
    pub sent: usize,
    /// Instances the gateway ended.
    pub gateway_ends: usize,
    /// Instances the runner ended on the wire.
    pub runner_ends: usize,
}

/// The tunnel part of the invariant checker.
#[derive(Debug)]
pub struct TunnelCheck {
    limits: Limits,
    /// Follow each request's instances (the gateway follows the protocol);
    /// without, only what holds whatever the gateway sends is checked.
    per_request: bool,
    keys: BTreeMap<RequestKey, Track>,
    touched: BTreeSet<RequestKey>,
    stats: TunnelStats,
}

impl TunnelCheck {
    /// A checker for a runner with these limits, fed by a gateway that
    /// follows the protocol.
    pub fn new(limits: &Limits) -> Self {
        TunnelCheck {
            limits: limits.clone(),
            per_request: true,
            keys: BTreeMap::new(),
            touched: BTreeSet::new(),
            stats: TunnelStats::default(),
        }
    }

    /// A checker for a gateway that may send anything: the instance model
    /// above assumes a gateway that follows the protocol, so only the
    /// runner's payloads and bounds are checked.
    pub fn any_gateway(limits: &Limits) -> Self {
        TunnelCheck {
            per_request: false,
            ..TunnelCheck::new(limits)
        }
    }

    /// What the run exercised so far.
    pub fn stats(&self) -> TunnelStats {
        self.stats
    }

    /// Keys whose instance is still open (by the definition above) and not
    /// suspended in hibernation.
    pub fn open_instances(&self) -> Vec<RequestKey> {
        self.keys
            .iter()
            .filter(|(_, t)| t.open && !t.suspended)
            .map(|(k, _)| *k)
            .collect()
    }

    // ----- what the runner processes -------------------------------------

    /// The runner (in the state `runner` shows, just before) processes `msg`
    /// on its ready connection.
    pub fn on_delivery(&mut self, msg: &ToClient, runner: &Runner) {
        if !self.per_request {
            return;
        }
        match msg {
            ToClient::TunnelMessage(m) => self.on_gateway_message(m, runner),
            ToClient::Commands(commands) => {
                for c in commands {
                    if let crate::protocol::Command::StartActor(start) = &c.inner {
                        for h in &start.hibernating_requests {
                            self.resume(RequestKey::from(*h));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn on_gateway_message(&mut self, m: &ToClientTunnelMessage, runner: &Runner) {
        let key = RequestKey::new(m.message_id.gateway_id, m.message_id.request_id);
        self.touched.insert(key);
        match &m.message_kind {
            ToClientTunnelMessageKind::RequestStart(start) => {
                self.stats.http += 1;
                let old = self.keys.get(&key).map(|t| t.user);
                let mut track = Track::new(Kind::Http);
                track.body_finished = !start.stream;
                track.superseded = matches!(old, Some(UserView::Known));
                self.keys.insert(key, track);
            }
            ToClientTunnelMessageKind::WebSocketOpen(_) => match self.keys.get_mut(&key) {
                // A repeated open for a socket the runner has (live, or
                // listed by a start); without one it starts a new socket.
                Some(t) if t.kind == Kind::Ws && t.open && runner.request_is_open(key) => {
                    t.opens_owed += 1
                }
                _ => {
                    self.stats.sockets += 1;
                    let mut track = Track::new(Kind::Ws);
                    track.opens_owed = 1;
                    self.keys.insert(key, track);
                }
            },
            ToClientTunnelMessageKind::RequestAbort
            | ToClientTunnelMessageKind::WebSocketClose(_) => {
                if let Some(t) = self.keys.get_mut(&key).filter(|t| t.open) {
                    t.end("the gateway");
                    self.stats.gateway_ends += 1;
                }
            }
            _ => {}
        }
    }

    /// A start lists `key` as hibernated: its socket resumes.
    fn resume(&mut self, key: RequestKey) {
        self.stats.resumed += 1;
        let track = self.keys.entry(key).or_insert_with(|| Track::new(Kind::Ws));
        track.open = true;
        track.resync = true;
        track.opened_on_wire = true;
        // Until restored, the socket may stay hibernated (a failed start).
        track.suspended = true;
        if matches!(track.user, UserView::Hibernated | UserView::Ended) {
            track.user = UserView::Unknown;
        }
    }

    /// The runner got a new id: every instance was dropped with the old one.
    pub fn runner_id_changed(&mut self) {
        if !self.per_request {
            return;
        }
        for (key, t) in self.keys.iter_mut() {
            t.end("a runner id change");
            t.resync = true;
            self.touched.insert(*key);
        }
    }

    // ----- what the runner sends -----------------------------------------

    /// The runner put `msg` on the wire.
    pub fn on_sent(&mut self, msg: &ToServerTunnelMessage) {
        self.stats.sent += 1;
        let key = RequestKey::new(msg.message_id.gateway_id, msg.message_id.request_id);
        self.touched.insert(key);
        check_payload(key, &msg.message_kind);
        if !self.per_request {
            return;
        }
        let Some(track) = self.keys.get_mut(&key) else {
            panic!("tunnel message for {key}, which the gateway never sent: {msg:?}");
        };
        assert!(
            track.open,
            "{key}: {:?} sent after the request ended (by {})",
            msg.message_kind, track.ended_by
        );
        check_index(key, track, msg.message_id.message_index);
        let ended = match track.kind {
            Kind::Http => http_sent(key, track, &msg.message_kind),
            Kind::Ws => ws_sent(key, track, &msg.message_kind),
        };
        if ended {
            track.end("the runner");
            self.stats.runner_ends += 1;
        }
    }

    // ----- what the user sees and does -----------------------------------

    /// The runner emitted `event`.
    pub fn on_event(&mut self, event: &Event) {
        if !self.per_request {
            return;
        }
        match event {
            Event::HttpRequest(r) => self.user_step(r.key, "HttpRequest", |t| {
                t.introducible(Kind::Http).then_some(UserView::Known)
            }),
            Event::HttpRequestChunk { key, finish, .. } => {
                self.user_step(*key, "HttpRequestChunk", |t| {
                    (t.user == UserView::Known && !t.body_finished).then_some(UserView::Known)
                });
                if let Some(t) = self.keys.get_mut(key) {
                    t.body_finished |= *finish;
                }
            }
            Event::HttpRequestAborted { key } => self.on_aborted(*key),
            Event::WebSocketOpen(o) => self.user_step(o.key, "WebSocketOpen", |t| {
                t.introducible(Kind::Ws).then_some(UserView::Offered)
            }),
            Event::WebSocketMessage { key, .. } => self.user_step(*key, "WebSocketMessage", |t| {
                matches!(t.user, UserView::Open { .. }).then_some(t.user)
            }),
            Event::WebSocketClosed { key, .. } => self.user_step(*key, "WebSocketClosed", |t| {
                matches!(t.user, UserView::Offered | UserView::Open { .. })
                    .then_some(UserView::Ended)
            }),
            Event::WebSocketHibernated { key } => {
                self.user_step(*key, "WebSocketHibernated", |t| {
                    (t.user == UserView::Open { hibernatable: true })
                        .then_some(UserView::Hibernated)
                });
                if let Some(t) = self.keys.get_mut(key) {
                    t.suspended = true;
                }
            }
            Event::ShutdownComplete { .. } => {
                for (key, t) in self.keys.iter_mut() {
                    t.end("shutdown");
                    self.touched.insert(*key);
                }
            }
            _ => {}
        }
    }

    fn on_aborted(&mut self, key: RequestKey) {
        if let Some(t) = self.keys.get_mut(&key).filter(|t| t.superseded) {
            t.superseded = false;
            return;
        }
        self.user_step(key, "HttpRequestAborted", |t| {
            (t.user == UserView::Known).then_some(UserView::Ended)
        });
    }

    /// Moves the user's view of `key` as `step` says, or fails with what.
    fn user_step(
        &mut self,
        key: RequestKey,
        what: &str,
        step: impl FnOnce(&Track) -> Option<UserView>,
    ) {
        self.touched.insert(key);
        let Some(track) = self.keys.get_mut(&key) else {
            panic!("{what} for {key}, which the runner never received");
        };
        match step(track) {
            Some(view) => track.user = view,
            None => panic!(
                "{what} for {key} does not fit: the user's view is {:?}, the instance {}",
                track.user,
                if track.open { "open" } else { track.ended_by }
            ),
        }
    }

    /// A user call on `key` succeeded.
    pub fn on_call(&mut self, key: RequestKey, call: &TunnelCall) {
        if !self.per_request {
            return;
        }
        let what = format!("{call:?}");
        self.user_step(key, &what, |t| match (call, t.user) {
            (TunnelCall::Respond | TunnelCall::AbortRequest, UserView::Known) => {
                Some(UserView::Ended)
            }
            (TunnelCall::Accept { hibernatable }, UserView::Offered) => Some(UserView::Open {
                hibernatable: *hibernatable,
            }),
            (TunnelCall::Reject, UserView::Offered) => Some(UserView::Ended),
            (TunnelCall::Close, UserView::Offered | UserView::Open { .. }) => Some(UserView::Ended),
            (TunnelCall::Send, UserView::Open { .. }) => Some(t.user),
            _ => None,
        });
    }

    /// `restore_websockets` succeeded with `report`.
    pub fn on_restore(&mut self, report: &RestoreReport) {
        if !self.per_request {
            return;
        }
        for key in &report.restored {
            self.user_step(*key, "restored", |t| {
                matches!(t.user, UserView::Unknown | UserView::Hibernated)
                    .then_some(UserView::Open { hibernatable: true })
            });
            if let Some(t) = self.keys.get_mut(key) {
                t.suspended = false;
            }
        }
    }

    // ----- after each input ----------------------------------------------

    /// After the outputs of one input were drained: what the user holds is
    /// open in the runner, what ended is not, and the bounds hold.
    pub fn after_drain(&mut self, runner: &Runner) {
        for key in std::mem::take(&mut self.touched) {
            let Some(t) = self.keys.get_mut(&key) else {
                continue;
            };
            t.ended_now = false;
            let held = runner.request_is_open(key);
            match t.user {
                UserView::Known | UserView::Offered | UserView::Open { .. } => assert!(
                    held,
                    "{key} ended in the runner (by {}) but the user was not told ({:?})",
                    if t.open {
                        "nothing on the wire"
                    } else {
                        t.ended_by
                    },
                    t.user
                ),
                UserView::Ended | UserView::Hibernated => assert!(
                    !held,
                    "{key} is over for the user ({:?}) but still open in the runner",
                    t.user
                ),
                UserView::Unknown if !t.open => assert!(
                    !held,
                    "{key} ended (by {}) but is still open in the runner",
                    t.ended_by
                ),
                UserView::Unknown => {}
            }
        }
        self.check_bounds(runner);
    }

    fn check_bounds(&self, runner: &Runner) {
        let buffered = runner.buffered_tunnel_messages();
        assert!(
            buffered <= self.limits.max_buffered_messages,
            "{buffered} tunnel messages buffered"
        );
        if runner.is_connected() {
            assert_eq!(
                buffered, 0,
                "tunnel messages left in the buffer while connected"
            );
        }
        let bound = self.limits.max_requests_per_actor * runner.actor_count();
        assert!(
            runner.open_request_count() <= bound,
            "{} open requests for {} actors",
            runner.open_request_count(),
            runner.actor_count()
        );
    }
}

fn check_payload(key: RequestKey, kind: &ToServerTunnelMessageKind) {
    let size = match kind {
        ToServerTunnelMessageKind::ResponseStart(r) => r.body.as_ref().map_or(0, |b| b.len()),
        ToServerTunnelMessageKind::ResponseChunk(c) => c.body.len(),
        ToServerTunnelMessageKind::WebSocketMessage(m) => m.data.len(),
        _ => 0,
    };
    assert!(
        size <= ENGINE_MAX_PAYLOAD,
        "{key}: a {size}-byte payload: the engine would drop the whole runner connection"
    );
    if let ToServerTunnelMessageKind::WebSocketClose(c) = kind {
        if let Some(code) = c.code {
            assert!(
                matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999),
                "{key}: close code {code} cannot be sent"
            );
        }
        let reason = c.reason.as_deref().unwrap_or("");
        assert!(
            reason.len() <= 123,
            "{key}: close reason of {} bytes",
            reason.len()
        );
    }
}

fn check_index(key: RequestKey, track: &mut Track, index: u16) {
    if !std::mem::take(&mut track.resync) {
        let expected = track.last_out.map_or(0, |l| l.wrapping_add(1));
        assert_eq!(
            index, expected,
            "{key}: runner → gateway index {index}, expected {expected}"
        );
    }
    track.last_out = Some(index);
}

/// Checks an HTTP reply; returns whether it ends the instance.
fn http_sent(key: RequestKey, track: &Track, kind: &ToServerTunnelMessageKind) -> bool {
    match kind {
        ToServerTunnelMessageKind::ResponseStart(r) => {
            assert!(
                !r.stream,
                "{key}: streamed response (the gateway reads no chunk)"
            );
            assert!(
                (100..=999).contains(&r.status),
                "{key}: status {}",
                r.status
            );
            if let Some(body) = &r.body {
                let length = r.headers.get("content-length").map(String::as_str);
                assert_eq!(
                    length,
                    Some(&*body.len().to_string()),
                    "{key}: content-length"
                );
            }
            true
        }
        ToServerTunnelMessageKind::ResponseAbort => true,
        other => panic!("{key}: {other:?} on an HTTP request ({:?})", track.kind),
    }
}

/// Checks a socket message; returns whether it ends the instance.
fn ws_sent(key: RequestKey, track: &mut Track, kind: &ToServerTunnelMessageKind) -> bool {
    match kind {
        ToServerTunnelMessageKind::WebSocketOpen(_) => {
            assert!(
                track.opens_owed > 0,
                "{key}: more WebSocketOpen than opens from the gateway"
            );
            track.opens_owed -= 1;
            track.opened_on_wire = true;
            false
        }
        ToServerTunnelMessageKind::WebSocketMessage(_)
        | ToServerTunnelMessageKind::WebSocketMessageAck(_) => {
            assert!(track.opened_on_wire, "{key}: {kind:?} before the open");
            false
        }
        ToServerTunnelMessageKind::WebSocketClose(c) => {
            assert!(!c.hibernate, "{key}: the runner never asks to hibernate");
            true
        }
        other => panic!("{key}: {other:?} on a WebSocket"),
    }
}
