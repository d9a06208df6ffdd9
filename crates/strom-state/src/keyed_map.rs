//! A hash map from key to value, split into one table per key group.
//!
//! Callers pass the key's stable hash (from [`strom_core::key_group::key_hash`]) with every
//! access, so a key is hashed once per record even though the hash serves two purposes:
//! choosing the key group and finding the entry.
//!
//! With the disk state backend the tables on the heap hold at most a fixed number of entries;
//! beyond that, entries move to disk ([`DiskStore`]) and come back when their key is used
//! again. An entry is in exactly one of the two places. Which entries move is arbitrary (the
//! next ones in table order, key group after key group): cheap, and fair to uniform and
//! skewed access alike, since a hot key that moved comes back on its next record.

use std::collections::BTreeMap;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use hashbrown::{hash_table, HashTable};
use strom_core::key_group::{key_hash, KeyGroupAssigner, KeyGroupRange};

use crate::changed_keys::{ChangedKey, ChangedKeys, SnapshotPlan, Whereabouts};
use crate::key_group_parts::{PendingKeyedState, RestoredPart};
use crate::state_backend::{DiskStore, FrozenEntries, StateBackend};

/// Keyed values of one subtask, partitioned by the key groups it owns.
pub struct KeyGroupedMap<K, V> {
    range: KeyGroupRange,
    assigner: KeyGroupAssigner,
    groups: Vec<HashTable<(K, V)>>,
    /// Entries on the heap.
    len: usize,
    /// Where entries beyond the heap's share go (the disk backend).
    disk: Option<DiskTier<K, V>>,
    /// With incremental checkpoints: the keys changed since the checkpoints snapshots may
    /// build on.
    changes: Option<ChangedKeys<K>>,
}

impl<K, V> std::fmt::Debug for KeyGroupedMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyGroupedMap")
            .field("range", &self.range)
            .field("on_heap", &self.len)
            .field("on_disk", &self.disk.as_ref().map(|disk| disk.store.len()))
            .finish()
    }
}

/// The entries of a map that are on disk, with the heap's share.
struct DiskTier<K, V> {
    store: Box<dyn SpilledEntries<K, V>>,
    /// Entries the heap holds at most.
    capacity: usize,
    /// The key group to move entries out of next.
    cursor: usize,
}

/// A [`DiskStore`] as the map uses it, so the map's methods need no serde bounds.
trait SpilledEntries<K, V>: Send {
    fn len(&self) -> usize;
    fn take(&mut self, group: usize, key: &K) -> Option<V>;
    /// Writes `entries` to disk, telling `written` each one's key group, key and encoded value.
    fn put_all(&mut self, entries: Vec<(usize, K, V)>, written: &mut dyn FnMut(usize, &K, &[u8]));
    fn for_each(&self, group: usize, visit: &mut dyn FnMut(K, V));
    fn drain_group(&mut self, group: usize) -> Vec<(K, V)>;
    fn frozen(&self) -> FrozenEntries;
}

impl<K, V> SpilledEntries<K, V> for DiskStore<K, V>
where
    K: Hash + Eq + Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    fn len(&self) -> usize {
        DiskStore::len(self)
    }
    fn take(&mut self, group: usize, key: &K) -> Option<V> {
        DiskStore::take(self, group, key)
    }
    fn put_all(&mut self, entries: Vec<(usize, K, V)>, written: &mut dyn FnMut(usize, &K, &[u8])) {
        DiskStore::put_all(self, entries, written)
    }
    fn for_each(&self, group: usize, visit: &mut dyn FnMut(K, V)) {
        DiskStore::for_each(self, group, visit)
    }
    fn drain_group(&mut self, group: usize) -> Vec<(K, V)> {
        DiskStore::drain_group(self, group)
    }
    fn frozen(&self) -> FrozenEntries {
        DiskStore::frozen(self)
    }
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

impl<K: Hash + Eq + Clone, V> KeyGroupedMap<K, V> {
    /// An empty map for the key groups in `range` out of `max_parallelism`, on the heap.
    pub fn new(range: KeyGroupRange, max_parallelism: usize) -> Self {
        let groups = range.as_range().map(|_| HashTable::new()).collect();
        KeyGroupedMap {
            range,
            assigner: KeyGroupAssigner::new(max_parallelism),
            groups,
            len: 0,
            disk: None,
            changes: None,
        }
    }

