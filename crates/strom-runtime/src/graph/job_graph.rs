//! The job graph: the stream graph with parallelism resolved, partitioners chosen and
//! chainable operators fused into job vertices (one task per vertex and subtask).
//!
//! It is plain data: it can be printed as JSON (`get_execution_plan`) and sent to another
//! process. Building it is deterministic: the same program gives the same graph and the same
//! operator ids, which later map state across restarts.

use serde::{Deserialize, Serialize};
use strom_core::key_group::{default_max_parallelism, key_hash, UPPER_BOUND_MAX_PARALLELISM};

use super::stream_graph::{ChainingStrategy, EdgeSpec, NodeKind, NodeSpec};
use crate::error::JobError;
use crate::exchange::PartitionerKind;
use crate::operator::ExecutionMode;

/// Job-wide settings the graph is resolved with.
#[derive(Debug, Clone, Copy)]
pub struct GraphSettings {
    /// Parallelism of nodes that set none.
    pub default_parallelism: usize,
    /// Maximum parallelism of nodes that set none; `None` derives it from the parallelism.
    pub max_parallelism: Option<usize>,
    /// Streaming or batch.
    pub execution_mode: ExecutionMode,
}

/// A node with everything resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedNode {
    /// The node as the program described it.
    pub spec: NodeSpec,
    /// Stable id: from the uid, else from the node's position in the graph.
    pub operator_id: String,
    /// Number of subtasks.
    pub parallelism: usize,
    /// Number of key groups.
    pub max_parallelism: usize,
    /// Whether the node runs: only nodes from which a sink can be reached do (as Flink builds
    /// a job from its sinks), so a stream the program made but never used costs nothing and
    /// cannot keep the job alive.
    pub runs: bool,
    /// The vertex (task) the node runs in (meaningless when it does not run).
    pub vertex: usize,
}

/// A chain of nodes that runs as one task per subtask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobVertex {
    /// Index in [`JobGraph::vertices`].
    pub id: usize,
    /// The chain's name, e.g. `Source: Collection Source -> Map`.
    pub name: String,
    /// The first node of the chain.
    pub head: usize,
    /// All nodes of the chain, in order from the head.
    pub nodes: Vec<usize>,
    /// Number of subtasks.
    pub parallelism: usize,
}

/// A stream edge that crosses from one vertex to another through channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEdge {
    /// The stream edge it carries.
    pub stream_edge: usize,
    /// Upstream vertex.
    pub source_vertex: usize,
    /// Downstream vertex.
    pub target_vertex: usize,
    /// The partitioner in effect.
    pub partitioner: PartitionerKind,
}

/// The graph the executor runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobGraph {
    /// The job's name.
    pub job_name: String,
    /// Streaming or batch.
    pub execution_mode: ExecutionMode,
    /// Nodes by id.
    pub nodes: Vec<ResolvedNode>,
    /// Edges by id, as the program created them.
    pub edges: Vec<EdgeSpec>,
    /// Partitioner in effect per edge.
    pub partitioners: Vec<PartitionerKind>,
    /// Whether each edge runs inside a chain (a method call, no channel).
    pub chained: Vec<bool>,
    /// Tasks.
    pub vertices: Vec<JobVertex>,
    /// Edges between tasks.
    pub job_edges: Vec<JobEdge>,
}

