//! Keyed state by descriptor (Flink's `ValueState`, `ListState`, `MapState` and
//! `ReducingState`): the named states of a keyed operator, each scoped to the key being
//! processed and a namespace (a window, or `()` for state of the key as a whole).
//!
//! A descriptor names a state and fixes its type; asking for the same name with another type
//! (in the same kind of namespace) is an error that names the state. Each state is a table from
//! key to its namespaces' values, partitioned by key group like all keyed state, and kept by the
//! job's state backend (on the heap, or with the disk backend partly in an LSM tree).
//! Handles borrow the table for the current key and namespace, so reading a value is a lookup,
//! never a copy of the table.

use std::any::{type_name, Any, TypeId};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use strom_core::key_group::{key_hash, KeyGroupRange};
use strom_core::time::wall_clock_millis;
use strom_core::{BoxError, Timestamp};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::key_group_parts::{KeyGroupParts, PartState, PendingKeyedState, RestoredPart};
use crate::keyed_map::{ForeignKeyGroup, KeyGroupedMap};
use crate::state_backend::StateBackend;
use crate::ttl::StateTtlConfig;

/// Why a state could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The name is taken by a state of another kind or type.
    #[error("state '{name}' is a {existing}, not a {requested}: a state name has one type")]
    TypeMismatch {
        /// The state's name.
        name: String,
        /// What it was created as.
        existing: String,
        /// What it was asked for as.
        requested: String,
    },
    /// Merging windows (sessions) have no per-window state, as in Flink: a window's state
    /// could not follow it into the window it merges into.
    #[error("per-window state is not allowed with merging windows (use global_state)")]
    PerWindowStateWithMergingWindows,
    /// A restored state cannot be read back as the type it is asked for.
    #[error("state '{name}' cannot be restored: {message}")]
    Restore {
        /// The state's name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A state's value cannot be encoded for a checkpoint.
    #[error("state '{name}' cannot be written: {message}")]
    Write {
        /// The state's name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A broadcast state was used that the program did not declare on its broadcast stream.
    #[error("broadcast state '{name}' was not declared: pass its descriptor to broadcast_state()")]
    UndeclaredBroadcastState {
        /// The state's name.
        name: String,
    },
    /// The current key belongs to a key group this subtask does not own.
    #[error(transparent)]
    ForeignKeyGroup(#[from] ForeignKeyGroup),
}

macro_rules! descriptor {
    ($(#[$doc:meta])* $name:ident<$($param:ident),*>) => {
        $(#[$doc])*
        pub struct $name<$($param),*> {
            name: &'static str,
            ttl: Option<StateTtlConfig>,
            _type: PhantomData<fn() -> ($($param,)*)>,
        }

        impl<$($param),*> $name<$($param),*> {
            /// A descriptor for the state called `name`.
            pub const fn new(name: &'static str) -> Self {
                $name {
                    name,
                    ttl: None,
                    _type: PhantomData,
                }
            }

            /// The state's name.
            pub fn name(&self) -> &'static str {
                self.name
            }

            /// Lets the state's values expire (see [`StateTtlConfig`]).
            pub const fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
                self.ttl = Some(ttl);
                self
            }
        }
    };
}

descriptor!(
    /// Names a [`ValueState`] holding one `T` (Flink's `ValueStateDescriptor`).
    ValueStateDescriptor<T>
);
descriptor!(
    /// Names a [`ListState`] holding a list of `T` (Flink's `ListStateDescriptor`).
    ListStateDescriptor<T>
);
descriptor!(
    /// Names a [`MapState`] holding a map from `UK` to `UV` (Flink's `MapStateDescriptor`).
    MapStateDescriptor<UK, UV>
);

/// Names a [`ReducingState`]: values added are combined with `reduce` into one (Flink's
/// `ReducingStateDescriptor`).
pub struct ReducingStateDescriptor<T> {
    name: &'static str,
    ttl: Option<StateTtlConfig>,
    reduce: Arc<dyn Fn(T, T) -> T + Send + Sync>,
}

impl<T> ReducingStateDescriptor<T> {
    /// A descriptor for the state called `name`, combining values with `reduce`.
    pub fn new(name: &'static str, reduce: impl Fn(T, T) -> T + Send + Sync + 'static) -> Self {
        ReducingStateDescriptor {
            name,
            ttl: None,
            reduce: Arc::new(reduce),
        }
    }

    /// Lets the state's values expire (see [`StateTtlConfig`]).
    pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The state's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Folds a value into an accumulator.
type FoldInto<IN, ACC> = Arc<dyn Fn(IN, &mut ACC) + Send + Sync>;

/// Names an [`AggregatingState`]: values added are folded into an accumulator by `add`, and
/// `result` reads it (Flink's `AggregatingStateDescriptor`, with the aggregate function's parts
/// as closures).
pub struct AggregatingStateDescriptor<IN, ACC, OUT> {
    name: &'static str,
    ttl: Option<StateTtlConfig>,
    create: Arc<dyn Fn() -> ACC + Send + Sync>,
    add: FoldInto<IN, ACC>,
    result: Arc<dyn Fn(&ACC) -> OUT + Send + Sync>,
}

impl<IN, ACC, OUT> AggregatingStateDescriptor<IN, ACC, OUT> {
    /// A descriptor for the state called `name`: `create` makes an empty accumulator, `add`
    /// folds a value in, `result` reads the accumulator.
    pub fn new(
        name: &'static str,
        create: impl Fn() -> ACC + Send + Sync + 'static,
        add: impl Fn(IN, &mut ACC) + Send + Sync + 'static,
        result: impl Fn(&ACC) -> OUT + Send + Sync + 'static,
    ) -> Self {
        AggregatingStateDescriptor {
            name,
            ttl: None,
            create: Arc::new(create),
            add: Arc::new(add),
            result: Arc::new(result),
        }
    }

    /// Lets the state's values expire (see [`StateTtlConfig`]).
    pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The state's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// A descriptor of a keyed state, whichever kind: what lets a function reach one state of
/// every key ([`KeyedStateBackend::apply_to_keyed_state`]).
pub trait StateDescriptor {
    /// The handle the state gives for one key and namespace.
    type Handle<'a, K: 'a, N: 'a>;

    /// The keys with a value of this state, with their hashes.
    #[doc(hidden)]
    fn keys_with_values<K>(
        &self,
        backend: &mut KeyedStateBackend<K>,
    ) -> Result<Vec<(K, u64)>, StateError>
    where
        K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static;

    /// The handle of this state for the scope's key and namespace.
    #[doc(hidden)]
    fn open<'a, K, N>(
        &self,
        scope: StateScope<'a, K, N>,
    ) -> Result<Self::Handle<'a, K, N>, StateError>
    where
        K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
        N: Eq + Clone + Send + Serialize + DeserializeOwned + 'static;
}

macro_rules! state_descriptor {
    ($descriptor:ident<$($param:ident),*>, $handle:ident, $value:ty, $kind:expr, $get:ident, $($bounds:tt)*) => {
        impl<$($param),*> StateDescriptor for $descriptor<$($param),*>
        where
            $($bounds)*
        {
            type Handle<'a, K: 'a, N: 'a> = $handle<'a, K, N, $($param),*>;

            fn keys_with_values<K>(
                &self,
                backend: &mut KeyedStateBackend<K>,
            ) -> Result<Vec<(K, u64)>, StateError>
            where
                K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
            {
                backend.keys_with_values::<$value>(self.name, $kind, self.ttl)
            }

            fn open<'a, K, N>(
                &self,
                scope: StateScope<'a, K, N>,
            ) -> Result<Self::Handle<'a, K, N>, StateError>
            where
                K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
                N: Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
            {
                scope.$get(self)
            }
        }
    };
}

state_descriptor!(ValueStateDescriptor<T>, ValueState, T, StateKind::whole(VALUE_STATE), get_state,
    T: Send + Serialize + DeserializeOwned + 'static);
state_descriptor!(ListStateDescriptor<T>, ListState, ListValue<T>, StateKind::list(), get_list_state,
    T: Send + Serialize + DeserializeOwned + 'static);
state_descriptor!(MapStateDescriptor<UK, UV>, MapState, MapValue<UK, UV>, StateKind::map(), get_map_state,
    UK: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
    UV: Send + Serialize + DeserializeOwned + 'static);
state_descriptor!(ReducingStateDescriptor<T>, ReducingState, Option<T>, StateKind::whole(REDUCING_STATE), get_reducing_state,
    T: Send + Serialize + DeserializeOwned + 'static);
state_descriptor!(AggregatingStateDescriptor<IN, ACC, OUT>, AggregatingState, ACC, StateKind::whole(AGGREGATING_STATE),
    get_aggregating_state, ACC: Send + Serialize + DeserializeOwned + 'static);

/// One state's values: per key, its namespaces (usually one or a few) with their values and
/// when each was last touched (for time to live).
struct StateTable<K, N, V> {
    values: KeyGroupedMap<K, Vec<(N, V, Cell<Timestamp>)>>,
    ttl: Option<StateTtlConfig>,
    drop_expired_elements: Option<DropExpiredElements<V>>,
}

/// A state table with its types erased: what the backend needs to find it again and write it.
trait ErasedTable: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn snapshot(&mut self, now: Timestamp) -> Result<PendingKeyedState, postcard::Error>;
}

impl<K, N, V> ErasedTable for StateTable<K, N, V>
where
    K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
    N: Send + Serialize + DeserializeOwned + 'static,
    V: Send + Serialize + DeserializeOwned + 'static,
{
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn snapshot(&mut self, now: Timestamp) -> Result<PendingKeyedState, postcard::Error> {
        // Expired values and elements are not written (Flink's cleanup in full snapshots);
        // on the heap they are dropped, on disk they are left for their key's next use.
        let Some(ttl) = self.ttl else {
            return self.values.snapshot_pending();
        };
        let elements = self.drop_expired_elements;
        self.values.snapshot_pending_where(Some(Box::new(
            move |namespaces: &mut Vec<(N, V, Cell<Timestamp>)>| {
                namespaces.retain_mut(|(_, value, touched)| {
                    !ttl.is_expired(touched.get(), now)
                        && elements.is_none_or(|drop_expired| drop_expired(value, &ttl, now))
                });
                !namespaces.is_empty()
            },
        )))
    }
}

/// The kinds of state whose values expire as a whole, as messages and snapshots name them.
const VALUE_STATE: &str = "ValueState";
const REDUCING_STATE: &str = "ReducingState";
const AGGREGATING_STATE: &str = "AggregatingState";

/// What a state is stored as: its kind, the value type its messages show, and, for lists and
/// maps, how their elements expire one by one.
struct StateKind<V> {
    kind: &'static str,
    shown: &'static str,
    drop_expired_elements: Option<DropExpiredElements<V>>,
}

/// Drops a value's expired elements; whether any are left.
type DropExpiredElements<V> = fn(&mut V, &StateTtlConfig, Timestamp) -> bool;

impl<V> StateKind<V> {
    /// A state whose value expires as a whole.
    fn whole(kind: &'static str) -> Self {
        StateKind {
            kind,
            shown: type_name::<V>(),
            drop_expired_elements: None,
        }
    }

    /// How the state is named in messages and snapshots, in namespace `N`.
    fn describe<N>(&self, ttl: Option<StateTtlConfig>) -> String {
        // A state with a time to live stores when each value was written: it is not the same
        // state as one without (Flink refuses that change on restore too).
        let expiring = if ttl.is_some() {
            " with time to live"
        } else {
            ""
        };
        format!(
            "{}<{}>{expiring} in namespace {}",
            self.kind,
            self.shown,
            type_name::<N>()
        )
    }
}

impl<T> StateKind<ListValue<T>> {
    fn list() -> Self {
        StateKind {
            kind: "ListState",
            shown: type_name::<Vec<T>>(),
            drop_expired_elements: Some(ListValue::drop_expired),
        }
    }
}

impl<UK: Hash + Eq, UV> StateKind<MapValue<UK, UV>> {
    fn map() -> Self {
        StateKind {
            kind: "MapState",
            shown: type_name::<HashMap<UK, UV>>(),
            drop_expired_elements: Some(MapValue::drop_expired),
        }
    }
}

/// A named state as stored: its table and what it was created as.
struct NamedState {
    table: Box<dyn ErasedTable>,
    description: String,
}

/// The keyed states of one operator subtask, on the heap.
pub struct KeyedStateBackend<K> {
    range: KeyGroupRange,
    max_parallelism: usize,
    /// By name and namespace type: a window's state and the key's global state may share a
    /// name and stay apart.
    states: HashMap<(&'static str, TypeId), NamedState>,
    /// Restored states not asked for since the restore, by snapshot id, per key group: they
    /// become tables when first used and are written to snapshots as they are meanwhile.
    pending: HashMap<String, BTreeMap<usize, PartState>>,
    /// Processing time, for time to live.
    clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    /// Where the tables keep their values, and the prefix of their names there.
    backend: StateBackend,
    backend_name: String,
    _key: PhantomData<fn() -> K>,
}

/// How a state is named in a snapshot: its name and what it is (kind and types).
fn snapshot_id(name: &str, description: &str) -> String {
    format!("{name}: {description}")
}

impl<K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static> KeyedStateBackend<K> {
    /// Empty state for the key groups in `range` out of `max_parallelism`.
    pub fn new(range: KeyGroupRange, max_parallelism: usize) -> Self {
        KeyedStateBackend {
            range,
            max_parallelism,
            states: HashMap::new(),
            pending: HashMap::new(),
            clock: Arc::new(wall_clock_millis),
            backend: StateBackend::HashMap,
            backend_name: String::new(),
            _key: PhantomData,
        }
    }

    /// Keeps the states' values with `backend`; `name` (the operator subtask's) names their
    /// files with the disk backend.
    pub fn with_backend(mut self, backend: &StateBackend, name: &str) -> Self {
        self.backend = backend.clone();
        self.backend_name = name.to_string();
        self
    }

    /// Reads processing time from `clock` (the task's clock) instead of the wall clock.
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The table of state `name`, created on first use as `kind` with values `V` (from what a
    /// restore left for it, if anything) and time to live `ttl`; with the processing time when
    /// its values expire.
    fn table<N, V>(
        &mut self,
        name: &'static str,
        kind: StateKind<V>,
        ttl: Option<StateTtlConfig>,
    ) -> Result<(&mut StateTable<K, N, V>, Timestamp), StateError>
    where
        N: Send + Serialize + DeserializeOwned + 'static,
        V: Send + Serialize + DeserializeOwned + 'static,
    {
        let (range, max_parallelism) = (self.range, self.max_parallelism);
        let id = (name, TypeId::of::<N>());
        if !self.states.contains_key(&id) {
            let description = kind.describe::<N>(ttl);
            let mut table = StateTable::<K, N, V> {
                values: KeyGroupedMap::with_backend(
                    range,
                    max_parallelism,
                    &self.backend,
                    &format!("{}-{name}", self.backend_name),
                ),
                ttl,
                drop_expired_elements: kind.drop_expired_elements,
            };
            let restored = self.pending.remove(&snapshot_id(name, &description));
            if restored.is_none() {
                // A checkpoint holding this name with another kind or type: the program changed
                // the state's type, and the old state cannot be read as the new one.
                let prefix = snapshot_id(name, "");
                let namespace = format!(" in namespace {}", type_name::<N>());
                let same_state = |id: &&String| id.starts_with(&prefix) && id.ends_with(&namespace);
                if let Some(other) = self.pending.keys().find(same_state) {
                    return Err(StateError::TypeMismatch {
                        name: name.to_string(),
                        existing: format!("{} in the checkpoint", &other[prefix.len()..]),
                        requested: description,
                    });
                }
            }
            if let Some(groups) = restored {
                for (group, state) in groups {
                    let restore_error = |message: String| StateError::Restore {
                        name: name.to_string(),
                        message,
                    };
                    let part = RestoredPart::of(&state)
                        .map_err(|error| restore_error(error.to_string()))?;
                    table
                        .values
                        .restore_part(group, part)
                        .map_err(|error| restore_error(error.to_string()))?;
                }
            }
            let table: Box<dyn ErasedTable> = Box::new(table);
            self.states.insert(id, NamedState { table, description });
        }
        let clock = &self.clock;
        let state = self.states.get_mut(&id).expect("inserted above");
        let description = &state.description;
        match state
            .table
            .as_any_mut()
            .downcast_mut::<StateTable<K, N, V>>()
        {
            Some(table) if description.starts_with(kind.kind) => {
                // The clock is read only for states that expire.
                let now = if table.ttl.is_some() { clock() } else { 0 };
                Ok((table, now))
            }
            _ => Err(StateError::TypeMismatch {
                name: name.to_string(),
                existing: description.clone(),
                requested: kind.describe::<N>(ttl),
            }),
        }
    }

    /// The keys that have a live value in state `name` (of kind `kind`, values `V`) for the
    /// key as a whole (namespace `()`), with their hashes.
    fn keys_with_values<V>(
        &mut self,
        name: &'static str,
        kind: StateKind<V>,
        ttl: Option<StateTtlConfig>,
    ) -> Result<Vec<(K, u64)>, StateError>
    where
        V: Send + Serialize + DeserializeOwned + 'static,
    {
        let (table, now) = self.table::<(), V>(name, kind, ttl)?;
        let ttl = table.ttl;
        let live =
            |touched: &Cell<Timestamp>| ttl.is_none_or(|ttl| !ttl.is_expired(touched.get(), now));
        Ok(table
            .values
            .keys_where(|namespaces| namespaces.iter().any(|(_, _, touched)| live(touched)))
            .into_iter()
            .map(|key| {
                let hash = key_hash(&key);
                (key, hash)
            })
            .collect())
    }

    /// Calls `function` with every key that has a value in the state `descriptor` names and
    /// that key's handle of it (Flink's `applyToKeyedState`: a broadcast element can read and
    /// change the state of every key of the subtask).
    pub fn apply_to_keyed_state<D, E>(
        &mut self,
        descriptor: &D,
        mut function: impl FnMut(&K, D::Handle<'_, K, ()>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        D: StateDescriptor,
        E: From<StateError>,
    {
        for (key, hash) in descriptor.keys_with_values(self)? {
            let handle = descriptor.open(self.scope(&key, hash, &()))?;
            function(&key, handle)?;
        }
        Ok(())
    }

    /// Every state, key group by key group (states restored but not used since are written
    /// as they were restored).
    pub fn snapshot(&mut self) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error> {
        self.snapshot_pending()?.finish()
    }

    /// Every state as it is now, encoded by [`PendingKeyedState::finish`] (see
    /// [`KeyGroupedMap::snapshot_pending`]).
    pub fn snapshot_pending(&mut self) -> Result<PendingKeyedState, postcard::Error> {
        // In the order of their ids, so the same state always writes the same bytes.
        let mut parts: BTreeMap<String, Result<PendingKeyedState, &BTreeMap<usize, PartState>>> =
            self.pending
                .iter()
                .map(|(id, groups)| (id.clone(), Err(groups)))
                .collect();
        let now = (self.clock)();
        for ((name, _), state) in &mut self.states {
            parts.insert(
                snapshot_id(name, &state.description),
                Ok(state.table.snapshot(now)?),
            );
        }
        let mut all = KeyGroupParts::new();
        for (id, part) in parts {
            match part {
                Ok(taken) => all.add_pending(&id, taken),
                // Restored and not used since: written back as it was restored.
                Err(restored) => all.add_states(
                    &id,
                    restored
                        .iter()
                        .map(|(&group, state)| (group, state.clone())),
                ),
            }
        }
        all.into_pending()
    }

    /// Takes back what a [`snapshot`](Self::snapshot) wrote for `key_group`; each state
    /// becomes usable again when a descriptor asks for it.
    pub fn restore(&mut self, key_group: usize, part: RestoredPart<'_>) -> Result<(), BoxError> {
        for (id, state) in KeyGroupParts::read(part.whole_only()?)? {
            self.pending.entry(id).or_default().insert(key_group, state);
        }
        Ok(())
    }

    /// The states of `key` (whose stable hash is `hash`) in `namespace`.
    pub fn scope<'a, N>(
        &'a mut self,
        key: &'a K,
        hash: u64,
        namespace: &'a N,
    ) -> StateScope<'a, K, N> {
        StateScope {
            backend: self,
            key,
            hash,
            namespace,
        }
    }
}

/// The states of one key in one namespace: where handles come from.
pub struct StateScope<'a, K, N> {
    backend: &'a mut KeyedStateBackend<K>,
    key: &'a K,
    hash: u64,
    namespace: &'a N,
}

impl<'a, K, N> StateScope<'a, K, N>
where
    K: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
    N: Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
{
    fn slot<V: Send + Serialize + DeserializeOwned + 'static>(
        self,
        name: &'static str,
        kind: StateKind<V>,
        ttl: Option<StateTtlConfig>,
    ) -> Result<Slot<'a, K, N, V>, StateError> {
        let (table, now) = self.backend.table::<N, V>(name, kind, ttl)?;
        // With the disk backend the key's values come back to the heap, where handles read them.
        table.values.load(self.hash, self.key);
        if table.ttl.is_some_and(|ttl| ttl.refreshes_on_read()) {
            // Reads refresh the time to live through shared references: count them as changes,
            // so incremental checkpoints keep the refreshed time.
            table.values.mark_changed(self.hash, self.key);
        }
        let mut slot = Slot {
            table,
            key: self.key,
            hash: self.hash,
            namespace: self.namespace,
            now,
        };
        slot.drop_expired_elements();
        Ok(slot)
    }

    /// The value state `descriptor` names.
    pub fn get_state<T: Send + Serialize + DeserializeOwned + 'static>(
        self,
        descriptor: &ValueStateDescriptor<T>,
    ) -> Result<ValueState<'a, K, N, T>, StateError> {
        Ok(ValueState {
            slot: self.slot(
                descriptor.name,
                StateKind::whole(VALUE_STATE),
                descriptor.ttl,
            )?,
        })
    }

    /// The list state `descriptor` names.
    pub fn get_list_state<T: Send + Serialize + DeserializeOwned + 'static>(
        self,
        descriptor: &ListStateDescriptor<T>,
    ) -> Result<ListState<'a, K, N, T>, StateError> {
        Ok(ListState {
            slot: self.slot(descriptor.name, StateKind::list(), descriptor.ttl)?,
        })
    }

    /// The map state `descriptor` names.
    pub fn get_map_state<UK, UV>(
        self,
        descriptor: &MapStateDescriptor<UK, UV>,
    ) -> Result<MapState<'a, K, N, UK, UV>, StateError>
    where
        UK: Hash + Eq + Clone + Send + Serialize + DeserializeOwned + 'static,
        UV: Send + Serialize + DeserializeOwned + 'static,
    {
        Ok(MapState {
            slot: self.slot(descriptor.name, StateKind::map(), descriptor.ttl)?,
        })
    }

    /// The reducing state `descriptor` names.
    pub fn get_reducing_state<T: Send + Serialize + DeserializeOwned + 'static>(
        self,
        descriptor: &ReducingStateDescriptor<T>,
    ) -> Result<ReducingState<'a, K, N, T>, StateError> {
        Ok(ReducingState {
            slot: self.slot(
                descriptor.name,
                StateKind::whole(REDUCING_STATE),
                descriptor.ttl,
            )?,
            reduce: Arc::clone(&descriptor.reduce),
        })
    }

    /// The aggregating state `descriptor` names.
    pub fn get_aggregating_state<IN, ACC, OUT>(
        self,
        descriptor: &AggregatingStateDescriptor<IN, ACC, OUT>,
    ) -> Result<AggregatingState<'a, K, N, IN, ACC, OUT>, StateError>
    where
        ACC: Send + Serialize + DeserializeOwned + 'static,
    {
        Ok(AggregatingState {
            slot: self.slot(
                descriptor.name,
                StateKind::whole(AGGREGATING_STATE),
                descriptor.ttl,
            )?,
            create: Arc::clone(&descriptor.create),
            add: Arc::clone(&descriptor.add),
            result: Arc::clone(&descriptor.result),
        })
    }
}

