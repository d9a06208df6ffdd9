//! Configuration in Flink's format and under Flink's key names.
//!
//! A `config.yaml` may write keys flat (`parallelism.default: 2`) or nested
//! (`parallelism: {default: 2}`); both flatten to the same dotted key. Every known key is
//! checked when the file loads, so a wrong type fails at once with the key, the file and the
//! line named; unknown keys are kept and produce a warning (they may belong to a newer
//! version or to Flink itself).
//!
//! The file is found through `--conf PATH` on the command line (a file or a directory holding
//! `config.yaml`) or, failing that, the `STROM_CONF_DIR` environment variable.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::checkpoint::CheckpointingMode;
use crate::time::parse_duration;

/// The file name looked up inside a configuration directory.
pub const CONFIG_FILE_NAME: &str = "config.yaml";
/// The environment variable naming the configuration directory.
pub const CONF_DIR_ENV: &str = "STROM_CONF_DIR";

/// Why a configuration could not be loaded or a value not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{path}: line {line}, column {column}: malformed YAML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A known key has a value of the wrong type or out of range.
    #[error("{origin}: invalid value {value:?} for key '{key}': expected {expected}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// What the key takes.
        expected: &'static str,
        /// Where the value came from: a file and line, or the program.
        origin: String,
    },
    /// `--conf` was given without a path.
    #[error("--conf needs a path to a configuration file or directory")]
    MissingConfArgument,
}

/// A type a configuration value can have.
pub trait OptionType: Sized {
    /// What the value must look like, for error messages ("a positive integer").
    const EXPECTED: &'static str;
    /// Parses the value as written in YAML or given as a string.
    fn parse_value(text: &str) -> Option<Self>;
    /// The text form stored in the configuration.
    fn to_value(&self) -> String;
}

impl OptionType for NonZeroUsize {
    const EXPECTED: &'static str = "a positive integer";
    fn parse_value(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    fn to_value(&self) -> String {
        self.to_string()
    }
}

impl OptionType for u16 {
    const EXPECTED: &'static str = "an integer from 0 to 65535";
    fn parse_value(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    fn to_value(&self) -> String {
        self.to_string()
    }
}

impl OptionType for u32 {
    const EXPECTED: &'static str = "a non-negative integer";
    fn parse_value(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    fn to_value(&self) -> String {
        self.to_string()
    }
}

impl OptionType for f64 {
    const EXPECTED: &'static str = "a number";
    fn parse_value(text: &str) -> Option<Self> {
        text.trim().parse().ok().filter(|n: &f64| n.is_finite())
    }
    fn to_value(&self) -> String {
        self.to_string()
    }
}

/// How a failed job is restarted (`restart-strategy.type`, Flink's names and synonyms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartStrategyType {
    /// A failure fails the job.
    None,
    /// A fixed number of restarts, a fixed delay apart.
    FixedDelay,
    /// Restarts with a delay that grows after each failure up to a maximum.
    ExponentialDelay,
    /// Restarts a fixed delay apart while failures stay under a rate.
    FailureRate,
}

impl OptionType for RestartStrategyType {
    const EXPECTED: &'static str = "one of none, fixed-delay, exponential-delay, failure-rate";
    fn parse_value(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "off" | "disable" => Some(RestartStrategyType::None),
            "fixed-delay" | "fixeddelay" => Some(RestartStrategyType::FixedDelay),
            "exponential-delay" | "exponentialdelay" => Some(RestartStrategyType::ExponentialDelay),
            "failure-rate" | "failurerate" => Some(RestartStrategyType::FailureRate),
            _ => None,
        }
    }
    fn to_value(&self) -> String {
        match self {
            RestartStrategyType::None => "none",
            RestartStrategyType::FixedDelay => "fixed-delay",
            RestartStrategyType::ExponentialDelay => "exponential-delay",
            RestartStrategyType::FailureRate => "failure-rate",
        }
        .to_string()
    }
}

/// Where keyed state lives (`state.backend.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateBackendType {
    /// On the heap (Flink's `hashmap`, the default).
    HashMap,
    /// On the heap up to a share per state, the rest in an embedded on-disk LSM tree (what
    /// Flink's `rocksdb` is for; that name is accepted too).
    Disk,
}

