//! Strom's runtime: turns a stream graph into running tasks and runs them.
//!
//! The path of a job: the API records a [`graph::StreamGraph`] (one node per operator, plain
//! data plus factories for the user's code); [`graph::JobGraph`] chains nodes that can run in
//! one task without a channel hop; the [`executor`] expands every job vertex into parallel
//! subtasks, connects them with bounded [`exchange`] channels and runs each subtask on its own
//! thread. Inside a task, records flow through a chain of [`operator::Input`]s in batches.
//!
//! Everything user-facing is built on a few generic mechanisms here: the
//! [`operator::OneInputOperator`] trait for operators, the [`source::Source`] and
//! [`sink::Sink`] traits for connectors.
#![deny(clippy::clone_on_ref_ptr)]

pub mod checkpoint;
mod checkpoint_chain;
pub mod checkpoint_coordinator;
pub mod checkpoint_location;
pub mod checkpoint_storage;
pub mod element_type;
pub mod error;
pub mod exchange;
pub mod executor;
pub mod graph;
pub mod operator;
pub mod processing_time;
pub mod restart;
pub mod sink;
pub mod source;
mod task;
pub mod testing;
pub mod watermark;

pub use error::{JobError, OperatorInfo, TaskError};
pub use task::{CheckpointStatistics, JobShared, TaskControl};
