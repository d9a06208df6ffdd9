//! Two-input streams: `connect` and the functions that see both inputs (Flink's
//! `ConnectedStreams`, `CoMapFunction`, `CoFlatMapFunction`, `CoProcessFunction` and
//! `KeyedCoProcessFunction`).
//!
//! Two connected streams keep their own element types but share one operator, which can keep
//! state across both. Strom builds this from parts it already has: each input is tagged with the
//! side it came from ([`Either`]) right after its producer (a chained step), the tagged streams
//! are united, and a one-input operator dispatches on the tag. The operator's input gate takes
//! the minimum watermark over the channels of both inputs, which is exactly a two-input
//! operator's event time in Flink; keyed connected streams route both sides by key group, so
//! a key's records from both inputs meet in one subtask with one state.

use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use strom_core::{BoxError, StreamData, Timestamp};
use strom_runtime::graph::{operator_factory, NodeBody};

use crate::datastream::DataStream;
use crate::functions::{Collector, Context, ProcessFunction, RuntimeContext};
use crate::keyed_process::{KeyedContext, KeyedProcessFunction};
use crate::keyed_stream::KeyedStream;
use crate::operators::MapOperator;
use crate::routing::KeySelector;

/// A record of a connected stream, tagged with the input it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Either<A, B> {
    /// From the first input.
    Left(A),
    /// From the second input.
    Right(B),
}

/// Maps each input's records to one output type (Flink's `CoMapFunction`).
pub trait CoMapFunction<IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// Maps a record of the first input.
    fn map1(&mut self, value: IN1) -> OUT;
    /// Maps a record of the second input.
    fn map2(&mut self, value: IN2) -> OUT;
}

