//! [`DataStream`]: a stream of records of one type, and the transformations, partitionings
//! and sinks that can follow it.

use crate::watermarks::{TimestampsAndWatermarksOperator, WatermarkStrategy};
use crate::windowing::{
    AllWindowedStream, CountTrigger, GlobalWindows, PurgingTrigger, WindowAssigner, WindowedStream,
};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use strom_connectors::collection::CollectSink;
use strom_connectors::file::{TextFileSink, WriteMode};
use strom_connectors::print::PrintSink;
use strom_core::format::Printable;
use strom_core::StreamData;
use strom_runtime::element_type::{element_type, ElementType, RouterFactory};
use strom_runtime::exchange::{KeyedRecord, PartitionerKind};
use strom_runtime::graph::{operator_factory, ChainingStrategy, NodeBody, NodeKind, NodeSpec};
use strom_runtime::sink::{sink_factory, Sink};
use strom_runtime::JobError;

use crate::environment::{Env, StreamExecutionEnvironment};
use crate::functions::{Collector, OutputTag, ProcessFunction};
use crate::keyed_stream::KeyedStream;
use crate::operators::{FilterOperator, FlatMapOperator, MapOperator, ProcessOperator};
use crate::routing::{CustomRouterFactory, KeyByRouterFactory, KeySelector};

/// One upstream of a stream: a node's main or side output, and how it is partitioned.
pub(crate) struct StreamInput {
    /// Which of the environment's jobs the node belongs to (see `EnvState::generation`).
    pub(crate) generation: u64,
    pub(crate) node: usize,
    pub(crate) side_output: Option<String>,
    pub(crate) element_type: Arc<dyn ElementType>,
    pub(crate) channel_type: Arc<dyn ElementType>,
    pub(crate) partitioner: Option<PartitionerKind>,
    pub(crate) router: Option<Arc<dyn RouterFactory>>,
}

impl Clone for StreamInput {
    fn clone(&self) -> Self {
        StreamInput {
            generation: self.generation,
            node: self.node,
            side_output: self.side_output.clone(),
            element_type: Arc::clone(&self.element_type),
            channel_type: Arc::clone(&self.channel_type),
            partitioner: self.partitioner,
            router: self.router.clone(),
        }
    }
}

