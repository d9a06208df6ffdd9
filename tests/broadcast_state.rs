//! The broadcast state pattern end to end: rules broadcast to every subtask of a keyed
//! operator are kept as broadcast state and read by keyed records and timers; broadcast state
//! is restored from a checkpoint after a failure, at the parallelism the job runs at.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use strom::prelude::*;

mod common;

/// Per category, the amount above which a purchase is flagged.
const THRESHOLDS: MapStateDescriptor<String, i64> = MapStateDescriptor::new("thresholds");
/// The purchases of the current user waiting for their event time.
const PENDING: ListStateDescriptor<(String, i64, i64)> = ListStateDescriptor::new("pending");

/// A purchase: user, category, amount, event time.
type Purchase = (String, String, i64, i64);

/// Flags purchases above their category's threshold. Purchases wait for their event time
/// (a timer), so every rule broadcast before then is known when they are judged.
#[derive(Clone)]
struct FlagLargePurchases;

impl KeyedBroadcastProcessFunction<String, Purchase, (String, i64), String> for FlagLargePurchases {
    fn process_element(
        &mut self,
        (_, category, amount, time): Purchase,
        ctx: &mut ReadOnlyContext<'_, '_, String>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        ctx.keyed_state()
            .get_list_state(&PENDING)?
            .add((category, amount, time))?;
        ctx.timer_service().register_event_time_timer(time);
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        (category, threshold): (String, i64),
        ctx: &mut BroadcastContext<'_, String>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        ctx.get_broadcast_state(&THRESHOLDS)?
            .insert(category, threshold);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut ReadOnlyContext<'_, '_, String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let user = ctx.get_current_key().clone();
        let (due, waiting): (Vec<_>, Vec<_>) = ctx
            .keyed_state()
            .get_list_state(&PENDING)?
            .get()
            .iter()
            .cloned()
            .partition(|(_, _, time)| *time <= timestamp);
        ctx.keyed_state()
            .get_list_state(&PENDING)?
            .update(waiting)?;
        let thresholds = ctx.get_broadcast_state(&THRESHOLDS)?;
        for (category, amount, _) in due {
            match thresholds.get(&category) {
                Some(limit) if amount > *limit => {
                    out.collect(format!("{user} {category} {amount} at {timestamp}"))
                }
                Some(_) => {}
                None => out.collect(format!(
                    "{user} {category} {amount} at {timestamp}: no rule"
                )),
            }
        }
        Ok(())
    }
}

fn purchases(env: &StreamExecutionEnvironment) -> DataStream<Purchase> {
    let purchases: Vec<Purchase> = (0..40)
        .map(|n| {
            let user = format!("u{}", n % 4);
            let category = ["books", "games", "tools"][n as usize % 3].to_string();
            (user, category, n * 10, n)
        })
        .collect();
    env.from_collection(purchases)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|p: &Purchase, _| p.3),
        )
}

/// The rules as the job sees them last (a later rule of a category replaces the earlier).
fn rules(env: &StreamExecutionEnvironment) -> DataStream<(String, i64)> {
    env.from_collection(vec![
        ("books".to_string(), 1000),
        ("games".to_string(), 250),
        ("books".to_string(), 300),
    ])
}

