//! Which keys of a map changed since which checkpoint: what an incremental checkpoint of the
//! map writes instead of every entry.
//!
//! Keys changed since the last snapshot are collected per key group. At a snapshot they are
//! kept, labelled with that checkpoint, until a later snapshot builds on a completed
//! checkpoint at or after it: changes since the base are then the labelled sets after the
//! base plus the keys changed since. When the map cannot tell what changed since the base
//! (it was restored or emptied since, or the base is older than what it tracks), the snapshot
//! is whole and tracking starts again from it. So that a restore never reads much more than
//! the state itself, a snapshot is whole too once the changes written since the last whole one
//! would outnumber the entries, or after [`MAX_CHANGE_SNAPSHOTS`] snapshots of changes.
//!
//! With the disk backend a changed entry may move to disk before the snapshot; its encoded
//! value is kept with the key then (up to [`CAPTURED_BYTES_LIMIT`] per map), so the snapshot
//! does not have to look it up in the LSM tree.

use std::hash::Hash;
use std::sync::Arc;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use strom_core::key_group::key_hash;
use strom_core::CheckpointId;

use crate::snapshot_scope::SnapshotScope;

/// Snapshots of changes in a row at most: the checkpoints a restore reads for one state.
pub(crate) const MAX_CHANGE_SNAPSHOTS: usize = 20;

/// Bytes of values of changed entries moved to disk that a map keeps for its next snapshot;
/// beyond, the snapshot reads them from disk.
pub(crate) const CAPTURED_BYTES_LIMIT: usize = 8 << 20;

/// A key that changed.
struct Changed<K> {
    key: K,
    /// Its value's encoding, if the entry moved to disk after its last change.
    moved: Option<Vec<u8>>,
}

/// Changed keys of one key group.
type ChangedSet<K> = HashTable<Changed<K>>;

/// The keys a map changed, by local key group, since checkpoints it may build on.
pub(crate) struct ChangedKeys<K> {
    scope: Arc<SnapshotScope>,
    /// Keys changed since the last snapshot.
    current: Vec<ChangedSet<K>>,
    /// Keys changed up to each snapshot taken after the newest base, labelled with its
    /// checkpoint, oldest first.
    by_checkpoint: Vec<(CheckpointId, Vec<ChangedSet<K>>)>,
    /// Every change since this checkpoint's snapshot is recorded (0: since the map was
    /// created empty); `None`: not every change since any checkpoint is.
    complete_since: Option<CheckpointId>,
    /// Snapshots of changes since the last whole one.
    change_snapshots: usize,
    /// Entries those snapshots wrote.
    changes_written: usize,
    /// Bytes of values kept in `current`.
    captured_bytes: usize,
}

/// What a snapshot of the map writes.
pub(crate) enum SnapshotPlan<K> {
    /// Every entry.
    Whole,
    /// The entries of these keys (per local key group), as changes since checkpoint `base`.
    Changes {
        base: CheckpointId,
        keys: Vec<Vec<ChangedKey<K>>>,
    },
}

/// A key a snapshot of changes writes, and where its value is when not on the heap.
pub(crate) struct ChangedKey<K> {
    pub(crate) key: K,
    pub(crate) whereabouts: Whereabouts,
}

/// Where a changed key's value is if the heap does not have it.
pub(crate) enum Whereabouts {
    /// Nowhere: the key was removed.
    Removed,
    /// Moved to disk with this encoding, unchanged since.
    Moved(Vec<u8>),
    /// On disk, or removed: the disk tells.
    AskDisk,
}

impl<K: Hash + Eq + Clone> ChangedKeys<K> {
    /// Tracking for a new, empty map of `groups` key groups.
    pub(crate) fn new(scope: Arc<SnapshotScope>, groups: usize) -> Self {
        ChangedKeys {
            scope,
            current: (0..groups).map(|_| HashTable::new()).collect(),
            by_checkpoint: Vec::new(),
            complete_since: Some(0),
            change_snapshots: 0,
            changes_written: 0,
            captured_bytes: 0,
        }
    }

