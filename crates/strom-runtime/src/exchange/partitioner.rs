//! Partitioners: which downstream subtasks a sender is connected to, and for per-record
//! partitioning, which one a record goes to.

use std::hash::Hash;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use strom_core::key_group::{key_hash, operator_index_for_key_group, KeyGroupAssigner};
use strom_core::StreamRecord;

/// How records travel from an operator's subtasks to the next operator's subtasks
/// (Flink's partitioners, by the `DataStream` method that selects them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionerKind {
    /// Subtask i to subtask i; needs equal parallelism (and allows chaining).
    Forward,
    /// Round robin over all downstream subtasks.
    Rebalance,
    /// Round robin over a local subset of the downstream subtasks.
    Rescale,
    /// A uniformly random downstream subtask per record.
    Shuffle,
    /// Every record to every downstream subtask.
    Broadcast,
    /// Everything to the first downstream subtask.
    Global,
    /// By key: the key group of the record's key decides (`key_by`).
    KeyGroups,
    /// By key, with a user partitioner choosing the subtask (`partition_custom`).
    Custom,
}

impl PartitionerKind {
    /// The downstream subtasks that sender `index` of `senders` connects to.
    pub fn targets(self, index: usize, senders: usize, receivers: usize) -> Vec<usize> {
        match self {
            PartitionerKind::Forward => vec![index],
            PartitionerKind::Global => vec![0],
            PartitionerKind::Rescale => rescale_targets(index, senders, receivers),
            _ => (0..receivers).collect(),
        }
    }

    /// Whether a record goes to one channel chosen per record.
    pub fn is_per_record(self) -> bool {
        matches!(
            self,
            PartitionerKind::Shuffle | PartitionerKind::KeyGroups | PartitionerKind::Custom
        )
    }

    /// The `DataStream` method that selects this partitioner, for messages.
    pub fn method_name(self) -> &'static str {
        match self {
            PartitionerKind::Forward => "forward",
            PartitionerKind::Rebalance => "rebalance",
            PartitionerKind::Rescale => "rescale",
            PartitionerKind::Shuffle => "shuffle",
            PartitionerKind::Broadcast => "broadcast",
            PartitionerKind::Global => "global",
            PartitionerKind::KeyGroups => "key_by",
            PartitionerKind::Custom => "partition_custom",
        }
    }
}

/// Flink's rescale: with fewer senders than receivers each sender feeds its own block of
/// receivers; with more senders, blocks of senders share one receiver.
fn rescale_targets(index: usize, senders: usize, receivers: usize) -> Vec<usize> {
    if senders >= receivers {
        vec![index * receivers / senders]
    } else {
        let start = (index * receivers).div_ceil(senders);
        let end = ((index + 1) * receivers).div_ceil(senders);
        (start..end).collect()
    }
}

/// Chooses a channel per record, and may turn the record into what the channel carries.
/// `channels` is the number of connected downstream subtasks.
pub trait RecordRouter<T>: Send {
    /// What travels on the channel.
    type Out;
    /// The channel for `value`, in `0..channels`, and the record to send; an error says what
    /// went wrong.
    fn route(
        &mut self,
        record: StreamRecord<T>,
        channels: usize,
    ) -> Result<(usize, StreamRecord<Self::Out>), String>;
}

/// A record on a keyed channel: the key and its stable hash travel with the value, so the
/// receiving operator neither extracts the key again nor hashes it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyedRecord<K, T> {
    /// The key, as the key selector returned it.
    pub key: K,
    /// `key_hash(&key)`.
    pub hash: u64,
    /// The record's value.
    pub value: T,
}

/// Which channel each key group goes to, computed once per writer instead of dividing per
/// record.
#[derive(Debug, Clone)]
struct KeyGroupChannels {
    assigner: KeyGroupAssigner,
    max_parallelism: usize,
    /// `channel_of[group]` for the number of channels it was computed for.
    channel_of: Vec<u32>,
    channels: usize,
}

impl KeyGroupChannels {
    fn new(max_parallelism: usize) -> Self {
        KeyGroupChannels {
            assigner: KeyGroupAssigner::new(max_parallelism),
            max_parallelism,
            channel_of: Vec::new(),
            channels: 0,
        }
    }

