//! Text files: `read_text_file` reads a file or a directory as lines, and `write_as_text`
//! writes one line per record.
//!
//! Reading is parallel even for a single file: files are cut into byte ranges, and a range
//! owns the lines that *start* inside it. A reader of `[start, end)` skips the partial line at
//! `start` (the previous range owns it) and reads past `end` to finish its last line, so every
//! line is read exactly once, whatever the cut.
//!
//! When there are at least as many (non-empty) files as readers and no file holds more than
//! one and a half times a reader's share of the bytes, files are not cut: each is read whole
//! by one reader, as Flink reads local files. With one file per reader, files written in
//! event-time order (one per writer, say) are then each read in order, where cut files would
//! make a reader jump back in time from the end of one range to the start of another file, and
//! the events after the jump late. With more files than readers, a reader reads several files
//! one after another (as in Flink).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strom_core::format::Printable;
use strom_core::{BoxError, StreamRecord, Timestamp};
use strom_runtime::operator::OperatorContext;
use strom_runtime::sink::{Sink, SinkWriter};
use strom_runtime::source::{
    Boundedness, ReaderStatus, Source, SourceOutput, SourceReader, SourceSplit,
};

use crate::error::ConnectorError;

/// Splits are at least this large, so small files are read whole.
const MIN_SPLIT_BYTES: u64 = 4 << 20;
/// Readers each get about this many splits, so a fast reader can take over work.
const SPLITS_PER_READER: u64 = 4;
const READ_BUFFER_BYTES: usize = 1 << 20;

/// Reads the lines of a text file, or of every file in a directory (recursively, skipping
/// names that start with `.` or `_` as Flink does).
#[derive(Debug, Clone)]
pub struct TextFileSource {
    path: PathBuf,
}

impl TextFileSource {
    /// A source reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TextFileSource { path: path.into() }
    }
}

/// The lines starting in bytes `[start, end)` of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSplit {
    /// The file.
    pub path: PathBuf,
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
}

impl SourceSplit for FileSplit {
    fn split_id(&self) -> String {
        format!("{}:{}..{}", self.path.display(), self.start, self.end)
    }
}

/// The files the text sources read at `path` with their sizes: `path` itself if it is a file,
/// or every visible file below the directory `path`, in name order.
pub fn input_files(path: &Path) -> Result<Vec<(PathBuf, u64)>, ConnectorError> {
    let mut files = Vec::new();
    list_files(path, &mut files)?;
    Ok(files)
}

fn list_files(path: &Path, files: &mut Vec<(PathBuf, u64)>) -> Result<(), ConnectorError> {
    let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConnectorError::InputNotFound {
            path: path.to_path_buf(),
        },
        _ => ConnectorError::io(path, source),
    })?;
    if metadata.is_file() {
        files.push((path.to_path_buf(), metadata.len()));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| ConnectorError::io(path, e))?
        .map(|entry| {
            entry
                .map(|e| e.path())
                .map_err(|e| ConnectorError::io(path, e))
        })
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n.starts_with('_'));
        if !hidden {
            list_files(&entry, files)?;
        }
    }
    Ok(())
}

impl Source<String> for TextFileSource {
    type Split = FileSplit;
    type Reader = TextFileReader;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn create_splits(&self, parallelism: usize) -> Result<Vec<FileSplit>, BoxError> {
        let mut files = input_files(&self.path)?;
        files.retain(|(_, len)| *len > 0);
        let total: u64 = files.iter().map(|(_, len)| len).sum();
        let largest = files.iter().map(|(_, len)| *len).max().unwrap_or(0);
        let balanced = largest <= 3 * total / (2 * parallelism.max(1) as u64);
        let split_bytes = if files.len() >= parallelism && balanced {
            u64::MAX
        } else {
            total
                .div_ceil(parallelism as u64 * SPLITS_PER_READER)
                .max(MIN_SPLIT_BYTES)
        };
        let mut splits = Vec::new();
        for (path, len) in files {
            let mut start = 0;
            while start < len {
                let end = start.saturating_add(split_bytes).min(len);
                splits.push(FileSplit {
                    path: path.clone(),
                    start,
                    end,
                });
                start = end;
            }
        }
        Ok(splits)
    }

