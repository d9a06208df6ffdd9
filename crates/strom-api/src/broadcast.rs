//! The broadcast state pattern (Flink's `broadcast(descriptor)`, `BroadcastStream` and
//! `KeyedBroadcastProcessFunction`): a low-volume stream (rules, thresholds, configuration)
//! reaches every subtask of a keyed operator and is kept there as broadcast state, which the
//! keyed records read.
//!
//! The operator has two inputs in one gate: the keyed side is routed by key group, the
//! broadcast side is sent to every subtask ([`KeyedOrBroadcast`] tells them apart), so the
//! operator's watermark is the minimum over both, as in Flink. The keyed side runs on the
//! keyed process operator (named states, timers); the broadcast elements reach the function
//! with the broadcast state for change and every key's named state through
//! [`BroadcastContext::apply_to_keyed_state`]. Broadcast state is written to checkpoints with
//! each subtask's copy; a restore at any parallelism gives every subtask one copy.

use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use strom_core::{BoxError, CheckpointId, StreamData, StreamRecord, Timestamp, Watermark};
use strom_runtime::checkpoint::{OperatorStateSnapshot, RestoredOperatorState};
use strom_runtime::element_type::{
    element_type, erase_input, typed_senders, AnyInput, AnySender, RouterFactory, WriterSettings,
};
use strom_runtime::exchange::{
    KeyGroupRouter, KeyedRecord, KeyedWriter, PartitionerKind, RecordRouter,
};
use strom_runtime::graph::{operator_factory, NodeBody};
use strom_runtime::operator::{OneInputOperator, OperatorContext, OperatorInfo, Output};
use strom_state::{
    BroadcastStateStore, KeyedStateBackend, MapStateDescriptor, StateDescriptor, StateError,
};

use crate::datastream::{DataStream, StreamInput};
use crate::functions::{Collector, Context, RuntimeContext};
use crate::keyed_process::{KeyedContext, KeyedProcessFunction, KeyedProcessOperator};
use crate::keyed_stream::KeyedStream;
use crate::operators::MapOperator;
use crate::routing::KeySelector;

/// A record on the way into a keyed broadcast operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KeyedOrBroadcast<K, A, B> {
    /// From the keyed input, with its key.
    Keyed(KeyedRecord<K, A>),
    /// From the broadcast input.
    Broadcast(B),
}

/// A stream whose records reach every subtask of the operator it is connected to, with the
/// broadcast states they are kept in (Flink's `BroadcastStream`).
pub struct BroadcastStream<B> {
    pub(crate) stream: DataStream<B>,
    pub(crate) declared: Vec<&'static str>,
}

impl<B: StreamData> DataStream<B> {
    /// Makes this stream a broadcast stream for the broadcast state pattern (Flink's
    /// `broadcast(descriptor)`): connect a keyed stream to it with
    /// [`KeyedStream::connect_broadcast`] and process both with a
    /// [`KeyedBroadcastProcessFunction`]. `descriptor` declares a broadcast state its elements
    /// are kept in; the function can use declared states only.
    pub fn broadcast_state<UK, UV>(
        &self,
        descriptor: &MapStateDescriptor<UK, UV>,
    ) -> BroadcastStream<B> {
        BroadcastStream {
            stream: self.clone(),
            declared: vec![descriptor.name()],
        }
    }
}

impl<B> BroadcastStream<B> {
    /// Declares one more broadcast state.
    pub fn with_state<UK, UV>(mut self, descriptor: &MapStateDescriptor<UK, UV>) -> Self {
        self.declared.push(descriptor.name());
        self
    }
}

/// A keyed stream connected with a broadcast stream (Flink's `BroadcastConnectedStream` of a
/// keyed stream).
pub struct KeyedBroadcastConnectedStream<A, K, B> {
    keyed: KeyedStream<A, K>,
    broadcast: DataStream<B>,
    declared: Vec<&'static str>,
}

impl<A: StreamData, K: StreamData + Hash + Eq> KeyedStream<A, K> {
    /// Connects this keyed stream with a broadcast stream (Flink's `connect` with a
    /// `BroadcastStream`).
    pub fn connect_broadcast<B: StreamData>(
        &self,
        broadcast: &BroadcastStream<B>,
    ) -> KeyedBroadcastConnectedStream<A, K, B> {
        KeyedBroadcastConnectedStream {
            keyed: KeyedStream::new(self.keyed_input(), self.key_selector()),
            broadcast: broadcast.stream.clone(),
            declared: broadcast.declared.clone(),
        }
    }
}

