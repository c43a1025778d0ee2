//! The socket syscalls of the data path, made directly.
//!
//! glibc's `recv`, `send`, `sendmsg`, `readv` and `epoll_wait` are POSIX cancellation points: each
//! call enables and then disables asynchronous thread cancellation around the syscall, about 60
//! instructions per echoed message on a ping-pong (callgrind, `benches/instructions.rs`). Nothing
//! in shardnet uses `pthread_cancel`, so the data path enters the kernel through
//! `syscall(2)` instead. Each function returns what the syscall returns, `-1` with `errno` set
//! on failure, exactly like its libc namesake.

use std::os::fd::RawFd;

/// `recvfrom(fd, buf, len, flags, NULL, NULL)`: what `recv` does.
#[inline]
pub fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> isize {
    // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes for the whole call; the
    // address arguments are null, which recvfrom accepts.
    unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            flags,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        ) as isize
    }
}

/// `sendto(fd, buf, len, flags, NULL, 0)`: what `send` does.
#[inline]
pub fn send(fd: RawFd, buf: &[u8], flags: libc::c_int) -> isize {
    #[cfg(miri)]
    {
        // Miri runs no raw syscalls: a plain write on a socket is what it emulates (the
        // unit tests under Miri use AF_UNIX pairs; the flags only matter to real sockets).
        let _ = flags;
        // SAFETY: as below; write reads `buf.len()` bytes of `buf`.
        return unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    }
    #[cfg(not(miri))]
    // SAFETY: `buf` is a live, readable buffer of `buf.len()` bytes for the whole call; the
    // kernel only reads it. A null address with length 0 is what `send` passes.
    unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            buf.as_ptr(),
            buf.len(),
            flags,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        ) as isize
    }
}

/// `sendmsg(fd, msg, flags)`.
///
/// # Safety
/// `msg` must describe iovecs (and optional name/control buffers) that are valid for reads for
/// the whole call.
#[inline]
pub unsafe fn sendmsg(fd: RawFd, msg: &libc::msghdr, flags: libc::c_int) -> isize {
    #[cfg(miri)]
    {
        // Under Miri: every iovec is read (so Miri checks each pointer, length and byte) and
        // written in order, stopping at a short or failed write, as the kernel's gather does.
        let _ = flags;
        let mut total = 0isize;
        for i in 0..msg.msg_iovlen {
            // SAFETY: the caller guarantees `msg_iov` points to `msg_iovlen` valid iovecs,
            // each describing a readable buffer.
            let data = unsafe {
                let v = &*msg.msg_iov.add(i);
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            };
            let r = send(fd, data, 0);
            if r < 0 {
                return if total > 0 { total } else { r };
            }
            total += r;
            if (r as usize) < data.len() {
                break;
            }
        }
        return total;
    }
    // SAFETY: the caller guarantees `msg` and everything it points to are valid.
    #[cfg(not(miri))]
    unsafe {
        libc::syscall(libc::SYS_sendmsg, fd, msg as *const libc::msghdr, flags) as isize
    }
}

/// `readv(fd, iov, cnt)`.
///
/// # Safety
/// `iov` must point to `cnt` iovecs, each describing a buffer valid for writes for the whole
/// call.
#[inline]
pub unsafe fn readv(fd: RawFd, iov: *const libc::iovec, cnt: libc::c_int) -> isize {
    // SAFETY: the caller guarantees the iovecs are valid, writable buffers.
    unsafe { libc::syscall(libc::SYS_readv, fd, iov, cnt) as isize }
}

/// `epoll_wait(epfd, events, max, timeout_ms)`.
///
/// # Safety
/// `events` must be valid for writes of `max` `epoll_event`s for the whole call.
#[inline]
pub unsafe fn epoll_wait(
    epfd: RawFd,
    events: *mut libc::epoll_event,
    max: libc::c_int,
    timeout_ms: libc::c_int,
) -> libc::c_int {
    // SAFETY: the caller guarantees `events` has room for `max` entries. x86_64 and aarch64
    // both have epoll_pwait; a null sigmask makes it epoll_wait.
    unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait,
            epfd,
            events,
            max,
            timeout_ms,
            std::ptr::null::<libc::sigset_t>(),
            // The kernel's sigset size (only checked when a mask is given).
            8usize,
        ) as libc::c_int
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn send_recv_and_errors_like_libc() {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(recv(b.as_raw_fd(), &mut buf, 0), -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EAGAIN)
        );
        assert_eq!(send(a.as_raw_fd(), b"hello", libc::MSG_NOSIGNAL), 5);
        assert_eq!(recv(b.as_raw_fd(), &mut buf, 0), 5);
        assert_eq!(&buf[..5], b"hello");
        let iov = [
            libc::iovec {
                iov_base: b"ab".as_ptr() as *mut _,
                iov_len: 2,
            },
            libc::iovec {
                iov_base: b"cde".as_ptr() as *mut _,
                iov_len: 3,
            },
        ];
        // SAFETY: a zeroed msghdr is valid; the iovecs point at live static bytes.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_ptr() as *mut _;
        msg.msg_iovlen = 2;
        // SAFETY: `msg` describes two live iovecs.
        assert_eq!(unsafe { sendmsg(a.as_raw_fd(), &msg, 0) }, 5);
        let mut out = [0u8; 8];
        let riov = [libc::iovec {
            iov_base: out.as_mut_ptr().cast(),
            iov_len: out.len(),
        }];
        // SAFETY: one iovec over `out`, which lives across the call.
        assert_eq!(unsafe { readv(b.as_raw_fd(), riov.as_ptr(), 1) }, 5);
        assert_eq!(&out[..5], b"abcde");
        assert_eq!(send(-1, b"x", 0), -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