impl OptionType for StateBackendType {
    const EXPECTED: &'static str = "hashmap or disk (rocksdb is taken as disk)";
    fn parse_value(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "hashmap" | "heap" => Some(StateBackendType::HashMap),
            "disk" | "rocksdb" => Some(StateBackendType::Disk),
            _ => None,
        }
    }
    fn to_value(&self) -> String {
        match self {
            StateBackendType::HashMap => "hashmap",
            StateBackendType::Disk => "disk",
        }
        .to_string()
    }
}

impl OptionType for bool {
    const EXPECTED: &'static str = "true or false";
    fn parse_value(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    fn to_value(&self) -> String {
        self.to_string()
    }
}

/// What happens to a job's checkpoints when it ends
/// (`execution.checkpointing.externalized-checkpoint-retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CheckpointRetention {
    /// Checkpoints are deleted when the job ends, however it ends.
    #[default]
    NoExternalizedCheckpoints,
    /// Kept when the job fails, deleted when it finishes or is cancelled.
    DeleteOnCancellation,
    /// Always kept; cleaning up is the user's.
    RetainOnCancellation,
}

impl OptionType for CheckpointRetention {
    const EXPECTED: &'static str =
        "one of NO_EXTERNALIZED_CHECKPOINTS, DELETE_ON_CANCELLATION, RETAIN_ON_CANCELLATION";
    fn parse_value(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "NO_EXTERNALIZED_CHECKPOINTS" => Some(CheckpointRetention::NoExternalizedCheckpoints),
            "DELETE_ON_CANCELLATION" => Some(CheckpointRetention::DeleteOnCancellation),
            "RETAIN_ON_CANCELLATION" => Some(CheckpointRetention::RetainOnCancellation),
            _ => None,
        }
    }
    fn to_value(&self) -> String {
        match self {
            CheckpointRetention::NoExternalizedCheckpoints => "NO_EXTERNALIZED_CHECKPOINTS",
            CheckpointRetention::DeleteOnCancellation => "DELETE_ON_CANCELLATION",
            CheckpointRetention::RetainOnCancellation => "RETAIN_ON_CANCELLATION",
        }
        .to_string()
    }
}

impl OptionType for String {
    const EXPECTED: &'static str = "a string";
    fn parse_value(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    fn to_value(&self) -> String {
        self.clone()
    }
}

impl OptionType for Duration {
    const EXPECTED: &'static str = "a duration such as '100 ms', '5 s' or '1 min'";
    fn parse_value(text: &str) -> Option<Self> {
        parse_duration(text)
    }
    fn to_value(&self) -> String {
        format!("{} ms", self.as_millis())
    }
}

/// Whether a job runs with streaming or batch semantics (`execution.runtime-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeExecutionMode {
    /// Continuous updates; works on bounded and unbounded input.
    Streaming,
    /// Final results only; every source must be bounded.
    Batch,
    /// Batch when every source is bounded, streaming otherwise.
    Automatic,
}

impl OptionType for RuntimeExecutionMode {
    const EXPECTED: &'static str = "one of STREAMING, BATCH, AUTOMATIC";
    fn parse_value(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "STREAMING" => Some(RuntimeExecutionMode::Streaming),
            "BATCH" => Some(RuntimeExecutionMode::Batch),
            "AUTOMATIC" => Some(RuntimeExecutionMode::Automatic),
            _ => None,
        }
    }
    fn to_value(&self) -> String {
        match self {
            RuntimeExecutionMode::Streaming => "STREAMING",
            RuntimeExecutionMode::Batch => "BATCH",
            RuntimeExecutionMode::Automatic => "AUTOMATIC",
        }
        .to_string()
    }
}

impl OptionType for CheckpointingMode {
    const EXPECTED: &'static str = "one of EXACTLY_ONCE, AT_LEAST_ONCE";
    fn parse_value(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "EXACTLY_ONCE" => Some(CheckpointingMode::ExactlyOnce),
            "AT_LEAST_ONCE" => Some(CheckpointingMode::AtLeastOnce),
            _ => None,
        }
    }
    fn to_value(&self) -> String {
        match self {
            CheckpointingMode::ExactlyOnce => "EXACTLY_ONCE",
            CheckpointingMode::AtLeastOnce => "AT_LEAST_ONCE",
        }
        .to_string()
    }
}

/// The value of `execution.checkpointing.max-concurrent-checkpoints`: Strom's coordinator takes
/// one checkpoint at a time (Flink's default), so only 1 is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneCheckpointAtATime;

