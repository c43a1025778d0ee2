//! TcpServer: accepts connections on every shard and calls a [`ServerListener`].

use crate::config::config_setters;
use crate::core::Core;
use crate::tcp::driver::{self, Events, ShardCtx};
use crate::{
    Error, HandleResult, Result, ServerListener, ServiceState, SocketOperation, TcpConfig,
};
use shardnet_runtime::{AcceptPlacement, ConnId, Runtime, ShardId};
use shardnet_shard::StatsSnapshot;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::sync::Arc;

/// Handle to a running TCP server. `Clone + Send + Sync`; every method works from any thread,
/// including from inside the server's own callbacks.
#[derive(Clone)]
pub struct TcpServer {
    pub(crate) core: Arc<Core>,
}

/// Configures and starts a [`TcpServer`].
#[derive(Default)]
pub struct TcpServerBuilder {
    cfg: TcpConfig,
    runtime: Option<Runtime>,
    proxy: Option<super::proxy::ProxyProtocol>,
}

struct ServerEvents<L> {
    l: L,
    h: TcpServer,
}

impl<L: ServerListener> Events for ServerEvents<L> {
    fn prepare_listen(&self, fd: BorrowedFd<'_>, addr: SocketAddr) -> HandleResult {
        self.l.on_prepare_listen(&self.h, fd, addr)
    }
    fn accept(&self, conn: ConnId, peer: SocketAddr, fd: BorrowedFd<'_>) -> HandleResult {
        self.l.on_accept(&self.h, conn, peer, fd)
    }
    fn handshake(&self, conn: ConnId) -> HandleResult {
        self.l.on_handshake(&self.h, conn)
    }
    fn receive(&self, conn: ConnId, data: &[u8]) -> HandleResult {
        self.l.on_receive(&self.h, conn, data)
    }
    fn pull_receive(&self, conn: ConnId, total: usize) -> HandleResult {
        self.l.on_pull_receive(&self.h, conn, total)
    }
    fn send(&self, conn: ConnId, data: &[u8]) {
        let _ = self.l.on_send(&self.h, conn, data);
    }
    fn close(&self, conn: ConnId, op: SocketOperation, errno: i32) {
        crate::groups::forget(self.h.core.id, conn);
        let _ = self.l.on_close(&self.h, conn, op, errno);
    }
    fn shutdown(&self) {
        let _ = self.l.on_shutdown(&self.h);
    }
}

pub(crate) fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: addr.to_string(),
            source,
        })?
        .next()
        .ok_or_else(|| Error::Resolve {
            host: addr.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        })
}

pub(crate) fn runtime_for(cfg: &TcpConfig, rt: Option<Runtime>) -> Result<Runtime> {
    match rt {
        Some(rt) => Ok(rt),
        None => {
            let mut b = Runtime::builder();
            if let Some(n) = cfg.shards {
                b = b.shards(n);
            }
            Ok(b.build()?)
        }
    }
}

impl TcpServerBuilder {
    config_setters!();

    /// The configuration so far.
    pub fn config_ref(&self) -> &TcpConfig {
        &self.cfg
    }

    /// How accepted connections are spread over shards (default ReusePort).
    pub fn placement(mut self, p: AcceptPlacement) -> Self {
        self.cfg.accept_placement = p;
        self
    }

    /// TLS with this configuration (HP-Socket's `SslServer` family).
    pub fn tls(mut self, cfg: crate::tls::ServerTlsConfig) -> Self {
        self.cfg.tls = Some(crate::TlsSettings::Server(cfg));
        self
    }

    /// Requires a PROXY protocol header (v1 or v2) on every connection, accepted only from
    /// the balancer addresses of `p` (others are refused at accept); `on_accept` and
    /// `remote_addr` then report the client the balancer saw. Push model, no TLS.
    pub fn proxy_protocol(mut self, p: super::proxy::ProxyProtocol) -> Self {
        self.proxy = Some(p);
        self
    }

    /// Listen backlog.
    pub fn listen_backlog(mut self, n: i32) -> Self {
        self.cfg.listen_backlog = n;
        self
    }

    /// IPv6 wildcard listeners also accept IPv4 (default true).
    pub fn dual_stack(mut self, on: bool) -> Self {
        self.cfg.dual_stack = on;
        self
    }

    /// Starts listening on `addr` (e.g. `"0.0.0.0:5555"`, `"[::]:0"`) with one shared listener.
    pub fn start<L>(self, addr: &str, listener: Arc<L>) -> Result<TcpServer>
    where
        L: ServerListener + Send + Sync,
    {
        self.start_with(addr, move |_| listener.clone())
    }

