//! The loops of a running task and what they share with the job: the cancellation flag, the
//! buffer timeout and the checkpoint hub.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strom_core::{CheckpointBarrier, CheckpointId, CheckpointingMode};

use crate::checkpoint::{OperatorStateSnapshot, TaskStateSnapshot};
use crate::checkpoint_chain::{direct_bases, resolve};
use crate::checkpoint_coordinator::{CheckpointHub, CompletedCheckpoint};
use crate::error::{OperatorInfo, TaskError};
use crate::exchange::{GateEvent, InputGate};
use crate::operator::{panic_message, BoxedInput};
use crate::processing_time::ProcessingTimeService;

/// State shared by all tasks of one job run.
#[derive(Debug, Default)]
pub struct JobShared {
    cancelled: AtomicBool,
    /// The user asked the job to stop (no restart follows).
    cancel_requested: AtomicBool,
    failure: Mutex<Option<TaskError>>,
    checkpoints: Mutex<CheckpointStatistics>,
    /// Whether the job runs a checkpoint coordinator (savepoints need one).
    checkpointing: AtomicBool,
    savepoints: Mutex<Vec<SavepointRequest>>,
    /// Runs of the job started so far (restarts included).
    runs: AtomicU64,
}

/// A savepoint someone asked for: where to write it, and where to say where it went.
#[derive(Debug)]
pub(crate) struct SavepointRequest {
    pub(crate) directory: PathBuf,
    pub(crate) reply: crossbeam_channel::Sender<Result<PathBuf, String>>,
}

/// What became of a job run's checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStatistics {
    /// Checkpoints every task acknowledged.
    pub completed: u64,
    /// Checkpoints abandoned (timed out).
    pub failed: u64,
    /// Completed checkpoints that hold changes since an earlier one (incremental
    /// checkpoints).
    pub incremental: u64,
    /// The newest completed checkpoint.
    pub latest: Option<Arc<CompletedCheckpoint>>,
    /// The completed checkpoints the newest builds on (incremental checkpoints), by id.
    pub(crate) bases: BTreeMap<CheckpointId, Arc<CompletedCheckpoint>>,
    /// The id of the newest triggered checkpoint.
    pub last_triggered: CheckpointId,
    /// How long the newest completed checkpoint took, from trigger to durable completion.
    pub last_duration: Option<Duration>,
    /// The bytes of state the newest completed checkpoint holds.
    pub last_size_bytes: Option<u64>,
    /// The bytes of state all completed checkpoints hold together (for incremental
    /// checkpoints, what they wrote).
    pub total_size_bytes: u64,
}

