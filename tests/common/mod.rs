//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod events;

use std::time::Duration;

use strom::prelude::*;

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strom-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The path of a built example (cargo builds them before running integration tests).
pub fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    deps.parent().unwrap().join("examples").join(name)
}

/// Runs an example with `args`.
pub fn run_example(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .env_remove("STROM_CONF_DIR")
        .output()
        .unwrap()
}

/// Deterministic text with the cases the tokenizer must handle: capitals, punctuation, digits
/// and underscores, non-ASCII letters, CRLF line ends, empty lines, a last line without a
/// newline.
pub fn write_text(path: &Path, lines: usize) {
    const WORDS: [&str; 12] = [
        "Alpha", "beta", "GAMMA", "delta_1", "épée", "x2", "Straße", "to", "be", "or", "not",
        "ümlaut",
    ];
    let mut text = String::new();
    let mut state = 7u64;
    for line in 0..lines {
        for slot in 0..(line % 9) {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push_str(WORDS[(state >> 33) as usize % WORDS.len()]);
            text.push_str(if slot % 3 == 0 { ", " } else { " -- " });
        }
        text.push_str(if line % 5 == 0 { "\r\n" } else { "\n" });
    }
    text.push_str("The end.");
    std::fs::write(path, text).unwrap();
}

/// An independent word count: Java's `toLowerCase().split("\\W+")`, written plainly.
pub fn reference_counts(text: &str) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    let lower = text.to_lowercase();
    let mut word = String::new();
    for c in lower.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else if !word.is_empty() {
            *counts.entry(std::mem::take(&mut word)).or_insert(0) += 1;
        }
    }
    counts
}

/// A checkpointing environment whose jobs restart quickly, with records sent one at a time.
pub fn recovering_environment() -> StreamExecutionEnvironment {
    recovering_environment_with(Configuration::new())
}

/// [`recovering_environment`] with `config`.
pub fn recovering_environment_with(config: Configuration) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    env.set_parallelism(2);
    env.set_buffer_timeout(Duration::ZERO);
    env.enable_checkpointing(Duration::from_millis(20));
    env.set_restart_strategy(RestartStrategy::FixedDelay {
        attempts: 3,
        delay: Duration::from_millis(10),
    });
    env
}
