//! The Nexmark source and the JSON-lines format through the public API: the events a job
//! reads are exactly those the generator computes for each reader's block of ids, and events
//! written as JSON lines read back equal.

use std::collections::BTreeMap;

use strom::connectors::file_sink::visible_parts;
use strom::connectors::json_lines::{JsonLinesEncoder, JsonLinesSource};
use strom::connectors::nexmark::{Event, Generator, GeneratorConfig, NexmarkSource};
use strom::prelude::*;

mod common;

fn kind(event: &Event) -> &'static str {
    match event {
        Event::Person(_) => "person",
        Event::Auction(_) => "auction",
        Event::Bid(_) => "bid",
    }
}

fn generated_events(events: u64, parallelism: usize) -> Vec<Event> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(parallelism);
    env.from_source(
        NexmarkSource::new(Some(events)),
        WatermarkStrategy::for_monotonous_timestamps(),
        "Nexmark",
    )
    .execute_and_collect()
    .unwrap()
}

#[test]
fn a_bounded_nexmark_source_emits_each_readers_block_of_events() {
    let mut events = generated_events(10_003, 2);
    assert_eq!(events.len(), 10_003);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &events {
        *counts.entry(kind(event)).or_default() += 1;
    }
    // Ids 0..5001 and 5001..10003: 1 person, 3 auctions and 46 bids in every 50 ids.
    let by_id = |id: i64| match id % 50 {
        0 => "person",
        1..=3 => "auction",
        _ => "bid",
    };
    let mut expected_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in 0..10_003 {
        *expected_counts.entry(by_id(id)).or_default() += 1;
    }
    assert_eq!(counts, expected_counts);
    // Exactly the generator's events: reader 0 has ids 0..5001, reader 1 ids 5001..10003, each
    // numbering its own events from 0 on a timeline shared by two readers.
    let generator = Generator::new(GeneratorConfig::default(), 2);
    let mut expected: Vec<Event> = (0..5001)
        .map(|n| generator.event(n, n as u64))
        .chain((0..5002).map(|n| generator.event(5001 + n, n as u64)))
        .collect();
    let key = |event: &Event| event.to_json();
    events.sort_by_cached_key(key);
    expected.sort_by_cached_key(key);
    assert!(
        events == expected,
        "the job's events differ from the generator's"
    );
    // The same run again gives the same events.
    let mut again = generated_events(10_003, 2);
    again.sort_by_cached_key(key);
    assert!(again == events);
}

#[test]
fn events_written_as_json_lines_read_back_equal() {
    let dir = common::temp_dir("nexmark-json");
    let written = dir.join("events");
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    env.from_source(
        NexmarkSource::new(Some(2_000)),
        WatermarkStrategy::no_watermarks(),
        "Nexmark",
    )
    .sink_to(FileSink::for_row_format(&written, JsonLinesEncoder));
    env.execute("write events").unwrap();
    assert!(!visible_parts(&written).unwrap().is_empty());

    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    let mut read = env
        .from_source(
            JsonLinesSource::<Event>::new(&written),
            WatermarkStrategy::no_watermarks(),
            "Events",
        )
        .execute_and_collect()
        .unwrap();
    let mut expected = generated_events(2_000, 2);
    let key = |event: &Event| event.to_json();
    read.sort_by_cached_key(key);
    expected.sort_by_cached_key(key);
    assert_eq!(read.len(), 2_000);
    assert!(read == expected, "events read back differ");

    // A line that is not an event, or not UTF-8, fails the job, naming the file.
    let bad = dir.join("bad.json");
    let read_error = |contents: &[u8]| {
        std::fs::write(&bad, contents).unwrap();
        let env = StreamExecutionEnvironment::get_execution_environment();
        env.from_source(
            JsonLinesSource::<Event>::new(&bad),
            WatermarkStrategy::no_watermarks(),
            "Events",
        )
        .sink_to(DiscardingSink::new());
        env.execute("bad events").unwrap_err().to_string()
    };
    let error = read_error(b"{\"event_type\":7}\n");
    assert!(
        error.contains("bad.json: a line is not the JSON expected"),
        "{error}"
    );
    let error = read_error(b"{\"event_type\":\xff}\n");
    assert!(error.contains("bad.json: a line is not UTF-8"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_rate_limited_source_keeps_to_its_rate_and_spaces_event_times_by_it() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    let started = std::time::Instant::now();
    let events = env
        .from_source(
            NexmarkSource::new(Some(1_000)).with_rate_limit(4_000),
            WatermarkStrategy::for_monotonous_timestamps(),
            "Nexmark",
        )
        .execute_and_collect()
        .unwrap();
    // 1,000 events at 4,000 a second: a quarter of a second, of wall clock and of event time.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(240),
        "{elapsed:?}"
    );
    assert_eq!(events.len(), 1_000);
    let first = events.first().unwrap().date_time();
    let last = events.last().unwrap().date_time();
    assert_eq!(last - first, 249, "999 gaps of 250 microseconds");
}
