//! shardnet's runtime layer: shards, placement, cross-shard inboxes and connection ids.
//!
//! A [`Runtime`] runs one glommio executor per shard, each pinned to a CPU. Every shard drives
//! its sockets through its own [`Poller`] (edge-triggered epoll, woken through glommio), receives
//! work from other threads through [`inbox`]es, and names its connections with [`ConnId`]s that
//! encode the owning shard. [`ShardLoad`] and the placement enums decide which shard gets a new
//! connection.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod conn_id;
pub mod cpus;
pub mod datagram;
pub mod gso_plan;
pub mod inbox;
pub mod poller;
pub mod router;
pub mod runtime;
pub mod sys;

pub use conn_id::{ConnId, ConnIdHasher, ConnMap, ShardId};
pub use inbox::{inbox, InboxReceiver, InboxSender, SendError};
pub use poller::{Event, Poller};
pub use router::{AcceptPlacement, ConnectPlacement, ShardLoad};
pub use runtime::{Job, Runtime, RuntimeBuilder, RuntimeError};