impl<A: StreamData, K: StreamData + Hash + Eq, B: StreamData>
    KeyedBroadcastConnectedStream<A, K, B>
{
    /// Runs a [`KeyedBroadcastProcessFunction`] over both inputs.
    pub fn process<O, P>(&self, function: P) -> DataStream<O>
    where
        O: StreamData,
        P: KeyedBroadcastProcessFunction<K, A, B, O>,
    {
        let channel_type = element_type::<KeyedOrBroadcast<K, A, B>>();
        let router: Arc<dyn RouterFactory> = Arc::new(KeyedSideRouterFactory::<A, K, B> {
            key_selector: self.keyed.key_selector(),
            _broadcast: PhantomData,
        });
        let keyed_side = self.keyed.unkeyed_input();
        let mut inputs: Vec<StreamInput> = keyed_side
            .inputs
            .iter()
            .map(|input| StreamInput {
                partitioner: Some(PartitionerKind::KeyGroups),
                router: Some(Arc::clone(&router)),
                channel_type: Arc::clone(&channel_type),
                ..input.clone()
            })
            .collect();
        let tag = operator_factory(|_| MapOperator {
            function: KeyedOrBroadcast::<K, A, B>::Broadcast,
            _input: PhantomData::<fn(B)>,
        });
        let broadcast_side: DataStream<KeyedOrBroadcast<K, A, B>> = self
            .broadcast
            .add_operator("Broadcast", NodeBody::Operator(tag))
            .broadcast();
        inputs.extend(broadcast_side.inputs);
        let adapter = BroadcastAdapter {
            function,
            broadcast: BroadcastStateStore::new(self.declared.clone()),
            declared: self.declared.clone(),
            _broadcast: PhantomData,
        };
        let factory = operator_factory::<KeyedOrBroadcast<K, A, B>, O, _, _>(move |ctx| {
            KeyedBroadcastOperator {
                inner: KeyedProcessOperator::new(adapter.clone(), ctx),
            }
        });
        DataStream::<KeyedOrBroadcast<K, A, B>>::with_inputs(Rc::clone(&keyed_side.env), inputs)
            .add_operator("KeyedBroadcastProcess", NodeBody::Operator(factory))
    }
}

/// Processes a keyed stream with the broadcast state a broadcast stream fills (Flink's
/// `KeyedBroadcastProcessFunction`). Keyed records and timers may read the broadcast state;
/// only broadcast elements may change it, and they must change it the same way in every
/// subtask (deterministically), since every subtask keeps its own copy.
pub trait KeyedBroadcastProcessFunction<K, IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), BoxError> {
        Ok(())
    }

    /// Processes a record of the keyed input.
    fn process_element(
        &mut self,
        value: IN1,
        ctx: &mut ReadOnlyContext<'_, '_, K>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;

    /// Processes an element of the broadcast input (in every subtask).
    fn process_broadcast_element(
        &mut self,
        value: IN2,
        ctx: &mut BroadcastContext<'_, K>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;

    /// A timer of the context's current key fired at `timestamp`.
    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        _ctx: &mut ReadOnlyContext<'_, '_, K>,
        _out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError> {
        Ok(())
    }
}

/// What a keyed record or timer sees: everything a keyed process function's context offers
/// (key, named states, timers, side outputs), and the broadcast state for reading.
pub struct ReadOnlyContext<'a, 'b, K> {
    keyed: &'a mut KeyedContext<'b, K, ()>,
    broadcast: &'a mut BroadcastStateStore,
}

impl<'b, K> Deref for ReadOnlyContext<'_, 'b, K> {
    type Target = KeyedContext<'b, K, ()>;
    fn deref(&self) -> &Self::Target {
        self.keyed
    }
}

impl<K> DerefMut for ReadOnlyContext<'_, '_, K> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.keyed
    }
}

impl<K> ReadOnlyContext<'_, '_, K> {
    /// The broadcast state `descriptor` names, for reading (empty until a broadcast element
    /// puts something in it).
    pub fn get_broadcast_state<UK, UV>(
        &mut self,
        descriptor: &MapStateDescriptor<UK, UV>,
    ) -> Result<&HashMap<UK, UV>, StateError>
    where
        UK: Hash + Eq + Send + Sync + Serialize + DeserializeOwned + 'static,
        UV: Send + Sync + Serialize + DeserializeOwned + 'static,
    {
        self.broadcast.get(descriptor)
    }
}

