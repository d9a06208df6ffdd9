//! The checkpoint coordinator of a job run: it triggers checkpoints at an interval, collects
//! every task's acknowledgement with the state the task wrote, and completes a checkpoint when
//! all tasks have acknowledged it (Flink's `CheckpointCoordinator`, for the embedded engine).
//!
//! Triggering a checkpoint only publishes its barrier on the [`CheckpointHub`]: each source
//! task puts the barrier into its output between two batches, and the barrier reaches every
//! other task through the channels, where input gates align it. A task acknowledges once the
//! barrier passed its whole chain and what its operators left to encode is written. A
//! checkpoint that does not complete within the timeout is abandoned. A task that finished
//! stands in every later checkpoint with its final state (a finished source with no split
//! left), unless it acknowledged the checkpoint before it finished, so bounded jobs go on
//! checkpointing while any source runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde::{Deserialize, Serialize};
use strom_core::{CheckpointBarrier, CheckpointId, CheckpointingMode, Timestamp};

use strom_core::key_group::KeyGroupRange;

use strom_core::config::CheckpointRetention;
use strom_core::time::wall_clock_millis;

use crate::checkpoint::{OperatorStateSnapshot, RestoredOperatorState, TaskStateSnapshot};
use crate::checkpoint_storage::{write_checkpoint, CheckpointStorage};
use crate::error::{OperatorInfo, TaskError};
use crate::task::JobShared;

/// How a job checkpoints (Flink's `execution.checkpointing.*` options).
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    /// Time between the start of one checkpoint and the next.
    pub interval: Duration,
    /// Exactly-once (aligned barriers) or at-least-once.
    pub mode: CheckpointingMode,
    /// A checkpoint not complete after this long is abandoned.
    pub timeout: Duration,
    /// Least time between the end of one checkpoint and the start of the next.
    pub min_pause: Duration,
    /// Where completed checkpoints are written, if anywhere.
    pub storage: Option<CheckpointStorage>,
    /// Whether written checkpoints outlive the job.
    pub retention: CheckpointRetention,
    /// Consecutive failed checkpoints the job tolerates; one more fails it (and the restart
    /// strategy decides what then).
    pub tolerable_failures: u32,
}

/// One task's acknowledgement of a checkpoint.
struct Acknowledgement {
    task: usize,
    checkpoint: CheckpointId,
    /// `None`: the task declined the checkpoint (its state could not be written).
    state: Option<TaskStateSnapshot>,
}

/// A checkpoint every task acknowledged: the state of the whole job at its barrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedCheckpoint {
    /// The checkpoint.
    pub id: CheckpointId,
    /// When it was triggered (wall clock, milliseconds since the epoch).
    pub timestamp: Timestamp,
    /// By operator id, what its subtasks wrote (in subtask order; subtasks without state are
    /// left out).
    pub operators: BTreeMap<String, Vec<OperatorStateSnapshot>>,
}

impl CompletedCheckpoint {
    /// The bytes of state it holds, over all operators.
    pub fn state_bytes(&self) -> u64 {
        self.operators
            .values()
            .flatten()
            .map(|state| {
                let keyed: usize = state.keyed.values().map(Vec::len).sum();
                let entries: usize = [&state.operator, &state.union, &state.broadcast]
                    .into_iter()
                    .flatten()
                    .map(Vec::len)
                    .sum();
                (keyed + entries) as u64
            })
            .sum()
    }

    /// What subtask `subtask` of `parallelism` of operator `operator_id`, owning
    /// `key_groups`, starts from; `None` when the operator wrote no state.
    pub fn restore_for(
        &self,
        operator_id: &str,
        key_groups: KeyGroupRange,
        subtask: usize,
        parallelism: usize,
    ) -> Option<RestoredOperatorState> {
        let snapshots = self.operators.get(operator_id)?;
        Some(RestoredOperatorState::assign(
            snapshots,
            key_groups,
            subtask,
            parallelism,
        ))
    }
}

