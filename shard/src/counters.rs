//! Event counters kept per shard for the layers above the transport: closes by reason, TLS
//! handshakes, HTTP statuses, WebSocket and ARQ events.
//!
//! One row of `N` counters per shard, each row aligned to its own cache lines, so shards
//! counting their own events never share a line. [`ShardCounters::add`] is a relaxed
//! `fetch_add` (callable from any thread: an HTTP answer may be sent from a worker thread and
//! is counted on its connection's shard row); [`ShardCounters::bump`] is the plain load and
//! store for counters only the shard itself writes. A reader (a metrics scrape) copies rows.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[repr(align(64))]
struct Row<const N: usize>([AtomicU64; N]);

/// `N` counters per shard (see the [module docs](self)).
pub struct ShardCounters<const N: usize> {
    rows: Box<[Row<N>]>,
}

impl<const N: usize> ShardCounters<N> {
    /// Zeroed counters for `shards` shards.
    pub fn new(shards: usize) -> Self {
        ShardCounters {
            rows: (0..shards)
                .map(|_| Row(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    /// Adds `n` to counter `i` of `shard` (any thread). Out-of-range indexes are ignored.
    #[inline]
    pub fn add(&self, shard: usize, i: usize, n: u64) {
        if let Some(c) = self.rows.get(shard).and_then(|r| r.0.get(i)) {
            c.fetch_add(n, Relaxed);
        }
    }

    /// Adds `n` to counter `i` of `shard` when only that shard's thread writes it: a plain
    /// load and store, no locked instruction.
    #[inline]
    pub fn bump(&self, shard: usize, i: usize, n: u64) {
        if let Some(c) = self.rows.get(shard).and_then(|r| r.0.get(i)) {
            c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
        }
    }

    /// Sets counter `i` of `shard` (a gauge written by its shard).
    #[inline]
    pub fn set(&self, shard: usize, i: usize, v: u64) {
        if let Some(c) = self.rows.get(shard).and_then(|r| r.0.get(i)) {
            c.store(v, Relaxed);
        }
    }

    /// A copy of `shard`'s row (zeros for a shard that does not exist).
    pub fn row(&self, shard: usize) -> [u64; N] {
        match self.rows.get(shard) {
            Some(r) => std::array::from_fn(|i| r.0[i].load(Relaxed)),
            None => [0; N],
        }
    }

    /// How many shards.
    pub fn shards(&self) -> usize {
        self.rows.len()
    }
}

impl<const N: usize> std::fmt::Debug for ShardCounters<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.shards()).map(|s| self.row(s)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_per_shard_and_aligned() {
        let c = ShardCounters::<3>::new(2);
        c.add(0, 1, 5);
        c.bump(1, 2, 7);
        c.bump(1, 2, 1);
        c.set(0, 0, 9);
        c.add(5, 0, 1); // no such shard: ignored
        c.add(0, 3, 1); // no such counter: ignored
        assert_eq!(c.row(0), [9, 5, 0]);
        assert_eq!(c.row(1), [0, 0, 8]);
        assert_eq!(c.row(2), [0, 0, 0]);
        assert_eq!(std::mem::align_of::<Row<3>>(), 64);
        let a = &c.rows[0] as *const _ as usize;
        let b = &c.rows[1] as *const _ as usize;
        assert!(b - a >= 64);
    }
}
