//! # shardnet-cluster: one application across several shardnet nodes
//!
//! A game or chat backend outgrows one machine: N nodes run behind an L4 balancer, and a
//! player on one node must reach a player, or a room, on another. This crate is the adapter
//! for that, with NATS as the message bus:
//!
//! - [`NodeConnId`] names a connection anywhere in the cluster: node, the node's epoch, and the
//!   node-local `ConnId` (shard, slot, sequence); its layout is documented on the type.
//! - [`Cluster::send`] delivers to a [`NodeConnId`] on this node (the server's own send) or on
//!   another (one publish on that node's subject).
//! - [`Cluster::join`] and [`Cluster::send_group`]: groups with members on several nodes; a
//!   node subscribes to a group's subject while it has members in it, and each receiving node
//!   fans the message out to its own members once per shard.
//! - Heartbeats tell which nodes are alive: a send to a node that died fails with
//!   [`ClusterError::NodeDown`] rather than vanishing.
//!
//! The NATS client runs on a thread of its own; shards never wait for it (the outbox is
//! bounded and a full one is an error). What is delivered, and how often, is stated on
//! [`Cluster`]: at most once with core NATS.
//!
//! ```no_run
//! use shardnet_cluster::{Cluster, ClusterConfig};
//! use shardnet_components::TcpServer;
//! # fn f(server: TcpServer) -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::start(ClusterConfig::new("nats://127.0.0.1:4222", 1), std::sync::Arc::new(server))?;
//! // In a listener: tell the client its cluster-wide id, then route by it.
//! # let conn = shardnet_runtime::ConnId::from_u64(1);
//! let id = cluster.id(conn);
//! cluster.send(id, shardnet_protocols::ws::Message::Text("hello"))?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod bus;
mod cluster;
mod config;
mod endpoint;
mod error;
mod id;
mod liveness;

pub use cluster::{Cluster, ClusterStats};
pub use config::ClusterConfig;
pub use endpoint::Endpoint;
pub use error::ClusterError;
pub use id::{NodeConnId, NodeId, ParseIdError};
