//! The window operator for the most common windows: event-time windows that do not merge
//! (tumbling, sliding) with the default event-time trigger, which fires each window once the
//! watermark passes its end.
//!
//! Such windows end at the same time for every key, so their state is kept per window rather
//! than per key: a table per open window holds each key's contents in the order the key's
//! first record arrived. A record costs one lookup in its window's table, whose index is small
//! and whose entries are dense; a watermark fires a whole window by walking its table in order,
//! instead of popping one timer per key and window. The results, their order (per window, keys
//! in the order their timers would have been registered) and the handling of allowed lateness
//! and late records are exactly the general [`WindowOperator`](super::operator)'s, which serves
//! every other combination of assigner and trigger.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::marker::PhantomData;

use hashbrown::HashTable;
use strom_core::key_group::{key_hash, KeyGroupAssigner, KeyGroupRange};
use strom_core::{BoxError, CheckpointId, StreamData, StreamRecord, Timestamp, Watermark};
use strom_runtime::checkpoint::{OperatorStateSnapshot, RestoredOperatorState};
use strom_runtime::exchange::KeyedRecord;
use strom_runtime::operator::{OneInputOperator, OperatorContext, Output, SideOutputs};
use strom_runtime::processing_time::ProcessingTimeService;
use strom_state::{ForeignKeyGroup, KeyGroupParts, KeyedStateBackend};

use super::assigners::WindowAssigner;
use super::contents::{WindowContents, WindowFunction};
use super::functions::WindowContext;
use super::operator::{MISSING_TIMESTAMP, NAMED_STATES, WINDOWS};
use super::routing::{add_to_windows, emit_if_late};
use super::window::Window;
use crate::keyed_process::task_clock;

/// The contents of one open window for every key that has records in it.
struct WindowTable<K, W, Acc> {
    window: W,
    /// `(key, key hash, contents)`, in the order each key's first record arrived.
    entries: Vec<(K, u64, Acc)>,
    /// Positions in `entries`, by key hash.
    index: HashTable<u32>,
    /// Whether the watermark has passed the window's end (it has fired for every key).
    fired: bool,
}

impl<K: Eq, W, Acc> WindowTable<K, W, Acc> {
    /// A table for `window`; `fired` when the watermark has passed its end already (its records
    /// fire as they arrive: no firing is due at the watermark).
    fn new(window: W, fired: bool) -> Self {
        WindowTable {
            window,
            entries: Vec::new(),
            index: HashTable::new(),
            fired,
        }
    }

    /// The position of `key`'s contents, inserting `create()` when the key has none yet.
    #[inline]
    fn position_or_insert<E>(
        &mut self,
        key: &K,
        hash: u64,
        create: impl FnOnce() -> Result<Acc, E>,
    ) -> Result<usize, E>
    where
        K: Clone,
    {
        let entries = &self.entries;
        let found = self
            .index
            .find(hash, |&position| entries[position as usize].0 == *key);
        Ok(match found {
            Some(&position) => position as usize,
            None => {
                let position = self.entries.len();
                self.entries.push((key.clone(), hash, create()?));
                let entries = &self.entries;
                self.index
                    .insert_unique(hash, position as u32, |&p| entries[p as usize].1);
                position
            }
        })
    }
}

/// A window in a snapshot: the window, whether it fired, and its keys' contents.
type SnapshotWindow<'a, K, W, Acc> = (&'a W, bool, Vec<(&'a K, &'a Acc)>);
type RestoredWindow<K, W, Acc> = (W, bool, Vec<(K, Acc)>);
/// The windows of a snapshot by key group.
type SnapshotGroups<'a, K, W, Acc> = BTreeMap<usize, Vec<SnapshotWindow<'a, K, W, Acc>>>;

/// The open windows by end (a list per end: a custom assigner may end two windows at once).
type OpenTables<K, W, Acc> = BTreeMap<Timestamp, Vec<WindowTable<K, W, Acc>>>;

