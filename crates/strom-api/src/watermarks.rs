//! Event time on the DataStream API: watermark strategies and the operator that applies one
//! after a source (`assign_timestamps_and_watermarks`).
//!
//! The strategy types live in the runtime (sources run them per split); this module re-exports
//! them and adds the operator. The operator stamps records, asks its generator for a periodic
//! watermark every `pipeline.auto-watermark-interval`, and drops watermarks arriving from
//! upstream: from here on, this strategy decides event time (as in Flink).

use strom_core::config::options::AUTO_WATERMARK_INTERVAL;
use strom_core::{BoxError, StreamRecord, Timestamp, Watermark};
use strom_runtime::operator::{ExecutionMode, OneInputOperator, OperatorContext, Output};
use strom_runtime::processing_time::ProcessingTimeService;
pub use strom_runtime::watermark::{
    BoundedOutOfOrderness, WatermarkGenerator, WatermarkOutput, WatermarkStrategy,
};
use strom_runtime::watermark::{WatermarkEmitter, WatermarkEvent};

/// Applies a [`WatermarkStrategy`] to a stream.
pub(crate) struct TimestampsAndWatermarksOperator<T> {
    strategy: WatermarkStrategy<T>,
    emitter: Option<WatermarkEmitter<T>>,
    interval: Timestamp,
    time: Option<ProcessingTimeService>,
}

impl<T: 'static> TimestampsAndWatermarksOperator<T> {
    pub(crate) fn new(strategy: WatermarkStrategy<T>) -> Self {
        TimestampsAndWatermarksOperator {
            strategy,
            emitter: None,
            interval: 0,
            time: None,
        }
    }
}

fn hand_on<T: 'static>(item: Result<Vec<StreamRecord<T>>, WatermarkEvent>, out: &mut Output<T>) {
    match item {
        Ok(records) => out.emit_batch(records),
        Err(WatermarkEvent::Watermark(watermark)) => out.emit_watermark(watermark),
        Err(WatermarkEvent::Status(status)) => out.emit_watermark_status(status),
    }
}

impl<T: Send + 'static> OneInputOperator<T, T> for TimestampsAndWatermarksOperator<T> {
    fn open(&mut self, ctx: &OperatorContext) -> Result<(), BoxError> {
        let streaming = ctx.execution_mode == ExecutionMode::Streaming;
        self.emitter = Some(self.strategy.create_emitter(streaming));
        self.interval = ctx
            .config
            .get(&AUTO_WATERMARK_INTERVAL)
            .unwrap_or_default()
            .as_millis() as Timestamp;
        if streaming && self.interval > 0 {
            let time = ctx.processing_time.clone();
            time.request_wakeup(time.current_processing_time() + self.interval);
            self.time = Some(time);
        }
        Ok(())
    }

    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<T>>,
        out: &mut Output<T>,
    ) -> Result<(), BoxError> {
        if let Some(emitter) = &mut self.emitter {
            emitter.process_batch(batch, |item| hand_on(item, out));
        }
        Ok(())
    }

    fn process_watermark(
        &mut self,
        watermark: Watermark,
        out: &mut Output<T>,
    ) -> Result<(), BoxError> {
        // Only the end of input passes: it must still flush every window downstream.
        if watermark == Watermark::MAX {
            out.emit_watermark(watermark);
        }
        Ok(())
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<T>) -> Result<(), BoxError> {
        if let (Some(emitter), Some(time)) = (&mut self.emitter, &self.time) {
            emitter.on_periodic_emit(now, |item| hand_on(item, out));
            time.request_wakeup(now + self.interval);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strom_runtime::operator::ExecutionMode;
    use strom_runtime::testing::{test_context, Emitted, OperatorHarness};

    use super::*;

    #[test]
    fn periodic_watermarks_follow_the_records_and_upstream_watermarks_are_replaced() {
        let strategy = WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(5))
            .with_timestamp_assigner(|v: &i64, _| *v);
        let mut ctx = test_context(ExecutionMode::Streaming);
        let mut config = strom_core::config::Configuration::new();
        config.set(&AUTO_WATERMARK_INTERVAL, Duration::from_millis(100));
        ctx.config = std::sync::Arc::new(config);
        let mut harness =
            OperatorHarness::new(TimestampsAndWatermarksOperator::new(strategy), ctx).unwrap();
        harness.process_elements([10, 30, 20]).unwrap();
        harness.process_watermark(1000).unwrap();
        harness.set_processing_time(50).unwrap();
        assert_eq!(
            harness.take_output(),
            [10, 30, 20]
                .map(|v| Emitted::Record(StreamRecord::with_timestamp(v, v)))
                .to_vec()
        );
        harness.set_processing_time(100).unwrap();
        assert_eq!(harness.take_output(), [Emitted::Watermark(Watermark(24))]);
        harness.process_elements([40]).unwrap();
        harness.set_processing_time(200).unwrap();
        harness.end_input().unwrap();
        assert_eq!(
            harness.take_output(),
            [
                Emitted::Record(StreamRecord::with_timestamp(40, 40)),
                Emitted::Watermark(Watermark(34)),
                Emitted::EndOfInput
            ]
        );
    }
}
