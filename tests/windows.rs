//! Event-time windows end to end: exact outputs for out-of-order input, every window kind,
//! lateness, triggers and evictors. Expected outputs were checked against Apache Flink 2.3 with
//! the same programs (`bench/flink-semantics/WindowSemantics.java`).

use std::time::Duration;

use strom::prelude::*;

mod common;

use common::events::{ev, events, sorted, wm, Event};

fn env() -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    env
}

fn sum_values(a: Event, b: Event) -> Event {
    (a.0, a.1, a.2 + b.2)
}

#[test]
fn tumbling_windows_with_allowed_lateness_fire_again_and_send_later_records_aside() {
    let env = env();
    let late = OutputTag::<Event>::new("late");
    let input = vec![
        ev("a", 1, 1),
        ev("b", 3, 1),
        ev("a", 12, 1),
        wm(10),
        ev("a", 5, 1), // late, within the allowed lateness: the window fires again
        wm(15),
        ev("a", 7, 1), // later than the window's cleanup: to the side output
        ev("b", 14, 1),
        wm(30),
    ];
    let sums = events(&env, input)
        .key_by(|e| e.0.clone())
        .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
        .allowed_lateness(Duration::from_millis(5))
        .side_output_late_data(&late)
        .reduce(sum_values);
    let late_records = sums.get_side_output(&late);
    let (main, side) = (sums.collect_async(), late_records.collect_async());
    env.execute("tumbling").unwrap();
    assert_eq!(
        main.take(),
        [
            ev("a", 1, 1),
            ev("b", 3, 1),
            ev("a", 1, 2),
            ev("a", 12, 1),
            ev("b", 14, 1)
        ]
    );
    assert_eq!(side.take(), [ev("a", 7, 1)]);
}

/// Names each window's result `key [start,end) value` so outputs show which window fired.
#[derive(Clone)]
struct Describe;

impl ProcessWindowFunction<Event, String, String, TimeWindow> for Describe {
    fn process(
        &mut self,
        key: &String,
        ctx: &mut WindowContext<'_, String, TimeWindow>,
        elements: Vec<Event>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let window = ctx.window();
        let sum: i64 = elements.iter().map(|e| e.2).sum();
        out.collect(format!(
            "{key} [{},{}) n={} sum={sum}",
            window.start(),
            window.end(),
            elements.len()
        ));
        Ok(())
    }
}

#[test]
fn sliding_windows_hold_each_record_size_over_slide_times() {
    let env = env();
    let input = vec![ev("a", 1, 1), ev("a", 6, 2), ev("b", 7, 4), ev("a", 11, 8)];
    let out = events(&env, input)
        .key_by(|e| e.0.clone())
        .window(SlidingEventTimeWindows::of(
            Duration::from_millis(10),
            Duration::from_millis(5),
        ))
        .process(Describe)
        .execute_and_collect()
        .unwrap();
    assert_eq!(
        sorted(out),
        [
            "a [-5,5) n=1 sum=1",
            "a [0,10) n=2 sum=3",
            "a [10,20) n=1 sum=8",
            "a [5,15) n=2 sum=10",
            "b [0,10) n=1 sum=4",
            "b [5,15) n=1 sum=4",
        ]
    );
}

#[test]
fn session_windows_merge_when_a_record_bridges_the_gap() {
    let env = env();
    let input = vec![
        ev("a", 1, 1),
        ev("a", 3, 1),
        ev("a", 10, 1),
        ev("a", 12, 1),
        ev("b", 2, 1),
        ev("a", 4, 1),
        wm(7),
        // Closes b's session [2,7) but not a's [1,9); then 6 bridges [1,9) and [10,17).
        ev("a", 6, 1),
        ev("b", 30, 1),
        wm(40),
    ];
    let out = events(&env, input)
        .key_by(|e| e.0.clone())
        .window(EventTimeSessionWindows::with_gap(Duration::from_millis(5)))
        .process(Describe)
        .execute_and_collect()
        .unwrap();
    assert_eq!(
        out,
        [
            "b [2,7) n=1 sum=1",
            "a [1,17) n=6 sum=6",
            "b [30,35) n=1 sum=1",
        ]
    );
}

#[test]
fn dynamic_session_gaps_come_from_each_record() {
    let env = env();
    // The value is the gap: 1 at 0 ends at 1, so 2 starts a new session; 10 at 2 spans to 12.
    let input = vec![ev("a", 0, 1), ev("a", 2, 10), ev("a", 11, 1)];
    let out = events(&env, input)
        .key_by(|e| e.0.clone())
        .window(EventTimeSessionWindows::with_dynamic_gap(|e: &Event| {
            Duration::from_millis(e.2 as u64)
        }))
        .process(Describe)
        .execute_and_collect()
        .unwrap();
    assert_eq!(out, ["a [0,1) n=1 sum=1", "a [2,12) n=2 sum=11"]);
}

