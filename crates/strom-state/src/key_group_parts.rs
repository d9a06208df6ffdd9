//! An operator's keyed state in a checkpoint is one blob per key group. An operator that keeps
//! several kinds of keyed state (values, named states, timers) writes each kind as a named part
//! of that blob, so every part moves with its key group when a job resumes at another
//! parallelism.
//!
//! With incremental checkpoints a part may hold only the changes since the operator's *base*
//! checkpoint (the newest completed one it knew of). Such a checkpoint is read by
//! [`resolve`](KeyGroupParts::resolve)-ing each key group's blob against the same key group's
//! blobs in the checkpoints it builds on: every part then carries its whole history (the last
//! whole state and the changes after it), and restoring code replays it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strom_core::{BoxError, CheckpointId};

/// How one part of a key group's blob holds its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartState {
    /// The whole state.
    Whole(Vec<u8>),
    /// What changed since the same part of the same key group in the base checkpoint.
    Changes(Vec<u8>),
    /// A blob of named parts itself (a state made of several states).
    Nested(Vec<u8>),
    /// The last whole state, if there was one, then the changes after it, oldest first: a
    /// part of changes resolved against the checkpoints it builds on.
    History {
        /// The whole state the changes apply to (none: they apply to nothing).
        whole: Option<Vec<u8>>,
        /// The changes, oldest first.
        changes: Vec<Vec<u8>>,
    },
}

/// What restoring code gets for one part: the whole state, if any, then changes to replay on
/// it, oldest first (none unless the checkpoint was incremental).
#[derive(Debug, Clone, Copy)]
pub struct RestoredPart<'a> {
    /// The whole state (for a nested part: its blob of parts).
    pub whole: Option<&'a [u8]>,
    /// Changes to apply after it, oldest first.
    pub changes: &'a [Vec<u8>],
}

impl<'a> RestoredPart<'a> {
    /// A part written whole.
    pub fn from_whole(bytes: &'a [u8]) -> Self {
        RestoredPart {
            whole: Some(bytes),
            changes: &[],
        }
    }

    /// The part as restoring code reads it; a part of changes that was not resolved against
    /// its base checkpoint is refused.
    pub fn of(state: &'a PartState) -> Result<Self, BoxError> {
        match state {
            PartState::Whole(bytes) | PartState::Nested(bytes) => Ok(RestoredPart {
                whole: Some(bytes),
                changes: &[],
            }),
            PartState::History { whole, changes } => Ok(RestoredPart {
                whole: whole.as_deref(),
                changes,
            }),
            PartState::Changes(_) => Err(
                "a part of the snapshot holds only changes since a checkpoint \
                 that was not read with it"
                    .into(),
            ),
        }
    }

    /// The whole state of a part that is always written whole (timers, for instance).
    pub fn whole_only(&self) -> Result<&'a [u8], BoxError> {
        match (self.whole, self.changes.is_empty()) {
            (Some(whole), true) => Ok(whole),
            _ => Err("a part that is always written whole holds changes".into()),
        }
    }
}

/// Keyed state taken at a checkpoint barrier whose encoding may finish later, on another
/// thread, while the operator goes on (an asynchronous snapshot): the bytes it gives are the
/// state as it was at the barrier.
pub struct PendingKeyedState {
    encoding: Encoding,
    form: Form,
    /// The checkpoint the state's changes build on, if it holds changes anywhere.
    base: Option<CheckpointId>,
}

enum Encoding {
    /// Encoded already (state on the heap): nothing is left for another thread.
    Ready(BTreeMap<usize, Vec<u8>>),
    /// Encoded by the function (state on disk, read from a frozen view).
    Later(Box<dyn FnOnce() -> EncodedKeyGroups + Send>),
}

/// What the bytes of each key group are, as a part of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Whole,
    Changes,
    Nested,
}

/// Keyed state encoded per key group, or why it could not be.
type EncodedKeyGroups = Result<BTreeMap<usize, Vec<u8>>, postcard::Error>;

impl PendingKeyedState {
    /// State already encoded, key group by key group.
    pub fn ready(groups: BTreeMap<usize, Vec<u8>>) -> Self {
        PendingKeyedState {
            encoding: Encoding::Ready(groups),
            form: Form::Whole,
            base: None,
        }
    }

    /// State that `finish` encodes.
    pub fn later(finish: impl FnOnce() -> EncodedKeyGroups + Send + 'static) -> Self {
        PendingKeyedState {
            encoding: Encoding::Later(Box::new(finish)),
            form: Form::Whole,
            base: None,
        }
    }

    /// The same bytes read as the changes since checkpoint `base` (an incremental snapshot).
    pub fn as_changes_since(mut self, base: CheckpointId) -> Self {
        self.form = Form::Changes;
        self.base = Some(base);
        self
    }

    /// The checkpoint this state's changes build on, if it holds changes anywhere.
    pub fn base(&self) -> Option<CheckpointId> {
        self.base
    }