impl JobGraph {
    /// Resolves and chains a stream graph.
    pub fn build(
        job_name: &str,
        nodes: &[NodeSpec],
        edges: &[EdgeSpec],
        settings: GraphSettings,
    ) -> Result<Self, JobError> {
        let invalid = |message: String| Err(JobError::InvalidProgram(message));
        let mut resolved = Vec::with_capacity(nodes.len());
        for node in nodes {
            let parallelism = match (node.parallelism, node.parallel) {
                (Some(0), _) => {
                    return invalid(format!(
                        "operator '{}': parallelism must be at least 1",
                        node.name
                    ))
                }
                (Some(p), false) if p > 1 => {
                    return invalid(format!(
                        "operator '{}' is not parallel: its parallelism must be 1, not {p}",
                        node.name
                    ))
                }
                (Some(p), _) => p,
                (None, false) => 1,
                (None, true) => settings.default_parallelism,
            };
            let max_parallelism = node
                .max_parallelism
                .or(settings.max_parallelism)
                .unwrap_or_else(|| default_max_parallelism(parallelism));
            if !(1..=UPPER_BOUND_MAX_PARALLELISM).contains(&max_parallelism) {
                return invalid(format!(
                    "operator '{}': maximum parallelism {max_parallelism} is not between 1 and {UPPER_BOUND_MAX_PARALLELISM}",
                    node.name
                ));
            }
            if max_parallelism < parallelism {
                return invalid(format!(
                    "operator '{}': parallelism {parallelism} exceeds its maximum parallelism {max_parallelism}",
                    node.name
                ));
            }
            let inputs: Vec<usize> = edges
                .iter()
                .filter(|e| e.target == node.id)
                .map(|e| e.source)
                .collect();
            let operator_id = match &node.uid {
                Some(uid) => format!("{:016x}", key_hash(&("uid", uid))),
                None => format!("{:016x}", key_hash(&("position", node.id, inputs))),
            };
            resolved.push(ResolvedNode {
                spec: node.clone(),
                operator_id,
                parallelism,
                max_parallelism,
                runs: true,
                vertex: 0,
            });
        }
        check_unique_uids(&resolved)?;
        // Edges point from older to newer nodes, so one pass from the newest settles which
        // nodes reach a sink.
        for node in (0..resolved.len()).rev() {
            resolved[node].runs = resolved[node].spec.kind == NodeKind::Sink
                || edges
                    .iter()
                    .any(|e| e.source == node && resolved[e.target].runs);
        }
        let edge_runs: Vec<bool> = edges
            .iter()
            .map(|e| resolved[e.source].runs && resolved[e.target].runs)
            .collect();

        let mut partitioners = Vec::with_capacity(edges.len());
        for edge in edges {
            let (up, down) = (&resolved[edge.source], &resolved[edge.target]);
            let kind = edge
                .partitioner
                .unwrap_or(if up.parallelism == down.parallelism {
                    PartitionerKind::Forward
                } else {
                    PartitionerKind::Rebalance
                });
            if kind == PartitionerKind::Forward
                && up.parallelism != down.parallelism
                && up.runs
                && down.runs
            {
                return invalid(format!(
                    "forward partitioning needs equal parallelism, but '{}' has {} and '{}' has {}",
                    up.spec.name, up.parallelism, down.spec.name, down.parallelism
                ));
            }
            partitioners.push(kind);
        }

        let chained: Vec<bool> = edges
            .iter()
            .zip(&partitioners)
            .zip(&edge_runs)
            .map(|((edge, kind), runs)| {
                let (up, down) = (&resolved[edge.source], &resolved[edge.target]);
                *runs
                    && *kind == PartitionerKind::Forward
                    && up.parallelism == down.parallelism
                    && up.spec.chaining != ChainingStrategy::Never
                    && down.spec.chaining == ChainingStrategy::Always
                    && edges
                        .iter()
                        .zip(&edge_runs)
                        .filter(|(e, r)| **r && e.target == edge.target)
                        .count()
                        == 1
            })
            .collect();

        let mut vertices: Vec<JobVertex> = Vec::new();
        for node in 0..resolved.len() {
            let is_head = !edges
                .iter()
                .zip(&chained)
                .any(|(e, c)| *c && e.target == node);
            if !is_head || !resolved[node].runs {
                continue;
            }
            let id = vertices.len();
            let mut chain = Vec::new();
            collect_chain(node, edges, &chained, &mut chain);
            for member in &chain {
                resolved[*member].vertex = id;
            }
            let name = chain
                .iter()
                .map(|n| resolved[*n].spec.name.as_str())
                .collect::<Vec<_>>()
                .join(" -> ");
            vertices.push(JobVertex {
                id,
                name,
                head: node,
                parallelism: resolved[node].parallelism,
                nodes: chain,
            });
        }

        let job_edges = edges
            .iter()
            .enumerate()
            .filter(|(i, _)| edge_runs[*i] && !chained[*i])
            .map(|(i, edge)| JobEdge {
                stream_edge: i,
                source_vertex: resolved[edge.source].vertex,
                target_vertex: resolved[edge.target].vertex,
                partitioner: partitioners[i],
            })
            .collect();

        let graph = JobGraph {
            job_name: job_name.to_string(),
            execution_mode: settings.execution_mode,
            nodes: resolved,
            edges: edges.to_vec(),
            partitioners,
            chained,
            vertices,
            job_edges,
        };
        graph.check_batch_sources()?;
        Ok(graph)
    }

    fn check_batch_sources(&self) -> Result<(), JobError> {
        if self.execution_mode != ExecutionMode::Batch {
            return Ok(());
        }
        match self
            .nodes
            .iter()
            .find(|n| n.runs && n.spec.kind == NodeKind::Source { bounded: false })
        {
            Some(node) => Err(JobError::InvalidProgram(format!(
                "batch execution needs bounded sources, but '{}' is unbounded",
                node.spec.name
            ))),
            None => Ok(()),
        }
    }

    /// The names of the nodes that do not run because no sink can be reached from them.
    pub fn unused_operators(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| !n.runs)
            .map(|n| n.spec.name.as_str())
            .collect()
    }

    /// Slots the job needs: subtasks of different vertices share slots, so the largest
    /// parallelism of any vertex.
    pub fn required_slots(&self) -> usize {
        self.vertices
            .iter()
            .map(|v| v.parallelism)
            .max()
            .unwrap_or(1)
    }

    /// The graph as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    }
}

fn collect_chain(node: usize, edges: &[EdgeSpec], chained: &[bool], chain: &mut Vec<usize>) {
    chain.push(node);
    for (edge, is_chained) in edges.iter().zip(chained) {
        if *is_chained && edge.source == node {
            collect_chain(edge.target, edges, chained, chain);
        }
    }
}

