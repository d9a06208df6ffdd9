//! The interval join of two keyed streams (Flink's `IntervalJoin`): a record `a` of the first
//! stream joins every record `b` of the second with the same key and
//! `a.timestamp + lower <= b.timestamp <= a.timestamp + upper`.
//!
//! Each key buffers both sides' records by timestamp in its state; a new record is added to
//! its side's buffer and joined with the range of the other side's buffer its bounds allow.
//! A record is dropped from its buffer by an event-time timer once the watermark guarantees no
//! record of the other side can join it any more, so state stays bounded by the interval and
//! the watermark's lag. Records behind the watermark are late: they join nothing and go to a
//! side output when one is set. A result carries the larger of its two records' timestamps.

use std::collections::BTreeMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use strom_core::{BoxError, StreamData, StreamRecord, Timestamp};
use strom_runtime::operator::SideOutputs;

use crate::connected::{Either, KeyedConnectedStreams};
use crate::datastream::DataStream;
use crate::functions::{Collector, OutputTag, RuntimeContext};
use crate::keyed_process::{KeyedContext, KeyedProcessFunction};
use crate::keyed_stream::KeyedStream;

/// Processes one joined pair (Flink's `ProcessJoinFunction`).
pub trait ProcessJoinFunction<IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), BoxError> {
        Ok(())
    }

    /// Processes a record of the first stream and one of the second that joins it.
    fn process_element(
        &mut self,
        left: IN1,
        right: IN2,
        ctx: &mut JoinContext<'_>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;
}

/// What a [`ProcessJoinFunction`] sees of the pair at hand.
pub struct JoinContext<'a> {
    left_timestamp: Timestamp,
    right_timestamp: Timestamp,
    side: &'a mut SideOutputs,
}

impl JoinContext<'_> {
    /// The first stream's record's timestamp.
    pub fn left_timestamp(&self) -> Timestamp {
        self.left_timestamp
    }

    /// The second stream's record's timestamp.
    pub fn right_timestamp(&self) -> Timestamp {
        self.right_timestamp
    }

    /// The result's timestamp: the larger of the two.
    pub fn timestamp(&self) -> Timestamp {
        self.left_timestamp.max(self.right_timestamp)
    }

    /// Emits `value` to the side output `tag`, with the result's timestamp.
    pub fn output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        let timestamp = self.timestamp();
        self.side
            .collect(tag.id(), StreamRecord::with_timestamp(value, timestamp));
    }
}

impl<A: StreamData, K: StreamData + Hash + Eq> KeyedStream<A, K> {
    /// Joins this stream with `other` by key and an interval of time; set the interval with
    /// `between`.
    pub fn interval_join<B: StreamData>(&self, other: &KeyedStream<B, K>) -> IntervalJoin<A, B, K> {
        IntervalJoin {
            streams: self.connect(other),
        }
    }
}

/// Two keyed streams to be joined by an interval (Flink's `KeyedStream.IntervalJoin`).
pub struct IntervalJoin<A, B, K> {
    streams: KeyedConnectedStreams<A, B, K>,
}

impl<A: StreamData, B: StreamData, K: StreamData + Hash + Eq> IntervalJoin<A, B, K> {
    /// Joins a record `a` of the first stream with the records `b` of the second with
    /// `a.timestamp + lower <= b.timestamp <= a.timestamp + upper`; the bounds are in
    /// milliseconds and may be negative. `lower` must not be above `upper`.
    pub fn between(self, lower: Timestamp, upper: Timestamp) -> IntervalJoined<A, B, K> {
        IntervalJoined {
            streams: self.streams,
            lower,
            upper,
            lower_exclusive: false,
            upper_exclusive: false,
            left_late_tag: None,
            right_late_tag: None,
        }
    }
}

/// An interval join with its bounds, ready for its function (Flink's `IntervalJoined`).
pub struct IntervalJoined<A, B, K> {
    streams: KeyedConnectedStreams<A, B, K>,
    lower: Timestamp,
    upper: Timestamp,
    lower_exclusive: bool,
    upper_exclusive: bool,
    left_late_tag: Option<OutputTag<A>>,
    right_late_tag: Option<OutputTag<B>>,
}