    /// `key` (of local key group `local`, stable hash `hash`) changed or may have; its entry
    /// is on the heap or gone.
    #[inline]
    pub(crate) fn mark(&mut self, local: usize, hash: u64, key: &K) {
        match self.current[local].entry(hash, |c| c.key == *key, |c| key_hash(&c.key)) {
            Entry::Vacant(vacant) => {
                vacant.insert(Changed {
                    key: key.clone(),
                    moved: None,
                });
            }
            Entry::Occupied(mut occupied) => {
                if let Some(bytes) = occupied.get_mut().moved.take() {
                    self.captured_bytes -= bytes.len();
                }
            }
        }
    }

    /// The entry of `key` moved to disk with `value` as its encoding.
    #[inline]
    pub(crate) fn moved(&mut self, local: usize, key: &K, value: &[u8]) {
        if self.captured_bytes + value.len() > CAPTURED_BYTES_LIMIT {
            return;
        }
        let hash = key_hash(key);
        if let Some(changed) = self.current[local].find_mut(hash, |c| c.key == *key) {
            self.captured_bytes += value.len();
            if let Some(old) = changed.moved.replace(value.to_vec()) {
                self.captured_bytes -= old.len();
            }
        }
    }

    /// The map changed in ways not recorded (restored, emptied): the next snapshot is whole.
    pub(crate) fn forget(&mut self) {
        self.current.iter_mut().for_each(HashTable::clear);
        self.by_checkpoint.clear();
        self.complete_since = None;
        self.captured_bytes = 0;
    }

    /// What the snapshot now being taken writes, for a map of `entries` entries.
    pub(crate) fn plan(&mut self, entries: usize) -> SnapshotPlan<K> {
        let (checkpoint, base) = self.scope.current();
        if let (Some(base), Some(since)) = (base, self.complete_since) {
            if base >= since {
                self.by_checkpoint.retain(|(id, _)| *id > base);
                let changed: usize = self
                    .by_checkpoint
                    .iter()
                    .flat_map(|(_, groups)| groups)
                    .chain(&self.current)
                    .map(HashTable::len)
                    .sum();
                if self.change_snapshots < MAX_CHANGE_SNAPSHOTS
                    && self.changes_written + changed <= entries
                {
                    self.change_snapshots += 1;
                    self.changes_written += changed;
                    return self.changes_since(checkpoint, base);
                }
            }
        }
        self.forget();
        self.complete_since = Some(checkpoint);
        self.change_snapshots = 0;
        self.changes_written = 0;
        SnapshotPlan::Whole
    }

    fn changes_since(&mut self, checkpoint: CheckpointId, base: CheckpointId) -> SnapshotPlan<K> {
        let groups = self.current.len();
        let current = std::mem::replace(
            &mut self.current,
            (0..groups).map(|_| HashTable::new()).collect(),
        );
        self.captured_bytes = 0;
        self.by_checkpoint.push((checkpoint, current));
        let newest = self.by_checkpoint.len() - 1;
        let keys = (0..groups)
            .map(|local| {
                // Each key as the newest set that holds it says; only that set knows all that
                // happened to the key since it changed last.
                let mut union: HashTable<ChangedKey<K>> = HashTable::new();
                for (index, (_, sets)) in self.by_checkpoint.iter().enumerate().rev() {
                    for changed in sets[local].iter() {
                        let hash = key_hash(&changed.key);
                        if let Entry::Vacant(vacant) =
                            union.entry(hash, |c| c.key == changed.key, |c| key_hash(&c.key))
                        {
                            let whereabouts = match (&changed.moved, index == newest) {
                                (Some(bytes), _) => Whereabouts::Moved(bytes.clone()),
                                (None, true) => Whereabouts::Removed,
                                // Unchanged since an earlier snapshot: it may have moved.
                                (None, false) => Whereabouts::AskDisk,
                            };
                            vacant.insert(ChangedKey {
                                key: changed.key.clone(),
                                whereabouts,
                            });
                        }
                    }
                }
                union.into_iter().collect()
            })
            .collect();
        SnapshotPlan::Changes { base, keys }
    }
}
