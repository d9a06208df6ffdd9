//! `print()`: records to standard output (or error) in Flink's format: `2> (hello,3)`, with
//! the 1-based subtask as prefix when the sink runs in parallel, and an optional identifier
//! (`id:2> ...`, or `id> ...` at parallelism 1).

use std::io::Write;

use strom_core::format::Printable;
use strom_core::{BoxError, StreamRecord, Timestamp};
use strom_runtime::operator::OperatorContext;
use strom_runtime::sink::{Sink, SinkWriter};

/// Prints records, one per line.
#[derive(Debug, Clone, Default)]
pub struct PrintSink {
    identifier: Option<String>,
    to_stderr: bool,
}

impl PrintSink {
    /// Prints to standard output.
    pub fn stdout() -> Self {
        PrintSink::default()
    }

    /// Prints to standard error.
    pub fn stderr() -> Self {
        PrintSink {
            identifier: None,
            to_stderr: true,
        }
    }

    /// Prefixes every line with `identifier`.
    pub fn with_identifier(mut self, identifier: impl Into<String>) -> Self {
        self.identifier = Some(identifier.into());
        self
    }
}

impl<T: Printable + Send + 'static> Sink<T> for PrintSink {
    type Writer = PrintWriter;

    fn create_writer(&self, ctx: &OperatorContext) -> Result<PrintWriter, BoxError> {
        let subtask = ctx.info.subtask_index + 1;
        let prefix = match (&self.identifier, ctx.info.parallelism > 1) {
            (Some(id), true) => format!("{id}:{subtask}> "),
            (Some(id), false) => format!("{id}> "),
            (None, true) => format!("{subtask}> "),
            (None, false) => String::new(),
        };
        Ok(PrintWriter {
            prefix,
            to_stderr: self.to_stderr,
            text: String::new(),
        })
    }
}

/// Formats a batch into one string and writes it with one call, so lines of parallel
/// subtasks never interleave mid-line.
pub struct PrintWriter {
    prefix: String,
    to_stderr: bool,
    text: String,
}

impl PrintWriter {
    fn append<T: Printable>(&mut self, value: &T) {
        self.text.push_str(&self.prefix);
        value.print_to(&mut self.text);
        self.text.push('\n');
    }

    fn write_out(&mut self) -> Result<(), BoxError> {
        let result = if self.to_stderr {
            std::io::stderr().lock().write_all(self.text.as_bytes())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(self.text.as_bytes())
                .and_then(|_| out.flush())
        };
        self.text.clear();
        result.map_err(|e| format!("printing failed: {e}").into())
    }
}

impl<T: Printable> SinkWriter<T> for PrintWriter {
    fn write(&mut self, value: T, _timestamp: Option<Timestamp>) -> Result<(), BoxError> {
        self.append(&value);
        self.write_out()
    }

    fn write_batch(&mut self, batch: Vec<StreamRecord<T>>) -> Result<(), BoxError> {
        for record in &batch {
            self.append(&record.value);
        }
        self.write_out()
    }
}
