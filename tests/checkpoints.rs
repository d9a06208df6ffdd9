//! Checkpoints end to end: barriers injected by the sources travel through keyed exchanges,
//! are aligned and acknowledged by every task, and checkpoints complete while the job runs,
//! without changing its results, in both checkpointing modes; a failed job restarts from the
//! latest completed checkpoint (source positions and keyed state restored).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use strom::prelude::*;

mod common;

use common::events::SameAsEventTime;
use common::recovering_environment;

/// A job that runs a few hundred milliseconds: every record takes a millisecond at the source.
/// Records travel one at a time (no buffer timeout), so a barrier is never stuck behind a
/// batch that takes the whole run to process.
fn slow_sums(env: &StreamExecutionEnvironment) -> CollectedRecords<(u64, u64)> {
    env.set_buffer_timeout(Duration::ZERO);
    env.from_sequence(0, 399)
        .map(|n: i64| {
            std::thread::sleep(Duration::from_millis(1));
            (n as u64 % 4, n as u64)
        })
        .key_by(|pair| pair.0)
        .sum(1)
        .collect_async()
}

/// The final sum of each key of [`slow_sums`] (streaming mode emits every update; the last per
/// key is the total).
fn final_sums(mut updates: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    updates.sort();
    let mut last: Vec<(u64, u64)> = Vec::new();
    for (key, sum) in updates {
        match last.last_mut() {
            Some(previous) if previous.0 == key => previous.1 = previous.1.max(sum),
            _ => last.push((key, sum)),
        }
    }
    last
}

const EXPECTED: [(u64, u64); 4] = [(0, 19800), (1, 19900), (2, 20000), (3, 20100)];

#[test]
fn exactly_once_checkpoints_complete_while_the_job_runs_and_leave_results_alone() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    env.enable_checkpointing(Duration::from_millis(20));
    let sums = slow_sums(&env);
    let result = env.execute("checkpointed").unwrap();
    let updates = sums.take();
    assert_eq!(updates.len(), 400, "one update per record");
    assert_eq!(final_sums(updates), EXPECTED);
    assert!(
        result.get_completed_checkpoints() >= 1,
        "no checkpoint completed in {:?}",
        result.get_net_runtime()
    );
}

#[test]
fn at_least_once_checkpoints_from_the_configuration() {
    let mut config = Configuration::new();
    config
        .set_string("execution.checkpointing.interval", "20 ms")
        .unwrap();
    config
        .set_string("execution.checkpointing.mode", "AT_LEAST_ONCE")
        .unwrap();
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    env.set_parallelism(2);
    let sums = slow_sums(&env);
    let result = env.execute("at least once").unwrap();
    assert_eq!(final_sums(sums.take()), EXPECTED);
    assert!(result.get_completed_checkpoints() >= 1);
}

#[test]
fn only_one_concurrent_checkpoint_is_accepted() {
    let mut config = Configuration::new();
    config
        .set_string("execution.checkpointing.max-concurrent-checkpoints", "1")
        .unwrap();
    let error = config
        .set_string("execution.checkpointing.max-concurrent-checkpoints", "2")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("execution.checkpointing.max-concurrent-checkpoints")
            && error.contains("one at a time"),
        "{error}"
    );
}

#[test]
fn a_bad_checkpointing_mode_names_the_key() {
    let mut config = Configuration::new();
    let error = config
        .set_string("execution.checkpointing.mode", "TWICE")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("execution.checkpointing.mode")
            && error.contains("one of EXACTLY_ONCE, AT_LEAST_ONCE"),
        "{error}"
    );
}

#[test]
fn without_checkpointing_no_checkpoint_is_taken() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    let sums = slow_sums(&env);
    let result = env.execute("unchecked").unwrap();
    assert_eq!(final_sums(sums.take()), EXPECTED);
    assert_eq!(result.get_completed_checkpoints(), 0);
}

static FAILED_AT_300: AtomicBool = AtomicBool::new(false);

