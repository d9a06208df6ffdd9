//! Event time: timestamps and watermarks, and parsing of durations in Flink's notation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, as in Flink.
pub type Timestamp = i64;

/// The wall clock as a [`Timestamp`] (0 before the epoch).
pub fn wall_clock_millis() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as Timestamp)
}

/// A watermark: the assertion that no record with a timestamp at or below it will follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Watermark(pub Timestamp);

impl Watermark {
    /// Before any event: the initial watermark of every input.
    pub const MIN: Watermark = Watermark(Timestamp::MIN);
    /// End of event time, sent when a bounded input ends so every pending timer fires.
    pub const MAX: Watermark = Watermark(Timestamp::MAX);

    /// The timestamp this watermark asserts.
    pub fn timestamp(self) -> Timestamp {
        self.0
    }
}

/// Whether an input currently produces event time (Flink's `WatermarkStatus`).
///
/// An idle input (a source partition without data) is left out of the minimum that decides a
/// task's event time, so it does not hold every window back; it counts again once it resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WatermarkStatus {
    /// The input produces records and watermarks.
    Active,
    /// The input is idle: its watermark does not hold event time back.
    Idle,
}

/// Parses a duration as Flink writes them: a number with an optional unit
/// (`ms`, `s`, `min`, `h`, `d` and their long forms); a bare number means milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: u64 = number.parse().ok()?;
    let millis_per_unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(amount.checked_mul(millis_per_unit)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_flink_notation() {
        assert_eq!(parse_duration("100 ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("100"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("5 min"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1 h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("ten"), None);
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn watermarks_order_by_time() {
        assert!(Watermark::MIN < Watermark(0));
        assert!(Watermark(5) < Watermark::MAX);
    }
}
