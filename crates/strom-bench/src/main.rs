//! `strom-bench`: benchmark programs that print one line per run, in the form of the Apache
//! Flink anchor (`../shared/anchors/flink/run.sh`) with `strom` in place of `flink`, so the
//! two can be put side by side:
//!
//! ```text
//! strom wordcount mode=batch parallelism=2 events=29500000 seconds=1.234 events_per_s=23905996 peak_rss_mb=30
//! ```
//!
//! `seconds` is the job's own time (`execute`), `peak_rss_mb` the process's peak resident
//! memory. Benchmarks never assert; they measure.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use strom::prelude::*;

mod checkpoint;
mod nexmark;
mod windowagg;
#[path = "../../../examples/common/word_count.rs"]
mod word_count;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Batch,
    Streaming,
}

#[derive(Debug, Subcommand)]
enum Benchmark {
    /// The seed's word count over a text file into a counting sink.
    Wordcount {
        /// The text file (the anchor's: `run.sh text-path`).
        #[arg(long)]
        input: PathBuf,
        /// Batch (final counts) or streaming (every update).
        #[arg(long, value_enum, default_value = "batch")]
        mode: Mode,
        /// Parallel subtasks per operator.
        #[arg(long, default_value_t = 1)]
        parallelism: usize,
    },
    /// Running counts over `keys` keys, with checkpoints every `interval-ms` (0: none): the
    /// throughput and the newest checkpoint's duration and size.
    Checkpoint {
        #[command(flatten)]
        job: CheckpointJob,
    },
    /// The same job failing once: the time until it processes again.
    Recovery {
        #[command(flatten)]
        job: CheckpointJob,
    },
    /// A Nexmark query (or all of them) over generated events into a counting blackhole.
    Nexmark {
        /// The query: q0 to q8 or q11.
        #[arg(long, default_value = "q0")]
        query: String,
        /// Runs every query, one line each.
        #[arg(long)]
        all: bool,
        /// Number of events.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Parallel subtasks per operator.
        #[arg(long, default_value_t = 1)]
        parallelism: usize,
        /// Read the events from this JSON-lines file or directory (as `nexmark-data` writes
        /// them) instead of generating them.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Print the results (one line each, before the figures) instead of discarding them.
        #[arg(long)]
        print: bool,
        /// Generate at most this many events per second and measure the results' latency.
        #[arg(long)]
        rate: Option<u64>,
    },
    /// Writes generated Nexmark events as JSON lines, for `nexmark --input` and for Flink.
    NexmarkData {
        /// Number of events.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// The directory to write (it gets part files).
        #[arg(long)]
        output: PathBuf,
    },
    /// Count and maximum per key per 10 s tumbling event-time window over generated events.
    Windowagg {
        /// Number of events.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Parallel subtasks per operator.
        #[arg(long, default_value_t = 1)]
        parallelism: usize,
        /// Print the sorted `key,end,count,max` results instead of measuring.
        #[arg(long)]
        check: bool,
    },
}

/// The keyed job of the checkpoint benchmarks.
#[derive(Debug, clap::Args)]
struct CheckpointJob {
    /// Number of events.
    #[arg(long, default_value_t = 30_000_000)]
    events: u64,
    /// Number of distinct keys (the size of the state).
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Parallel subtasks per operator.
    #[arg(long, default_value_t = 1)]
    parallelism: usize,
    /// Milliseconds between checkpoints; 0 runs without.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Write checkpoints under this directory (in memory only otherwise).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Where keyed state lives: hashmap or disk (`state.backend.type`).
    #[arg(long, default_value = "hashmap")]
    state_backend: String,
    /// With the disk backend: entries per state of a subtask kept on the heap.
    #[arg(long, default_value_t = 100_000)]
    cache_entries: u64,
    /// With the disk backend: checkpoints write only what changed since the last completed one.
    #[arg(long)]
    incremental: bool,
}

impl CheckpointJob {
    fn settings(&self) -> checkpoint::Settings {
        checkpoint::Settings {
            events: self.events,
            keys: self.keys,
            parallelism: self.parallelism,
            interval: (self.interval_ms > 0)
                .then(|| std::time::Duration::from_millis(self.interval_ms)),
            directory: self.checkpoint_dir.clone(),
            state_backend: self.state_backend.clone(),
            cache_entries: self.cache_entries,
            incremental: self.incremental,
        }
    }
}

