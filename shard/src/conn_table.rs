//! The shard-local connection table: a slab of [`ConnRecord`]s indexed by slot.
//!
//! Only the owning shard touches this table, so it needs no lock. Slots are handed out by the
//! shard's [`crate::SlotDirectory`] (which other threads read); the record at the same index
//! holds everything else the shard needs to serve the connection. An idle connection costs its
//! record here, its 32-byte directory cell, and nothing else: no buffer, no task.

use crate::SendQueue;
use shardnet_runtime::ConnId;
use std::os::fd::RawFd;

/// Readiness and control bits of a connection.
pub mod flags {
    /// The socket has unread data (edge seen, EAGAIN not yet).
    pub const READABLE: u16 = 1;
    /// The socket accepts writes.
    pub const WRITABLE: u16 = 2;
    /// The connection is on the shard's ready list.
    pub const QUEUED: u16 = 4;
    /// Receiving is paused by the application.
    pub const PAUSED: u16 = 8;
    /// The send queue is being flushed (nested sends must queue, not write).
    pub const FLUSHING: u16 = 16;
    /// Close once the send queue is drained (graceful disconnect).
    pub const CLOSE_AFTER_FLUSH: u16 = 32;
    /// The peer's end-of-stream (or a socket error) is queued behind any unread data. Sticky:
    /// from now on a short read does not mean drained, and reads go on until `recv` reports the
    /// end (0), an error, or EAGAIN — edge-triggered epoll announces it only once.
    pub const READ_CLOSED: u16 = 64;
    /// The connection reached Open and is counted in the shard's connection stats.
    pub const COUNTED: u16 = 128;
    /// The connection is up but its handshake has not completed (`deadline_ms` may bound it).
    pub const HANDSHAKING: u16 = 256;
    /// `recv` returned end-of-stream: the socket is never read again; the connection closes
    /// once what was queued for sending has left (or the flush timeout expires).
    pub const EOF_READ: u16 = 512;
    /// A graceful disconnect asked for the close: with `lingering_close` configured, the
    /// socket lingers (write side shut, input discarded) after `on_close` instead of closing.
    pub const LINGER: u16 = 1024;
    /// A listener layer reads this connection's first bytes raw (the PROXY header) before
    /// the receive model and TLS see any: reads go to the layer until it ends the preamble.
    pub const PREAMBLE: u16 = 2048;
}

/// Life-cycle stage of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConnState {
    /// Slot unused.
    #[default]
    Empty,
    /// Non-blocking connect in progress.
    Connecting,
    /// Connected.
    Open,
    /// Close scheduled; no further callbacks except on_close.
    Closing,
}

/// One connection as its shard sees it.
#[derive(Debug, Default)]
pub struct ConnRecord {
    /// The connection's id (meaningful unless `state` is Empty).
    pub id: u64,
    /// The socket.
    pub fd: RawFd,
    /// Life-cycle stage.
    pub state: ConnState,
    /// See [`flags`].
    pub flags: u16,
    /// When the connection was opened (shard clock, ms).
    pub created_ms: u64,
    /// Last time data was received (shard clock, ms).
    pub last_recv_ms: u64,
    /// Connect or handshake deadline (shard clock, ms; 0 = none).
    pub deadline_ms: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes written to the kernel.
    pub bytes_out: u64,
    /// Data accepted by `send` that the kernel has not taken yet.
    pub queue: SendQueue,
}

impl ConnRecord {
    /// Bytes accepted for sending are not all written: the queue holds some, or a flush has
    /// taken the queue out and is writing it.
    #[inline]
    pub fn has_unsent(&self) -> bool {
        !self.queue.is_empty() || self.has(flags::FLUSHING)
    }
    /// True if all bits of `f` are set.
    #[inline]
    pub fn has(&self, f: u16) -> bool {
        self.flags & f == f
    }
    /// Sets bits.
    #[inline]
    pub fn set(&mut self, f: u16) {
        self.flags |= f;
    }
    /// Clears bits.
    #[inline]
    pub fn clear(&mut self, f: u16) {
        self.flags &= !f;
    }
}

/// Slab of connection records indexed by slot.
#[derive(Debug, Default)]
pub struct ConnTable {
    records: Vec<ConnRecord>,
    live: usize,
}

impl ConnTable {
    /// An empty table.
    pub fn new() -> ConnTable {
        ConnTable::default()
    }

    /// Installs a record for `id` (its slot must be free) and returns it.
    pub fn insert(
        &mut self,
        id: ConnId,
        fd: RawFd,
        state: ConnState,
        now_ms: u64,
    ) -> &mut ConnRecord {
        let slot = id.slot() as usize;
        if self.records.len() <= slot {
            self.records.resize_with(slot + 1, ConnRecord::default);
        }
        let r = &mut self.records[slot];
        debug_assert_eq!(r.state, ConnState::Empty);
        *r = ConnRecord {
            id: id.as_u64(),
            fd,
            state,
            flags: 0,
            created_ms: now_ms,
            last_recv_ms: now_ms,
            deadline_ms: 0,
            bytes_in: 0,
            bytes_out: 0,
            queue: SendQueue::new(),
        };
        self.live += 1;
        r
    }

    /// The record of `id`, if it is still that connection's.
    #[inline]
    pub fn get(&mut self, id: ConnId) -> Option<&mut ConnRecord> {
        self.records
            .get_mut(id.slot() as usize)
            .filter(|r| r.state != ConnState::Empty && r.id == id.as_u64())
    }

    /// Empties `id`'s record and returns what it held (fd and queue are the caller's to close
    /// and drop).
    pub fn remove(&mut self, id: ConnId) -> Option<ConnRecord> {
        let r = self.get(id)?;
        let taken = std::mem::take(r);
        self.live -= 1;
        Some(taken)
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no record is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Ids of every live record.
    pub fn ids(&self) -> Vec<ConnId> {
        self.records
            .iter()
            .filter(|r| r.state != ConnState::Empty)
            .map(|r| ConnId::from_u64(r.id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardnet_runtime::ShardId;

    #[test]
    fn insert_get_remove_and_stale_ids() {
        let mut t = ConnTable::new();
        let a = ConnId::new(ShardId(0), 5, 1);
        t.insert(a, 10, ConnState::Open, 100).set(flags::READABLE);
        assert_eq!(t.len(), 1);
        assert!(t.get(a).unwrap().has(flags::READABLE));
        let stale = ConnId::new(ShardId(0), 5, 2);
        assert!(t.get(stale).is_none());
        let r = t.remove(a).unwrap();
        assert_eq!((r.fd, r.created_ms), (10, 100));
        assert!(t.get(a).is_none());
        assert!(t.is_empty());
        t.insert(stale, 11, ConnState::Connecting, 200);
        assert_eq!(t.ids(), vec![stale]);
    }

    #[test]
    fn idle_record_is_small() {
        // Part of the ≤ 256 B per idle connection budget (plus 48 B in the directory).
        assert!(
            std::mem::size_of::<ConnRecord>() <= 104,
            "{}",
            std::mem::size_of::<ConnRecord>()
        );
    }
}
