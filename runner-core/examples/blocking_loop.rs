//! The runner core in a plain blocking loop: no async runtime, only
//! `std::net::TcpStream`, `tungstenite` and the sans-IO contract of
//! [`runner_core::Runner`]: the core's own example of driving it without a
//! driver crate.
//!
//! Every actor answers `GET /` with a fixed body and anything else with 404;
//! `POST /shutdown` shuts the whole runner down gracefully (std has no
//! signal handling). Events are printed on stdout, one JSON object a line,
//! as the test-runner contract (`shared/spec/test-runner.md`) prints them.
//!
//! ```text
//! RIVET_ENDPOINT=http://127.0.0.1:6420 cargo run -p runner-core --example blocking_loop
//! ```
//!
//! The whole contract is the loop in [`BlockingLoop::run`]:
//!
//! 1. after every input, drain the core: carry out each `poll_transmit`
//!    (connect, send a frame, close) and act on each `poll_event` (which may
//!    queue more of both), until neither has anything left;
//! 2. wait for the next input, at most until `poll_timeout`: that deadline
//!    is the socket's read timeout;
//! 3. hand what happened to the core: a message (`handle_frame`), a closed
//!    connection (`handle_closed`) or the deadline (`handle_timeout`).
//!
//! Reconnecting is the core's business: when a connection ends, it asks for
//! a new one (`Transmit::Connect`) once its backoff timer has fired. With one
//! thread, a connection attempt blocks the loop (at most [`CONNECT_TIMEOUT`]
//! for the TCP connect and again for the upgrade); an async driver keeps
//! serving its timers meanwhile.
//!
//! For a `wss://` engine, wrap the `TcpStream` in a `rustls::StreamOwned` (a
//! `rustls::ClientConnection` built from a `ClientConfig` with the roots you
//! trust) before handing it to `tungstenite::client`.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime};

use runner_core::{
    CallError, Config, ConnId, Event, HttpRequest, HttpResponse, Runner, ShutdownMode, Timestamp,
    Transmit, TransportClose,
};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// Bound on opening a connection (TCP connect, then the upgrade).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on writing to a peer that stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let mut runner = BlockingLoop::new(config_from_env());
    runner.run();
}

/// `RIVET_ENDPOINT`, `RIVET_TOKEN`, `RIVET_NAMESPACE`, `RIVET_RUNNER_NAME`
/// and `RIVET_RUNNER_KEY`, with the test-runner contract's defaults.
fn config_from_env() -> Config {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    // Not secret, just distinct per process; it also seeds the backoff jitter.
    let seed = SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap_or_default()
        .as_nanos() as u64
        ^ u64::from(std::process::id());
    let mut config = Config::new(
        var("RIVET_ENDPOINT", "http://127.0.0.1:6420"),
        var("RIVET_RUNNER_NAME", "blocking-loop"),
        var("RIVET_RUNNER_KEY", &format!("blocking-loop-{seed:x}")),
    );
    config.token = Some(var("RIVET_TOKEN", "dev").into());
    config.namespace = var("RIVET_NAMESPACE", "default");
    config.rng_seed = seed;
    config
}

/// The core, the clock it is driven by, and the socket it asked for.
struct BlockingLoop {
    core: Runner,
    origin: Instant,
    socket: Option<(ConnId, WebSocket<TcpStream>)>,
}

impl BlockingLoop {
    fn new(config: Config) -> Self {
        let core = Runner::new(config, Timestamp::ZERO).expect("a valid configuration");
        BlockingLoop {
            core,
            origin: Instant::now(),
            socket: None,
        }
    }

    /// The core's time: elapsed since `origin`, the only clock it sees.
    fn now(&self) -> Timestamp {
        Timestamp::from(self.origin.elapsed())
    }

    /// Serves until the core reports the shutdown complete.
    fn run(&mut self) {
        self.core.start(self.now());
        loop {
            self.drain();
            if self.core.is_shut_down() {
                return;
            }
            self.wait_for_input();
        }
    }

