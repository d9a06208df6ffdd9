//! The channel writers for partitioners that run user code: `key_by` and `partition_custom`.

use std::sync::Arc;

use strom_core::{StreamData, StreamRecord};
use strom_runtime::element_type::{
    erase_input, typed_senders, AnyInput, AnySender, RouterFactory, WriterSettings,
};
use strom_runtime::exchange::{
    ChannelSender, KeyGroupRouter, KeyedRecord, KeyedWriter, RecordRouter,
};
use strom_runtime::operator::{BoxedInput, OperatorInfo};

/// A key selector shared by all subtasks.
pub(crate) type KeySelector<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

/// Writers for `key_by`: route by key group and attach the key and its hash.
pub(crate) struct KeyByRouterFactory<T, K> {
    pub(crate) key_selector: KeySelector<T, K>,
}

impl<T: StreamData, K: StreamData + std::hash::Hash> RouterFactory for KeyByRouterFactory<T, K> {
    fn writer(
        &self,
        senders: Vec<AnySender>,
        settings: WriterSettings,
        info: OperatorInfo,
    ) -> AnyInput {
        let senders = typed_senders::<KeyedRecord<K, T>>(senders);
        erase_input(key_group_writer(
            &self.key_selector,
            senders,
            settings,
            info,
        ))
    }
}

/// A writer that attaches each record's key and hash and routes it by key group.
pub(crate) fn key_group_writer<T: StreamData, K: StreamData + std::hash::Hash>(
    key_selector: &KeySelector<T, K>,
    senders: Vec<ChannelSender<KeyedRecord<K, T>>>,
    settings: WriterSettings,
    info: OperatorInfo,
) -> BoxedInput<T> {
    let selector = Arc::clone(key_selector);
    let router = KeyGroupRouter::new(
        move |value: &T| selector(value),
        settings.target_max_parallelism,
    );
    Box::new(KeyedWriter::new(senders, settings.batch_size, router, info))
}

/// A user partitioner: chooses the subtask from the key and the number of subtasks.
pub(crate) type Partitioner<K> = Arc<dyn Fn(&K, usize) -> usize + Send + Sync>;

/// Writers for `partition_custom`.
pub(crate) struct CustomRouterFactory<T, K> {
    pub(crate) partitioner: Partitioner<K>,
    pub(crate) key_selector: KeySelector<T, K>,
}

impl<T: StreamData, K: 'static> RouterFactory for CustomRouterFactory<T, K> {
    fn writer(
        &self,
        senders: Vec<AnySender>,
        settings: WriterSettings,
        info: OperatorInfo,
    ) -> AnyInput {
        let senders = typed_senders::<T>(senders);
        let router = CustomRouter {
            partitioner: Arc::clone(&self.partitioner),
            key_selector: Arc::clone(&self.key_selector),
        };
        let writer: BoxedInput<T> =
            Box::new(KeyedWriter::new(senders, settings.batch_size, router, info));
        erase_input(writer)
    }
}

struct CustomRouter<T, K> {
    partitioner: Partitioner<K>,
    key_selector: KeySelector<T, K>,
}

impl<T, K> RecordRouter<T> for CustomRouter<T, K> {
    type Out = T;

    fn route(
        &mut self,
        record: StreamRecord<T>,
        channels: usize,
    ) -> Result<(usize, StreamRecord<T>), String> {
        let key = (self.key_selector)(&record.value);
        let channel = (self.partitioner)(&key, channels);
        if channel >= channels {
            return Err(format!("the custom partitioner returned {channel}, but there are only {channels} partitions"));
        }
        Ok((channel, record))
    }
}
