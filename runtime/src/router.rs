//! Placement of connections on shards.
//!
//! Accepted connections are placed by [`AcceptPlacement`]: `ReusePort` gives every shard its own
//! SO_REUSEPORT listener and lets the kernel spread connections by 4-tuple hash (no hand-off, the
//! default); `Balanced` has one acceptor shard hand each accepted socket to the shard with the
//! fewest connections (Seastar's default), which corrects hash skew at the cost of one
//! cross-shard message per accept. Connections a component initiates (Agent) are placed by
//! [`ConnectPlacement`]. Both read the per-shard counts kept in a [`ShardLoad`].

use crate::ShardId;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How a server spreads accepted connections over shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AcceptPlacement {
    /// One SO_REUSEPORT listener per shard; the kernel picks the shard.
    #[default]
    ReusePort,
    /// One acceptor (shard 0) hands each socket to the least-loaded shard.
    Balanced,
}

/// How an Agent places the connections it opens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConnectPlacement {
    /// Shards in turn.
    #[default]
    RoundRobin,
    /// The shard with the fewest connections.
    LeastConnections,
    /// Always this shard.
    Shard(ShardId),
}

/// Per-shard connection counts of one component, readable and writable from any thread.
#[derive(Debug)]
pub struct ShardLoad {
    counts: Box<[AtomicUsize]>,
    total: AtomicUsize,
    next: AtomicUsize,
}

impl ShardLoad {
    /// Counts for `shards` shards, all zero.
    pub fn new(shards: usize) -> ShardLoad {
        ShardLoad {
            counts: (0..shards.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            total: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
        }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.counts.len()
    }

    /// Places a connection on `shard` if the total stays within `max`, in one atomic step (so
    /// shards accepting at the same time cannot overshoot the limit). False: nothing counted.
    pub fn try_open(&self, shard: ShardId, max: usize) -> bool {
        let ok = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if ok {
            self.counts[shard.0].fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Moves one counted connection from shard `from` to shard `to` (a hand-off).
    pub fn moved(&self, from: ShardId, to: ShardId) {
        self.counts[to.0].fetch_add(1, Ordering::Relaxed);
        self.counts[from.0].fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection of `shard` went away.
    pub fn closed(&self, shard: ShardId) {
        self.counts[shard.0].fetch_sub(1, Ordering::Relaxed);
        self.total.fetch_sub(1, Ordering::AcqRel);
    }

    /// Connections on `shard`.
    pub fn count(&self, shard: ShardId) -> usize {
        self.counts[shard.0].load(Ordering::Relaxed)
    }

    /// Connections on all shards.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// The shard with the fewest connections (lowest index on ties).
    pub fn least_loaded(&self) -> ShardId {
        let mut best = (usize::MAX, 0);
        for (i, c) in self.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n < best.0 {
                best = (n, i);
            }
        }
        ShardId(best.1)
    }

    /// Picks a shard for a new outgoing connection. An explicit shard out of range is clamped
    /// to the last shard.
    pub fn pick(&self, placement: ConnectPlacement) -> ShardId {
        match placement {
            ConnectPlacement::RoundRobin => {
                ShardId(self.next.fetch_add(1, Ordering::Relaxed) % self.counts.len())
            }
            ConnectPlacement::LeastConnections => self.least_loaded(),
            ConnectPlacement::Shard(s) => ShardId(s.0.min(self.counts.len() - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements() {
        let load = ShardLoad::new(3);
        let rr: Vec<usize> = (0..6)
            .map(|_| load.pick(ConnectPlacement::RoundRobin).0)
            .collect();
        assert_eq!(rr, vec![0, 1, 2, 0, 1, 2]);
        for s in [0, 0, 2] {
            assert!(load.try_open(ShardId(s), 100));
        }
        assert_eq!(load.pick(ConnectPlacement::LeastConnections), ShardId(1));
        assert!(load.try_open(ShardId(1), 100));
        assert!(load.try_open(ShardId(1), 100));
        assert_eq!(load.least_loaded(), ShardId(2));
        load.closed(ShardId(0));
        assert_eq!(load.least_loaded(), ShardId(0));
        assert_eq!(load.total(), 4);
        assert_eq!(load.pick(ConnectPlacement::Shard(ShardId(9))), ShardId(2));
        load.moved(ShardId(1), ShardId(0));
        assert_eq!((load.count(ShardId(0)), load.count(ShardId(1))), (2, 1));
    }

    #[test]
    fn limit_holds_under_concurrent_opens() {
        let load = std::sync::Arc::new(ShardLoad::new(2));
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let load = load.clone();
                std::thread::spawn(move || {
                    (0..10_000)
                        .filter(|_| load.try_open(ShardId(t % 2), 1000))
                        .count()
                })
            })
            .collect();
        let opened: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(opened, 1000);
        assert_eq!(load.total(), 1000);
        assert!(!load.try_open(ShardId(0), 1000));
        load.closed(ShardId(0));
        assert!(load.try_open(ShardId(1), 1000));
    }
}