    /// Carries out everything the core has queued, in order.
    fn drain(&mut self) {
        loop {
            if let Some(transmit) = self.core.poll_transmit() {
                self.transmit(transmit);
            } else if let Some(event) = self.core.poll_event() {
                self.event(event);
            } else if let Some(Err(error)) = self.socket.as_mut().map(|(_, ws)| ws.flush()) {
                self.closed(TransportClose::error(format!("write failed: {error}")));
            } else {
                return;
            }
        }
    }

    fn transmit(&mut self, transmit: Transmit) {
        match transmit {
            Transmit::Connect {
                conn,
                url,
                subprotocols,
            } => match connect(&url, &subprotocols) {
                Ok(ws) => {
                    self.socket = Some((conn, ws));
                    self.core.handle_connected(self.now(), conn);
                }
                Err(close) => self.core.handle_closed(self.now(), conn, close),
            },
            Transmit::Frame(frame) => {
                // Written to tungstenite's buffer; `drain` flushes once at the end.
                if let Some(Err(error)) = self
                    .socket
                    .as_mut()
                    .map(|(_, ws)| ws.write(Message::Binary(frame)))
                {
                    self.closed(TransportClose::error(format!("write failed: {error}")));
                }
            }
            Transmit::Close { conn, code, reason } => {
                // The core already counts the connection as gone: no report.
                if let Some((_, mut ws)) = self.socket.take_if(|(c, _)| *c == conn) {
                    let frame = CloseFrame {
                        code: code.into(),
                        reason: reason.into(),
                    };
                    let _ = ws.close(Some(frame)).and_then(|()| ws.flush());
                }
            }
        }
    }

