//! Window assigners: which windows a record belongs to (Flink's `WindowAssigner`s, same names).

use std::sync::Arc;
use std::time::Duration;

use strom_core::Timestamp;

use super::triggers::{EventTimeTrigger, NeverTrigger, ProcessingTimeTrigger, Trigger};
use super::window::{GlobalWindow, TimeWindow, Window};

/// Assigns each record to zero or more windows.
pub trait WindowAssigner<T>: Clone + Send + Sync + 'static {
    /// The kind of window.
    type W: Window;
    /// The trigger used unless the program sets another.
    type DefaultTrigger: Trigger<T, Self::W>;

    /// Adds the windows of `element` (event timestamp `timestamp`, or the current processing
    /// time for processing-time assigners) to `windows`.
    fn assign_windows(&self, element: &T, timestamp: Timestamp, windows: &mut Vec<Self::W>);

    /// The trigger of this kind of window.
    fn default_trigger(&self) -> Self::DefaultTrigger;

    /// Whether windows are in event time (assigned by the record's timestamp, cleaned up by
    /// watermarks) rather than processing time.
    fn is_event_time(&self) -> bool;

    /// Whether windows of a key that intersect are merged (session windows).
    fn is_merging(&self) -> bool {
        false
    }
}

fn millis(duration: Duration) -> Timestamp {
    duration.as_millis() as Timestamp
}

macro_rules! time_assigner {
    ($name:ident, $event_time:expr, $trigger:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $name {
            size: Timestamp,
            slide: Timestamp,
            offset: Timestamp,
        }

        impl<T> WindowAssigner<T> for $name {
            type W = TimeWindow;
            type DefaultTrigger = $trigger;

            #[inline]
            fn assign_windows(
                &self,
                _element: &T,
                timestamp: Timestamp,
                windows: &mut Vec<TimeWindow>,
            ) {
                let last_start =
                    TimeWindow::window_start_with_offset(timestamp, self.offset, self.slide);
                let mut start = last_start;
                while start > timestamp - self.size {
                    windows.push(TimeWindow::new(start, start + self.size));
                    start -= self.slide;
                }
            }

            fn default_trigger(&self) -> $trigger {
                $trigger
            }

            fn is_event_time(&self) -> bool {
                $event_time
            }
        }
    };
}

time_assigner!(
    TumblingEventTimeWindows,
    true,
    EventTimeTrigger,
    "Consecutive windows of one size in event time, each record in exactly one."
);
time_assigner!(
    TumblingProcessingTimeWindows,
    false,
    ProcessingTimeTrigger,
    "Consecutive windows of one size in processing time."
);
time_assigner!(
    SlidingEventTimeWindows,
    true,
    EventTimeTrigger,
    "Windows of one size starting every `slide` in event time; a record is in `size / slide` of them."
);
time_assigner!(
    SlidingProcessingTimeWindows,
    false,
    ProcessingTimeTrigger,
    "Windows of one size starting every `slide` in processing time."
);

impl TumblingEventTimeWindows {
    /// Windows of `size`, aligned to the epoch.
    pub fn of(size: Duration) -> Self {
        Self::of_with_offset(size, Duration::ZERO)
    }

    /// Windows of `size` shifted by `offset` (say, to start hourly windows at :15).
    pub fn of_with_offset(size: Duration, offset: Duration) -> Self {
        let size = millis(size).max(1);
        TumblingEventTimeWindows {
            size,
            slide: size,
            offset: millis(offset) % size,
        }
    }
}

impl TumblingProcessingTimeWindows {
    /// Windows of `size`, aligned to the epoch.
    pub fn of(size: Duration) -> Self {
        Self::of_with_offset(size, Duration::ZERO)
    }

    /// Windows of `size` shifted by `offset`.
    pub fn of_with_offset(size: Duration, offset: Duration) -> Self {
        let size = millis(size).max(1);
        TumblingProcessingTimeWindows {
            size,
            slide: size,
            offset: millis(offset) % size,
        }
    }
}

impl SlidingEventTimeWindows {
    /// Windows of `size` starting every `slide`.
    pub fn of(size: Duration, slide: Duration) -> Self {
        Self::of_with_offset(size, slide, Duration::ZERO)
    }

    /// Windows of `size` starting every `slide`, shifted by `offset`.
    pub fn of_with_offset(size: Duration, slide: Duration, offset: Duration) -> Self {
        let slide = millis(slide).max(1);
        SlidingEventTimeWindows {
            size: millis(size).max(1),
            slide,
            offset: millis(offset) % slide,
        }
    }
}

impl SlidingProcessingTimeWindows {
    /// Windows of `size` starting every `slide`.
    pub fn of(size: Duration, slide: Duration) -> Self {
        Self::of_with_offset(size, slide, Duration::ZERO)
    }

    /// Windows of `size` starting every `slide`, shifted by `offset`.
    pub fn of_with_offset(size: Duration, slide: Duration, offset: Duration) -> Self {
        let slide = millis(slide).max(1);
        SlidingProcessingTimeWindows {
            size: millis(size).max(1),
            slide,
            offset: millis(offset) % slide,
        }
    }
}

