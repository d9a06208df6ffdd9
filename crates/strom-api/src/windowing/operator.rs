//! The window operator: Flink's `WindowOperator` over key-partitioned records.
//!
//! Per key it keeps the key's open windows (a short list: one or two tumbling windows, `size /
//! slide` sliding ones, a few sessions), each with its contents and its trigger's state. Timers
//! live in two [`TimerQueue`]s, event and processing time, namespaced by window. A record is
//! added to each window it is assigned to unless the window is already past its allowed
//! lateness; a record that fits no window and is late goes to the late-data side output. A
//! window's state is removed at its cleanup time: the end of the window plus the allowed
//! lateness in event time, the end of the window in processing time.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use strom_core::key_group::KeyGroupAssigner;
use strom_core::{BoxError, CheckpointId, StreamData, StreamRecord, Timestamp, Watermark};
use strom_runtime::checkpoint::{OperatorStateSnapshot, RestoredOperatorState};
use strom_runtime::exchange::KeyedRecord;
use strom_runtime::operator::{ExecutionMode, OneInputOperator, OperatorContext, Output};
use strom_runtime::processing_time::ProcessingTimeService;
use strom_state::{KeyGroupParts, KeyGroupedMap, KeyedStateBackend, Timer, TimerQueue};

use super::assigners::WindowAssigner;
use super::contents::{WindowContents, WindowFunction};
use super::functions::WindowContext;
use super::open_windows::OpenWindows;
use super::routing::{add_to_windows, emit_if_late};
use super::triggers::{TimerAction, Trigger, TriggerContext, TriggerResult};
use super::window::Window;
use crate::keyed_process::task_clock;

/// The parts of a window operator's state in a checkpoint, per key group.
pub(super) const WINDOWS: &str = "windows";
pub(super) const NAMED_STATES: &str = "named-states";
const EVENT_TIMERS: &str = "event-timers";
const PROCESSING_TIMERS: &str = "processing-timers";

/// The error for a record without a timestamp in an event-time window.
pub(super) const MISSING_TIMESTAMP: &str = "a record has no timestamp: event-time windows need \
     assign_timestamps_and_watermarks or a source with a watermark strategy";

/// How a windowed stream was configured, apart from its function.
pub(crate) struct WindowSettings<A, TR> {
    pub(crate) assigner: A,
    pub(crate) trigger: TR,
    pub(crate) allowed_lateness: Timestamp,
    pub(crate) late_data_tag: Option<String>,
}

/// One open window of one key.
#[derive(Serialize, Deserialize)]
struct WindowSlot<W, Acc, S> {
    window: W,
    /// `None` after a purge, until the next record.
    contents: Option<Acc>,
    trigger_state: S,
    /// The event-time timer this slot last registered (skips re-registering the same timer
    /// for every record of the window).
    event_timer: Option<Timestamp>,
    cleanup_registered: bool,
}

/// The open windows of one key.
type Slots<W, Acc, S> = OpenWindows<WindowSlot<W, Acc, S>>;

/// The open windows of every key, by key group.
type WindowState<K, W, Acc, S> = KeyGroupedMap<K, Slots<W, Acc, S>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeDomain {
    Event,
    Processing,
}

/// The timers and clocks of the operator, apart from the window state so both can be borrowed.
struct Timers<K, W> {
    event: TimerQueue<K, W>,
    processing: TimerQueue<K, W>,
    watermark: Timestamp,
    time: ProcessingTimeService,
    actions: Vec<TimerAction>,
    /// While an event-time timer fires: its time, as long as the window has not registered it
    /// again. Deleting it then needs no search: it has left the queue.
    firing_event_timer: Option<Timestamp>,
}

