//! Restart strategies: whether and when a failed job runs again (Flink's
//! `restart-strategy.type` and its options). A restarted job starts every task afresh from the
//! latest completed checkpoint, or from the beginning when there is none.

use std::time::Duration;

/// How a failed job is restarted.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStrategy {
    /// A failure fails the job.
    None,
    /// Up to `attempts` restarts, each after `delay`.
    FixedDelay {
        /// How many restarts.
        attempts: u32,
        /// Wait before each.
        delay: Duration,
    },
    /// Unlimited restarts; the wait starts at `initial` and is multiplied by `multiplier` after
    /// each restart, up to `max`.
    ExponentialDelay {
        /// The first wait.
        initial: Duration,
        /// The longest wait.
        max: Duration,
        /// Growth per restart.
        multiplier: f64,
    },
}

impl RestartStrategy {
    /// The wait before restart number `restart` (1 for the first), or `None` when the
    /// strategy allows no more.
    pub fn delay_before(&self, restart: u32) -> Option<Duration> {
        match self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                (restart <= *attempts).then_some(*delay)
            }
            RestartStrategy::ExponentialDelay {
                initial,
                max,
                multiplier,
            } => {
                let factor = multiplier.max(1.0).powi(restart.saturating_sub(1) as i32);
                Some(initial.mul_f64(factor.min(1e9)).min(*max))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_allow_and_space_restarts_as_flink_does() {
        assert_eq!(RestartStrategy::None.delay_before(1), None);
        let fixed = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(10),
        };
        assert_eq!(fixed.delay_before(1), Some(Duration::from_millis(10)));
        assert_eq!(fixed.delay_before(2), Some(Duration::from_millis(10)));
        assert_eq!(fixed.delay_before(3), None);
        let exponential = RestartStrategy::ExponentialDelay {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(3),
            multiplier: 2.0,
        };
        let delays: Vec<_> = (1..=4)
            .map(|n| exponential.delay_before(n).unwrap().as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 3, 3]);
    }
}
