//! JSON lines: one JSON value per line, for files that Strom and other systems (Flink's `json`
//! format, for one) both read and write. [`JsonLinesSource`] reads a file or a directory the
//! way the text file source does (split by byte ranges) and decodes every line into a serde
//! type, with simd-json (SIMD parsing, the CPU's features detected at run time); a line that
//! does not decode fails the job, naming the file and quoting the line.
//! [`JsonLinesEncoder`] writes records as JSON lines through the `FileSink`.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::BoxError;
use strom_runtime::operator::OperatorContext;
use strom_runtime::source::{Boundedness, ReaderStatus, Source, SourceOutput, SourceReader};

use crate::file::{FileSplit, TextFileReader, TextFileSource};
use crate::file_sink::Encoder;

/// Reads JSON lines from a file or a directory into values of `T`.
pub struct JsonLinesSource<T> {
    text: TextFileSource,
    _type: PhantomData<fn() -> T>,
}

impl<T> JsonLinesSource<T> {
    /// A source reading `path` (a file, or every file in a directory).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonLinesSource {
            text: TextFileSource::new(path),
            _type: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Send + 'static> Source<T> for JsonLinesSource<T> {
    type Split = FileSplit;
    type Reader = JsonLinesReader<T>;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn create_splits(&self, parallelism: usize) -> Result<Vec<FileSplit>, BoxError> {
        Source::<String>::create_splits(&self.text, parallelism)
    }

    fn create_reader(&self, ctx: &OperatorContext) -> Result<JsonLinesReader<T>, BoxError> {
        Ok(JsonLinesReader {
            lines: Source::<String>::create_reader(&self.text, ctx)?,
            file: None,
            scratch: Vec::new(),
            buffers: simd_json::Buffers::default(),
            _type: PhantomData,
        })
    }
}

/// Decodes the text reader's lines where they lie in its buffer.
pub struct JsonLinesReader<T> {
    lines: TextFileReader,
    /// The file being read, for messages.
    file: Option<PathBuf>,
    /// The line being decoded: simd-json decodes in place, so it works on a copy.
    scratch: Vec<u8>,
    /// simd-json's working buffers, kept from line to line.
    buffers: simd_json::Buffers,
    _type: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send> SourceReader<T, FileSplit> for JsonLinesReader<T> {
    fn start_split(&mut self, split: FileSplit) -> Result<(), BoxError> {
        self.file = Some(split.path.clone());
        self.lines.start_split(split)
    }

    fn poll_next(&mut self, output: &mut SourceOutput<T>) -> Result<ReaderStatus, BoxError> {
        let file = self.file.as_deref().unwrap_or(Path::new("?"));
        let (scratch, buffers) = (&mut self.scratch, &mut self.buffers);
        self.lines.read_lines(output, |line| {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            // simd-json checks the UTF-8 as it parses; the line is read as text only to explain
            // a failure.
            scratch.clear();
            scratch.extend_from_slice(line);
            let decoded = simd_json::serde::from_slice_with_buffers(scratch, buffers);
            decoded.map(Some).map_err(|error| {
                let message = match std::str::from_utf8(line) {
                    Err(utf8) => format!("{}: a line is not UTF-8 ({utf8})", file.display()),
                    Ok(text) => {
                        let shown: String = text.trim().chars().take(120).collect();
                        format!(
                            "{}: a line is not the JSON expected ({error}): {shown}",
                            file.display()
                        )
                    }
                };
                message.into()
            })
        })
    }

    fn snapshot_state(&mut self) -> Result<Option<FileSplit>, BoxError> {
        self.lines.snapshot_state()
    }
}

/// Writes each record as one line of JSON (for `FileSink::for_row_format`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLinesEncoder;

impl<T: Serialize> Encoder<T> for JsonLinesEncoder {
    fn encode(&self, value: &T, out: &mut Vec<u8>) {
        // Serde types from the program: a value that cannot be JSON is a programming error
        // (a map with non-string keys); it is written as `null` rather than losing the line.
        if serde_json::to_writer(&mut *out, value).is_err() {
            out.extend_from_slice(b"null");
        }
        out.push(b'\n');
    }
}
