//! Event time end to end: the event-time examples' exact output, keyed timers, idle inputs and
//! batch mode giving streaming mode's final window results.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strom::prelude::*;

fn stdout_of(example: &str) -> String {
    let output = common::run_example(example, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_fraud_example_alerts_on_small_then_large_within_a_minute_only() {
    let stdout = stdout_of("fraud_detection");
    let mut alerts: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_once("> ").unwrap().1)
        .collect();
    alerts.sort();
    assert_eq!(
        alerts,
        [
            "Alert{account=12, amount=501.00, at=410000}",
            "Alert{account=13, amount=900.00, at=140000}",
        ]
    );
}

#[test]
fn the_sensor_example_refires_late_windows_and_sets_later_readings_aside() {
    let stdout = stdout_of("sensor_averages");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "s2 [0s,10s) avg=22.20",
            "s3 [0s,10s) avg=23.22",
            "s1 [0s,10s) avg=21.20",
            "s3 [0s,10s) avg=23.20",
            "s1 [0s,10s) avg=22.91",
            "late> s2@4000=99.0",
            "s2 [10s,20s) avg=22.65",
            "s3 [10s,20s) avg=23.56",
            "s1 [10s,20s) avg=21.65",
            "s3 [10s,20s) avg=23.65",
            "s2 [20s,30s) avg=22.40",
            "s3 [20s,30s) avg=23.40",
            "s1 [20s,30s) avg=21.40",
        ]
    );
}

/// Counts records per key and reports the count when the key's event-time timer fires: a
/// timer per key, re-registered for the same time (deduplicated), fired in time order.
#[derive(Clone)]
struct CountUntil {
    deadline: Timestamp,
}

impl KeyedProcessFunction<String, (String, i64), String> for CountUntil {
    type State = u32;

    fn process_element(
        &mut self,
        value: (String, i64),
        ctx: &mut KeyedContext<'_, String, u32>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        *ctx.state() += 1;
        let at = value.1 + self.deadline;
        ctx.timer_service().register_event_time_timer(at);
        ctx.timer_service().register_event_time_timer(at);
        if value.1 == 99 {
            ctx.timer_service().delete_event_time_timer(at);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, String, u32>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let key = ctx.get_current_key().clone();
        let count = *ctx.state();
        out.collect(format!(
            "{key}@{timestamp} count={count} domain={:?}",
            ctx.time_domain().unwrap()
        ));
        ctx.clear_state();
        Ok(())
    }
}

#[test]
fn keyed_timers_fire_once_per_key_and_time_in_time_order_with_their_state() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    let input = vec![
        ("b".to_string(), 5),
        ("a".to_string(), 1),
        ("a".to_string(), 1),
        ("c".to_string(), 99), // its timer is deleted again
        ("b".to_string(), 3),
    ];
    let fired = env
        .from_collection(input)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|e: &(String, i64), _| e.1),
        )
        .key_by(|e| e.0.clone())
        .process(CountUntil { deadline: 10 })
        .set_parallelism(1)
        .execute_and_collect()
        .unwrap();
    assert_eq!(
        fired,
        [
            "a@11 count=2 domain=EventTime",
            "b@13 count=2 domain=EventTime",
            "b@15 count=0 domain=EventTime",
        ]
    );
}

/// A source that never produces anything and never ends.
#[derive(Clone)]
struct Silent;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OnlySplit;

impl SourceSplit for OnlySplit {
    fn split_id(&self) -> String {
        "only".to_string()
    }
}

impl Source<(String, i64)> for Silent {
    type Split = OnlySplit;
    type Reader = Silent;
    fn boundedness(&self) -> Boundedness {
        Boundedness::ContinuousUnbounded
    }
    fn create_splits(&self, _parallelism: usize) -> Result<Vec<OnlySplit>, BoxError> {
        Ok(vec![OnlySplit])
    }
    fn create_reader(&self, _ctx: &RuntimeContext) -> Result<Silent, BoxError> {
        Ok(Silent)
    }
}

