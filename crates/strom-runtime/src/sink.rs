//! The public sink interface, and the chain end that drives a sink writer.

use std::marker::PhantomData;
use std::sync::Arc;

use strom_core::{
    BoxError, CheckpointBarrier, CheckpointId, StreamData, StreamRecord, Timestamp, Watermark,
    WatermarkStatus,
};

use crate::checkpoint::{OperatorStateSnapshot, TaskStateSnapshot};
use crate::element_type::{element_type, erase_input, AnyInput, ElementType};
use crate::error::TaskError;
use crate::graph::{NodeOutputs, OperatorFactory};
use crate::operator::{guard, BoxedInput, Input, OperatorContext};

/// A destination for records of type `T`.
pub trait Sink<T>: Send + Sync + 'static {
    /// The writer running in each parallel subtask.
    type Writer: SinkWriter<T>;

    /// Creates the writer of one subtask.
    fn create_writer(&self, ctx: &OperatorContext) -> Result<Self::Writer, BoxError>;

    /// Called once per job before any writer exists, with the sink's parallelism (Flink's
    /// `initializeGlobal`): the place to check or prepare the destination. Restarts after a
    /// failure do not call it again, so what the failed run wrote or committed stays.
    fn prepare(&self, _parallelism: usize) -> Result<(), BoxError> {
        Ok(())
    }

    /// Two-phase commit, second phase: makes output a writer prepared
    /// ([`SinkWriter::prepare_commit`]) visible, once the checkpoint that covers it completed, or
    /// at the end of the input. After a failure it is called again with the committables of the
    /// restored checkpoint, so it must be idempotent. Sinks without transactions ignore it.
    fn commit(&self, _committables: &[Vec<u8>]) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Writes one subtask's records.
pub trait SinkWriter<T>: Send {
    /// Writes one record.
    fn write(&mut self, value: T, timestamp: Option<Timestamp>) -> Result<(), BoxError>;

    /// Writes a batch; override when a batch can be written faster than its records.
    fn write_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), BoxError> {
        batch
            .into_iter()
            .try_for_each(|record| self.write(record.value, record.timestamp))
    }

    /// Makes what was written so far durable or visible; `end_of_input` on the last call.
    fn flush(&mut self, _end_of_input: bool) -> Result<(), BoxError> {
        Ok(())
    }

    /// Two-phase commit, first phase (at a checkpoint barrier, and at the end of the input):
    /// ends what was written since the previous call, still invisible, and returns what
    /// [`Sink::commit`] needs to make it visible. Sinks without transactions return nothing.
    fn prepare_commit(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        Ok(Vec::new())
    }
}

/// The end of a chain that hands records to a [`SinkWriter`], and drives its two-phase commit:
/// what the writer prepares at a checkpoint is kept in the checkpoint and committed when the
/// checkpoint completes (or, after a failure, when its checkpoint is restored).
pub struct SinkInput<T, S: Sink<T>> {
    sink: Arc<S>,
    writer: Option<S::Writer>,
    ctx: OperatorContext,
    /// Prepared, not yet committed, by the checkpoint they belong to.
    pending: Vec<(CheckpointId, Vec<Vec<u8>>)>,
    _type: PhantomData<fn(T)>,
}

impl<T, S: Sink<T>> SinkInput<T, S> {
    /// A chain end that creates its writer from `sink` when it opens.
    pub fn new(sink: Arc<S>, ctx: OperatorContext) -> Self {
        SinkInput {
            sink,
            writer: None,
            ctx,
            pending: Vec::new(),
            _type: PhantomData,
        }
    }

    /// Commits what is pending up to `checkpoint`.
    fn commit_up_to(&mut self, checkpoint: CheckpointId) -> Result<(), TaskError> {
        let due: Vec<Vec<u8>> = self
            .pending
            .iter()
            .filter(|(id, _)| *id <= checkpoint)
            .flat_map(|(_, committables)| committables.iter().cloned())
            .collect();
        self.pending.retain(|(id, _)| *id > checkpoint);
        if due.is_empty() {
            return Ok(());
        }
        let sink = &self.sink;
        guard(&self.ctx.info, || sink.commit(&due))
    }

