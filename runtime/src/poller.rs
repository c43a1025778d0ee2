//! The shard's socket poller: an edge-triggered epoll instance driven by the shard itself.
//!
//! Why epoll beside glommio instead of glommio's `TcpStream`: a glommio stream costs at least
//! 672 B per idle connection (a ~496 B `Source` armed from construction on), while a socket the
//! shard drives itself costs only its slab record. Readiness (rather than io_uring completions)
//! lets every connection of a shard read into *one* shared scratch buffer: nothing is pinned by
//! an idle connection.
//!
//! The poller never blocks. When the shard has nothing to do, its driver awaits
//! [`Poller::poll_wakeup`], which parks the glommio executor until the epoll fd becomes readable.
//! glommio 0.9 has no public "wait until this fd is readable" call, so the bridge wraps a `dup`
//! of the epoll fd in a `glommio::net::TcpStream`: its constructor arms an io_uring readable-poll
//! on the fd, `poll_read` stays pending until that poll completes, and the read that follows
//! fails with `ENOTSOCK`, which we take as "ready". One wrapper (one dup, one glommio `Source`)
//! exists per shard while it waits, never per connection. The crate's tests pin this behaviour.
//!
//! # Out of file descriptors
//! The bridge needs one fd, and a process at its fd limit has none to give: the `dup` would fail
//! (EMFILE) exactly when accepts fill the table. So the poller keeps its next bridge fd in hand
//! (a spare dup made ahead, taken back right after each wake-up, when the old bridge's fd has just
//! been freed); if even that fails, it parks on a short timer ([`FD_BACKOFF`]) instead of
//! reporting "ready" at once, so a shard at the fd limit sleeps rather than spins.
//!
//! # End of stream
//! [`Event::read_closed`] reports that the peer's end-of-stream (FIN, hang-up) is queued behind
//! whatever data is still unread. Edge-triggered epoll will not report it again, so the reader
//! must keep calling `recv` until it returns 0 (or an error), even after a short read.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Readiness reported for one registered fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token given at registration.
    pub token: u64,
    /// Data (or a pending accept, or EOF) can be read.
    pub readable: bool,
    /// The socket accepts writes (or a non-blocking connect finished).
    pub writable: bool,
    /// The peer's end-of-stream is queued (EPOLLRDHUP, EPOLLHUP) or an error is pending
    /// (EPOLLERR): read until `recv` returns 0 or the error; a short read does not mean
    /// drained. No further edge announces it.
    pub read_closed: bool,
}

/// How long a poller that cannot get a file descriptor for its wake-up bridge sleeps before it
/// polls again (see the module docs).
pub const FD_BACKOFF: std::time::Duration = std::time::Duration::from_millis(20);

/// Edge-triggered epoll set owned by one shard.
pub struct Poller {
    epfd: OwnedFd,
    events: Vec<libc::epoll_event>,
    bridge: Option<glommio::net::TcpStream>,
    /// The next bridge's fd, duplicated ahead of need (see the module docs).
    spare: Option<OwnedFd>,
    /// Parked on a timer because no fd was available for the bridge.
    backoff: Option<glommio::timer::Timer>,
    /// Parks that found no fd for the bridge.
    fd_starved: u64,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Poller {
    /// Creates an epoll instance that reports up to `batch` events per [`Poller::poll_now`].
    pub fn new(batch: usize) -> io::Result<Poller> {
        // SAFETY: plain syscall; the returned fd is checked and owned right away.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        let mut p = Poller {
            // SAFETY: `fd` is a fresh epoll fd that nothing else owns.
            epfd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: Vec::with_capacity(batch.max(1)),
            bridge: None,
            spare: None,
            backoff: None,
            fd_starved: 0,
        };
        p.spare = Some(p.dup_epoll()?);
        Ok(p)
    }

