//! Pre-aggregation before a keyed exchange, in batch mode.
//!
//! A batch job emits only final results, so the built-in field aggregations (`sum`, `min`,
//! `max`, `min_by`, `max_by`, all associative) can fold records per key on the sending side
//! and ship one partial aggregate per key instead of every record; the receiving operator
//! folds the partials with the same aggregation. The table is bounded: when it holds
//! [`COMBINER_CAPACITY`] keys, every partial is sent and the table starts afresh. User
//! `reduce` functions are never combined, because Strom cannot know they are associative.
//! Streaming mode never combines: it must emit every update.

use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};

use hashbrown::{hash_table, HashTable};
use strom_core::key_group::key_hash;
use strom_core::{CheckpointBarrier, StreamData, StreamRecord, Watermark, WatermarkStatus};
use strom_runtime::checkpoint::TaskStateSnapshot;
use strom_runtime::element_type::{
    erase_input, typed_senders, AnyInput, AnySender, RouterFactory, WriterSettings,
};
use strom_runtime::exchange::{KeyedRecord, KeyedRecordRouter, KeyedWriter};
use strom_runtime::operator::{BoxedInput, ExecutionMode, Input, OperatorInfo};
use strom_runtime::TaskError;

use crate::operators::Aggregation;
use crate::routing::{key_group_writer, KeySelector};

/// Distinct keys a combiner holds before it sends its partial aggregates.
pub(crate) const COMBINER_CAPACITY: usize = 1 << 14;

/// Writers for `key_by(..)` followed by a field aggregation: combining in batch mode, plain
/// keyed writers in streaming mode.
pub(crate) struct CombiningRouterFactory<T, K> {
    pub(crate) key_selector: KeySelector<T, K>,
    pub(crate) aggregation: Aggregation<T>,
}

impl<T: StreamData, K: StreamData + Hash + Eq> RouterFactory for CombiningRouterFactory<T, K> {
    fn writer(
        &self,
        senders: Vec<AnySender>,
        settings: WriterSettings,
        info: OperatorInfo,
    ) -> AnyInput {
        let senders = typed_senders::<KeyedRecord<K, T>>(senders);
        let writer: BoxedInput<T> = if settings.execution_mode == ExecutionMode::Batch {
            let router = KeyedRecordRouter::new(settings.target_max_parallelism);
            Box::new(CombiningWriter {
                key_selector: std::sync::Arc::clone(&self.key_selector),
                aggregation: self.aggregation.clone(),
                table: HashTable::new(),
                out: KeyedWriter::new(senders, settings.batch_size, router, info.clone()),
                info,
            })
        } else {
            key_group_writer(&self.key_selector, senders, settings, info)
        };
        erase_input(writer)
    }
}

/// Folds records per key and sends the partial aggregates through a keyed writer.
struct CombiningWriter<T, K> {
    key_selector: KeySelector<T, K>,
    aggregation: Aggregation<T>,
    table: HashTable<KeyedRecord<K, T>>,
    out: KeyedWriter<KeyedRecord<K, T>, KeyedRecordRouter>,
    info: OperatorInfo,
}

impl<T: Clone + Send, K: Clone + Send + Hash + Eq> CombiningWriter<T, K> {
    fn send_partials(&mut self) -> Result<(), TaskError> {
        let partials: Vec<_> = self.table.drain().map(StreamRecord::new).collect();
        if partials.is_empty() {
            return Ok(());
        }
        self.out.process_batch(partials)?;
        self.out.flush()
    }
}

impl<T: Clone + Send, K: Clone + Send + Hash + Eq> Input<T> for CombiningWriter<T, K> {
    fn open(&mut self) -> Result<(), TaskError> {
        self.out.open()
    }

    fn process_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), TaskError> {
        let (selector, aggregation, table) =
            (&self.key_selector, &self.aggregation, &mut self.table);
        let folded = catch_unwind(AssertUnwindSafe(|| {
            for record in batch {
                let key = selector(&record.value);
                let hash = key_hash(&key);
                match table.entry(hash, |r| r.key == key, |r| r.hash) {
                    hash_table::Entry::Occupied(mut entry) => {
                        aggregation.merge(&mut entry.get_mut().value, record.value)
                    }
                    hash_table::Entry::Vacant(entry) => {
                        entry.insert(KeyedRecord {
                            key,
                            hash,
                            value: record.value,
                        });
                    }
                }
            }
        }));
        if folded.is_err() {
            return Err(TaskError::UserPanic {
                operator: self.info.clone(),
                message: "the key selector panicked".to_string(),
            });
        }
        if self.table.len() >= COMBINER_CAPACITY {
            self.send_partials()?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Watermark) -> Result<(), TaskError> {
        self.send_partials()?;
        self.out.process_watermark(watermark)
    }

    fn process_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError> {
        self.send_partials()?;
        self.out.process_watermark_status(status)
    }

    fn process_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: &mut TaskStateSnapshot,
    ) -> Result<(), TaskError> {
        self.send_partials()?;
        self.out.process_barrier(barrier, snapshot)
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        self.send_partials()?;
        self.out.end_input()
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        // Partials stay until the table is full or the input ends: batch mode has no latency
        // to keep low, and sending them early would only undo the combining.
        self.out.flush()
    }
}
