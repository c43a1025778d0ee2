//! The part of a shard's connection table that other threads may read.
//!
//! A component handle is `Send + Sync` and answers `is_connected`, `pending_data_length`,
//! `extra`, `remote_addr`… from any thread without a global lock and without a round trip to
//! the owning shard. Each shard therefore publishes, per slot, a few atomics in a
//! [`SlotDirectory`]: the connection id living in the slot, its state, its fd, its pending send
//! bytes and the user's extra value. Only the owning shard writes id/state/fd; any thread may
//! reserve a slot (an Agent's `connect` returns its [`ConnId`] at once) or update the pending
//! counter and the extra value.
//!
//! Storage is append-only: slots live in chunks of 1024 that are allocated on first use and
//! never freed while the component lives, so a reader can index without a lock. Freed slots go
//! back on a lock-free queue.

use crate::pending::{self, add_within, sub_saturating};
use crossbeam_channel::{Receiver, Sender};
use shardnet_runtime::{ConnId, ShardId};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;

const CHUNK: usize = 1024;
const CHUNKS: usize = ConnId::MAX_SLOTS / CHUNK;

/// Lifecycle of a slot as seen by other threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SlotState {
    /// Unused.
    Free = 0,
    /// Reserved: connecting or being accepted.
    Reserved = 1,
    /// Connected and usable.
    Open = 2,
    /// Closing; sends are refused.
    Closing = 3,
}

impl SlotState {
    fn from_u8(v: u8) -> SlotState {
        match v {
            1 => SlotState::Reserved,
            2 => SlotState::Open,
            3 => SlotState::Closing,
            _ => SlotState::Free,
        }
    }
}

/// Milliseconds on the system's monotonic clock (never 0), shared by every shard so that times
/// published in the directory compare across threads. One vDSO `clock_gettime`, no `Instant`
/// arithmetic: the driver reads it once per turn.
pub fn clock_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux (vDSO, no
    // syscall).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000 + 1
}

/// Published state of one slot (48 bytes).
#[derive(Debug, Default)]
pub struct SlotCell {
    id: AtomicU64,
    extra: AtomicU64,
    pending: pending::AtomicU64,
    opened_ms: AtomicU64,
    last_recv_ms: AtomicU64,
    fd: AtomicI32,
    state: AtomicU8,
}

impl SlotCell {
    /// Raw id currently in the slot (0 = none).
    #[inline]
    pub fn id(&self) -> u64 {
        self.id.load(Ordering::Acquire)
    }
    /// Current state.
    #[inline]
    pub fn state(&self) -> SlotState {
        SlotState::from_u8(self.state.load(Ordering::Acquire))
    }
    /// Sets the state (owning shard only).
    pub fn set_state(&self, s: SlotState) {
        self.state.store(s as u8, Ordering::Release);
    }
    /// The socket fd (-1 when none).
    #[inline]
    pub fn fd(&self) -> i32 {
        self.fd.load(Ordering::Acquire)
    }
    /// Publishes the fd (owning shard only).
    pub fn set_fd(&self, fd: i32) {
        self.fd.store(fd, Ordering::Release);
    }
    /// When the connection opened ([`clock_ms`]; 0 = not yet).
    pub fn opened_ms(&self) -> u64 {
        self.opened_ms.load(Ordering::Relaxed)
    }
    /// Last time data was received ([`clock_ms`]).
    pub fn last_recv_ms(&self) -> u64 {
        self.last_recv_ms.load(Ordering::Relaxed)
    }
    /// Marks the connection open at `now` (owning shard only).
    pub fn mark_opened(&self, now: u64) {
        self.opened_ms.store(now, Ordering::Relaxed);
        self.last_recv_ms.store(now, Ordering::Relaxed);
    }
    /// Records a receive at `now` (owning shard only).
    #[inline]
    pub fn mark_received(&self, now: u64) {
        self.last_recv_ms.store(now, Ordering::Relaxed);
    }
    /// User's extra value.
    pub fn extra(&self) -> u64 {
        self.extra.load(Ordering::Acquire)
    }
    /// Sets the user's extra value.
    pub fn set_extra(&self, v: u64) {
        self.extra.store(v, Ordering::Release);
    }
    /// Bytes accepted by `send` and not yet written to the kernel.
    #[inline]
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }
    /// Reserves `n` pending bytes if the total stays within `max` (0 = unbounded). Returns
    /// false, reserving nothing, when it would not.
    #[inline]
    pub fn try_add_pending(&self, n: u64, max: u64) -> bool {
        if max == 0 {
            self.pending.fetch_add(n, Ordering::AcqRel);
            return true;
        }
        add_within(&self.pending, n, max)
    }
    /// Releases `n` pending bytes (written, or dropped on close).
    #[inline]
    pub fn sub_pending(&self, n: u64) {
        sub_saturating(&self.pending, n);
    }
}

