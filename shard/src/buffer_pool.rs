//! Shard-local pool of fixed-size I/O buffers backed by anonymous memory maps.
//!
//! # Overview
//!
//! Every shard (one OS thread) owns one [`BufferPool`]. The pool hands out
//! [`PoolBuf`]s, fixed-capacity byte buffers carved out of large anonymous
//! `mmap` arenas ("chunks"). Dropping a [`PoolBuf`] returns its slot to the
//! pool's free list, so steady-state traffic performs no allocation at all.
//!
//! * **Growth** — when no free slot exists, [`BufferPool::get`] maps a new
//!   chunk of roughly 1 MiB (256 buffers of 4 KiB, fewer for larger buffers,
//!   always at least one). Chunks are never unmapped while the pool is alive.
//! * **Hold limit** — at most `hold_limit` *free* buffers are kept resident.
//!   A buffer freed while that many free buffers are already resident has its
//!   pages handed back to the kernel with `madvise(MADV_DONTNEED)`; the slot
//!   stays reusable (the kernel faults in zeroed pages on the next write), but
//!   the process RSS drops. Only whole pages inside a slot can be released, so
//!   buffers smaller than a page are merely recycled, never released.
//! * **Reuse order** — resident free buffers are reused first (LIFO, cache
//!   warm), then released/never-touched slots, and only then is a new chunk
//!   mapped.
//!
//! Nothing here is `Send` or `Sync`: the pool is shared between the
//! connections of a single shard through an [`Rc`], and a [`PoolBuf`] keeps
//! the pool alive, so buffers may safely outlive the [`BufferPool`] handle.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::Rc;

use memmap2::MmapMut;

/// Target size in bytes of one arena chunk.
const CHUNK_TARGET_BYTES: usize = 1 << 20;

/// Largest supported buffer size; larger requests are clamped to this.
const MAX_BUF_SIZE: usize = 1 << 30;

/// Alignment of slots for buffers smaller than a page (one cache line).
const SMALL_SLOT_ALIGN: usize = 64;

/// Shared state of one pool; owned through an [`Rc`] by the pool handles and
/// by every outstanding [`PoolBuf`].
struct Inner {
    /// Usable bytes per buffer.
    buf_size: usize,
    /// Distance in bytes between two consecutive slots of a chunk.
    stride: usize,
    /// Slots per chunk.
    per_chunk: usize,
    /// Maximum number of free buffers kept resident.
    hold_limit: usize,
    /// System page size, used to align `madvise` ranges.
    page_size: usize,
    /// The mapped arenas. Only kept to own (and finally unmap) the memory;
    /// slot pointers are derived once when a chunk is mapped.
    chunks: RefCell<Vec<MmapMut>>,
    /// Free slots whose pages are (probably) resident; reused first.
    resident: RefCell<Vec<NonNull<u8>>>,
    /// Free slots whose pages were released or never touched.
    cold: RefCell<Vec<NonNull<u8>>>,
    /// Buffers currently handed out.
    in_use: Cell<usize>,
    /// High-water mark of `in_use`.
    peak_in_use: Cell<usize>,
    /// Total slots mapped.
    capacity: Cell<usize>,
}

impl Inner {
    /// Pops a free slot, mapping a new chunk when none is left.
    fn take_slot(&self) -> io::Result<NonNull<u8>> {
        if let Some(ptr) = self.resident.borrow_mut().pop() {
            return Ok(ptr);
        }
        if let Some(ptr) = self.cold.borrow_mut().pop() {
            return Ok(ptr);
        }
        self.grow()
    }

