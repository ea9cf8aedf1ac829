//! The host's `tracing` spans, seen by a capturing subscriber: the user's
//! own events in a handler carry the runner's, the actor's and the
//! request's fields; a KV call has its span with its outcome; the request
//! span gets its status. One test: the subscriber is the process's global
//! one (the runner's tasks run on threads of their own).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use runner_core::host::testing::MemoryRuntime;
use runner_core::host::{ActorContext, ActorInfo, BoxError, Builder, Handler, Request, Response};
use runner_core::protocol::{
    BareMap, KvResponseData, ToClient, ToClientKvResponse, ToClientTunnelMessageKind, ToServer,
};
use runner_core::{ShutdownMode, testing};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const BOUND: Duration = Duration::from_secs(10);

type Fields = BTreeMap<String, String>;

/// An event's message and fields, with every span around it (innermost
/// first): name and fields.
#[derive(Debug, Clone)]
struct Seen {
    message: String,
    spans: Vec<(String, Fields)>,
}

impl Seen {
    fn span(&self, name: &str) -> Option<&Fields> {
        self.spans.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

#[derive(Default, Clone)]
struct Capture {
    events: Arc<Mutex<Vec<Seen>>>,
    /// Spans as they were when they closed.
    closed: Arc<Mutex<Vec<(String, Fields)>>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(&mut Visitor(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<Fields>()
                            .cloned()
                            .unwrap_or_default();
                        (span.name().to_owned(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let message = fields.remove("message").unwrap_or_default();
        self.events.lock().unwrap().push(Seen { message, spans });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span
                .extensions()
                .get::<Fields>()
                .cloned()
                .unwrap_or_default();
            self.closed
                .lock()
                .unwrap()
                .push((span.name().to_owned(), fields));
        }
    }
}

struct Traced;

impl Handler for Traced {
    async fn on_actor_start(&self, _actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        tracing::info!("user start");
        Ok(())
    }

    async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
        tracing::info!("user request");
        let _ = actor.kv_put([("k", "v")]).await;
        Response::new("ok".into())
    }
}

fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(Instant::now() < deadline, "no {what} within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map_or("<missing>", String::as_str)
}

#[test]
fn handler_code_runs_inside_the_runner_actor_and_request_spans()
-> Result<(), Box<dyn std::error::Error>> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(
        capture
            .clone()
            .with_filter(tracing_subscriber::filter::LevelFilter::TRACE),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    let seen = |message: &str| {
        let events = capture.events.lock().unwrap();
        events.iter().find(|e| e.message == message).cloned()
    };

    let rt = MemoryRuntime::new();
    let runner = Builder::new(rt.clone())
        .endpoint("http://engine")
        .runner_name("traced")
        .build(Traced)?;
    let handle = runner.handle();
    let running = std::thread::spawn(move || block_on(runner.run()));
    let mut engine = block_on(rt.accept());
    block_on(engine.accept_init("runner-1"))?;
    block_on(engine.send_message(&testing::start_command("A", vec![])))?;

    let start = wait_for("user start event", || seen("user start"));
    let actor = start.span("actor").expect("inside the actor span");
    assert_eq!(
        (
            field(actor, "actor_id"),
            field(actor, "generation"),
            field(actor, "actor_name")
        ),
        ("A", "0", "n")
    );
    let runner_span = start.span("runner").expect("inside the runner span");
    assert_eq!(field(runner_span, "runner_name"), "traced");
    assert_eq!(field(runner_span, "runner_id"), "runner-1");

    let mut request = testing::get("A", "/items/7?token=secret");
    request.headers = BareMap(vec![("x-rivet-ray-id".into(), "ray-42".into())]);
    let kind = ToClientTunnelMessageKind::RequestStart(request);
    block_on(engine.send_message(&testing::tunnel_message(testing::key(1), 0, kind)))?;
    // Play the engine: answer the handler's KV put, then read the response.
    let answered = wait_for("KV request and response", || {
        match block_on(engine.recv_message())? {
            ToServer::KvRequest(kv) => {
                let answer = ToClient::KvResponse(ToClientKvResponse {
                    request_id: kv.request_id,
                    data: KvResponseData::Put,
                });
                block_on(engine.send_message(&answer)).ok()?;
                None
            }
            ToServer::TunnelMessage(msg) => Some(msg),
            _ => None,
        }
    });
    assert!(matches!(
        answered.message_kind,
        runner_core::protocol::ToServerTunnelMessageKind::ResponseStart(_)
    ));

    let user = wait_for("user request event", || seen("user request"));
    let span = user.span("request").expect("inside the request span");
    assert_eq!(
        (
            field(span, "actor_id"),
            field(span, "generation"),
            field(span, "actor_name"),
            field(span, "method"),
            field(span, "path"),
            field(span, "ray_id"),
        ),
        ("A", "0", "n", "GET", "/items/7", "ray-42")
    );
    assert!(
        user.span("runner").is_some(),
        "the request span is inside the runner's"
    );

    let kv = wait_for("KV call ended event", || seen("KV call ended"));
    let kv_span = kv.span("kv").expect("inside the kv span");
    assert_eq!(
        (
            field(kv_span, "kind"),
            field(kv_span, "keys"),
            field(kv_span, "outcome")
        ),
        ("put", "1", "ok")
    );
    assert!(
        kv.span("request").is_some(),
        "a handler's KV call is inside its request span"
    );

    let closed = wait_for("request span closed", || {
        let closed = capture.closed.lock().unwrap();
        closed.iter().find(|(name, _)| name == "request").cloned()
    });
    assert_eq!(field(&closed.1, "status"), "200");

    block_on(handle.shutdown(ShutdownMode::Immediate));
    running.join().expect("the runner ends");
    Ok(())
}
