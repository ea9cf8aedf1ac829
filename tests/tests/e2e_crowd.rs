//! End to end, against the real engine: 200 actors at once on one runner.
//!
//! A binary of its own, so its own engine: the 200 creates keep the engine
//! busy for a minute on a 2-core machine, and the lifecycle tests that shared
//! its engine saw their state changes land late (a crash not visible after
//! 20 s, once).

mod e2e_support;

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use e2e_support::{Driver, ping, shared, starts, wait_until};
use futures::{StreamExt, TryStreamExt};
use tests::api::Api;

e2e_support::driver_tests!(heavy: two_hundred_actors_at_once);

async fn two_hundred_actors_at_once(driver: &'static Driver) -> Result<()> {
    const ACTORS: usize = 200;
    const CREATES_IN_FLIGHT: usize = 5;
    let shared = shared(driver).await?;
    let api = shared.api();
    let started = Instant::now();
    // Creates go 5 at a time: the engine runs two workflows per create, and
    // concurrent creates on a busy 2-core machine overwhelm it — 200 at once
    // took over its own 30 s create timeout; 20 at once, with the machine
    // busy, made its allocation transactions conflict until it gave up
    // ("max number of transaction retries reached", the create answered
    // `destroyed_during_creation`), or its workflow worker fall behind and
    // restart ("took too long pulling workflows"), or an actor miss the
    // engine's 30 s start threshold and start again as generation 1 (seen
    // in CI). The 200 actors then all live, and answer, at once.
    let creates = (0..ACTORS).map(|_| create(&api, &shared.runner.name));
    let actors: Vec<String> = futures::stream::iter(creates)
        .buffer_unordered(CREATES_IN_FLIGHT)
        .try_collect()
        .await?;
    let created = started.elapsed();
    let pings = actors.iter().map(|actor| ping_in_crowd(&api, actor));
    let answers = futures::future::try_join_all(pings).await?;
    let runner = &shared.runner.process;
    for (actor, answer) in actors.iter().zip(&answers) {
        ensure!(
            answer.generation == 0,
            "{actor}: {answer:?}; the runner's story of it:\n{}",
            runner.actor_story(actor)
        );
    }
    wait_until(
        runner,
        "200 actor_start lines",
        e2e_support::EVENT_TIMEOUT,
        |e| actors.iter().all(|a| !starts(e, a).is_empty()),
    )
    .await?;
    eprintln!(
        "{ACTORS} actors created in {created:?}, all answered after {:?}",
        started.elapsed()
    );
    Ok(())
}

/// A crowd member's ping. With hundreds of actors starting on a busy
/// machine the engine itself sometimes answers 504
/// `pegboard.route_subscribe_timeout` (its own 2 s routing bound), or drops
/// the request (engine.md): those are retried, for a while; any other
/// answer fails.
async fn ping_in_crowd(api: &Api, actor: &str) -> Result<e2e_support::Ping> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match ping(api, actor).await {
            Err(err) if Instant::now() < deadline && engine_hiccup(&err) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            outcome => return outcome,
        }
    }
}

fn engine_hiccup(err: &anyhow::Error) -> bool {
    let text = format!("{err:#}");
    text.contains("route_subscribe_timeout") || text.contains("no answer after")
}

async fn create(api: &Api, runner_name: &str) -> Result<String> {
    e2e_support::create_actor(api, runner_name, "crowd").await
}