/// Cross-thread directory of one shard's slots; see the module docs.
#[derive(Debug)]
pub struct SlotDirectory {
    shard: ShardId,
    chunks: Box<[OnceLock<Box<[SlotCell]>>]>,
    next_slot: AtomicU64,
    seq: AtomicU64,
    free_tx: Sender<u32>,
    free_rx: Receiver<u32>,
    /// Bound on the pending bytes of all the shard's connections together (0 = none).
    budget: u64,
    /// Pending bytes of all the shard's connections (kept only when `budget` is set).
    queued: pending::AtomicU64,
}

impl SlotDirectory {
    /// An empty directory for `shard`, without a shard-wide pending budget.
    pub fn new(shard: ShardId) -> SlotDirectory {
        Self::with_budget(shard, 0)
    }

    /// An empty directory for `shard` whose connections together may hold at most `budget`
    /// pending send bytes (0 = no shard-wide bound; each connection's own bound still holds).
    pub fn with_budget(shard: ShardId, budget: u64) -> SlotDirectory {
        let (free_tx, free_rx) = crossbeam_channel::unbounded();
        SlotDirectory {
            shard,
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
            next_slot: AtomicU64::new(0),
            seq: AtomicU64::new(1),
            free_tx,
            free_rx,
            budget,
            queued: pending::AtomicU64::new(0),
        }
    }

    /// Reserves `n` pending bytes for `cell` (any thread): within the connection's bound `max`
    /// (0 = unbounded) and the shard's budget. False, reserving nothing, when either would be
    /// exceeded.
    #[inline]
    pub fn try_reserve(&self, cell: &SlotCell, n: u64, max: u64) -> bool {
        pending::reserve(&cell.pending, max, &self.queued, self.budget, n)
    }

    /// Releases `n` pending bytes of `cell` (written, or dropped).
    #[inline]
    pub fn release_pending(&self, cell: &SlotCell, n: u64) {
        pending::release(&cell.pending, &self.queued, self.budget, n);
    }

    /// Returns `n` pending bytes whose connection is gone (its cell already freed) to the
    /// shard-wide count only.
    #[inline]
    pub fn release_orphan(&self, n: u64) {
        if self.budget != 0 {
            sub_saturating(&self.queued, n);
        }
    }

    /// Pending bytes of all the shard's connections (0 when no budget is set: not counted).
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    /// The shard this directory belongs to.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// Number of slots ever used (the high-water mark).
    pub fn slots_used(&self) -> usize {
        (self.next_slot.load(Ordering::Acquire) as usize).min(ConnId::MAX_SLOTS)
    }

    /// The cell of `slot`, if that slot was ever used.
    #[inline]
    pub fn cell(&self, slot: u32) -> Option<&SlotCell> {
        let s = slot as usize;
        self.chunks.get(s / CHUNK)?.get().map(|c| &c[s % CHUNK])
    }

    /// The cell holding `id`, if `id` still lives there.
    #[inline]
    pub fn lookup(&self, id: ConnId) -> Option<&SlotCell> {
        if id.shard() != self.shard {
            return None;
        }
        self.cell(id.slot()).filter(|c| c.id() == id.as_u64())
    }

    /// Reserves a slot and a fresh id (any thread). `None` when every slot is taken.
    pub fn reserve(&self) -> Option<ConnId> {
        let slot = match self.free_rx.try_recv() {
            Ok(s) => s,
            Err(_) => {
                let s = self.next_slot.fetch_add(1, Ordering::AcqRel);
                if s as usize >= ConnId::MAX_SLOTS {
                    self.next_slot.fetch_sub(1, Ordering::AcqRel);
                    return None;
                }
                s as u32
            }
        };
        let chunk = self.chunks[slot as usize / CHUNK]
            .get_or_init(|| (0..CHUNK).map(|_| SlotCell::default()).collect());
        let cell = &chunk[slot as usize % CHUNK];
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = ConnId::new(self.shard, slot, seq);
        cell.extra.store(0, Ordering::Relaxed);
        cell.pending.store(0, Ordering::Relaxed);
        cell.opened_ms.store(0, Ordering::Relaxed);
        cell.last_recv_ms.store(0, Ordering::Relaxed);
        cell.fd.store(-1, Ordering::Relaxed);
        cell.state
            .store(SlotState::Reserved as u8, Ordering::Relaxed);
        cell.id.store(id.as_u64(), Ordering::Release);
        Some(id)
    }