    /// Maps a new chunk, pushes all but its first slot onto the cold list and
    /// returns the first slot.
    fn grow(&self) -> io::Result<NonNull<u8>> {
        let bytes = self
            .stride
            .checked_mul(self.per_chunk)
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "chunk size overflow"))?;
        let mut map = MmapMut::map_anon(bytes)?;
        let base = map.as_mut_ptr();
        let first = NonNull::new(base).ok_or_else(|| io::Error::other("mmap returned null"))?;
        let mut cold = self.cold.borrow_mut();
        cold.reserve(self.per_chunk - 1);
        // Push in reverse so that slots are handed out in ascending address order.
        for i in (1..self.per_chunk).rev() {
            // SAFETY: `i * stride < bytes`, so the offset stays inside the
            // mapping that `base` points to.
            let p = unsafe { base.add(i * self.stride) };
            if let Some(p) = NonNull::new(p) {
                cold.push(p);
            }
        }
        drop(cold);
        // Moving the `MmapMut` into the vector does not move the mapping, so
        // the derived slot pointers stay valid for as long as `chunks` lives.
        self.chunks.borrow_mut().push(map);
        self.capacity.set(self.capacity.get() + self.per_chunk);
        Ok(first)
    }

    /// Returns a slot to the pool, releasing its pages if the hold limit is
    /// already reached.
    fn put_slot(&self, ptr: NonNull<u8>) {
        self.in_use.set(self.in_use.get().saturating_sub(1));
        let mut resident = self.resident.borrow_mut();
        if resident.len() < self.hold_limit {
            resident.push(ptr);
            return;
        }
        drop(resident);
        self.release_pages(ptr);
        self.cold.borrow_mut().push(ptr);
    }

    /// Hands the whole pages contained in the slot at `ptr` back to the kernel.
    fn release_pages(&self, ptr: NonNull<u8>) {
        let addr = ptr.as_ptr() as usize;
        let start = addr.next_multiple_of(self.page_size);
        let end = (addr + self.stride) / self.page_size * self.page_size;
        if end <= start {
            return;
        }
        // Derived from `ptr` (not cast from the integer), so it keeps the slot's provenance.
        let first = ptr.as_ptr().wrapping_add(start - addr);
        #[cfg(not(miri))]
        // SAFETY: `[start, end)` is page aligned and lies inside the slot at
        // `ptr`, which is part of a private anonymous mapping owned by
        // `self.chunks`. The slot is free, so no reference into it exists;
        // MADV_DONTNEED merely makes the next access fault in zeroed pages.
        // Failure is harmless (the pages simply stay resident), so the return
        // value is ignored.
        unsafe {
            libc::madvise(first.cast(), end - start, libc::MADV_DONTNEED);
        }
        // Miri does not emulate madvise: it gets what the next access would see, zeroes.
        #[cfg(miri)]
        // SAFETY: the same range inside the free slot, which no reference points into.
        unsafe {
            std::ptr::write_bytes(first, 0, end - start);
        }
    }
}

/// A shard-local pool of fixed-size buffers (see the [module docs](self)).
///
/// Cloning is cheap (an [`Rc`] clone); all clones share the same free list.
#[derive(Clone)]
pub struct BufferPool {
    inner: Rc<Inner>,
}

impl BufferPool {
    /// Creates an empty pool; no memory is mapped until the first [`get`].
    ///
    /// `buf_size` is the capacity in bytes of every buffer (e.g. 4096); it is
    /// clamped to `1..=1 GiB`. `hold_limit` is the maximum number of *free*
    /// buffers kept resident; buffers freed beyond it have their pages
    /// released with `madvise(MADV_DONTNEED)` (the slot stays reusable).
    ///
    /// [`get`]: BufferPool::get
    pub fn new(buf_size: usize, hold_limit: usize) -> BufferPool {
        let buf_size = buf_size.clamp(1, MAX_BUF_SIZE);
        let page_size = page_size();
        let stride = if buf_size >= page_size {
            buf_size.next_multiple_of(page_size)
        } else {
            buf_size.next_multiple_of(SMALL_SLOT_ALIGN)
        };
        let per_chunk = (CHUNK_TARGET_BYTES / stride).max(1);
        BufferPool {
            inner: Rc::new(Inner {
                buf_size,
                stride,
                per_chunk,
                hold_limit,
                page_size,
                chunks: RefCell::new(Vec::new()),
                resident: RefCell::new(Vec::new()),
                cold: RefCell::new(Vec::new()),
                in_use: Cell::new(0),
                peak_in_use: Cell::new(0),
                capacity: Cell::new(0),
            }),
        }
    }

    /// Capacity in bytes of every buffer handed out by this pool.
    pub fn buf_size(&self) -> usize {
        self.inner.buf_size
    }

    /// Number of buffer slots mapped per arena chunk.
    pub fn buffers_per_chunk(&self) -> usize {
        self.inner.per_chunk
    }