/// Emits any number of records per record of either input (Flink's `CoFlatMapFunction`).
pub trait CoFlatMapFunction<IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// Processes a record of the first input.
    fn flat_map1(&mut self, value: IN1, out: &mut Collector<'_, OUT>);
    /// Processes a record of the second input.
    fn flat_map2(&mut self, value: IN2, out: &mut Collector<'_, OUT>);
}

/// Processes the records of two inputs with side outputs (Flink's `CoProcessFunction`). Timers
/// and state per key need keyed inputs: see [`KeyedCoProcessFunction`].
pub trait CoProcessFunction<IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), BoxError> {
        Ok(())
    }
    /// Processes a record of the first input.
    fn process_element1(
        &mut self,
        value: IN1,
        ctx: &mut Context<'_>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;
    /// Processes a record of the second input.
    fn process_element2(
        &mut self,
        value: IN2,
        ctx: &mut Context<'_>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;
}

/// Processes two keyed inputs with per-key state and timers shared by both (Flink's
/// `KeyedCoProcessFunction`).
pub trait KeyedCoProcessFunction<K, IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// What the function keeps per key, for both inputs (written to checkpoints).
    type State: Default + Send + Serialize + DeserializeOwned + 'static;

    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), BoxError> {
        Ok(())
    }
    /// Processes a record of the first input.
    fn process_element1(
        &mut self,
        value: IN1,
        ctx: &mut KeyedContext<'_, K, Self::State>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;
    /// Processes a record of the second input.
    fn process_element2(
        &mut self,
        value: IN2,
        ctx: &mut KeyedContext<'_, K, Self::State>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;
    /// A timer of the context's current key fired at `timestamp`.
    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        _ctx: &mut KeyedContext<'_, K, Self::State>,
        _out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Two streams connected into one operator (Flink's `ConnectedStreams`).
pub struct ConnectedStreams<A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
}

impl<A: StreamData> DataStream<A> {
    /// Connects this stream with `other`, possibly of another type, into one operator that
    /// sees both (Flink's `connect`).
    pub fn connect<B: StreamData>(&self, other: &DataStream<B>) -> ConnectedStreams<A, B> {
        ConnectedStreams {
            first: self.clone(),
            second: other.clone(),
        }
    }
}

impl<A: StreamData, K: StreamData + Hash + Eq> KeyedStream<A, K> {
    /// Connects this keyed stream with `other`, keyed by the same key type: records of both
    /// with equal keys meet in one subtask and share the key's state and timers.
    pub fn connect<B: StreamData>(
        &self,
        other: &KeyedStream<B, K>,
    ) -> KeyedConnectedStreams<A, B, K> {
        KeyedConnectedStreams {
            first: self.unkeyed_input(),
            second: other.unkeyed_input(),
            first_key: self.key_selector(),
            second_key: other.key_selector(),
        }
    }
}

/// Both inputs as one stream of [`Either`] records.
fn tagged<A: StreamData, B: StreamData>(
    first: &DataStream<A>,
    second: &DataStream<B>,
) -> DataStream<Either<A, B>> {
    let left = operator_factory(|_| MapOperator {
        function: Either::<A, B>::Left,
        _input: PhantomData::<fn(A)>,
    });
    let right = operator_factory(|_| MapOperator {
        function: Either::<A, B>::Right,
        _input: PhantomData::<fn(B)>,
    });
    let left: DataStream<Either<A, B>> =
        first.add_operator("Connect (first input)", NodeBody::Operator(left));
    let right: DataStream<Either<A, B>> =
        second.add_operator("Connect (second input)", NodeBody::Operator(right));
    left.union(&right)
}

impl<A: StreamData, B: StreamData> ConnectedStreams<A, B> {
    /// The connected streams as one stream of [`Either`] records (Flink has no such view; it
    /// is what the co-functions here are built on, and can be processed like any stream).
    pub fn tagged(&self) -> DataStream<Either<A, B>> {
        tagged(&self.first, &self.second)
    }

    /// Applies a [`CoMapFunction`].
    pub fn map<O: StreamData, F: CoMapFunction<A, B, O>>(&self, function: F) -> DataStream<O> {
        self.tagged().process(CoMapAdapter(function)).name("Co-Map")
    }

    /// Applies a [`CoFlatMapFunction`].
    pub fn flat_map<O: StreamData, F: CoFlatMapFunction<A, B, O>>(
        &self,
        function: F,
    ) -> DataStream<O> {
        self.tagged()
            .process(CoFlatMapAdapter(function))
            .name("Co-Flat Map")
    }

    /// Applies a [`CoProcessFunction`].
    pub fn process<O: StreamData, P: CoProcessFunction<A, B, O>>(
        &self,
        function: P,
    ) -> DataStream<O> {
        self.tagged()
            .process(CoProcessAdapter(function))
            .name("Co-Process")
    }

    /// Partitions both inputs by key (`first_key` for the first, `second_key` for the second),
    /// for keyed state and timers shared by both.
    pub fn key_by<K, F1, F2>(&self, first_key: F1, second_key: F2) -> KeyedConnectedStreams<A, B, K>
    where
        K: StreamData + Hash + Eq,
        F1: Fn(&A) -> K + Send + Sync + 'static,
        F2: Fn(&B) -> K + Send + Sync + 'static,
    {
        KeyedConnectedStreams {
            first: self.first.clone(),
            second: self.second.clone(),
            first_key: Arc::new(first_key),
            second_key: Arc::new(second_key),
        }
    }
}

/// Two connected streams partitioned by the same key.
pub struct KeyedConnectedStreams<A, B, K> {
    first: DataStream<A>,
    second: DataStream<B>,
    first_key: KeySelector<A, K>,
    second_key: KeySelector<B, K>,
}

impl<A: StreamData, B: StreamData, K: StreamData + Hash + Eq> KeyedConnectedStreams<A, B, K> {
    /// Both inputs as one stream of [`Either`] records, partitioned by key.
    pub fn tagged(&self) -> KeyedStream<Either<A, B>, K> {
        let first_key = Arc::clone(&self.first_key);
        let second_key = Arc::clone(&self.second_key);
        tagged(&self.first, &self.second).key_by(move |record| match record {
            Either::Left(a) => first_key(a),
            Either::Right(b) => second_key(b),
        })
    }

    /// Applies a [`CoMapFunction`] to the key-partitioned inputs.
    pub fn map<O: StreamData, F: CoMapFunction<A, B, O>>(&self, function: F) -> DataStream<O> {
        self.tagged()
            .process(KeyedAdapter(CoMapAdapter(function)))
            .name("Co-Map")
    }

    /// Applies a [`CoFlatMapFunction`] to the key-partitioned inputs.
    pub fn flat_map<O: StreamData, F: CoFlatMapFunction<A, B, O>>(
        &self,
        function: F,
    ) -> DataStream<O> {
        self.tagged()
            .process(KeyedAdapter(CoFlatMapAdapter(function)))
            .name("Co-Flat Map")
    }

    /// Applies a [`KeyedCoProcessFunction`].
    pub fn process<O: StreamData, P: KeyedCoProcessFunction<K, A, B, O>>(
        &self,
        function: P,
    ) -> DataStream<O> {
        self.tagged()
            .process(KeyedCoProcessAdapter(function))
            .name("KeyedCoProcess")
    }
}

/// A [`CoMapFunction`] as a process function over [`Either`] records.
#[derive(Clone)]
struct CoMapAdapter<F>(F);

impl<A, B, O, F: CoMapFunction<A, B, O>> ProcessFunction<Either<A, B>, O> for CoMapAdapter<F> {
    fn process_element(
        &mut self,
        value: Either<A, B>,
        _ctx: &mut Context<'_>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        out.collect(match value {
            Either::Left(a) => self.0.map1(a),
            Either::Right(b) => self.0.map2(b),
        });
        Ok(())
    }
}

