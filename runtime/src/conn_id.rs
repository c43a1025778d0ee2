//! Connection and shard identifiers.
//!
//! A [`ConnId`] is a `u64` that names the shard owning the connection, the slot the connection
//! occupies in that shard's table, and a per-shard sequence number:
//!
//! ```text
//!  63        56 55                36 35                               0
//! +------------+--------------------+----------------------------------+
//! |  shard (8) |     slot (20)      |          sequence (36)           |
//! +------------+--------------------+----------------------------------+
//! ```
//!
//! The sequence is taken from a per-shard counter that only grows, so an id is never handed out
//! twice while a component lives (2^36 connections per shard). The slot makes the lookup O(1)
//! without a hash map; a stale id whose slot was reused is told apart by its sequence.

use std::fmt;

/// Index of a shard (one pinned executor thread) inside a [`crate::Runtime`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub usize);

impl ShardId {
    /// The shard's index, `0..shard_count`.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard{}", self.0)
    }
}

/// Identifier of one connection of one component; see the module docs for the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    /// Largest number of shards an id can name.
    pub const MAX_SHARDS: usize = 1 << 8;
    /// Largest number of simultaneously open connections per shard.
    pub const MAX_SLOTS: usize = 1 << 20;
    const SEQ_BITS: u32 = 36;
    const SLOT_BITS: u32 = 20;
    const SEQ_MASK: u64 = (1 << Self::SEQ_BITS) - 1;
    const SLOT_MASK: u64 = (1 << Self::SLOT_BITS) - 1;

    /// Builds an id. `seq` must be non-zero (zero is reserved so that `ConnId(0)` is never valid).
    pub fn new(shard: ShardId, slot: u32, seq: u64) -> ConnId {
        debug_assert!(shard.0 < Self::MAX_SHARDS && (slot as usize) < Self::MAX_SLOTS);
        ConnId(
            ((shard.0 as u64) << (Self::SEQ_BITS + Self::SLOT_BITS))
                | (((slot as u64) & Self::SLOT_MASK) << Self::SEQ_BITS)
                | (seq & Self::SEQ_MASK),
        )
    }

    /// Rebuilds an id from its raw value (as returned by [`ConnId::as_u64`]).
    #[inline]
    pub fn from_u64(raw: u64) -> ConnId {
        ConnId(raw)
    }

    /// The raw value.
    #[inline]
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The shard that owns the connection.
    #[inline]
    pub fn shard(self) -> ShardId {
        ShardId((self.0 >> (Self::SEQ_BITS + Self::SLOT_BITS)) as usize)
    }

    /// The connection's slot in its shard's table.
    #[inline]
    pub fn slot(self) -> u32 {
        ((self.0 >> Self::SEQ_BITS) & Self::SLOT_MASK) as u32
    }

    /// The per-shard sequence number.
    pub fn seq(self) -> u64 {
        self.0 & Self::SEQ_MASK
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}#{}", self.shard().0, self.slot(), self.seq())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let id = ConnId::new(ShardId(7), 0xABCDE, 0x9_1234_5678);
        assert_eq!(id.shard(), ShardId(7));
        assert_eq!(id.slot(), 0xABCDE);
        assert_eq!(id.seq(), 0x9_1234_5678);
        assert_eq!(ConnId::from_u64(id.as_u64()), id);
        assert_eq!(id.to_string(), "7:703710#38960125560");
    }

    #[test]
    fn max_values_do_not_bleed() {
        let id = ConnId::new(ShardId(255), (1 << 20) - 1, (1 << 36) - 1);
        assert_eq!(id.shard(), ShardId(255));
        assert_eq!(id.slot(), (1 << 20) - 1);
        assert_eq!(id.seq(), (1 << 36) - 1);
        assert_eq!(id.as_u64(), u64::MAX);
    }
}

/// A hasher for [`ConnId`] keys: one splitmix64 round over the id instead of SipHash (the ids are
/// not chosen by peers, so hash flooding is not a concern; SipHash was a visible per-request
/// cost in the HTTP layer's maps).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnIdHasher(u64);

impl std::hash::Hasher for ConnIdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

/// A `HashMap` keyed by [`ConnId`] with [`ConnIdHasher`].
pub type ConnMap<V> =
    std::collections::HashMap<ConnId, V, std::hash::BuildHasherDefault<ConnIdHasher>>;
