//! Average temperature per sensor and 10-second tumbling event-time window, with readings that
//! arrive too late sent to a side output instead of being lost:
//!
//! ```text
//! cargo run --release --example sensor_averages
//! ```
//!
//! Readings arrive up to three seconds out of order; watermarks allow two seconds. A reading
//! later than that is still counted while its window is within the one second of allowed
//! lateness (the window fires again with the corrected average); later still, it goes to the
//! `late-readings` side output, printed with the `late` prefix.

use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strom::prelude::*;

#[path = "common/exit.rs"]
mod exit;

/// A temperature reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    timestamp: Timestamp,
    celsius: f64,
}

impl std::fmt::Display for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}={:.1}", self.sensor, self.timestamp, self.celsius)
    }
}
printable_via_display!(Reading);

/// Bounded out-of-orderness, but with a watermark after every reading instead of periodically,
/// so the output does not depend on how fast the machine is.
struct EveryReading {
    max_timestamp: Timestamp,
}

impl WatermarkGenerator<Reading> for EveryReading {
    fn on_event(&mut self, _: &Reading, timestamp: Timestamp, output: &mut WatermarkOutput) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
        output.emit_watermark(Watermark(self.max_timestamp - OUT_OF_ORDERNESS - 1));
    }
    fn on_periodic_emit(&mut self, _: &mut WatermarkOutput) {}
}

const OUT_OF_ORDERNESS: Timestamp = 2_000;

/// Sum and count of a window's temperatures.
#[derive(Clone)]
struct AverageTemperature;

impl AggregateFunction<Reading> for AverageTemperature {
    type Acc = (f64, u64);
    type Out = f64;

    fn create_accumulator(&self) -> (f64, u64) {
        (0.0, 0)
    }
    fn add(&self, reading: Reading, acc: &mut (f64, u64)) {
        acc.0 += reading.celsius;
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(f64, u64)) -> f64 {
        acc.0 / acc.1 as f64
    }
    fn merge(&self, acc: &mut (f64, u64), other: (f64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
}

/// Formats each average with its sensor and window.
#[derive(Clone)]
struct WithWindow;

impl ProcessWindowFunction<f64, String, String, TimeWindow> for WithWindow {
    fn process(
        &mut self,
        sensor: &String,
        ctx: &mut WindowContext<'_, String, TimeWindow>,
        averages: Vec<f64>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let window = ctx.window();
        for average in averages {
            out.collect(format!(
                "{sensor} [{}s,{}s) avg={average:.2}",
                window.start() / 1000,
                window.end() / 1000
            ));
        }
        Ok(())
    }
}

/// Thirty seconds of readings of three sensors, shuffled by up to three seconds, plus two
/// stragglers.
fn readings() -> Vec<Reading> {
    let mut readings = Vec::new();
    for second in 0..30i64 {
        for (index, sensor) in ["s1", "s2", "s3"].iter().enumerate() {
            let celsius = 20.0 + index as f64 + (second % 7) as f64 * 0.5;
            readings.push(Reading {
                sensor: sensor.to_string(),
                timestamp: second * 1000 + 100 * index as i64,
                celsius,
            });
        }
    }
    // Arrival order: by time, but every fourth reading three seconds late.
    readings.sort_by_key(|r| {
        r.timestamp
            + if (r.timestamp / 100) % 4 == 0 {
                3000
            } else {
                0
            }
    });
    let mut straggle = |at: usize, sensor: &str, timestamp, celsius| {
        readings.insert(
            at,
            Reading {
                sensor: sensor.to_string(),
                timestamp,
                celsius,
            },
        )
    };
    // Within the allowed lateness of the window [0s,10s): it fires again.
    straggle(37, "s1", 9_500, 40.0);
    // Past it: to the side output.
    straggle(60, "s2", 4_000, 99.0);
    readings
}

fn run() -> Result<(), JobError> {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(1);
    let late = OutputTag::<Reading>::new("late-readings");
    let averages = env
        .from_collection(readings())
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_generator(|| EveryReading {
                max_timestamp: Timestamp::MIN + OUT_OF_ORDERNESS + 1,
            })
            .with_timestamp_assigner(|r: &Reading, _| r.timestamp),
        )
        .key_by(|r| r.sensor.clone())
        .window(TumblingEventTimeWindows::of(Duration::from_secs(10)))
        .allowed_lateness(Duration::from_secs(1))
        .side_output_late_data(&late)
        .aggregate_and_process(AverageTemperature, WithWindow);
    averages.print();
    averages
        .get_side_output(&late)
        .print_with_identifier("late");
    env.execute("Sensor Averages").map(|_| ())
}

fn main() -> ExitCode {
    exit::exit_code(run())
}