impl<K: Eq + Clone, W: Window> Timers<K, W> {
    /// Applies what a trigger asked for, for `key` and `window`.
    fn apply(&mut self, key: &K, hash: u64, window: &W, event_timer: &mut Option<Timestamp>) {
        for action in self.actions.drain(..) {
            match action {
                TimerAction::RegisterEvent(time) => {
                    if self.firing_event_timer == Some(time) {
                        self.firing_event_timer = None;
                    }
                    if *event_timer != Some(time) {
                        self.event.register(time, key, hash, window);
                        *event_timer = Some(time);
                    }
                }
                TimerAction::DeleteEvent(time) => {
                    if self.firing_event_timer != Some(time) {
                        self.event.delete(time, key, hash, window);
                    }
                    if *event_timer == Some(time) {
                        *event_timer = None;
                    }
                }
                TimerAction::RegisterProcessing(time) => {
                    if self.processing.register(time, key, hash, window) {
                        self.time.request_wakeup(time);
                    }
                }
                TimerAction::DeleteProcessing(time) => {
                    self.processing.delete(time, key, hash, window);
                }
            }
        }
    }
}

/// Flink's `WindowOperator` for one key-partitioned input.
pub(crate) struct WindowOperator<K, T, A, TR, C, F, OUT>
where
    A: WindowAssigner<T>,
    TR: Trigger<T, A::W>,
    C: WindowContents<T, A::W>,
{
    windows: WindowState<K, A::W, C::Acc, TR::State>,
    logic: WindowLogic<K, T, A, TR, C, F, OUT>,
    assigned: Vec<A::W>,
    key_groups: KeyGroupAssigner,
}

/// Everything but the window state, so one key's windows can be borrowed beside it.
struct WindowLogic<K, T, A: WindowAssigner<T>, TR, C, F, OUT> {
    settings: WindowSettings<A, TR>,
    contents: C,
    function: F,
    timers: Timers<K, A::W>,
    /// The named states a `ProcessWindowFunction` keeps per window and per key.
    states: KeyedStateBackend<K>,
    batch_mode: bool,
    _types: PhantomData<fn(T) -> OUT>,
}

impl<K, T, A, TR, C, F, OUT> WindowOperator<K, T, A, TR, C, F, OUT>
where
    K: StreamData + std::hash::Hash + Eq,
    T: Clone + Send + 'static,
    A: WindowAssigner<T>,
    TR: Trigger<T, A::W>,
    C: WindowContents<T, A::W>,
{
    pub(crate) fn new(
        settings: WindowSettings<A, TR>,
        contents: C,
        function: F,
        ctx: &OperatorContext,
    ) -> Self {
        WindowOperator {
            windows: ctx.keyed_map("windows"),
            logic: WindowLogic {
                settings,
                contents,
                function,
                timers: Timers {
                    event: TimerQueue::new(),
                    processing: TimerQueue::new(),
                    watermark: Timestamp::MIN,
                    time: ctx.processing_time.clone(),
                    actions: Vec::new(),
                    firing_event_timer: None,
                },
                states: ctx.keyed_state_backend().with_clock(task_clock(ctx)),
                batch_mode: ctx.execution_mode == ExecutionMode::Batch,
                _types: PhantomData,
            },
            assigned: Vec::new(),
            key_groups: KeyGroupAssigner::new(ctx.max_parallelism),
        }
    }
}

