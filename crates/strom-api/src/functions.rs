//! User functions and what they are handed: the [`Collector`] to emit into, the [`Context`]
//! of the current element, side outputs by [`OutputTag`], and the [`RuntimeContext`] of the
//! subtask. Closures serve for `map`, `filter` and `flat_map`; richer functions implement
//! [`ProcessFunction`].

use std::marker::PhantomData;

use strom_core::{BoxError, StreamRecord, Timestamp};
use strom_runtime::operator::{Emitter, SideOutputs};
use strom_state::OperatorStateStore;

/// What a function's `open` sees: the subtask it runs in (Flink's `RuntimeContext`).
pub type RuntimeContext = strom_runtime::operator::OperatorContext;

/// Emits records from a function; each carries the timestamp of the input it came from.
pub struct Collector<'a, T> {
    emitter: &'a mut Emitter<T>,
    timestamp: Option<Timestamp>,
}

impl<'a, T> Collector<'a, T> {
    pub(crate) fn new(emitter: &'a mut Emitter<T>, timestamp: Option<Timestamp>) -> Self {
        Collector { emitter, timestamp }
    }

    /// Sets the timestamp of what is emitted next (results that combine records of several
    /// timestamps, such as joins).
    pub(crate) fn set_timestamp(&mut self, timestamp: Option<Timestamp>) {
        self.timestamp = timestamp;
    }

    /// Emits `value`.
    #[inline]
    pub fn collect(&mut self, value: T) {
        self.emitter.collect(StreamRecord {
            value,
            timestamp: self.timestamp,
        });
    }
}

/// Names a side output of element type `T` (Flink's `OutputTag`). Create it once and use the
/// same tag to emit (`Context::output`) and to read (`DataStream::get_side_output`).
#[derive(Debug)]
pub struct OutputTag<T> {
    id: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        OutputTag {
            id: self.id.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> OutputTag<T> {
    /// A tag named `id`.
    pub fn new(id: impl Into<String>) -> Self {
        OutputTag {
            id: id.into(),
            _type: PhantomData,
        }
    }

    /// The tag's name.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The context of the element a [`ProcessFunction`] is processing.
pub struct Context<'a> {
    side: &'a mut SideOutputs,
    timestamp: Option<Timestamp>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(side: &'a mut SideOutputs, timestamp: Option<Timestamp>) -> Self {
        Context { side, timestamp }
    }

    /// The element's event timestamp, if it has one.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    /// Emits `value` to the side output `tag`.
    pub fn output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.collect(
            &tag.id,
            StreamRecord {
                value,
                timestamp: self.timestamp,
            },
        );
    }
}

/// A function with full control over each element: emit any number of results, emit to side
/// outputs, keep fields across elements (Flink's `ProcessFunction`).
///
/// Each parallel subtask works on its own clone of the function.
pub trait ProcessFunction<I, O>: Clone + Send + Sync + 'static {
    /// Called once per subtask before the first element.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), BoxError> {
        Ok(())
    }

    /// Takes back the function's operator state when the job recovers, before `open`
    /// (Flink's `CheckpointedFunction.initializeState`).
    fn initialize_state(&mut self, _state: &OperatorStateStore) -> Result<(), BoxError> {
        Ok(())
    }

    /// Writes the function's operator state (list states, see [`OperatorStateStore`]) for a
    /// checkpoint (Flink's `CheckpointedFunction.snapshotState`).
    fn snapshot_state(&mut self, _state: &mut OperatorStateStore) -> Result<(), BoxError> {
        Ok(())
    }

    /// Processes one element.
    fn process_element(
        &mut self,
        value: I,
        ctx: &mut Context<'_>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), BoxError>;
}
