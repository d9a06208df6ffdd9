//! Keyed state through descriptors, end to end: `ValueState`, `ListState`, `MapState` and
//! `ReducingState` in a `KeyedProcessFunction`, per-window and global state in a
//! `ProcessWindowFunction`, and the error for a state name used with two types. The window
//! test's expected output was checked against Apache Flink 2.3 running the same program
//! (`bench/flink-semantics/WindowSemantics.java`, "window and global state").

use std::time::Duration;

use strom::prelude::*;

mod common;

use common::events::{ev, events, sorted, wm, Event, SameAsEventTime};

const COUNT: ValueStateDescriptor<u64> = ValueStateDescriptor::new("count");
const RECENT: ListStateDescriptor<i64> = ListStateDescriptor::new("recent");
const LARGEST_BY_PARITY: MapStateDescriptor<bool, i64> = MapStateDescriptor::new("largest");

fn total() -> ReducingStateDescriptor<i64> {
    ReducingStateDescriptor::new("total", |a, b| a + b)
}

/// Per key: how many records, the last two values, the largest even and odd value and the sum.
#[derive(Clone)]
struct Summarize;

impl KeyedProcessFunction<String, Event, String> for Summarize {
    type State = ();

    fn process_element(
        &mut self,
        event: Event,
        ctx: &mut KeyedContext<'_, String, ()>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let mut count = ctx.keyed_state().get_state(&COUNT)?;
        let n = count.value().copied().unwrap_or(0) + 1;
        count.update(n)?;

        let mut recent = ctx.keyed_state().get_list_state(&RECENT)?;
        let mut last_two: Vec<i64> = recent.get().iter().rev().take(1).copied().collect();
        last_two.push(event.2);
        recent.update(last_two.clone())?;

        let mut largest = ctx.keyed_state().get_map_state(&LARGEST_BY_PARITY)?;
        let even = event.2 % 2 == 0;
        if largest.get(&even).is_none_or(|&v| event.2 > v) {
            largest.put(even, event.2)?;
        }
        let (even_max, odd_max) = (largest.get(&true).copied(), largest.get(&false).copied());

        let mut sum = ctx.keyed_state().get_reducing_state(&total())?;
        sum.add(event.2)?;
        let sum = *sum.get().unwrap();

        out.collect(format!(
            "{} n={n} last={last_two:?} even={even_max:?} odd={odd_max:?} sum={sum}",
            event.0
        ));
        Ok(())
    }
}

#[test]
fn keyed_process_functions_keep_named_state_per_key() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    let input = vec![
        ev("a", 1, 3),
        ev("b", 2, 10),
        ev("a", 3, 4),
        ev("a", 4, 1),
        ev("b", 5, 7),
    ];
    let lines = env
        .from_collection(input)
        .key_by(|e| e.0.clone())
        .process(Summarize)
        .execute_and_collect()
        .unwrap();
    assert_eq!(
        sorted(lines),
        [
            "a n=1 last=[3] even=None odd=Some(3) sum=3",
            "a n=2 last=[3, 4] even=Some(4) odd=Some(3) sum=7",
            "a n=3 last=[4, 1] even=Some(4) odd=Some(3) sum=8",
            "b n=1 last=[10] even=Some(10) odd=None sum=10",
            "b n=2 last=[10, 7] even=Some(10) odd=Some(7) sum=17",
        ]
    );
}

/// Uses the name "count" for a number and then for a list.
#[derive(Clone)]
struct Confused;

impl KeyedProcessFunction<String, Event, String> for Confused {
    type State = ();

    fn process_element(
        &mut self,
        _event: Event,
        ctx: &mut KeyedContext<'_, String, ()>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        ctx.keyed_state().get_state(&COUNT)?.update(1)?;
        const AS_LIST: ListStateDescriptor<String> = ListStateDescriptor::new("count");
        ctx.keyed_state()
            .get_list_state(&AS_LIST)?
            .add("x".into())?;
        Ok(())
    }
}

#[test]
fn a_state_name_used_with_two_types_fails_the_job_naming_the_state() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.from_collection(vec![ev("a", 1, 1)])
        .key_by(|e| e.0.clone())
        .process(Confused)
        .name("Confused")
        .sink_to(DiscardingSink::new());
    let error = env.execute("confused").unwrap_err().to_string();
    assert!(error.contains("'Confused'"), "{error}");
    assert!(
        error.contains("state 'count' is a ValueState<u64>")
            && error.contains("not a ListState<alloc::vec::Vec<alloc::string::String>>"),
        "{error}"
    );
}

