//! The windows records are grouped into: time intervals and the one global window.

use std::fmt;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use strom_core::Timestamp;

/// A group of records that is evaluated together (Flink's `Window`).
/// Windows are written to checkpoints with the state they own, hence serde.
pub trait Window:
    Clone + fmt::Debug + Eq + Hash + Send + Sync + Serialize + DeserializeOwned + 'static
{
    /// The largest timestamp that still belongs to the window; results carry it.
    fn max_timestamp(&self) -> Timestamp;

    /// For merging windows: the window covering both, when they intersect.
    fn merge_with(&self, _other: &Self) -> Option<Self> {
        None
    }
}

/// The half-open interval `[start, end)` of event or processing time (Flink's `TimeWindow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeWindow {
    start: Timestamp,
    end: Timestamp,
}

impl TimeWindow {
    /// The window `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        TimeWindow { start, end }
    }

    /// The first timestamp in the window.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The first timestamp after the window.
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Whether the two windows overlap or touch (Flink's `intersects`).
    pub fn intersects(&self, other: &TimeWindow) -> bool {
        self.start <= other.end && self.end >= other.start
    }

    /// The smallest window containing both.
    pub fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// The start of the window of `size` (shifted by `offset`) that contains `timestamp`
    /// (Flink's `getWindowStartWithOffset`).
    pub fn window_start_with_offset(
        timestamp: Timestamp,
        offset: Timestamp,
        size: Timestamp,
    ) -> Timestamp {
        timestamp - (timestamp - offset).rem_euclid(size)
    }
}

impl Window for TimeWindow {
    #[inline]
    fn max_timestamp(&self) -> Timestamp {
        self.end - 1
    }

    fn merge_with(&self, other: &Self) -> Option<Self> {
        self.intersects(other).then(|| self.cover(other))
    }
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeWindow{{start={}, end={}}}", self.start, self.end)
    }
}

/// The single window of [`super::GlobalWindows`]: it never ends, so only a custom or count
/// trigger fires it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GlobalWindow;

impl Window for GlobalWindow {
    fn max_timestamp(&self) -> Timestamp {
        Timestamp::MAX
    }
}

impl fmt::Display for GlobalWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GlobalWindow")
    }
}
