//! Sources and sinks over in-memory collections: `from_collection` reads a `Vec`, and the
//! collect sink gathers a job's output for `execute_and_collect`.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use strom_core::{BoxError, StreamData, StreamRecord, Timestamp};
use strom_runtime::operator::OperatorContext;
use strom_runtime::sink::{Sink, SinkWriter};
use strom_runtime::source::{
    Boundedness, ReaderStatus, Source, SourceOutput, SourceReader, SourceSplit,
};

/// Emits the elements of a collection, in order within each split.
pub struct CollectionSource<T> {
    items: Arc<Vec<T>>,
}

impl<T> CollectionSource<T> {
    /// A source over `items`.
    pub fn new(items: Vec<T>) -> Self {
        CollectionSource {
            items: Arc::new(items),
        }
    }
}

/// A range of positions `[start, end)` of the collection; `start` advances as it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRangeSplit {
    /// Next position to read.
    pub start: usize,
    /// One past the last position.
    pub end: usize,
}

impl SourceSplit for IndexRangeSplit {
    fn split_id(&self) -> String {
        format!("{}..{}", self.start, self.end)
    }
}

/// Divides `0..len` into `parts` contiguous ranges that differ in size by at most one.
pub(crate) fn even_ranges(len: u64, parts: usize) -> impl Iterator<Item = (u64, u64)> {
    let parts = parts.max(1) as u64;
    (0..parts)
        .map(move |i| (len * i / parts, len * (i + 1) / parts))
        .filter(|(start, end)| start < end)
}

impl<T: StreamData + Sync> Source<T> for CollectionSource<T> {
    type Split = IndexRangeSplit;
    type Reader = CollectionReader<T>;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn create_splits(&self, parallelism: usize) -> Result<Vec<IndexRangeSplit>, BoxError> {
        Ok(even_ranges(self.items.len() as u64, parallelism)
            .map(|(start, end)| IndexRangeSplit {
                start: start as usize,
                end: end as usize,
            })
            .collect())
    }

    fn create_reader(&self, _ctx: &OperatorContext) -> Result<CollectionReader<T>, BoxError> {
        Ok(CollectionReader {
            items: Arc::clone(&self.items),
            split: IndexRangeSplit { start: 0, end: 0 },
        })
    }
}

/// Reads one range of a collection at a time.
pub struct CollectionReader<T> {
    items: Arc<Vec<T>>,
    split: IndexRangeSplit,
}

impl<T: Clone + Send + Sync> SourceReader<T, IndexRangeSplit> for CollectionReader<T> {
    fn start_split(&mut self, split: IndexRangeSplit) -> Result<(), BoxError> {
        self.split = split;
        Ok(())
    }

    fn poll_next(&mut self, output: &mut SourceOutput<T>) -> Result<ReaderStatus, BoxError> {
        while self.split.start < self.split.end {
            if output.is_full() {
                return Ok(ReaderStatus::MoreAvailable);
            }
            output.collect(self.items[self.split.start].clone());
            self.split.start += 1;
        }
        Ok(ReaderStatus::EndOfSplit)
    }

    fn snapshot_state(&mut self) -> Result<Option<IndexRangeSplit>, BoxError> {
        Ok((self.split.start < self.split.end).then(|| self.split.clone()))
    }
}

/// Gathers every record into a shared vector (for `execute_and_collect` and tests).
pub struct CollectSink<T> {
    results: Arc<Mutex<Vec<T>>>,
}

impl<T> CollectSink<T> {
    /// A sink appending to `results`.
    pub fn new(results: Arc<Mutex<Vec<T>>>) -> Self {
        CollectSink { results }
    }
}

impl<T: Send + 'static> Sink<T> for CollectSink<T> {
    type Writer = CollectWriter<T>;

    fn create_writer(&self, _ctx: &OperatorContext) -> Result<CollectWriter<T>, BoxError> {
        Ok(CollectWriter {
            results: Arc::clone(&self.results),
        })
    }
}

/// Appends batches to the shared vector.
pub struct CollectWriter<T> {
    results: Arc<Mutex<Vec<T>>>,
}

impl<T: Send> SinkWriter<T> for CollectWriter<T> {
    fn write(&mut self, value: T, _timestamp: Option<Timestamp>) -> Result<(), BoxError> {
        self.results
            .lock()
            .map_err(|_| "the collected results were poisoned")?
            .push(value);
        Ok(())
    }

    fn write_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), BoxError> {
        let mut results = self
            .results
            .lock()
            .map_err(|_| "the collected results were poisoned")?;
        results.extend(batch.into_iter().map(|record| record.value));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        let ranges: Vec<_> = even_ranges(10, 3).collect();
        assert_eq!(ranges, vec![(0, 3), (3, 6), (6, 10)]);
        assert_eq!(even_ranges(2, 4).count(), 2, "no empty splits");
        assert_eq!(even_ranges(0, 4).count(), 0);
    }
}
