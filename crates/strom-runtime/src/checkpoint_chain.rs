//! Incremental checkpoints build on earlier ones: an operator subtask's keyed state may hold
//! only the changes since its *base* checkpoint. This module reads such a checkpoint together
//! with the checkpoints it builds on, so that restoring code gets state that stands on its own,
//! and says which earlier checkpoints a checkpoint needs, so storage keeps them as long as it
//! is retained.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use strom_core::CheckpointId;
use strom_state::KeyGroupParts;

use crate::checkpoint_coordinator::CompletedCheckpoint;

/// The checkpoints `checkpoint` builds on directly.
pub(crate) fn direct_bases(checkpoint: &CompletedCheckpoint) -> BTreeSet<CheckpointId> {
    checkpoint
        .operators
        .values()
        .flatten()
        .filter_map(|state| state.keyed_base)
        .collect()
}

/// `newest` with every key group of changes resolved against the checkpoints it builds on
/// (`lookup` finds them by id), so it stands on its own: no snapshot of it has a base left.
pub(crate) fn resolve(
    newest: &CompletedCheckpoint,
    mut lookup: impl FnMut(CheckpointId) -> Result<Arc<CompletedCheckpoint>, String>,
) -> Result<CompletedCheckpoint, String> {
    let mut resolved = newest.clone();
    if direct_bases(newest).is_empty() {
        return Ok(resolved);
    }
    let mut loaded: HashMap<CheckpointId, Arc<CompletedCheckpoint>> = HashMap::new();
    for (operator_id, snapshots) in &mut resolved.operators {
        for snapshot in snapshots.iter_mut() {
            let Some(first_base) = snapshot.keyed_base.take() else {
                continue;
            };
            for (&group, blob) in snapshot.keyed.iter_mut() {
                // The checkpoints of the chain that hold the key group, newest first, with the
                // subtask that wrote it there.
                let mut older: Vec<(Arc<CompletedCheckpoint>, usize)> = Vec::new();
                let mut next = Some(first_base);
                let mut newer = newest.id;
                while let Some(id) = next {
                    // Checkpoints build on earlier ones only: anything else is damage, and
                    // following it could go round for ever.
                    if id >= newer {
                        return Err(format!(
                            "checkpoint {newer} claims to build on checkpoint {id}, which is not \
                             earlier"
                        ));
                    }
                    newer = id;
                    let base = match loaded.get(&id) {
                        Some(base) => Arc::clone(base),
                        None => {
                            let base = lookup(id)?;
                            loaded.insert(id, Arc::clone(&base));
                            base
                        }
                    };
                    let holder = base.operators.get(operator_id).and_then(|subtasks| {
                        subtasks
                            .iter()
                            .position(|state| state.keyed.contains_key(&group))
                    });
                    // Not in the base: the key group had no state there to build on.
                    let Some(subtask) = holder else { break };
                    next = base.operators[operator_id][subtask].keyed_base;
                    older.push((base, subtask));
                }
                let mut chain: Vec<Option<&[u8]>> = vec![Some(blob.as_slice())];
                for (base, subtask) in &older {
                    let state = &base.operators[operator_id][*subtask];
                    chain.push(state.keyed.get(&group).map(Vec::as_slice));
                }
                let standalone = KeyGroupParts::resolve(&chain).map_err(|error| {
                    format!(
                        "the state of operator {operator_id}, key group {group} cannot be \
                         read: {error}"
                    )
                })?;
                *blob = standalone;
            }
        }
    }
    Ok(resolved)
}
