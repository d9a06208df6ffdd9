//! Property test: windowed aggregation on random out-of-order input with random watermarks
//! gives exactly what a simple reference model of Flink's semantics gives: every firing of
//! every window (on time and late), in order per key, and the records dropped as too late.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use strom::prelude::*;

mod common;

use common::events::{ev, events, wm, Event, SameAsEventTime};

/// A window's result: `(key, window start, sum, count)`.
type Firing = (String, i64, i64, u64);

/// One step of the input: a record `(key, timestamp, value)` or a watermark.
#[derive(Debug, Clone)]
enum Step {
    Record(u8, i64, i64),
    Watermark(i64),
}

#[derive(Debug, Clone, Copy)]
struct Windows {
    size: i64,
    slide: i64,
    lateness: i64,
}

/// Flink's sliding (or, with `slide == size`, tumbling) event-time windows with the event-time
/// trigger and allowed lateness, written as plainly as possible.
struct Model {
    windows: Windows,
    watermark: i64,
    /// `(key, start)` -> `(sum, count, fired by its timer)`.
    open: BTreeMap<(String, i64), (i64, u64, bool)>,
    firings: Vec<Firing>,
    late: Vec<Event>,
}

impl Model {
    fn new(windows: Windows) -> Self {
        Model {
            windows,
            watermark: i64::MIN,
            open: BTreeMap::new(),
            firings: Vec::new(),
            late: Vec::new(),
        }
    }

    fn record(&mut self, key: &str, timestamp: i64, value: i64) {
        let Windows {
            size,
            slide,
            lateness,
        } = self.windows;
        let mut added = false;
        // Windows from the latest start back, as Flink assigns them.
        let mut start = timestamp - timestamp.rem_euclid(slide);
        while start > timestamp - size {
            let max_timestamp = start + size - 1;
            if max_timestamp + lateness > self.watermark {
                added = true;
                let behind = max_timestamp <= self.watermark;
                let window = self
                    .open
                    .entry((key.to_string(), start))
                    .or_insert((0, 0, behind));
                window.0 += value;
                window.1 += 1;
                if behind {
                    // The trigger fires at once for a window the watermark has passed.
                    let (sum, count) = (window.0, window.1);
                    self.firings.push((key.to_string(), start, sum, count));
                }
            }
            start -= slide;
        }
        if !added && timestamp + lateness <= self.watermark {
            self.late.push(ev(key, timestamp, value));
        }
    }

    fn advance(&mut self, watermark: i64) {
        if watermark <= self.watermark {
            return;
        }
        self.watermark = watermark;
        let Windows { size, lateness, .. } = self.windows;
        // Timers fire in timestamp order: windows by end, then (same end) the model's key order,
        // which the comparison ignores by grouping per key.
        let mut due: Vec<(i64, String, i64)> = self
            .open
            .iter()
            .filter(|(&(_, start), &(_, _, fired))| !fired && start + size - 1 <= watermark)
            .map(|((key, start), _)| (start + size - 1, key.clone(), *start))
            .collect();
        due.sort();
        for (_, key, start) in due {
            let window = self.open.get_mut(&(key.clone(), start)).unwrap();
            window.2 = true;
            self.firings.push((key, start, window.0, window.1));
        }
        self.open
            .retain(|&(_, start), _| start + size - 1 + lateness > watermark);
    }
}

/// Sum and count of a window's values.
#[derive(Clone)]
struct SumCount;

