//! Keys, key groups and the subtasks that own them.
//!
//! A key hashes into one of `max_parallelism` key groups; a subtask owns a contiguous range of
//! key groups. Keyed state is stored and snapshotted per key group, so a job can resume at a
//! different parallelism by handing out the same key groups differently (Flink's scheme).
//!
//! The hash must be the same in every process, on every machine and in every version of a
//! job, because it decides where state lives in a snapshot. Rust's `DefaultHasher` promises
//! none of that, so [`StableHasher`] is defined here and never changes.

use std::hash::{Hash, Hasher};
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Key groups when neither the job nor the configuration sets a maximum parallelism.
pub const DEFAULT_MAX_PARALLELISM: usize = 128;
/// The largest maximum parallelism Flink allows, and so does Strom.
pub const UPPER_BOUND_MAX_PARALLELISM: usize = 1 << 15;

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// A fast, platform- and version-independent hasher for keys.
///
/// Integers are hashed by value (not by their in-memory bytes), so the result does not depend
/// on endianness or pointer width.
#[derive(Debug, Clone, Default)]
pub struct StableHasher {
    state: u64,
}

impl StableHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = (self.state.rotate_left(23) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_i8(&mut self, i: i8) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_i16(&mut self, i: i16) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_i32(&mut self, i: i32) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.mix(i as u64);
    }
    #[inline]
    fn write_isize(&mut self, i: isize) {
        self.mix(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // murmur3's 64-bit finalizer spreads every input bit over the whole word.
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The stable hash of a key.
#[inline]
pub fn key_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut hasher = StableHasher::default();
    key.hash(&mut hasher);
    hasher.finish()
}

/// The key group of a key hash.
#[inline]
pub fn key_group_for_hash(hash: u64, max_parallelism: usize) -> usize {
    (hash % max_parallelism as u64) as usize
}

/// Computes key groups without a division when it can: with a power-of-two maximum
/// parallelism (the default 128) the modulo is a mask. Same results as
/// [`key_group_for_hash`]; it exists because a 64-bit division per record showed in profiles.
#[derive(Debug, Clone, Copy)]
pub struct KeyGroupAssigner {
    max_parallelism: u64,
    mask: Option<u64>,
}

impl KeyGroupAssigner {
    /// An assigner for `max_parallelism` key groups.
    pub fn new(max_parallelism: usize) -> Self {
        let max_parallelism = max_parallelism.max(1) as u64;
        let mask = max_parallelism
            .is_power_of_two()
            .then(|| max_parallelism - 1);
        KeyGroupAssigner {
            max_parallelism,
            mask,
        }
    }

    /// The key group of a key hash.
    #[inline]
    pub fn key_group(&self, hash: u64) -> usize {
        match self.mask {
            Some(mask) => (hash & mask) as usize,
            None => (hash % self.max_parallelism) as usize,
        }
    }
}

/// The subtask that owns `key_group` when an operator runs with `parallelism` subtasks
/// (Flink's formula, which gives every subtask a contiguous range).
#[inline]
pub fn operator_index_for_key_group(
    key_group: usize,
    max_parallelism: usize,
    parallelism: usize,
) -> usize {
    key_group * parallelism / max_parallelism
}

/// Flink's default maximum parallelism for an operator of `parallelism` subtasks: at least
/// 128, otherwise 1.5 times the parallelism rounded up to a power of two, at most 2^15.
pub fn default_max_parallelism(parallelism: usize) -> usize {
    let wanted = (parallelism + parallelism / 2).next_power_of_two();
    wanted.clamp(DEFAULT_MAX_PARALLELISM, UPPER_BOUND_MAX_PARALLELISM)
}

/// A contiguous range of key groups owned by one subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGroupRange {
    /// First key group of the range.
    pub start: usize,
    /// One past the last key group of the range.
    pub end: usize,
}

impl KeyGroupRange {
    /// The key groups that subtask `index` of `parallelism` owns.
    pub fn for_subtask(max_parallelism: usize, parallelism: usize, index: usize) -> Self {
        // The inverse of `operator_index_for_key_group`: the smallest key group mapping to
        // `index` up to the smallest one mapping to `index + 1`.
        let start = (index * max_parallelism).div_ceil(parallelism);
        let end = ((index + 1) * max_parallelism).div_ceil(parallelism);
        KeyGroupRange { start, end }
    }

    /// Number of key groups in the range.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the range holds no key group (a subtask of an operator whose parallelism
    /// exceeds its maximum parallelism).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether `key_group` lies in the range.
    pub fn contains(&self, key_group: usize) -> bool {
        (self.start..self.end).contains(&key_group)
    }

    /// The range as a Rust range.
    pub fn as_range(&self) -> Range<usize> {
        self.start..self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_across_versions() {
        // These figures are part of the snapshot format: changing them moves state.
        assert_eq!(key_hash(&42u64), key_hash(&42u64));
        assert_eq!(key_hash("hello"), key_hash(&String::from("hello")));
        assert_eq!(key_hash(&7u32), key_hash(&7u64));
        let golden = [key_hash("hello"), key_hash(&1i64), key_hash(&(1u8, "a"))];
        assert_eq!(
            golden,
            [
                0xd27b_f2c3_9b96_8ea8,
                0x9ca0_66f1_a4ab_2eea,
                0x0398_332d_61a5_349e
            ]
        );
    }

    #[test]
    fn key_group_ranges_invert_the_subtask_formula() {
        for max in [1, 7, 128, 1000] {
            for parallelism in 1..=max.min(40) {
                let mut covered = 0;
                for index in 0..parallelism {
                    let range = KeyGroupRange::for_subtask(max, parallelism, index);
                    assert_eq!(range.start, covered);
                    for group in range.as_range() {
                        assert_eq!(operator_index_for_key_group(group, max, parallelism), index);
                    }
                    covered = range.end;
                }
                assert_eq!(covered, max);
            }
        }
    }

    #[test]
    fn the_assigner_agrees_with_the_formula() {
        for max in [1, 7, 100, 128, 1 << 15] {
            let assigner = KeyGroupAssigner::new(max);
            for key in 0u64..2000 {
                let hash = key_hash(&key);
                assert_eq!(assigner.key_group(hash), key_group_for_hash(hash, max));
            }
        }
    }

    #[test]
    fn default_max_parallelism_follows_flink() {
        assert_eq!(default_max_parallelism(1), 128);
        assert_eq!(default_max_parallelism(100), 256);
        assert_eq!(
            default_max_parallelism(1 << 20),
            UPPER_BOUND_MAX_PARALLELISM
        );
    }
}
