//! DataStream operations end to end, with exact expected outputs.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use strom::prelude::*;

fn env(parallelism: usize) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(parallelism);
    env
}

fn sorted<T: Ord>(mut values: Vec<T>) -> Vec<T> {
    values.sort();
    values
}

#[test]
fn map_filter_flat_map_keep_order_at_parallelism_one() {
    let out = env(1)
        .from_collection(vec![1, 2, 3, 4, 5, 6])
        .map(|n: i32| n * 10)
        .filter(|n| n % 20 != 0)
        .flat_map(|n: i32, out: &mut Collector<i32>| {
            out.collect(n);
            out.collect(-n);
        })
        .execute_and_collect()
        .unwrap();
    assert_eq!(out, [10, -10, 30, -30, 50, -50]);
}

#[test]
fn sequences_union_and_results_agree_at_every_parallelism() {
    for parallelism in [1, 2, 4] {
        let env = env(parallelism);
        let evens = env.from_sequence(0, 999).filter(|n| n % 2 == 0);
        let odds = env.from_sequence(0, 999).filter(|n| n % 2 == 1);
        let all = evens.union(&odds).execute_and_collect().unwrap();
        assert_eq!(
            sorted(all),
            (0..1000).collect::<Vec<i64>>(),
            "parallelism {parallelism}"
        );
    }
}

#[derive(Clone)]
struct TagSubtask;

impl ProcessFunction<i64, (usize, i64)> for TagSubtask {
    fn process_element(
        &mut self,
        value: i64,
        _ctx: &mut Context<'_>,
        out: &mut Collector<'_, (usize, i64)>,
    ) -> Result<(), BoxError> {
        out.collect((0, value));
        Ok(())
    }
}

/// Records which subtask saw each value, through `open`'s runtime context.
#[derive(Clone, Default)]
struct WhoSaw {
    subtask: usize,
}

impl ProcessFunction<i64, (usize, i64)> for WhoSaw {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), BoxError> {
        self.subtask = ctx.index_of_this_subtask();
        Ok(())
    }
    fn process_element(
        &mut self,
        value: i64,
        _ctx: &mut Context<'_>,
        out: &mut Collector<'_, (usize, i64)>,
    ) -> Result<(), BoxError> {
        out.collect((self.subtask, value));
        Ok(())
    }
}

fn per_subtask(stream: DataStream<i64>) -> BTreeMap<usize, Vec<i64>> {
    let mut seen: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    for (subtask, value) in stream
        .process(WhoSaw::default())
        .set_parallelism(3)
        .execute_and_collect()
        .unwrap()
    {
        seen.entry(subtask).or_default().push(value);
    }
    seen.values_mut().for_each(|v| v.sort());
    seen
}

#[test]
fn partitioners_route_as_flink_does() {
    let env = env(1);
    let custom = per_subtask(
        env.from_sequence(0, 8)
            .partition_custom(|key: &i64, n| (*key as usize) % n, |v| *v),
    );
    assert_eq!(
        custom,
        BTreeMap::from([(0, vec![0, 3, 6]), (1, vec![1, 4, 7]), (2, vec![2, 5, 8])])
    );

    let broadcast = per_subtask(env.from_sequence(1, 3).broadcast());
    assert_eq!(
        broadcast,
        BTreeMap::from([(0, vec![1, 2, 3]), (1, vec![1, 2, 3]), (2, vec![1, 2, 3])])
    );

    let global = per_subtask(env.from_sequence(1, 5).global());
    assert_eq!(global, BTreeMap::from([(0, vec![1, 2, 3, 4, 5])]));

    type Partitioning = fn(&DataStream<i64>) -> DataStream<i64>;
    let partitionings: [Partitioning; 3] = [
        DataStream::rebalance,
        DataStream::shuffle,
        DataStream::rescale,
    ];
    for partitioning in partitionings {
        let seen = per_subtask(partitioning(&env.from_sequence(1, 5000)));
        let all: Vec<i64> = sorted(seen.values().flatten().copied().collect());
        assert_eq!(
            all,
            (1..=5000).collect::<Vec<_>>(),
            "nothing lost or duplicated"
        );
    }
    let shuffled = per_subtask(env.from_sequence(1, 30_000).shuffle());
    assert_eq!(shuffled.len(), 3, "shuffle reaches every subtask");
}