type GapExtractor<T> = Arc<dyn Fn(&T) -> Duration + Send + Sync>;

/// How a session window finds its gap.
enum Gap<T> {
    Fixed(Timestamp),
    Dynamic(GapExtractor<T>),
}

impl<T> Clone for Gap<T> {
    fn clone(&self) -> Self {
        match self {
            Gap::Fixed(gap) => Gap::Fixed(*gap),
            Gap::Dynamic(extractor) => Gap::Dynamic(Arc::clone(extractor)),
        }
    }
}

macro_rules! session_assigner {
    ($builder:ident, $name:ident, $event_time:expr, $trigger:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $builder;

        /// The assigner made by
        #[doc = concat!("[`", stringify!($builder), "`].")]
        pub struct $name<T> {
            gap: Gap<T>,
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name {
                    gap: self.gap.clone(),
                }
            }
        }

        impl $builder {
            /// Sessions that close after `gap` without records of the key.
            pub fn with_gap<T>(gap: Duration) -> $name<T> {
                $name {
                    gap: Gap::Fixed(millis(gap).max(1)),
                }
            }

            /// Sessions whose gap each record decides (Flink's `withDynamicGap`).
            pub fn with_dynamic_gap<T>(
                extractor: impl Fn(&T) -> Duration + Send + Sync + 'static,
            ) -> $name<T> {
                $name {
                    gap: Gap::Dynamic(Arc::new(extractor)),
                }
            }
        }

        impl<T: 'static> WindowAssigner<T> for $name<T> {
            type W = TimeWindow;
            type DefaultTrigger = $trigger;

            fn assign_windows(
                &self,
                element: &T,
                timestamp: Timestamp,
                windows: &mut Vec<TimeWindow>,
            ) {
                let gap = match &self.gap {
                    Gap::Fixed(gap) => *gap,
                    Gap::Dynamic(extractor) => millis(extractor(element)).max(1),
                };
                windows.push(TimeWindow::new(timestamp, timestamp + gap));
            }

            fn default_trigger(&self) -> $trigger {
                $trigger
            }

            fn is_event_time(&self) -> bool {
                $event_time
            }

            fn is_merging(&self) -> bool {
                true
            }
        }
    };
}

session_assigner!(
    EventTimeSessionWindows,
    EventTimeSessions,
    true,
    EventTimeTrigger,
    "Per-key sessions in event time: windows that intersect are merged, so a session ends after a gap without records."
);
session_assigner!(
    ProcessingTimeSessionWindows,
    ProcessingTimeSessions,
    false,
    ProcessingTimeTrigger,
    "Per-key sessions in processing time."
);

/// One window holding everything (Flink's `GlobalWindows`); it fires only by a trigger the
/// program sets, such as the count trigger of `count_window`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalWindows;

impl GlobalWindows {
    /// The global window assigner.
    pub fn create() -> Self {
        GlobalWindows
    }
}

impl<T> WindowAssigner<T> for GlobalWindows {
    type W = GlobalWindow;
    type DefaultTrigger = NeverTrigger;

    fn assign_windows(&self, _element: &T, _timestamp: Timestamp, windows: &mut Vec<GlobalWindow>) {
        windows.push(GlobalWindow);
    }

    fn default_trigger(&self) -> NeverTrigger {
        NeverTrigger
    }

    fn is_event_time(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows<A: WindowAssigner<(), W = TimeWindow>>(
        assigner: &A,
        timestamp: Timestamp,
    ) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        assigner.assign_windows(&(), timestamp, &mut out);
        out.iter().map(|w| (w.start(), w.end())).collect()
    }

    #[test]
    fn tumbling_and_sliding_windows_match_flink() {
        let tumbling = TumblingEventTimeWindows::of(Duration::from_millis(10));
        assert_eq!(windows(&tumbling, 0), [(0, 10)]);
        assert_eq!(windows(&tumbling, 19), [(10, 20)]);
        assert_eq!(windows(&tumbling, -1), [(-10, 0)]);
        let offset = TumblingEventTimeWindows::of_with_offset(
            Duration::from_millis(10),
            Duration::from_millis(3),
        );
        assert_eq!(windows(&offset, 12), [(3, 13)]);
        assert_eq!(windows(&offset, 13), [(13, 23)]);
        let sliding =
            SlidingEventTimeWindows::of(Duration::from_millis(10), Duration::from_millis(5));
        assert_eq!(windows(&sliding, 7), [(5, 15), (0, 10)]);
        assert_eq!(windows(&sliding, 10), [(10, 20), (5, 15)]);
    }

    #[test]
    fn session_windows_start_at_the_record_and_last_one_gap() {
        let sessions = EventTimeSessionWindows::with_gap(Duration::from_millis(5));
        assert_eq!(windows(&sessions, 7), [(7, 12)]);
        let dynamic = EventTimeSessionWindows::with_dynamic_gap(|_: &()| Duration::from_millis(2));
        assert_eq!(windows(&dynamic, 7), [(7, 9)]);
    }
}
