//! The input side of a task: its channels merged into one ordered stream of events.
//!
//! The gate is the task's watermark valve. It tracks each channel's watermark, whether the
//! channel is idle and whether it has ended (an ended channel stands at the end of time). The
//! task's event time is the minimum watermark over the active channels; it is emitted only when
//! it advances, so watermarks never go backwards. An idle channel does not hold event time back; when it
//! resumes it counts again only once its watermark has caught up with the task's. When every
//! open channel is idle the task passes the largest watermark it has seen on and reports itself
//! idle downstream (as Flink's valve does).
//!
//! The gate also aligns checkpoint barriers. When a channel delivers the barrier of a
//! checkpoint, exactly-once mode stops reading that channel until every other open channel has
//! delivered the same barrier; then the task sees the barrier once, after every record that
//! preceded it on any channel and before any record that followed it. At-least-once mode keeps
//! reading every channel and hands the barrier on when the last one arrives. A newer barrier
//! arriving during an alignment abandons the older checkpoint on this task (it can no longer
//! complete); older barriers are ignored.

use std::collections::VecDeque;
use std::time::Duration;

use strom_core::{
    CheckpointBarrier, CheckpointId, CheckpointingMode, StreamElement, StreamRecord, Watermark,
    WatermarkStatus,
};

use super::channel::{ChannelReceiver, Received};
use crate::error::TaskError;
use crate::processing_time::ProcessingTimeService;

/// What the gate hands its task next.
#[derive(Debug)]
pub enum GateEvent<T> {
    /// A batch of records from one channel.
    Records(Vec<StreamRecord<T>>),
    /// The combined watermark advanced to this value.
    Watermark(Watermark),
    /// All open channels became idle, or one became active again after that.
    WatermarkStatus(WatermarkStatus),
    /// Every open channel delivered this checkpoint's barrier.
    Barrier(CheckpointBarrier),
    /// No element arrived before a requested processing-time wake-up became due.
    WakeUp,
    /// Every channel has ended.
    EndOfInput,
}

/// The watermark state of one channel.
#[derive(Debug, Clone, Copy)]
struct ChannelState {
    watermark: Watermark,
    ended: bool,
    idle: bool,
    /// Whether the channel's watermark takes part in the minimum (false after it resumed from
    /// idleness behind the task's watermark).
    aligned: bool,
}

/// All input channels of one subtask.
pub struct InputGate<T> {
    receivers: Vec<ChannelReceiver<T>>,
    channels: Vec<ChannelState>,
    open_channels: usize,
    current_watermark: Watermark,
    idle: bool,
    pending: VecDeque<GateEvent<T>>,
    next_channel: usize,
    mode: CheckpointingMode,
    /// The checkpoint being aligned and which channels delivered its barrier.
    alignment: Option<(CheckpointBarrier, Vec<bool>)>,
    /// The newest checkpoint whose barrier went to the task.
    last_barrier: CheckpointId,
}

/// How long a blocked task waits before it looks at the cancellation flag again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

impl<T> InputGate<T> {
    /// A gate over `receivers`.
    pub fn new(receivers: Vec<ChannelReceiver<T>>) -> Self {
        let n = receivers.len();
        let initial = ChannelState {
            watermark: Watermark::MIN,
            ended: false,
            idle: false,
            aligned: true,
        };
        InputGate {
            receivers,
            channels: vec![initial; n],
            open_channels: n,
            current_watermark: Watermark::MIN,
            idle: false,
            pending: VecDeque::new(),
            next_channel: 0,
            mode: CheckpointingMode::ExactlyOnce,
            alignment: None,
            last_barrier: 0,
        }
    }

