//! What window results are computed with: incremental [`AggregateFunction`]s and the
//! [`ProcessWindowFunction`] that sees a whole window with its context.

use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strom_core::{BoxError, StreamData, StreamRecord, Timestamp};
use strom_runtime::operator::SideOutputs;
use strom_state::{KeyedStateBackend, StateError, StateScope};

use super::window::Window;
use crate::functions::{Collector, OutputTag};

/// An incremental aggregation with an accumulator (Flink's `AggregateFunction`): records are
/// added as they arrive, accumulators of merged windows are merged, and the result is read
/// when the window fires.
pub trait AggregateFunction<IN>: Clone + Send + Sync + 'static {
    /// The running state of one window.
    /// (Written to checkpoints, hence serde.)
    type Acc: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// The result.
    type Out: StreamData;

    /// A new, empty accumulator.
    fn create_accumulator(&self) -> Self::Acc;
    /// Adds a record.
    fn add(&self, value: IN, accumulator: &mut Self::Acc);
    /// The result of an accumulator.
    fn get_result(&self, accumulator: &Self::Acc) -> Self::Out;
    /// Merges `other` into `accumulator` (session windows).
    fn merge(&self, accumulator: &mut Self::Acc, other: Self::Acc);
}

/// The context of a window evaluation.
pub struct WindowContext<'a, K, W> {
    pub(crate) window: &'a W,
    pub(crate) key: &'a K,
    pub(crate) key_hash: u64,
    pub(crate) watermark: Timestamp,
    pub(crate) processing_time: Timestamp,
    pub(crate) side: &'a mut SideOutputs,
    pub(crate) states: &'a mut KeyedStateBackend<K>,
    /// Whether the windows merge (per-window state is refused then).
    pub(crate) merging: bool,
}

impl<K: StreamData + Hash + Eq, W: Window> WindowContext<'_, K, W> {
    /// The key's states scoped to this window (Flink's `windowState()`): gone with the window
    /// only when `clear` clears them. Merging windows (sessions) have none, as in Flink.
    pub fn window_state(&mut self) -> Result<StateScope<'_, K, W>, StateError> {
        if self.merging {
            return Err(StateError::PerWindowStateWithMergingWindows);
        }
        Ok(self.states.scope(self.key, self.key_hash, self.window))
    }

    /// The key's states across all its windows (Flink's `globalState()`).
    pub fn global_state(&mut self) -> StateScope<'_, K, ()> {
        self.states.scope(self.key, self.key_hash, &())
    }
}

impl<K, W: Window> WindowContext<'_, K, W> {
    /// The window being evaluated.
    pub fn window(&self) -> &W {
        self.window
    }

    /// The operator's current event time.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// Emits `value` to the side output `tag`, with the window's timestamp.
    pub fn output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.collect(
            tag.id(),
            StreamRecord::with_timestamp(value, self.window.max_timestamp()),
        );
    }
}

/// Evaluates a whole window at once (Flink's `ProcessWindowFunction`). Alone it receives every
/// record of the window; after `reduce` or `aggregate` it receives the one pre-aggregated value.
pub trait ProcessWindowFunction<IN, OUT, K, W: Window>: Clone + Send + Sync + 'static {
    /// Evaluates the window of `key`.
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, K, W>,
        elements: Vec<IN>,
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), BoxError>;

    /// The window is removed (its allowed lateness has passed): the place to clear its
    /// `window_state`.
    fn clear(&mut self, _ctx: &mut WindowContext<'_, K, W>) -> Result<(), BoxError> {
        Ok(())
    }
}
