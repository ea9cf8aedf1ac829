//! End to end, through the real engine's gateway: the test runner's HTTP and
//! KV routes. One engine and one runner per driver for the whole binary;
//! every test uses actors of its own.

mod e2e_support;

use anyhow::{Result, bail, ensure};
use e2e_support::{Driver, disconnects, expect, get, ping, post, request, shared};
use serde_json::{Value, json};
use tests::api::Method;

e2e_support::driver_tests!(
    ping_answers_with_identity,
    unknown_routes_are_404,
    echo_is_byte_exact_for_5_mib,
    headers_pass_through,
    status_codes_pass_through,
    response_over_20_mib_is_500_and_nothing_else_breaks,
    kv_put_get_delete,
    kv_list_prefix_reverse_limit,
    kv_range_inclusive_and_exclusive,
    kv_drop_removes_everything,
    concurrent_requests_to_one_actor,
);

/// The engine's limit on one tunnel message body.
const TUNNEL_LIMIT: u64 = 20 << 20;

async fn ping_answers_with_identity(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let actor = shared.actor("ping").await?;
    let response = get(&shared.api(), &actor, "/ping", 200).await?;
    ensure!(
        response.header("content-type") == Some("application/json"),
        "content-type {:?}",
        response.header("content-type")
    );
    let body: Value = response.json()?;
    let expected = json!({"actorId": actor, "generation": 0, "starts": 1, "status": "ok"});
    ensure!(
        body == expected,
        "ping answered {body}, expected {expected}"
    );
    Ok(())
}

async fn unknown_routes_are_404(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("not-found").await?;
    get(&api, &actor, "/no/such/route", 404).await?;
    // Known paths with another method are not routes either.
    get(&api, &actor, "/echo", 404).await?;
    post(&api, &actor, "/ping", "", 404).await?;
    Ok(())
}

async fn echo_is_byte_exact_for_5_mib(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let actor = shared.actor("echo").await?;
    let body = pseudo_random_bytes(5 << 20, 7);
    let content_type = "application/x-e2e-test";
    let echo = request(Method::POST, &actor, "/echo")
        .header("content-type", content_type)
        .body(body.clone());
    let response = expect(&shared.api(), echo, 200).await?;
    ensure!(
        response.body.len() == body.len(),
        "echoed {} bytes of {}",
        response.body.len(),
        body.len()
    );
    ensure!(response.body == body, "the echoed body differs");
    ensure!(
        response.header("content-type") == Some(content_type),
        "content-type came back as {:?}",
        response.header("content-type")
    );
    // Small and empty bodies, text this time.
    for text in ["hello", ""] {
        let echo = request(Method::POST, &actor, "/echo")
            .header("content-type", "text/plain")
            .body(text);
        let response = expect(&shared.api(), echo, 200).await?;
        ensure!(
            response.text() == text,
            "echo of {text:?}: {:?}",
            response.text()
        );
    }
    Ok(())
}

async fn headers_pass_through(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let actor = shared.actor("headers").await?;
    let call = request(Method::GET, &actor, "/headers")
        .header("X-E2E-Mixed-Case", "Value With Spaces")
        .header("x-e2e-other", "2");
    let headers: Value = expect(&shared.api(), call, 200).await?.json()?;
    ensure!(
        headers["x-e2e-mixed-case"] == "Value With Spaces" && headers["x-e2e-other"] == "2",
        "headers as received: {headers}"
    );
    let names = headers
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>());
    ensure!(
        names
            .iter()
            .flatten()
            .all(|n| n.chars().all(|c| !c.is_ascii_uppercase())),
        "header names are not lower-case: {names:?}"
    );
    Ok(())
}

async fn status_codes_pass_through(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("status").await?;
    for code in [200, 201, 204, 301, 400, 404, 418, 500, 503] {
        let response = get(&api, &actor, &format!("/status/{code}"), code).await?;
        ensure!(
            response.body.is_empty(),
            "/status/{code} has a body: {}",
            response.text()
        );
    }
    // Not a status code: "anything else" in the contract.
    get(&api, &actor, "/status/abc", 404).await?;
    get(&api, &actor, "/status/100", 404).await?;
    Ok(())
}

async fn response_over_20_mib_is_500_and_nothing_else_breaks(
    driver: &'static Driver,
) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("big").await?;
    let other = shared.actor("big-other").await?;
    let disconnects_before = disconnects(&shared.runner.events());

    let exact = get(&api, &actor, &format!("/big?bytes={TUNNEL_LIMIT}"), 200).await?;
    ensure!(
        exact.body.len() as u64 == TUNNEL_LIMIT,
        "got {} bytes",
        exact.body.len()
    );
    let digits_ok = exact
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == b'0' + (i % 10) as u8);
    ensure!(digits_ok, "the body is not 0123456789 repeated");

    let over = format!("/big?bytes={}", TUNNEL_LIMIT + 1);
    get(&api, &actor, &over, 500).await?;
    get(&api, &actor, "/big?bytes=1000000000", 500).await?;

    // The connection carried on: both actors answer, and no reconnect.
    ping(&api, &actor).await?;
    ping(&api, &other).await?;
    let small = get(&api, &other, "/big?bytes=15", 200).await?;
    ensure!(
        small.text() == "012345678901234",
        "small body {:?}",
        small.text()
    );
    let events = shared.runner.events();
    if disconnects(&events) != disconnects_before {
        bail!("the runner reconnected: {events:?}");
    }
    Ok(())
}

