//! The word count shared by the examples, the tests and the benchmark: one definition of
//! the tokenizer and the pipeline, so all of them measure and check the same job.

use strom::prelude::*;

/// Flink's example tokenizer: lower-case, split on runs of characters that are not ASCII
/// letters, digits or `_` (Java's `\W+`), drop empty tokens; each word counts once.
pub fn tokenize(line: String, out: &mut Collector<'_, (String, u64)>) {
    let emit = |text: &str, out: &mut Collector<'_, (String, u64)>| {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !word.is_empty() {
                out.collect((word.to_string(), 1));
            }
        }
    };
    if line
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        emit(&line.to_lowercase(), out);
    } else {
        emit(&line, out);
    }
}

/// Lines in, running (streaming) or final (batch) `(word, count)` pairs out.
pub fn word_counts(lines: &DataStream<String>) -> DataStream<(String, u64)> {
    lines
        .flat_map(tokenize)
        .key_by(|(word, _)| word.clone())
        .sum(1)
}
