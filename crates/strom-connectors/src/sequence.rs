//! `from_sequence(from, to)`: the numbers `from..=to`, split evenly across parallel readers.

use serde::{Deserialize, Serialize};
use strom_core::BoxError;
use strom_runtime::operator::OperatorContext;
use strom_runtime::source::{
    Boundedness, ReaderStatus, Source, SourceOutput, SourceReader, SourceSplit,
};

use crate::collection::even_ranges;

/// The numbers from `from` to `to`, both included.
#[derive(Debug, Clone)]
pub struct NumberSequenceSource {
    from: i64,
    to: i64,
}

impl NumberSequenceSource {
    /// The sequence `from..=to` (empty when `to < from`).
    pub fn new(from: i64, to: i64) -> Self {
        NumberSequenceSource { from, to }
    }
}

/// The numbers `next..=last` still to emit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceSplit {
    /// Next number.
    pub next: i64,
    /// Last number, included.
    pub last: i64,
}

impl SourceSplit for SequenceSplit {
    fn split_id(&self) -> String {
        format!("{}..={}", self.next, self.last)
    }
}

impl Source<i64> for NumberSequenceSource {
    type Split = SequenceSplit;
    type Reader = SequenceReader;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn create_splits(&self, parallelism: usize) -> Result<Vec<SequenceSplit>, BoxError> {
        if self.to < self.from {
            return Ok(Vec::new());
        }
        let count = (self.to as i128 - self.from as i128 + 1) as u64;
        Ok(even_ranges(count, parallelism)
            .map(|(start, end)| SequenceSplit {
                next: (self.from as i128 + start as i128) as i64,
                last: (self.from as i128 + end as i128 - 1) as i64,
            })
            .collect())
    }

    fn create_reader(&self, _ctx: &OperatorContext) -> Result<SequenceReader, BoxError> {
        Ok(SequenceReader { split: None })
    }
}

/// Emits one range at a time.
pub struct SequenceReader {
    split: Option<SequenceSplit>,
}

impl SourceReader<i64, SequenceSplit> for SequenceReader {
    fn start_split(&mut self, split: SequenceSplit) -> Result<(), BoxError> {
        self.split = Some(split);
        Ok(())
    }

    fn poll_next(&mut self, output: &mut SourceOutput<i64>) -> Result<ReaderStatus, BoxError> {
        let Some(split) = self.split.as_mut() else {
            return Ok(ReaderStatus::EndOfSplit);
        };
        while !output.is_full() {
            output.collect(split.next);
            if split.next == split.last {
                self.split = None;
                return Ok(ReaderStatus::EndOfSplit);
            }
            split.next += 1;
        }
        Ok(ReaderStatus::MoreAvailable)
    }

    fn snapshot_state(&mut self) -> Result<Option<SequenceSplit>, BoxError> {
        Ok(self.split.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_the_whole_range_even_at_the_extremes() {
        let source = NumberSequenceSource::new(i64::MAX - 4, i64::MAX);
        let splits = source.create_splits(2).unwrap();
        assert_eq!(
            splits[0],
            SequenceSplit {
                next: i64::MAX - 4,
                last: i64::MAX - 3
            }
        );
        assert_eq!(
            splits[1],
            SequenceSplit {
                next: i64::MAX - 2,
                last: i64::MAX
            }
        );
        assert!(NumberSequenceSource::new(5, 4)
            .create_splits(2)
            .unwrap()
            .is_empty());
    }
}
