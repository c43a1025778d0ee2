//! Batched datagram I/O: `recvmmsg` fills many datagrams with one syscall, `sendmmsg` sends
//! many. A [`RecvBatch`] / [`SendBatch`] owns its buffers and the kernel structures pointing
//! into them (rebuilt before each call, so the values can move freely); the unsafe FFI is here
//! and nowhere else.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// A socket address in the kernel's layout.
fn to_storage(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The address the kernel wrote, if it is IPv4 or IPv6.
fn from_storage(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            // An IPv4-mapped peer of a dual-stack socket is reported as IPv4.
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, u16::from_be(sin6.sin6_port))),
                None => SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )),
            })
        }
        _ => None,
    }
}

/// Up to `count` datagrams of up to `size` bytes each, received with one `recvmmsg`.
pub struct RecvBatch {
    size: usize,
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    filled: usize,
}

/// One received datagram.
pub struct Received<'a> {
    /// The sender (None for an address family other than IPv4/IPv6).
    pub from: Option<SocketAddr>,
    /// The bytes (at most the batch's datagram size).
    pub data: &'a [u8],
    /// The datagram's real length: larger than `data.len()` when it was truncated.
    pub len: usize,
}

impl RecvBatch {
    /// Room for `count` datagrams of `size` bytes (a larger datagram is truncated and its real
    /// length reported).
    pub fn new(count: usize, size: usize) -> Self {
        let count = count.clamp(1, 1024);
        let size = size.max(1);
        // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths); every pointer is
        // set before a call.
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        // SAFETY: an all-zero sockaddr_storage is a valid AF_UNSPEC address.
        let zero_ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        RecvBatch {
            size,
            bufs: vec![0; count * size],
            addrs: vec![zero_ss; count],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                count
            ],
            hdrs: vec![zero_hdr; count],
            filled: 0,
        }
    }

    /// Receives up to the batch's count of datagrams without blocking. Returns how many (0
    /// when none was waiting: `EAGAIN`), or the error.
    pub fn recv(&mut self, fd: RawFd) -> std::io::Result<usize> {
        self.filled = 0;
        let n = self.hdrs.len();
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                // SAFETY: `i * size` is within `bufs` (count × size bytes).
                iov_base: unsafe { self.bufs.as_mut_ptr().add(i * self.size) } as *mut _,
                iov_len: self.size,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.addrs[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at a live iovec over its own `size` bytes of `bufs` and
        // at its own sockaddr_storage, all owned by `self` and not moved during the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_recvmmsg,
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                std::ptr::null_mut::<libc::timespec>(),
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Ok(0),
                _ => Err(e),
            };
        }
        self.filled = r as usize;
        Ok(self.filled)
    }

    /// Datagram `i` of the last [`RecvBatch::recv`].
    pub fn get(&self, i: usize) -> Option<Received<'_>> {
        if i >= self.filled {
            return None;
        }
        let len = self.hdrs[i].msg_len as usize;
        let start = i * self.size;
        Some(Received {
            from: from_storage(&self.addrs[i]),
            data: &self.bufs[start..start + len.min(self.size)],
            len,
        })
    }

    /// How many datagrams fit in one batch.
    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }
}

/// Datagrams queued for one `sendmmsg`: their bytes in one buffer, their addresses beside.
/// With GSO on ([`SendBatch::set_gso`]; it stays off where the kernel refuses `UDP_SEGMENT`),
/// datagrams of one size to one address leave as one message of the call (see [`crate::gso_plan`]): one route lookup and
/// one socket buffer for up to 64 of them.
#[derive(Default)]
pub struct SendBatch {
    bytes: Vec<u8>,
    items: Vec<Item>,
    sent: usize,
    /// Bytes of the datagrams not sent yet.
    waiting: usize,
    /// GSO on ([`SendBatch::set_gso`]); cleared when the kernel refuses it.
    gso: bool,
    /// Datagrams that left inside GSO sends of two or more.
    gso_datagrams: u64,
}

struct Item {
    addr: SocketAddr,
    ss: libc::sockaddr_storage,
    ss_len: libc::socklen_t,
    start: usize,
    len: usize,
}

