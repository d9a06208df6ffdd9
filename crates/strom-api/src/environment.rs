//! [`StreamExecutionEnvironment`]: where a job starts (sources, settings) and the single point
//! that decides how it runs. Today that is the embedded engine in this process; a cluster
//! deployment will be chosen here too, without changing the job's code.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use strom_connectors::collection::CollectionSource;
use strom_connectors::file::TextFileSource;
use strom_connectors::sequence::NumberSequenceSource;
use strom_connectors::socket::SocketTextSource;
use strom_core::config::{
    options, ConfigError, Configuration, RestartStrategyType, RuntimeExecutionMode,
    StateBackendType,
};
use strom_core::{CheckpointingMode, StreamData};
use strom_runtime::checkpoint_coordinator::CheckpointSettings;
use strom_runtime::checkpoint_storage::CheckpointStorage;
use strom_runtime::executor::{self, ExecutionSettings, StateBackendSettings};
use strom_runtime::graph::{
    ChainingStrategy, EdgeSpec, GraphSettings, JobGraph, NodeBody, NodeKind, NodeSpec, StreamEdge,
    StreamGraph, StreamNode,
};
use strom_runtime::operator::ExecutionMode;
use strom_runtime::restart::RestartStrategy;
use strom_runtime::source::{Boundedness, Source, SourceFactory, SourceNode};
use strom_runtime::{CheckpointStatistics, JobError, JobShared};

use crate::datastream::{DataStream, StreamInput};
use crate::watermarks::WatermarkStrategy;

/// Records per batch moved between operators and tasks.
const BATCH_SIZE: usize = 1024;

/// What the environment records while the program builds its job.
pub(crate) struct EnvState {
    pub(crate) graph: StreamGraph,
    /// Counts executed jobs: `execute` takes the graph, and a stream made for an earlier job
    /// must not be wired into the next one by its stale node id.
    pub(crate) generation: u64,
    config: Configuration,
    config_error: Option<ConfigError>,
    parallelism: Option<usize>,
    max_parallelism: Option<usize>,
    runtime_mode: Option<RuntimeExecutionMode>,
    buffer_timeout: Option<Duration>,
    checkpointing: Option<(Duration, CheckpointingMode)>,
    restart: Option<RestartStrategy>,
    /// Mistakes in the program, reported by `execute`.
    errors: Vec<String>,
}

pub(crate) type Env = Rc<RefCell<EnvState>>;

impl EnvState {
    /// Adds a node reading `inputs`.
    pub(crate) fn add_node(
        &mut self,
        name: &str,
        kind: NodeKind,
        parallel: bool,
        body: NodeBody,
        inputs: &[StreamInput],
    ) -> usize {
        if inputs
            .iter()
            .any(|input| input.generation != self.generation)
        {
            self.error(&format!(
                "'{name}' reads a stream of a job that was already executed; build each job's streams after the previous execute()"
            ));
        }
        let id = self.graph.nodes.len();
        let spec = NodeSpec {
            id,
            name: name.to_string(),
            uid: None,
            parallelism: None,
            max_parallelism: None,
            chaining: ChainingStrategy::Always,
            kind,
            parallel,
        };
        self.graph.nodes.push(StreamNode { spec, body });
        for input in inputs
            .iter()
            .filter(|input| input.generation == self.generation)
        {
            self.graph.edges.push(StreamEdge {
                spec: EdgeSpec {
                    source: input.node,
                    target: id,
                    partitioner: input.partitioner,
                    side_output: input.side_output.clone(),
                },
                element_type: Arc::clone(&input.element_type),
                channel_type: Arc::clone(&input.channel_type),
                router: input.router.clone(),
            });
        }
        id
    }

    /// Changes a node's settings, if it belongs to the job being built.
    pub(crate) fn configure_node(
        &mut self,
        generation: u64,
        node: usize,
        change: impl FnOnce(&mut NodeSpec),
    ) {
        if generation == self.generation {
            change(&mut self.graph.nodes[node].spec);
        } else {
            self.error("an operator of a job that was already executed cannot be configured");
        }
    }

    /// Records a mistake in the program; `execute` reports it.
    pub(crate) fn error(&mut self, message: &str) {
        self.errors.push(message.to_string());
    }
}

