//! Small event streams whose event time a test controls exactly: `(key, timestamp, value)`
//! records with punctuation records (key `"!"`) that become watermarks.

use strom::prelude::*;

/// `(key, timestamp, value)`; key `"!"` is a punctuation: a watermark at its timestamp.
pub type Event = (String, i64, i64);

pub fn ev(key: &str, timestamp: i64, value: i64) -> Event {
    (key.to_string(), timestamp, value)
}

pub fn wm(timestamp: i64) -> Event {
    ev("!", timestamp, 0)
}

/// Emits a watermark at every punctuation record, so a test decides exactly where event time
/// advances.
pub struct Punctuated;

impl WatermarkGenerator<Event> for Punctuated {
    fn on_event(&mut self, event: &Event, timestamp: Timestamp, output: &mut WatermarkOutput) {
        if event.0 == "!" {
            output.emit_watermark(Watermark(timestamp));
        }
    }
    fn on_periodic_emit(&mut self, _output: &mut WatermarkOutput) {}
}

/// The events as a stream with punctuated watermarks, punctuations removed.
pub fn events(env: &StreamExecutionEnvironment, events: Vec<Event>) -> DataStream<Event> {
    env.from_collection(events)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_generator(|| Punctuated)
                .with_timestamp_assigner(|e: &Event, _| e.1),
        )
        .filter(|e| e.0 != "!")
}

pub fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

/// The event-time trigger under another type: the engine keeps windows that fire at their end
/// per window (`aligned`) only for `EventTimeTrigger` itself, so this one exercises the general
/// window operator with per-key timers on the same semantics.
#[derive(Clone)]
pub struct SameAsEventTime;

impl<T> Trigger<T, TimeWindow> for SameAsEventTime {
    type State = ();
    fn on_element(
        &self,
        element: &T,
        timestamp: Timestamp,
        window: &TimeWindow,
        ctx: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        EventTimeTrigger.on_element(element, timestamp, window, ctx)
    }
    fn on_event_time(
        &self,
        time: Timestamp,
        window: &TimeWindow,
        ctx: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        <EventTimeTrigger as Trigger<T, TimeWindow>>::on_event_time(
            &EventTimeTrigger,
            time,
            window,
            ctx,
        )
    }
    fn on_processing_time(
        &self,
        _time: Timestamp,
        _window: &TimeWindow,
        _ctx: &mut TriggerContext<'_, ()>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn clear(&self, window: &TimeWindow, ctx: &mut TriggerContext<'_, ()>) {
        <EventTimeTrigger as Trigger<T, TimeWindow>>::clear(&EventTimeTrigger, window, ctx)
    }
}