/// The place of one state's value for the current key and namespace, at processing time `now`.
struct Slot<'a, K, N, V> {
    table: &'a mut StateTable<K, N, V>,
    key: &'a K,
    hash: u64,
    namespace: &'a N,
    now: Timestamp,
}

impl<K: Hash + Eq + Clone, N: Eq + Clone, V> Slot<'_, K, N, V> {
    /// Whether a value touched at `touched` has expired.
    fn expired(&self, touched: &Cell<Timestamp>) -> bool {
        self.table
            .ttl
            .is_some_and(|ttl| ttl.is_expired(touched.get(), self.now))
    }

    /// The value for reading: an expired one only when the state returns those; a read
    /// refreshes the time to live when the state says so.
    fn get(&self) -> Option<&V> {
        let namespaces = self.table.values.get(self.hash, self.key)?;
        let (_, value, touched) = namespaces
            .iter()
            .find(|(namespace, _, _)| namespace == self.namespace)?;
        if let Some(ttl) = self.table.ttl {
            if self.expired(touched) {
                return ttl.returns_expired().then_some(value);
            }
            if ttl.refreshes_on_read() {
                touched.set(self.now);
            }
        }
        Some(value)
    }

    /// The live value for change (an expired one is dropped); the change refreshes it.
    fn get_mut(&mut self) -> Option<&mut V> {
        self.drop_if_expired();
        let now = self.now;
        let namespaces = self.table.values.get_mut(self.hash, self.key)?;
        namespaces
            .iter_mut()
            .find(|(namespace, _, _)| namespace == self.namespace)
            .map(|(_, value, touched)| {
                touched.set(now);
                value
            })
    }

    /// Drops the expired elements of a list or map (values whose elements expire one by one),
    /// and the value with them when none is left; expired elements are kept when the state
    /// returns expired values (until a checkpoint cleans them up).
    fn drop_expired_elements(&mut self) {
        let (Some(ttl), Some(drop_expired)) = (self.table.ttl, self.table.drop_expired_elements)
        else {
            return;
        };
        if ttl.returns_expired() {
            return;
        }
        let now = self.now;
        let namespace = self.namespace;
        let Some(namespaces) = self.table.values.get_mut(self.hash, self.key) else {
            return;
        };
        let emptied = namespaces
            .iter_mut()
            .find(|(n, _, _)| n == namespace)
            .is_some_and(|(_, value, _)| !drop_expired(value, &ttl, now));
        if emptied {
            self.clear();
        }
    }

    /// Drops the value when it has expired.
    fn drop_if_expired(&mut self) {
        if self.table.ttl.is_none() {
            return;
        }
        let expired = self
            .table
            .values
            .get(self.hash, self.key)
            .and_then(|namespaces| {
                namespaces
                    .iter()
                    .find(|(namespace, _, _)| namespace == self.namespace)
            })
            .is_some_and(|(_, _, touched)| self.expired(touched));
        if expired {
            self.clear();
        }
    }

    fn get_or_insert_with(&mut self, make: impl FnOnce() -> V) -> Result<&mut V, StateError> {
        self.drop_if_expired();
        let now = self.now;
        let namespaces = self
            .table
            .values
            .get_or_insert_with(self.hash, self.key, Vec::new)?;
        let index = match namespaces
            .iter()
            .position(|(namespace, _, _)| namespace == self.namespace)
        {
            Some(index) => index,
            None => {
                namespaces.push((self.namespace.clone(), make(), Cell::new(now)));
                namespaces.len() - 1
            }
        };
        namespaces[index].2.set(now);
        Ok(&mut namespaces[index].1)
    }

    fn set(&mut self, value: V) -> Result<(), StateError> {
        let mut value = Some(value);
        let slot = self.get_or_insert_with(|| value.take().expect("taken once"))?;
        if let Some(value) = value {
            *slot = value;
        }
        Ok(())
    }

    fn clear(&mut self) {
        let Some(namespaces) = self.table.values.get_mut(self.hash, self.key) else {
            return;
        };
        namespaces.retain(|(namespace, _, _)| namespace != self.namespace);
        if namespaces.is_empty() {
            self.table.values.remove(self.hash, self.key);
        }
    }
}

