//! Triggers: when a window is evaluated and when its contents are purged (Flink's `Trigger`s,
//! same names and behaviour).
//!
//! A trigger sees every record added to a window and the timers it registered, and answers
//! with a [`TriggerResult`]. Whatever it must remember per key and window (a count, the next
//! firing time) lives in its `State`, which the window operator keeps with the window.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::Timestamp;

use super::window::Window;

/// What a trigger decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerResult {
    /// Nothing happens.
    Continue,
    /// Evaluate the window and emit its result; keep its contents.
    Fire,
    /// Drop the window's contents without emitting.
    Purge,
    /// Evaluate the window, then drop its contents.
    FireAndPurge,
}

impl TriggerResult {
    /// Whether the window is evaluated.
    pub fn is_fire(self) -> bool {
        matches!(self, TriggerResult::Fire | TriggerResult::FireAndPurge)
    }

    /// Whether the window's contents are dropped.
    pub fn is_purge(self) -> bool {
        matches!(self, TriggerResult::Purge | TriggerResult::FireAndPurge)
    }
}

/// A timer request made by a trigger, applied to the key and window it was called for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerAction {
    RegisterEvent(Timestamp),
    RegisterProcessing(Timestamp),
    DeleteEvent(Timestamp),
    DeleteProcessing(Timestamp),
}

/// What a trigger can see and do for the key and window it is called for.
pub struct TriggerContext<'a, S> {
    pub(crate) state: &'a mut S,
    pub(crate) timers: &'a mut Vec<TimerAction>,
    pub(crate) watermark: Timestamp,
    pub(crate) processing_time: Timestamp,
}

impl<S> TriggerContext<'_, S> {
    /// The trigger's state for this key and window.
    pub fn state(&mut self) -> &mut S {
        self.state
    }

    /// The operator's current event time.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// Calls `on_event_time` once the watermark reaches `time`.
    pub fn register_event_time_timer(&mut self, time: Timestamp) {
        self.timers.push(TimerAction::RegisterEvent(time));
    }

    /// Calls `on_processing_time` once the clock reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) {
        self.timers.push(TimerAction::RegisterProcessing(time));
    }

    /// Removes an event-time timer.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) {
        self.timers.push(TimerAction::DeleteEvent(time));
    }

    /// Removes a processing-time timer.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) {
        self.timers.push(TimerAction::DeleteProcessing(time));
    }
}