fn check_unique_uids(nodes: &[ResolvedNode]) -> Result<(), JobError> {
    for (i, node) in nodes.iter().enumerate() {
        if let Some(uid) = &node.spec.uid {
            if nodes[..i]
                .iter()
                .any(|other| other.spec.uid.as_ref() == Some(uid))
            {
                return Err(JobError::InvalidProgram(format!(
                    "uid '{uid}' is used by more than one operator"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: usize, name: &str, kind: NodeKind) -> NodeSpec {
        NodeSpec {
            id,
            name: name.to_string(),
            uid: None,
            parallelism: None,
            max_parallelism: None,
            chaining: ChainingStrategy::Always,
            kind,
            parallel: true,
        }
    }

    fn edge(source: usize, target: usize, partitioner: Option<PartitionerKind>) -> EdgeSpec {
        EdgeSpec {
            source,
            target,
            partitioner,
            side_output: None,
        }
    }

    const SETTINGS: GraphSettings = GraphSettings {
        default_parallelism: 2,
        max_parallelism: None,
        execution_mode: ExecutionMode::Streaming,
    };

    #[test]
    fn forward_edges_chain_and_keyed_edges_split_tasks() {
        let nodes = vec![
            node(
                0,
                "Source: Collection Source",
                NodeKind::Source { bounded: true },
            ),
            node(1, "Flat Map", NodeKind::Operator),
            node(2, "Keyed Aggregation", NodeKind::Operator),
            node(3, "Sink: Print to Std. Out", NodeKind::Sink),
        ];
        let edges = vec![
            edge(0, 1, None),
            edge(1, 2, Some(PartitionerKind::KeyGroups)),
            edge(2, 3, None),
        ];
        let graph = JobGraph::build("job", &nodes, &edges, SETTINGS).unwrap();
        let names: Vec<_> = graph.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Source: Collection Source -> Flat Map",
                "Keyed Aggregation -> Sink: Print to Std. Out"
            ]
        );
        assert_eq!(graph.job_edges.len(), 1);
        assert_eq!(graph.required_slots(), 2);
        let again = JobGraph::build("job", &nodes, &edges, SETTINGS).unwrap();
        assert_eq!(graph, again, "building is deterministic");
        let json: JobGraph = serde_json::from_str(&graph.to_json()).unwrap();
        assert_eq!(json, graph, "the job graph is plain data");
    }

    #[test]
    fn chaining_controls_and_parallelism_changes_break_chains() {
        let mut nodes = vec![
            node(0, "Source", NodeKind::Source { bounded: true }),
            node(1, "A", NodeKind::Operator),
            node(2, "B", NodeKind::Operator),
            node(3, "C", NodeKind::Sink),
        ];
        nodes[0].parallel = false;
        nodes[2].chaining = ChainingStrategy::Head;
        let edges = vec![edge(0, 1, None), edge(1, 2, None), edge(2, 3, None)];
        let graph = JobGraph::build("job", &nodes, &edges, SETTINGS).unwrap();
        let names: Vec<_> = graph.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["Source", "A", "B -> C"]);
        assert_eq!(graph.partitioners[0], PartitionerKind::Rebalance);
    }

    #[test]
    fn operators_that_reach_no_sink_do_not_run() {
        let nodes = vec![
            node(0, "Source: A", NodeKind::Source { bounded: true }),
            node(1, "Used", NodeKind::Operator),
            node(2, "Sink", NodeKind::Sink),
            node(3, "Unused", NodeKind::Operator),
            node(4, "Source: Socket", NodeKind::Source { bounded: false }),
        ];
        let edges = vec![edge(0, 1, None), edge(1, 2, None), edge(0, 3, None)];
        let batch = GraphSettings {
            execution_mode: ExecutionMode::Batch,
            ..SETTINGS
        };
        let graph = JobGraph::build("job", &nodes, &edges, batch).unwrap();
        assert_eq!(graph.unused_operators(), ["Unused", "Source: Socket"]);
        let names: Vec<_> = graph.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["Source: A -> Used -> Sink"]);
        assert!(graph.job_edges.is_empty());
    }

    #[test]
    fn invalid_programs_are_explained() {
        let mut nodes = vec![
            node(
                0,
                "Source: Socket Stream",
                NodeKind::Source { bounded: false },
            ),
            node(1, "Map", NodeKind::Sink),
        ];
        nodes[0].parallel = false;
        nodes[0].parallelism = Some(3);
        let edges = vec![edge(0, 1, None)];
        let error = JobGraph::build("job", &nodes, &edges, SETTINGS)
            .unwrap_err()
            .to_string();
        assert_eq!(error, "invalid job: operator 'Source: Socket Stream' is not parallel: its parallelism must be 1, not 3");

        nodes[0].parallelism = None;
        let batch = GraphSettings {
            execution_mode: ExecutionMode::Batch,
            ..SETTINGS
        };
        let error = JobGraph::build("job", &nodes, &edges, batch)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("batch execution needs bounded sources"),
            "{error}"
        );

        let forward = vec![edge(0, 1, Some(PartitionerKind::Forward))];
        let error = JobGraph::build("job", &nodes, &forward, SETTINGS)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("forward partitioning needs equal parallelism"),
            "{error}"
        );
    }
}
