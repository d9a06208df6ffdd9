//! `process`: runs a [`ProcessFunction`] on every record.

use std::marker::PhantomData;

use strom_core::{BoxError, CheckpointId, StreamRecord};
use strom_runtime::checkpoint::{OperatorStateSnapshot, RestoredOperatorState};
use strom_runtime::operator::{OneInputOperator, OperatorContext, Output};
use strom_state::OperatorStateStore;

use crate::functions::{Collector, Context, ProcessFunction};

/// Drives one subtask's copy of a process function.
pub(crate) struct ProcessOperator<P, I, O> {
    pub(crate) function: P,
    pub(crate) _types: PhantomData<fn(I) -> O>,
}

impl<I, O: 'static, P: ProcessFunction<I, O>> OneInputOperator<I, O> for ProcessOperator<P, I, O> {
    fn open(&mut self, ctx: &OperatorContext) -> Result<(), BoxError> {
        self.function.open(ctx)
    }

    fn initialize_state(&mut self, state: &RestoredOperatorState) -> Result<(), BoxError> {
        let mut entries = state.operator.clone();
        entries.extend(state.union.iter().cloned());
        self.function
            .initialize_state(&OperatorStateStore::restored(&entries)?)
    }

    fn snapshot_state(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<OperatorStateSnapshot, BoxError> {
        let mut store = OperatorStateStore::default();
        self.function.snapshot_state(&mut store)?;
        let written = store.entries()?;
        Ok(OperatorStateSnapshot {
            operator: written.split,
            union: written.union,
            ..OperatorStateSnapshot::default()
        })
    }

    fn process_batch(
        &mut self,
        batch: Vec<StreamRecord<I>>,
        out: &mut Output<O>,
    ) -> Result<(), BoxError> {
        for record in batch {
            let mut collector = Collector::new(&mut out.main, record.timestamp);
            let mut ctx = Context::new(&mut out.side, record.timestamp);
            self.function
                .process_element(record.value, &mut ctx, &mut collector)?;
        }
        Ok(())
    }
}
