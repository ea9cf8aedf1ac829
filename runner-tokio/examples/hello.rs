//! The smallest useful runner: every actor answers `hello` over HTTP and
//! echoes WebSocket messages.
//!
//!     RIVET_ENDPOINT=http://127.0.0.1:6420 cargo run -p runner-tokio --example hello

use runner_tokio::{ActorContext, Handler, Message, Request, Response, WebSocketRequest};

struct Hello;

impl Handler for Hello {
    async fn on_request(&self, actor: ActorContext, request: Request) -> Response {
        Response::new(format!("hello from {} ({})\n", actor.actor_id(), request.uri()).into())
    }

    async fn on_websocket(&self, _actor: ActorContext, socket: WebSocketRequest) {
        let Ok(mut ws) = socket.accept(false).await else {
            return;
        };
        while let Some(message) = ws.recv().await {
            if matches!(message, Message::Close(_)) || ws.send(message).await.is_err() {
                break;
            }
        }
    }

    fn on_connected(&self, runner_id: &str) {
        println!("connected as {runner_id}");
    }
}

#[tokio::main]
async fn main() -> Result<(), runner_tokio::BuildError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let endpoint =
        std::env::var("RIVET_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:6420".into());
    let runner = runner_tokio::builder()
        .endpoint(endpoint)
        .token("dev")
        .runner_name("hello")
        .build(Hello)?;
    let reason = runner.run().await;
    println!("shut down: {reason:?}");
    Ok(())
}
