//! `FileSink`: files in a directory, written exactly once (Flink's `FileSink` with a row
//! format).
//!
//! Each subtask writes its records, one encoded line each, into a part file that stays hidden
//! (`.part-…​.inprogress`) while it is written. A part is closed when it reaches the rolling
//! policy's size and at every checkpoint barrier; the checkpoint carries the names of the parts
//! it closed, and only when the checkpoint completes are they renamed to their visible names
//! (`part-<subtask>-<run>-<n>`). A failure before that leaves them hidden, and the job, restored
//! from the previous checkpoint, writes those records again into new parts: every record is in
//! exactly one visible file. Without checkpoints, parts become visible when the input ends.
//! Readers (Strom's and Flink's file sources) skip hidden files; leftovers of failed runs stay
//! hidden.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use strom_core::format::Printable;
use strom_core::{BoxError, StreamRecord};
use strom_runtime::operator::OperatorContext;
use strom_runtime::sink::{Sink, SinkWriter};

use crate::error::ConnectorError;

/// Turns a record into the bytes of its line (Flink's `Encoder`).
pub trait Encoder<T>: Send + Sync + 'static {
    /// Appends `value`'s encoding, with its line end, to `out`.
    fn encode(&self, value: &T, out: &mut Vec<u8>);
}

/// Writes a record's text form and a newline (Flink's `SimpleStringEncoder`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SimpleStringEncoder;

impl<T: Printable> Encoder<T> for SimpleStringEncoder {
    fn encode(&self, value: &T, out: &mut Vec<u8>) {
        let mut text = String::new();
        value.print_to(&mut text);
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
    }
}

/// When a part file is closed besides at checkpoints (Flink's `DefaultRollingPolicy`, by size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollingPolicy {
    /// A part is closed once it holds this many bytes.
    pub max_part_size: u64,
}

impl Default for RollingPolicy {
    /// Parts of at most 128 MiB, as Flink's default.
    fn default() -> Self {
        RollingPolicy {
            max_part_size: 128 << 20,
        }
    }
}

/// Writes records into part files of a directory, exactly once.
pub struct FileSink<T> {
    directory: PathBuf,
    encoder: Arc<dyn Encoder<T>>,
    rolling: RollingPolicy,
}

impl<T: 'static> FileSink<T> {
    /// Lines made by `encoder` in part files under `directory` (Flink's `forRowFormat`).
    pub fn for_row_format(directory: impl Into<PathBuf>, encoder: impl Encoder<T>) -> Self {
        FileSink {
            directory: directory.into(),
            encoder: Arc::new(encoder),
            rolling: RollingPolicy::default(),
        }
    }

    /// Replaces the default rolling policy.
    pub fn with_rolling_policy(mut self, rolling: RollingPolicy) -> Self {
        self.rolling = rolling;
        self
    }
}

/// A closed part waiting for its checkpoint: where it is and where it becomes visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PendingPart {
    hidden: PathBuf,
    visible: PathBuf,
}

impl<T: Send + 'static> Sink<T> for FileSink<T> {
    type Writer = FileSinkWriter<T>;

    fn prepare(&self, _parallelism: usize) -> Result<(), BoxError> {
        fs::create_dir_all(&self.directory)
            .map_err(|e| ConnectorError::io(&self.directory, e).into())
    }

    fn create_writer(&self, ctx: &OperatorContext) -> Result<FileSinkWriter<T>, BoxError> {
        // A token per writer keeps the names of a restarted run apart from earlier ones.
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        Ok(FileSinkWriter {
            directory: self.directory.clone(),
            prefix: format!("part-{}-{run:x}", ctx.info.subtask_index),
            encoder: Arc::clone(&self.encoder),
            rolling: self.rolling,
            current: None,
            closed: Vec::new(),
            parts: 0,
            line: Vec::new(),
            _type: PhantomData,
        })
    }

    fn commit(&self, committables: &[Vec<u8>]) -> Result<(), BoxError> {
        for committable in committables {
            let part: PendingPart = postcard::from_bytes(committable)?;
            publish(&part)?;
        }
        Ok(())
    }
}

