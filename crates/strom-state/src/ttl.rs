//! State time-to-live (Flink's `StateTtlConfig`): a keyed state value expires a while after it
//! was last written (or read), in processing time. Expired values are not returned (or are,
//! until cleaned up, when asked), are dropped when read or overwritten, and are left out of
//! checkpoints.

use std::time::Duration;

use strom_core::Timestamp;

/// What refreshes a value's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdateType {
    /// Creating and writing it (Flink's default).
    #[default]
    OnCreateAndWrite,
    /// Reading it too.
    OnReadAndWrite,
}

/// Whether an expired value that is still stored is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateVisibility {
    /// Never (Flink's default).
    #[default]
    NeverReturnExpired,
    /// Yes, until it is cleaned up.
    ReturnExpiredIfNotCleanedUp,
}

/// How long keyed state lives (Flink's `StateTtlConfig`); give it to a descriptor with
/// `enable_time_to_live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtlConfig {
    ttl: Timestamp,
    update_type: UpdateType,
    visibility: StateVisibility,
}

impl StateTtlConfig {
    /// Values live for `ttl` after their last write.
    pub fn new_builder(ttl: Duration) -> StateTtlConfigBuilder {
        StateTtlConfigBuilder {
            config: StateTtlConfig {
                ttl: ttl.as_millis().min(Timestamp::MAX as u128) as Timestamp,
                update_type: UpdateType::default(),
                visibility: StateVisibility::default(),
            },
        }
    }

    /// Whether a value last touched at `touched` has expired at `now`.
    pub(crate) fn is_expired(&self, touched: Timestamp, now: Timestamp) -> bool {
        now.saturating_sub(touched) >= self.ttl
    }

    pub(crate) fn refreshes_on_read(&self) -> bool {
        self.update_type == UpdateType::OnReadAndWrite
    }

    pub(crate) fn returns_expired(&self) -> bool {
        self.visibility == StateVisibility::ReturnExpiredIfNotCleanedUp
    }
}

/// Builds a [`StateTtlConfig`].
#[derive(Debug, Clone, Copy)]
pub struct StateTtlConfigBuilder {
    config: StateTtlConfig,
}

impl StateTtlConfigBuilder {
    /// What refreshes a value's time to live.
    pub fn set_update_type(mut self, update_type: UpdateType) -> Self {
        self.config.update_type = update_type;
        self
    }

    /// Whether expired values not yet cleaned up are returned.
    pub fn set_state_visibility(mut self, visibility: StateVisibility) -> Self {
        self.config.visibility = visibility;
        self
    }

    /// The configuration.
    pub fn build(self) -> StateTtlConfig {
        self.config
    }
}
