//! State backends: where keyed state lives (Flink's `state.backend.type`).
//!
//! `hashmap` (the default) keeps every key's state on the heap. `disk` keeps at most a fixed
//! number of entries per state on the heap and the rest in an embedded LSM tree (the `fjall`
//! crate, pure Rust; see ARCHITECTURE.md for why), so a job's keyed state can be far larger
//! than its memory. Either way the state is written to checkpoints in the same per-key-group
//! format, so a checkpoint or savepoint taken with one backend restores into the other.
//!
//! The disk backend's files are scratch space, not durable state: a job rebuilds them from
//! its latest checkpoint when it restarts, as Flink does with RocksDB's local directory.

use std::hash::Hash;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, Readable, Snapshot};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::snapshot_scope::SnapshotScope;

/// The LSM tree's cache of decoded blocks, shared by all states of a job run.
const BLOCK_CACHE_BYTES: u64 = 16 << 20;
/// Entries a state's LSM tree buffers in memory before it writes them to a file.
const MEMTABLE_BYTES: u64 = 8 << 20;
/// Bytes of buffered entries (all states of a job run) above which writers wait for the LSM
/// tree's background threads to write them out, so memory stays bounded when they lag.
const WRITE_BUFFER_LIMIT: u64 = 64 << 20;
/// The longest a writer waits for that; a stalled disk must not hang the job.
const WRITE_BUFFER_WAIT: Duration = Duration::from_secs(10);

/// Where a job's keyed state lives.
#[derive(Clone, Default)]
pub enum StateBackend {
    /// On the heap (Flink's `hashmap`).
    #[default]
    HashMap,
    /// On the heap up to a number of entries per state, the rest on local disk.
    Disk {
        /// The job run's database.
        backend: Arc<DiskBackend>,
        /// With incremental checkpoints: the operator subtask's checkpoints, which its maps
        /// read to write only their changes.
        scope: Option<Arc<SnapshotScope>>,
    },
}

impl StateBackend {
    /// The disk backend on `backend`, for a job run (see [`for_operator`](Self::for_operator)).
    pub fn disk(backend: DiskBackend) -> Self {
        StateBackend::Disk {
            backend: Arc::new(backend),
            scope: None,
        }
    }

    /// The backend as one operator subtask uses it: with incremental checkpoints, in a job
    /// that `checkpoints`, with a [`SnapshotScope`] of its own (without checkpoints nothing
    /// tracks changes).
    pub fn for_operator(&self, checkpoints: bool) -> Self {
        match self {
            StateBackend::Disk { backend, .. } => StateBackend::Disk {
                backend: Arc::clone(backend),
                scope: (backend.incremental && checkpoints)
                    .then(|| Arc::new(SnapshotScope::default())),
            },
            heap => heap.clone(),
        }
    }

    /// The operator subtask's checkpoints, when its state writes incremental snapshots.
    pub fn snapshot_scope(&self) -> Option<&SnapshotScope> {
        match self {
            StateBackend::Disk { scope, .. } => scope.as_deref(),
            StateBackend::HashMap => None,
        }
    }
}

