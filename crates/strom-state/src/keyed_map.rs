//! A hash map from key to value, split into one table per key group.
//!
//! Callers pass the key's stable hash (from [`strom_core::key_group::key_hash`]) with every
//! access, so a key is hashed once per record even though the hash serves two purposes:
//! choosing the key group and finding the entry.

use std::collections::BTreeMap;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use hashbrown::{hash_table, HashTable};
use strom_core::key_group::{key_hash, KeyGroupAssigner, KeyGroupRange};

/// Keyed values of one subtask, partitioned by the key groups it owns.
#[derive(Debug, Clone)]
pub struct KeyGroupedMap<K, V> {
    range: KeyGroupRange,
    assigner: KeyGroupAssigner,
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
            assigner: KeyGroupAssigner::new(max_parallelism),
            groups,
            len: 0,
        }
    }

    fn local_index(&self, hash: u64) -> Result<usize, ForeignKeyGroup> {
        let key_group = self.assigner.key_group(hash);
        match key_group.checked_sub(self.range.start) {
            Some(local) if local < self.groups.len() => Ok(local),
            _ => Err(ForeignKeyGroup {
                key_group,
                range: self.range,
            }),
        }
    }

    /// The entry of `key`, whose stable hash is `hash`.
    #[inline]
    pub fn entry(&mut self, hash: u64, key: K) -> Result<KeyedEntry<'_, K, V>, ForeignKeyGroup> {
        let local = self.local_index(hash)?;
        let table = &mut self.groups[local];
        let entry = table.entry(hash, |(k, _)| *k == key, |(k, _)| key_hash(k));
        Ok(match entry {
            hash_table::Entry::Occupied(occupied) => {
                KeyedEntry::Occupied(&mut occupied.into_mut().1)
            }
            hash_table::Entry::Vacant(vacant) => KeyedEntry::Vacant(VacantEntry {
                inner: vacant,
                key,
                len: &mut self.len,
            }),
        })
    }

    /// The value of `key`, if present.
    pub fn get(&self, hash: u64, key: &K) -> Option<&V> {
        let table = &self.groups[self.local_index(hash).ok()?];
        table.find(hash, |(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, inserting `make()` first when the key has none; the key is cloned
    /// only when it is inserted.
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        hash: u64,
        key: &K,
        make: impl FnOnce() -> V,
    ) -> Result<&mut V, ForeignKeyGroup>
    where
        K: Clone,
    {
        let local = self.local_index(hash)?;
        let entry = self.groups[local].entry(hash, |(k, _)| k == key, |(k, _)| key_hash(k));
        Ok(match entry {
            hash_table::Entry::Occupied(occupied) => &mut occupied.into_mut().1,
            hash_table::Entry::Vacant(vacant) => {
                self.len += 1;
                &mut vacant.insert((key.clone(), make())).into_mut().1
            }
        })
    }

    /// The value of `key` for update, if present.
    #[inline]
    pub fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        let local = self.local_index(hash).ok()?;
        self.groups[local]
            .find_mut(hash, |(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Removes `key` and returns its value, if present.
    pub fn remove(&mut self, hash: u64, key: &K) -> Option<V> {
        let local = self.local_index(hash).ok()?;
        let entry = self.groups[local]
            .find_entry(hash, |(k, _)| k == key)
            .ok()?;
        self.len -= 1;
        Some(entry.remove().0 .1)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the entries whose value `keep` (which may change it) returns true for.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut V) -> bool) {
        for table in &mut self.groups {
            let before = table.len();
            table.retain(|(_, value)| keep(value));
            self.len -= before - table.len();
        }
    }

    /// Every key with its value, key group by key group.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.groups
            .iter()
            .flat_map(|table| table.iter().map(|(key, value)| (key, value)))
    }

    /// Removes and yields every entry, key group by key group.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.len = 0;
        self.groups.iter_mut().flat_map(|table| table.drain())
    }
}

