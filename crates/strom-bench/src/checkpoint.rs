//! Checkpoint benchmarks on a keyed job — running counts over `keys` keys of events made from
//! a sequence — measuring what checkpoints cost: throughput with and without them, the newest
//! checkpoint's duration and size, and the time from a failure to processing again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use strom::prelude::*;

use crate::splitmix64;

/// What a run is asked to do.
pub struct Settings {
    pub events: u64,
    pub keys: u64,
    pub parallelism: usize,
    /// `None` runs without checkpoints.
    pub interval: Option<Duration>,
    /// Where checkpoints are written (in memory only when `None`).
    pub directory: Option<PathBuf>,
    /// `state.backend.type`.
    pub state_backend: String,
    /// `state.backend.disk.cache-entries`.
    pub cache_entries: u64,
    /// `execution.checkpointing.incremental`.
    pub incremental: bool,
}

fn environment(settings: &Settings) -> Result<StreamExecutionEnvironment, JobError> {
    let mut config = Configuration::new();
    config
        .set_string("state.backend.type", &settings.state_backend)
        .map_err(JobError::Config)?;
    config
        .set_string(
            "state.backend.disk.cache-entries",
            &settings.cache_entries.to_string(),
        )
        .map_err(JobError::Config)?;
    config
        .set_string(
            "execution.checkpointing.incremental",
            &settings.incremental.to_string(),
        )
        .map_err(JobError::Config)?;
    if let Some(directory) = &settings.directory {
        config
            .set_string("state.checkpoints.dir", &directory.to_string_lossy())
            .map_err(JobError::Config)?;
    }
    let env = StreamExecutionEnvironment::get_execution_environment_with_config(config);
    env.set_parallelism(settings.parallelism);
    if let Some(interval) = settings.interval {
        env.enable_checkpointing(interval);
    }
    Ok(env)
}

/// The keyed job; `fail_at` fails it once at that event.
fn keyed_counts(env: &StreamExecutionEnvironment, settings: &Settings, fail_at: Option<i64>) {
    env.from_sequence(0, settings.events as i64 - 1)
        .process(ToKey {
            keys: settings.keys.max(1),
            fail_at,
        })
        .key_by(|pair| pair.0)
        .sum(1)
        .sink_to(ResumeMarker);
}

/// Discards the counts; the first one written by a sink created after the failure marks the
/// job as processing again (its keyed state is restored by then: the counts come from it).
struct ResumeMarker;

impl Sink<(u64, u64)> for ResumeMarker {
    type Writer = ResumeMarkerWriter;
    fn create_writer(&self, _ctx: &RuntimeContext) -> Result<ResumeMarkerWriter, BoxError> {
        Ok(ResumeMarkerWriter {
            restarted: FAILED.load(Ordering::SeqCst),
        })
    }
}

struct ResumeMarkerWriter {
    restarted: bool,
}

impl SinkWriter<(u64, u64)> for ResumeMarkerWriter {
    fn write(&mut self, _value: (u64, u64), _timestamp: Option<Timestamp>) -> Result<(), BoxError> {
        Ok(())
    }

    fn write_batch(&mut self, _batch: Vec<StreamRecord<(u64, u64)>>) -> Result<(), BoxError> {
        if self.restarted {
            RESUMED_AT
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(Instant::now);
        }
        Ok(())
    }
}

/// Keys an event; fails the job once at `fail_at`.
#[derive(Clone)]
struct ToKey {
    keys: u64,
    fail_at: Option<i64>,
}

impl ProcessFunction<i64, (u64, u64)> for ToKey {
    fn process_element(
        &mut self,
        i: i64,
        _ctx: &mut Context<'_>,
        out: &mut Collector<'_, (u64, u64)>,
    ) -> Result<(), BoxError> {
        if Some(i) == self.fail_at && !FAILED.swap(true, Ordering::SeqCst) {
            *FAILED_AT.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            return Err(format!("injected failure at event {i}").into());
        }
        out.collect((splitmix64(i as u64) % self.keys, 1));
        Ok(())
    }
}

/// Runs the job; one line with throughput and the newest checkpoint's figures.
pub fn run(settings: &Settings) -> Result<String, JobError> {
    let env = environment(settings)?;
    keyed_counts(&env, settings, None);
    let result = env.execute("CheckpointCost")?;
    let seconds = result.get_net_runtime().as_secs_f64();
    let statistics = result.get_checkpoint_statistics();
    Ok(format!(
        "strom checkpoint backend={} incremental={} parallelism={} events={} keys={} interval_ms={} seconds={seconds:.3} events_per_s={:.0} checkpoints={} incremental_checkpoints={} last_checkpoint_ms={} last_checkpoint_mb={:.1} mean_checkpoint_mb={:.1} peak_rss_mb={}",
        settings.state_backend,
        settings.incremental,
        settings.parallelism,
        settings.events,
        settings.keys,
        settings.interval.map_or(0, |i| i.as_millis()),
        settings.events as f64 / seconds,
        statistics.completed,
        statistics.incremental,
        statistics.last_duration.map_or(0, |d| d.as_millis()),
        statistics.last_size_bytes.unwrap_or(0) as f64 / (1 << 20) as f64,
        statistics.total_size_bytes as f64 / statistics.completed.max(1) as f64 / (1 << 20) as f64,
        crate::peak_rss_mb()
    ))
}

/// When the injected failure happened and when processing went on after it.
static FAILED_AT: Mutex<Option<Instant>> = Mutex::new(None);
static RESUMED_AT: Mutex<Option<Instant>> = Mutex::new(None);
static FAILED: AtomicBool = AtomicBool::new(false);

/// Fails the job once, three quarters into the events, and measures the time until the restarted job's
/// sink receives its first result (restart, restore of the latest checkpoint in every task, and
/// the first records through the whole job included).
pub fn recovery(settings: &Settings) -> Result<String, JobError> {
    let env = environment(settings)?;
    env.set_restart_strategy(RestartStrategy::FixedDelay {
        attempts: 1,
        delay: Duration::ZERO,
    });
    // Three quarters in: halfway through the last reader's range at parallelism 1 and 2.
    let fail_at = settings.events as i64 / 4 * 3;
    FAILED.store(false, Ordering::SeqCst);
    *FAILED_AT.lock().unwrap_or_else(|p| p.into_inner()) = None;
    *RESUMED_AT.lock().unwrap_or_else(|p| p.into_inner()) = None;
    keyed_counts(&env, settings, Some(fail_at));
    let result = env.execute("Recovery")?;
    let failed = *FAILED_AT.lock().unwrap_or_else(|p| p.into_inner());
    let resumed = *RESUMED_AT.lock().unwrap_or_else(|p| p.into_inner());
    let recovery_ms = match (failed, resumed) {
        (Some(failed), Some(resumed)) => resumed.duration_since(failed).as_secs_f64() * 1000.0,
        _ => f64::NAN,
    };
    let statistics = result.get_checkpoint_statistics();
    Ok(format!(
        "strom recovery backend={} incremental={} parallelism={} events={} keys={} interval_ms={} checkpoints={} last_checkpoint_mb={:.1} recovery_ms={recovery_ms:.1} peak_rss_mb={}",
        settings.state_backend,
        settings.incremental,
        settings.parallelism,
        settings.events,
        settings.keys,
        settings.interval.map_or(0, |i| i.as_millis()),
        statistics.completed,
        statistics.last_size_bytes.unwrap_or(0) as f64 / (1 << 20) as f64,
        crate::peak_rss_mb()
    ))
}
