//! An alarm-driven job: periodic work that survives sleep. Each actor is a
//! job that runs every `JOB_EVERY_MS` milliseconds (default a minute) and
//! sleeps in between, holding no memory or slot: at each start it does the
//! work if it is due (here: a line in its KV log, and one on stdout), sets
//! an alarm for the next run and goes back to sleep. The engine's alarm
//! wakes it — a new generation — and the cycle goes on. It has no HTTP:
//! a job that sleeps as soon as it starts is no place for requests.
//!
//! Run against a local engine (`RIVET_*` variables override the defaults):
//!
//! ```text
//! JOB_EVERY_MS=5000 cargo run -p runner-tokio --example alarm_job
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use runner_tokio::{ActorContext, ActorInfo, BoxError, Handler, KvList};

struct Job {
    every_ms: i64,
}

impl Handler for Job {
    async fn on_actor_start(&self, actor: ActorContext, _info: ActorInfo) -> Result<(), BoxError> {
        let now = now_ms();
        let due = match actor.kv_get_one("next_run").await? {
            Some(due) => Some(std::str::from_utf8(&due)?.parse::<i64>()?),
            None => None,
        };
        let next = match due {
            None => now + self.every_ms, // created: the first run is a period away
            Some(due) if now >= due => {
                work(&actor, now).await?;
                now + self.every_ms
            }
            Some(due) => due, // woken early (e.g. moved to another runner)
        };
        actor.kv_put([("next_run", next.to_string())]).await?;
        actor.set_alarm(next).await?;
        // Asleep until the alarm. Asked from a task of its own: the actor
        // is not running until this start has returned.
        let sleeper = actor.clone();
        actor.spawn(async move {
            let _ = sleeper.sleep().await;
        });
        Ok(())
    }
}

/// The periodic work: one line in the job's log (and on stdout).
async fn work(actor: &ActorContext, now: i64) -> Result<(), BoxError> {
    let done = actor.kv_list(KvList::prefix("run/")).await?.len() + 1;
    actor
        .kv_put([(format!("run/{done:010}"), now.to_string())])
        .await?;
    println!(
        "run {done} of {} in generation {}",
        actor.actor_id(),
        actor.generation()
    );
    Ok(())
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_millis() as i64
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs on stderr (stdout is the program's), filtered by RUST_LOG.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let every_ms = match std::env::var("JOB_EVERY_MS") {
        Ok(ms) => ms.parse()?,
        Err(_) => 60_000,
    };
    let runner = runner_tokio::builder()
        .endpoint("http://127.0.0.1:6420")
        .token("dev")
        .runner_name("alarm-job")
        .from_env()
        .build(Job { every_ms })?;
    runner.run().await;
    Ok(())
}

// The example ends above; its tests, on the test kit (alarms fired by the
// test; `tests/tests/e2e_gallery.rs` runs it against the real engine).
#[cfg(test)]
mod tests {
    use super::*;
    use runner_tokio::testing::LifecycleEvent;

    fn runs(kit: &runner_tokio::testing::TestKit, actor: &str) -> usize {
        let log = kit.kv(actor);
        log.keys().filter(|k| k.starts_with(b"run/")).count()
    }

    #[tokio::test]
    async fn each_alarm_wakes_the_job_which_works_and_sleeps_again() {
        let kit = runner_tokio::testing::start(Job { every_ms: 0 }).await;
        let job = kit.start_actor("job").await.unwrap();
        // Asleep: stopped after asking to sleep, without an error.
        let asleep = |generation| LifecycleEvent::Stopped {
            actor_id: job.clone(),
            generation,
            error: None,
        };
        kit.wait_for(|e| *e == asleep(0)).await;
        assert_eq!(runs(&kit, &job), 0, "the first run is one period away");
        assert!(kit.alarm(&job).is_some(), "an alarm for the first run");
        for generation in 1..=2 {
            kit.fire_alarm(&job).await.unwrap();
            kit.wait_for(|e| *e == asleep(generation)).await;
            assert_eq!(runs(&kit, &job), generation as usize);
        }
        assert!(kit.alarm(&job).is_some(), "the next run is set");
    }
}
