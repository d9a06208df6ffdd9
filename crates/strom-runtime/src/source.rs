//! The public source interface, and the loop that runs a source reader in a task.
//!
//! A [`Source`] is split into [`SourceSplit`]s when the job starts (a file range, a slice of a
//! collection, a socket connection); the parallel [`SourceReader`]s pull splits one at a time
//! and read them. A split is plain serializable data so that a reader's position can be
//! checkpointed and handed to another reader after a failure or a rescale. Every built-in
//! source is written against these traits, as a user's own source would be.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::config::options::AUTO_WATERMARK_INTERVAL;
use strom_core::{BoxError, CheckpointId, StreamData, StreamRecord, Timestamp, Watermark};

use crate::checkpoint::{OperatorStateSnapshot, TaskStateSnapshot};
use crate::element_type::{downcast_input, element_type, AnyInput, ElementType};
use crate::error::TaskError;
use crate::operator::{guard, BoxedInput, ExecutionMode, OperatorContext};
use crate::task::TaskControl;
use crate::watermark::{WatermarkEmitter, WatermarkEvent, WatermarkStrategy};

/// Whether a source ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Boundedness {
    /// The source ends (a file, a collection): allows batch execution.
    Bounded,
    /// The source may never end (a socket, a message queue).
    ContinuousUnbounded,
}

/// A piece of a source's input that one reader reads, as plain data.
pub trait SourceSplit: Clone + Debug + Send + Serialize + DeserializeOwned + 'static {
    /// A stable, unique id of the split (for logs and checkpoints).
    fn split_id(&self) -> String;
}

/// A source of records of type `T`.
pub trait Source<T>: Send + Sync + 'static {
    /// The unit of work of this source.
    type Split: SourceSplit;
    /// The reader running in each parallel subtask.
    type Reader: SourceReader<T, Self::Split>;

    /// Whether the source ends.
    fn boundedness(&self) -> Boundedness;

    /// Divides the input into splits when the job starts; `parallelism` is the number of
    /// readers. An error here (a missing file) fails the job before any task runs.
    fn create_splits(&self, parallelism: usize) -> Result<Vec<Self::Split>, BoxError>;

    /// Creates the reader of one subtask.
    fn create_reader(&self, ctx: &OperatorContext) -> Result<Self::Reader, BoxError>;
}

/// What a reader reports after a call to [`SourceReader::poll_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderStatus {
    /// More records are available now: call again.
    MoreAvailable,
    /// Nothing arrived within a short wait (at most about 100 ms); call again later.
    NothingAvailable,
    /// The current split is exhausted; the reader wants another split.
    EndOfSplit,
}

/// Reads splits, one at a time, into records.
pub trait SourceReader<T, S>: Send {
    /// Starts reading `split`; called when the previous split reached its end.
    fn start_split(&mut self, split: S) -> Result<(), BoxError>;

    /// Emits the next records of the current split into `output`, stopping when
    /// [`SourceOutput::is_full`] says so.
    fn poll_next(&mut self, output: &mut SourceOutput<T>) -> Result<ReaderStatus, BoxError>;

    /// For a checkpoint: what is left of the current split (a split that starts where the
    /// reader stands), or `None` when no split is being read. A reader that cannot say fails
    /// every checkpoint, so the default is an error.
    fn snapshot_state(&mut self) -> Result<Option<S>, BoxError> {
        Err(
            "this source cannot take part in checkpoints: its reader does not implement \
             snapshot_state"
                .into(),
        )
    }
}

/// Where a reader emits records: a batch that the task hands to the chain.
pub struct SourceOutput<T> {
    batch: Vec<StreamRecord<T>>,
    capacity: usize,
}

impl<T> SourceOutput<T> {
    /// An output that is full after `capacity` records.
    pub fn new(capacity: usize) -> Self {
        SourceOutput {
            batch: Vec::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// Emits a record without a timestamp.
    #[inline]
    pub fn collect(&mut self, value: T) {
        self.batch.push(StreamRecord::new(value));
    }

    /// Emits a record with an event timestamp.
    #[inline]
    pub fn collect_with_timestamp(&mut self, value: T, timestamp: Timestamp) {
        self.batch
            .push(StreamRecord::with_timestamp(value, timestamp));
    }

    /// Whether the reader should return now so the batch moves on.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.batch.len() >= self.capacity
    }

    /// The records emitted so far, leaving the output empty.
    pub fn take(&mut self) -> Vec<StreamRecord<T>> {
        std::mem::replace(&mut self.batch, Vec::with_capacity(self.capacity))
    }

    fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
}

/// How a source's splits reach its readers.
#[derive(Debug, Clone, Copy)]
pub enum SplitAssignment<'a> {
    /// Readers take splits from one queue when they finish one, so fast readers take more.
    Shared,
    /// Each reader gets its splits up front (split `i` to reader `i mod parallelism`), so its
    /// snapshot — the rest of its current split and the splits it has not started — is all the
    /// source's progress. Used when the job checkpoints.
    PerReader,
    /// Each reader continues from what a checkpoint restored for it: its encoded splits.
    Restored(&'a [Vec<Vec<u8>>]),
}

/// The splits of one source not yet taken by a reader: one queue shared by all readers, or one
/// per reader.
pub struct SplitQueue<S> {
    queues: Vec<Mutex<VecDeque<S>>>,
}

impl<S: Clone> SplitQueue<S> {
    fn queue(&self, subtask: usize) -> std::sync::MutexGuard<'_, VecDeque<S>> {
        let queue = if self.queues.len() == 1 {
            &self.queues[0]
        } else {
            &self.queues[subtask]
        };
        queue.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn next(&self, subtask: usize) -> Option<S> {
        self.queue(subtask).pop_front()
    }

