//! `map`, `filter` and `flat_map`: stateless operators that work a whole batch at a time.

use std::marker::PhantomData;

use strom_core::{BoxError, StreamRecord};
use strom_runtime::operator::{OneInputOperator, Output};

use crate::functions::Collector;

/// Applies a function to every record.
pub(crate) struct MapOperator<F, T> {
    pub(crate) function: F,
    pub(crate) _input: PhantomData<fn(T)>,
}

impl<T, U: 'static, F: FnMut(T) -> U + Send> OneInputOperator<T, U> for MapOperator<F, T> {
    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<T>>,
        out: &mut Output<U>,
    ) -> Result<(), BoxError> {
        let function = &mut self.function;
        let mapped = batch.into_iter().map(|record| {
            let timestamp = record.timestamp;
            StreamRecord {
                value: function(record.value),
                timestamp,
            }
        });
        out.emit_batch(mapped.collect());
        Ok(())
    }
}

/// Keeps the records a predicate accepts.
pub(crate) struct FilterOperator<F> {
    pub(crate) predicate: F,
}

impl<T: 'static, F: FnMut(&T) -> bool + Send> OneInputOperator<T, T> for FilterOperator<F> {
    fn process_batch(
        &mut self,
        mut batch: Vec<StreamRecord<T>>,
        out: &mut Output<T>,
    ) -> Result<(), BoxError> {
        batch.retain(|record| (self.predicate)(&record.value));
        out.emit_batch(batch);
        Ok(())
    }
}

/// Emits any number of records per input through a [`Collector`].
pub(crate) struct FlatMapOperator<F, T> {
    pub(crate) function: F,
    pub(crate) _input: PhantomData<fn(T)>,
}

impl<T, U: 'static, F: FnMut(T, &mut Collector<'_, U>) + Send> OneInputOperator<T, U>
    for FlatMapOperator<F, T>
{
    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<T>>,
        out: &mut Output<U>,
    ) -> Result<(), BoxError> {
        for record in batch {
            let mut collector = Collector::new(&mut out.main, record.timestamp);
            (self.function)(record.value, &mut collector);
        }
        Ok(())
    }
}
