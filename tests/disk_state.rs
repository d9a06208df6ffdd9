//! The disk state backend: keyed state far larger than the heap share the job is given stays
//! exact, and the process's memory stays well below the state's size (its restore after a
//! failure is tested with the other checkpoint tests).
//!
//! This file's one test runs in its own process, so the process's peak memory is its own.

use std::sync::atomic::Ordering;

use strom::prelude::*;

/// Bytes each key keeps.
const VALUE_BYTES: usize = 1024;
const KEYS: i64 = 200_000;

const BLOB: ValueStateDescriptor<Vec<u8>> = ValueStateDescriptor::new("blob");

/// Stores a kilobyte per key on its first record and checks it on its second, emitting the key
/// when the stored bytes are the expected ones.
#[derive(Clone)]
struct StoreThenCheck;

fn blob_of(key: i64) -> Vec<u8> {
    vec![(key % 251) as u8; VALUE_BYTES]
}

impl KeyedProcessFunction<i64, i64, i64> for StoreThenCheck {
    type State = ();

    fn process_element(
        &mut self,
        _value: i64,
        ctx: &mut KeyedContext<'_, i64, ()>,
        out: &mut Collector<'_, i64>,
    ) -> Result<(), BoxError> {
        let key = *ctx.get_current_key();
        let mut blob = ctx.keyed_state().get_state(&BLOB)?;
        match blob.value() {
            None => blob.update(blob_of(key))?,
            Some(stored) if *stored == blob_of(key) => out.collect(key),
            Some(_) => return Err(format!("key {key} has the wrong bytes").into()),
        }
        Ok(())
    }
}

/// The process's peak resident memory in bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn disk_environment(cache_entries: &str) -> StreamExecutionEnvironment {
    let mut config = Configuration::new();
    config.set_string("state.backend.type", "disk").unwrap();
    config
        .set_string("state.backend.disk.cache-entries", cache_entries)
        .unwrap();
    StreamExecutionEnvironment::get_execution_environment_with_config(config)
}

#[test]
fn state_larger_than_the_heap_share_stays_exact_and_out_of_memory() {
    let before = peak_rss();
    let env = disk_environment("1000");
    env.set_parallelism(2);
    let counter = DiscardingSink::new();
    let checked = counter.counter();
    // Every key twice: 0..KEYS, then 0..KEYS again.
    env.from_sequence(0, 2 * KEYS - 1)
        .key_by(|n| n % KEYS)
        .process(StoreThenCheck)
        .sink_to(counter);
    env.execute("state larger than the heap share").unwrap();
    assert_eq!(checked.load(Ordering::SeqCst), KEYS as u64);
    let state_bytes = KEYS as u64 * VALUE_BYTES as u64;
    let grown = peak_rss().saturating_sub(before);
    // 200 MB of state; the heap holds 1000 entries per subtask, the LSM trees their memtables
    // and block cache.
    assert!(
        grown < state_bytes / 2,
        "the process grew by {} MB for {} MB of state",
        grown >> 20,
        state_bytes >> 20
    );
}
