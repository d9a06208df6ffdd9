//! Timers as managed state: per key and namespace, deduplicated, fired in timestamp order.
//!
//! A keyed operator (a window operator, a `KeyedProcessFunction`) registers timers for a key
//! and a namespace (the window, or `()`); registering the same timer twice keeps one. Timers
//! fire in timestamp order, and timers with equal timestamps in the order they were
//! registered, so a job's output is the same on every run. The queue is plain data owned by
//! the operator, which is what lets a checkpoint write it out with the rest of the keyed state.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash};

use hashbrown::{DefaultHashBuilder, HashTable};
use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::key_group::KeyGroupAssigner;
use strom_core::Timestamp;

/// A registered timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer<K, N> {
    /// When it fires (event time or processing time, by the queue it is in).
    pub timestamp: Timestamp,
    /// The key it belongs to.
    pub key: K,
    /// The key's stable hash (as carried by keyed records).
    pub key_hash: u64,
    /// What it is for within the key (a window, or `()`).
    pub namespace: N,
}

/// The timers of one timestamp, in registration order. Removed and fired timers leave a hole so
/// the positions in `index` stay valid; `next` is where firing continues. The index keeps each
/// timer's hash beside its position, so growing it does not read the timers; a fired timer's
/// entry stays until the bucket goes (it matches nothing: its hole is empty).
struct Bucket<K, N> {
    timers: Vec<Option<(K, u64, N)>>,
    index: HashTable<(u64, usize)>,
    next: usize,
    live: usize,
}

/// The timers of one operator subtask in one time domain.
pub struct TimerQueue<K, N> {
    buckets: BTreeMap<Timestamp, Bucket<K, N>>,
    hasher: DefaultHashBuilder,
    len: usize,
}

impl<K, N> Default for TimerQueue<K, N> {
    fn default() -> Self {
        TimerQueue {
            buckets: BTreeMap::new(),
            hasher: DefaultHashBuilder::default(),
            len: 0,
        }
    }
}

impl<K: Eq + Clone, N: Hash + Eq + Clone> TimerQueue<K, N> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot_hash(&self, key_hash: u64, namespace: &N) -> u64 {
        key_hash ^ self.hasher.hash_one(namespace)
    }

    /// Registers a timer; returns false when the same timer was already registered.
    pub fn register(
        &mut self,
        timestamp: Timestamp,
        key: &K,
        key_hash: u64,
        namespace: &N,
    ) -> bool {
        let hash = self.slot_hash(key_hash, namespace);
        let bucket = self.buckets.entry(timestamp).or_insert_with(|| Bucket {
            timers: Vec::new(),
            index: HashTable::new(),
            next: 0,
            live: 0,
        });
        let timers = &bucket.timers;
        let found = bucket.index.find(hash, |&(_, position)| {
            matches!(&timers[position], Some((k, h, n)) if *h == key_hash && k == key && n == namespace)
        });
        if found.is_some() {
            return false;
        }
        let position = bucket.timers.len();
        bucket
            .timers
            .push(Some((key.clone(), key_hash, namespace.clone())));
        bucket
            .index
            .insert_unique(hash, (hash, position), |&(hash, _)| hash);
        bucket.live += 1;
        self.len += 1;
        true
    }

    /// Removes a timer; returns whether it was registered.
    pub fn delete(&mut self, timestamp: Timestamp, key: &K, key_hash: u64, namespace: &N) -> bool {
        let hash = self.slot_hash(key_hash, namespace);
        let Some(bucket) = self.buckets.get_mut(&timestamp) else {
            return false;
        };
        let timers = &bucket.timers;
        let Ok(entry) = bucket.index.find_entry(hash, |&(_, position)| {
            matches!(&timers[position], Some((k, h, n)) if *h == key_hash && k == key && n == namespace)
        }) else {
            return false;
        };
        let ((_, position), _) = entry.remove();
        bucket.timers[position] = None;
        bucket.live -= 1;
        self.len -= 1;
        if bucket.live == 0 {
            self.buckets.remove(&timestamp);
        }
        true
    }

    /// The earliest timestamp with a timer.
    pub fn next_timestamp(&self) -> Option<Timestamp> {
        self.buckets.keys().next().copied()
    }

    /// Removes and returns the earliest timer if it is due at `time` (its timestamp is at or
    /// before `time`).
    pub fn pop_due(&mut self, time: Timestamp) -> Option<Timer<K, N>> {
        let mut first = self.buckets.first_entry()?;
        let timestamp = *first.key();
        if timestamp > time {
            return None;
        }
        let bucket = first.get_mut();
        let (key, key_hash, namespace) = loop {
            let slot = bucket.timers[bucket.next].take();
            bucket.next += 1;
            if let Some(timer) = slot {
                break timer;
            }
        };
        bucket.live -= 1;
        self.len -= 1;
        if bucket.live == 0 {
            first.remove();
        }
        Some(Timer {
            timestamp,
            key,
            key_hash,
            namespace,
        })
    }

    /// Number of registered timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<K, N> TimerQueue<K, N>