impl JobShared {
    /// A run of the job starts; whether it is the first (not a restart).
    pub(crate) fn begin_run(&self) -> bool {
        self.runs.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// Asks every task to stop.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// The user cancels the job: every task stops and the job is not restarted.
    pub fn request_cancel(&self) {
        self.cancel_requested.store(true, Ordering::Release);
        self.cancel();
    }

    /// Whether the user cancelled the job.
    pub fn is_cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Acquire)
    }

    /// Clears the failure and the stop of a failed run, for a restart (a user's cancellation
    /// stays).
    pub(crate) fn reset_for_restart(&self) {
        *self
            .failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = None;
        self.cancelled
            .store(self.is_cancel_requested(), Ordering::Release);
    }

    /// Whether the job is stopping.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Records a task failure (the first one is the cause) and stops the job.
    pub fn fail(&self, error: TaskError) {
        let mut failure = self
            .failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if failure.is_none() && !matches!(error, TaskError::Cancelled) {
            *failure = Some(error);
        }
        drop(failure);
        self.cancel();
    }

    pub(crate) fn checkpoint_completed(&self, checkpoint: CompletedCheckpoint, took: Duration) {
        let mut statistics = self.checkpoint_statistics_guard();
        statistics.completed += 1;
        statistics.last_duration = Some(took);
        statistics.last_size_bytes = Some(checkpoint.state_bytes());
        statistics.total_size_bytes += checkpoint.state_bytes();
        let checkpoint = Arc::new(checkpoint);
        if !direct_bases(&checkpoint).is_empty() {
            statistics.incremental += 1;
        }
        let mut bases = BTreeMap::new();
        let mut unread: Vec<CheckpointId> = direct_bases(&checkpoint).into_iter().collect();
        while let Some(id) = unread.pop() {
            let known = statistics.bases.get(&id).or(statistics.latest.as_ref());
            match known.filter(|base| base.id == id) {
                Some(base) if !bases.contains_key(&id) => {
                    unread.extend(direct_bases(base));
                    bases.insert(id, Arc::clone(base));
                }
                Some(_) => {}
                None => tracing::error!(
                    "checkpoint {} builds on checkpoint {id}, which is no longer kept: a \
                     restart cannot restore it",
                    checkpoint.id
                ),
            }
        }
        statistics.bases = bases;
        statistics.latest = Some(checkpoint);
    }

    /// The newest completed checkpoint, resolved against those it builds on so it stands on
    /// its own (what a restart restores).
    pub(crate) fn latest_standalone_checkpoint(
        &self,
    ) -> Result<Option<Arc<CompletedCheckpoint>>, String> {
        let statistics = self.checkpoint_statistics_guard();
        let Some(latest) = &statistics.latest else {
            return Ok(None);
        };
        if direct_bases(latest).is_empty() {
            return Ok(Some(Arc::clone(latest)));
        }
        let resolved = resolve(latest, |id| {
            statistics.bases.get(&id).cloned().ok_or_else(|| {
                format!(
                    "checkpoint {} builds on checkpoint {id}, which is gone",
                    latest.id
                )
            })
        })?;
        Ok(Some(Arc::new(resolved)))
    }

    pub(crate) fn checkpoint_triggered(&self, id: CheckpointId) {
        self.checkpoint_statistics_guard().last_triggered = id;
    }

    pub(crate) fn checkpoint_failed(&self) {
        self.checkpoint_statistics_guard().failed += 1;
    }

    fn checkpoint_statistics_guard(&self) -> std::sync::MutexGuard<'_, CheckpointStatistics> {
        self.checkpoints
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The run's checkpoints so far.
    pub fn checkpoint_statistics(&self) -> CheckpointStatistics {
        self.checkpoint_statistics_guard().clone()
    }

    /// Asks for a savepoint under `directory`; the answer (the savepoint's path) arrives on the
    /// returned channel.
    pub fn request_savepoint(
        &self,
        directory: PathBuf,
    ) -> crossbeam_channel::Receiver<Result<PathBuf, String>> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        if !self.checkpointing.load(Ordering::Acquire) {
            let _ = reply.send(Err(
                "savepoints need checkpointing: enable_checkpointing or \
                 execution.checkpointing.interval"
                    .to_string(),
            ));
        } else {
            self.savepoint_requests()
                .push(SavepointRequest { directory, reply });
        }
        answer
    }

    fn savepoint_requests(&self) -> std::sync::MutexGuard<'_, Vec<SavepointRequest>> {
        self.savepoints
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The savepoints asked for since the last call.
    pub(crate) fn take_savepoint_requests(&self) -> Vec<SavepointRequest> {
        std::mem::take(&mut *self.savepoint_requests())
    }

    /// Whether the job takes checkpoints (set before it starts, so savepoints can be asked for
    /// at once); requests still waiting when it ends are refused.
    pub fn set_checkpointing(&self, running: bool) {
        self.checkpointing.store(running, Ordering::Release);
        if !running {
            for request in self.take_savepoint_requests() {
                let _ = request.reply.send(Err(
                    "the job ended before the savepoint was taken".to_string()
                ));
            }
        }
    }

    /// The first failure, if any.
    pub fn take_failure(&self) -> Option<TaskError> {
        self.failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()
    }
}

/// What one task needs from its job while it runs.
pub struct TaskControl {
    shared: Arc<JobShared>,
    buffer_timeout: Duration,
    time: ProcessingTimeService,
    checkpoints: Option<TaskCheckpoints>,
}

/// A task's part in checkpointing.
struct TaskCheckpoints {
    hub: Arc<CheckpointHub>,
    /// The task's index in the job, as the coordinator counts acknowledgements.
    task: usize,
    /// The newest checkpoint whose barrier this (source) task injected.
    last_injected: Cell<CheckpointId>,
    /// The newest completed checkpoint the task was told of.
    last_notified: Cell<CheckpointId>,
    /// Snapshots being written off the task thread; the task waits for them before it
    /// reports itself finished (so its acknowledgements come first) and before it ends.
    writing: Cell<Vec<std::thread::JoinHandle<()>>>,
    /// The task's vertex and subtask, for errors of those writers.
    info: OperatorInfo,
    /// The newest checkpoint triggered when the task finished: later ones hold its final state.
    finished_after: Cell<CheckpointId>,
}

impl Drop for TaskCheckpoints {
    fn drop(&mut self) {
        // A writer outlives neither its task nor the files of the job run it reads.
        for writer in self.writing.take() {
            let _ = writer.join();
        }
    }
}

impl TaskControl {
    pub(crate) fn new(
        shared: Arc<JobShared>,
        buffer_timeout: Duration,
        time: ProcessingTimeService,
    ) -> Self {
        TaskControl {
            shared,
            buffer_timeout,
            time,
            checkpoints: None,
        }
    }