/// One value per key and namespace (Flink's `ValueState`).
pub struct ValueState<'a, K, N, T> {
    slot: Slot<'a, K, N, T>,
}

impl<K: Hash + Eq + Clone, N: Eq + Clone, T> ValueState<'_, K, N, T> {
    /// The value, if one was set.
    pub fn value(&self) -> Option<&T> {
        self.slot.get()
    }

    /// The value for change in place, if one was set.
    pub fn value_mut(&mut self) -> Option<&mut T> {
        self.slot.get_mut()
    }

    /// Sets the value.
    pub fn update(&mut self, value: T) -> Result<(), StateError> {
        self.slot.set(value)
    }

    /// Removes the value.
    pub fn clear(&mut self) {
        self.slot.clear();
    }
}

/// A list per key and namespace (Flink's `ListState`). With a time to live each element
/// expires on its own, a time to live after it was added (or, with `OnReadAndWrite`, after the
/// list was last opened).
pub struct ListState<'a, K, N, T> {
    slot: Slot<'a, K, N, ListValue<T>>,
}

impl<K: Hash + Eq + Clone, N: Eq + Clone, T> ListState<'_, K, N, T> {
    /// The elements, in the order they were added (empty when none were).
    pub fn get(&self) -> &[T] {
        let Some(list) = self.slot.get() else {
            return &[];
        };
        if self
            .slot
            .table
            .ttl
            .is_some_and(|ttl| ttl.refreshes_on_read())
        {
            for written in &list.written {
                written.set(self.slot.now);
            }
        }
        &list.items
    }

    /// When elements added now were written, if the state expires.
    fn stamp(&self) -> Option<Cell<Timestamp>> {
        self.slot.table.ttl.map(|_| Cell::new(self.slot.now))
    }

    /// Appends `value`.
    pub fn add(&mut self, value: T) -> Result<(), StateError> {
        self.add_all([value])
    }

    /// Appends every value of `values`.
    pub fn add_all(&mut self, values: impl IntoIterator<Item = T>) -> Result<(), StateError> {
        let stamp = self.stamp();
        let list = self.slot.get_or_insert_with(ListValue::default)?;
        for value in values {
            list.items.push(value);
            if let Some(stamp) = &stamp {
                list.written.push(stamp.clone());
            }
        }
        Ok(())
    }

    /// Replaces the elements with `values`.
    pub fn update(&mut self, values: Vec<T>) -> Result<(), StateError> {
        if values.is_empty() {
            self.slot.clear();
            return Ok(());
        }
        let written = match self.stamp() {
            Some(stamp) => vec![stamp; values.len()],
            None => Vec::new(),
        };
        self.slot.set(ListValue {
            items: values,
            written,
        })
    }

    /// Removes every element.
    pub fn clear(&mut self) {
        self.slot.clear();
    }
}

