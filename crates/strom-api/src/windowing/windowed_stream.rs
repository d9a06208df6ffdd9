//! [`WindowedStream`] and [`AllWindowedStream`]: the builder between `window` and a window
//! function, as in Flink (`trigger`, `evictor`, `allowed_lateness`, `side_output_late_data`,
//! then `reduce`, `aggregate` or `process`).

use std::any::TypeId;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use strom_core::{StreamData, Timestamp};
use strom_runtime::exchange::KeyedRecord;
use strom_runtime::graph::{operator_factory, NodeBody};

use super::aligned::AlignedWindowOperator;
use super::assigners::WindowAssigner;
use super::contents::{
    AggregateContents, EvictingContents, ListContents, PassThrough, ReduceContents, WindowContents,
    WindowFunction, WithProcess,
};
use super::evictors::{Evictor, NoEvictor};
use super::functions::{AggregateFunction, ProcessWindowFunction};
use super::operator::{WindowOperator, WindowSettings};
use super::triggers::{EventTimeTrigger, Trigger};
use crate::datastream::DataStream;
use crate::functions::OutputTag;
use crate::keyed_stream::KeyedStream;

/// A keyed stream grouped into windows (Flink's `WindowedStream`).
pub struct WindowedStream<T, K, A, TR, E = NoEvictor> {
    input: DataStream<T>,
    assigner: A,
    trigger: TR,
    evictor: Option<E>,
    allowed_lateness: Timestamp,
    late_data_tag: Option<String>,
    window_all: bool,
    _key: PhantomData<fn() -> K>,
}

impl<T, K, A> WindowedStream<T, K, A, A::DefaultTrigger, NoEvictor>
where
    T: StreamData,
    K: StreamData + Hash + Eq,
    A: WindowAssigner<T>,
{
    pub(crate) fn new(input: &KeyedStream<T, K>, assigner: A, window_all: bool) -> Self {
        let trigger = assigner.default_trigger();
        WindowedStream {
            input: input.keyed_input(),
            assigner,
            trigger,
            evictor: None,
            allowed_lateness: 0,
            late_data_tag: None,
            window_all,
            _key: PhantomData,
        }
    }
}

/// Contents and function types that can be copied into every subtask.
trait Buildable: Clone + Send + Sync + 'static {}
impl<X: Clone + Send + Sync + 'static> Buildable for X {}

