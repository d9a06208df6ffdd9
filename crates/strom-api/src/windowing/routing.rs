//! How a record enters the windows assigned to it, the one rule both window operators follow:
//! every window that is not past its allowed lateness takes the record (a clone, except the
//! last assigned window, which takes the record itself), and a record no window took goes to
//! the late-data side output when its own timestamp is past the allowed lateness (Flink's
//! `WindowOperator.processElement`).

use strom_core::{BoxError, StreamRecord, Timestamp};
use strom_runtime::operator::SideOutputs;

/// Hands `value` to `add` for each window in `assigned` that `admit` lets in (`admit` may also
/// replace the window, as merging does), emptying `assigned`. Returns the record when no
/// window took it.
#[inline]
pub(super) fn add_to_windows<S, W, T: Clone>(
    state: &mut S,
    assigned: &mut Vec<W>,
    value: T,
    mut admit: impl FnMut(&mut S, W) -> Option<W>,
    mut add: impl FnMut(&mut S, W, T) -> Result<(), BoxError>,
) -> Result<Option<T>, BoxError> {
    let count = assigned.len();
    let mut value = Some(value);
    let mut taken = false;
    for (index, window) in assigned.drain(..).enumerate() {
        let Some(window) = admit(state, window) else {
            continue;
        };
        taken = true;
        let element = if index + 1 == count {
            value.take()
        } else {
            value.clone()
        };
        if let Some(element) = element {
            add(state, window, element)?;
        }
    }
    Ok(value.filter(|_| !taken))
}

/// Sends `value`, which no window took, to the late-data side output `tag` if it is late: its
/// timestamp plus the allowed lateness is not past the watermark.
pub(super) fn emit_if_late<T: 'static>(
    value: T,
    timestamp: Timestamp,
    allowed_lateness: Timestamp,
    watermark: Timestamp,
    tag: Option<&str>,
    side: &mut SideOutputs,
) {
    if let Some(tag) = tag {
        if timestamp.saturating_add(allowed_lateness) <= watermark {
            side.collect(tag, StreamRecord::with_timestamp(value, timestamp));
        }
    }
}