/// What the job must flag: tools have no rule, books over 300, games over 250.
fn expected() -> Vec<String> {
    let mut lines: Vec<String> = (0..40i64)
        .filter_map(|n| {
            let user = format!("u{}", n % 4);
            let amount = n * 10;
            match n % 3 {
                0 if amount > 300 => Some(format!("{user} books {amount} at {n}")),
                1 if amount > 250 => Some(format!("{user} games {amount} at {n}")),
                2 => Some(format!("{user} tools {amount} at {n}: no rule")),
                _ => None,
            }
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn keyed_records_read_the_rules_every_subtask_was_sent() {
    for parallelism in [1, 3] {
        let env = StreamExecutionEnvironment::get_execution_environment();
        env.set_parallelism(parallelism);
        let flagged = purchases(&env)
            .key_by(|p| p.0.clone())
            .connect_broadcast(&rules(&env).broadcast_state(&THRESHOLDS))
            .process(FlagLargePurchases)
            .collect_async();
        env.execute("broadcast rules").unwrap();
        let mut flagged = flagged.take();
        flagged.sort();
        assert_eq!(flagged, expected(), "parallelism {parallelism}");
    }
}

/// Counts purchases per user; a broadcast "reset" clears every user's count through
/// `apply_to_keyed_state`, and a broadcast "report" emits the counts of every user.
#[derive(Clone)]
struct CountUntilReset;

const COUNT: ValueStateDescriptor<u32> = ValueStateDescriptor::new("count");

impl KeyedBroadcastProcessFunction<String, Purchase, String, String> for CountUntilReset {
    fn process_element(
        &mut self,
        _purchase: Purchase,
        ctx: &mut ReadOnlyContext<'_, '_, String>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        let mut count = ctx.keyed_state().get_state(&COUNT)?;
        let next = count.value().copied().unwrap_or(0) + 1;
        count.update(next)?;
        PURCHASES_COUNTED.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        command: String,
        ctx: &mut BroadcastContext<'_, String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        ctx.apply_to_keyed_state(&COUNT, |user, mut count| {
            if command == "report" {
                out.collect(format!("{user}={}", count.value().copied().unwrap_or(0)));
            } else {
                count.clear();
            }
            Ok(())
        })
    }
}

/// Purchases the keyed side of `CountUntilReset` has counted (its test runs it once).
static PURCHASES_COUNTED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_broadcast_element_reaches_the_state_of_every_key() {
    // The commands come after all purchases: the commands' source waits until the keyed
    // operator counted every purchase.
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    let commands = env
        .from_collection(vec![
            "report".to_string(),
            "reset".to_string(),
            "report".to_string(),
        ])
        .map(|command: String| {
            while PURCHASES_COUNTED.load(Ordering::SeqCst) < 40 {
                std::thread::sleep(Duration::from_millis(1));
            }
            command
        })
        .set_parallelism(1);
    let reports = purchases(&env)
        .key_by(|p| p.0.clone())
        .connect_broadcast(&commands.broadcast_state(&THRESHOLDS))
        .process(CountUntilReset)
        .collect_async();
    env.execute("apply to keyed state").unwrap();
    let mut reports = reports.take();
    reports.sort();
    // Every user made 10 purchases; after the reset no user has a count, so the second
    // report says nothing.
    assert_eq!(reports, ["u0=10", "u1=10", "u2=10", "u3=10"]);
}

#[test]
fn a_broadcast_state_that_was_not_declared_fails_the_job_naming_it() {
    #[derive(Clone)]
    struct UsesUndeclared;
    impl KeyedBroadcastProcessFunction<String, Purchase, (String, i64), String> for UsesUndeclared {
        fn process_element(
            &mut self,
            _: Purchase,
            _: &mut ReadOnlyContext<'_, '_, String>,
            _: &mut Collector<'_, String>,
        ) -> Result<(), BoxError> {
            Ok(())
        }
        fn process_broadcast_element(
            &mut self,
            (category, limit): (String, i64),
            ctx: &mut BroadcastContext<'_, String>,
            _: &mut Collector<'_, String>,
        ) -> Result<(), BoxError> {
            let limits: MapStateDescriptor<String, i64> = MapStateDescriptor::new("limits");
            ctx.get_broadcast_state(&limits)?.insert(category, limit);
            Ok(())
        }
    }
    let env = StreamExecutionEnvironment::get_execution_environment();
    purchases(&env)
        .key_by(|p| p.0.clone())
        .connect_broadcast(&rules(&env).broadcast_state(&THRESHOLDS))
        .process(UsesUndeclared)
        .sink_to(DiscardingSink::new());
    let error = env.execute("undeclared").unwrap_err().to_string();
    assert!(error.contains("KeyedBroadcastProcess"), "{error}");
    assert!(
        error.contains("broadcast state 'limits' was not declared"),
        "{error}"
    );
}

static FAILED: AtomicBool = AtomicBool::new(false);

#[test]
fn broadcast_state_is_restored_after_a_failure() {
    // The rules' source finishes at once and is restored as finished: after the restart the
    // rules can only come from the checkpoint's broadcast state.
    let env = common::recovering_environment();
    let purchases = env
        .from_sequence(0, 799)
        .map(|n: i64| {
            std::thread::sleep(Duration::from_micros(500));
            if n == 600 && !FAILED.swap(true, Ordering::SeqCst) {
                panic!("injected failure at purchase 600");
            }
            let category = ["books", "games", "tools"][n as usize % 3].to_string();
            (format!("u{}", n % 4), category, n, n)
        })
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|p: &Purchase, _| p.3),
        );
    let flagged = purchases
        .key_by(|p| p.0.clone())
        .connect_broadcast(&rules(&env).broadcast_state(&THRESHOLDS))
        .process(FlagLargePurchases)
        .collect_async();
    env.execute("broadcast state recovering").unwrap();
    assert!(FAILED.load(Ordering::SeqCst));
    let flagged = flagged.take();
    // Each purchase is judged once with the rules: books over 300, games over 250, tools
    // have none. Results emitted between the last checkpoint and the failure are emitted again
    // (the collecting sink is not transactional), so count distinct lines.
    let mut distinct = flagged;
    distinct.sort();
    distinct.dedup();
    let books = (0..800).filter(|n| n % 3 == 0 && *n > 300).count();
    let games = (0..800).filter(|n| n % 3 == 1 && *n > 250).count();
    let tools = (0..800).filter(|n| n % 3 == 2).count();
    assert!(!distinct
        .iter()
        .any(|line| !line.contains("tools") && line.ends_with("no rule")));
    assert_eq!(distinct.len(), books + games + tools);
}

