//! Channel writers: the end of a chain that feeds other tasks. Each buffers records into
//! batches per channel, sends a batch when it is full or on flush, and broadcasts watermarks,
//! checkpoint barriers and end-of-input to every channel after the records before them.

use std::panic::{catch_unwind, AssertUnwindSafe};

use strom_core::{CheckpointBarrier, StreamElement, StreamRecord, Watermark, WatermarkStatus};

use super::channel::ChannelSender;
use super::partitioner::RecordRouter;
use crate::checkpoint::TaskStateSnapshot;
use crate::error::{OperatorInfo, TaskError};
use crate::operator::Input;

/// The channels of one writer and what every writer does with them.
struct Channels<T> {
    senders: Vec<ChannelSender<T>>,
    batch_size: usize,
}

impl<T: Clone> Channels<T> {
    fn send_records(&self, channel: usize, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        self.senders[channel].send(StreamElement::Records(batch))
    }

    fn send_to_all(&self, element: StreamElement<T>) -> Result<(), TaskError> {
        self.senders
            .iter()
            .try_for_each(|sender| sender.send(element.clone()))
    }
}

/// Adds `batch` to `buffer`, taking the vector over when the buffer is empty.
fn append<T>(buffer: &mut Vec<StreamRecord<T>>, mut batch: Vec<StreamRecord<T>>) {
    if buffer.is_empty() {
        std::mem::swap(buffer, &mut batch);
    } else {
        buffer.append(&mut batch);
    }
}

macro_rules! control_elements {
    () => {
        fn open(&mut self) -> Result<(), TaskError> {
            Ok(())
        }
        fn process_watermark(&mut self, watermark: Watermark) -> Result<(), TaskError> {
            self.flush()?;
            self.channels
                .send_to_all(StreamElement::Watermark(watermark))
        }
        fn process_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError> {
            self.flush()?;
            self.channels
                .send_to_all(StreamElement::WatermarkStatus(status))
        }
        fn process_barrier(
            &mut self,
            barrier: CheckpointBarrier,
            _snapshot: &mut TaskStateSnapshot,
        ) -> Result<(), TaskError> {
            self.flush()?;
            self.channels.send_to_all(StreamElement::Barrier(barrier))
        }
        fn end_input(&mut self) -> Result<(), TaskError> {
            self.flush()?;
            self.channels.send_to_all(StreamElement::EndOfInput)
        }
    };
}

/// How a [`BatchWriter`] sends a full batch.
enum BatchRouting {
    /// To the channels in turn, starting at `next` (`rebalance`, `rescale`, and any writer
    /// with a single channel: `forward`, `global`).
    RoundRobin { next: usize },
    /// To every channel (`broadcast`).
    Broadcast,
}

/// Writes whole batches without looking at records: as even as Flink's per-record round robin
/// at batch granularity, without touching each record.
pub struct BatchWriter<T> {
    channels: Channels<T>,
    buffer: Vec<StreamRecord<T>>,
    routing: BatchRouting,
}

impl<T> BatchWriter<T> {
    /// Batches to `senders` in turn, starting with channel `first % senders.len()`.
    pub fn round_robin(senders: Vec<ChannelSender<T>>, batch_size: usize, first: usize) -> Self {
        let next = first % senders.len().max(1);
        BatchWriter {
            channels: Channels {
                senders,
                batch_size,
            },
            buffer: Vec::new(),
            routing: BatchRouting::RoundRobin { next },
        }
    }

    /// Every batch to every one of `senders`.
    pub fn broadcast(senders: Vec<ChannelSender<T>>, batch_size: usize) -> Self {
        BatchWriter {
            channels: Channels {
                senders,
                batch_size,
            },
            buffer: Vec::new(),
            routing: BatchRouting::Broadcast,
        }
    }
}

impl<T: Clone + Send> Input<T> for BatchWriter<T> {
    control_elements!();

    fn process_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        append(&mut self.buffer, batch);
        if self.buffer.len() >= self.channels.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.buffer);
        match &mut self.routing {
            BatchRouting::RoundRobin { next } => {
                let channel = *next;
                *next = (*next + 1) % self.channels.senders.len();
                self.channels.send_records(channel, batch)
            }
            BatchRouting::Broadcast => self.channels.send_to_all(StreamElement::Records(batch)),
        }
    }
}

/// Sends each record to the channel its router chooses (`key_by`, `partition_custom`,
/// `shuffle`). The router runs user code (a key selector), so it is guarded like an operator.
pub struct KeyedWriter<T, R: RecordRouter<T>> {
    channels: Channels<R::Out>,
    buffers: Vec<Vec<StreamRecord<R::Out>>>,
    router: R,
    info: OperatorInfo,
}

impl<T, R: RecordRouter<T>> KeyedWriter<T, R> {
    /// A writer over `senders` (one per downstream subtask, in subtask order); `info` names
    /// the operator whose output is partitioned, for errors in the router.
    pub fn new(
        senders: Vec<ChannelSender<R::Out>>,
        batch_size: usize,
        router: R,
        info: OperatorInfo,
    ) -> Self {
        let buffers = senders
            .iter()
            .map(|_| Vec::with_capacity(batch_size))
            .collect();
        KeyedWriter {
            channels: Channels {
                senders,
                batch_size,
            },
            buffers,
            router,
            info,
        }
    }
}

impl<T: Send, R> Input<T> for KeyedWriter<T, R>
where
    R: RecordRouter<T>,
    R::Out: Clone + Send,
{
    control_elements!();

    fn process_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        let channels = self.channels.senders.len();
        let (router, buffers) = (&mut self.router, &mut self.buffers);
        let routed = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
            for record in batch {
                let (channel, record) = router.route(record, channels)?;
                let buffer = buffers
                    .get_mut(channel)
                    .ok_or_else(|| format!("partitioner chose channel {channel} of {channels}"))?;
                buffer.push(record);
            }
            Ok(())
        }));
        match routed {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(TaskError::failed(&self.info, message)),
            Err(_) => {
                return Err(TaskError::UserPanic {
                    operator: self.info.clone(),
                    message: "the key selector or partitioner panicked".to_string(),
                })
            }
        }
        for channel in 0..channels {
            if self.buffers[channel].len() >= self.channels.batch_size {
                let full = std::mem::replace(
                    &mut self.buffers[channel],
                    Vec::with_capacity(self.channels.batch_size),
                );
                self.channels.send_records(channel, full)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        for channel in 0..self.buffers.len() {
            if !self.buffers[channel].is_empty() {
                let batch = std::mem::take(&mut self.buffers[channel]);
                self.channels.send_records(channel, batch)?;
            }
        }
        Ok(())
    }
}