/// A list state's elements, with when each was written or (with `OnReadAndWrite`) last read,
/// only when the state expires.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ListValue<T> {
    items: Vec<T>,
    written: Vec<Cell<Timestamp>>,
}

impl<T> Default for ListValue<T> {
    fn default() -> Self {
        ListValue {
            items: Vec::new(),
            written: Vec::new(),
        }
    }
}

impl<T> ListValue<T> {
    /// Drops the elements that expired at `now`; whether any are left.
    fn drop_expired(&mut self, ttl: &StateTtlConfig, now: Timestamp) -> bool {
        // Every element of a state that expires has its stamp; none is dropped for lack of one.
        self.written.resize(self.items.len(), Cell::new(now));
        let mut written = std::mem::take(&mut self.written).into_iter();
        let mut kept = Vec::with_capacity(self.items.len());
        self.items.retain(|_| {
            let stamp = written.next().expect("one stamp per element");
            let live = !ttl.is_expired(stamp.get(), now);
            if live {
                kept.push(stamp);
            }
            live
        });
        self.written = kept;
        !self.items.is_empty()
    }
}

/// A map per key and namespace (Flink's `MapState`). With a time to live each entry expires on
/// its own, a time to live after it was put (or, with `OnReadAndWrite`, read).
pub struct MapState<'a, K, N, UK, UV> {
    slot: Slot<'a, K, N, MapValue<UK, UV>>,
}