/// A [`CoFlatMapFunction`] as a process function over [`Either`] records.
#[derive(Clone)]
struct CoFlatMapAdapter<F>(F);

impl<A, B, O, F: CoFlatMapFunction<A, B, O>> ProcessFunction<Either<A, B>, O>
    for CoFlatMapAdapter<F>
{
    fn process_element(
        &mut self,
        value: Either<A, B>,
        _ctx: &mut Context<'_>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        match value {
            Either::Left(a) => self.0.flat_map1(a, out),
            Either::Right(b) => self.0.flat_map2(b, out),
        }
        Ok(())
    }
}

/// A [`CoProcessFunction`] as a process function over [`Either`] records.
#[derive(Clone)]
struct CoProcessAdapter<P>(P);

impl<A, B, O, P: CoProcessFunction<A, B, O>> ProcessFunction<Either<A, B>, O>
    for CoProcessAdapter<P>
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), BoxError> {
        self.0.open(ctx)
    }

    fn process_element(
        &mut self,
        value: Either<A, B>,
        ctx: &mut Context<'_>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        match value {
            Either::Left(a) => self.0.process_element1(a, ctx, out),
            Either::Right(b) => self.0.process_element2(b, ctx, out),
        }
    }
}

/// A stateless process function run on a keyed stream (for co-map and co-flat-map after
/// `key_by`, which only need the partitioning).
#[derive(Clone)]
struct KeyedAdapter<P>(P);

impl<K: Eq + Clone, I, O, P: ProcessFunction<I, O>> KeyedProcessFunction<K, I, O>
    for KeyedAdapter<P>
{
    type State = ();

    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), BoxError> {
        self.0.open(ctx)
    }

    fn process_element(
        &mut self,
        value: I,
        ctx: &mut KeyedContext<'_, K, ()>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        self.0.process_element(value, &mut ctx.plain_context(), out)
    }
}

/// A [`KeyedCoProcessFunction`] as a keyed process function over [`Either`] records.
#[derive(Clone)]
struct KeyedCoProcessAdapter<P>(P);

impl<K, A, B, O, P> KeyedProcessFunction<K, Either<A, B>, O> for KeyedCoProcessAdapter<P>
where
    P: KeyedCoProcessFunction<K, A, B, O>,
{
    type State = P::State;

    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), BoxError> {
        self.0.open(ctx)
    }

    fn process_element(
        &mut self,
        value: Either<A, B>,
        ctx: &mut KeyedContext<'_, K, P::State>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        match value {
            Either::Left(a) => self.0.process_element1(a, ctx, out),
            Either::Right(b) => self.0.process_element2(b, ctx, out),
        }
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, K, P::State>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        self.0.on_timer(timestamp, ctx, out)
    }
}
