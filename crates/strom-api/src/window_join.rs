//! Window joins and co-groups of two streams (Flink's `JoinedStreams` and `CoGroupedStreams`):
//! `first.join(&second).where_(key1).equal_to(key2).window(assigner).apply(function)`.
//!
//! As in Flink, both are a co-group underneath: the two streams are tagged with their side,
//! united, partitioned by key and grouped into the same windows; when a window fires, its
//! records are split back into the two sides. A co-group hands the function both lists (either
//! may be empty); a join calls its function once for every pair of the window, first-stream
//! records in the outer loop, each in arrival order, and produces nothing for a window with
//! one side empty. Results carry the window's largest timestamp.

use std::hash::Hash;
use std::marker::PhantomData;
use std::time::Duration;

use strom_core::{BoxError, StreamData};

use crate::connected::{ConnectedStreams, Either};
use crate::datastream::DataStream;
use crate::functions::Collector;
use crate::windowing::{
    ProcessWindowFunction, Trigger, Window, WindowAssigner, WindowContext, WindowedStream,
};

/// Combines one record of each stream of a window join (Flink's `JoinFunction`); closures
/// `FnMut(A, B) -> O` are join functions.
pub trait JoinFunction<IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// Joins one pair.
    fn join(&mut self, first: IN1, second: IN2) -> OUT;
}

impl<IN1, IN2, OUT, F> JoinFunction<IN1, IN2, OUT> for F
where
    F: FnMut(IN1, IN2) -> OUT + Clone + Send + Sync + 'static,
{
    fn join(&mut self, first: IN1, second: IN2) -> OUT {
        self(first, second)
    }
}

/// Evaluates the records of both streams in one window and key (Flink's `CoGroupFunction`);
/// closures `FnMut(Vec<A>, Vec<B>, &mut Collector<O>)` are co-group functions.
pub trait CoGroupFunction<IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// Evaluates one window of one key; either side may be empty.
    fn co_group(
        &mut self,
        first: Vec<IN1>,
        second: Vec<IN2>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;
}

