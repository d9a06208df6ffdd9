//! [`KeyedStream`]: a stream partitioned by key, and its rolling aggregations.

use std::cmp::Ordering;
use std::sync::Arc;

use strom_core::StreamData;
use strom_runtime::exchange::KeyedRecord;
use strom_runtime::graph::{operator_factory, NodeBody};

use strom_runtime::element_type::RouterFactory;

use crate::combiner::CombiningRouterFactory;
use crate::datastream::{DataStream, StreamInput};
use crate::fields::Fields;
use crate::keyed_process::{KeyedProcessFunction, KeyedProcessOperator};
use crate::operators::{Aggregation, KeyedAggregationOperator};
use crate::routing::KeySelector;
use crate::windowing::{
    CountEvictor, CountTrigger, GlobalWindows, PurgingTrigger, WindowAssigner, WindowedStream,
};

/// A stream whose records are partitioned by key (Flink's `KeyedStream`): each key's records
/// reach one subtask, in order, and keyed state belongs to the key.
pub struct KeyedStream<T, K> {
    stream: DataStream<T>,
    key_selector: KeySelector<T, K>,
}

impl<T: StreamData, K: StreamData + std::hash::Hash + Eq> KeyedStream<T, K> {
    pub(crate) fn new(stream: DataStream<T>, key_selector: KeySelector<T, K>) -> Self {
        KeyedStream {
            stream,
            key_selector,
        }
    }

    fn aggregate(&self, name: &str, aggregation: Aggregation<T>) -> DataStream<T> {
        let input = if aggregation.is_combinable() {
            // In batch mode the sending side pre-aggregates (see `combiner`).
            let router: Arc<dyn RouterFactory> = Arc::new(CombiningRouterFactory {
                key_selector: Arc::clone(&self.key_selector),
                aggregation: aggregation.clone(),
            });
            let inputs = self
                .stream
                .inputs
                .iter()
                .map(|input| StreamInput {
                    router: Some(Arc::clone(&router)),
                    ..input.clone()
                })
                .collect();
            DataStream::with_inputs(std::rc::Rc::clone(&self.stream.env), inputs)
        } else {
            self.stream.clone()
        };
        let factory = operator_factory::<KeyedRecord<K, T>, T, _, _>(move |ctx| {
            KeyedAggregationOperator::new(aggregation.clone(), ctx)
        });
        input.add_operator(name, NodeBody::Operator(factory))
    }

    /// Combines each record with its key's current value: `reduce(current, new)` becomes the
    /// new value. Streaming mode emits every new value, batch mode the final one per key.
    pub fn reduce<F>(&self, reduce: F) -> DataStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.aggregate("Keyed Reduce", Aggregation::Reduce(Arc::new(reduce)))
    }

    fn checked(&self, method: &str, position: usize, numeric: bool) -> bool
    where
        T: Fields,
    {
        let problem = match T::field_is_numeric(position) {
            None => format!(
                "{method}({position}): {} has no field {position}",
                T::type_description()
            ),
            Some(false) if numeric => {
                format!(
                    "{method}({position}): field {position} of {} is not numeric",
                    T::type_description()
                )
            }
            Some(_) => return true,
        };
        self.stream.env.borrow_mut().error(&problem);
        false
    }

    fn field_aggregation(
        &self,
        method: &str,
        position: usize,
        numeric: bool,
        aggregation: Aggregation<T>,
    ) -> DataStream<T>
    where
        T: Fields,
    {
        self.checked(method, position, numeric);
        self.aggregate("Keyed Aggregation", aggregation)
    }

    /// Rolling sum of field `position` (other fields from the key's first record).
    pub fn sum(&self, position: usize) -> DataStream<T>
    where
        T: Fields,
    {
        self.field_aggregation("sum", position, true, Aggregation::sum(position))
    }

    /// Rolling minimum of field `position` (other fields from the key's first record).
    pub fn min(&self, position: usize) -> DataStream<T>
    where
        T: Fields,
    {
        self.field_aggregation(
            "min",
            position,
            false,
            Aggregation::extreme(position, Ordering::Less),
        )
    }

    /// Rolling maximum of field `position` (other fields from the key's first record).
    pub fn max(&self, position: usize) -> DataStream<T>
    where
        T: Fields,
    {
        self.field_aggregation(
            "max",
            position,
            false,
            Aggregation::extreme(position, Ordering::Greater),
        )
    }

    /// The record with the smallest field `position` so far (the first one on ties).
    pub fn min_by(&self, position: usize) -> DataStream<T>
    where
        T: Fields,
    {
        self.field_aggregation(
            "min_by",
            position,
            false,
            Aggregation::extreme_by(position, Ordering::Less),
        )
    }

    /// The record with the largest field `position` so far (the first one on ties).
    pub fn max_by(&self, position: usize) -> DataStream<T>
    where
        T: Fields,
    {
        self.field_aggregation(
            "max_by",
            position,
            false,
            Aggregation::extreme_by(position, Ordering::Greater),
        )
    }

    /// Groups each key's records into the windows `assigner` gives them (Flink's `window`).
    pub fn window<A: WindowAssigner<T>>(
        &self,
        assigner: A,
    ) -> WindowedStream<T, K, A, A::DefaultTrigger> {
        WindowedStream::new(self, assigner, false)
    }

    /// Windows of `size` records per key: fires and empties a key's window at every `size`-th
    /// record (`GlobalWindows` with a purging count trigger).
    pub fn count_window(
        &self,
        size: u64,
    ) -> WindowedStream<T, K, GlobalWindows, PurgingTrigger<CountTrigger>> {
        self.window(GlobalWindows::create())
            .trigger(PurgingTrigger::of(CountTrigger::of(size)))
    }

    /// The last `size` records of a key, evaluated every `slide` records.
    pub fn count_window_with_slide(
        &self,
        size: u64,
        slide: u64,
    ) -> WindowedStream<T, K, GlobalWindows, CountTrigger, CountEvictor> {
        self.window(GlobalWindows::create())
            .evictor(CountEvictor::of(size as usize))
            .trigger(CountTrigger::of(slide))
    }

    /// Runs a [`KeyedProcessFunction`]: per-key state and timers.
    pub fn process<O: StreamData, P: KeyedProcessFunction<K, T, O>>(
        &self,
        function: P,
    ) -> DataStream<O> {
        let factory = operator_factory::<KeyedRecord<K, T>, O, _, _>(move |ctx| {
            KeyedProcessOperator::new(function.clone(), ctx)
        });
        self.stream
            .add_operator("KeyedProcess", NodeBody::Operator(factory))
    }

    /// The stream that feeds keyed operators: records routed by key group.
    pub(crate) fn keyed_input(&self) -> DataStream<T> {
        self.stream.clone()
    }

    /// The stream before it was partitioned by key (to add a step in front of the
    /// partitioning, as `connect` does).
    pub(crate) fn unkeyed_input(&self) -> DataStream<T> {
        let inputs = self
            .stream
            .inputs
            .iter()
            .map(|input| StreamInput {
                partitioner: None,
                router: None,
                channel_type: Arc::clone(&input.element_type),
                ..input.clone()
            })
            .collect();
        DataStream::with_inputs(std::rc::Rc::clone(&self.stream.env), inputs)
    }

    /// What extracts the key of a record.
    pub(crate) fn key_selector(&self) -> KeySelector<T, K> {
        Arc::clone(&self.key_selector)
    }
}
