//! What a task hands the checkpoint coordinator when a barrier passes: the state each of its
//! operators wrote, by operator id.
//!
//! Keyed state is written per key group, so a restore at another parallelism can hand every
//! key group to the subtask that owns it now; operator (non-keyed) state is a list of entries
//! that a restore redistributes. The bytes are the operator's own serialization.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use strom_core::key_group::KeyGroupRange;
use strom_core::CheckpointId;
use strom_state::PendingKeyedState;

/// The state one operator subtask wrote for one checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorStateSnapshot {
    /// The operator's name, for messages about the state.
    pub name: String,
    /// Keyed state, by key group.
    pub keyed: BTreeMap<usize, Vec<u8>>,
    /// With incremental checkpoints: the checkpoint whose keyed state `keyed` holds changes
    /// to (read both to restore; see [`strom_state::KeyGroupParts::resolve`]).
    pub keyed_base: Option<CheckpointId>,
    /// Operator state: entries redistributed across subtasks on restore.
    pub operator: Vec<Vec<u8>>,
    /// Union operator state: on restore every subtask gets every subtask's entries.
    pub union: Vec<Vec<u8>>,
    /// Broadcast state: the same in every subtask; on restore each subtask gets one copy.
    pub broadcast: Vec<Vec<u8>>,
    /// Keyed state still to be encoded, off the task thread (an asynchronous snapshot); the
    /// task finishes it into `keyed` before it acknowledges the checkpoint.
    #[serde(skip)]
    pub pending_keyed: PendingKeyed,
}

/// Keyed state an operator took at a barrier and has yet to encode. It never leaves the task
/// unfinished: a copy of a snapshot carries none. (In a mutex only so that finished snapshots,
/// which restores share between task threads, can be shared.)
#[derive(Debug, Default)]
pub struct PendingKeyed(Mutex<Option<PendingKeyedState>>);

impl PendingKeyed {
    fn take(&mut self) -> Option<PendingKeyedState> {
        self.0
            .get_mut()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()
    }

    fn is_some(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .is_some()
    }
}

impl Clone for PendingKeyed {
    fn clone(&self) -> Self {
        PendingKeyed::default()
    }
}

impl PartialEq for PendingKeyed {
    /// Work in progress is not part of what a snapshot holds: it compares equal.
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for PendingKeyed {}

impl OperatorStateSnapshot {
    /// Keyed state to be encoded off the task thread (the task fills in the name).
    pub fn pending_keyed(state: PendingKeyedState) -> Self {
        let keyed_base = state.base();
        match state.into_ready() {
            // Nothing to do off the task thread: no writer thread is needed.
            Ok(keyed) => OperatorStateSnapshot {
                keyed,
                keyed_base,
                ..Self::default()
            },
            Err(later) => OperatorStateSnapshot {
                keyed_base,
                pending_keyed: PendingKeyed(Mutex::new(Some(later))),
                ..Self::default()
            },
        }
    }

    /// Whether keyed state is still to be encoded.
    pub fn has_pending(&self) -> bool {
        self.pending_keyed.is_some()
    }

    /// Encodes the pending keyed state into `keyed`.
    pub fn finish_pending(&mut self) -> Result<(), postcard::Error> {
        if let Some(pending) = self.pending_keyed.take() {
            self.keyed.extend(pending.finish()?);
        }
        Ok(())
    }

    /// Keyed state only, by key group (the task fills in the name).
    pub fn keyed(keyed: BTreeMap<usize, Vec<u8>>) -> Self {
        OperatorStateSnapshot {
            keyed,
            ..Self::default()
        }
    }

    /// Operator state only: entries redistributed on restore (the task fills in the name).
    pub fn entries(operator: Vec<Vec<u8>>) -> Self {
        OperatorStateSnapshot {
            operator,
            ..Self::default()
        }
    }

    /// Whether the operator wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty()
            && !self.has_pending()
            && self.operator.is_empty()
            && self.union.is_empty()
            && self.broadcast.is_empty()
    }
}

/// The state of every operator of one task for one checkpoint, by operator id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStateSnapshot {
    /// Every operator of the task.
    pub operators: BTreeMap<String, OperatorStateSnapshot>,
}

