//! The public sink interface, and the chain end that drives a sink writer.

use std::marker::PhantomData;
use std::sync::Arc;

use strom_core::{
    BoxError, CheckpointBarrier, StreamData, StreamRecord, Timestamp, Watermark, WatermarkStatus,
};

use crate::checkpoint::TaskStateSnapshot;
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

    /// Called once per job run before any writer exists, with the sink's parallelism (Flink's
    /// `initializeGlobal`): the place to check or prepare the destination.
    fn prepare(&self, _parallelism: usize) -> Result<(), BoxError> {
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
}

/// The end of a chain that hands records to a [`SinkWriter`].
pub struct SinkInput<T, W> {
    writer: Option<W>,
    create: Option<Box<dyn FnOnce() -> Result<W, BoxError> + Send>>,
    ctx: OperatorContext,
    _type: PhantomData<fn(T)>,
}

impl<T, W> SinkInput<T, W> {
    /// A chain end that creates its writer with `create` when it opens.
    pub fn new(
        create: Box<dyn FnOnce() -> Result<W, BoxError> + Send>,
        ctx: OperatorContext,
    ) -> Self {
        SinkInput {
            writer: None,
            create: Some(create),
            ctx,
            _type: PhantomData,
        }
    }

    fn writer(&mut self) -> Result<&mut W, TaskError> {
        self.writer
            .as_mut()
            .ok_or_else(|| TaskError::failed(&self.ctx.info, "sink used before it was opened"))
    }
}

impl<T: Send, W: SinkWriter<T>> Input<T> for SinkInput<T, W> {
    fn open(&mut self) -> Result<(), TaskError> {
        if let Some(create) = self.create.take() {
            self.writer = Some(guard(&self.ctx.info, create)?);
        }
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
        _barrier: CheckpointBarrier,
        _snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        Ok(())
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        let info = self.ctx.info.clone();
        let writer = self.writer()?;
        guard(&info, || writer.flush(true))
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
        let sink = Arc::clone(&self.sink);
        let writer_ctx = ctx.clone();
        let create = Box::new(move || sink.create_writer(&writer_ctx));
        let input: BoxedInput<T> = Box::new(SinkInput::new(create, ctx));
        Ok(erase_input(input))
    }
}
