//! The local executor: runs a job graph inside this process, one thread per subtask.
//!
//! It expands each job vertex into its subtasks, creates one bounded channel per connected
//! pair of subtasks (as the partitioner connects them), builds every subtask's chain inside
//! its own thread and runs it. The first task failure cancels the job: the failed task drops
//! its channels, its neighbours see them disconnect, and every thread ends. This is the
//! embedded mini-cluster; a cluster deployment runs the same tasks in other processes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strom_core::config::{CheckpointRetention, Configuration};
use strom_core::key_group::KeyGroupRange;
use strom_core::BoxError;

use crate::checkpoint_coordinator::{CheckpointSettings, CompletedCheckpoint, Coordinator};
use crate::checkpoint_storage::read_checkpoint;
use crate::element_type::{AnyInput, AnyReceiver, AnySender, WriterSettings};
use crate::error::{JobError, OperatorInfo, TaskError};
use crate::exchange::PartitionerKind;
use crate::graph::{JobGraph, NodeBody, NodeOutputs, StreamGraph};
use crate::operator::OperatorContext;
use crate::processing_time::ProcessingTimeService;
use crate::restart::{RestartHistory, RestartStrategy};
use crate::source::SplitAssignment;
pub use crate::task::{JobShared, TaskControl};
use strom_state::{DiskBackend, StateBackend, StateBackendError};

/// How the executor runs tasks.
#[derive(Debug, Clone)]
pub struct ExecutionSettings {
    /// Longest time a partly filled batch waits before it is sent.
    pub buffer_timeout: Duration,
    /// Records per batch.
    pub batch_size: usize,
    /// Batches a channel holds before its sender blocks.
    pub channel_capacity: usize,
    /// Task slots available; `None` gives the job as many as it needs.
    pub slots: Option<usize>,
    /// Periodic checkpoints, when enabled.
    pub checkpointing: Option<CheckpointSettings>,
    /// What happens when a task fails.
    pub restart: RestartStrategy,
    /// A checkpoint to start from (`execution.state-recovery.path`).
    pub restore_from: Option<PathBuf>,
    /// Start even when that checkpoint holds state of operators the job no longer has.
    pub ignore_unclaimed_state: bool,
    /// Where keyed state lives.
    pub state_backend: StateBackendSettings,
}

/// The state backend a job run opens.
#[derive(Debug, Clone, PartialEq)]
pub enum StateBackendSettings {
    /// On the heap.
    HashMap,
    /// On disk beyond `cache_entries` entries per state, in a directory under `local_dir`.
    Disk {
        /// Where each run's directory is made.
        local_dir: PathBuf,
        /// Entries per state of a subtask kept on the heap.
        cache_entries: usize,
        /// Whether checkpoints write only what changed since the last completed one.
        incremental: bool,
    },
}

impl StateBackendSettings {
    /// Opens the backend for one run of job `job_id`.
    fn open(&self, job_id: &str) -> Result<StateBackend, StateBackendError> {
        Ok(match self {
            StateBackendSettings::HashMap => StateBackend::HashMap,
            StateBackendSettings::Disk {
                local_dir,
                cache_entries,
                incremental,
            } => {
                // A directory per run: what a run leaves behind never meets the next one's.
                static RUNS: AtomicU64 = AtomicU64::new(0);
                let run = RUNS.fetch_add(1, Ordering::Relaxed);
                let directory = local_dir.join(format!("strom-state-{job_id}-{run}"));
                StateBackend::disk(
                    DiskBackend::open(&directory, *cache_entries)?
                        .with_incremental_checkpoints(*incremental),
                )
            }
        })
    }
}

/// One subtask's share of the channels.
struct TaskPlan {
    vertex: usize,
    subtask: usize,
    /// Senders per stream edge leaving the task, in downstream subtask order.
    senders: HashMap<usize, Vec<AnySender>>,
    receivers: Vec<AnyReceiver>,
    /// The task's processing-time clock, shared by its chained operators.
    time: ProcessingTimeService,
}

/// Runs `job` (resolved from `graph`) to completion; returns how long it ran. A failed run is
/// restarted as the restart strategy allows, from the latest completed checkpoint.
pub fn execute(
    graph: &StreamGraph,
    job: &JobGraph,
    settings: &ExecutionSettings,
    config: Arc<Configuration>,
    shared: Arc<JobShared>,
    job_id: &str,
) -> Result<Duration, JobError> {
    let started = Instant::now();
    if let Some(slots) = settings.slots {
        if slots < job.required_slots() {
            return Err(JobError::InsufficientResources(format!(
                "the job needs {} task slots but taskmanager.numberOfTaskSlots is {slots}",
                job.required_slots()
            )));
        }
    }
    shared.set_checkpointing(settings.checkpointing.is_some());
    let outcome = run_with_restarts(graph, job, settings, config, &shared, job_id, started);
    shared.set_checkpointing(false);
    outcome
}