impl OptionType for OneCheckpointAtATime {
    const EXPECTED: &'static str = "1 (checkpoints are taken one at a time)";
    fn parse_value(text: &str) -> Option<Self> {
        (text.trim() == "1").then_some(OneCheckpointAtATime)
    }
    fn to_value(&self) -> String {
        "1".to_string()
    }
}

/// A typed configuration key with its default, like Flink's `ConfigOption`.
pub struct ConfigOption<T> {
    /// The key, in Flink's spelling.
    pub key: &'static str,
    /// The default as it would be written in the file, if the key has one.
    pub default: Option<&'static str>,
    _type: PhantomData<fn() -> T>,
}

impl<T> ConfigOption<T> {
    const fn new(key: &'static str, default: Option<&'static str>) -> Self {
        ConfigOption {
            key,
            default,
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for ConfigOption<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigOption")
            .field("key", &self.key)
            .field("default", &self.default)
            .finish()
    }
}

/// The options Strom reads, under Flink's names.
pub mod options {
    use super::*;

    /// Parallelism of operators that set none; the embedded engine defaults to the number of cores.
    pub const PARALLELISM_DEFAULT: ConfigOption<NonZeroUsize> =
        ConfigOption::new("parallelism.default", None);
    /// Number of key groups of keyed operators (the upper bound for rescaling).
    pub const MAX_PARALLELISM: ConfigOption<NonZeroUsize> =
        ConfigOption::new("pipeline.max-parallelism", None);
    /// Streaming, batch or automatic execution.
    pub const RUNTIME_MODE: ConfigOption<RuntimeExecutionMode> =
        ConfigOption::new("execution.runtime-mode", Some("STREAMING"));
    /// How long a partly filled batch may wait before it is sent downstream.
    pub const BUFFER_TIMEOUT: ConfigOption<Duration> =
        ConfigOption::new("execution.buffer-timeout", Some("100 ms"));
    /// How often watermark generators are asked for a periodic watermark; 0 disables them.
    pub const AUTO_WATERMARK_INTERVAL: ConfigOption<Duration> =
        ConfigOption::new("pipeline.auto-watermark-interval", Some("200 ms"));
    /// Time between checkpoints; checkpointing is off when unset.
    pub const CHECKPOINTING_INTERVAL: ConfigOption<Duration> =
        ConfigOption::new("execution.checkpointing.interval", None);
    /// `EXACTLY_ONCE` (aligned barriers) or `AT_LEAST_ONCE`.
    pub const CHECKPOINTING_MODE: ConfigOption<CheckpointingMode> =
        ConfigOption::new("execution.checkpointing.mode", Some("EXACTLY_ONCE"));
    /// A checkpoint not complete after this long is abandoned.
    pub const CHECKPOINTING_TIMEOUT: ConfigOption<Duration> =
        ConfigOption::new("execution.checkpointing.timeout", Some("10 min"));
    /// Least time between the end of one checkpoint and the start of the next.
    pub const CHECKPOINTING_MIN_PAUSE: ConfigOption<Duration> =
        ConfigOption::new("execution.checkpointing.min-pause", Some("0 ms"));
    /// Checkpoints in progress at once; only 1.
    pub const MAX_CONCURRENT_CHECKPOINTS: ConfigOption<OneCheckpointAtATime> = ConfigOption::new(
        "execution.checkpointing.max-concurrent-checkpoints",
        Some("1"),
    );
    /// Consecutive failed checkpoints a job tolerates before it fails.
    pub const TOLERABLE_FAILED_CHECKPOINTS: ConfigOption<u32> = ConfigOption::new(
        "execution.checkpointing.tolerable-failed-checkpoints",
        Some("0"),
    );
    /// Where keyed state lives: `hashmap` (the default) or `disk`.
    pub const STATE_BACKEND: ConfigOption<StateBackendType> =
        ConfigOption::new("state.backend.type", Some("hashmap"));
    /// Where the disk backend keeps its files (a directory per job run); the system's
    /// temporary directory when unset.
    pub const STATE_BACKEND_LOCAL_DIR: ConfigOption<String> =
        ConfigOption::new("state.backend.disk.local-dir", None);
    /// Entries of each state of each subtask the disk backend keeps on the heap.
    pub const STATE_BACKEND_CACHE_ENTRIES: ConfigOption<NonZeroUsize> =
        ConfigOption::new("state.backend.disk.cache-entries", Some("100000"));
    /// Whether checkpoints of the disk backend write only what changed since the last completed
    /// checkpoint (Flink's incremental checkpoints; the heap backend always writes everything).
    pub const CHECKPOINTING_INCREMENTAL: ConfigOption<bool> =
        ConfigOption::new("execution.checkpointing.incremental", Some("false"));
    /// Where completed checkpoints are written (a directory per job); in memory only when unset.
    pub const CHECKPOINTS_DIRECTORY: ConfigOption<String> =
        ConfigOption::new("state.checkpoints.dir", None);
    /// How many completed checkpoints are kept on disk.
    pub const CHECKPOINTS_RETAINED: ConfigOption<NonZeroUsize> =
        ConfigOption::new("execution.checkpointing.num-retained", Some("1"));
    /// Whether checkpoints outlive the job.
    pub const CHECKPOINT_RETENTION: ConfigOption<CheckpointRetention> = ConfigOption::new(
        "execution.checkpointing.externalized-checkpoint-retention",
        Some("NO_EXTERNALIZED_CHECKPOINTS"),
    );
    /// A checkpoint (its directory or a job's directory of checkpoints) to start the job from.
    pub const STATE_RECOVERY_PATH: ConfigOption<String> =
        ConfigOption::new("execution.state-recovery.path", None);
    /// Start even when the checkpoint holds state of an operator the job no longer has.
    pub const IGNORE_UNCLAIMED_STATE: ConfigOption<bool> = ConfigOption::new(
        "execution.state-recovery.ignore-unclaimed-state",
        Some("false"),
    );
    /// How a failed job restarts; unset: `exponential-delay` when checkpointing, else `none`.
    pub const RESTART_STRATEGY: ConfigOption<RestartStrategyType> =
        ConfigOption::new("restart-strategy.type", None);
    /// Restarts the fixed-delay strategy allows.
    pub const FIXED_DELAY_ATTEMPTS: ConfigOption<u32> =
        ConfigOption::new("restart-strategy.fixed-delay.attempts", Some("1"));
    /// Time between fixed-delay restarts.
    pub const FIXED_DELAY_DELAY: ConfigOption<Duration> =
        ConfigOption::new("restart-strategy.fixed-delay.delay", Some("1 s"));
    /// The first delay of the exponential-delay strategy.
    pub const EXPONENTIAL_DELAY_INITIAL_BACKOFF: ConfigOption<Duration> = ConfigOption::new(
        "restart-strategy.exponential-delay.initial-backoff",
        Some("1 s"),
    );
    /// The longest delay of the exponential-delay strategy.
    pub const EXPONENTIAL_DELAY_MAX_BACKOFF: ConfigOption<Duration> = ConfigOption::new(
        "restart-strategy.exponential-delay.max-backoff",
        Some("1 min"),
    );
    /// How much each exponential-delay restart multiplies the delay by.
    pub const EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER: ConfigOption<f64> = ConfigOption::new(
        "restart-strategy.exponential-delay.backoff-multiplier",
        Some("1.5"),
    );
    /// Failures the failure-rate strategy restarts from within one interval; one more fails
    /// the job.
    pub const FAILURE_RATE_MAX_FAILURES: ConfigOption<u32> = ConfigOption::new(
        "restart-strategy.failure-rate.max-failures-per-interval",
        Some("1"),
    );
    /// The sliding interval the failure-rate strategy counts failures in.
    pub const FAILURE_RATE_INTERVAL: ConfigOption<Duration> = ConfigOption::new(
        "restart-strategy.failure-rate.failure-rate-interval",
        Some("1 min"),
    );
    /// Time between failure-rate restarts.
    pub const FAILURE_RATE_DELAY: ConfigOption<Duration> =
        ConfigOption::new("restart-strategy.failure-rate.delay", Some("1 s"));
    /// Slots of the embedded task manager; defaults to what the job needs.
    pub const NUMBER_OF_TASK_SLOTS: ConfigOption<NonZeroUsize> =
        ConfigOption::new("taskmanager.numberOfTaskSlots", None);
    /// Batches a channel between two subtasks holds before the sender blocks (backpressure).
    pub const BUFFERS_PER_CHANNEL: ConfigOption<NonZeroUsize> =
        ConfigOption::new("taskmanager.network.memory.buffers-per-channel", Some("2"));
    /// Host of the job manager; read by cluster deployments, ignored by the embedded engine.
    pub const JOBMANAGER_RPC_ADDRESS: ConfigOption<String> =
        ConfigOption::new("jobmanager.rpc.address", Some("localhost"));
    /// Port of the job manager; read by cluster deployments, ignored by the embedded engine.
    pub const JOBMANAGER_RPC_PORT: ConfigOption<u16> =
        ConfigOption::new("jobmanager.rpc.port", Some("6123"));
}

/// Checks a value against a known key's type; `None` when the key is unknown.
type Validator = fn(&str) -> Option<&'static str>;

fn validator<T: OptionType>(_: &ConfigOption<T>) -> Validator {
    |text| match T::parse_value(text) {
        Some(_) => None,
        None => Some(T::EXPECTED),
    }
}

fn known_keys() -> [(&'static str, Validator); 33] {
    use options::*;
    [
        (PARALLELISM_DEFAULT.key, validator(&PARALLELISM_DEFAULT)),
        (MAX_PARALLELISM.key, validator(&MAX_PARALLELISM)),
        (RUNTIME_MODE.key, validator(&RUNTIME_MODE)),
        (BUFFER_TIMEOUT.key, validator(&BUFFER_TIMEOUT)),
        (
            AUTO_WATERMARK_INTERVAL.key,
            validator(&AUTO_WATERMARK_INTERVAL),
        ),
        (
            CHECKPOINTING_INTERVAL.key,
            validator(&CHECKPOINTING_INTERVAL),
        ),
        (CHECKPOINTING_MODE.key, validator(&CHECKPOINTING_MODE)),
        (CHECKPOINTING_TIMEOUT.key, validator(&CHECKPOINTING_TIMEOUT)),
        (
            CHECKPOINTING_MIN_PAUSE.key,
            validator(&CHECKPOINTING_MIN_PAUSE),
        ),
        (
            MAX_CONCURRENT_CHECKPOINTS.key,
            validator(&MAX_CONCURRENT_CHECKPOINTS),
        ),
        (
            TOLERABLE_FAILED_CHECKPOINTS.key,
            validator(&TOLERABLE_FAILED_CHECKPOINTS),
        ),
        (STATE_BACKEND.key, validator(&STATE_BACKEND)),
        (
            STATE_BACKEND_LOCAL_DIR.key,
            validator(&STATE_BACKEND_LOCAL_DIR),
        ),
        (
            STATE_BACKEND_CACHE_ENTRIES.key,
            validator(&STATE_BACKEND_CACHE_ENTRIES),
        ),
        (
            CHECKPOINTING_INCREMENTAL.key,
            validator(&CHECKPOINTING_INCREMENTAL),
        ),
        (CHECKPOINTS_DIRECTORY.key, validator(&CHECKPOINTS_DIRECTORY)),
        (CHECKPOINTS_RETAINED.key, validator(&CHECKPOINTS_RETAINED)),
        (CHECKPOINT_RETENTION.key, validator(&CHECKPOINT_RETENTION)),
        (STATE_RECOVERY_PATH.key, validator(&STATE_RECOVERY_PATH)),
        (
            IGNORE_UNCLAIMED_STATE.key,
            validator(&IGNORE_UNCLAIMED_STATE),
        ),
        (RESTART_STRATEGY.key, validator(&RESTART_STRATEGY)),
        (FIXED_DELAY_ATTEMPTS.key, validator(&FIXED_DELAY_ATTEMPTS)),
        (FIXED_DELAY_DELAY.key, validator(&FIXED_DELAY_DELAY)),
        (
            FAILURE_RATE_MAX_FAILURES.key,
            validator(&FAILURE_RATE_MAX_FAILURES),
        ),
        (FAILURE_RATE_INTERVAL.key, validator(&FAILURE_RATE_INTERVAL)),
        (FAILURE_RATE_DELAY.key, validator(&FAILURE_RATE_DELAY)),
        (
            EXPONENTIAL_DELAY_INITIAL_BACKOFF.key,
            validator(&EXPONENTIAL_DELAY_INITIAL_BACKOFF),
        ),
        (
            EXPONENTIAL_DELAY_MAX_BACKOFF.key,
            validator(&EXPONENTIAL_DELAY_MAX_BACKOFF),
        ),
        (
            EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER.key,
            validator(&EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER),
        ),
        (NUMBER_OF_TASK_SLOTS.key, validator(&NUMBER_OF_TASK_SLOTS)),
        (BUFFERS_PER_CHANNEL.key, validator(&BUFFERS_PER_CHANNEL)),
        (
            JOBMANAGER_RPC_ADDRESS.key,
            validator(&JOBMANAGER_RPC_ADDRESS),
        ),
        (JOBMANAGER_RPC_PORT.key, validator(&JOBMANAGER_RPC_PORT)),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    value: String,
    origin: String,
}

/// A set of configuration values, keyed by Flink's dotted key names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    entries: BTreeMap<String, Entry>,
}

impl Configuration {
    /// An empty configuration: every option at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration a job starts with: the file named by `--conf` in the process's
    /// arguments, else `$STROM_CONF_DIR/config.yaml`, else an empty one.
    pub fn from_environment() -> Result<Self, ConfigError> {
        if let Some(path) = conf_argument(std::env::args())? {
            return Self::load(&path);
        }
        match std::env::var_os(CONF_DIR_ENV) {
            Some(dir) => Self::load(Path::new(&dir)),
            None => Ok(Self::new()),
        }
    }

    /// Loads a YAML file, or `config.yaml` inside a directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = if path.is_dir() {
            path.join(CONFIG_FILE_NAME)
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
            path: file.clone(),
            source,
        })?;
        Self::parse(&text, &file)
    }

    /// Parses YAML text; `path` is used in messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut flattener = Flattener::default();
        Parser::new_from_str(text)
            .load(&mut flattener, false)
            .map_err(|error| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: error.marker().line(),
                column: error.marker().col() + 1,
                message: error.info().to_string(),
            })?;
        let mut config = Configuration::new();
        for (key, value, line) in flattener.entries {
            let origin = format!("{} line {line}", path.display());
            config.insert(key, value, origin)?;
        }
        Ok(config)
    }

    /// Sets a key from its text form, as if it were written in the file. Known keys are
    /// checked; unknown keys are kept with a warning.
    pub fn set_string(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.insert(
            key.to_string(),
            value.to_string(),
            "set by the program".to_string(),
        )
    }

    /// Sets a typed option.
    pub fn set<T: OptionType>(&mut self, option: &ConfigOption<T>, value: T) {
        let entry = Entry {
            value: value.to_value(),
            origin: "set by the program".to_string(),
        };
        self.entries.insert(option.key.to_string(), entry);
    }

    fn insert(&mut self, key: String, value: String, origin: String) -> Result<(), ConfigError> {
        match known_keys().iter().find(|(known, _)| *known == key) {
            Some((_, check)) => {
                if let Some(expected) = check(&value) {
                    return Err(ConfigError::InvalidValue {
                        key,
                        value,
                        expected,
                        origin,
                    });
                }
            }
            None => tracing::warn!("{origin}: unknown configuration key '{key}' is ignored"),
        }
        self.entries.insert(key, Entry { value, origin });
        Ok(())
    }

    /// The value of an option, or its default; `None` when neither exists.
    pub fn get<T: OptionType>(&self, option: &ConfigOption<T>) -> Option<T> {
        self.entries
            .get(option.key)
            .and_then(|entry| T::parse_value(&entry.value))
            .or_else(|| option.default.and_then(T::parse_value))
    }

    /// Whether the key was set (in a file or by the program).
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The raw text of any key, known or not.
    pub fn get_string(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|entry| entry.value.as_str())
    }

    /// Values of `other` override values of `self`.
    pub fn merge(&mut self, other: &Configuration) {
        for (key, entry) in &other.entries {
            self.entries.insert(key.clone(), entry.clone());
        }
    }
}

