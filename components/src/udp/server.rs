//! `UdpServer` (HP's `UdpServer`, and `UdpArqServer` when built with [`UdpServerBuilder::arq`]).

use super::core::UdpCore;
use super::driver::{self, Role, UdpEvents, UdpShard};
use super::{UdpConfig, UdpServerListener};
use crate::{Error, HandleResult, Result, ServiceState, SocketOperation};
use shardnet_protocols::arq::ArqConfig;
use shardnet_runtime::{ConnId, Runtime, ShardId};
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// A UDP server: one socket per shard on one address (SO_REUSEPORT), a connection per peer
/// address, HP-Socket's heartbeat and close datagrams; with [`UdpServerBuilder::arq`], HP's
/// reliable UDP (12-byte handshake + KCP, whole messages). Cheap to clone; any thread.
#[derive(Clone)]
pub struct UdpServer {
    pub(crate) core: Arc<UdpCore>,
}

/// Builds a [`UdpServer`].
#[derive(Default)]
pub struct UdpServerBuilder {
    cfg: UdpConfig,
    runtime: Option<Runtime>,
}

/// Creates the UDP socket of one shard, bound to `addr` with SO_REUSEPORT.
pub(crate) fn bind_udp(addr: SocketAddr, dual_stack: bool) -> Result<OwnedFd> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(
        domain,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )
    .map_err(Error::SocketCreate)?;
    s.set_reuse_address(true).map_err(Error::SocketCreate)?;
    s.set_reuse_port(true).map_err(Error::SocketCreate)?;
    if addr.is_ipv6() {
        s.set_only_v6(!dual_stack).map_err(Error::SocketCreate)?;
    }
    // Bursts of datagrams wait in the kernel, not on the wire's floor.
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&addr.into())
        .map_err(|source| Error::SocketBind { addr, source })?;
    Ok(s.into())
}

pub(crate) fn resolve(addr: &str) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: addr.to_string(),
            source,
        })?
        .next()
        .ok_or_else(|| Error::InvalidParam(format!("no address for {addr}")))
}

pub(crate) fn runtime_for(cfg: &UdpConfig, rt: Option<Runtime>) -> Result<Runtime> {
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

impl UdpServerBuilder {
    /// Runs on this runtime (its shards) instead of a new one.
    pub fn runtime(mut self, rt: Runtime) -> Self {
        self.runtime = Some(rt);
        self
    }

    /// Shards of a new runtime (default: one per CPU).
    pub fn shards(mut self, n: usize) -> Self {
        self.cfg.shards = Some(n);
        self
    }

    /// Largest datagram (default 1432).
    pub fn max_datagram(mut self, n: usize) -> Self {
        self.cfg.max_datagram = n;
        self
    }

    /// Heartbeat detection: a peer silent for `attempts × interval` is closed (default 3 ×
    /// 60 s; HP-Socket's granularity is seconds, ours milliseconds: a faster dead-peer
    /// detection, HP-Socket #152). 0 attempts: off.
    pub fn detect(mut self, interval: Duration, attempts: u32) -> Self {
        self.cfg.detect_interval = interval;
        self.cfg.detect_attempts = attempts;
        self
    }

    /// Most connections (0 = no limit); a new address beyond it gets the close datagram.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.cfg.max_connections = n;
        self
    }

    /// Datagrams per `recvmmsg` (default 64).
    pub fn recv_batch(mut self, n: usize) -> Self {
        self.cfg.recv_batch = n;
        self
    }

    /// UDP GSO on sends (default off; see [`UdpConfig::gso`](crate::udp::UdpConfig::gso)).
    pub fn gso(mut self, on: bool) -> Self {
        self.cfg.gso = on;
        self
    }

    /// Reliable UDP with these settings (HP's `UdpArqServer`; `ArqConfig::default()` is HP's).
    pub fn arq(mut self, cfg: ArqConfig) -> Self {
        self.cfg.arq = Some(cfg);
        self
    }

    /// The whole configuration.
    pub fn config(mut self, cfg: UdpConfig) -> Self {
        self.cfg = cfg;
        self
    }

    /// Starts on `addr` with one shared listener.
    pub fn start<L>(self, addr: &str, listener: Arc<L>) -> Result<UdpServer>
    where
        L: UdpServerListener + Send + Sync,
    {
        self.start_with(addr, move |_| listener.clone())
    }

    /// Starts on `addr` with one listener per shard, built on the shard's thread.
    pub fn start_with<L, F>(self, addr: &str, factory: F) -> Result<UdpServer>
    where
        L: UdpServerListener,
        F: Fn(ShardId) -> L + Send + Sync + 'static,
    {
        self.cfg.validate()?;
        let addr = resolve(addr)?;
        let runtime = runtime_for(&self.cfg, self.runtime)?;
        if runtime.current_shard().is_some() {
            return Err(Error::WouldDeadlock);
        }
        let shards = runtime.shard_count();
        let first = bind_udp(addr, self.cfg.dual_stack)?;
        let bound = socket2::SockRef::from(&first)
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(addr);
        let mut socks = vec![Some(first)];
        for _ in 1..shards {
            socks.push(Some(bind_udp(bound, self.cfg.dual_stack)?));
        }
        let (core, rxs) = UdpCore::new(runtime.clone(), self.cfg);
        *core.local_addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(bound);
        let handle = UdpServer { core: core.clone() };
        let factory = Arc::new(factory);
        let mut replies = Vec::new();
        let mut first_err = None;
        for (i, rx) in rxs.into_iter().enumerate() {
            if first_err.is_some() {
                // An earlier shard could not be reached: this one never runs a driver.
                core.driver_failed();
                continue;
            }
            let sock = socks[i].take().expect("one socket per shard");
            let h = handle.clone();
            let f = factory.clone();
            let (tx, reply) = crossbeam_channel::bounded::<Result<()>>(1);
            replies.push(reply);
            let started = runtime.run_on(ShardId(i), move || {
                let shard = ShardId(i);
                let l = f(shard);
                if l.on_prepare_listen(&h, sock.as_fd(), bound) == HandleResult::Error {
                    let _ = tx.send(Err(Error::SocketPrepare));
                    h.core.driver_failed();
                    return;
                }
                let events: Rc<dyn UdpEvents> = Rc::new(ServerEvents { l, h: h.clone() });
                match UdpShard::new(shard, h.core.clone(), sock, Role::Server, events) {
                    Ok(sh) => {
                        let _ = tx.send(Ok(()));
                        glommio::spawn_local(driver::run(sh, rx)).detach();
                    }
                    Err(e) => {
                        let _ = tx.send(Err(Error::Io(e)));
                        h.core.driver_failed();
                    }
                }
            });
            if let Err(e) = started {
                first_err = Some(Error::from(e));
                core.driver_failed();
            }
        }
        crate::engine::first_start_error(&replies, &mut first_err);
        if let Some(e) = first_err {
            core.stop();
            let _ = core.wait(Some(Duration::from_secs(10)));
            return Err(e);
        }
        core.life.set_started();
        tracing::info!(
            component = core.id,
            addr = %bound,
            shards,
            arq = core.cfg.arq.is_some(),
            "UdpServer listening"
        );
        Ok(handle)
    }
}