#[test]
fn a_failed_job_restarts_from_the_latest_checkpoint_and_its_state_counts_every_record_once() {
    let env = recovering_environment();
    let sums = env
        .from_sequence(0, 399)
        .map(|n: i64| {
            std::thread::sleep(Duration::from_millis(1));
            if n == 300 && !FAILED_AT_300.swap(true, Ordering::SeqCst) {
                panic!("injected failure at record 300");
            }
            (n as u64 % 4, n as u64)
        })
        .key_by(|pair| pair.0)
        .sum(1)
        .collect_async();
    let result = env.execute("recovering").unwrap();
    assert!(FAILED_AT_300.load(Ordering::SeqCst), "the failure happened");
    assert!(result.get_completed_checkpoints() >= 1);
    // Updates after the restored checkpoint are emitted again (the collecting sink is not
    // transactional), but the state restored from the checkpoint counts every record once:
    // the final sums are exact.
    let updates = sums.take();
    assert!(updates.len() > 400, "some updates were replayed");
    assert_eq!(final_sums(updates), EXPECTED);
}

static FAILED_WITHOUT_CHECKPOINTS: AtomicBool = AtomicBool::new(false);

#[test]
fn without_checkpoints_a_restart_starts_over() {
    let mut config = Configuration::new();
    config
        .set_string("restart-strategy.type", "fixed-delay")
        .unwrap();
    config
        .set_string("restart-strategy.fixed-delay.delay", "10 ms")
        .unwrap();
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    env.set_parallelism(2);
    let sums = env
        .from_sequence(0, 399)
        .map(|n: i64| {
            if n == 300 && !FAILED_WITHOUT_CHECKPOINTS.swap(true, Ordering::SeqCst) {
                panic!("injected failure at record 300");
            }
            (n as u64 % 4, n as u64)
        })
        .key_by(|pair| pair.0)
        .sum(1)
        .collect_async();
    env.execute("starting over").unwrap();
    assert_eq!(final_sums(sums.take()), EXPECTED);
}

/// Runs a job that fails on every attempt under the failure-rate strategy and returns how
/// many times it ran.
fn attempts_under_failure_rate(max_failures: &str) -> (usize, JobError) {
    static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);
    ATTEMPTS.store(0, Ordering::SeqCst);
    let mut config = Configuration::new();
    for (key, value) in [
        ("restart-strategy.type", "failure-rate"),
        (
            "restart-strategy.failure-rate.max-failures-per-interval",
            max_failures,
        ),
        (
            "restart-strategy.failure-rate.failure-rate-interval",
            "1 min",
        ),
        ("restart-strategy.failure-rate.delay", "5 ms"),
    ] {
        config.set_string(key, value).unwrap();
    }
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    env.from_sequence(0, 9)
        .map(|n: i64| {
            if n == 5 {
                ATTEMPTS.fetch_add(1, Ordering::SeqCst);
                panic!("always fails at 5");
            }
            n
        })
        .sink_to(DiscardingSink::new());
    let error = env.execute("failing at a rate").unwrap_err();
    (ATTEMPTS.load(Ordering::SeqCst), error)
}

#[test]
fn the_failure_rate_strategy_restarts_until_too_many_failures_fall_in_one_interval() {
    let (attempts, error) = attempts_under_failure_rate("3");
    // Three failures within the minute are restarted from; the fourth fails the job.
    assert_eq!(attempts, 4);
    assert!(error.to_string().contains("always fails at 5"), "{error}");
}

/// `0..2000` with event time `n` ms, slowly; fails once at 1500 (`failed` remembers).
fn slow_events(env: &StreamExecutionEnvironment, failed: &'static AtomicBool) -> DataStream<i64> {
    env.from_sequence(0, 1999)
        .map(move |n: i64| {
            if n % 4 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            if n == 1500 && !failed.swap(true, Ordering::SeqCst) {
                panic!("injected failure at record 1500");
            }
            n
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|n: &i64, _| *n),
        )
}

static FAILED_IN_WINDOWS: AtomicBool = AtomicBool::new(false);
static FAILED_IN_GENERAL_WINDOWS: AtomicBool = AtomicBool::new(false);

#[test]
fn windows_are_restored_from_the_checkpoint_and_give_exact_results() {
    // The default trigger runs the aligned window operator.
    check_restored_windows(&FAILED_IN_WINDOWS, |windowed| {
        windowed.reduce(|a, b| (a.0, a.1 + b.1))
    });
}