impl<K, N, UK, UV> MapState<'_, K, N, UK, UV>
where
    K: Hash + Eq + Clone,
    N: Eq + Clone,
    UK: Hash + Eq + Clone,
{
    /// The value of `key`, if any.
    pub fn get(&self, key: &UK) -> Option<&UV> {
        let map = self.slot.get()?;
        let value = map.entries.get(key)?;
        if let Some(ttl) = self.slot.table.ttl {
            if ttl.refreshes_on_read() {
                if let Some(read) = map.written.get(key) {
                    read.set(self.slot.now);
                }
            }
        }
        Some(value)
    }

    /// Sets the value of `key`.
    pub fn put(&mut self, key: UK, value: UV) -> Result<(), StateError> {
        let stamp = self.slot.table.ttl.map(|_| self.slot.now);
        let map = self.slot.get_or_insert_with(MapValue::default)?;
        if let Some(stamp) = stamp {
            map.written.insert(key.clone(), Cell::new(stamp));
        }
        map.entries.insert(key, value);
        Ok(())
    }

    /// Removes `key`; returns its value, if it had one.
    pub fn remove(&mut self, key: &UK) -> Option<UV> {
        let map = self.slot.get_mut()?;
        let removed = map.entries.remove(key);
        map.written.remove(key);
        if map.entries.is_empty() {
            self.slot.clear();
        }
        removed
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &UK) -> bool {
        self.get(key).is_some()
    }

    /// Every entry, in no particular order (with `OnReadAndWrite`, reading refreshes them).
    pub fn entries(&self) -> impl Iterator<Item = (&UK, &UV)> {
        let refresh = self
            .slot
            .table
            .ttl
            .is_some_and(|ttl| ttl.refreshes_on_read());
        let now = self.slot.now;
        self.slot.get().into_iter().flat_map(move |map| {
            map.entries.iter().inspect(move |(key, _)| {
                if let Some(read) = map.written.get(*key).filter(|_| refresh) {
                    read.set(now);
                }
            })
        })
    }

    /// Whether the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.slot.get().is_none_or(|map| map.entries.is_empty())
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.slot.clear();
    }
}

