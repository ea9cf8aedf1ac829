//! End to end, against the real engine: actor lifecycles driven by the test
//! runner's routes — sleep and wake, alarms, stop and crash. (200 actors at
//! once are in `e2e_crowd.rs`, on an engine of their own.)

mod e2e_support;

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use e2e_support::{
    Driver, ping, post, request, shared, starts, wait_actor, wait_starts, wait_stops, wait_until,
};
use tests::api::Method;

e2e_support::driver_tests!(
    sleep_then_wake_on_request,
    alarm_wakes_a_sleeping_actor,
    stop_intent_destroys_the_actor,
    crash_stops_with_an_error_and_wakes_again,
);

/// The alarm of [`alarm_wakes_a_sleeping_actor`].
const ALARM: Duration = Duration::from_millis(1500);

async fn sleep_then_wake_on_request(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let runner = &shared.runner.process;
    let actor = shared.actor("sleeper").await?;
    let first = ping(&api, &actor).await?;
    ensure!((first.generation, first.starts) == (0, 1), "{first:?}");
    for (cycle, generation) in [(1usize, 1u32), (2, 2)] {
        post(&api, &actor, "/sleep", "", 200).await?;
        ensure!(wait_stops(runner, &actor, cycle).await? == generation - 1);
        wait_actor(&api, &actor, "asleep", |a| a.sleep_ts.is_some()).await?;
        // The request wakes it: a new generation, one more start.
        let awake = ping(&api, &actor).await?;
        ensure!(
            (awake.generation, awake.starts) == (generation, generation + 1),
            "after wake {cycle}: {awake:?}"
        );
        ensure!(wait_starts(runner, &actor, cycle + 1).await? == generation);
    }
    Ok(())
}

async fn alarm_wakes_a_sleeping_actor(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let runner = &shared.runner.process;
    let actor = shared.actor("alarm").await?;
    let set = Instant::now();
    let path = format!("/alarm?ms={}", ALARM.as_millis());
    post(&api, &actor, &path, "", 200).await?;
    ensure!(wait_stops(runner, &actor, 1).await? == 0);
    // No request: the engine starts generation 1 when the alarm fires.
    let wake = ALARM + Duration::from_secs(15);
    let events = wait_until(runner, "the alarm's wake", wake, |e| {
        starts(e, &actor).len() >= 2
    })
    .await?;
    let woke_after = set.elapsed();
    ensure!(
        starts(&events, &actor)[1] == 1,
        "starts: {:?}",
        starts(&events, &actor)
    );
    ensure!(
        woke_after >= ALARM.saturating_sub(Duration::from_millis(100)),
        "woke after {woke_after:?}, before the {ALARM:?} alarm"
    );
    let awake = ping(&api, &actor).await?;
    ensure!((awake.generation, awake.starts) == (1, 2), "{awake:?}");
    eprintln!("alarm of {ALARM:?} woke the actor after {woke_after:?}");
    Ok(())
}

async fn stop_intent_destroys_the_actor(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let actor = shared.actor("stopper").await?;
    post(&api, &actor, "/stop", "", 200).await?;
    ensure!(wait_stops(&shared.runner.process, &actor, 1).await? == 0);
    // With crash policy `sleep`, a clean stop destroys the actor.
    wait_actor(&api, &actor, "destroyed", |a| a.destroy_ts.is_some()).await?;
    let after = api.gateway(request(Method::GET, &actor, "/ping")).await?;
    ensure!(
        after.status != 200,
        "a destroyed actor answered: {}",
        after.text()
    );
    Ok(())
}

async fn crash_stops_with_an_error_and_wakes_again(driver: &'static Driver) -> Result<()> {
    let shared = shared(driver).await?;
    let api = shared.api();
    let runner = &shared.runner.process;
    let actor = shared.actor("crasher").await?;
    post(&api, &actor, "/crash", "", 200).await?;
    ensure!(wait_stops(runner, &actor, 1).await? == 0);
    let crashed = wait_actor(&api, &actor, "crashed", |a| {
        a.error.as_ref().is_some_and(|e| e.get("crashed").is_some())
    })
    .await?;
    ensure!(
        crashed.destroy_ts.is_none(),
        "a crash destroyed it: {crashed:?}"
    );
    // Crash policy `sleep`: the next request wakes it.
    let awake = ping(&api, &actor).await?;
    ensure!((awake.generation, awake.starts) == (1, 2), "{awake:?}");
    Ok(())
}