impl<K, T, A, TR, C, F, OUT> WindowLogic<K, T, A, TR, C, F, OUT>
where
    K: StreamData + std::hash::Hash + Eq,
    T: Clone + Send + 'static,
    A: WindowAssigner<T>,
    TR: Trigger<T, A::W>,
    C: WindowContents<T, A::W>,
    F: WindowFunction<K, A::W, C::Result, OUT>,
    OUT: 'static,
{
    #[inline]
    fn cleanup_time(&self, window: &A::W) -> Timestamp {
        if self.settings.assigner.is_event_time() {
            window
                .max_timestamp()
                .saturating_add(self.settings.allowed_lateness)
        } else {
            window.max_timestamp()
        }
    }

    #[inline]
    fn is_window_late(&self, window: &A::W) -> bool {
        self.settings.assigner.is_event_time() && self.cleanup_time(window) <= self.timers.watermark
    }

    fn trigger_context<'a>(
        timers: &'a mut Timers<K, A::W>,
        state: &'a mut TR::State,
        now: Timestamp,
    ) -> TriggerContext<'a, TR::State> {
        TriggerContext {
            state,
            timers: &mut timers.actions,
            watermark: timers.watermark,
            processing_time: now,
        }
    }

    /// The index of `window` among the key's windows, opening it if it is not open yet.
    #[inline]
    fn open_window(slots: &mut Slots<A::W, C::Acc, TR::State>, window: A::W) -> usize {
        let end = window.max_timestamp();
        match slots.search(
            end,
            |slot| slot.window.max_timestamp(),
            |slot| slot.window == window,
        ) {
            Ok(index) => index,
            Err(index) => {
                slots.insert(
                    index,
                    WindowSlot {
                        window,
                        contents: None,
                        trigger_state: TR::State::default(),
                        event_timer: None,
                        cleanup_registered: false,
                    },
                );
                index
            }
        }
    }

    /// Adds `record` to `window` of the key whose windows are `slots`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn add(
        &mut self,
        slots: &mut Slots<A::W, C::Acc, TR::State>,
        key: &K,
        hash: u64,
        window: A::W,
        record: StreamRecord<T>,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let cleanup = self.cleanup_time(&window);
        let index = Self::open_window(slots, window);
        let slot = slots.get_mut(index);
        let timestamp = record.timestamp.unwrap_or(now);
        let mut ctx = Self::trigger_context(&mut self.timers, &mut slot.trigger_state, now);
        let result =
            self.settings
                .trigger
                .on_element(&record.value, timestamp, &slot.window, &mut ctx);
        if !self.timers.actions.is_empty() {
            self.timers
                .apply(key, hash, &slot.window, &mut slot.event_timer);
        }
        let contents = slot.contents.get_or_insert_with(|| self.contents.create());
        self.contents.add(contents, record);
        if !slot.cleanup_registered && cleanup != Timestamp::MAX {
            slot.cleanup_registered = true;
            if self.settings.assigner.is_event_time() {
                if slot.event_timer != Some(cleanup) {
                    self.timers.event.register(cleanup, key, hash, &slot.window);
                }
            } else if self
                .timers
                .processing
                .register(cleanup, key, hash, &slot.window)
            {
                self.timers.time.request_wakeup(cleanup);
            }
        }
        self.act(slot, key, hash, result, now, out)
    }

    /// Fires and/or purges `slot` as `result` says.
    fn act(
        &mut self,
        slot: &mut WindowSlot<A::W, C::Acc, TR::State>,
        key: &K,
        hash: u64,
        result: TriggerResult,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        if result.is_fire() {
            if let Some(contents) = &mut slot.contents {
                let results = self.contents.results(contents, &slot.window);
                let mut ctx = WindowContext {
                    window: &slot.window,
                    key,
                    key_hash: hash,
                    watermark: self.timers.watermark,
                    processing_time: now,
                    side: &mut out.side,
                    states: &mut self.states,
                    merging: self.settings.assigner.is_merging(),
                };
                self.function.apply(key, results, &mut ctx, &mut out.main)?;
            }
        }
        if result.is_purge() {
            slot.contents = None;
        }
        Ok(())
    }

    /// Merges `window` with the key's windows it intersects (sessions); returns the window the
    /// record belongs to now.
    fn merge(
        &mut self,
        slots: &mut Slots<A::W, C::Acc, TR::State>,
        key: &K,
        hash: u64,
        window: A::W,
        now: Timestamp,
    ) -> A::W {
        let mut merged = window;
        let mut members: Vec<usize> = Vec::new();
        loop {
            let found = slots.iter().enumerate().find_map(|(index, slot)| {
                if members.contains(&index) {
                    return None;
                }
                slot.window.merge_with(&merged).map(|cover| (index, cover))
            });
            match found {
                Some((index, cover)) => {
                    members.push(index);
                    merged = cover;
                }
                None => break,
            }
        }
        if members.is_empty() || (members.len() == 1 && slots.get(members[0]).window == merged) {
            return merged;
        }
        members.sort_unstable();
        let mut old: Vec<WindowSlot<A::W, C::Acc, TR::State>> = members
            .iter()
            .rev()
            .map(|&index| slots.remove(index))
            .collect();
        old.reverse();
        let mut target = WindowSlot {
            window: merged.clone(),
            contents: None,
            trigger_state: TR::State::default(),
            event_timer: None,
            cleanup_registered: false,
        };
        let event_time = self.settings.assigner.is_event_time();
        for mut slot in old {
            if let Some(contents) = slot.contents.take() {
                match &mut target.contents {
                    Some(existing) => self.contents.merge(existing, contents),
                    None => target.contents = Some(contents),
                }
            }
            // The merged-away window's timers go; its trigger state joins the merged one.
            let mut ctx = Self::trigger_context(&mut self.timers, &mut slot.trigger_state, now);
            self.settings.trigger.clear(&slot.window, &mut ctx);
            self.timers
                .apply(key, hash, &slot.window, &mut slot.event_timer);
            let cleanup = self.cleanup_time(&slot.window);
            if event_time {
                self.timers.event.delete(cleanup, key, hash, &slot.window);
            } else {
                self.timers
                    .processing
                    .delete(cleanup, key, hash, &slot.window);
            }
            self.settings
                .trigger
                .merge_state(&mut target.trigger_state, slot.trigger_state);
        }
        let mut ctx = Self::trigger_context(&mut self.timers, &mut target.trigger_state, now);
        self.settings.trigger.on_merge(&merged, &mut ctx);
        self.timers
            .apply(key, hash, &merged, &mut target.event_timer);
        let end = target.window.max_timestamp();
        if let Err(index) = slots.search(end, |slot| slot.window.max_timestamp(), |_| false) {
            slots.insert(index, target);
        }
        merged
    }

    /// Fires a timer of slot `index`; removes the slot when it is the window's cleanup time.
    #[allow(clippy::too_many_arguments)]
    fn fire_timer(
        &mut self,
        slots: &mut Slots<A::W, C::Acc, TR::State>,
        index: usize,
        key: &K,
        hash: u64,
        timestamp: Timestamp,
        domain: TimeDomain,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        if domain == TimeDomain::Event {
            self.timers.firing_event_timer = Some(timestamp);
        }
        let result = self.fire_slot_timer(slots, index, key, hash, timestamp, domain, now, out);
        self.timers.firing_event_timer = None;
        result
    }

    /// `fire_timer` once the firing timer is noted.
    #[allow(clippy::too_many_arguments)]
    fn fire_slot_timer(
        &mut self,
        slots: &mut Slots<A::W, C::Acc, TR::State>,
        index: usize,
        key: &K,
        hash: u64,
        timestamp: Timestamp,
        domain: TimeDomain,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let slot = slots.get_mut(index);
        if domain == TimeDomain::Event && slot.event_timer == Some(timestamp) {
            slot.event_timer = None;
        }
        let mut ctx = Self::trigger_context(&mut self.timers, &mut slot.trigger_state, now);
        let result = match domain {
            TimeDomain::Event => {
                self.settings
                    .trigger
                    .on_event_time(timestamp, &slot.window, &mut ctx)
            }
            TimeDomain::Processing => {
                self.settings
                    .trigger
                    .on_processing_time(timestamp, &slot.window, &mut ctx)
            }
        };
        if !self.timers.actions.is_empty() {
            self.timers
                .apply(key, hash, &slot.window, &mut slot.event_timer);
        }
        self.act(slot, key, hash, result, now, out)?;
        let cleanup_domain = if self.settings.assigner.is_event_time() {
            TimeDomain::Event
        } else {
            TimeDomain::Processing
        };
        if domain == cleanup_domain && timestamp == self.cleanup_time(&slots.get(index).window) {
            let slot = slots.remove(index);
            self.clear(slot, key, hash, now, out)?;
        }
        Ok(())
    }

    /// Drops a window: its trigger's timers and state, then tells the window function.
    fn clear(
        &mut self,
        mut slot: WindowSlot<A::W, C::Acc, TR::State>,
        key: &K,
        hash: u64,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let mut ctx = Self::trigger_context(&mut self.timers, &mut slot.trigger_state, now);
        self.settings.trigger.clear(&slot.window, &mut ctx);
        if !self.timers.actions.is_empty() {
            self.timers
                .apply(key, hash, &slot.window, &mut slot.event_timer);
        }
        let mut ctx = WindowContext {
            window: &slot.window,
            key,
            key_hash: hash,
            watermark: self.timers.watermark,
            processing_time: now,
            side: &mut out.side,
            states: &mut self.states,
            merging: self.settings.assigner.is_merging(),
        };
        self.function.clear(&mut ctx)
    }
}