impl AggregateFunction<Event> for SumCount {
    type Acc = (i64, u64);
    type Out = (i64, u64);
    fn create_accumulator(&self) -> (i64, u64) {
        (0, 0)
    }
    fn add(&self, value: Event, acc: &mut (i64, u64)) {
        acc.0 += value.2;
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(i64, u64)) -> (i64, u64) {
        *acc
    }
    fn merge(&self, acc: &mut (i64, u64), other: (i64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
}

/// Adds the key and the window's start.
#[derive(Clone)]
struct WithWindow;

impl ProcessWindowFunction<(i64, u64), Firing, String, TimeWindow> for WithWindow {
    fn process(
        &mut self,
        key: &String,
        ctx: &mut WindowContext<'_, String, TimeWindow>,
        results: Vec<(i64, u64)>,
        out: &mut Collector<'_, Firing>,
    ) -> Result<(), BoxError> {
        for (sum, count) in results {
            out.collect((key.clone(), ctx.window().start(), sum, count));
        }
        Ok(())
    }
}

fn key_name(key: u8) -> String {
    ["a", "b", "c"][usize::from(key)].to_string()
}

/// The firings of each key, in order.
fn per_key(firings: Vec<Firing>) -> BTreeMap<String, Vec<Firing>> {
    let mut by_key: BTreeMap<String, Vec<Firing>> = BTreeMap::new();
    for firing in firings {
        by_key.entry(firing.0.clone()).or_default().push(firing);
    }
    by_key
}

/// Which window operator runs the job.
#[derive(Debug, Clone, Copy)]
enum Operator {
    /// Windows kept per window (the default trigger).
    Aligned,
    /// Windows kept per key with their own timers (any other trigger).
    General,
}

fn run_strom(steps: &[Step], windows: Windows, operator: Operator) -> (Vec<Firing>, Vec<Event>) {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    let input: Vec<Event> = steps
        .iter()
        .map(|step| match *step {
            Step::Record(key, timestamp, value) => ev(&key_name(key), timestamp, value),
            Step::Watermark(timestamp) => wm(timestamp),
        })
        .collect();
    let late = OutputTag::<Event>::new("late");
    let windowed = events(&env, input)
        .key_by(|e| e.0.clone())
        .window(SlidingEventTimeWindows::of(
            Duration::from_millis(windows.size as u64),
            Duration::from_millis(windows.slide as u64),
        ))
        .allowed_lateness(Duration::from_millis(windows.lateness as u64))
        .side_output_late_data(&late);
    let results = match operator {
        Operator::Aligned => windowed.aggregate_and_process(SumCount, WithWindow),
        Operator::General => windowed
            .trigger(SameAsEventTime)
            .aggregate_and_process(SumCount, WithWindow),
    };
    let late_records = results.get_side_output(&late).collect_async();
    let firings = results.collect_async();
    env.execute("window property").unwrap();
    (firings.take(), late_records.take())
}

fn run_model(steps: &[Step], windows: Windows) -> (Vec<Firing>, Vec<Event>) {
    let mut model = Model::new(windows);
    for step in steps {
        match *step {
            Step::Record(key, timestamp, value) => model.record(&key_name(key), timestamp, value),
            Step::Watermark(timestamp) => model.advance(timestamp),
        }
    }
    model.advance(i64::MAX);
    (model.firings, model.late)
}

/// Random input: records with timestamps anywhere in 0..150 (so mostly out of order) and
/// watermarks that advance by random steps.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        3 => (0u8..3, 0i64..150, 1i64..100).prop_map(|(k, t, v)| (Some((k, t, v)), 0)),
        1 => (0i64..30).prop_map(|advance| (None, advance)),
    ];
    prop::collection::vec(step, 0..120).prop_map(|raw| {
        let mut watermark = -1;
        raw.into_iter()
            .map(|(record, advance)| match record {
                Some((k, t, v)) => Step::Record(k, t, v),
                None => {
                    watermark += advance;
                    Step::Watermark(watermark)
                }
            })
            .collect()
    })
}

fn windows() -> impl Strategy<Value = Windows> {
    let shapes = prop::sample::select(vec![(10, 10), (5, 5), (20, 20), (10, 5), (20, 5), (15, 5)]);
    (shapes, prop::sample::select(vec![0i64, 3, 10, 25])).prop_map(|((size, slide), lateness)| {
        Windows {
            size,
            slide,
            lateness,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn windowed_aggregation_matches_the_reference_model(
        steps in steps(),
        windows in windows(),
        operator in prop::sample::select(vec![Operator::Aligned, Operator::General]),
    ) {
        let (firings, late) = run_strom(&steps, windows, operator);
        let (expected_firings, expected_late) = run_model(&steps, windows);
        prop_assert_eq!(per_key(firings), per_key(expected_firings));
        prop_assert_eq!(late, expected_late);
    }
}