#[test]
fn a_stream_of_an_executed_job_cannot_join_the_next_one() {
    let env = env(1);
    let old = env.from_sequence(1, 3);
    env.from_sequence(1, 3).print();
    env.execute("first").unwrap();
    old.print();
    let error = env.execute("second").unwrap_err().to_string();
    assert!(
        error.contains("reads a stream of a job that was already executed"),
        "{error}"
    );
}

#[test]
fn forward_between_different_parallelism_is_refused() {
    let env = env(2);
    env.from_sequence(1, 3)
        .forward()
        .map(|n| n)
        .set_parallelism(3)
        .print();
    let error = env.execute("job").unwrap_err().to_string();
    assert!(
        error.contains("forward partitioning needs equal parallelism"),
        "{error}"
    );
    let _ = TagSubtask;
}

#[derive(Clone)]
struct SplitBySign {
    negatives: OutputTag<String>,
}

impl ProcessFunction<i64, i64> for SplitBySign {
    fn process_element(
        &mut self,
        value: i64,
        ctx: &mut Context<'_>,
        out: &mut Collector<'_, i64>,
    ) -> Result<(), BoxError> {
        if value < 0 {
            ctx.output(&self.negatives, format!("negative {value}"));
        } else {
            out.collect(value);
        }
        Ok(())
    }
}

#[test]
fn side_outputs_carry_their_own_type() {
    let negatives = OutputTag::<String>::new("negatives");
    for parallelism in [1, 2] {
        let env = env(parallelism);
        let split = env
            .from_collection(vec![3, -1, 4, -1, -5, 9])
            .process(SplitBySign {
                negatives: negatives.clone(),
            });
        let side = Arc::new(std::sync::Mutex::new(Vec::new()));
        let side_sink = strom::connectors::collection::CollectSink::new(Arc::clone(&side));
        split.get_side_output(&negatives).sink_to(side_sink);
        let main = split.execute_and_collect().unwrap();
        assert_eq!(sorted(main), [3, 4, 9]);
        assert_eq!(
            sorted(side.lock().unwrap().clone()),
            ["negative -1", "negative -1", "negative -5"]
        );
    }
}

#[test]
fn keyed_reduce_and_aggregations_end_to_end() {
    let readings = vec![
        ("kitchen".to_string(), 21, 1),
        ("hall".to_string(), 17, 2),
        ("kitchen".to_string(), 24, 3),
        ("kitchen".to_string(), 19, 4),
    ];
    let env = env(2);
    env.set_runtime_mode(RuntimeExecutionMode::Batch);
    let max_by = env
        .from_collection(readings.clone())
        .key_by(|r| r.0.clone())
        .max_by(1)
        .execute_and_collect()
        .unwrap();
    assert_eq!(
        sorted(max_by),
        [("hall".to_string(), 17, 2), ("kitchen".to_string(), 24, 3)]
    );
    let env = self::env(2);
    let min = env
        .from_collection(readings)
        .key_by(|r| r.0.clone())
        .min(1)
        .execute_and_collect()
        .unwrap();
    let kitchen: Vec<_> = min.into_iter().filter(|r| r.0 == "kitchen").collect();
    assert_eq!(
        kitchen,
        [
            ("kitchen".to_string(), 21, 1),
            ("kitchen".to_string(), 21, 1),
            ("kitchen".to_string(), 19, 1)
        ]
    );
    let env = self::env(3);
    let totals = env
        .from_sequence(1, 100)
        .key_by(|n| n % 3)
        .reduce(|a, b| a + b);
    let mut last = BTreeMap::new();
    for value in totals.execute_and_collect().unwrap() {
        last.insert(value % 3, value);
    }
    assert_eq!(
        last.values().copied().max(),
        Some((1..=100).filter(|n| n % 3 == 1).sum::<i64>())
    );
}

