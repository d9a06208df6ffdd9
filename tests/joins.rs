//! Two-input streams end to end: `connect` with co-functions, the interval join and window
//! joins and co-groups. Each input is its own source with punctuated watermarks and no record
//! behind its watermark, so results do not depend on how the two inputs interleave; outputs
//! are compared sorted where Flink's order depends on that interleaving too. The join and
//! co-group outputs were checked against Apache Flink 2.3 running the same programs
//! (`bench/flink-semantics/JoinSemantics.java`).

use std::time::Duration;

use strom::prelude::*;

mod common;

use common::events::{ev, events, sorted, wm, Event};

fn environment(parallelism: usize) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(parallelism);
    env
}

fn left_input() -> Vec<Event> {
    vec![
        ev("a", 1, 1),
        ev("b", 2, 2),
        ev("a", 6, 3),
        wm(5),
        ev("a", 11, 4),
        ev("c", 13, 5),
        wm(14),
        ev("a", 25, 6),
        wm(30),
    ]
}

fn right_input() -> Vec<Event> {
    vec![
        ev("a", 0, 10),
        ev("a", 3, 20),
        ev("b", 8, 30),
        wm(9),
        ev("a", 12, 40),
        ev("c", 19, 50),
        ev("a", 21, 60),
        wm(30),
    ]
}

#[derive(Clone)]
struct Describe;

impl CoMapFunction<Event, i64, String> for Describe {
    fn map1(&mut self, value: Event) -> String {
        format!("event {}@{}", value.0, value.1)
    }
    fn map2(&mut self, value: i64) -> String {
        format!("number {value}")
    }
}

#[derive(Clone)]
struct SplitBoth;

impl CoFlatMapFunction<String, String, String> for SplitBoth {
    fn flat_map1(&mut self, value: String, out: &mut Collector<'_, String>) {
        value.split(' ').for_each(|w| out.collect(w.to_uppercase()));
    }
    fn flat_map2(&mut self, value: String, out: &mut Collector<'_, String>) {
        value.split(',').for_each(|w| out.collect(w.to_string()));
    }
}

#[test]
fn co_map_and_co_flat_map_see_both_inputs_with_their_own_types() {
    let env = environment(2);
    let mapped = events(&env, left_input())
        .connect(&env.from_collection(vec![7i64, 8]))
        .map(Describe)
        .collect_async();
    let flat = env
        .from_collection(vec!["to be".to_string()])
        .connect(&env.from_collection(vec!["or,not".to_string()]))
        .flat_map(SplitBoth)
        .collect_async();
    env.execute("co-map").unwrap();
    assert_eq!(
        sorted(mapped.take()),
        [
            "event a@1",
            "event a@11",
            "event a@25",
            "event a@6",
            "event b@2",
            "event c@13",
            "number 7",
            "number 8"
        ]
    );
    assert_eq!(sorted(flat.take()), ["BE", "TO", "not", "or"]);
}

/// Matches orders with payments by id; an order or payment still alone 10 ms after its time
/// is reported by an event-time timer. State and timers are the key's, shared by both inputs.
#[derive(Clone)]
struct MatchPayments;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Pending {
    order: Option<Event>,
    payment: Option<Event>,
}

impl KeyedCoProcessFunction<String, Event, Event, String> for MatchPayments {
    type State = Pending;

    fn process_element1(
        &mut self,
        order: Event,
        ctx: &mut KeyedContext<'_, String, Pending>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        if let Some(payment) = ctx.state().payment.take() {
            out.collect(format!("{} paid {}", order.0, payment.2));
            ctx.clear_state();
        } else {
            let deadline = order.1 + 10;
            ctx.state().order = Some(order);
            ctx.timer_service().register_event_time_timer(deadline);
        }
        Ok(())
    }

    fn process_element2(
        &mut self,
        payment: Event,
        ctx: &mut KeyedContext<'_, String, Pending>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        if let Some(order) = ctx.state().order.take() {
            out.collect(format!("{} paid {}", order.0, payment.2));
            ctx.clear_state();
        } else {
            let deadline = payment.1 + 10;
            ctx.state().payment = Some(payment);
            ctx.timer_service().register_event_time_timer(deadline);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, String, Pending>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let key = ctx.get_current_key().clone();
        let pending = ctx.state();
        if pending
            .order
            .as_ref()
            .is_some_and(|o| o.1 + 10 == timestamp)
        {
            out.collect(format!("{key} unpaid at {timestamp}"));
        }
        if pending
            .payment
            .as_ref()
            .is_some_and(|p| p.1 + 10 == timestamp)
        {
            out.collect(format!("{key} payment without order at {timestamp}"));
        }
        ctx.clear_state();
        Ok(())
    }
}

