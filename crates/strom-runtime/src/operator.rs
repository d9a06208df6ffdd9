//! Operators and chains: the one mechanism every user-facing operator is built on.
//!
//! A task runs a chain: a tree of [`Input`]s through which batches of records flow by plain
//! method calls (no channel hop). An operator implements [`OneInputOperator`]; the runtime
//! wraps it in a [`ChainLink`] that owns its [`Output`], forwards watermarks and end-of-input,
//! and turns a panic in user code into a [`TaskError`] naming the operator and subtask.
//! Channel writers, fan-outs and sinks are `Input`s too, so a chain ends in them.

use std::any::Any;
use std::hash::Hash;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::config::Configuration;
use strom_core::key_group::KeyGroupRange;
use strom_core::{
    BoxError, CheckpointBarrier, CheckpointId, StreamRecord, Timestamp, Watermark, WatermarkStatus,
};

use crate::checkpoint::{OperatorStateSnapshot, RestoredOperatorState, TaskStateSnapshot};
pub use crate::error::OperatorInfo;
use crate::error::TaskError;
use crate::processing_time::ProcessingTimeService;
use strom_state::{KeyGroupedMap, KeyedStateBackend, StateBackend};

/// Whether keyed aggregations emit every update or only final results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExecutionMode {
    /// Every update is emitted as it happens.
    Streaming,
    /// Input is bounded; only final results are emitted, at end of input.
    Batch,
}

/// What an operator instance knows about where it runs.
#[derive(Debug, Clone)]
pub struct OperatorContext {
    /// Name and subtask, for messages.
    pub info: OperatorInfo,
    /// The stable operator id (from `uid` or the operator's position in the graph).
    pub operator_id: String,
    /// Number of key groups of the operator.
    pub max_parallelism: usize,
    /// The key groups this subtask owns (keyed operators).
    pub key_group_range: KeyGroupRange,
    /// Streaming or batch semantics.
    pub execution_mode: ExecutionMode,
    /// Records per batch handed downstream.
    pub batch_size: usize,
    /// The job's configuration.
    pub config: Arc<Configuration>,
    /// The task's processing-time clock and wake-ups.
    pub processing_time: ProcessingTimeService,
    /// The state to start from when the job recovers from a checkpoint.
    pub restored_state: Option<Arc<RestoredOperatorState>>,
    /// Where the operator's keyed state lives.
    pub state_backend: StateBackend,
    /// Whether the job takes checkpoints (sinks then commit their last output only once a
    /// checkpoint covers it or the job ends).
    pub checkpointing: bool,
}

impl OperatorContext {
    /// A keyed map for the operator's state `state`, kept by the job's state backend.
    pub fn keyed_map<K, V>(&self, state: &str) -> KeyGroupedMap<K, V>
    where
        K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
        V: Send + Serialize + DeserializeOwned + 'static,
    {
        KeyGroupedMap::with_backend(
            self.key_group_range,
            self.max_parallelism,
            &self.state_backend,
            &self.state_name(state),
        )
    }

    /// The named keyed states of the operator, kept by the job's state backend.
    pub fn keyed_state_backend<K>(&self) -> KeyedStateBackend<K>
    where
        K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
    {
        KeyedStateBackend::new(self.key_group_range, self.max_parallelism)
            .with_backend(&self.state_backend, &self.state_name("named"))
    }

    /// A name for the operator subtask's state `state`, unique within the job.
    fn state_name(&self, state: &str) -> String {
        format!("{}-{}-{state}", self.operator_id, self.info.subtask_index)
    }

    /// Index of this subtask, from 0 (Flink's `getIndexOfThisSubtask`).
    pub fn index_of_this_subtask(&self) -> usize {
        self.info.subtask_index
    }

    /// Number of parallel subtasks of the operator.
    pub fn number_of_parallel_subtasks(&self) -> usize {
        self.info.parallelism
    }

    /// Number of key groups of the operator.
    pub fn max_number_of_parallel_subtasks(&self) -> usize {
        self.max_parallelism
    }

    /// The operator's name.
    pub fn operator_name(&self) -> &str {
        &self.info.name
    }
}

