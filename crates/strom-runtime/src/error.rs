//! Errors of tasks and jobs, carrying what a user needs to act: the operator, the subtask and
//! the underlying cause.

use std::fmt;
use std::sync::Arc;

use strom_core::config::ConfigError;
use strom_core::BoxError;

/// Which operator instance something happened in: `Flat Map (2/4)` as Flink writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorInfo {
    /// The operator's name.
    pub name: Arc<str>,
    /// Index of the subtask, from 0.
    pub subtask_index: usize,
    /// Number of parallel subtasks of the operator.
    pub parallelism: usize,
}

impl fmt::Display for OperatorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' (subtask {}/{})",
            self.name,
            self.subtask_index + 1,
            self.parallelism
        )
    }
}

/// Why a task stopped before finishing its input.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A user function panicked.
    #[error("operator {operator} panicked: {message}")]
    UserPanic {
        /// Where.
        operator: OperatorInfo,
        /// The panic message.
        message: String,
    },
    /// A source, sink or user function returned an error.
    #[error("operator {operator} failed: {source}")]
    Failed {
        /// Where.
        operator: OperatorInfo,
        /// The cause.
        source: BoxError,
    },
    /// The task stopped because the job was cancelled or another task failed first.
    #[error("cancelled")]
    Cancelled,
}

impl TaskError {
    /// Wraps an error from a connector or function with the operator it happened in.
    pub fn failed(operator: &OperatorInfo, source: impl Into<BoxError>) -> Self {
        TaskError::Failed {
            operator: operator.clone(),
            source: source.into(),
        }
    }
}

/// Why a job did not complete.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The program built a job that cannot run (an invalid field position, a parallelism a
    /// non-parallel source cannot have, a runtime mode its sources do not allow, ...).
    #[error("invalid job: {0}")]
    InvalidProgram(String),
    /// The job needs more resources than are configured.
    #[error("not enough resources: {0}")]
    InsufficientResources(String),
    /// A savepoint could not be taken.
    #[error("job {job_id}: no savepoint: {reason}")]
    Savepoint {
        /// The job.
        job_id: String,
        /// Why.
        reason: String,
    },
    /// The configuration could not be loaded or has a bad value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state backend could not start (its directory cannot be made or opened).
    #[error(transparent)]
    StateBackend(#[from] strom_state::StateBackendError),
    /// A source or sink could not be set up before any task ran (its input is missing, its
    /// output exists).
    #[error("job '{job_name}' ({job_id}) failed: operator '{operator}' could not start: {source}")]
    Setup {
        /// The job's name.
        job_name: String,
        /// The job's id.
        job_id: String,
        /// The source's or sink's name.
        operator: String,
        /// The cause.
        source: BoxError,
    },
    /// A task failed; the first failure is the cause.
    #[error("job '{job_name}' ({job_id}) failed: {cause}")]
    Failed {
        /// The job's name.
        job_name: String,
        /// The job's id.
        job_id: String,
        /// The first task failure.
        cause: TaskError,
    },
    /// The job was cancelled before it finished.
    #[error("job '{job_name}' ({job_id}) was cancelled")]
    Cancelled {
        /// The job's name.
        job_name: String,
        /// The job's id.
        job_id: String,
    },
}
