//! What travels through a channel between two tasks, in order.
//!
//! Records move in batches (one message for many records, so a channel hop costs once per
//! batch); watermarks, checkpoint barriers and end-of-input travel in-band between the batches,
//! so an operator sees them exactly where its upstream produced them.

use serde::{Deserialize, Serialize};

use crate::checkpoint::CheckpointBarrier;
use crate::time::{Timestamp, Watermark, WatermarkStatus};

/// One record with its optional event timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord<T> {
    /// The user's value.
    pub value: T,
    /// Event time in milliseconds since the epoch, if a timestamp was assigned.
    pub timestamp: Option<Timestamp>,
}

impl<T> StreamRecord<T> {
    /// A record without a timestamp.
    #[inline]
    pub fn new(value: T) -> Self {
        StreamRecord {
            value,
            timestamp: None,
        }
    }

    /// A record carrying event time `timestamp`.
    #[inline]
    pub fn with_timestamp(value: T, timestamp: Timestamp) -> Self {
        StreamRecord {
            value,
            timestamp: Some(timestamp),
        }
    }

    /// The same timestamp around a new value: how one-to-one operators keep event time.
    #[inline]
    pub fn replace<U>(self, value: U) -> StreamRecord<U> {
        StreamRecord {
            value,
            timestamp: self.timestamp,
        }
    }
}

/// A message on a channel: a batch of records or one control element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StreamElement<T> {
    /// Records in the order the sender produced them; never empty.
    Records(Vec<StreamRecord<T>>),
    /// No record with a smaller timestamp will follow on this channel.
    Watermark(Watermark),
    /// The sender became idle or active again.
    WatermarkStatus(WatermarkStatus),
    /// Checkpoint barrier: records before it belong to the checkpoint, records after it to the
    /// next one.
    Barrier(CheckpointBarrier),
    /// The sender has finished; nothing follows on this channel.
    EndOfInput,
}