    fn create_reader(&self, _ctx: &OperatorContext) -> Result<TextFileReader, BoxError> {
        Ok(TextFileReader {
            current: None,
            partial: Vec::new(),
        })
    }
}

/// Reads the lines of one split at a time.
pub struct TextFileReader {
    current: Option<OpenSplit>,
    /// The start of a line that crosses the read buffer's end.
    partial: Vec<u8>,
}

struct OpenSplit {
    split: FileSplit,
    reader: BufReader<File>,
    /// File offset of the next unread byte.
    position: u64,
}

impl TextFileReader {
    /// Decodes the next lines of the split into `output` until it is full or the split ends.
    /// Lines are handed to `decode` as they lie in the read buffer, without their `\n` or
    /// `\r\n` and without being copied, so a format decodes straight from the file's bytes;
    /// `decode` may skip a line by returning `None`.
    pub(crate) fn read_lines<T>(
        &mut self,
        output: &mut SourceOutput<T>,
        mut decode: impl FnMut(&[u8]) -> Result<Option<T>, BoxError>,
    ) -> Result<ReaderStatus, BoxError> {
        let Some(open) = self.current.as_mut() else {
            return Ok(ReaderStatus::EndOfSplit);
        };
        let mut emit = |line: &[u8], output: &mut SourceOutput<T>| -> Result<(), BoxError> {
            if let Some(value) = decode(line.strip_suffix(b"\r").unwrap_or(line))? {
                output.collect(value);
            }
            Ok(())
        };
        while !output.is_full() {
            // Only line starts are compared with the split's end: a line that started before
            // the end is ours however far it runs.
            if self.partial.is_empty() && open.position >= open.split.end {
                self.current = None;
                return Ok(ReaderStatus::EndOfSplit);
            }
            let available = open
                .reader
                .fill_buf()
                .map_err(|e| ConnectorError::io(&open.split.path, e))?;
            if available.is_empty() {
                if !self.partial.is_empty() {
                    emit(&self.partial, output)?;
                    self.partial.clear();
                }
                self.current = None;
                return Ok(ReaderStatus::EndOfSplit);
            }
            // Lines straight from the buffer, as many as the output takes; the first may finish
            // one that crossed the previous buffer's end.
            let mut used = 0;
            let mut past_end = false;
            while !output.is_full() {
                if self.partial.is_empty() && open.position + used as u64 >= open.split.end {
                    past_end = true;
                    break;
                }
                let Some(newline) = memchr::memchr(b'\n', &available[used..]) else {
                    self.partial.extend_from_slice(&available[used..]);
                    used = available.len();
                    break;
                };
                let line = &available[used..used + newline];
                if self.partial.is_empty() {
                    emit(line, output)?;
                } else {
                    self.partial.extend_from_slice(line);
                    emit(&self.partial, output)?;
                    self.partial.clear();
                }
                used += newline + 1;
            }
            open.reader.consume(used);
            open.position += used as u64;
            if past_end {
                self.current = None;
                return Ok(ReaderStatus::EndOfSplit);
            }
        }
        Ok(ReaderStatus::MoreAvailable)
    }
}

impl SourceReader<String, FileSplit> for TextFileReader {
    fn start_split(&mut self, split: FileSplit) -> Result<(), BoxError> {
        let file = File::open(&split.path).map_err(|e| ConnectorError::io(&split.path, e))?;
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
        let mut position = split.start;
        if split.start > 0 {
            // The line that contains byte `start - 1` belongs to the previous split.
            reader
                .seek(SeekFrom::Start(split.start - 1))
                .map_err(|e| ConnectorError::io(&split.path, e))?;
            let mut skipped = Vec::new();
            let n = reader
                .read_until(b'\n', &mut skipped)
                .map_err(|e| ConnectorError::io(&split.path, e))?;
            position = split.start - 1 + n as u64;
        }
        self.partial.clear();
        self.current = Some(OpenSplit {
            split,
            reader,
            position,
        });
        Ok(())
    }

    fn poll_next(&mut self, output: &mut SourceOutput<String>) -> Result<ReaderStatus, BoxError> {
        self.read_lines(output, |line| Ok(Some(decode_line(line))))
    }

    fn snapshot_state(&mut self) -> Result<Option<FileSplit>, BoxError> {
        // The rest of the split starts at the first line not yet emitted; a line read only in
        // part is read again from its start.
        Ok(self.current.as_ref().map(|open| FileSplit {
            path: open.split.path.clone(),
            start: open.position - self.partial.len() as u64,
            end: open.split.end,
        }))
    }
}