/// Anything that takes records in a chain: an operator's link, a channel writer, a fan-out,
/// a sink. Calls arrive in stream order.
pub trait Input<T>: Send {
    /// Called once before the first element.
    fn open(&mut self) -> Result<(), TaskError>;
    /// A batch of records, never empty.
    fn process_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError>;
    /// The combined watermark of the task's inputs advanced.
    fn process_watermark(&mut self, watermark: Watermark) -> Result<(), TaskError>;
    /// The task's inputs became idle or active again.
    fn process_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError>;
    /// A processing-time wake-up requested through [`ProcessingTimeService`] is due; `now` is
    /// the current processing time. Parts of a chain without timers ignore it.
    fn on_processing_time(&mut self, _now: Timestamp) -> Result<(), TaskError> {
        Ok(())
    }
    /// A checkpoint barrier passed: snapshot state into `snapshot`, then pass the barrier on
    /// after everything emitted before it.
    fn process_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError>;
    /// After the end of input, with checkpoints on: writes what must stand for the chain in
    /// later checkpoints (a sink's output prepared but not committed); the task commits it once
    /// such a checkpoint completed or the whole job ended (Flink's final checkpoint).
    fn write_final_state(&mut self, _snapshot: &mut TaskStateSnapshot) -> Result<(), TaskError> {
        Ok(())
    }
    /// Checkpoint `checkpoint` completed (two-phase-commit sinks commit what it covers).
    fn notify_checkpoint_complete(&mut self, _checkpoint: CheckpointId) -> Result<(), TaskError> {
        Ok(())
    }
    /// All input has ended; emit final results and pass end-of-input on.
    fn end_input(&mut self) -> Result<(), TaskError>;
    /// Send partly filled buffers downstream (the buffer timeout expired or input is idle).
    fn flush(&mut self) -> Result<(), TaskError>;
}

/// A boxed [`Input`]: how chains are assembled from type-erased parts.
pub type BoxedInput<T> = Box<dyn Input<T>>;

/// A single-input operator. Implement this to add an operator; the runtime does the rest.
pub trait OneInputOperator<IN, OUT: 'static>: Send {
    /// Called once before the first element.
    fn open(&mut self, _ctx: &OperatorContext) -> Result<(), BoxError> {
        Ok(())
    }
    /// Processes a batch of records, emitting results to `out`.
    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<IN>>,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError>;
    /// Reacts to a watermark; the default forwards it.
    fn process_watermark(
        &mut self,
        watermark: Watermark,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        out.emit_watermark(watermark);
        Ok(())
    }
    /// A processing-time wake-up is due (see [`ProcessingTimeService::request_wakeup`]).
    fn on_processing_time(
        &mut self,
        _now: Timestamp,
        _out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        Ok(())
    }
    /// Input has ended: emit what is still held (final results in batch mode).
    fn end_input(&mut self, _out: &mut Output<OUT>) -> Result<(), BoxError> {
        Ok(())
    }
    /// Restores the state a checkpoint holds for this subtask (called before `open` when the
    /// job recovers).
    fn initialize_state(&mut self, _state: &RestoredOperatorState) -> Result<(), BoxError> {
        Ok(())
    }
    /// Writes the operator's state for checkpoint `checkpoint` (called when its barrier
    /// passes, after everything before the barrier was processed); stateless operators write
    /// nothing.
    fn snapshot_state(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<OperatorStateSnapshot, BoxError> {
        Ok(OperatorStateSnapshot::default())
    }
}

/// Where an operator emits: its main output and its side outputs, borrowable apart (a
/// process function's collector and context use one each).
pub struct Output<T> {
    /// The main output.
    pub main: Emitter<T>,
    /// Side outputs by tag.
    pub side: SideOutputs,
}

/// Buffers records into batches for the next stage. A failure downstream is kept and
/// reported after the operator's call returns.
pub struct Emitter<T> {
    next: BoxedInput<T>,
    buffer: Vec<StreamRecord<T>>,
    batch_size: usize,
    error: Option<TaskError>,
}

/// The side outputs of an operator, each of its own element type.
#[derive(Default)]
pub struct SideOutputs {
    outputs: Vec<(String, Box<dyn ErasedOutput>)>,
    error: Option<TaskError>,
}

