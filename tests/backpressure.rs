//! A slow sink slows the source: what is in flight stays bounded and nothing is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strom::prelude::*;

#[derive(Clone)]
struct SlowSink {
    emitted: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<i64>>>,
    max_in_flight: Arc<AtomicU64>,
}

struct SlowWriter(SlowSink);

impl Sink<i64> for SlowSink {
    type Writer = SlowWriter;
    fn create_writer(&self, _ctx: &RuntimeContext) -> Result<SlowWriter, BoxError> {
        Ok(SlowWriter(self.clone()))
    }
}

impl SinkWriter<i64> for SlowWriter {
    fn write(&mut self, value: i64, _timestamp: Option<Timestamp>) -> Result<(), BoxError> {
        let mut received = self.0.received.lock().unwrap();
        received.push(value);
        let in_flight = self.0.emitted.load(Ordering::SeqCst) - received.len() as u64;
        self.0.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        drop(received);
        if value % 1000 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

#[test]
fn a_slow_sink_bounds_what_is_in_flight_and_loses_nothing() {
    const RECORDS: i64 = 200_000;
    let sink = SlowSink {
        emitted: Arc::default(),
        received: Arc::default(),
        max_in_flight: Arc::default(),
    };
    let emitted = Arc::clone(&sink.emitted);
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    env.from_sequence(1, RECORDS)
        .map(move |n| {
            emitted.fetch_add(1, Ordering::SeqCst);
            n
        })
        .disable_chaining()
        .map(|n| n)
        .disable_chaining()
        .sink_to(sink.clone())
        .disable_chaining();
    env.execute("backpressure").unwrap();
    assert_eq!(
        *sink.received.lock().unwrap(),
        (1..=RECORDS).collect::<Vec<_>>(),
        "all records, in order"
    );
    // Two channels of two batches of 1024 records, plus one batch being built and one being
    // processed at each of the three tasks: far below the 200,000 records of the input.
    let bound = 2 * 2 * 1024 + 6 * 1024;
    let max_in_flight = sink.max_in_flight.load(Ordering::SeqCst);
    assert!(
        max_in_flight <= bound,
        "{max_in_flight} records were in flight, more than {bound}"
    );
    assert!(max_in_flight > 0);
}