const FIRINGS: ValueStateDescriptor<u64> = ValueStateDescriptor::new("firings");
const KEY_FIRINGS: ValueStateDescriptor<u64> = ValueStateDescriptor::new("key-firings");
const CLEARED: ValueStateDescriptor<u64> = ValueStateDescriptor::new("cleared");

/// Counts firings per window (window state, for late firings) and per key (global state), and
/// counts windows cleared per key.
#[derive(Clone)]
struct CountFirings;

fn bump(mut state: ValueState<'_, String, impl Eq + Clone, u64>) -> Result<u64, BoxError> {
    let n = state.value().copied().unwrap_or(0) + 1;
    state.update(n)?;
    Ok(n)
}

impl ProcessWindowFunction<Event, String, String, TimeWindow> for CountFirings {
    fn process(
        &mut self,
        key: &String,
        ctx: &mut WindowContext<'_, String, TimeWindow>,
        elements: Vec<Event>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let firing = bump(ctx.window_state()?.get_state(&FIRINGS)?)?;
        let key_firings = bump(ctx.global_state().get_state(&KEY_FIRINGS)?)?;
        let cleared = ctx
            .global_state()
            .get_state(&CLEARED)?
            .value()
            .copied()
            .unwrap_or(0);
        let sum: i64 = elements.iter().map(|e| e.2).sum();
        let window = ctx.window();
        out.collect(format!(
            "{key} [{},{}) sum={sum} firing={firing} key_firings={key_firings} cleared={cleared}",
            window.start(),
            window.end()
        ));
        Ok(())
    }

    fn clear(&mut self, ctx: &mut WindowContext<'_, String, TimeWindow>) -> Result<(), BoxError> {
        ctx.window_state()?.get_state(&FIRINGS)?.clear();
        bump(ctx.global_state().get_state(&CLEARED)?)?;
        Ok(())
    }
}

fn count_firings(
    env: &StreamExecutionEnvironment,
    windowed: impl FnOnce(
        WindowedStream<Event, String, TumblingEventTimeWindows, EventTimeTrigger>,
    ) -> DataStream<String>,
) -> CollectedRecords<String> {
    let input = vec![
        ev("a", 1, 1),
        ev("b", 2, 5),
        ev("a", 3, 2),
        wm(10),
        ev("a", 5, 4), // late, within the allowed lateness: fires the window again
        ev("a", 12, 8),
        wm(15), // [0, 10) is cleared for both keys
        wm(25),
    ];
    windowed(
        events(env, input)
            .key_by(|e| e.0.clone())
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .allowed_lateness(Duration::from_millis(5)),
    )
    .collect_async()
}

const EXPECTED_FIRINGS: [&str; 4] = [
    "a [0,10) sum=3 firing=1 key_firings=1 cleared=0",
    "b [0,10) sum=5 firing=1 key_firings=1 cleared=0",
    "a [0,10) sum=7 firing=2 key_firings=2 cleared=0",
    "a [10,20) sum=8 firing=1 key_firings=3 cleared=1",
];

#[test]
fn process_window_functions_keep_state_per_window_and_per_key() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    let results = count_firings(&env, |windowed| windowed.process(CountFirings));
    env.execute("window state").unwrap();
    assert_eq!(results.take(), EXPECTED_FIRINGS);
}

// The same function behind a trigger of another type runs in the general window operator
// (per-key windows and timers), which must keep the same state.
#[test]
fn the_general_window_operator_keeps_the_same_window_and_global_state() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    let results = count_firings(&env, |windowed| {
        windowed.trigger(SameAsEventTime).process(CountFirings)
    });
    env.execute("window state, general operator").unwrap();
    assert_eq!(results.take(), EXPECTED_FIRINGS);
}

/// Asks for per-window state in session windows.
#[derive(Clone)]
struct SessionState;

impl ProcessWindowFunction<Event, String, String, TimeWindow> for SessionState {
    fn process(
        &mut self,
        _key: &String,
        ctx: &mut WindowContext<'_, String, TimeWindow>,
        _elements: Vec<Event>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        bump(ctx.window_state()?.get_state(&FIRINGS)?)?;
        Ok(())
    }
}

#[test]
fn merging_windows_refuse_per_window_state_as_flink_does() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    events(&env, vec![ev("a", 1, 1), ev("a", 3, 1)])
        .key_by(|e| e.0.clone())
        .window(EventTimeSessionWindows::with_gap(Duration::from_millis(5)))
        .process(SessionState)
        .sink_to(DiscardingSink::new());
    let error = env.execute("sessions").unwrap_err().to_string();
    assert!(
        error.contains("per-window state is not allowed with merging windows"),
        "{error}"
    );
}
