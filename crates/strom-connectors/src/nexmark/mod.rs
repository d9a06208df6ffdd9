//! The Nexmark source: the people, auctions and bids of an online auction site, the events of
//! the standard streaming benchmark (used by Apache Beam's and Flink's Nexmark suites).
//!
//! Each parallel reader generates its own block of event ids (see [`generator`]), bounded by a
//! total event count or unbounded. Event times follow the generator's timeline — the readers
//! together make `events_per_second` of event time — and are the records' timestamps. With a
//! rate limit a reader also waits for the wall clock to catch up with its events' times, so the
//! job sees the events at that rate (for latency measurements); without one it emits as fast
//! as it can. A reader's position is its split's state, so checkpoints resume it exactly.

pub mod generator;
mod java_random;
pub mod model;

use std::time::Instant;

use serde::{Deserialize, Serialize};
use strom_core::BoxError;
use strom_runtime::operator::OperatorContext;
use strom_runtime::source::{
    Boundedness, ReaderStatus, Source, SourceOutput, SourceReader, SourceSplit,
};

pub use generator::{Generator, GeneratorConfig, BASE_TIME};
pub use model::{Auction, Bid, Event, Person};

/// Generates Nexmark events.
#[derive(Debug, Clone)]
pub struct NexmarkSource {
    config: GeneratorConfig,
    /// Events over all readers; `None`: unbounded.
    events: Option<u64>,
    /// Events per second of wall-clock time over all readers; `None`: as fast as possible.
    rate_limit: Option<u64>,
}

impl NexmarkSource {
    /// `events` events over all readers (`None`: without end), with the generator's defaults.
    pub fn new(events: Option<u64>) -> Self {
        NexmarkSource {
            config: GeneratorConfig::default(),
            events,
            rate_limit: None,
        }
    }

    /// Generates with `config`.
    pub fn with_config(mut self, config: GeneratorConfig) -> Self {
        self.config = config;
        self
    }

    /// Emits at most `events_per_second` (over all readers) of wall-clock time, and generates
    /// event times at that rate too.
    pub fn with_rate_limit(mut self, events_per_second: u64) -> Self {
        let rate = events_per_second.max(1);
        self.rate_limit = Some(rate);
        self.config.events_per_second = rate;
        self
    }
}

/// One reader's share of the events: ids `first_event_id..first_event_id + count`, of which
/// the first `emitted` were emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexmarkSplit {
    /// The reader's first event id.
    pub first_event_id: i64,
    /// Events of the split (`u64::MAX`: without end).
    pub count: u64,
    /// Events emitted so far.
    pub emitted: u64,
    /// Readers sharing the event rate.
    pub readers: usize,
}

impl SourceSplit for NexmarkSplit {
    fn split_id(&self) -> String {
        format!("nexmark-{}", self.first_event_id)
    }
}

/// Event ids a reader of an unbounded source gets: far more than any run generates.
const UNBOUNDED_SHARE: u64 = 1 << 50;

impl Source<Event> for NexmarkSource {
    type Split = NexmarkSplit;
    type Reader = NexmarkReader;

    fn boundedness(&self) -> Boundedness {
        match self.events {
            Some(_) => Boundedness::Bounded,
            None => Boundedness::ContinuousUnbounded,
        }
    }

    fn create_splits(&self, parallelism: usize) -> Result<Vec<NexmarkSplit>, BoxError> {
        let readers = parallelism.max(1);
        Ok((0..readers)
            .map(|index| {
                // Beam's split: equal blocks of ids, the last one takes the rest.
                let (share, count) = match self.events {
                    Some(total) => {
                        let share = total / readers as u64;
                        let count = if index + 1 == readers {
                            total - share * (readers as u64 - 1)
                        } else {
                            share
                        };
                        (share, count)
                    }
                    None => (UNBOUNDED_SHARE, u64::MAX),
                };
                NexmarkSplit {
                    first_event_id: (index as u64 * share) as i64,
                    count,
                    emitted: 0,
                    readers,
                }
            })
            .collect())
    }

    fn create_reader(&self, _ctx: &OperatorContext) -> Result<NexmarkReader, BoxError> {
        Ok(NexmarkReader {
            config: self.config.clone(),
            rate_limited: self.rate_limit.is_some(),
            current: None,
        })
    }
}

/// Generates one split's events at a time.
pub struct NexmarkReader {
    config: GeneratorConfig,
    rate_limited: bool,
    current: Option<OpenSplit>,
}

struct OpenSplit {
    split: NexmarkSplit,
    generator: Generator,
    /// When the reader started on the split, and the event time it had reached then.
    started: Instant,
    started_at_event_time: i64,
}

impl SourceReader<Event, NexmarkSplit> for NexmarkReader {
    fn start_split(&mut self, split: NexmarkSplit) -> Result<(), BoxError> {
        let generator = Generator::new(self.config.clone(), split.readers);
        let started_at_event_time = generator.timestamp(split.emitted);
        self.current = Some(OpenSplit {
            split,
            generator,
            started: Instant::now(),
            started_at_event_time,
        });
        Ok(())
    }

    fn poll_next(&mut self, output: &mut SourceOutput<Event>) -> Result<ReaderStatus, BoxError> {
        let Some(open) = self.current.as_mut() else {
            return Ok(ReaderStatus::EndOfSplit);
        };
        while !output.is_full() {
            let split = &mut open.split;
            if split.emitted >= split.count {
                self.current = None;
                return Ok(ReaderStatus::EndOfSplit);
            }
            let number = split.emitted;
            if self.rate_limited {
                let due = open.generator.timestamp(number) - open.started_at_event_time;
                let elapsed = open.started.elapsed().as_millis() as i64;
                if due > elapsed {
                    // The runtime sends what is collected and polls again a moment later.
                    return Ok(ReaderStatus::NothingAvailable);
                }
            }
            let event = open
                .generator
                .event(split.first_event_id + number as i64, number);
            let time = event.date_time();
            output.collect_with_timestamp(event, time);
            split.emitted += 1;
        }
        Ok(ReaderStatus::MoreAvailable)
    }

    fn snapshot_state(&mut self) -> Result<Option<NexmarkSplit>, BoxError> {
        Ok(self.current.as_ref().map(|open| open.split.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_split_the_ids_into_blocks_and_the_last_takes_the_rest() {
        let splits = NexmarkSource::new(Some(1003)).create_splits(4).unwrap();
        let blocks: Vec<(i64, u64)> = splits
            .iter()
            .map(|split| (split.first_event_id, split.count))
            .collect();
        assert_eq!(blocks, [(0, 250), (250, 250), (500, 250), (750, 253)]);
        let unbounded = NexmarkSource::new(None).create_splits(2).unwrap();
        assert_eq!(unbounded[1].first_event_id, 1 << 50);
        assert_eq!(unbounded[1].count, u64::MAX);
    }
}