/// A line as text; invalid UTF-8 is replaced, never a reason to fail.
fn decode_line(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Whether an existing output may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail when the output exists (Flink's default).
    NoOverwrite,
    /// Replace an existing output.
    Overwrite,
}

/// Writes records as lines: into the file `path` at parallelism 1, or into files `1`, `2`, ...
/// inside the directory `path` at higher parallelism (as Flink's `writeAsText`).
#[derive(Debug, Clone)]
pub struct TextFileSink {
    path: PathBuf,
    mode: WriteMode,
}

impl TextFileSink {
    /// A sink writing to `path`.
    pub fn new(path: impl Into<PathBuf>, mode: WriteMode) -> Self {
        TextFileSink {
            path: path.into(),
            mode,
        }
    }
}

impl<T: Printable + Send + 'static> Sink<T> for TextFileSink {
    type Writer = TextFileWriter;

    fn prepare(&self, parallelism: usize) -> Result<(), BoxError> {
        let path = &self.path;
        if let Ok(metadata) = std::fs::symlink_metadata(path) {
            if self.mode == WriteMode::NoOverwrite {
                return Err(ConnectorError::OutputExists { path: path.clone() }.into());
            }
            let removed = if metadata.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
            removed.map_err(|e| ConnectorError::io(path, e))?;
        }
        let directory = if parallelism > 1 {
            Some(path.as_path())
        } else {
            path.parent()
        };
        if let Some(directory) = directory.filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(directory).map_err(|e| ConnectorError::io(directory, e))?;
        }
        Ok(())
    }

    fn create_writer(&self, ctx: &OperatorContext) -> Result<TextFileWriter, BoxError> {
        let path = if ctx.info.parallelism > 1 {
            self.path.join((ctx.info.subtask_index + 1).to_string())
        } else {
            self.path.clone()
        };
        // Appending: after a restart the lines written before the failure stay (at least once;
        // `FileSink` gives exactly once). The first run's `prepare` made sure there is none.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| ConnectorError::io(&path, e))?;
        Ok(TextFileWriter {
            out: BufWriter::with_capacity(256 << 10, file),
            path,
            line: String::new(),
        })
    }
}

/// Writes one subtask's lines.
pub struct TextFileWriter {
    out: BufWriter<File>,
    path: PathBuf,
    line: String,
}

impl<T: Printable> SinkWriter<T> for TextFileWriter {
    fn write(&mut self, value: T, _timestamp: Option<Timestamp>) -> Result<(), BoxError> {
        self.line.clear();
        value.print_to(&mut self.line);
        self.line.push('\n');
        self.out
            .write_all(self.line.as_bytes())
            .map_err(|e| ConnectorError::io(&self.path, e))?;
        Ok(())
    }

