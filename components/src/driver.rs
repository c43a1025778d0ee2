//! The per-shard driver: one glommio task per (component, shard) that serves every connection
//! the component has on that shard.
//!
//! # One turn
//! 1. Take up to [`INBOX_BATCH`] commands from the shard's inbox (sends, disconnects, pauses,
//!    sockets handed over by the acceptor, connects).
//! 2. Collect epoll readiness without blocking; mark records readable/writable and put them on
//!    the ready list.
//! 3. Accept from the listen sockets (at most [`ACCEPT_BATCH`] per turn).
//! 4. Serve the ready list once, in order: flush the send queue (at most [`FLUSH_BUDGET`] bytes),
//!    then read into the shard's one scratch buffer and call `on_receive`, at most
//!    [`READ_BUDGET`] reads per connection. A connection that still has data goes to the back of
//!    the list: a fast sender cannot starve the others.
//! 5. Run scheduled closes (`on_close` exactly once), expire connect deadlines.
//! 6. When there was work, turn again — yielding to glommio every [`TURNS_PER_YIELD`] turns or
//!    when its preemption timer asks; otherwise park until epoll, the inbox, a deadline or
//!    `stop()` wakes the task.
//!
//! The turn reads the shard clock once (receive timestamps, deadlines); the socket syscalls go
//! through `shardnet_runtime::sys` (no glibc cancellation wrappers).
//!
//! # Re-entrancy
//! Callbacks may call any handle method. No `RefCell` borrow is held while a callback runs; a
//! close requested from inside a callback is only scheduled, and performed at step 5. Sends
//! made while a connection's queue is being flushed (from `on_send`) are queued behind it.

use crate::core::{Cmd, Core};
use crate::listener::{HandleResult, SocketOperation, CALLBACK_ERROR};
use crate::pack::{Flow, PackDecoder};
use crate::pull::{PullStore, ReadOutcome};
use crate::tls::{TlsInfo, TlsSession, ERRNO_TLS};
use crate::TlsSettings;
use crate::{ReceiveModel, ReuseAddress};
use shardnet_runtime::{ConnId, Event, InboxReceiver, Poller, ShardId};
use shardnet_shard::{
    flags, write_gather, BufferPool, ConnState, ConnTable, PushError, ShardStats, SlotDirectory,
    SlotState,
};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// Commands taken from the inbox per turn.
pub const INBOX_BATCH: usize = 1024;
/// Accepts per listen socket per turn.
pub const ACCEPT_BATCH: usize = 128;
/// Reads per connection per turn.
pub const READ_BUDGET: usize = 4;
/// Bytes flushed per connection per turn.
pub const FLUSH_BUDGET: usize = 256 << 10;
/// Smallest receive scratch buffer (bytes); `socket_buffer_size` raises it.
pub const SCRATCH_MIN: usize = 64 << 10;
/// How long accepting pauses after `accept` failed for want of fds or memory (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM) before it is tried again — the listener is edge-triggered, so waiting for a
/// new edge would strand the connections already queued.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// At most one log line per this interval for accept failures (per shard).
const ACCEPT_LOG_EVERY_MS: u64 = 10_000;
/// Bytes the cork may hold for one receive callback before they are written anyway.
pub const CORK_LIMIT: usize = 64 << 10;
/// Busy turns in a row before the driver yields to glommio's scheduler (other tasks and
/// components on the shard, the reactor). Yielding after every turn cost ~45 instructions per
/// ping-pong message in glommio's task switch and ring bookkeeping; eight turns stay well under
/// a millisecond of work at the per-turn budgets above.
pub const TURNS_PER_YIELD: u32 = 8;
/// epoll events collected per poll.
const EVENT_BATCH: usize = 1024;
const LISTEN_TOKEN_BASE: u64 = u64::MAX - 1024;

/// The callbacks a driver makes, with the component's handle already bound. One object per
/// shard, built on that shard (it may hold `!Send` listener state).
pub(crate) trait Events {
    fn prepare_listen(&self, _fd: BorrowedFd<'_>, _addr: SocketAddr) -> HandleResult {
        HandleResult::Ignore
    }
    fn accept(&self, _conn: ConnId, _peer: SocketAddr, _fd: BorrowedFd<'_>) -> HandleResult {
        HandleResult::Ignore
    }
    fn prepare_connect(&self, _conn: ConnId, _fd: BorrowedFd<'_>) -> HandleResult {
        HandleResult::Ignore
    }
    fn connect(&self, _conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    fn handshake(&self, conn: ConnId) -> HandleResult;
    fn receive(&self, conn: ConnId, data: &[u8]) -> HandleResult;
    fn pull_receive(&self, conn: ConnId, total: usize) -> HandleResult;
    fn send(&self, conn: ConnId, data: &[u8]);
    fn close(&self, conn: ConnId, op: SocketOperation, errno: i32);
    fn shutdown(&self);
}

thread_local! {
    static LOCAL: RefCell<Vec<(u64, Rc<ShardCtx>)>> = const { RefCell::new(Vec::new()) };
}

/// The driver state of component `component` if the calling thread is its shard `shard` (one
/// thread-local lookup: a thread runs at most one driver per component).
pub(crate) fn local_ctx(component: u64, shard: ShardId) -> Option<Rc<ShardCtx>> {
    LOCAL.with(|l| {
        l.borrow()
            .iter()
            .find(|(id, c)| *id == component && c.shard == shard)
            .map(|(_, c)| c.clone())
    })
}

struct State {
    table: ConnTable,
    /// Pack decoders of connections holding a partial message (idle ones hold none).
    partial: shardnet_runtime::ConnMap<PackDecoder>,
    ready: VecDeque<ConnId>,
    closing: VecDeque<(ConnId, SocketOperation, i32)>,
    listeners: Vec<OwnedFd>,
    listen_ready: bool,
    /// Accepting is backing off until then (shard clock, ms; 0 = not backing off): the last
    /// `accept` failed for want of fds or memory.
    accept_retry_at: u64,
    /// When the last accept failure was logged, and failures since (rate-limited log).
    accept_logged_at: u64,
    accept_unlogged: u64,
    next_deadline: u64,
    next_sweep: u64,
}

/// Consecutive inbox sends to one connection, written together.
#[derive(Default)]
struct SendRun {
    conn: Option<ConnId>,
    datas: Vec<Vec<u8>>,
}

/// One component's state on one shard.
pub(crate) struct ShardCtx {
    shard: ShardId,
    core: Arc<Core>,
    dir: Arc<SlotDirectory>,
    stats: Arc<ShardStats>,
    events: Rc<dyn Events>,
    pool: BufferPool,
    /// Pull model only: where received bytes wait for `fetch`.
    pull: Option<Arc<PullStore>>,
    /// TLS sessions by connection (TLS components only). Never borrowed across a callback.
    tls: RefCell<shardnet_runtime::ConnMap<Box<TlsSession>>>,
    /// Agent/Client STARTTLS: the server name of each connection until its session exists.
    tls_names: RefCell<shardnet_runtime::ConnMap<rustls_pki_types::ServerName<'static>>>,
    /// Buffer of the inbox send run, reused from turn to turn.
    run: RefCell<SendRun>,
    /// Plaintext out of TLS records, lent to one delivery at a time.
    plain: RefCell<Vec<u8>>,
    /// The shard clock read once at the start of each turn ([`Self::turn_now`]).
    now: std::cell::Cell<u64>,
    /// The connection whose receive callback is running (its raw id; 0 = none) and how many
    /// sends it has made in that callback: the first is written at once, later ones queue and
    /// leave together when the callback returns (see [`Self::cork_end`]).
    cork: std::cell::Cell<(u64, u32)>,
    poller: RefCell<Poller>,
    st: RefCell<State>,
    /// Sockets closed by a graceful disconnect that linger (see [`crate::linger`]).
    linger: Rc<crate::linger::Lingering>,
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// Applies the per-connection socket options of the configuration.
pub(crate) fn apply_conn_options(fd: BorrowedFd<'_>, cfg: &crate::TcpConfig) {
    let s = socket2::SockRef::from(&fd);
    if cfg.no_delay {
        let _ = s.set_nodelay(true);
    }
    if !cfg.keepalive_time.is_zero() {
        let ka = socket2::TcpKeepalive::new()
            .with_time(cfg.keepalive_time)
            .with_interval(cfg.keepalive_interval);
        let _ = s.set_tcp_keepalive(&ka);
    }
}

/// Creates a socket bound to `addr` (not yet listening) with the configured reuse options.
pub(crate) fn bind_listen_socket(
    addr: SocketAddr,
    cfg: &crate::TcpConfig,
    reuse_port: bool,
) -> crate::Result<OwnedFd> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(
        domain,
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(crate::Error::SocketCreate)?;
    if cfg.reuse_address != ReuseAddress::None {
        s.set_reuse_address(true)
            .map_err(crate::Error::SocketCreate)?;
    }
    if reuse_port || cfg.reuse_address == ReuseAddress::AddrAndPort {
        s.set_reuse_port(true).map_err(crate::Error::SocketCreate)?;
    }
    if addr.is_ipv6() {
        s.set_only_v6(!cfg.dual_stack)
            .map_err(crate::Error::SocketCreate)?;
    }
    s.bind(&addr.into())
        .map_err(|source| crate::Error::SocketBind { addr, source })?;
    Ok(s.into())
}

impl ShardCtx {
    pub(crate) fn new(
        shard: ShardId,
        core: Arc<Core>,
        events: Rc<dyn Events>,
    ) -> std::io::Result<Rc<ShardCtx>> {
        let link = &core.links[shard.0];
        let ctx = Rc::new(ShardCtx {
            shard,
            dir: link.dir.clone(),
            stats: link.stats.clone(),
            pull: link.pull.clone(),
            tls: RefCell::new(Default::default()),
            tls_names: RefCell::new(Default::default()),
            plain: RefCell::new(Vec::new()),
            now: std::cell::Cell::new(shardnet_shard::clock_ms()),
            cork: std::cell::Cell::new((0, 0)),
            run: RefCell::new(SendRun::default()),
            pool: BufferPool::new(core.cfg.socket_buffer_size, core.cfg.buffer_hold),
            poller: RefCell::new(Poller::new(EVENT_BATCH)?),
            st: RefCell::new(State {
                table: ConnTable::new(),
                partial: Default::default(),
                ready: VecDeque::new(),
                closing: VecDeque::new(),
                listeners: Vec::new(),
                listen_ready: false,
                accept_retry_at: 0,
                accept_logged_at: 0,
                accept_unlogged: 0,
                next_deadline: u64::MAX,
                next_sweep: 0,
            }),
            linger: Rc::default(),
            events,
            core,
        });
        LOCAL.with(|l| l.borrow_mut().push((ctx.core.id, ctx.clone())));
        Ok(ctx)
    }

