//! [`PerShard`]: a map from connection ids to what the C API keeps per connection, with one
//! lock per shard.
//!
//! The C API holds per-connection state that shardnet's components do not: the HTTP message
//! HP's getters read, a WebSocket decoder, a UDP connection's times. Every callback runs on
//! the connection's shard and so takes only that shard's lock, which no other shard ever
//! takes: shards do not contend, and no cache line moves between cores on the data path.
//! Another thread (HP lets any thread call the getters) takes the owner's lock as a reader
//! would.

use shardnet_runtime::ConnId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

/// Hashes a connection id with one multiply (Fibonacci hashing). Ids are made by shardnet
/// (shard, slot, sequence), not chosen by a peer, so SipHash's flooding defence buys nothing
/// here, and it cost 6 % of the C HTTP server's time (`perf`, `capi_http` bench).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        // hashbrown takes the top 7 bits as the tag and the low bits as the bucket: both come
        // from the product's well-mixed high half.
        self.0 ^ (self.0 >> 32)
    }
}

/// A map keyed by raw connection ids.
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// The most parts a map has (shards past it share parts, which is correct, only slower).
const MAX_PARTS: usize = 256;

/// One shard's part, on cache lines of its own.
#[repr(align(128))]
struct Part<V>(Mutex<IdMap<V>>);

/// Values by connection id (`ConnId::as_u64`), one locked part per shard.
pub(crate) struct PerShard<V> {
    parts: Box<[Part<V>]>,
}

impl<V> Default for PerShard<V> {
    /// One part per CPU (shardnet runs a shard per core by default).
    fn default() -> Self {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        PerShard {
            parts: (0..n.clamp(1, MAX_PARTS))
                .map(|_| Part(Mutex::new(IdMap::default())))
                .collect(),
        }
    }
}

impl<V> PerShard<V> {
    /// The part that holds `key` (a raw `ConnId`), locked.
    pub(crate) fn lock(&self, key: u64) -> MutexGuard<'_, IdMap<V>> {
        let i = ConnId::from_u64(key).shard().index() % self.parts.len();
        self.parts[i].0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every part in turn, locked while `f` runs on it.
    pub(crate) fn each_part(&self, mut f: impl FnMut(&mut IdMap<V>)) {
        for p in self.parts.iter() {
            f(&mut p.0.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PerShard;
    use shardnet_runtime::{ConnId, ShardId};

    #[test]
    fn each_shard_keeps_its_own_part() {
        let m = PerShard::<u32>::default();
        let parts = m.parts.len();
        let ids: Vec<u64> = (0..4)
            .map(|s| ConnId::new(ShardId(s), 7, 1).as_u64())
            .collect();
        for (i, k) in ids.iter().enumerate() {
            m.lock(*k).insert(*k, i as u32);
        }
        for (i, k) in ids.iter().enumerate() {
            assert_eq!(m.lock(*k).get(k), Some(&(i as u32)));
        }
        let mut seen = Vec::new();
        m.each_part(|p| seen.extend(p.values().copied()));
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3]);
        // Shards 0 and 1 of a two-CPU machine do not share a lock.
        if parts >= 2 {
            let _a = m.lock(ids[0]);
            assert!(m.parts[1].0.try_lock().is_ok());
        }
    }
}
