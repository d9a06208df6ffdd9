//! How subtasks of different tasks talk: bounded channels carrying batches and in-band
//! control elements, partitioners that decide which channel a record takes, and the input
//! gate that merges a task's channels back into one ordered stream of events.
//!
//! Tasks see only [`ChannelSender`] and [`ChannelReceiver`]. Between processes, a network
//! connection will feed the same kind of local channel on the receiving side, so a task never
//! knows whether its neighbour runs on the same machine.

mod channel;
mod input_gate;
mod partitioner;
mod writer;

pub use channel::{channel, ChannelReceiver, ChannelSender};
pub use input_gate::{GateEvent, InputGate};
pub use partitioner::{
    KeyGroupRouter, KeyedRecord, KeyedRecordRouter, PartitionerKind, RecordRouter, ShuffleRouter,
};
pub use writer::{BatchWriter, KeyedWriter};
