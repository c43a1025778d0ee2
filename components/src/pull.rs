//! The Pull receive model: received bytes wait in the shard's blocks until the application
//! fetches them.
//!
//! # Overview
//! Under [`ReceiveModel::Pull`](crate::ReceiveModel::Pull) the driver reads a connection's bytes
//! straight into the tail of that connection's [`Chain`] of blocks (one `readv` into the tail's
//! spare room and one fresh block: no copy at receive time), then calls
//! `on_pull_receive(conn, total_buffered)`. The application takes bytes out with `fetch`
//! (consumes) or `peek` (does not), as often as it likes, from the callback or from any other
//! thread.
//!
//! Because `fetch` may run on any thread, each (component, shard) pair keeps its chains and its
//! free blocks in one [`PullStore`] behind a mutex. The owning shard takes the lock once per
//! read and the application once per fetch; nothing else contends for it unless the application
//! fetches from another thread, so the lock is uncontended on the usual path.
//!
//! # Back-pressure
//! When a connection holds `limit` buffered bytes the driver stops reading it (the kernel's
//! receive window then throttles the peer); nothing is dropped. A fetch that brings it below
//! the limit queues the connection for the driver to resume, and wakes the driver.
//!
//! # Memory
//! A connection with nothing buffered holds no chain. Emptied blocks go back to the store's free
//! list (at most `hold` blocks stay there; the rest are freed).

use shardnet_runtime::ConnId;
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Result of `fetch` / `peek` (HP-Socket's `EnFetchResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchResult {
    /// The buffer was filled.
    Ok,
    /// Fewer bytes are buffered than the buffer asks for; nothing was consumed.
    LengthTooLong,
    /// The connection is gone (or the component does not use the Pull model).
    DataNotFound,
}

/// What one read into a connection's chain did.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// `n` bytes arrived; `total` are now buffered; `drained` when the read came back short.
    Data {
        n: usize,
        total: usize,
        drained: bool,
    },
    /// The connection holds `limit` bytes or more: not read (back-pressure).
    Full,
    /// The peer closed its side.
    Eof,
    /// The socket had nothing (EAGAIN).
    WouldBlock,
    /// The read failed.
    Error(std::io::Error),
}

/// Usage figures of one shard's Pull store (see `pull_stats()` on the handles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PullStats {
    /// Connections holding buffered bytes.
    pub chains: usize,
    /// Bytes buffered over all connections.
    pub buffered: usize,
    /// Blocks held by chains.
    pub blocks_in_use: usize,
    /// Free blocks kept for reuse.
    pub blocks_free: usize,
}

