//! The DataStream API: what a Strom job is written against.
//!
//! A job gets a [`StreamExecutionEnvironment`], creates [`DataStream`]s from sources,
//! transforms them (`map`, `flat_map`, `filter`, `key_by` into a [`KeyedStream`] and its
//! aggregations, `process`), ends them in sinks and calls `execute`. Every call only records
//! the graph; `execute` decides where it runs (embedded by default). Names follow Flink's
//! `DataStream` API in snake_case.
#![deny(clippy::clone_on_ref_ptr)]

pub mod broadcast;
pub mod broadcast_process;
mod combiner;
pub mod connected;
mod datastream;
mod environment;
pub mod fields;
pub mod functions;
pub mod interval_join;
pub mod keyed_process;
mod keyed_stream;
mod operators;
mod routing;
pub mod watermarks;
pub mod window_join;
pub mod windowing;

pub use datastream::{CollectedRecords, DataStream, DataStreamSink};
pub use environment::{JobClient, JobExecutionResult, StreamExecutionEnvironment};
pub use keyed_stream::KeyedStream;
pub use windowing::{AllWindowedStream, WindowedStream};