    /// Writes what is prepared and not committed into `snapshot`, as this sink's state.
    fn write_pending(&self, snapshot: &mut TaskStateSnapshot) {
        let entries = self
            .pending
            .iter()
            .flat_map(|(_, committables)| committables.iter().cloned())
            .collect();
        let (id, name) = (&self.ctx.operator_id, &self.ctx.info.name);
        snapshot.add(id, name, OperatorStateSnapshot::entries(entries));
    }

    fn writer(&mut self) -> Result<&mut S::Writer, TaskError> {
        self.writer
            .as_mut()
            .ok_or_else(|| TaskError::failed(&self.ctx.info, "sink used before it was opened"))
    }
}

impl<T: Send, S: Sink<T>> Input<T> for SinkInput<T, S> {
    fn open(&mut self) -> Result<(), TaskError> {
        let (sink, ctx) = (&self.sink, &self.ctx);
        if let Some(restored) = &ctx.restored_state {
            // What the restored checkpoint prepared belongs to it, and it completed.
            guard(&ctx.info, || sink.commit(&restored.operator))?;
        }
        self.writer = Some(guard(&ctx.info, || sink.create_writer(ctx))?);
        Ok(())
    }

    fn process_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        let info = self.ctx.info.clone();
        let writer = self.writer()?;
        guard(&info, || writer.write_batch(batch))
    }

    fn process_watermark(&mut self, _watermark: Watermark) -> Result<(), TaskError> {
        Ok(())
    }
    fn process_watermark_status(&mut self, _status: WatermarkStatus) -> Result<(), TaskError> {
        Ok(())
    }

    fn process_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        let info = self.ctx.info.clone();
        let writer = self.writer()?;
        let prepared = guard(&info, || writer.prepare_commit())?;
        if !prepared.is_empty() {
            self.pending.push((barrier.id, prepared));
        }
        self.write_pending(snapshot);
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: CheckpointId) -> Result<(), TaskError> {
        self.commit_up_to(checkpoint)
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        let info = self.ctx.info.clone();
        let writer = self.writer()?;
        guard(&info, || writer.flush(true))?;
        let last = guard(&info, || writer.prepare_commit())?;
        if !last.is_empty() {
            self.pending.push((CheckpointId::MAX, last));
        }
        if self.ctx.checkpointing {
            // Committed when a checkpoint holding it completes or the job ends: a failure
            // elsewhere until then restores a checkpoint from before this output, which is
            // written again (see `write_final_state`).
            return Ok(());
        }
        // The input is complete: what is left becomes visible now.
        self.commit_up_to(CheckpointId::MAX)
    }

    fn write_final_state(&mut self, snapshot: &mut TaskStateSnapshot) -> Result<(), TaskError> {
        if !self.pending.is_empty() {
            self.write_pending(snapshot);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        let info = self.ctx.info.clone();
        let writer = self.writer()?;
        guard(&info, || writer.flush(false))
    }
}

/// An [`OperatorFactory`](crate::graph::OperatorFactory) for a sink node.
pub fn sink_factory<T: StreamData, S: Sink<T>>(sink: S) -> Box<dyn OperatorFactory> {
    Box::new(SinkFactory {
        sink: Arc::new(sink),
        _type: PhantomData::<fn(T)>,
    })
}

struct SinkFactory<S, T> {
    sink: Arc<S>,
    _type: PhantomData<fn(T)>,
}

impl<T: StreamData, S: Sink<T>> OperatorFactory for SinkFactory<S, T> {
    fn input_type(&self) -> Arc<dyn ElementType> {
        element_type::<T>()
    }

    fn output_type(&self) -> Arc<dyn ElementType> {
        element_type::<()>()
    }

    fn prepare(&self, parallelism: usize) -> Result<(), BoxError> {
        self.sink.prepare(parallelism)
    }

    fn create(&self, ctx: OperatorContext, _outputs: NodeOutputs) -> Result<AnyInput, TaskError> {
        let input: BoxedInput<T> = Box::new(SinkInput::new(Arc::clone(&self.sink), ctx));
        Ok(erase_input(input))
    }
}
