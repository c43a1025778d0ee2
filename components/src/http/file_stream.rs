//! Response bodies streamed from memory-mapped files (`HttpServer::send_local_file`), any size,
//! with at most about [`HIGH_WATER`] of each in the connection's send queue.
//!
//! The first [`CHUNK`] leaves with the head; the rest is pumped: every `on_send` of the
//! connection (bytes handed to the kernel) tops the queue up to the mark, and a timer tick
//! (every [`TICK`] while a stream exists) catches what a callback cannot see (TLS hands
//! plaintext to the session at once, so for TLS the queue's own pending count is the guide).
//! While a file streams, the server reads no further request of that connection (its input
//! is held and the socket paused), so pipelined answers cannot land inside the file.

use crate::TcpServer;
use shardnet_runtime::ConnId;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Bytes per pumped send.
pub(crate) const CHUNK: usize = 256 << 10;
/// The queue is topped up while fewer bytes than this wait in it.
const HIGH_WATER: u64 = 768 << 10;
/// Fallback pump period while any stream exists.
const TICK: Duration = Duration::from_millis(5);

/// An answer that waits behind a streaming file.
pub(crate) enum Pending {
    /// Bytes to send.
    Bytes(Vec<u8>),
    /// Another file (its head, then its contents).
    File { head: Vec<u8>, map: memmap2::Mmap },
}

/// One file being sent.
pub(crate) struct FileStream {
    map: memmap2::Mmap,
    /// Answers sent on the connection meanwhile, in order.
    tail: RefCell<VecDeque<Pending>>,
    /// Bytes held in `tail` (files count their head only).
    tail_bytes: Cell<usize>,
    /// Next byte of `map` to send.
    pos: Cell<usize>,
    /// Bytes of this response handed to `send` so far (head included).
    handed: Cell<u64>,
    /// Bytes of the connection reported by `on_send` since the stream began.
    acked: Cell<u64>,
    /// `release` was asked while streaming: close once the file has been queued.
    pub(crate) release_after: Cell<bool>,
}

impl FileStream {
    /// The first `n` bytes of the file.
    pub(crate) fn first(&self, n: usize) -> &[u8] {
        &self.map[..n.min(self.map.len())]
    }

    /// Queues an answer behind the file; refused (`QueueFull`) past `max` bytes (0: no bound).
    pub(crate) fn push_tail(&self, p: Pending, max: usize) -> crate::Result<()> {
        let n = match &p {
            Pending::Bytes(b) => b.len(),
            Pending::File { head, .. } => head.len(),
        };
        if max != 0 && self.tail_bytes.get() + n > max {
            return Err(crate::Error::QueueFull(max));
        }
        self.tail_bytes.set(self.tail_bytes.get() + n);
        self.tail.borrow_mut().push_back(p);
        Ok(())
    }

    /// The next answer that waited behind the file.
    pub(crate) fn pop_tail(&self) -> Option<Pending> {
        let p = self.tail.borrow_mut().pop_front()?;
        let n = match &p {
            Pending::Bytes(b) => b.len(),
            Pending::File { head, .. } => head.len(),
        };
        self.tail_bytes.set(self.tail_bytes.get().saturating_sub(n));
        Some(p)
    }

    /// Takes over what still waited behind `prev` (a file that streamed before this one).
    pub(crate) fn inherit(&self, prev: &FileStream) {
        let mut rest = std::mem::take(&mut *prev.tail.borrow_mut());
        self.tail_bytes
            .set(self.tail_bytes.get() + prev.tail_bytes.replace(0));
        self.tail.borrow_mut().append(&mut rest);
        if prev.release_after.get() {
            self.release_after.set(true);
        }
    }

    /// Files waiting in the tail (each counted as streaming).
    pub(crate) fn files_waiting(&self) -> usize {
        self.tail
            .borrow()
            .iter()
            .filter(|p| matches!(p, Pending::File { .. }))
            .count()
    }

    /// Files counted as streaming: this one and those waiting in its tail.
    fn counted(&self) -> usize {
        1 + self
            .tail
            .borrow()
            .iter()
            .filter(|p| matches!(p, Pending::File { .. }))
            .count()
    }
}

/// What happens when a stream ends (the file queued, or the connection gone).
pub(crate) trait StreamEnd {
    /// The stream of `conn` finished queueing its file: send what waited behind it, then
    /// release the connection or resume reading it.
    fn stream_done(&self, conn: ConnId, s: Rc<FileStream>);
}