    /// Takes part in the checkpoints of `hub` as task `task` (`info` names it in errors).
    pub(crate) fn with_checkpoints(
        mut self,
        hub: Arc<CheckpointHub>,
        task: usize,
        info: OperatorInfo,
    ) -> Self {
        self.checkpoints = Some(TaskCheckpoints {
            hub,
            task,
            last_injected: Cell::new(0),
            last_notified: Cell::new(0),
            writing: Cell::new(Vec::new()),
            info,
            finished_after: Cell::new(CheckpointId::MAX),
        });
        self
    }

    /// How the task's input gate treats barriers.
    pub fn checkpointing_mode(&self) -> CheckpointingMode {
        self.checkpoints
            .as_ref()
            .map_or(CheckpointingMode::ExactlyOnce, |c| c.hub.mode())
    }

    /// For a source task: the barrier of a newly triggered checkpoint, once.
    pub fn barrier_to_inject(&self) -> Option<CheckpointBarrier> {
        let checkpoints = self.checkpoints.as_ref()?;
        let barrier = checkpoints
            .hub
            .barrier_after(checkpoints.last_injected.get())?;
        checkpoints.last_injected.set(barrier.id);
        Some(barrier)
    }

    /// A checkpoint that completed since the last call, if any.
    pub fn newly_completed_checkpoint(&self) -> Option<CheckpointId> {
        let checkpoints = self.checkpoints.as_ref()?;
        let completed = checkpoints.hub.latest_completed();
        (completed > checkpoints.last_notified.get()).then(|| {
            checkpoints.last_notified.set(completed);
            completed
        })
    }

    /// Tells the coordinator the task finished; `final_state` stands for it in later
    /// checkpoints.
    pub fn finished(&self, final_state: TaskStateSnapshot, source: bool) {
        if let Some(checkpoints) = &self.checkpoints {
            for writing in checkpoints.writing.take() {
                // A writer that failed has failed the job already.
                let _ = writing.join();
            }
            checkpoints
                .finished_after
                .set(checkpoints.hub.latest_triggered());
            checkpoints
                .hub
                .task_finished(checkpoints.task, final_state, source);
        }
    }

    /// After the task finished with output still to commit (see
    /// [`Input::write_final_state`](crate::operator::Input::write_final_state)): waits until a
    /// checkpoint holding its final state completed or every task of the job finished, when
    /// the output may be committed; a failure or cancellation meanwhile stops the wait with
    /// the output uncommitted (the restored job writes it again).
    pub fn wait_until_final_state_is_safe(&self) -> Result<(), TaskError> {
        let Some(checkpoints) = &self.checkpoints else {
            return Ok(());
        };
        let hub = &checkpoints.hub;
        let covered = || hub.latest_completed() > checkpoints.finished_after.get();
        hub.set_waiting_to_commit(true);
        let outcome = loop {
            if covered() {
                break Ok(());
            }
            if let Err(stopped) = self.check_cancelled() {
                // Stopped with a savepoint that holds the final state: still committed.
                break if covered() { Ok(()) } else { Err(stopped) };
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        hub.set_waiting_to_commit(false);
        outcome
    }

    /// After the task committed its final output: later checkpoints hold `state` for it
    /// instead, so a restore does not commit that output again.
    pub fn committed_final_state(&self, state: TaskStateSnapshot) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.hub.replace_final_state(checkpoints.task, state);
        }
    }

    /// Tells the coordinator the task wrote its state for `checkpoint`. State that operators
    /// left to encode later (asynchronous snapshots) is encoded on a thread of its own while
    /// the task goes on; the acknowledgement follows. A failure there declines the checkpoint
    /// (logged with the operator and subtask), which counts against the tolerable failed
    /// checkpoints, as in Flink.
    pub fn acknowledge(&self, checkpoint: CheckpointId, mut state: TaskStateSnapshot) {
        let Some(checkpoints) = &self.checkpoints else {
            return;
        };
        let (hub, task) = (Arc::clone(&checkpoints.hub), checkpoints.task);
        if !state
            .operators
            .values()
            .any(OperatorStateSnapshot::has_pending)
        {
            hub.acknowledge(task, checkpoint, state);
            return;
        }
        let info = checkpoints.info.clone();
        let mut writing = checkpoints.writing.take();
        writing.retain(|writer| !writer.is_finished());
        let spawned = std::thread::Builder::new()
            .name(format!("snapshot {checkpoint} of task {task}"))
            .spawn(move || {
                for snapshot in state.operators.values_mut() {
                    let written = catch_unwind(AssertUnwindSafe(|| snapshot.finish_pending()));
                    let error = match written {
                        Ok(Ok(())) => continue,
                        Ok(Err(error)) => error.to_string(),
                        Err(panic) => panic_message(&panic),
                    };
                    let operator = OperatorInfo {
                        name: snapshot.name.as_str().into(),
                        ..info
                    };
                    tracing::warn!(
                        "{operator}: the state for checkpoint {checkpoint} cannot be written \
                         ({error}); the checkpoint is declined"
                    );
                    hub.decline(task, checkpoint);
                    return;
                }
                hub.acknowledge(task, checkpoint, state);
            });
        match spawned {
            Ok(writer) => writing.push(writer),
            Err(error) => self.shared.fail(TaskError::failed(
                &checkpoints.info,
                format!("no thread to write checkpoint {checkpoint}: {error}"),
            )),
        }
        checkpoints.writing.set(writing);
    }