/// Runs the job, restarting it as the restart strategy allows.
fn run_with_restarts(
    graph: &StreamGraph,
    job: &JobGraph,
    settings: &ExecutionSettings,
    config: Arc<Configuration>,
    shared: &Arc<JobShared>,
    job_id: &str,
    started: Instant,
) -> Result<Duration, JobError> {
    let mut restore = match &settings.restore_from {
        Some(path) => Some(Arc::new(initial_checkpoint(job, settings, path, job_id)?)),
        None => None,
    };
    let mut history = RestartHistory::new(settings.restart.clone());
    for restart in 1.. {
        let error = match run(
            graph,
            job,
            settings,
            &config,
            shared,
            job_id,
            restore.as_deref(),
        ) {
            Ok(()) => {
                end_checkpoints(settings, &Ok(()));
                return Ok(started.elapsed());
            }
            Err(error) => error,
        };
        let delay = match &error {
            JobError::Failed { .. } if !shared.is_cancel_requested() => {
                history.on_failure(Instant::now())
            }
            _ => None,
        };
        let Some(delay) = delay else {
            let outcome = Err(error);
            end_checkpoints(settings, &outcome);
            return outcome.map(|()| started.elapsed());
        };
        restore = shared
            .latest_standalone_checkpoint()
            .map_err(|reason| JobError::Setup {
                job_name: job.job_name.clone(),
                job_id: job_id.to_string(),
                operator: "state recovery".to_string(),
                source: reason.into(),
            })?;
        let from = restore.as_ref().map_or("the beginning".to_string(), |c| {
            format!("checkpoint {}", c.id)
        });
        tracing::warn!("{error}; restart {restart} from {from} in {delay:?}");
        std::thread::sleep(delay);
        shared.reset_for_restart();
    }
    unreachable!("the restart loop returns")
}

/// The checkpoint at `path` to start the job from, checked against the job's operators.
fn initial_checkpoint(
    job: &JobGraph,
    settings: &ExecutionSettings,
    path: &std::path::Path,
    job_id: &str,
) -> Result<CompletedCheckpoint, JobError> {
    let setup = |source: BoxError| JobError::Setup {
        job_name: job.job_name.clone(),
        job_id: job_id.to_string(),
        operator: "state recovery".to_string(),
        source,
    };
    let checkpoint = read_checkpoint(path).map_err(|error| setup(error.into()))?;
    if !settings.ignore_unclaimed_state {
        let claimed: Vec<&str> = job
            .nodes
            .iter()
            .filter(|node| node.runs)
            .map(|node| node.operator_id.as_str())
            .collect();
        let unclaimed: Vec<String> = checkpoint
            .operators
            .iter()
            .filter(|(id, states)| {
                !claimed.contains(&id.as_str()) && states.iter().any(|s| !s.is_empty())
            })
            .map(|(id, states)| {
                let name = states.first().map_or("", |s| s.name.as_str());
                format!("'{name}' (id {id})")
            })
            .collect();
        if !unclaimed.is_empty() {
            return Err(setup(
                format!(
                    "{} holds state of operator(s) {} that this job does not have: give the \
                     operators their uid, or set execution.state-recovery.ignore-unclaimed-state",
                    path.display(),
                    unclaimed.join(", ")
                )
                .into(),
            ));
        }
    }
    Ok(checkpoint)
}

/// Removes the job's checkpoints when it ends, unless the retention keeps them.
fn end_checkpoints(settings: &ExecutionSettings, outcome: &Result<(), JobError>) {
    let Some(checkpointing) = &settings.checkpointing else {
        return;
    };
    let Some(storage) = &checkpointing.storage else {
        return;
    };
    let keep = match checkpointing.retention {
        CheckpointRetention::NoExternalizedCheckpoints => false,
        CheckpointRetention::DeleteOnCancellation => {
            matches!(outcome, Err(JobError::Failed { .. }))
        }
        CheckpointRetention::RetainOnCancellation => true,
    };
    if !keep {
        if let Err(error) = storage.discard() {
            tracing::warn!(
                "the checkpoints in {} could not be removed: {error}",
                storage.job_location()
            );
        }
    }
}