/// What tasks and the coordinator share.
pub struct CheckpointHub {
    mode: CheckpointingMode,
    /// The newest triggered checkpoint's barrier, and its id apart, so sources look for a new
    /// barrier with one atomic read.
    triggered: Mutex<Option<CheckpointBarrier>>,
    triggered_id: AtomicU64,
    acknowledgements: Sender<Acknowledgement>,
    /// The newest completed checkpoint.
    completed: AtomicU64,
    /// Tasks that finished, with the state they stand for in every later checkpoint.
    finished: Mutex<BTreeMap<usize, TaskStateSnapshot>>,
    /// Source tasks still running: only they put barriers into the job.
    running_sources: AtomicUsize,
    /// Tasks of the job run.
    tasks: usize,
    /// Finished tasks that wait for a checkpoint holding their final state to commit it.
    waiting_to_commit: AtomicUsize,
}

impl CheckpointHub {
    /// The guarantee the job's checkpoints give.
    pub fn mode(&self) -> CheckpointingMode {
        self.mode
    }

    /// The barrier a source should inject, if a checkpoint newer than `last_injected` was
    /// triggered.
    pub(crate) fn barrier_after(&self, last_injected: CheckpointId) -> Option<CheckpointBarrier> {
        if self.triggered_id.load(Ordering::Acquire) <= last_injected {
            return None;
        }
        let triggered = *self
            .triggered
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        triggered.filter(|barrier| barrier.id > last_injected)
    }

    /// Task `task` has written its state for `checkpoint`.
    pub(crate) fn acknowledge(
        &self,
        task: usize,
        checkpoint: CheckpointId,
        state: TaskStateSnapshot,
    ) {
        // The coordinator is gone only when the job is ending; the acknowledgement is moot.
        let _ = self.acknowledgements.send(Acknowledgement {
            task,
            checkpoint,
            state: Some(state),
        });
    }

    /// Task `task` could not write its state for `checkpoint`: the checkpoint fails at once and
    /// counts against the tolerable failures, as in Flink.
    pub(crate) fn decline(&self, task: usize, checkpoint: CheckpointId) {
        let _ = self.acknowledgements.send(Acknowledgement {
            task,
            checkpoint,
            state: None,
        });
    }