impl SourceReader<(String, i64), OnlySplit> for Silent {
    fn start_split(&mut self, _split: OnlySplit) -> Result<(), BoxError> {
        Ok(())
    }
    fn poll_next(
        &mut self,
        _output: &mut SourceOutput<(String, i64)>,
    ) -> Result<ReaderStatus, BoxError> {
        std::thread::sleep(Duration::from_millis(5));
        Ok(ReaderStatus::NothingAvailable)
    }
}

/// Records the window results as they arrive, while the job keeps running.
#[derive(Clone)]
struct Shared(Arc<Mutex<Vec<(String, i64)>>>);

impl Sink<(String, i64)> for Shared {
    type Writer = Shared;
    fn create_writer(&self, _ctx: &RuntimeContext) -> Result<Shared, BoxError> {
        Ok(self.clone())
    }
}

impl SinkWriter<(String, i64)> for Shared {
    fn write(
        &mut self,
        value: (String, i64),
        _timestamp: Option<Timestamp>,
    ) -> Result<(), BoxError> {
        self.0.lock().unwrap().push(value);
        Ok(())
    }
}

#[test]
fn an_idle_input_does_not_hold_back_windows_of_the_active_one() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    let strategy = || {
        WatermarkStrategy::for_monotonous_timestamps()
            .with_timestamp_assigner(|e: &(String, i64), _| e.1)
            .with_idleness(Duration::from_millis(300))
    };
    let silent = env.from_source(Silent, strategy(), "Silent");
    // The active input ends, but the silent one never does: without idleness the window
    // [0,10) could never fire.
    let active = env
        .from_collection(vec![
            ("a".to_string(), 1),
            ("a".to_string(), 2),
            ("a".to_string(), 15),
        ])
        .assign_timestamps_and_watermarks(strategy());
    let results = Shared(Arc::new(Mutex::new(Vec::new())));
    active
        .union(&silent)
        .key_by(|e| e.0.clone())
        .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
        .reduce(|a, b| (a.0, a.1 + b.1))
        .sink_to(results.clone());
    let client = env.execute_async("idleness").unwrap();
    let started = Instant::now();
    while results.0.lock().unwrap().len() < 2 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    client.cancel();
    let _ = client.get_job_execution_result();
    assert_eq!(
        *results.0.lock().unwrap(),
        [("a".to_string(), 3), ("a".to_string(), 15)]
    );
}

fn windowed_sums(mode: RuntimeExecutionMode) -> Vec<(u64, i64, i64)> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_runtime_mode(mode);
    env.set_parallelism(2);
    let events: Vec<(u64, i64, i64)> = (0..20_000u64)
        .map(|i| {
            let disorder = (i * 7_919) % 500;
            (i % 13, (i * 10) as i64 - disorder as i64, (i % 100) as i64)
        })
        .collect();
    let mut sums = env
        .from_collection(events)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(500))
                .with_timestamp_assigner(|e: &(u64, i64, i64), _| e.1),
        )
        .key_by(|e| e.0)
        .window(SlidingEventTimeWindows::of(
            Duration::from_millis(3_000),
            Duration::from_millis(1_000),
        ))
        .reduce(|a, b| (a.0, a.1.min(b.1), a.2 + b.2))
        .execute_and_collect()
        .unwrap();
    sums.sort();
    sums
}

#[test]
fn batch_mode_gives_the_final_window_results_of_streaming_mode() {
    let streaming = windowed_sums(RuntimeExecutionMode::Streaming);
    let batch = windowed_sums(RuntimeExecutionMode::Batch);
    // Every record is in three windows: the sums over all windows add up to three times the
    // sum of the values, so nothing was dropped as late.
    let total: i64 = streaming.iter().map(|w| w.2).sum();
    assert_eq!(total, 3 * 200 * 4950);
    assert_eq!(streaming, batch);
}