impl SendBatch {
    /// An empty queue.
    pub fn new() -> Self {
        SendBatch::default()
    }

    /// Turns UDP GSO on or off (the default).
    pub fn set_gso(&mut self, on: bool) {
        self.gso = on;
    }

    /// Whether GSO is on (it turns itself off if the kernel refuses it).
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Datagrams sent so far inside GSO sends of two or more.
    pub fn gso_datagrams(&self) -> u64 {
        self.gso_datagrams
    }

    /// Queues one datagram to `to`, made of `parts` (gathered into one datagram).
    pub fn push(&mut self, to: &SocketAddr, parts: &[&[u8]]) {
        let (ss, ss_len) = to_storage(to);
        let start = self.bytes.len();
        for p in parts {
            self.bytes.extend_from_slice(p);
        }
        let len = self.bytes.len() - start;
        self.items.push(Item {
            addr: *to,
            ss,
            ss_len,
            start,
            len,
        });
        self.waiting += len;
    }

    /// Datagrams waiting.
    pub fn len(&self) -> usize {
        self.items.len() - self.sent
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes waiting.
    pub fn bytes_len(&self) -> usize {
        self.waiting
    }

    /// Sends what is queued on `fd` (unconnected: each datagram to its address), 1024
    /// messages per syscall. Returns how many datagrams left; stops at `EAGAIN` (the rest stays
    /// queued) or at another error, which it returns after dropping the datagrams of the
    /// message that failed (UDP keeps no order guarantees worth blocking for).
    pub fn flush(&mut self, fd: RawFd) -> std::io::Result<usize> {
        if self.gso && self.len() > 1 {
            let queue: Vec<(SocketAddr, usize)> = self.items[self.sent..]
                .iter()
                .map(|it| (it.addr, it.len))
                .collect();
            let plan = crate::gso_plan::plan(&queue);
            if plan.len() < queue.len() {
                return self.flush_gso(fd, plan);
            }
        }
        self.flush_plain(fd)
    }

    fn flush_plain(&mut self, fd: RawFd) -> std::io::Result<usize> {
        let mut total = 0;
        while self.sent < self.items.len() {
            let batch = (self.items.len() - self.sent).min(1024);
            let mut iovs: Vec<libc::iovec> = Vec::with_capacity(batch);
            for it in &self.items[self.sent..self.sent + batch] {
                iovs.push(libc::iovec {
                    // SAFETY: `it.start .. it.start + it.len` is within `bytes`.
                    iov_base: unsafe { self.bytes.as_mut_ptr().add(it.start) } as *mut _,
                    iov_len: it.len,
                });
            }
            // SAFETY: all-zero mmsghdr is valid; its pointers are set below.
            let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; batch];
            for (k, h) in hdrs.iter_mut().enumerate() {
                let it = &mut self.items[self.sent + k];
                h.msg_hdr.msg_name = &mut it.ss as *mut _ as *mut libc::c_void;
                h.msg_hdr.msg_namelen = it.ss_len;
                h.msg_hdr.msg_iov = &mut iovs[k];
                h.msg_hdr.msg_iovlen = 1;
            }
            let r = sendmmsg(fd, &mut hdrs);
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EAGAIN) {
                    break;
                }
                self.waiting -= self.items[self.sent].len;
                self.sent += 1;
                self.reset_if_done();
                return Err(e);
            }
            total += r as usize;
            for it in &self.items[self.sent..self.sent + r as usize] {
                self.waiting -= it.len;
            }
            self.sent += r as usize;
            if (r as usize) < batch {
                break;
            }
        }
        self.reset_if_done();
        Ok(total)
    }

    /// Sends the queue as `plan` groups it (indexes relative to `sent`), then keeps what did
    /// not leave, in order.
    fn flush_gso(&mut self, fd: RawFd, plan: Vec<crate::gso_plan::Send>) -> std::io::Result<usize> {
        let base = self.sent;
        // done[i]: datagram base + i left (or was dropped with a failed message).
        let mut done = vec![false; self.items.len() - base];
        let mut total = 0;
        let mut result = Ok(());
        let mut retry_plain = false;
        'chunks: for chunk in plan.chunks(1024) {
            let mut iovs: Vec<libc::iovec> =
                Vec::with_capacity(chunk.iter().map(|s| s.items.len()).sum());
            for send in chunk {
                for &i in &send.items {
                    let it = &self.items[base + i];
                    iovs.push(libc::iovec {
                        // SAFETY: `it.start .. it.start + it.len` is within `bytes`.
                        iov_base: unsafe { self.bytes.as_mut_ptr().add(it.start) } as *mut _,
                        iov_len: it.len,
                    });
                }
            }
            // One control buffer per message: a cmsghdr and its u16, 8-byte aligned.
            let mut ctrl: Vec<[u64; 4]> = vec![[0; 4]; chunk.len()];
            // SAFETY: all-zero mmsghdr is valid; its pointers are set below.
            let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; chunk.len()];
            let mut off = 0;
            for (k, (h, send)) in hdrs.iter_mut().zip(chunk).enumerate() {
                let it = &mut self.items[base + send.items[0]];
                h.msg_hdr.msg_name = &mut it.ss as *mut _ as *mut libc::c_void;
                h.msg_hdr.msg_namelen = it.ss_len;
                h.msg_hdr.msg_iov = &mut iovs[off];
                h.msg_hdr.msg_iovlen = send.items.len() as _;
                off += send.items.len();
                if send.items.len() > 1 {
                    set_segment(&mut h.msg_hdr, &mut ctrl[k], send.segment as u16);
                }
            }
            let mut at = 0;
            while at < hdrs.len() {
                let r = sendmmsg(fd, &mut hdrs[at..]);
                if r < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::EAGAIN) {
                        break 'chunks;
                    }
                    let failed = &chunk[at];
                    let refused = matches!(
                        e.raw_os_error(),
                        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
                    );
                    if failed.items.len() > 1 && refused {
                        // No GSO here (a kernel or device without it): send the rest plainly.
                        self.gso = false;
                        retry_plain = true;
                        break 'chunks;
                    }
                    for &i in &failed.items {
                        done[i] = true;
                    }
                    result = Err(e);
                    break 'chunks;
                }
                for send in &chunk[at..at + r as usize] {
                    total += send.items.len();
                    if send.items.len() > 1 {
                        self.gso_datagrams += send.items.len() as u64;
                    }
                    for &i in &send.items {
                        done[i] = true;
                    }
                }
                at += r as usize;
            }
        }
        self.keep_undone(base, &done);
        if retry_plain {
            return self.flush_plain(fd).map(|n| n + total);
        }
        result.map(|()| total)
    }

    /// Keeps only the datagrams from `base` on that `done` does not mark, in order.
    fn keep_undone(&mut self, base: usize, done: &[bool]) {
        if done.iter().all(|&d| d) {
            self.sent = self.items.len();
            self.waiting = 0;
            self.reset_if_done();
            return;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len());
        let mut items = Vec::new();
        for (i, it) in self.items.drain(base..).enumerate() {
            if !done[i] {
                let start = bytes.len();
                bytes.extend_from_slice(&self.bytes[it.start..it.start + it.len]);
                items.push(Item { start, ..it });
            }
        }
        self.waiting = items.iter().map(|it| it.len).sum();
        self.bytes = bytes;
        self.items = items;
        self.sent = 0;
    }

    fn reset_if_done(&mut self) {
        if self.sent == self.items.len() {
            self.sent = 0;
            self.items.clear();
            self.bytes.clear();
            if self.bytes.capacity() > 4 << 20 {
                self.bytes.shrink_to(64 << 10);
            }
        }
    }
}