#[test]
fn the_execution_plan_shows_chains_and_partitioners() {
    let env = env(2);
    env.from_sequence(1, 10)
        .map(|n| n + 1)
        .name("Increment")
        .key_by(|n| *n)
        .sum(0)
        .print();
    let plan = env.get_execution_plan().unwrap();
    assert!(
        plan.contains("\"Source: Sequence Source -> Increment\""),
        "{plan}"
    );
    assert!(
        plan.contains("\"Keyed Aggregation -> Sink: Print to Std. Out\""),
        "{plan}"
    );
    assert!(plan.contains("\"KeyGroups\""), "{plan}");
    env.from_sequence(1, 10)
        .map(|n| n)
        .disable_chaining()
        .print();
    let plan = env.get_execution_plan().unwrap();
    assert!(
        plan.contains("\"name\": \"Map\""),
        "disable_chaining puts Map in a task of its own: {plan}"
    );
}

#[test]
fn write_as_text_writes_one_file_per_subtask() {
    let dir = common::temp_dir("write-as-text");
    let out = dir.join("out");
    let env = env(2);
    env.from_sequence(1, 100)
        .map(|n| (n, n * n))
        .write_as_text(&out);
    env.execute("write").unwrap();
    let mut lines = Vec::new();
    for file in ["1", "2"] {
        lines.extend(
            std::fs::read_to_string(out.join(file))
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    let expected: Vec<String> = (1..=100i64).map(|n| format!("({n},{})", n * n)).collect();
    assert_eq!(sorted(lines), sorted(expected));
}

#[test]
fn execute_async_can_be_waited_for_and_cancelled() {
    let env = env(2);
    let counted = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&counted);
    env.from_sequence(1, 1000)
        .map(move |n| {
            seen.fetch_add(1, Ordering::Relaxed);
            n
        })
        .print_to_err();
    let client = env.execute_async("finite").unwrap();
    assert_eq!(client.get_job_id().len(), 32);
    let result = client.get_job_execution_result().unwrap();
    assert_eq!(counted.load(Ordering::Relaxed), 1000);
    assert!(result.get_net_runtime() > std::time::Duration::ZERO);

    // An endless job (a socket that never sends) ends when cancelled.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = self::env(1);
    env.socket_text_stream("127.0.0.1", port).print();
    let client = env.execute_async("endless").unwrap();
    let _connection = listener.accept().unwrap();
    assert!(!client.is_done());
    client.cancel();
    let error = client.get_job_execution_result().unwrap_err();
    assert!(matches!(error, JobError::Cancelled { .. }), "{error}");
}

#[test]
fn batch_pre_aggregation_is_exact_even_when_the_combiner_overflows() {
    // 50,000 distinct keys: more than the combiner holds, so partials are sent mid-stream
    // and folded again downstream.
    for parallelism in [1, 3] {
        let env = env(parallelism);
        env.set_runtime_mode(RuntimeExecutionMode::Batch);
        let sums = env
            .from_sequence(0, 199_999)
            .map(|n| (n % 50_000, 1u64, n))
            .key_by(|t| t.0)
            .sum(1);
        let maxima = env
            .from_sequence(0, 199_999)
            .map(|n| (n % 50_000, n))
            .key_by(|t| t.0)
            .max_by(1);
        let (sums, maxima) = (sums.execute_and_collect().unwrap(), maxima);
        assert_eq!(sums.len(), 50_000);
        assert!(
            sums.iter().all(|(_, count, _)| *count == 4),
            "every key counted four times"
        );
        let maxima = maxima.execute_and_collect();
        assert!(
            maxima.is_err(),
            "the second stream belongs to the executed job"
        );
        let env = self::env(parallelism);
        env.set_runtime_mode(RuntimeExecutionMode::Batch);
        let maxima = env
            .from_sequence(0, 199_999)
            .map(|n| (n % 50_000, n))
            .key_by(|t| t.0)
            .max_by(1)
            .execute_and_collect()
            .unwrap();
        let expected: Vec<(i64, i64)> = (150_000..200_000).map(|n| (n % 50_000, n)).collect();
        assert_eq!(sorted(maxima), sorted(expected));
    }
}

#[test]
fn a_stream_that_reaches_no_sink_does_not_run() {
    // An unused socket source would never end; Flink builds jobs from their sinks, so does Strom.
    let env = env(2);
    let _forgotten = env
        .socket_text_stream("127.0.0.1", 9)
        .map(|line| line.len());
    let out = env
        .from_sequence(1, 4)
        .map(|n| n * n)
        .execute_and_collect()
        .unwrap();
    assert_eq!(sorted(out), [1, 4, 9, 16]);
}
