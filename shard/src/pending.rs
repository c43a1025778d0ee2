//! Pending send bytes, reserved from any thread: a connection's counter bounded by its own
//! limit and, when the shard has a budget, the shard's counter bounded by that budget. A send
//! reserves on both or on neither; the owning shard releases what it wrote or dropped.
//!
//! The counters are plain atomics updated with compare-and-swap loops. Built with
//! `RUSTFLAGS="--cfg loom"`, they are [loom](https://docs.rs/loom)'s, and the models in this
//! module's tests explore every interleaving of concurrent reservations (and a release):
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test -p shardnet-shard --lib --release pending::
//! ```

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

/// Adds `n` to `a` if the sum stays within `max`; false, adding nothing, otherwise.
#[inline]
pub(crate) fn add_within(a: &AtomicU64, n: u64, max: u64) -> bool {
    let mut cur = a.load(Ordering::Acquire);
    loop {
        if cur.saturating_add(n) > max {
            return false;
        }
        match a.compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(v) => cur = v,
        }
    }
}

/// Subtracts `n` from `a`, stopping at 0.
#[inline]
pub(crate) fn sub_saturating(a: &AtomicU64, n: u64) {
    let _ = a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_sub(n))
    });
}

/// Reserves `n` bytes on `conn` (within `max`; 0 = unbounded) and, when `budget` is not 0, on
/// `shard` (within `budget`): on both, or (returning false) on neither.
#[inline]
pub(crate) fn reserve(conn: &AtomicU64, max: u64, shard: &AtomicU64, budget: u64, n: u64) -> bool {
    if max == 0 {
        conn.fetch_add(n, Ordering::AcqRel);
    } else if !add_within(conn, n, max) {
        return false;
    }
    if budget != 0 && !add_within(shard, n, budget) {
        sub_saturating(conn, n);
        return false;
    }
    true
}

/// Releases `n` bytes reserved by [`reserve`] with the same `budget`.
#[inline]
pub(crate) fn release(conn: &AtomicU64, shard: &AtomicU64, budget: u64, n: u64) {
    sub_saturating(conn, n);
    if budget != 0 {
        sub_saturating(shard, n);
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// One connection (bound 10, 4 bytes already reserved and being released by its shard)
    /// and two senders wanting 5 and 4 bytes, with a shard budget that does not bind. In every
    /// interleaving the counter stays within the bound, at most one sender can have been
    /// refused, and the final count is exactly what succeeded minus the release.
    #[test]
    fn a_connection_bound_holds_under_every_interleaving() {
        loom::model(|| {
            let conn = Arc::new(AtomicU64::new(4));
            let shard = Arc::new(AtomicU64::new(4));
            let sender = |n: u64| {
                let (conn, shard) = (conn.clone(), shard.clone());
                thread::spawn(move || {
                    let ok = reserve(&conn, 10, &shard, 100, n);
                    assert!(conn.load(Ordering::Acquire) <= 10);
                    ok
                })
            };
            let (s5, s4) = (sender(5), sender(4));
            release(&conn, &shard, 100, 4);
            let (ok5, ok4) = (s5.join().unwrap(), s4.join().unwrap());
            let got = 5 * u64::from(ok5) + 4 * u64::from(ok4);
            assert!(ok5 || ok4, "both refused with room for one");
            assert_eq!(conn.load(Ordering::Acquire), got);
            assert_eq!(shard.load(Ordering::Acquire), got);
        });
    }

    /// Two connections of one shard whose budget (12, 4 used) has room for one of their
    /// sends (5 and 6) but not both: exactly one succeeds, and the refused one leaves nothing
    /// on its connection's counter (its reservation there is rolled back).
    #[test]
    fn a_shard_budget_holds_and_refusals_roll_back() {
        loom::model(|| {
            let (a, b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            let shard = Arc::new(AtomicU64::new(4));
            let sender = |conn: &Arc<AtomicU64>, n: u64| {
                let (conn, shard) = (conn.clone(), shard.clone());
                thread::spawn(move || {
                    let ok = reserve(&conn, 10, &shard, 12, n);
                    assert!(shard.load(Ordering::Acquire) <= 12);
                    ok
                })
            };
            let (sa, sb) = (sender(&a, 5), sender(&b, 6));
            let (oka, okb) = (sa.join().unwrap(), sb.join().unwrap());
            assert!(oka != okb, "exactly one fits: {oka} {okb}");
            assert_eq!(a.load(Ordering::Acquire), 5 * u64::from(oka));
            assert_eq!(b.load(Ordering::Acquire), 6 * u64::from(okb));
            assert_eq!(shard.load(Ordering::Acquire), 4 + if oka { 5 } else { 6 });
        });
    }
}