    /// Frees `id`'s slot for reuse (owning shard only). The id is cleared before the slot is
    /// queued, so readers never see a stale id in a reused slot.
    pub fn release(&self, id: ConnId) {
        if let Some(cell) = self.lookup(id) {
            cell.fd.store(-1, Ordering::Release);
            cell.state.store(SlotState::Free as u8, Ordering::Release);
            cell.id.store(0, Ordering::Release);
            // The owner has already returned what it dropped unsent (`release_pending`); a
            // reservation racing with this release gives its own bytes back when it sees the id
            // change, so the shard-wide count is not touched here (it would count them twice).
            cell.pending.store(0, Ordering::Release);
            let _ = self.free_tx.send(id.slot());
        }
    }

    /// Ids of connections in state [`SlotState::Open`].
    pub fn open_ids(&self, out: &mut Vec<ConnId>) {
        for slot in 0..self.slots_used() {
            if let Some(c) = self.cell(slot as u32) {
                let id = c.id();
                if id != 0 && c.state() == SlotState::Open {
                    out.push(ConnId::from_u64(id));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_release_reuse_never_repeats_ids() {
        let d = SlotDirectory::new(ShardId(3));
        let a = d.reserve().unwrap();
        let b = d.reserve().unwrap();
        assert_eq!((a.shard(), a.slot(), b.slot()), (ShardId(3), 0, 1));
        assert_ne!(a, b);
        d.lookup(a).unwrap().set_state(SlotState::Open);
        let mut ids = vec![];
        d.open_ids(&mut ids);
        assert_eq!(ids, vec![a]);
        d.release(a);
        assert!(d.lookup(a).is_none());
        let c = d.reserve().unwrap();
        assert_eq!(c.slot(), a.slot(), "freed slot is reused");
        assert_ne!(c, a, "but the id is new");
        assert!(d.lookup(a).is_none());
        assert!(d.lookup(c).is_some());
        assert!(
            SlotDirectory::new(ShardId(0)).lookup(c).is_none(),
            "wrong shard"
        );
    }

    #[test]
    fn pending_bound_is_atomic_and_exact() {
        let d = SlotDirectory::new(ShardId(0));
        let id = d.reserve().unwrap();
        let c = d.lookup(id).unwrap();
        assert!(c.try_add_pending(60, 100));
        assert!(!c.try_add_pending(41, 100));
        assert_eq!(c.pending(), 60);
        assert!(c.try_add_pending(40, 100));
        c.sub_pending(1000);
        assert_eq!(c.pending(), 0);
        assert!(c.try_add_pending(u64::MAX / 2, 0), "0 = unbounded");
    }

    #[test]
    fn shard_budget_bounds_all_connections_together() {
        let d = SlotDirectory::with_budget(ShardId(0), 100);
        let (a, b) = (d.reserve().unwrap(), d.reserve().unwrap());
        let (ca, cb) = (d.lookup(a).unwrap(), d.lookup(b).unwrap());
        assert!(d.try_reserve(ca, 70, 80));
        assert!(!d.try_reserve(ca, 20, 80), "per-connection bound");
        assert!(!d.try_reserve(cb, 40, 80), "shard budget: 70 + 40 > 100");
        assert_eq!(
            cb.pending(),
            0,
            "a refused reservation leaves nothing behind"
        );
        assert!(d.try_reserve(cb, 30, 80));
        assert_eq!(d.queued(), 100);
        d.release_pending(ca, 50);
        assert_eq!((ca.pending(), d.queued()), (20, 50));
        // Closing: the owner returns the 20 it drops, then frees the slot.
        d.release_pending(ca, 20);
        d.release(a);
        assert_eq!(d.queued(), 30);
        assert!(d.try_reserve(cb, 50, 80));
        assert!(!d.try_reserve(cb, 1, 80));
    }

    #[test]
    fn concurrent_reservations_are_unique() {
        let d = std::sync::Arc::new(SlotDirectory::new(ShardId(1)));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || {
                    (0..2000).map(|_| d.reserve().unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<ConnId> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 8000);
        assert_eq!(d.slots_used(), 8000);
    }
}
