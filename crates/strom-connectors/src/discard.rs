//! A sink that drops everything and counts it: what benchmarks write into, so that the
//! engine is measured, not the output (Flink's `DiscardingSink`, with a counter).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use strom_core::{BoxError, StreamRecord, Timestamp};
use strom_runtime::operator::OperatorContext;
use strom_runtime::sink::{Sink, SinkWriter};

/// Drops records, counting them in a shared counter.
#[derive(Debug, Clone, Default)]
pub struct DiscardingSink {
    count: Arc<AtomicU64>,
}

impl DiscardingSink {
    /// A sink with a fresh counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter of records received by all subtasks.
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.count)
    }
}

impl<T: Send + 'static> Sink<T> for DiscardingSink {
    type Writer = DiscardingWriter;

    fn create_writer(&self, _ctx: &OperatorContext) -> Result<DiscardingWriter, BoxError> {
        Ok(DiscardingWriter {
            count: Arc::clone(&self.count),
        })
    }
}

/// Counts and drops one subtask's records.
pub struct DiscardingWriter {
    count: Arc<AtomicU64>,
}

impl<T> SinkWriter<T> for DiscardingWriter {
    fn write(&mut self, _value: T, _timestamp: Option<Timestamp>) -> Result<(), BoxError> {
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn write_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), BoxError> {
        self.count.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}
