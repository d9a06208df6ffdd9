//! Rolling aggregations on a keyed stream: `reduce`, `sum`, `min`, `max`, `min_by`, `max_by`.
//!
//! One value per key, kept in keyed state partitioned by key group. In streaming mode every
//! input emits the key's updated value (Flink's rolling aggregation); in batch mode the
//! values are emitted once, when the input ends.

use std::cmp::Ordering;
use std::sync::Arc;

use strom_core::{BoxError, StreamRecord};
use strom_runtime::exchange::KeyedRecord;
use strom_runtime::operator::{ExecutionMode, OneInputOperator, OperatorContext, Output};
use strom_state::{KeyGroupedMap, KeyedEntry};

use crate::fields::Fields;

/// How a new value folds into a key's current one.
pub(crate) enum Aggregation<T> {
    /// A user reduce function.
    Reduce(Arc<dyn Fn(T, T) -> T + Send + Sync>),
    /// Add the field.
    Sum(usize, fn(&mut T, usize, &T)),
    /// Keep the smaller (`Less`) or larger (`Greater`) field value, other fields from the
    /// first element.
    Extreme(
        usize,
        Ordering,
        fn(&T, usize, &T) -> Option<Ordering>,
        fn(&mut T, usize, &T),
    ),
    /// Keep the element with the smaller or larger field value, the first one on ties.
    ExtremeBy(usize, Ordering, fn(&T, usize, &T) -> Option<Ordering>),
}

impl<T> Clone for Aggregation<T> {
    fn clone(&self) -> Self {
        match self {
            Aggregation::Reduce(f) => Aggregation::Reduce(Arc::clone(f)),
            Aggregation::Sum(p, add) => Aggregation::Sum(*p, *add),
            Aggregation::Extreme(p, o, cmp, copy) => Aggregation::Extreme(*p, *o, *cmp, *copy),
            Aggregation::ExtremeBy(p, o, cmp) => Aggregation::ExtremeBy(*p, *o, *cmp),
        }
    }
}

impl<T: Fields> Aggregation<T> {
    pub(crate) fn sum(position: usize) -> Self {
        Aggregation::Sum(position, T::add_field)
    }
    pub(crate) fn extreme(position: usize, wanted: Ordering) -> Self {
        Aggregation::Extreme(position, wanted, T::compare_field, T::copy_field)
    }
    pub(crate) fn extreme_by(position: usize, wanted: Ordering) -> Self {
        Aggregation::ExtremeBy(position, wanted, T::compare_field)
    }
}

impl<T> Aggregation<T> {
    #[inline]
    fn fold(&self, current: &mut Option<T>, value: T) {
        let Some(acc) = current.as_mut() else {
            *current = Some(value);
            return;
        };
        match self {
            Aggregation::Reduce(reduce) => {
                if let Some(previous) = current.take() {
                    *current = Some(reduce(previous, value));
                }
            }
            Aggregation::Sum(position, add) => add(acc, *position, &value),
            Aggregation::Extreme(position, wanted, compare, copy) => {
                if compare(&value, *position, acc) == Some(*wanted) {
                    copy(acc, *position, &value);
                }
            }
            Aggregation::ExtremeBy(position, wanted, compare) => {
                if compare(&value, *position, acc) == Some(*wanted) {
                    *acc = value;
                }
            }
        }
    }
}

/// The keyed aggregation of one subtask.
pub(crate) struct KeyedAggregationOperator<K, T> {
    aggregation: Aggregation<T>,
    state: KeyGroupedMap<K, Option<T>>,
    mode: ExecutionMode,
}

impl<K: std::hash::Hash + Eq, T> KeyedAggregationOperator<K, T> {
    pub(crate) fn new(aggregation: Aggregation<T>, ctx: &OperatorContext) -> Self {
        KeyedAggregationOperator {
            aggregation,
            state: KeyGroupedMap::new(ctx.key_group_range, ctx.max_parallelism),
            mode: ctx.execution_mode,
        }
    }
}

impl<K, T> OneInputOperator<KeyedRecord<K, T>, T> for KeyedAggregationOperator<K, T>
where
    K: std::hash::Hash + Eq + Send,
    T: Clone + Send + 'static,
{
    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<KeyedRecord<K, T>>>,
        out: &mut Output<T>,
    ) -> Result<(), BoxError> {
        let streaming = self.mode == ExecutionMode::Streaming;
        for record in batch {
            let KeyedRecord { key, hash, value } = record.value;
            let current = match self.state.entry(hash, key)? {
                KeyedEntry::Occupied(current) => {
                    self.aggregation.fold(current, value);
                    current
                }
                KeyedEntry::Vacant(vacant) => vacant.insert(Some(value)),
            };
            if streaming {
                if let Some(current) = current.as_ref() {
                    out.collect(StreamRecord {
                        value: current.clone(),
                        timestamp: record.timestamp,
                    });
                }
            }
        }
        Ok(())
    }

    fn end_input(&mut self, out: &mut Output<T>) -> Result<(), BoxError> {
        if self.mode == ExecutionMode::Batch {
            for (_, value) in self.state.drain() {
                if let Some(value) = value {
                    out.collect(StreamRecord::new(value));
                }
            }
        }
        Ok(())
    }
}
