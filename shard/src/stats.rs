//! Per-shard traffic counters.
//!
//! # Overview
//!
//! Each shard owns one [`ShardStats`]. Only the owning shard thread updates
//! it, but any thread (e.g. the once-per-second stats reporter) may read it,
//! so every counter is an [`AtomicU64`] accessed with `Relaxed` ordering:
//! counters are independent and need no cross-field consistency. Because there is
//! one writer, the per-message counters are bumped with a plain load and store
//! rather than a locked read-modify-write (three of those per echoed message cost
//! more than the rest of the bookkeeping); the one counter other threads also
//! write, `send_refused`, uses `fetch_add`.
//!
//! [`ShardStats::snapshot`] copies all counters into a plain
//! [`StatsSnapshot`]; subtracting two snapshots (saturating per field) yields
//! the per-interval deltas printed in the stats line.

use std::ops::Sub;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// `a += n` by its only writer: a plain load and store, no locked instruction.
#[inline]
fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Live per-shard counters (see the [module docs](self)).
#[derive(Default, Debug)]
pub struct ShardStats {
    connections: AtomicU64,
    accepted: AtomicU64,
    rejected_over_limit: AtomicU64,
    msgs_in: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    closed: AtomicU64,
    send_buffers: AtomicU64,
    partial_messages: AtomicU64,
    accept_errors: AtomicU64,
    send_refused: AtomicU64,
}

impl ShardStats {
    /// Creates zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies every counter into a [`StatsSnapshot`].
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            rejected_over_limit: self.rejected_over_limit.load(Relaxed),
            msgs_in: self.msgs_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            closed: self.closed.load(Relaxed),
            send_buffers: self.send_buffers.load(Relaxed),
            partial_messages: self.partial_messages.load(Relaxed),
            inbox_wakeups: 0,
            accept_errors: self.accept_errors.load(Relaxed),
            send_refused: self.send_refused.load(Relaxed),
            queued_bytes: 0,
        }
    }

    /// `accept` failed for want of resources (fds, memory): `accept_errors += 1`.
    pub fn inc_accept_errors(&self) {
        bump(&self.accept_errors, 1);
    }

    /// A send was refused because a pending-bytes bound (per connection or per shard) was
    /// reached: `send_refused += 1`. Any thread may call it.
    pub fn inc_send_refused(&self) {
        self.send_refused.fetch_add(1, Relaxed);
    }

    /// Publishes the shard's resource gauges: pool buffers held by send queues and
    /// connections holding a partial (Pack) message. The driver calls this once per turn.
    #[inline]
    pub fn set_resources(&self, send_buffers: u64, partial_messages: u64) {
        self.send_buffers.store(send_buffers, Relaxed);
        self.partial_messages.store(partial_messages, Relaxed);
    }

    /// A connection was registered on this shard: `connections += 1`.
    pub fn conn_opened(&self) {
        bump(&self.connections, 1);
    }

    /// A connection was closed: `connections -= 1` (saturating at 0) and
    /// `closed += 1`.
    pub fn conn_closed(&self) {
        // Only the owning shard writes, so load + store cannot lose updates.
        let cur = self.connections.load(Relaxed);
        self.connections.store(cur.saturating_sub(1), Relaxed);
        bump(&self.closed, 1);
    }

    /// An incoming connection was accepted: `accepted += 1`.
    pub fn inc_accepted(&self) {
        bump(&self.accepted, 1);
    }

    /// An incoming connection was rejected because the connection limit was
    /// reached: `rejected_over_limit += 1`.
    pub fn inc_rejected(&self) {
        self.rejected_over_limit.fetch_add(1, Relaxed);
    }

    /// One `on_receive` delivery happened: `msgs_in += 1`.
    #[inline]
    pub fn inc_msgs_in(&self) {
        bump(&self.msgs_in, 1);
    }

    /// `n` bytes were received: `bytes_in += n`.
    #[inline]
    pub fn add_bytes_in(&self, n: u64) {
        bump(&self.bytes_in, n);
    }

    /// `n` bytes were written to sockets: `bytes_out += n`.
    #[inline]
    pub fn add_bytes_out(&self, n: u64) {
        bump(&self.bytes_out, n);
    }

    /// Connections currently open on this shard.
    pub fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }

    /// Total connections accepted.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Relaxed)
    }

    /// Total connections rejected because of the connection limit.
    pub fn rejected_over_limit(&self) -> u64 {
        self.rejected_over_limit.load(Relaxed)
    }

    /// Total `on_receive` deliveries.
    pub fn msgs_in(&self) -> u64 {
        self.msgs_in.load(Relaxed)
    }

    /// Total bytes received.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Relaxed)
    }

    /// Total bytes written.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Relaxed)
    }

    /// Total connections closed.
    pub fn closed(&self) -> u64 {
        self.closed.load(Relaxed)
    }
}