    /// The task's processing-time clock.
    pub fn processing_time(&self) -> &ProcessingTimeService {
        &self.time
    }

    /// `Err(Cancelled)` when the job is stopping.
    #[inline]
    pub fn check_cancelled(&self) -> Result<(), TaskError> {
        if self.shared.is_cancelled() {
            Err(TaskError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// With a zero buffer timeout every record is sent on its own (lowest latency).
    pub fn flushes_every_record(&self) -> bool {
        self.buffer_timeout.is_zero()
    }

    /// A timer that says when partly filled output batches must go out.
    pub fn flush_timer(&self) -> FlushTimer {
        FlushTimer {
            interval: self.buffer_timeout,
            last: Instant::now(),
        }
    }
}

/// Tracks the buffer timeout of one task.
pub struct FlushTimer {
    interval: Duration,
    last: Instant,
}

impl FlushTimer {
    /// Whether the timeout expired since the last time this returned true.
    #[inline]
    pub fn is_due(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.last) >= self.interval {
            self.last = now;
            true
        } else {
            false
        }
    }
}

/// Reads a task's input gate into the head of its chain until all input has ended.
pub(crate) fn run_input_task<T>(
    mut gate: InputGate<T>,
    mut head: BoxedInput<T>,
    control: &TaskControl,
) -> Result<(), TaskError> {
    head.open()?;
    let mut flush_timer = control.flush_timer();
    loop {
        let event = match gate.next(
            || head.flush(),
            || control.shared.is_cancelled(),
            &control.time,
        ) {
            Ok(event) => event,
            Err(stopped) => {
                // A checkpoint that completed before the stop (a savepoint, when the job is
                // stopped with one) still commits what it covers.
                notify_completed(&mut head, control)?;
                return Err(stopped);
            }
        };
        match event {
            GateEvent::Records(batch) => head.process_batch(batch)?,
            GateEvent::Watermark(watermark) => head.process_watermark(watermark)?,
            GateEvent::WatermarkStatus(status) => head.process_watermark_status(status)?,
            GateEvent::Barrier(barrier) => {
                // The checkpoint before this one completed before this one was triggered: the
                // chain hears of it first, so incremental snapshots build on it.
                notify_completed(&mut head, control)?;
                let mut snapshot = TaskStateSnapshot::default();
                head.process_barrier(barrier, &mut snapshot)?;
                control.acknowledge(barrier.id, snapshot);
            }
            GateEvent::WakeUp => {}
            GateEvent::EndOfInput => {
                head.end_input()?;
                let mut final_state = TaskStateSnapshot::default();
                head.write_final_state(&mut final_state)?;
                let uncommitted = !final_state.operators.is_empty();
                control.finished(final_state, false);
                if uncommitted {
                    control.wait_until_final_state_is_safe()?;
                    head.notify_checkpoint_complete(CheckpointId::MAX)?;
                    control.committed_final_state(TaskStateSnapshot::default());
                }
                return Ok(());
            }
        }
        if let Some(now) = control.time.take_due() {
            head.on_processing_time(now)?;
        }
        notify_completed(&mut head, control)?;
        if flush_timer.is_due() {
            head.flush()?;
        }
        if let Err(stopped) = control.check_cancelled() {
            // A savepoint the job is stopped with completed before the stop was asked for.
            notify_completed(&mut head, control)?;
            return Err(stopped);
        }
    }
}

/// Tells the chain of a checkpoint that completed since it last heard, if any.
fn notify_completed<T>(head: &mut BoxedInput<T>, control: &TaskControl) -> Result<(), TaskError> {
    if let Some(checkpoint) = control.newly_completed_checkpoint() {
        head.notify_checkpoint_complete(checkpoint)?;
    }
    Ok(())
}
