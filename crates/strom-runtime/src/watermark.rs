//! Watermark strategies: how records get event timestamps and how watermarks are generated.
//!
//! A [`WatermarkStrategy`] pairs a timestamp assigner with a factory of [`WatermarkGenerator`]s
//! (Flink's names and behaviour). It is applied inside a source, one generator per split, or by
//! the `assign_timestamps_and_watermarks` operator. Both run a [`WatermarkEmitter`], which
//! assigns timestamps batch by batch, asks the generator for periodic watermarks every
//! `pipeline.auto-watermark-interval`, marks the stream idle after the strategy's idleness
//! timeout without records, and hands on only watermarks that advance.

use std::sync::Arc;
use std::time::Duration;

use strom_core::{StreamRecord, Timestamp, Watermark, WatermarkStatus};

/// Generates watermarks from the events it sees and on a periodic timer (Flink's
/// `WatermarkGenerator`). Emit from `on_event` for punctuated watermarks, from
/// `on_periodic_emit` for periodic ones.
pub trait WatermarkGenerator<T>: Send {
    /// Called for every record with its assigned timestamp.
    fn on_event(&mut self, event: &T, timestamp: Timestamp, output: &mut WatermarkOutput);
    /// Called every `pipeline.auto-watermark-interval`.
    fn on_periodic_emit(&mut self, output: &mut WatermarkOutput);
}

/// Where a [`WatermarkGenerator`] emits. Only a watermark larger than every earlier one takes
/// effect: watermarks never go backwards.
#[derive(Debug, Default)]
pub struct WatermarkOutput {
    watermark: Option<Watermark>,
    idle: bool,
}

impl WatermarkOutput {
    /// Emits a watermark; it also marks the output active again.
    pub fn emit_watermark(&mut self, watermark: Watermark) {
        if self.watermark.is_none_or(|current| watermark > current) {
            self.watermark = Some(watermark);
        }
        self.idle = false;
    }

    /// Marks the output idle: downstream operators stop waiting for its event time.
    pub fn mark_idle(&mut self) {
        self.idle = true;
    }

    /// Marks the output active again.
    pub fn mark_active(&mut self) {
        self.idle = false;
    }
}

type GeneratorFactory<T> = dyn Fn() -> Box<dyn WatermarkGenerator<T>> + Send + Sync;
type TimestampAssigner<T> = dyn Fn(&T, Option<Timestamp>) -> Timestamp + Send + Sync;

/// How a stream gets event timestamps and watermarks (Flink's `WatermarkStrategy`).
pub struct WatermarkStrategy<T> {
    generator: Arc<GeneratorFactory<T>>,
    timestamp_assigner: Option<Arc<TimestampAssigner<T>>>,
    idleness: Option<Duration>,
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        WatermarkStrategy {
            generator: Arc::clone(&self.generator),
            timestamp_assigner: self.timestamp_assigner.clone(),
            idleness: self.idleness,
        }
    }
}

impl<T: 'static> WatermarkStrategy<T> {
    /// Watermarks that trail the largest timestamp seen by `max_out_of_orderness`: a record
    /// may arrive that much later than a record with a larger timestamp and still be on time.
    pub fn for_bounded_out_of_orderness(max_out_of_orderness: Duration) -> Self {
        let bound = max_out_of_orderness.as_millis() as Timestamp;
        Self::for_generator(move || BoundedOutOfOrderness::new(bound))
    }

    /// For timestamps that never decrease: the watermark is the largest timestamp seen.
    pub fn for_monotonous_timestamps() -> Self {
        Self::for_bounded_out_of_orderness(Duration::ZERO)
    }

    /// No watermarks at all (processing-time programs, or event time decided elsewhere).
    pub fn no_watermarks() -> Self {
        Self::for_generator(|| NoWatermarks)
    }

    /// Watermarks from a custom generator, made by `factory` once per source split or
    /// operator subtask.
    pub fn for_generator<G: WatermarkGenerator<T> + 'static>(
        factory: impl Fn() -> G + Send + Sync + 'static,
    ) -> Self {
        WatermarkStrategy {
            generator: Arc::new(move || Box::new(factory()) as Box<dyn WatermarkGenerator<T>>),
            timestamp_assigner: None,
            idleness: None,
        }
    }

    /// Takes each record's event timestamp from `assigner`, which sees the record and the
    /// timestamp it already carries (from its source), if any. Without an assigner the
    /// record's own timestamp is used.
    pub fn with_timestamp_assigner(
        mut self,
        assigner: impl Fn(&T, Option<Timestamp>) -> Timestamp + Send + Sync + 'static,
    ) -> Self {
        self.timestamp_assigner = Some(Arc::new(assigner));
        self
    }

    /// Marks the stream idle after `timeout` without records, so that it does not hold back
    /// the event time of operators that also read other, active inputs.
    pub fn with_idleness(mut self, timeout: Duration) -> Self {
        self.idleness = Some(timeout);
        self
    }

    /// A new emitter running this strategy; without `emit_watermarks` (batch mode) it only
    /// assigns timestamps.
    pub fn create_emitter(&self, emit_watermarks: bool) -> WatermarkEmitter<T> {
        WatermarkEmitter {
            generator: (self.generator)(),
            timestamp_assigner: self.timestamp_assigner.clone(),
            idleness: self.idleness,
            output: WatermarkOutput::default(),
            emit_watermarks,
            emitted: Watermark::MIN,
            idle: false,
            records_since_check: false,
            quiet_since: None,
        }
    }
}