    /// Takes an empty buffer (`len() == 0`, `capacity() == buf_size()`).
    ///
    /// Maps a new arena chunk when no free slot is left; the only possible
    /// error is a failed `mmap`.
    pub fn get(&self) -> io::Result<PoolBuf> {
        let ptr = self.inner.take_slot()?;
        let in_use = self.inner.in_use.get() + 1;
        self.inner.in_use.set(in_use);
        if in_use > self.inner.peak_in_use.get() {
            self.inner.peak_in_use.set(in_use);
        }
        Ok(PoolBuf {
            pool: Rc::clone(&self.inner),
            ptr,
            start: 0,
            end: 0,
        })
    }

    /// Current usage counters.
    pub fn stats(&self) -> PoolStats {
        let in_use = self.inner.in_use.get();
        let capacity = self.inner.capacity.get();
        PoolStats {
            in_use,
            free: capacity - in_use,
            peak_in_use: self.inner.peak_in_use.get(),
            capacity,
        }
    }

    /// Number of free buffers currently kept resident (never more than the
    /// hold limit). The remaining `free - resident_free()` slots have had
    /// their pages released or were never touched.
    pub fn resident_free(&self) -> usize {
        self.inner.resident.borrow().len()
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("buf_size", &self.inner.buf_size)
            .field("hold_limit", &self.inner.hold_limit)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Usage counters of a [`BufferPool`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers currently handed out.
    pub in_use: usize,
    /// Free slots (`capacity - in_use`), resident or released.
    pub free: usize,
    /// Highest `in_use` ever observed.
    pub peak_in_use: usize,
    /// Total buffer slots mapped.
    pub capacity: usize,
}

/// A buffer borrowed from a [`BufferPool`], returned to the pool on drop.
///
/// The buffer holds the bytes `data()` (`[start, end)`) followed by writable
/// room `spare()` (`[end, capacity)`). Producers write into `spare()` and
/// `commit()`; consumers read `data()` and `consume()`. Not `Send`.
pub struct PoolBuf {
    pool: Rc<Inner>,
    ptr: NonNull<u8>,
    start: usize,
    end: usize,
}

impl PoolBuf {
    /// Total capacity in bytes (the pool's `buf_size`).
    pub fn capacity(&self) -> usize {
        self.pool.buf_size
    }

    /// Number of unread bytes (`data().len()`).
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether there are no unread bytes.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The unread bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: `ptr` points to a slot of `capacity()` bytes inside a live
        // mapping (kept alive by `self.pool`) that this buffer owns
        // exclusively; `start <= end <= capacity()`, and the memory is
        // initialized (anonymous mappings are zero-filled).
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().add(self.start), self.end - self.start)
        }
    }

    /// The writable room after the unread bytes; follow writes with
    /// [`commit`](PoolBuf::commit).
    pub fn spare(&mut self) -> &mut [u8] {
        let cap = self.capacity();
        // SAFETY: as in `data`; `&mut self` guarantees no other reference to
        // this slot exists, and `end <= cap`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(self.end), cap - self.end) }
    }

    /// Marks `n` bytes of `spare()` as written; `n` is clamped to the spare
    /// length.
    pub fn commit(&mut self, n: usize) {
        self.end += n.min(self.capacity() - self.end);
    }

    /// Discards the first `n` unread bytes (clamped to `len()`). When the
    /// buffer becomes empty, it is rewound so the full capacity is spare.
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Copies as much of `src` as fits into `spare()`, commits it and returns
    /// the number of bytes copied.
    pub fn extend_from(&mut self, src: &[u8]) -> usize {
        let spare = self.spare();
        let n = src.len().min(spare.len());
        spare[..n].copy_from_slice(&src[..n]);
        self.commit(n);
        n
    }
}

impl Deref for PoolBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.data()
    }
}

impl AsRef<[u8]> for PoolBuf {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl fmt::Debug for PoolBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuf")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        self.pool.put_slot(self.ptr);
    }
}