#[test]
fn keyed_co_process_shares_state_and_timers_between_both_inputs() {
    let env = environment(2);
    let orders = events(
        &env,
        vec![ev("o1", 1, 0), ev("o2", 2, 0), ev("o3", 4, 0), wm(30)],
    );
    let payments = events(
        &env,
        vec![ev("o2", 3, 20), ev("o9", 5, 90), ev("o1", 8, 10), wm(30)],
    );
    let results = orders
        .key_by(|o| o.0.clone())
        .connect(&payments.key_by(|p| p.0.clone()))
        .process(MatchPayments)
        .collect_async();
    env.execute("match payments").unwrap();
    assert_eq!(
        sorted(results.take()),
        [
            "o1 paid 10",
            "o2 paid 20",
            "o3 unpaid at 14",
            "o9 payment without order at 15"
        ]
    );
}

#[test]
fn connected_streams_key_by_routes_both_inputs_by_key() {
    let env = environment(3);
    let counts = events(&env, left_input())
        .connect(&events(&env, right_input()))
        .key_by(|e| e.0.clone(), |e| e.0.clone())
        .process(CountPerKey)
        .collect_async();
    env.execute("count per key").unwrap();
    assert_eq!(
        sorted(counts.take()),
        ["a left=4 right=4", "b left=1 right=1", "c left=1 right=1"]
    );
}

/// Counts each key's records of both inputs and reports them at the end of time.
#[derive(Clone)]
struct CountPerKey;

impl KeyedCoProcessFunction<String, Event, Event, String> for CountPerKey {
    type State = (u32, u32);

    fn process_element1(
        &mut self,
        _value: Event,
        ctx: &mut KeyedContext<'_, String, (u32, u32)>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        ctx.state().0 += 1;
        ctx.timer_service().register_event_time_timer(100);
        Ok(())
    }

    fn process_element2(
        &mut self,
        _value: Event,
        ctx: &mut KeyedContext<'_, String, (u32, u32)>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        ctx.state().1 += 1;
        ctx.timer_service().register_event_time_timer(100);
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, String, (u32, u32)>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let key = ctx.get_current_key().clone();
        let (left, right) = *ctx.state();
        out.collect(format!("{key} left={left} right={right}"));
        Ok(())
    }
}

/// Names each pair `key:left_value+right_value@timestamp`.
#[derive(Clone)]
struct NamePair;

impl ProcessJoinFunction<Event, Event, String> for NamePair {
    fn process_element(
        &mut self,
        left: Event,
        right: Event,
        ctx: &mut JoinContext<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        out.collect(format!(
            "{}:{}+{}@{}",
            left.0,
            left.2,
            right.2,
            ctx.timestamp()
        ));
        Ok(())
    }
}

#[test]
fn interval_join_pairs_records_whose_timestamps_are_within_the_bounds() {
    let env = environment(2);
    let joined = events(&env, left_input())
        .key_by(|e| e.0.clone())
        .interval_join(&events(&env, right_input()).key_by(|e| e.0.clone()))
        .between(-2, 6)
        .process(NamePair);
    // The result's timestamp is the larger of the pair's: a window after the join sees it.
    let timestamps = joined
        .window_all(TumblingEventTimeWindows::of(Duration::from_millis(10)))
        .process(CountAll)
        .collect_async();
    let pairs = joined.collect_async();
    env.execute("interval join").unwrap();
    assert_eq!(
        sorted(pairs.take()),
        [
            "a:1+10@1",
            "a:1+20@3",
            "a:3+40@12",
            "a:4+40@12",
            "b:2+30@8",
            "c:5+50@19"
        ]
    );
    assert_eq!(timestamps.take(), ["[0,10) 3", "[10,20) 3"]);
}

