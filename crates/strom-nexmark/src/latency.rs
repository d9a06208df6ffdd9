//! End-to-end latency of a rate-limited Nexmark run: a sink that, for every result, compares
//! the wall clock with the moment its event time was due. A rate-limited source releases each
//! event when the wall clock since the job's start reaches the event's time since
//! [`BASE_TIME`], so a result whose timestamp (the event's time, or a window's last moment) is
//! `t` could at the earliest be seen `t - BASE_TIME` after the start; the rest is latency —
//! queueing, processing, and for windows the wait for the watermark. The clock starts when the
//! sink is made, a few milliseconds before the source starts, so figures include that much.
//! Results that arrive before they are due (windows flushed by the end of the input) are left
//! out.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use strom::connectors::nexmark::BASE_TIME;
use strom::core::{BoxError, StreamRecord, Timestamp};
use strom::runtime::operator::OperatorContext;
use strom::runtime::sink::{Sink, SinkWriter};

/// Collects the latency of every result, in milliseconds.
#[derive(Clone)]
pub struct LatencySink {
    started: Instant,
    samples: Arc<Mutex<Vec<u32>>>,
}

impl LatencySink {
    /// A sink measuring from `started`, the job's start.
    pub fn new(started: Instant) -> Self {
        LatencySink {
            started,
            samples: Arc::default(),
        }
    }

    /// Results seen, and the 50th and 99th percentile of their latencies in milliseconds.
    pub fn percentiles(&self) -> (usize, Option<u32>, Option<u32>) {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone();
        samples.sort_unstable();
        let at = |fraction: f64| {
            (!samples.is_empty())
                .then(|| samples[((samples.len() - 1) as f64 * fraction).round() as usize])
        };
        (samples.len(), at(0.5), at(0.99))
    }
}

impl<T: Send + 'static> Sink<T> for LatencySink {
    type Writer = LatencyWriter;

    fn create_writer(&self, _ctx: &OperatorContext) -> Result<LatencyWriter, BoxError> {
        Ok(LatencyWriter {
            sink: self.clone(),
            pending: Vec::new(),
        })
    }
}

/// Measures one subtask's results; hands them to the shared list a batch at a time.
pub struct LatencyWriter {
    sink: LatencySink,
    pending: Vec<u32>,
}

impl LatencyWriter {
    fn measure(&mut self, timestamp: Option<Timestamp>) {
        if let Some(timestamp) = timestamp {
            let now = self.sink.started.elapsed().as_millis() as i64;
            let due = timestamp - BASE_TIME;
            // A result before its time was flushed by the end of the input (the watermark
            // jumps to the end of time): it says nothing about latency.
            if now >= due {
                self.pending.push((now - due) as u32);
            }
        }
    }

    fn hand_over(&mut self) {
        self.sink
            .samples
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .append(&mut self.pending);
    }
}

impl<T> SinkWriter<T> for LatencyWriter {
    fn write(&mut self, _value: T, timestamp: Option<Timestamp>) -> Result<(), BoxError> {
        self.measure(timestamp);
        Ok(())
    }

    fn write_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), BoxError> {
        for record in &batch {
            self.measure(record.timestamp);
        }
        self.hand_over();
        Ok(())
    }

    fn flush(&mut self, _end_of_input: bool) -> Result<(), BoxError> {
        self.hand_over();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_read_from_the_sorted_latencies() {
        let sink = LatencySink::new(Instant::now());
        assert_eq!(sink.percentiles(), (0, None, None));
        sink.samples.lock().unwrap().extend((1..=100).rev());
        assert_eq!(sink.percentiles(), (100, Some(51), Some(99)));
    }
}
