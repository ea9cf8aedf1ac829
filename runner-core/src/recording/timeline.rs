//! A readable timeline of a replay: what the engine sent, what the user's
//! code called and what the runner answered, grouped per actor, with times
//! since the runner was created.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::reader::RecordingHeader;
use super::replay::{ReplayedStep, clip, input_summary};
use crate::Timestamp;
use crate::ids::RequestKey;
use crate::output::Transmit;
use crate::protocol::{
    Id, MessageId, ProtocolVersion, ToClient, ToClientTunnelMessageKind, ToServer,
    decode_to_client, decode_to_server,
};
use crate::runner::Input;

/// The section of lines about the runner itself (connection, pings).
const RUNNER: &str = "runner";

/// Widest summary of one message, in characters.
const WIDTH: usize = 160;

/// Collects the lines of a timeline while a recording replays.
///
/// # Examples
///
/// ```
/// use runner_core::recording::{RecordOptions, RecordingReader, Timeline, replay};
/// use runner_core::{Config, Runner, Timestamp};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start_recording(RecordOptions::new())?;
/// runner.start(Timestamp::from_millis(1_500));
/// let mut file = Vec::new();
/// runner.take_recording(&mut file);
///
/// let mut timeline = Timeline::new(RecordingReader::new(&file)?.header());
/// replay(&file, |step| timeline.add(step))?;
/// let text = timeline.render();
/// assert!(text.contains("== runner =="));
/// assert!(text.contains("1.500s  user"));
/// assert!(text.contains("runner -> engine connect"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Timeline {
    version: ProtocolVersion,
    created: Timestamp,
    requests: HashMap<RequestKey, Id>,
    kv_calls: HashMap<u32, Id>,
    sections: BTreeMap<String, Vec<String>>,
}

impl Timeline {
    /// An empty timeline for the recording with this header.
    pub fn new(header: &RecordingHeader) -> Self {
        Timeline {
            version: header.config.protocol_version,
            created: header.created,
            requests: HashMap::new(),
            kv_calls: HashMap::new(),
            sections: BTreeMap::new(),
        }
    }

