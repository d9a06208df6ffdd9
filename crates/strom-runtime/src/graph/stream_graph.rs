//! The stream graph: one node per operator the program created, one edge per stream between
//! them. Its shape ([`NodeSpec`], [`EdgeSpec`]) is plain serializable data; the user's code
//! sits beside it in factories, which a process rebuilding the same program recreates.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strom_core::StreamData;

use crate::element_type::{
    downcast_input, element_type, erase_input, AnyInput, ElementType, RouterFactory,
};
use crate::error::TaskError;
use crate::exchange::PartitionerKind;
use crate::operator::{BoxedInput, ChainLink, OneInputOperator, OperatorContext, Output};
use crate::source::SourceFactory;

/// Whether an operator may share a task with its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainingStrategy {
    /// Chain with predecessor and successors where possible (the default).
    Always,
    /// Start a new chain here (`start_new_chain`): not chained to the predecessor.
    Head,
    /// Never chain (`disable_chaining`).
    Never,
}

/// What kind of node this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// Reads records from outside; `bounded` when it ends.
    Source {
        /// Whether the source ends.
        bounded: bool,
    },
    /// Transforms records.
    Operator,
    /// Writes records out; has no output.
    Sink,
}

/// The plain-data description of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Position in the graph, from 0 in creation order.
    pub id: usize,
    /// Display name ("Flat Map", "Source: Socket Stream").
    pub name: String,
    /// The user-assigned stable id, if any.
    pub uid: Option<String>,
    /// Parallelism set on the operator; `None` takes the job's default.
    pub parallelism: Option<usize>,
    /// Maximum parallelism set on the operator.
    pub max_parallelism: Option<usize>,
    /// Chaining behaviour.
    pub chaining: ChainingStrategy,
    /// Source, operator or sink.
    pub kind: NodeKind,
    /// `false` for operators that can only run as one subtask (a socket source).
    pub parallel: bool,
}

/// The plain-data description of one edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeSpec {
    /// Upstream node.
    pub source: usize,
    /// Downstream node.
    pub target: usize,
    /// The partitioner the program chose; `None`: forward when parallelism matches, else
    /// rebalance (Flink's default).
    pub partitioner: Option<PartitionerKind>,
    /// The side output this edge reads, if it is not the main output.
    pub side_output: Option<String>,
}

/// The outputs an operator instance emits into.
pub struct NodeOutputs {
    /// The main output (a fan-out, a writer, the next link, or a discarding end).
    pub main: AnyInput,
    /// Side outputs by tag, each erased to its own element type.
    pub side: Vec<(String, Box<dyn crate::operator::ErasedOutput>)>,
}

/// A non-source operator as the runtime sees it.
pub trait OperatorFactory: Send + Sync {
    /// The type of records it takes.
    fn input_type(&self) -> Arc<dyn ElementType>;
    /// The type of records on its main output.
    fn output_type(&self) -> Arc<dyn ElementType>;
    /// Called once per job, before its first run creates any instance (sinks check their
    /// destination); restarts do not call it again.
    fn prepare(&self, _parallelism: usize) -> Result<(), strom_core::BoxError> {
        Ok(())
    }
    /// Creates the instance of one subtask, emitting into `outputs`.
    fn create(&self, ctx: OperatorContext, outputs: NodeOutputs) -> Result<AnyInput, TaskError>;
}

/// What a node does.
pub enum NodeBody {
    /// A source.
    Source(Box<dyn SourceFactory>),
    /// An operator or a sink.
    Operator(Box<dyn OperatorFactory>),
}

/// A node: its description and its code.
pub struct StreamNode {
    /// Plain data.
    pub spec: NodeSpec,
    /// The code.
    pub body: NodeBody,
}

impl StreamNode {
    /// The type of the node's main output.
    pub fn output_type(&self) -> Arc<dyn ElementType> {
        match &self.body {
            NodeBody::Source(source) => source.output_type(),
            NodeBody::Operator(operator) => operator.output_type(),
        }
    }
}

/// An edge: its description, the type of what flows on it, and for keyed partitioning the
/// code that routes records.
pub struct StreamEdge {
    /// Plain data.
    pub spec: EdgeSpec,
    /// The type the upstream operator emits on this edge.
    pub element_type: Arc<dyn ElementType>,
    /// The type that travels on the edge's channels: the element type, or for `key_by` the
    /// element with its key attached.
    pub channel_type: Arc<dyn ElementType>,
    /// The router for `key_by` and `partition_custom`.
    pub router: Option<Arc<dyn RouterFactory>>,
}

/// The graph a program built.
#[derive(Default)]
pub struct StreamGraph {
    /// Nodes in creation order; a node's id is its index.
    pub nodes: Vec<StreamNode>,
    /// Edges in creation order.
    pub edges: Vec<StreamEdge>,
}

impl StreamGraph {
    /// The node descriptions.
    pub fn node_specs(&self) -> Vec<NodeSpec> {
        self.nodes.iter().map(|node| node.spec.clone()).collect()
    }

    /// The edge descriptions.
    pub fn edge_specs(&self) -> Vec<EdgeSpec> {
        self.edges.iter().map(|edge| edge.spec.clone()).collect()
    }
}

/// An [`OperatorFactory`] from a function making a [`OneInputOperator`] per subtask.
pub fn operator_factory<IN, OUT, OP, F>(make: F) -> Box<dyn OperatorFactory>
where
    IN: StreamData,
    OUT: StreamData,
    OP: OneInputOperator<IN, OUT> + 'static,
    F: Fn(&OperatorContext) -> OP + Send + Sync + 'static,
{
    Box::new(TypedFactory {
        make,
        _types: PhantomData::<fn(IN) -> OUT>,
    })
}

struct TypedFactory<F, IN, OUT> {
    make: F,
    _types: PhantomData<fn(IN) -> OUT>,
}

impl<IN, OUT, OP, F> OperatorFactory for TypedFactory<F, IN, OUT>
where
    IN: StreamData,
    OUT: StreamData,
    OP: OneInputOperator<IN, OUT> + 'static,
    F: Fn(&OperatorContext) -> OP + Send + Sync + 'static,
{
    fn input_type(&self) -> Arc<dyn ElementType> {
        element_type::<IN>()
    }

    fn output_type(&self) -> Arc<dyn ElementType> {
        element_type::<OUT>()
    }

    fn create(&self, ctx: OperatorContext, outputs: NodeOutputs) -> Result<AnyInput, TaskError> {
        let mut output = Output::new(downcast_input::<OUT>(outputs.main), ctx.batch_size);
        for (tag, side) in outputs.side {
            output.add_side_output(tag, side);
        }
        let operator = (self.make)(&ctx);
        let link: BoxedInput<IN> = Box::new(ChainLink::new(operator, output, ctx));
        Ok(erase_input(link))
    }
}