impl<IN1, IN2, OUT, F> CoGroupFunction<IN1, IN2, OUT> for F
where
    F: FnMut(Vec<IN1>, Vec<IN2>, &mut Collector<'_, OUT>) + Clone + Send + Sync + 'static,
{
    fn co_group(
        &mut self,
        first: Vec<IN1>,
        second: Vec<IN2>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError> {
        self(first, second, out);
        Ok(())
    }
}

/// Marks a window join.
pub enum JoinKind {}
/// Marks a window co-group.
pub enum CoGroupKind {}

/// Two streams to be joined in windows (Flink's `JoinedStreams`).
pub type JoinedStreams<A, B> = TwoStreams<A, B, JoinKind>;
/// Two streams to be co-grouped in windows (Flink's `CoGroupedStreams`).
pub type CoGroupedStreams<A, B> = TwoStreams<A, B, CoGroupKind>;

/// Two streams before their keys are chosen.
pub struct TwoStreams<A, B, M> {
    streams: ConnectedStreams<A, B>,
    _kind: PhantomData<fn() -> M>,
}

impl<A: StreamData> DataStream<A> {
    /// Joins this stream with `other` in windows: pairs of records with equal keys in the same
    /// window.
    pub fn join<B: StreamData>(&self, other: &DataStream<B>) -> JoinedStreams<A, B> {
        TwoStreams {
            streams: self.connect(other),
            _kind: PhantomData,
        }
    }

    /// Groups this stream and `other` by key and window, and evaluates each group's records of
    /// both with one function.
    pub fn co_group<B: StreamData>(&self, other: &DataStream<B>) -> CoGroupedStreams<A, B> {
        TwoStreams {
            streams: self.connect(other),
            _kind: PhantomData,
        }
    }
}

impl<A: StreamData, B: StreamData, M> TwoStreams<A, B, M> {
    /// The key of the first stream's records.
    pub fn where_<K, F1>(self, first_key: F1) -> Where<A, B, K, F1, M>
    where
        K: StreamData + Hash + Eq,
        F1: Fn(&A) -> K + Send + Sync + 'static,
    {
        Where {
            streams: self.streams,
            first_key,
            _kind: PhantomData,
        }
    }
}

/// Two streams with the first one's key chosen.
pub struct Where<A, B, K, F1, M> {
    streams: ConnectedStreams<A, B>,
    first_key: F1,
    _kind: PhantomData<fn() -> (K, M)>,
}

impl<A, B, K, F1, M> Where<A, B, K, F1, M>
where
    A: StreamData,
    B: StreamData,
    K: StreamData + Hash + Eq,
    F1: Fn(&A) -> K + Send + Sync + 'static,
{
    /// The key of the second stream's records, to be equal to the first's.
    pub fn equal_to<F2>(self, second_key: F2) -> EqualTo<A, B, K, M>
    where
        F2: Fn(&B) -> K + Send + Sync + 'static,
    {
        EqualTo {
            streams: self.streams,
            first_key: Box::new(self.first_key),
            second_key: Box::new(second_key),
            _kind: PhantomData,
        }
    }
}

/// Two streams with both keys chosen, to be grouped into windows.
pub struct EqualTo<A, B, K, M> {
    streams: ConnectedStreams<A, B>,
    first_key: Box<dyn Fn(&A) -> K + Send + Sync>,
    second_key: Box<dyn Fn(&B) -> K + Send + Sync>,
    _kind: PhantomData<fn() -> M>,
}

impl<A: StreamData, B: StreamData, K: StreamData + Hash + Eq, M> EqualTo<A, B, K, M> {
    /// Groups both streams' records into the windows of `assigner`.
    pub fn window<WA: WindowAssigner<Either<A, B>>>(
        self,
        assigner: WA,
    ) -> WithWindow<A, B, K, WA, WA::DefaultTrigger, M> {
        let keyed = self
            .streams
            .key_by(self.first_key, self.second_key)
            .tagged();
        WithWindow {
            windowed: keyed.window(assigner),
            _kind: PhantomData,
        }
    }
}

/// A window join or co-group with its windows, ready for its function.
pub struct WithWindow<A, B, K, WA, TR, M> {
    windowed: WindowedStream<Either<A, B>, K, WA, TR>,
    _kind: PhantomData<fn() -> M>,
}

impl<A, B, K, WA, TR, M> WithWindow<A, B, K, WA, TR, M>
where
    A: StreamData,
    B: StreamData,
    K: StreamData + Hash + Eq,
    WA: WindowAssigner<Either<A, B>>,
    TR: Trigger<Either<A, B>, WA::W>,
{
    /// Replaces the assigner's default trigger.
    pub fn trigger<TR2: Trigger<Either<A, B>, WA::W>>(
        self,
        trigger: TR2,
    ) -> WithWindow<A, B, K, WA, TR2, M> {
        WithWindow {
            windowed: self.windowed.trigger(trigger),
            _kind: PhantomData,
        }
    }

    /// Keeps windows open for records up to `lateness` behind the watermark; late records
    /// update the window's result.
    pub fn allowed_lateness(self, lateness: Duration) -> Self {
        WithWindow {
            windowed: self.windowed.allowed_lateness(lateness),
            _kind: PhantomData,
        }
    }

    fn co_group_with<O: StreamData, F: CoGroupFunction<A, B, O>>(
        self,
        name: &str,
        function: F,
    ) -> DataStream<O> {
        self.windowed
            .process(CoGroupWindowFunction {
                function,
                _types: PhantomData,
            })
            .name(name)
    }
}

impl<A, B, K, WA, TR> WithWindow<A, B, K, WA, TR, JoinKind>
where
    A: StreamData,
    B: StreamData,
    K: StreamData + Hash + Eq,
    WA: WindowAssigner<Either<A, B>>,
    TR: Trigger<Either<A, B>, WA::W>,
{
    /// Calls `function` for every pair of records with equal keys in the same window.
    pub fn apply<O: StreamData, F: JoinFunction<A, B, O>>(self, function: F) -> DataStream<O> {
        self.co_group_with("Window Join", NestedLoopJoin(function))
    }
}

impl<A, B, K, WA, TR> WithWindow<A, B, K, WA, TR, CoGroupKind>
where
    A: StreamData,
    B: StreamData,
    K: StreamData + Hash + Eq,
    WA: WindowAssigner<Either<A, B>>,
    TR: Trigger<Either<A, B>, WA::W>,
{
    /// Calls `function` with both streams' records of each key and window.
    pub fn apply<O: StreamData, F: CoGroupFunction<A, B, O>>(self, function: F) -> DataStream<O> {
        self.co_group_with("Window CoGroup", function)
    }
}

/// A join as a co-group: every pair, first-stream records in the outer loop.
#[derive(Clone)]
struct NestedLoopJoin<F>(F);

impl<A: Clone, B: Clone, O, F: JoinFunction<A, B, O>> CoGroupFunction<A, B, O>
    for NestedLoopJoin<F>
{
    fn co_group(
        &mut self,
        first: Vec<A>,
        second: Vec<B>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        for a in &first {
            for b in &second {
                out.collect(self.0.join(a.clone(), b.clone()));
            }
        }
        Ok(())
    }
}

/// Splits a window's tagged records into the two sides for a co-group function.
struct CoGroupWindowFunction<A, B, F> {
    function: F,
    _types: PhantomData<fn(A, B)>,
}

impl<A, B, F: Clone> Clone for CoGroupWindowFunction<A, B, F> {
    fn clone(&self) -> Self {
        CoGroupWindowFunction {
            function: self.function.clone(),
            _types: PhantomData,
        }
    }
}

impl<A, B, O, K, W, F> ProcessWindowFunction<Either<A, B>, O, K, W>
    for CoGroupWindowFunction<A, B, F>
where
    A: 'static,
    B: 'static,
    W: Window,
    F: CoGroupFunction<A, B, O>,
{
    fn process(
        &mut self,
        _key: &K,
        _ctx: &mut WindowContext<'_, K, W>,
        elements: Vec<Either<A, B>>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        let mut first = Vec::new();
        let mut second = Vec::new();
        for element in elements {
            match element {
                Either::Left(a) => first.push(a),
                Either::Right(b) => second.push(b),
            }
        }
        self.function.co_group(first, second, out)
    }
}