impl std::fmt::Debug for StateBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateBackend::HashMap => f.write_str("hashmap"),
            StateBackend::Disk { backend, .. } => write!(
                f,
                "disk at {} ({} entries on the heap per state{})",
                backend.directory.display(),
                backend.cache_entries,
                if backend.incremental {
                    ", incremental checkpoints"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Why the disk backend could not start.
#[derive(Debug, thiserror::Error)]
#[error("the disk state backend cannot use {path}: {message}")]
pub struct StateBackendError {
    /// The directory it was given.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// The embedded LSM database that holds the disk backend's entries for one job run.
pub struct DiskBackend {
    database: Database,
    directory: PathBuf,
    cache_entries: usize,
    incremental: bool,
    next_store: AtomicU64,
}

impl DiskBackend {
    /// Opens a fresh database in `directory` (created; removed again when the backend is
    /// dropped), keeping at most `cache_entries` entries per state on the heap.
    pub fn open(directory: &Path, cache_entries: usize) -> Result<Self, StateBackendError> {
        let fail = |message: String| StateBackendError {
            path: directory.to_path_buf(),
            message,
        };
        if directory.exists() {
            std::fs::remove_dir_all(directory).map_err(|error| fail(error.to_string()))?;
        }
        std::fs::create_dir_all(directory).map_err(|error| fail(error.to_string()))?;
        let database = Database::builder(directory)
            .temporary(true)
            .manual_journal_persist(true)
            .cache_size(BLOCK_CACHE_BYTES)
            .open()
            .map_err(|error| fail(error.to_string()))?;
        Ok(DiskBackend {
            database,
            directory: directory.to_path_buf(),
            cache_entries: cache_entries.max(1),
            incremental: false,
            next_store: AtomicU64::new(0),
        })
    }

    /// Whether checkpoints write only what changed since the last completed one (Flink's
    /// `execution.checkpointing.incremental`).
    pub fn with_incremental_checkpoints(mut self, incremental: bool) -> Self {
        self.incremental = incremental;
        self
    }

    /// Entries each state keeps on the heap.
    pub fn cache_entries(&self) -> usize {
        self.cache_entries
    }

    /// A new, empty store for one state of one operator subtask (`name` says which, for the
    /// files' names).
    pub(crate) fn store<K, V>(&self, name: &str) -> DiskStore<K, V> {
        let number = self.next_store.fetch_add(1, Ordering::Relaxed);
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(200)
            .collect();
        let keyspace = self
            .database
            .keyspace(&format!("{number}-{safe}"), || {
                KeyspaceCreateOptions::default()
                    .manual_journal_persist(true)
                    .max_memtable_size(MEMTABLE_BYTES)
            })
            .unwrap_or_else(|error| disk_failure(&error));
        DiskStore {
            database: self.database.clone(),
            keyspace: Some(keyspace),
            len: 0,
            _types: PhantomData,
        }
    }
}

/// A disk failure while a task runs: the task fails (naming its operator and subtask) and the
/// job restarts from its latest checkpoint as its restart strategy allows, as Flink does when
/// RocksDB fails.
fn disk_failure(error: &dyn std::fmt::Display) -> ! {
    panic!("the disk state backend failed: {error}")
}

/// The entries of one state that are not on the heap, keyed by key group (two bytes, big
/// endian, so a key group's entries are one range) and the key's postcard encoding.
pub(crate) struct DiskStore<K, V> {
    database: Database,
    keyspace: Option<Keyspace>,
    len: usize,
    _types: PhantomData<fn() -> (K, V)>,
}

/// The key of an entry on disk: its key group, then the key's encoding.
fn disk_key<K: Serialize>(group: usize, key: &K) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&(group as u16).to_be_bytes());
    postcard::to_io(key, &mut bytes).unwrap_or_else(|error| disk_failure(&error));
    bytes
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> T {
    postcard::from_bytes(bytes).unwrap_or_else(|error| disk_failure(&error))
}

impl<K, V> DiskStore<K, V>
where
    K: Hash + Eq + Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    fn keyspace(&self) -> &Keyspace {
        self.keyspace.as_ref().expect("present until dropped")
    }

    /// Entries on disk.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Removes `key` of `group` from disk and returns its value, if it is there.
    pub(crate) fn take(&mut self, group: usize, key: &K) -> Option<V> {
        if self.len == 0 {
            return None;
        }
        let disk_key = disk_key(group, key);
        let keyspace = self.keyspace();
        let bytes = keyspace
            .get(&disk_key)
            .unwrap_or_else(|error| disk_failure(&error))?;
        keyspace
            .remove(disk_key)
            .unwrap_or_else(|error| disk_failure(&error));
        self.len -= 1;
        Some(decode(&bytes))
    }

    /// Writes `entries` (none of them on disk yet) to disk, telling `written` each one's key
    /// group, key and encoded value.
    pub(crate) fn put_all(
        &mut self,
        entries: impl IntoIterator<Item = (usize, K, V)>,
        written: &mut dyn FnMut(usize, &K, &[u8]),
    ) {
        let keyspace = self.keyspace().clone();
        let mut batch = self.database.batch();
        let mut count = 0;
        for (group, key, value) in entries {
            let value = postcard::to_stdvec(&value).unwrap_or_else(|error| disk_failure(&error));
            written(group, &key, &value);
            batch.insert(&keyspace, disk_key(group, &key), value);
            count += 1;
        }
        batch.commit().unwrap_or_else(|error| disk_failure(&error));
        self.len += count;
        let started = Instant::now();
        while self.database.write_buffer_size() > WRITE_BUFFER_LIMIT
            && started.elapsed() < WRITE_BUFFER_WAIT
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Calls `visit` with the encoding of every entry of `group` on disk, as postcard encodes
    /// a `(K, V)` pair (the key's bytes, then the value's).
    pub(crate) fn for_each_encoded(&self, group: usize, mut visit: impl FnMut(&[u8], &[u8])) {
        if self.len == 0 {
            return;
        }
        for guard in self.keyspace().prefix((group as u16).to_be_bytes()) {
            let (key, value) = guard
                .into_inner()
                .unwrap_or_else(|error| disk_failure(&error));
            visit(&key[2..], &value);
        }
    }

    /// The entries on disk as they are now, readable while the store changes (for a snapshot
    /// finished on another thread).
    pub(crate) fn frozen(&self) -> FrozenEntries {
        FrozenEntries {
            snapshot: self.database.snapshot(),
            keyspace: self.keyspace().clone(),
            _database: self.database.clone(),
        }
    }

    /// Calls `visit` with every entry of `group` on disk.
    pub(crate) fn for_each(&self, group: usize, mut visit: impl FnMut(K, V)) {
        self.for_each_encoded(group, |key, value| visit(decode(key), decode(value)));
    }

    /// Removes every entry of `group` from disk and returns them.
    pub(crate) fn drain_group(&mut self, group: usize) -> Vec<(K, V)> {
        let mut entries = Vec::new();
        let mut keys = Vec::new();
        self.for_each_encoded(group, |key, value| {
            keys.push(key.to_vec());
            entries.push((decode(key), decode(value)));
        });
        let keyspace = self.keyspace().clone();
        let mut batch = self.database.batch();
        for key in keys {
            let mut full = (group as u16).to_be_bytes().to_vec();
            full.extend_from_slice(&key);
            batch.remove(&keyspace, full);
        }
        batch.commit().unwrap_or_else(|error| disk_failure(&error));
        self.len -= entries.len();
        entries
    }
}

impl<K, V> Drop for DiskStore<K, V> {
    fn drop(&mut self) {
        if let Some(keyspace) = self.keyspace.take() {
            // Scratch space: a failure to delete only leaves files for the directory's removal.
            let _ = self.database.delete_keyspace(keyspace);
        }
    }
}

/// A store's entries on disk as of one moment.
pub(crate) struct FrozenEntries {
    snapshot: Snapshot,
    keyspace: Keyspace,
    /// Keeps the database's files while the view is read.
    _database: Database,
}

impl FrozenEntries {
    /// The encoded value of the key `key` (encoded) of `group`, if it was on disk.
    pub(crate) fn get(&self, group: usize, key: &[u8]) -> Option<Vec<u8>> {
        let mut disk_key = Vec::with_capacity(2 + key.len());
        disk_key.extend_from_slice(&(group as u16).to_be_bytes());
        disk_key.extend_from_slice(key);
        self.snapshot
            .get(&self.keyspace, disk_key)
            .unwrap_or_else(|error| disk_failure(&error))
            .map(|value| value.to_vec())
    }

    /// Calls `visit` with the encoding of every entry of `group`, as
    /// [`DiskStore::for_each_encoded`] does.
    pub(crate) fn for_each_encoded(&self, group: usize, mut visit: impl FnMut(&[u8], &[u8])) {
        for guard in self
            .snapshot
            .prefix(&self.keyspace, (group as u16).to_be_bytes())
        {
            let (key, value) = guard
                .into_inner()
                .unwrap_or_else(|error| disk_failure(&error));
            visit(&key[2..], &value);
        }
    }
}
