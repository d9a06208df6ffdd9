//! The vocabulary of checkpoints: the barrier that travels with the records and the guarantee a
//! job asks for.
//!
//! A source puts a barrier into its output when the checkpoint coordinator triggers a checkpoint;
//! the barrier flows with the records, so everything before it belongs to the checkpoint and
//! everything after it to the next one. A task with several input channels aligns the barriers
//! of one checkpoint before it snapshots its state and passes the barrier on.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Numbers the checkpoints of a job: 1, 2, ... in the order they are triggered.
pub type CheckpointId = u64;

/// Marks the place in a stream where checkpoint `id` cuts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBarrier {
    /// The checkpoint.
    pub id: CheckpointId,
    /// When the coordinator triggered it (wall clock, milliseconds since the epoch).
    pub timestamp: Timestamp,
    /// Whether a savepoint is taken from it: state is then written whole, never as changes
    /// since an earlier checkpoint, so the savepoint stands on its own.
    pub savepoint: bool,
}

/// What checkpoints guarantee (Flink's `execution.checkpointing.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckpointingMode {
    /// Every record affects state exactly once: a task with several inputs stops reading an
    /// input that delivered its barrier until the barrier arrived on all of them (alignment).
    #[default]
    ExactlyOnce,
    /// No record is lost, but records after a barrier may be replayed after a failure: inputs
    /// are never held back.
    AtLeastOnce,
}
