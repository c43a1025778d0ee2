//! The TCP (and TLS) transport of the shard engine: per (component, shard), the connection
//! table, the epoll socket ring, the listen sockets, the send queues and TLS sessions. The
//! loop itself is [`crate::engine`]'s; this module supplies its turn's steps
//! ([`crate::engine::Transport`]). By concern: `accept`, `connect`, `receive`, `send`, `tls`,
//! `close`; socket options in `socket`.
//!
//! # One turn
//! 1. Take up to [`INBOX_BATCH`](crate::engine::INBOX_BATCH) commands from the shard's inbox
//!    (sends, disconnects, pauses, sockets handed over by the acceptor, connects).
//! 2. Collect epoll readiness without blocking; mark records readable/writable and put them on
//!    the ready list.
//! 3. Accept from the listen sockets (at most [`ACCEPT_BATCH`] per turn).
//! 4. Serve the ready list once, in order: flush the send queue (at most [`FLUSH_BUDGET`] bytes),
//!    then read into the shard's one scratch buffer and call `on_receive`, at most
//!    [`READ_BUDGET`] reads per connection. A connection that still has data goes to the back of
//!    the list: a fast sender cannot starve the others.
//! 5. Run scheduled closes (`on_close` exactly once), expire connect deadlines.
//! 6. When there was work, turn again — yielding to glommio every
//!    [`TURNS_PER_YIELD`](crate::engine::TURNS_PER_YIELD) turns or when its preemption timer
//!    asks; otherwise park until epoll, the inbox, a deadline or `stop()` wakes the task.
//!
//! Steps 1 and 6 are the engine's; 2–5 are this transport's.
//!
//! The turn reads the shard clock once (receive timestamps, deadlines); the socket syscalls go
//! through `shardnet_runtime::sys` (no glibc cancellation wrappers).
//!
//! # Re-entrancy
//! Callbacks may call any handle method. No `RefCell` borrow is held while a callback runs
//! (but the inbox's send run, which only the engine's command step touches); a
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
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

mod accept;
mod close;
mod connect;
mod receive;
mod send;
mod socket;
mod tls;

pub(crate) use socket::{apply_conn_options, bind_listen_socket};
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
    /// The same for refusals at the connection limit.
    limit_logged_at: u64,
    limit_unlogged: u64,
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
    /// The inbox send run being built (its buffer reused from turn to turn).
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
    linger: Rc<crate::tcp::linger::Lingering>,
    /// Accepted connections start with a plaintext preamble (the PROXY header) that a listener
    /// layer reads raw, before the receive model and TLS: they are marked `PREAMBLE`, get no
    /// TLS session at accept, and the layer calls [`Self::end_preamble`] with the bytes after
    /// it.
    pub(crate) preamble_layer: std::cell::Cell<bool>,
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
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
                limit_logged_at: 0,
                limit_unlogged: 0,
                next_deadline: u64::MAX,
                next_sweep: 0,
            }),
            linger: Rc::default(),
            preamble_layer: std::cell::Cell::new(false),
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
        drop(st);
        for (id, op) in expired {
            if op == SocketOperation::Close && self.tls.borrow().contains_key(&id) {
                self.core
                    .events
                    .tls_failed(self.shard.0, crate::tcp::event_counts::TlsFailure::Timeout);
            }
            let mut st = self.st.borrow_mut();
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
}

trait AsFdBorrowed {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_>;
}
impl AsFdBorrowed for OwnedFd {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

impl crate::engine::Transport for ShardCtx {
    type Cmd = Cmd;

    fn lifecycle(&self) -> &crate::engine::Lifecycle {
        &self.core.life
    }

    fn scratch_len(&self) -> usize {
        // Large at no per-connection cost: a pipelining peer's queued messages come out in one
        // `recv` instead of one each.
        self.core.cfg.socket_buffer_size.max(SCRATCH_MIN)
    }

    fn begin_turn(&self) {
        self.now.set(shardnet_shard::clock_ms());
    }

    // Consecutive sends to one connection leave in one gather write, not one each: the run
    // is built here and written when another command or the end of the batch comes. Only
    // these two methods borrow `run` (callbacks made meanwhile cannot reach it).
    fn command(&self, cmd: Cmd) {
        self.handle_cmd(cmd, &mut self.run.borrow_mut());
    }

    fn end_commands(&self) {
        self.flush_run(&mut self.run.borrow_mut());
    }

    fn io(&self, scratch: &mut [u8]) -> bool {
        let mut work = false;
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
        work
    }

    fn timers_and_closes(&self) -> bool {
        self.expire_deadlines();
        let work = self.run_closes();
        let partial = self.st.borrow().partial.len() as u64;
        self.stats
            .set_resources(self.pool.stats().in_use as u64, partial);
        work
    }

    fn busy(&self) -> bool {
        let st = self.st.borrow();
        // A listener backing off (accept_retry_at) waits for its timer, not for the next turn.
        !st.ready.is_empty() || (st.listen_ready && st.accept_retry_at == 0)
    }

    fn next_wakeup(&self) -> u64 {
        ShardCtx::next_wakeup(self)
    }

    fn has_local_work(&self) -> bool {
        // `fetch` sets the resume flag, then wakes: seen here or by the next poll.
        ShardCtx::has_local_work(self) || self.pull.as_ref().is_some_and(|p| p.has_resumed())
    }

    fn poll_io(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        self.poller.borrow_mut().poll_wakeup(cx)
    }

    fn close_all(&self, inbox: &InboxReceiver<Cmd>) {
        ShardCtx::close_all(self, inbox)
    }

    fn finished(&self, last: bool) {
        LOCAL.with(|l| l.borrow_mut().retain(|(id, _)| *id != self.core.id));
        if last {
            tracing::info!(component = self.core.id, "stopped");
            self.events.shutdown();
        }
    }
}

/// Starts this shard's driver task for `ctx`.
pub(crate) fn run(
    ctx: Rc<ShardCtx>,
    inbox: InboxReceiver<Cmd>,
) -> impl std::future::Future<Output = ()> {
    crate::engine::run(ctx, inbox)
}
