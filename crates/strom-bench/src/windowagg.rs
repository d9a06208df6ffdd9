//! The `windowagg` benchmark exactly as the Flink anchor defines it (`WindowAgg.java`): events
//! made in the job from a sequence, count and maximum per key per 10-second tumbling
//! event-time window, watermarks with one second of bounded out-of-orderness, a discarding
//! sink. With `check`, the window results are collected and printed as `key,end,count,max`
//! lines instead, to compare with Flink's on the same events.

use std::time::Duration;

use strom::prelude::*;

use crate::splitmix64;

/// Event `i`: `(key, timestamp, value)`.
fn event(i: i64) -> (u64, i64, u64) {
    let h = splitmix64(i as u64);
    let key = h % 10_000;
    let value = splitmix64(h) % 1_000_000;
    let timestamp = i / 10 + 1000 - ((h >> 32) % 1000) as i64;
    (key, timestamp, value)
}

/// Count and maximum of a window's values (Flink's `CountMax`; the result is `"count,max"`).
#[derive(Clone)]
struct CountMax;

impl AggregateFunction<(u64, i64, u64)> for CountMax {
    type Acc = (u64, u64);
    type Out = String;

    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    #[inline]
    fn add(&self, value: (u64, i64, u64), acc: &mut (u64, u64)) {
        acc.0 += 1;
        acc.1 = acc.1.max(value.2);
    }
    fn get_result(&self, acc: &(u64, u64)) -> String {
        format!("{},{}", acc.0, acc.1)
    }
    fn merge(&self, acc: &mut (u64, u64), other: (u64, u64)) {
        acc.0 += other.0;
        acc.1 = acc.1.max(other.1);
    }
}

/// Prefixes each result with its key and window end, for `check`.
#[derive(Clone)]
struct KeyAndWindow;

impl ProcessWindowFunction<String, String, u64, TimeWindow> for KeyAndWindow {
    fn process(
        &mut self,
        key: &u64,
        ctx: &mut WindowContext<'_, u64, TimeWindow>,
        results: Vec<String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        for result in results {
            out.collect(format!("{key},{},{result}", ctx.window().end()));
        }
        Ok(())
    }
}

/// The windows of the benchmark's job, before its sink.
fn windows(
    env: &StreamExecutionEnvironment,
    events: u64,
) -> WindowedStream<(u64, i64, u64), u64, TumblingEventTimeWindows, EventTimeTrigger> {
    env.from_sequence(0, events as i64 - 1)
        .map(event)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(1))
                .with_timestamp_assigner(|e: &(u64, i64, u64), _| e.1),
        )
        .key_by(|e| e.0)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(10)))
}

/// Runs the benchmark; returns the job's seconds.
pub fn run(events: u64, parallelism: usize) -> Result<f64, JobError> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(parallelism);
    windows(&env, events)
        .aggregate(CountMax)
        .sink_to(DiscardingSink::new());
    Ok(env.execute("WindowAgg")?.get_net_runtime().as_secs_f64())
}

/// Runs the job with its results collected: `key,end,count,max` lines, sorted.
pub fn results(events: u64, parallelism: usize) -> Result<Vec<String>, JobError> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(parallelism);
    let mut lines = windows(&env, events)
        .aggregate_and_process(CountMax, KeyAndWindow)
        .execute_and_collect()?;
    lines.sort();
    Ok(lines)
}