    fn event(&mut self, event: Event) {
        let now = self.now();
        let outcome = match event {
            Event::Connected { runner_id, .. } => {
                println!(r#"{{"event":"connected","runnerId":{}}}"#, json(&runner_id));
                Ok(())
            }
            Event::Disconnected { code, reason } => {
                let code = code.map_or("null".into(), |c| c.to_string());
                println!(
                    r#"{{"event":"disconnected","code":{code},"reason":{}}}"#,
                    json(&reason)
                );
                Ok(())
            }
            Event::ActorStart { actor, config, .. } => {
                println!(
                    r#"{{"event":"actor_start","actorId":{},"generation":{},"name":{},"key":{}}}"#,
                    json(&actor.actor_id),
                    actor.generation,
                    json(&config.name),
                    config.key.as_deref().map_or("null".into(), json),
                );
                // Nothing to load: the actor is ready at once.
                self.core.actor_started(now, &actor, Ok(()))
            }
            Event::ActorStop { actor, .. } => {
                println!(
                    r#"{{"event":"actor_stop","actorId":{},"generation":{}}}"#,
                    json(&actor.actor_id),
                    actor.generation
                );
                self.core.actor_stopped(now, &actor)
            }
            Event::HttpRequest(request) => self.serve(now, &request),
            Event::WebSocketOpen(open) => {
                self.core
                    .websocket_reject(now, open.key, 1011, "no websockets here")
            }
            Event::ShutdownComplete { .. } => {
                println!(r#"{{"event":"shutdown"}}"#);
                Ok(())
            }
            // KV results, streamed bodies, WebSocket traffic: unused here.
            _ => Ok(()),
        };
        if let Err(error) = outcome {
            eprintln!("the core refused a call: {error}");
        }
    }

    /// Answers one HTTP request (its body came whole: the engine never streams).
    fn serve(&mut self, now: Timestamp, request: &HttpRequest) -> Result<(), CallError> {
        let route = (request.method.as_str(), request.path.as_str());
        let response = match route {
            ("GET", "/") => HttpResponse::new(200)
                .header("content-type", "text/plain")
                .body(format!(
                    "hello from {:?}, served by a blocking loop\n",
                    request.actor
                )),
            ("POST", "/shutdown") => HttpResponse::new(200),
            _ => HttpResponse::new(404),
        };
        self.core.respond(now, request.key, response)?;
        if route == ("POST", "/shutdown") {
            // The core tells the engine, waits for its actors to stop, closes.
            self.core.shutdown(now, ShutdownMode::Graceful);
        }
        Ok(())
    }

    /// Blocks until a message arrives or the core's next deadline passes,
    /// and hands the result to the core.
    fn wait_for_input(&mut self) {
        let now = self.now();
        // Without a deadline (never the case while connected: the core
        // watches the connection's liveness) a read blocks until a message.
        let timeout = self
            .core
            .poll_timeout()
            .map(|at| at.saturating_duration_since(now));
        if timeout == Some(Duration::ZERO) {
            return self.core.handle_timeout(now);
        }
        let Some((conn, ws)) = self.socket.as_mut() else {
            // Not connected: the core has a reconnect scheduled.
            std::thread::sleep(timeout.unwrap_or(CONNECT_TIMEOUT));
            return self.core.handle_timeout(self.now());
        };
        let conn = *conn;
        let read = read(ws, timeout);
        let now = self.now();
        match read {
            Ok(Message::Binary(frame)) => self.core.handle_frame(now, conn, &frame),
            Ok(Message::Text(_)) => self.core.handle_text_frame(now, conn),
            Ok(Message::Close(frame)) => {
                let close = frame.map_or(TransportClose::frame(1005, ""), |f| {
                    TransportClose::frame(f.code.into(), f.reason.as_str())
                });
                self.closed(close);
            }
            // Pings are answered by tungstenite itself.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Err(tungstenite::Error::Io(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                self.core.handle_timeout(now);
            }
            Err(error) => self.closed(TransportClose::error(error.to_string())),
        }
    }

    /// The current connection ended: drop it and tell the core.
    fn closed(&mut self, close: TransportClose) {
        if let Some((conn, _)) = self.socket.take() {
            self.core.handle_closed(self.now(), conn, close);
        }
    }
}

/// The next message, or an `Io` timeout error once `timeout` has passed.
fn read(ws: &mut WebSocket<TcpStream>, timeout: Option<Duration>) -> tungstenite::Result<Message> {
    ws.get_mut().set_read_timeout(timeout)?;
    let message = ws.read()?;
    if message.is_close() {
        // Send the close reply tungstenite has queued.
        let _ = ws.flush();
    }
    Ok(message)
}

/// Opens the WebSocket the core asked for: TCP, then the upgrade offering
/// the core's sub-protocols (`rivet`, `rivet_token.<token>`), which the
/// engine requires. Plain `ws://` only: `wss://` would need a TLS stream.
fn connect(url: &str, subprotocols: &[String]) -> Result<WebSocket<TcpStream>, TransportClose> {
    let fail = |what: &str, error: &dyn std::fmt::Display| {
        TransportClose::error(format!("{what}: {error}"))
    };
    let mut request = url.into_client_request().map_err(|e| fail("bad url", &e))?;
    let offer = subprotocols.join(", ");
    let offer = offer.parse().map_err(|e| fail("bad sub-protocols", &e))?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", offer);

    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(TransportClose::error("only ws:// is supported here"));
    }
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(80);
    let address = (host, port)
        .to_socket_addrs()
        .map_err(|e| fail("cannot resolve", &e))?
        .next()
        .ok_or_else(|| TransportClose::error(format!("no address for {host}")))?;
    let stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)
        .and_then(|stream| {
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(CONNECT_TIMEOUT))?;
            stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
            Ok(stream)
        })
        .map_err(|e| fail("connect failed", &e))?;

    match tungstenite::client(request, stream) {
        Ok((ws, _response)) => Ok(ws),
        // A refused upgrade keeps its status: 401/403 are fatal to the core.
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => Err(TransportClose {
            code: None,
            reason: format!("upgrade refused with HTTP {}", response.status()),
            http_status: Some(response.status().as_u16()),
        }),
        Err(error) => Err(fail("handshake failed", &error)),
    }
}

/// A JSON string. Rust's debug format of a string is one for the plain
/// ids, names and reasons printed here (not for control characters).
fn json(text: &str) -> String {
    format!("{text:?}")
}
