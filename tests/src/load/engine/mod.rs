//! The engine's side of the runner protocol, over a real WebSocket on
//! loopback, as fast as it can be driven.
//!
//! It does what a runner needs from the engine to be loaded and no more
//! (`shared/spec/runner-behaviour.md` §1–§6): accepts
//! `/runners/connect?protocol_version=…`, answers `ToServerInit` with
//! `ToClientInit`, pings every 3 s, starts and stops actors with checkpointed
//! commands, acknowledges events in batches of 250 as the engine does,
//! serves KV from memory, and plays the gateway: HTTP requests
//! (`ToClientRequestStart`, matched with `ToServerResponseStart` by request
//! id) and WebSocket messages on open sockets, a fixed number in flight.
//!
//! One concept a file:
//!
//! * here, [`LoadEngine`]: the listener, and the handshake that makes a
//!   [`Conn`];
//! * `conn`: [`Conn`], one runner connection: reading, writing, pings, and
//!   what each frame from the runner does;
//! * `actors`: the actors the engine starts and stops, and their events;
//! * `traffic`: [`Traffic`] and the load kept in flight: tunnelled HTTP
//!   requests, WebSocket messages, stop/start cycles;
//! * `recorder`: [`Recorder`], completed operations and their latencies;
//! * `writer`: the task that writes the frames to the socket.

mod actors;
mod conn;
mod recorder;
mod traffic;
mod writer;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use runner_core::protocol::ProtocolVersion;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub use conn::Conn;

/// Where an actor is in its lifecycle, as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Starting,
    Running,
    Stopping,
    Stopped,
}
pub use recorder::Recorder;
pub use traffic::Traffic;

/// A listening load engine on `127.0.0.1:<free port>`.
#[derive(Debug)]
pub struct LoadEngine {
    listener: TcpListener,
    port: u16,
}

impl LoadEngine {
    /// Listens on a free loopback port.
    pub async fn bind() -> Result<LoadEngine> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        Ok(LoadEngine { listener, port })
    }

    /// What a runner's `RIVET_ENDPOINT` should be.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Accepts the next runner connection and answers its `ToServerInit`.
    // The handshake callback's error type (an HTTP response) is tungstenite's.
    #[allow(clippy::result_large_err)]
    pub async fn accept(&self, timeout: Duration) -> Result<Conn> {
        let deadline = Instant::now() + timeout;
        let (tcp, _) = tokio::time::timeout_at(deadline.into(), self.listener.accept())
            .await
            .context("no runner connected")??;
        tcp.set_nodelay(true)?;
        let mut target = String::new();
        // tungstenite's callback type fixes the (large) error type.
        #[allow(clippy::result_large_err)]
        let callback = |request: &Request, mut response: Response| {
            target = request.uri().to_string();
            let offered = request
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|p| p.trim() == "rivet");
            if offered {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("rivet"));
            }
            Ok(response)
        };
        let ws = tokio::time::timeout_at(
            deadline.into(),
            tokio_tungstenite::accept_hdr_async(tcp, callback),
        )
        .await
        .context("WebSocket handshake timed out")??;
        if !target.starts_with("/runners/connect") {
            bail!("the runner connected to {target}, not /runners/connect");
        }
        let version = query_param(&target, "protocol_version")
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| anyhow!("no protocol_version in {target}"))?;
        let version = ProtocolVersion::new(version)?;
        let mut conn = Conn::new(ws, version);
        let inited = conn.pump(deadline, |c| c.runner_name.is_some()).await?;
        if !inited {
            bail!("no ToServerInit");
        }
        Ok(conn)
    }
}

fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