impl TaskStateSnapshot {
    /// Records what the operator `operator_id` called `name` wrote. Empty state is recorded
    /// too: a source with no split left must restore as finished, not start over.
    pub fn add(&mut self, operator_id: &str, name: &str, mut state: OperatorStateSnapshot) {
        state.name = name.to_string();
        self.operators.insert(operator_id.to_string(), state);
    }
}

/// The state an operator subtask starts from on recovery: the key groups it owns now, and its
/// share of the operator state (entries dealt out in turn over the subtasks: Flink's even-split
/// redistribution).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoredOperatorState {
    /// Keyed state of the key groups the subtask owns, by key group.
    pub keyed: BTreeMap<usize, Vec<u8>>,
    /// The subtask's share of the operator state entries.
    pub operator: Vec<Vec<u8>>,
    /// Every subtask's union operator state entries.
    pub union: Vec<Vec<u8>>,
    /// One copy of the broadcast state (all subtasks wrote the same).
    pub broadcast: Vec<Vec<u8>>,
}

impl RestoredOperatorState {
    /// What subtask `subtask` of `parallelism`, owning `key_groups`, gets of the snapshots an
    /// operator's subtasks wrote (at any earlier parallelism).
    pub fn assign(
        snapshots: &[OperatorStateSnapshot],
        key_groups: KeyGroupRange,
        subtask: usize,
        parallelism: usize,
    ) -> Self {
        let keyed = snapshots
            .iter()
            .flat_map(|snapshot| snapshot.keyed.range(key_groups.start..key_groups.end))
            .map(|(&group, bytes)| (group, bytes.clone()))
            .collect();
        let operator = snapshots
            .iter()
            .flat_map(|snapshot| &snapshot.operator)
            .enumerate()
            .filter(|(index, _)| index % parallelism.max(1) == subtask)
            .map(|(_, entry)| entry.clone())
            .collect();
        let union = snapshots
            .iter()
            .flat_map(|snapshot| snapshot.union.iter().cloned())
            .collect();
        // Old subtasks' copies are spread over the new ones, as Flink does.
        let broadcast = match snapshots.len() {
            0 => Vec::new(),
            old => snapshots[subtask % old].broadcast.clone(),
        };
        RestoredOperatorState {
            keyed,
            operator,
            union,
            broadcast,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_groups_follow_their_owner_operator_entries_are_dealt_out_and_broadcast_copied() {
        let old = |groups: &[usize], entries: &[&str]| OperatorStateSnapshot {
            name: "op".to_string(),
            keyed: groups.iter().map(|&g| (g, vec![g as u8])).collect(),
            operator: entries.iter().map(|e| e.as_bytes().to_vec()).collect(),
            union: Vec::new(),
            broadcast: vec![groups.iter().map(|&g| g as u8).collect()],
            keyed_base: None,
            pending_keyed: PendingKeyed::default(),
        };
        // Written at parallelism 2 over 8 key groups, restored at parallelism 3.
        let snapshots = [old(&[0, 2, 3], &["a", "b"]), old(&[4, 7], &["c"])];
        let restored: Vec<_> = (0..3)
            .map(|subtask| {
                let range = KeyGroupRange::for_subtask(8, 3, subtask);
                RestoredOperatorState::assign(&snapshots, range, subtask, 3)
            })
            .collect();
        let groups: Vec<Vec<usize>> = restored
            .iter()
            .map(|r| r.keyed.keys().copied().collect())
            .collect();
        assert_eq!(groups, [vec![0, 2], vec![3, 4], vec![7]]);
        let entries: Vec<Vec<Vec<u8>>> = restored.iter().map(|r| r.operator.clone()).collect();
        assert_eq!(
            entries,
            [
                vec![b"a".to_vec()],
                vec![b"b".to_vec()],
                vec![b"c".to_vec()]
            ]
        );
        // Each new subtask takes one old subtask's broadcast copy, in turn.
        let broadcast: Vec<Vec<Vec<u8>>> = restored.iter().map(|r| r.broadcast.clone()).collect();
        assert_eq!(
            broadcast,
            [vec![vec![0, 2, 3]], vec![vec![4, 7]], vec![vec![0, 2, 3]]]
        );
    }
}