    /// Starts listening on `addr` with one listener per shard, built by `factory` on the
    /// shard's own thread (the listener need not be `Send`).
    pub fn start_with<L, F>(self, addr: &str, factory: F) -> Result<TcpServer>
    where
        L: ServerListener,
        F: Fn(ShardId) -> L + Send + Sync + 'static,
    {
        self.start_with_handle(addr, move |shard, _| factory(shard))
    }

    /// Like [`Self::start_with`]; the factory also gets the server's handle (layers key their
    /// per-shard state by it).
    pub(crate) fn start_with_handle<L, F>(self, addr: &str, factory: F) -> Result<TcpServer>
    where
        L: ServerListener,
        F: Fn(ShardId, &TcpServer) -> L + Send + Sync + 'static,
    {
        self.cfg.validate()?;
        let proxy = self.proxy.clone();
        // The PROXY header is a preamble the layer reads raw; TLS (unless the application runs
        // STARTTLS itself) and the receive model start after it.
        let has_proxy = self.proxy.is_some();
        let addr = resolve(addr)?;
        let runtime = runtime_for(&self.cfg, self.runtime)?;
        if runtime.current_shard().is_some() {
            return Err(Error::WouldDeadlock);
        }
        let shards = runtime.shard_count();
        let reuse_port = self.cfg.accept_placement == AcceptPlacement::ReusePort;
        // Bind every listen socket here so that port 0 resolves once and all shards share it.
        let first = driver::bind_listen_socket(addr, &self.cfg, reuse_port)?;
        let bound = socket2::SockRef::from(&first)
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(addr);
        let mut socks = vec![Some(first)];
        if reuse_port {
            for _ in 1..shards {
                socks.push(Some(driver::bind_listen_socket(bound, &self.cfg, true)?));
            }
        }
        let (core, rxs) = Core::new(runtime.clone(), self.cfg);
        *core.listen_addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(bound);
        let handle = TcpServer { core: core.clone() };
        let factory = Arc::new(factory);
        let mut replies = Vec::new();
        for (i, rx) in rxs.into_iter().enumerate() {
            let sock = socks.get_mut(i).and_then(|s| s.take());
            let h = handle.clone();
            let f = factory.clone();
            let proxy = proxy.clone();
            let (tx, reply) = crossbeam_channel::bounded::<Result<()>>(1);
            replies.push(reply);
            runtime.run_on(ShardId(i), move || {
                let shard = ShardId(i);
                let l = f(shard, &h);
                let events: Rc<dyn Events> = match proxy {
                    Some(p) => Rc::new(ServerEvents {
                        l: super::proxy::ProxyListener::new(l, p),
                        h: h.clone(),
                    }),
                    None => Rc::new(ServerEvents { l, h: h.clone() }),
                };
                let ctx = match ShardCtx::new(shard, h.core.clone(), events) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(Error::Io(e)));
                        h.core.driver_failed();
                        return;
                    }
                };
                ctx.preamble_layer.set(has_proxy);
                let r = match sock {
                    Some(s) => ctx.add_listener(s, bound),
                    None => Ok(()),
                };
                let _ = tx.send(r);
                glommio::spawn_local(driver::run(ctx, rx)).detach();
            })?;
        }
        let mut first_err = None;
        crate::engine::first_start_error(&replies, &mut first_err);
        if let Some(e) = first_err {
            core.stop();
            let _ = core.wait(Some(std::time::Duration::from_secs(10)));
            return Err(e);
        }
        core.set_started();
        tracing::info!(
            component = core.id,
            addr = %bound,
            shards,
            "TcpServer listening"
        );
        Ok(handle)
    }
}

impl TcpServer {
    /// A builder with HP-Socket's defaults.
    pub fn builder() -> TcpServerBuilder {
        TcpServerBuilder::default()
    }

    /// Adds `conn` to `group` (from any thread; done on the connection's shard). A closed
    /// connection leaves its groups by itself.
    pub fn join(&self, group: crate::groups::GroupId, conn: ConnId) -> Result<()> {
        if !self.core.is_connected(conn) {
            return Err(Error::NotFound);
        }
        let core = self.core.clone();
        crate::groups::on_shard(&self.core, conn.shard(), move || {
            // Checked again on the shard: it may have closed since.
            if core.is_connected(conn) {
                crate::groups::join_local(core.id, group, conn);
            }
        })
    }

