//! # shardnet
//!
//! A thread-per-core, sharded network framework with HP-Socket's component model: Server, Agent
//! and Client components over TCP, driven by listener callbacks (`on_accept`, `on_receive`,
//! `on_close` exactly once, …), on one pinned glommio executor per CPU with no locks on the data
//! path.
//!
//! Depend on this crate only; it re-exports the runtime ([`Runtime`], [`ConnId`], placement),
//! the per-shard state types and the components.
//!
//! ```no_run
//! use shardnet::*;
//! use std::sync::Arc;
//!
//! // 1. the listener
//! struct Echo;
//! impl ServerListener for Echo {
//!     fn on_receive(&self, s: &TcpServer, c: ConnId, data: &[u8]) -> HandleResult {
//!         if s.send(c, data).is_ok() { HandleResult::Ok } else { HandleResult::Error }
//!     }
//!     fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
//!         HandleResult::Ok
//!     }
//! }
//! // 2-3. the component, started
//! let server = TcpServer::builder().start("0.0.0.0:5555", Arc::new(Echo)).unwrap();
//! // 6. stop (every connection gets on_close, then on_shutdown), and wait
//! server.stop();
//! server.wait().unwrap();
//! ```

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub use shardnet_components::*;
pub use shardnet_runtime::{
    AcceptPlacement, ConnId, ConnectPlacement, Runtime, RuntimeBuilder, RuntimeError, ShardId,
};
pub use shardnet_shard::{SendPolicy, StatsSnapshot};

/// Several nodes as one application: cross-node sends and groups over NATS
/// (`shardnet-cluster`).
pub use shardnet_cluster as cluster;

/// The lower layers, for users who build their own components.
pub mod layers {
    pub use shardnet_protocols as protocols;
    pub use shardnet_runtime as runtime;
    pub use shardnet_shard as shard;
}
