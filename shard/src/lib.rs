//! shardnet's per-shard state: everything one shard owns and no other thread writes.
//!
//! - [`BufferPool`]: fixed-size buffers from anonymous memory maps, recycled through a free list.
//!   A connection borrows one only while data waits to be sent; receives go through one scratch
//!   buffer per shard.
//! - [`ConnTable`]: slab of [`ConnRecord`]s (state, readiness, times, stats, send queue).
//! - [`SlotDirectory`]: the few per-connection atomics other threads may read (id, state,
//!   pending bytes, user extra), so handles answer queries without a lock or a round trip.
//!   Pending-byte reservations (per connection and per shard budget) are in `pending`, with a
//!   loom model of their interleavings.
//! - [`SendQueue`]: per-connection queue of pool buffers, flushed with vectored writes
//!   ([`SendPolicy::Pack`]) or one buffer per write ([`SendPolicy::Direct`]).
//! - [`ShardStats`]: counters read by the once-per-second stats line.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod buffer_pool;
pub mod conn_table;
pub mod counters;
mod pending;
pub mod send_queue;
pub mod slot_directory;
pub mod stats;

pub use buffer_pool::{BufferPool, PoolBuf, PoolStats};
pub use conn_table::{flags, ConnRecord, ConnState, ConnTable};
pub use counters::ShardCounters;
pub use send_queue::{write_gather, FlushOutcome, PushError, QueueFull, SendPolicy, SendQueue};
pub use slot_directory::{clock_ms, SlotCell, SlotDirectory, SlotState};
pub use stats::{ShardStats, StatsSnapshot};