/// What a broadcast element sees (Flink's `BroadcastProcessFunction.Context`): the broadcast
/// state for change, the operator's time and the side outputs.
pub struct BroadcastProcessContext<'a> {
    plain: Context<'a>,
    broadcast: &'a mut BroadcastStateStore,
    watermark: Timestamp,
    processing_time: Timestamp,
}

impl<'a> BroadcastProcessContext<'a> {
    pub(crate) fn new(
        plain: Context<'a>,
        broadcast: &'a mut BroadcastStateStore,
        watermark: Timestamp,
        processing_time: Timestamp,
    ) -> Self {
        BroadcastProcessContext {
            plain,
            broadcast,
            watermark,
            processing_time,
        }
    }

    /// The broadcast state `descriptor` names, for change.
    pub fn get_broadcast_state<UK, UV>(
        &mut self,
        descriptor: &MapStateDescriptor<UK, UV>,
    ) -> Result<&mut HashMap<UK, UV>, StateError>
    where
        UK: Hash + Eq + Send + Sync + Serialize + DeserializeOwned + 'static,
        UV: Send + Sync + Serialize + DeserializeOwned + 'static,
    {
        self.broadcast.get_mut(descriptor)
    }

    /// The operator's current event time.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }
}

impl<'a> Deref for BroadcastProcessContext<'a> {
    type Target = Context<'a>;
    fn deref(&self) -> &Self::Target {
        &self.plain
    }
}

impl DerefMut for BroadcastProcessContext<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.plain
    }
}

/// What a broadcast element sees in a keyed broadcast function: everything of
/// [`BroadcastProcessContext`], and the named state of every key of the subtask.
pub struct BroadcastContext<'a, K> {
    broadcast: BroadcastProcessContext<'a>,
    keyed_states: &'a mut KeyedStateBackend<K>,
}

impl<'a, K> Deref for BroadcastContext<'a, K> {
    type Target = BroadcastProcessContext<'a>;
    fn deref(&self) -> &Self::Target {
        &self.broadcast
    }
}

impl<K> DerefMut for BroadcastContext<'_, K> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.broadcast
    }
}

impl<K> BroadcastContext<'_, K>
where
    K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
{
    /// Calls `function` with every key of this subtask that has a value in the keyed state
    /// `descriptor` names, and the key's handle of it (Flink's `applyToKeyedState`).
    pub fn apply_to_keyed_state<D: StateDescriptor>(
        &mut self,
        descriptor: &D,
        function: impl FnMut(&K, D::Handle<'_, K, ()>) -> Result<(), BoxError>,
    ) -> Result<(), BoxError> {
        self.keyed_states.apply_to_keyed_state(descriptor, function)
    }
}

/// The user's function with this subtask's broadcast state, run as a keyed process function
/// for the keyed side.
struct BroadcastAdapter<P, B> {
    function: P,
    broadcast: BroadcastStateStore,
    declared: Vec<&'static str>,
    _broadcast: PhantomData<fn(B)>,
}

impl<P: Clone, B> Clone for BroadcastAdapter<P, B> {
    /// A copy of the function with empty broadcast state: copies are made for new subtasks,
    /// which get their broadcast state from their own input or a restore.
    fn clone(&self) -> Self {
        BroadcastAdapter {
            function: self.function.clone(),
            broadcast: BroadcastStateStore::new(self.declared.clone()),
            declared: self.declared.clone(),
            _broadcast: PhantomData,
        }
    }
}

impl<K, A, B, O, P> KeyedProcessFunction<K, A, O> for BroadcastAdapter<P, B>
where
    B: 'static,
    P: KeyedBroadcastProcessFunction<K, A, B, O>,
{
    type State = ();

    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), BoxError> {
        self.function.open(ctx)
    }

    fn process_element(
        &mut self,
        value: A,
        ctx: &mut KeyedContext<'_, K, ()>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        let mut ctx = ReadOnlyContext {
            keyed: ctx,
            broadcast: &mut self.broadcast,
        };
        self.function.process_element(value, &mut ctx, out)
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, K, ()>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        let mut ctx = ReadOnlyContext {
            keyed: ctx,
            broadcast: &mut self.broadcast,
        };
        self.function.on_timer(timestamp, &mut ctx, out)
    }
}

/// Runs a [`KeyedBroadcastProcessFunction`]: keyed records through the keyed process
/// operator, broadcast elements with the broadcast state.
struct KeyedBroadcastOperator<K, A, B: 'static, O, P: KeyedBroadcastProcessFunction<K, A, B, O>> {
    inner: KeyedProcessOperator<K, A, O, BroadcastAdapter<P, B>>,
}

