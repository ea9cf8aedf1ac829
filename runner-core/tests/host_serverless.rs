//! The serverless endpoint on the in-memory runtime, the test playing the
//! engine: `/start` headers configure the runner, refusals start nothing,
//! the stream's framing (init packet once connected, then pings), the bound
//! on runners, a dropped stream drains its runner, a runner's end ends its
//! stream.
//!
//! Waits are for conditions, bounded generously (10 s); nothing asserts on
//! how long something took.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::executor::block_on;
use http_body_util::BodyExt;
use runner_core::host::serverless::{Serverless, ServerlessBody};
use runner_core::host::testing::MemoryRuntime;
use runner_core::host::{Builder, Handler};
use runner_core::protocol::{ToServer, ToServerlessServer, parse_serverless_init_packet};
use runner_core::{ShutdownMode, TransportClose};

/// Generous bound on every wait.
const BOUND: Duration = Duration::from_secs(10);

struct Idle;
impl Handler for Idle {}

fn serverless(runtime: &MemoryRuntime) -> Serverless<MemoryRuntime, Idle> {
    let template = Builder::new(runtime.clone()).token("template-token");
    Serverless::builder(template)
        .ping_interval(Duration::from_millis(20))
        .build(Idle)
        .unwrap()
}

fn start_request(extra: &[(&str, &str)]) -> http::Request<()> {
    let mut request = http::Request::get("/api/rivet/start")
        .header("x-rivet-endpoint", "http://127.0.0.1:6420/")
        .header("x-rivet-total-slots", "3")
        .header("x-rivet-runner-name", "sls")
        .header("x-rivet-namespace-name", "ns1")
        .header("accept", "text/event-stream");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.body(()).unwrap()
}

/// The next frame of `body`, waiting at most [`BOUND`]; `None` at its end.
fn next_frame(body: ServerlessBody) -> (ServerlessBody, Option<Bytes>) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut body = body;
        let frame = block_on(body.frame()).map(|f| f.unwrap().into_data().unwrap());
        let _ = tx.send((body, frame));
    });
    rx.recv_timeout(BOUND).expect("no frame within the bound")
}

fn text(response: http::Response<ServerlessBody>) -> String {
    let bytes = block_on(response.into_body().collect()).unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_start_runs_a_runner_configured_by_its_headers_and_streams_init_then_pings() {
    let runtime = MemoryRuntime::new();
    let serverless = serverless(&runtime);
    let response = serverless.call(start_request(&[("x-rivet-token", "engine-token")]));
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");

    let mut engine = block_on(runtime.accept());
    let url = &engine.request().url;
    assert!(
        url.starts_with("ws://127.0.0.1:6420/runners/connect?"),
        "{url}"
    );
    assert!(url.contains("namespace=ns1"), "{url}");
    let protocols = &engine.request().subprotocols;
    assert!(
        protocols.contains(&"rivet_token.engine-token".to_owned()),
        "{protocols:?}"
    );
    let init = block_on(engine.accept_init("runner-7")).unwrap();
    assert_eq!((init.name.as_str(), init.total_slots), ("sls", 3));

    let (body, first) = next_frame(response.into_body());
    let first = String::from_utf8(first.unwrap().to_vec()).unwrap();
    let packet = first
        .strip_prefix("data: ")
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("not one default-named event: {first:?}"));
    let (version, ToServerlessServer::Init(init)) = parse_serverless_init_packet(packet).unwrap();
    assert_eq!(init.runner_id.as_ref(), "runner-7");
    assert_eq!(version, engine.protocol_version().number());
    let (_body, second) = next_frame(body);
    assert_eq!(second.unwrap(), "event: ping\ndata:\n\n");
    assert_eq!(serverless.running(), 1);
}

#[test]
fn without_a_token_header_the_template_token_is_used() {
    let runtime = MemoryRuntime::new();
    let serverless = serverless(&runtime);
    let _response = serverless.call(start_request(&[]));
    let engine = block_on(runtime.accept());
    let protocols = &engine.request().subprotocols;
    assert!(
        protocols.contains(&"rivet_token.template-token".to_owned()),
        "{protocols:?}"
    );
}

#[test]
fn bad_starts_are_refused_with_the_reason_and_start_nothing() {
    let runtime = MemoryRuntime::new();
    let serverless = serverless(&runtime);
    let missing = http::Request::get("/api/rivet/start")
        .header("x-rivet-total-slots", "1")
        .header("x-rivet-runner-name", "sls")
        .header("x-rivet-namespace-name", "ns1")
        .body(())
        .unwrap();
    let response = serverless.call(missing);
    assert_eq!(response.status(), 400);
    assert_eq!(text(response), "missing header x-rivet-endpoint");

    let slots = serverless.call(start_request(&[("x-rivet-total-slots", "x")]));
    assert_eq!(slots.status(), 400);
    assert!(text(slots).contains("x-rivet-total-slots"));

    let mut not_a_url = start_request(&[]);
    let endpoint = http::HeaderValue::from_static("ftp://somewhere");
    not_a_url.headers_mut().insert("x-rivet-endpoint", endpoint);
    let response = serverless.call(not_a_url);
    assert_eq!(response.status(), 400);
    assert!(text(response).contains("ftp://somewhere"));

    assert_eq!(serverless.running(), 0);
    assert!(runtime.connects().is_empty());
}

#[test]
fn past_the_bound_a_start_is_refused_and_the_first_runner_keeps_running() {
    let runtime = MemoryRuntime::new();
    let serverless = Serverless::builder(Builder::new(runtime.clone()))
        .max_runners(1)
        .build(Idle)
        .unwrap();
    let first = serverless.call(start_request(&[]));
    assert_eq!(first.status(), 200);
    let second = serverless.call(start_request(&[]));
    assert_eq!(second.status(), 503);
    assert_eq!(text(second), "too many serverless runners (at most 1)");
    let _engine = block_on(runtime.accept());
    assert_eq!(runtime.connects().len(), 1);
    assert_eq!(serverless.running(), 1);
}

