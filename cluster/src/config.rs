//! The cluster adapter's settings.

use crate::id::NodeId;
use std::time::Duration;

/// Settings of one node's [`crate::Cluster`].
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The NATS server(s), e.g. `nats://127.0.0.1:4222` (comma-separated for several).
    pub nats_url: String,
    /// Subject prefix: nodes with the same name form one cluster (default `shardnet`).
    pub name: String,
    /// This node's number, unique among the cluster's live nodes.
    pub node: NodeId,
    /// How often this node announces itself (default 500 ms).
    pub heartbeat: Duration,
    /// A node not heard from for this long is down: sends to its ids fail (default 2 s).
    pub dead_after: Duration,
    /// Messages waiting for the bus at most; a send beyond it fails with
    /// [`crate::ClusterError::Backlog`] instead of blocking the caller (default 65,536).
    pub outbox: usize,
    /// How often group subscriptions whose local members all left are dropped (default 5 s).
    pub sweep: Duration,
    /// How long [`crate::Cluster::start`] waits for the first connection (default 5 s).
    pub connect_timeout: Duration,
}

impl ClusterConfig {
    /// Defaults for node `node` on the NATS server at `nats_url`.
    pub fn new(nats_url: impl Into<String>, node: NodeId) -> ClusterConfig {
        ClusterConfig {
            nats_url: nats_url.into(),
            name: "shardnet".into(),
            node,
            heartbeat: Duration::from_millis(500),
            dead_after: Duration::from_secs(2),
            outbox: 65_536,
            sweep: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }

    pub(crate) fn node_subject(&self, node: NodeId) -> String {
        format!("{}.node.{node}", self.name)
    }
    pub(crate) fn group_subject(&self, group: u64) -> String {
        format!("{}.group.{group}", self.name)
    }
    pub(crate) fn alive_subject(&self) -> String {
        format!("{}.alive", self.name)
    }
}
