//! Pinning the load engine and the runner to one CPU each (`--pin`).
//!
//! Unpinned, on a small machine, the scheduler sometimes puts a runner's
//! threads on the load engine's core: the same runner binary then measures
//! at about half its usual requests per second and twice its CPU per request,
//! run to run. Pinned, each side has a core of its own and figures repeat;
//! every runner gets the same single core (the TypeScript runner uses one
//! anyway), so "at equal CPU" holds by construction.

use anyhow::{Context, Result};
use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// Which CPU each side runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinning {
    /// The load engine's CPU (the thread driving the session).
    pub engine_cpu: usize,
    /// The runner process's CPU (all its threads).
    pub runner_cpu: usize,
}

impl Pinning {
    /// `--pin on|off` of the load binaries: [`Pinning::two_cores`] or none.
    pub fn from_flag(value: &str) -> Result<Option<Pinning>> {
        match value {
            "on" => Pinning::two_cores().map(Some),
            "off" => Ok(None),
            other => anyhow::bail!("--pin {other}: say on or off"),
        }
    }

    /// The load engine on CPU 0, the runner on CPU 1, if the machine has
    /// two CPUs or more.
    pub fn two_cores() -> Result<Pinning> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        anyhow::ensure!(cpus >= 2, "--pin needs two CPUs; this machine has {cpus}");
        Ok(Pinning {
            engine_cpu: 0,
            runner_cpu: 1,
        })
    }
}

/// Restricts the calling thread (and the threads and processes it creates
/// from now on) to `cpu`.
pub fn pin_current_thread(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).with_context(|| format!("cannot pin to CPU {cpu}"))
}

/// The calling thread's CPUs as they were, put back on drop.
#[must_use = "dropping it restores the CPUs at once"]
pub struct RestoreAffinity(CpuSet);

impl RestoreAffinity {
    /// Remembers the calling thread's CPUs.
    pub fn save() -> Result<RestoreAffinity> {
        let set = sched_getaffinity(None).context("cannot read the CPU affinity")?;
        Ok(RestoreAffinity(set))
    }
}

impl std::fmt::Debug for RestoreAffinity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RestoreAffinity")
    }
}

impl Drop for RestoreAffinity {
    fn drop(&mut self) {
        // Best effort: the thread keeps running pinned if this fails.
        let _ = sched_setaffinity(None, &self.0);
    }
}

/// Runs `spawn` with the calling thread pinned to `cpu` — a process it
/// starts inherits that CPU for all its threads — then pins the thread back
/// to `back`.
pub fn spawn_pinned<T>(cpu: usize, back: usize, spawn: impl FnOnce() -> T) -> Result<T> {
    pin_current_thread(cpu)?;
    let spawned = spawn();
    pin_current_thread(back)?;
    Ok(spawned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed_cpus(pid: u32) -> String {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap();
        line.split_whitespace().nth(1).unwrap().to_owned()
    }

    fn thread_cpus() -> Vec<usize> {
        let set = sched_getaffinity(None).unwrap();
        (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect()
    }

    #[test]
    fn a_pinned_spawn_runs_on_its_cpu_and_the_thread_gets_its_cpus_back() {
        let pin = Pinning::two_cores().expect("the load tests' machines have two CPUs");
        let before = thread_cpus();
        let child = {
            let _restore = RestoreAffinity::save().unwrap();
            pin_current_thread(pin.engine_cpu).unwrap();
            assert_eq!(thread_cpus(), [pin.engine_cpu]);
            let spawn = || std::process::Command::new("sleep").arg("5").spawn();
            let child = spawn_pinned(pin.runner_cpu, pin.engine_cpu, spawn).unwrap();
            assert_eq!(thread_cpus(), [pin.engine_cpu]);
            child.unwrap()
        };
        assert_eq!(thread_cpus(), before);
        let mut child = child;
        let cpus = allowed_cpus(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(cpus, pin.runner_cpu.to_string());
    }
}
