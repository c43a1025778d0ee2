//! TcpAgent: opens many outgoing connections, spread over the shards, and calls an
//! [`AgentListener`].

use crate::config::config_setters;
use crate::core::{Cmd, Core};
use crate::server::{conn_methods, runtime_for};
use crate::tcp::driver::{self, Events, ShardCtx};
use crate::{AgentListener, Error, HandleResult, Result, ServiceState, SocketOperation, TcpConfig};
use shardnet_runtime::{ConnId, ConnectPlacement, Runtime, ShardId};
use shardnet_shard::StatsSnapshot;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::sync::Arc;

/// Handle to a running TCP agent. `Clone + Send + Sync`.
#[derive(Clone)]
pub struct TcpAgent {
    pub(crate) core: Arc<Core>,
    local: Option<std::net::IpAddr>,
}

/// Configures and starts a [`TcpAgent`].
#[derive(Default)]
pub struct TcpAgentBuilder {
    cfg: TcpConfig,
    runtime: Option<Runtime>,
    local: Option<std::net::IpAddr>,
}

struct AgentEvents<L> {
    l: L,
    h: TcpAgent,
}

impl<L: AgentListener> Events for AgentEvents<L> {
    fn prepare_connect(&self, conn: ConnId, fd: BorrowedFd<'_>) -> HandleResult {
        self.l.on_prepare_connect(&self.h, conn, fd)
    }
    fn connect(&self, conn: ConnId) -> HandleResult {
        self.l.on_connect(&self.h, conn)
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
        let _ = self.l.on_close(&self.h, conn, op, errno);
    }
    fn shutdown(&self) {
        let _ = self.l.on_shutdown(&self.h);
    }
}

/// Starts an agent-shaped component whose per-shard events are built by `make`.
pub(crate) fn start_agent_core(
    cfg: TcpConfig,
    runtime: Option<Runtime>,
    make: Arc<dyn Fn(ShardId, Arc<Core>) -> Rc<dyn Events> + Send + Sync>,
) -> Result<Arc<Core>> {
    cfg.validate()?;
    let runtime = runtime_for(&cfg, runtime)?;
    let (core, rxs) = Core::new(runtime.clone(), cfg);
    let mut replies = Vec::new();
    for (i, rx) in rxs.into_iter().enumerate() {
        let core2 = core.clone();
        let make = make.clone();
        let (tx, reply) = crossbeam_channel::bounded::<Result<()>>(1);
        replies.push(reply);
        runtime.run_on(ShardId(i), move || {
            let shard = ShardId(i);
            let events = make(shard, core2.clone());
            match ShardCtx::new(shard, core2.clone(), events) {
                Ok(ctx) => {
                    let _ = tx.send(Ok(()));
                    glommio::spawn_local(driver::run(ctx, rx)).detach();
                }
                Err(e) => {
                    let _ = tx.send(Err(Error::Io(e)));
                    core2.driver_failed();
                }
            }
        })?;
    }
    for r in replies {
        match r.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                core.stop();
                return Err(e);
            }
            Err(_) => return Err(Error::IllegalState(ServiceState::Stopped)),
        }
    }
    core.set_started();
    Ok(core)
}

/// Reserves an id on a shard chosen by the placement and asks that shard to connect.
pub(crate) fn connect_core(
    core: &Core,
    addr: SocketAddr,
    local: Option<SocketAddr>,
    placement: ConnectPlacement,
    server_name: Option<String>,
    before_post: impl FnOnce(ConnId),
) -> Result<ConnId> {
    if core.is_stopping() || core.state() != ServiceState::Started {
        return Err(Error::IllegalState(core.state()));
    }
    let shard = core.load.pick(placement);
    if !core.load.try_open(shard, core.cfg.max_connections) {
        return Err(Error::InvalidParam(format!(
            "max_connections ({}) reached",
            core.cfg.max_connections
        )));
    }
    let Some(conn) = core.links[shard.0].dir.reserve() else {
        core.load.closed(shard);
        return Err(Error::InvalidParam("no free connection slot".into()));
    };
    before_post(conn);
    if let Err(e) = core.post(
        shard,
        Cmd::Connect {
            conn,
            addr,
            local,
            server_name,
        },
    ) {
        core.load.closed(shard);
        core.links[shard.0].dir.release(conn);
        return Err(e);
    }
    Ok(conn)
}

/// Resolves `host:port` (host names are looked up on the calling thread).
pub(crate) fn resolve_host(host: &str, port: u16) -> Result<SocketAddr> {
    let host_trim = host.trim_start_matches('[').trim_end_matches(']');
    (host_trim, port)
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: format!("{host}:{port}"),
            source,
        })?
        .next()
        .ok_or_else(|| Error::Resolve {
            host: format!("{host}:{port}"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        })
}

impl TcpAgentBuilder {
    config_setters!();

    /// TLS with this configuration (HP-Socket's `SslAgent` family).
    pub fn tls(mut self, cfg: crate::tls::ClientTlsConfig) -> Self {
        self.cfg.tls = Some(crate::TlsSettings::Client(cfg));
        self
    }