    /// Task `task` finished; `final_state` stands for it in every later checkpoint (a finished
    /// source: no split left; other tasks: nothing, their input having ended too). A finished
    /// source no longer injects barriers.
    pub(crate) fn task_finished(&self, task: usize, final_state: TaskStateSnapshot, source: bool) {
        self.finished
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(task, final_state);
        if source {
            self.running_sources.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The newest triggered checkpoint (0 before the first).
    pub(crate) fn latest_triggered(&self) -> CheckpointId {
        self.triggered_id.load(Ordering::Acquire)
    }

    /// Whether every task of the job run has finished.
    fn all_finished(&self) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .len()
            >= self.tasks
    }

    /// A finished task waits to commit its final state (or has stopped waiting).
    pub(crate) fn set_waiting_to_commit(&self, waiting: bool) {
        if waiting {
            self.waiting_to_commit.fetch_add(1, Ordering::AcqRel);
        } else {
            self.waiting_to_commit.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// A finished task committed what its final state held: later checkpoints hold `state`.
    pub(crate) fn replace_final_state(&self, task: usize, state: TaskStateSnapshot) {
        self.finished
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(task, state);
    }

    /// The newest completed checkpoint (0 before the first).
    pub fn latest_completed(&self) -> CheckpointId {
        self.completed.load(Ordering::Acquire)
    }
}

/// Triggers and completes the checkpoints of one job run.
pub(crate) struct Coordinator {
    settings: CheckpointSettings,
    hub: Arc<CheckpointHub>,
    acknowledgements: Receiver<Acknowledgement>,
    tasks: usize,
}

/// How often a waiting coordinator looks at whether the job is still running.
const POLL: Duration = Duration::from_millis(10);

impl Coordinator {
    /// A coordinator for a job of `tasks` tasks of which `sources` read sources, and the hub
    /// its tasks use.
    pub(crate) fn new(
        settings: CheckpointSettings,
        tasks: usize,
        sources: usize,
    ) -> (Self, Arc<CheckpointHub>) {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let hub = Arc::new(CheckpointHub {
            mode: settings.mode,
            triggered: Mutex::new(None),
            triggered_id: AtomicU64::new(0),
            acknowledgements: sender,
            completed: AtomicU64::new(0),
            finished: Mutex::new(BTreeMap::new()),
            running_sources: AtomicUsize::new(sources),
            tasks,
            waiting_to_commit: AtomicUsize::new(0),
        });
        let coordinator = Coordinator {
            settings,
            hub: Arc::clone(&hub),
            acknowledgements: receiver,
            tasks,
        };
        (coordinator, hub)
    }

    /// Runs until every task has finished or the job stops; `finished` counts finished tasks.
    /// Besides the periodic checkpoints it takes savepoints when asked to.
    pub(crate) fn run(self, shared: &JobShared, finished: &AtomicUsize) {
        // Checkpoints go on while some task runs and some source can still inject barriers.
        let running = || {
            !shared.is_cancelled()
                && finished.load(Ordering::Acquire) < self.tasks
                && self.hub.running_sources.load(Ordering::Acquire) > 0
        };
        let mut next_start = Instant::now() + self.settings.interval;
        // Ids go on across restarts of the job.
        let mut id = shared.checkpoint_statistics().last_triggered;
        let mut failures = 0u32;
        loop {
            if !running() {
                if self.final_checkpoint_is_due(shared, finished) {
                    // The final checkpoint (Flink's FLIP-147): every task has finished, and
                    // sinks wait for a checkpoint of their final states to commit. It completes
                    // from those states alone.
                    id += 1;
                    self.take_final_checkpoint(id, shared);
                }
                return;
            }
            let savepoints = shared.take_savepoint_requests();
            if savepoints.is_empty() && Instant::now() < next_start {
                std::thread::sleep(POLL.min(next_start - Instant::now()));
                continue;
            }
            id += 1;
            shared.checkpoint_triggered(id);
            let started = Instant::now();
            let barrier = CheckpointBarrier {
                id,
                timestamp: wall_clock_millis(),
                savepoint: !savepoints.is_empty(),
            };
            *self
                .hub
                .triggered
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()) = Some(barrier);
            self.hub.triggered_id.store(id, Ordering::Release);
            match self.collect(barrier, started, &running) {
                Some(checkpoint) => match self.persist(&checkpoint) {
                    Ok(()) => {
                        failures = 0;
                        let replies: Vec<_> = savepoints
                            .into_iter()
                            .map(|request| {
                                let dir = request.directory.join(format!("savepoint-{id}"));
                                let written = write_checkpoint(&dir, &checkpoint)
                                    .map(|()| dir)
                                    .map_err(|error| format!("savepoint {id}: {error}"));
                                (request.reply, written)
                            })
                            .collect();
                        // Published before the savepoints are answered: a job stopped with one
                        // then finds it completed, and its sinks commit what it covers.
                        self.hub.completed.store(id, Ordering::Release);
                        shared.checkpoint_completed(checkpoint, started.elapsed());
                        for (reply, written) in replies {
                            let _ = reply.send(written);
                        }
                    }
                    Err(error) => {
                        tracing::warn!("checkpoint {id} could not be written: {error}");
                        shared.checkpoint_failed();
                        failures += 1;
                    }
                },
                None if running() => {
                    for request in savepoints {
                        let _ = request
                            .reply
                            .send(Err(format!("checkpoint {id} did not complete")));
                    }
                    tracing::warn!(
                        "checkpoint {id} was declined or did not complete within {:?}; abandoned",
                        self.settings.timeout
                    );
                    shared.checkpoint_failed();
                    failures += 1;
                }
                // The job stopped checkpointing (its sources ended, or it stopped): the top of
                // the loop decides about a final checkpoint.
                None => continue,
            }
            if failures > self.settings.tolerable_failures {
                let coordinator = OperatorInfo {
                    name: "Checkpoint Coordinator".into(),
                    subtask_index: 0,
                    parallelism: 1,
                };
                shared.fail(TaskError::failed(
                    &coordinator,
                    format!(
                        "{failures} checkpoint(s) in a row failed, more than \
                         execution.checkpointing.tolerable-failed-checkpoints ({})",
                        self.settings.tolerable_failures
                    ),
                ));
                return;
            }
            next_start =
                (started + self.settings.interval).max(Instant::now() + self.settings.min_pause);
        }
    }

    /// Waits until every task finished (or the job stops); whether some of them wait to commit.
    fn final_checkpoint_is_due(&self, shared: &JobShared, finished: &AtomicUsize) -> bool {
        loop {
            if shared.is_cancelled() || finished.load(Ordering::Acquire) >= self.tasks {
                return false;
            }
            if self.hub.all_finished() {
                return self.hub.waiting_to_commit.load(Ordering::Acquire) > 0;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Takes checkpoint `id` of the finished tasks' final states; if it cannot be written, the
    /// job fails (the waiting sinks then commit nothing, and the restart writes it again).
    fn take_final_checkpoint(&self, id: CheckpointId, shared: &JobShared) {
        shared.checkpoint_triggered(id);
        let started = Instant::now();
        let barrier = CheckpointBarrier {
            id,
            timestamp: wall_clock_millis(),
            savepoint: false,
        };
        self.hub.triggered_id.store(id, Ordering::Release);
        let checkpoint = self.collect(barrier, started, &|| !shared.is_cancelled());
        let outcome = match checkpoint {
            Some(checkpoint) => self
                .persist(&checkpoint)
                .map(|()| checkpoint)
                .map_err(|error| {
                    format!("the final checkpoint {id} could not be written: {error}")
                }),
            None => Err(format!("the final checkpoint {id} did not complete")),
        };
        match outcome {
            Ok(checkpoint) => {
                self.hub.completed.store(id, Ordering::Release);
                shared.checkpoint_completed(checkpoint, started.elapsed());
            }
            Err(message) => {
                let coordinator = OperatorInfo {
                    name: "Checkpoint Coordinator".into(),
                    subtask_index: 0,
                    parallelism: 1,
                };
                shared.fail(TaskError::failed(&coordinator, message));
            }
        }
    }

    /// Writes a completed checkpoint to its storage (on this thread: tasks go on processing).
    fn persist(&self, checkpoint: &CompletedCheckpoint) -> std::io::Result<()> {
        match &self.settings.storage {
            Some(storage) => storage.write(checkpoint).map(drop),
            None => Ok(()),
        }
    }

    /// Waits for every task's acknowledgement of `barrier`'s checkpoint.
    fn collect(
        &self,
        barrier: CheckpointBarrier,
        started: Instant,
        running: &impl Fn() -> bool,
    ) -> Option<CompletedCheckpoint> {
        let deadline = started + self.settings.timeout;
        let mut acknowledged = BTreeMap::new();
        let tasks = loop {
            if !running() || Instant::now() >= deadline {
                return None;
            }
            // Finished tasks stand for themselves with their final state, unless they
            // acknowledged this checkpoint before they finished: read who finished first, then
            // the acknowledgements, which such a task sent before it finished.
            let finished = self
                .hub
                .finished
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .clone();
            while let Ok(ack) = self.acknowledgements.try_recv() {
                if ack.checkpoint == barrier.id {
                    acknowledged.insert(ack.task, ack.state?);
                }
            }
            let standing_in = finished
                .keys()
                .filter(|task| !acknowledged.contains_key(task))
                .count();
            if acknowledged.len() + standing_in >= self.tasks {
                let mut tasks = std::mem::take(&mut acknowledged);
                for (task, state) in finished {
                    tasks.entry(task).or_insert(state);
                }
                break tasks;
            }
            match self.acknowledgements.recv_timeout(POLL) {
                Ok(ack) if ack.checkpoint == barrier.id => {
                    acknowledged.insert(ack.task, ack.state?);
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        };
        let mut operators: BTreeMap<String, Vec<OperatorStateSnapshot>> = BTreeMap::new();
        for (_, task) in tasks {
            for (operator_id, snapshot) in task.operators {
                operators.entry(operator_id).or_default().push(snapshot);
            }
        }
        Some(CompletedCheckpoint {
            id: barrier.id,
            timestamp: barrier.timestamp,
            operators,
        })
    }
}
