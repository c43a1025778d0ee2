//! Errors of cluster calls.

use crate::id::{NodeConnId, NodeId};

/// Why a cluster call failed. A send that returns `Ok` was handed to the bus (or, for a local
/// id, to the connection's shard): core NATS delivers it at most once.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The target's node was never heard from, stopped, or has been silent for longer than
    /// `dead_after`.
    #[error("node {0} is down")]
    NodeDown(NodeId),
    /// The id is from an earlier run of its node (the node restarted since).
    #[error("connection id {0} is from an earlier run of its node")]
    StaleId(NodeConnId),
    /// The outbox to the bus is full (the bus is slower than the senders, or unreachable).
    #[error("cluster outbox full")]
    Backlog,
    /// The cluster adapter was stopped.
    #[error("cluster stopped")]
    Stopped,
    /// Connecting to NATS failed (at start).
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    /// A join or leave named a connection of another node (only local connections join).
    #[error("connection {0} is not on this node")]
    NotLocal(NodeConnId),
    /// The local component refused (e.g. the connection closed, its queue is full).
    #[error(transparent)]
    Local(#[from] shardnet_components::Error),
}