impl<K, T, A, TR, C, F, OUT> WindowOperator<K, T, A, TR, C, F, OUT>
where
    K: StreamData + std::hash::Hash + Eq,
    T: Clone + Send + 'static,
    A: WindowAssigner<T>,
    TR: Trigger<T, A::W>,
    C: WindowContents<T, A::W>,
    F: WindowFunction<K, A::W, C::Result, OUT>,
    OUT: 'static,
{
    #[inline]
    fn process_record(
        &mut self,
        record: StreamRecord<KeyedRecord<K, T>>,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let KeyedRecord { key, hash, value } = record.value;
        let logic = &mut self.logic;
        let event_time = logic.settings.assigner.is_event_time();
        let timestamp = if event_time {
            record.timestamp.ok_or(MISSING_TIMESTAMP)?
        } else {
            now
        };
        let assigned = &mut self.assigned;
        assigned.clear();
        logic
            .settings
            .assigner
            .assign_windows(&value, timestamp, assigned);
        let slots = self
            .windows
            .get_or_insert_with(hash, &key, OpenWindows::new)?;
        let merging = logic.settings.assigner.is_merging();
        let unrouted = add_to_windows(
            &mut (&mut *logic, &mut *slots),
            assigned,
            value,
            |(logic, slots), window| {
                let window = if merging {
                    logic.merge(slots, &key, hash, window, now)
                } else {
                    window
                };
                if !logic.is_window_late(&window) {
                    return Some(window);
                }
                if merging {
                    slots.retain(|slot| slot.window != window);
                }
                None
            },
            |(logic, slots), window, element| {
                let record = StreamRecord::with_timestamp(element, timestamp);
                logic.add(slots, &key, hash, window, record, now, out)
            },
        )?;
        if slots.is_empty() {
            self.windows.remove(hash, &key);
        }
        if let (true, Some(value)) = (event_time, unrouted) {
            emit_if_late(
                value,
                timestamp,
                logic.settings.allowed_lateness,
                logic.timers.watermark,
                logic.settings.late_data_tag.as_deref(),
                &mut out.side,
            );
        }
        Ok(())
    }

    /// Fires one timer.
    fn on_timer(
        &mut self,
        timer: Timer<K, A::W>,
        domain: TimeDomain,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let Timer {
            timestamp,
            key,
            key_hash: hash,
            namespace: window,
        } = timer;
        let Some(slots) = self.windows.get_mut(hash, &key) else {
            return Ok(());
        };
        let Some(index) = slots.position(|slot| slot.window == window) else {
            return Ok(());
        };
        self.logic
            .fire_timer(slots, index, &key, hash, timestamp, domain, now, out)?;
        if slots.is_empty() {
            self.windows.remove(hash, &key);
        }
        Ok(())
    }

    fn fire_processing_timers(
        &mut self,
        up_to: Timestamp,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        while let Some(timer) = self.logic.timers.processing.pop_due(up_to) {
            self.on_timer(timer, TimeDomain::Processing, now, out)?;
        }
        if let Some(next) = self.logic.timers.processing.next_timestamp() {
            self.logic.timers.time.request_wakeup(next);
        }
        Ok(())
    }
}

