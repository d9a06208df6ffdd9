//! Completed checkpoints in `state.checkpoints.dir` (a local directory or an object store; see
//! [`Location`]): a directory per job, in it one directory per checkpoint (`chk-<id>`) holding
//! `_metadata`, a self-describing file with every operator's state, keyed state by key group.
//!
//! The file starts with a magic word, a format version, the length of the state and its CRC32
//! checksum, so a file that is not a checkpoint, was written by another format version, is
//! truncated or was corrupted is recognised and named in the error. A checkpoint is written
//! whole or not at all (locally: a temporary file renamed into place), so a crash while
//! writing never leaves a half-written `_metadata`. Only the newest `retained` checkpoints are kept, with the earlier
//! checkpoints they build on (incremental checkpoints list those in `_references`, written
//! before `_metadata`); reading a checkpoint reads those too, from the same job directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint_chain::{direct_bases, resolve};
use crate::checkpoint_coordinator::CompletedCheckpoint;
use crate::checkpoint_location::Location;

/// The first bytes of every checkpoint file.
const MAGIC: &[u8; 8] = b"STROMCHK";
/// The format this build writes and reads.
const VERSION: u32 = 4;
/// Magic, version, state length and checksum.
const HEADER_BYTES: usize = 8 + 4 + 8 + 4;
/// The file of a checkpoint directory.
const METADATA: &str = "_metadata";
/// The checkpoints (ids, one per line) an incremental checkpoint builds on.
const REFERENCES: &str = "_references";

/// Why a checkpoint could not be read; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointReadError {
    /// The file is missing or unreadable.
    #[error("checkpoint {path} cannot be read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The file does not start like a checkpoint.
    #[error("{path} is not a Strom checkpoint")]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
    },
    /// The file was written in a format this build does not read.
    #[error("checkpoint {path} has format version {found}; this Strom reads version {VERSION}")]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// The file ends before its state does.
    #[error("checkpoint {path} is truncated: {found} of {expected} bytes of state")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The state's checksum does not match.
    #[error("checkpoint {path} is corrupted: its checksum does not match its contents")]
    Corrupted {
        /// The file.
        path: PathBuf,
    },
    /// The state does not decode.
    #[error("checkpoint {path} cannot be decoded: {message}")]
    Undecodable {
        /// The file.
        path: PathBuf,
        /// The decoder's reason.
        message: String,
    },
    /// An incremental checkpoint builds on a checkpoint that cannot be read.
    #[error("checkpoint {path} builds on checkpoint {base}, which cannot be read: {reason}")]
    Base {
        /// The checkpoint's file.
        path: PathBuf,
        /// The checkpoint it builds on.
        base: u64,
        /// Why that one cannot be read.
        reason: String,
    },
    /// A directory holds no checkpoint that can be read.
    #[error("{path} holds no readable checkpoint{}", newest.as_ref().map_or(String::new(), |e| format!(" (the newest: {e})")))]
    NoCheckpoint {
        /// The directory.
        path: PathBuf,
        /// Why the newest checkpoint in it could not be read, if there was one.
        newest: Option<Box<CheckpointReadError>>,
    },
}

/// Where one job's checkpoints go.
#[derive(Debug, Clone)]
pub struct CheckpointStorage {
    job: Location,
    retained: usize,
}

impl CheckpointStorage {
    /// Checkpoints of job `job_id` under `base` (a directory or a URL; see
    /// [`Location::parse`]), keeping the newest `retained`.
    pub fn new(base: &str, job_id: &str, retained: usize) -> Result<Self, String> {
        Ok(CheckpointStorage {
            job: Location::parse(base)?.child(job_id),
            retained: retained.max(1),
        })
    }

    /// The job's directory of checkpoints.
    pub fn job_location(&self) -> &Location {
        &self.job
    }

    /// Writes `checkpoint` durably and drops checkpoints beyond the retained number; returns
    /// the checkpoint's directory.
    pub fn write(&self, checkpoint: &CompletedCheckpoint) -> std::io::Result<Location> {
        let dir = self.job.child(&format!("chk-{}", checkpoint.id));
        write_checkpoint_to(&dir, checkpoint)?;
        self.prune()?;
        Ok(dir)
    }

    /// Removes all but the newest retained checkpoints and those they build on.
    fn prune(&self) -> std::io::Result<()> {
        let checkpoints = checkpoint_dirs(&self.job)?;
        let mut needed: BTreeSet<u64> = BTreeSet::new();
        let mut unread: Vec<u64> = checkpoints
            .iter()
            .rev()
            .take(self.retained)
            .map(|(id, _)| *id)
            .collect();
        while let Some(id) = unread.pop() {
            if needed.insert(id) {
                unread.extend(references(&self.job.child(&format!("chk-{id}")))?);
            }
        }
        for (id, dir) in &checkpoints {
            if !needed.contains(id) {
                dir.remove_all()?;
            }
        }
        Ok(())
    }