    /// How connections are spread over shards (default round-robin).
    pub fn placement(mut self, p: ConnectPlacement) -> Self {
        self.cfg.connect_placement = p;
        self
    }

    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, t: std::time::Duration) -> Self {
        self.cfg.connect_timeout = t;
        self
    }

    /// Local address every connection binds to (port 0), HP's `Start(bindAddress)`.
    pub fn bind_address(mut self, ip: std::net::IpAddr) -> Self {
        self.local = Some(ip);
        self
    }

    /// Starts the agent with one shared listener.
    pub fn start<L>(self, listener: Arc<L>) -> Result<TcpAgent>
    where
        L: AgentListener + Send + Sync,
    {
        self.start_with(move |_| listener.clone())
    }

    /// Starts the agent with one listener per shard, built on each shard's thread.
    pub fn start_with<L, F>(self, factory: F) -> Result<TcpAgent>
    where
        L: AgentListener,
        F: Fn(ShardId) -> L + Send + Sync + 'static,
    {
        self.start_with_core(move |shard, _| factory(shard))
    }

    /// Like [`Self::start_with`]; the factory also sees the component's core (layers key
    /// their per-shard state by its id).
    pub(crate) fn start_with_core<L, F>(self, factory: F) -> Result<TcpAgent>
    where
        L: AgentListener,
        F: Fn(ShardId, &Arc<Core>) -> L + Send + Sync + 'static,
    {
        let local = self.local;
        let make = Arc::new(move |shard: ShardId, core: Arc<Core>| -> Rc<dyn Events> {
            Rc::new(AgentEvents {
                l: factory(shard, &core),
                h: TcpAgent { core, local },
            })
        });
        let core = start_agent_core(self.cfg, self.runtime, make)?;
        Ok(TcpAgent { core, local })
    }
}

impl TcpAgent {
    /// A builder with HP-Socket's defaults.
    pub fn builder() -> TcpAgentBuilder {
        TcpAgentBuilder::default()
    }

    /// Starts connecting to `host:port` (host names resolved on the calling thread) and returns
    /// the new connection's id at once. Success is `on_connect`; failure is exactly one
    /// `on_close(Connect, errno)` (ECONNREFUSED, ETIMEDOUT after the connect timeout, …).
    /// Under TLS the host is also the server name (SNI, certificate check).
    pub fn connect(&self, host: &str, port: u16) -> Result<ConnId> {
        self.connect_named(host, port, host)
    }

    /// Like [`Self::connect`] with an explicit TLS server name (SNI and certificate check).
    pub fn connect_named(&self, host: &str, port: u16, server_name: &str) -> Result<ConnId> {
        self.connect_named_then(host, port, server_name, |_| {})
    }

    /// `connect_named` running `before_post` with the new id before the connect is posted
    /// (a layer records what it needs before any callback of the connection can run).
    pub(crate) fn connect_named_then(
        &self,
        host: &str,
        port: u16,
        server_name: &str,
        before_post: impl FnOnce(ConnId),
    ) -> Result<ConnId> {
        self.connect_from_then(host, port, None, server_name, before_post)
    }

    /// Connects to `host:port` (resolved on the calling thread) from `local`, with the TLS
    /// server name `server_name`, running `before_post` with the new id before the connect is
    /// posted, so no callback of the connection can run before it (HP's `Connect` with
    /// `pExtra`).
    ///
    /// `local`: None is the agent's bind address ([`TcpAgentBuilder::bind_address`]), any
    /// port; an unspecified IP (`0.0.0.0`, `::`) with a port is the agent's bind IP (or any
    /// IP of the remote's family) with that port.
    pub fn connect_from_then(
        &self,
        host: &str,
        port: u16,
        local: Option<SocketAddr>,
        server_name: &str,
        before_post: impl FnOnce(ConnId),
    ) -> Result<ConnId> {
        let addr = resolve_host(host, port)?;
        let local = self.local_for(addr, local)?;
        let name = server_name.trim_start_matches('[').trim_end_matches(']');
        connect_core(
            &self.core,
            addr,
            local,
            self.core.cfg.connect_placement,
            Some(name.to_string()),
            before_post,
        )
    }

    /// The local address a connect to `remote` leaves from (see `connect_from_then`); an
    /// unspecified bind address counts as none (HP's), and a local address of the other
    /// family than `remote` fails here (EAFNOSUPPORT) rather than on the shard.
    fn local_for(
        &self,
        remote: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<Option<SocketAddr>> {
        let port = match local {
            None => 0,
            Some(l) if !l.ip().is_unspecified() => return same_family(remote, l).map(Some),
            Some(l) => l.port(),
        };
        let ip = match self.local.filter(|ip| !ip.is_unspecified()) {
            Some(ip) => ip,
            None if port == 0 => return Ok(None),
            None if remote.is_ipv6() => std::net::Ipv6Addr::UNSPECIFIED.into(),
            None => std::net::Ipv4Addr::UNSPECIFIED.into(),
        };
        same_family(remote, SocketAddr::new(ip, port)).map(Some)
    }

    /// Like [`Self::connect`] with an explicit local address and shard placement.
    pub fn connect_with(
        &self,
        addr: SocketAddr,
        local: Option<SocketAddr>,
        placement: ConnectPlacement,
    ) -> Result<ConnId> {
        connect_core(&self.core, addr, local, placement, None, |_| {})
    }
}

/// `local` when it is of `remote`'s address family.
fn same_family(remote: SocketAddr, local: SocketAddr) -> Result<SocketAddr> {
    if remote.is_ipv6() == local.is_ipv6() {
        Ok(local)
    } else {
        Err(crate::Error::Io(std::io::Error::from_raw_os_error(
            libc::EAFNOSUPPORT,
        )))
    }
}

conn_methods!(TcpAgent);
