//! `KeyedProcessFunction`: per-key state and timers, the lowest-level keyed API (Flink's
//! `KeyedProcessFunction`, `TimerService` and `KeyedProcessOperator`).
//!
//! Each key has a value of the function's `State` type, created empty on first use and kept
//! until the function clears it, and its own event-time and processing-time timers. Timers are
//! deduplicated per key and timestamp, fire in timestamp order, and live in the operator's
//! managed state (a [`TimerQueue`] per time domain) so a checkpoint can write them out.

use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::key_group::KeyGroupAssigner;
use strom_core::{BoxError, CheckpointId, StreamData, StreamRecord, Timestamp, Watermark};
use strom_runtime::checkpoint::{OperatorStateSnapshot, RestoredOperatorState};
use strom_runtime::exchange::KeyedRecord;
use strom_runtime::operator::{
    ExecutionMode, OneInputOperator, OperatorContext, Output, SideOutputs,
};
use strom_runtime::processing_time::ProcessingTimeService;
use strom_state::{
    KeyGroupParts, KeyGroupedMap, KeyedEntry, KeyedStateBackend, StateScope, Timer, TimerQueue,
};

use crate::functions::{Collector, Context, OutputTag, RuntimeContext};

/// The parts of a keyed process operator's state in a checkpoint, per key group.
const VALUES: &str = "values";
const NAMED_STATES: &str = "named-states";
const EVENT_TIMERS: &str = "event-timers";
const PROCESSING_TIMERS: &str = "processing-timers";

/// The task's processing-time clock, for the time to live of keyed state.
pub(crate) fn task_clock(ctx: &OperatorContext) -> impl Fn() -> Timestamp + Send + Sync + 'static {
    let time = ctx.processing_time.clone();
    move || time.current_processing_time()
}

/// Which clock a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeDomain {
    /// Fired by watermarks.
    EventTime,
    /// Fired by the wall clock.
    ProcessingTime,
}

/// Processes a keyed stream one record at a time with per-key state and timers.
pub trait KeyedProcessFunction<K, I, O>: Clone + Send + Sync + 'static {
    /// What the function keeps per key (`Default` is the state of a key not seen yet); it is
    /// written to checkpoints, hence serde.
    type State: Default + Send + Serialize + DeserializeOwned + 'static;

    /// Called once per subtask before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), BoxError> {
        Ok(())
    }

    /// Processes one record of the context's current key.
    fn process_element(
        &mut self,
        value: I,
        ctx: &mut KeyedContext<'_, K, Self::State>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError>;

    /// A timer of the context's current key fired at `timestamp`.
    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        _ctx: &mut KeyedContext<'_, K, Self::State>,
        _out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Registers and deletes the current key's timers (Flink's `TimerService`).
pub struct TimerService<'a, K> {
    timers: &'a mut KeyedTimers<K>,
    key: &'a K,
    hash: u64,
}

impl<K: Eq + Clone> TimerService<'_, K> {
    /// The operator's current event time.
    pub fn current_watermark(&self) -> Timestamp {
        self.timers.watermark
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.timers.time.current_processing_time()
    }

    /// Calls `on_timer` for the current key once the watermark reaches `time`.
    pub fn register_event_time_timer(&mut self, time: Timestamp) {
        self.timers.event.register(time, self.key, self.hash, &());
    }

    /// Calls `on_timer` for the current key once the clock reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) {
        if self
            .timers
            .processing
            .register(time, self.key, self.hash, &())
        {
            self.timers.time.request_wakeup(time);
        }
    }

    /// Removes the current key's event-time timer at `time`, if any.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) {
        self.timers.event.delete(time, self.key, self.hash, &());
    }

    /// Removes the current key's processing-time timer at `time`, if any.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) {
        self.timers
            .processing
            .delete(time, self.key, self.hash, &());
    }
}

/// What a [`KeyedProcessFunction`] sees for the record or timer at hand.
pub struct KeyedContext<'a, K, S> {
    key: &'a K,
    hash: u64,
    timestamp: Option<Timestamp>,
    time_domain: Option<TimeDomain>,
    state: &'a mut Option<S>,
    timers: &'a mut KeyedTimers<K>,
    side: &'a mut SideOutputs,
    states: &'a mut KeyedStateBackend<K>,
}