/// One run of the job, from `restore` when given.
fn run(
    graph: &StreamGraph,
    job: &JobGraph,
    settings: &ExecutionSettings,
    config: &Arc<Configuration>,
    shared: &Arc<JobShared>,
    job_id: &str,
    restore: Option<&CompletedCheckpoint>,
) -> Result<(), JobError> {
    let assignment = SourceAssignment {
        checkpointing: settings.checkpointing.is_some(),
        restore,
        first_run: shared.begin_run(),
    };
    let splits = enumerate_sources(graph, job, job_id, &assignment)?;
    let plans = connect(graph, job, settings.channel_capacity);
    let runner = TaskRunner {
        graph,
        job,
        settings,
        config: Arc::clone(config),
        splits,
        restore,
        state_backend: settings.state_backend.open(job_id)?,
    };

    let (coordinator, hub) = match &settings.checkpointing {
        Some(checkpointing) => {
            let sources = plans
                .iter()
                .filter(|plan| {
                    let head = job.vertices[plan.vertex].head;
                    matches!(graph.nodes[head].body, NodeBody::Source(_))
                })
                .count();
            let (coordinator, hub) = Coordinator::new(checkpointing.clone(), plans.len(), sources);
            (Some(coordinator), Some(hub))
        }
        None => (None, None),
    };
    let finished_tasks = AtomicUsize::new(0);

    std::thread::scope(|scope| {
        if let Some(coordinator) = coordinator {
            let (shared, finished_tasks) = (&shared, &finished_tasks);
            scope.spawn(move || coordinator.run(shared, finished_tasks));
        }
        let mut handles = Vec::with_capacity(plans.len());
        for (task_index, plan) in plans.into_iter().enumerate() {
            let vertex = &job.vertices[plan.vertex];
            let name = format!(
                "{} ({}/{})",
                vertex.name,
                plan.subtask + 1,
                vertex.parallelism
            );
            let mut control = TaskControl::new(
                Arc::clone(shared),
                settings.buffer_timeout,
                plan.time.clone(),
            );
            if let Some(hub) = &hub {
                let info = OperatorInfo {
                    name: vertex.name.as_str().into(),
                    subtask_index: plan.subtask,
                    parallelism: vertex.parallelism,
                };
                control = control.with_checkpoints(Arc::clone(hub), task_index, info);
            }
            let (runner, task_shared, finished_tasks) =
                (&runner, Arc::clone(shared), &finished_tasks);
            let name_for_panic = name.clone();
            let handle =
                std::thread::Builder::new()
                    .name(name.clone())
                    .spawn_scoped(scope, move || {
                        let task_name = name_for_panic;
                        let outcome =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                runner.run(plan, &control)
                            }));
                        match outcome {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => task_shared.fail(error),
                            // A panic outside the guarded user code is a runtime bug; it still
                            // fails the job at once, so no task waits for this one.
                            Err(_) => task_shared.fail(TaskError::failed(
                                &OperatorInfo {
                                    name: task_name.into(),
                                    subtask_index: 0,
                                    parallelism: 1,
                                },
                                "the task panicked",
                            )),
                        }
                        finished_tasks.fetch_add(1, Ordering::AcqRel);
                    });
            match handle {
                Ok(handle) => handles.push((name, handle)),
                Err(error) => {
                    let info = OperatorInfo {
                        name: name.into(),
                        subtask_index: 0,
                        parallelism: 1,
                    };
                    shared.fail(TaskError::failed(
                        &info,
                        format!("cannot start a thread: {error}"),
                    ));
                }
            }
        }
        for (name, handle) in handles {
            if handle.join().is_err() {
                let info = OperatorInfo {
                    name: name.into(),
                    subtask_index: 0,
                    parallelism: 1,
                };
                shared.fail(TaskError::UserPanic {
                    operator: info,
                    message: "the task thread panicked".into(),
                });
            }
        }
    });

    let job_id = job_id.to_string();
    match shared.take_failure() {
        Some(cause) => Err(JobError::Failed {
            job_name: job.job_name.clone(),
            job_id,
            cause,
        }),
        None if shared.is_cancelled() => Err(JobError::Cancelled {
            job_name: job.job_name.clone(),
            job_id,
        }),
        None => Ok(()),
    }
}

/// How sources get their splits in one run.
struct SourceAssignment<'a> {
    checkpointing: bool,
    restore: Option<&'a CompletedCheckpoint>,
    /// Not a restart: sinks prepare their destination (once per job, as Flink's
    /// `initializeGlobal`; a restart keeps what the failed run wrote).
    first_run: bool,
}

