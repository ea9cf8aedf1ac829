//! End to end, through the real engine's gateway: the test runner's
//! WebSockets — `/ws` echo and close, plain sockets of a destroyed actor,
//! `/hws` surviving its actor's sleep — and the older protocol versions.

mod e2e_support;

use anyhow::{Result, bail, ensure};
use e2e_support::{
    Driver, TestRunner, WS_TIMEOUT, disconnects, engine, ping, post, shared, wait_actor,
    wait_starts, wait_stops, ws_echo, ws_next, ws_send,
};
use tests::api::{Api, GatewaySocket};
use tokio_tungstenite::tungstenite::Message;

e2e_support::driver_tests!(
    ws_echoes_text_and_binary_and_closes_on_request,
    ws_message_over_20_mib_closes_only_its_socket,
    destroy_closes_plain_sockets,
    hibernatable_socket_survives_sleep,
    closed_hibernatable_socket_is_forgotten,
    older_protocol_versions_serve_everything,
);

async fn ws_echoes_text_and_binary_and_closes_on_request(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("ws").await?;
    let mut socket = api.gateway_ws(&actor, "/ws").await?;
    ws_echo(&mut socket, text("hello")).await?;
    ws_echo(&mut socket, Message::Binary(vec![0, 1, 2, 255].into())).await?;
    ws_echo(&mut socket, text("")).await?;
    ws_echo(&mut socket, Message::Binary(vec![7; 256 * 1024].into())).await?;
    ws_send(&mut socket, text("close")).await?;
    expect_close(&mut socket, 1000, "bye").await?;

    // Several sockets at once each get their own echo; a client close is fine.
    let mut a = api.gateway_ws(&actor, "/ws").await?;
    let mut b = api.gateway_ws(&actor, "/ws?second").await?;
    ws_echo(&mut b, text("to b")).await?;
    ws_echo(&mut a, text("to a")).await?;
    ws_send(&mut a, Message::Close(None)).await?;
    ws_echo(&mut b, text("b still open")).await?;
    ping(&api, &actor).await?;
    Ok(())
}

async fn ws_message_over_20_mib_closes_only_its_socket(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("ws-big").await?;
    let disconnects_before = disconnects(&shared.runner.events());
    let mut other = api.gateway_ws(&actor, "/ws").await?;
    let mut socket = api.gateway_ws(&actor, "/ws").await?;
    ws_echo(&mut socket, Message::Binary(vec![3; 1 << 20].into())).await?;
    // The echo would be over the engine's 20 MiB tunnel limit, which would
    // cost the whole runner connection: the runner refuses it instead.
    ws_send(&mut socket, Message::Binary(vec![4; (20 << 20) + 1].into())).await?;
    expect_close(&mut socket, 1009, "message too big").await?;
    ws_echo(&mut other, text("still here")).await?;
    ping(&api, &actor).await?;
    let events = shared.runner.events();
    ensure!(
        disconnects(&events) == disconnects_before,
        "the runner reconnected: {events:?}"
    );
    Ok(())
}

async fn destroy_closes_plain_sockets(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("ws-destroy").await?;
    let mut socket = api.gateway_ws(&actor, "/ws").await?;
    ws_echo(&mut socket, text("before")).await?;
    api.delete_actor(&actor).await?;
    ensure!(wait_stops(&shared.runner.process, &actor, 1).await? == 0);
    // The gateway does not close plain sockets on a destroy: the runner must.
    match ws_next(&mut socket, WS_TIMEOUT).await? {
        Some(Message::Close(_)) | None => {}
        other => bail!("expected the socket to close, got {other:?}"),
    }
    wait_actor(&api, &actor, "destroyed", |a| a.destroy_ts.is_some()).await?;
    Ok(())
}

