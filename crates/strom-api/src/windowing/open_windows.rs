//! The open windows of one key, ordered by their end, with the two latest inline.
//!
//! Records mostly belong to one of the two latest windows of their key (time moves forward;
//! out-of-order records reach back a little), so those live in the key's map entry itself and a
//! record finds its window without following a pointer; earlier windows (waiting for the
//! watermark) sit in a deque behind them. Keeping the windows ordered by end lets a search stop
//! as soon as it passes the end it looks for: a record that opens a new window (usually the
//! latest) learns that from the latest window alone instead of visiting every open one. When the watermark lags far behind the data, a key has many open windows, and this layout
//! saves a cache miss per record on the common path.

use std::collections::VecDeque;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use strom_core::Timestamp;

/// The open windows of one key: indices `0..` in order of their end (the caller's order: it
/// says where each window goes).
pub(crate) struct OpenWindows<S> {
    /// Before `previous` (windows mostly close earliest first, and a deque closes those without
    /// moving the rest).
    older: VecDeque<S>,
    /// Just before `newest`; `None` only when there is at most one open window.
    previous: Option<S>,
    /// `None` only when there is no open window at all.
    newest: Option<S>,
}

impl<S> OpenWindows<S> {
    pub(crate) fn new() -> Self {
        OpenWindows {
            older: VecDeque::new(),
            previous: None,
            newest: None,
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.newest.is_none()
    }

    /// The index of `previous` when it is there, else of `newest`.
    #[inline]
    fn previous_index(&self) -> usize {
        self.older.len()
    }

    #[inline]
    fn newest_index(&self) -> usize {
        self.older.len() + usize::from(self.previous.is_some())
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.newest_index() + usize::from(self.newest.is_some())
    }

    /// Opens a window after all the others; returns its index.
    #[inline]
    pub(crate) fn push(&mut self, slot: S) -> usize {
        if let Some(previous) = self.previous.take() {
            self.older.push_back(previous);
        }
        self.previous = self.newest.replace(slot);
        self.newest_index()
    }

    /// Opens a window at `index`, moving the later ones up.
    pub(crate) fn insert(&mut self, index: usize, slot: S) {
        if index == self.len() {
            self.push(slot);
            return;
        }
        // Rare (a window ending before the latest): through the deque, then refill.
        self.older.extend(self.previous.take());
        self.older.extend(self.newest.take());
        self.older.insert(index, slot);
        self.newest = self.older.pop_back();
        self.previous = self.older.pop_back();
    }

    /// Searches, from the latest window back, for one with end `end` that `matches`; `end_of`
    /// gives a window's end. `Ok(index)` when found, else `Err(index)` where a window with that
    /// end belongs.
    #[inline]
    pub(crate) fn search(
        &self,
        end: Timestamp,
        end_of: impl Fn(&S) -> Timestamp,
        mut matches: impl FnMut(&S) -> bool,
    ) -> Result<usize, usize> {
        let mut index = self.len();
        for slot in self
            .newest
            .iter()
            .chain(&self.previous)
            .chain(self.older.iter().rev())
        {
            let slot_end = end_of(slot);
            if slot_end < end {
                break;
            }
            index -= 1;
            if slot_end == end && matches(slot) {
                return Ok(index);
            }
        }
        Err(index)
    }

    /// The index of the oldest window that satisfies `matches`.
    #[inline]
    pub(crate) fn position(&self, matches: impl FnMut(&S) -> bool) -> Option<usize> {
        self.iter().position(matches)
    }

    /// Closes window `index`, keeping the others in order.
    pub(crate) fn remove(&mut self, index: usize) -> S {
        const MISSING: &str = "index is within the open windows";
        if index < self.older.len() {
            return self.older.remove(index).expect(MISSING);
        }
        let removed = if index == self.previous_index() && self.previous.is_some() {
            self.previous.take()
        } else {
            let newest = self.newest.take();
            self.newest = self.previous.take();
            newest
        };
        self.previous = self.older.pop_back();
        if self.newest.is_none() {
            self.newest = self.previous.take();
        }
        removed.expect(MISSING)
    }

    /// Closes every window that does not satisfy `keep`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&S) -> bool) {
        let all: Vec<S> = self
            .older
            .drain(..)
            .chain(self.previous.take())
            .chain(self.newest.take())
            .collect();
        for slot in all {
            if keep(&slot) {
                self.push(slot);
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &S> {
        self.older
            .iter()
            .chain(self.previous.as_ref())
            .chain(self.newest.as_ref())
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, index: usize) -> &mut S {
        let previous_index = self.previous_index();
        let slot = if index < previous_index {
            self.older.get_mut(index)
        } else if index == previous_index && self.previous.is_some() {
            self.previous.as_mut()
        } else {
            self.newest.as_mut()
        };
        slot.expect("index is within the open windows")
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> &S {
        let previous_index = self.previous_index();
        let slot = if index < previous_index {
            self.older.get(index)
        } else if index == previous_index && self.previous.is_some() {
            self.previous.as_ref()
        } else {
            self.newest.as_ref()
        };
        slot.expect("index is within the open windows")
    }
}

/// Written to checkpoints as the list of windows, in order.
impl<S: Serialize> Serialize for OpenWindows<S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for OpenWindows<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let slots = Vec::<S>::deserialize(deserializer)?;
        let mut windows = OpenWindows::new();
        for slot in slots {
            windows.push(slot);
        }
        Ok(windows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window as `(end, id)`.
    type Slot = (Timestamp, u32);

    fn contents(windows: &OpenWindows<Slot>) -> Vec<Slot> {
        windows.iter().copied().collect()
    }

    fn search(windows: &OpenWindows<Slot>, slot: Slot) -> Result<usize, usize> {
        windows.search(slot.0, |s| s.0, |s| s.1 == slot.1)
    }

    #[test]
    fn keeps_windows_ordered_by_end_through_opens_and_closes() {
        let mut windows = OpenWindows::new();
        assert!(windows.is_empty());
        assert_eq!(search(&windows, (10, 1)), Err(0));
        assert_eq!(windows.push((10, 1)), 0);
        assert_eq!(windows.push((20, 2)), 1);
        assert_eq!(search(&windows, (30, 3)), Err(2));
        windows.insert(2, (30, 3));
        assert_eq!(search(&windows, (5, 4)), Err(0));
        windows.insert(0, (5, 4));
        assert_eq!(search(&windows, (15, 5)), Err(2));
        windows.insert(2, (15, 5));
        assert_eq!(
            contents(&windows),
            [(5, 4), (10, 1), (15, 5), (20, 2), (30, 3)]
        );
        assert_eq!(search(&windows, (20, 2)), Ok(3));
        assert_eq!(search(&windows, (20, 9)), Err(3));
        assert_eq!(windows.position(|s| s.0 >= 12), Some(2));
        assert_eq!(windows.remove(4), (30, 3));
        assert_eq!(windows.remove(0), (5, 4));
        get_and_bump(&mut windows, 1);
        assert_eq!(contents(&windows), [(10, 1), (15, 6), (20, 2)]);
        windows.retain(|s| s.1 != 6);
        assert_eq!(contents(&windows), [(10, 1), (20, 2)]);
        windows.retain(|_| false);
        assert!(windows.is_empty());
    }

    fn get_and_bump(windows: &mut OpenWindows<Slot>, index: usize) {
        windows.get_mut(index).1 += 1;
        assert_eq!(windows.get(index).1, windows.iter().nth(index).unwrap().1);
    }

    #[test]
    fn behaves_like_a_sorted_vector_under_random_operations() {
        let mut windows = OpenWindows::new();
        let mut model: Vec<Slot> = Vec::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let end = (state >> 20) as Timestamp % 40;
            match state % 5 {
                0 | 1 => {
                    let at = model.partition_point(|s| s.0 < end);
                    assert_eq!(search(&windows, (end, step)), Err(at));
                    model.insert(at, (end, step));
                    windows.insert(at, (end, step));
                }
                2 if !model.is_empty() => {
                    let index = (state >> 8) as usize % model.len();
                    assert_eq!(search(&windows, model[index]), Ok(index));
                    assert_eq!(windows.remove(index), model.remove(index));
                }
                3 if !model.is_empty() => {
                    let index = (state >> 8) as usize % model.len();
                    // Ids stay unique, so a search finds exactly one window.
                    windows.get_mut(index).1 = step + 100_000;
                    model[index].1 = step + 100_000;
                }
                _ => {
                    let modulus = 2 + (state >> 8) as u32 % 7;
                    windows.retain(|s| s.1 % modulus != 0);
                    model.retain(|s| s.1 % modulus != 0);
                }
            }
            assert_eq!(contents(&windows), model);
            assert_eq!(windows.len(), model.len());
            assert_eq!(windows.is_empty(), model.is_empty());
        }
    }

    #[test]
    fn a_checkpoint_keeps_the_order() {
        let mut windows = OpenWindows::new();
        for slot in [(10, 1), (20, 2), (30, 3)] {
            windows.push(slot);
        }
        let bytes = postcard::to_stdvec(&windows).unwrap();
        let back: OpenWindows<Slot> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(contents(&back), contents(&windows));
    }
}