    /// Aligns barriers for `mode` (exactly-once by default).
    pub fn with_checkpointing_mode(mut self, mode: CheckpointingMode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether reading `channel` waits for a barrier alignment to finish.
    fn is_blocked(&self, channel: usize) -> bool {
        self.mode == CheckpointingMode::ExactlyOnce
            && self
                .alignment
                .as_ref()
                .is_some_and(|(_, arrived)| arrived[channel])
    }

    /// The next event. Before blocking on empty channels it calls `on_idle` (the task flushes
    /// its output there); while blocked it calls `is_cancelled` now and then, and it returns
    /// [`GateEvent::WakeUp`] when a wake-up requested from `time` is due.
    pub fn next(
        &mut self,
        mut on_idle: impl FnMut() -> Result<(), TaskError>,
        is_cancelled: impl Fn() -> bool,
        time: &ProcessingTimeService,
    ) -> Result<GateEvent<T>, TaskError> {
        let mut idle_flushed = false;
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            if self.open_channels == 0 {
                return Ok(GateEvent::EndOfInput);
            }
            if let Some((channel, element)) = self.poll_channels()? {
                self.accept(channel, element);
                continue;
            }
            if !idle_flushed {
                on_idle()?;
                idle_flushed = true;
            }
            if is_cancelled() {
                return Err(TaskError::Cancelled);
            }
            let wait = match time.time_until_wakeup() {
                Some(wait) if wait.is_zero() => return Ok(GateEvent::WakeUp),
                Some(wait) => wait.min(POLL_INTERVAL),
                None => POLL_INTERVAL,
            };
            if let Some((channel, element)) = self.wait_any(wait)? {
                self.accept(channel, element);
            }
        }
    }

    /// One element from the first open channel that has one, round robin; `None` when all
    /// are empty.
    fn poll_channels(&mut self) -> Result<Option<(usize, StreamElement<T>)>, TaskError> {
        let n = self.receivers.len();
        for offset in 0..n {
            let channel = (self.next_channel + offset) % n;
            if self.channels[channel].ended || self.is_blocked(channel) {
                continue;
            }
            match self.receivers[channel].try_receive() {
                Received::Element(element) => {
                    self.next_channel = (channel + 1) % n;
                    return Ok(Some((channel, element)));
                }
                Received::Empty => {}
                Received::Disconnected => return Err(TaskError::Cancelled),
            }
        }
        Ok(None)
    }

    /// Blocks up to `wait` for any open channel.
    fn wait_any(&mut self, wait: Duration) -> Result<Option<(usize, StreamElement<T>)>, TaskError> {
        let open: Vec<usize> = (0..self.receivers.len())
            .filter(|c| !self.channels[*c].ended && !self.is_blocked(*c))
            .collect();
        if let [channel] = open[..] {
            return match self.receivers[channel].receive_timeout(wait) {
                Received::Element(element) => Ok(Some((channel, element))),
                Received::Empty => Ok(None),
                Received::Disconnected => Err(TaskError::Cancelled),
            };
        }
        let mut select = crossbeam_channel::Select::new();
        for channel in &open {
            select.recv(&self.receivers[*channel].inner);
        }
        match select.ready_timeout(wait) {
            Ok(ready) => Ok(self
                .poll_one(open[ready])?
                .map(|element| (open[ready], element))),
            Err(_) => Ok(None),
        }
    }

    fn poll_one(&mut self, channel: usize) -> Result<Option<StreamElement<T>>, TaskError> {
        match self.receivers[channel].try_receive() {
            Received::Element(element) => Ok(Some(element)),
            Received::Empty => Ok(None),
            Received::Disconnected => Err(TaskError::Cancelled),
        }
    }

