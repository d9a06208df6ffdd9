//! The broadcast state pattern on a stream that is not keyed (Flink's `BroadcastProcessFunction`):
//! every subtask of the operator gets every broadcast element and keeps the broadcast state;
//! records of the other input reach the subtasks as they would any operator (forward when the
//! parallelism matches, else rebalanced) and read that state.

use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::{BoxError, CheckpointId, StreamData, StreamRecord, Timestamp, Watermark};
use strom_runtime::checkpoint::{OperatorStateSnapshot, RestoredOperatorState};
use strom_runtime::graph::{operator_factory, NodeBody};
use strom_runtime::operator::{OneInputOperator, OperatorContext, Output};
use strom_runtime::processing_time::ProcessingTimeService;
use strom_state::{BroadcastStateStore, MapStateDescriptor, StateError};

use crate::broadcast::{BroadcastProcessContext, BroadcastStream};
use crate::connected::Either;
use crate::datastream::DataStream;
use crate::functions::{Collector, Context, RuntimeContext};
use crate::operators::MapOperator;

/// Processes a stream with the broadcast state a broadcast stream fills (Flink's
/// `BroadcastProcessFunction`). Only broadcast elements may change the broadcast state, the same
/// way in every subtask.
pub trait BroadcastProcessFunction<IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), BoxError> {
        Ok(())
    }

    /// Processes a record of the non-broadcast input.
    fn process_element(
        &mut self,
        value: IN1,
        ctx: &mut BroadcastProcessReadOnlyContext<'_>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;

    /// Processes an element of the broadcast input (in every subtask).
    fn process_broadcast_element(
        &mut self,
        value: IN2,
        ctx: &mut BroadcastProcessContext<'_>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;
}

/// What a record of the non-broadcast input sees: its timestamp, the side outputs, the
/// operator's time and the broadcast state, for reading only.
pub struct BroadcastProcessReadOnlyContext<'a>(BroadcastProcessContext<'a>);

impl BroadcastProcessReadOnlyContext<'_> {
    /// The broadcast state `descriptor` names, for reading.
    pub fn get_broadcast_state<UK, UV>(
        &mut self,
        descriptor: &MapStateDescriptor<UK, UV>,
    ) -> Result<&HashMap<UK, UV>, StateError>
    where
        UK: Hash + Eq + Send + Sync + Serialize + DeserializeOwned + 'static,
        UV: Send + Sync + Serialize + DeserializeOwned + 'static,
    {
        self.0.get_broadcast_state(descriptor).map(|map| &*map)
    }

    /// The operator's current event time.
    pub fn current_watermark(&self) -> Timestamp {
        self.0.current_watermark()
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.0.current_processing_time()
    }
}

impl<'a> Deref for BroadcastProcessReadOnlyContext<'a> {
    type Target = Context<'a>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for BroadcastProcessReadOnlyContext<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A stream connected with a broadcast stream (Flink's `BroadcastConnectedStream`).
pub struct BroadcastConnectedStream<A, B> {
    stream: DataStream<A>,
    broadcast: DataStream<B>,
    declared: Vec<&'static str>,
}

impl<A: StreamData> DataStream<A> {
    /// Connects this stream with a broadcast stream (Flink's `connect` with a
    /// `BroadcastStream`); process both with a [`BroadcastProcessFunction`].
    pub fn connect_broadcast<B: StreamData>(
        &self,
        broadcast: &BroadcastStream<B>,
    ) -> BroadcastConnectedStream<A, B> {
        BroadcastConnectedStream {
            stream: self.clone(),
            broadcast: broadcast.stream.clone(),
            declared: broadcast.declared.clone(),
        }
    }
}

impl<A: StreamData, B: StreamData> BroadcastConnectedStream<A, B> {
    /// Runs a [`BroadcastProcessFunction`] over both inputs.
    pub fn process<O, P>(&self, function: P) -> DataStream<O>
    where
        O: StreamData,
        P: BroadcastProcessFunction<A, B, O>,
    {
        let left = operator_factory(|_| MapOperator {
            function: Either::<A, B>::Left,
            _input: PhantomData::<fn(A)>,
        });
        let right = operator_factory(|_| MapOperator {
            function: Either::<A, B>::Right,
            _input: PhantomData::<fn(B)>,
        });
        let records: DataStream<Either<A, B>> = self
            .stream
            .add_operator("Broadcast-connected", NodeBody::Operator(left));
        let broadcast: DataStream<Either<A, B>> = self
            .broadcast
            .add_operator("Broadcast", NodeBody::Operator(right))
            .broadcast();
        let declared = self.declared.clone();
        let factory =
            operator_factory::<Either<A, B>, O, _, _>(move |ctx| BroadcastProcessOperator {
                function: function.clone(),
                broadcast: BroadcastStateStore::new(declared.clone()),
                watermark: Timestamp::MIN,
                time: ctx.processing_time.clone(),
                _types: PhantomData,
            });
        records
            .union(&broadcast)
            .add_operator("BroadcastProcess", NodeBody::Operator(factory))
    }
}

/// Runs a [`BroadcastProcessFunction`].
struct BroadcastProcessOperator<A, B, O, P> {
    function: P,
    broadcast: BroadcastStateStore,
    watermark: Timestamp,
    time: ProcessingTimeService,
    _types: PhantomData<fn(A, B) -> O>,
}

impl<A, B, O, P> OneInputOperator<Either<A, B>, O> for BroadcastProcessOperator<A, B, O, P>
where
    A: 'static,
    B: 'static,
    O: 'static,
    P: BroadcastProcessFunction<A, B, O>,
{
    fn open(&mut self, ctx: &OperatorContext) -> Result<(), BoxError> {
        self.function.open(ctx)
    }

    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<Either<A, B>>>,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        let now = self.time.current_processing_time();
        for StreamRecord { value, timestamp } in batch {
            let mut ctx = BroadcastProcessContext::new(
                Context::new(&mut out.side, timestamp),
                &mut self.broadcast,
                self.watermark,
                now,
            );
            let mut collector = Collector::new(&mut out.main, timestamp);
            match value {
                Either::Left(value) => {
                    let mut ctx = BroadcastProcessReadOnlyContext(ctx);
                    self.function
                        .process_element(value, &mut ctx, &mut collector)?;
                }
                Either::Right(value) => {
                    self.function
                        .process_broadcast_element(value, &mut ctx, &mut collector)?;
                }
            }
        }
        Ok(())
    }

    fn process_watermark(
        &mut self,
        watermark: Watermark,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        self.watermark = watermark.timestamp();
        out.emit_watermark(watermark);
        Ok(())
    }

    fn initialize_state(&mut self, state: &RestoredOperatorState) -> Result<(), BoxError> {
        self.broadcast.restore(&state.broadcast)?;
        Ok(())
    }

    fn snapshot_state(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<OperatorStateSnapshot, BoxError> {
        Ok(OperatorStateSnapshot {
            broadcast: self.broadcast.snapshot()?,
            ..OperatorStateSnapshot::default()
        })
    }
}
