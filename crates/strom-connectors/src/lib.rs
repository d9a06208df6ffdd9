//! Strom's built-in connectors, each written against the public
//! [`Source`](strom_runtime::source::Source) and [`Sink`](strom_runtime::sink::Sink) traits
//! exactly as a user's own connector would be. One module per connector.
//!
//! | connector | source | sink |
//! |---|---|---|
//! | [`collection`] | `from_collection`, `from_iter` | `execute_and_collect` |
//! | [`sequence`] | `from_sequence` | |
//! | [`file`] | `read_text_file` (a file or a directory, split by byte ranges) | `write_as_text` |
//! | [`file_sink`] | | `FileSink`: part files, exactly once with checkpoints |
//! | [`json_lines`] | `JsonLinesSource`: JSON lines into serde types | `JsonLinesEncoder` for `FileSink` |
//! | [`nexmark`] | `NexmarkSource`: the Nexmark benchmark's auction events | |
//! | [`socket`] | `socket_text_stream` (at-most-once) | |
//! | [`print`] | | `print`, `print_to_err` |
//! | [`discard`] | | a counting blackhole for benchmarks |
#![deny(clippy::clone_on_ref_ptr)]

pub mod collection;
pub mod discard;
pub mod error;
pub mod file;
pub mod file_sink;
pub mod json_lines;
pub mod nexmark;
pub mod print;
pub mod sequence;
pub mod socket;

pub use error::ConnectorError;