impl<T: 'static> Output<T> {
    /// An output into `next` that emits batches of `batch_size` records.
    pub fn new(next: BoxedInput<T>, batch_size: usize) -> Self {
        let main = Emitter {
            next,
            buffer: Vec::new(),
            batch_size: batch_size.max(1),
            error: None,
        };
        Output {
            main,
            side: SideOutputs::default(),
        }
    }

    /// Emits one record on the main output.
    #[inline]
    pub fn collect(&mut self, record: StreamRecord<T>) {
        self.main.collect(record);
    }

    /// Emits a whole batch on the main output.
    pub fn emit_batch(&mut self, batch: Vec<StreamRecord<T>>) {
        self.main.emit_batch(batch);
    }

    /// Emits a watermark after everything emitted before it, to the main and side outputs.
    pub fn emit_watermark(&mut self, watermark: Watermark) {
        self.main.send_buffer();
        if self.main.error.is_none() {
            if let Err(error) = self.main.next.process_watermark(watermark) {
                self.main.error = Some(error);
            }
        }
        for (_, side) in &mut self.side.outputs {
            if let Err(error) = side.emit_watermark(watermark) {
                self.side.error.get_or_insert(error);
            }
        }
    }

    /// Tells the main and side outputs that this operator became idle or active again.
    pub fn emit_watermark_status(&mut self, status: WatermarkStatus) {
        self.main.send_buffer();
        if self.main.error.is_none() {
            if let Err(error) = self.main.next.process_watermark_status(status) {
                self.main.error = Some(error);
            }
        }
        for (_, side) in &mut self.side.outputs {
            if let Err(error) = side.emit_watermark_status(status) {
                self.side.error.get_or_insert(error);
            }
        }
    }

    /// Adds the side output `tag` (made by [`Output::erased`] for the tag's element type).
    pub fn add_side_output(&mut self, tag: String, output: Box<dyn ErasedOutput>) {
        self.side.outputs.push((tag, output));
    }

    /// This output with its element type erased, to serve as another operator's side output.
    pub fn erased(self) -> Box<dyn ErasedOutput>
    where
        T: Send,
    {
        Box::new(self)
    }

    /// Sends what is buffered and reports a failure downstream since the last call.
    fn finish_batch(&mut self) -> Result<(), TaskError> {
        self.main.send_buffer();
        for (_, side) in &mut self.side.outputs {
            if let Err(error) = side.finish_batch() {
                self.side.error.get_or_insert(error);
            }
        }
        match (self.main.error.take(), self.side.error.take()) {
            (Some(error), _) | (None, Some(error)) => Err(error),
            (None, None) => Ok(()),
        }
    }

    fn open(&mut self) -> Result<(), TaskError> {
        self.main.next.open()?;
        self.side
            .outputs
            .iter_mut()
            .try_for_each(|(_, side)| side.open())
    }

    /// Passes a checkpoint barrier on after everything emitted before it, to the main and
    /// side outputs.
    fn emit_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        self.finish_batch()?;
        self.main.next.process_barrier(barrier, snapshot)?;
        self.side
            .outputs
            .iter_mut()
            .try_for_each(|(_, side)| side.emit_barrier(barrier, snapshot))
    }

    fn write_final_state(&mut self, snapshot: &mut TaskStateSnapshot) -> Result<(), TaskError> {
        self.main.next.write_final_state(snapshot)?;
        self.side
            .outputs
            .iter_mut()
            .try_for_each(|(_, side)| side.write_final_state(snapshot))
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: CheckpointId) -> Result<(), TaskError> {
        self.main.next.notify_checkpoint_complete(checkpoint)?;
        self.side
            .outputs
            .iter_mut()
            .try_for_each(|(_, side)| side.notify_checkpoint_complete(checkpoint))
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        self.finish_batch()?;
        self.main.next.end_input()?;
        self.side
            .outputs
            .iter_mut()
            .try_for_each(|(_, side)| side.end_input())
    }

    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        self.finish_batch()?;
        self.main.next.on_processing_time(now)?;
        self.side
            .outputs
            .iter_mut()
            .try_for_each(|(_, side)| side.on_processing_time(now))
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.finish_batch()?;
        self.main.next.flush()?;
        self.side
            .outputs
            .iter_mut()
            .try_for_each(|(_, side)| side.flush())
    }
}

impl<T> Emitter<T> {
    /// Emits one record.
    #[inline]
    pub fn collect(&mut self, record: StreamRecord<T>) {
        self.buffer.push(record);
        if self.buffer.len() >= self.batch_size {
            self.send_buffer();
        }
    }

    /// Emits a whole batch, handing it on without copying when nothing is buffered.
    pub fn emit_batch(&mut self, batch: Vec<StreamRecord<T>>) {
        if batch.is_empty() {
            return;
        }
        if self.buffer.is_empty() {
            self.send(batch);
        } else {
            self.buffer.extend(batch);
            if self.buffer.len() >= self.batch_size {
                self.send_buffer();
            }
        }
    }