/// Decides when a window fires (Flink's `Trigger`).
pub trait Trigger<T, W: Window>: Clone + Send + Sync + 'static {
    /// What the trigger remembers per key and window.
    /// (Written to checkpoints with the window, hence serde.)
    type State: Default + Clone + Send + Serialize + DeserializeOwned + 'static;

    /// A record was added to `window`.
    fn on_element(
        &self,
        element: &T,
        timestamp: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult;

    /// An event-time timer registered for `window` fired.
    fn on_event_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult;

    /// A processing-time timer registered for `window` fired.
    fn on_processing_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult;

    /// Whether the trigger supports merging windows (sessions).
    fn can_merge(&self) -> bool {
        false
    }

    /// Folds the state of a window that was merged away into the merged window's state.
    fn merge_state(&self, _state: &mut Self::State, _other: Self::State) {}

    /// Windows were merged into `window` (whose state is already merged).
    fn on_merge(&self, _window: &W, _ctx: &mut TriggerContext<'_, Self::State>) {}

    /// The window is removed: delete its timers.
    fn clear(&self, _window: &W, _ctx: &mut TriggerContext<'_, Self::State>) {}
}

/// Fires once the watermark passes the end of the window, and again for every late record
/// within the allowed lateness (the default of event-time windows).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTimeTrigger;

impl<T, W: Window> Trigger<T, W> for EventTimeTrigger {
    type State = ();

    #[inline]
    fn on_element(
        &self,
        _: &T,
        _: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            TriggerResult::Fire
        } else {
            ctx.register_event_time_timer(window.max_timestamp());
            TriggerResult::Continue
        }
    }

    fn on_event_time(
        &self,
        time: Timestamp,
        window: &W,
        _: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn on_processing_time(
        &self,
        _: Timestamp,
        _: &W,
        _: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&self, window: &W, ctx: &mut TriggerContext<'_, ()>) {
        if window.max_timestamp() > ctx.current_watermark() {
            ctx.register_event_time_timer(window.max_timestamp());
        }
    }

    fn clear(&self, window: &W, ctx: &mut TriggerContext<'_, ()>) {
        ctx.delete_event_time_timer(window.max_timestamp());
    }
}

/// Fires when the processing time passes the end of the window (the default of
/// processing-time windows).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessingTimeTrigger;

impl<T, W: Window> Trigger<T, W> for ProcessingTimeTrigger {
    type State = ();

    fn on_element(
        &self,
        _: &T,
        _: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        ctx.register_processing_time_timer(window.max_timestamp());
        TriggerResult::Continue
    }

    fn on_event_time(&self, _: Timestamp, _: &W, _: &mut TriggerContext<'_, ()>) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(
        &self,
        _: Timestamp,
        _: &W,
        _: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        TriggerResult::Fire
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&self, window: &W, ctx: &mut TriggerContext<'_, ()>) {
        if window.max_timestamp() > ctx.current_processing_time() {
            ctx.register_processing_time_timer(window.max_timestamp());
        }
    }

    fn clear(&self, window: &W, ctx: &mut TriggerContext<'_, ()>) {
        ctx.delete_processing_time_timer(window.max_timestamp());
    }
}

/// Never fires (the default of [`super::GlobalWindows`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NeverTrigger;

impl<T, W: Window> Trigger<T, W> for NeverTrigger {
    type State = ();

    fn on_element(
        &self,
        _: &T,
        _: Timestamp,
        _: &W,
        _: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_event_time(&self, _: Timestamp, _: &W, _: &mut TriggerContext<'_, ()>) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &self,
        _: Timestamp,
        _: &W,
        _: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
}

/// Fires every `count` records of a window (Flink's `CountTrigger`).
#[derive(Debug, Clone, Copy)]
pub struct CountTrigger {
    max_count: u64,
}

impl CountTrigger {
    /// Fires when a window has received `max_count` records since it last fired.
    pub fn of(max_count: u64) -> Self {
        CountTrigger {
            max_count: max_count.max(1),
        }
    }
}

impl<T, W: Window> Trigger<T, W> for CountTrigger {
    type State = u64;

    fn on_element(
        &self,
        _: &T,
        _: Timestamp,
        _: &W,
        ctx: &mut TriggerContext<'_, u64>,
    ) -> TriggerResult {
        let count = ctx.state();
        *count += 1;
        if *count >= self.max_count {
            *count = 0;
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }
    fn on_event_time(&self, _: Timestamp, _: &W, _: &mut TriggerContext<'_, u64>) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &self,
        _: Timestamp,
        _: &W,
        _: &mut TriggerContext<'_, u64>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge_state(&self, state: &mut u64, other: u64) {
        *state += other;
    }
}

fn interval_millis(interval: Duration) -> Timestamp {
    (interval.as_millis() as Timestamp).max(1)
}

/// Fires every `interval` of event time while the window is open, and at its end (Flink's
/// `ContinuousEventTimeTrigger`). The state is the next firing time.
#[derive(Debug, Clone, Copy)]
pub struct ContinuousEventTimeTrigger {
    interval: Timestamp,
}

impl ContinuousEventTimeTrigger {
    /// Fires every `interval` of event time.
    pub fn of(interval: Duration) -> Self {
        ContinuousEventTimeTrigger {
            interval: interval_millis(interval),
        }
    }

    fn register_next(
        &self,
        time: Timestamp,
        window_end: Timestamp,
        ctx: &mut TriggerContext<'_, Option<Timestamp>>,
    ) {
        let next = time.min(window_end);
        *ctx.state() = Some(next);
        ctx.register_event_time_timer(next);
    }
}

impl<T, W: Window> Trigger<T, W> for ContinuousEventTimeTrigger {
    type State = Option<Timestamp>;

    fn on_element(
        &self,
        _: &T,
        timestamp: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            return TriggerResult::Fire;
        }
        ctx.register_event_time_timer(window.max_timestamp());
        if ctx.state().is_none() {
            let start = timestamp - timestamp.rem_euclid(self.interval);
            self.register_next(start + self.interval, window.max_timestamp(), ctx);
        }
        TriggerResult::Continue
    }

    fn on_event_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            return TriggerResult::Fire;
        }
        if *ctx.state() == Some(time) {
            self.register_next(time + self.interval, window.max_timestamp(), ctx);
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }

    fn on_processing_time(
        &self,
        _: Timestamp,
        _: &W,
        _: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn merge_state(&self, state: &mut Self::State, other: Self::State) {
        *state = match (*state, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn on_merge(&self, window: &W, ctx: &mut TriggerContext<'_, Self::State>) {
        if window.max_timestamp() > ctx.current_watermark() {
            ctx.register_event_time_timer(window.max_timestamp());
        }
        if let Some(next) = *ctx.state() {
            ctx.register_event_time_timer(next);
        }
    }

    fn clear(&self, window: &W, ctx: &mut TriggerContext<'_, Self::State>) {
        if let Some(next) = ctx.state().take() {
            ctx.delete_event_time_timer(next);
        }
        ctx.delete_event_time_timer(window.max_timestamp());
    }
}

/// Fires every `interval` of processing time while records arrive (Flink's
/// `ContinuousProcessingTimeTrigger`). The state is the next firing time.
#[derive(Debug, Clone, Copy)]
pub struct ContinuousProcessingTimeTrigger {
    interval: Timestamp,
}

impl ContinuousProcessingTimeTrigger {
    /// Fires every `interval` of processing time.
    pub fn of(interval: Duration) -> Self {
        ContinuousProcessingTimeTrigger {
            interval: interval_millis(interval),
        }
    }
}

impl<T, W: Window> Trigger<T, W> for ContinuousProcessingTimeTrigger {
    type State = Option<Timestamp>;

    fn on_element(
        &self,
        _: &T,
        _: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        if ctx.state().is_none() {
            let now = ctx.current_processing_time();
            let next =
                (now - now.rem_euclid(self.interval) + self.interval).min(window.max_timestamp());
            *ctx.state() = Some(next);
            ctx.register_processing_time_timer(next);
        }
        TriggerResult::Continue
    }

    fn on_event_time(
        &self,
        _: Timestamp,
        _: &W,
        _: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        if *ctx.state() == Some(time) {
            let next = (time + self.interval).min(window.max_timestamp());
            *ctx.state() = Some(next);
            if next > time {
                ctx.register_processing_time_timer(next);
            }
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn merge_state(&self, state: &mut Self::State, other: Self::State) {
        *state = match (*state, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn on_merge(&self, _: &W, ctx: &mut TriggerContext<'_, Self::State>) {
        if let Some(next) = *ctx.state() {
            ctx.register_processing_time_timer(next);
        }
    }

    fn clear(&self, _: &W, ctx: &mut TriggerContext<'_, Self::State>) {
        if let Some(next) = ctx.state().take() {
            ctx.delete_processing_time_timer(next);
        }
    }
}

/// Turns every firing of the trigger it wraps into fire-and-purge (Flink's `PurgingTrigger`).
#[derive(Debug, Clone, Copy)]
pub struct PurgingTrigger<TR> {
    nested: TR,
}

impl<TR> PurgingTrigger<TR> {
    /// Purges whenever `nested` fires.
    pub fn of(nested: TR) -> Self {
        PurgingTrigger { nested }
    }
}

fn purging(result: TriggerResult) -> TriggerResult {
    if result.is_fire() {
        TriggerResult::FireAndPurge
    } else {
        result
    }
}

impl<T, W: Window, TR: Trigger<T, W>> Trigger<T, W> for PurgingTrigger<TR> {
    type State = TR::State;

    #[inline]
    fn on_element(
        &self,
        element: &T,
        timestamp: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        purging(self.nested.on_element(element, timestamp, window, ctx))
    }
    fn on_event_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        purging(self.nested.on_event_time(time, window, ctx))
    }
    fn on_processing_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_, Self::State>,
    ) -> TriggerResult {
        purging(self.nested.on_processing_time(time, window, ctx))
    }
    fn can_merge(&self) -> bool {
        self.nested.can_merge()
    }
    fn merge_state(&self, state: &mut Self::State, other: Self::State) {
        self.nested.merge_state(state, other);
    }
    fn on_merge(&self, window: &W, ctx: &mut TriggerContext<'_, Self::State>) {
        self.nested.on_merge(window, ctx);
    }
    fn clear(&self, window: &W, ctx: &mut TriggerContext<'_, Self::State>) {
        self.nested.clear(window, ctx);
    }
}