impl<A: StreamData, B: StreamData, K: StreamData + Hash + Eq> IntervalJoined<A, B, K> {
    /// Excludes the lower bound itself from the interval.
    pub fn lower_bound_exclusive(mut self) -> Self {
        self.lower_exclusive = true;
        self
    }

    /// Excludes the upper bound itself from the interval.
    pub fn upper_bound_exclusive(mut self) -> Self {
        self.upper_exclusive = true;
        self
    }

    /// Sends first-stream records that arrive behind the watermark to the side output `tag`.
    pub fn side_output_left_late_data(mut self, tag: &OutputTag<A>) -> Self {
        self.left_late_tag = Some(tag.clone());
        self
    }

    /// Sends second-stream records that arrive behind the watermark to the side output `tag`.
    pub fn side_output_right_late_data(mut self, tag: &OutputTag<B>) -> Self {
        self.right_late_tag = Some(tag.clone());
        self
    }

    /// The bounds with exclusive ones moved in by a millisecond.
    fn inclusive_bounds(&self) -> (Timestamp, Timestamp) {
        (
            self.lower
                .saturating_add(Timestamp::from(self.lower_exclusive)),
            self.upper
                .saturating_sub(Timestamp::from(self.upper_exclusive)),
        )
    }

    /// Runs `function` on every joined pair.
    pub fn process<O: StreamData, P: ProcessJoinFunction<A, B, O>>(
        self,
        function: P,
    ) -> DataStream<O> {
        let (lower, upper) = self.inclusive_bounds();
        let keyed = self.streams.tagged();
        if lower > upper {
            keyed.keyed_input().env.borrow_mut().error(&format!(
                "interval_join(): the lower bound ({lower} ms) is above the upper bound \
                 ({upper} ms), exclusive bounds applied"
            ));
        }
        keyed
            .process(IntervalJoinFunction {
                function,
                lower,
                upper,
                left_late_tag: self.left_late_tag,
                right_late_tag: self.right_late_tag,
            })
            .name("IntervalJoin")
    }
}

/// The buffered records of one key, by timestamp.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "A: Serialize, B: Serialize",
    deserialize = "A: Deserialize<'de>, B: Deserialize<'de>"
))]
pub struct JoinBuffers<A, B> {
    left: BTreeMap<Timestamp, Vec<A>>,
    right: BTreeMap<Timestamp, Vec<B>>,
}

impl<A, B> Default for JoinBuffers<A, B> {
    fn default() -> Self {
        JoinBuffers {
            left: BTreeMap::new(),
            right: BTreeMap::new(),
        }
    }
}

/// The interval join as a keyed process function over both streams' tagged records.
#[derive(Clone)]
struct IntervalJoinFunction<A, B, P> {
    function: P,
    /// Inclusive bounds, exclusive ones already applied.
    lower: Timestamp,
    upper: Timestamp,
    left_late_tag: Option<OutputTag<A>>,
    right_late_tag: Option<OutputTag<B>>,
}

impl<A, B, P> IntervalJoinFunction<A, B, P> {
    /// Calls the function on one pair `(left, left_timestamp, right, right_timestamp)`.
    fn emit<O>(
        &mut self,
        (left, left_timestamp, right, right_timestamp): (A, Timestamp, B, Timestamp),
        side: &mut SideOutputs,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError>
    where
        P: ProcessJoinFunction<A, B, O>,
    {
        let mut ctx = JoinContext {
            left_timestamp,
            right_timestamp,
            side,
        };
        out.set_timestamp(Some(ctx.timestamp()));
        self.function.process_element(left, right, &mut ctx, out)
    }
}

/// Sends a late record to its side's late-data output, if it has one.
fn send_late<K: Eq + Clone, S: Default, X: 'static>(
    ctx: &mut KeyedContext<'_, K, S>,
    tag: &Option<OutputTag<X>>,
    value: X,
) {
    if let Some(tag) = tag {
        ctx.output(tag, value);
    }
}