    fn send(&mut self, batch: Vec<StreamRecord<T>>) {
        if self.error.is_none() {
            if let Err(error) = self.next.process_batch(batch) {
                self.error = Some(error);
            }
        }
    }

    fn send_buffer(&mut self) {
        if !self.buffer.is_empty() {
            let batch = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.batch_size));
            self.send(batch);
        }
    }
}

impl SideOutputs {
    /// Emits `record` to the side output named `tag`; dropped when nothing consumes the tag.
    pub fn collect<X: 'static>(&mut self, tag: &str, record: StreamRecord<X>) {
        let side = self.outputs.iter_mut().find(|(name, _)| name == tag);
        if let Some(output) = side.and_then(|(_, side)| side.as_any().downcast_mut::<Output<X>>()) {
            output.collect(record);
            if let Some(error) = output.main.error.take() {
                self.error.get_or_insert(error);
            }
        }
    }
}

/// An [`Output`] of any element type, as the operator it is a side output of sees it.
pub trait ErasedOutput: Send {
    #[doc(hidden)]
    fn as_any(&mut self) -> &mut dyn Any;
    #[doc(hidden)]
    fn open(&mut self) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn emit_watermark(&mut self, watermark: Watermark) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn emit_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn finish_batch(&mut self) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn emit_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn write_final_state(&mut self, snapshot: &mut TaskStateSnapshot) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn notify_checkpoint_complete(&mut self, checkpoint: CheckpointId) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn end_input(&mut self) -> Result<(), TaskError>;
    #[doc(hidden)]
    fn flush(&mut self) -> Result<(), TaskError>;
}

impl<X: Send + 'static> ErasedOutput for Output<X> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
    fn open(&mut self) -> Result<(), TaskError> {
        Output::open(self)
    }
    fn emit_watermark(&mut self, watermark: Watermark) -> Result<(), TaskError> {
        Output::emit_watermark(self, watermark);
        self.finish_batch()
    }
    fn emit_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError> {
        Output::emit_watermark_status(self, status);
        self.finish_batch()
    }
    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        Output::on_processing_time(self, now)
    }
    fn finish_batch(&mut self) -> Result<(), TaskError> {
        Output::finish_batch(self)
    }
    fn emit_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        Output::emit_barrier(self, barrier, snapshot)
    }
    fn write_final_state(&mut self, snapshot: &mut TaskStateSnapshot) -> Result<(), TaskError> {
        Output::write_final_state(self, snapshot)
    }
    fn notify_checkpoint_complete(&mut self, checkpoint: CheckpointId) -> Result<(), TaskError> {
        Output::notify_checkpoint_complete(self, checkpoint)
    }
    fn end_input(&mut self) -> Result<(), TaskError> {
        Output::end_input(self)
    }
    fn flush(&mut self) -> Result<(), TaskError> {
        Output::flush(self)
    }
}

/// Runs user code, turning a panic into a [`TaskError`] that names the operator.
pub fn guard<R>(
    info: &OperatorInfo,
    f: impl FnOnce() -> Result<R, BoxError>,
) -> Result<R, TaskError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(TaskError::Failed {
            operator: info.clone(),
            source,
        }),
        Err(payload) => Err(TaskError::UserPanic {
            operator: info.clone(),
            message: panic_message(&payload),
        }),
    }
}

pub(crate) fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// An operator in a chain: owns the operator and its output, guards every call into it.
pub struct ChainLink<IN, OUT, OP> {
    operator: OP,
    output: Output<OUT>,
    ctx: OperatorContext,
    _input: PhantomData<fn(IN)>,
}

impl<IN, OUT: 'static, OP: OneInputOperator<IN, OUT>> ChainLink<IN, OUT, OP> {
    /// Links `operator` to `output`.
    pub fn new(operator: OP, output: Output<OUT>, ctx: OperatorContext) -> Self {
        ChainLink {
            operator,
            output,
            ctx,
            _input: PhantomData,
        }
    }
}