async fn kv_put_get_delete(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("kv").await?;
    get(&api, &actor, "/kv/missing", 404).await?;
    put(&api, &actor, "greeting", "hello").await?;
    put(&api, &actor, "empty", "").await?;
    put(&api, &actor, "with%2Fslash%20and%20space", "odd key").await?;
    ensure!(get(&api, &actor, "/kv/greeting", 200).await?.text() == "hello");
    ensure!(get(&api, &actor, "/kv/empty", 200).await?.body.is_empty());
    let odd = get(&api, &actor, "/kv/with%2Fslash%20and%20space", 200).await?;
    ensure!(odd.text() == "odd key", "odd key: {:?}", odd.text());
    // Values up to the engine's 128 KiB limit round-trip whole.
    let big = "v".repeat(128 << 10);
    put(&api, &actor, "big", &big).await?;
    ensure!(
        get(&api, &actor, "/kv/big", 200).await?.text() == big,
        "128 KiB value"
    );
    let delete = request(Method::DELETE, &actor, "/kv/big");
    expect(&api, delete, 204).await?;
    put(&api, &actor, "greeting", "bonjour").await?;
    ensure!(get(&api, &actor, "/kv/greeting", 200).await?.text() == "bonjour");
    let delete = request(Method::DELETE, &actor, "/kv/greeting");
    expect(&api, delete, 204).await?;
    get(&api, &actor, "/kv/greeting", 404).await?;
    let all = list(&api, &actor, "/kv").await?;
    ensure!(
        all == pairs(&[("empty", ""), ("with/slash and space", "odd key")]),
        "listing after the delete: {all:?}"
    );
    Ok(())
}

async fn kv_list_prefix_reverse_limit(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("kv-list").await?;
    for (key, value) in [
        ("b/2", "v2"),
        ("a", "va"),
        ("b/1", "v1"),
        ("b/3", "v3"),
        ("c", "vc"),
    ] {
        put(&api, &actor, key, value).await?;
    }
    let all = pairs(&[
        ("a", "va"),
        ("b/1", "v1"),
        ("b/2", "v2"),
        ("b/3", "v3"),
        ("c", "vc"),
    ]);
    let cases = [
        ("/kv", all.clone()),
        ("/kv?prefix=b%2F", all[1..4].to_vec()),
        (
            "/kv?prefix=b/&reverse=true",
            all[1..4].iter().rev().cloned().collect(),
        ),
        ("/kv?prefix=b/&limit=2", all[1..3].to_vec()),
        (
            "/kv?prefix=b/&reverse=true&limit=2",
            vec![all[3].clone(), all[2].clone()],
        ),
        ("/kv?reverse=true", all.iter().rev().cloned().collect()),
        ("/kv?limit=1", all[..1].to_vec()),
        ("/kv?prefix=zzz", Vec::new()),
    ];
    for (path, expected) in cases {
        let got = list(&api, &actor, path).await?;
        ensure!(
            got == expected,
            "{path}: got {got:?}, expected {expected:?}"
        );
    }
    Ok(())
}

async fn kv_range_inclusive_and_exclusive(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("kv-range").await?;
    for key in ["k1", "k2", "k3", "k4"] {
        put(&api, &actor, key, &key.to_uppercase()).await?;
    }
    let cases = [
        (
            "/kv-range?start=k2&end=k4",
            vec![("k2", "K2"), ("k3", "K3"), ("k4", "K4")],
        ),
        (
            "/kv-range?start=k2&end=k4&exclusive=true",
            vec![("k2", "K2"), ("k3", "K3")],
        ),
        ("/kv-range?start=k0&end=k1", vec![("k1", "K1")]),
        ("/kv-range?start=k0&end=k1&exclusive=true", vec![]),
    ];
    for (path, expected) in cases {
        let got = list(&api, &actor, path).await?;
        ensure!(got == pairs(&expected), "{path}: got {got:?}");
    }
    get(&api, &actor, "/kv-range?start=k1", 400).await?;
    Ok(())
}

async fn kv_drop_removes_everything(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("kv-drop").await?;
    let other = shared.actor("kv-drop-other").await?;
    for key in ["x", "y", "z"] {
        put(&api, &actor, key, "1").await?;
    }
    put(&api, &other, "x", "kept").await?;
    post(&api, &actor, "/kv-drop", "", 204).await?;
    ensure!(
        list(&api, &actor, "/kv").await?.is_empty(),
        "keys left after the drop"
    );
    get(&api, &actor, "/kv/x", 404).await?;
    // Another actor's keys are untouched.
    ensure!(get(&api, &other, "/kv/x", 200).await?.text() == "kept");
    Ok(())
}

async fn concurrent_requests_to_one_actor(driver: &'static Driver) -> Result<()> {
    const REQUESTS: usize = 100;
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("crowded").await?;
    let calls = (0..REQUESTS).map(|i| {
        let call = request(Method::POST, &actor, "/echo").body(format!("request {i}"));
        let api = api.clone();
        async move {
            let answer = expect(&api, call, 200).await?;
            ensure!(
                answer.text() == format!("request {i}"),
                "{i}: {}",
                answer.text()
            );
            Ok(())
        }
    });
    futures::future::try_join_all(calls).await?;
    Ok(())
}

/// `PUT /kv/<key>` (the key as it goes in the path) → 204.
async fn put(api: &tests::api::Api, actor: &str, key: &str, value: &str) -> Result<()> {
    let call = request(Method::PUT, actor, &format!("/kv/{key}")).body(value);
    expect(api, call, 204).await.map(drop)
}

/// A KV listing as `(key, value)` pairs.
async fn list(api: &tests::api::Api, actor: &str, path: &str) -> Result<Vec<(String, String)>> {
    get(api, actor, path, 200).await?.json()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `len` reproducible bytes covering every value (xorshift).
fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
