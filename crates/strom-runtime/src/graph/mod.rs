//! The shapes of a job: the stream graph the API records and the chained job graph the
//! executor runs.

mod job_graph;
mod stream_graph;

pub use job_graph::{GraphSettings, JobEdge, JobGraph, JobVertex, ResolvedNode};
pub use stream_graph::{
    operator_factory, ChainingStrategy, EdgeSpec, NodeBody, NodeKind, NodeOutputs, NodeSpec,
    OperatorFactory, StreamEdge, StreamGraph, StreamNode,
};
