//! Completed checkpoints on disk (`state.checkpoints.dir`): a directory per job, in it one
//! directory per checkpoint (`chk-<id>`) holding `_metadata`, a self-describing file with
//! every operator's state, keyed state by key group.
//!
//! The file starts with a magic word, a format version, the length of the state and its CRC32
//! checksum, so a file that is not a checkpoint, was written by another format version, is
//! truncated or was corrupted is recognised and named in the error. A checkpoint is written
//! to a temporary file and renamed into place, so a crash while writing never leaves a
//! half-written `_metadata`. Only the newest `retained` checkpoints are kept, with the earlier
//! checkpoints they build on (incremental checkpoints list those in `_references`, written
//! before `_metadata`); reading a checkpoint reads those too, from the same job directory.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint_chain::{direct_bases, resolve};
use crate::checkpoint_coordinator::CompletedCheckpoint;

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
    job_dir: PathBuf,
    retained: usize,
}

impl CheckpointStorage {
    /// Checkpoints of job `job_id` under `base`, keeping the newest `retained`.
    pub fn new(base: &Path, job_id: &str, retained: usize) -> Self {
        CheckpointStorage {
            job_dir: base.join(job_id),
            retained: retained.max(1),
        }
    }

    /// The job's directory of checkpoints.
    pub fn job_dir(&self) -> &Path {
        &self.job_dir
    }

    /// Writes `checkpoint` durably and drops checkpoints beyond the retained number; returns
    /// the checkpoint's directory.
    pub fn write(&self, checkpoint: &CompletedCheckpoint) -> std::io::Result<PathBuf> {
        let dir = self.job_dir.join(format!("chk-{}", checkpoint.id));
        write_checkpoint(&dir, checkpoint)?;
        self.prune()?;
        Ok(dir)
    }

    /// Removes all but the newest retained checkpoints and those they build on.
    fn prune(&self) -> std::io::Result<()> {
        let checkpoints = checkpoint_dirs(&self.job_dir)?;
        let mut needed: BTreeSet<u64> = BTreeSet::new();
        let mut unread: Vec<u64> = checkpoints
            .iter()
            .rev()
            .take(self.retained)
            .map(|(id, _)| *id)
            .collect();
        while let Some(id) = unread.pop() {
            if needed.insert(id) {
                unread.extend(references(&self.job_dir.join(format!("chk-{id}")))?);
            }
        }
        for (id, dir) in &checkpoints {
            if !needed.contains(id) {
                fs::remove_dir_all(dir)?;
            }
        }
        Ok(())
    }

    /// Removes every checkpoint of the job.
    pub fn discard(&self) -> std::io::Result<()> {
        match fs::remove_dir_all(&self.job_dir) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// Writes `checkpoint` as `dir/_metadata`, durably (a temporary file renamed into place).
pub fn write_checkpoint(dir: &Path, checkpoint: &CompletedCheckpoint) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let bases = direct_bases(checkpoint);
    if !bases.is_empty() {
        let listed: String = bases.iter().map(|id| format!("{id}\n")).collect();
        let mut file = fs::File::create(dir.join(REFERENCES))?;
        file.write_all(listed.as_bytes())?;
        file.sync_all()?;
    }
    let body = postcard::to_stdvec(checkpoint)
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let mut bytes = Vec::with_capacity(HEADER_BYTES + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    let temporary = dir.join(format!("{METADATA}.inprogress"));
    let mut file = fs::File::create(&temporary)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, dir.join(METADATA))
}

/// The checkpoints the checkpoint in `dir` builds on directly.
fn references(dir: &Path) -> std::io::Result<Vec<u64>> {
    match fs::read_to_string(dir.join(REFERENCES)) {
        Ok(text) => text
            .lines()
            .map(|line| {
                line.parse().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} lists '{line}', not a checkpoint id",
                            dir.join(REFERENCES).display()
                        ),
                    )
                })
            })
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// The `chk-<id>` directories under `dir`, by id.
fn checkpoint_dirs(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let id = name
            .to_str()
            .and_then(|name| name.strip_prefix("chk-"))
            .and_then(|id| id.parse().ok());
        if let Some(id) = id {
            found.push((id, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Reads the checkpoint at `path`: a `_metadata` file, a `chk-<id>` directory, or a job's
/// directory of checkpoints (the newest readable one; newer unreadable ones are skipped with a
/// warning that names them).
pub fn read_checkpoint(path: &Path) -> Result<CompletedCheckpoint, CheckpointReadError> {
    if path.is_file() {
        return read_standalone(path);
    }
    let metadata = path.join(METADATA);
    if metadata.exists() {
        return read_standalone(&metadata);
    }
    let io = |source| CheckpointReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut newest = None;
    for (_, dir) in checkpoint_dirs(path).map_err(io)?.iter().rev() {
        match read_standalone(&dir.join(METADATA)) {
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

/// Reads the `_metadata` file at `path` and, for an incremental checkpoint, the checkpoints it
/// builds on (siblings of its directory), into one that stands on its own.
fn read_standalone(path: &Path) -> Result<CompletedCheckpoint, CheckpointReadError> {
    let checkpoint = read_metadata(path)?;
    let job_dir = path.parent().and_then(Path::parent);
    let mut failed_base = None;
    resolve(&checkpoint, |base| {
        let dir = job_dir.map(|job_dir| job_dir.join(format!("chk-{base}")));
        let read = match dir {
            Some(dir) => read_metadata(&dir.join(METADATA)).map_err(|error| error.to_string()),
            None => Err("it is not in a job's directory of checkpoints".to_string()),
        };
        if read.is_err() {
            failed_base = Some(base);
        }
        read.map(Arc::new)
    })
    .map_err(|reason| match failed_base {
        Some(base) => CheckpointReadError::Base {
            path: path.to_path_buf(),
            base,
            reason,
        },
        None => CheckpointReadError::Undecodable {
            path: path.to_path_buf(),
            message: reason,
        },
    })
}

fn read_metadata(path: &Path) -> Result<CompletedCheckpoint, CheckpointReadError> {
    let bytes = fs::read(path).map_err(|source| CheckpointReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let path = path.to_path_buf();
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

    #[test]
    fn checkpoints_are_written_retained_and_read_back() {
        let base = temp("write");
        let storage = CheckpointStorage::new(&base, "job", 2);
        for id in 1..=3 {
            storage.write(&checkpoint(id)).unwrap();
        }
        let kept: Vec<u64> = checkpoint_dirs(storage.job_dir())
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(kept, [2, 3]);
        assert_eq!(read_checkpoint(storage.job_dir()).unwrap(), checkpoint(3));
        let chk2 = storage.job_dir().join("chk-2");
        assert_eq!(read_checkpoint(&chk2).unwrap(), checkpoint(2));
        storage.discard().unwrap();
        assert!(!storage.job_dir().exists());
    }

    #[test]
    fn damaged_checkpoints_are_named_and_the_previous_one_is_used() {
        let base = temp("damaged");
        let storage = CheckpointStorage::new(&base, "job", 3);
        storage.write(&checkpoint(1)).unwrap();
        let newest = storage.write(&checkpoint(2)).unwrap().join(METADATA);
        let mut bytes = fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&newest, &bytes).unwrap();
        let error = read_checkpoint(&newest).unwrap_err().to_string();
        assert!(error.contains("chk-2/_metadata is corrupted"), "{error}");
        // The job directory falls back to the checkpoint before.
        assert_eq!(read_checkpoint(storage.job_dir()).unwrap().id, 1);

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