/// The context a job is built in and executed from (Flink's `StreamExecutionEnvironment`).
///
/// ```
/// use strom_api::StreamExecutionEnvironment;
/// let env = StreamExecutionEnvironment::get_execution_environment();
/// env.set_parallelism(2);
/// let doubled = env.from_sequence(1, 4).map(|n| n * 2).execute_and_collect().unwrap();
/// let mut sorted = doubled.clone();
/// sorted.sort();
/// assert_eq!(sorted, [2, 4, 6, 8]);
/// ```
pub struct StreamExecutionEnvironment {
    env: Env,
}

/// What a finished job reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobExecutionResult {
    job_id: String,
    net_runtime: Duration,
    checkpoints: CheckpointStatistics,
}

impl JobExecutionResult {
    /// The job's id (32 hexadecimal digits, as Flink's).
    pub fn get_job_id(&self) -> &str {
        &self.job_id
    }

    /// How long the job ran.
    pub fn get_net_runtime(&self) -> Duration {
        self.net_runtime
    }

    /// How many checkpoints completed while the job ran.
    pub fn get_completed_checkpoints(&self) -> u64 {
        self.checkpoints.completed
    }

    /// What became of the job's checkpoints: counts, and the newest one's duration and size.
    pub fn get_checkpoint_statistics(&self) -> &CheckpointStatistics {
        &self.checkpoints
    }
}

/// A job started with `execute_async`: wait for it or cancel it.
pub struct JobClient {
    job_id: String,
    shared: Arc<JobShared>,
    handle: JoinHandle<Result<JobExecutionResult, JobError>>,
}

impl JobClient {
    /// The job's id.
    pub fn get_job_id(&self) -> &str {
        &self.job_id
    }

    /// Asks the job to stop; [`get_job_execution_result`](Self::get_job_execution_result)
    /// then returns [`JobError::Cancelled`].
    pub fn cancel(&self) {
        self.shared.request_cancel();
    }

    /// Takes a savepoint of the running job under `directory` (Flink's `triggerSavepoint`);
    /// returns the savepoint's directory, which `execution.state-recovery.path` starts a job
    /// from. The job must checkpoint.
    pub fn trigger_savepoint(&self, directory: impl Into<PathBuf>) -> Result<PathBuf, JobError> {
        let answer = self.shared.request_savepoint(directory.into());
        let outcome = answer
            .recv()
            .unwrap_or_else(|_| Err("the job ended before the savepoint was taken".to_string()));
        outcome.map_err(|reason| JobError::Savepoint {
            job_id: self.job_id.clone(),
            reason,
        })
    }

    /// Takes a savepoint, then stops the job (Flink's `stopWithSavepoint`); returns the
    /// savepoint's directory.
    pub fn stop_with_savepoint(self, directory: impl Into<PathBuf>) -> Result<PathBuf, JobError> {
        let savepoint = self.trigger_savepoint(directory)?;
        self.cancel();
        match self.get_job_execution_result() {
            Ok(_) | Err(JobError::Cancelled { .. }) => Ok(savepoint),
            Err(error) => Err(error),
        }
    }

    /// Whether the job has ended (finished, failed or cancelled).
    pub fn is_done(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the job to end.
    pub fn get_job_execution_result(self) -> Result<JobExecutionResult, JobError> {
        self.handle.join().unwrap_or_else(|_| {
            Err(JobError::InvalidProgram(
                "the job's driver thread panicked".to_string(),
            ))
        })
    }
}

/// A job ready to run: its graphs and how to run them.
struct PreparedJob {
    graph: StreamGraph,
    job: JobGraph,
    settings: ExecutionSettings,
    config: Arc<Configuration>,
    job_id: String,
}

impl PreparedJob {
    fn run(self, shared: Arc<JobShared>) -> Result<JobExecutionResult, JobError> {
        let PreparedJob {
            graph,
            job,
            settings,
            config,
            job_id,
        } = self;
        let net_runtime = executor::execute(
            &graph,
            &job,
            &settings,
            config,
            Arc::clone(&shared),
            &job_id,
        )?;
        Ok(JobExecutionResult {
            checkpoints: shared.checkpoint_statistics(),
            job_id,
            net_runtime,
        })
    }
}

fn new_job_id() -> String {
    let mut first = RandomState::new().build_hasher();
    first.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut second = RandomState::new().build_hasher();
    second.write_u64(first.finish());
    format!("{:016x}{:016x}", first.finish(), second.finish())
}

/// Installs a plain stderr logger for warnings unless the program installed its own.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_target(false)
        .try_init();
}

