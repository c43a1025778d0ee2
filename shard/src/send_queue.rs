//! Per-connection send queue and gather-write helpers.
//!
//! # Overview
//!
//! When a socket cannot take all outgoing data at once, the remainder is
//! copied into [`PoolBuf`]s and kept in a [`SendQueue`] until the socket
//! becomes writable again. [`SendQueue::push`] appends a gather list
//! (all-or-nothing, bounded by a per-connection `max_pending` limit) and
//! [`SendQueue::flush`] writes queued bytes to a non-blocking socket following
//! HP-Socket's [`SendPolicy`]:
//!
//! * [`SendPolicy::Pack`] coalesces: one `sendmsg` call gathers up to 64
//!   queued buffers.
//! * [`SendPolicy::Direct`] issues one `send` call per queued buffer.
//!
//! [`write_gather`] is the fast path used while the queue is empty: it writes
//! a gather list straight to the socket and reports how much was accepted, so
//! only the unsent tail needs to be queued.
//!
//! All writes use `MSG_NOSIGNAL` (a closed peer yields `EPIPE` instead of
//! `SIGPIPE`) and `MSG_DONTWAIT` (never block, even on a blocking socket);
//! `EINTR` is retried transparently.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::buffer_pool::{BufferPool, PoolBuf};

/// Maximum number of `iovec`s passed to one `sendmsg` call.
const MAX_IOV: usize = 64;

/// Flags used for every write.
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;

/// HP-Socket's send policy: how queued buffers are handed to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SendPolicy {
    /// Coalesce: one gather write (`sendmsg`) covers up to 64 queued buffers.
    #[default]
    Pack,
    /// One write call (`send`) per queued buffer.
    Direct,
}

/// The send queue's pending-byte limit would be exceeded.
///
/// Kept as a standalone error type for callers that only deal with the limit;
/// [`SendQueue::push`] reports it as [`PushError::QueueFull`] (and
/// `QueueFull` converts into that variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl fmt::Display for QueueFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("send queue full")
    }
}

impl std::error::Error for QueueFull {}

/// Why [`SendQueue::push`] queued nothing.
#[derive(Debug)]
pub enum PushError {
    /// `pending + total` would exceed `max_pending`.
    QueueFull,
    /// A pool buffer could not be allocated (`mmap` failed).
    Alloc(io::Error),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::QueueFull => f.write_str("send queue full"),
            PushError::Alloc(e) => write!(f, "send buffer allocation failed: {e}"),
        }
    }
}

impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PushError::QueueFull => None,
            PushError::Alloc(e) => Some(e),
        }
    }
}

impl From<QueueFull> for PushError {
    fn from(_: QueueFull) -> Self {
        PushError::QueueFull
    }
}

/// Result of one [`SendQueue::flush`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Bytes accepted by the kernel during this call.
    pub written: usize,
    /// The queue is empty now.
    pub drained: bool,
    /// The kernel refused more data (`EAGAIN`); wait for writability.
    ///
    /// When both `drained` and `would_block` are false, the byte budget was
    /// exhausted and the caller should flush again on a later turn.
    pub would_block: bool,
}

/// Bytes waiting to be written to one connection, held in pool buffers.
#[derive(Debug, Default)]
pub struct SendQueue {
    bufs: VecDeque<PoolBuf>,
    pending: usize,
}