/// Flink's `WindowOperator` for non-merging event-time windows with the event-time trigger.
pub(crate) struct AlignedWindowOperator<K, T, A, C, F, OUT>
where
    A: WindowAssigner<T>,
    C: WindowContents<T, A::W>,
{
    tables: OpenTables<K, A::W, C::Acc>,
    assigner: A,
    allowed_lateness: Timestamp,
    late_data_tag: Option<String>,
    evaluator: Evaluator<K, C, F>,
    watermark: Timestamp,
    time: ProcessingTimeService,
    key_groups: KeyGroupAssigner,
    key_group_range: KeyGroupRange,
    assigned: Vec<A::W>,
    _types: PhantomData<fn(T) -> OUT>,
}

impl<K, T, A, C, F, OUT> AlignedWindowOperator<K, T, A, C, F, OUT>
where
    K: StreamData + std::hash::Hash + Eq,
    T: Clone + Send + 'static,
    A: WindowAssigner<T>,
    C: WindowContents<T, A::W>,
    F: WindowFunction<K, A::W, C::Result, OUT>,
    OUT: 'static,
{
    pub(crate) fn new(
        assigner: A,
        allowed_lateness: Timestamp,
        late_data_tag: Option<String>,
        contents: C,
        function: F,
        ctx: &OperatorContext,
    ) -> Self {
        AlignedWindowOperator {
            tables: BTreeMap::new(),
            assigner,
            allowed_lateness,
            late_data_tag,
            evaluator: Evaluator {
                contents,
                function,
                states: ctx.keyed_state_backend().with_clock(task_clock(ctx)),
            },
            watermark: Timestamp::MIN,
            time: ctx.processing_time.clone(),
            key_groups: KeyGroupAssigner::new(ctx.max_parallelism),
            key_group_range: ctx.key_group_range,
            assigned: Vec::new(),
            _types: PhantomData,
        }
    }

    fn cleanup_time(&self, window: &A::W) -> Timestamp {
        window.max_timestamp().saturating_add(self.allowed_lateness)
    }

    #[inline]
    fn process_record(
        &mut self,
        record: StreamRecord<KeyedRecord<K, T>>,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let KeyedRecord { key, hash, value } = record.value;
        let timestamp = record.timestamp.ok_or(MISSING_TIMESTAMP)?;
        let mut assigned = std::mem::take(&mut self.assigned);
        self.assigner
            .assign_windows(&value, timestamp, &mut assigned);
        let unrouted = add_to_windows(
            self,
            &mut assigned,
            value,
            |op, window| (op.cleanup_time(&window) > op.watermark).then_some(window),
            |op, window, element| op.add(&key, hash, window, element, timestamp, now, out),
        );
        self.assigned = assigned;
        if let Some(value) = unrouted? {
            emit_if_late(
                value,
                timestamp,
                self.allowed_lateness,
                self.watermark,
                self.late_data_tag.as_deref(),
                &mut out.side,
            );
        }
        Ok(())
    }

    /// Adds a record to `key`'s contents of `window`; fires at once when the watermark has
    /// already passed the window's end (a late record within the allowed lateness).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn add(
        &mut self,
        key: &K,
        hash: u64,
        window: A::W,
        value: T,
        timestamp: Timestamp,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let end = window.max_timestamp();
        let tables = self.tables.entry(end).or_default();
        let table = match tables.iter().position(|table| table.window == window) {
            Some(index) => &mut tables[index],
            None => {
                tables.push(WindowTable::new(window, end <= self.watermark));
                tables.last_mut().expect("a table was just pushed")
            }
        };
        let evaluator = &mut self.evaluator;
        let contents = &evaluator.contents;
        let (key_groups, range) = (&self.key_groups, self.key_group_range);
        let position = table.position_or_insert(key, hash, || {
            // A new key for this window: make sure this subtask owns it.
            let key_group = key_groups.key_group(hash);
            if range.contains(key_group) {
                Ok(contents.create())
            } else {
                Err(ForeignKeyGroup { key_group, range })
            }
        })?;
        let acc = &mut table.entries[position].2;
        contents.add(acc, StreamRecord::with_timestamp(value, timestamp));
        if end <= self.watermark {
            let at = Evaluation {
                window: &table.window,
                key,
                hash,
                watermark: self.watermark,
                now,
            };
            evaluator.fire(at, acc, out)?;
        }
        Ok(())
    }

    /// Puts back the windows of one key group from a snapshot.
    fn restore_windows(&mut self, bytes: &[u8]) -> Result<(), BoxError> {
        let windows: Vec<RestoredWindow<K, A::W, C::Acc>> = postcard::from_bytes(bytes)?;
        for (window, fired, entries) in windows {
            let tables = self.tables.entry(window.max_timestamp()).or_default();
            let index = match tables.iter().position(|table| table.window == window) {
                Some(index) => index,
                None => {
                    tables.push(WindowTable::new(window, fired));
                    tables.len() - 1
                }
            };
            let table = &mut tables[index];
            for (key, acc) in entries {
                let mut acc = Some(acc);
                let hash = key_hash(&key);
                let position = table.position_or_insert(&key, hash, || {
                    Ok::<_, Infallible>(acc.take().expect("taken once"))
                })?;
                if let Some(acc) = acc {
                    table.entries[position].2 = acc;
                }
            }
        }
        Ok(())
    }

    /// Fires the windows the watermark has passed and drops those past their allowed lateness,
    /// in the order their timers would fire: by time, a window's drop before a later window's
    /// firing at the same time.
    fn advance(&mut self, now: Timestamp, out: &mut Output<OUT>) -> Result<(), BoxError> {
        loop {
            let next_fire = self
                .tables
                .iter()
                .flat_map(|(&end, tables)| tables.iter().map(move |t| (end, t.fired)))
                .find(|&(_, fired)| !fired)
                .map(|(end, _)| end)
                .filter(|&end| end <= self.watermark);
            // Only fired windows are dropped here (without allowed lateness, firing drops).
            let next_drop = self
                .tables
                .iter()
                .next()
                .filter(|(_, tables)| tables.iter().all(|table| table.fired))
                .map(|(&end, _)| end.saturating_add(self.allowed_lateness))
                .filter(|&cleanup| cleanup <= self.watermark);
            match (next_fire, next_drop) {
                (Some(fire), Some(drop)) if drop <= fire => self.drop_windows(now, out)?,
                (Some(fire), _) => self.fire_windows(fire, now, out)?,
                (None, Some(_)) => self.drop_windows(now, out)?,
                (None, None) => return Ok(()),
            }
        }
    }

    /// Fires the windows ending at `end` for every key (and, with no allowed lateness, drops
    /// each key's contents right after its firing, as the one timer does in Flink).
    fn fire_windows(
        &mut self,
        end: Timestamp,
        now: Timestamp,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let drop_at_once = self.allowed_lateness == 0;
        let mut tables = self.tables.remove(&end).unwrap_or_default();
        for table in &mut tables {
            if table.fired {
                continue;
            }
            table.fired = true;
            for (key, hash, acc) in &mut table.entries {
                let at = || Evaluation {
                    window: &table.window,
                    key,
                    hash: *hash,
                    watermark: self.watermark,
                    now,
                };
                self.evaluator.fire(at(), acc, out)?;
                if drop_at_once {
                    self.evaluator.clear(at(), out)?;
                }
            }
        }
        if !drop_at_once {
            self.tables.insert(end, tables);
        }
        Ok(())
    }

    /// Drops the earliest-ending windows, telling the window function for every key.
    fn drop_windows(&mut self, now: Timestamp, out: &mut Output<OUT>) -> Result<(), BoxError> {
        let Some((_, tables)) = self.tables.pop_first() else {
            return Ok(());
        };
        for table in tables {
            for (key, hash, _) in &table.entries {
                let at = Evaluation {
                    window: &table.window,
                    key,
                    hash: *hash,
                    watermark: self.watermark,
                    now,
                };
                self.evaluator.clear(at, out)?;
            }
        }
        Ok(())
    }
}