struct ServerEvents<L> {
    l: L,
    h: UdpServer,
}

impl<L: UdpServerListener> UdpEvents for ServerEvents<L> {
    fn accept(&self, conn: ConnId, peer: SocketAddr) -> HandleResult {
        self.l.on_accept(&self.h, conn, peer)
    }
    fn handshake(&self, conn: ConnId) -> HandleResult {
        self.l.on_handshake(&self.h, conn)
    }
    fn receive(&self, conn: ConnId, data: &[u8]) -> HandleResult {
        self.l.on_receive(&self.h, conn, data)
    }
    fn send(&self, conn: ConnId, data: &[u8]) {
        self.l.on_send(&self.h, conn, data);
    }
    fn close(&self, conn: ConnId, op: SocketOperation, errno: i32) {
        self.l.on_close(&self.h, conn, op, errno);
    }
    fn shutdown(&self) {
        self.l.on_shutdown(&self.h);
    }
}

impl UdpServer {
    /// A builder with HP-Socket's defaults.
    pub fn builder() -> UdpServerBuilder {
        UdpServerBuilder::default()
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        *self
            .core
            .local_addr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one datagram (ARQ: one message, at most `max_message`) to `conn`. Ok means
    /// queued; it leaves with the shard's next `sendmmsg`.
    pub fn send(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.core.send(conn, &[data])
    }

    /// Sends `parts` as one datagram (ARQ: one message).
    pub fn send_packets(&self, conn: ConnId, parts: &[&[u8]]) -> Result<()> {
        self.core.send(conn, parts)
    }

    /// Closes `conn`: the close datagram is sent, then `on_close(Close, 0)`.
    pub fn disconnect(&self, conn: ConnId) -> Result<()> {
        self.core.disconnect(conn)
    }

    /// ARQ: flushes the connection's KCP now (beyond HP).
    pub fn flush(&self, conn: ConnId) -> Result<()> {
        self.core.arq_flush(conn)
    }

    /// ARQ: drops the messages not yet sent (whole messages; HP-Socket #227).
    pub fn drop_unsent(&self, conn: ConnId) -> Result<()> {
        self.core.arq_drop_unsent(conn)
    }

    /// ARQ: segments waiting to be sent or acknowledged (HP's GetWaitingSendMessageCount). On
    /// the owner shard only (None elsewhere or for an unknown id).
    pub fn waiting_send(&self, conn: ConnId) -> Option<usize> {
        driver::local(self.core.id, conn.shard())?.arq_waiting(conn)
    }

    /// The peer of `conn`.
    pub fn remote_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        self.core.remote_addr(conn)
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.core.connection_count()
    }

    /// Ids of the open connections.
    pub fn connection_ids(&self) -> Vec<ConnId> {
        self.core.connection_ids()
    }

    /// Lifecycle state.
    pub fn state(&self) -> ServiceState {
        self.core.life.state()
    }

    /// Stops (every peer gets the close datagram); returns at once.
    pub fn stop(&self) {
        self.core.stop()
    }

    /// Waits until stopped (`WouldDeadlock` on a shard thread).
    pub fn wait(&self) -> Result<()> {
        self.core.wait(None).map(|_| ())
    }

    /// Waits up to `timeout`; true if stopped.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.core.wait(Some(timeout))
    }
}