/// A stream of records of type `T` (Flink's `DataStream`).
///
/// Methods record the job's graph; nothing runs until the environment's `execute`.
pub struct DataStream<T> {
    pub(crate) env: Env,
    pub(crate) inputs: Vec<StreamInput>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        DataStream {
            env: Env::clone(&self.env),
            inputs: self.inputs.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: StreamData> DataStream<T> {
    pub(crate) fn from_node(env: Env, node: usize) -> Self {
        let element_type = element_type::<T>();
        let generation = env.borrow().generation;
        let input = StreamInput {
            generation,
            node,
            side_output: None,
            channel_type: Arc::clone(&element_type),
            element_type,
            partitioner: None,
            router: None,
        };
        DataStream {
            env,
            inputs: vec![input],
            _type: PhantomData,
        }
    }

    pub(crate) fn with_inputs(env: Env, inputs: Vec<StreamInput>) -> Self {
        DataStream {
            env,
            inputs,
            _type: PhantomData,
        }
    }

    /// The environment the stream belongs to.
    pub fn get_execution_environment(&self) -> StreamExecutionEnvironment {
        StreamExecutionEnvironment::from_env(Env::clone(&self.env))
    }

    /// Adds an operator node reading this stream.
    pub(crate) fn add_operator<U: StreamData>(&self, name: &str, body: NodeBody) -> DataStream<U> {
        let node =
            self.env
                .borrow_mut()
                .add_node(name, NodeKind::Operator, true, body, &self.inputs);
        DataStream::from_node(Env::clone(&self.env), node)
    }

    /// Applies `function` to every record (Flink's `map`).
    pub fn map<U, F>(&self, function: F) -> DataStream<U>
    where
        U: StreamData,
        F: FnMut(T) -> U + Clone + Send + Sync + 'static,
    {
        let factory = operator_factory(move |_| MapOperator {
            function: function.clone(),
            _input: PhantomData::<fn(T)>,
        });
        self.add_operator("Map", NodeBody::Operator(factory))
    }

    /// Emits any number of records per record through a collector (Flink's `flatMap`).
    ///
    /// ```
    /// use strom_api::StreamExecutionEnvironment;
    /// let env = StreamExecutionEnvironment::get_execution_environment();
    /// let words = env
    ///     .from_collection(vec!["to be".to_string(), "or not".to_string()])
    ///     .flat_map(|line: String, out| line.split(' ').for_each(|w| out.collect(w.to_string())));
    /// assert_eq!(words.execute_and_collect().unwrap(), ["to", "be", "or", "not"]);
    /// ```
    pub fn flat_map<U, F>(&self, function: F) -> DataStream<U>
    where
        U: StreamData,
        F: FnMut(T, &mut Collector<'_, U>) + Clone + Send + Sync + 'static,
    {
        let factory = operator_factory(move |_| FlatMapOperator {
            function: function.clone(),
            _input: PhantomData::<fn(T)>,
        });
        self.add_operator("Flat Map", NodeBody::Operator(factory))
    }

    /// Keeps the records for which `predicate` is true.
    pub fn filter<F>(&self, predicate: F) -> DataStream<T>
    where
        F: FnMut(&T) -> bool + Clone + Send + Sync + 'static,
    {
        let factory = operator_factory(move |_| FilterOperator {
            predicate: predicate.clone(),
        });
        self.add_operator("Filter", NodeBody::Operator(factory))
    }

    /// Runs a [`ProcessFunction`] on every record.
    pub fn process<O: StreamData, P: ProcessFunction<T, O>>(&self, function: P) -> DataStream<O> {
        let factory = operator_factory(move |_| ProcessOperator {
            function: function.clone(),
            _types: PhantomData,
        });
        self.add_operator("Process", NodeBody::Operator(factory))
    }

    /// Stamps records with event timestamps and generates watermarks by `strategy` (Flink's
    /// `assignTimestampsAndWatermarks`); watermarks from upstream are replaced by the new ones.
    pub fn assign_timestamps_and_watermarks(
        &self,
        strategy: WatermarkStrategy<T>,
    ) -> DataStream<T> {
        let factory =
            operator_factory(move |_| TimestampsAndWatermarksOperator::new(strategy.clone()));
        self.add_operator("Timestamps/Watermarks", NodeBody::Operator(factory))
    }

    /// Groups the whole stream into windows evaluated by a single subtask (Flink's
    /// `windowAll`).
    pub fn window_all<A: WindowAssigner<T>>(
        &self,
        assigner: A,
    ) -> AllWindowedStream<T, A, A::DefaultTrigger> {
        let keyed = self.key_by(|_| ());
        WindowedStream::new(&keyed, assigner, true)
    }

    /// Windows of `size` records of the whole stream, evaluated by a single subtask.
    pub fn count_window_all(
        &self,
        size: u64,
    ) -> AllWindowedStream<T, GlobalWindows, PurgingTrigger<CountTrigger>> {
        self.window_all(GlobalWindows::create())
            .trigger(PurgingTrigger::of(CountTrigger::of(size)))
    }

    /// Partitions by the key `key_selector` extracts: records with equal keys go to the same
    /// subtask (through the key's key group).
    pub fn key_by<K, F>(&self, key_selector: F) -> KeyedStream<T, K>
    where
        K: StreamData + std::hash::Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let key_selector: KeySelector<T, K> = Arc::new(key_selector);
        let router: Arc<dyn RouterFactory> = Arc::new(KeyByRouterFactory {
            key_selector: Arc::clone(&key_selector),
        });
        let inputs = self
            .inputs
            .iter()
            .map(|input| StreamInput {
                partitioner: Some(PartitionerKind::KeyGroups),
                router: Some(Arc::clone(&router)),
                channel_type: element_type::<KeyedRecord<K, T>>(),
                ..input.clone()
            })
            .collect();
        KeyedStream::new(
            DataStream::with_inputs(Env::clone(&self.env), inputs),
            key_selector,
        )
    }

    /// Merges this stream with `other` (same element type); nothing is deduplicated.
    pub fn union(&self, other: &DataStream<T>) -> DataStream<T> {
        if !std::rc::Rc::ptr_eq(&self.env, &other.env) {
            self.env
                .borrow_mut()
                .error("union(): both streams must belong to the same environment");
        }
        let mut inputs = self.inputs.clone();
        inputs.extend(other.inputs.iter().cloned());
        DataStream::with_inputs(Env::clone(&self.env), inputs)
    }

    fn partitioned(
        &self,
        kind: PartitionerKind,
        router: Option<Arc<dyn RouterFactory>>,
    ) -> DataStream<T> {
        let inputs = self
            .inputs
            .iter()
            .map(|input| StreamInput {
                partitioner: Some(kind),
                router: router.clone(),
                ..input.clone()
            })
            .collect();
        DataStream::with_inputs(Env::clone(&self.env), inputs)
    }

    /// Distributes records round robin over all downstream subtasks.
    pub fn rebalance(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Rebalance, None)
    }

    /// Distributes records round robin over a local subset of downstream subtasks.
    pub fn rescale(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Rescale, None)
    }