impl<K, V> KeyGroupedMap<K, V>
where
    K: Hash + Eq + Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// The entries of every key group that has any, each key group written on its own (so a
    /// restore at another parallelism can hand it to whichever subtask owns it then).
    pub fn snapshot(&self) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error> {
        let mut groups = BTreeMap::new();
        for (local, table) in self.groups.iter().enumerate() {
            if table.is_empty() {
                continue;
            }
            // Written straight from the table, as a sequence the restore reads as a vector.
            let bytes = postcard::to_stdvec(&TableEntries(table))?;
            groups.insert(self.range.start + local, bytes);
        }
        Ok(groups)
    }

    /// Adds the entries a [`snapshot`](Self::snapshot) wrote for `key_group`.
    pub fn restore(&mut self, key_group: usize, bytes: &[u8]) -> Result<(), StateRestoreError> {
        let entries: Vec<(K, V)> = postcard::from_bytes(bytes)
            .map_err(|error| StateRestoreError::Corrupt(key_group, error.to_string()))?;
        // Every entry belongs to the one key group: make room once instead of growing.
        if let Some((key, _)) = entries.first() {
            let local = self.local_index(key_hash(key))?;
            self.groups[local].reserve(entries.len(), |(k, _)| key_hash(k));
        }
        for (key, value) in entries {
            match self.entry(key_hash(&key), key)? {
                KeyedEntry::Occupied(existing) => *existing = value,
                KeyedEntry::Vacant(vacant) => {
                    vacant.insert(value);
                }
            }
        }
        Ok(())
    }
}

/// A key group's table, serialized as the sequence of its entries.
struct TableEntries<'a, K, V>(&'a HashTable<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for TableEntries<'_, K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

/// Why a snapshot could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateRestoreError {
    /// The bytes of a key group do not decode as this state's entries.
    #[error("the state of key group {0} cannot be read: {1}")]
    Corrupt(usize, String),
    /// A key of the snapshot belongs to a key group this subtask does not own.
    #[error(transparent)]
    ForeignKeyGroup(#[from] ForeignKeyGroup),
}

/// A key's place in a [`KeyGroupedMap`].
pub enum KeyedEntry<'a, K, V> {
    /// The key has a value.
    Occupied(&'a mut V),
    /// The key has none yet.
    Vacant(VacantEntry<'a, K, V>),
}

/// The place of a key that has no value yet.
pub struct VacantEntry<'a, K, V> {
    inner: hash_table::VacantEntry<'a, (K, V)>,
    key: K,
    len: &'a mut usize,
}

impl<'a, K, V> VacantEntry<'a, K, V> {
    /// Stores `value` for the key.
    pub fn insert(self, value: V) -> &'a mut V {
        *self.len += 1;
        &mut self.inner.insert((self.key, value)).into_mut().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_core::key_group::{key_group_for_hash, operator_index_for_key_group};

    #[test]
    fn values_are_found_again_and_drained_once() {
        let mut map = KeyGroupedMap::new(KeyGroupRange { start: 0, end: 128 }, 128);
        for word in ["a", "b", "a", "c", "a"] {
            let key = word.to_string();
            match map.entry(key_hash(&key), key).unwrap() {
                KeyedEntry::Occupied(count) => *count += 1,
                KeyedEntry::Vacant(vacant) => {
                    vacant.insert(1u64);
                }
            }
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
        assert!(map.entry(key_hash(&foreign), foreign).is_err());
    }

    #[test]
    fn a_snapshot_is_restored_key_group_by_key_group_into_other_subtasks() {
        let mut whole = KeyGroupedMap::new(KeyGroupRange { start: 0, end: 128 }, 128);
        for n in 0..200u64 {
            match whole.entry(key_hash(&n), n).unwrap() {
                KeyedEntry::Occupied(_) => unreachable!(),
                KeyedEntry::Vacant(vacant) => {
                    vacant.insert(format!("v{n}"));
                }
            }
        }
        let snapshot = whole.snapshot().unwrap();
        // Restored at parallelism 3: each subtask takes the key groups it owns.
        let mut restored = 0;
        for subtask in 0..3 {
            let range = KeyGroupRange::for_subtask(128, 3, subtask);
            let mut part = KeyGroupedMap::<u64, String>::new(range, 128);
            for (&group, bytes) in snapshot.range(range.start..range.end) {
                part.restore(group, bytes).unwrap();
            }
            for n in 0..200u64 {
                if range.contains(key_group_for_hash(key_hash(&n), 128)) {
                    assert_eq!(part.get(key_hash(&n), &n), Some(&format!("v{n}")));
                }
            }
            restored += part.len();
        }
        assert_eq!(restored, 200);
        let mut part = KeyGroupedMap::<u64, String>::new(KeyGroupRange { start: 0, end: 128 }, 128);
        let (&group, _) = snapshot.iter().next().unwrap();
        assert!(part.restore(group, b"not postcard").is_err());
    }
}