/// The system page size (falls back to 4096 if `sysconf` fails).
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poolbuf_is_small() {
        assert!(std::mem::size_of::<PoolBuf>() <= 32);
    }

    #[test]
    fn get_and_drop_update_stats() {
        let pool = BufferPool::new(4096, 1024);
        assert_eq!(pool.stats(), PoolStats::default());
        let a = pool.get().unwrap();
        let b = pool.get().unwrap();
        assert_eq!(a.capacity(), 4096);
        assert!(a.is_empty() && b.is_empty());
        let per = pool.buffers_per_chunk();
        assert_eq!(
            pool.stats(),
            PoolStats {
                in_use: 2,
                free: per - 2,
                peak_in_use: 2,
                capacity: per
            }
        );
        drop(a);
        assert_eq!(
            pool.stats(),
            PoolStats {
                in_use: 1,
                free: per - 1,
                peak_in_use: 2,
                capacity: per
            }
        );
        assert_eq!(pool.resident_free(), 1);
        // The freed slot is reused (LIFO) rather than a cold one.
        let c = pool.get().unwrap();
        assert_eq!(pool.resident_free(), 0);
        drop(b);
        drop(c);
        let s = pool.stats();
        assert_eq!((s.in_use, s.free, s.peak_in_use), (0, per, 2));
    }

    #[test]
    fn buffers_are_distinct_and_survive_pool_handle() {
        let pool = BufferPool::new(100, 8);
        let mut a = pool.get().unwrap();
        let mut b = pool.get().unwrap();
        a.extend_from(&[1; 100]);
        b.extend_from(&[2; 100]);
        drop(pool);
        assert!(a.data().iter().all(|&x| x == 1));
        assert!(b.data().iter().all(|&x| x == 2));
        assert_eq!(a.capacity(), 100);
    }

    #[test]
    fn grows_past_one_chunk() {
        let pool = BufferPool::new(4096, usize::MAX);
        let per = pool.buffers_per_chunk();
        assert!(per >= 2);
        let mut bufs: Vec<PoolBuf> = (0..per + 3).map(|_| pool.get().unwrap()).collect();
        for (i, b) in bufs.iter_mut().enumerate() {
            let bytes = (i as u32).to_le_bytes();
            b.spare()[..4].copy_from_slice(&bytes);
            b.commit(4);
        }
        for (i, b) in bufs.iter().enumerate() {
            assert_eq!(b.data(), (i as u32).to_le_bytes());
        }
        let s = pool.stats();
        assert_eq!(s.capacity, 2 * per);
        assert_eq!(s.in_use, per + 3);
        assert_eq!(s.free, per - 3);
        bufs.clear();
        let s = pool.stats();
        assert_eq!((s.in_use, s.free, s.peak_in_use), (0, 2 * per, per + 3));
        // Reusing does not map more memory.
        let again: Vec<PoolBuf> = (0..per + 3).map(|_| pool.get().unwrap()).collect();
        assert_eq!(pool.stats().capacity, 2 * per);
        drop(again);
    }

    #[test]
    fn large_buffers_use_smaller_chunks() {
        let pool = BufferPool::new(4 << 20, 0);
        assert_eq!(pool.buffers_per_chunk(), 1);
        let mut b = pool.get().unwrap();
        assert_eq!(b.spare().len(), 4 << 20);
        assert_eq!(pool.stats().capacity, 1);
        let c = pool.get().unwrap();
        assert_eq!(pool.stats().capacity, 2);
        drop((b, c));
    }

    #[test]
    fn zero_buf_size_is_clamped() {
        let pool = BufferPool::new(0, 0);
        assert_eq!(pool.buf_size(), 1);
        let mut b = pool.get().unwrap();
        assert_eq!(b.extend_from(b"xy"), 1);
        assert_eq!(b.data(), b"x");
    }

    /// Whether each page of `[ptr, ptr + len)` is resident, per `mincore`. Under Miri (which
    /// does not emulate `mincore`) it answers what the test expects, so that the rest of the
    /// test, the release path included, still runs under Miri's checks.
    fn resident(ptr: NonNull<u8>, len: usize, expected: bool) -> Vec<bool> {
        let page = page_size();
        if cfg!(miri) {
            return vec![expected; len.div_ceil(page)];
        }
        let mut vec = vec![0u8; len.div_ceil(page)];
        // SAFETY: `ptr` is page aligned (slots of page-sized buffers), the
        // range lies inside a live mapping and `vec` has one byte per page.
        let r = unsafe { libc::mincore(ptr.as_ptr().cast(), len, vec.as_mut_ptr().cast()) };
        assert_eq!(r, 0, "mincore: {}", io::Error::last_os_error());
        vec.iter().map(|v| v & 1 == 1).collect()
    }

    #[test]
    fn hold_limit_releases_pages() {
        let page = page_size();
        let pool = BufferPool::new(2 * page, 2);
        let mut bufs: Vec<PoolBuf> = (0..5).map(|_| pool.get().unwrap()).collect();
        for b in &mut bufs {
            let n = b.spare().len();
            b.spare().fill(0xAB);
            b.commit(n);
        }
        let ptrs: Vec<NonNull<u8>> = bufs.iter().map(|b| b.ptr).collect();
        for p in &ptrs {
            assert!(resident(*p, 2 * page, true).iter().all(|&r| r));
        }
        // Drop in order: the first two stay resident, the other three are
        // released.
        for b in bufs.drain(..) {
            drop(b);
        }
        assert_eq!(pool.resident_free(), 2);
        let s = pool.stats();
        assert_eq!(s.in_use, 0);
        assert_eq!(s.free, s.capacity);
        assert_eq!(s.peak_in_use, 5);
        for p in &ptrs[..2] {
            assert!(resident(*p, 2 * page, true).iter().all(|&r| r));
        }
        for p in &ptrs[2..] {
            assert!(resident(*p, 2 * page, false).iter().all(|&r| !r));
        }

        // Re-get all five: each is empty, writable and full-capacity; the
        // released ones read back as zero before being written.
        let mut again: Vec<PoolBuf> = (0..5).map(|_| pool.get().unwrap()).collect();
        let mut got: Vec<NonNull<u8>> = again.iter().map(|b| b.ptr).collect();
        got.sort();
        let mut want = ptrs.clone();
        want.sort();
        assert_eq!(got, want, "released slots are reused before growing");
        for b in &mut again {
            assert!(b.is_empty());
            assert_eq!(b.spare().len(), 2 * page);
            if ptrs[2..].contains(&b.ptr) {
                assert!(b.spare().iter().all(|&x| x == 0));
            }
            assert_eq!(b.extend_from(&vec![7u8; 3 * page]), 2 * page);
            assert!(b.data().iter().all(|&x| x == 7));
        }
        assert_eq!(pool.resident_free(), 0);
        drop(again);
        assert_eq!(pool.resident_free(), 2);
    }

    #[test]
    fn hold_limit_zero_releases_everything() {
        let page = page_size();
        let pool = BufferPool::new(page, 0);
        let mut b = pool.get().unwrap();
        b.extend_from(&vec![1u8; page]);
        let p = b.ptr;
        drop(b);
        assert_eq!(pool.resident_free(), 0);
        assert!(resident(p, page, false).iter().all(|&r| !r));
        let b = pool.get().unwrap();
        assert!(b.is_empty());
    }

    #[test]
    fn data_spare_commit_consume_extend() {
        let pool = BufferPool::new(16, 4);
        let mut b = pool.get().unwrap();
        assert_eq!(b.len(), 0);
        assert_eq!(b.spare().len(), 16);

        b.spare()[..5].copy_from_slice(b"hello");
        b.commit(5);
        assert_eq!(b.data(), b"hello");
        assert_eq!(&*b, b"hello");
        assert_eq!(b.spare().len(), 11);

        assert_eq!(b.extend_from(b" world, this is long"), 11);
        assert_eq!(b.data(), b"hello world, thi");
        assert_eq!(b.spare().len(), 0);
        assert_eq!(b.extend_from(b"more"), 0);
        b.commit(100); // clamped, no panic
        assert_eq!(b.len(), 16);

        b.consume(6);
        assert_eq!(b.data(), b"world, thi");
        assert_eq!(b.len(), 10);
        // Consumed-but-not-rewound buffers still only offer the tail room.
        assert_eq!(b.spare().len(), 0);

        b.consume(1000); // clamped; empties and rewinds
        assert!(b.is_empty());
        assert_eq!(b.data(), b"");
        assert_eq!(b.spare().len(), 16);

        assert_eq!(b.extend_from(b"abc"), 3);
        b.consume(1);
        assert_eq!(b.data(), b"bc");
        assert_eq!(b.extend_from(b"de"), 2);
        assert_eq!(b.data(), b"bcde");
        b.consume(4);
        assert_eq!(b.spare().len(), 16);
        b.consume(1); // no-op on empty
        assert!(b.is_empty());
    }
}
