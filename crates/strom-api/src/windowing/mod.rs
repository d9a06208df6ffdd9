//! Windows: grouping a stream's records by time or count and evaluating each group (Flink's
//! windowing API, same names and semantics).
//!
//! `key_by(..).window(assigner)` (or `window_all` on a whole stream) gives a
//! [`WindowedStream`]; an optional [`Trigger`], [`Evictor`], allowed lateness and late-data side
//! output configure it; `reduce`, `aggregate` or `process` evaluate each window. Results carry
//! the window's largest timestamp, so windows can be chained.

mod aligned;
mod assigners;
mod contents;
mod evictors;
mod functions;
mod open_windows;
mod operator;
mod routing;
mod triggers;
mod window;
mod windowed_stream;

pub use assigners::{
    EventTimeSessionWindows, EventTimeSessions, GlobalWindows, ProcessingTimeSessionWindows,
    ProcessingTimeSessions, SlidingEventTimeWindows, SlidingProcessingTimeWindows,
    TumblingEventTimeWindows, TumblingProcessingTimeWindows, WindowAssigner,
};
pub use evictors::{CountEvictor, Evictor, NoEvictor, TimeEvictor};
pub use functions::{AggregateFunction, ProcessWindowFunction, WindowContext};
pub use triggers::{
    ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger, CountTrigger, EventTimeTrigger,
    NeverTrigger, ProcessingTimeTrigger, PurgingTrigger, Trigger, TriggerContext, TriggerResult,
};
pub use window::{GlobalWindow, TimeWindow, Window};
pub use windowed_stream::{AllWindowedStream, WindowedStream};