struct Block {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Block {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// The bytes one connection holds.
#[derive(Default)]
struct Chain {
    blocks: VecDeque<Block>,
    len: usize,
    /// The driver stopped reading because `len` reached the limit.
    stalled: bool,
}

#[derive(Default)]
struct Inner {
    chains: shardnet_runtime::ConnMap<Chain>,
    free: Vec<Box<[u8]>>,
    blocks_in_use: usize,
    buffered: usize,
    /// Connections to resume reading (a fetch made room after a stall).
    resume: Vec<ConnId>,
}

/// The chains of one component on one shard (see the [module docs](self)).
pub(crate) struct PullStore {
    inner: Mutex<Inner>,
    has_resume: AtomicBool,
    block: usize,
    hold: usize,
    limit: usize,
}

impl PullStore {
    /// A store of `block`-byte blocks that keeps at most `hold` free blocks and stops reading a
    /// connection at `limit` buffered bytes.
    pub fn new(block: usize, hold: usize, limit: usize) -> PullStore {
        PullStore {
            inner: Mutex::new(Inner::default()),
            has_resume: AtomicBool::new(false),
            block: block.max(1),
            hold,
            limit: limit.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a chain half-updated in a way that
        // breaks memory safety; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn new_block(&self, g: &mut Inner) -> Box<[u8]> {
        g.free
            .pop()
            .unwrap_or_else(|| vec![0u8; self.block].into_boxed_slice())
    }

    fn release_block(&self, g: &mut Inner, buf: Box<[u8]>) {
        if g.free.len() < self.hold {
            g.free.push(buf);
        }
    }

    /// Reads what `fd` has for `conn` into the chain's tail (and one fresh block).
    pub fn read(&self, conn: ConnId, fd: RawFd) -> ReadOutcome {
        let mut g = self.lock();
        let g = &mut *g;
        let (len, tail_spare) = match g.chains.get_mut(&conn) {
            Some(c) => {
                if c.len >= self.limit {
                    c.stalled = true;
                    return ReadOutcome::Full;
                }
                let spare = c.blocks.back().map_or(0, |b| b.buf.len() - b.end);
                (c.len, spare)
            }
            None => (0, 0),
        };
        let mut fresh = self.new_block(g);
        let chain = g.chains.entry(conn).or_default();
        let mut iov = [
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            libc::iovec {
                iov_base: fresh.as_mut_ptr() as *mut libc::c_void,
                iov_len: fresh.len(),
            },
        ];
        if tail_spare > 0 {
            let tail = chain.blocks.back_mut().expect("spare implies a tail");
            iov[0] = libc::iovec {
                iov_base: tail.buf[tail.end..].as_mut_ptr() as *mut libc::c_void,
                iov_len: tail_spare,
            };
        }
        let (iov_ptr, iov_cnt) = if tail_spare > 0 {
            (iov.as_ptr(), 2)
        } else {
            (iov[1..].as_ptr(), 1)
        };
        let asked = tail_spare + fresh.len();
        // SAFETY: every iovec points at writable memory owned by this chain or by `fresh`,
        // which outlive the call; the lock keeps other threads off the chain meanwhile.
        let n = unsafe { shardnet_runtime::sys::readv(fd, iov_ptr, iov_cnt) };
        let outcome = if n > 0 {
            let n = n as usize;
            let into_tail = n.min(tail_spare);
            if into_tail > 0 {
                chain.blocks.back_mut().expect("tail").end += into_tail;
            }
            let into_fresh = n - into_tail;
            if into_fresh > 0 {
                chain.blocks.push_back(Block {
                    buf: fresh,
                    start: 0,
                    end: into_fresh,
                });
                g.blocks_in_use += 1;
            } else {
                self.release_block(g, fresh);
            }
            let chain = g.chains.get_mut(&conn).expect("chain exists");
            chain.len += n;
            g.buffered += n;
            return ReadOutcome::Data {
                n,
                total: len + n,
                drained: n < asked,
            };
        } else if n == 0 {
            ReadOutcome::Eof
        } else {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAGAIN) {
                ReadOutcome::WouldBlock
            } else {
                ReadOutcome::Error(e)
            }
        };
        self.release_block(g, fresh);
        if g.chains.get(&conn).is_some_and(|c| c.len == 0) {
            g.chains.remove(&conn);
        }
        outcome
    }

    /// Whether `conn` holds `limit` bytes or more (then marks it stalled, as `read` does).
    pub fn is_full(&self, conn: ConnId) -> bool {
        let mut g = self.lock();
        match g.chains.get_mut(&conn) {
            Some(c) if c.len >= self.limit => {
                c.stalled = true;
                true
            }
            _ => false,
        }
    }

    /// Appends bytes that did not come straight from a socket (TLS plaintext); returns the
    /// total now buffered.
    pub fn append(&self, conn: ConnId, mut data: &[u8]) -> usize {
        let mut g = self.lock();
        let g = &mut *g;
        let added = data.len();
        while !data.is_empty() {
            let spare = g
                .chains
                .get(&conn)
                .and_then(|c| c.blocks.back())
                .map_or(0, |b| b.buf.len() - b.end);
            if spare == 0 {
                let buf = self.new_block(g);
                g.chains.entry(conn).or_default().blocks.push_back(Block {
                    buf,
                    start: 0,
                    end: 0,
                });
                g.blocks_in_use += 1;
                continue;
            }
            let tail = g
                .chains
                .get_mut(&conn)
                .and_then(|c| c.blocks.back_mut())
                .expect("spare implies a tail");
            let n = spare.min(data.len());
            tail.buf[tail.end..tail.end + n].copy_from_slice(&data[..n]);
            tail.end += n;
            data = &data[n..];
        }
        g.buffered += added;
        let chain = g.chains.entry(conn).or_default();
        chain.len += added;
        chain.len
    }

