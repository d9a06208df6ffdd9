//! Flink's streaming socket word count on Strom: running counts of the words typed into a
//! socket. Start a server first, then the job:
//!
//! ```text
//! nc -lk 9999
//! cargo run --release --example socket_wordcount -- --hostname localhost --port 9999
//! ```
//!
//! Every word prints its updated count. When the peer closes the connection the source
//! ends and so does the job, unless `--max-retry` asks it to reconnect (`-1`: forever).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use strom::prelude::*;

#[path = "common/exit.rs"]
mod exit;
#[path = "common/word_count.rs"]
mod word_count;

/// Counts the words arriving on a socket.
#[derive(Debug, Parser)]
struct Args {
    /// Host to connect to.
    #[arg(long, default_value = "localhost")]
    hostname: String,
    /// Port to connect to.
    #[arg(long)]
    port: u16,
    /// Reconnect this many times when the connection closes (`-1`: forever).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    max_retry: i64,
    /// A configuration file or directory (read by the execution environment).
    #[arg(long)]
    conf: Option<PathBuf>,
}

fn run(args: Args) -> Result<(), JobError> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    let lines = env.socket_text_stream_with(&args.hostname, args.port, '\n', args.max_retry);
    word_count::word_counts(&lines).print();
    env.execute("Socket Window WordCount")?;
    Ok(())
}

fn main() -> ExitCode {
    exit::exit_code(run(Args::parse()))
}