    /// With incremental checkpoints: `key` of local key group `local` changed (or may have).
    #[inline]
    fn changed(&mut self, local: usize, hash: u64, key: &K) {
        if let Some(changes) = &mut self.changes {
            changes.mark(local, hash, key);
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

    /// With the disk backend: moves entries to disk while the heap holds its share, so one
    /// more entry fits.
    fn make_room(&mut self) {
        let Some(disk) = &mut self.disk else {
            return;
        };
        if self.len < disk.capacity {
            return;
        }
        let batch = (disk.capacity / 8).max(1);
        let mut moving = Vec::with_capacity(batch);
        let groups = self.groups.len();
        for step in 0..groups {
            let local = (disk.cursor + step) % groups;
            let group = self.range.start + local;
            let mut wanted = batch - moving.len();
            moving.extend(
                self.groups[local]
                    .extract_if(|_| {
                        let take = wanted > 0;
                        wanted = wanted.saturating_sub(1);
                        take
                    })
                    .map(|(key, value)| (group, key, value)),
            );
            if moving.len() == batch {
                disk.cursor = local;
                break;
            }
        }
        self.len -= moving.len();
        let first_group = self.range.start;
        let changes = &mut self.changes;
        disk.store.put_all(moving, &mut |group, key, value| {
            if let Some(changes) = changes.as_mut() {
                changes.moved(group - first_group, key, value);
            }
        });
    }

    /// With the disk backend: brings `key` back to the heap if it is on disk (making room
    /// first), so the heap's table answers for it.
    fn bring_back(&mut self, local: usize, hash: u64, key: &K) {
        if self.disk.is_none() || self.groups[local].find(hash, |(k, _)| k == key).is_some() {
            return;
        }
        self.make_room();
        let group = self.range.start + local;
        let disk = self.disk.as_mut().expect("checked above");
        if let Some(value) = disk.store.take(group, key) {
            self.groups[local].insert_unique(hash, (key.clone(), value), |(k, _)| key_hash(k));
            self.len += 1;
        }
    }

    /// With the disk backend, brings `key`'s entry back to the heap, so [`get`](Self::get)
    /// finds it; without, does nothing.
    pub fn load(&mut self, hash: u64, key: &K) {
        if self.disk.is_none() {
            return;
        }
        if let Ok(local) = self.local_index(hash) {
            self.bring_back(local, hash, key);
        }
    }

    /// The entry of `key`, whose stable hash is `hash`.
    #[inline]
    pub fn entry(&mut self, hash: u64, key: K) -> Result<KeyedEntry<'_, K, V>, ForeignKeyGroup> {
        let local = self.local_index(hash)?;
        self.bring_back(local, hash, &key);
        self.changed(local, hash, &key);
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

    /// Counts `key` as changed for incremental checkpoints (its value may change through a
    /// shared reference, as times to live refreshed on read do).
    pub fn mark_changed(&mut self, hash: u64, key: &K) {
        if self.changes.is_some() {
            if let Ok(local) = self.local_index(hash) {
                self.changed(local, hash, key);
            }
        }
    }

    /// The value of `key`, if present on the heap (with the disk backend, [`load`](Self::load)
    /// it first).
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
    ) -> Result<&mut V, ForeignKeyGroup> {
        let local = self.local_index(hash)?;
        self.bring_back(local, hash, key);
        self.changed(local, hash, key);
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
        self.bring_back(local, hash, key);
        self.changed(local, hash, key);
        self.groups[local]
            .find_mut(hash, |(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Removes `key` and returns its value, if present.
    pub fn remove(&mut self, hash: u64, key: &K) -> Option<V> {
        let local = self.local_index(hash).ok()?;
        self.changed(local, hash, key);
        match self.groups[local].find_entry(hash, |(k, _)| k == key) {
            Ok(entry) => {
                self.len -= 1;
                Some(entry.remove().0 .1)
            }
            Err(_) => {
                let group = self.range.start + local;
                self.disk.as_mut()?.store.take(group, key)
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len + self.disk.as_ref().map_or(0, |disk| disk.store.len())
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys whose value `wanted` returns true for, on the heap or on disk.
    pub fn keys_where(&self, mut wanted: impl FnMut(&V) -> bool) -> Vec<K> {
        let mut keys: Vec<K> = self
            .groups
            .iter()
            .flat_map(|table| table.iter())
            .filter(|(_, value)| wanted(value))
            .map(|(key, _)| key.clone())
            .collect();
        if let Some(disk) = &self.disk {
            for group in self.range.as_range() {
                disk.store.for_each(group, &mut |key, value| {
                    if wanted(&value) {
                        keys.push(key);
                    }
                });
            }
        }
        keys
    }

    /// Removes and yields every entry, key group by key group (with the disk backend, the
    /// entries on disk after those on the heap).
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.len = 0;
        if let Some(changes) = &mut self.changes {
            changes.forget();
        }
        let range = self.range;
        // Key group by key group, so no more than one key group's entries from disk are in
        // memory at once.
        let spilled = self.disk.as_mut().into_iter().flat_map(move |disk| {
            range
                .as_range()
                .flat_map(move |group| disk.store.drain_group(group))
        });
        self.groups
            .iter_mut()
            .flat_map(|table| table.drain())
            .chain(spilled)
    }
}

impl<K, V> KeyGroupedMap<K, V>
where
    K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
    V: Send + Serialize + DeserializeOwned + 'static,
{
    /// An empty map kept by `backend`: on the heap, or with the disk backend on the heap up to
    /// the backend's share and on disk beyond (`name` says which state, for the files).
    pub fn with_backend(
        range: KeyGroupRange,
        max_parallelism: usize,
        backend: &StateBackend,
        name: &str,
    ) -> Self {
        let mut map = Self::new(range, max_parallelism);
        if let StateBackend::Disk { backend, scope } = backend {
            map.disk = Some(DiskTier {
                store: Box::new(backend.store::<K, V>(name)),
                capacity: backend.cache_entries(),
                cursor: 0,
            });
            map.changes = scope
                .as_ref()
                .map(|scope| ChangedKeys::new(std::sync::Arc::clone(scope), map.groups.len()));
        }
        map
    }
}

impl<K, V> KeyGroupedMap<K, V>
where
    K: Hash + Eq + Clone + Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// The entries of every key group that has any, each key group written on its own (so a
    /// restore at another parallelism can hand it to whichever subtask owns it then). The
    /// bytes are the same whichever backend holds the map.
    pub fn snapshot(&mut self) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error>
    where
        V: 'static,
    {
        self.snapshot_pending()?.finish()
    }

    /// The map as it is now, encoded by [`PendingKeyedState::finish`]: with the disk backend
    /// the entries on the heap are encoded now and those on disk are read later from a frozen
    /// view of the LSM tree, so the map can change meanwhile (an asynchronous snapshot).
    pub fn snapshot_pending(&mut self) -> Result<PendingKeyedState, postcard::Error>
    where
        V: 'static,
    {
        self.snapshot_pending_where(None)
    }

    /// Like [`snapshot_pending`](Self::snapshot_pending), keeping only the entries whose value
    /// `keep` (which may change it) returns true for: entries on the heap that it drops are
    /// dropped from the map, entries on disk only from the snapshot (they are read later).
    pub fn snapshot_pending_where(
        &mut self,
        mut keep: Option<KeepEntry<V>>,
    ) -> Result<PendingKeyedState, postcard::Error>
    where
        V: 'static,
    {
        if let Some(keep) = keep.as_mut() {
            for (local, table) in self.groups.iter_mut().enumerate() {
                let before = table.len();
                let changes = &mut self.changes;
                table.retain(|(key, value)| {
                    let kept = keep(value);
                    if let (false, Some(changes)) = (kept, changes.as_mut()) {
                        changes.mark(local, key_hash(key), key);
                    }
                    kept
                });
                self.len -= before - table.len();
            }
        }
        let entries = self.len();
        if let Some(changes) = &mut self.changes {
            if let SnapshotPlan::Changes { base, keys } = changes.plan(entries) {
                return Ok(self.snapshot_changes(keys, keep)?.as_changes_since(base));
            }
        }
        let disk = match &self.disk {
            Some(disk) if disk.store.len() > 0 => disk.store.frozen(),
            _ => {
                let mut groups = BTreeMap::new();
                for (local, table) in self.groups.iter().enumerate() {
                    if !table.is_empty() {
                        // Written straight from the table, as a sequence the restore reads as
                        // a vector.
                        let bytes = postcard::to_stdvec(&TableEntries(table))?;
                        groups.insert(self.range.start + local, bytes);
                    }
                }
                return Ok(PendingKeyedState::ready(groups));
            }
        };
        let mut on_heap = Vec::with_capacity(self.groups.len());
        for table in &self.groups {
            let mut bytes = Vec::new();
            for entry in table.iter() {
                bytes = postcard::to_extend(entry, bytes)?;
            }
            on_heap.push((table.len(), bytes));
        }
        let first_group = self.range.start;
        Ok(PendingKeyedState::later(move || {
            let mut groups = BTreeMap::new();
            for (local, (heap_count, heap_bytes)) in on_heap.into_iter().enumerate() {
                let group = first_group + local;
                let mut spilled = Vec::new();
                let mut spilled_count = 0;
                let mut failure = None;
                disk.for_each_encoded(group, |key, value| match keep.as_mut() {
                    None => {
                        spilled.extend_from_slice(key);
                        spilled.extend_from_slice(value);
                        spilled_count += 1;
                    }
                    Some(keep) => {
                        let kept = postcard::from_bytes::<V>(value).and_then(|mut value| {
                            Ok(keep(&mut value).then_some(postcard::to_stdvec(&value)?))
                        });
                        match kept {
                            Ok(Some(value)) => {
                                spilled.extend_from_slice(key);
                                spilled.extend_from_slice(&value);
                                spilled_count += 1;
                            }
                            Ok(None) => {}
                            Err(error) => failure = Some(error),
                        }
                    }
                });
                if let Some(error) = failure {
                    return Err(error);
                }
                if heap_count + spilled_count == 0 {
                    continue;
                }
                // A postcard sequence is its length then its elements, and a pair its two
                // parts: the entries on disk are already encoded that way.
                let mut bytes = Vec::with_capacity(heap_bytes.len() + spilled.len() + 10);
                write_varint(heap_count + spilled_count, &mut bytes);
                bytes.extend_from_slice(&heap_bytes);
                bytes.extend_from_slice(&spilled);
                groups.insert(group, bytes);
            }
            Ok(groups)
        }))
    }

    /// The entries of `keys` (per local key group) as they are now, or their absence, as the
    /// changes an incremental snapshot writes: for every key group in the range a sequence of
    /// `(key, Some(value))` or `(key, None)` pairs. Entries on disk are read later from a
    /// frozen view, as in a whole snapshot.
    fn snapshot_changes(
        &self,
        keys: Vec<Vec<ChangedKey<K>>>,
        mut keep: Option<KeepEntry<V>>,
    ) -> Result<PendingKeyedState, postcard::Error>
    where
        V: 'static,
    {
        let on_disk_at_all = self.disk.as_ref().is_some_and(|d| d.store.len() > 0);
        // Per key group: pairs written now, and the encoded keys to look up on disk.
        let mut written = Vec::with_capacity(keys.len());
        let mut ask_disk = false;
        for (local, keys) in keys.into_iter().enumerate() {
            let table = &self.groups[local];
            let mut bytes = Vec::new();
            let mut count = 0;
            let mut on_disk = Vec::new();
            for ChangedKey { key, whereabouts } in keys {
                if let Some((key, value)) = table.find(key_hash(&key), |(k, _)| *k == key) {
                    bytes = postcard::to_extend(&(key, Some(value)), bytes)?;
                    count += 1;
                    continue;
                }
                match whereabouts {
                    Whereabouts::Moved(value) => {
                        bytes = postcard::to_extend(&key, bytes)?;
                        bytes.push(1);
                        bytes.extend_from_slice(&value);
                        count += 1;
                    }
                    Whereabouts::AskDisk if on_disk_at_all => {
                        on_disk.push(postcard::to_stdvec(&key)?);
                        ask_disk = true;
                    }
                    Whereabouts::Removed | Whereabouts::AskDisk => {
                        bytes = postcard::to_extend(&(&key, None::<&V>), bytes)?;
                        count += 1;
                    }
                }
            }
            written.push((count, bytes, on_disk));
        }
        let frozen = match &self.disk {
            Some(disk) if ask_disk => Some(disk.store.frozen()),
            _ => None,
        };
        let first_group = self.range.start;
        let finish = move || {
            let mut groups = BTreeMap::new();
            for (local, (mut count, heap_bytes, on_disk)) in written.into_iter().enumerate() {
                let mut spilled = Vec::new();
                for key in on_disk {
                    let found = frozen
                        .as_ref()
                        .and_then(|frozen| frozen.get(first_group + local, &key));
                    let value = match (found, keep.as_mut()) {
                        (Some(value), None) => Some(value),
                        (Some(value), Some(keep)) => {
                            let mut value: V = postcard::from_bytes(&value)?;
                            if keep(&mut value) {
                                Some(postcard::to_stdvec(&value)?)
                            } else {
                                None
                            }
                        }
                        (None, _) => None,
                    };
                    // A pair of the key and an option: the option's tag, then its value.
                    spilled.extend_from_slice(&key);
                    match value {
                        Some(value) => {
                            spilled.push(1);
                            spilled.extend_from_slice(&value);
                        }
                        None => spilled.push(0),
                    }
                    count += 1;
                }
                let mut bytes = Vec::with_capacity(heap_bytes.len() + spilled.len() + 10);
                write_varint(count, &mut bytes);
                bytes.extend_from_slice(&heap_bytes);
                bytes.extend_from_slice(&spilled);
                groups.insert(first_group + local, bytes);
            }
            Ok(groups)
        };
        Ok(if ask_disk {
            PendingKeyedState::later(finish)
        } else {
            PendingKeyedState::ready(finish()?)
        })
    }

    /// Takes back what a snapshot wrote for `key_group` and the changes written after it
    /// (with incremental checkpoints).
    pub fn restore_part(
        &mut self,
        key_group: usize,
        part: RestoredPart<'_>,
    ) -> Result<(), StateRestoreError> {
        if let Some(whole) = part.whole {
            self.restore(key_group, whole)?;
        }
        for changes in part.changes {
            let changes: Vec<(K, Option<V>)> = postcard::from_bytes(changes)
                .map_err(|error| StateRestoreError::Corrupt(key_group, error.to_string()))?;
            for (key, value) in changes {
                let hash = key_hash(&key);
                match value {
                    Some(value) => match self.entry(hash, key)? {
                        KeyedEntry::Occupied(existing) => *existing = value,
                        KeyedEntry::Vacant(vacant) => {
                            vacant.insert(value);
                        }
                    },
                    None => {
                        self.local_index(hash)?;
                        self.remove(hash, &key);
                    }
                }
            }
        }
        if let Some(changes) = &mut self.changes {
            changes.forget();
        }
        Ok(())
    }

    /// Adds the entries a [`snapshot`](Self::snapshot) wrote for `key_group`.
    pub fn restore(&mut self, key_group: usize, bytes: &[u8]) -> Result<(), StateRestoreError> {
        if let Some(changes) = &mut self.changes {
            changes.forget();
        }
        let entries: Vec<(K, V)> = postcard::from_bytes(bytes)
            .map_err(|error| StateRestoreError::Corrupt(key_group, error.to_string()))?;
        let Some((first, _)) = entries.first() else {
            return Ok(());
        };
        let local = self.local_index(key_hash(first))?;
        if self.disk.is_some() {
            // The keys of a key group are distinct and new to this map: no lookups needed.
            for (key, value) in entries {
                self.make_room();
                let hash = key_hash(&key);
                self.groups[local].insert_unique(hash, (key, value), |(k, _)| key_hash(k));
                self.len += 1;
            }
            return Ok(());
        }
        // Every entry belongs to the one key group: make room once instead of growing.
        self.groups[local].reserve(entries.len(), |(k, _)| key_hash(k));
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

/// Decides whether a snapshot keeps an entry (and may change its value first).
pub type KeepEntry<V> = Box<dyn FnMut(&mut V) -> bool + Send>;

/// Appends `value` as postcard encodes a length (LEB128).
fn write_varint(mut value: usize, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
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
    fn disk_backend(name: &str, cache_entries: usize) -> StateBackend {
        let dir =
            std::env::temp_dir().join(format!("strom-keyed-map-{name}-{}", std::process::id()));
        StateBackend::disk(crate::state_backend::DiskBackend::open(&dir, cache_entries).unwrap())
    }

    fn decoded(snapshot: &BTreeMap<usize, Vec<u8>>) -> Vec<(u64, String)> {
        let mut all: Vec<(u64, String)> = snapshot
            .values()
            .flat_map(|bytes| postcard::from_bytes::<Vec<(u64, String)>>(bytes).unwrap())
            .collect();
        all.sort();
        all
    }

    #[test]
    fn with_the_disk_backend_the_heap_holds_its_share_and_nothing_is_lost() {
        let range = KeyGroupRange { start: 0, end: 128 };
        let backend = disk_backend("share", 16);
        let mut on_disk = KeyGroupedMap::<u64, String>::with_backend(range, 128, &backend, "test");
        let mut on_heap = KeyGroupedMap::<u64, String>::new(range, 128);
        for round in 0..3 {
            for n in 0..500u64 {
                for map in [&mut on_disk, &mut on_heap] {
                    let value = map
                        .get_or_insert_with(key_hash(&n), &n, String::new)
                        .unwrap();
                    value.push_str(&round.to_string());
                }
            }
        }
        assert!(on_disk.len <= 16, "the heap holds {} entries", on_disk.len);
        assert_eq!(on_disk.len(), 500);
        assert_eq!(
            on_disk.get_mut(key_hash(&7), &7).map(|v| v.clone()),
            Some("012".to_string())
        );
        assert_eq!(on_disk.remove(key_hash(&8), &8), Some("012".to_string()));
        assert_eq!(on_heap.remove(key_hash(&8), &8), Some("012".to_string()));
        assert_eq!(on_disk.len(), 499);
        // Same snapshot bytes' content as the heap map, and a restore (into either backend)
        // gives the same entries back.
        let snapshot = on_disk.snapshot().unwrap();
        assert_eq!(decoded(&snapshot), decoded(&on_heap.snapshot().unwrap()));
        let mut restored =
            KeyGroupedMap::<u64, String>::with_backend(range, 128, &backend, "restored");
        for (&group, bytes) in &snapshot {
            restored.restore(group, bytes).unwrap();
        }
        assert_eq!(restored.len(), 499);
        assert_eq!(decoded(&restored.snapshot().unwrap()), decoded(&snapshot));
        // A filtered snapshot and key listing reach the entries on disk too.
        let short = restored
            .snapshot_pending_where(Some(Box::new(|value: &mut String| value.len() < 3)))
            .unwrap();
        assert!(decoded(&short.finish().unwrap()).is_empty());
        let mut odd = on_disk.keys_where(|_| true);
        odd.retain(|n| n % 2 == 1);
        assert_eq!(odd.len(), 250);
        let mut drained: Vec<(u64, String)> = on_disk.drain().collect();
        drained.sort();
        assert_eq!(drained.len(), 499);
        assert_eq!(drained[0], (0, "012".to_string()));
        assert!(on_disk.is_empty());
    }
    /// Restores what a chain of snapshots (oldest first, each whole or changes since the one
    /// before) holds into a new heap map.
    fn replay(chain: &[(bool, BTreeMap<usize, Vec<u8>>)]) -> Vec<(u64, String)> {
        let range = KeyGroupRange { start: 0, end: 128 };
        let mut map = KeyGroupedMap::<u64, String>::new(range, 128);
        for (changes, snapshot) in chain {
            for (&group, bytes) in snapshot {
                let part = if *changes {
                    RestoredPart {
                        whole: None,
                        changes: std::slice::from_ref(bytes),
                    }
                } else {
                    RestoredPart::from_whole(bytes)
                };
                map.restore_part(group, part).unwrap();
            }
        }
        decoded(&map.snapshot().unwrap())
    }

    #[test]
    fn incremental_snapshots_hold_the_changes_since_the_last_completed_checkpoint() {
        use crate::state_backend::DiskBackend;
        let range = KeyGroupRange { start: 0, end: 128 };
        let dir = std::env::temp_dir().join(format!("strom-keyed-map-incr-{}", std::process::id()));
        let backend = StateBackend::disk(
            DiskBackend::open(&dir, 8)
                .unwrap()
                .with_incremental_checkpoints(true),
        )
        .for_operator(true);
        let scope = backend.snapshot_scope().expect("incremental");
        let mut map = KeyGroupedMap::<u64, String>::with_backend(range, 128, &backend, "test");
        let mut reference = KeyGroupedMap::<u64, String>::new(range, 128);
        let set = |maps: [&mut KeyGroupedMap<u64, String>; 2], n: u64, value: &str| {
            for map in maps {
                *map.get_or_insert_with(key_hash(&n), &n, String::new)
                    .unwrap() = value.into();
            }
        };
        for n in 0..300 {
            set([&mut map, &mut reference], n, "a");
        }
        // Checkpoint 1 is whole (nothing completed yet) and completes.
        scope.begin(1, false);
        let first = map.snapshot_pending().unwrap();
        assert_eq!(first.base(), None);
        let first = first.finish().unwrap();
        assert_eq!(
            replay(&[(false, first.clone())]),
            decoded(&reference.snapshot().unwrap())
        );
        scope.completed(1);
        // Checkpoint 2 holds the changes since 1 (some on disk by then), but fails.
        for n in 0..20 {
            set([&mut map, &mut reference], n, "b");
        }
        for n in 20..30 {
            map.remove(key_hash(&n), &n);
            reference.remove(key_hash(&n), &n);
        }
        for n in 300..310 {
            set([&mut map, &mut reference], n, "new");
        }
        scope.begin(2, false);
        let second = map.snapshot_pending().unwrap();
        assert_eq!(second.base(), Some(1));
        let second = second.finish().unwrap();
        assert_eq!(second.len(), 128, "every key group is written");
        let written: Vec<(u64, Option<String>)> = second
            .values()
            .flat_map(|bytes| postcard::from_bytes::<Vec<(u64, Option<String>)>>(bytes).unwrap())
            .collect();
        assert_eq!(written.len(), 40, "only the changed keys: {written:?}");
        assert!(written.contains(&(25, None)) && written.contains(&(305, Some("new".into()))));
        // Checkpoint 3 builds on 1 still: it holds the changes of 2 as well as its own.
        for n in 40..45 {
            set([&mut map, &mut reference], n, "c");
        }
        scope.begin(3, false);
        let third = map.snapshot_pending().unwrap();
        assert_eq!(third.base(), Some(1));
        let third = third.finish().unwrap();
        let expected = decoded(&reference.snapshot().unwrap());
        assert_eq!(
            replay(&[(false, first.clone()), (true, third.clone())]),
            expected
        );
        scope.completed(3);
        // Checkpoint 4 builds on 3: the changes since 3 only.
        set([&mut map, &mut reference], 7, "d");
        scope.begin(4, false);
        let fourth = map.snapshot_pending().unwrap();
        assert_eq!(fourth.base(), Some(3));
        let fourth = fourth.finish().unwrap();
        let count: usize = fourth
            .values()
            .map(|b| {
                postcard::from_bytes::<Vec<(u64, Option<String>)>>(b)
                    .unwrap()
                    .len()
            })
            .sum();
        assert_eq!(count, 1);
        assert_eq!(
            replay(&[(false, first), (true, third), (true, fourth)]),
            decoded(&reference.snapshot().unwrap())
        );
        // A savepoint is whole; so is a snapshot once the changes written since the last whole
        // one would outnumber the entries.
        scope.begin(5, true);
        assert_eq!(map.snapshot_pending().unwrap().base(), None);
        scope.completed(5);
        // Every one of the 310 entries changes: one snapshot of changes may hold that much.
        for n in 0..310 {
            set([&mut map, &mut reference], n, "e");
        }
        scope.begin(6, false);
        assert_eq!(map.snapshot_pending().unwrap().base(), Some(5));
        scope.completed(6);
        set([&mut map, &mut reference], 1, "f");
        scope.begin(7, false);
        let seventh = map.snapshot_pending().unwrap();
        assert_eq!(seventh.base(), None);
        assert_eq!(
            replay(&[(false, seventh.finish().unwrap())]),
            decoded(&reference.snapshot().unwrap())
        );
    }

    #[test]
    fn a_pending_snapshot_of_the_disk_backend_keeps_the_state_of_its_moment() {
        let range = KeyGroupRange { start: 0, end: 128 };
        let backend = disk_backend("pending", 8);
        let mut map = KeyGroupedMap::<u64, String>::with_backend(range, 128, &backend, "test");
        let mut reference = KeyGroupedMap::<u64, String>::new(range, 128);
        for n in 0..300u64 {
            for map in [&mut map, &mut reference] {
                map.get_or_insert_with(key_hash(&n), &n, || format!("v{n}"))
                    .unwrap();
            }
        }
        let pending = map.snapshot_pending().unwrap();
        // The map goes on changing: entries move between heap and disk, change and go.
        for n in 0..400u64 {
            map.get_or_insert_with(key_hash(&n), &n, String::new)
                .unwrap()
                .push('!');
        }
        for n in 0..100u64 {
            map.remove(key_hash(&n), &n);
        }
        assert_eq!(
            decoded(&pending.finish().unwrap()),
            decoded(&reference.snapshot().unwrap())
        );
    }
}
