//! The socket source and the socket word count against a real TCP peer.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::thread;

use strom::prelude::*;

#[test]
fn the_socket_word_count_prints_running_counts_and_ends_with_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"hello world\r\nHello").unwrap();
        stream.flush().unwrap();
        thread::sleep(std::time::Duration::from_millis(50));
        stream
            .write_all(b" again\nlast words without newline")
            .unwrap();
    });
    let run = common::run_example(
        "socket_wordcount",
        &["--hostname", "127.0.0.1", "--port", &port.to_string()],
    );
    peer.join().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8(run.stdout).unwrap();
    let mut lines: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_once("> ").map_or(l, |(_, rest)| rest))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "(again,1)",
            "(hello,1)",
            "(hello,2)",
            "(last,1)",
            "(newline,1)",
            "(without,1)",
            "(words,1)",
            "(world,1)"
        ]
    );
}

#[test]
fn the_source_reconnects_when_max_retry_allows() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        for part in ["first\n", "second\n"] {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(part.as_bytes()).unwrap();
        }
    });
    let env = StreamExecutionEnvironment::get_execution_environment();
    let source = strom::connectors::socket::SocketTextSource::new("127.0.0.1", port, b'\n', 1)
        .with_retry_delay(std::time::Duration::from_millis(20));
    let lines = env
        .from_source(source, WatermarkStrategy::no_watermarks(), "Socket")
        .execute_and_collect()
        .unwrap();
    peer.join().unwrap();
    assert_eq!(lines, ["first", "second"]);
}

#[test]
fn records_reach_the_sink_while_the_source_stays_open() {
    // The buffer timeout (and flushing when a task has nothing to read) moves a partly
    // filled batch on: a word typed into an open connection is counted at once.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    let results = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    env.socket_text_stream("127.0.0.1", port)
        .map(|line| (line, 1u64))
        .key_by(|pair| pair.0.clone())
        .sum(1)
        .sink_to(strom::connectors::collection::CollectSink::new(
            std::sync::Arc::clone(&results),
        ));
    let client = env.execute_async("latency").unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    stream.write_all(b"ping\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while results.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        *results.lock().unwrap(),
        [("ping".to_string(), 1)],
        "arrived while the connection is open"
    );
    client.cancel();
    assert!(client.get_job_execution_result().is_err());
}