#[test]
fn count_windows_fire_every_n_records_per_key() {
    let env = env();
    let input = (1..=5)
        .map(|v| ev("a", v, v))
        .chain([ev("b", 1, 100)])
        .collect();
    let out = events(&env, input)
        .key_by(|e| e.0.clone())
        .count_window(2)
        .reduce(sum_values)
        .execute_and_collect()
        .unwrap();
    // The fifth record of a and b's only record never fill a window.
    assert_eq!(out, [ev("a", 1, 3), ev("a", 3, 7)]);
}

#[test]
fn sliding_count_windows_keep_the_last_n_records() {
    let env = env();
    let input = (1..=6).map(|v| ev("a", v, v)).collect();
    let out = events(&env, input)
        .key_by(|e| e.0.clone())
        .count_window_with_slide(3, 2)
        .reduce(sum_values)
        .execute_and_collect()
        .unwrap();
    assert_eq!(out, [ev("a", 1, 3), ev("a", 2, 9), ev("a", 4, 15)]);
}

/// The average of the values: an incremental aggregation with a merge.
#[derive(Clone)]
struct Average;

impl AggregateFunction<Event> for Average {
    type Acc = (i64, i64);
    type Out = f64;
    fn create_accumulator(&self) -> (i64, i64) {
        (0, 0)
    }
    fn add(&self, value: Event, acc: &mut (i64, i64)) {
        acc.0 += value.2;
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(i64, i64)) -> f64 {
        acc.0 as f64 / acc.1 as f64
    }
    fn merge(&self, acc: &mut (i64, i64), other: (i64, i64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
}

/// Labels a pre-aggregated result with its key and window end.
#[derive(Clone)]
struct Label;

impl ProcessWindowFunction<f64, String, String, TimeWindow> for Label {
    fn process(
        &mut self,
        key: &String,
        ctx: &mut WindowContext<'_, String, TimeWindow>,
        elements: Vec<f64>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        for average in elements {
            out.collect(format!("{key}@{}={average}", ctx.window().end()));
        }
        Ok(())
    }
}

#[test]
fn aggregate_functions_merge_across_sessions_and_feed_a_process_function() {
    let env = env();
    let input = vec![ev("a", 1, 2), ev("a", 8, 4), ev("a", 4, 9), ev("b", 1, 5)];
    let out = events(&env, input)
        .key_by(|e| e.0.clone())
        .window(EventTimeSessionWindows::with_gap(Duration::from_millis(4)))
        .aggregate_and_process(Average, Label)
        .execute_and_collect()
        .unwrap();
    assert_eq!(sorted(out), ["a@12=5", "b@5=5"]);
}

#[test]
fn an_evictor_keeps_the_window_records_and_reduces_what_it_leaves() {
    let env = env();
    let input = vec![
        ev("a", 1, 1),
        ev("a", 2, 10),
        ev("a", 5, 100),
        ev("a", 9, 1000),
    ];
    let out = events(&env, input)
        .key_by(|e| e.0.clone())
        .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
        .evictor(TimeEvictor::of(Duration::from_millis(5)))
        .reduce(sum_values)
        .execute_and_collect()
        .unwrap();
    // Newest timestamp 9: records at or before 4 are evicted.
    assert_eq!(out, [ev("a", 5, 1100)]);
}

#[test]
fn a_continuous_trigger_fires_early_then_at_the_window_end() {
    let env = env();
    let input = vec![
        ev("a", 1, 1),
        ev("a", 3, 2),
        wm(5),
        ev("a", 6, 4),
        wm(12),
        ev("a", 14, 8),
        wm(25),
    ];
    let out = events(&env, input)
        .key_by(|e| e.0.clone())
        .window(TumblingEventTimeWindows::of(Duration::from_millis(20)))
        .trigger(ContinuousEventTimeTrigger::of(Duration::from_millis(5)))
        .reduce(sum_values)
        .execute_and_collect()
        .unwrap();
    // Early firings at 5, 10 and 15; the next one is capped at the window's end (19), where
    // the window fires once more.
    assert_eq!(
        out,
        [ev("a", 1, 3), ev("a", 1, 7), ev("a", 1, 15), ev("a", 1, 15)]
    );
}

#[test]
fn window_all_sees_every_key_in_one_window() {
    let env = env();
    let input = vec![ev("a", 1, 1), ev("b", 2, 2), ev("c", 12, 4)];
    let out = events(&env, input)
        .window_all(TumblingEventTimeWindows::of(Duration::from_millis(10)))
        .reduce(sum_values)
        .execute_and_collect()
        .unwrap();
    assert_eq!(out, [ev("a", 1, 3), ev("c", 12, 4)]);
}

#[test]
fn records_without_timestamps_fail_event_time_windows_with_a_clear_error() {
    let env = env();
    let error = env
        .from_collection(vec![ev("a", 1, 1)])
        .key_by(|e| e.0.clone())
        .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
        .reduce(sum_values)
        .execute_and_collect()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("assign_timestamps_and_watermarks"),
        "{error}"
    );
    assert!(error.contains("Window(Reduce)"), "{error}");
}