impl SendQueue {
    /// Creates an empty queue (allocates nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Whether no bytes are queued.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Copies all of `parts` (a gather list) to the end of the queue.
    ///
    /// The spare room of the last queued buffer is filled first, then new
    /// buffers are taken from `pool`. All-or-nothing: if `pending() + total`
    /// would exceed `max_pending` (`0` means unlimited) the call returns
    /// [`PushError::QueueFull`], and if a buffer cannot be allocated it
    /// returns [`PushError::Alloc`]; in both cases nothing is queued.
    pub fn push(
        &mut self,
        pool: &BufferPool,
        parts: &[&[u8]],
        max_pending: usize,
    ) -> Result<(), PushError> {
        let total = parts
            .iter()
            .try_fold(0usize, |acc, p| acc.checked_add(p.len()))
            .ok_or(PushError::QueueFull)?;
        if total == 0 {
            return Ok(());
        }
        if max_pending != 0 && self.pending.saturating_add(total) > max_pending {
            return Err(PushError::QueueFull);
        }
        let tail_room = self
            .bufs
            .back_mut()
            .map_or(0, |b| b.spare().len())
            .min(total);
        // Allocate every needed buffer before copying, so that an allocation
        // failure leaves the queue untouched.
        let needed = (total - tail_room).div_ceil(pool.buf_size());
        let mut fresh = Vec::with_capacity(needed);
        for _ in 0..needed {
            fresh.push(pool.get().map_err(PushError::Alloc)?);
        }
        let mut fresh = fresh.into_iter();
        for part in parts {
            let mut rest: &[u8] = part;
            while !rest.is_empty() {
                let tail_has_room = self.bufs.back_mut().is_some_and(|b| !b.spare().is_empty());
                if !tail_has_room {
                    match fresh.next() {
                        Some(b) => self.bufs.push_back(b),
                        // Unreachable by construction; never panic.
                        None => break,
                    }
                }
                let Some(tail) = self.bufs.back_mut() else {
                    break;
                };
                let n = tail.extend_from(rest);
                self.pending += n;
                rest = &rest[n..];
            }
        }
        Ok(())
    }