/// Broadcast elements every subtask of the non-keyed operator has processed.
static STOP_WORDS_SEEN: AtomicUsize = AtomicUsize::new(0);

const STOP_WORDS: MapStateDescriptor<String, ()> = MapStateDescriptor::new("stop-words");

/// Drops the words the broadcast stream named, and counts what it sees.
#[derive(Clone)]
struct DropStopWords;

impl BroadcastProcessFunction<String, String, String> for DropStopWords {
    fn process_element(
        &mut self,
        word: String,
        ctx: &mut BroadcastProcessReadOnlyContext<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        if !ctx.get_broadcast_state(&STOP_WORDS)?.contains_key(&word) {
            out.collect(word);
        }
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        word: String,
        ctx: &mut BroadcastProcessContext<'_>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), BoxError> {
        ctx.get_broadcast_state(&STOP_WORDS)?.insert(word, ());
        STOP_WORDS_SEEN.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_stream_that_is_not_keyed_reads_the_broadcast_state_in_every_subtask() {
    let env = StreamExecutionEnvironment::get_execution_environment();
    env.set_parallelism(2);
    let stop_words = env
        .from_collection(vec!["the".to_string(), "a".to_string()])
        .set_parallelism(1);
    // The words wait until both subtasks of the operator know both stop words.
    let words = env
        .from_collection(
            "the cat saw a dog and the bird"
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
        .map(|word: String| {
            while STOP_WORDS_SEEN.load(Ordering::SeqCst) < 4 {
                std::thread::sleep(Duration::from_millis(1));
            }
            word
        });
    let kept = words
        .connect_broadcast(&stop_words.broadcast_state(&STOP_WORDS))
        .process(DropStopWords)
        .collect_async();
    env.execute("stop words").unwrap();
    let mut kept = kept.take();
    kept.sort();
    assert_eq!(kept, ["and", "bird", "cat", "dog", "saw"]);
}
