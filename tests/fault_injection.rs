//! Fault injection: a stateful, keyed, windowed job writing through the exactly-once
//! `FileSink` fails at several random points in one run, restarts from its checkpoints each
//! time, and its committed output equals the output of a run without failures exactly — no
//! record lost, none duplicated. In at-least-once mode nothing is lost.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strom::connectors::file_sink::visible_parts;
use strom::prelude::*;

mod common;

const EVENTS: i64 = 3000;
const KEYS: i64 = 5;
const WINDOW_MS: i64 = 100;

/// The records at which the job fails, each once: `count` positions drawn from `seed`.
fn failure_points(seed: u64, count: usize) -> Arc<Mutex<BTreeSet<i64>>> {
    let mut state = seed;
    let mut points = BTreeSet::new();
    while points.len() < count {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        points.insert(100 + (state >> 33) as i64 % (EVENTS - 200));
    }
    Arc::new(Mutex::new(points))
}

/// Per key and 100 ms window: the sum and count of `0..EVENTS` (event time `n` ms), as lines.
fn expected_lines() -> Vec<String> {
    let mut lines: Vec<String> = (0..KEYS)
        .flat_map(|key| {
            (0..EVENTS / WINDOW_MS).map(move |window| {
                let values: Vec<i64> = (window * WINDOW_MS..(window + 1) * WINDOW_MS)
                    .filter(|n| n % KEYS == key)
                    .collect();
                let end = (window + 1) * WINDOW_MS;
                format!(
                    "({key},{end},{},{})",
                    values.iter().sum::<i64>(),
                    values.len()
                )
            })
        })
        .collect();
    lines.sort();
    lines
}

/// Runs the job into `out`, failing once at each of `failures`.
fn run(out: &Path, failures: Arc<Mutex<BTreeSet<i64>>>, mode: CheckpointingMode) -> u64 {
    let env = environment(Configuration::new(), 2);
    env.enable_checkpointing_with_mode(Duration::from_millis(15), mode);
    env.set_restart_strategy(RestartStrategy::FixedDelay {
        attempts: 20,
        delay: Duration::from_millis(5),
    });
    windowed_job(&env, out, failures, 8);
    env.execute("fault injection")
        .unwrap()
        .get_completed_checkpoints()
}

/// An environment with frequent watermarks, so windows fire (and results reach the sink)
/// throughout the run, and records sent one at a time.
fn environment(mut config: Configuration, parallelism: usize) -> StreamExecutionEnvironment {
    config
        .set_string("pipeline.auto-watermark-interval", "5 ms")
        .unwrap();
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    env.set_parallelism(parallelism);
    env.set_buffer_timeout(Duration::ZERO);
    env
}

/// The keyed, windowed job, writing to `out` and failing once at each of `failures`; its
/// source waits a millisecond every `pace` records.
fn windowed_job(
    env: &StreamExecutionEnvironment,
    out: &Path,
    failures: Arc<Mutex<BTreeSet<i64>>>,
    pace: i64,
) {
    env.from_sequence(0, EVENTS - 1)
        .map(move |n: i64| {
            if n % pace == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let fail = failures
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .remove(&n);
            if fail {
                panic!("injected failure at record {n}");
            }
            n
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|n: &i64, _| *n),
        )
        .map(|n| (n % KEYS, n, 1i64))
        .key_by(|t| t.0)
        .window(TumblingEventTimeWindows::of(Duration::from_millis(
            WINDOW_MS as u64,
        )))
        .reduce(|a, b| (a.0, a.1 + b.1, a.2 + b.2))
        .process(WindowEnd)
        .sink_to(FileSink::for_row_format(out, SimpleStringEncoder));
}

/// Names each window result by its key and window end (the record's timestamp + 1).
#[derive(Clone)]
struct WindowEnd;

impl ProcessFunction<(i64, i64, i64), (i64, i64, i64, i64)> for WindowEnd {
    fn process_element(
        &mut self,
        (key, sum, count): (i64, i64, i64),
        ctx: &mut Context<'_>,
        out: &mut Collector<'_, (i64, i64, i64, i64)>,
    ) -> Result<(), BoxError> {
        let end = ctx.timestamp().ok_or("window results carry timestamps")? + 1;
        out.collect((key, end, sum, count));
        Ok(())
    }
}

fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = visible_parts(dir)
        .unwrap()
        .iter()
        .flat_map(|part| {
            std::fs::read_to_string(part)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn exactly_once_output_survives_many_failures_in_one_run() {
    for seed in [1u64, 2, 3] {
        let dir = common::temp_dir(&format!("fault-injection-{seed}"));
        let failures = failure_points(seed, 5);
        let checkpoints = run(&dir, Arc::clone(&failures), CheckpointingMode::ExactlyOnce);
        assert!(
            failures.lock().unwrap().is_empty(),
            "seed {seed}: every failure happened"
        );
        assert!(checkpoints >= 1, "seed {seed}: checkpoints completed");
        assert_eq!(committed_lines(&dir), expected_lines(), "seed {seed}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// `(key,end,sum,count)` lines as numbers.
fn parse(lines: &[String]) -> Vec<[i64; 4]> {
    lines
        .iter()
        .map(|line| {
            let fields: Vec<i64> = line
                .trim_matches(|c| c == '(' || c == ')')
                .split(',')
                .map(|field| field.parse().unwrap())
                .collect();
            [fields[0], fields[1], fields[2], fields[3]]
        })
        .collect()
}

#[test]
fn at_least_once_output_loses_nothing_across_failures() {
    let dir = common::temp_dir("fault-injection-at-least-once");
    let failures = failure_points(7, 4);
    run(&dir, Arc::clone(&failures), CheckpointingMode::AtLeastOnce);
    assert!(failures.lock().unwrap().is_empty());
    // Records may count twice after a restore, never zero times: every window has a result
    // that counts at least all its records.
    let committed = parse(&committed_lines(&dir));
    for [key, end, _, count] in parse(&expected_lines()) {
        assert!(
            committed
                .iter()
                .any(|c| c[0] == key && c[1] == end && c[3] >= count),
            "window ({key}, {end}) lost records"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_failures_the_file_sink_writes_every_result_once() {
    let dir = common::temp_dir("file-sink-plain");
    run(&dir, failure_points(0, 0), CheckpointingMode::ExactlyOnce);
    assert_eq!(committed_lines(&dir), expected_lines());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rescaling_two_to_three_to_one_through_savepoints_gives_the_uninterrupted_results() {
    let base = common::temp_dir("rescaling");
    let mut savepoint: Option<std::path::PathBuf> = None;
    let mut committed = Vec::new();
    for (stage, parallelism) in [2, 3, 1].into_iter().enumerate() {
        let mut config = Configuration::new();
        if let Some(path) = &savepoint {
            config
                .set_string("execution.state-recovery.path", path.to_str().unwrap())
                .unwrap();
        }
        let env = environment(config, parallelism);
        // Periodic checkpoints are rare here: the savepoints are what count.
        env.enable_checkpointing(Duration::from_secs(60));
        let out = base.join(format!("out-{stage}"));
        // Slow enough (some 750 ms at parallelism 2) to be stopped twice on the way.
        windowed_job(&env, &out, failure_points(0, 0), 2);
        if stage < 2 {
            let client = env.execute_async("rescaled").unwrap();
            std::thread::sleep(Duration::from_millis(150));
            savepoint = Some(
                client
                    .stop_with_savepoint(base.join(format!("savepoint-{stage}")))
                    .unwrap(),
            );
        } else {
            env.execute("rescaled to the end").unwrap();
        }
        committed.extend(committed_lines(&out));
    }
    committed.sort();
    assert_eq!(committed, expected_lines());
    std::fs::remove_dir_all(&base).unwrap();
}

static FAILED_AFTER_A_SINK_ENDED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

#[test]
fn a_sink_that_ended_commits_only_once_no_restore_can_write_its_output_again() {
    // Branch A ends at once; branch B fails a while later, before any checkpoint holds A's
    // end, so the job restarts from the beginning and A runs again. A's first output must not
    // have become visible: its sink commits once a checkpoint covers it or the job ends.
    let dir = common::temp_dir("final-commit");
    let env = environment(Configuration::new(), 1);
    env.enable_checkpointing(Duration::from_secs(1));
    env.set_restart_strategy(RestartStrategy::FixedDelay {
        attempts: 2,
        delay: Duration::from_millis(5),
    });
    env.from_sequence(0, 99)
        .sink_to(FileSink::for_row_format(&dir, SimpleStringEncoder));
    env.from_sequence(0, 299)
        .map(|n: i64| {
            std::thread::sleep(Duration::from_millis(1));
            if n == 100
                && !FAILED_AFTER_A_SINK_ENDED.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                panic!("injected failure after the other branch ended");
            }
            n
        })
        .sink_to(DiscardingSink::new());
    env.execute("final commit").unwrap();
    assert!(FAILED_AFTER_A_SINK_ENDED.load(std::sync::atomic::Ordering::SeqCst));
    let mut expected: Vec<String> = (0..100).map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(committed_lines(&dir), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A transactional sink into memory: a committable is one writer's records since its last
/// prepare, under an id of its own; committing is idempotent (by id). Its first commit after
/// the input ended fails once.
struct MemorySink;

static COMMITTED: Mutex<std::collections::BTreeMap<(usize, u64, u64), Vec<i64>>> =
    Mutex::new(std::collections::BTreeMap::new());
static INPUT_ENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static FAILED_A_FINAL_COMMIT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct MemoryWriter {
    subtask: usize,
    writer: u64,
    prepared: u64,
    records: Vec<i64>,
}

impl Sink<i64> for MemorySink {
    type Writer = MemoryWriter;
    fn create_writer(&self, ctx: &RuntimeContext) -> Result<MemoryWriter, BoxError> {
        Ok(MemoryWriter {
            subtask: ctx.index_of_this_subtask(),
            writer: WRITERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            prepared: 0,
            records: Vec::new(),
        })
    }
    fn commit(&self, committables: &[Vec<u8>]) -> Result<(), BoxError> {
        if INPUT_ENDED.load(std::sync::atomic::Ordering::SeqCst)
            && !FAILED_A_FINAL_COMMIT.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Err("injected failure of a final commit".into());
        }
        let mut committed = COMMITTED.lock().unwrap();
        for committable in committables {
            // Little-endian words: subtask, writer, prepare count, then the records.
            let words: Vec<i64> = committable
                .chunks_exact(8)
                .map(|word| i64::from_le_bytes(word.try_into().unwrap()))
                .collect();
            let id = (words[0] as usize, words[1] as u64, words[2] as u64);
            committed.insert(id, words[3..].to_vec());
        }
        Ok(())
    }
}

impl SinkWriter<i64> for MemoryWriter {
    fn write(&mut self, value: i64, _timestamp: Option<Timestamp>) -> Result<(), BoxError> {
        self.records.push(value);
        Ok(())
    }
    fn flush(&mut self, end_of_input: bool) -> Result<(), BoxError> {
        if end_of_input {
            INPUT_ENDED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
    fn prepare_commit(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        self.prepared += 1;
        let header = [
            self.subtask as i64,
            self.writer as i64,
            self.prepared as i64,
        ];
        let records = std::mem::take(&mut self.records);
        let bytes = header
            .iter()
            .chain(&records)
            .flat_map(|word| word.to_le_bytes())
            .collect();
        Ok(vec![bytes])
    }
}

#[test]
fn a_final_commit_that_fails_is_retried_from_the_final_checkpoint_exactly_once() {
    let env = environment(Configuration::new(), 2);
    env.enable_checkpointing(Duration::from_millis(20));
    env.set_restart_strategy(RestartStrategy::FixedDelay {
        attempts: 2,
        delay: Duration::from_millis(5),
    });
    env.from_sequence(0, 999)
        .map(|n: i64| {
            if n % 50 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            n
        })
        .sink_to(MemorySink);
    env.execute("final commit fails").unwrap();
    assert!(FAILED_A_FINAL_COMMIT.load(std::sync::atomic::Ordering::SeqCst));
    let mut committed: Vec<i64> = COMMITTED
        .lock()
        .unwrap()
        .values()
        .flatten()
        .copied()
        .collect();
    committed.sort();
    assert_eq!(committed, (0..1000).collect::<Vec<_>>());
}