impl<IN, OUT, OP> Input<IN> for ChainLink<IN, OUT, OP>
where
    IN: Send + 'static,
    OUT: Send + 'static,
    OP: OneInputOperator<IN, OUT>,
{
    fn open(&mut self) -> Result<(), TaskError> {
        self.output.open()?;
        let (operator, ctx) = (&mut self.operator, &self.ctx);
        if let Some(state) = &ctx.restored_state {
            guard(&ctx.info, || operator.initialize_state(state))?;
        }
        guard(&ctx.info, || operator.open(ctx))
    }

    fn process_batch(&mut self, batch: Vec<StreamRecord<IN>>) -> Result<(), TaskError> {
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.ctx.info, || operator.process_batch(batch, output));
        // A failure further down the chain is the cause of anything that followed here.
        self.output.finish_batch()?;
        result
    }

    fn process_watermark(&mut self, watermark: Watermark) -> Result<(), TaskError> {
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.ctx.info, || {
            operator.process_watermark(watermark, output)
        });
        self.output.finish_batch()?;
        result
    }

    fn process_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError> {
        self.output.emit_watermark_status(status);
        self.output.finish_batch()
    }

    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.ctx.info, || operator.on_processing_time(now, output));
        self.output.finish_batch()?;
        result?;
        self.output.on_processing_time(now)
    }

    fn process_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        if let Some(scope) = self.ctx.state_backend.snapshot_scope() {
            scope.begin(barrier.id, barrier.savepoint);
        }
        let operator = &mut self.operator;
        let state = guard(&self.ctx.info, || operator.snapshot_state(barrier.id))?;
        snapshot.add(&self.ctx.operator_id, &self.ctx.info.name, state);
        self.output.emit_barrier(barrier, snapshot)
    }

    fn write_final_state(&mut self, snapshot: &mut TaskStateSnapshot) -> Result<(), TaskError> {
        self.output.write_final_state(snapshot)
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: CheckpointId) -> Result<(), TaskError> {
        if let Some(scope) = self.ctx.state_backend.snapshot_scope() {
            scope.completed(checkpoint);
        }
        self.output.notify_checkpoint_complete(checkpoint)
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.ctx.info, || operator.end_input(output));
        self.output.finish_batch()?;
        result?;
        self.output.end_input()
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.output.flush()
    }
}

/// The end of a chain whose output nobody consumes.
pub struct Discard;

impl<T: Send> Input<T> for Discard {
    fn open(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn process_batch(&mut self, _batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        Ok(())
    }
    fn process_watermark(&mut self, _watermark: Watermark) -> Result<(), TaskError> {
        Ok(())
    }
    fn process_watermark_status(&mut self, _status: WatermarkStatus) -> Result<(), TaskError> {
        Ok(())
    }
    fn process_barrier(
        &mut self,
        _barrier: CheckpointBarrier,
        _snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        Ok(())
    }
    fn end_input(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
}

/// Hands every element to several consumers (an operator whose output feeds more than one
/// downstream operator); records are cloned for all but the last.
pub struct FanOut<T> {
    outputs: Vec<BoxedInput<T>>,
}

impl<T> FanOut<T> {
    /// A fan-out into `outputs`.
    pub fn new(outputs: Vec<BoxedInput<T>>) -> Self {
        FanOut { outputs }
    }
}

impl<T: Clone + Send> Input<T> for FanOut<T> {
    fn open(&mut self) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.open())
    }
    fn process_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        let (last, rest) = self
            .outputs
            .split_last_mut()
            .expect("a fan-out has outputs");
        for output in rest {
            output.process_batch(batch.clone())?;
        }
        last.process_batch(batch)
    }
    fn process_watermark(&mut self, watermark: Watermark) -> Result<(), TaskError> {
        self.outputs
            .iter_mut()
            .try_for_each(|o| o.process_watermark(watermark))
    }
    fn process_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError> {
        self.outputs
            .iter_mut()
            .try_for_each(|o| o.process_watermark_status(status))
    }
    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        self.outputs
            .iter_mut()
            .try_for_each(|o| o.on_processing_time(now))
    }
    fn process_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        self.outputs
            .iter_mut()
            .try_for_each(|o| o.process_barrier(barrier, snapshot))
    }
    fn write_final_state(&mut self, snapshot: &mut TaskStateSnapshot) -> Result<(), TaskError> {
        self.outputs
            .iter_mut()
            .try_for_each(|o| o.write_final_state(snapshot))
    }
    fn notify_checkpoint_complete(&mut self, checkpoint: CheckpointId) -> Result<(), TaskError> {
        self.outputs
            .iter_mut()
            .try_for_each(|o| o.notify_checkpoint_complete(checkpoint))
    }
    fn end_input(&mut self) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.end_input())
    }
    fn flush(&mut self) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.flush())
    }
}