    /// Copies the first `buf.len()` buffered bytes of `conn` into `buf`, consuming them unless
    /// `peek`. `open` tells whether a connection without buffered bytes still exists.
    pub fn fetch(&self, conn: ConnId, buf: &mut [u8], peek: bool, open: bool) -> FetchResult {
        let mut g = self.lock();
        let g = &mut *g;
        let Some(chain) = g.chains.get_mut(&conn) else {
            return match (open, buf.is_empty()) {
                (false, _) => FetchResult::DataNotFound,
                (true, true) => FetchResult::Ok,
                (true, false) => FetchResult::LengthTooLong,
            };
        };
        if chain.len < buf.len() {
            return FetchResult::LengthTooLong;
        }
        let mut copied = 0;
        for b in chain.blocks.iter() {
            if copied == buf.len() {
                break;
            }
            let n = b.len().min(buf.len() - copied);
            buf[copied..copied + n].copy_from_slice(&b.buf[b.start..b.start + n]);
            copied += n;
        }
        if peek {
            return FetchResult::Ok;
        }
        let mut left = buf.len();
        let mut emptied = Vec::new();
        while left > 0 {
            let b = chain.blocks.front_mut().expect("len covers the request");
            let n = b.len().min(left);
            b.start += n;
            left -= n;
            if b.len() == 0 {
                emptied.push(chain.blocks.pop_front().expect("front exists").buf);
            }
        }
        chain.len -= buf.len();
        let resume = chain.stalled && chain.len < self.limit;
        if resume {
            chain.stalled = false;
        }
        if chain.len == 0 {
            // Nothing left: the partly filled tail goes back too; an idle connection holds none.
            let chain = g.chains.remove(&conn).expect("chain exists");
            emptied.extend(chain.blocks.into_iter().map(|b| b.buf));
        }
        g.buffered -= buf.len();
        g.blocks_in_use -= emptied.len();
        for b in emptied {
            self.release_block(g, b);
        }
        if resume {
            g.resume.push(conn);
            self.has_resume.store(true, Ordering::Release);
        }
        FetchResult::Ok
    }

    /// Bytes buffered for `conn`.
    pub fn buffered(&self, conn: ConnId) -> usize {
        self.lock().chains.get(&conn).map_or(0, |c| c.len)
    }

    /// Drops whatever `conn` still holds (it closed).
    pub fn remove(&self, conn: ConnId) {
        let mut g = self.lock();
        let g = &mut *g;
        if let Some(chain) = g.chains.remove(&conn) {
            g.buffered -= chain.len;
            g.blocks_in_use -= chain.blocks.len();
            for b in chain.blocks {
                self.release_block(g, b.buf);
            }
        }
    }

    /// Whether some connection waits to be resumed.
    pub fn has_resumed(&self) -> bool {
        self.has_resume.load(Ordering::Acquire)
    }

    /// Connections a fetch has made room for since the last call (cheap when none).
    pub fn take_resumed(&self, out: &mut Vec<ConnId>) {
        if !self.has_resume.swap(false, Ordering::AcqRel) {
            return;
        }
        out.append(&mut self.lock().resume);
    }