impl SourceAssignment<'_> {
    /// The readers' encoded splits for the source `operator_id` of `parallelism`, when the run
    /// restores them.
    fn restored_splits(&self, operator_id: &str, parallelism: usize) -> Option<Vec<Vec<Vec<u8>>>> {
        let checkpoint = self.restore?;
        checkpoint.operators.get(operator_id)?;
        Some(
            (0..parallelism)
                .map(|subtask| {
                    checkpoint
                        .restore_for(
                            operator_id,
                            KeyGroupRange { start: 0, end: 0 },
                            subtask,
                            parallelism,
                        )
                        .map(|state| state.operator)
                        .unwrap_or_default()
                })
                .collect(),
        )
    }
}

/// Splits every source's input (or takes the splits a checkpoint restores) and prepares every
/// sink before any task starts, so a missing input or an existing output fails the job at once.
fn enumerate_sources(
    graph: &StreamGraph,
    job: &JobGraph,
    job_id: &str,
    assignment: &SourceAssignment<'_>,
) -> Result<HashMap<usize, Arc<dyn std::any::Any + Send + Sync>>, JobError> {
    let mut splits = HashMap::new();
    for (id, node) in graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(id, _)| job.nodes[*id].runs)
    {
        let parallelism = job.nodes[id].parallelism;
        let failed = |source| JobError::Setup {
            job_name: job.job_name.clone(),
            job_id: job_id.to_string(),
            operator: node.spec.name.clone(),
            source,
        };
        match &node.body {
            NodeBody::Source(source) => {
                let operator_id = &job.nodes[id].operator_id;
                let restored = assignment.restored_splits(operator_id, parallelism);
                let mode = match &restored {
                    Some(readers) => SplitAssignment::Restored(readers),
                    None if assignment.checkpointing => SplitAssignment::PerReader,
                    None => SplitAssignment::Shared,
                };
                splits.insert(id, source.enumerate(parallelism, mode).map_err(failed)?);
            }
            NodeBody::Operator(operator) if assignment.first_run => {
                operator.prepare(parallelism).map_err(failed)?
            }
            NodeBody::Operator(_) => {}
        }
    }
    Ok(splits)
}

/// Creates every channel and hands each subtask its ends.
fn connect(graph: &StreamGraph, job: &JobGraph, capacity: usize) -> Vec<TaskPlan> {
    let mut plans: Vec<TaskPlan> = Vec::new();
    let mut first_plan = Vec::with_capacity(job.vertices.len());
    for vertex in &job.vertices {
        first_plan.push(plans.len());
        for subtask in 0..vertex.parallelism {
            plans.push(TaskPlan {
                vertex: vertex.id,
                subtask,
                senders: HashMap::new(),
                receivers: Vec::new(),
                time: ProcessingTimeService::system(),
            });
        }
    }
    for job_edge in &job.job_edges {
        let edge = &graph.edges[job_edge.stream_edge];
        let senders = job.vertices[job_edge.source_vertex].parallelism;
        let receivers = job.vertices[job_edge.target_vertex].parallelism;
        for sender in 0..senders {
            let mut ends = Vec::new();
            for receiver in job_edge.partitioner.targets(sender, senders, receivers) {
                let (tx, rx) = edge.channel_type.channel(capacity);
                ends.push(tx);
                plans[first_plan[job_edge.target_vertex] + receiver]
                    .receivers
                    .push(rx);
            }
            plans[first_plan[job_edge.source_vertex] + sender]
                .senders
                .insert(job_edge.stream_edge, ends);
        }
    }
    plans
}

struct TaskRunner<'a> {
    graph: &'a StreamGraph,
    job: &'a JobGraph,
    settings: &'a ExecutionSettings,
    config: Arc<Configuration>,
    splits: HashMap<usize, Arc<dyn std::any::Any + Send + Sync>>,
    restore: Option<&'a CompletedCheckpoint>,
    state_backend: StateBackend,
}

