//! The token is a secret: no `Debug` output of the types that hold it, and
//! no log line of a runner connecting at trace level, contains it. (The
//! end-to-end TLS suite checks the same of a real runner's trace log.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use runner_core::host::testing::MemoryRuntime;
use runner_core::host::{Builder, Handler};
use runner_core::{Config, Runner, Timestamp};

const TOKEN: &str = "s3cr3t-token-81c2";

struct Nothing;
impl Handler for Nothing {}

fn builder(rt: MemoryRuntime) -> Builder<MemoryRuntime> {
    Builder::new(rt)
        .endpoint("https://rivet.example")
        .runner_name("r")
        .token(TOKEN)
}

#[test]
fn debug_output_never_shows_the_token() {
    let rt = MemoryRuntime::new();
    let builder = builder(rt.clone());
    let runner = builder.clone().build(Nothing).expect("builds");
    let mut config = Config::new("https://rivet.example", "r", "k");
    config.token = Some(TOKEN.into());
    let mut core = Runner::new(config.clone(), Timestamp::ZERO).expect("valid");
    core.start(Timestamp::ZERO);
    let connect = core.poll_transmit().expect("a connect");

    let printed = [
        format!("{builder:?}"),
        format!("{runner:?}"),
        format!("{config:?}"),
        format!("{core:?}"),
        format!("{connect:?}"),
    ];
    for text in &printed {
        assert!(!text.contains(TOKEN), "{text}");
    }
    // The token is there, only hidden.
    assert!(printed[2].contains("Token(<redacted>)"), "{}", printed[2]);
    assert!(
        printed[4].contains("rivet_token.<redacted>"),
        "{}",
        printed[4]
    );
}

/// Log lines, collected.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Write for Collected {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_runner_connecting_logs_no_token_at_trace_level() {
    let logs = Collected::default();
    let writer = logs.clone();
    // Global: the runner's loop runs on threads of its own.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let rt = MemoryRuntime::new();
    let (request, init) = rt.connect_once(builder(rt.clone()).build(Nothing).expect("builds"));
    // The token did reach the engine…
    assert!(request.subprotocols.iter().any(|p| p.ends_with(TOKEN)));
    assert!(!format!("{request:?}").contains(TOKEN));
    let _ = init;
    // …and no log line.
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    // What this runner logged, from the connect (its URL; a token there
    // would be a leak) to the end of its shutdown. Checked by content, not
    // by counting lines: the other test of this file may log into the same
    // global subscriber, or not, depending on timing.
    for logged in [
        "connecting conn=",
        "url=wss://rivet.example/",
        "shutdown complete",
    ] {
        assert!(text.contains(logged), "no {logged:?} logged: {text}");
    }
    assert!(!text.contains(TOKEN), "{text}");
}