    /// Applies an element from `channel`, queueing the events it produces.
    fn accept(&mut self, channel: usize, element: StreamElement<T>) {
        match element {
            StreamElement::Records(batch) => self.pending.push_back(GateEvent::Records(batch)),
            StreamElement::Watermark(watermark) => {
                let state = &mut self.channels[channel];
                if watermark > state.watermark {
                    state.watermark = watermark;
                }
                if !state.idle && state.watermark >= self.current_watermark {
                    state.aligned = true;
                }
                self.advance_watermark();
            }
            StreamElement::WatermarkStatus(WatermarkStatus::Idle) => {
                let state = &mut self.channels[channel];
                state.idle = true;
                state.aligned = false;
                self.after_channel_left();
            }
            StreamElement::WatermarkStatus(WatermarkStatus::Active) => {
                let current = self.current_watermark;
                let state = &mut self.channels[channel];
                state.idle = false;
                state.aligned = state.watermark >= current;
                if self.idle {
                    self.idle = false;
                    self.pending
                        .push_back(GateEvent::WatermarkStatus(WatermarkStatus::Active));
                }
            }
            StreamElement::Barrier(barrier) => self.accept_barrier(channel, barrier),
            StreamElement::EndOfInput => {
                // An ended channel sends nothing more: it holds event time back no longer, and
                // counts as an active channel at the end of time (as a finished input in Flink).
                let state = &mut self.channels[channel];
                state.ended = true;
                state.idle = false;
                state.watermark = Watermark::MAX;
                state.aligned = true;
                self.open_channels -= 1;
                // The channel will send no barrier: an alignment may be complete without it.
                self.complete_alignment_if_ready();
                if self.open_channels == 0 {
                    self.pending.push_back(GateEvent::EndOfInput);
                } else {
                    self.after_channel_left();
                }
            }
        }
    }

    fn accept_barrier(&mut self, channel: usize, barrier: CheckpointBarrier) {
        if barrier.id <= self.last_barrier {
            return;
        }
        match &mut self.alignment {
            Some((aligning, arrived)) if aligning.id == barrier.id => arrived[channel] = true,
            Some((aligning, _)) if aligning.id > barrier.id => return,
            _ => {
                // The first barrier of a checkpoint, or a newer one than the checkpoint being
                // aligned (which is abandoned here).
                let mut arrived = vec![false; self.receivers.len()];
                arrived[channel] = true;
                self.alignment = Some((barrier, arrived));
            }
        }
        self.complete_alignment_if_ready();
    }

    /// Hands the barrier on once every channel delivered it or ended.
    fn complete_alignment_if_ready(&mut self) {
        let Some((barrier, arrived)) = &self.alignment else {
            return;
        };
        let complete = arrived
            .iter()
            .zip(&self.channels)
            .all(|(&arrived, state)| arrived || state.ended);
        if complete {
            let barrier = *barrier;
            self.alignment = None;
            self.last_barrier = barrier.id;
            self.pending.push_back(GateEvent::Barrier(barrier));
        }
    }

    /// A channel stopped holding event time back (idle or ended): the minimum may advance, or
    /// every remaining channel may be idle.
    fn after_channel_left(&mut self) {
        if self.channels.iter().all(|c| c.idle) {
            if let Some(max) = self.channels.iter().map(|c| c.watermark).max() {
                self.emit_if_advanced(max);
            }
            if !self.idle {
                self.idle = true;
                self.pending
                    .push_back(GateEvent::WatermarkStatus(WatermarkStatus::Idle));
            }
        } else {
            self.advance_watermark();
        }
    }

    fn advance_watermark(&mut self) {
        let combined = self
            .channels
            .iter()
            .filter(|c| !c.idle && c.aligned)
            .map(|c| c.watermark)
            .min();
        if let Some(combined) = combined {
            self.emit_if_advanced(combined);
        }
    }

