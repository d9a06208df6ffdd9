//! An operator's keyed state in a checkpoint is one blob per key group. An operator that keeps
//! several kinds of keyed state (values, named states, timers) writes each kind as a named part
//! of that blob, so every part moves with its key group when a job resumes at another
//! parallelism.

use std::collections::BTreeMap;

use strom_core::BoxError;

/// Gathers the parts of an operator's keyed state, key group by key group.
#[derive(Debug, Default)]
pub struct KeyGroupParts {
    groups: BTreeMap<usize, Vec<(String, Vec<u8>)>>,
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

    /// One blob per key group.
    pub fn finish(self) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error> {
        self.groups
            .into_iter()
            .map(|(group, parts)| Ok((group, postcard::to_stdvec(&parts)?)))
            .collect()
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
