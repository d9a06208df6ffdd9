//! `strom-bench nexmark`: a Nexmark query on generated events into a counting blackhole, with
//! the job's events per second, the process's CPU seconds and peak memory.

use std::path::Path;
use std::time::{Duration, Instant};

use std::io::{Read, Write};

use strom::connectors::file::input_files;
use strom::connectors::json_lines::JsonLinesSource;
use strom::connectors::nexmark::{Event, Generator, GeneratorConfig, NexmarkSource};
use strom::prelude::*;
use strom_nexmark::latency::LatencySink;

/// Runs `query` at `parallelism` on `events` generated events, or on the events of the
/// JSON-lines `input` (as `nexmark-data` writes them); one line of figures. With `print` the
/// results go to standard output instead of the blackhole.
pub fn run(
    query: &str,
    events: u64,
    parallelism: usize,
    input: Option<&Path>,
    print: bool,
    rate: Option<u64>,
) -> Result<String, JobError> {
    if rate.is_some() && input.is_some() {
        return Err(JobError::InvalidProgram(
            "--rate limits generated events; it cannot be used with --input".into(),
        ));
    }
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(parallelism);
    let source = match input {
        None => {
            let mut source = NexmarkSource::new(Some(events));
            if let Some(rate) = rate {
                source = source.with_rate_limit(rate);
            }
            env.from_source(
                source,
                WatermarkStrategy::for_monotonous_timestamps(),
                "Nexmark",
            )
        }
        // As Flink's Nexmark tables: event time from the events, 4 s out of order.
        Some(path) => env.from_source(
            JsonLinesSource::<Event>::new(path),
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(4))
                .with_timestamp_assigner(|event: &Event, _| event.date_time()),
            "Nexmark events",
        ),
    };
    let sink = DiscardingSink::new();
    let results = sink.counter();
    let latency = LatencySink::new(Instant::now());
    let output = if print {
        strom_nexmark::Results::Print
    } else if rate.is_some() {
        strom_nexmark::Results::Latency(&latency)
    } else {
        strom_nexmark::Results::Discard(&sink)
    };
    if strom_nexmark::add_query(query, &source, output).is_none() {
        return Err(JobError::InvalidProgram(format!(
            "unknown query '{query}'; known: {}",
            strom_nexmark::QUERIES.join(", ")
        )));
    }
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    env.execute(&format!("Nexmark {query}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let (measured, p50, p99) = latency.percentiles();
    let latencies = match rate {
        Some(rate) => format!(
            " rate={rate} latency_results={measured} latency_p50_ms={} latency_p99_ms={}",
            p50.map_or("-".to_string(), |ms| ms.to_string()),
            p99.map_or("-".to_string(), |ms| ms.to_string())
        ),
        None => String::new(),
    };
    let results = results.load(std::sync::atomic::Ordering::Relaxed) + measured as u64;
    Ok(format!(
        "strom nexmark query={query} parallelism={parallelism} events={events} input={} results={results} seconds={seconds:.3} events_per_s={:.0} cpu_s={:.2} peak_rss_mb={}{latencies}",
        input.map_or("generated".to_string(), |path| path.display().to_string()),
        events as f64 / seconds,
        cpu_seconds() - cpu_before,
        crate::peak_rss_mb()
    ))
}

/// User and system CPU time of the process so far, in seconds (from `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

/// Writes `events` generated events (one reader, so the same events as a generated run at
/// parallelism 1) as JSON lines into `output/events.json` — one file, in event-time order, so
/// readers that take its byte ranges in order see the events in order — for Strom and Flink.
pub fn write_data(events: u64, output: &Path) -> Result<String, JobError> {
    let failed =
        |error: std::io::Error| JobError::InvalidProgram(format!("{}: {error}", output.display()));
    std::fs::create_dir_all(output).map_err(failed)?;
    let file = std::fs::File::create(output.join("events.json")).map_err(failed)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let generator = Generator::new(GeneratorConfig::default(), 1);
    for number in 0..events {
        serde_json::to_writer(&mut out, &generator.event(number as i64, number))
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(failed)?;
    }
    out.flush().map_err(failed)?;
    Ok(format!(
        "strom nexmark-data events={events} output={}",
        output.join("events.json").display()
    ))
}

/// The number of events in the JSON-lines input `path` (a file, or the visible files of a
/// directory): its lines, counted before any clock starts.
pub fn count_events(path: &Path) -> Result<u64, JobError> {
    let failed = |error: String| JobError::InvalidProgram(format!("{}: {error}", path.display()));
    let mut lines = 0;
    let mut buffer = vec![0u8; 1 << 20];
    for (file, _) in input_files(path).map_err(|error| failed(error.to_string()))? {
        // In pieces, so the count does not raise the process's peak memory.
        let mut reader = std::fs::File::open(&file).map_err(|error| failed(error.to_string()))?;
        loop {
            let read = reader
                .read(&mut buffer)
                .map_err(|error| failed(error.to_string()))?;
            if read == 0 {
                break;
            }
            lines += buffer[..read].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    Ok(lines)
}