/// A point-in-time copy of a [`ShardStats`].
///
/// `a - b` subtracts the counters field by field, saturating at 0, which gives
/// the deltas between two snapshots; the resource gauges (`send_buffers`,
/// `partial_messages`) keep `a`'s value. For `connections`, also a gauge, the
/// delta is kept as "growth"; read the later snapshot for the current value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Connections currently open (a gauge).
    pub connections: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections rejected because of the connection limit.
    pub rejected_over_limit: u64,
    /// `on_receive` deliveries.
    pub msgs_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Connections closed.
    pub closed: u64,
    /// Pool buffers held by send queues at the end of the last driver turn (a gauge).
    pub send_buffers: u64,
    /// Connections holding a partial Pack message at the end of the last turn (a gauge).
    pub partial_messages: u64,
    /// Times a post to the shard's inbox woke its parked driver (filled in by the component
    /// from the inbox; posts that find the driver awake cost no wake-up).
    pub inbox_wakeups: u64,
    /// `accept` calls that failed for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM); the
    /// shard retried on a timer.
    pub accept_errors: u64,
    /// Sends refused with `QueueFull` (a per-connection or per-shard pending bound).
    pub send_refused: u64,
    /// Bytes accepted by `send` and not yet written, summed over the shard's connections (a
    /// gauge; filled in by the component, and only when a per-shard budget is set).
    pub queued_bytes: u64,
}

impl Sub for StatsSnapshot {
    type Output = StatsSnapshot;

    fn sub(self, rhs: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.saturating_sub(rhs.connections),
            accepted: self.accepted.saturating_sub(rhs.accepted),
            rejected_over_limit: self
                .rejected_over_limit
                .saturating_sub(rhs.rejected_over_limit),
            msgs_in: self.msgs_in.saturating_sub(rhs.msgs_in),
            bytes_in: self.bytes_in.saturating_sub(rhs.bytes_in),
            bytes_out: self.bytes_out.saturating_sub(rhs.bytes_out),
            closed: self.closed.saturating_sub(rhs.closed),
            // Gauges: a difference means nothing, so the later value stays.
            send_buffers: self.send_buffers,
            partial_messages: self.partial_messages,
            inbox_wakeups: self.inbox_wakeups.saturating_sub(rhs.inbox_wakeups),
            accept_errors: self.accept_errors.saturating_sub(rhs.accept_errors),
            send_refused: self.send_refused.saturating_sub(rhs.send_refused),
            queued_bytes: self.queued_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counters_and_snapshot() {
        let s = ShardStats::new();
        assert_eq!(s.snapshot(), StatsSnapshot::default());
        s.inc_accepted();
        s.conn_opened();
        s.inc_accepted();
        s.conn_opened();
        s.inc_rejected();
        s.inc_msgs_in();
        s.inc_msgs_in();
        s.inc_msgs_in();
        s.add_bytes_in(100);
        s.add_bytes_in(23);
        s.add_bytes_out(77);
        s.conn_closed();
        s.set_resources(4, 2);
        assert_eq!(
            s.snapshot(),
            StatsSnapshot {
                connections: 1,
                accepted: 2,
                rejected_over_limit: 1,
                msgs_in: 3,
                bytes_in: 123,
                bytes_out: 77,
                closed: 1,
                send_buffers: 4,
                partial_messages: 2,
                ..Default::default()
            }
        );
        assert_eq!(s.connections(), 1);
        assert_eq!(s.accepted(), 2);
        assert_eq!(s.rejected_over_limit(), 1);
        assert_eq!(s.msgs_in(), 3);
        assert_eq!(s.bytes_in(), 123);
        assert_eq!(s.bytes_out(), 77);
        assert_eq!(s.closed(), 1);
        s.conn_closed();
        s.conn_closed(); // does not underflow
        assert_eq!(s.connections(), 0);
        assert_eq!(s.closed(), 3);
    }

    #[test]
    fn snapshot_sub_is_saturating_delta() {
        let s = ShardStats::default();
        s.conn_opened();
        s.add_bytes_in(10);
        let a = s.snapshot();
        s.add_bytes_in(5);
        s.add_bytes_out(7);
        s.inc_msgs_in();
        s.conn_closed();
        let b = s.snapshot();
        let d = b - a;
        assert_eq!(
            d,
            StatsSnapshot {
                bytes_in: 5,
                bytes_out: 7,
                msgs_in: 1,
                closed: 1,
                ..Default::default()
            }
        );
        assert_eq!((a - b).bytes_in, 0);
        assert_eq!((a - b).connections, 1);
    }

    #[test]
    fn readable_from_other_threads() {
        let s = Arc::new(ShardStats::new());
        let w = Arc::clone(&s);
        std::thread::spawn(move || {
            for _ in 0..1000 {
                w.add_bytes_out(2);
            }
        })
        .join()
        .unwrap();
        assert_eq!(s.snapshot().bytes_out, 2000);
    }
}