    /// The encoded state, if it is encoded already; otherwise the state itself.
    pub fn into_ready(self) -> Result<BTreeMap<usize, Vec<u8>>, Self> {
        match self.encoding {
            Encoding::Ready(groups) => Ok(groups),
            later => Err(PendingKeyedState {
                encoding: later,
                ..self
            }),
        }
    }

    /// The state, key group by key group.
    pub fn finish(self) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error> {
        match self.encoding {
            Encoding::Ready(groups) => Ok(groups),
            Encoding::Later(finish) => finish(),
        }
    }

    fn part(form: Form, bytes: Vec<u8>) -> PartState {
        match form {
            Form::Whole => PartState::Whole(bytes),
            Form::Changes => PartState::Changes(bytes),
            Form::Nested => PartState::Nested(bytes),
        }
    }
}

impl std::fmt::Debug for PendingKeyedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingKeyedState")
            .field("form", &self.form)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Gathers the parts of an operator's keyed state, key group by key group.
#[derive(Debug, Default)]
pub struct KeyGroupParts {
    groups: BTreeMap<usize, Vec<(String, PartState)>>,
    /// Parts still to be encoded.
    pending: Vec<(String, PendingKeyedState)>,
    /// The checkpoint the parts' changes build on, if any part holds changes.
    base: Option<CheckpointId>,
}

/// The parts of one key group's blob, by name.
type Parts = Vec<(String, PartState)>;

impl KeyGroupParts {
    /// No parts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the part `name`, written whole per key group.
    pub fn add(&mut self, name: &str, groups: BTreeMap<usize, Vec<u8>>) {
        self.add_states(
            name,
            groups
                .into_iter()
                .map(|(group, bytes)| (group, PartState::Whole(bytes))),
        );
    }

    /// Adds the part `name` as it is per key group (state restored and written back unread).
    pub fn add_states(&mut self, name: &str, groups: impl IntoIterator<Item = (usize, PartState)>) {
        for (group, state) in groups {
            self.groups
                .entry(group)
                .or_default()
                .push((name.to_string(), state));
        }
    }

    /// Adds the part `name`, to be encoded when the parts are finished.
    pub fn add_pending(&mut self, name: &str, part: PendingKeyedState) {
        self.base = self.base.or(part.base);
        let form = part.form;
        match part.into_ready() {
            Ok(groups) => self.add_states(
                name,
                groups
                    .into_iter()
                    .map(|(group, bytes)| (group, PendingKeyedState::part(form, bytes))),
            ),
            Err(later) => self.pending.push((name.to_string(), later)),
        }
    }

    /// One blob per key group.
    pub fn finish(mut self) -> Result<BTreeMap<usize, Vec<u8>>, postcard::Error> {
        for (name, part) in std::mem::take(&mut self.pending) {
            let form = part.form;
            let groups = part.finish()?;
            self.add_states(
                &name,
                groups
                    .into_iter()
                    .map(|(group, bytes)| (group, PendingKeyedState::part(form, bytes))),
            );
        }
        self.groups
            .into_iter()
            .map(|(group, parts)| Ok((group, postcard::to_stdvec(&parts)?)))
            .collect()
    }

    /// The blobs, finished later (see [`PendingKeyedState`]); as a part of another blob they
    /// are nested parts.
    pub fn into_pending(self) -> Result<PendingKeyedState, postcard::Error> {
        let base = self.base;
        let mut pending = if self.pending.is_empty() {
            PendingKeyedState::ready(self.finish()?)
        } else {
            PendingKeyedState::later(move || self.finish())
        };
        pending.form = Form::Nested;
        pending.base = base;
        Ok(pending)
    }

    /// The parts of one key group's blob, by name.
    pub fn read(bytes: &[u8]) -> Result<Vec<(String, PartState)>, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    /// The error for a part an operator does not know: the snapshot is not this operator's.
    pub fn unknown_part(part: &str, key_group: usize) -> BoxError {
        format!("the snapshot of key group {key_group} has an unknown part '{part}'").into()
    }