    fn write_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), BoxError> {
        self.line.clear();
        for record in &batch {
            record.value.print_to(&mut self.line);
            self.line.push('\n');
        }
        self.out
            .write_all(self.line.as_bytes())
            .map_err(|e| ConnectorError::io(&self.path, e))?;
        Ok(())
    }

    fn flush(&mut self, end_of_input: bool) -> Result<(), BoxError> {
        self.out
            .flush()
            .map_err(|e| ConnectorError::io(&self.path, e))?;
        if end_of_input {
            self.out
                .get_ref()
                .sync_all()
                .map_err(|e| ConnectorError::io(&self.path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_split(split: FileSplit) -> Vec<String> {
        let mut reader = TextFileReader {
            current: None,
            partial: Vec::new(),
        };
        reader.start_split(split).unwrap();
        let mut output = SourceOutput::new(3);
        let mut lines = Vec::new();
        loop {
            let status = reader.poll_next(&mut output).unwrap();
            lines.extend(output.take().into_iter().map(|r| r.value));
            if status == ReaderStatus::EndOfSplit {
                return lines;
            }
        }
    }

    #[test]
    fn every_line_is_read_once_wherever_the_file_is_cut() {
        let dir = std::env::temp_dir().join(format!("strom-file-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("input.txt");
        let text = "alpha\nbeta\r\n\ngamma delta\nlast line without newline";
        std::fs::write(&path, text).unwrap();
        let expected = vec![
            "alpha",
            "beta",
            "",
            "gamma delta",
            "last line without newline",
        ];
        let len = text.len() as u64;
        for cut in 0..=len {
            for second_cut in cut..=len {
                let mut lines = Vec::new();
                for (start, end) in [(0, cut), (cut, second_cut), (second_cut, len)] {
                    if start < end {
                        lines.extend(read_split(FileSplit {
                            path: path.clone(),
                            start,
                            end,
                        }));
                    }
                }
                assert_eq!(lines, expected, "cuts at {cut} and {second_cut}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lines_across_read_buffers_and_a_restart_are_read_once() {
        let dir = std::env::temp_dir().join(format!("strom-file-buffers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("input.txt");
        // About 12 MB of lines of many lengths, so lines cross many 1 MB read buffers.
        let expected: Vec<String> = (0..200_000)
            .map(|i| format!("line-{i}-{}", "x".repeat(i % 97)))
            .collect();
        std::fs::write(&path, expected.join("\n") + "\n").unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let mut lines = Vec::new();
        for (start, end) in [(0, 5_000_003), (5_000_003, 9_000_017), (9_000_017, len)] {
            let split = FileSplit {
                path: path.clone(),
                start,
                end,
            };
            // Read past the first buffer, then resume from the reader's snapshot in a new reader.
            let mut reader = TextFileReader {
                current: None,
                partial: Vec::new(),
            };
            reader.start_split(split).unwrap();
            let mut output = SourceOutput::new(64);
            for _ in 0..300 {
                let status = reader.poll_next(&mut output).unwrap();
                lines.extend(output.take().into_iter().map(|r| r.value));
                assert_eq!(status, ReaderStatus::MoreAvailable, "the split ended early");
            }
            let rest = reader.snapshot_state().unwrap().expect("a split is open");
            lines.extend(read_split(rest));
        }
        assert_eq!(lines.len(), expected.len());
        assert!(lines == expected, "lines differ from the file's");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_are_cut_only_when_there_are_fewer_than_readers() {
        let dir = std::env::temp_dir().join(format!("strom-file-cuts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let five_mb = "0123456789\n".repeat(5 << 20).into_bytes()[..5 << 20].to_vec();
        for name in ["part-0.json", "part-1.json"] {
            std::fs::write(dir.join(name), &five_mb).unwrap();
        }
        let ranges = |parallelism| {
            let splits = TextFileSource::new(&dir)
                .create_splits(parallelism)
                .unwrap();
            splits
                .into_iter()
                .map(|split| {
                    let name = split
                        .path
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    (name, split.start, split.end)
                })
                .collect::<Vec<_>>()
        };
        let whole = vec![
            ("part-0.json".to_string(), 0, 5 << 20),
            ("part-1.json".to_string(), 0, 5 << 20),
        ];
        assert_eq!(ranges(1), whole);
        assert_eq!(ranges(2), whole);
        // Four readers, two files: cut at 4 MB (the smallest range).
        assert_eq!(
            ranges(4),
            vec![
                ("part-0.json".to_string(), 0, 4 << 20),
                ("part-0.json".to_string(), 4 << 20, 5 << 20),
                ("part-1.json".to_string(), 0, 4 << 20),
                ("part-1.json".to_string(), 4 << 20, 5 << 20),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_much_larger_than_the_others_is_cut() {
        let dir = std::env::temp_dir().join(format!("strom-file-skew-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big.txt"), vec![b'\n'; 9 << 20]).unwrap();
        std::fs::write(dir.join("small.txt"), b"one line\n").unwrap();
        std::fs::write(dir.join("empty.txt"), b"").unwrap();
        // Two readers, two non-empty files, but one holds nearly all the bytes.
        let splits = TextFileSource::new(&dir).create_splits(2).unwrap();
        let big: Vec<_> = splits
            .iter()
            .filter(|split| split.path.ends_with("big.txt"))
            .map(|split| (split.start, split.end))
            .collect();
        assert_eq!(
            big,
            vec![(0, 4 << 20), (4 << 20, 8 << 20), (8 << 20, 9 << 20)]
        );
        assert_eq!(splits.len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_path_is_named() {
        let error = TextFileSource::new("/no/such/input")
            .create_splits(2)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "input path /no/such/input does not exist"
        );
    }
}
