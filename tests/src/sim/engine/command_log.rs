//! The engine's stored commands (spec §2.4, §3.8): per (runner, actor,
//! generation) an index starting at 0, kept until acknowledged, replayed in
//! full after every init.

use std::collections::BTreeMap;

use runner_core::protocol::{ActorCheckpoint, Command, CommandWrapper, Id};

/// Key of one stored command: runner, actor, generation, index.
type Key = (Id, Id, u32, i64);

/// Every unacknowledged command, in (runner, actor, generation, index) order.
#[derive(Debug, Default, Clone)]
pub struct CommandLog {
    stored: BTreeMap<Key, Command>,
    last_index: BTreeMap<(Id, u32), i64>,
}

impl CommandLog {
    /// Stores the next command of `(actor, generation)` for `runner`.
    pub fn insert(
        &mut self,
        runner: &Id,
        actor: &Id,
        generation: u32,
        command: Command,
    ) -> CommandWrapper {
        let last = self
            .last_index
            .entry((actor.clone(), generation))
            .or_insert(-1);
        *last += 1;
        let index = *last;
        self.stored.insert(
            (runner.clone(), actor.clone(), generation, index),
            command.clone(),
        );
        CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: actor.clone(),
                generation,
                index,
            },
            inner: command,
        }
    }

    /// Deletes the runner's commands of the checkpoint's generation with an
    /// index up to the checkpoint's. Returns how many were deleted.
    pub fn ack(&mut self, runner: &Id, cp: &ActorCheckpoint) -> usize {
        let doomed: Vec<Key> = self
            .stored
            .range(
                (runner.clone(), cp.actor_id.clone(), cp.generation, i64::MIN)
                    ..=(runner.clone(), cp.actor_id.clone(), cp.generation, cp.index),
            )
            .map(|(k, _)| k.clone())
            .collect();
        for key in &doomed {
            self.stored.remove(key);
        }
        doomed.len()
    }

    /// Every stored command of `runner`, oldest first per generation.
    pub fn pending(&self, runner: &Id) -> Vec<CommandWrapper> {
        self.stored
            .iter()
            .filter(|((r, ..), _)| r == runner)
            .map(|((_, actor, generation, index), command)| CommandWrapper {
                checkpoint: ActorCheckpoint {
                    actor_id: actor.clone(),
                    generation: *generation,
                    index: *index,
                },
                inner: command.clone(),
            })
            .collect()
    }

    /// Forgets every command of `runner` (it was declared lost).
    pub fn clear_runner(&mut self, runner: &Id) {
        self.stored.retain(|(r, ..), _| r != runner);
    }

    /// Number of stored commands, all runners.
    pub fn len(&self) -> usize {
        self.stored.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.stored.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_per_generation_and_acks_delete_a_prefix() {
        let mut log = CommandLog::default();
        let (r, a): (Id, Id) = ("R".into(), "A".into());
        let i0 = log.insert(&r, &a, 0, Command::StopActor).checkpoint.index;
        let i1 = log.insert(&r, &a, 0, Command::StopActor).checkpoint.index;
        let j0 = log.insert(&r, &a, 1, Command::StopActor).checkpoint.index;
        assert_eq!((i0, i1, j0), (0, 1, 0));
        let cp = ActorCheckpoint {
            actor_id: a.clone(),
            generation: 0,
            index: 0,
        };
        assert_eq!(log.ack(&r, &cp), 1);
        let left: Vec<(u32, i64)> = log
            .pending(&r)
            .iter()
            .map(|c| (c.checkpoint.generation, c.checkpoint.index))
            .collect();
        assert_eq!(left, [(0, 1), (1, 0)]);
        assert!(log.pending(&"other".into()).is_empty());
    }
}
