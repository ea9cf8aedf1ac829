//! End to end, real engine: user handlers that panic, hang or fail. The
//! actor and the runner keep serving other requests, and each client gets an
//! answer — a 500, a 504 once the request timeout passes, or a close — never
//! a hang. The test-runner contract has no such routes, so the runner is
//! built in process (`runner_tokio::builder()`, see `e2e_faults_support`)
//! with a short request timeout.

mod e2e_faults_support;
// For its engine settings and runner-name declaration only.
#[allow(unused_macros, unused_imports)]
mod e2e_support;

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use e2e_faults_support::{InProcess, Note, run};
use futures::{SinkExt, StreamExt};
use tests::api::{Api, GatewayRequest, GatewayResponse, Method};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The runner's request timeout in this test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on a request that must be answered.
const ANSWER: Duration = Duration::from_secs(20);

async fn get(api: &Api, actor: &str, path: &str) -> Result<GatewayResponse> {
    let request = GatewayRequest::new(Method::GET, actor, path)
        .timeout(ANSWER)
        .attempts(1);
    api.gateway(request).await
}

async fn expect_ok(api: &Api, actor: &str) -> Result<()> {
    let response = get(api, actor, "/ok").await?;
    ensure!(
        response.status == 200 && response.text().starts_with(&format!("ok {actor}")),
        "/ok answered {}: {}",
        response.status,
        response.text()
    );
    Ok(())
}

#[test]
fn panicking_hanging_and_failing_handlers_do_not_take_the_actor_down() {
    run(Duration::from_secs(240), async {
        let engine = e2e_support::start_engine().await?;
        let api = engine.api();
        api.configure_runner_name("faults-handlers").await?;
        let runner = InProcess::spawn(&engine.endpoint(), "faults-handlers", |b| {
            b.request_timeout(REQUEST_TIMEOUT)
        })?;
        runner.connected(1, ANSWER).await?;
        let actor = api
            .create_actor("faulty", Some("faulty-1"), "faults-handlers")
            .await?;
        runner
            .wait("the actor's start", ANSWER, |n| {
                n.contains(&Note::Start(actor.clone(), 0))
            })
            .await?;
        expect_ok(&api, &actor).await?;

        // A hanging handler: the client gets a 504 once the request timeout
        // passes; meanwhile the actor answers other requests.
        let hang = {
            let (api, actor) = (api.clone(), actor.clone());
            tokio::spawn(async move {
                let sent = Instant::now();
                let response = get(&api, &actor, "/hang").await;
                (response, sent.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        expect_ok(&api, &actor).await.context("during the hang")?;

        let panicked = get(&api, &actor, "/panic").await?;
        ensure!(
            panicked.status == 500,
            "/panic answered {}",
            panicked.status
        );
        expect_ok(&api, &actor).await.context("after the panic")?;

        let failed = get(&api, &actor, "/body-error").await?;
        ensure!(
            failed.status == 500,
            "/body-error answered {}",
            failed.status
        );
        expect_ok(&api, &actor)
            .await
            .context("after the body error")?;

        let (hung, took) = hang.await?;
        let hung = hung?;
        ensure!(hung.status == 504, "/hang answered {}", hung.status);
        ensure!(
            took >= REQUEST_TIMEOUT && took < REQUEST_TIMEOUT + Duration::from_secs(10),
            "/hang answered after {took:?} (request timeout {REQUEST_TIMEOUT:?})"
        );
        eprintln!("/hang: 504 after {took:?}");

        // A socket handler that panics: the client's socket is closed.
        let mut socket = api.gateway_ws(&actor, "/ws-panic").await?;
        let closed = next_close(&mut socket, ANSWER).await?;
        ensure!(
            closed == Some(CloseCode::Error),
            "/ws-panic ended with {closed:?}"
        );
        expect_ok(&api, &actor)
            .await
            .context("after the socket panic")?;

        ensure!(
            runner
                .notes()
                .iter()
                .all(|n| !matches!(n, Note::Disconnected(..) | Note::Stop(..))),
            "the runner lost its connection or the actor: {:?}",
            runner.notes()
        );
        runner.stop().await?;
        Ok(())
    });
}

/// A socket handler that never reads: past the per-socket backlog (1024
/// messages) the runner closes that socket (1011
/// `runner.socket_backlog_full`) instead of buffering without bound; the
/// actor and other sockets are unaffected.
#[test]
fn a_socket_handler_that_never_reads_gets_its_socket_closed() {
    run(Duration::from_secs(240), async {
        let engine = e2e_support::start_engine().await?;
        let api = engine.api();
        api.configure_runner_name("faults-deaf").await?;
        let runner = InProcess::spawn(&engine.endpoint(), "faults-deaf", |b| b)?;
        runner.connected(1, ANSWER).await?;
        let actor = api
            .create_actor("deaf", Some("deaf-1"), "faults-deaf")
            .await?;
        runner
            .wait("the actor's start", ANSWER, |n| {
                n.contains(&Note::Start(actor.clone(), 0))
            })
            .await?;
        let mut echo = api.gateway_ws(&actor, "/ws").await?;
        let mut deaf = api.gateway_ws(&actor, "/ws-deaf").await?;
        match tokio::time::timeout(ANSWER, deaf.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == "deaf" => {}
            other => bail!("/ws-deaf did not open: {other:?}"),
        }
        // Paced: the engine skips tunnel messages past ~1000 in flight to
        // one runner, so an unpaced burst could lose enough of them that the
        // runner never sees its backlog fill. Sending stops once the socket
        // is closed.
        let sent = Instant::now();
        let (mut sink, mut stream) = deaf.split();
        let reader = tokio::spawn(async move { next_close(&mut stream, ANSWER * 2).await });
        for n in 0..4000u32 {
            if reader.is_finished()
                || sink
                    .send(Message::Text(format!("m{n}").into()))
                    .await
                    .is_err()
            {
                break;
            }
            if n % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let closed = reader.await??;
        eprintln!(
            "deaf socket closed ({closed:?}) {:?} after the first message",
            sent.elapsed()
        );
        ensure!(
            closed == Some(CloseCode::Error),
            "the deaf socket ended with {closed:?}"
        );
        echo.send(Message::Text("still here".into())).await?;
        match tokio::time::timeout(ANSWER, echo.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == "still here" => {}
            other => bail!("the other socket no longer echoes: {other:?}"),
        }
        expect_ok(&api, &actor).await?;
        runner.stop().await?;
        Ok(())
    });
}

/// Reads until the socket closes; the close code, or `None` when the stream
/// ended without a close frame. Fails if nothing ends it within `timeout`.
async fn next_close<S>(socket: &mut S, timeout: Duration) -> Result<Option<CloseCode>>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => bail!("the socket was neither closed nor ended within {timeout:?}"),
            Ok(None) => return Ok(None),
            Ok(Some(Err(_))) => return Ok(None),
            Ok(Some(Ok(Message::Close(frame)))) => return Ok(frame.map(|f| f.code)),
            Ok(Some(Ok(_))) => continue,
        }
    }
}
