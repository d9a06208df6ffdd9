//! What a task hands the checkpoint coordinator when a barrier passes: the state each of its
//! operators wrote, by operator id.
//!
//! Keyed state is written per key group, so a restore at another parallelism can hand every
//! key group to the subtask that owns it now; operator (non-keyed) state is a list of entries
//! that a restore redistributes. The bytes are the operator's own serialization.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The state one operator subtask wrote for one checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorStateSnapshot {
    /// Keyed state, by key group.
    pub keyed: BTreeMap<usize, Vec<u8>>,
    /// Operator state: entries redistributed across subtasks on restore.
    pub operator: Vec<Vec<u8>>,
}

impl OperatorStateSnapshot {
    /// Whether the operator wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty() && self.operator.is_empty()
    }
}

/// The state of every operator of one task for one checkpoint, by operator id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStateSnapshot {
    /// Operators with state; operators without state are left out.
    pub operators: BTreeMap<String, OperatorStateSnapshot>,
}

impl TaskStateSnapshot {
    /// Records what the operator `operator_id` wrote (nothing is recorded for no state).
    pub fn add(&mut self, operator_id: &str, state: OperatorStateSnapshot) {
        if !state.is_empty() {
            self.operators.insert(operator_id.to_string(), state);
        }
    }
}
