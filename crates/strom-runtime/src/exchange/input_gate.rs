//! The input side of a task: its channels merged into one ordered stream of events.
//!
//! The gate tracks each channel's watermark and end-of-input. The task's event time is the
//! minimum watermark over the channels that have not ended; it is emitted only when it
//! advances, so watermarks never go backwards. Ended channels no longer hold event time back.

use std::time::Duration;

use strom_core::{StreamElement, StreamRecord, Watermark};

use super::channel::{ChannelReceiver, Received};
use crate::error::TaskError;

/// What the gate hands its task next.
#[derive(Debug)]
pub enum GateEvent<T> {
    /// A batch of records from one channel.
    Records(Vec<StreamRecord<T>>),
    /// The combined watermark advanced to this value.
    Watermark(Watermark),
    /// Every channel has ended.
    EndOfInput,
}

/// All input channels of one subtask.
pub struct InputGate<T> {
    receivers: Vec<ChannelReceiver<T>>,
    watermarks: Vec<Watermark>,
    ended: Vec<bool>,
    open_channels: usize,
    current_watermark: Watermark,
    next_channel: usize,
}

/// How long a blocked task waits before it looks at the cancellation flag again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

impl<T> InputGate<T> {
    /// A gate over `receivers`.
    pub fn new(receivers: Vec<ChannelReceiver<T>>) -> Self {
        let n = receivers.len();
        InputGate {
            receivers,
            watermarks: vec![Watermark::MIN; n],
            ended: vec![false; n],
            open_channels: n,
            current_watermark: Watermark::MIN,
            next_channel: 0,
        }
    }

    /// The next event. Before blocking on empty channels it calls `on_idle` (the task flushes
    /// its output there); while blocked it calls `is_cancelled` now and then.
    pub fn next(
        &mut self,
        mut on_idle: impl FnMut() -> Result<(), TaskError>,
        is_cancelled: impl Fn() -> bool,
    ) -> Result<GateEvent<T>, TaskError> {
        let mut idle_flushed = false;
        loop {
            if self.open_channels == 0 {
                return Ok(GateEvent::EndOfInput);
            }
            if let Some((channel, element)) = self.poll_channels()? {
                if let Some(event) = self.accept(channel, element) {
                    return Ok(event);
                }
                continue;
            }
            if !idle_flushed {
                on_idle()?;
                idle_flushed = true;
            }
            if is_cancelled() {
                return Err(TaskError::Cancelled);
            }
            if let Some((channel, element)) = self.wait_any()? {
                if let Some(event) = self.accept(channel, element) {
                    return Ok(event);
                }
            }
        }
    }

    /// One element from the first open channel that has one, round robin; `None` when all
    /// are empty.
    fn poll_channels(&mut self) -> Result<Option<(usize, StreamElement<T>)>, TaskError> {
        let n = self.receivers.len();
        for offset in 0..n {
            let channel = (self.next_channel + offset) % n;
            if self.ended[channel] {
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

    /// Blocks up to the poll interval for any open channel.
    fn wait_any(&mut self) -> Result<Option<(usize, StreamElement<T>)>, TaskError> {
        let open: Vec<usize> = (0..self.receivers.len())
            .filter(|c| !self.ended[*c])
            .collect();
        if let [channel] = open[..] {
            return match self.receivers[channel].receive_timeout(POLL_INTERVAL) {
                Received::Element(element) => Ok(Some((channel, element))),
                Received::Empty => Ok(None),
                Received::Disconnected => Err(TaskError::Cancelled),
            };
        }
        let mut select = crossbeam_channel::Select::new();
        for channel in &open {
            select.recv(&self.receivers[*channel].inner);
        }
        match select.ready_timeout(POLL_INTERVAL) {
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

    /// Applies an element from `channel`; returns the event it produces, if any.
    fn accept(&mut self, channel: usize, element: StreamElement<T>) -> Option<GateEvent<T>> {
        match element {
            StreamElement::Records(batch) => Some(GateEvent::Records(batch)),
            StreamElement::Watermark(watermark) => {
                if watermark > self.watermarks[channel] {
                    self.watermarks[channel] = watermark;
                }
                self.advance_watermark()
            }
            StreamElement::EndOfInput => {
                self.ended[channel] = true;
                self.open_channels -= 1;
                if self.open_channels == 0 {
                    Some(GateEvent::EndOfInput)
                } else {
                    self.advance_watermark()
                }
            }
        }
    }

    fn advance_watermark(&mut self) -> Option<GateEvent<T>> {
        let combined = (0..self.receivers.len())
            .filter(|c| !self.ended[*c])
            .map(|c| self.watermarks[c])
            .min()?;
        if combined > self.current_watermark {
            self.current_watermark = combined;
            Some(GateEvent::Watermark(combined))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::channel;

    fn events(gate: &mut InputGate<u32>, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| match gate.next(|| Ok(()), || false).unwrap() {
                GateEvent::Records(batch) => format!(
                    "records {:?}",
                    batch.iter().map(|r| r.value).collect::<Vec<_>>()
                ),
                GateEvent::Watermark(w) => format!("watermark {}", w.0),
                GateEvent::EndOfInput => "end".to_string(),
            })
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
            gate.next(|| Ok(()), || false),
            Err(TaskError::Cancelled)
        ));
    }
}