where
    K: Eq + Clone + Serialize + DeserializeOwned,
    N: Hash + Eq + Clone + Serialize + DeserializeOwned,
{
    /// The registered timers by the key group of their key, each group written on its own
    /// (in firing order).
    pub fn snapshot(
        &self,
        key_groups: &KeyGroupAssigner,
    ) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error> {
        let mut groups: BTreeMap<usize, Vec<(Timestamp, &K, u64, &N)>> = BTreeMap::new();
        for (&timestamp, bucket) in &self.buckets {
            for (key, hash, namespace) in bucket.timers[bucket.next..].iter().flatten() {
                groups
                    .entry(key_groups.key_group(*hash))
                    .or_default()
                    .push((timestamp, key, *hash, namespace));
            }
        }
        groups
            .into_iter()
            .map(|(group, timers)| Ok((group, postcard::to_stdvec(&timers)?)))
            .collect()
    }

    /// Registers the timers a [`snapshot`](Self::snapshot) wrote for one key group.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), postcard::Error> {
        let timers: Vec<(Timestamp, K, u64, N)> = postcard::from_bytes(bytes)?;
        for (timestamp, key, hash, namespace) in timers {
            self.register(timestamp, &key, hash, &namespace);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(queue: &mut TimerQueue<&'static str, u8>, time: Timestamp) -> Vec<String> {
        std::iter::from_fn(|| queue.pop_due(time))
            .map(|t| format!("{}:{}/{}", t.timestamp, t.key, t.namespace))
            .collect()
    }

    #[test]
    fn timers_fire_in_time_then_registration_order_once_each() {
        let mut queue = TimerQueue::new();
        assert!(queue.register(20, &"b", 2, &0));
        assert!(queue.register(10, &"a", 1, &0));
        assert!(queue.register(20, &"a", 1, &0));
        assert!(!queue.register(20, &"b", 2, &0));
        assert!(queue.register(20, &"b", 2, &1));
        assert!(queue.register(30, &"c", 3, &0));
        assert_eq!(queue.len(), 5);
        assert_eq!(fire(&mut queue, 9), Vec::<String>::new());
        assert_eq!(
            fire(&mut queue, 20),
            ["10:a/0", "20:b/0", "20:a/0", "20:b/1"]
        );
        assert_eq!(queue.next_timestamp(), Some(30));
        // Once fired, the same timer can be registered again.
        assert!(queue.register(20, &"b", 2, &0));
        assert_eq!(fire(&mut queue, 40), ["20:b/0", "30:c/0"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn deleted_timers_do_not_fire() {
        let mut queue = TimerQueue::new();
        queue.register(10, &"a", 1, &0);
        queue.register(10, &"b", 2, &0);
        queue.register(15, &"c", 3, &0);
        assert!(queue.delete(10, &"a", 1, &0));
        assert!(!queue.delete(10, &"a", 1, &0));
        assert!(queue.delete(15, &"c", 3, &0));
        assert_eq!(queue.next_timestamp(), Some(10));
        assert_eq!(fire(&mut queue, 100), ["10:b/0"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn timers_survive_a_snapshot_key_group_by_key_group() {
        let assigner = KeyGroupAssigner::new(128);
        let key = |k: &str| k.to_string();
        let mut queue = TimerQueue::new();
        queue.register(20, &key("b"), 2, &0u8);
        queue.register(10, &key("a"), 1, &0);
        queue.register(20, &key("a"), 1, &1);
        queue.register(30, &key("c"), 3, &0);
        assert!(
            queue.pop_due(10).is_some(),
            "the timer at 10 fires before the snapshot"
        );
        let snapshot = queue.snapshot(&assigner).unwrap();
        let mut restored = TimerQueue::<String, u8>::new();
        for bytes in snapshot.values() {
            restored.restore(bytes).unwrap();
        }
        let fired: Vec<String> = std::iter::from_fn(|| restored.pop_due(100))
            .map(|t| format!("{}:{}/{}", t.timestamp, t.key, t.namespace))
            .collect();
        // Timestamp order holds; equal timestamps may come back in another order.
        assert_eq!(fired.len(), 3);
        assert_eq!(fired[2], "30:c/0");
        let mut at_20 = fired[..2].to_vec();
        at_20.sort();
        assert_eq!(at_20, ["20:a/1", "20:b/0"]);
    }
}