/// Runs one benchmark and prints its figures.
#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    benchmark: Benchmark,
    /// Runs the benchmark this many times in this process, one line each.
    #[arg(long, default_value_t = 1, global = true)]
    repeat: usize,
    /// A configuration file or directory (read by the execution environment).
    #[arg(long, global = true)]
    conf: Option<PathBuf>,
}

/// Counts the records it receives and the words they stand for (the sum of the counts in
/// batch mode, one per record in streaming mode), so `events` is checked, not assumed.
#[derive(Clone, Default)]
struct WordTally {
    records: Arc<AtomicU64>,
    words: Arc<AtomicU64>,
}

impl Sink<(String, u64)> for WordTally {
    type Writer = WordTally;
    fn create_writer(&self, _ctx: &RuntimeContext) -> Result<WordTally, BoxError> {
        Ok(self.clone())
    }
}

impl SinkWriter<(String, u64)> for WordTally {
    fn write(
        &mut self,
        value: (String, u64),
        _timestamp: Option<Timestamp>,
    ) -> Result<(), BoxError> {
        self.records.fetch_add(1, Ordering::Relaxed);
        self.words.fetch_add(value.1, Ordering::Relaxed);
        Ok(())
    }

    fn write_batch(&mut self, batch: Vec<StreamRecord<(String, u64)>>) -> Result<(), BoxError> {
        self.records
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.words
            .fetch_add(batch.iter().map(|r| r.value.1).sum(), Ordering::Relaxed);
        Ok(())
    }
}

fn wordcount(input: &PathBuf, mode: Mode, parallelism: usize) -> Result<String, JobError> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(parallelism);
    env.set_runtime_mode(match mode {
        Mode::Batch => RuntimeExecutionMode::Batch,
        Mode::Streaming => RuntimeExecutionMode::Streaming,
    });
    let tally = WordTally::default();
    word_count::word_counts(&env.read_text_file(input)).sink_to(tally.clone());
    let result = env.execute("WordCount")?;
    let seconds = result.get_net_runtime().as_secs_f64();
    let (mode_name, words) = match mode {
        Mode::Batch => ("batch", tally.words.load(Ordering::Relaxed)),
        Mode::Streaming => ("streaming", tally.records.load(Ordering::Relaxed)),
    };
    Ok(format!(
        "strom wordcount mode={mode_name} parallelism={parallelism} events={words} seconds={seconds:.3} events_per_s={:.0} peak_rss_mb={}",
        words as f64 / seconds,
        peak_rss_mb()
    ))
}

/// The usual splitmix64 finalizer (the anchor's): spreads generated events over keys.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The process's peak resident memory so far, from `/proc/self/status` (0 where unknown).
pub(crate) fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() -> ExitCode {
    let args = Args::parse();
    for _ in 0..args.repeat {
        let line = match &args.benchmark {
            Benchmark::Wordcount {
                input,
                mode,
                parallelism,
            } => wordcount(input, *mode, *parallelism),
            Benchmark::Checkpoint { job } => checkpoint::run(&job.settings()),
            Benchmark::NexmarkData { events, output } => nexmark::write_data(*events, output),
            Benchmark::Nexmark {
                query,
                all,
                events,
                parallelism,
                input,
                print,
                rate,
            } => {
                let queries: Vec<&str> = if *all {
                    strom_nexmark::QUERIES.to_vec()
                } else {
                    vec![query.as_str()]
                };
                // Read from files, the events are their lines: counted once for all queries.
                let events = match input {
                    Some(path) => nexmark::count_events(path),
                    None => Ok(*events),
                };
                events.and_then(|events| {
                    queries
                        .into_iter()
                        .map(|query| nexmark::run(query, events, *parallelism, input.as_deref(), *print, *rate))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|lines| lines.join("\n"))
                })
            }
            Benchmark::Recovery { job } => checkpoint::recovery(&job.settings()),
            Benchmark::Windowagg {
                events,
                parallelism,
                check: true,
            } => windowagg::results(*events, *parallelism).map(|lines| lines.join("\n")),
            Benchmark::Windowagg {
                events,
                parallelism,
                check: false,
            } => windowagg::run(*events, *parallelism).map(|seconds| {
                format!(
                    "strom windowagg mode=streaming parallelism={parallelism} events={events} seconds={seconds:.3} events_per_s={:.0} peak_rss_mb={}",
                    *events as f64 / seconds,
                    peak_rss_mb()
                )
            }),
        };
        match line {
            Ok(line) => println!("{line}"),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