async fn hibernatable_socket_survives_sleep(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let runner = &shared.runner.process;
    let actor = shared.actor("hws").await?;
    let mut socket = api.gateway_ws(&actor, "/hws").await?;
    ws_echo(&mut socket, text("m1")).await?;
    ws_echo(&mut socket, Message::Binary(vec![1, 2, 3].into())).await?;

    sleep_actor(&api, &actor).await?;
    ensure!(wait_stops(runner, &actor, 1).await? == 0);
    wait_actor(&api, &actor, "asleep", |a| a.sleep_ts.is_some()).await?;

    // A message to the sleeping actor wakes it and is echoed, once.
    ws_echo(&mut socket, text("m2 wakes it")).await?;
    ensure!(
        wait_starts(runner, &actor, 2).await? == 1,
        "the wake is generation 1"
    );
    ws_echo(&mut socket, text("m3")).await?;
    let awake = ping(&api, &actor).await?;
    ensure!(
        (awake.generation, awake.starts) == (1, 2),
        "after the wake: {awake:?}"
    );

    // A second cycle: the indices persisted after the wake are right too.
    sleep_actor(&api, &actor).await?;
    ensure!(wait_stops(runner, &actor, 2).await? == 1);
    wait_actor(&api, &actor, "asleep again", |a| a.sleep_ts.is_some()).await?;
    // Two messages while it sleeps: both echoed, in order, once.
    let (m4, m5) = (Message::Binary(vec![4, 5].into()), text("m5"));
    ws_send(&mut socket, m4.clone()).await?;
    ws_send(&mut socket, m5.clone()).await?;
    for sent in [m4, m5] {
        let echo = ws_next(&mut socket, WS_TIMEOUT).await?;
        ensure!(echo.as_ref() == Some(&sent), "sent {sent:?}, got {echo:?}");
    }
    ensure!(wait_starts(runner, &actor, 3).await? == 2);
    ws_echo(&mut socket, text("m6")).await?;
    ws_send(&mut socket, text("close")).await?;
    expect_close(&mut socket, 1000, "bye").await
}

async fn closed_hibernatable_socket_is_forgotten(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let runner = &shared.runner.process;
    let actor = shared.actor("hws-closed").await?;
    let mut closed = api.gateway_ws(&actor, "/hws").await?;
    ws_echo(&mut closed, text("one")).await?;
    ws_send(&mut closed, text("close")).await?;
    expect_close(&mut closed, 1000, "bye").await?;

    // The actor sleeps and wakes on a request: nothing of the closed socket
    // comes back, and a new hibernatable socket works.
    sleep_actor(&api, &actor).await?;
    wait_stops(runner, &actor, 1).await?;
    wait_actor(&api, &actor, "asleep", |a| a.sleep_ts.is_some()).await?;
    let awake = ping(&api, &actor).await?;
    ensure!(awake.generation == 1, "after the wake: {awake:?}");
    let mut fresh = api.gateway_ws(&actor, "/hws").await?;
    ws_echo(&mut fresh, text("fresh")).await?;
    ws_send(&mut fresh, Message::Close(None)).await?;
    Ok(())
}

async fn older_protocol_versions_serve_everything(driver: &'static Driver) -> Result<()> {
    let engine = engine().await?;
    let api = engine.api();
    for version in [5u16, 6] {
        let name = format!("e2e-websocket-v{version}-{}", driver.package);
        let runner =
            TestRunner::start(driver, engine, &name, |b| b.protocol_version(version)).await?;
        let actor = runner.actor(&api, "versions").await?;
        ping(&api, &actor).await?;
        let mut plain = api.gateway_ws(&actor, "/ws").await?;
        ws_echo(&mut plain, text("plain")).await?;
        let mut socket = api.gateway_ws(&actor, "/hws").await?;
        ws_echo(&mut socket, text("before sleep")).await?;
        sleep_actor(&api, &actor).await?;
        wait_stops(&runner.process, &actor, 1).await?;
        wait_actor(&api, &actor, "asleep", |a| a.sleep_ts.is_some()).await?;
        ws_echo(&mut socket, text("wakes it")).await?;
        ensure!(
            wait_starts(&runner.process, &actor, 2).await? == 1,
            "v{version}: wake"
        );
    }
    Ok(())
}

async fn sleep_actor(api: &Api, actor: &str) -> Result<()> {
    post(api, actor, "/sleep", "", 200).await.map(drop)
}

fn text(text: &str) -> Message {
    Message::Text(text.into())
}

/// Expects a close frame with `code` and `reason`.
async fn expect_close(socket: &mut GatewaySocket, code: u16, reason: &str) -> Result<()> {
    match ws_next(socket, WS_TIMEOUT).await? {
        Some(Message::Close(Some(frame)))
            if u16::from(frame.code) == code && frame.reason.as_str() == reason =>
        {
            Ok(())
        }
        other => bail!("expected close {code} {reason:?}, got {other:?}"),
    }
}
