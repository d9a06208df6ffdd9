//! Evictors: remove records from a window before or after it is evaluated (Flink's `Evictor`s).
//!
//! A window with an evictor keeps every record (with its timestamp) instead of a running
//! aggregate, and a `reduce` or `aggregate` is computed when the window fires, over what the
//! evictor left.

use strom_core::{StreamRecord, Timestamp};

use super::window::Window;

/// Removes records from a window's contents around its evaluation.
pub trait Evictor<T, W: Window>: Clone + Send + Sync + 'static {
    /// Called before the window function, with the records in arrival order.
    fn evict_before(&self, elements: &mut Vec<StreamRecord<T>>, window: &W);
    /// Called after the window function.
    fn evict_after(&self, elements: &mut Vec<StreamRecord<T>>, window: &W);
}

/// The absence of an evictor.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvictor;

impl<T, W: Window> Evictor<T, W> for NoEvictor {
    fn evict_before(&self, _: &mut Vec<StreamRecord<T>>, _: &W) {}
    fn evict_after(&self, _: &mut Vec<StreamRecord<T>>, _: &W) {}
}

/// Keeps at most `max_count` records: the latest ones (Flink's `CountEvictor`).
#[derive(Debug, Clone, Copy)]
pub struct CountEvictor {
    max_count: usize,
    after: bool,
}

impl CountEvictor {
    /// Evicts before evaluation.
    pub fn of(max_count: usize) -> Self {
        CountEvictor {
            max_count,
            after: false,
        }
    }

    /// Evicts after evaluation when `after` is true.
    pub fn of_after(max_count: usize, after: bool) -> Self {
        CountEvictor { max_count, after }
    }

    fn evict<T>(&self, elements: &mut Vec<StreamRecord<T>>) {
        if elements.len() > self.max_count {
            elements.drain(..elements.len() - self.max_count);
        }
    }
}

impl<T, W: Window> Evictor<T, W> for CountEvictor {
    fn evict_before(&self, elements: &mut Vec<StreamRecord<T>>, _: &W) {
        if !self.after {
            self.evict(elements);
        }
    }
    fn evict_after(&self, elements: &mut Vec<StreamRecord<T>>, _: &W) {
        if self.after {
            self.evict(elements);
        }
    }
}

/// Keeps the records within `window_size` of the newest record's timestamp (Flink's
/// `TimeEvictor`): a record with timestamp at or before `max - window_size` goes.
#[derive(Debug, Clone, Copy)]
pub struct TimeEvictor {
    window_size: Timestamp,
    after: bool,
}

impl TimeEvictor {
    /// Evicts before evaluation.
    pub fn of(window_size: std::time::Duration) -> Self {
        Self::of_after(window_size, false)
    }

    /// Evicts after evaluation when `after` is true.
    pub fn of_after(window_size: std::time::Duration, after: bool) -> Self {
        TimeEvictor {
            window_size: window_size.as_millis() as Timestamp,
            after,
        }
    }

    fn evict<T>(&self, elements: &mut Vec<StreamRecord<T>>) {
        let Some(max) = elements.iter().filter_map(|r| r.timestamp).max() else {
            return;
        };
        let cut = max - self.window_size;
        elements.retain(|r| r.timestamp.is_none_or(|t| t > cut));
    }
}

impl<T, W: Window> Evictor<T, W> for TimeEvictor {
    fn evict_before(&self, elements: &mut Vec<StreamRecord<T>>, _: &W) {
        if !self.after {
            self.evict(elements);
        }
    }
    fn evict_after(&self, elements: &mut Vec<StreamRecord<T>>, _: &W) {
        if self.after {
            self.evict(elements);
        }
    }
}