/// Watermarks trailing the largest timestamp by a fixed bound (Flink's
/// `BoundedOutOfOrdernessWatermarks`): `max_timestamp - bound - 1`.
pub struct BoundedOutOfOrderness {
    bound: Timestamp,
    max_timestamp: Timestamp,
}

impl BoundedOutOfOrderness {
    /// A generator allowing records `bound` milliseconds out of order.
    pub fn new(bound: Timestamp) -> Self {
        BoundedOutOfOrderness {
            bound,
            // So the first periodic watermark, before any record, is the smallest one.
            max_timestamp: Timestamp::MIN.saturating_add(bound).saturating_add(1),
        }
    }
}

impl<T> WatermarkGenerator<T> for BoundedOutOfOrderness {
    #[inline]
    fn on_event(&mut self, _event: &T, timestamp: Timestamp, _output: &mut WatermarkOutput) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    fn on_periodic_emit(&mut self, output: &mut WatermarkOutput) {
        output.emit_watermark(Watermark(self.max_timestamp - self.bound - 1));
    }
}

/// Emits nothing.
struct NoWatermarks;

impl<T> WatermarkGenerator<T> for NoWatermarks {
    fn on_event(&mut self, _event: &T, _timestamp: Timestamp, _output: &mut WatermarkOutput) {}
    fn on_periodic_emit(&mut self, _output: &mut WatermarkOutput) {}
}

/// What a [`WatermarkEmitter`] hands on, in order, around the records it stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkEvent {
    /// The stream's watermark advanced.
    Watermark(Watermark),
    /// The stream became idle or active again.
    Status(WatermarkStatus),
}

/// Runs one [`WatermarkStrategy`] over one stream (a source split or an operator subtask).
pub struct WatermarkEmitter<T> {
    generator: Box<dyn WatermarkGenerator<T>>,
    timestamp_assigner: Option<Arc<TimestampAssigner<T>>>,
    idleness: Option<Duration>,
    output: WatermarkOutput,
    emit_watermarks: bool,
    emitted: Watermark,
    idle: bool,
    records_since_check: bool,
    quiet_since: Option<Timestamp>,
}

impl<T> WatermarkEmitter<T> {
    /// Stamps `batch` with event timestamps and feeds the generator. `emit` receives runs of
    /// records and, between them, the watermark and status changes they caused, in order: a
    /// punctuated watermark follows exactly the record that produced it.
    pub fn process_batch(
        &mut self,
        mut batch: Vec<StreamRecord<T>>,
        mut emit: impl FnMut(Result<Vec<StreamRecord<T>>, WatermarkEvent>),
    ) {
        if batch.is_empty() {
            return;
        }
        self.records_since_check = true;
        if self.idle && self.emit_watermarks {
            self.idle = false;
            emit(Err(WatermarkEvent::Status(WatermarkStatus::Active)));
        }
        let mut index = 0;
        while index < batch.len() {
            let record = &mut batch[index];
            let timestamp = match &self.timestamp_assigner {
                Some(assigner) => assigner(&record.value, record.timestamp),
                None => record.timestamp.unwrap_or(Timestamp::MIN),
            };
            record.timestamp = Some(timestamp);
            self.generator
                .on_event(&record.value, timestamp, &mut self.output);
            index += 1;
            if self.output.watermark.is_some() || self.output.idle {
                let rest = batch.split_off(index);
                emit(Ok(std::mem::replace(&mut batch, rest)));
                self.hand_on(&mut emit);
                index = 0;
            }
        }
        if !batch.is_empty() {
            emit(Ok(batch));
        }
    }

    /// The periodic call (every `pipeline.auto-watermark-interval`, at processing time `now`):
    /// asks the generator for a watermark, or marks the stream idle once it has been without
    /// records for the idleness timeout.
    pub fn on_periodic_emit(
        &mut self,
        now: Timestamp,
        mut emit: impl FnMut(Result<Vec<StreamRecord<T>>, WatermarkEvent>),
    ) {
        if self.is_idle_at(now) {
            self.output.mark_idle();
        } else {
            self.generator.on_periodic_emit(&mut self.output);
        }
        self.hand_on(&mut emit);
    }

    /// Whether the idleness timeout passed without records (Flink's idleness timer: a period
    /// with records restarts the clock).
    fn is_idle_at(&mut self, now: Timestamp) -> bool {
        let Some(timeout) = self.idleness else {
            return false;
        };
        if std::mem::take(&mut self.records_since_check) {
            self.quiet_since = None;
            return false;
        }
        let since = *self.quiet_since.get_or_insert(now);
        now - since >= timeout.as_millis() as Timestamp
    }

