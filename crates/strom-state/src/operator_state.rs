//! Operator state: state of a function that is not keyed (a source's position, a buffer), kept
//! as named lists (Flink's `OperatorStateStore` with `getListState` and `getUnionListState`).
//!
//! On restore, the elements of a list state are dealt out over the subtasks (even split), so a
//! job at another parallelism gets each element exactly once; every subtask gets every element
//! of a union list state.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keyed_state::{ListStateDescriptor, StateError};

/// How a list state's elements are handed out on restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redistribution {
    /// Dealt out over the subtasks.
    EvenSplit,
    /// Every subtask gets all of them.
    Union,
}

/// Encoded operator state entries, by how they are handed out on restore.
#[derive(Debug, Default)]
pub struct WrittenEntries {
    /// Dealt out over the subtasks.
    pub split: Vec<Vec<u8>>,
    /// Given to every subtask.
    pub union: Vec<Vec<u8>>,
}

/// The operator state of one function subtask: what was restored, and what it writes.
#[derive(Debug, Default)]
pub struct OperatorStateStore {
    /// Restored elements by state name (this subtask's share).
    restored: BTreeMap<String, Vec<Vec<u8>>>,
    /// Elements written for the next checkpoint, by state name.
    written: BTreeMap<String, (Redistribution, Vec<Vec<u8>>)>,
}

impl OperatorStateStore {
    /// A store with this subtask's share of a checkpoint: `(state name, element)` entries as
    /// [`entries`](Self::entries) wrote them.
    pub fn restored(entries: &[Vec<u8>]) -> Result<Self, postcard::Error> {
        let mut restored: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for entry in entries {
            let (name, element): (String, Vec<u8>) = postcard::from_bytes(entry)?;
            restored.entry(name).or_default().push(element);
        }
        Ok(OperatorStateStore {
            restored,
            written: BTreeMap::new(),
        })
    }

    /// The restored elements of list state `descriptor` (empty on a fresh start).
    pub fn get_list_state<T: DeserializeOwned>(
        &self,
        descriptor: &ListStateDescriptor<T>,
    ) -> Result<Vec<T>, StateError> {
        self.restored
            .get(descriptor.name())
            .into_iter()
            .flatten()
            .map(|bytes| {
                postcard::from_bytes(bytes).map_err(|error| StateError::Restore {
                    name: descriptor.name().to_string(),
                    message: error.to_string(),
                })
            })
            .collect()
    }

    /// Writes list state `descriptor` for the checkpoint being taken; its elements are dealt out
    /// over the subtasks on restore.
    pub fn update_list_state<T: Serialize>(
        &mut self,
        descriptor: &ListStateDescriptor<T>,
        elements: &[T],
    ) -> Result<(), StateError> {
        self.write(descriptor, elements, Redistribution::EvenSplit)
    }

    /// Writes union list state `descriptor`: on restore every subtask gets the elements all
    /// subtasks wrote.
    pub fn update_union_list_state<T: Serialize>(
        &mut self,
        descriptor: &ListStateDescriptor<T>,
        elements: &[T],
    ) -> Result<(), StateError> {
        self.write(descriptor, elements, Redistribution::Union)
    }

    fn write<T: Serialize>(
        &mut self,
        descriptor: &ListStateDescriptor<T>,
        elements: &[T],
        redistribution: Redistribution,
    ) -> Result<(), StateError> {
        let encoded = elements
            .iter()
            .map(|element| postcard::to_stdvec(element))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| StateError::Write {
                name: descriptor.name().to_string(),
                message: error.to_string(),
            })?;
        self.written
            .insert(descriptor.name().to_string(), (redistribution, encoded));
        Ok(())
    }

    /// What was written, as `(state name, element)` entries.
    pub fn entries(&mut self) -> Result<WrittenEntries, postcard::Error> {
        let mut split = Vec::new();
        let mut union = Vec::new();
        for (name, (redistribution, elements)) in std::mem::take(&mut self.written) {
            let target = match redistribution {
                Redistribution::EvenSplit => &mut split,
                Redistribution::Union => &mut union,
            };
            for element in elements {
                target.push(postcard::to_stdvec(&(&name, element))?);
            }
        }
        Ok(WrittenEntries { split, union })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUFFER: ListStateDescriptor<u32> = ListStateDescriptor::new("buffer");
    const RULES: ListStateDescriptor<String> = ListStateDescriptor::new("rules");

    #[test]
    fn lists_round_trip_through_their_entries() {
        let mut store = OperatorStateStore::default();
        store.update_list_state(&BUFFER, &[1, 2, 3]).unwrap();
        store
            .update_union_list_state(&RULES, &["a".to_string()])
            .unwrap();
        let WrittenEntries { split, union } = store.entries().unwrap();
        assert_eq!((split.len(), union.len()), (3, 1));
        let restored = OperatorStateStore::restored(&[split[2].clone(), union[0].clone()]).unwrap();
        assert_eq!(restored.get_list_state(&BUFFER).unwrap(), [3]);
        assert_eq!(restored.get_list_state(&RULES).unwrap(), ["a"]);
        assert!(OperatorStateStore::default()
            .get_list_state(&BUFFER)
            .unwrap()
            .is_empty());
    }
}
