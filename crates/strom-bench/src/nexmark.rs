//! `strom-bench nexmark`: a Nexmark query on generated events into a counting blackhole, with
//! the job's events per second, the process's CPU seconds and peak memory.

use std::time::Instant;

use strom::connectors::nexmark::NexmarkSource;
use strom::prelude::*;

/// Runs `query` on `events` generated events at `parallelism`; one line of figures.
pub fn run(query: &str, events: u64, parallelism: usize) -> Result<String, JobError> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(parallelism);
    let source = env.from_source(
        NexmarkSource::new(Some(events)),
        WatermarkStrategy::for_monotonous_timestamps(),
        "Nexmark",
    );
    let sink = DiscardingSink::new();
    let results = sink.counter();
    if strom_nexmark::add_query(query, &source, &sink).is_none() {
        return Err(JobError::InvalidProgram(format!(
            "unknown query '{query}'; known: {}",
            strom_nexmark::QUERIES.join(", ")
        )));
    }
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    env.execute(&format!("Nexmark {query}"))?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(format!(
        "strom nexmark query={query} parallelism={parallelism} events={events} results={} seconds={seconds:.3} events_per_s={:.0} cpu_s={:.2} peak_rss_mb={}",
        results.load(std::sync::atomic::Ordering::Relaxed),
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
