//! The open windows of one key, in the order they were opened, with the two newest inline.
//!
//! Records mostly belong to one of the two newest windows of their key (time moves forward;
//! out-of-order records reach back a little), so those live in the key's map entry itself and a
//! record finds its window without following a pointer; older windows (waiting for the
//! watermark) sit in a deque behind them. When the watermark lags far behind the data, a key has many open windows, and this layout
//! saves a cache miss per record on the common path.

use std::collections::VecDeque;

/// The open windows of one key: indices `0..` from the oldest opened to the newest.
pub(crate) struct OpenWindows<S> {
    /// Opened before `previous`, oldest first (windows mostly close oldest first, and a deque
    /// closes those without moving the rest).
    older: VecDeque<S>,
    /// Opened just before `newest`; `None` only when there is at most one open window.
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

    /// Opens a window after all the others; returns its index.
    #[inline]
    pub(crate) fn push(&mut self, slot: S) -> usize {
        if let Some(previous) = self.previous.take() {
            self.older.push_back(previous);
        }
        self.previous = self.newest.replace(slot);
        self.newest_index()
    }

    /// The index of the newest window that satisfies `matches`.
    #[inline]
    pub(crate) fn rposition(&self, mut matches: impl FnMut(&S) -> bool) -> Option<usize> {
        if self.newest.as_ref().is_some_and(&mut matches) {
            return Some(self.newest_index());
        }
        if self.previous.as_ref().is_some_and(&mut matches) {
            return Some(self.previous_index());
        }
        self.older.iter().rposition(matches)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(windows: &OpenWindows<u32>) -> Vec<u32> {
        windows.iter().copied().collect()
    }

    #[test]
    fn keeps_windows_in_opening_order_across_pushes_and_removals() {
        let mut windows = OpenWindows::new();
        assert!(windows.is_empty());
        assert_eq!(windows.push(10), 0);
        assert_eq!(windows.push(20), 1);
        assert_eq!(windows.push(30), 2);
        assert_eq!(contents(&windows), [10, 20, 30]);
        assert_eq!(windows.rposition(|&w| w >= 20), Some(2));
        assert_eq!(windows.position(|&w| w >= 20), Some(1));
        assert_eq!(windows.remove(2), 30);
        assert_eq!(contents(&windows), [10, 20]);
        assert_eq!(windows.remove(0), 10);
        *windows.get_mut(0) += 1;
        assert_eq!(*windows.get(0), 21);
        assert_eq!(contents(&windows), [21]);
        assert_eq!(windows.remove(0), 21);
        assert!(windows.is_empty());
        assert_eq!(windows.rposition(|_| true), None);
    }

    #[test]
    fn retain_refills_the_newest_slot() {
        let mut windows = OpenWindows::new();
        for w in [1, 2, 3, 4] {
            windows.push(w);
        }
        windows.retain(|&w| w % 2 == 1);
        assert_eq!(contents(&windows), [1, 3]);
        windows.retain(|&w| w != 3);
        assert_eq!(contents(&windows), [1]);
        windows.retain(|_| false);
        assert!(windows.is_empty());
    }

    #[test]
    fn behaves_like_a_vector_under_random_operations() {
        let mut windows = OpenWindows::new();
        let mut model: Vec<u32> = Vec::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 5 {
                0 | 1 => {
                    model.push(step);
                    assert_eq!(windows.push(step), model.len() - 1);
                }
                2 if !model.is_empty() => {
                    let index = (state >> 8) as usize % model.len();
                    assert_eq!(windows.remove(index), model.remove(index));
                }
                3 if !model.is_empty() => {
                    let index = (state >> 8) as usize % model.len();
                    *windows.get_mut(index) += 1;
                    model[index] += 1;
                    assert_eq!(*windows.get(index), model[index]);
                }
                _ => {
                    let modulus = 2 + (state >> 8) as u32 % 7;
                    windows.retain(|&w| w % modulus != 0);
                    model.retain(|&w| w % modulus != 0);
                }
            }
            assert_eq!(contents(&windows), model);
            assert_eq!(windows.is_empty(), model.is_empty());
            let probe = (state >> 16) as u32 % (step + 1);
            assert_eq!(
                windows.rposition(|&w| w >= probe),
                model.iter().rposition(|&w| w >= probe)
            );
        }
    }
}