/// The value of `--conf PATH` or `--conf=PATH` in `args`.
fn conf_argument(args: impl Iterator<Item = String>) -> Result<Option<PathBuf>, ConfigError> {
    let mut args = args.skip(1);
    while let Some(arg) = args.next() {
        if arg == "--conf" {
            return args
                .next()
                .map(|p| Some(PathBuf::from(p)))
                .ok_or(ConfigError::MissingConfArgument);
        }
        if let Some(path) = arg.strip_prefix("--conf=") {
            return Ok(Some(PathBuf::from(path)));
        }
    }
    Ok(None)
}

/// Turns YAML parser events into flat `(dotted.key, value, line)` triples.
#[derive(Default)]
struct Flattener {
    /// One frame per open mapping or sequence.
    stack: Vec<Frame>,
    entries: Vec<(String, String, usize)>,
}

enum Frame {
    /// A mapping under `prefix`, with the key read but whose value is still to come.
    Mapping {
        prefix: String,
        pending_key: Option<(String, usize)>,
    },
    /// A sequence under `key`, collecting scalar items (Flink joins list values with ';').
    Sequence {
        key: String,
        line: usize,
        items: Vec<String>,
    },
}

impl Flattener {
    /// The full key of a value arriving now, with its line, consuming the pending key.
    fn take_key(&mut self) -> Option<(String, usize)> {
        match self.stack.last_mut()? {
            Frame::Mapping {
                prefix,
                pending_key,
            } => {
                let (key, line) = pending_key.take()?;
                let full = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                Some((full, line))
            }
            Frame::Sequence { .. } => None,
        }
    }
}

