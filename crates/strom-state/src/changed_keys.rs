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

use std::hash::Hash;
use std::sync::Arc;

use hashbrown::HashTable;
use strom_core::key_group::key_hash;
use strom_core::CheckpointId;

use crate::snapshot_scope::SnapshotScope;

/// Snapshots of changes in a row at most: the checkpoints a restore reads for one state.
pub(crate) const MAX_CHANGE_SNAPSHOTS: usize = 20;

/// The keys a map changed, by local key group, since checkpoints it may build on.
pub(crate) struct ChangedKeys<K> {
    scope: Arc<SnapshotScope>,
    /// Keys changed since the last snapshot.
    current: Vec<HashTable<K>>,
    /// Keys changed up to each snapshot taken after the newest base, labelled with its
    /// checkpoint, oldest first.
    by_checkpoint: Vec<(CheckpointId, Vec<HashTable<K>>)>,
    /// Every change since this checkpoint's snapshot is recorded (0: since the map was
    /// created empty); `None`: not every change since any checkpoint is.
    complete_since: Option<CheckpointId>,
    /// Snapshots of changes since the last whole one.
    change_snapshots: usize,
    /// Entries those snapshots wrote.
    changes_written: usize,
}

/// What a snapshot of the map writes.
pub(crate) enum SnapshotPlan<K> {
    /// Every entry.
    Whole,
    /// The entries of these keys (per local key group), as changes since checkpoint `base`.
    Changes {
        base: CheckpointId,
        keys: Vec<Vec<K>>,
    },
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
        }
    }

    /// `key` (of local key group `local`, stable hash `hash`) changed or may have.
    #[inline]
    pub(crate) fn mark(&mut self, local: usize, hash: u64, key: &K) {
        if let hashbrown::hash_table::Entry::Vacant(vacant) =
            self.current[local].entry(hash, |k| k == key, |k| key_hash(k))
        {
            vacant.insert(key.clone());
        }
    }

    /// The map changed in ways not recorded (restored, emptied): the next snapshot is whole.
    pub(crate) fn forget(&mut self) {
        self.current.iter_mut().for_each(HashTable::clear);
        self.by_checkpoint.clear();
        self.complete_since = None;
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
        self.by_checkpoint.push((checkpoint, current));
        if let [(_, only)] = self.by_checkpoint.as_slice() {
            let keys = only
                .iter()
                .map(|set| set.iter().cloned().collect())
                .collect();
            return SnapshotPlan::Changes { base, keys };
        }
        let keys = (0..groups)
            .map(|local| {
                let mut union: HashTable<K> = HashTable::new();
                for (_, sets) in &self.by_checkpoint {
                    for key in sets[local].iter() {
                        let hash = key_hash(key);
                        if let hashbrown::hash_table::Entry::Vacant(vacant) =
                            union.entry(hash, |k| k == key, |k| key_hash(k))
                        {
                            vacant.insert(key.clone());
                        }
                    }
                }
                union.into_iter().collect()
            })
            .collect();
        SnapshotPlan::Changes { base, keys }
    }
}
