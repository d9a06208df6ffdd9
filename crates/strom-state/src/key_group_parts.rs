//! An operator's keyed state in a checkpoint is one blob per key group. An operator that keeps
//! several kinds of keyed state (values, named states, timers) writes each kind as a named part
//! of that blob, so every part moves with its key group when a job resumes at another
//! parallelism.

use std::collections::BTreeMap;

use strom_core::BoxError;

/// Keyed state taken at a checkpoint barrier whose encoding may finish later, on another
/// thread, while the operator goes on (an asynchronous snapshot): the bytes it gives are the
/// state as it was at the barrier.
pub enum PendingKeyedState {
    /// Encoded already (state on the heap): nothing is left for another thread.
    Ready(BTreeMap<usize, Vec<u8>>),
    /// Encoded by the function (state on disk, read from a frozen view).
    Later(Box<dyn FnOnce() -> EncodedKeyGroups + Send>),
}

/// Keyed state encoded per key group, or why it could not be.
type EncodedKeyGroups = Result<BTreeMap<usize, Vec<u8>>, postcard::Error>;

impl PendingKeyedState {
    /// State already encoded, key group by key group.
    pub fn ready(groups: BTreeMap<usize, Vec<u8>>) -> Self {
        PendingKeyedState::Ready(groups)
    }

    /// State that `finish` encodes.
    pub fn later(finish: impl FnOnce() -> EncodedKeyGroups + Send + 'static) -> Self {
        PendingKeyedState::Later(Box::new(finish))
    }

    /// The state, key group by key group.
    pub fn finish(self) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error> {
        match self {
            PendingKeyedState::Ready(groups) => Ok(groups),
            PendingKeyedState::Later(finish) => finish(),
        }
    }
}

impl std::fmt::Debug for PendingKeyedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingKeyedState")
    }
}

/// Gathers the parts of an operator's keyed state, key group by key group.
#[derive(Debug, Default)]
pub struct KeyGroupParts {
    groups: BTreeMap<usize, Vec<(String, Vec<u8>)>>,
    /// Parts still to be encoded.
    pending: Vec<(String, PendingKeyedState)>,
}

impl KeyGroupParts {
    /// No parts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the part `name`, written per key group.
    pub fn add(&mut self, name: &str, groups: BTreeMap<usize, Vec<u8>>) {
        for (group, bytes) in groups {
            self.groups
                .entry(group)
                .or_default()
                .push((name.to_string(), bytes));
        }
    }

    /// Adds the part `name`, to be encoded when the parts are finished.
    pub fn add_pending(&mut self, name: &str, part: PendingKeyedState) {
        match part {
            PendingKeyedState::Ready(groups) => self.add(name, groups),
            later => self.pending.push((name.to_string(), later)),
        }
    }

    /// One blob per key group.
    pub fn finish(mut self) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error> {
        for (name, part) in std::mem::take(&mut self.pending) {
            self.add(&name, part.finish()?);
        }
        self.groups
            .into_iter()
            .map(|(group, parts)| Ok((group, postcard::to_stdvec(&parts)?)))
            .collect()
    }

    /// The blobs, finished later (see [`PendingKeyedState`]).
    pub fn into_pending(self) -> Result<PendingKeyedState, postcard::Error> {
        if self.pending.is_empty() {
            return self.finish().map(PendingKeyedState::Ready);
        }
        Ok(PendingKeyedState::later(move || self.finish()))
    }

    /// The parts of one key group's blob, by name.
    pub fn read(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    /// The error for a part an operator does not know: the snapshot is not this operator's.
    pub fn unknown_part(part: &str, key_group: usize) -> BoxError {
        format!("the snapshot of key group {key_group} has an unknown part '{part}'").into()
    }

    /// Calls `restore(key_group, part, bytes)` for every part of every key group's blob.
    pub fn restore_each(
        blobs: &BTreeMap<usize, Vec<u8>>,
        mut restore: impl FnMut(usize, &str, &[u8]) -> Result<(), BoxError>,
    ) -> Result<(), BoxError> {
        for (&group, blob) in blobs {
            for (part, bytes) in Self::read(blob)? {
                restore(group, &part, &bytes)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_travel_together_per_key_group() {
        let mut parts = KeyGroupParts::new();
        parts.add("values", BTreeMap::from([(1, vec![1]), (5, vec![5])]));
        parts.add("timers", BTreeMap::from([(5, vec![50])]));
        let blobs = parts.finish().unwrap();
        assert_eq!(blobs.keys().copied().collect::<Vec<_>>(), [1, 5]);
        assert_eq!(
            KeyGroupParts::read(&blobs[&5]).unwrap(),
            [
                ("values".to_string(), vec![5]),
                ("timers".to_string(), vec![50])
            ]
        );
    }
}