impl MarkedEventReceiver for Flattener {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, ..) => match self.stack.last_mut() {
                Some(Frame::Mapping {
                    pending_key: pending @ None,
                    ..
                }) => {
                    *pending = Some((text, mark.line()));
                }
                Some(Frame::Sequence { items, .. }) => items.push(text),
                _ => {
                    if let Some((key, line)) = self.take_key() {
                        self.entries.push((key, text, line));
                    }
                }
            },
            Event::MappingStart(..) => {
                let prefix = self.take_key().map(|(key, _)| key).unwrap_or_default();
                self.stack.push(Frame::Mapping {
                    prefix,
                    pending_key: None,
                });
            }
            Event::SequenceStart(..) => {
                let (key, line) = self.take_key().unwrap_or_default();
                self.stack.push(Frame::Sequence {
                    key,
                    line,
                    items: Vec::new(),
                });
            }
            Event::MappingEnd => {
                self.stack.pop();
            }
            Event::SequenceEnd => {
                if let Some(Frame::Sequence { key, line, items }) = self.stack.pop() {
                    if !key.is_empty() {
                        self.entries.push((key, items.join(";"), line));
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::options::*;
    use super::*;

    fn parse(text: &str) -> Result<Configuration, ConfigError> {
        Configuration::parse(text, Path::new("/etc/strom/config.yaml"))
    }

    #[test]
    fn flat_and_nested_keys_are_the_same() {
        let flat = parse("parallelism.default: 3\nexecution.buffer-timeout: 5 ms\n").unwrap();
        let nested =
            parse("parallelism:\n  default: 3\nexecution:\n  buffer-timeout: 5 ms\n").unwrap();
        for config in [flat, nested] {
            assert_eq!(config.get(&PARALLELISM_DEFAULT), NonZeroUsize::new(3));
            assert_eq!(config.get(&BUFFER_TIMEOUT), Some(Duration::from_millis(5)));
            assert_eq!(
                config.get(&RUNTIME_MODE),
                Some(RuntimeExecutionMode::Streaming)
            );
        }
    }

    #[test]
    fn a_wrong_type_names_the_key_the_file_and_the_line() {
        let error = parse("# cluster\njobmanager.rpc.address: host\nparallelism.default: two\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "/etc/strom/config.yaml line 3: invalid value \"two\" for key 'parallelism.default': \
             expected a positive integer"
        );
        let error = parse("execution:\n  runtime-mode: sometimes\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("'execution.runtime-mode'"), "{error}");
    }

    #[test]
    fn malformed_yaml_names_the_line() {
        let error = parse("parallelism.default: 2\n  bad: [\n").unwrap_err();
        assert!(
            matches!(error, ConfigError::Syntax { line: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_are_kept_and_lists_are_joined() {
        let config = parse("some.future.key: x\npipeline:\n  jars: [a.jar, b.jar]\n").unwrap();
        assert_eq!(config.get_string("some.future.key"), Some("x"));
        assert_eq!(config.get_string("pipeline.jars"), Some("a.jar;b.jar"));
    }

    #[test]
    fn the_conf_argument_is_found_in_both_spellings() {
        let args = |v: &[&str]| {
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(
            conf_argument(args(&["job", "--conf", "/c"])).unwrap(),
            Some("/c".into())
        );
        assert_eq!(
            conf_argument(args(&["job", "--conf=/d"])).unwrap(),
            Some("/d".into())
        );
        assert_eq!(conf_argument(args(&["job", "--input", "x"])).unwrap(), None);
        assert!(conf_argument(args(&["job", "--conf"])).is_err());
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let error = Configuration::load(Path::new("/no/such/config.yaml")).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("cannot read configuration file /no/such/config.yaml"));
    }
}