/// Makes a closed part visible; a part already visible (committed before a failure) is left.
fn publish(part: &PendingPart) -> Result<(), ConnectorError> {
    match fs::rename(&part.hidden, &part.visible) {
        Ok(()) => Ok(()),
        Err(_) if part.visible.exists() => Ok(()),
        Err(error) => Err(ConnectorError::io(&part.hidden, error)),
    }
}

/// The part file being written.
struct OpenPart {
    out: BufWriter<File>,
    part: PendingPart,
    bytes: u64,
}

/// Writes one subtask's part files.
pub struct FileSinkWriter<T> {
    directory: PathBuf,
    prefix: String,
    encoder: Arc<dyn Encoder<T>>,
    rolling: RollingPolicy,
    current: Option<OpenPart>,
    /// Closed since the last checkpoint.
    closed: Vec<PendingPart>,
    parts: u64,
    line: Vec<u8>,
    _type: PhantomData<fn(T)>,
}

impl<T> FileSinkWriter<T> {
    fn open_part(&mut self) -> Result<&mut OpenPart, ConnectorError> {
        if self.current.is_none() {
            let name = format!("{}-{}", self.prefix, self.parts);
            self.parts += 1;
            let part = PendingPart {
                hidden: self.directory.join(format!(".{name}.inprogress")),
                visible: self.directory.join(name),
            };
            let file =
                File::create(&part.hidden).map_err(|e| ConnectorError::io(&part.hidden, e))?;
            self.current = Some(OpenPart {
                out: BufWriter::with_capacity(256 << 10, file),
                part,
                bytes: 0,
            });
        }
        Ok(self.current.as_mut().expect("opened above"))
    }

    /// Closes the part being written, durably, and keeps it for the next commit.
    fn close_part(&mut self) -> Result<(), ConnectorError> {
        if let Some(mut open) = self.current.take() {
            let path = open.part.hidden.clone();
            open.out.flush().map_err(|e| ConnectorError::io(&path, e))?;
            let file = open
                .out
                .into_inner()
                .map_err(|e| ConnectorError::io(&path, e.into_error()))?;
            file.sync_all().map_err(|e| ConnectorError::io(&path, e))?;
            self.closed.push(open.part);
        }
        Ok(())
    }
}

impl<T: Send + 'static> SinkWriter<T> for FileSinkWriter<T> {
    fn write(
        &mut self,
        value: T,
        _timestamp: Option<strom_core::Timestamp>,
    ) -> Result<(), BoxError> {
        self.write_batch(vec![StreamRecord::new(value)])
    }

    fn write_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), BoxError> {
        for record in batch {
            let mut line = std::mem::take(&mut self.line);
            line.clear();
            self.encoder.encode(&record.value, &mut line);
            let max = self.rolling.max_part_size;
            let open = self.open_part()?;
            open.out
                .write_all(&line)
                .map_err(|e| ConnectorError::io(&open.part.hidden, e))?;
            open.bytes += line.len() as u64;
            let full = open.bytes >= max;
            self.line = line;
            if full {
                self.close_part()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, _end_of_input: bool) -> Result<(), BoxError> {
        if let Some(open) = self.current.as_mut() {
            open.out
                .flush()
                .map_err(|e| ConnectorError::io(&open.part.hidden, e))?;
        }
        Ok(())
    }

    fn prepare_commit(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        self.close_part()?;
        self.closed
            .drain(..)
            .map(|part| postcard::to_stdvec(&part).map_err(BoxError::from))
            .collect()
    }
}

/// The visible part files of `directory`, sorted (for tests and tools).
pub fn visible_parts(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut parts: Vec<PathBuf> = fs::read_dir(directory)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    parts.retain(|path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("part-"))
    });
    parts.sort();
    Ok(parts)
}
