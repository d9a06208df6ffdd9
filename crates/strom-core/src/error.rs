//! Error types shared by every layer.

/// The error type of user-implemented extension points (sources, sinks, functions that can
/// fail): any error that can cross threads. The runtime wraps it with the operator and subtask
/// where it happened.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
