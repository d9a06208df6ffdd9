//! The batch and streaming word count of Flink's examples, on Strom:
//!
//! ```text
//! cargo run --release --example wordcount -- --input README.md --mode batch
//! cargo run --release --example wordcount -- --input DIR --output counts.txt --parallelism 4
//! ```
//!
//! Reads a text file or directory, counts words (see `common/word_count.rs` for the
//! tokenizer) and prints `(word,count)` lines, or writes them to `--output`. In batch mode
//! there is exactly one line per distinct word with its total; in streaming mode every
//! occurrence produces the word's updated count.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use strom::prelude::*;

#[path = "common/exit.rs"]
mod exit;
#[path = "common/word_count.rs"]
mod word_count;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Batch,
    Streaming,
}

/// Counts the words of a text file or directory.
#[derive(Debug, Parser)]
struct Args {
    /// A text file, or a directory of text files.
    #[arg(long)]
    input: PathBuf,
    /// Write `(word,count)` lines here (replacing it) instead of printing them.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Parallel subtasks per operator (default: `parallelism.default`, else the core count).
    #[arg(long)]
    parallelism: Option<usize>,
    /// Final counts only (batch) or every update (streaming).
    #[arg(long, value_enum, default_value = "streaming")]
    mode: Mode,
    /// A configuration file or directory (read by the execution environment).
    #[arg(long)]
    conf: Option<PathBuf>,
}

fn run(args: Args) -> Result<(), JobError> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_runtime_mode(match args.mode {
        Mode::Batch => RuntimeExecutionMode::Batch,
        Mode::Streaming => RuntimeExecutionMode::Streaming,
    });
    if let Some(parallelism) = args.parallelism {
        env.set_parallelism(parallelism);
    }
    let counts = word_count::word_counts(&env.read_text_file(&args.input));
    match args.output {
        Some(path) => counts.write_as_text_with_mode(path, WriteMode::Overwrite),
        None => counts.print(),
    };
    env.execute("WordCount")?;
    Ok(())
}

fn main() -> ExitCode {
    exit::exit_code(run(Args::parse()))
}