    /// The shard clock now (for work that may run outside a turn, e.g. after a long park).
    fn now_ms(&self) -> u64 {
        shardnet_shard::clock_ms()
    }

    /// The shard clock as read at the start of the current turn: what receive timestamps and
    /// timer checks inside a turn use, one clock read per turn instead of one per message.
    fn turn_now(&self) -> u64 {
        self.now.get()
    }

    /// Calls `on_prepare_listen`, then listens and registers the socket.
    pub(crate) fn add_listener(&self, fd: OwnedFd, addr: SocketAddr) -> crate::Result<()> {
        if self.events.prepare_listen(fd.as_fd_borrowed(), addr) == HandleResult::Error {
            return Err(crate::Error::SocketPrepare);
        }
        socket2::SockRef::from(&fd)
            .listen(self.core.cfg.listen_backlog)
            .map_err(crate::Error::SocketListen)?;
        let mut st = self.st.borrow_mut();
        let token = LISTEN_TOKEN_BASE + st.listeners.len() as u64;
        self.poller.borrow().add_readable(fd.as_raw_fd(), token)?;
        st.listeners.push(fd);
        st.listen_ready = true;
        Ok(())
    }

    // ----- sending -------------------------------------------------------------------------

    /// Send on the owning shard. `total` pending bytes are already reserved in the directory.
    pub(crate) fn send_local(
        &self,
        conn: ConnId,
        parts: &[&[u8]],
        total: usize,
    ) -> crate::Result<()> {
        let cell = match self.dir.lookup(conn) {
            Some(c) => c,
            None => {
                // Closed while this send waited in the inbox: its reservation goes back.
                self.dir.release_orphan(total as u64);
                return Err(crate::Error::NotFound);
            }
        };
        self.send_local_in(cell, conn, parts, total)
    }

    /// [`Self::send_local`] with `conn`'s directory cell already looked up (by `Core::send`).
    pub(crate) fn send_local_in(
        &self,
        cell: &shardnet_shard::SlotCell,
        conn: ConnId,
        parts: &[&[u8]],
        total: usize,
    ) -> crate::Result<()> {
        let mut st = self.st.borrow_mut();
        let rec = match st.table.get(conn) {
            Some(r) if r.state == ConnState::Open => r,
            _ => {
                self.dir.release_pending(cell, total as u64);
                return Err(crate::Error::NotConnected);
            }
        };
        if self.core.cfg.tls.is_some() && self.tls.borrow().contains_key(&conn) {
            drop(st);
            return self.tls_send(conn, cell, parts, total);
        }
        let mut written = 0;
        // Inside this connection's receive callback, only the first send is written at once.
        let (corked, sends) = self.cork.get();
        let in_cork = corked == conn.as_u64();
        if in_cork {
            self.cork.set((corked, sends + 1));
        }
        let tried = !(rec.has_unsent() || in_cork && sends > 0);
        if tried {
            match write_gather(rec.fd, parts) {
                Ok(n) => written = n,
                Err(e) => return Err(self.send_failed(&mut st, cell, conn, total, e)),
            }
        }
        if written < total {
            let mut skip = written;
            let mut rest: Vec<&[u8]> = Vec::with_capacity(parts.len());
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                } else {
                    rest.push(&p[skip..]);
                    skip = 0;
                }
            }
            let rec = st.table.get(conn).expect("record checked above");
            match rec.queue.push(&self.pool, &rest, 0) {
                Ok(()) => {}
                Err(PushError::QueueFull) => unreachable!("queue pushed without a bound"),
                Err(PushError::Alloc(e)) => {
                    return Err(self.send_failed(&mut st, cell, conn, total - written, e))
                }
            }
            let rec = st.table.get(conn).expect("record checked above");
            let corked_full = in_cork && rec.queue.pending() >= CORK_LIMIT;
            if tried {
                // A short non-blocking write means the socket is full: EPOLLOUT follows when
                // there is room, so no flush attempt (an EAGAIN) until then.
                rec.clear(flags::WRITABLE);
            } else if corked_full && rec.has(flags::WRITABLE) && !rec.has(flags::FLUSHING) {
                // Answers held by the cork passed CORK_LIMIT: write them now rather than let
                // them count against the pending bounds until the callback returns.
                drop(st);
                self.flush(conn);
                st = self.st.borrow_mut();
            } else if !rec.has(flags::QUEUED) && rec.has(flags::WRITABLE) {
                // Queued behind older data: flush it even if the writable edge was consumed.
                rec.set(flags::QUEUED);
                st.ready.push_back(conn);
            }
        }
        if written > 0 {
            let rec = st.table.get(conn).expect("record checked above");
            rec.bytes_out += written as u64;
            drop(st);
            self.dir.release_pending(cell, written as u64);
            self.stats.add_bytes_out(written as u64);
            let mut left = written;
            for p in parts {
                if left == 0 {
                    break;
                }
                let n = left.min(p.len());
                if n > 0 {
                    self.events.send(conn, &p[..n]);
                }
                left -= n;
            }
        }
        Ok(())
    }

    /// A send failed with `e`: releases the `unsent` reserved bytes and schedules
    /// `on_close(Send, errno)`.
    fn send_failed(
        &self,
        st: &mut State,
        cell: &shardnet_shard::SlotCell,
        conn: ConnId,
        unsent: usize,
        e: std::io::Error,
    ) -> crate::Error {
        self.dir.release_pending(cell, unsent as u64);
        Self::schedule_close_in(st, &self.dir, conn, SocketOperation::Send, errno_of(&e));
        crate::Error::Io(e)
    }

    /// Writes queued data of `conn` (writable edge, or budget left over from the last turn).
    fn flush(&self, conn: ConnId) {
        self.flush_in(conn, false);
    }