    /// Calls `restore(key_group, part, state)` for every part of every key group's blob.
    pub fn restore_each(
        blobs: &BTreeMap<usize, Vec<u8>>,
        mut restore: impl FnMut(usize, &str, RestoredPart<'_>) -> Result<(), BoxError>,
    ) -> Result<(), BoxError> {
        for (&group, blob) in blobs {
            for (part, state) in Self::read(blob)? {
                let context = |error: BoxError| -> BoxError {
                    format!("part '{part}' of key group {group}: {error}").into()
                };
                let restored = RestoredPart::of(&state).map_err(context)?;
                restore(group, &part, restored).map_err(context)?;
            }
        }
        Ok(())
    }

    /// One key group's blob of an incremental checkpoint, made to stand on its own: `chain`
    /// holds the key group's blob in that checkpoint and then in each checkpoint it builds on,
    /// newest first (`None` where a checkpoint has no blob for it). Every part that holds
    /// changes becomes its history back to the last whole state.
    pub fn resolve(chain: &[Option<&[u8]>]) -> Result<Vec<u8>, postcard::Error> {
        let Some(Some(newest)) = chain.first() else {
            return postcard::to_stdvec(&Parts::new());
        };
        let older: Vec<Option<Parts>> = chain[1..]
            .iter()
            .map(|blob| blob.map(Self::read).transpose())
            .collect::<Result<_, _>>()?;
        let find = |blob: &Option<Parts>, name: &str| -> Option<PartState> {
            let parts = blob.as_ref()?;
            parts
                .iter()
                .find(|(part, _)| part == name)
                .map(|(_, state)| state.clone())
        };
        let mut resolved = Parts::new();
        for (name, state) in Self::read(newest)? {
            let state = match state {
                PartState::Changes(bytes) => {
                    // Newest first while walking back; reversed at the end.
                    let mut changes = vec![bytes];
                    let mut whole = None;
                    for blob in &older {
                        match find(blob, &name) {
                            Some(PartState::Changes(bytes)) => changes.push(bytes),
                            Some(PartState::Whole(bytes)) => {
                                whole = Some(bytes);
                                break;
                            }
                            Some(PartState::History {
                                whole: earlier,
                                changes: earlier_changes,
                            }) => {
                                whole = earlier;
                                changes.extend(earlier_changes.into_iter().rev());
                                break;
                            }
                            // Not there (or not of this kind): nothing to build on.
                            Some(PartState::Nested(_)) | None => break,
                        }
                    }
                    changes.reverse();
                    PartState::History { whole, changes }
                }
                PartState::Nested(bytes) => {
                    let mut nested_chain = vec![bytes];
                    for blob in &older {
                        match find(blob, &name) {
                            Some(PartState::Nested(bytes)) => nested_chain.push(bytes),
                            _ => break,
                        }
                    }
                    let chain: Vec<Option<&[u8]>> =
                        nested_chain.iter().map(|b| Some(b.as_slice())).collect();
                    PartState::Nested(Self::resolve(&chain)?)
                }
                whole_or_history => whole_or_history,
            };
            resolved.push((name, state));
        }
        postcard::to_stdvec(&resolved)
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
                ("values".to_string(), PartState::Whole(vec![5])),
                ("timers".to_string(), PartState::Whole(vec![50]))
            ]
        );
    }

    fn blob(parts: &[(&str, PartState)]) -> Vec<u8> {
        let parts: Parts = parts
            .iter()
            .map(|(name, state)| (name.to_string(), state.clone()))
            .collect();
        postcard::to_stdvec(&parts).unwrap()
    }

    #[test]
    fn changes_are_resolved_back_to_the_last_whole_state_part_by_part() {
        use PartState::{Changes, History, Nested, Whole};
        // Checkpoint 1 whole, 2 and 3 changes; "timers" is whole every time; "gone" was in
        // checkpoint 1 only (empty since); the nested part holds changes of its own.
        let first = blob(&[
            ("values", Whole(vec![1])),
            ("timers", Whole(vec![10])),
            ("gone", Whole(vec![99])),
            ("named", Nested(blob(&[("count", Whole(vec![7]))]))),
        ]);
        let second = blob(&[
            ("values", Changes(vec![2])),
            ("timers", Whole(vec![20])),
            ("named", Nested(blob(&[("count", Changes(vec![8]))]))),
        ]);
        let third = blob(&[
            ("values", Changes(vec![3])),
            ("timers", Whole(vec![30])),
            ("named", Nested(blob(&[("count", Changes(vec![9]))]))),
            ("new", Changes(vec![4])),
        ]);
        let resolved =
            KeyGroupParts::resolve(&[Some(&third[..]), Some(&second[..]), Some(&first[..])])
                .unwrap();
        let expected = blob(&[
            (
                "values",
                History {
                    whole: Some(vec![1]),
                    changes: vec![vec![2], vec![3]],
                },
            ),
            ("timers", Whole(vec![30])),
            (
                "named",
                Nested(blob(&[(
                    "count",
                    History {
                        whole: Some(vec![7]),
                        changes: vec![vec![8], vec![9]],
                    },
                )])),
            ),
            (
                "new",
                History {
                    whole: None,
                    changes: vec![vec![4]],
                },
            ),
        ]);
        assert_eq!(
            KeyGroupParts::read(&resolved).unwrap(),
            KeyGroupParts::read(&expected).unwrap()
        );
        // A resolved blob builds on further: its histories are extended, not replaced.
        let fourth = blob(&[("values", Changes(vec![5]))]);
        let again = KeyGroupParts::resolve(&[Some(&fourth[..]), Some(&resolved[..])]).unwrap();
        assert_eq!(
            KeyGroupParts::read(&again).unwrap()[0].1,
            History {
                whole: Some(vec![1]),
                changes: vec![vec![2], vec![3], vec![5]],
            }
        );
        // Changes read without their base are refused by name.
        let mut seen = Vec::new();
        let error = KeyGroupParts::restore_each(&BTreeMap::from([(3, third)]), |_, part, _| {
            seen.push(part.to_string());
            Ok(())
        })
        .unwrap_err();
        assert_eq!(seen, Vec::<String>::new());
        assert!(
            error.to_string().contains("part 'values' of key group 3"),
            "{error}"
        );
    }
}