    /// Sends each record to a random downstream subtask.
    pub fn shuffle(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Shuffle, None)
    }

    /// Sends every record to every downstream subtask.
    pub fn broadcast(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Broadcast, None)
    }

    /// Sends subtask i's records to downstream subtask i (parallelism must match).
    pub fn forward(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Forward, None)
    }

    /// Sends every record to the first downstream subtask.
    pub fn global(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Global, None)
    }

    /// Sends each record to the subtask `partitioner(key, number_of_subtasks)` chooses.
    pub fn partition_custom<K, P, F>(&self, partitioner: P, key_selector: F) -> DataStream<T>
    where
        K: 'static,
        P: Fn(&K, usize) -> usize + Send + Sync + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let router = CustomRouterFactory {
            partitioner: Arc::new(partitioner),
            key_selector: Arc::new(key_selector),
        };
        self.partitioned(PartitionerKind::Custom, Some(Arc::new(router)))
    }

    /// The side output `tag` of the operator that produced this stream.
    pub fn get_side_output<X: StreamData>(&self, tag: &OutputTag<X>) -> DataStream<X> {
        let node = self.single_node("get_side_output").unwrap_or(0);
        let element_type = element_type::<X>();
        let input = StreamInput {
            generation: self.inputs.first().map_or(0, |input| input.generation),
            node,
            side_output: Some(tag.id().to_string()),
            channel_type: Arc::clone(&element_type),
            element_type,
            partitioner: None,
            router: None,
        };
        DataStream::with_inputs(Env::clone(&self.env), vec![input])
    }

    /// Writes to a [`Sink`].
    pub fn sink_to<S: Sink<T>>(&self, sink: S) -> DataStreamSink {
        self.add_sink("Sink", sink)
    }

    fn add_sink<S: Sink<T>>(&self, name: &str, sink: S) -> DataStreamSink {
        let body = NodeBody::Operator(sink_factory(sink));
        let node = self
            .env
            .borrow_mut()
            .add_node(name, NodeKind::Sink, true, body, &self.inputs);
        let generation = self.env.borrow().generation;
        DataStreamSink {
            env: Env::clone(&self.env),
            generation,
            node,
        }
    }

    /// Prints every record to standard output in Flink's format, prefixed with the subtask
    /// (`2> (hello,3)`) when the sink runs in parallel.
    pub fn print(&self) -> DataStreamSink
    where
        T: Printable,
    {
        self.add_sink("Sink: Print to Std. Out", PrintSink::stdout())
    }

    /// Prints with `identifier` before every line.
    pub fn print_with_identifier(&self, identifier: &str) -> DataStreamSink
    where
        T: Printable,
    {
        self.add_sink(
            "Sink: Print to Std. Out",
            PrintSink::stdout().with_identifier(identifier),
        )
    }

    /// Prints every record to standard error.
    pub fn print_to_err(&self) -> DataStreamSink
    where
        T: Printable,
    {
        self.add_sink("Sink: Print to Std. Err", PrintSink::stderr())
    }

    /// Writes one line per record to `path` (a file at parallelism 1, else a directory of
    /// files `1`, `2`, ...); fails if `path` exists.
    pub fn write_as_text(&self, path: impl Into<PathBuf>) -> DataStreamSink
    where
        T: Printable,
    {
        self.write_as_text_with_mode(path, WriteMode::NoOverwrite)
    }

    /// Like [`write_as_text`](Self::write_as_text), replacing an existing output with
    /// [`WriteMode::Overwrite`].
    pub fn write_as_text_with_mode(
        &self,
        path: impl Into<PathBuf>,
        mode: WriteMode,
    ) -> DataStreamSink
    where
        T: Printable,
    {
        self.add_sink("Sink: Text File", TextFileSink::new(path, mode))
    }

    /// Runs the job and returns every record of this stream, in the order one collecting
    /// subtask received them (for tests and small programs; the stream must be bounded).
    pub fn execute_and_collect(&self) -> Result<Vec<T>, JobError> {
        let collected = self.collect_async();
        self.get_execution_environment()
            .execute("DataStream Collect")?;
        Ok(collected.take())
    }

    /// Collects the stream's records into memory when the job runs; read them with
    /// [`CollectedRecords::take`] after `execute` (Flink's `collectAsync`). Several streams of
    /// one job can be collected this way.
    pub fn collect_async(&self) -> CollectedRecords<T> {
        let results = Arc::new(Mutex::new(Vec::new()));
        self.add_sink("Sink: Collect", CollectSink::new(Arc::clone(&results)))
            .set_parallelism(1);
        CollectedRecords { results }
    }

    fn single_node(&self, method: &str) -> Option<usize> {
        match self.inputs.as_slice() {
            [input] if input.side_output.is_none() && input.partitioner.is_none() => {
                Some(input.node)
            }
            _ => {
                self.env.borrow_mut().error(&format!(
                    "{method}() applies to the output of one operator, not to a union, partitioned stream or side output"
                ));
                None
            }
        }
    }

    fn configure(self, method: &str, change: impl FnOnce(&mut NodeSpec)) -> Self {
        if let Some(node) = self.single_node(method) {
            self.env
                .borrow_mut()
                .configure_node(self.inputs[0].generation, node, change);
        }
        self
    }

    /// Names the operator that produced this stream (shown in errors and plans).
    pub fn name(self, name: &str) -> Self {
        self.configure("name", |spec| spec.name = name.to_string())
    }

    /// Gives the operator a stable id, so its state maps across job versions.
    pub fn uid(self, uid: &str) -> Self {
        self.configure("uid", |spec| spec.uid = Some(uid.to_string()))
    }

    /// Sets the operator's number of parallel subtasks.
    pub fn set_parallelism(self, parallelism: usize) -> Self {
        self.configure("set_parallelism", |spec| {
            spec.parallelism = Some(parallelism)
        })
    }

    /// Sets the operator's maximum parallelism (its number of key groups).
    pub fn set_max_parallelism(self, max_parallelism: usize) -> Self {
        self.configure("set_max_parallelism", |spec| {
            spec.max_parallelism = Some(max_parallelism)
        })
    }

    /// Runs the operator in a task of its own, chained to neither neighbour.
    pub fn disable_chaining(self) -> Self {
        self.configure("disable_chaining", |spec| {
            spec.chaining = ChainingStrategy::Never
        })
    }

    /// Starts a new chain at this operator: not chained to its predecessor.
    pub fn start_new_chain(self) -> Self {
        self.configure("start_new_chain", |spec| {
            spec.chaining = ChainingStrategy::Head
        })
    }
}