/// A map state's entries, with when each was written (only when the state expires).
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "UK: Serialize + Hash + Eq, UV: Serialize",
    deserialize = "UK: Deserialize<'de> + Hash + Eq, UV: Deserialize<'de>"
))]
pub(crate) struct MapValue<UK, UV> {
    entries: HashMap<UK, UV>,
    written: HashMap<UK, Cell<Timestamp>>,
}

impl<UK: Hash + Eq, UV> Default for MapValue<UK, UV> {
    fn default() -> Self {
        MapValue {
            entries: HashMap::new(),
            written: HashMap::new(),
        }
    }
}

impl<UK: Hash + Eq, UV> MapValue<UK, UV> {
    /// Drops the entries that expired at `now`; whether any are left.
    fn drop_expired(&mut self, ttl: &StateTtlConfig, now: Timestamp) -> bool {
        let written = &mut self.written;
        self.entries.retain(|key, _| {
            let live = written
                .get(key)
                .is_none_or(|stamp| !ttl.is_expired(stamp.get(), now));
            if !live {
                written.remove(key);
            }
            live
        });
        !self.entries.is_empty()
    }
}

/// An accumulator per key and namespace that values are folded into (Flink's
/// `AggregatingState`).
pub struct AggregatingState<'a, K, N, IN, ACC, OUT> {
    slot: Slot<'a, K, N, ACC>,
    create: Arc<dyn Fn() -> ACC + Send + Sync>,
    add: FoldInto<IN, ACC>,
    result: Arc<dyn Fn(&ACC) -> OUT + Send + Sync>,
}

impl<K: Hash + Eq + Clone, N: Eq + Clone, IN, ACC, OUT> AggregatingState<'_, K, N, IN, ACC, OUT> {
    /// The result so far, if any value was added.
    pub fn get(&self) -> Option<OUT> {
        self.slot.get().map(|acc| (self.result)(acc))
    }

    /// Folds `value` into the accumulator.
    pub fn add(&mut self, value: IN) -> Result<(), StateError> {
        let create = &self.create;
        let acc = self.slot.get_or_insert_with(|| create())?;
        (self.add)(value, acc);
        Ok(())
    }

    /// Removes the accumulator.
    pub fn clear(&mut self) {
        self.slot.clear();
    }
}

/// Values combined into one per key and namespace as they are added (Flink's
/// `ReducingState`).
pub struct ReducingState<'a, K, N, T> {
    /// `None` only for a moment, while a value is being combined.
    slot: Slot<'a, K, N, Option<T>>,
    reduce: Arc<dyn Fn(T, T) -> T + Send + Sync>,
}