#[test]
fn the_general_window_operator_is_restored_with_its_timers() {
    // Any other trigger runs the general window operator (per-key windows and timers).
    check_restored_windows(&FAILED_IN_GENERAL_WINDOWS, |windowed| {
        windowed
            .trigger(SameAsEventTime)
            .reduce(|a, b| (a.0, a.1 + b.1))
    });
}

fn check_restored_windows(
    failed: &'static AtomicBool,
    reduce: impl FnOnce(
        WindowedStream<(i64, i64), i64, TumblingEventTimeWindows, EventTimeTrigger>,
    ) -> DataStream<(i64, i64)>,
) {
    let env = recovering_environment();
    let windowed = slow_events(&env, failed)
        .map(|n| (n % 3, n))
        .key_by(|pair| pair.0)
        .window(TumblingEventTimeWindows::of(Duration::from_millis(100)));
    let sums = reduce(windowed).collect_async();
    let result = env.execute("windows recovering").unwrap();
    assert!(failed.load(Ordering::SeqCst));
    assert!(result.get_completed_checkpoints() >= 1);
    // Windows that fired between the checkpoint and the failure fire again after the restart,
    // with the same result: the distinct results are exactly those of a run without failure.
    let mut distinct = sums.take();
    distinct.sort();
    distinct.dedup();
    let mut expected: Vec<(i64, i64)> = (0..2000)
        .fold(std::collections::BTreeMap::new(), |mut sums, n: i64| {
            *sums.entry((n / 100, n % 3)).or_insert(0) += n;
            sums
        })
        .into_iter()
        .map(|((_, key), sum)| (key, sum))
        .collect();
    expected.sort();
    assert_eq!(distinct, expected);
}

const SEEN: ValueStateDescriptor<u64> = ValueStateDescriptor::new("seen");

/// Counts each key's records in a named state and reports the count at the end of time.
#[derive(Clone)]
struct CountUntilTheEnd;

impl KeyedProcessFunction<i64, i64, (i64, u64)> for CountUntilTheEnd {
    type State = ();

    fn process_element(
        &mut self,
        _value: i64,
        ctx: &mut KeyedContext<'_, i64, ()>,
        _out: &mut Collector<'_, (i64, u64)>,
    ) -> Result<(), BoxError> {
        let mut seen = ctx.keyed_state().get_state(&SEEN)?;
        let n = seen.value().copied().unwrap_or(0) + 1;
        seen.update(n)?;
        ctx.timer_service().register_event_time_timer(1_000_000);
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, i64, ()>,
        out: &mut Collector<'_, (i64, u64)>,
    ) -> Result<(), BoxError> {
        let key = *ctx.get_current_key();
        let seen = ctx.keyed_state().get_state(&SEEN)?.value().copied();
        out.collect((key, seen.unwrap_or(0)));
        Ok(())
    }
}

static FAILED_IN_PROCESS: AtomicBool = AtomicBool::new(false);

#[test]
fn named_state_and_timers_are_restored_so_every_record_counts_once() {
    let env = recovering_environment();
    let counts = slow_events(&env, &FAILED_IN_PROCESS)
        .key_by(|n| n % 3)
        .process(CountUntilTheEnd)
        .collect_async();
    env.execute("process function recovering").unwrap();
    assert!(FAILED_IN_PROCESS.load(Ordering::SeqCst));
    let mut counts = counts.take();
    counts.sort();
    assert_eq!(counts, [(0, 667), (1, 667), (2, 666)]);
}

/// Sums of `0..400` by `n % 4`, with uids so another job finds the state; the source map fails
/// at record 300 when `fail` is set.
fn uid_sums(env: &StreamExecutionEnvironment, fail: bool) -> CollectedRecords<(u64, u64)> {
    env.set_buffer_timeout(Duration::ZERO);
    env.from_sequence(0, 399)
        .uid("numbers")
        .map(move |n: i64| {
            std::thread::sleep(Duration::from_millis(1));
            if fail && n == 300 {
                panic!("failure at record 300");
            }
            (n as u64 % 4, n as u64)
        })
        .uid("pairs")
        .key_by(|pair| pair.0)
        .sum(1)
        .uid("sums")
        .collect_async()
}