impl<T, K, A, TR, E> WindowedStream<T, K, A, TR, E>
where
    T: StreamData,
    K: StreamData + Hash + Eq,
    A: WindowAssigner<T>,
    TR: Trigger<T, A::W>,
    E: Evictor<T, A::W>,
{
    /// Replaces the assigner's default trigger.
    pub fn trigger<TR2: Trigger<T, A::W>>(self, trigger: TR2) -> WindowedStream<T, K, A, TR2, E> {
        WindowedStream {
            input: self.input,
            assigner: self.assigner,
            trigger,
            evictor: self.evictor,
            allowed_lateness: self.allowed_lateness,
            late_data_tag: self.late_data_tag,
            window_all: self.window_all,
            _key: PhantomData,
        }
    }

    /// Removes records from each window before or after evaluation; the window then keeps
    /// all its records and aggregates them when it fires.
    pub fn evictor<E2: Evictor<T, A::W>>(self, evictor: E2) -> WindowedStream<T, K, A, TR, E2> {
        WindowedStream {
            input: self.input,
            assigner: self.assigner,
            trigger: self.trigger,
            evictor: Some(evictor),
            allowed_lateness: self.allowed_lateness,
            late_data_tag: self.late_data_tag,
            window_all: self.window_all,
            _key: PhantomData,
        }
    }

    /// Keeps event-time windows for `lateness` after their end: a late record within it is
    /// added and the window fires again with the updated result.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.allowed_lateness = lateness.as_millis() as Timestamp;
        self
    }

    /// Sends records that arrive after their windows' allowed lateness to the side output
    /// `tag` instead of dropping them (read it with `get_side_output` on the result).
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late_data_tag = Some(tag.id().to_string());
        self
    }

    fn build<C, F, OUT>(self, name: &str, contents: C, function: F) -> DataStream<OUT>
    where
        C: WindowContents<T, A::W> + Buildable,
        F: WindowFunction<K, A::W, C::Result, OUT> + Buildable,
        OUT: StreamData,
    {
        match self.evictor.clone() {
            Some(evictor) => {
                let contents = EvictingContents {
                    inner: contents,
                    evictor,
                };
                self.add_window_operator(name, contents, function)
            }
            None => self.add_window_operator(name, contents, function),
        }
    }

    fn add_window_operator<C, F, OUT>(self, name: &str, contents: C, function: F) -> DataStream<OUT>
    where
        C: WindowContents<T, A::W> + Buildable,
        F: WindowFunction<K, A::W, C::Result, OUT> + Buildable,
        OUT: StreamData,
    {
        let (assigner, trigger) = (self.assigner, self.trigger);
        let (allowed_lateness, late_data_tag) = (self.allowed_lateness, self.late_data_tag);
        let fires_at_window_end = assigner.is_event_time()
            && !assigner.is_merging()
            && TypeId::of::<TR>() == TypeId::of::<EventTimeTrigger>();
        let factory = if fires_at_window_end {
            operator_factory::<KeyedRecord<K, T>, OUT, _, _>(move |ctx| {
                AlignedWindowOperator::new(
                    assigner.clone(),
                    allowed_lateness,
                    late_data_tag.clone(),
                    contents.clone(),
                    function.clone(),
                    ctx,
                )
            })
        } else {
            operator_factory::<KeyedRecord<K, T>, OUT, _, _>(move |ctx| {
                let settings = WindowSettings {
                    assigner: assigner.clone(),
                    trigger: trigger.clone(),
                    allowed_lateness,
                    late_data_tag: late_data_tag.clone(),
                };
                WindowOperator::new(settings, contents.clone(), function.clone(), ctx)
            })
        };
        let stream = self.input.add_operator(name, NodeBody::Operator(factory));
        if self.window_all {
            stream.set_parallelism(1)
        } else {
            stream
        }
    }

    /// Combines each window's records with `reduce`, incrementally; emits one value per window.
    pub fn reduce<F>(self, reduce: F) -> DataStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let contents = ReduceContents {
            reduce: Arc::new(reduce),
        };
        self.build("Window(Reduce)", contents, PassThrough)
    }

    /// Aggregates each window incrementally with `function`; emits its result per window.
    pub fn aggregate<AF: AggregateFunction<T>>(self, function: AF) -> DataStream<AF::Out> {
        self.build(
            "Window(Aggregate)",
            AggregateContents { function },
            PassThrough,
        )
    }

    /// Evaluates each window with all its records and its context.
    pub fn process<OUT, P>(self, function: P) -> DataStream<OUT>
    where
        OUT: StreamData,
        P: ProcessWindowFunction<T, OUT, K, A::W>,
    {
        self.build(
            "Window(Process)",
            ListContents(PhantomData),
            WithProcess(function),
        )
    }

    /// Reduces incrementally, then hands the one reduced value to `function` with the window's
    /// context.
    pub fn reduce_and_process<OUT, F, P>(self, reduce: F, function: P) -> DataStream<OUT>
    where
        OUT: StreamData,
        F: Fn(T, T) -> T + Send + Sync + 'static,
        P: ProcessWindowFunction<T, OUT, K, A::W>,
    {
        let contents = ReduceContents {
            reduce: Arc::new(reduce),
        };
        self.build("Window(Reduce, Process)", contents, WithProcess(function))
    }

    /// Aggregates incrementally, then hands the one result to `function` with the window's
    /// context.
    pub fn aggregate_and_process<AF, OUT, P>(self, aggregate: AF, function: P) -> DataStream<OUT>
    where
        AF: AggregateFunction<T>,
        OUT: StreamData,
        P: ProcessWindowFunction<AF::Out, OUT, K, A::W>,
    {
        self.build(
            "Window(Aggregate, Process)",
            AggregateContents {
                function: aggregate,
            },
            WithProcess(function),
        )
    }
}

/// A whole stream grouped into windows, evaluated by one subtask (Flink's
/// `AllWindowedStream`). Its functions see the key `()`.
pub type AllWindowedStream<T, A, TR, E = NoEvictor> = WindowedStream<T, (), A, TR, E>;
