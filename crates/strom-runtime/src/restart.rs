//! Restart strategies: whether and when a failed job runs again (Flink's
//! `restart-strategy.type` and its options). A restarted job starts every task afresh from the
//! latest completed checkpoint, or from the beginning when there is none.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
    /// Restarts after `delay` as long as no more than `max_failures_per_interval` failures
    /// fall within any `interval`; the failure that makes one more fails the job.
    FailureRate {
        /// Failures restarted from within one interval.
        max_failures_per_interval: u32,
        /// The sliding window failures are counted in.
        interval: Duration,
        /// Wait before each restart.
        delay: Duration,
    },
}

/// The failures a job has had so far, judged by its restart strategy.
#[derive(Debug)]
pub struct RestartHistory {
    strategy: RestartStrategy,
    restarts: u32,
    recent_failures: VecDeque<Instant>,
}

impl RestartHistory {
    /// A job that has not failed yet.
    pub fn new(strategy: RestartStrategy) -> Self {
        RestartHistory {
            strategy,
            restarts: 0,
            recent_failures: VecDeque::new(),
        }
    }

    /// Records a failure at `now` and returns the wait before the restart, or `None` when the
    /// strategy allows no more restarts.
    pub fn on_failure(&mut self, now: Instant) -> Option<Duration> {
        self.restarts += 1;
        let restart = self.restarts;
        match &self.strategy {
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
            RestartStrategy::FailureRate {
                max_failures_per_interval,
                interval,
                delay,
            } => {
                while self
                    .recent_failures
                    .front()
                    .is_some_and(|&failed| now.duration_since(failed) > *interval)
                {
                    self.recent_failures.pop_front();
                }
                self.recent_failures.push_back(now);
                (self.recent_failures.len() <= *max_failures_per_interval as usize)
                    .then_some(*delay)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(strategy: RestartStrategy, failures_at_ms: &[u64]) -> Vec<Option<u64>> {
        let start = Instant::now();
        let mut history = RestartHistory::new(strategy);
        failures_at_ms
            .iter()
            .map(|&at| {
                history
                    .on_failure(start + Duration::from_millis(at))
                    .map(|delay| delay.as_millis() as u64)
            })
            .collect()
    }

    #[test]
    fn strategies_allow_and_space_restarts_as_flink_does() {
        assert_eq!(delays(RestartStrategy::None, &[0]), [None]);
        let fixed = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(10),
        };
        assert_eq!(delays(fixed, &[0, 1, 2]), [Some(10), Some(10), None]);
        let exponential = RestartStrategy::ExponentialDelay {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(3),
            multiplier: 2.0,
        };
        assert_eq!(
            delays(exponential, &[0, 1, 2, 3]),
            [Some(1000), Some(2000), Some(3000), Some(3000)]
        );
    }

    #[test]
    fn failure_rate_fails_the_job_only_when_too_many_failures_fall_in_one_interval() {
        let rate = RestartStrategy::FailureRate {
            max_failures_per_interval: 2,
            interval: Duration::from_secs(10),
            delay: Duration::from_millis(5),
        };
        // Two failures in 10 s restart; spread out, any number do; a third within 10 s of the
        // two before it fails the job.
        assert_eq!(
            delays(rate.clone(), &[0, 9_000, 19_500, 30_000, 40_000]),
            [Some(5); 5]
        );
        assert_eq!(delays(rate, &[0, 9_000, 9_500]), [Some(5), Some(5), None]);
    }
}
