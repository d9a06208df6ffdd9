//! Bad input gets a clear error naming what to fix, and the process exits non-zero.

mod common;

use std::net::TcpListener;

use strom::prelude::*;

#[test]
fn a_missing_input_path_is_named_and_the_example_exits_non_zero() {
    let run = common::run_example("wordcount", &["--input", "/no/such/dir/input.txt"]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains("input path /no/such/dir/input.txt does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_config_names_the_key_and_the_line() {
    let dir = common::temp_dir("bad-config");
    std::fs::write(
        dir.join("config.yaml"),
        "# Strom\nparallelism:\n  default: many\n",
    )
    .unwrap();
    let input = dir.join("input.txt");
    std::fs::write(&input, "a b\n").unwrap();
    let run = common::run_example(
        "wordcount",
        &[
            "--input",
            input.to_str().unwrap(),
            "--conf",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains("config.yaml line 3: invalid value \"many\" for key 'parallelism.default'"),
        "{stderr}"
    );

    std::fs::write(
        dir.join("config.yaml"),
        "parallelism.default: 2\n  bad: [\n",
    )
    .unwrap();
    let run = common::run_example(
        "wordcount",
        &[
            "--input",
            input.to_str().unwrap(),
            "--conf",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8(run.stderr).unwrap().contains("line 2"));
}

#[test]
fn a_config_file_sets_the_parallelism() {
    let dir = common::temp_dir("good-config");
    std::fs::write(
        dir.join("config.yaml"),
        "parallelism.default: 3\nsome.unknown.key: 1\n",
    )
    .unwrap();
    let input = dir.join("input.txt");
    let words: Vec<String> = (0..50).map(|i| format!("w{i}")).collect();
    std::fs::write(&input, words.join(" ")).unwrap();
    let run = common::run_example(
        "wordcount",
        &[
            "--input",
            input.to_str().unwrap(),
            "--conf",
            dir.to_str().unwrap(),
            "--mode",
            "batch",
        ],
    );
    assert!(run.status.success());
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        stdout.lines().any(|l| l.starts_with("3> ")),
        "three print subtasks: {stdout}"
    );
    assert!(
        !stdout.lines().any(|l| l.starts_with("4> ")),
        "not four: {stdout}"
    );
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains("unknown configuration key 'some.unknown.key'"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_socket_is_retried_then_named() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let run = common::run_example(
        "socket_wordcount",
        &["--hostname", "127.0.0.1", "--port", &port.to_string()],
    );
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "could not connect to 127.0.0.1:{port} after 3 attempt(s)"
        )),
        "{stderr}"
    );
}

#[test]
fn a_panicking_user_function_fails_the_job_with_operator_and_subtask() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    env.from_sequence(1, 1000)
        .map(|n| {
            if n == 777 {
                panic!("cannot handle {n}")
            } else {
                n
            }
        })
        .name("Fragile Map")
        .print();
    let error = env.execute("fragile").unwrap_err().to_string();
    assert!(error.starts_with("job 'fragile' ("), "{error}");
    assert!(
        error.contains("operator 'Fragile Map' (subtask "),
        "{error}"
    );
    assert!(error.contains("/2) panicked: cannot handle 777"), "{error}");
}

#[test]
fn a_panicking_key_selector_fails_the_job() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    env.from_sequence(1, 10)
        .key_by(|n| if *n == 5 { panic!("bad key") } else { *n })
        .sum(0)
        .print();
    let error = env.execute("bad key").unwrap_err().to_string();
    assert!(
        error.contains("operator 'Source: Sequence Source' (subtask "),
        "{error}"
    );
    assert!(error.contains("panicked"), "{error}");
}

#[test]
fn program_mistakes_are_reported_by_execute() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.from_collection(vec![("a".to_string(), 1u64)])
        .key_by(|t| t.0.clone())
        .sum(5)
        .print();
    let error = env.execute("job").unwrap_err().to_string();
    assert!(
        error.contains("sum(5): ") && error.contains("has no field 5"),
        "{error}"
    );

    let env = StreamExecutionEnvironment::get_execution_environment();
    env.from_collection(vec![("a".to_string(), 1u64)])
        .key_by(|t| t.0.clone())
        .sum(0)
        .print();
    assert!(env
        .execute("job")
        .unwrap_err()
        .to_string()
        .contains("field 0 of (alloc::string::String, u64) is not numeric"));

    let env = StreamExecutionEnvironment::get_execution_environment();
    env.socket_text_stream("localhost", 9)
        .set_parallelism(2)
        .print();
    assert!(env
        .execute("job")
        .unwrap_err()
        .to_string()
        .contains("is not parallel"));

    let env = StreamExecutionEnvironment::get_execution_environment();
    env.from_sequence(1, 3).map(|n| n);
    assert!(env
        .execute("job")
        .unwrap_err()
        .to_string()
        .contains("the job has no sink"));

    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_runtime_mode(RuntimeExecutionMode::Batch);
    env.socket_text_stream("localhost", 9).print();
    assert!(env
        .execute("job")
        .unwrap_err()
        .to_string()
        .contains("batch execution needs bounded sources"));
}

#[test]
fn write_as_text_refuses_to_overwrite_unless_asked() {
    let dir = common::temp_dir("no-overwrite");
    let path = dir.join("out.txt");
    std::fs::write(&path, "precious\n").unwrap();
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.from_collection(vec![1, 2, 3])
        .write_as_text(&path)
        .set_parallelism(1);
    let error = env.execute("job").unwrap_err().to_string();
    assert!(
        error.contains(&format!("output path {} already exists", path.display())),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "precious\n",
        "nothing was lost"
    );
}

#[test]
fn the_config_directory_can_come_from_the_environment() {
    let dir = common::temp_dir("conf-dir-env");
    std::fs::write(
        dir.join("config.yaml"),
        "execution:\n  runtime-mode: sometimes\n",
    )
    .unwrap();
    let input = dir.join("input.txt");
    std::fs::write(&input, "a\n").unwrap();
    let run = std::process::Command::new(common::example("wordcount"))
        .args(["--input", input.to_str().unwrap()])
        .env("STROM_CONF_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains("line 2: invalid value \"sometimes\" for key 'execution.runtime-mode'"),
        "{stderr}"
    );
}