    /// Writes queued data to the non-blocking socket `fd`.
    ///
    /// Writes until the queue is empty, the kernel reports `EAGAIN`, or
    /// `budget` bytes were written by this call (`usize::MAX` = no bound).
    /// The budget is exact: each write request is truncated to the remaining
    /// budget, so `written <= budget` always holds, and `budget == 0` writes
    /// nothing. With [`SendPolicy::Pack`] each `sendmsg` gathers up to 64
    /// buffers; with [`SendPolicy::Direct`] each `send` carries one buffer.
    ///
    /// For every accepted chunk, `on_sent` is called with exactly those bytes
    /// (one call per buffer slice, in queue order) before they are consumed;
    /// fully sent buffers go back to the pool.
    ///
    /// Returns `Err` on a real socket error (`EPIPE`, `ECONNRESET`, ...).
    /// Bytes accepted earlier in the same call were already reported through
    /// `on_sent` and removed from the queue.
    pub fn flush(
        &mut self,
        fd: RawFd,
        policy: SendPolicy,
        budget: usize,
        on_sent: &mut dyn FnMut(&[u8]),
    ) -> io::Result<FlushOutcome> {
        let mut out = FlushOutcome::default();
        loop {
            while self.bufs.front().is_some_and(|b| b.is_empty()) {
                self.bufs.pop_front();
            }
            if self.bufs.is_empty() {
                out.drained = true;
                return Ok(out);
            }
            let room = budget - out.written;
            if room == 0 {
                return Ok(out);
            }
            let res = match policy {
                SendPolicy::Pack => self.write_packed(fd, room),
                SendPolicy::Direct => self.write_direct(fd, room),
            };
            match res {
                // A stream socket only returns 0 for an empty request, which
                // cannot happen here; treat it like EAGAIN to avoid spinning.
                Ok(0) => {
                    out.would_block = true;
                    return Ok(out);
                }
                Ok(n) => {
                    self.advance(n, on_sent);
                    out.written += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    out.would_block = true;
                    return Ok(out);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops every queued buffer (returning it to its pool); `pending()`
    /// becomes 0.
    pub fn clear(&mut self) {
        self.bufs.clear();
        self.pending = 0;
    }

    /// Moves every buffer of `later` behind this queue's buffers, keeping order; `later` is
    /// left empty.
    pub fn append(&mut self, later: &mut SendQueue) {
        self.pending += later.pending;
        later.pending = 0;
        self.bufs.append(&mut later.bufs);
    }

    /// One `sendmsg` over up to 64 front buffers, at most `room` bytes.
    fn write_packed(&self, fd: RawFd, room: usize) -> io::Result<usize> {
        let mut iov = IovArray::new();
        let mut cnt = 0;
        let mut left = room;
        for buf in self.bufs.iter().take(MAX_IOV) {
            if left == 0 {
                break;
            }
            let data = buf.data();
            let n = data.len().min(left);
            if n == 0 {
                continue;
            }
            iov.set(cnt, &data[..n]);
            cnt += 1;
            left -= n;
        }
        sendmsg_iov(fd, iov.prefix(cnt))
    }

    /// One `send` of the front buffer, at most `room` bytes.
    fn write_direct(&self, fd: RawFd, room: usize) -> io::Result<usize> {
        let Some(buf) = self.bufs.front() else {
            return Ok(0);
        };
        let data = buf.data();
        send_once(fd, &data[..data.len().min(room)])
    }

    /// Reports and consumes `n` accepted bytes from the front of the queue.
    fn advance(&mut self, mut n: usize, on_sent: &mut dyn FnMut(&[u8])) {
        while n > 0 {
            let Some(front) = self.bufs.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            on_sent(&front.data()[..k]);
            front.consume(k);
            n -= k;
            self.pending -= k;
            if front.is_empty() {
                self.bufs.pop_front();
            }
        }
    }
}

/// Writes `parts` directly to the socket `fd` with gather `sendmsg` calls
/// (`MSG_NOSIGNAL | MSG_DONTWAIT`, up to 64 iovecs per call, looping over
/// chunks of `parts`).
///
/// Returns the number of bytes accepted, which may be less than the total
/// (the kernel buffer filled up) and is `0` if the socket would block right
/// away. `EINTR` is retried. A real error is returned as `Err` only if
/// nothing was written by this call; otherwise the byte count is returned
/// and the error surfaces on the next write to the socket.
pub fn write_gather(fd: RawFd, parts: &[&[u8]]) -> io::Result<usize> {
    if let [one] = parts {
        // The usual case (an echo, a reply): one `send`, no message header, no iovec array.
        return match send_once(fd, one) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            r => r,
        };
    }
    let mut written = 0;
    let mut iov = IovArray::new();
    let mut parts = parts.iter().filter(|p| !p.is_empty());
    loop {
        let mut cnt = 0;
        let mut want = 0;
        for p in parts.by_ref().take(MAX_IOV) {
            iov.set(cnt, p);
            cnt += 1;
            want += p.len();
        }
        if cnt == 0 {
            return Ok(written);
        }
        match sendmsg_iov(fd, iov.prefix(cnt)) {
            Ok(n) => {
                written += n;
                if n < want {
                    return Ok(written);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || written > 0 => return Ok(written),
            Err(e) => return Err(e),
        }
    }
}

/// Room for [`MAX_IOV`] iovecs, filled from the front and never zeroed first (zeroing 1 KiB
/// per write was 62 instructions per message).
struct IovArray([std::mem::MaybeUninit<libc::iovec>; MAX_IOV]);

impl IovArray {
    fn new() -> IovArray {
        IovArray([const { std::mem::MaybeUninit::uninit() }; MAX_IOV])
    }

    /// Entry `i` describes `data` (only ever read by the kernel). Entries are set in order.
    fn set(&mut self, i: usize, data: &[u8]) {
        self.0[i].write(libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        });
    }

    /// The first `n` entries, all set by [`Self::set`].
    fn prefix(&self, n: usize) -> &[libc::iovec] {
        assert!(n <= MAX_IOV);
        // SAFETY: callers set entries 0..n before asking for them (both loops above count
        // exactly the entries they set); MaybeUninit<T> has T's layout.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<libc::iovec>(), n) }
    }
}

/// One `send` of `data` (EINTR retried); EAGAIN comes back as `Err(WouldBlock)`.
fn send_once(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    loop {
        let r = shardnet_runtime::sys::send(fd, data, SEND_FLAGS);
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One `sendmsg(fd, iov, MSG_NOSIGNAL | MSG_DONTWAIT)`, retrying `EINTR`.
fn sendmsg_iov(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
    // SAFETY: `msghdr` is a plain C struct for which all-zero bytes are a
    // valid value (null name/control, zero lengths and flags).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len() as _;
    loop {
        // SAFETY: `msg` points to `iov.len()` iovecs that are alive for the
        // whole call, each describing a live readable slice; `sendmsg` does
        // not write through them.
        let r = unsafe { shardnet_runtime::sys::sendmsg(fd, &msg, SEND_FLAGS) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    /// More than a socket pair buffers, so that writes meet EAGAIN: 3 MiB, or 256 KiB under
    /// Miri (its emulated pair buffers 208 KiB, and it runs each byte's copy ~1000× slower).
    const LARGE: usize = if cfg!(miri) { 256 << 10 } else { 3 << 20 };

    /// A connected, non-blocking AF_UNIX stream socket pair.
    fn pair() -> (UnixStream, UnixStream) {
        use std::os::fd::FromRawFd;
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair writes. (Made non-blocking
        // at creation: Miri emulates that, not the ioctl `set_nonblocking` uses.)
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0, "socketpair: {}", io::Error::last_os_error());
        // SAFETY: both descriptors were just created and are owned by nothing else.
        unsafe {
            (
                UnixStream::from_raw_fd(fds[0]),
                UnixStream::from_raw_fd(fds[1]),
            )
        }
    }

    /// Reads everything currently available from `s`.
    fn drain(s: &mut UnixStream, out: &mut Vec<u8>) -> usize {
        let mut buf = [0u8; 65536];
        let mut total = 0;
        loop {
            // A plain read(2) rather than std's recv(2): Miri emulates the former on socket
            // pairs, not the latter.
            // SAFETY: `buf` is valid for writes of its length; `s` keeps the fd open.
            let r = unsafe { libc::read(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            let r = if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r as usize)
            };
            match r {
                Ok(0) => return total,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    total += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return total,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn push_three_parts_then_flush() {
        for policy in [SendPolicy::Pack, SendPolicy::Direct] {
            let pool = BufferPool::new(64, 16);
            let (a, mut b) = pair();
            let mut q = SendQueue::new();
            assert!(q.is_empty());
            let parts: [&[u8]; 3] = [b"header:", &[b'x'; 100], b"trailer"];
            q.push(&pool, &parts, 0).unwrap();
            assert_eq!(q.pending(), 114);
            // 114 bytes in 64-byte buffers: 2 buffers, tail filled first.
            assert_eq!(pool.stats().in_use, 2);
            let mut sent = Vec::new();
            let mut calls = 0;
            let out = q
                .flush(a.as_raw_fd(), policy, usize::MAX, &mut |d| {
                    calls += 1;
                    sent.extend_from_slice(d)
                })
                .unwrap();
            assert_eq!(
                out,
                FlushOutcome {
                    written: 114,
                    drained: true,
                    would_block: false
                }
            );
            assert_eq!(calls, 2, "one on_sent call per buffer slice");
            assert!(q.is_empty());
            assert_eq!(pool.stats().in_use, 0);
            let mut got = Vec::new();
            drain(&mut b, &mut got);
            assert_eq!(got, parts.concat());
            assert_eq!(sent, got);
        }
    }

    #[test]
    fn push_appends_to_tail_spare_room() {
        let pool = BufferPool::new(16, 16);
        let mut q = SendQueue::new();
        q.push(&pool, &[b"abc"], 0).unwrap();
        assert_eq!(pool.stats().in_use, 1);
        q.push(&pool, &[b"defghijklmnop"], 0).unwrap(); // exactly fills 16
        assert_eq!(pool.stats().in_use, 1);
        q.push(&pool, &[b"q", b"", b"rs"], 0).unwrap();
        assert_eq!(pool.stats().in_use, 2);
        q.push(&pool, &[], 0).unwrap();
        q.push(&pool, &[b""], 1).unwrap();
        assert_eq!(q.pending(), 19);
        let (a, mut b) = pair();
        let out = q
            .flush(a.as_raw_fd(), SendPolicy::Pack, usize::MAX, &mut |_| {})
            .unwrap();
        assert!(out.drained);
        let mut got = Vec::new();
        drain(&mut b, &mut got);
        assert_eq!(got, b"abcdefghijklmnopqrs");
    }

    #[test]
    fn max_pending_is_all_or_nothing() {
        let pool = BufferPool::new(32, 16);
        let mut q = SendQueue::new();
        let big = [7u8; 100];
        let err = q.push(&pool, &[&big[..60], &big[..41]], 100).unwrap_err();
        assert!(matches!(err, PushError::QueueFull));
        assert_eq!(err.to_string(), "send queue full");
        assert_eq!(q.pending(), 0);
        assert_eq!(pool.stats().in_use, 0);

        q.push(&pool, &[&big[..60], &big[..40]], 100).unwrap(); // exactly at limit
        assert_eq!(q.pending(), 100);
        let in_use = pool.stats().in_use;
        assert!(matches!(
            q.push(&pool, &[b"x"], 100),
            Err(PushError::QueueFull)
        ));
        assert_eq!(q.pending(), 100);
        assert_eq!(pool.stats().in_use, in_use);
        // 0 = unlimited.
        q.push(&pool, &[&big], 0).unwrap();
        assert_eq!(q.pending(), 200);
        q.clear();
        assert_eq!(q.pending(), 0);
        assert_eq!(pool.stats().in_use, 0);
        assert_eq!(
            PushError::from(QueueFull).to_string(),
            QueueFull.to_string()
        );
    }

    /// Fills the socket until EAGAIN, then alternates draining the peer and
    /// flushing; checks ordering, on_sent and pool accounting.
    fn backpressure_roundtrip(policy: SendPolicy) {
        let pool = BufferPool::new(4096, 64);
        let (a, mut b) = pair();
        let mut q = SendQueue::new();
        let data = pattern(LARGE, 1);
        // Push in odd-sized pieces, several parts per call.
        for chunk in data.chunks(7777) {
            let (x, y) = chunk.split_at(chunk.len() / 3);
            q.push(&pool, &[x, y], 0).unwrap();
        }
        assert_eq!(q.pending(), data.len());

        let mut sent = Vec::new();
        let mut got = Vec::new();
        let out = q
            .flush(a.as_raw_fd(), policy, usize::MAX, &mut |d| {
                sent.extend_from_slice(d)
            })
            .unwrap();
        assert!(out.would_block, "{out:?}");
        assert!(!out.drained);
        assert!(out.written > 0);
        assert!(q.pending() > 0);
        assert_eq!(q.pending() + out.written, data.len());
        assert_eq!(sent.len(), out.written);

        let mut total = out.written;
        let mut rounds = 0;
        loop {
            drain(&mut b, &mut got);
            let out = q
                .flush(a.as_raw_fd(), policy, usize::MAX, &mut |d| {
                    sent.extend_from_slice(d)
                })
                .unwrap();
            total += out.written;
            assert_eq!(q.pending() + total, data.len());
            if out.drained {
                assert!(q.is_empty());
                break;
            }
            assert!(out.would_block);
            rounds += 1;
            assert!(rounds < 100_000);
        }
        drain(&mut b, &mut got);
        assert_eq!(got.len(), data.len());
        assert!(got == data, "peer bytes differ");
        assert!(sent == data, "on_sent bytes differ");
        let s = pool.stats();
        assert_eq!(s.in_use, 0);
        assert_eq!(s.free, s.capacity);
        // Flushing an empty queue is a no-op that reports drained.
        let out = q
            .flush(a.as_raw_fd(), policy, usize::MAX, &mut |_| {
                panic!("nothing to send")
            })
            .unwrap();
        assert_eq!(
            out,
            FlushOutcome {
                written: 0,
                drained: true,
                would_block: false
            }
        );
    }

    #[test]
    fn backpressure_pack() {
        backpressure_roundtrip(SendPolicy::Pack);
    }

    #[test]
    fn backpressure_direct() {
        backpressure_roundtrip(SendPolicy::Direct);
    }

    #[test]
    fn budget_is_exact() {
        for policy in [SendPolicy::Pack, SendPolicy::Direct] {
            let pool = BufferPool::new(1000, 16);
            let (a, mut b) = pair();
            let mut q = SendQueue::new();
            let data = pattern(10_000, 2);
            q.push(&pool, &[&data], 0).unwrap();
            let mut sent = Vec::new();

            let out = q.flush(a.as_raw_fd(), policy, 0, &mut |_| {}).unwrap();
            assert_eq!(out, FlushOutcome::default());

            let out = q
                .flush(a.as_raw_fd(), policy, 2500, &mut |d| {
                    sent.extend_from_slice(d)
                })
                .unwrap();
            assert_eq!(
                out,
                FlushOutcome {
                    written: 2500,
                    drained: false,
                    would_block: false
                },
                "{policy:?}"
            );
            assert_eq!(q.pending(), 7500);
            // Two full buffers went back; the half-sent third is still queued.
            assert_eq!(pool.stats().in_use, 8);

            let out = q
                .flush(a.as_raw_fd(), policy, 1, &mut |d| sent.extend_from_slice(d))
                .unwrap();
            assert_eq!(out.written, 1);

            let out = q
                .flush(a.as_raw_fd(), policy, usize::MAX, &mut |d| {
                    sent.extend_from_slice(d)
                })
                .unwrap();
            assert_eq!(out.written, 7499);
            assert!(out.drained);
            let mut got = Vec::new();
            drain(&mut b, &mut got);
            assert_eq!(got, data);
            assert_eq!(sent, data);
            assert_eq!(pool.stats().in_use, 0);
        }
    }

    #[test]
    fn pack_gathers_more_than_64_buffers() {
        let pool = BufferPool::new(10, 256);
        let (a, mut b) = pair();
        let mut q = SendQueue::new();
        let data = pattern(1995, 3); // 200 buffers
        q.push(&pool, &[&data], 0).unwrap();
        assert_eq!(pool.stats().in_use, 200);
        let mut calls = 0;
        let out = q
            .flush(a.as_raw_fd(), SendPolicy::Pack, usize::MAX, &mut |_| {
                calls += 1
            })
            .unwrap();
        assert!(out.drained);
        assert_eq!(out.written, 1995);
        assert_eq!(calls, 200);
        let mut got = Vec::new();
        drain(&mut b, &mut got);
        assert_eq!(got, data);
    }

    #[test]
    fn flush_to_closed_peer_errors() {
        for policy in [SendPolicy::Pack, SendPolicy::Direct] {
            let pool = BufferPool::new(64, 4);
            let (a, b) = pair();
            drop(b);
            let mut q = SendQueue::new();
            q.push(&pool, &[b"hello"], 0).unwrap();
            let err = q
                .flush(a.as_raw_fd(), policy, usize::MAX, &mut |_| {})
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err}");
            assert_eq!(q.pending(), 5);
            q.clear();
            assert!(q.is_empty());
            assert_eq!(pool.stats().in_use, 0);
        }
    }

    #[test]
    fn clear_returns_buffers() {
        let pool = BufferPool::new(128, 64);
        let mut q = SendQueue::new();
        q.push(&pool, &[&[1u8; 1000], &[2u8; 1000]], 0).unwrap();
        assert_eq!(pool.stats().in_use, 16);
        q.clear();
        assert!(q.is_empty());
        let s = pool.stats();
        assert_eq!((s.in_use, s.free, s.peak_in_use), (0, s.capacity, 16));
    }

    #[test]
    fn write_gather_full_partial_and_eagain() {
        let (a, mut b) = pair();
        // Many small parts (more than one iovec batch), including empty ones.
        let owned: Vec<Vec<u8>> = (0..200u32).map(|i| pattern((i % 13) as usize, i)).collect();
        let parts: Vec<&[u8]> = owned.iter().map(|v| v.as_slice()).collect();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        assert_eq!(write_gather(a.as_raw_fd(), &parts).unwrap(), total);
        assert_eq!(write_gather(a.as_raw_fd(), &[]).unwrap(), 0);
        let mut got = Vec::new();
        drain(&mut b, &mut got);
        assert_eq!(got, parts.concat());

        // Fill the socket: a huge write is accepted only partially.
        let big = pattern(2 * LARGE, 9);
        let n = write_gather(a.as_raw_fd(), &[&big[..LARGE], &big[LARGE..]]).unwrap();
        assert!(n > 0 && n < big.len(), "n = {n}");
        // Keep writing without reading: the socket is full almost at once
        // and then accepts nothing (EAGAIN reported as 0).
        let mut written = n;
        let mut attempts = 0;
        loop {
            let m = write_gather(a.as_raw_fd(), &[&big[written..]]).unwrap();
            if m == 0 {
                break;
            }
            written += m;
            attempts += 1;
            assert!(attempts < 1000 && written < big.len());
        }
        // Drain and finish; everything arrives in order.
        let mut got = Vec::new();
        while written < big.len() {
            drain(&mut b, &mut got);
            written += write_gather(a.as_raw_fd(), &[&big[written..]]).unwrap();
        }
        while got.len() < big.len() {
            drain(&mut b, &mut got);
        }
        assert!(got == big);
    }

    #[test]
    fn write_gather_closed_peer_errors() {
        let (a, b) = pair();
        drop(b);
        let err = write_gather(a.as_raw_fd(), &[b"x"]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
        assert!(write_gather(-1, &[b"x"]).is_err());
    }
}