#[derive(Clone)]
struct CountAll;

impl ProcessWindowFunction<String, String, (), TimeWindow> for CountAll {
    fn process(
        &mut self,
        _key: &(),
        ctx: &mut WindowContext<'_, (), TimeWindow>,
        elements: Vec<String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let window = ctx.window();
        out.collect(format!(
            "[{},{}) {}",
            window.start(),
            window.end(),
            elements.len()
        ));
        Ok(())
    }
}

#[test]
fn interval_join_with_exclusive_bounds_and_an_error_for_reversed_bounds() {
    let env = environment(1);
    let pairs = events(&env, left_input())
        .key_by(|e| e.0.clone())
        .interval_join(&events(&env, right_input()).key_by(|e| e.0.clone()))
        .between(-1, 1)
        .lower_bound_exclusive()
        .upper_bound_exclusive()
        .process(NamePair)
        .collect_async();
    env.execute("exclusive").unwrap();
    assert!(
        pairs.take().is_empty(),
        "only equal timestamps join, and none are equal"
    );

    let reversed = environment(1);
    events(&reversed, left_input())
        .key_by(|e| e.0.clone())
        .interval_join(&events(&reversed, right_input()).key_by(|e| e.0.clone()))
        .between(5, 1)
        .process(NamePair)
        .sink_to(DiscardingSink::new());
    let error = reversed.execute("reversed").unwrap_err().to_string();
    assert!(
        error.contains("lower bound (5 ms) is above the upper bound (1 ms)"),
        "{error}"
    );
}

fn window_join(env: &StreamExecutionEnvironment) -> CollectedRecords<String> {
    events(env, left_input())
        .join(&events(env, right_input()))
        .where_(|e| e.0.clone())
        .equal_to(|e| e.0.clone())
        .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
        .apply(|l: Event, r: Event| format!("{}:{}+{}", l.0, l.2, r.2))
        .collect_async()
}

fn window_co_group(env: &StreamExecutionEnvironment) -> CollectedRecords<String> {
    events(env, left_input())
        .co_group(&events(env, right_input()))
        .where_(|e| e.0.clone())
        .equal_to(|e| e.0.clone())
        .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
        .apply(
            |l: Vec<Event>, r: Vec<Event>, out: &mut Collector<String>| {
                let key = l
                    .first()
                    .or(r.first())
                    .map(|e| e.0.clone())
                    .unwrap_or_default();
                let values =
                    |side: &[Event]| side.iter().map(|e| e.2.to_string()).collect::<Vec<_>>();
                out.collect(format!(
                    "{key} [{}] [{}]",
                    values(&l).join(","),
                    values(&r).join(",")
                ));
            },
        )
        .collect_async()
}

#[test]
fn window_join_pairs_records_of_equal_keys_in_the_same_window() {
    let env = environment(2);
    let joined = window_join(&env);
    env.execute("window join").unwrap();
    assert_eq!(
        sorted(joined.take()),
        ["a:1+10", "a:1+20", "a:3+10", "a:3+20", "a:4+40", "a:6+60", "b:2+30", "c:5+50"]
    );
}

#[test]
fn window_co_group_hands_the_function_both_sides_of_each_key_and_window() {
    let env = environment(2);
    let grouped = window_co_group(&env);
    env.execute("co-group").unwrap();
    assert_eq!(
        sorted(grouped.take()),
        [
            "a [1,3] [10,20]",
            "a [4] [40]",
            "a [6] [60]",
            "b [2] [30]",
            "c [5] [50]"
        ]
    );
}

#[test]
fn window_join_and_co_group_give_the_same_results_in_batch_mode() {
    let streaming = environment(2);
    let (join, group) = (window_join(&streaming), window_co_group(&streaming));
    streaming.execute("streaming").unwrap();
    let batch = environment(2);
    batch.set_runtime_mode(RuntimeExecutionMode::Batch);
    let (batch_join, batch_group) = (window_join(&batch), window_co_group(&batch));
    batch.execute("batch").unwrap();
    assert_eq!(sorted(batch_join.take()), sorted(join.take()));
    assert_eq!(sorted(batch_group.take()), sorted(group.take()));
}
