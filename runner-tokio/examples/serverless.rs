//! A serverless runner on tokio: the engine starts runners on demand by
//! calling `GET /api/rivet/start` here; every actor counts the requests it
//! answered, in its KV (so the count survives sleeping and waking).
//!
//!     cargo run -p runner-tokio --example serverless            # listens on 127.0.0.1:8080
//!     curl -X PUT 'http://127.0.0.1:6420/runner-configs/counter?namespace=default' \
//!       -H 'Authorization: Bearer dev' -H 'content-type: application/json' \
//!       -d '{"datacenters":{"default":{"serverless":{"url":"http://127.0.0.1:8080/api/rivet",
//!            "headers":{},"request_lifespan":300,"drain_grace_period":5,"slots_per_runner":100,
//!            "min_runners":0,"max_runners":10,"runners_margin":0}}}}'
//!     curl -X POST 'http://127.0.0.1:6420/actors?namespace=default' -H 'Authorization: Bearer dev' \
//!       -H 'content-type: application/json' \
//!       -d '{"name":"counter","key":"c1","runner_name_selector":"counter","crash_policy":"sleep"}'
//!     curl http://127.0.0.1:6420/gateway/<actor_id>/   # "1", "2", …
//!
//! The HTTP server is hyper 1 on tokio (hyper-util's `TokioIo`); any server
//! that hands `http::Request`s over works the same (axum: `route_service`
//! with the `tower` feature). Ctrl-C drains every runner, then exits.

use std::convert::Infallible;

use runner_tokio::serverless::{self, Serverless};
use runner_tokio::{ActorContext, Handler, Request, Response, ShutdownMode};

struct Counter;

impl Handler for Counter {
    async fn on_request(&self, actor: ActorContext, _request: Request) -> Response {
        let count = match actor.kv_get_one("count").await {
            Ok(value) => value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()),
            Err(err) => return Response::new(format!("KV failed: {err}\n").into()),
        };
        let count = count.unwrap_or(0u64) + 1;
        if let Err(err) = actor.kv_put([("count", count.to_string())]).await {
            return Response::new(format!("KV failed: {err}\n").into());
        }
        Response::new(format!("{count}\n").into())
    }
}

/// Accepts HTTP/1 connections and hands every request to the endpoint.
async fn serve(listener: tokio::net::TcpListener, endpoint: Serverless<Counter>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let endpoint = endpoint.clone();
        let service = hyper::service::service_fn(move |request| {
            let response = endpoint.call(request);
            async move { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            // A dropped connection drops the /start stream: that runner
            // then shuts down gracefully.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // Endpoint, namespace, runner name, slots and token come with each
    // /start; the rest of the runner's settings are set here.
    let template = runner_tokio::builder().token("dev");
    let endpoint = serverless::builder(template)
        .max_runners(32)
        .build(Counter)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!(
        "serverless endpoint: http://{}/api/rivet",
        listener.local_addr()?
    );
    tokio::spawn(serve(listener, endpoint.clone()));
    tokio::signal::ctrl_c().await?;
    endpoint.shutdown(ShutdownMode::Graceful).await;
    Ok(())
}
