//! What an operator subtask's keyed state must know at a barrier to write only its changes (an
//! incremental checkpoint): the checkpoint being taken, and the newest completed checkpoint
//! of this job run that the subtask took part in — the *base* those changes build on.
//!
//! The runtime sets it before it asks an operator for its snapshot and tells it of completed
//! checkpoints; the operator's maps read it while they write their snapshots, so operators
//! need no code of their own for incremental checkpoints.

use std::sync::atomic::{AtomicU64, Ordering};

use strom_core::CheckpointId;

/// One operator subtask's view of its checkpoints (shared by the maps of its keyed state).
#[derive(Debug, Default)]
pub struct SnapshotScope {
    checkpoint: AtomicU64,
    /// The base of the snapshot being taken (0: none, write whole state).
    base: AtomicU64,
    completed: AtomicU64,
}

impl SnapshotScope {
    /// Checkpoint `checkpoint` is being taken; `whole` asks for the whole state (a savepoint).
    pub fn begin(&self, checkpoint: CheckpointId, whole: bool) {
        let base = if whole {
            0
        } else {
            self.completed.load(Ordering::Acquire)
        };
        self.checkpoint.store(checkpoint, Ordering::Release);
        self.base.store(base, Ordering::Release);
    }

    /// Checkpoint `checkpoint`, whose snapshot the subtask took, completed.
    pub fn completed(&self, checkpoint: CheckpointId) {
        self.completed.fetch_max(checkpoint, Ordering::AcqRel);
    }

    /// The checkpoint being taken and the checkpoint its changes may build on.
    pub(crate) fn current(&self) -> (CheckpointId, Option<CheckpointId>) {
        let base = self.base.load(Ordering::Acquire);
        (
            self.checkpoint.load(Ordering::Acquire),
            (base > 0).then_some(base),
        )
    }
}