    /// [`Self::flush`]; with `closing`, also for a connection whose close is scheduled (a
    /// callback that answered and then returned Error: its answers still get one try).
    fn flush_in(&self, conn: ConnId, closing: bool) {
        let (fd, mut q) = {
            let mut st = self.st.borrow_mut();
            let rec = match st.table.get(conn) {
                Some(r) if r.state == ConnState::Open => r,
                Some(r) if closing && r.state == ConnState::Closing => r,
                _ => return,
            };
            if rec.queue.is_empty() {
                if rec.has(flags::CLOSE_AFTER_FLUSH) {
                    Self::schedule_close_in(&mut st, &self.dir, conn, SocketOperation::Close, 0);
                }
                return;
            }
            rec.set(flags::FLUSHING);
            (rec.fd, std::mem::take(&mut rec.queue))
        };
        let before = q.pending();
        let res = q.flush(fd, self.core.cfg.send_policy, FLUSH_BUDGET, &mut |b| {
            self.events.send(conn, b)
        });
        let after = q.pending();
        let mut st = self.st.borrow_mut();
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        rec.clear(flags::FLUSHING);
        let mut newer = std::mem::take(&mut rec.queue);
        q.append(&mut newer);
        rec.queue = q;
        match res {
            Err(e) => {
                // Bytes the kernel took before the error left the queue: they are no longer
                // pending (what is still queued is returned when the close drops it).
                let written = before.saturating_sub(after) as u64;
                if written > 0 {
                    if let Some(c) = self.dir.lookup(conn) {
                        self.dir.release_pending(c, written);
                    }
                }
                Self::schedule_close_in(
                    &mut st,
                    &self.dir,
                    conn,
                    SocketOperation::Send,
                    errno_of(&e),
                )
            }
            Ok(out) => {
                rec.bytes_out += out.written as u64;
                if let Some(c) = self.dir.lookup(conn) {
                    self.dir.release_pending(c, out.written as u64);
                }
                self.stats.add_bytes_out(out.written as u64);
                if out.would_block {
                    rec.clear(flags::WRITABLE);
                } else if rec.queue.is_empty() {
                    if rec.has(flags::CLOSE_AFTER_FLUSH) {
                        Self::schedule_close_in(
                            &mut st,
                            &self.dir,
                            conn,
                            SocketOperation::Close,
                            0,
                        );
                    }
                } else if !rec.has(flags::QUEUED) {
                    rec.set(flags::QUEUED);
                    st.ready.push_back(conn);
                }
            }
        }
    }

    // ----- control ---------------------------------------------------------------------------

    fn schedule_close_in(
        st: &mut State,
        dir: &SlotDirectory,
        conn: ConnId,
        op: SocketOperation,
        errno: i32,
    ) {
        if let Some(rec) = st.table.get(conn) {
            if rec.state != ConnState::Closing {
                rec.state = ConnState::Closing;
                if let Some(c) = dir.lookup(conn) {
                    c.set_state(SlotState::Closing);
                }
                st.closing.push_back((conn, op, errno));
            }
        }
    }

    fn schedule_close(&self, conn: ConnId, op: SocketOperation, errno: i32) {
        Self::schedule_close_in(&mut self.st.borrow_mut(), &self.dir, conn, op, errno);
    }

    /// Closes `conn` with `on_close(op, errno)` after one more try at writing its queue.
    pub(crate) fn close_with(&self, conn: ConnId, op: SocketOperation, errno: i32) {
        let flushing = {
            let mut st = self.st.borrow_mut();
            match st.table.get(conn) {
                Some(rec) => {
                    // The peer may still be sending (it is why we close): linger, so that the
                    // last frame is not destroyed by a reset.
                    rec.set(flags::LINGER);
                    rec.has(flags::FLUSHING)
                }
                None => return,
            }
        };
        if !flushing {
            self.flush(conn);
        }
        self.schedule_close(conn, op, errno);
        self.kick();
    }

    pub(crate) fn disconnect(&self, conn: ConnId, force: bool) {
        if force {
            if let Some(rec) = self.st.borrow_mut().table.get(conn) {
                rec.clear(flags::LINGER);
            }
            self.schedule_close(conn, SocketOperation::Close, 0);
        } else {
            if let Some(rec) = self.st.borrow_mut().table.get(conn) {
                rec.set(flags::LINGER);
            }
            self.close_when_flushed(conn);
        }
        self.kick();
    }

    /// A graceful close: at once if nothing waits to be sent, otherwise once the send queue
    /// (and TLS's ciphertext) has left — `on_close(Close, 0)` — or, if that takes longer than
    /// `flush_timeout`, `on_close(Send, ETIMEDOUT)`. Sends keep being accepted meanwhile.
    fn close_when_flushed(&self, conn: ConnId) {
        let tls_pending = self
            .tls
            .borrow()
            .get(&conn)
            .is_some_and(|t| t.wants_write() || t.unflushed > 0);
        let mut st = self.st.borrow_mut();
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        if rec.state != ConnState::Open || (!rec.has_unsent() && !tls_pending) {
            Self::schedule_close_in(&mut st, &self.dir, conn, SocketOperation::Close, 0);
            return;
        }
        if rec.has(flags::CLOSE_AFTER_FLUSH) {
            return;
        }
        rec.set(flags::CLOSE_AFTER_FLUSH);
        let t = self.core.cfg.flush_timeout;
        if !t.is_zero() {
            let d = self.now_ms() + (t.as_millis() as u64).max(1);
            rec.deadline_ms = if rec.deadline_ms == 0 {
                d
            } else {
                rec.deadline_ms.min(d)
            };
            st.next_deadline = st.next_deadline.min(d);
        }
    }

    /// `recv` reported the peer's end-of-stream. The peer sends no more but may still read:
    /// nothing is read again, and the connection closes once what was queued has been sent.
    fn peer_finished(&self, conn: ConnId) {
        if let Some(rec) = self.st.borrow_mut().table.get(conn) {
            rec.set(flags::EOF_READ);
            rec.clear(flags::READABLE);
        }
        self.close_when_flushed(conn);
    }

    /// Wakes this shard's driver if it is parked. Calls that queue work for the next turn
    /// (disconnect, pause, handshake) may come from outside a turn — a user task or another
    /// component's callback on this shard — and must not wait for an unrelated event.
    fn kick(&self) {
        self.core.links[self.shard.0].inbox.wake();
    }

    /// Closes or ready connections are waiting for a turn.
    fn has_local_work(&self) -> bool {
        let st = self.st.borrow();
        !st.ready.is_empty() || !st.closing.is_empty()
    }

    pub(crate) fn pause(&self, conn: ConnId, pause: bool) {
        let mut st = self.st.borrow_mut();
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        if pause {
            rec.set(flags::PAUSED);
        } else if rec.has(flags::PAUSED) {
            rec.clear(flags::PAUSED);
            // Data may have arrived while paused and its edge been consumed: try a read.
            rec.set(flags::READABLE);
            if !rec.has(flags::QUEUED) {
                rec.set(flags::QUEUED);
                st.ready.push_back(conn);
            }
        }
        drop(st);
        self.kick();
    }

    /// Performs scheduled closes: the record goes, the fd is closed, `on_close` runs (the extra
    /// value is still readable there), then the slot is released.
    fn run_closes(&self) -> bool {
        let mut any = false;
        loop {
            let item = self.st.borrow_mut().closing.pop_front();
            let Some((conn, op, errno)) = item else { break };
            let rec = {
                let mut st = self.st.borrow_mut();
                st.partial.remove(&conn);
                st.table.remove(conn)
            };
            if let Some(p) = &self.pull {
                p.remove(conn);
            }
            let session = self.tls.borrow_mut().remove(&conn);
            self.tls_names.borrow_mut().remove(&conn);
            let Some(mut rec) = rec else { continue };
            any = true;
            // What is dropped unsent leaves the pending counts here (bytes still in flight in
            // the inbox are released when their send is refused).
            let dropped = rec.queue.pending() as u64 + session.as_ref().map_or(0, |t| t.unflushed);
            if dropped > 0 {
                if let Some(c) = self.dir.lookup(conn) {
                    self.dir.release_pending(c, dropped);
                }
            }
            rec.queue.clear();
            if let Some(mut t) = session {
                if op == SocketOperation::Close && errno == 0 && rec.fd >= 0 && !t.is_handshaking()
                {
                    // A graceful close tells the peer with close_notify (best effort).
                    t.close_notify();
                    let _ = t.flush(rec.fd);
                }
            }
            if rec.has(flags::COUNTED) {
                self.stats.conn_closed();
            }
            self.core.load.closed(self.shard);
            // The socket stays open during on_close, so its addresses are still readable there
            // (HP-Socket's contract); the directory forgets the fd before it is closed, so no
            // other thread can read a reused fd number under this id.
            self.events.close(conn, op, errno);
            if let Some(c) = self.dir.lookup(conn) {
                c.set_fd(-1);
            }
            if rec.fd >= 0 {
                // SAFETY: the record owned this fd; closing it also removes it from epoll.
                let fd = unsafe { OwnedFd::from_raw_fd(rec.fd) };
                let linger = self.core.cfg.lingering_close;
                // A graceful disconnect (or a layer's protocol-error close) while the peer may
                // still send: linger (the peer's end-of-stream or a forced close do not).
                if !linger.is_zero()
                    && rec.has(flags::LINGER)
                    && !rec.has(flags::EOF_READ)
                    && !rec.has(flags::READ_CLOSED)
                    && !self.core.is_stopping()
                    && self.poller.borrow().delete(rec.fd).is_ok()
                {
                    let deadline = self.now_ms() + linger.as_millis() as u64;
                    self.linger.adopt(fd, deadline);
                } else {
                    drop(fd);
                }
            }
            self.dir.release(conn);
        }
        any
    }

