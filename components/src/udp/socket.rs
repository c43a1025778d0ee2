//! One shard's datagram socket, shared by the UDP transports (connection-oriented and
//! connectionless): datagrams in with `recvmmsg` (edge-triggered: read until drained, a
//! bounded number of batches per turn), out through one `SendBatch` flushed with `sendmmsg`,
//! backing off a millisecond when the socket's buffer is full instead of spinning.

use shardnet_runtime::datagram::{RecvBatch, SendBatch};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};

/// Receive batches per turn before other work gets a turn (each up to `recv_batch` datagrams).
pub const RECV_BATCHES_PER_TURN: usize = 8;

pub(crate) struct DatagramSocket {
    pub fd: OwnedFd,
    rx: RefCell<RecvBatch>,
    out: RefCell<SendBatch>,
    readable: Cell<bool>,
    /// Sends wait for room in the socket's buffer until then (shard clock; 0 = not blocked).
    blocked_until: Cell<u64>,
}

impl DatagramSocket {
    /// `batch` datagrams per `recvmmsg`, each up to `max_datagram` (a longer one is seen with
    /// its real length: the buffers hold one byte more); `gso`: UDP GSO on sends.
    pub fn new(fd: OwnedFd, batch: usize, max_datagram: usize, gso: bool) -> Self {
        let mut out = SendBatch::new();
        out.set_gso(gso);
        DatagramSocket {
            fd,
            rx: RefCell::new(RecvBatch::new(batch, max_datagram + 1)),
            out: RefCell::new(out),
            readable: Cell::new(true),
            blocked_until: Cell::new(0),
        }
    }

    /// epoll said the socket is readable.
    pub fn mark_readable(&self) {
        self.readable.set(true);
    }

    /// A turn starts at `now`: a send back-off that has passed ends.
    pub fn begin_turn(&self, now: u64) {
        if self.blocked_until.get() != 0 && now >= self.blocked_until.get() {
            self.blocked_until.set(0);
        }
    }

    /// Reads up to [`RECV_BATCHES_PER_TURN`] batches, calling `f(from, datagram)` for each
    /// (a datagram longer than the maximum is cut at maximum + 1 bytes). Returns whether
    /// anything was read and the receive error, if one ended the reading.
    pub fn read(&self, mut f: impl FnMut(SocketAddr, &[u8])) -> (bool, Option<std::io::Error>) {
        let mut work = false;
        for _ in 0..RECV_BATCHES_PER_TURN {
            if !self.readable.get() {
                break;
            }
            let mut rx = self.rx.borrow_mut();
            let n = match rx.recv(self.fd.as_raw_fd()) {
                Ok(n) => n,
                Err(e) => return (true, Some(e)),
            };
            if n == 0 {
                self.readable.set(false);
                break;
            }
            work = true;
            let full = n == rx.capacity();
            for i in 0..n {
                let Some(d) = rx.get(i) else { break };
                if let Some(from) = d.from {
                    f(from, d.data);
                }
            }
            if !full {
                self.readable.set(false);
                break;
            }
        }
        (work, None)
    }

    /// Queues one datagram made of `parts` for `to`.
    pub fn queue(&self, to: &SocketAddr, parts: &[&[u8]]) {
        self.out.borrow_mut().push(to, parts);
    }

    /// Bytes queued and not sent.
    pub fn queued_bytes(&self) -> usize {
        self.out.borrow().bytes_len()
    }

    /// Datagrams sent so far inside GSO sends of two or more.
    pub fn gso_datagrams(&self) -> u64 {
        self.out.borrow().gso_datagrams()
    }

    /// Sends what is queued at time `now`; returns whether anything was queued, and the send
    /// errors met (each dropped the datagram it hit).
    pub fn flush(&self, now: u64) -> (bool, Vec<std::io::Error>) {
        let mut errors = Vec::new();
        let mut out = self.out.borrow_mut();
        if out.is_empty() {
            return (false, errors);
        }
        for _ in 0..4 {
            match out.flush(self.fd.as_raw_fd()) {
                Ok(_) => break,
                Err(e) => errors.push(e),
            }
        }
        self.blocked_until
            .set(if out.is_empty() { 0 } else { now + 1 });
        (true, errors)
    }

    /// Flushes until the queue is empty or `deadline_ms` passes (stop: the close datagrams).
    pub fn drain(&self, deadline_ms: u64) {
        loop {
            let now = shardnet_shard::clock_ms();
            self.flush(now);
            if self.out.borrow().is_empty() || now > deadline_ms {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Whether the next turn has reading or sending to do now.
    pub fn wants_turn(&self) -> bool {
        self.readable.get() || (!self.out.borrow().is_empty() && self.blocked_until.get() == 0)
    }

    /// Datagrams are waiting to be sent (and are not backing off).
    pub fn has_output(&self) -> bool {
        !self.out.borrow().is_empty() && self.blocked_until.get() == 0
    }

    /// When a send back-off ends (0: none).
    pub fn blocked_until(&self) -> u64 {
        self.blocked_until.get()
    }
}
