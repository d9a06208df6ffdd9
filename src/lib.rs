//! Strom: stateful computations over unbounded and bounded streams, with Apache Flink's
//! model (DataStream API, event time, keyed state, exactly-once checkpoints) and names,
//! written the Rust way.
//!
//! A job needs only the prelude:
//!
//! ```
//! use strom::prelude::*;
//!
//! let env = StreamExecutionEnvironment::get_execution_environment();
//! env.set_parallelism(2).set_runtime_mode(RuntimeExecutionMode::Batch);
//! let mut counts = env
//!     .from_collection(vec!["to be or not to be".to_string()])
//!     .flat_map(|line: String, out: &mut Collector<(String, u64)>| {
//!         line.split(' ').for_each(|word| out.collect((word.to_string(), 1)))
//!     })
//!     .key_by(|(word, _)| word.clone())
//!     .sum(1)
//!     .execute_and_collect()
//!     .unwrap();
//! counts.sort();
//! assert_eq!(counts[0], ("be".to_string(), 2));
//! ```
//!
//! The crates underneath, one per layer: [`core`] (elements, time, key groups,
//! configuration), [`state`], [`runtime`] (graphs, tasks, exchanges, executor),
//! [`connectors`] and [`api`].
#![deny(clippy::clone_on_ref_ptr)]

/// jemalloc as the program's allocator (the default `jemalloc` feature): records cross
/// threads between tasks, and jemalloc frees memory allocated on another thread cheaply.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub use strom_api as api;
pub use strom_connectors as connectors;
pub use strom_core as core;
pub use strom_runtime as runtime;
pub use strom_state as state;

/// Everything a job needs: `use strom::prelude::*;`.
pub mod prelude {
    pub use strom_api::broadcast::{
        BroadcastContext, BroadcastProcessContext, BroadcastStream, KeyedBroadcastConnectedStream,
        KeyedBroadcastProcessFunction, ReadOnlyContext,
    };
    pub use strom_api::broadcast_process::{
        BroadcastConnectedStream, BroadcastProcessFunction, BroadcastProcessReadOnlyContext,
    };
    pub use strom_api::connected::{
        CoFlatMapFunction, CoMapFunction, CoProcessFunction, ConnectedStreams, Either,
        KeyedCoProcessFunction, KeyedConnectedStreams,
    };
    pub use strom_api::functions::{
        Collector, Context, OutputTag, ProcessFunction, RuntimeContext,
    };
    pub use strom_api::interval_join::{
        IntervalJoin, IntervalJoined, JoinContext, ProcessJoinFunction,
    };
    pub use strom_api::keyed_process::{
        KeyedContext, KeyedProcessFunction, TimeDomain, TimerService,
    };
    pub use strom_api::watermarks::{WatermarkGenerator, WatermarkOutput, WatermarkStrategy};
    pub use strom_api::window_join::{
        CoGroupFunction, CoGroupedStreams, JoinFunction, JoinedStreams,
    };
    pub use strom_api::windowing::{
        AggregateFunction, ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger,
        CountEvictor, CountTrigger, EventTimeSessionWindows, EventTimeTrigger, Evictor,
        GlobalWindow, GlobalWindows, ProcessWindowFunction, ProcessingTimeSessionWindows,
        ProcessingTimeTrigger, PurgingTrigger, SlidingEventTimeWindows,
        SlidingProcessingTimeWindows, TimeEvictor, TimeWindow, Trigger, TriggerContext,
        TriggerResult, TumblingEventTimeWindows, TumblingProcessingTimeWindows, Window,
        WindowContext,
    };
    pub use strom_api::{
        AllWindowedStream, CollectedRecords, DataStream, DataStreamSink, JobClient,
        JobExecutionResult, KeyedStream, StreamExecutionEnvironment, WindowedStream,
    };
    pub use strom_connectors::discard::DiscardingSink;
    pub use strom_connectors::file::WriteMode;
    pub use strom_connectors::file_sink::{Encoder, FileSink, RollingPolicy, SimpleStringEncoder};
    pub use strom_core::config::{Configuration, RuntimeExecutionMode, StateBackendType};
    pub use strom_core::format::Printable;
    pub use strom_core::{
        printable_via_display, BoxError, CheckpointingMode, StreamRecord, Timestamp, Watermark,
    };
    pub use strom_runtime::restart::RestartStrategy;
    pub use strom_runtime::sink::{Sink, SinkWriter};
    pub use strom_runtime::source::{
        Boundedness, ReaderStatus, Source, SourceOutput, SourceReader, SourceSplit,
    };
    pub use strom_runtime::JobError;
    pub use strom_state::{
        AggregatingState, AggregatingStateDescriptor, ListState, ListStateDescriptor, MapState,
        MapStateDescriptor, OperatorStateStore, ReducingState, ReducingStateDescriptor,
        StateDescriptor, StateError, StateTtlConfig, StateVisibility, UpdateType, ValueState,
        ValueStateDescriptor,
    };
}

/// The README's code blocks compile as doctests, so the quick start cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