impl<K, T, A, TR, C, F, OUT> OneInputOperator<KeyedRecord<K, T>, OUT>
    for WindowOperator<K, T, A, TR, C, F, OUT>
where
    K: StreamData + std::hash::Hash + Eq,
    T: Clone + Send + 'static,
    A: WindowAssigner<T>,
    TR: Trigger<T, A::W>,
    C: WindowContents<T, A::W>,
    F: WindowFunction<K, A::W, C::Result, OUT>,
    OUT: 'static,
{
    fn snapshot_state(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<OperatorStateSnapshot, BoxError> {
        let timers = &self.logic.timers;
        let mut parts = KeyGroupParts::new();
        parts.add_pending(WINDOWS, self.windows.snapshot_pending()?);
        parts.add_pending(NAMED_STATES, self.logic.states.snapshot_pending()?);
        parts.add(EVENT_TIMERS, timers.event.snapshot(&self.key_groups)?);
        parts.add(
            PROCESSING_TIMERS,
            timers.processing.snapshot(&self.key_groups)?,
        );
        Ok(OperatorStateSnapshot::pending_keyed(parts.into_pending()?))
    }

    fn initialize_state(&mut self, state: &RestoredOperatorState) -> Result<(), BoxError> {
        let logic = &mut self.logic;
        let windows = &mut self.windows;
        KeyGroupParts::restore_each(&state.keyed, |group, part, bytes| {
            match part {
                WINDOWS => windows.restore_part(group, bytes)?,
                NAMED_STATES => logic.states.restore(group, bytes)?,
                EVENT_TIMERS => logic.timers.event.restore(bytes.whole_only()?)?,
                PROCESSING_TIMERS => logic.timers.processing.restore(bytes.whole_only()?)?,
                other => return Err(KeyGroupParts::unknown_part(other, group)),
            }
            Ok(())
        })?;
        if let Some(next) = logic.timers.processing.next_timestamp() {
            logic.timers.time.request_wakeup(next);
        }
        Ok(())
    }

    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<KeyedRecord<K, T>>>,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let now = self.logic.timers.time.current_processing_time();
        for record in batch {
            self.process_record(record, now, out)?;
        }
        Ok(())
    }

    fn process_watermark(
        &mut self,
        watermark: Watermark,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        self.logic.timers.watermark = watermark.timestamp();
        let now = self.logic.timers.time.current_processing_time();
        while let Some(timer) = self.logic.timers.event.pop_due(watermark.timestamp()) {
            self.on_timer(timer, TimeDomain::Event, now, out)?;
        }
        out.emit_watermark(watermark);
        Ok(())
    }

    fn on_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        self.fire_processing_timers(now, now, out)
    }

    fn end_input(&mut self, out: &mut Output<OUT>) -> Result<(), BoxError> {
        // Batch mode: processing time is taken to stand still during the job and every
        // processing-time timer fires at the end of input (as in Flink).
        if self.logic.batch_mode {
            let now = self.logic.timers.time.current_processing_time();
            self.fire_processing_timers(Timestamp::MAX, now, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Processing-time windows, driven by the harness's manual clock (end-to-end tests cannot
    //! control the wall clock).

    use std::sync::Arc;
    use std::time::Duration;

    use strom_core::key_group::key_hash;
    use strom_runtime::testing::{test_context, OperatorHarness};

    use super::*;
    use crate::windowing::assigners::{
        ProcessingTimeSessionWindows, TumblingProcessingTimeWindows,
    };
    use crate::windowing::contents::{PassThrough, ReduceContents};
    use crate::windowing::triggers::ProcessingTimeTrigger;

    type Pair = (String, i64);
    type Harness = OperatorHarness<KeyedRecord<String, Pair>, Pair>;

    /// A window operator summing the values of `(key, value)` records.
    fn summing<A: WindowAssigner<Pair, DefaultTrigger = ProcessingTimeTrigger>>(
        assigner: A,
    ) -> Harness {
        let ctx = test_context(ExecutionMode::Streaming);
        let settings = WindowSettings {
            trigger: assigner.default_trigger(),
            assigner,
            allowed_lateness: 0,
            late_data_tag: None,
        };
        let contents = ReduceContents {
            reduce: Arc::new(|a: Pair, b: Pair| (a.0, a.1 + b.1)),
        };
        let operator = WindowOperator::new(settings, contents, PassThrough, &ctx);
        OperatorHarness::new(operator, ctx).unwrap()
    }

    fn send(harness: &mut Harness, key: &str, value: i64) {
        let key = key.to_string();
        let record = KeyedRecord {
            hash: key_hash(&key),
            key: key.clone(),
            value: (key, value),
        };
        harness.process_elements([record]).unwrap();
    }

    fn pairs(expected: &[(&str, i64)]) -> Vec<Pair> {
        expected.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn tumbling_processing_time_windows_fire_when_the_clock_reaches_their_end() {
        let mut harness = summing(TumblingProcessingTimeWindows::of(Duration::from_millis(10)));
        send(&mut harness, "a", 1);
        send(&mut harness, "b", 2);
        harness.set_processing_time(5).unwrap();
        send(&mut harness, "a", 3);
        harness.set_processing_time(8).unwrap();
        assert!(harness.take_values().is_empty());
        harness.set_processing_time(9).unwrap();
        assert_eq!(harness.take_values(), pairs(&[("a", 4), ("b", 2)]));
        // At 9 the window [0, 10) is gone; a record now opens it anew and it fires at once.
        send(&mut harness, "a", 5);
        harness.set_processing_time(12).unwrap();
        assert_eq!(harness.take_values(), pairs(&[("a", 5)]));
        send(&mut harness, "b", 7);
        send(&mut harness, "b", 1);
        harness.set_processing_time(25).unwrap();
        assert_eq!(harness.take_values(), pairs(&[("b", 8)]));
        // Watermarks do not fire processing-time windows.
        send(&mut harness, "c", 1);
        harness.process_watermark(i64::MAX - 1).unwrap();
        assert!(harness.take_values().is_empty());
        harness.set_processing_time(29).unwrap();
        assert_eq!(harness.take_values(), pairs(&[("c", 1)]));
    }

    #[test]
    fn processing_time_sessions_merge_records_closer_than_the_gap() {
        let mut harness = summing(ProcessingTimeSessionWindows::with_gap::<Pair>(
            Duration::from_millis(5),
        ));
        send(&mut harness, "a", 1); // session [0, 5)
        harness.set_processing_time(3).unwrap();
        send(&mut harness, "a", 2); // [3, 8) merges: [0, 8)
        send(&mut harness, "b", 10); // [3, 8)
        harness.set_processing_time(6).unwrap();
        assert!(harness.take_values().is_empty());
        harness.set_processing_time(7).unwrap();
        assert_eq!(harness.take_values(), pairs(&[("a", 3), ("b", 10)]));
        harness.set_processing_time(20).unwrap();
        send(&mut harness, "a", 4);
        harness.set_processing_time(24).unwrap();
        assert_eq!(harness.take_values(), pairs(&[("a", 4)]));
    }
}