/// One shard's streams.
#[derive(Default)]
pub(crate) struct Streams {
    streams: RefCell<shardnet_runtime::ConnMap<Rc<FileStream>>>,
    pumping: Cell<bool>,
    ticking: Cell<bool>,
    tls: Cell<bool>,
}

impl Streams {
    pub(crate) fn set_tls(&self, tls: bool) {
        self.tls.set(tls);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.streams.borrow().is_empty()
    }

    pub(crate) fn active(&self, conn: ConnId) -> bool {
        self.streams.borrow().contains_key(&conn)
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<Rc<FileStream>> {
        self.streams.borrow().get(&conn).cloned()
    }

    /// Registers the rest of `map` (from `pos`) for `conn`, whose first `handed` bytes are
    /// about to be queued. Pumping starts with their `on_send`.
    pub(crate) fn start(
        self: &Rc<Self>,
        end: Weak<dyn StreamEnd>,
        tcp: &TcpServer,
        conn: ConnId,
        map: memmap2::Mmap,
        pos: usize,
        handed: u64,
    ) -> Rc<FileStream> {
        let s = Rc::new(FileStream {
            map,
            tail: RefCell::new(VecDeque::new()),
            tail_bytes: Cell::new(0),
            pos: Cell::new(pos),
            handed: Cell::new(handed),
            acked: Cell::new(0),
            release_after: Cell::new(false),
        });
        self.streams.borrow_mut().insert(conn, s.clone());
        if !self.ticking.replace(true) {
            let (me, tcp) = (Rc::downgrade(self), tcp.clone());
            glommio::spawn_local(async move {
                loop {
                    glommio::timer::sleep(TICK).await;
                    let Some(me) = me.upgrade() else { break };
                    let ids: Vec<ConnId> = me.streams.borrow().keys().copied().collect();
                    if ids.is_empty() {
                        me.ticking.set(false);
                        break;
                    }
                    if let Some(end) = end.upgrade() {
                        for conn in ids {
                            me.pump(&*end, &tcp, conn);
                        }
                    }
                }
            })
            .detach();
        }
        s
    }

    /// Marks `conn`'s stream to release the connection when done; false when none streams.
    pub(crate) fn release_after(&self, conn: ConnId) -> bool {
        match self.streams.borrow().get(&conn) {
            Some(s) => {
                s.release_after.set(true);
                true
            }
            None => false,
        }
    }

    /// `n` bytes of `conn` left for the kernel: top its queue up.
    pub(crate) fn on_sent(&self, end: &dyn StreamEnd, tcp: &TcpServer, conn: ConnId, n: usize) {
        let s = self.streams.borrow().get(&conn).cloned();
        if let Some(s) = s {
            s.acked.set(s.acked.get() + n as u64);
            self.pump(end, tcp, conn);
        }
    }

    /// The connection closed: its stream (if any) ends. Returns how many counted files it
    /// drops (the stream and the files waiting behind it).
    pub(crate) fn closed(&self, conn: ConnId) -> usize {
        self.streams
            .borrow_mut()
            .remove(&conn)
            .map_or(0, |s| s.counted())
    }

    /// Sends chunks of `conn`'s file while its queue holds less than the mark. Not re-entered
    /// (a send inside may report `on_send` at once).
    fn pump(&self, end: &dyn StreamEnd, tcp: &TcpServer, conn: ConnId) {
        if self.pumping.replace(true) {
            return;
        }
        loop {
            let Some(s) = self.streams.borrow().get(&conn).cloned() else {
                break;
            };
            let mut queued = s.handed.get().saturating_sub(s.acked.get());
            if self.tls.get() {
                queued = queued.max(tcp.pending_data_length(conn).unwrap_or(0) as u64);
            }
            if queued >= HIGH_WATER {
                break;
            }
            let pos = s.pos.get();
            let next = (pos + CHUNK).min(s.map.len());
            match tcp.send(conn, &s.map[pos..next]) {
                Ok(()) => {
                    s.pos.set(next);
                    s.handed.set(s.handed.get() + (next - pos) as u64);
                }
                // The queue bounds refused it: the tick tries again.
                Err(crate::Error::QueueFull(_)) => break,
                // The connection is failing: its close drops the stream.
                Err(_) => break,
            }
            if next == s.map.len() {
                self.streams.borrow_mut().remove(&conn);
                self.pumping.set(false);
                end.stream_done(conn, s);
                return;
            }
        }
        self.pumping.set(false);
    }
}