    /// Current usage.
    pub fn stats(&self) -> PullStats {
        let g = self.lock();
        PullStats {
            chains: g.chains.len(),
            buffered: g.buffered,
            blocks_in_use: g.blocks_in_use,
            blocks_free: g.free.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn id(n: u32) -> ConnId {
        ConnId::new(shardnet_runtime::ShardId(0), n, 1)
    }

    #[test]
    fn fetch_peek_and_length_too_long() {
        let store = PullStore::new(8, 4, 1 << 20);
        let (mut w, r) = pair();
        let c = id(1);
        w.write_all(b"hello, pull world").unwrap();
        match store.read(c, r.as_raw_fd()) {
            ReadOutcome::Data { n, total, .. } => {
                // Block 8: the first read fills one fresh block only.
                assert_eq!(n, 8);
                assert_eq!(total, 8);
            }
            other => panic!("{other:?}"),
        }
        while let ReadOutcome::Data { .. } = store.read(c, r.as_raw_fd()) {}
        assert_eq!(store.buffered(c), 17);
        let mut big = [0u8; 18];
        assert_eq!(
            store.fetch(c, &mut big, false, true),
            FetchResult::LengthTooLong
        );
        assert_eq!(store.buffered(c), 17, "LengthTooLong consumes nothing");
        let mut five = [0u8; 5];
        assert_eq!(store.fetch(c, &mut five, true, true), FetchResult::Ok);
        assert_eq!(&five, b"hello");
        assert_eq!(store.buffered(c), 17, "peek consumes nothing");
        let mut ten = [0u8; 10];
        assert_eq!(store.fetch(c, &mut ten, false, true), FetchResult::Ok);
        assert_eq!(&ten, b"hello, pul");
        let mut rest = [0u8; 7];
        assert_eq!(store.fetch(c, &mut rest, false, true), FetchResult::Ok);
        assert_eq!(&rest, b"l world");
        let s = store.stats();
        assert_eq!((s.chains, s.buffered, s.blocks_in_use), (0, 0, 0));
        assert!(s.blocks_free <= 4);
        assert_eq!(
            store.fetch(c, &mut rest, false, true),
            FetchResult::LengthTooLong
        );
        assert_eq!(
            store.fetch(c, &mut rest, false, false),
            FetchResult::DataNotFound
        );
        assert_eq!(store.fetch(c, &mut [], false, true), FetchResult::Ok);
    }

    #[test]
    fn limit_stalls_and_fetch_resumes() {
        let store = PullStore::new(16, 4, 32);
        let (mut w, r) = pair();
        let c = id(2);
        w.write_all(&[7u8; 100]).unwrap();
        let mut got = 0;
        loop {
            match store.read(c, r.as_raw_fd()) {
                ReadOutcome::Data { n, .. } => got += n,
                ReadOutcome::Full => break,
                other => panic!("{other:?}"),
            }
        }
        assert!((32..=64).contains(&got), "read {got} before stalling");
        let mut out = Vec::new();
        store.take_resumed(&mut out);
        assert!(out.is_empty());
        let mut buf = vec![0u8; got];
        assert_eq!(store.fetch(c, &mut buf, false, true), FetchResult::Ok);
        store.take_resumed(&mut out);
        assert_eq!(out, vec![c]);
        // The rest is still in the socket: nothing was dropped.
        let mut total = got;
        loop {
            match store.read(c, r.as_raw_fd()) {
                ReadOutcome::Data { n, .. } => total += n,
                ReadOutcome::WouldBlock => break,
                ReadOutcome::Full => {
                    let mut b = vec![0u8; store.buffered(c)];
                    assert_eq!(store.fetch(c, &mut b, false, true), FetchResult::Ok);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(total, 100);
    }

    #[test]
    fn remove_returns_blocks_and_eof_reports() {
        let store = PullStore::new(8, 2, 1 << 20);
        let (mut w, r) = pair();
        let c = id(3);
        w.write_all(&[1u8; 40]).unwrap();
        while let ReadOutcome::Data { .. } = store.read(c, r.as_raw_fd()) {}
        assert!(store.stats().blocks_in_use >= 5);
        store.remove(c);
        let s = store.stats();
        assert_eq!((s.chains, s.buffered, s.blocks_in_use), (0, 0, 0));
        assert_eq!(s.blocks_free, 2, "free list capped at hold");
        drop(w);
        assert!(matches!(store.read(c, r.as_raw_fd()), ReadOutcome::Eof));
        assert_eq!(store.stats().chains, 0, "an empty chain is not kept");
    }
}
