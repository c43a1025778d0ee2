//! State every handle of one component shares, and the operations callable from any thread.
//!
//! A handle (`TcpServer`, `TcpAgent`, `TcpClient`) is an `Arc<Core>`. For each shard the core
//! keeps a link: the inbox of the component's driver there, the shard's [`SlotDirectory`] and its
//! stats. A call on a connection first reads the directory (no lock); then, if the calling
//! thread *is* the owning shard, it acts on the driver's state directly; otherwise it posts a
//! [`Cmd`] to the owning shard's inbox: without blocking from a shard thread (a full inbox is
//! [`Error::Backpressure`]), waiting for room from a foreign thread.

use crate::engine::Lifecycle;
use crate::pull::{FetchResult, PullStats, PullStore};
use crate::tcp::driver::{self, ShardCtx};
use crate::{Error, Result, ServiceState, TcpConfig};
use shardnet_runtime::{
    ConnId, InboxReceiver, InboxSender, Runtime, SendError, ShardId, ShardLoad,
};
use shardnet_shard::{ShardStats, SlotDirectory, SlotState, StatsSnapshot};
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Work posted to a shard's driver by other threads.
pub(crate) enum Cmd {
    Send {
        conn: ConnId,
        data: Vec<u8>,
    },
    Disconnect {
        conn: ConnId,
        force: bool,
    },
    Pause {
        conn: ConnId,
        pause: bool,
    },
    Adopt {
        fd: OwnedFd,
        peer: SocketAddr,
    },
    Connect {
        conn: ConnId,
        addr: SocketAddr,
        local: Option<SocketAddr>,
        /// TLS server name (SNI and certificate check); the IP address when None.
        server_name: Option<String>,
    },
    Handshake {
        conn: ConnId,
    },
    StartTls {
        conn: ConnId,
    },
    /// A send from another thread whose `hook` must run on the owner shard just before its
    /// bytes are queued (a layer registers what it sent, in stream order). `data` is reserved
    /// like `Send`'s.
    SendHooked {
        conn: ConnId,
        data: Vec<u8>,
        hook: Box<dyn FnOnce() + Send>,
    },
}

pub(crate) struct ShardLink {
    pub inbox: InboxSender<Cmd>,
    /// Clients announced by a PROXY protocol header (`remote_addr` reports them).
    pub proxied: std::sync::RwLock<shardnet_runtime::ConnMap<SocketAddr>>,
    pub dir: Arc<SlotDirectory>,
    pub stats: Arc<ShardStats>,
    /// Pull model only: the shard's buffered bytes, fetchable from any thread.
    pub pull: Option<Arc<PullStore>>,
}

/// `Error::NotFound`, built only on the error path (`ok_or(Error::NotFound)` would build and
/// drop one on every successful call: 12 instructions each, twice per send).
fn not_found() -> Error {
    Error::NotFound
}

fn ms(v: u64) -> std::time::Duration {
    std::time::Duration::from_millis(v)
}

/// Largest file `send_small_file` accepts (4 MiB, as HP-Socket).
pub const MAX_SMALL_FILE: u64 = 4 << 20;

static NEXT_COMPONENT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-unique component id (keys the per-thread driver lookups).
pub(crate) fn next_component_id() -> u64 {
    NEXT_COMPONENT_ID.fetch_add(1, Ordering::Relaxed)
}

pub(crate) struct Core {
    pub id: u64,
    pub runtime: Runtime,
    pub cfg: TcpConfig,
    pub links: Vec<ShardLink>,
    pub load: ShardLoad,
    pub life: Lifecycle,
    /// `send_group` delivery counts.
    pub groups: crate::groups::GroupCounters,
    /// Closes by reason and TLS handshakes, per shard.
    pub events: crate::tcp::event_counts::EventCounts,
    /// Counters of the layer over this server, per shard (HTTP statuses, WebSocket events;
    /// indexes in [`crate::tcp::event_counts::layer`]).
    pub layer: shardnet_shard::ShardCounters<16>,
    pub listen_addr: Mutex<Option<SocketAddr>>,
}

