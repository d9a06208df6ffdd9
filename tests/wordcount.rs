//! The word-count examples end to end, against an independent count.

mod common;

use std::collections::BTreeMap;

use strom::prelude::*;

#[path = "../examples/common/word_count.rs"]
mod word_count;

fn counts_of(pairs: Vec<(String, u64)>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (word, count) in pairs {
        assert!(
            counts.insert(word.clone(), count).is_none(),
            "{word} appears twice in batch output"
        );
    }
    counts
}

#[test]
fn batch_word_count_equals_an_independent_count_at_every_parallelism() {
    let dir = common::temp_dir("wc-batch");
    for file in ["a.txt", "b.txt", "c.txt"] {
        common::write_text(&dir.join(file), 3000);
    }
    std::fs::write(dir.join(".hidden"), "hidden words are skipped").unwrap();
    let mut text = String::new();
    for file in ["a.txt", "b.txt", "c.txt"] {
        text.push_str(&std::fs::read_to_string(dir.join(file)).unwrap());
        text.push('\n');
    }
    let expected = common::reference_counts(&text);
    assert!(
        expected.contains_key("stra")
            && expected.contains_key("delta_1")
            && !expected.contains_key("hidden")
    );
    for parallelism in [1, 2, 4] {
        let env = StreamExecutionEnvironment::get_execution_environment();
        env.set_parallelism(parallelism)
            .set_runtime_mode(RuntimeExecutionMode::Batch);
        let output = word_count::word_counts(&env.read_text_file(&dir))
            .execute_and_collect()
            .unwrap();
        assert_eq!(counts_of(output), expected, "parallelism {parallelism}");
    }
}

#[test]
fn streaming_word_count_emits_every_update_in_order_per_word() {
    let dir = common::temp_dir("wc-streaming");
    let input = dir.join("input.txt");
    common::write_text(&input, 2000);
    let expected = common::reference_counts(&std::fs::read_to_string(&input).unwrap());
    for parallelism in [1, 2, 4] {
        let env = StreamExecutionEnvironment::get_execution_environment();
        env.set_parallelism(parallelism);
        let updates = word_count::word_counts(&env.read_text_file(&input))
            .execute_and_collect()
            .unwrap();
        assert_eq!(
            updates.len() as u64,
            expected.values().sum::<u64>(),
            "one update per word"
        );
        let mut last: BTreeMap<String, u64> = BTreeMap::new();
        for (word, count) in updates {
            let previous = last.insert(word.clone(), count).unwrap_or(0);
            assert_eq!(count, previous + 1, "updates of {word} arrive in order");
        }
        assert_eq!(last, expected, "parallelism {parallelism}");
    }
}

#[test]
fn automatic_mode_runs_bounded_input_as_batch() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2)
        .set_runtime_mode(RuntimeExecutionMode::Automatic);
    let lines = env.from_collection(vec!["b a b".to_string(), "a b".to_string()]);
    let counts = counts_of(
        word_count::word_counts(&lines)
            .execute_and_collect()
            .unwrap(),
    );
    assert_eq!(
        counts,
        BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 3)])
    );
}

#[test]
fn the_example_writes_one_line_per_word_in_batch_mode() {
    let dir = common::temp_dir("wc-example");
    let input = dir.join("input.txt");
    common::write_text(&input, 500);
    let expected = common::reference_counts(&std::fs::read_to_string(&input).unwrap());
    for parallelism in ["1", "3"] {
        let output = dir.join(format!("out-{parallelism}"));
        let args = [
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--mode",
            "batch",
            "--parallelism",
            parallelism,
        ];
        let run = common::run_example("wordcount", &args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let files: Vec<_> = if output.is_dir() {
            std::fs::read_dir(&output)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        } else {
            vec![output.clone()]
        };
        let mut lines: Vec<String> = files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        let mut wanted: Vec<String> = expected.iter().map(|(w, c)| format!("({w},{c})")).collect();
        wanted.sort();
        assert_eq!(lines, wanted, "parallelism {parallelism}");
    }
}

#[test]
fn the_example_prints_in_flinks_format() {
    let dir = common::temp_dir("wc-print");
    let input = dir.join("input.txt");
    std::fs::write(&input, "To be, or not to be.\n").unwrap();
    let run = common::run_example(
        "wordcount",
        &[
            "--input",
            input.to_str().unwrap(),
            "--mode",
            "batch",
            "--parallelism",
            "1",
        ],
    );
    assert!(run.status.success());
    let mut lines: Vec<String> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(lines, ["(be,2)", "(not,1)", "(or,1)", "(to,2)"]);

    let run = common::run_example(
        "wordcount",
        &[
            "--input",
            input.to_str().unwrap(),
            "--mode",
            "batch",
            "--parallelism",
            "2",
        ],
    );
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with("1> (") || l.starts_with("2> (")),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 4);
}