    /// The splits reader `subtask` has not started.
    fn remaining(&self, subtask: usize) -> Vec<S> {
        self.queue(subtask).iter().cloned().collect()
    }
}

/// A source as the runtime sees it: element type erased, so a graph can hold any source.
pub trait SourceFactory: Send + Sync {
    /// The type of the records it produces.
    fn output_type(&self) -> Arc<dyn ElementType>;
    /// Creates the split queue(s) of the readers.
    fn enumerate(
        &self,
        parallelism: usize,
        assignment: SplitAssignment<'_>,
    ) -> Result<Arc<dyn Any + Send + Sync>, BoxError>;
    /// Runs one reader, feeding `head` until the splits are exhausted or the job stops.
    fn run(
        &self,
        ctx: &OperatorContext,
        splits: &(dyn Any + Send + Sync),
        head: AnyInput,
        control: &TaskControl,
    ) -> Result<(), TaskError>;
}

/// Adapts a typed [`Source`] to [`SourceFactory`].
pub struct SourceNode<T, S> {
    source: S,
    watermarks: Option<WatermarkStrategy<T>>,
    _type: PhantomData<fn() -> T>,
}

impl<T, S> SourceNode<T, S> {
    /// Wraps `source`; its records keep the timestamps the reader gives them and the only
    /// watermark is the final one.
    pub fn new(source: S) -> Self {
        SourceNode {
            source,
            watermarks: None,
            _type: PhantomData,
        }
    }

    /// Wraps `source`, running `strategy` over each split the readers read.
    pub fn with_watermarks(source: S, strategy: WatermarkStrategy<T>) -> Self {
        SourceNode {
            source,
            watermarks: Some(strategy),
            _type: PhantomData,
        }
    }
}

/// Hands a source's records, watermarks and status changes to the head of its chain. Each split
/// gets its own emitter; the source's watermark is the largest any split produced, so a split
/// that starts behind the previous one never moves event time back.
struct SourceEmission<T> {
    head: BoxedInput<T>,
    emitter: Option<WatermarkEmitter<T>>,
    watermark: Watermark,
}

impl<T: Send + 'static> SourceEmission<T> {
    fn emit(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        let Some(mut emitter) = self.emitter.take() else {
            return self.head.process_batch(batch);
        };
        let mut result = Ok(());
        emitter.process_batch(batch, |item| {
            if result.is_ok() {
                result = self.hand_on(item);
            }
        });
        self.emitter = Some(emitter);
        result
    }

    fn periodic(&mut self, now: Timestamp) -> Result<(), TaskError> {
        if let Some(mut emitter) = self.emitter.take() {
            let mut result = Ok(());
            emitter.on_periodic_emit(now, |item| {
                if result.is_ok() {
                    result = self.hand_on(item);
                }
            });
            self.emitter = Some(emitter);
            result?;
        }
        self.head.on_processing_time(now)
    }

    fn hand_on(
        &mut self,
        item: Result<Vec<StreamRecord<T>>, WatermarkEvent>,
    ) -> Result<(), TaskError> {
        match item {
            Ok(records) if records.is_empty() => Ok(()),
            Ok(records) => self.head.process_batch(records),
            Err(WatermarkEvent::Watermark(watermark)) if watermark > self.watermark => {
                self.watermark = watermark;
                self.head.process_watermark(watermark)
            }
            Err(WatermarkEvent::Watermark(_)) => Ok(()),
            Err(WatermarkEvent::Status(status)) => self.head.process_watermark_status(status),
        }
    }
}

impl<T: StreamData, S: Source<T>> SourceFactory for SourceNode<T, S> {
    fn output_type(&self) -> Arc<dyn ElementType> {
        element_type::<T>()
    }