    fn dup_epoll(&self) -> io::Result<OwnedFd> {
        // SAFETY: dup of an fd we own; the copy is checked and owned right away.
        let dup = cvt(unsafe { libc::fcntl(self.fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
        // SAFETY: `dup` is a fresh fd owned by nothing else.
        Ok(unsafe { OwnedFd::from_raw_fd(dup) })
    }

    /// How many times a park found no file descriptor for the wake-up bridge and slept on a
    /// timer instead (the process was at its fd limit).
    pub fn fd_starved(&self) -> u64 {
        self.fd_starved
    }

    /// The epoll fd.
    pub fn fd(&self) -> RawFd {
        self.epfd.as_raw_fd()
    }

    /// Registers `fd` edge-triggered for reads, writes and hang-ups under `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.ctl_add(fd, token, libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP)
    }

    /// Registers `fd` edge-triggered for reads only (listening sockets).
    pub fn add_readable(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.ctl_add(fd, token, libc::EPOLLIN)
    }

    fn ctl_add(&self, fd: RawFd, token: u64, events: libc::c_int) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (events | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(|_| ())
    }

    /// Removes `fd` from the set (closing the fd also removes it).
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: a null event pointer is allowed for EPOLL_CTL_DEL since Linux 2.6.9.
        cvt(unsafe { libc::epoll_ctl(self.fd(), libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) })
            .map(|_| ())
    }

    /// Collects ready events without blocking and hands each to `f`. Returns how many there
    /// were; equal to the batch size means more may be waiting.
    pub fn poll_now(&mut self, mut f: impl FnMut(Event)) -> io::Result<usize> {
        let cap = self.events.capacity();
        let n = loop {
            // SAFETY: epoll_wait writes at most `cap` initialised entries into the spare
            // capacity of `events`.
            let r = unsafe {
                crate::sys::epoll_wait(self.fd(), self.events.as_mut_ptr(), cap as libc::c_int, 0)
            };
            match cvt(r) {
                Ok(n) => break n as usize,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { self.events.set_len(n) };
        for ev in &self.events {
            let bits = ev.events as libc::c_int;
            f(Event {
                token: ev.u64,
                readable: bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP) != 0,
                writable: bits & libc::EPOLLOUT != 0,
                read_closed: bits & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0,
            });
        }
        self.events.clear();
        Ok(n)
    }

    /// Ready once the epoll set has events; parks the glommio executor until then (see the
    /// module docs for how). Must be polled from inside a glommio executor.
    pub fn poll_wakeup(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        use futures_lite::io::AsyncRead;
        use std::future::Future;
        if let Some(t) = self.backoff.as_mut() {
            // No fd for the bridge last time: sleep, then let the caller poll again.
            if Pin::new(t).poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.backoff = None;
            return Poll::Ready(());
        }
        if self.bridge.is_none() {
            let fd = match self.spare.take() {
                Some(fd) => fd,
                None => match self.dup_epoll() {
                    Ok(fd) => fd,
                    Err(_) => {
                        // At the fd limit: park on a timer, never spin (see the module docs).
                        self.fd_starved += 1;
                        let mut t = glommio::timer::Timer::new(FD_BACKOFF);
                        if Pin::new(&mut t).poll(cx).is_ready() {
                            return Poll::Ready(());
                        }
                        self.backoff = Some(t);
                        return Poll::Pending;
                    }
                },
            };
            // SAFETY: `fd` is an owned dup of the epoll fd; the TcpStream takes ownership and
            // closes it on drop.
            self.bridge = Some(unsafe { glommio::net::TcpStream::from_raw_fd(fd.into_raw_fd()) });
        }
        let stream = self.bridge.as_mut().expect("bridge armed above");
        let mut byte = [0u8; 1];
        match Pin::new(stream).poll_read(cx, &mut byte) {
            Poll::Pending => Poll::Pending,
            // ENOTSOCK (the expected outcome) or anything else: the fd was reported readable.
            Poll::Ready(_) => {
                self.bridge = None;
                // The old bridge's fd was just freed: take the next one now, before the shard
                // accepts into it.
                self.spare = self.dup_epoll().ok();
                Poll::Ready(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Pins the glommio bridge: the executor parks while the epoll set is idle and wakes up
    /// when a registered fd becomes readable from another thread.
    #[test]
    fn bridge_parks_and_wakes() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            use std::io::Write;
            (&b).write_all(b"x").unwrap();
            b
        });
        let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .unwrap();
        let (waited, events) = ex.run(async move {
            let mut p = Poller::new(16).unwrap();
            p.add(a.as_raw_fd(), 42).unwrap();
            // The initial edge (writable) is reported at registration; drain it.
            p.poll_now(|_| {}).unwrap();
            let start = Instant::now();
            std::future::poll_fn(|cx| p.poll_wakeup(cx)).await;
            let waited = start.elapsed();
            let mut evs = Vec::new();
            p.poll_now(|e| evs.push(e)).unwrap();
            drop(a);
            (waited, evs)
        });
        let _b = writer.join().unwrap();
        assert!(
            waited >= Duration::from_millis(100),
            "woke too early: {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "woke too late: {waited:?}");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].token, 42);
        assert!(events[0].readable);
    }
}