impl<K: Eq + Clone, S: Default> KeyedContext<'_, K, S> {
    /// The key of the record or timer.
    pub fn get_current_key(&self) -> &K {
        self.key
    }

    /// The record's event timestamp, or the firing timer's timestamp.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    /// In `on_timer`: which kind of timer fired.
    pub fn time_domain(&self) -> Option<TimeDomain> {
        self.time_domain
    }

    /// The current key's state, created empty on first use.
    pub fn state(&mut self) -> &mut S {
        self.state.get_or_insert_with(S::default)
    }

    /// Drops the current key's state.
    pub fn clear_state(&mut self) {
        *self.state = None;
    }

    /// The current key's named states: `ctx.keyed_state().get_state(&DESCRIPTOR)?` gives a
    /// handle (`ValueState`, `ListState`, `MapState`, `ReducingState`) scoped to the current
    /// key, as Flink's `getRuntimeContext().getState(descriptor)` does.
    pub fn keyed_state(&mut self) -> StateScope<'_, K, ()>
    where
        K: StreamData + Hash,
    {
        self.states.scope(self.key, self.hash, &())
    }

    /// The current key's timers.
    pub fn timer_service(&mut self) -> TimerService<'_, K> {
        TimerService {
            timers: self.timers,
            key: self.key,
            hash: self.hash,
        }
    }

    /// The current key's state and the side outputs, borrowed together.
    pub(crate) fn state_and_side_outputs(&mut self) -> (&mut S, &mut SideOutputs) {
        (self.state.get_or_insert_with(S::default), self.side)
    }

    /// The record's context as a plain process function sees it.
    pub(crate) fn plain_context(&mut self) -> Context<'_> {
        Context::new(self.side, self.timestamp)
    }

    /// Emits `value` to the side output `tag`.
    pub fn output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.collect(
            tag.id(),
            StreamRecord {
                value,
                timestamp: self.timestamp,
            },
        );
    }
}

/// Timers of both domains with the clocks that fire them.
pub struct KeyedTimers<K> {
    event: TimerQueue<K, ()>,
    processing: TimerQueue<K, ()>,
    watermark: Timestamp,
    time: ProcessingTimeService,
}

/// Runs a [`KeyedProcessFunction`].
pub(crate) struct KeyedProcessOperator<K, I, O, P: KeyedProcessFunction<K, I, O>> {
    function: P,
    states: KeyGroupedMap<K, P::State>,
    named_states: KeyedStateBackend<K>,
    timers: KeyedTimers<K>,
    key_groups: KeyGroupAssigner,
    batch_mode: bool,
    _types: PhantomData<fn(I) -> O>,
}

impl<K, I, O, P> KeyedProcessOperator<K, I, O, P>
where
    K: StreamData + std::hash::Hash + Eq,
    O: 'static,
    P: KeyedProcessFunction<K, I, O>,
{
    pub(crate) fn new(function: P, ctx: &OperatorContext) -> Self {
        KeyedProcessOperator {
            function,
            states: ctx.keyed_map("values"),
            named_states: ctx.keyed_state_backend().with_clock(task_clock(ctx)),
            timers: KeyedTimers {
                event: TimerQueue::new(),
                processing: TimerQueue::new(),
                watermark: Timestamp::MIN,
                time: ctx.processing_time.clone(),
            },
            key_groups: KeyGroupAssigner::new(ctx.max_parallelism),
            batch_mode: ctx.execution_mode == ExecutionMode::Batch,
            _types: PhantomData,
        }
    }

    /// Runs `call` with the context of `key`, then stores what it left of the key's state.
    fn with_key(
        &mut self,
        key: &K,
        hash: u64,
        timestamp: Option<Timestamp>,
        time_domain: Option<TimeDomain>,
        out: &mut Output<O>,
        call: impl FnOnce(
            &mut P,
            &mut KeyedContext<'_, K, P::State>,
            &mut Collector<'_, O>,
        ) -> Result<(), BoxError>,
    ) -> Result<(), BoxError> {
        let mut state = self.states.remove(hash, key);
        let mut ctx = KeyedContext {
            key,
            hash,
            timestamp,
            time_domain,
            state: &mut state,
            timers: &mut self.timers,
            side: &mut out.side,
            states: &mut self.named_states,
        };
        let mut collector = Collector::new(&mut out.main, timestamp);
        let result = call(&mut self.function, &mut ctx, &mut collector);
        if let Some(state) = state {
            if let KeyedEntry::Vacant(vacant) = self.states.entry(hash, key.clone())? {
                vacant.insert(state);
            }
        }
        result
    }

    /// Processes one record of its key.
    pub(crate) fn process_record(
        &mut self,
        record: StreamRecord<KeyedRecord<K, I>>,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        let KeyedRecord { key, hash, value } = record.value;
        self.with_key(
            &key,
            hash,
            record.timestamp,
            None,
            out,
            |function, ctx, collector| function.process_element(value, ctx, collector),
        )
    }

    /// The function, the named states of every key, the current watermark and the clock: what
    /// an element that belongs to no key (a broadcast element) may use.
    pub(crate) fn keyless_parts(
        &mut self,
    ) -> (
        &mut P,
        &mut KeyedStateBackend<K>,
        Timestamp,
        &ProcessingTimeService,
    ) {
        (
            &mut self.function,
            &mut self.named_states,
            self.timers.watermark,
            &self.timers.time,
        )
    }

    fn fire(
        &mut self,
        timer: Timer<K, ()>,
        domain: TimeDomain,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        // Event-time results carry the timer's time; processing-time results carry none.
        let timestamp = (domain == TimeDomain::EventTime).then_some(timer.timestamp);
        self.with_key(
            &timer.key,
            timer.key_hash,
            timestamp,
            Some(domain),
            out,
            |function, ctx, collector| function.on_timer(timer.timestamp, ctx, collector),
        )
    }

    fn fire_processing_timers(
        &mut self,
        up_to: Timestamp,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        while let Some(timer) = self.timers.processing.pop_due(up_to) {
            self.fire(timer, TimeDomain::ProcessingTime, out)?;
        }
        if let Some(next) = self.timers.processing.next_timestamp() {
            self.timers.time.request_wakeup(next);
        }
        Ok(())
    }
}

