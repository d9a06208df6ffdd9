//! An operator test harness: drive one operator with records, watermarks and end-of-input,
//! and inspect exactly what it emitted, in order (Flink's `OneInputStreamOperatorTestHarness`,
//! without mocks: the operator runs in a real [`ChainLink`]).

use std::sync::{Arc, Mutex};

use strom_core::config::Configuration;
use strom_core::key_group::KeyGroupRange;
use strom_core::{CheckpointBarrier, StreamRecord, Timestamp, Watermark, WatermarkStatus};

use crate::checkpoint::TaskStateSnapshot;
use crate::error::{OperatorInfo, TaskError};
use crate::operator::{ChainLink, ExecutionMode, Input, OneInputOperator, OperatorContext, Output};
use crate::processing_time::ProcessingTimeService;

/// What an operator emitted, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted<T> {
    /// A record.
    Record(StreamRecord<T>),
    /// A watermark.
    Watermark(Watermark),
    /// A change of watermark status.
    Status(WatermarkStatus),
    /// A checkpoint barrier.
    Barrier(CheckpointBarrier),
    /// End of input.
    EndOfInput,
}

/// What an output received, shared with the harness that reads it.
type Recorded<T> = Arc<Mutex<Vec<Emitted<T>>>>;

struct Recorder<T> {
    emitted: Recorded<T>,
}

/// What a harnessed operator emitted on one side output.
pub struct SideOutputRecorder<X> {
    emitted: Recorded<X>,
}

impl<X> SideOutputRecorder<X> {
    /// The values of the records emitted since the last call.
    pub fn take_values(&self) -> Vec<X> {
        take_values(&self.emitted)
    }
}

fn take_values<T>(emitted: &Recorded<T>) -> Vec<T> {
    std::mem::take(&mut *emitted.lock().unwrap_or_else(|p| p.into_inner()))
        .into_iter()
        .filter_map(|e| match e {
            Emitted::Record(record) => Some(record.value),
            _ => None,
        })
        .collect()
}

impl<T: Send> Input<T> for Recorder<T> {
    fn open(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn process_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        self.emitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(batch.into_iter().map(Emitted::Record));
        Ok(())
    }
    fn process_watermark(&mut self, watermark: Watermark) -> Result<(), TaskError> {
        self.emitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Emitted::Watermark(watermark));
        Ok(())
    }
    fn process_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError> {
        self.emitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Emitted::Status(status));
        Ok(())
    }
    fn process_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        _snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        self.emitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Emitted::Barrier(barrier));
        Ok(())
    }
    fn end_input(&mut self) -> Result<(), TaskError> {
        self.emitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Emitted::EndOfInput);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
}

/// Runs one operator instance as subtask 0 of 1 with all key groups.
pub struct OperatorHarness<IN, OUT> {
    link: Box<dyn Input<IN>>,
    emitted: Recorded<OUT>,
    time: ProcessingTimeService,
}

/// The context of a harnessed operator: `Test Operator (1/1)`, 128 key groups, a manual
/// processing-time clock standing at 0.
pub fn test_context(execution_mode: ExecutionMode) -> OperatorContext {
    OperatorContext {
        info: OperatorInfo {
            name: "Test Operator".into(),
            subtask_index: 0,
            parallelism: 1,
        },
        operator_id: "test".to_string(),
        max_parallelism: 128,
        key_group_range: KeyGroupRange { start: 0, end: 128 },
        execution_mode,
        batch_size: 4,
        config: Arc::new(Configuration::new()),
        processing_time: ProcessingTimeService::manual(0),
        restored_state: None,
        state_backend: strom_state::StateBackend::HashMap,
        checkpointing: false,
    }
}

impl<IN: Send + 'static, OUT: Send + 'static> OperatorHarness<IN, OUT> {
    /// Opens `operator` with `ctx`.
    pub fn new<OP: OneInputOperator<IN, OUT> + 'static>(
        operator: OP,
        ctx: OperatorContext,
    ) -> Result<Self, TaskError> {
        let (output, emitted) = Self::recording_output(&ctx);
        Self::with_output(operator, ctx, output, emitted)
    }

    /// Opens `operator` with `ctx` and a recorded side output `tag` of element type `X`.
    pub fn with_side_output<X: Send + 'static, OP: OneInputOperator<IN, OUT> + 'static>(
        operator: OP,
        ctx: OperatorContext,
        tag: &str,
    ) -> Result<(Self, SideOutputRecorder<X>), TaskError> {
        let side = SideOutputRecorder {
            emitted: Arc::new(Mutex::new(Vec::new())),
        };
        let (mut output, emitted) = Self::recording_output(&ctx);
        let side_output = Output::new(
            Box::new(Recorder {
                emitted: Arc::clone(&side.emitted),
            }),
            ctx.batch_size,
        );
        output.add_side_output(tag.to_string(), side_output.erased());
        Ok((Self::with_output(operator, ctx, output, emitted)?, side))
    }

    /// An output that records what reaches it in `Recorded`.
    fn recording_output(ctx: &OperatorContext) -> (Output<OUT>, Recorded<OUT>) {
        let emitted = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            emitted: Arc::clone(&emitted),
        };
        (Output::new(Box::new(recorder), ctx.batch_size), emitted)
    }

    fn with_output<OP: OneInputOperator<IN, OUT> + 'static>(
        operator: OP,
        ctx: OperatorContext,
        output: Output<OUT>,
        emitted: Recorded<OUT>,
    ) -> Result<Self, TaskError> {
        let time = ctx.processing_time.clone();
        let mut link: Box<dyn Input<IN>> = Box::new(ChainLink::new(operator, output, ctx));
        link.open()?;
        Ok(OperatorHarness {
            link,
            emitted,
            time,
        })
    }

    /// Feeds records without timestamps as one batch.
    pub fn process_elements(
        &mut self,
        values: impl IntoIterator<Item = IN>,
    ) -> Result<(), TaskError> {
        self.link
            .process_batch(values.into_iter().map(StreamRecord::new).collect())
    }

    /// Feeds one record with a timestamp.
    pub fn process_element_at(&mut self, value: IN, timestamp: i64) -> Result<(), TaskError> {
        self.link
            .process_batch(vec![StreamRecord::with_timestamp(value, timestamp)])
    }

    /// Feeds a watermark.
    pub fn process_watermark(&mut self, timestamp: i64) -> Result<(), TaskError> {
        self.link.process_watermark(Watermark(timestamp))
    }

    /// Moves the manual processing-time clock to `time`, firing what became due.
    pub fn set_processing_time(&mut self, time: Timestamp) -> Result<(), TaskError> {
        self.time.set_manual_time(time);
        match self.time.take_due() {
            Some(now) => self.link.on_processing_time(now),
            None => Ok(()),
        }
    }

    /// Feeds a watermark status change.
    pub fn process_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError> {
        self.link.process_watermark_status(status)
    }

    /// Feeds a batch of records with their timestamps.
    pub fn process_records(&mut self, records: Vec<StreamRecord<IN>>) -> Result<(), TaskError> {
        self.link.process_batch(records)
    }

    /// Ends the input.
    pub fn end_input(&mut self) -> Result<(), TaskError> {
        self.link.end_input()
    }

    /// Everything emitted since the last call.
    pub fn take_output(&mut self) -> Vec<Emitted<OUT>> {
        std::mem::take(&mut *self.emitted.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The values of the records emitted since the last call (watermarks dropped).
    pub fn take_values(&mut self) -> Vec<OUT> {
        take_values(&self.emitted)
    }
}