    fn hand_on(&mut self, emit: &mut impl FnMut(Result<Vec<StreamRecord<T>>, WatermarkEvent>)) {
        let watermark = self.output.watermark.take();
        let idle = std::mem::take(&mut self.output.idle);
        if !self.emit_watermarks {
            return;
        }
        if let Some(watermark) = watermark {
            if self.idle {
                self.idle = false;
                emit(Err(WatermarkEvent::Status(WatermarkStatus::Active)));
            }
            if watermark > self.emitted {
                self.emitted = watermark;
                emit(Err(WatermarkEvent::Watermark(watermark)));
            }
        }
        if idle && !self.idle {
            self.idle = true;
            emit(Err(WatermarkEvent::Status(WatermarkStatus::Idle)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        emitter: &mut WatermarkEmitter<(char, i64)>,
        events: &[(char, i64)],
        seen: &mut Vec<String>,
    ) {
        let batch = events
            .iter()
            .map(|e| StreamRecord::new(*e))
            .collect::<Vec<_>>();
        emitter.process_batch(batch, |item| describe(item, seen));
    }

    fn describe(
        item: Result<Vec<StreamRecord<(char, i64)>>, WatermarkEvent>,
        seen: &mut Vec<String>,
    ) {
        match item {
            Ok(records) => seen.extend(
                records
                    .iter()
                    .map(|r| format!("{}@{}", r.value.0, r.timestamp.unwrap())),
            ),
            Err(WatermarkEvent::Watermark(w)) => seen.push(format!("W{}", w.0)),
            Err(WatermarkEvent::Status(s)) => seen.push(format!("{s:?}")),
        }
    }

    #[test]
    fn bounded_out_of_orderness_trails_the_largest_timestamp_and_never_goes_back() {
        let strategy = WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(10))
            .with_timestamp_assigner(|e: &(char, i64), _| e.1);
        let mut emitter = strategy.create_emitter(true);
        let mut seen = Vec::new();
        run(&mut emitter, &[('a', 100), ('b', 90)], &mut seen);
        emitter.on_periodic_emit(0, |i| describe(i, &mut seen));
        run(&mut emitter, &[('c', 95)], &mut seen);
        emitter.on_periodic_emit(0, |i| describe(i, &mut seen));
        run(&mut emitter, &[('d', 130)], &mut seen);
        emitter.on_periodic_emit(0, |i| describe(i, &mut seen));
        assert_eq!(seen, ["a@100", "b@90", "W89", "c@95", "d@130", "W119"]);
    }

    struct Punctuated;
    impl WatermarkGenerator<(char, i64)> for Punctuated {
        fn on_event(
            &mut self,
            event: &(char, i64),
            timestamp: Timestamp,
            out: &mut WatermarkOutput,
        ) {
            if event.0 == '!' {
                out.emit_watermark(Watermark(timestamp));
            }
        }
        fn on_periodic_emit(&mut self, _output: &mut WatermarkOutput) {}
    }

    #[test]
    fn a_punctuated_watermark_follows_its_record_inside_a_batch() {
        let strategy = WatermarkStrategy::for_generator(|| Punctuated)
            .with_timestamp_assigner(|e: &(char, i64), _| e.1);
        let mut emitter = strategy.create_emitter(true);
        let mut seen = Vec::new();
        run(
            &mut emitter,
            &[('a', 1), ('!', 5), ('b', 3), ('!', 9), ('c', 10)],
            &mut seen,
        );
        assert_eq!(seen, ["a@1", "!@5", "W5", "b@3", "!@9", "W9", "c@10"]);
    }

    #[test]
    fn a_stream_without_records_for_the_idleness_timeout_is_idle_until_the_next_record() {
        let strategy = WatermarkStrategy::for_monotonous_timestamps()
            .with_timestamp_assigner(|e: &(char, i64), _| e.1)
            .with_idleness(Duration::from_millis(100));
        let mut emitter = strategy.create_emitter(true);
        let mut seen = Vec::new();
        run(&mut emitter, &[('a', 7)], &mut seen);
        emitter.on_periodic_emit(1000, |i| describe(i, &mut seen));
        emitter.on_periodic_emit(1050, |i| describe(i, &mut seen));
        emitter.on_periodic_emit(1150, |i| describe(i, &mut seen));
        emitter.on_periodic_emit(1200, |i| describe(i, &mut seen));
        run(&mut emitter, &[('b', 8)], &mut seen);
        emitter.on_periodic_emit(1250, |i| describe(i, &mut seen));
        assert_eq!(seen, ["a@7", "W6", "Idle", "Active", "b@8", "W7"]);
    }

    #[test]
    fn batch_mode_stamps_records_without_watermarks() {
        let strategy = WatermarkStrategy::for_monotonous_timestamps()
            .with_timestamp_assigner(|e: &(char, i64), _| e.1);
        let mut emitter = strategy.create_emitter(false);
        let mut seen = Vec::new();
        run(&mut emitter, &[('a', 7)], &mut seen);
        emitter.on_periodic_emit(0, |i| describe(i, &mut seen));
        assert_eq!(seen, ["a@7"]);
    }
}