    /// Removes every checkpoint of the job.
    pub fn discard(&self) -> std::io::Result<()> {
        self.job.remove_all()
    }
}

/// Writes `checkpoint` as `dir/_metadata` (`dir` a directory or a URL), durably.
pub fn write_checkpoint(dir: &Path, checkpoint: &CompletedCheckpoint) -> std::io::Result<()> {
    let dir = Location::parse(&dir.to_string_lossy()).map_err(std::io::Error::other)?;
    write_checkpoint_to(&dir, checkpoint)
}

fn write_checkpoint_to(dir: &Location, checkpoint: &CompletedCheckpoint) -> std::io::Result<()> {
    let bases = direct_bases(checkpoint);
    if !bases.is_empty() {
        let listed: String = bases.iter().map(|id| format!("{id}\n")).collect();
        dir.child(REFERENCES).write(listed.as_bytes())?;
    }
    let body = postcard::to_stdvec(checkpoint)
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let mut bytes = Vec::with_capacity(HEADER_BYTES + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    dir.child(METADATA).write(&bytes)
}

/// The checkpoints the checkpoint in `dir` builds on directly.
fn references(dir: &Location) -> std::io::Result<Vec<u64>> {
    let file = dir.child(REFERENCES);
    let bytes = match file.read() {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|line| {
            line.parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{file} lists '{line}', not a checkpoint id"),
                )
            })
        })
        .collect()
}

/// The `chk-<id>` directories under `dir`, by id.
fn checkpoint_dirs(dir: &Location) -> std::io::Result<Vec<(u64, Location)>> {
    let mut found: Vec<(u64, Location)> = dir
        .children()?
        .iter()
        .filter_map(|name| {
            let id = name.strip_prefix("chk-")?.parse().ok()?;
            Some((id, dir.child(name)))
        })
        .collect();
    found.sort_by_key(|(id, _)| *id);
    Ok(found)
}

/// Reads the checkpoint at `path` (a local path or a URL): a `_metadata` file, a `chk-<id>`
/// directory, or a job's directory of checkpoints (the newest readable one; newer unreadable
/// ones are skipped with a warning that names them).
pub fn read_checkpoint(path: &Path) -> Result<CompletedCheckpoint, CheckpointReadError> {
    let location =
        Location::parse(&path.to_string_lossy()).map_err(|message| CheckpointReadError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
        })?;
    if location.is_file() {
        return read_standalone(&location);
    }
    let metadata = location.child(METADATA);
    if metadata.is_file() {
        return read_standalone(&metadata);
    }
    let io = |source| CheckpointReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut newest = None;
    for (_, dir) in checkpoint_dirs(&location).map_err(io)?.iter().rev() {
        match read_standalone(&dir.child(METADATA)) {
            Ok(checkpoint) => return Ok(checkpoint),
            Err(error) => {
                tracing::warn!("{error}; trying the previous checkpoint");
                newest.get_or_insert(Box::new(error));
            }
        }
    }
    Err(CheckpointReadError::NoCheckpoint {
        path: path.to_path_buf(),
        newest,
    })
}

/// Reads the `_metadata` file at `file` and, for an incremental checkpoint, the checkpoints
/// it builds on (siblings of its directory), into one that stands on its own.
fn read_standalone(file: &Location) -> Result<CompletedCheckpoint, CheckpointReadError> {
    let checkpoint = read_metadata(file)?;
    let job_dir = file.parent().and_then(|dir| dir.parent());
    let mut failed_base = None;
    let path = PathBuf::from(file.to_string());
    resolve(&checkpoint, |base| {
        let read = match &job_dir {
            Some(job_dir) => read_metadata(&job_dir.child(&format!("chk-{base}")).child(METADATA))
                .map_err(|error| error.to_string()),
            None => Err("it is not in a job's directory of checkpoints".to_string()),
        };
        if read.is_err() {
            failed_base = Some(base);
        }
        read.map(Arc::new)
    })
    .map_err(|reason| match failed_base {
        Some(base) => CheckpointReadError::Base {
            path: path.clone(),
            base,
            reason,
        },
        None => CheckpointReadError::Undecodable {
            path: path.clone(),
            message: reason,
        },
    })
}