/// `sendmmsg(2)` without blocking; the raw return value.
fn sendmmsg(fd: RawFd, hdrs: &mut [libc::mmsghdr]) -> isize {
    // SAFETY: every header points at its own address, iovecs over live buffers and (GSO) its
    // own control buffer, all alive and unmoved for the call; the kernel only reads them
    // (and writes msg_len).
    unsafe {
        libc::syscall(
            libc::SYS_sendmmsg,
            fd,
            hdrs.as_mut_ptr(),
            hdrs.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        ) as isize
    }
}

/// Points `msg`'s control data at `buf` holding one `UDP_SEGMENT` message of `size`.
fn set_segment(msg: &mut libc::msghdr, buf: &mut [u64; 4], size: u16) {
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
    debug_assert!(space <= std::mem::size_of_val(buf));
    msg.msg_control = buf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer is `space` bytes, aligned for cmsghdr, and owned by the
    // caller; CMSG_FIRSTHDR is non-null for a buffer at least one header long, and
    // CMSG_DATA points inside it with room for the u16.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(msg);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn batches_round_trip_with_addresses_and_truncation() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let mut out = SendBatch::new();
        for i in 0..50u8 {
            out.push(&to, &[&[i], &vec![i; i as usize]]);
        }
        out.push(&to, &[&[0xAB; 3000]]);
        assert_eq!(out.len(), 51);
        assert_eq!(out.flush(a.as_raw_fd()).unwrap(), 51);
        assert!(out.is_empty());
        let mut rb = RecvBatch::new(16, 1500);
        let mut got = Vec::new();
        b.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 51 && std::time::Instant::now() < deadline {
            let n = rb.recv(b.as_raw_fd()).unwrap();
            for i in 0..n {
                let d = rb.get(i).unwrap();
                assert_eq!(d.from, Some(a.local_addr().unwrap()));
                got.push((d.data.to_vec(), d.len));
            }
        }
        assert_eq!(got.len(), 51);
        for (i, (d, len)) in got.iter().take(50).enumerate() {
            assert_eq!(*len, i + 1);
            assert_eq!(d[0] as usize, i);
            assert!(d[1..].iter().all(|&x| x as usize == i));
        }
        // Truncated at the batch's size, real length reported.
        assert_eq!(got[50].1, 3000);
        assert_eq!(got[50].0.len(), 1500);
        assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), 0);
    }

    /// Datagrams of one size to one address leave as GSO sends (on kernels with UDP_SEGMENT)
    /// and arrive as the same datagrams, each address's in order; off, the same bytes leave
    /// one by one.
    #[test]
    fn gso_sends_arrive_as_the_queued_datagrams() {
        for gso in [true, false] {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let peers: Vec<UdpSocket> = (0..2)
                .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
                .collect();
            let mut out = SendBatch::new();
            out.set_gso(gso);
            let mut want: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 2];
            for i in 0..40u8 {
                let p = (i % 2) as usize;
                // Mostly 100 bytes; some shorter (ending a group) or empty (a heartbeat).
                let len = match i % 13 {
                    5 => 7,
                    11 => 0,
                    _ => 100,
                };
                let d: Vec<u8> = (0..len).map(|k| i.wrapping_add(k as u8)).collect();
                out.push(&peers[p].local_addr().unwrap(), &[&d]);
                want[p].push(d);
            }
            assert_eq!(out.flush(a.as_raw_fd()).unwrap(), 40);
            assert!(out.is_empty() && out.bytes_len() == 0);
            if gso {
                assert!(out.gso(), "this kernel refused UDP_SEGMENT");
                assert!(out.gso_datagrams() >= 30, "{}", out.gso_datagrams());
            } else {
                assert_eq!(out.gso_datagrams(), 0);
            }
            for (p, sock) in peers.iter().enumerate() {
                sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                    .unwrap();
                let mut b = [0u8; 2048];
                for (k, w) in want[p].iter().enumerate() {
                    let n = sock.recv(&mut b).unwrap();
                    assert_eq!(&b[..n], &w[..], "gso {gso}, peer {p}, datagram {k}");
                }
            }
        }
    }

    #[test]
    fn ipv6_and_storage_round_trip() {
        for a in ["[::1]:4242", "127.0.0.1:9", "[fe80::1%1]:7"] {
            let a: SocketAddr = a.parse().unwrap();
            let (ss, _) = to_storage(&a);
            assert_eq!(from_storage(&ss), Some(a));
        }
    }
}