    #[inline]
    fn channel(&mut self, hash: u64, channels: usize) -> usize {
        if channels != self.channels {
            self.channel_of = (0..self.max_parallelism)
                .map(|group| {
                    operator_index_for_key_group(group, self.max_parallelism, channels) as u32
                })
                .collect();
            self.channels = channels;
        }
        self.channel_of[self.assigner.key_group(hash)] as usize
    }
}

/// Routes by key group (`key_by`), attaching the key and its hash.
pub struct KeyGroupRouter<T, K, F> {
    key_selector: F,
    groups: KeyGroupChannels,
    _types: PhantomData<fn(&T) -> K>,
}

impl<T, K, F> KeyGroupRouter<T, K, F> {
    /// Routes with `key_selector` into `max_parallelism` key groups.
    pub fn new(key_selector: F, max_parallelism: usize) -> Self {
        KeyGroupRouter {
            key_selector,
            groups: KeyGroupChannels::new(max_parallelism),
            _types: PhantomData,
        }
    }
}

impl<T, K: Hash, F: Fn(&T) -> K + Send> RecordRouter<T> for KeyGroupRouter<T, K, F> {
    type Out = KeyedRecord<K, T>;

    #[inline]
    fn route(
        &mut self,
        record: StreamRecord<T>,
        channels: usize,
    ) -> Result<(usize, StreamRecord<KeyedRecord<K, T>>), String> {
        let key = (self.key_selector)(&record.value);
        let hash = key_hash(&key);
        let channel = self.groups.channel(hash, channels);
        let timestamp = record.timestamp;
        Ok((
            channel,
            StreamRecord {
                value: KeyedRecord {
                    key,
                    hash,
                    value: record.value,
                },
                timestamp,
            },
        ))
    }
}

/// Routes records that already carry their key's hash (a combiner's partial aggregates).
pub struct KeyedRecordRouter {
    groups: KeyGroupChannels,
}

impl KeyedRecordRouter {
    /// Routes into `max_parallelism` key groups.
    pub fn new(max_parallelism: usize) -> Self {
        KeyedRecordRouter {
            groups: KeyGroupChannels::new(max_parallelism),
        }
    }
}

impl<K, T> RecordRouter<KeyedRecord<K, T>> for KeyedRecordRouter {
    type Out = KeyedRecord<K, T>;

    #[inline]
    fn route(
        &mut self,
        record: StreamRecord<KeyedRecord<K, T>>,
        channels: usize,
    ) -> Result<(usize, StreamRecord<KeyedRecord<K, T>>), String> {
        Ok((self.groups.channel(record.value.hash, channels), record))
    }
}

/// Routes to a random channel: `shuffle`.
pub struct ShuffleRouter {
    state: u64,
}

impl ShuffleRouter {
    /// A router whose sequence starts from `seed`.
    pub fn new(seed: u64) -> Self {
        ShuffleRouter { state: seed | 1 }
    }

    fn next_channel(&mut self, channels: usize) -> usize {
        // xorshift64*: cheap and good enough to spread records evenly.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let random = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (((random >> 32) * channels as u64) >> 32) as usize
    }
}

impl<T> RecordRouter<T> for ShuffleRouter {
    type Out = T;

    #[inline]
    fn route(
        &mut self,
        record: StreamRecord<T>,
        channels: usize,
    ) -> Result<(usize, StreamRecord<T>), String> {
        Ok((self.next_channel(channels), record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_matches_flink() {
        assert_eq!(rescale_targets(0, 2, 4), vec![0, 1]);
        assert_eq!(rescale_targets(1, 2, 4), vec![2, 3]);
        assert_eq!(rescale_targets(3, 4, 2), vec![1]);
        assert_eq!(rescale_targets(1, 3, 2), vec![0]);
        for senders in 1..9 {
            for receivers in 1..9 {
                let mut hit = vec![false; receivers];
                for i in 0..senders {
                    for t in rescale_targets(i, senders, receivers) {
                        hit[t] = true;
                    }
                }
                assert!(hit.iter().all(|h| *h), "{senders} -> {receivers}");
            }
        }
    }

    #[test]
    fn shuffle_spreads_evenly() {
        let mut router = ShuffleRouter::new(7);
        let mut counts = [0usize; 4];
        for _ in 0..40_000 {
            counts[router.next_channel(4)] += 1;
        }
        assert!(
            counts.iter().all(|c| (9_000..11_000).contains(c)),
            "{counts:?}"
        );
    }
}