/// The end of a stream in a sink; its operator can be named and configured.
pub struct DataStreamSink {
    env: Env,
    generation: u64,
    node: usize,
}

impl DataStreamSink {
    fn configure(self, change: impl FnOnce(&mut NodeSpec)) -> Self {
        self.env
            .borrow_mut()
            .configure_node(self.generation, self.node, change);
        self
    }

    /// Names the sink.
    pub fn name(self, name: &str) -> Self {
        self.configure(|spec| spec.name = name.to_string())
    }

    /// Gives the sink a stable id.
    pub fn uid(self, uid: &str) -> Self {
        self.configure(|spec| spec.uid = Some(uid.to_string()))
    }

    /// Sets the sink's parallelism.
    pub fn set_parallelism(self, parallelism: usize) -> Self {
        self.configure(|spec| spec.parallelism = Some(parallelism))
    }

    /// Runs the sink in a task of its own.
    pub fn disable_chaining(self) -> Self {
        self.configure(|spec| spec.chaining = ChainingStrategy::Never)
    }
}

/// Records collected by [`DataStream::collect_async`].
pub struct CollectedRecords<T> {
    results: Arc<Mutex<Vec<T>>>,
}

impl<T> CollectedRecords<T> {
    /// The records collected so far, in arrival order, leaving the collection empty.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(
            &mut *self
                .results
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }
}