impl StreamExecutionEnvironment {
    /// The environment of this program: embedded local execution, configured from the file
    /// named by `--conf` or `$STROM_CONF_DIR/config.yaml` when present. A bad configuration
    /// is reported by `execute`.
    pub fn get_execution_environment() -> Self {
        init_logging();
        match Configuration::from_environment() {
            Ok(config) => Self::with_config(config, None),
            Err(error) => Self::with_config(Configuration::new(), Some(error)),
        }
    }

    /// An environment with an explicit configuration (nothing is read from files).
    pub fn get_execution_environment_with_config(config: Configuration) -> Self {
        init_logging();
        Self::with_config(config, None)
    }

    fn with_config(config: Configuration, config_error: Option<ConfigError>) -> Self {
        let state = EnvState {
            graph: StreamGraph::default(),
            generation: 0,
            config,
            config_error,
            parallelism: None,
            max_parallelism: None,
            runtime_mode: None,
            buffer_timeout: None,
            checkpointing: None,
            restart: None,
            errors: Vec::new(),
        };
        StreamExecutionEnvironment {
            env: Rc::new(RefCell::new(state)),
        }
    }

    pub(crate) fn from_env(env: Env) -> Self {
        StreamExecutionEnvironment { env }
    }

    /// Parallelism of operators that set none.
    pub fn set_parallelism(&self, parallelism: usize) -> &Self {
        if parallelism == 0 {
            self.env
                .borrow_mut()
                .error("set_parallelism(0): parallelism must be at least 1");
        } else {
            self.env.borrow_mut().parallelism = Some(parallelism);
        }
        self
    }

