//! The bottom layer of Strom: the vocabulary every other crate speaks.
//!
//! It owns what travels between operators ([`element`]), checkpoint barriers ([`checkpoint`]),
//! event time ([`time`]), how keys map
//! to key groups and key groups to subtasks ([`key_group`]), how records print in Flink's text
//! form ([`format`]), and Flink-compatible configuration ([`config`]). Nothing here knows about
//! operators, tasks or the API; everything here is plain data that can cross a process boundary.
#![deny(clippy::clone_on_ref_ptr)]

pub mod checkpoint;
pub mod config;
pub mod element;
pub mod error;
pub mod format;
pub mod key_group;
pub mod time;

pub use checkpoint::{CheckpointBarrier, CheckpointId, CheckpointingMode};
pub use element::{StreamElement, StreamRecord};
pub use error::BoxError;
pub use time::{Timestamp, Watermark, WatermarkStatus};

/// Everything that flows through a Strom stream: owned, sendable across threads and
/// serializable so that it can cross a process boundary in cluster mode.
///
/// It is implemented for every type that satisfies the bounds; users never implement it.
pub trait StreamData:
    Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static
{
}
impl<T: Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static> StreamData for T {}