impl Core {
    /// Builds the core and the receiving ends of its shard inboxes.
    pub fn new(runtime: Runtime, cfg: TcpConfig) -> (Arc<Core>, Vec<InboxReceiver<Cmd>>) {
        let n = runtime.shard_count();
        let mut links = Vec::with_capacity(n);
        let mut rxs = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = shardnet_runtime::inbox::<Cmd>(8192);
            links.push(ShardLink {
                inbox: tx,
                proxied: Default::default(),
                dir: Arc::new(SlotDirectory::with_budget(
                    ShardId(i),
                    cfg.shard_send_budget as u64,
                )),
                stats: Arc::new(ShardStats::new()),
                pull: (cfg.receive_model == crate::ReceiveModel::Pull).then(|| {
                    Arc::new(PullStore::new(
                        cfg.socket_buffer_size,
                        cfg.buffer_hold,
                        cfg.pull_buffer_limit,
                    ))
                }),
            });
            rxs.push(rx);
        }
        let core = Arc::new(Core {
            id: next_component_id(),
            runtime,
            cfg,
            links,
            load: ShardLoad::new(n),
            life: Lifecycle::new(n),
            groups: Default::default(),
            events: crate::tcp::event_counts::EventCounts::new(n),
            layer: shardnet_shard::ShardCounters::new(n),
            listen_addr: Mutex::new(None),
        });
        (core, rxs)
    }

    pub fn state(&self) -> ServiceState {
        self.life.state()
    }

    pub fn set_started(&self) {
        self.life.set_started()
    }

    pub fn is_stopping(&self) -> bool {
        self.life.is_stopping()
    }

    /// Starts the shutdown and returns at once (safe inside callbacks).
    pub fn stop(&self) {
        self.life
            .stop(|| self.links.iter().for_each(|l| l.inbox.wake()));
    }

    /// A driver could not start: count it as finished so `wait()` still returns.
    pub fn driver_failed(&self) {
        self.life
            .driver_failed(|| self.links.iter().for_each(|l| l.inbox.wake()));
    }

    /// Waits until the component has stopped (or `timeout` passed; returns whether stopped).
    pub fn wait(&self, timeout: Option<std::time::Duration>) -> Result<bool> {
        self.life
            .wait(self.runtime.current_shard().is_some(), timeout)
    }

    fn link(&self, conn: ConnId) -> Result<&ShardLink> {
        self.links.get(conn.shard().0).ok_or_else(not_found)
    }

    /// Posts a command to `shard`'s driver.
    pub fn post(&self, shard: ShardId, cmd: Cmd) -> Result<()> {
        let inbox = &self.links[shard.0].inbox;
        let r = if Runtime::current().is_some() {
            inbox.try_send(cmd)
        } else {
            inbox.send_blocking(cmd)
        };
        r.map_err(|e| match e {
            SendError::Full(_) => Error::Backpressure,
            SendError::Closed(_) => Error::IllegalState(self.state()),
        })
    }

    fn local_ctx(&self, shard: ShardId) -> Option<Rc<ShardCtx>> {
        driver::local_ctx(self.id, shard)
    }

    #[inline]
    pub fn send(&self, conn: ConnId, parts: &[&[u8]]) -> Result<()> {
        if let crate::ReceiveModel::Pack(p) = &self.cfg.receive_model {
            return self.send_pack(p, conn, parts);
        }
        self.send_raw(conn, parts)
    }

    /// Pack: the header, then every part, as one message.
    fn send_pack(&self, p: &crate::pack::PackConfig, conn: ConnId, parts: &[&[u8]]) -> Result<()> {
        // One message: header, then every part.
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let header = p.header(total).ok_or_else(|| {
            Error::InvalidParam(if total == 0 {
                "empty pack message (HP-Socket peers refuse them; see PackConfig::allow_empty)"
                    .to_string()
            } else {
                format!(
                    "message of {total} bytes exceeds max_pack_size {}",
                    p.max_pack_size
                )
            })
        })?;
        // Header + parts as one gather list, on the stack for the usual few parts.
        const INLINE: usize = 8;
        if parts.len() < INLINE {
            let mut framed: [&[u8]; INLINE] = [&[]; INLINE];
            framed[0] = &header;
            framed[1..=parts.len()].copy_from_slice(parts);
            return self.send_raw(conn, &framed[..=parts.len()]);
        }
        let framed: Vec<&[u8]> = std::iter::once(&header[..])
            .chain(parts.iter().copied())
            .collect();
        self.send_raw(conn, &framed)
    }

    /// Sends `head`, the file's bytes and `tail` as one gather send (one message under Pack).
    /// The file is memory-mapped, not read into a buffer; what the kernel does not take at once
    /// is copied into the connection's send queue, so the map is released on return.
    pub fn send_small_file(
        &self,
        conn: ConnId,
        path: &std::path::Path,
        head: &[u8],
        tail: &[u8],
    ) -> Result<()> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len > MAX_SMALL_FILE {
            return Err(Error::InvalidParam(format!(
                "{} is {len} bytes; send_small_file takes at most {MAX_SMALL_FILE}",
                path.display()
            )));
        }
        if len == 0 {
            return self.send(conn, &[head, tail]);
        }
        // SAFETY: the map is read-only and lives only for this call; a file truncated by
        // another process meanwhile could fault, which is the documented caveat of mapping
        // files (HP-Socket maps them the same way).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        self.send(conn, &[head, &map, tail])
    }

    fn send_raw(&self, conn: ConnId, parts: &[&[u8]]) -> Result<()> {
        self.send_raw_hooked(conn, parts, None)
    }

    /// Sends `parts` (raw, never Pack-framed) and runs `hook` on the owner shard right before
    /// they are queued, after the send was accepted: at once when the caller is that shard,
    /// else from the inbox, in order with the connection's other commands. A refused send
    /// (queue full, not connected) returns its error and the hook does not run.
    pub(crate) fn send_hooked(
        &self,
        conn: ConnId,
        parts: &[&[u8]],
        hook: Box<dyn FnOnce() + Send>,
    ) -> Result<()> {
        self.send_raw_hooked(conn, parts, Some(hook))
    }

    fn send_raw_hooked(
        &self,
        conn: ConnId,
        parts: &[&[u8]],
        hook: Option<Box<dyn FnOnce() + Send>>,
    ) -> Result<()> {
        let link = self.link(conn)?;
        let cell = link.dir.lookup(conn).ok_or_else(not_found)?;
        if cell.state() != SlotState::Open {
            return Err(Error::NotConnected);
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total == 0 {
            if let Some(hook) = hook {
                return self.send_empty_hooked(conn, hook);
            }
            return Ok(());
        }
        let max = self.cfg.max_pending_bytes as u64;
        if !link.dir.try_reserve(cell, total as u64, max) {
            link.stats.inc_send_refused();
            let conn_full = max != 0 && cell.pending().saturating_add(total as u64) > max;
            return Err(Error::QueueFull(if conn_full {
                self.cfg.max_pending_bytes
            } else {
                self.cfg.shard_send_budget
            }));
        }
        if cell.id() != conn.as_u64() {
            // The slot was released and reused between the lookup and the reservation: the
            // bytes belong to nobody; give them back to the new connection's count.
            link.dir.release_pending(cell, total as u64);
            return Err(Error::NotFound);
        }
        if let Some(ctx) = self.local_ctx(conn.shard()) {
            if let Some(hook) = hook {
                hook();
            }
            return ctx.send_local_in(cell, conn, parts, total);
        }
        let data = parts.concat();
        let cmd = match hook {
            None => Cmd::Send { conn, data },
            Some(hook) => Cmd::SendHooked { conn, data, hook },
        };
        self.post(conn.shard(), cmd).inspect_err(|_| {
            link.dir.release_pending(cell, total as u64);
        })
    }

    /// A hook with nothing to send: runs on the owner shard in order with the other commands.
    fn send_empty_hooked(&self, conn: ConnId, hook: Box<dyn FnOnce() + Send>) -> Result<()> {
        if self.local_ctx(conn.shard()).is_some() {
            hook();
            return Ok(());
        }
        self.post(
            conn.shard(),
            Cmd::SendHooked {
                conn,
                data: Vec::new(),
                hook,
            },
        )
    }

    /// Inside `conn`'s receive callback on its shard: hold every send of the callback until
    /// it returns, then write them together (see `ShardCtx::cork_all`). Elsewhere: nothing.
    pub(crate) fn cork_all(&self, conn: ConnId) {
        if let Some(ctx) = self.local_ctx(conn.shard()) {
            ctx.cork_all(conn);
        }
    }

    /// Closes `conn` reporting `on_close(op, errno)` (a layer's protocol error); what was
    /// queued gets one more write first. On the owner shard only; elsewhere a forced
    /// disconnect.
    pub(crate) fn close_with(
        &self,
        conn: ConnId,
        op: crate::SocketOperation,
        errno: i32,
    ) -> Result<()> {
        if let Some(ctx) = self.local_ctx(conn.shard()) {
            ctx.close_with(conn, op, errno);
            return Ok(());
        }
        self.disconnect(conn, true)
    }

    pub fn disconnect(&self, conn: ConnId, force: bool) -> Result<()> {
        let link = self.link(conn)?;
        link.dir.lookup(conn).ok_or_else(not_found)?;
        if let Some(ctx) = self.local_ctx(conn.shard()) {
            ctx.disconnect(conn, force);
            return Ok(());
        }
        self.post(conn.shard(), Cmd::Disconnect { conn, force })
    }

    pub fn pause_receive(&self, conn: ConnId, pause: bool) -> Result<()> {
        let link = self.link(conn)?;
        let cell = link.dir.lookup(conn).ok_or_else(not_found)?;
        if cell.state() != SlotState::Open {
            return Err(Error::NotConnected);
        }
        if let Some(ctx) = self.local_ctx(conn.shard()) {
            ctx.pause(conn, pause);
            return Ok(());
        }
        self.post(conn.shard(), Cmd::Pause { conn, pause })
    }

    /// Pull model: copies the first `buf.len()` buffered bytes of `conn` into `buf`, consuming
    /// them unless `peek`.
    pub fn fetch(&self, conn: ConnId, buf: &mut [u8], peek: bool) -> FetchResult {
        let Ok(link) = self.link(conn) else {
            return FetchResult::DataNotFound;
        };
        let Some(store) = &link.pull else {
            return FetchResult::DataNotFound;
        };
        let open = link
            .dir
            .lookup(conn)
            .is_some_and(|c| c.state() == SlotState::Open);
        let r = store.fetch(conn, buf, peek, open);
        if !peek && r == FetchResult::Ok && store.has_resumed() {
            // A fetch made room after a stall: the driver resumes reading on its next turn.
            link.inbox.wake();
        }
        r
    }

    /// Pull model: bytes buffered for `conn` (None when gone or not Pull).
    pub fn pull_buffered(&self, conn: ConnId) -> Option<usize> {
        let link = self.link(conn).ok()?;
        let store = link.pull.as_ref()?;
        let open = link.dir.lookup(conn).is_some();
        open.then(|| store.buffered(conn))
    }

    /// Pull model: usage of each shard's store (empty for other models).
    pub fn pull_stats(&self) -> Vec<PullStats> {
        self.links
            .iter()
            .filter_map(|l| l.pull.as_ref().map(|p| p.stats()))
            .collect()
    }

    /// Completes the handshake of a connection started with `auto_handshake(false)`:
    /// `on_handshake` runs on the owning shard.
    pub fn complete_handshake(&self, conn: ConnId) -> Result<()> {
        if self.cfg.tls.is_some() {
            return Err(Error::InvalidParam(
                "a TLS handshake completes by itself (STARTTLS: start_handshake)".into(),
            ));
        }
        let link = self.link(conn)?;
        let cell = link.dir.lookup(conn).ok_or_else(not_found)?;
        if cell.state() != SlotState::Open {
            return Err(Error::NotConnected);
        }
        if let Some(ctx) = self.local_ctx(conn.shard()) {
            ctx.complete_handshake(conn);
            return Ok(());
        }
        self.post(conn.shard(), Cmd::Handshake { conn })
    }

    /// TLS details of `conn` (on the owning shard only, e.g. in callbacks; None elsewhere or
    /// for plain connections).
    pub fn tls_info(&self, conn: ConnId) -> Option<crate::tls::TlsInfo> {
        self.local_ctx(conn.shard())?.tls_info(conn)
    }

    /// STARTTLS: begins the TLS handshake of a connection of a TLS component started with
    /// `auto_handshake(false)`.
    pub fn start_handshake(&self, conn: ConnId) -> Result<()> {
        if self.cfg.tls.is_none() {
            return Err(Error::InvalidParam(
                "start_handshake needs a TLS component".into(),
            ));
        }
        let link = self.link(conn)?;
        let cell = link.dir.lookup(conn).ok_or_else(not_found)?;
        if cell.state() != SlotState::Open {
            return Err(Error::NotConnected);
        }
        if let Some(ctx) = self.local_ctx(conn.shard()) {
            ctx.start_tls(conn);
            return Ok(());
        }
        self.post(conn.shard(), Cmd::StartTls { conn })
    }

    /// On `conn`'s shard, in a callback of a listener layer that read a plaintext preamble
    /// (PROXY): TLS and the receive model take over, fed first with `rest`. False when not
    /// on that shard.
    pub(crate) fn end_preamble(&self, conn: ConnId, rest: &[u8]) -> bool {
        match self.local_ctx(conn.shard()) {
            Some(ctx) => {
                ctx.end_preamble(conn, rest);
                true
            }
            None => false,
        }
    }

    pub fn pending(&self, conn: ConnId) -> Option<usize> {
        let cell = self.link(conn).ok()?.dir.lookup(conn)?;
        Some(cell.pending() as usize)
    }

    pub fn is_connected(&self, conn: ConnId) -> bool {
        self.link(conn)
            .ok()
            .and_then(|l| l.dir.lookup(conn))
            .is_some_and(|c| c.state() == SlotState::Open)
    }

    pub fn set_extra(&self, conn: ConnId, v: u64) -> bool {
        match self.link(conn).ok().and_then(|l| l.dir.lookup(conn)) {
            Some(c) => {
                c.set_extra(v);
                true
            }
            None => false,
        }
    }

    pub fn extra(&self, conn: ConnId) -> Option<u64> {
        self.link(conn).ok()?.dir.lookup(conn).map(|c| c.extra())
    }

    /// How long `conn` has been open.
    pub fn connect_period(&self, conn: ConnId) -> Option<std::time::Duration> {
        let c = self.link(conn).ok()?.dir.lookup(conn)?;
        let t = c.opened_ms();
        (t != 0).then(|| ms(shardnet_shard::clock_ms().saturating_sub(t)))
    }

    /// How long `conn` has received nothing.
    pub fn silence_period(&self, conn: ConnId) -> Option<std::time::Duration> {
        let c = self.link(conn).ok()?.dir.lookup(conn)?;
        let t = c.last_recv_ms();
        (t != 0).then(|| ms(shardnet_shard::clock_ms().saturating_sub(t)))
    }

    /// Disconnects every open connection for which `pick(cell)` holds; returns how many.
    fn disconnect_where(
        &self,
        force: bool,
        pick: impl Fn(&shardnet_shard::SlotCell) -> bool,
    ) -> usize {
        let mut n = 0;
        for l in &self.links {
            let mut ids = Vec::new();
            l.dir.open_ids(&mut ids);
            for id in ids {
                if l.dir.lookup(id).is_some_and(&pick) && self.disconnect(id, force).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }

    /// Disconnects connections that received nothing for at least `period`.
    pub fn disconnect_silence_connections(
        &self,
        period: std::time::Duration,
        force: bool,
    ) -> usize {
        let now = shardnet_shard::clock_ms();
        let p = period.as_millis() as u64;
        self.disconnect_where(force, |c| now.saturating_sub(c.last_recv_ms()) >= p)
    }

    /// Disconnects connections open for at least `period`.
    pub fn disconnect_long_connections(&self, period: std::time::Duration, force: bool) -> usize {
        let now = shardnet_shard::clock_ms();
        let p = period.as_millis() as u64;
        self.disconnect_where(force, |c| now.saturating_sub(c.opened_ms()) >= p)
    }

    pub fn connection_count(&self) -> usize {
        self.links
            .iter()
            .map(|l| l.stats.connections() as usize)
            .sum()
    }

    pub fn connection_ids(&self) -> Vec<ConnId> {
        let mut v = Vec::new();
        for l in &self.links {
            l.dir.open_ids(&mut v);
        }
        v
    }

    /// Reads an address of the connection's socket; the id is re-checked after the syscall so
    /// that a closed-and-reused fd is never reported for the wrong connection.
    fn addr(&self, conn: ConnId, peer: bool) -> Option<SocketAddr> {
        let cell = self.link(conn).ok()?.dir.lookup(conn)?;
        let fd = cell.fd();
        if fd < 0 {
            return None;
        }
        // SAFETY: the fd is only borrowed for one getsockname/getpeername call; if the owning
        // shard closed it meanwhile the call fails or the id check below rejects the result.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        let s = socket2::SockRef::from(&b);
        let a = if peer { s.peer_addr() } else { s.local_addr() }.ok()?;
        // The owner forgets the fd (-1) before closing it, and a new connection gets a new id.
        (cell.id() == conn.as_u64() && cell.fd() == fd).then_some(())?;
        a.as_socket()
    }

    pub fn local_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        self.addr(conn, false)
    }

    pub fn remote_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        if let Ok(l) = self.link(conn) {
            let p = l.proxied.read().unwrap_or_else(|p| p.into_inner());
            if let Some(a) = p.get(&conn) {
                return Some(*a);
            }
        }
        self.addr(conn, true)
    }

    /// The client a PROXY header announced for `conn` (what `remote_addr` reports from now).
    pub(crate) fn set_proxied_peer(&self, conn: ConnId, addr: SocketAddr) {
        if let Ok(l) = self.link(conn) {
            l.proxied
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(conn, addr);
        }
    }

    pub(crate) fn clear_proxied_peer(&self, conn: ConnId) {
        if let Ok(l) = self.link(conn) {
            let mut p = l.proxied.write().unwrap_or_else(|p| p.into_inner());
            if !p.is_empty() {
                p.remove(&conn);
            }
        }
    }

    pub fn shard_stats(&self) -> Vec<StatsSnapshot> {
        self.links
            .iter()
            .map(|l| StatsSnapshot {
                inbox_wakeups: l.inbox.wakeups(),
                queued_bytes: l.dir.queued(),
                ..l.stats.snapshot()
            })
            .collect()
    }
}
