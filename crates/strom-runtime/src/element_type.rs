//! Type erasure at the seams of the graph.
//!
//! A job's operators have different element types, but the executor handles them all
//! uniformly: it creates channels, fans outputs out, and runs input loops without knowing the
//! types. Each stream carries an [`ElementType`] made where the type is still known (in the
//! API), and typed parts travel through the executor as `Box<dyn Any>` that the typed code on
//! the other side turns back. A wrong downcast is a bug in Strom, never a user error.

use std::any::{type_name, Any};
use std::marker::PhantomData;
use std::sync::Arc;

use strom_core::StreamData;

use crate::error::TaskError;
use crate::exchange::{
    channel, BatchWriter, ChannelReceiver, ChannelSender, InputGate, KeyedWriter, PartitionerKind,
    ShuffleRouter,
};
use crate::operator::{
    BoxedInput, Discard, ErasedOutput, ExecutionMode, FanOut, OperatorInfo, Output,
};
use crate::task::{run_input_task, TaskControl};

/// A [`BoxedInput<T>`] with `T` erased.
pub type AnyInput = Box<dyn Any + Send>;
/// A [`ChannelSender<T>`] with `T` erased.
pub type AnySender = Box<dyn Any + Send>;
/// A [`ChannelReceiver<T>`] with `T` erased.
pub type AnyReceiver = Box<dyn Any + Send>;

/// Erases `input`.
pub fn erase_input<T: 'static>(input: BoxedInput<T>) -> AnyInput {
    Box::new(input)
}

/// Restores an input erased by [`erase_input`].
pub fn downcast_input<T: 'static>(input: AnyInput) -> BoxedInput<T> {
    match input.downcast::<BoxedInput<T>>() {
        Ok(input) => *input,
        Err(_) => unreachable!(
            "a chain was assembled with mismatched types ({})",
            type_name::<T>()
        ),
    }
}

/// Restores parts of one type erased as `Box<dyn Any>` (channel ends).
fn downcast_all<X: 'static>(parts: Vec<Box<dyn Any + Send>>) -> Vec<X> {
    parts
        .into_iter()
        .map(|part| match part.downcast::<X>() {
            Ok(part) => *part,
            Err(_) => unreachable!("a channel end of another type than {}", type_name::<X>()),
        })
        .collect()
}

/// What the executor needs to do with a stream without knowing its element type.
pub trait ElementType: Send + Sync {
    /// The Rust type name, for messages.
    fn type_name(&self) -> &'static str;
    /// A bounded channel holding `capacity` messages.
    fn channel(&self, capacity: usize) -> (AnySender, AnyReceiver);
    /// One input feeding all of `outputs` (a discarding one when there are none).
    fn fan_out(&self, outputs: Vec<AnyInput>) -> AnyInput;
    /// A channel writer for a partitioner that needs no user code.
    fn writer(
        &self,
        kind: PartitionerKind,
        senders: Vec<AnySender>,
        batch_size: usize,
        sender_index: usize,
    ) -> AnyInput;
    /// An output into `input` for use as another operator's side output.
    fn side_output(&self, input: AnyInput, batch_size: usize) -> Box<dyn ErasedOutput>;
    /// Runs a task that reads `receivers` into `head` until its input ends.
    fn run_input_task(
        &self,
        receivers: Vec<AnyReceiver>,
        head: AnyInput,
        control: &TaskControl,
    ) -> Result<(), TaskError>;
}

struct Element<T>(PhantomData<fn() -> T>);

/// The [`ElementType`] of `T`.
pub fn element_type<T: StreamData>() -> Arc<dyn ElementType> {
    Arc::new(Element::<T>(PhantomData))
}

impl<T: StreamData> ElementType for Element<T> {
    fn type_name(&self) -> &'static str {
        type_name::<T>()
    }

    fn channel(&self, capacity: usize) -> (AnySender, AnyReceiver) {
        let (sender, receiver) = channel::<T>(capacity);
        (Box::new(sender), Box::new(receiver))
    }

    fn fan_out(&self, outputs: Vec<AnyInput>) -> AnyInput {
        let mut outputs: Vec<BoxedInput<T>> = outputs.into_iter().map(downcast_input).collect();
        let input: BoxedInput<T> = match outputs.len() {
            0 => Box::new(Discard),
            1 => outputs.remove(0),
            _ => Box::new(FanOut::new(outputs)),
        };
        erase_input(input)
    }

    fn writer(
        &self,
        kind: PartitionerKind,
        senders: Vec<AnySender>,
        batch_size: usize,
        sender_index: usize,
    ) -> AnyInput {
        let senders = downcast_all::<ChannelSender<T>>(senders);
        let input: BoxedInput<T> = match kind {
            PartitionerKind::Broadcast if senders.len() > 1 => {
                Box::new(BatchWriter::broadcast(senders, batch_size))
            }
            PartitionerKind::Shuffle if senders.len() > 1 => {
                let info = OperatorInfo {
                    name: "shuffle".into(),
                    subtask_index: sender_index,
                    parallelism: senders.len(),
                };
                let router = ShuffleRouter::new(0x5EED ^ sender_index as u64);
                Box::new(KeyedWriter::new(senders, batch_size, router, info))
            }
            _ => Box::new(BatchWriter::round_robin(senders, batch_size, sender_index)),
        };
        erase_input(input)
    }

    fn side_output(&self, input: AnyInput, batch_size: usize) -> Box<dyn ErasedOutput> {
        Output::new(downcast_input::<T>(input), batch_size).erased()
    }

    fn run_input_task(
        &self,
        receivers: Vec<AnyReceiver>,
        head: AnyInput,
        control: &TaskControl,
    ) -> Result<(), TaskError> {
        let receivers = downcast_all::<ChannelReceiver<T>>(receivers);
        run_input_task(
            InputGate::new(receivers).with_checkpointing_mode(control.checkpointing_mode()),
            downcast_input::<T>(head),
            control,
        )
    }
}

/// Creates the channel writer of a partitioner that runs user code (`key_by`,
/// `partition_custom`): made by the API, which still knows the key selector's type.
pub trait RouterFactory: Send + Sync {
    /// A writer over `senders` (one per downstream subtask, in order); `info` names the
    /// upstream operator for errors in user code.
    fn writer(
        &self,
        senders: Vec<AnySender>,
        settings: WriterSettings,
        info: OperatorInfo,
    ) -> AnyInput;
}

/// What a [`RouterFactory`] knows about the edge it writes to.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Records per batch.
    pub batch_size: usize,
    /// Number of key groups of the downstream operator.
    pub target_max_parallelism: usize,
    /// Streaming or batch: in batch mode a writer may pre-aggregate.
    pub execution_mode: ExecutionMode,
}

/// Restores typed senders inside a [`RouterFactory`].
pub fn typed_senders<T: 'static>(senders: Vec<AnySender>) -> Vec<ChannelSender<T>> {
    downcast_all(senders)
}