/// When the record of one side at `timestamp` can be dropped, given the bounds at which the
/// other side's records join it (relative to `timestamp`): once the watermark has passed the
/// latest other-side timestamp that could still join it.
fn cleanup_time(timestamp: Timestamp, relative_upper: Timestamp) -> Timestamp {
    timestamp.saturating_add(relative_upper.max(0))
}

impl<K, A, B, O, P> KeyedProcessFunction<K, Either<A, B>, O> for IntervalJoinFunction<A, B, P>
where
    K: Eq + Clone,
    A: StreamData,
    B: StreamData,
    P: ProcessJoinFunction<A, B, O>,
{
    type State = JoinBuffers<A, B>;

    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), BoxError> {
        self.function.open(ctx)
    }

    fn process_element(
        &mut self,
        value: Either<A, B>,
        ctx: &mut KeyedContext<'_, K, JoinBuffers<A, B>>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        let timestamp = ctx.timestamp().ok_or(
            "interval join: a record has no timestamp; both inputs need event timestamps \
             (assign_timestamps_and_watermarks or a source with a watermark strategy)",
        )?;
        let watermark = ctx.timer_service().current_watermark();
        let late = watermark != Timestamp::MIN && timestamp < watermark;
        let (lower, upper) = (self.lower, self.upper);
        let cleanup = match value {
            Either::Left(left) => {
                if late {
                    send_late(ctx, &self.left_late_tag, left);
                    return Ok(());
                }
                let (buffers, side) = ctx.state_and_side_outputs();
                let range = timestamp.saturating_add(lower)..=timestamp.saturating_add(upper);
                for (&right_timestamp, rights) in buffers.right.range(range) {
                    for right in rights {
                        let pair = (left.clone(), timestamp, right.clone(), right_timestamp);
                        self.emit(pair, side, out)?;
                    }
                }
                buffers.left.entry(timestamp).or_default().push(left);
                cleanup_time(timestamp, upper)
            }
            Either::Right(right) => {
                if late {
                    send_late(ctx, &self.right_late_tag, right);
                    return Ok(());
                }
                let (buffers, side) = ctx.state_and_side_outputs();
                let range = timestamp.saturating_sub(upper)..=timestamp.saturating_sub(lower);
                for (&left_timestamp, lefts) in buffers.left.range(range) {
                    for left in lefts {
                        let pair = (left.clone(), left_timestamp, right.clone(), timestamp);
                        self.emit(pair, side, out)?;
                    }
                }
                buffers.right.entry(timestamp).or_default().push(right);
                cleanup_time(timestamp, lower.saturating_neg())
            }
        };
        ctx.timer_service().register_event_time_timer(cleanup);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, K, JoinBuffers<A, B>>,
        _out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        // Timers are per key and time, so one timer may stand for records of both sides; each
        // side's records whose cleanup time this is are found from it.
        let buffers = ctx.state();
        let left_timestamp = timestamp.saturating_sub(self.upper.max(0));
        let right_timestamp = timestamp.saturating_add(self.lower.min(0));
        buffers.left.remove(&left_timestamp);
        buffers.right.remove(&right_timestamp);
        if buffers.left.is_empty() && buffers.right.is_empty() {
            ctx.clear_state();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_core::key_group::key_hash;
    use strom_runtime::exchange::KeyedRecord;
    use strom_runtime::operator::ExecutionMode;
    use strom_runtime::testing::{test_context, OperatorHarness};

    use crate::keyed_process::KeyedProcessOperator;

    type Named = (String, Timestamp);
    type Tagged = KeyedRecord<String, Either<Named, Named>>;

    /// Names each pair `left:right@timestamp`.
    #[derive(Clone)]
    struct NamePair;

    impl ProcessJoinFunction<Named, Named, String> for NamePair {
        fn process_element(
            &mut self,
            left: Named,
            right: Named,
            ctx: &mut JoinContext<'_>,
            out: &mut Collector<'_, String>,
        ) -> Result<(), BoxError> {
            out.collect(format!("{}:{}@{}", left.0, right.0, ctx.timestamp()));
            Ok(())
        }
    }

    enum Step {
        Left(&'static str, Timestamp),
        Right(&'static str, Timestamp),
        Watermark(Timestamp),
    }

    fn tagged(value: Either<Named, Named>) -> Tagged {
        let key = "k".to_string();
        KeyedRecord {
            hash: key_hash(&key),
            key,
            value,
        }
    }

    /// Runs the join of `lower..=upper` over `steps`; returns the output after each step and
    /// the late left records.
    fn run(lower: Timestamp, upper: Timestamp, steps: &[Step]) -> (Vec<Vec<String>>, Vec<Named>) {
        let ctx = test_context(ExecutionMode::Streaming);
        let late = OutputTag::<Named>::new("late");
        let function = IntervalJoinFunction {
            function: NamePair,
            lower,
            upper,
            left_late_tag: Some(late.clone()),
            right_late_tag: None,
        };
        let operator = KeyedProcessOperator::new(function, &ctx);
        let (mut harness, late_records) =
            OperatorHarness::<Tagged, String>::with_side_output(operator, ctx, late.id()).unwrap();
        let mut outputs = Vec::new();
        for step in steps {
            match *step {
                Step::Left(name, t) => harness
                    .process_element_at(tagged(Either::Left((name.into(), t))), t)
                    .unwrap(),
                Step::Right(name, t) => harness
                    .process_element_at(tagged(Either::Right((name.into(), t))), t)
                    .unwrap(),
                Step::Watermark(t) => harness.process_watermark(t).unwrap(),
            }
            outputs.push(harness.take_values());
        }
        (outputs, late_records.take_values())
    }

    #[test]
    fn joins_within_the_bounds_drops_state_behind_the_watermark_and_sends_late_records_aside() {
        use Step::*;
        let (outputs, late) = run(
            -1,
            2,
            &[
                Left("a", 5),
                Right("x", 4), // 4 is in [5-1, 5+2]
                Right("y", 8),
                Left("b", 7),  // 8 is in [6, 9]
                Watermark(6),  // right x@4 can join no left record from 6 on: dropped
                Left("c", 6),  // not late (6 is not behind 6): joins y@8 only
                Left("d", 5),  // behind the watermark: late
                Watermark(9),  // everything up to 9 is dropped
                Right("z", 9), // b@7 would have joined it, but b is gone, as in Flink
                Left("e", 9),  // joins z@9 ([8, 11])
            ],
        );
        let expected: [&[&str]; 10] = [
            &[],
            &["a:x@5"],
            &[],
            &["b:y@8"],
            &[],
            &["c:y@8"],
            &[],
            &[],
            &[],
            &["e:z@9"],
        ];
        assert_eq!(
            outputs,
            expected.map(|o| o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        );
        assert_eq!(late, [("d".to_string(), 5)]);
    }

    #[test]
    fn exclusive_bounds_are_applied_before_the_join() {
        use Step::*;
        // between(0, 2) exclusive on both ends joins only right records at l + 1.
        let env = crate::StreamExecutionEnvironment::get_execution_environment();
        let stream = env
            .from_collection(Vec::<Named>::new())
            .key_by(|n| n.0.clone());
        let (lower, upper) = stream
            .interval_join(&stream)
            .between(0, 2)
            .lower_bound_exclusive()
            .upper_bound_exclusive()
            .inclusive_bounds();
        assert_eq!((lower, upper), (1, 1));
        let (outputs, _) = run(
            lower,
            upper,
            &[
                Left("a", 10),
                Right("x", 10),
                Right("y", 11),
                Right("z", 12),
            ],
        );
        assert_eq!(outputs.concat(), ["a:y@11"]);
    }
}