    fn open_record(&self, conn: ConnId, fd: RawFd, state: ConnState) -> std::io::Result<()> {
        let now = self.now_ms();
        {
            let mut st = self.st.borrow_mut();
            let rec = st.table.insert(conn, fd, state, now);
            if state == ConnState::Open {
                rec.set(flags::COUNTED);
            }
            if let Some(c) = self.dir.lookup(conn) {
                c.set_fd(fd);
                if state == ConnState::Open {
                    c.mark_opened(now);
                    c.set_state(SlotState::Open);
                } else {
                    c.set_state(SlotState::Reserved);
                }
            }
        }
        if state == ConnState::Open {
            self.stats.conn_opened();
        }
        self.poller.borrow().add(fd, conn.as_u64())
    }

    // ----- accepting ----------------------------------------------------------------------------

    fn accept_some(&self) -> bool {
        let fds: Vec<RawFd> = {
            let mut st = self.st.borrow_mut();
            if !st.listen_ready {
                return false;
            }
            if st.accept_retry_at != 0 {
                if self.turn_now() < st.accept_retry_at {
                    return false;
                }
                st.accept_retry_at = 0;
            }
            st.listen_ready = false;
            st.listeners.iter().map(|l| l.as_raw_fd()).collect()
        };
        let mut any = false;
        for lfd in fds {
            for i in 0..ACCEPT_BATCH {
                // SAFETY: a zeroed sockaddr_storage is a valid out-buffer for accept4.
                let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                // SAFETY: ss/len describe a writable buffer of the stated size.
                let fd = unsafe {
                    libc::accept4(
                        lfd,
                        &mut ss as *mut _ as *mut libc::sockaddr,
                        &mut len,
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    )
                };
                if fd < 0 {
                    let e = std::io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EINTR) | Some(libc::ECONNABORTED) => continue,
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                            // Out of fds or memory: connections wait in the kernel's queue.
                            // No new edge will come for them, so retry on a timer (no spin).
                            self.accept_starved(e);
                            return any;
                        }
                        _ => break, // EAGAIN: drained; the next connection brings an edge
                    }
                }
                any = true;
                // SAFETY: accept4 returned a new fd we now own.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                // SAFETY: accept4 filled `len` bytes of a sockaddr_storage.
                let peer = unsafe { socket2::SockAddr::new(ss, len) }
                    .as_socket()
                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                self.place_accepted(owned, peer);
                if i + 1 == ACCEPT_BATCH {
                    self.st.borrow_mut().listen_ready = true;
                }
            }
        }
        any
    }

    /// `accept` failed for want of resources: count it, log it (at most once per
    /// [`ACCEPT_LOG_EVERY_MS`]), and retry after [`ACCEPT_RETRY`].
    fn accept_starved(&self, e: std::io::Error) {
        self.stats.inc_accept_errors();
        let now = self.now_ms();
        let mut st = self.st.borrow_mut();
        st.listen_ready = true;
        st.accept_retry_at = now + ACCEPT_RETRY.as_millis() as u64;
        st.accept_unlogged += 1;
        if st.accept_logged_at == 0 || now >= st.accept_logged_at + ACCEPT_LOG_EVERY_MS {
            tracing::warn!(
                shard = self.shard.0,
                failures = st.accept_unlogged,
                "accept failed: {e}; retrying every {} ms until it succeeds",
                ACCEPT_RETRY.as_millis()
            );
            st.accept_logged_at = now;
            st.accept_unlogged = 0;
        }
    }

    fn place_accepted(&self, fd: OwnedFd, peer: SocketAddr) {
        if !self
            .core
            .load
            .try_open(self.shard, self.core.cfg.max_connections)
        {
            self.stats.inc_rejected();
            return; // dropping `fd` closes it: the peer sees the connection end at once
        }
        if self.core.cfg.accept_placement == shardnet_runtime::AcceptPlacement::Balanced {
            let target = self.core.load.least_loaded();
            if target != self.shard {
                // Count the hand-off at once so a burst of accepts spreads evenly.
                self.core.load.moved(self.shard, target);
                let inbox = &self.core.links[target.0].inbox;
                match inbox.try_send(Cmd::Adopt { fd, peer }) {
                    Ok(()) => return,
                    Err(shardnet_runtime::SendError::Full(Cmd::Adopt { fd, peer }))
                    | Err(shardnet_runtime::SendError::Closed(Cmd::Adopt { fd, peer })) => {
                        self.core.load.moved(target, self.shard);
                        self.adopt(fd, peer);
                        return;
                    }
                    Err(_) => unreachable!("try_send hands back the Adopt it was given"),
                }
            }
        }
        self.adopt(fd, peer);
    }

    /// Takes ownership of an accepted socket (already counted in the shard load).
    fn adopt(&self, fd: OwnedFd, peer: SocketAddr) {
        let Some(conn) = self.dir.reserve() else {
            self.core.load.closed(self.shard);
            self.stats.inc_rejected();
            return;
        };
        apply_conn_options(fd.as_fd_borrowed(), &self.core.cfg);
        if self.events.accept(conn, peer, fd.as_fd_borrowed()) == HandleResult::Error {
            self.core.load.closed(self.shard);
            self.dir.release(conn);
            return; // no on_close: the connection never passed on_accept
        }
        self.stats.inc_accepted();
        let raw = fd.into_raw_fd();
        if let Err(e) = self.open_record(conn, raw, ConnState::Open) {
            self.schedule_close(conn, SocketOperation::Accept, errno_of(&e));
            return;
        }
        if self.core.cfg.tls.is_some()
            && self.core.cfg.auto_handshake
            && !self.new_tls_session(conn, SocketOperation::Accept, None)
        {
            return;
        }
        self.begin_handshake(conn);
    }

    /// Creates `conn`'s TLS session (server role, or client role for `name` — else the name
    /// kept for a STARTTLS connection); false, with a close scheduled with `op`, when it cannot.
    fn new_tls_session(
        &self,
        conn: ConnId,
        op: SocketOperation,
        name: Option<rustls_pki_types::ServerName<'static>>,
    ) -> bool {
        let made = match &self.core.cfg.tls {
            Some(TlsSettings::Server(cfg)) => TlsSession::server(&cfg.rustls),
            Some(TlsSettings::Client(cfg)) => {
                match name.or_else(|| self.tls_names.borrow_mut().remove(&conn)) {
                    Some(name) => TlsSession::client(&cfg.rustls, name),
                    None => Err(crate::tls::rustls::Error::General("no server name".into())),
                }
            }
            None => Err(crate::tls::rustls::Error::General(
                "not a TLS component".into(),
            )),
        };
        match made {
            Ok(t) => {
                self.tls.borrow_mut().insert(conn, Box::new(t));
                true
            }
            Err(_) => {
                self.schedule_close(conn, op, ERRNO_TLS);
                false
            }
        }
    }

    /// STARTTLS (`auto_handshake(false)` with TLS): the connection so far spoke plain TCP; its
    /// TLS handshake starts now and `on_handshake` follows when it completes.
    pub(crate) fn start_tls(&self, conn: ConnId) {
        if self.tls.borrow().contains_key(&conn) {
            return;
        }
        let open = matches!(
            self.st.borrow_mut().table.get(conn),
            Some(r) if r.state == ConnState::Open
        );
        if open && self.new_tls_session(conn, SocketOperation::Receive, None) {
            self.begin_handshake(conn);
        }
    }

    /// The connection is up. TLS: its handshake starts (bounded by the handshake timeout) and
    /// `on_handshake` follows when rustls finishes it; STARTTLS waits for `start_tls`. Plain
    /// TCP: with `auto_handshake` the handshake completes at once, otherwise it waits for
    /// [`Self::complete_handshake`], bounded by `handshake_timeout`.
    fn begin_handshake(&self, conn: ConnId) {
        if let Some(tls) = &self.core.cfg.tls {
            if !self.tls.borrow().contains_key(&conn) {
                return; // STARTTLS: plain until `start_tls`
            }
            // TLS: the handshake runs now; on_handshake follows when rustls finishes it.
            let timeout = self
                .core
                .cfg
                .handshake_timeout
                .unwrap_or_else(|| tls.handshake_timeout());
            let d = self.now_ms() + (timeout.as_millis() as u64).max(1);
            {
                let mut st = self.st.borrow_mut();
                let Some(rec) = st.table.get(conn) else {
                    return;
                };
                rec.set(flags::HANDSHAKING);
                rec.deadline_ms = d;
                st.next_deadline = st.next_deadline.min(d);
            }
            self.tls_flush(conn); // the client's ClientHello
            return;
        }
        if self.core.cfg.auto_handshake {
            if self.events.handshake(conn) == HandleResult::Error {
                self.schedule_close(conn, SocketOperation::Close, CALLBACK_ERROR);
            }
            return;
        }
        let mut st = self.st.borrow_mut();
        let deadline = self
            .core
            .cfg
            .handshake_timeout
            .map(|t| self.now_ms() + (t.as_millis() as u64).max(1));
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        rec.set(flags::HANDSHAKING);
        if let Some(d) = deadline {
            rec.deadline_ms = d;
            st.next_deadline = st.next_deadline.min(d);
        }
    }

    /// The deadline a record keeps when its handshake ends: none, unless a graceful close is
    /// waiting for its queue (the two share `deadline_ms`), whose flush window then restarts.
    fn flush_deadline_after_handshake(&self, rec_flags: u16) -> u64 {
        let t = self.core.cfg.flush_timeout;
        if rec_flags & flags::CLOSE_AFTER_FLUSH != 0 && !t.is_zero() {
            self.now_ms() + (t.as_millis() as u64).max(1)
        } else {
            0
        }
    }

    /// Ends a pending handshake: clears its deadline and calls `on_handshake`.
    pub(crate) fn complete_handshake(&self, conn: ConnId) {
        {
            let mut st = self.st.borrow_mut();
            match st.table.get(conn) {
                Some(r) if r.state == ConnState::Open && r.has(flags::HANDSHAKING) => {
                    r.clear(flags::HANDSHAKING);
                    r.deadline_ms = self.flush_deadline_after_handshake(r.flags);
                    let d = r.deadline_ms;
                    if d != 0 {
                        st.next_deadline = st.next_deadline.min(d);
                    }
                }
                _ => return,
            }
        }
        if self.events.handshake(conn) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Close, CALLBACK_ERROR);
            self.kick();
        }
    }

    /// Pull model: a fetch made room for `conn`; read it again.
    fn resume_read(&self, conn: ConnId) {
        let mut st = self.st.borrow_mut();
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        rec.set(flags::READABLE);
        if !rec.has(flags::QUEUED) {
            rec.set(flags::QUEUED);
            st.ready.push_back(conn);
        }
    }

    // ----- connecting ---------------------------------------------------------------------------

    fn start_connect(
        &self,
        conn: ConnId,
        addr: SocketAddr,
        local: Option<SocketAddr>,
        server_name: Option<String>,
    ) {
        use socket2::{Domain, Protocol, Socket, Type};
        let abort = |this: &Self| {
            this.core.load.closed(this.shard);
            this.dir.release(conn);
        };
        let domain = if addr.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let sock = match Socket::new(
            domain,
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        ) {
            Ok(s) => s,
            Err(e) => {
                // The socket never existed: report as a failed connect so the caller learns.
                self.open_failed(conn, errno_of(&e));
                return;
            }
        };
        if let Some(l) = local {
            if self.core.cfg.reuse_address != ReuseAddress::None {
                let _ = sock.set_reuse_address(true);
            }
            if let Err(e) = sock.bind(&l.into()) {
                self.open_failed(conn, errno_of(&e));
                return;
            }
        }
        let fd: OwnedFd = sock.into();
        apply_conn_options(fd.as_fd_borrowed(), &self.core.cfg);
        if self.events.prepare_connect(conn, fd.as_fd_borrowed()) == HandleResult::Error {
            abort(self);
            return;
        }
        let r = socket2::SockRef::from(&fd).connect(&addr.into());
        let raw = fd.into_raw_fd();
        if let Err(e) = self.open_record(conn, raw, ConnState::Connecting) {
            self.schedule_close(conn, SocketOperation::Connect, errno_of(&e));
            return;
        }
        if self.core.cfg.tls.is_some() {
            let name = server_name
                .and_then(|n| rustls_pki_types::ServerName::try_from(n).ok())
                .unwrap_or_else(|| addr.ip().into());
            if !self.core.cfg.auto_handshake {
                // STARTTLS: the session is made when the application starts it.
                self.tls_names.borrow_mut().insert(conn, name);
            } else if !self.new_tls_session(conn, SocketOperation::Connect, Some(name)) {
                return;
            }
        }
        match r {
            Ok(()) => self.finish_connect(conn),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                let deadline = self.now_ms() + self.core.cfg.connect_timeout.as_millis() as u64;
                let mut st = self.st.borrow_mut();
                if let Some(rec) = st.table.get(conn) {
                    rec.deadline_ms = deadline;
                }
                st.next_deadline = st.next_deadline.min(deadline);
            }
            Err(e) => self.schedule_close(conn, SocketOperation::Connect, errno_of(&e)),
        }
    }

    /// A connect that failed before it had a socket: give it a record so on_close reports it.
    fn open_failed(&self, conn: ConnId, errno: i32) {
        let now = self.now_ms();
        let mut st = self.st.borrow_mut();
        // No socket: fd -1 (run_closes closes only real fds).
        st.table.insert(conn, -1, ConnState::Connecting, now);
        Self::schedule_close_in(&mut st, &self.dir, conn, SocketOperation::Connect, errno);
    }

    fn finish_connect(&self, conn: ConnId) {
        let fd = {
            let mut st = self.st.borrow_mut();
            match st.table.get(conn) {
                Some(r) if r.state == ConnState::Connecting => r.fd,
                _ => return,
            }
        };
        // SAFETY: borrowed only for the getsockopt call; the record owns the fd.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        let err = match socket2::SockRef::from(&b).take_error() {
            Ok(None) => 0,
            Ok(Some(e)) => errno_of(&e),
            Err(e) => errno_of(&e),
        };
        if err != 0 {
            self.schedule_close(conn, SocketOperation::Connect, err);
            return;
        }
        // A writable edge without an error can still mean "not yet" for some stacks: confirm.
        if socket2::SockRef::from(&b).peer_addr().is_err() {
            return;
        }
        {
            let mut st = self.st.borrow_mut();
            let Some(rec) = st.table.get(conn) else {
                return;
            };
            rec.state = ConnState::Open;
            rec.deadline_ms = 0;
            rec.set(flags::COUNTED | flags::WRITABLE);
            rec.created_ms = self.now_ms();
            rec.last_recv_ms = rec.created_ms;
            if let Some(c) = self.dir.lookup(conn) {
                c.mark_opened(rec.created_ms);
                c.set_state(SlotState::Open);
            }
        }
        self.stats.conn_opened();
        if self.events.connect(conn) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Connect, CALLBACK_ERROR);
            return;
        }
        self.begin_handshake(conn);
    }

    /// Closes connections silent for longer than the idle timeout (if one is set).
    fn sweep_idle(&self) {
        let Some(t) = self.core.cfg.idle_timeout else {
            return;
        };
        let limit = t.as_millis() as u64;
        let now = self.turn_now();
        let mut st = self.st.borrow_mut();
        if st.next_sweep > now {
            return;
        }
        st.next_sweep = now + (limit / 4).max(1);
        for id in st.table.ids() {
            let rec = st.table.get(id).expect("listed id");
            if rec.state == ConnState::Open && now.saturating_sub(rec.last_recv_ms) >= limit {
                Self::schedule_close_in(
                    &mut st,
                    &self.dir,
                    id,
                    SocketOperation::Close,
                    libc::ETIMEDOUT,
                );
            }
        }
    }

    /// When the driver must next wake for a timer (connect deadline or idle sweep).
    fn next_wakeup(&self) -> u64 {
        let st = self.st.borrow();
        let mut next = st.next_deadline;
        if self.core.cfg.idle_timeout.is_some() {
            next = next.min(st.next_sweep);
        }
        if st.accept_retry_at != 0 {
            next = next.min(st.accept_retry_at);
        }
        next
    }

    fn expire_deadlines(&self) {
        self.sweep_idle();
        let now = self.turn_now();
        let mut st = self.st.borrow_mut();
        if st.next_deadline > now {
            return;
        }
        let mut next = u64::MAX;
        let mut expired = Vec::new();
        for id in st.table.ids() {
            let rec = st.table.get(id).expect("listed id");
            let op = match rec.state {
                ConnState::Connecting => SocketOperation::Connect,
                ConnState::Open if rec.has(flags::HANDSHAKING) => SocketOperation::Close,
                // A graceful close whose queued bytes did not leave in time.
                ConnState::Open if rec.has(flags::CLOSE_AFTER_FLUSH) => SocketOperation::Send,
                _ => continue,
            };
            if rec.deadline_ms != 0 {
                if rec.deadline_ms <= now {
                    expired.push((id, op));
                } else {
                    next = next.min(rec.deadline_ms);
                }
            }
        }
        st.next_deadline = next;
        for (id, op) in expired {
            Self::schedule_close_in(&mut st, &self.dir, id, op, libc::ETIMEDOUT);
        }
    }

    // ----- serving ------------------------------------------------------------------------------

    fn on_event(&self, ev: Event) {
        let mut st = self.st.borrow_mut();
        if ev.token >= LISTEN_TOKEN_BASE {
            st.listen_ready = true;
            return;
        }
        let conn = ConnId::from_u64(ev.token);
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        if ev.readable {
            rec.set(flags::READABLE);
        }
        if ev.writable {
            rec.set(flags::WRITABLE);
        }
        if ev.read_closed {
            // The end of the stream (or an error) waits behind any unread data; see READ_CLOSED.
            rec.set(flags::READ_CLOSED | flags::READABLE);
        }
        if !rec.has(flags::QUEUED) {
            rec.set(flags::QUEUED);
            st.ready.push_back(conn);
        }
    }

    /// Writes the pending run of posted sends (their pending bytes were reserved one by one):
    /// one `send_local`, so one gather write, for all of them.
    fn flush_run(&self, run: &mut SendRun) {
        let Some(conn) = run.conn.take() else {
            return;
        };
        match run.datas.as_slice() {
            [one] => {
                let _ = self.send_local(conn, &[one], one.len());
            }
            many => {
                let parts: Vec<&[u8]> = many.iter().map(|d| &d[..]).collect();
                let total = parts.iter().map(|p| p.len()).sum();
                let _ = self.send_local(conn, &parts, total);
            }
        }
        run.datas.clear();
    }

    /// Applies one inbox command. Sends join `run` while they go to the same connection
    /// (written by [`Self::flush_run`]); any other command writes the run first, so order holds.
    fn handle_cmd(&self, cmd: Cmd, run: &mut SendRun) {
        if !matches!(&cmd, Cmd::Send { conn, .. } if run.conn == Some(*conn)) {
            self.flush_run(run);
        }
        match cmd {
            Cmd::Send { conn, data } => {
                run.conn = Some(conn);
                run.datas.push(data);
            }
            Cmd::SendHooked { conn, data, hook } => {
                hook();
                if !data.is_empty() {
                    run.conn = Some(conn);
                    run.datas.push(data);
                }
            }
            Cmd::Disconnect { conn, force } => self.disconnect(conn, force),
            Cmd::Pause { conn, pause } => self.pause(conn, pause),
            Cmd::Adopt { fd, peer } => {
                if self.core.is_stopping() {
                    self.core.load.closed(self.shard);
                } else {
                    self.adopt(fd, peer)
                }
            }
            Cmd::Handshake { conn } => self.complete_handshake(conn),
            Cmd::StartTls { conn } => self.start_tls(conn),
            Cmd::Connect {
                conn,
                addr,
                local,
                server_name,
            } => {
                if self.core.is_stopping() {
                    self.core.load.closed(self.shard);
                    self.dir.release(conn);
                } else {
                    self.start_connect(conn, addr, local, server_name)
                }
            }
        }
    }

    /// Hands received bytes to the listener through the receive model. False when the
    /// connection is closing.
    fn deliver(&self, conn: ConnId, data: &[u8]) -> bool {
        match &self.core.cfg.receive_model {
            // Bytes that did not come straight from the socket (TLS plaintext); plain Pull
            // reads go into the store directly (see `serve`).
            ReceiveModel::Pull => {
                let store = self.pull.as_ref().expect("a Pull component has a store");
                let total = store.append(conn, data);
                self.deliver_pull(conn, total)
            }
            ReceiveModel::Push => {
                self.stats.inc_msgs_in();
                if self.events.receive(conn, data) == HandleResult::Error {
                    self.schedule_close(conn, SocketOperation::Receive, CALLBACK_ERROR);
                    return false;
                }
                true
            }
            ReceiveModel::Pack(cfg) => {
                let mut dec = {
                    // Skip the hash lookup when no connection holds a partial message.
                    let mut st = self.st.borrow_mut();
                    if st.partial.is_empty() {
                        PackDecoder::new()
                    } else {
                        st.partial.remove(&conn).unwrap_or_default()
                    }
                };
                let r = dec.feed(cfg, data, &mut |msg| {
                    // A callback may have closed the connection: deliver nothing more.
                    let open = matches!(
                        self.st.borrow_mut().table.get(conn),
                        Some(r) if r.state == ConnState::Open
                    );
                    if !open {
                        return Flow::Stop;
                    }
                    self.stats.inc_msgs_in();
                    if self.events.receive(conn, msg) == HandleResult::Error {
                        Flow::Stop
                    } else {
                        Flow::Continue
                    }
                });
                match r {
                    Ok(Flow::Continue) => {
                        if !dec.is_idle() {
                            self.st.borrow_mut().partial.insert(conn, dec);
                        }
                        true
                    }
                    Ok(Flow::Stop) => {
                        self.schedule_close(conn, SocketOperation::Receive, CALLBACK_ERROR);
                        false
                    }
                    Err(e) => {
                        self.schedule_close(conn, SocketOperation::Receive, e.errno());
                        false
                    }
                }
            }
        }
    }

    /// Serves one ready connection within its budgets.
    fn serve(&self, conn: ConnId, scratch: &mut [u8]) {
        let (connecting, writable_with_data) = {
            let mut st = self.st.borrow_mut();
            let Some(rec) = st.table.get(conn) else {
                return;
            };
            rec.clear(flags::QUEUED);
            (
                rec.state == ConnState::Connecting,
                rec.state == ConnState::Open && rec.has(flags::WRITABLE) && !rec.queue.is_empty(),
            )
        };
        if connecting {
            let ready = {
                let mut st = self.st.borrow_mut();
                st.table
                    .get(conn)
                    .is_some_and(|r| r.has(flags::WRITABLE) || r.has(flags::READ_CLOSED))
            };
            if ready {
                self.finish_connect(conn);
            }
            // The edge that completed the connect may also have carried data and even the
            // peer's FIN (a server that answers at once and closes): no later edge will
            // announce them, so serve the connection now if it is open.
            let open = matches!(
                self.st.borrow_mut().table.get(conn),
                Some(r) if r.state == ConnState::Open
            );
            if !open {
                return;
            }
        }
        if writable_with_data {
            self.flush(conn);
        }
        let tls_component = self.core.cfg.tls.is_some();
        if tls_component {
            let writable = self
                .st
                .borrow_mut()
                .table
                .get(conn)
                .is_some_and(|r| r.state == ConnState::Open && r.has(flags::WRITABLE));
            if writable
                && self
                    .tls
                    .borrow()
                    .get(&conn)
                    .is_some_and(|t| t.wants_write())
            {
                self.tls_flush(conn);
            }
        }
        let mut reads = 0;
        loop {
            let fd = {
                let mut st = self.st.borrow_mut();
                let Some(rec) = st.table.get(conn) else {
                    return;
                };
                if rec.state != ConnState::Open
                    || rec.has(flags::PAUSED)
                    || rec.has(flags::EOF_READ)
                    || !rec.has(flags::READABLE)
                {
                    return;
                }
                if reads == READ_BUDGET {
                    // More data may be waiting: come back next turn, after the others.
                    if !rec.has(flags::QUEUED) {
                        rec.set(flags::QUEUED);
                        st.ready.push_back(conn);
                    }
                    return;
                }
                rec.fd
            };
            reads += 1;
            // Per read: a STARTTLS connection turns TLS inside a callback.
            let tls = tls_component && self.tls.borrow().contains_key(&conn);
            let got = match &self.pull {
                // TLS reads ciphertext into the scratch buffer; Pull stores the plaintext.
                Some(store) if tls => {
                    if store.is_full(conn) {
                        ReadOutcome::Full
                    } else {
                        recv_scratch(fd, scratch)
                    }
                }
                Some(store) => store.read(conn, fd),
                None => recv_scratch(fd, scratch),
            };
            match got {
                ReadOutcome::Data { n, total, drained } => {
                    {
                        let now = self.turn_now();
                        let mut st = self.st.borrow_mut();
                        if let Some(rec) = st.table.get(conn) {
                            if rec.last_recv_ms != now {
                                // The directory's copy (read by silence_period from any
                                // thread) changes at most once per clock tick.
                                if let Some(c) = self.dir.lookup(conn) {
                                    c.mark_received(now);
                                }
                                rec.last_recv_ms = now;
                            }
                            rec.bytes_in += n as u64;
                            // A short read drained the socket and the next arrival brings a new
                            // edge — unless the peer's end-of-stream is queued: epoll announced
                            // it once, so read on until recv reports it.
                            if drained && !rec.has(flags::READ_CLOSED) {
                                rec.clear(flags::READABLE);
                            }
                        }
                    }
                    self.stats.add_bytes_in(n as u64);
                    let open = if tls {
                        self.tls_input(conn, &scratch[..n])
                    } else {
                        self.cork.set((conn.as_u64(), 0));
                        let open = if self.pull.is_some() {
                            self.deliver_pull(conn, total)
                        } else {
                            self.deliver(conn, &scratch[..n])
                        };
                        self.cork_end(conn);
                        open
                    };
                    if !open {
                        return;
                    }
                }
                // Back-pressure: stay READABLE; a fetch that makes room resumes the reads.
                ReadOutcome::Full => return,
                ReadOutcome::Eof => {
                    // A peer that hangs up mid TLS handshake failed it; otherwise a FIN is a
                    // normal close, once what is queued for the peer has been sent.
                    let failed = tls
                        && self
                            .tls
                            .borrow()
                            .get(&conn)
                            .is_some_and(|t| t.is_handshaking());
                    if failed {
                        self.schedule_close(conn, SocketOperation::Receive, ERRNO_TLS);
                    } else {
                        self.peer_finished(conn);
                    }
                    return;
                }
                ReadOutcome::WouldBlock => {
                    let mut st = self.st.borrow_mut();
                    if let Some(rec) = st.table.get(conn) {
                        rec.clear(flags::READABLE);
                    }
                    return;
                }
                ReadOutcome::Error(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                ReadOutcome::Error(e) => {
                    self.schedule_close(conn, SocketOperation::Receive, errno_of(&e));
                    return;
                }
            }
        }
    }

    // ----- TLS ----------------------------------------------------------------------------------

    /// Feeds ciphertext to `conn`'s session; completes the handshake, delivers the plaintext
    /// through the receive model. False when the connection is closing.
    fn tls_input(&self, conn: ConnId, cipher: &[u8]) -> bool {
        let mut plain = std::mem::take(&mut *self.plain.borrow_mut());
        plain.clear();
        let fed = {
            let mut map = self.tls.borrow_mut();
            let Some(t) = map.get_mut(&conn) else {
                return false;
            };
            t.feed(cipher, &mut plain)
        };
        let open = match fed {
            Err(_) => {
                // Close with the TLS errno (first, so no later close reason wins), then send
                // the alert rustls queued, best effort.
                self.schedule_close(conn, SocketOperation::Receive, ERRNO_TLS);
                let fd = self.st.borrow_mut().table.get(conn).map_or(-1, |r| r.fd);
                if let (true, Some(t)) = (fd >= 0, self.tls.borrow_mut().get_mut(&conn)) {
                    let _ = t.flush(fd);
                }
                false
            }
            Ok(fed) => {
                let mut open = self.tls_flush(conn);
                if open && fed.handshake_done {
                    open = self.tls_handshake_done(conn);
                }
                if open && !plain.is_empty() {
                    open = self.deliver(conn, &plain);
                }
                if open && fed.peer_closed {
                    // close_notify: like a FIN, the peer sends no more; what is queued goes.
                    self.peer_finished(conn);
                    open = false;
                }
                open
            }
        };
        // Give the buffer back for the next record; a burst's large buffer is not kept.
        if plain.capacity() <= 64 << 10 {
            *self.plain.borrow_mut() = plain;
        }
        open
    }

    /// The TLS handshake finished: the record leaves HANDSHAKING, `on_handshake` runs, and
    /// data sent before it goes out.
    fn tls_handshake_done(&self, conn: ConnId) -> bool {
        {
            let mut st = self.st.borrow_mut();
            let Some(r) = st.table.get(conn) else {
                return false;
            };
            if r.state != ConnState::Open {
                return false;
            }
            r.clear(flags::HANDSHAKING);
            r.deadline_ms = self.flush_deadline_after_handshake(r.flags);
            let d = r.deadline_ms;
            if d != 0 {
                st.next_deadline = st.next_deadline.min(d);
            }
        }
        if self.events.handshake(conn) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Close, CALLBACK_ERROR);
            return false;
        }
        self.tls_flush(conn)
    }

    /// Encrypts a send into the session and writes what the socket takes.
    fn tls_send(
        &self,
        conn: ConnId,
        cell: &shardnet_shard::SlotCell,
        parts: &[&[u8]],
        total: usize,
    ) -> crate::Result<()> {
        let r = {
            let mut map = self.tls.borrow_mut();
            match map.get_mut(&conn) {
                Some(t) => t.write_plain(parts).map(|()| t.unflushed += total as u64),
                None => {
                    self.dir.release_pending(cell, total as u64);
                    return Err(crate::Error::NotConnected);
                }
            }
        };
        if let Err(e) = r {
            let mut st = self.st.borrow_mut();
            return Err(self.send_failed(&mut st, cell, conn, total, e));
        }
        self.tls_flush(conn);
        for p in parts {
            if !p.is_empty() {
                self.events.send(conn, p);
            }
        }
        Ok(())
    }

    /// Writes the session's pending ciphertext. When all is written, the plaintext it carried
    /// leaves the pending count (and a graceful disconnect proceeds). False when closing.
    fn tls_flush(&self, conn: ConnId) -> bool {
        let fd = match self.st.borrow_mut().table.get(conn) {
            // Plain bytes queued before a STARTTLS go first; `serve` flushes TLS after them.
            Some(r) if r.state == ConnState::Open && r.has_unsent() => return true,
            Some(r) if r.state == ConnState::Open => r.fd,
            _ => return false,
        };
        if fd < 0 {
            return false;
        }
        let (res, released, drained) = {
            let mut map = self.tls.borrow_mut();
            let Some(t) = map.get_mut(&conn) else {
                return true;
            };
            let res = t.flush(fd);
            // Before the handshake ends rustls only holds the plaintext: nothing is sent yet.
            // After it, plaintext is released as ciphertext leaves (record overhead makes this
            // release slightly early), and all of it once the session is drained.
            let released = match res {
                Ok((all, written)) if !t.is_handshaking() => {
                    let n = if all {
                        t.unflushed
                    } else {
                        t.unflushed.min(written as u64)
                    };
                    t.unflushed -= n;
                    n
                }
                _ => 0,
            };
            (res, released, t.unflushed == 0)
        };
        if released > 0 {
            if let Some(c) = self.dir.lookup(conn) {
                self.dir.release_pending(c, released);
            }
        }
        match res {
            Ok((all, written)) => {
                self.stats.add_bytes_out(written as u64);
                let mut st = self.st.borrow_mut();
                if let Some(rec) = st.table.get(conn) {
                    rec.bytes_out += written as u64;
                    if !all {
                        rec.clear(flags::WRITABLE);
                    } else if drained && rec.has(flags::CLOSE_AFTER_FLUSH) {
                        Self::schedule_close_in(
                            &mut st,
                            &self.dir,
                            conn,
                            SocketOperation::Close,
                            0,
                        );
                        return false;
                    }
                }
                true
            }
            Err(e) => {
                self.schedule_close(conn, SocketOperation::Send, errno_of(&e));
                false
            }
        }
    }

    /// TLS details of `conn` (None for plain connections).
    pub(crate) fn tls_info(&self, conn: ConnId) -> Option<TlsInfo> {
        self.tls.borrow().get(&conn).map(|t| t.info())
    }

    /// Inside `conn`'s receive callback: its first send waits in the queue too, so that every
    /// answer of the callback leaves in the one write made when it returns (a layer that
    /// answers several pipelined requests per read asks for this; for one answer the write
    /// is only moved to the callback's end).
    pub(crate) fn cork_all(&self, conn: ConnId) {
        let (corked, sends) = self.cork.get();
        if corked == conn.as_u64() && sends == 0 {
            self.cork.set((corked, 1));
        }
    }

    /// The receive callback of `conn` returned: what it sent after its first send waited in the
    /// queue, so that the answers to many pipelined requests read at once leave in one gather
    /// write instead of one `send` each. Write them now.
    fn cork_end(&self, conn: ConnId) {
        let (_, sends) = self.cork.replace((0, 0));
        if sends > 1 {
            let ready = matches!(
                self.st.borrow_mut().table.get(conn),
                Some(r) if r.state != ConnState::Empty
                    && r.has(flags::WRITABLE)
                    && !r.has(flags::FLUSHING)
                    && !r.queue.is_empty()
            );
            if ready {
                // Also when the callback failed the connection: it answered before it did, and
                // without the cork those answers would have been written already.
                self.flush_in(conn, true);
            }
        }
    }

    /// Pull model: tells the listener how many bytes `conn` now holds.
    fn deliver_pull(&self, conn: ConnId, total: usize) -> bool {
        self.stats.inc_msgs_in();
        if self.events.pull_receive(conn, total) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Receive, CALLBACK_ERROR);
            return false;
        }
        true
    }

    /// One turn (see the module docs). Returns whether anything happened.
    fn turn(&self, inbox: &InboxReceiver<Cmd>, scratch: &mut [u8]) -> bool {
        self.now.set(shardnet_shard::clock_ms());
        let mut work = false;
        // Consecutive sends to one connection leave in one gather write, not one each. The
        // run's buffer is kept across turns (taken out: callbacks may run meanwhile).
        let mut run = std::mem::take(&mut *self.run.borrow_mut());
        for _ in 0..INBOX_BATCH {
            match inbox.try_recv() {
                Some(cmd) => {
                    work = true;
                    self.handle_cmd(cmd, &mut run);
                }
                None => break,
            }
        }
        self.flush_run(&mut run);
        *self.run.borrow_mut() = run;
        if let Some(store) = &self.pull {
            let mut resumed = Vec::new();
            store.take_resumed(&mut resumed);
            for conn in resumed {
                work = true;
                self.resume_read(conn);
            }
        }
        let polled = self.poller.borrow_mut().poll_now(|ev| self.on_event(ev));
        if let Ok(n) = polled {
            work |= n > 0;
        }
        work |= self.accept_some();
        let n = self.st.borrow().ready.len();
        for _ in 0..n {
            let next = self.st.borrow_mut().ready.pop_front();
            let Some(conn) = next else { break };
            work = true;
            self.serve(conn, scratch);
        }
        self.expire_deadlines();
        work |= self.run_closes();
        if work {
            let partial = self.st.borrow().partial.len() as u64;
            self.stats
                .set_resources(self.pool.stats().in_use as u64, partial);
        }
        let st = self.st.borrow();
        // A listener backing off (accept_retry_at) waits for its timer, not for the next turn.
        work || !st.ready.is_empty() || (st.listen_ready && st.accept_retry_at == 0)
    }

    /// Closes every connection and listener (stop).
    fn close_all(&self, inbox: &InboxReceiver<Cmd>) {
        {
            let mut st = self.st.borrow_mut();
            st.listeners.clear();
            for id in st.table.ids() {
                Self::schedule_close_in(&mut st, &self.dir, id, SocketOperation::Close, 0);
            }
        }
        while let Some(cmd) = inbox.try_recv() {
            match cmd {
                Cmd::Adopt { .. } => self.core.load.closed(self.shard),
                Cmd::Connect { conn, .. } => {
                    self.core.load.closed(self.shard);
                    self.dir.release(conn);
                }
                Cmd::Send { conn, data } | Cmd::SendHooked { conn, data, .. } => {
                    match self.dir.lookup(conn) {
                        Some(c) => self.dir.release_pending(c, data.len() as u64),
                        None => self.dir.release_orphan(data.len() as u64),
                    }
                }
                _ => {}
            }
        }
        self.run_closes();
    }
}

