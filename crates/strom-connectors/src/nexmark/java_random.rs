//! The pseudo-random generator of Java's `java.util.Random` (a 48-bit linear congruential
//! generator), bit for bit: the Nexmark generator of Apache Beam seeds one per event with the
//! event's id, and drawing the same numbers in the same order gives the same events.

const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const ADDEND: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

/// `java.util.Random`'s state and its draws.
#[derive(Debug, Clone)]
pub(crate) struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    /// `new Random(seed)`.
    pub(crate) fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed as u64 ^ MULTIPLIER) & MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = self.seed.wrapping_mul(MULTIPLIER).wrapping_add(ADDEND) & MASK;
        (self.seed >> (48 - bits)) as u32 as i32
    }

    /// `nextInt()`: any `i32`.
    pub(crate) fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `nextInt(bound)`: uniform in `0..bound` (`bound` > 0).
    pub(crate) fn next_int_below(&mut self, bound: i32) -> i32 {
        debug_assert!(bound > 0);
        if bound & bound.wrapping_neg() == bound {
            return ((bound as i64 * self.next(31) as i64) >> 31) as i32;
        }
        loop {
            let bits = self.next(31);
            let value = bits % bound;
            // Java retries while `bits - value + (bound - 1)` overflows.
            if bits.wrapping_sub(value).wrapping_add(bound - 1) >= 0 {
                return value;
            }
        }
    }

    /// `nextLong()`.
    pub(crate) fn next_long(&mut self) -> i64 {
        ((self.next(32) as i64) << 32).wrapping_add(self.next(32) as i64)
    }

    /// `nextDouble()`: uniform in `[0, 1)`.
    pub(crate) fn next_double(&mut self) -> f64 {
        let high = (self.next(26) as i64) << 27;
        (high + self.next(27) as i64) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by OpenJDK 17's `java.util.Random` (see bench/nexmark/JavaRandomValues.java).
    #[test]
    fn draws_are_those_of_java_util_random() {
        let mut random = JavaRandom::new(42);
        assert_eq!(random.next_int(), -1170105035);
        assert_eq!(random.next_int_below(10), 3);
        assert_eq!(random.next_int_below(1000), 248);
        assert_eq!(random.next_long(), 884324181205335268);
        let mut random = JavaRandom::new(-7);
        assert_eq!(random.next_int_below(16), 4);
        assert_eq!(
            random.next_double().to_bits(),
            0.9014975826916275f64.to_bits()
        );
    }
}
