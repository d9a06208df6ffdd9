//! A bounded, in-process channel between two subtasks. Bounded so that a slow consumer
//! blocks its producer (backpressure) instead of letting memory grow.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::Duration;
use strom_core::StreamElement;

use crate::error::TaskError;

/// The sending end of a channel.
pub struct ChannelSender<T> {
    inner: Sender<StreamElement<T>>,
}

/// The receiving end of a channel.
pub struct ChannelReceiver<T> {
    pub(crate) inner: Receiver<StreamElement<T>>,
}

/// A channel that holds at most `capacity` messages (batches or control elements).
pub fn channel<T>(capacity: usize) -> (ChannelSender<T>, ChannelReceiver<T>) {
    let (inner_sender, inner_receiver) = crossbeam_channel::bounded(capacity.max(1));
    (
        ChannelSender {
            inner: inner_sender,
        },
        ChannelReceiver {
            inner: inner_receiver,
        },
    )
}

impl<T> ChannelSender<T> {
    /// Sends, blocking while the channel is full. Fails only when the receiver has gone,
    /// which means the job is being cancelled or failed elsewhere.
    pub fn send(&self, element: StreamElement<T>) -> Result<(), TaskError> {
        self.inner.send(element).map_err(|_| TaskError::Cancelled)
    }
}

/// What a non-blocking or timed receive found.
pub(crate) enum Received<T> {
    Element(StreamElement<T>),
    Empty,
    Disconnected,
}

impl<T> ChannelReceiver<T> {
    pub(crate) fn try_receive(&self) -> Received<T> {
        match self.inner.try_recv() {
            Ok(element) => Received::Element(element),
            Err(TryRecvError::Empty) => Received::Empty,
            Err(TryRecvError::Disconnected) => Received::Disconnected,
        }
    }

    pub(crate) fn receive_timeout(&self, timeout: Duration) -> Received<T> {
        match self.inner.recv_timeout(timeout) {
            Ok(element) => Received::Element(element),
            Err(RecvTimeoutError::Timeout) => Received::Empty,
            Err(RecvTimeoutError::Disconnected) => Received::Disconnected,
        }
    }
}