impl<K: Hash + Eq + Clone, N: Eq + Clone, T> ReducingState<'_, K, N, T> {
    /// The combined value, if any value was added.
    pub fn get(&self) -> Option<&T> {
        self.slot.get()?.as_ref()
    }

    /// Combines `value` into the state.
    pub fn add(&mut self, value: T) -> Result<(), StateError> {
        let current = self.slot.get_or_insert_with(|| None)?;
        *current = Some(match current.take() {
            Some(previous) => (self.reduce)(previous, value),
            None => value,
        });
        Ok(())
    }

    /// Removes the value.
    pub fn clear(&mut self) {
        self.slot.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttl::{StateVisibility, UpdateType};
    use strom_core::key_group::key_hash;

    const COUNT: ValueStateDescriptor<u64> = ValueStateDescriptor::new("count");
    const SEEN: ListStateDescriptor<String> = ListStateDescriptor::new("seen");
    const LAST_BY_KIND: MapStateDescriptor<String, i64> = MapStateDescriptor::new("last");

    fn backend() -> KeyedStateBackend<String> {
        KeyedStateBackend::new(KeyGroupRange { start: 0, end: 128 }, 128)
    }

    #[test]
    fn values_belong_to_their_key_and_namespace() {
        let mut states = backend();
        let (a, b) = ("a".to_string(), "b".to_string());
        let (ha, hb) = (key_hash(&a), key_hash(&b));
        states
            .scope(&a, ha, &())
            .get_state(&COUNT)
            .unwrap()
            .update(1)
            .unwrap();
        states
            .scope(&a, ha, &7u8)
            .get_state(&COUNT)
            .unwrap()
            .update(70)
            .unwrap();
        assert_eq!(
            states.scope(&a, ha, &()).get_state(&COUNT).unwrap().value(),
            Some(&1)
        );
        assert_eq!(
            states
                .scope(&a, ha, &7u8)
                .get_state(&COUNT)
                .unwrap()
                .value(),
            Some(&70)
        );
        assert_eq!(
            states.scope(&b, hb, &()).get_state(&COUNT).unwrap().value(),
            None
        );
        let mut count = states.scope(&a, ha, &()).get_state(&COUNT).unwrap();
        *count.value_mut().unwrap() += 1;
        assert_eq!(count.value(), Some(&2));
        count.clear();
        assert_eq!(count.value(), None);
        assert_eq!(
            states
                .scope(&a, ha, &7u8)
                .get_state(&COUNT)
                .unwrap()
                .value(),
            Some(&70)
        );
    }

    #[test]
    fn lists_maps_and_reducing_states_keep_what_flink_keeps() {
        let mut states = backend();
        let key = "k".to_string();
        let hash = key_hash(&key);
        let mut seen = states.scope(&key, hash, &()).get_list_state(&SEEN).unwrap();
        assert!(seen.get().is_empty());
        seen.add("x".into()).unwrap();
        seen.add_all(["y".into(), "z".into()]).unwrap();
        assert_eq!(seen.get(), ["x", "y", "z"]);
        seen.update(vec!["only".into()]).unwrap();
        assert_eq!(seen.get(), ["only"]);

        let mut last = states
            .scope(&key, hash, &())
            .get_map_state(&LAST_BY_KIND)
            .unwrap();
        assert!(last.is_empty());
        last.put("click".into(), 5).unwrap();
        last.put("view".into(), 9).unwrap();
        last.put("click".into(), 6).unwrap();
        assert_eq!(last.get(&"click".to_string()), Some(&6));
        assert!(last.contains(&"view".to_string()));
        let mut entries: Vec<_> = last.entries().map(|(k, v)| (k.as_str(), *v)).collect();
        entries.sort();
        assert_eq!(entries, [("click", 6), ("view", 9)]);
        assert_eq!(last.remove(&"view".to_string()), Some(9));
        assert_eq!(last.remove(&"click".to_string()), Some(6));
        assert!(last.is_empty());

        let max = ReducingStateDescriptor::new("max", |a: i64, b: i64| a.max(b));
        let mut highest = states
            .scope(&key, hash, &())
            .get_reducing_state(&max)
            .unwrap();
        assert_eq!(highest.get(), None);
        for value in [3, 9, 4] {
            highest.add(value).unwrap();
        }
        assert_eq!(highest.get(), Some(&9));
        highest.clear();
        assert_eq!(highest.get(), None);
    }

    #[test]
    fn a_name_keeps_its_type_and_a_mismatch_names_the_state() {
        let mut states = backend();
        let key = "k".to_string();
        let hash = key_hash(&key);
        states.scope(&key, hash, &()).get_state(&COUNT).unwrap();
        let as_list = ListStateDescriptor::<u64>::new("count");
        let error = states
            .scope(&key, hash, &())
            .get_list_state(&as_list)
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .starts_with("state 'count' is a ValueState<u64>"),
            "{error}"
        );
        let as_string = ValueStateDescriptor::<String>::new("count");
        assert!(states.scope(&key, hash, &()).get_state(&as_string).is_err());
    }

    #[test]
    fn named_states_come_back_from_a_snapshot_when_asked_for() {
        let mut states = backend();
        let (a, b) = ("a".to_string(), "b".to_string());
        states
            .scope(&a, key_hash(&a), &())
            .get_state(&COUNT)
            .unwrap()
            .update(3)
            .unwrap();
        states
            .scope(&b, key_hash(&b), &5u8)
            .get_state(&COUNT)
            .unwrap()
            .update(50)
            .unwrap();
        let mut list = states
            .scope(&b, key_hash(&b), &())
            .get_list_state(&SEEN)
            .unwrap();
        list.add("x".into()).unwrap();
        let snapshot = states.snapshot().unwrap();

        let mut restored = backend();
        for (&group, bytes) in &snapshot {
            restored
                .restore(group, RestoredPart::from_whole(bytes))
                .unwrap();
        }
        // A state not asked for yet is written again as it was restored.
        assert_eq!(restored.snapshot().unwrap(), snapshot);
        let count = |states: &mut KeyedStateBackend<String>, key: &String| {
            states
                .scope(key, key_hash(key), &())
                .get_state(&COUNT)
                .unwrap()
                .value()
                .copied()
        };
        assert_eq!(count(&mut restored, &a), Some(3));
        assert_eq!(count(&mut restored, &b), None);
        let in_namespace = restored
            .scope(&b, key_hash(&b), &5u8)
            .get_state(&COUNT)
            .unwrap()
            .value()
            .copied();
        assert_eq!(in_namespace, Some(50));
        let seen = restored
            .scope(&b, key_hash(&b), &())
            .get_list_state(&SEEN)
            .unwrap();
        assert_eq!(seen.get(), ["x"]);
    }

    #[test]
    fn aggregating_state_folds_values_into_an_accumulator() {
        let average = AggregatingStateDescriptor::new(
            "average",
            || (0i64, 0u32),
            |value: i64, acc: &mut (i64, u32)| {
                acc.0 += value;
                acc.1 += 1;
            },
            |acc: &(i64, u32)| acc.0 as f64 / f64::from(acc.1),
        );
        let mut states = backend();
        let key = "k".to_string();
        let mut state = states
            .scope(&key, key_hash(&key), &())
            .get_aggregating_state(&average)
            .unwrap();
        assert_eq!(state.get(), None);
        for value in [2, 4, 9] {
            state.add(value).unwrap();
        }
        assert_eq!(state.get(), Some(5.0));
        state.clear();
        assert_eq!(state.get(), None);
    }

    /// A backend whose processing time the test sets.
    fn clocked() -> (KeyedStateBackend<String>, Arc<std::sync::atomic::AtomicI64>) {
        let now = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let clock = Arc::clone(&now);
        let backend = backend().with_clock(move || clock.load(std::sync::atomic::Ordering::SeqCst));
        (backend, now)
    }

    #[test]
    fn values_expire_after_their_time_to_live_as_configured() {
        use std::sync::atomic::Ordering::SeqCst;
        let ttl = |update, visibility| {
            StateTtlConfig::new_builder(std::time::Duration::from_millis(100))
                .set_update_type(update)
                .set_state_visibility(visibility)
                .build()
        };
        let key = "k".to_string();
        let hash = key_hash(&key);
        let value = |states: &mut KeyedStateBackend<String>, d: &ValueStateDescriptor<u64>| {
            states
                .scope(&key, hash, &())
                .get_state(d)
                .unwrap()
                .value()
                .copied()
        };
        let write =
            |states: &mut KeyedStateBackend<String>, d: &ValueStateDescriptor<u64>, v: u64| {
                states
                    .scope(&key, hash, &())
                    .get_state(d)
                    .unwrap()
                    .update(v)
                    .unwrap()
            };

        // Written at 0, expired from 100 on; never returned once expired.
        let written = ValueStateDescriptor::<u64>::new("written").enable_time_to_live(ttl(
            UpdateType::OnCreateAndWrite,
            StateVisibility::NeverReturnExpired,
        ));
        let (mut states, now) = clocked();
        write(&mut states, &written, 7);
        now.store(99, SeqCst);
        assert_eq!(value(&mut states, &written), Some(7));
        now.store(100, SeqCst);
        assert_eq!(value(&mut states, &written), None);
        // An expired value is not written to a checkpoint.
        assert!(states.snapshot().unwrap().is_empty());

        // Reads refresh: read at 60, alive until 160.
        let read = ValueStateDescriptor::<u64>::new("read").enable_time_to_live(ttl(
            UpdateType::OnReadAndWrite,
            StateVisibility::NeverReturnExpired,
        ));
        let (mut states, now) = clocked();
        write(&mut states, &read, 8);
        now.store(60, SeqCst);
        assert_eq!(value(&mut states, &read), Some(8));
        now.store(150, SeqCst);
        assert_eq!(value(&mut states, &read), Some(8));
        now.store(250, SeqCst);
        assert_eq!(value(&mut states, &read), None);

        // Expired but not cleaned up: returned when the state says so, until a write replaces it.
        let lenient = ValueStateDescriptor::<u64>::new("lenient").enable_time_to_live(ttl(
            UpdateType::OnCreateAndWrite,
            StateVisibility::ReturnExpiredIfNotCleanedUp,
        ));
        let (mut states, now) = clocked();
        write(&mut states, &lenient, 9);
        now.store(500, SeqCst);
        assert_eq!(value(&mut states, &lenient), Some(9));
        let total = ReducingStateDescriptor::new("total", |a: u64, b: u64| a + b)
            .enable_time_to_live(ttl(
                UpdateType::OnCreateAndWrite,
                StateVisibility::NeverReturnExpired,
            ));
        let mut sum = states
            .scope(&key, hash, &())
            .get_reducing_state(&total)
            .unwrap();
        sum.add(1).unwrap();
        sum.add(2).unwrap();
        assert_eq!(sum.get(), Some(&3));
        now.store(700, SeqCst);
        let mut sum = states
            .scope(&key, hash, &())
            .get_reducing_state(&total)
            .unwrap();
        // The expired sum is dropped, not added to.
        sum.add(5).unwrap();
        assert_eq!(sum.get(), Some(&5));
    }

    #[test]
    fn a_state_restored_without_a_time_to_live_is_refused_with_one() {
        let key = "k".to_string();
        let hash = key_hash(&key);
        let plain = MapStateDescriptor::<String, u64>::new("seen");
        let mut states = backend();
        let mut map = states.scope(&key, hash, &()).get_map_state(&plain).unwrap();
        map.put("a".to_string(), 1).unwrap();
        let snapshot = states.snapshot().unwrap();
        let ttl = StateTtlConfig::new_builder(std::time::Duration::from_millis(100)).build();
        let expiring = MapStateDescriptor::<String, u64>::new("seen").enable_time_to_live(ttl);
        let mut restored = backend();
        for (group, bytes) in &snapshot {
            restored
                .restore(*group, RestoredPart::from_whole(bytes))
                .unwrap();
        }
        let error = restored
            .scope(&key, hash, &())
            .get_map_state(&expiring)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("state 'seen'"), "{error}");
        assert!(error.contains("with time to live"), "{error}");
    }

    #[test]
    fn expired_values_on_disk_are_left_out_of_snapshots() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = std::env::temp_dir().join(format!("strom-ttl-disk-{}", std::process::id()));
        let disk = crate::state_backend::DiskBackend::open(&dir, 4).unwrap();
        let (states, now) = clocked();
        let mut states = states.with_backend(&StateBackend::disk(disk), "ttl");
        let ttl = StateTtlConfig::new_builder(std::time::Duration::from_millis(100)).build();
        let count = ValueStateDescriptor::<u64>::new("count").enable_time_to_live(ttl);
        for n in 0..50u64 {
            let key = format!("k{n}");
            now.store(if n < 25 { 0 } else { 60 }, SeqCst);
            let mut value = states
                .scope(&key, key_hash(&key), &())
                .get_state(&count)
                .unwrap();
            value.update(n).unwrap();
        }
        let keys_in = |states: &mut KeyedStateBackend<String>| -> usize {
            let snapshot = states.snapshot().unwrap();
            let (mut restored, _) = clocked();
            for (group, bytes) in &snapshot {
                restored
                    .restore(*group, RestoredPart::from_whole(bytes))
                    .unwrap();
            }
            (0..50)
                .filter(|n| {
                    let key = format!("k{n}");
                    let value = restored
                        .scope(&key, key_hash(&key), &())
                        .get_state(&count)
                        .unwrap();
                    value.value().is_some()
                })
                .count()
        };
        now.store(99, SeqCst);
        assert_eq!(keys_in(&mut states), 50);
        // Most of them are on disk; the 25 written at 0 expired at 100.
        now.store(120, SeqCst);
        assert_eq!(keys_in(&mut states), 25);
    }

    #[test]
    fn list_and_map_elements_expire_one_by_one() {
        use std::sync::atomic::Ordering::SeqCst;
        let ttl = StateTtlConfig::new_builder(std::time::Duration::from_millis(100)).build();
        let recent = ListStateDescriptor::<u64>::new("recent").enable_time_to_live(ttl);
        let seen = MapStateDescriptor::<String, u64>::new("seen").enable_time_to_live(ttl);
        let key = "k".to_string();
        let hash = key_hash(&key);
        let (mut states, now) = clocked();
        let list = |states: &mut KeyedStateBackend<String>| {
            let list = states
                .scope(&key, hash, &())
                .get_list_state(&recent)
                .unwrap();
            list.get().to_vec()
        };
        let map_keys = |states: &mut KeyedStateBackend<String>| {
            let map = states.scope(&key, hash, &()).get_map_state(&seen).unwrap();
            let mut keys: Vec<String> = map.entries().map(|(k, _)| k.clone()).collect();
            keys.sort();
            keys
        };
        // Elements added at 0, 50 and 90; entries put at 0 and 60, and the first put again at 80.
        for (at, element) in [(0, 1), (50, 2), (90, 3)] {
            now.store(at, SeqCst);
            let mut handle = states
                .scope(&key, hash, &())
                .get_list_state(&recent)
                .unwrap();
            handle.add(element).unwrap();
        }
        for (at, entry) in [(0, "a"), (60, "b"), (80, "a")] {
            now.store(at, SeqCst);
            let mut handle = states.scope(&key, hash, &()).get_map_state(&seen).unwrap();
            handle.put(entry.to_string(), at as u64).unwrap();
        }
        now.store(120, SeqCst);
        // Adding kept the list alive, but its first element expired at 100 on its own.
        assert_eq!(list(&mut states), [2, 3]);
        assert_eq!(map_keys(&mut states), ["a", "b"]);
        now.store(165, SeqCst);
        assert_eq!(list(&mut states), [3]);
        // "b" (put at 60) expired; "a" was put again at 80.
        assert_eq!(map_keys(&mut states), ["a"]);
        // A checkpoint leaves expired elements out: restored where the clock reads 0, only
        // what was alive at 185 comes back.
        now.store(185, SeqCst);
        let snapshot = states.snapshot().unwrap();
        let (mut restored, _) = clocked();
        for (group, bytes) in &snapshot {
            restored
                .restore(*group, RestoredPart::from_whole(bytes))
                .unwrap();
        }
        assert_eq!(list(&mut restored), [3]);
        assert!(map_keys(&mut restored).is_empty());
        now.store(200, SeqCst);
        assert!(list(&mut states).is_empty());
    }

    #[test]
    fn a_restored_state_asked_for_with_another_type_is_an_error_naming_it() {
        let mut states = backend();
        let key = "k".to_string();
        let hash = key_hash(&key);
        states
            .scope(&key, hash, &())
            .get_state(&COUNT)
            .unwrap()
            .update(3)
            .unwrap();
        let snapshot = states.snapshot().unwrap();
        let mut restored = backend();
        for (&group, bytes) in &snapshot {
            restored
                .restore(group, RestoredPart::from_whole(bytes))
                .unwrap();
        }
        let as_text = ValueStateDescriptor::<String>::new("count");
        let error = restored
            .scope(&key, hash, &())
            .get_state(&as_text)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(
                "state 'count' is a ValueState<u64> in namespace () in the checkpoint"
            ),
            "{error}"
        );
    }
}