fn read_metadata(file: &Location) -> Result<CompletedCheckpoint, CheckpointReadError> {
    let path = PathBuf::from(file.to_string());
    let bytes = file.read().map_err(|source| CheckpointReadError::Io {
        path: path.clone(),
        source,
    })?;
    if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
        return Err(CheckpointReadError::NotACheckpoint { path });
    }
    let word = |range: std::ops::Range<usize>| bytes[range].to_vec();
    let version = u32::from_le_bytes(word(8..12).try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(CheckpointReadError::Version {
            path,
            found: version,
        });
    }
    let expected = u64::from_le_bytes(word(12..20).try_into().expect("8 bytes"));
    let checksum = u32::from_le_bytes(word(20..24).try_into().expect("4 bytes"));
    let body = &bytes[HEADER_BYTES..];
    if (body.len() as u64) < expected {
        return Err(CheckpointReadError::Truncated {
            path,
            expected,
            found: body.len() as u64,
        });
    }
    let body = &body[..expected as usize];
    if crc32fast::hash(body) != checksum {
        return Err(CheckpointReadError::Corrupted { path });
    }
    postcard::from_bytes(body).map_err(|error| CheckpointReadError::Undecodable {
        path,
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::OperatorStateSnapshot;
    use std::collections::BTreeMap;
    use std::fs;

    fn checkpoint(id: u64) -> CompletedCheckpoint {
        let state = OperatorStateSnapshot {
            name: "op".to_string(),
            keyed: BTreeMap::from([(3, vec![1, 2, 3])]),
            operator: vec![b"split".to_vec()],
            union: vec![b"everyone".to_vec()],
            broadcast: vec![b"same".to_vec()],
            ..OperatorStateSnapshot::default()
        };
        CompletedCheckpoint {
            id,
            timestamp: 1000 + id as i64,
            operators: BTreeMap::from([("op".to_string(), vec![state])]),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("strom-chk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// Writes checkpoints 1 to 3 keeping two, where 3 builds on 2 and 2 on 1 (so all three
    /// stay), then 4 whole (so 1 goes), and reads them back from `base`.
    fn written_retained_and_read_back(base: &str, job_dir: &Path) {
        let storage = CheckpointStorage::new(base, "job", 1).unwrap();
        let building_on = |id: u64, base: Option<u64>| {
            let mut checkpoint = checkpoint(id);
            for state in checkpoint.operators.values_mut().flatten() {
                state.keyed_base = base;
            }
            checkpoint
        };
        let kept = || -> Vec<u64> {
            checkpoint_dirs(storage.job_location())
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        storage.write(&building_on(1, None)).unwrap();
        storage.write(&building_on(2, Some(1))).unwrap();
        storage.write(&building_on(3, Some(2))).unwrap();
        assert_eq!(kept(), [1, 2, 3]);
        storage.write(&building_on(4, None)).unwrap();
        assert_eq!(kept(), [4]);
        assert_eq!(read_checkpoint(job_dir).unwrap(), checkpoint(4));
        assert_eq!(
            read_checkpoint(&job_dir.join("chk-4")).unwrap(),
            checkpoint(4)
        );
        storage.discard().unwrap();
        assert!(storage.job_location().children().unwrap().is_empty());
        assert!(read_checkpoint(job_dir).is_err());
    }

    #[test]
    fn checkpoints_are_written_retained_and_read_back_on_disk_and_in_an_object_store() {
        let dir = temp("write");
        written_retained_and_read_back(&dir.to_string_lossy(), &dir.join("job"));
        written_retained_and_read_back(
            "memory://storage-test/checkpoints",
            Path::new("memory://storage-test/checkpoints/job"),
        );
    }

    #[test]
    fn damaged_checkpoints_are_named_and_the_previous_one_is_used() {
        let base = temp("damaged");
        let storage = CheckpointStorage::new(&base.to_string_lossy(), "job", 3).unwrap();
        storage.write(&checkpoint(1)).unwrap();
        storage.write(&checkpoint(2)).unwrap();
        let job_dir = base.join("job");
        let newest = job_dir.join("chk-2").join(METADATA);
        let mut bytes = fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&newest, &bytes).unwrap();
        let error = read_checkpoint(&newest).unwrap_err().to_string();
        assert!(error.contains("chk-2/_metadata is corrupted"), "{error}");
        // The job directory falls back to the checkpoint before.
        assert_eq!(read_checkpoint(&job_dir).unwrap().id, 1);

        fs::write(&newest, &bytes[..bytes.len() - 5]).unwrap();
        let error = read_checkpoint(&newest).unwrap_err().to_string();
        assert!(error.contains("is truncated"), "{error}");
        fs::write(&newest, b"hello").unwrap();
        let error = read_checkpoint(&newest).unwrap_err().to_string();
        assert!(error.ends_with("is not a Strom checkpoint"), "{error}");
        let missing = base.join("nothing-here");
        assert!(read_checkpoint(&missing).is_err());
        fs::remove_dir_all(&base).unwrap();
    }
}