impl<K, I, O, P> OneInputOperator<KeyedRecord<K, I>, O> for KeyedProcessOperator<K, I, O, P>
where
    K: StreamData + std::hash::Hash + Eq,
    I: 'static,
    O: 'static,
    P: KeyedProcessFunction<K, I, O>,
{
    fn open(&mut self, ctx: &OperatorContext) -> Result<(), BoxError> {
        self.function.open(ctx)
    }

    fn snapshot_state(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<OperatorStateSnapshot, BoxError> {
        let mut parts = KeyGroupParts::new();
        parts.add_pending(VALUES, self.states.snapshot_pending()?);
        parts.add_pending(NAMED_STATES, self.named_states.snapshot_pending()?);
        parts.add(EVENT_TIMERS, self.timers.event.snapshot(&self.key_groups)?);
        let processing = self.timers.processing.snapshot(&self.key_groups)?;
        parts.add(PROCESSING_TIMERS, processing);
        Ok(OperatorStateSnapshot::pending_keyed(parts.into_pending()?))
    }

    fn initialize_state(&mut self, state: &RestoredOperatorState) -> Result<(), BoxError> {
        KeyGroupParts::restore_each(&state.keyed, |group, part, bytes| {
            match part {
                VALUES => self.states.restore_part(group, bytes)?,
                NAMED_STATES => self.named_states.restore(group, bytes)?,
                EVENT_TIMERS => self.timers.event.restore(bytes.whole_only()?)?,
                PROCESSING_TIMERS => self.timers.processing.restore(bytes.whole_only()?)?,
                other => return Err(KeyGroupParts::unknown_part(other, group)),
            }
            Ok(())
        })?;
        if let Some(next) = self.timers.processing.next_timestamp() {
            self.timers.time.request_wakeup(next);
        }
        Ok(())
    }

    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<KeyedRecord<K, I>>>,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        for record in batch {
            self.process_record(record, out)?;
        }
        Ok(())
    }

    fn process_watermark(
        &mut self,
        watermark: Watermark,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        self.timers.watermark = watermark.timestamp();
        while let Some(timer) = self.timers.event.pop_due(watermark.timestamp()) {
            self.fire(timer, TimeDomain::EventTime, out)?;
        }
        out.emit_watermark(watermark);
        Ok(())
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<O>) -> Result<(), BoxError> {
        self.fire_processing_timers(now, out)
    }

    fn end_input(&mut self, out: &mut Output<O>) -> Result<(), BoxError> {
        // Batch mode takes processing time to stand still: its timers fire at the end (Flink).
        if self.batch_mode {
            self.fire_processing_timers(Timestamp::MAX, out)?;
        }
        Ok(())
    }
}
