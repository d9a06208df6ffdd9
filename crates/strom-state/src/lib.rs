//! Managed state for Strom's operators: keyed values, named keyed states and timers.
//!
//! All keyed state is partitioned by key group: a subtask holds one table per key group it
//! owns, so a snapshot can be written and later redistributed key group by key group when a
//! job resumes at another parallelism. This crate knows nothing of operators or tasks; the
//! runtime and the API use it.
#![deny(clippy::clone_on_ref_ptr)]

pub mod broadcast_state;
mod changed_keys;
pub mod key_group_parts;
pub mod keyed_map;
pub mod keyed_state;
pub mod operator_state;
pub mod snapshot_scope;
pub mod state_backend;
pub mod timers;
pub mod ttl;

pub use broadcast_state::BroadcastStateStore;
pub use key_group_parts::{KeyGroupParts, PartState, PendingKeyedState, RestoredPart};
pub use keyed_map::{ForeignKeyGroup, KeyGroupedMap, KeyedEntry, StateRestoreError, VacantEntry};
pub use keyed_state::{
    AggregatingState, AggregatingStateDescriptor, KeyedStateBackend, ListState,
    ListStateDescriptor, MapState, MapStateDescriptor, ReducingState, ReducingStateDescriptor,
    StateDescriptor, StateError, StateScope, ValueState, ValueStateDescriptor,
};
pub use operator_state::OperatorStateStore;
pub use snapshot_scope::SnapshotScope;
pub use state_backend::{DiskBackend, StateBackend, StateBackendError};
pub use timers::{Timer, TimerQueue};
pub use ttl::{StateTtlConfig, StateTtlConfigBuilder, StateVisibility, UpdateType};
