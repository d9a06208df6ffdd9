//! A hash map from key to value, split into one table per key group.
//!
//! Callers pass the key's stable hash (from [`strom_core::key_group::key_hash`]) with every
//! access, so a key is hashed once per record even though the hash serves two purposes:
//! choosing the key group and finding the entry.

use std::hash::Hash;

use hashbrown::HashTable;
use strom_core::key_group::{key_group_for_hash, key_hash, KeyGroupRange};

/// Keyed values of one subtask, partitioned by the key groups it owns.
#[derive(Debug, Clone)]
pub struct KeyGroupedMap<K, V> {
    range: KeyGroupRange,
    max_parallelism: usize,
    groups: Vec<HashTable<(K, V)>>,
    len: usize,
}

/// A key arrived whose key group this subtask does not own: records were routed wrongly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key group {key_group} is not in this subtask's range {}..{}", range.start, range.end)]
pub struct ForeignKeyGroup {
    /// The key group of the key.
    pub key_group: usize,
    /// The key groups this subtask owns.
    pub range: KeyGroupRange,
}

impl<K: Hash + Eq, V> KeyGroupedMap<K, V> {
    /// An empty map for the key groups in `range` out of `max_parallelism`.
    pub fn new(range: KeyGroupRange, max_parallelism: usize) -> Self {
        let groups = range.as_range().map(|_| HashTable::new()).collect();
        KeyGroupedMap {
            range,
            max_parallelism,
            groups,
            len: 0,
        }
    }

    fn local_index(&self, hash: u64) -> Result<usize, ForeignKeyGroup> {
        let key_group = key_group_for_hash(hash, self.max_parallelism);
        match key_group.checked_sub(self.range.start) {
            Some(local) if local < self.groups.len() => Ok(local),
            _ => Err(ForeignKeyGroup {
                key_group,
                range: self.range,
            }),
        }
    }

    /// The value of `key` (whose stable hash is `hash`), inserting `make()` if absent.
    /// Returns the value and whether it was just inserted.
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        hash: u64,
        key: &K,
        make: impl FnOnce() -> (K, V),
    ) -> Result<(&mut V, bool), ForeignKeyGroup> {
        let local = self.local_index(hash)?;
        let table = &mut self.groups[local];
        let mut inserted = false;
        let entry = table.entry(hash, |(k, _)| k == key, |(k, _)| key_hash(k));
        let (_, value) = entry
            .or_insert_with(|| {
                inserted = true;
                make()
            })
            .into_mut();
        self.len += usize::from(inserted);
        Ok((value, inserted))
    }

    /// The value of `key`, if present.
    pub fn get(&self, hash: u64, key: &K) -> Option<&V> {
        let table = &self.groups[self.local_index(hash).ok()?];
        table.find(hash, |(k, _)| k == key).map(|(_, v)| v)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes and yields every entry, key group by key group.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.len = 0;
        self.groups.iter_mut().flat_map(|table| table.drain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_core::key_group::operator_index_for_key_group;

    #[test]
    fn values_are_found_again_and_drained_once() {
        let mut map = KeyGroupedMap::new(KeyGroupRange { start: 0, end: 128 }, 128);
        for word in ["a", "b", "a", "c", "a"] {
            let key = word.to_string();
            let (count, _) = map
                .get_or_insert_with(key_hash(&key), &key, || (key.clone(), 0u64))
                .unwrap();
            *count += 1;
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(key_hash("a"), &"a".to_string()), Some(&3));
        let mut all: Vec<_> = map.drain().collect();
        all.sort();
        assert_eq!(all, vec![("a".into(), 3), ("b".into(), 1), ("c".into(), 1)]);
        assert!(map.is_empty());
    }

    #[test]
    fn a_key_outside_the_range_is_refused() {
        let range = KeyGroupRange::for_subtask(128, 2, 0);
        let mut map = KeyGroupedMap::<u64, u64>::new(range, 128);
        let foreign = (0u64..)
            .find(|k| {
                let group = key_group_for_hash(key_hash(k), 128);
                operator_index_for_key_group(group, 128, 2) == 1
            })
            .unwrap();
        let error = map.get_or_insert_with(key_hash(&foreign), &foreign, || (foreign, 0));
        assert!(error.is_err());
    }
}
