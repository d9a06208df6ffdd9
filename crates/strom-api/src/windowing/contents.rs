//! How a window keeps its records until it fires, and what its function is handed.
//!
//! `reduce` and `aggregate` keep one running value per window; `process` alone keeps the
//! records; any of them behind an evictor keeps the records with their timestamps and folds
//! them when the window fires. The final step either passes results on or hands them to a
//! [`ProcessWindowFunction`].

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::{BoxError, StreamData, StreamRecord};
use strom_runtime::operator::Emitter;

use super::evictors::Evictor;
use super::functions::{AggregateFunction, ProcessWindowFunction, WindowContext};
use super::window::Window;
use crate::functions::Collector;

/// The state of one window and how records enter it.
pub(crate) trait WindowContents<T, W>: Send + Sync + 'static {
    /// What a window holds.
    type Acc: Send + Serialize + DeserializeOwned + 'static;
    /// What the window function receives when the window fires.
    type Result;

    fn create(&self) -> Self::Acc;
    fn add(&self, acc: &mut Self::Acc, record: StreamRecord<T>);
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    fn results(&self, acc: &mut Self::Acc, window: &W) -> Vec<Self::Result>;
}

/// A running `reduce`.
pub(crate) struct ReduceContents<T> {
    pub(crate) reduce: Arc<dyn Fn(T, T) -> T + Send + Sync>,
}

impl<T> Clone for ReduceContents<T> {
    fn clone(&self) -> Self {
        ReduceContents {
            reduce: Arc::clone(&self.reduce),
        }
    }
}

impl<T: StreamData, W> WindowContents<T, W> for ReduceContents<T> {
    type Acc = Option<T>;
    type Result = T;

    fn create(&self) -> Option<T> {
        None
    }
    #[inline]
    fn add(&self, acc: &mut Option<T>, record: StreamRecord<T>) {
        *acc = Some(match acc.take() {
            Some(current) => (self.reduce)(current, record.value),
            None => record.value,
        });
    }
    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(other) = other {
            <Self as WindowContents<T, W>>::add(self, acc, StreamRecord::new(other));
        }
    }
    fn results(&self, acc: &mut Option<T>, _: &W) -> Vec<T> {
        acc.iter().cloned().collect()
    }
}

/// A running [`AggregateFunction`].
#[derive(Clone)]
pub(crate) struct AggregateContents<AF> {
    pub(crate) function: AF,
}

impl<T, W, AF: AggregateFunction<T>> WindowContents<T, W> for AggregateContents<AF> {
    type Acc = AF::Acc;
    type Result = AF::Out;

    fn create(&self) -> AF::Acc {
        self.function.create_accumulator()
    }
    #[inline]
    fn add(&self, acc: &mut AF::Acc, record: StreamRecord<T>) {
        self.function.add(record.value, acc);
    }
    fn merge(&self, acc: &mut AF::Acc, other: AF::Acc) {
        self.function.merge(acc, other);
    }
    fn results(&self, acc: &mut AF::Acc, _: &W) -> Vec<AF::Out> {
        vec![self.function.get_result(acc)]
    }
}

/// Every record of the window, for a [`ProcessWindowFunction`] alone.
pub(crate) struct ListContents<T>(pub(crate) PhantomData<fn(T)>);

impl<T> Clone for ListContents<T> {
    fn clone(&self) -> Self {
        ListContents(PhantomData)
    }
}

impl<T: StreamData, W> WindowContents<T, W> for ListContents<T> {
    type Acc = Vec<T>;
    type Result = T;

    fn create(&self) -> Vec<T> {
        Vec::new()
    }
    fn add(&self, acc: &mut Vec<T>, record: StreamRecord<T>) {
        acc.push(record.value);
    }
    fn merge(&self, acc: &mut Vec<T>, mut other: Vec<T>) {
        acc.append(&mut other);
    }
    fn results(&self, acc: &mut Vec<T>, _: &W) -> Vec<T> {
        acc.clone()
    }
}

/// Records kept with their timestamps, evicted around evaluation, folded by `inner` at firing.
#[derive(Clone)]
pub(crate) struct EvictingContents<C, E> {
    pub(crate) inner: C,
    pub(crate) evictor: E,
}

impl<T, W, C, E> WindowContents<T, W> for EvictingContents<C, E>
where
    T: StreamData,
    W: Window,
    C: WindowContents<T, W>,
    E: Evictor<T, W>,
{
    type Acc = Vec<StreamRecord<T>>;
    type Result = C::Result;

    fn create(&self) -> Self::Acc {
        Vec::new()
    }
    fn add(&self, acc: &mut Self::Acc, record: StreamRecord<T>) {
        acc.push(record);
    }
    fn merge(&self, acc: &mut Self::Acc, mut other: Self::Acc) {
        acc.append(&mut other);
    }
    fn results(&self, acc: &mut Self::Acc, window: &W) -> Vec<C::Result> {
        self.evictor.evict_before(acc, window);
        let mut folded = self.inner.create();
        for record in acc.iter() {
            self.inner.add(&mut folded, record.clone());
        }
        let results = if acc.is_empty() {
            Vec::new()
        } else {
            self.inner.results(&mut folded, window)
        };
        self.evictor.evict_after(acc, window);
        results
    }
}

/// The last step of a window evaluation.
pub(crate) trait WindowFunction<K, W, R, OUT>: Send + 'static {
    fn apply(
        &mut self,
        key: &K,
        results: Vec<R>,
        ctx: &mut WindowContext<'_, K, W>,
        out: &mut Emitter<OUT>,
    ) -> Result<(), BoxError>;

    fn clear(&mut self, _ctx: &mut WindowContext<'_, K, W>) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Emits each result as it is, stamped with the window's largest timestamp.
#[derive(Clone, Copy)]
pub(crate) struct PassThrough;

impl<K, W: Window, OUT: 'static> WindowFunction<K, W, OUT, OUT> for PassThrough {
    #[inline]
    fn apply(
        &mut self,
        _key: &K,
        results: Vec<OUT>,
        ctx: &mut WindowContext<'_, K, W>,
        out: &mut Emitter<OUT>,
    ) -> Result<(), BoxError> {
        let timestamp = ctx.window.max_timestamp();
        for result in results {
            out.collect(StreamRecord::with_timestamp(result, timestamp));
        }
        Ok(())
    }
}

/// Hands the results to a [`ProcessWindowFunction`].
#[derive(Clone)]
pub(crate) struct WithProcess<P>(pub(crate) P);

impl<K, W, R, OUT, P> WindowFunction<K, W, R, OUT> for WithProcess<P>
where
    W: Window,
    OUT: 'static,
    P: ProcessWindowFunction<R, OUT, K, W>,
{
    fn apply(
        &mut self,
        key: &K,
        results: Vec<R>,
        ctx: &mut WindowContext<'_, K, W>,
        out: &mut Emitter<OUT>,
    ) -> Result<(), BoxError> {
        let mut collector = Collector::new(out, Some(ctx.window.max_timestamp()));
        self.0.process(key, ctx, results, &mut collector)
    }

    fn clear(&mut self, ctx: &mut WindowContext<'_, K, W>) -> Result<(), BoxError> {
        self.0.clear(ctx)
    }
}