    fn enumerate(
        &self,
        parallelism: usize,
        assignment: SplitAssignment<'_>,
    ) -> Result<Arc<dyn Any + Send + Sync>, BoxError> {
        let queues = match assignment {
            SplitAssignment::Shared => vec![self.source.create_splits(parallelism)?.into()],
            SplitAssignment::PerReader => {
                let mut queues = vec![VecDeque::new(); parallelism.max(1)];
                for (index, split) in self
                    .source
                    .create_splits(parallelism)?
                    .into_iter()
                    .enumerate()
                {
                    queues[index % parallelism.max(1)].push_back(split);
                }
                queues
            }
            SplitAssignment::Restored(readers) => readers
                .iter()
                .map(|entries| {
                    entries
                        .iter()
                        .map(|bytes| postcard::from_bytes::<S::Split>(bytes))
                        .collect::<Result<VecDeque<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("a restored split cannot be read: {error}"))?,
        };
        Ok(Arc::new(SplitQueue {
            queues: queues.into_iter().map(Mutex::new).collect(),
        }))
    }

    fn run(
        &self,
        ctx: &OperatorContext,
        splits: &(dyn Any + Send + Sync),
        head: AnyInput,
        control: &TaskControl,
    ) -> Result<(), TaskError> {
        let Some(splits) = splits.downcast_ref::<SplitQueue<S::Split>>() else {
            unreachable!("the split queue was made by this source node");
        };
        let mut reader = guard(&ctx.info, || self.source.create_reader(ctx))?;
        let mut head = SourceEmission {
            head: downcast_input::<T>(head),
            emitter: None,
            watermark: Watermark::MIN,
        };
        head.head.open()?;
        let time = &ctx.processing_time;
        let interval = ctx
            .config
            .get(&AUTO_WATERMARK_INTERVAL)
            .unwrap_or(Duration::from_millis(200))
            .as_millis() as Timestamp;
        let periodic = self.watermarks.is_some() && interval > 0;
        if periodic {
            time.request_wakeup(time.current_processing_time() + interval);
        }
        let mut output = SourceOutput::new(if control.flushes_every_record() {
            1
        } else {
            ctx.batch_size
        });
        let mut flush_timer = control.flush_timer();
        let subtask = ctx.info.subtask_index;
        while let Some(split) = splits.next(subtask) {
            guard(&ctx.info, || reader.start_split(split))?;
            head.emitter = self.watermarks.as_ref().map(|strategy| {
                strategy.create_emitter(ctx.execution_mode == ExecutionMode::Streaming)
            });
            loop {
                if let Some(checkpoint) = control.newly_completed_checkpoint() {
                    head.head.notify_checkpoint_complete(checkpoint)?;
                }
                if let Err(stopped) = control.check_cancelled() {
                    // A savepoint the job is stopped with completed before the stop was asked
                    // for: what it covers is committed first.
                    if let Some(checkpoint) = control.newly_completed_checkpoint() {
                        head.head.notify_checkpoint_complete(checkpoint)?;
                    }
                    return Err(stopped);
                }
                if let Some(barrier) = control.barrier_to_inject() {
                    if !output.is_empty() {
                        head.emit(output.take())?;
                    }
                    let mut snapshot = TaskStateSnapshot::default();
                    let current = guard(&ctx.info, || reader.snapshot_state())?;
                    let state = encode_splits(current.into_iter().chain(splits.remaining(subtask)))
                        .map_err(|error| TaskError::failed(&ctx.info, error))?;
                    snapshot.add(&ctx.operator_id, &ctx.info.name, state);
                    // The chain hears of the checkpoint before this one first: incremental
                    // snapshots build on it.
                    if let Some(checkpoint) = control.newly_completed_checkpoint() {
                        head.head.notify_checkpoint_complete(checkpoint)?;
                    }
                    head.head.process_barrier(barrier, &mut snapshot)?;
                    control.acknowledge(barrier.id, snapshot);
                }
                let status = guard(&ctx.info, || reader.poll_next(&mut output))?;
                if !output.is_empty() {
                    head.emit(output.take())?;
                }
                match status {
                    ReaderStatus::MoreAvailable => {}
                    ReaderStatus::NothingAvailable => {
                        head.head.flush()?;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    ReaderStatus::EndOfSplit => break,
                }
                if let Some(now) = time.take_due() {
                    if periodic {
                        time.request_wakeup(now + interval);
                    }
                    head.periodic(now)?;
                }
                if flush_timer.is_due() {
                    head.head.flush()?;
                }
            }
        }
        // A finished source has no more event time to hold back (Flink does the same).
        let mut head = head.head;
        head.process_watermark(Watermark::MAX)?;
        head.end_input()?;
        // In later checkpoints this source stands as read to the end.
        let mut final_state = TaskStateSnapshot::default();
        let nothing_left = encode_splits(std::iter::empty::<S::Split>())
            .map_err(|error| TaskError::failed(&ctx.info, error))?;
        final_state.add(&ctx.operator_id, &ctx.info.name, nothing_left);
        let read_to_the_end = final_state.clone();
        head.write_final_state(&mut final_state)?;
        let uncommitted = final_state.operators.len() > read_to_the_end.operators.len();
        control.finished(final_state, true);
        if uncommitted {
            control.wait_until_final_state_is_safe()?;
            head.notify_checkpoint_complete(CheckpointId::MAX)?;
            control.committed_final_state(read_to_the_end);
        }
        Ok(())
    }
}

/// A source subtask's progress as operator state: one entry per split still to read.
fn encode_splits<S: Serialize>(
    splits: impl Iterator<Item = S>,
) -> Result<OperatorStateSnapshot, postcard::Error> {
    Ok(OperatorStateSnapshot::entries(
        splits
            .map(|split| postcard::to_stdvec(&split))
            .collect::<Result<_, _>>()?,
    ))
}