impl<K, A, B, O, P> KeyedBroadcastOperator<K, A, B, O, P>
where
    K: StreamData + Hash + Eq,
    A: 'static,
    B: 'static,
    O: 'static,
    P: KeyedBroadcastProcessFunction<K, A, B, O>,
{
    fn process_broadcast(
        &mut self,
        record: StreamRecord<B>,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        let (adapter, keyed_states, watermark, clock) = self.inner.keyless_parts();
        let mut ctx = BroadcastContext {
            broadcast: BroadcastProcessContext::new(
                Context::new(&mut out.side, record.timestamp),
                &mut adapter.broadcast,
                watermark,
                clock.current_processing_time(),
            ),
            keyed_states,
        };
        let mut collector = Collector::new(&mut out.main, record.timestamp);
        adapter
            .function
            .process_broadcast_element(record.value, &mut ctx, &mut collector)
    }
}

impl<K, A, B, O, P> OneInputOperator<KeyedOrBroadcast<K, A, B>, O>
    for KeyedBroadcastOperator<K, A, B, O, P>
where
    K: StreamData + Hash + Eq,
    A: 'static,
    B: 'static,
    O: 'static,
    P: KeyedBroadcastProcessFunction<K, A, B, O>,
{
    fn open(&mut self, ctx: &OperatorContext) -> Result<(), BoxError> {
        self.inner.open(ctx)
    }

    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<KeyedOrBroadcast<K, A, B>>>,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        for StreamRecord { value, timestamp } in batch {
            match value {
                KeyedOrBroadcast::Keyed(value) => self
                    .inner
                    .process_record(StreamRecord { value, timestamp }, out)?,
                KeyedOrBroadcast::Broadcast(value) => {
                    self.process_broadcast(StreamRecord { value, timestamp }, out)?
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
        self.inner.process_watermark(watermark, out)
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<O>) -> Result<(), BoxError> {
        self.inner.on_processing_time(now, out)
    }

    fn end_input(&mut self, out: &mut Output<O>) -> Result<(), BoxError> {
        self.inner.end_input(out)
    }

    fn initialize_state(&mut self, state: &RestoredOperatorState) -> Result<(), BoxError> {
        self.inner.initialize_state(state)?;
        let (adapter, ..) = self.inner.keyless_parts();
        adapter.broadcast.restore(&state.broadcast)?;
        Ok(())
    }

    fn snapshot_state(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<OperatorStateSnapshot, BoxError> {
        let mut snapshot = self.inner.snapshot_state(checkpoint)?;
        let (adapter, ..) = self.inner.keyless_parts();
        snapshot.broadcast = adapter.broadcast.snapshot()?;
        Ok(snapshot)
    }
}

/// Writers for the keyed side: route by key group, as `key_by` does, and tag the record.
struct KeyedSideRouterFactory<A, K, B> {
    key_selector: KeySelector<A, K>,
    _broadcast: PhantomData<fn() -> B>,
}

impl<A, K, B> RouterFactory for KeyedSideRouterFactory<A, K, B>
where
    A: StreamData,
    K: StreamData + Hash,
    B: StreamData,
{
    fn writer(
        &self,
        senders: Vec<AnySender>,
        settings: WriterSettings,
        info: OperatorInfo,
    ) -> AnyInput {
        let senders = typed_senders::<KeyedOrBroadcast<K, A, B>>(senders);
        let selector = Arc::clone(&self.key_selector);
        let by_key_group = KeyGroupRouter::new(
            move |value: &A| selector(value),
            settings.target_max_parallelism,
        );
        let router = KeyedSideRouter {
            by_key_group,
            _broadcast: PhantomData::<fn() -> B>,
        };
        let writer: strom_runtime::operator::BoxedInput<A> =
            Box::new(KeyedWriter::new(senders, settings.batch_size, router, info));
        erase_input(writer)
    }
}

struct KeyedSideRouter<R, B> {
    by_key_group: R,
    _broadcast: PhantomData<fn() -> B>,
}

impl<A, K, B, R> RecordRouter<A> for KeyedSideRouter<R, B>
where
    R: RecordRouter<A, Out = KeyedRecord<K, A>>,
{
    type Out = KeyedOrBroadcast<K, A, B>;

    fn route(
        &mut self,
        record: StreamRecord<A>,
        channels: usize,
    ) -> Result<(usize, StreamRecord<Self::Out>), String> {
        let (channel, routed) = self.by_key_group.route(record, channels)?;
        Ok((
            channel,
            StreamRecord {
                value: KeyedOrBroadcast::Keyed(routed.value),
                timestamp: routed.timestamp,
            },
        ))
    }
}
