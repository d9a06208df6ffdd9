//! Rolling aggregations on a keyed stream: `reduce`, `sum`, `min`, `max`, `min_by`, `max_by`.
//!
//! One value per key, kept in keyed state partitioned by key group. In streaming mode every
//! input emits the key's updated value (Flink's rolling aggregation); in batch mode the
//! values are emitted once, when the input ends.

use std::cmp::Ordering;
use std::sync::Arc;

use strom_core::{BoxError, CheckpointId, StreamData, StreamRecord};
use strom_runtime::checkpoint::{OperatorStateSnapshot, RestoredOperatorState};
use strom_runtime::exchange::KeyedRecord;
use strom_runtime::operator::{ExecutionMode, OneInputOperator, OperatorContext, Output};
use strom_state::{KeyGroupParts, KeyGroupedMap, KeyedEntry};

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
    /// Whether partial results may be folded again (true for the built-in field
    /// aggregations; a user reduce function is not known to be associative).
    pub(crate) fn is_combinable(&self) -> bool {
        !matches!(self, Aggregation::Reduce(_))
    }

    #[inline]
    fn fold(&self, current: &mut Option<T>, value: T)
    where
        T: Clone,
    {
        match (self, current.as_mut()) {
            (_, None) => *current = Some(value),
            (Aggregation::Reduce(reduce), Some(_)) => {
                if let Some(previous) = current.take() {
                    *current = Some(reduce(previous, value));
                }
            }
            (_, Some(acc)) => self.merge(acc, value),
        }
    }

    /// Folds `value` into `acc` in place (field aggregations; a reduce replaces `acc` through
    /// a clone, which the combiner never asks for).
    #[inline]
    pub(crate) fn merge(&self, acc: &mut T, value: T)
    where
        T: Clone,
    {
        match self {
            Aggregation::Reduce(reduce) => *acc = reduce(acc.clone(), value),
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

/// The part of a key group's snapshot that holds the aggregated values.
const VALUES: &str = "values";

/// The keyed aggregation of one subtask.
pub(crate) struct KeyedAggregationOperator<K, T> {
    aggregation: Aggregation<T>,
    state: KeyGroupedMap<K, Option<T>>,
    mode: ExecutionMode,
}

impl<K: StreamData + std::hash::Hash + Eq, T: StreamData> KeyedAggregationOperator<K, T> {
    pub(crate) fn new(aggregation: Aggregation<T>, ctx: &OperatorContext) -> Self {
        KeyedAggregationOperator {
            aggregation,
            state: ctx.keyed_map("values"),
            mode: ctx.execution_mode,
        }
    }
}

impl<K, T> OneInputOperator<KeyedRecord<K, T>, T> for KeyedAggregationOperator<K, T>
where
    K: StreamData + std::hash::Hash + Eq,
    T: StreamData,
{
    fn snapshot_state(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<OperatorStateSnapshot, BoxError> {
        let mut parts = KeyGroupParts::new();
        parts.add_pending(VALUES, self.state.snapshot_pending()?);
        Ok(OperatorStateSnapshot::pending_keyed(parts.into_pending()?))
    }

    fn initialize_state(&mut self, state: &RestoredOperatorState) -> Result<(), BoxError> {
        KeyGroupParts::restore_each(&state.keyed, |group, part, restored| {
            match part {
                VALUES => self.state.restore_part(group, restored)?,
                other => return Err(KeyGroupParts::unknown_part(other, group)),
            }
            Ok(())
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use strom_core::key_group::key_hash;
    use strom_runtime::testing::{test_context, Emitted, OperatorHarness};

    type Pair = (String, i64);

    fn keyed(records: &[(&str, i64)]) -> Vec<KeyedRecord<String, Pair>> {
        records
            .iter()
            .map(|(k, v)| KeyedRecord {
                key: k.to_string(),
                hash: key_hash(&k.to_string()),
                value: (k.to_string(), *v),
            })
            .collect()
    }

    fn run(
        aggregation: Aggregation<Pair>,
        mode: ExecutionMode,
        input: &[(&str, i64)],
    ) -> Vec<Pair> {
        let ctx = test_context(mode);
        let operator = KeyedAggregationOperator::<String, Pair>::new(aggregation, &ctx);
        let mut harness = OperatorHarness::new(operator, ctx).unwrap();
        harness.process_elements(keyed(input)).unwrap();
        harness.end_input().unwrap();
        let mut values = harness.take_values();
        if mode == ExecutionMode::Batch {
            values.sort();
        }
        values
    }

    fn pairs(expected: &[(&str, i64)]) -> Vec<Pair> {
        expected.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    const INPUT: &[(&str, i64)] = &[("a", 3), ("b", 5), ("a", 1), ("a", 7), ("b", 5)];

    #[test]
    fn streaming_emits_every_update_and_batch_only_the_final_value() {
        assert_eq!(
            run(Aggregation::sum(1), ExecutionMode::Streaming, INPUT),
            pairs(&[("a", 3), ("b", 5), ("a", 4), ("a", 11), ("b", 10)])
        );
        assert_eq!(
            run(Aggregation::sum(1), ExecutionMode::Batch, INPUT),
            pairs(&[("a", 11), ("b", 10)])
        );
    }

    #[test]
    fn min_max_and_their_by_forms_follow_flink() {
        let streaming = ExecutionMode::Streaming;
        assert_eq!(
            run(Aggregation::extreme(1, Ordering::Less), streaming, INPUT),
            pairs(&[("a", 3), ("b", 5), ("a", 1), ("a", 1), ("b", 5)])
        );
        assert_eq!(
            run(Aggregation::extreme(1, Ordering::Greater), streaming, INPUT),
            pairs(&[("a", 3), ("b", 5), ("a", 3), ("a", 7), ("b", 5)])
        );
        // min_by/max_by keep whole elements; here the key is a field, so tell them apart by
        // a three-field element whose third field shows which record was kept.
        type Triple = (String, i64, i64);
        let ctx = test_context(streaming);
        let operator = KeyedAggregationOperator::<String, Triple>::new(
            Aggregation::extreme_by(1, Ordering::Greater),
            &ctx,
        );
        let mut harness = OperatorHarness::new(operator, ctx).unwrap();
        let input = [(2, 0), (9, 1), (9, 2), (4, 3)].map(|(v, id)| KeyedRecord {
            key: "k".to_string(),
            hash: key_hash(&"k".to_string()),
            value: ("k".to_string(), v, id),
        });
        harness.process_elements(input).unwrap();
        let kept: Vec<i64> = harness.take_values().into_iter().map(|t| t.2).collect();
        assert_eq!(kept, [0, 1, 1, 1], "the first of equal maxima is kept");
    }

    #[test]
    fn reduce_folds_in_arrival_order() {
        let concat = Aggregation::Reduce(Arc::new(|a: Pair, b: Pair| (a.0, a.1 * 10 + b.1)));
        assert_eq!(
            run(
                concat,
                ExecutionMode::Streaming,
                &[("a", 1), ("a", 2), ("a", 3)]
            ),
            pairs(&[("a", 1), ("a", 12), ("a", 123)])
        );
    }

    #[test]
    fn watermarks_pass_through_after_the_records_before_them() {
        let ctx = test_context(ExecutionMode::Streaming);
        let operator = KeyedAggregationOperator::<String, Pair>::new(Aggregation::sum(1), &ctx);
        let mut harness = OperatorHarness::new(operator, ctx).unwrap();
        harness
            .process_element_at(keyed(&[("a", 1)]).remove(0), 10)
            .unwrap();
        harness.process_watermark(10).unwrap();
        let output = harness.take_output();
        assert_eq!(
            output,
            vec![
                Emitted::Record(StreamRecord::with_timestamp(("a".to_string(), 1), 10)),
                Emitted::Watermark(strom_core::Watermark(10)),
            ]
        );
    }

    #[test]
    fn a_panicking_reduce_function_fails_with_the_operator_named() {
        let ctx = test_context(ExecutionMode::Streaming);
        let boom = Aggregation::Reduce(Arc::new(|_: Pair, _: Pair| -> Pair { panic!("boom") }));
        let operator = KeyedAggregationOperator::<String, Pair>::new(boom, &ctx);
        let mut harness = OperatorHarness::new(operator, ctx).unwrap();
        let error = harness
            .process_elements(keyed(&[("a", 1), ("a", 2)]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "operator 'Test Operator' (subtask 1/1) panicked: boom"
        );
    }
}