    /// Starts from the runner a segment's snapshot restored (see
    /// [`RecordingReader::snapshot`](super::RecordingReader::snapshot)):
    /// one line says what it holds, and the requests, sockets and KV calls
    /// it has open are known, so that their later messages go to their
    /// actor's section. Times count from the snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::recording::{RecordOptions, RecordingReader, Timeline, replay};
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start_recording(RecordOptions::new())?;
    /// runner.start(Timestamp::ZERO);
    /// runner.rotate_recording()?;
    /// runner.handle_timeout(Timestamp::from_millis(15_000));
    /// let mut segment = Vec::new();
    /// runner.take_recording(&mut segment);
    ///
    /// let reader = RecordingReader::new(&segment)?;
    /// let mut timeline = Timeline::new(reader.header());
    /// timeline.restored(&Runner::from_snapshot(reader.snapshot().unwrap())?);
    /// replay(&segment, |step| timeline.add(step))?;
    /// let text = timeline.render();
    /// assert!(text.contains("restored from the segment's snapshot: 0 actors"));
    /// assert!(text.contains("15.000s  runner -> engine close"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restored(&mut self, runner: &crate::Runner) {
        let (requests, kv_calls) = runner.open_work();
        let what = format!(
            "restored from the segment's snapshot: {} actors, {} open requests and sockets, {} KV calls in flight",
            runner.actor_count(),
            requests.len(),
            kv_calls.len()
        );
        self.line(RUNNER, 0.0, "snapshot", what);
        self.requests.extend(requests);
        self.kv_calls.extend(kv_calls);
    }

    /// Adds one replayed step.
    pub fn add(&mut self, step: &ReplayedStep<'_>) {
        let at = step
            .now
            .saturating_duration_since(self.created)
            .as_secs_f64();
        let quiet_timer = matches!(step.input, Input::Timeout) && step.transmits.is_empty();
        if !quiet_timer {
            self.add_input(at, step.input);
        }
        for transmit in step.transmits {
            self.add_transmit(at, transmit);
        }
        if !step.matches {
            self.line(
                RUNNER,
                at,
                "!!",
                "the replay diverges from the recording here".into(),
            );
        }
    }

    /// The timeline, one section per actor after the runner's own.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let runner = self.sections.get(RUNNER).map(|lines| (RUNNER, lines));
        let actors = self.sections.iter().filter(|(name, _)| *name != RUNNER);
        for (name, lines) in runner
            .into_iter()
            .chain(actors.map(|(n, l)| (n.as_str(), l)))
        {
            let title = if name == RUNNER {
                RUNNER.to_string()
            } else {
                format!("actor {name}")
            };
            let _ = writeln!(out, "== {title} ==");
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    fn line(&mut self, section: &str, at: f64, direction: &str, what: String) {
        let line = format!("{at:>10.3}s  {direction:<16} {what}");
        self.sections
            .entry(section.to_string())
            .or_default()
            .push(line);
    }

    fn add_input(&mut self, at: f64, input: &Input<'static>) {
        match input {
            Input::Frame { frame, .. } => match decode_to_client(self.version, frame) {
                Ok(message) => self.add_to_client(at, message),
                Err(e) => {
                    let what = format!("undecodable frame of {} bytes: {e}", frame.len());
                    self.line(RUNNER, at, "engine -> runner", what);
                }
            },
            other => {
                let section = self.input_section(other);
                self.line(&section, at, "user", input_summary(other, WIDTH));
            }
        }
    }

    fn input_section(&self, input: &Input<'_>) -> String {
        match input {
            Input::ActorStarted { actor, .. }
            | Input::ActorStopped { actor }
            | Input::SleepActor { actor }
            | Input::StopActor { actor }
            | Input::SetAlarm { actor, .. }
            | Input::CrashActor { actor, .. }
            | Input::Kv { actor, .. }
            | Input::RestoreWebSockets { actor, .. } => actor.actor_id.to_string(),
            Input::WebSocketAccept { key, .. }
            | Input::WebSocketReject { key, .. }
            | Input::WebSocketSend { key, .. }
            | Input::WebSocketClose { key, .. }
            | Input::WebSocketAck { key, .. }
            | Input::Respond { key, .. }
            | Input::AbortRequest { key } => self.request_section(*key),
            _ => RUNNER.to_string(),
        }
    }

    fn request_section(&self, key: RequestKey) -> String {
        self.requests
            .get(&key)
            .map_or(RUNNER.to_string(), |id| id.to_string())
    }

    fn add_to_client(&mut self, at: f64, message: ToClient) {
        const IN: &str = "engine -> runner";
        match message {
            ToClient::Commands(commands) => {
                for command in commands {
                    let what = clip(format!("{:?}", command.inner), WIDTH);
                    self.line(&command.checkpoint.actor_id.clone(), at, IN, what);
                }
            }
            ToClient::TunnelMessage(tunnel) => {
                let key = request_key(&tunnel.message_id);
                match &tunnel.message_kind {
                    ToClientTunnelMessageKind::RequestStart(start) => {
                        self.requests.insert(key, start.actor_id.clone());
                    }
                    ToClientTunnelMessageKind::WebSocketOpen(open) => {
                        self.requests.insert(key, open.actor_id.clone());
                    }
                    _ => {}
                }
                let what = clip(format!("{key} {:?}", tunnel.message_kind), WIDTH);
                self.line(&self.request_section(key), at, IN, what);
            }
            ToClient::KvResponse(response) => {
                let section = self
                    .kv_calls
                    .remove(&response.request_id)
                    .map_or(RUNNER.to_string(), |id| id.to_string());
                self.line(&section, at, IN, clip(format!("{response:?}"), WIDTH));
            }
            other => self.line(RUNNER, at, IN, clip(format!("{other:?}"), WIDTH)),
        }
    }

    fn add_transmit(&mut self, at: f64, transmit: &Transmit) {
        const OUT: &str = "runner -> engine";
        match transmit {
            Transmit::Frame(frame) => match decode_to_server(self.version, frame) {
                Ok(message) => self.add_to_server(at, message),
                Err(e) => self.line(RUNNER, at, OUT, format!("undecodable frame: {e}")),
            },
            Transmit::Connect { conn, url, .. } => {
                self.line(RUNNER, at, OUT, format!("connect {conn:?} to {url}"));
            }
            Transmit::Close { conn, code, reason } => {
                self.line(RUNNER, at, OUT, format!("close {conn:?} {code} {reason:?}"));
            }
        }
    }

    fn add_to_server(&mut self, at: f64, message: ToServer) {
        const OUT: &str = "runner -> engine";
        match message {
            ToServer::Events(events) => {
                for event in events {
                    let what = clip(format!("{:?}", event.inner), WIDTH);
                    self.line(&event.checkpoint.actor_id.clone(), at, OUT, what);
                }
            }
            ToServer::TunnelMessage(tunnel) => {
                let key = request_key(&tunnel.message_id);
                let what = clip(format!("{key} {:?}", tunnel.message_kind), WIDTH);
                self.line(&self.request_section(key), at, OUT, what);
            }
            ToServer::KvRequest(request) => {
                self.kv_calls
                    .insert(request.request_id, request.actor_id.clone());
                let what = clip(
                    format!("kv #{} {:?}", request.request_id, request.data),
                    WIDTH,
                );
                self.line(&request.actor_id.clone(), at, OUT, what);
            }
            other => self.line(RUNNER, at, OUT, clip(format!("{other:?}"), WIDTH)),
        }
    }
}

fn request_key(id: &MessageId) -> RequestKey {
    RequestKey::new(id.gateway_id, id.request_id)
}
