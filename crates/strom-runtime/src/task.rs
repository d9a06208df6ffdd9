//! The loops of a running task and what they share with the job: the cancellation flag and
//! the buffer timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::exchange::{GateEvent, InputGate};
use crate::operator::BoxedInput;
use crate::processing_time::ProcessingTimeService;

/// State shared by all tasks of one job run.
#[derive(Debug, Default)]
pub struct JobShared {
    cancelled: AtomicBool,
    failure: Mutex<Option<TaskError>>,
}

impl JobShared {
    /// Asks every task to stop.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether the job is stopping.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Records a task failure (the first one is the cause) and stops the job.
    pub fn fail(&self, error: TaskError) {
        let mut failure = self
            .failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if failure.is_none() && !matches!(error, TaskError::Cancelled) {
            *failure = Some(error);
        }
        drop(failure);
        self.cancel();
    }

    /// The first failure, if any.
    pub fn take_failure(&self) -> Option<TaskError> {
        self.failure
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()
    }
}

/// What one task needs from its job while it runs.
pub struct TaskControl {
    shared: Arc<JobShared>,
    buffer_timeout: Duration,
    time: ProcessingTimeService,
}

impl TaskControl {
    pub(crate) fn new(
        shared: Arc<JobShared>,
        buffer_timeout: Duration,
        time: ProcessingTimeService,
    ) -> Self {
        TaskControl {
            shared,
            buffer_timeout,
            time,
        }
    }

    /// The task's processing-time clock.
    pub fn processing_time(&self) -> &ProcessingTimeService {
        &self.time
    }

    /// `Err(Cancelled)` when the job is stopping.
    #[inline]
    pub fn check_cancelled(&self) -> Result<(), TaskError> {
        if self.shared.is_cancelled() {
            Err(TaskError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// With a zero buffer timeout every record is sent on its own (lowest latency).
    pub fn flushes_every_record(&self) -> bool {
        self.buffer_timeout.is_zero()
    }

    /// A timer that says when partly filled output batches must go out.
    pub fn flush_timer(&self) -> FlushTimer {
        FlushTimer {
            interval: self.buffer_timeout,
            last: Instant::now(),
        }
    }
}

/// Tracks the buffer timeout of one task.
pub struct FlushTimer {
    interval: Duration,
    last: Instant,
}

impl FlushTimer {
    /// Whether the timeout expired since the last time this returned true.
    #[inline]
    pub fn is_due(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.last) >= self.interval {
            self.last = now;
            true
        } else {
            false
        }
    }
}

/// Reads a task's input gate into the head of its chain until all input has ended.
pub(crate) fn run_input_task<T>(
    mut gate: InputGate<T>,
    mut head: BoxedInput<T>,
    control: &TaskControl,
) -> Result<(), TaskError> {
    head.open()?;
    let mut flush_timer = control.flush_timer();
    loop {
        let event = gate.next(
            || head.flush(),
            || control.shared.is_cancelled(),
            &control.time,
        )?;
        match event {
            GateEvent::Records(batch) => head.process_batch(batch)?,
            GateEvent::Watermark(watermark) => head.process_watermark(watermark)?,
            GateEvent::WatermarkStatus(status) => head.process_watermark_status(status)?,
            GateEvent::WakeUp => {}
            GateEvent::EndOfInput => return head.end_input(),
        }
        if let Some(now) = control.time.take_due() {
            head.on_processing_time(now)?;
        }
        if flush_timer.is_due() {
            head.flush()?;
        }
        control.check_cancelled()?;
    }
}