/// What evaluates windows: the contents, the window function and its named states.
struct Evaluator<K, C, F> {
    contents: C,
    function: F,
    states: KeyedStateBackend<K>,
}

/// Which key's window is evaluated, and when.
struct Evaluation<'a, K, W> {
    window: &'a W,
    key: &'a K,
    hash: u64,
    watermark: Timestamp,
    now: Timestamp,
}

impl<'a, K, W> Evaluation<'a, K, W> {
    /// The context a window function sees for this evaluation.
    fn context<'b>(
        &'b self,
        side: &'b mut SideOutputs,
        states: &'b mut KeyedStateBackend<K>,
    ) -> WindowContext<'b, K, W> {
        WindowContext {
            window: self.window,
            key: self.key,
            key_hash: self.hash,
            watermark: self.watermark,
            processing_time: self.now,
            side,
            states,
            merging: false,
        }
    }
}

impl<K, C, F> Evaluator<K, C, F> {
    /// Evaluates one key's contents of a window.
    fn fire<T, W, OUT>(
        &mut self,
        at: Evaluation<'_, K, W>,
        acc: &mut C::Acc,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError>
    where
        C: WindowContents<T, W>,
        F: WindowFunction<K, W, C::Result, OUT>,
    {
        let results = self.contents.results(acc, at.window);
        let mut ctx = at.context(&mut out.side, &mut self.states);
        self.function
            .apply(at.key, results, &mut ctx, &mut out.main)
    }

    /// Tells the window function one key's window is gone.
    fn clear<T, W, OUT>(
        &mut self,
        at: Evaluation<'_, K, W>,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError>
    where
        C: WindowContents<T, W>,
        F: WindowFunction<K, W, C::Result, OUT>,
    {
        let mut ctx = at.context(&mut out.side, &mut self.states);
        self.function.clear(&mut ctx)
    }
}

impl<K, T, A, C, F, OUT> OneInputOperator<KeyedRecord<K, T>, OUT>
    for AlignedWindowOperator<K, T, A, C, F, OUT>
where
    K: StreamData + std::hash::Hash + Eq,
    T: Clone + Send + 'static,
    A: WindowAssigner<T>,
    C: WindowContents<T, A::W>,
    F: WindowFunction<K, A::W, C::Result, OUT>,
    OUT: 'static,
{
    fn snapshot_state(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<OperatorStateSnapshot, BoxError> {
        // Per key group: every window with the contents of that key group's keys.
        let mut groups: SnapshotGroups<'_, K, A::W, C::Acc> = BTreeMap::new();
        for table in self.tables.values().flatten() {
            let mut by_group: BTreeMap<usize, Vec<(&K, &C::Acc)>> = BTreeMap::new();
            for (key, hash, acc) in &table.entries {
                let group = self.key_groups.key_group(*hash);
                by_group.entry(group).or_default().push((key, acc));
            }
            for (group, entries) in by_group {
                groups
                    .entry(group)
                    .or_default()
                    .push((&table.window, table.fired, entries));
            }
        }
        let windows = groups
            .into_iter()
            .map(|(group, windows)| Ok((group, postcard::to_stdvec(&windows)?)))
            .collect::<Result<_, postcard::Error>>()?;
        let mut parts = KeyGroupParts::new();
        parts.add(WINDOWS, windows);
        parts.add_pending(NAMED_STATES, self.evaluator.states.snapshot_pending()?);
        Ok(OperatorStateSnapshot::pending_keyed(parts.into_pending()?))
    }

    fn initialize_state(&mut self, state: &RestoredOperatorState) -> Result<(), BoxError> {
        KeyGroupParts::restore_each(&state.keyed, |group, part, bytes| {
            match part {
                WINDOWS => self.restore_windows(bytes.whole_only()?)?,
                NAMED_STATES => self.evaluator.states.restore(group, bytes)?,
                other => return Err(KeyGroupParts::unknown_part(other, group)),
            }
            Ok(())
        })
    }

    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<KeyedRecord<K, T>>>,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        let now = self.time.current_processing_time();
        for record in batch {
            self.process_record(record, now, out)?;
        }
        Ok(())
    }

    fn process_watermark(
        &mut self,
        watermark: Watermark,
        out: &mut Output<OUT>,
    ) -> Result<(), BoxError> {
        self.watermark = watermark.timestamp();
        let now = self.time.current_processing_time();
        self.advance(now, out)?;
        out.emit_watermark(watermark);
        Ok(())
    }
}