    fn emit_if_advanced(&mut self, watermark: Watermark) {
        if watermark > self.current_watermark {
            self.current_watermark = watermark;
            for state in &mut self.channels {
                if !state.idle && state.watermark >= watermark {
                    state.aligned = true;
                }
            }
            self.pending.push_back(GateEvent::Watermark(watermark));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::channel;

    fn events(gate: &mut InputGate<u32>, n: usize) -> Vec<String> {
        let time = ProcessingTimeService::manual(0);
        (0..n)
            .map(|_| named(gate.next(|| Ok(()), || false, &time).unwrap()))
            .collect()
    }

    #[test]
    fn the_watermark_is_the_minimum_of_open_channels_and_never_goes_back() {
        let (s0, r0) = channel(8);
        let (s1, r1) = channel(8);
        let mut gate = InputGate::new(vec![r0, r1]);
        s0.send(StreamElement::Watermark(Watermark(10))).unwrap();
        s1.send(StreamElement::Watermark(Watermark(5))).unwrap();
        s1.send(StreamElement::Watermark(Watermark(3))).unwrap(); // backwards: ignored
        s1.send(StreamElement::Records(vec![StreamRecord::new(7)]))
            .unwrap();
        s1.send(StreamElement::Watermark(Watermark(20))).unwrap();
        s1.send(StreamElement::EndOfInput).unwrap();
        s0.send(StreamElement::Watermark(Watermark(30))).unwrap();
        s0.send(StreamElement::EndOfInput).unwrap();
        // Channels are read in turn: 10 holds nothing back until channel 1 says 5; once
        // channel 0 ends, channel 1 alone decides.
        assert_eq!(
            events(&mut gate, 4),
            ["watermark 5", "records [7]", "watermark 20", "end"]
        );
    }

    #[test]
    fn a_vanished_sender_without_end_of_input_cancels_the_task() {
        let (sender, receiver) = channel::<u32>(1);
        drop(sender);
        let mut gate = InputGate::new(vec![receiver]);
        assert!(matches!(
            gate.next(|| Ok(()), || false, &ProcessingTimeService::manual(0)),
            Err(TaskError::Cancelled)
        ));
    }

    #[test]
    fn idle_channels_do_not_hold_event_time_back_until_they_catch_up() {
        let (s0, r0) = channel(16);
        let (s1, r1) = channel(16);
        let mut gate = InputGate::new(vec![r0, r1]);
        let wm = |t| StreamElement::Watermark(Watermark(t));
        let status = StreamElement::WatermarkStatus;
        s0.send(wm(10)).unwrap();
        s1.send(wm(5)).unwrap();
        assert_eq!(drain(&mut gate), ["watermark 5"]);
        s1.send(status(WatermarkStatus::Idle)).unwrap();
        assert_eq!(drain(&mut gate), ["watermark 10"]);
        s0.send(wm(20)).unwrap();
        assert_eq!(drain(&mut gate), ["watermark 20"]);
        // Channel 1 resumes behind the task's event time: it is not counted until it catches up.
        s1.send(status(WatermarkStatus::Active)).unwrap();
        s1.send(wm(15)).unwrap();
        assert_eq!(drain(&mut gate), Vec::<String>::new());
        s0.send(wm(25)).unwrap();
        assert_eq!(drain(&mut gate), ["watermark 25"]);
        s1.send(wm(30)).unwrap();
        assert_eq!(drain(&mut gate), Vec::<String>::new());
        s0.send(wm(40)).unwrap();
        assert_eq!(drain(&mut gate), ["watermark 30"]);
        // All idle: the largest watermark seen goes on, then the task is idle itself.
        s0.send(status(WatermarkStatus::Idle)).unwrap();
        s1.send(status(WatermarkStatus::Idle)).unwrap();
        assert_eq!(drain(&mut gate), ["watermark 40", "WatermarkStatus(Idle)"]);
        s0.send(status(WatermarkStatus::Active)).unwrap();
        assert_eq!(drain(&mut gate), ["WatermarkStatus(Active)"]);
    }

    #[test]
    fn a_due_wakeup_interrupts_waiting() {
        let (_sender, receiver) = channel::<u32>(1);
        let mut gate = InputGate::new(vec![receiver]);
        let time = ProcessingTimeService::manual(10);
        time.request_wakeup(10);
        assert!(matches!(
            gate.next(|| Ok(()), || false, &time),
            Ok(GateEvent::WakeUp)
        ));
    }

    fn barrier(id: CheckpointId) -> StreamElement<u32> {
        StreamElement::Barrier(CheckpointBarrier {
            id,
            timestamp: 0,
            savepoint: false,
        })
    }

    fn records(values: &[u32]) -> StreamElement<u32> {
        StreamElement::Records(values.iter().map(|&v| StreamRecord::new(v)).collect())
    }

    fn named(event: GateEvent<u32>) -> String {
        match event {
            GateEvent::Records(batch) => format!(
                "records {:?}",
                batch.iter().map(|r| r.value).collect::<Vec<_>>()
            ),
            GateEvent::Barrier(barrier) => format!("barrier {}", barrier.id),
            GateEvent::Watermark(w) => format!("watermark {}", w.0),
            GateEvent::WatermarkStatus(status) => format!("WatermarkStatus({status:?})"),
            GateEvent::WakeUp => "wake-up".to_string(),
            GateEvent::EndOfInput => "end".to_string(),
        }
    }

    /// Everything the gate hands on until it would block, named.
    fn drain(gate: &mut InputGate<u32>) -> Vec<String> {
        let time = ProcessingTimeService::manual(0);
        time.request_wakeup(0);
        let mut seen = Vec::new();
        loop {
            match gate.next(|| Ok(()), || false, &time).unwrap() {
                GateEvent::WakeUp => return seen,
                event => seen.push(named(event)),
            }
        }
    }

    #[test]
    fn exactly_once_holds_a_channel_back_from_its_barrier_until_all_barriers_arrived() {
        let (s0, r0) = channel(16);
        let (s1, r1) = channel(16);
        let mut gate = InputGate::new(vec![r0, r1]);
        s0.send(records(&[1])).unwrap();
        s0.send(barrier(1)).unwrap();
        s0.send(records(&[2])).unwrap(); // after the barrier: waits for the alignment
        s1.send(records(&[10])).unwrap();
        assert_eq!(drain(&mut gate), ["records [1]", "records [10]"]);
        s1.send(records(&[11])).unwrap();
        s1.send(barrier(1)).unwrap();
        s1.send(records(&[12])).unwrap();
        assert_eq!(
            drain(&mut gate),
            ["records [11]", "barrier 1", "records [2]", "records [12]"]
        );
    }

    #[test]
    fn at_least_once_keeps_reading_and_hands_the_barrier_on_when_the_last_arrives() {
        let (s0, r0) = channel(16);
        let (s1, r1) = channel(16);
        let mut gate =
            InputGate::new(vec![r0, r1]).with_checkpointing_mode(CheckpointingMode::AtLeastOnce);
        s0.send(barrier(1)).unwrap();
        s0.send(records(&[2])).unwrap();
        s1.send(records(&[10])).unwrap();
        assert_eq!(drain(&mut gate), ["records [10]", "records [2]"]);
        s1.send(barrier(1)).unwrap();
        assert_eq!(drain(&mut gate), ["barrier 1"]);
    }

    #[test]
    fn ended_channels_newer_barriers_and_stale_ones() {
        let (s0, r0) = channel(16);
        let (s1, r1) = channel(16);
        let (s2, r2) = channel(16);
        let mut gate = InputGate::new(vec![r0, r1, r2]);
        // A channel that ends during an alignment sends no barrier: the others suffice.
        s0.send(barrier(1)).unwrap();
        s1.send(barrier(1)).unwrap();
        assert_eq!(drain(&mut gate), Vec::<String>::new());
        s2.send(StreamElement::EndOfInput).unwrap();
        assert_eq!(drain(&mut gate), ["barrier 1"]);
        // A newer barrier abandons the checkpoint being aligned.
        s0.send(barrier(2)).unwrap();
        s1.send(barrier(3)).unwrap();
        s0.send(barrier(3)).unwrap();
        assert_eq!(drain(&mut gate), ["barrier 3"]);
        // A barrier of a checkpoint already handed on is ignored.
        s1.send(barrier(2)).unwrap();
        s1.send(records(&[5])).unwrap();
        assert_eq!(drain(&mut gate), ["records [5]"]);
    }
}