impl TaskRunner<'_> {
    fn run(&self, mut plan: TaskPlan, control: &TaskControl) -> Result<(), TaskError> {
        let head = self.job.vertices[plan.vertex].head;
        match &self.graph.nodes[head].body {
            NodeBody::Source(source) => {
                let outputs = self.build_outputs(head, &mut plan)?;
                let ctx = self.context(head, &plan);
                let splits = self
                    .splits
                    .get(&head)
                    .ok_or_else(|| TaskError::failed(&ctx.info, "source was not enumerated"))?;
                source.run(&ctx, splits.as_ref(), outputs.main, control)
            }
            NodeBody::Operator(operator) => {
                let input = self.build_node(head, &mut plan)?;
                let receivers = std::mem::take(&mut plan.receivers);
                operator
                    .input_type()
                    .run_input_task(receivers, input, control)
            }
        }
    }

    fn context(&self, node: usize, plan: &TaskPlan) -> OperatorContext {
        let subtask = plan.subtask;
        let resolved = &self.job.nodes[node];
        let key_group_range =
            KeyGroupRange::for_subtask(resolved.max_parallelism, resolved.parallelism, subtask);
        let restored_state = self.restore.and_then(|checkpoint| {
            checkpoint.restore_for(
                &resolved.operator_id,
                key_group_range,
                subtask,
                resolved.parallelism,
            )
        });
        OperatorContext {
            info: OperatorInfo {
                name: resolved.spec.name.as_str().into(),
                subtask_index: subtask,
                parallelism: resolved.parallelism,
            },
            operator_id: resolved.operator_id.clone(),
            max_parallelism: resolved.max_parallelism,
            key_group_range,
            execution_mode: self.job.execution_mode,
            batch_size: self.settings.batch_size,
            config: Arc::clone(&self.config),
            processing_time: plan.time.clone(),
            restored_state: restored_state.map(Arc::new),
            state_backend: self
                .state_backend
                .for_operator(self.settings.checkpointing.is_some()),
            checkpointing: self.settings.checkpointing.is_some(),
        }
    }

    /// The chain starting at operator `node`, for this subtask.
    fn build_node(&self, node: usize, plan: &mut TaskPlan) -> Result<AnyInput, TaskError> {
        let outputs = self.build_outputs(node, plan)?;
        let ctx = self.context(node, plan);
        match &self.graph.nodes[node].body {
            NodeBody::Operator(operator) => operator.create(ctx, outputs),
            NodeBody::Source(_) => Err(TaskError::failed(
                &ctx.info,
                "a source cannot be chained after another operator",
            )),
        }
    }

    /// Everything `node` emits into: chained successors and channel writers, per output.
    fn build_outputs(&self, node: usize, plan: &mut TaskPlan) -> Result<NodeOutputs, TaskError> {
        let mut main = Vec::new();
        let mut side: Vec<(String, Vec<AnyInput>, usize)> = Vec::new();
        for (index, edge) in self
            .graph
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.spec.source == node && self.job.nodes[e.spec.target].runs)
        {
            let input = if self.job.chained[index] {
                self.build_node(edge.spec.target, plan)?
            } else {
                self.writer(index, node, plan)?
            };
            match &edge.spec.side_output {
                None => main.push(input),
                Some(tag) => match side.iter_mut().find(|(t, _, _)| t == tag) {
                    Some((_, inputs, _)) => inputs.push(input),
                    None => side.push((tag.clone(), vec![input], index)),
                },
            }
        }
        let main = self.graph.nodes[node].output_type().fan_out(main);
        let side = side
            .into_iter()
            .map(|(tag, inputs, edge)| {
                let element_type = &self.graph.edges[edge].element_type;
                (
                    tag,
                    element_type
                        .side_output(element_type.fan_out(inputs), self.settings.batch_size),
                )
            })
            .collect();
        Ok(NodeOutputs { main, side })
    }

    fn writer(
        &self,
        edge_index: usize,
        node: usize,
        plan: &mut TaskPlan,
    ) -> Result<AnyInput, TaskError> {
        let edge = &self.graph.edges[edge_index];
        let info = self.context(node, plan).info;
        let senders = plan
            .senders
            .remove(&edge_index)
            .ok_or_else(|| TaskError::failed(&info, "an output channel is missing"))?;
        let batch_size = self.settings.batch_size;
        match (self.job.partitioners[edge_index], &edge.router) {
            (PartitionerKind::KeyGroups | PartitionerKind::Custom, Some(router)) => {
                let settings = WriterSettings {
                    batch_size,
                    target_max_parallelism: self.job.nodes[edge.spec.target].max_parallelism,
                    execution_mode: self.job.execution_mode,
                };
                Ok(router.writer(senders, settings, info))
            }
            (PartitionerKind::KeyGroups | PartitionerKind::Custom, None) => {
                Err(TaskError::failed(&info, "a keyed edge has no key selector"))
            }
            (kind, _) => Ok(edge
                .element_type
                .writer(kind, senders, batch_size, plan.subtask)),
        }
    }
}