fn storage_config(dir: &std::path::Path, retention: &str) -> Configuration {
    let mut config = Configuration::new();
    for (key, value) in [
        ("execution.checkpointing.interval", "20 ms"),
        ("state.checkpoints.dir", dir.to_str().unwrap()),
        (
            "execution.checkpointing.externalized-checkpoint-retention",
            retention,
        ),
        ("restart-strategy.type", "none"),
    ] {
        config.set_string(key, value).unwrap();
    }
    config
}

/// The directory of the only job that wrote checkpoints under `dir`.
fn job_directory(dir: &std::path::Path) -> std::path::PathBuf {
    let jobs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.into_iter().next().unwrap()
}

#[test]
fn a_retained_checkpoint_resumes_a_new_job_at_another_parallelism() {
    let dir = common::temp_dir("retained-checkpoints");
    let failing = StreamExecutionEnvironment::get_execution_environment_with_config(
        storage_config(&dir, "RETAIN_ON_CANCELLATION"),
    );
    failing.set_parallelism(2);
    let _ = uid_sums(&failing, true);
    let error = failing.execute("failing").unwrap_err().to_string();
    assert!(error.contains("failure at record 300"), "{error}");
    let job_dir = job_directory(&dir);
    resumes_at_parallelism_3(job_dir.to_str().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs the job again at parallelism 3 from the checkpoint at `recovery_path`: only records
/// after the checkpoint are read again, and the sums go on from the restored state, so the
/// final sums are those of one uninterrupted run.
fn resumes_at_parallelism_3(recovery_path: &str) {
    let mut config = Configuration::new();
    config
        .set_string("execution.state-recovery.path", recovery_path)
        .unwrap();
    let resumed = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    resumed.set_parallelism(3);
    let sums = uid_sums(&resumed, false);
    resumed.execute("resumed").unwrap();
    let updates = sums.take();
    assert!(updates.len() < 400, "the resumed job read only the rest");
    assert_eq!(final_sums(updates), EXPECTED);
}

#[test]
fn checkpoints_in_an_object_store_resume_a_new_job() {
    let base = "memory://object-store-test/checkpoints";
    let failing = StreamExecutionEnvironment::get_execution_environment_with_config(
        storage_config(std::path::Path::new(base), "RETAIN_ON_CANCELLATION"),
    );
    failing.set_parallelism(2);
    let _ = uid_sums(&failing, true);
    let error = failing.execute("failing").unwrap_err().to_string();
    assert!(error.contains("failure at record 300"), "{error}");
    // "job 'failing' (<id>) failed: ..."
    let job_id = error.split(['(', ')']).nth(1).unwrap();
    resumes_at_parallelism_3(&format!("{base}/{job_id}"));

    // A location no store answers to is refused, naming the key.
    let unknown =
        StreamExecutionEnvironment::get_execution_environment_with_config(storage_config(
            std::path::Path::new("nonsense://bucket/x"),
            "RETAIN_ON_CANCELLATION",
        ));
    let _ = uid_sums(&unknown, false);
    let error = unknown.execute("unknown store").unwrap_err().to_string();
    assert!(error.contains("'state.checkpoints.dir'"), "{error}");
}

#[test]
fn state_of_an_operator_the_job_no_longer_has_is_refused_unless_allowed() {
    let dir = common::temp_dir("unclaimed-state");
    let first = StreamExecutionEnvironment::get_execution_environment_with_config(storage_config(
        &dir,
        "RETAIN_ON_CANCELLATION",
    ));
    first.set_parallelism(2);
    let _ = uid_sums(&first, true);
    assert!(first.execute("first").is_err());
    let job_dir = job_directory(&dir);

    let run = |ignore: bool| {
        let mut config = Configuration::new();
        config
            .set_string("execution.state-recovery.path", job_dir.to_str().unwrap())
            .unwrap();
        if ignore {
            config
                .set_string("execution.state-recovery.ignore-unclaimed-state", "true")
                .unwrap();
        }
        let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
        env.from_collection(vec![1u64])
            .key_by(|n| *n)
            .sum(0)
            .uid("totals")
            .sink_to(DiscardingSink::new());
        env.execute("changed")
    };
    let error = run(false).unwrap_err().to_string();
    assert!(
        error.contains("that this job does not have") && error.contains("'Keyed Aggregation'"),
        "{error}"
    );
    run(true).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_are_removed_when_a_job_ends_unless_retained() {
    let dir = common::temp_dir("removed-checkpoints");
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(storage_config(
        &dir,
        "NO_EXTERNALIZED_CHECKPOINTS",
    ));
    env.set_parallelism(2);
    let _ = uid_sums(&env, false);
    let result = env.execute("tidy").unwrap();
    assert!(result.get_completed_checkpoints() >= 1);
    assert!(!dir.join(result.get_job_id()).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_checkpoint_is_named_when_a_job_starts_from_it() {
    let dir = common::temp_dir("damaged-checkpoint");
    std::fs::create_dir_all(dir.join("chk-1")).unwrap();
    std::fs::write(dir.join("chk-1").join("_metadata"), b"STROMCHK garbage").unwrap();
    let mut config = Configuration::new();
    config
        .set_string("execution.state-recovery.path", dir.to_str().unwrap())
        .unwrap();
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    env.from_collection(vec![1u64])
        .sink_to(DiscardingSink::new());
    let error = env.execute("from garbage").unwrap_err().to_string();
    assert!(
        error.contains("holds no readable checkpoint")
            && error.contains("chk-1/_metadata is not a Strom checkpoint"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_savepoint_stops_a_running_job_and_another_job_resumes_from_it() {
    let dir = common::temp_dir("savepoints");
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    // Periodic checkpoints are rare here: the savepoint is what counts.
    env.enable_checkpointing(Duration::from_secs(60));
    let _ = uid_sums(&env, false);
    let client = env.execute_async("savepointed").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let savepoint = client.stop_with_savepoint(&dir).unwrap();
    assert!(savepoint.starts_with(&dir));
    assert!(savepoint.join("_metadata").is_file());

    let mut config = Configuration::new();
    config
        .set_string("execution.state-recovery.path", savepoint.to_str().unwrap())
        .unwrap();
    let resumed = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    resumed.set_parallelism(1);
    let sums = uid_sums(&resumed, false);
    resumed.execute("resumed from a savepoint").unwrap();
    let updates = sums.take();
    assert!(updates.len() < 400, "the resumed job read only the rest");
    assert_eq!(final_sums(updates), EXPECTED);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn savepoints_need_a_job_that_checkpoints() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    let _ = uid_sums(&env, false);
    let client = env.execute_async("unchecked").unwrap();
    let error = client
        .trigger_savepoint(std::env::temp_dir())
        .unwrap_err()
        .to_string();
    assert!(error.contains("savepoints need checkpointing"), "{error}");
    client.cancel();
    let _ = client.get_job_execution_result();
}

/// A job whose checkpoints cannot complete in time: each record takes 20 ms, the timeout is 5 ms.
fn timing_out(tolerable: &str) -> Result<JobExecutionResult, JobError> {
    let mut config = Configuration::new();
    for (key, value) in [
        ("execution.checkpointing.interval", "10 ms"),
        ("execution.checkpointing.timeout", "5 ms"),
        (
            "execution.checkpointing.tolerable-failed-checkpoints",
            tolerable,
        ),
        ("restart-strategy.type", "none"),
    ] {
        config.set_string(key, value).unwrap();
    }
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    env.set_parallelism(1);
    env.set_buffer_timeout(Duration::ZERO);
    env.from_sequence(0, 15)
        .map(|n: i64| {
            std::thread::sleep(Duration::from_millis(20));
            (n % 2, n)
        })
        .key_by(|pair| pair.0)
        .sum(1)
        .sink_to(DiscardingSink::new());
    env.execute("slow checkpoints")
}

#[test]
fn failed_checkpoints_beyond_the_tolerated_number_fail_the_job() {
    let error = timing_out("0").unwrap_err().to_string();
    assert!(
        error.contains("'Checkpoint Coordinator'")
            && error.contains("execution.checkpointing.tolerable-failed-checkpoints (0)"),
        "{error}"
    );
    // Tolerated, the same failures leave the job alone.
    let tolerated = timing_out("1000").unwrap();
    assert!(tolerated.get_checkpoint_statistics().failed >= 1);
}

const SEEN_SO_FAR: ListStateDescriptor<u64> = ListStateDescriptor::new("seen-so-far");

/// Numbers the records it sees; the count is operator state (not keyed).
#[derive(Clone, Default)]
struct NumberRecords {
    seen: u64,
}

impl ProcessFunction<i64, u64> for NumberRecords {
    fn initialize_state(&mut self, state: &OperatorStateStore) -> Result<(), BoxError> {
        self.seen = state.get_list_state(&SEEN_SO_FAR)?.iter().sum();
        Ok(())
    }

    fn snapshot_state(&mut self, state: &mut OperatorStateStore) -> Result<(), BoxError> {
        state.update_list_state(&SEEN_SO_FAR, &[self.seen])?;
        Ok(())
    }

    fn process_element(
        &mut self,
        _value: i64,
        _ctx: &mut Context<'_>,
        out: &mut Collector<'_, u64>,
    ) -> Result<(), BoxError> {
        self.seen += 1;
        out.collect(self.seen);
        Ok(())
    }
}

static FAILED_WITH_OPERATOR_STATE: AtomicBool = AtomicBool::new(false);

#[test]
fn operator_state_of_a_function_is_restored_after_a_failure() {
    let env = recovering_environment();
    env.set_parallelism(1);
    let numbers = env
        .from_sequence(0, 399)
        .map(|n: i64| {
            std::thread::sleep(Duration::from_millis(1));
            if n == 300 && !FAILED_WITH_OPERATOR_STATE.swap(true, Ordering::SeqCst) {
                panic!("injected failure at record 300");
            }
            n
        })
        .disable_chaining()
        .process(NumberRecords::default())
        .collect_async();
    env.execute("operator state").unwrap();
    assert!(FAILED_WITH_OPERATOR_STATE.load(Ordering::SeqCst));
    // The count went on from the checkpoint: the last record is number 400, not fewer.
    assert_eq!(numbers.take().into_iter().max(), Some(400));
}

static FAILED_AFTER_A_SOURCE_ENDED: AtomicBool = AtomicBool::new(false);

#[test]
fn checkpoints_go_on_after_a_source_finished_and_restore_it_as_finished() {
    let env = recovering_environment();
    env.set_parallelism(1);
    // A source that ends at once, and one that runs for a while and fails once late.
    let quick = env.from_sequence(0, 49);
    let slow = env.from_sequence(1000, 1299).map(|n: i64| {
        std::thread::sleep(Duration::from_millis(1));
        if n == 1250 && !FAILED_AFTER_A_SOURCE_ENDED.swap(true, Ordering::SeqCst) {
            panic!("injected failure at record {n}");
        }
        n
    });
    let sums = quick
        .union(&slow)
        .map(|n| (n as u64 % 2, n as u64))
        .key_by(|pair| pair.0)
        .sum(1)
        .collect_async();
    let result = env.execute("a source ends early").unwrap();
    assert!(FAILED_AFTER_A_SOURCE_ENDED.load(Ordering::SeqCst));
    assert!(
        result.get_completed_checkpoints() >= 3,
        "checkpoints went on: {}",
        result.get_completed_checkpoints()
    );
    // The quick source's records count once: restored as finished, it did not start over.
    let expected_even: u64 = (0..50u64).chain(1000..1300).filter(|n| n % 2 == 0).sum();
    let expected_odd: u64 = (0..50u64).chain(1000..1300).filter(|n| n % 2 == 1).sum();
    assert_eq!(
        final_sums(sums.take()),
        [(0, expected_even), (1, expected_odd)]
    );
}

static FAILED_WITH_STATE_ON_DISK: AtomicBool = AtomicBool::new(false);

/// Counts records per key in named state, with a failure in the middle.
#[derive(Clone)]
struct CountEach;

const DISK_COUNT: ValueStateDescriptor<u64> = ValueStateDescriptor::new("count");

impl KeyedProcessFunction<i64, i64, (i64, u64)> for CountEach {
    type State = u64;

    fn process_element(
        &mut self,
        value: i64,
        ctx: &mut KeyedContext<'_, i64, u64>,
        out: &mut Collector<'_, (i64, u64)>,
    ) -> Result<(), BoxError> {
        // Both kinds of keyed state: the function's own and a named one.
        *ctx.state() += 1;
        let mut count = ctx.keyed_state().get_state(&DISK_COUNT)?;
        let next = count.value().copied().unwrap_or(0) + 1;
        count.update(next)?;
        if value >= 3_000 {
            let key = *ctx.get_current_key();
            let own = *ctx.state();
            out.collect((key, own * 1_000_000 + next));
        }
        Ok(())
    }
}

#[test]
fn state_on_disk_is_restored_from_a_checkpoint_after_a_failure() {
    let mut config = Configuration::new();
    config
        .set_string("state.backend.disk.cache-entries", "16")
        .unwrap();
    let env = common::recovering_environment_with(config);
    env.set_state_backend(StateBackendType::Disk);
    // 3,000 records over 500 keys, slowly, failing once at record 2,000; then one more record
    // per key reports its counts.
    let counts = env
        .from_sequence(0, 3_499)
        .set_parallelism(1)
        .map(|n: i64| {
            if n % 8 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            if n == 2_000 && !FAILED_WITH_STATE_ON_DISK.swap(true, Ordering::SeqCst) {
                panic!("injected failure at record 2000");
            }
            n
        })
        // One reader, so each key's records arrive in order.
        .set_parallelism(1)
        .key_by(|n| n % 500)
        .process(CountEach)
        .collect_async();
    env.execute("disk state recovering").unwrap();
    assert!(FAILED_WITH_STATE_ON_DISK.load(Ordering::SeqCst));
    let mut counts = counts.take();
    counts.sort();
    let expected: Vec<(i64, u64)> = (0..500).map(|key| (key, 7_000_007)).collect();
    assert_eq!(counts, expected);
}

/// Which of the injected failures of the incremental test have happened.
static INCREMENTAL_FAILURES: AtomicUsize = AtomicUsize::new(0);

/// Counts records per key in the function's own state and in a named state that is cleared on
/// every fifth record (so incremental checkpoints write removals too); reports both counts on
/// records from `report_from` on.
#[derive(Clone)]
struct CountAndClear {
    report_from: i64,
}

const CLEARED_COUNT: ValueStateDescriptor<u64> = ValueStateDescriptor::new("cleared count");

impl KeyedProcessFunction<i64, i64, (i64, u64)> for CountAndClear {
    type State = u64;

    fn process_element(
        &mut self,
        value: i64,
        ctx: &mut KeyedContext<'_, i64, u64>,
        out: &mut Collector<'_, (i64, u64)>,
    ) -> Result<(), BoxError> {
        *ctx.state() += 1;
        let mut count = ctx.keyed_state().get_state(&CLEARED_COUNT)?;
        let next = count.value().copied().unwrap_or(0) + 1;
        let named = if next % 5 == 0 {
            count.clear();
            0
        } else {
            count.update(next)?;
            next
        };
        if value >= self.report_from {
            let key = *ctx.get_current_key();
            let own = *ctx.state();
            out.collect((key, own * 1_000 + named));
        }
        Ok(())
    }
}

/// Whether the newest checkpoint under `job_dir` builds on an earlier one.
fn newest_checkpoint_is_incremental(job_dir: &std::path::Path) -> bool {
    let newest = std::fs::read_dir(job_dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let id: u64 = path
                .file_name()?
                .to_str()?
                .strip_prefix("chk-")?
                .parse()
                .ok()?;
            path.join("_metadata").exists().then_some((id, path))
        })
        .max();
    newest.is_some_and(|(_, dir)| dir.join("_references").exists())
}

#[test]
fn incremental_checkpoints_of_state_on_disk_restore_exactly_after_failures_and_rescaling() {
    // Sources hand on batches of 1,024 records, and a barrier passes between two: with 3,000
    // keys a checkpoint changes about a third of them, so most checkpoints are incremental.
    const KEYS: i64 = 3_000;
    let dir = common::temp_dir("incremental-checkpoints");
    let pipeline = |env: &StreamExecutionEnvironment, failing: bool, report_from: i64| {
        let job_dirs = dir.clone();
        env.set_state_backend(StateBackendType::Disk);
        let numbers = env
            .from_sequence(0, 6 * KEYS - 1)
            .set_parallelism(1)
            .map(move |n: i64| {
                if n % 16 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if failing {
                    let stage = INCREMENTAL_FAILURES.load(Ordering::SeqCst);
                    if (n == 3_000 && stage == 0) || (n == 6_000 && stage == 1) {
                        INCREMENTAL_FAILURES.fetch_add(1, Ordering::SeqCst);
                        panic!("injected failure at record {n}");
                    }
                    // The job ends failing once its newest checkpoint is an incremental one.
                    let job_dir = std::fs::read_dir(&job_dirs)
                        .ok()
                        .and_then(|mut jobs| jobs.next())
                        .and_then(|job| job.ok())
                        .map(|job| job.path());
                    let incremental = job_dir.is_some_and(|d| newest_checkpoint_is_incremental(&d));
                    if stage == 2 && n >= 9_000 && (incremental || n == 5 * KEYS - 1) {
                        panic!("the job stops at record {n}");
                    }
                }
                n
            })
            .set_parallelism(1);
        // All records under one key: at parallelism 2 one subtask of this operator sees only
        // barriers, and its (empty) state must build on checkpoints that are kept too.
        numbers
            .key_by(|_| 0)
            .process(CountAndClear {
                report_from: i64::MAX,
            })
            .set_parallelism(2)
            .sink_to(DiscardingSink::new());
        numbers
            .key_by(|n| n % KEYS)
            .process(CountAndClear { report_from })
            .collect_async()
    };
    let mut config = storage_config(&dir, "RETAIN_ON_CANCELLATION");
    for (key, value) in [
        ("execution.checkpointing.incremental", "true"),
        ("state.backend.disk.cache-entries", "16"),
        ("restart-strategy.type", "fixed-delay"),
        ("restart-strategy.fixed-delay.attempts", "2"),
        ("restart-strategy.fixed-delay.delay", "10 ms"),
    ] {
        config.set_string(key, value).unwrap();
    }
    let failing = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    failing.set_parallelism(1);
    let _ = pipeline(&failing, true, i64::MAX);
    let error = failing.execute("incremental").unwrap_err().to_string();
    assert!(error.contains("the job stops at record"), "{error}");
    let job_dir = job_directory(&dir);
    assert!(
        newest_checkpoint_is_incremental(&job_dir),
        "the retained checkpoint builds on another"
    );

    // A new job at parallelism 2 resumes from the retained chain of checkpoints.
    let mut config = Configuration::new();
    for (key, value) in [
        ("execution.state-recovery.path", job_dir.to_str().unwrap()),
        ("execution.checkpointing.incremental", "true"),
        ("state.backend.disk.cache-entries", "16"),
    ] {
        config.set_string(key, value).unwrap();
    }
    let resumed = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    resumed.set_parallelism(2);
    let reports = pipeline(&resumed, false, 5 * KEYS);
    resumed.execute("resumed").unwrap();
    let mut reports = reports.take();
    reports.sort();
    // Each key saw 6 records: its own count 6, the named one cleared at 5, then 1.
    let keys: Vec<i64> = reports.iter().map(|(key, _)| *key).collect();
    assert_eq!(keys, (0..KEYS).collect::<Vec<_>>());
    let wrong: Vec<&(i64, u64)> = reports.iter().filter(|(_, c)| *c != 6_001).collect();
    assert!(
        wrong.is_empty(),
        "{} wrong, first {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

static TEXT_FAILED: AtomicBool = AtomicBool::new(false);

#[test]
fn write_as_text_keeps_its_lines_across_a_restart() {
    let dir = common::temp_dir("text-restart");
    let out = dir.join("out");
    let env = recovering_environment();
    env.from_sequence(0, 1_999)
        .set_parallelism(1)
        .map(|n: i64| {
            if n % 8 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            if n == 1_500 && !TEXT_FAILED.swap(true, Ordering::SeqCst) {
                panic!("injected failure at record 1500");
            }
            n
        })
        .set_parallelism(1)
        .write_as_text(&out)
        .set_parallelism(2);
    // The restart neither refuses the output the failed run wrote nor replaces it: every line
    // is there, the ones after the restored checkpoint possibly twice (at least once).
    env.execute("text across a restart").unwrap();
    assert!(TEXT_FAILED.load(Ordering::SeqCst));
    let mut lines: Vec<i64> = ["1", "2"]
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(out.join(file))
                .unwrap()
                .lines()
                .map(|l| l.parse().unwrap())
                .collect::<Vec<i64>>()
        })
        .collect();
    assert!(lines.len() >= 2_000, "{} lines", lines.len());
    lines.sort();
    lines.dedup();
    assert_eq!(lines, (0..2_000).collect::<Vec<i64>>());
    std::fs::remove_dir_all(&dir).unwrap();
}
