//! Processing time: the clock operators read and the wake-ups they ask their task for.
//!
//! A task runs on one thread and never sleeps inside an operator. An operator that needs to act
//! at a wall-clock time (a processing-time timer, a periodic watermark) asks the task's
//! [`ProcessingTimeService`] for a wake-up; the task loop calls
//! [`crate::operator::Input::on_processing_time`] down its chain once that time has come, and
//! every operator then fires what is due and asks again for its next time. Tests use a manual
//! clock so processing-time behaviour is exact and repeatable.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strom_core::time::wall_clock_millis;
use strom_core::Timestamp;

/// The processing-time clock and wake-up requests of one task, shared by its chained operators.
#[derive(Debug, Clone)]
pub struct ProcessingTimeService {
    clock: Clock,
    next_wakeup: Arc<AtomicI64>,
}

#[derive(Debug, Clone)]
enum Clock {
    System,
    Manual(Arc<AtomicI64>),
}

impl ProcessingTimeService {
    /// The wall clock, in milliseconds since the epoch (Flink's `System.currentTimeMillis`).
    pub fn system() -> Self {
        ProcessingTimeService {
            clock: Clock::System,
            next_wakeup: Arc::new(AtomicI64::new(Timestamp::MAX)),
        }
    }

    /// A clock that stands at `start` until [`ProcessingTimeService::set_manual_time`] moves it.
    pub fn manual(start: Timestamp) -> Self {
        ProcessingTimeService {
            clock: Clock::Manual(Arc::new(AtomicI64::new(start))),
            next_wakeup: Arc::new(AtomicI64::new(Timestamp::MAX)),
        }
    }

    /// Moves a manual clock to `time`; the wall clock cannot be moved and ignores this.
    pub fn set_manual_time(&self, time: Timestamp) {
        if let Clock::Manual(now) = &self.clock {
            now.store(time, Ordering::Release);
        }
    }

    /// The current processing time in milliseconds.
    pub fn current_processing_time(&self) -> Timestamp {
        match &self.clock {
            Clock::System => wall_clock_millis(),
            Clock::Manual(now) => now.load(Ordering::Acquire),
        }
    }

    /// Asks the task to call its chain's `on_processing_time` once the clock reaches `time`.
    pub fn request_wakeup(&self, time: Timestamp) {
        self.next_wakeup.fetch_min(time, Ordering::AcqRel);
    }

    /// The current time if a requested wake-up is due, clearing the request (operators ask
    /// again for what remains).
    pub fn take_due(&self) -> Option<Timestamp> {
        let wakeup = self.next_wakeup.load(Ordering::Acquire);
        if wakeup == Timestamp::MAX {
            return None;
        }
        let now = self.current_processing_time();
        if now < wakeup {
            return None;
        }
        self.next_wakeup.store(Timestamp::MAX, Ordering::Release);
        Some(now)
    }

    /// How long until the next requested wake-up (`None` when none is requested).
    pub fn time_until_wakeup(&self) -> Option<Duration> {
        let wakeup = self.next_wakeup.load(Ordering::Acquire);
        if wakeup == Timestamp::MAX {
            return None;
        }
        let wait = wakeup.saturating_sub(self.current_processing_time()).max(0);
        Some(Duration::from_millis(wait as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wakeup_is_due_once_the_clock_reaches_it_and_the_earliest_request_wins() {
        let time = ProcessingTimeService::manual(100);
        assert_eq!(time.take_due(), None);
        time.request_wakeup(150);
        time.request_wakeup(120);
        assert_eq!(time.time_until_wakeup(), Some(Duration::from_millis(20)));
        assert_eq!(time.take_due(), None);
        time.set_manual_time(125);
        assert_eq!(time.take_due(), Some(125));
        // Served: the later request must be made again by whoever still needs it.
        assert_eq!(time.take_due(), None);
        assert_eq!(time.time_until_wakeup(), None);
    }
}