    /// Removes `conn` from `group`.
    pub fn leave(&self, group: crate::groups::GroupId, conn: ConnId) -> Result<()> {
        let id = self.core.id;
        crate::groups::on_shard(&self.core, conn.shard(), move || {
            crate::groups::leave_local(id, group, conn)
        })
    }

    /// Sends `data` to every member of `group` but `except`: one job per shard carrying the
    /// bytes once (shared), each shard then queueing them for its own members. Members over
    /// their send-queue bound are skipped and counted ([`Self::group_stats`]). Ok means every
    /// shard got the job.
    pub fn send_group(
        &self,
        group: crate::groups::GroupId,
        data: &[u8],
        except: Option<ConnId>,
    ) -> Result<()> {
        let data: Arc<[u8]> = data.into();
        let mut first_err = None;
        for i in 0..self.core.links.len() {
            let (core, d) = (self.core.clone(), data.clone());
            let r = crate::groups::on_shard(&self.core, ShardId(i), move || {
                crate::groups::fan_out(&core, &core.groups, group, &d, except)
            });
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The groups with at least one member, gathered from every shard (a cluster adapter uses
    /// it to drop subscriptions of groups that emptied). Waits for each shard's answer, so it
    /// is refused on a shard thread ([`Error::WouldDeadlock`]).
    pub fn groups_with_members(&self) -> Result<Vec<crate::groups::GroupId>> {
        if shardnet_runtime::Runtime::current().is_some() {
            return Err(Error::WouldDeadlock);
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let n = self.core.links.len();
        for i in 0..n {
            let (tx, id) = (tx.clone(), self.core.id);
            self.core.runtime.run_on(ShardId(i), move || {
                let _ = tx.send(crate::groups::groups_here(id));
            })?;
        }
        drop(tx);
        let mut all = Vec::new();
        for _ in 0..n {
            match rx.recv_timeout(std::time::Duration::from_secs(5)) {
                Ok(v) => all.extend(v),
                Err(_) => return Err(Error::IllegalState(self.state())),
            }
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    /// Deliveries and skips of [`Self::send_group`] so far.
    pub fn group_stats(&self) -> crate::groups::GroupStats {
        self.core.groups.snapshot()
    }

    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        *self
            .core
            .listen_addr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Methods every component with connection ids has (TcpServer and TcpAgent).
macro_rules! conn_methods {
    ($t:ty) => {
        impl $t {
            /// Queues `data` for `conn`. Ok means accepted (written or queued), not delivered.
            #[inline]
            pub fn send(&self, conn: ConnId, data: &[u8]) -> Result<()> {
                self.core.send(conn, &[data])
            }
            /// Queues several buffers for `conn` as one gather write.
            #[inline]
            pub fn send_packets(&self, conn: ConnId, parts: &[&[u8]]) -> Result<()> {
                self.core.send(conn, parts)
            }
            /// Sends `head` + the file at `path` + `tail` (memory-mapped; at most 4 MiB, else
            /// `InvalidParam`). Under Pack the three form one message.
            pub fn send_small_file(
                &self,
                conn: ConnId,
                path: impl AsRef<std::path::Path>,
                head: &[u8],
                tail: &[u8],
            ) -> Result<()> {
                self.core.send_small_file(conn, path.as_ref(), head, tail)
            }
            /// Closes `conn`: at once when `force`, else once its queued data is written.
            /// `on_close(Close, 0)` follows.
            pub fn disconnect(&self, conn: ConnId, force: bool) -> Result<()> {
                self.core.disconnect(conn, force)
            }
            /// Pauses (true) or resumes (false) reading from `conn`. Paused data stays in the
            /// kernel; nothing is lost.
            pub fn pause_receive(&self, conn: ConnId, pause: bool) -> Result<()> {
                self.core.pause_receive(conn, pause)
            }
            /// Pull model: copies the first `buf.len()` buffered bytes of `conn` into `buf`
            /// and consumes them. `LengthTooLong` (nothing consumed) when fewer are buffered,
            /// `DataNotFound` when `conn` is gone. Callable from any thread.
            pub fn fetch(&self, conn: ConnId, buf: &mut [u8]) -> $crate::FetchResult {
                self.core.fetch(conn, buf, false)
            }
            /// Pull model: like [`Self::fetch`] but leaves the bytes buffered.
            pub fn peek(&self, conn: ConnId, buf: &mut [u8]) -> $crate::FetchResult {
                self.core.fetch(conn, buf, true)
            }
            /// TLS details of `conn`: version, cipher suite, ALPN, SNI, peer certificates (in
            /// callbacks on the owning shard; None elsewhere or without TLS).
            pub fn tls_info(&self, conn: ConnId) -> Option<$crate::tls::TlsInfo> {
                self.core.tls_info(conn)
            }
            /// Pull model: bytes buffered for `conn` (None when gone or not Pull).
            pub fn pull_buffered(&self, conn: ConnId) -> Option<usize> {
                self.core.pull_buffered(conn)
            }
            /// Pull model: each shard's buffered bytes and blocks (empty for other models).
            pub fn pull_stats(&self) -> Vec<$crate::PullStats> {
                self.core.pull_stats()
            }
            /// TLS with `auto_handshake(false)` (STARTTLS): starts `conn`'s TLS handshake now;
            /// until then it speaks plain TCP. `on_handshake` follows when TLS is up.
            pub fn start_handshake(&self, conn: ConnId) -> Result<()> {
                self.core.start_handshake(conn)
            }
            /// Completes the handshake of `conn` (with `auto_handshake(false)`):
            /// `on_handshake` follows on the owning shard.
            pub fn complete_handshake(&self, conn: ConnId) -> Result<()> {
                self.core.complete_handshake(conn)
            }
            /// Bytes accepted by `send` and not yet written to the kernel.
            pub fn pending_data_length(&self, conn: ConnId) -> Option<usize> {
                self.core.pending(conn)
            }
            /// How long `conn` has been connected.
            pub fn connect_period(&self, conn: ConnId) -> Option<std::time::Duration> {
                self.core.connect_period(conn)
            }
            /// How long `conn` has received nothing (silence tracking is always on).
            pub fn silence_period(&self, conn: ConnId) -> Option<std::time::Duration> {
                self.core.silence_period(conn)
            }
            /// Disconnects connections silent for at least `period`; returns how many.
            pub fn disconnect_silence_connections(
                &self,
                period: std::time::Duration,
                force: bool,
            ) -> usize {
                self.core.disconnect_silence_connections(period, force)
            }
            /// Disconnects connections open for at least `period`; returns how many.
            pub fn disconnect_long_connections(
                &self,
                period: std::time::Duration,
                force: bool,
            ) -> usize {
                self.core.disconnect_long_connections(period, force)
            }
            /// Open connections.
            pub fn connection_count(&self) -> usize {
                self.core.connection_count()
            }
            /// Ids of open connections.
            pub fn connection_ids(&self) -> Vec<ConnId> {
                self.core.connection_ids()
            }
            /// True while `conn` is open.
            pub fn is_connected(&self, conn: ConnId) -> bool {
                self.core.is_connected(conn)
            }
            /// Local address of `conn`.
            pub fn local_addr(&self, conn: ConnId) -> Option<SocketAddr> {
                self.core.local_addr(conn)
            }
            /// Peer address of `conn`.
            pub fn remote_addr(&self, conn: ConnId) -> Option<SocketAddr> {
                self.core.remote_addr(conn)
            }
            /// Stores a user value with `conn` (HP-Socket's connection extra); false if `conn`
            /// is gone. Readable until `on_close` returns.
            pub fn set_extra(&self, conn: ConnId, value: u64) -> bool {
                self.core.set_extra(conn, value)
            }
            /// The user value stored with `conn` (0 if never set).
            pub fn extra(&self, conn: ConnId) -> Option<u64> {
                self.core.extra(conn)
            }
            /// Life-cycle state.
            pub fn state(&self) -> ServiceState {
                self.core.state()
            }
            /// Starts stopping: every connection gets `on_close`, then `on_shutdown` runs once.
            /// Returns at once; safe inside callbacks.
            pub fn stop(&self) {
                self.core.stop()
            }
            /// Blocks until stopped. Refused (WouldDeadlock) on the component's shard threads.
            pub fn wait(&self) -> Result<()> {
                self.core.wait(None).map(|_| ())
            }
            /// Like [`Self::wait`] with a time limit; Ok(true) if stopped.
            pub fn wait_timeout(&self, t: std::time::Duration) -> Result<bool> {
                self.core.wait(Some(t))
            }
            /// The runtime the component runs on.
            pub fn runtime(&self) -> &Runtime {
                &self.core.runtime
            }
            /// Per-shard counters, by shard index.
            pub fn shard_stats(&self) -> Vec<StatsSnapshot> {
                self.core.shard_stats()
            }
            /// Effective configuration.
            pub fn config(&self) -> &TcpConfig {
                &self.core.cfg
            }
        }
    };
}
pub(crate) use conn_methods;
conn_methods!(TcpServer);