/// Push and Pack: one `recv` into the shard's scratch buffer.
fn recv_scratch(fd: RawFd, scratch: &mut [u8]) -> ReadOutcome {
    let n = shardnet_runtime::sys::recv(fd, scratch, libc::MSG_DONTWAIT);
    match n {
        n if n > 0 => ReadOutcome::Data {
            n: n as usize,
            total: n as usize,
            drained: (n as usize) < scratch.len(),
        },
        0 => ReadOutcome::Eof,
        _ => {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAGAIN) {
                ReadOutcome::WouldBlock
            } else {
                ReadOutcome::Error(e)
            }
        }
    }
}

trait AsFdBorrowed {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_>;
}
impl AsFdBorrowed for OwnedFd {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

/// The driver task: turns until the component stops, then closes everything; the last shard to
/// finish calls `on_shutdown`.
pub(crate) async fn run(ctx: Rc<ShardCtx>, inbox: InboxReceiver<Cmd>) {
    // One scratch buffer per (component, shard), so it can be large at no per-connection cost:
    // a pipelining peer's queued messages come out in one `recv` instead of one each.
    let scratch_len = ctx.core.cfg.socket_buffer_size.max(SCRATCH_MIN);
    let mut scratch = vec![0u8; scratch_len].into_boxed_slice();
    let mut timer: Option<(u64, glommio::timer::Timer)> = None;
    let mut busy = 0u32;
    while !ctx.core.is_stopping() {
        if ctx.turn(&inbox, &mut scratch) {
            busy += 1;
            if busy >= TURNS_PER_YIELD || glommio::executor().need_preempt() {
                busy = 0;
                futures_lite::future::yield_now().await;
            }
            continue;
        }
        busy = 0;
        let deadline = ctx.next_wakeup();
        if deadline != u64::MAX && timer.as_ref().map(|t| t.0) != Some(deadline) {
            let wait = deadline.saturating_sub(ctx.now_ms()).max(1);
            timer = Some((
                deadline,
                glommio::timer::Timer::new(Duration::from_millis(wait)),
            ));
        }
        std::future::poll_fn(|cx| {
            // `poll_ready` registers the waker first, so a fetch that queues a resume after
            // the check below still wakes this task (fetch sets the flag, then wakes).
            // Register first (poll_ready), then look at every flag a waker-less wake could
            // have set: stop(), a Pull resume, or work queued on this shard outside a turn.
            // A deadline set outside a turn (a disconnect's flush timeout, a handshake
            // timeout) earlier than the armed timer: turn, so the loop arms it.
            let due = ctx.next_wakeup();
            if inbox.poll_ready(cx).is_ready()
                || ctx.core.is_stopping()
                || ctx.pull.as_ref().is_some_and(|p| p.has_resumed())
                || ctx.has_local_work()
                || (due != u64::MAX && timer.as_ref().is_none_or(|t| due < t.0))
            {
                return Poll::Ready(());
            }
            if let Some((_, t)) = timer.as_mut() {
                if Pin::new(t).poll(cx).is_ready() {
                    timer = None;
                    return Poll::Ready(());
                }
            }
            ctx.poller.borrow_mut().poll_wakeup(cx)
        })
        .await;
    }
    ctx.close_all(&inbox);
    LOCAL.with(|l| l.borrow_mut().retain(|(id, _)| *id != ctx.core.id));
    if ctx.core.driver_finished() {
        ctx.events.shutdown();
        ctx.core.mark_stopped();
    }
}