    /// The parallelism operators get when they set none: the program's setting, else
    /// `parallelism.default`, else the number of cores.
    pub fn get_parallelism(&self) -> usize {
        let state = self.env.borrow();
        state
            .parallelism
            .or_else(|| {
                state
                    .config
                    .get(&options::PARALLELISM_DEFAULT)
                    .map(|p| p.get())
            })
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Maximum parallelism (number of key groups) of operators that set none.
    pub fn set_max_parallelism(&self, max_parallelism: usize) -> &Self {
        self.env.borrow_mut().max_parallelism = Some(max_parallelism);
        self
    }

    /// Streaming, batch, or automatic (batch when every source is bounded).
    pub fn set_runtime_mode(&self, mode: RuntimeExecutionMode) -> &Self {
        self.env.borrow_mut().runtime_mode = Some(mode);
        self
    }

    /// Longest time a partly filled batch waits before it is sent (`execution.buffer-timeout`);
    /// zero sends every record at once.
    pub fn set_buffer_timeout(&self, timeout: Duration) -> &Self {
        self.env.borrow_mut().buffer_timeout = Some(timeout);
        self
    }

    /// Takes a checkpoint every `interval`, exactly once (Flink's `enableCheckpointing`;
    /// `execution.checkpointing.interval` in the configuration).
    pub fn enable_checkpointing(&self, interval: Duration) -> &Self {
        self.enable_checkpointing_with_mode(interval, CheckpointingMode::ExactlyOnce)
    }

    /// Takes a checkpoint every `interval` with the guarantee `mode`.
    pub fn enable_checkpointing_with_mode(
        &self,
        interval: Duration,
        mode: CheckpointingMode,
    ) -> &Self {
        self.env.borrow_mut().checkpointing = Some((interval, mode));
        self
    }

    /// How the job restarts after a failure (the `restart-strategy.*` keys otherwise; their
    /// default is exponential delay when the job checkpoints, no restart when it does not).
    pub fn set_restart_strategy(&self, strategy: RestartStrategy) -> &Self {
        self.env.borrow_mut().restart = Some(strategy);
        self
    }

    /// Where the job's keyed state lives (`state.backend.type` otherwise): on the heap
    /// (`StateBackendType::HashMap`, the default) or, for state larger than memory, on local
    /// disk beyond `state.backend.disk.cache-entries` entries per state
    /// (`StateBackendType::Disk`, Flink's `EmbeddedRocksDBStateBackend` in role).
    pub fn set_state_backend(&self, backend: StateBackendType) -> &Self {
        self.env
            .borrow_mut()
            .config
            .set(&options::STATE_BACKEND, backend);
        self
    }

    /// The configuration the environment was created with.
    pub fn get_config(&self) -> Configuration {
        self.env.borrow().config.clone()
    }

    fn add_source<T: StreamData, S: Source<T>>(
        &self,
        source: S,
        name: &str,
        parallel: bool,
        parallelism: Option<usize>,
    ) -> DataStream<T> {
        let bounded = source.boundedness() == Boundedness::Bounded;
        self.add_source_node(
            Box::new(SourceNode::new(source)),
            bounded,
            name,
            parallel,
            parallelism,
        )
    }

    fn add_source_node<T: StreamData>(
        &self,
        node: Box<dyn SourceFactory>,
        bounded: bool,
        name: &str,
        parallel: bool,
        parallelism: Option<usize>,
    ) -> DataStream<T> {
        let body = NodeBody::Source(node);
        let mut state = self.env.borrow_mut();
        let node = state.add_node(
            &format!("Source: {name}"),
            NodeKind::Source { bounded },
            parallel,
            body,
            &[],
        );
        state.graph.nodes[node].spec.parallelism = parallelism;
        drop(state);
        DataStream::from_node(Env::clone(&self.env), node)
    }

    /// A stream from any [`Source`], named `Source: {name}`, with event time from `strategy`
    /// applied per source split (Flink's `fromSource`): each split gets its own watermark
    /// generator, and the source's watermark is the largest its splits have reached (a reader
    /// reads its splits one after another).
    pub fn from_source<T: StreamData, S: Source<T>>(
        &self,
        source: S,
        strategy: WatermarkStrategy<T>,
        name: &str,
    ) -> DataStream<T> {
        let bounded = source.boundedness() == Boundedness::Bounded;
        let node = SourceNode::with_watermarks(source, strategy);
        self.add_source_node(Box::new(node), bounded, name, true, None)
    }

    /// The elements of `items`, in order (parallelism 1 unless set otherwise).
    pub fn from_collection<T: StreamData + Sync>(&self, items: Vec<T>) -> DataStream<T> {
        self.add_source(
            CollectionSource::new(items),
            "Collection Source",
            true,
            Some(1),
        )
    }

    /// The elements of an iterator, collected when the job is built (parallelism 1).
    pub fn from_iter<T: StreamData + Sync, I: IntoIterator<Item = T>>(
        &self,
        items: I,
    ) -> DataStream<T> {
        self.from_collection(items.into_iter().collect())
    }

    /// The numbers `from..=to`, read in parallel.
    pub fn from_sequence(&self, from: i64, to: i64) -> DataStream<i64> {
        self.add_source(
            NumberSequenceSource::new(from, to),
            "Sequence Source",
            true,
            None,
        )
    }

    /// The lines of a text file or of the files in a directory, read in parallel.
    pub fn read_text_file(&self, path: impl Into<PathBuf>) -> DataStream<String> {
        self.add_source(TextFileSource::new(path), "File Source", true, None)
    }

    /// Lines from a TCP socket; the stream ends when the peer closes the connection.
    pub fn socket_text_stream(&self, hostname: &str, port: u16) -> DataStream<String> {
        self.socket_text_stream_with(hostname, port, '\n', 0)
    }

    /// Records separated by `delimiter` (an ASCII character) from a TCP socket. When the
    /// peer closes, reconnect up to `max_retry` times, one second apart (`-1`: forever).
    pub fn socket_text_stream_with(
        &self,
        hostname: &str,
        port: u16,
        delimiter: char,
        max_retry: i64,
    ) -> DataStream<String> {
        let Ok(delimiter) = u8::try_from(delimiter).map_err(drop).and_then(|d| {
            if d.is_ascii() {
                Ok(d)
            } else {
                Err(())
            }
        }) else {
            self.env.borrow_mut().error(&format!(
                "socket_text_stream: the delimiter {delimiter:?} is not an ASCII character"
            ));
            return self.add_source(
                SocketTextSource::new(hostname, port, b'\n', max_retry),
                "Socket Stream",
                false,
                None,
            );
        };
        self.add_source(
            SocketTextSource::new(hostname, port, delimiter, max_retry),
            "Socket Stream",
            false,
            None,
        )
    }

    fn resolve(&self, job_name: &str) -> Result<(JobGraph, ExecutionSettings), JobError> {
        let mut state = self.env.borrow_mut();
        if let Some(error) = state.config_error.take() {
            return Err(JobError::Config(error));
        }
        if !state.errors.is_empty() {
            return Err(JobError::InvalidProgram(state.errors.join("; ")));
        }
        let nodes = state.graph.node_specs();
        if !nodes.iter().any(|n| n.kind == NodeKind::Sink) {
            return Err(JobError::InvalidProgram(
                "the job has no sink: end a stream with print(), write_as_text(), sink_to() or execute_and_collect()".into(),
            ));
        }
        let all_bounded = nodes
            .iter()
            .all(|n| n.kind != NodeKind::Source { bounded: false });
        let config = &state.config;
        let mode = state
            .runtime_mode
            .or_else(|| config.get(&options::RUNTIME_MODE));
        let execution_mode = match mode.unwrap_or(RuntimeExecutionMode::Streaming) {
            RuntimeExecutionMode::Streaming => ExecutionMode::Streaming,
            RuntimeExecutionMode::Batch => ExecutionMode::Batch,
            RuntimeExecutionMode::Automatic if all_bounded => ExecutionMode::Batch,
            RuntimeExecutionMode::Automatic => ExecutionMode::Streaming,
        };
        let max_parallelism = state
            .max_parallelism
            .or_else(|| config.get(&options::MAX_PARALLELISM).map(|p| p.get()));
        drop(state);
        let settings = GraphSettings {
            default_parallelism: self.get_parallelism(),
            max_parallelism,
            execution_mode,
        };
        let state = self.env.borrow();
        let job = JobGraph::build(job_name, &nodes, &state.graph.edge_specs(), settings)?;
        let unused = job.unused_operators();
        if !unused.is_empty() {
            tracing::warn!(
                "operators whose output reaches no sink do not run: {}",
                unused.join(", ")
            );
        }
        let config = &state.config;
        let execution = ExecutionSettings {
            buffer_timeout: state
                .buffer_timeout
                .or_else(|| config.get(&options::BUFFER_TIMEOUT))
                .unwrap_or(Duration::from_millis(100)),
            batch_size: BATCH_SIZE,
            channel_capacity: config
                .get(&options::BUFFERS_PER_CHANNEL)
                .map_or(2, |n| n.get()),
            slots: config.get(&options::NUMBER_OF_TASK_SLOTS).map(|n| n.get()),
            checkpointing: checkpoint_settings(state.checkpointing, config),
            restore_from: config.get(&options::STATE_RECOVERY_PATH).map(PathBuf::from),
            ignore_unclaimed_state: config
                .get(&options::IGNORE_UNCLAIMED_STATE)
                .unwrap_or(false),
            state_backend: state_backend(config),
            restart: state
                .restart
                .clone()
                .unwrap_or_else(|| restart_strategy(config, state.checkpointing.is_some())),
        };
        Ok((job, execution))
    }

    fn prepare(&self, job_name: &str) -> Result<PreparedJob, JobError> {
        let (job, mut settings) = self.resolve(job_name)?;
        let mut state = self.env.borrow_mut();
        let graph = std::mem::take(&mut state.graph);
        state.generation += 1;
        let config = Arc::new(state.config.clone());
        let job_id = new_job_id();
        if let (Some(checkpointing), Some(dir)) = (
            &mut settings.checkpointing,
            config.get(&options::CHECKPOINTS_DIRECTORY),
        ) {
            let retained = config
                .get(&options::CHECKPOINTS_RETAINED)
                .map_or(1, |n| n.get());
            let storage = CheckpointStorage::new(&dir, &job_id, retained).map_err(|_| {
                JobError::Config(ConfigError::InvalidValue {
                    key: options::CHECKPOINTS_DIRECTORY.key.to_string(),
                    value: dir.clone(),
                    expected: "a directory, or a URL: file://, memory://, or s3://, gs://, \
                               az:// in a build with the cloud feature",
                    origin: "the configuration".to_string(),
                })
            })?;
            checkpointing.storage = Some(storage);
        }
        Ok(PreparedJob {
            graph,
            job,
            settings,
            config,
            job_id,
        })
    }

    /// The job graph `execute` would run, as JSON: tasks (chained operators), their
    /// parallelism and the partitioners between them.
    pub fn get_execution_plan(&self) -> Result<String, JobError> {
        Ok(self.resolve("plan")?.0.to_json())
    }

    /// Runs the job built so far and waits for it to end. The environment is then empty, ready
    /// for another job.
    pub fn execute(&self, job_name: &str) -> Result<JobExecutionResult, JobError> {
        self.prepare(job_name)?.run(Arc::new(JobShared::default()))
    }

    /// Starts the job in the background and returns a client to wait for or cancel it.
    pub fn execute_async(&self, job_name: &str) -> Result<JobClient, JobError> {
        let prepared = self.prepare(job_name)?;
        let job_id = prepared.job_id.clone();
        let shared = Arc::new(JobShared::default());
        // Savepoints may be asked for as soon as this returns.
        shared.set_checkpointing(prepared.settings.checkpointing.is_some());
        let job_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name(format!("job {job_name}"))
            .spawn(move || prepared.run(job_shared))
            .map_err(|error| {
                JobError::InvalidProgram(format!("cannot start the job's thread: {error}"))
            })?;
        Ok(JobClient {
            job_id,
            shared,
            handle,
        })
    }
}

/// Checkpointing as the program (`enable_checkpointing`) or else the configuration asks for it.
fn checkpoint_settings(
    program: Option<(Duration, CheckpointingMode)>,
    config: &Configuration,
) -> Option<CheckpointSettings> {
    let (interval, mode) = program.or_else(|| {
        let interval = config.get(&options::CHECKPOINTING_INTERVAL)?;
        let mode = config.get(&options::CHECKPOINTING_MODE).unwrap_or_default();
        Some((interval, mode))
    })?;
    Some(CheckpointSettings {
        interval,
        mode,
        timeout: config
            .get(&options::CHECKPOINTING_TIMEOUT)
            .unwrap_or(Duration::from_secs(600)),
        min_pause: config
            .get(&options::CHECKPOINTING_MIN_PAUSE)
            .unwrap_or_default(),
        storage: None,
        tolerable_failures: config
            .get(&options::TOLERABLE_FAILED_CHECKPOINTS)
            .unwrap_or(0),
        retention: config
            .get(&options::CHECKPOINT_RETENTION)
            .unwrap_or_default(),
    })
}

/// The state backend the configuration names.
fn state_backend(config: &Configuration) -> StateBackendSettings {
    match config
        .get(&options::STATE_BACKEND)
        .unwrap_or(StateBackendType::HashMap)
    {
        StateBackendType::HashMap => StateBackendSettings::HashMap,
        StateBackendType::Disk => StateBackendSettings::Disk {
            local_dir: config
                .get(&options::STATE_BACKEND_LOCAL_DIR)
                .map_or_else(std::env::temp_dir, PathBuf::from),
            cache_entries: config
                .get(&options::STATE_BACKEND_CACHE_ENTRIES)
                .map_or(100_000, |n| n.get()),
            incremental: config
                .get(&options::CHECKPOINTING_INCREMENTAL)
                .unwrap_or(false),
        },
    }
}

/// The restart strategy the configuration names, or Flink's default.
fn restart_strategy(config: &Configuration, checkpointing_in_program: bool) -> RestartStrategy {
    let checkpointing =
        checkpointing_in_program || config.get(&options::CHECKPOINTING_INTERVAL).is_some();
    let kind = config
        .get(&options::RESTART_STRATEGY)
        .unwrap_or(if checkpointing {
            RestartStrategyType::ExponentialDelay
        } else {
            RestartStrategyType::None
        });
    match kind {
        RestartStrategyType::None => RestartStrategy::None,
        RestartStrategyType::FixedDelay => RestartStrategy::FixedDelay {
            attempts: config.get(&options::FIXED_DELAY_ATTEMPTS).unwrap_or(1),
            delay: config
                .get(&options::FIXED_DELAY_DELAY)
                .unwrap_or(Duration::from_secs(1)),
        },
        RestartStrategyType::ExponentialDelay => RestartStrategy::ExponentialDelay {
            initial: config
                .get(&options::EXPONENTIAL_DELAY_INITIAL_BACKOFF)
                .unwrap_or(Duration::from_secs(1)),
            max: config
                .get(&options::EXPONENTIAL_DELAY_MAX_BACKOFF)
                .unwrap_or(Duration::from_secs(60)),
            multiplier: config
                .get(&options::EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER)
                .unwrap_or(1.5),
        },
        RestartStrategyType::FailureRate => RestartStrategy::FailureRate {
            max_failures_per_interval: config.get(&options::FAILURE_RATE_MAX_FAILURES).unwrap_or(1),
            interval: config
                .get(&options::FAILURE_RATE_INTERVAL)
                .unwrap_or(Duration::from_secs(60)),
            delay: config
                .get(&options::FAILURE_RATE_DELAY)
                .unwrap_or(Duration::from_secs(1)),
        },
    }
}