#[test]
fn a_dropped_stream_shuts_its_runner_down_gracefully() {
    let runtime = MemoryRuntime::new();
    let serverless = serverless(&runtime);
    let response = serverless.call(start_request(&[]));
    let mut engine = block_on(runtime.accept());
    block_on(engine.accept_init("runner-1")).unwrap();
    let (body, _init) = next_frame(response.into_body());
    drop(body);
    // Graceful: the engine is told the runner is stopping (an immediate
    // shutdown would only close the socket).
    let stopping = block_on(engine.recv_message());
    assert!(matches!(stopping, Some(ToServer::Stopping)), "{stopping:?}");
    block_on(engine.close(1000, "pegboard.runner_shutdown"));
    wait_until("the runner ended", || serverless.running() == 0);
}

#[test]
fn the_runners_end_ends_its_stream() {
    let runtime = MemoryRuntime::new();
    let serverless = serverless(&runtime);
    let response = serverless.call(start_request(&[]));
    let mut engine = block_on(runtime.accept());
    block_on(engine.accept_init("runner-1")).unwrap();
    let (mut body, _init) = next_frame(response.into_body());
    // The engine evicts the runner at the end of its lifespan.
    block_on(engine.close(1000, "ws.eviction#lifespan"));
    loop {
        let (rest, frame) = next_frame(body);
        match frame {
            Some(ping) => assert_eq!(ping, "event: ping\ndata:\n\n"),
            None => break,
        }
        body = rest;
    }
    wait_until("the runner is released", || serverless.running() == 0);
}

#[test]
fn a_runner_that_never_connects_is_stopped_and_its_stream_ends() {
    let runtime = MemoryRuntime::new().refuse_connects(TransportClose::error("unreachable"));
    let serverless = Serverless::builder(Builder::new(runtime.clone()))
        .connect_timeout(Duration::from_millis(50))
        .build(Idle)
        .unwrap();
    let response = serverless.call(start_request(&[]));
    let (_body, frame) = next_frame(response.into_body());
    assert_eq!(frame, None);
    wait_until("the runner is released", || serverless.running() == 0);
}

#[test]
fn a_shared_secret_guards_both_routes() {
    let runtime = MemoryRuntime::new();
    let name = http::HeaderName::from_static("x-endpoint-secret");
    let serverless = Serverless::builder(Builder::new(runtime.clone()))
        .shared_secret(name, "s3cret")
        .build(Idle)
        .unwrap();
    for secret in [None, Some("wrong"), Some("s3cre"), Some("s3crett")] {
        let extra: Vec<_> = secret
            .map(|s| ("x-endpoint-secret", s))
            .into_iter()
            .collect();
        let refused = serverless.call(start_request(&extra));
        assert_eq!(refused.status(), 401, "{secret:?}");
    }
    let metadata = http::Request::get("/api/rivet/metadata").body(()).unwrap();
    assert_eq!(serverless.call(metadata).status(), 401);
    assert!(runtime.connects().is_empty());
    let admitted = serverless.call(start_request(&[("x-endpoint-secret", "s3cret")]));
    assert_eq!(admitted.status(), 200);
}

#[test]
fn shutdown_ends_every_runner_and_refuses_new_starts() {
    let runtime = MemoryRuntime::new();
    let serverless = serverless(&runtime);
    let responses: Vec<_> = (0..3)
        .map(|_| serverless.call(start_request(&[])))
        .collect();
    let mut engines: Vec<_> = (0..3).map(|_| block_on(runtime.accept())).collect();
    for (i, engine) in engines.iter_mut().enumerate() {
        block_on(engine.accept_init(&format!("runner-{i}"))).unwrap();
    }
    // Every runner connected (its init packet sent) before the shutdown.
    let bodies: Vec<_> = responses
        .into_iter()
        .map(|response| next_frame(response.into_body()).0)
        .collect();
    let (done_tx, done) = mpsc::channel();
    let stopping = serverless.clone();
    std::thread::spawn(move || {
        block_on(stopping.shutdown(ShutdownMode::Graceful));
        let _ = done_tx.send(());
    });
    for mut engine in engines {
        let stopping = block_on(engine.recv_message());
        assert!(matches!(stopping, Some(ToServer::Stopping)), "{stopping:?}");
        block_on(engine.close(1000, "pegboard.runner_shutdown"));
    }
    done.recv_timeout(BOUND).expect("shutdown returned");
    assert_eq!(serverless.running(), 0);
    for mut body in bodies {
        loop {
            let (rest, frame) = next_frame(body);
            if frame.is_none() {
                break;
            }
            body = rest;
        }
    }
    let refused = serverless.call(start_request(&[]));
    assert_eq!(refused.status(), 503);
}

#[test]
fn metadata_never_announces_the_envoy_protocol() {
    let runtime = MemoryRuntime::new();
    let template = Builder::new(runtime)
        .version(4)
        .actor_name("counter", serde_json::json!({"icon": "c"}));
    let serverless = Serverless::builder(template).build(Idle).unwrap();
    let response = serverless.call(http::Request::get("/api/rivet/metadata").body(()).unwrap());
    assert_eq!(response.headers()["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&text(response)).unwrap();
    assert_eq!(json["runtime"], "rivetkit");
    assert!(!json["version"].as_str().unwrap().is_empty());
    assert_eq!(json["actorNames"]["counter"]["metadata"]["icon"], "c");
    assert_eq!(json["runner"]["version"], 4);
    assert!(json.get("envoyProtocolVersion").is_none());
}
