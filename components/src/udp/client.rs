//! `UdpClient` (HP's `UdpClient`, and `UdpArqClient` when built with [`UdpClientBuilder::arq`]):
//! one connected UDP socket on its own thread (a one-shard runtime), heartbeats every
//! `detect_interval`, closed after `detect_attempts` silent intervals; ICMP "port unreachable"
//! surfaces as `on_close(Receive, ECONNREFUSED)`.

use super::core::UdpCore;
use super::driver::{self, Role, UdpEvents, UdpShard};
use super::server::resolve;
use super::{UdpClientListener, UdpConfig};
use crate::{Error, HandleResult, Result, ServiceState, SocketOperation};
use shardnet_protocols::arq::ArqConfig;
use shardnet_runtime::{ConnId, Runtime, ShardId};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A UDP client (see the module docs). Cheap to clone; any thread.
#[derive(Clone)]
pub struct UdpClient {
    core: Arc<UdpCore>,
    conn: Arc<AtomicU64>,
}

/// Builds a [`UdpClient`].
#[derive(Default)]
pub struct UdpClientBuilder {
    cfg: UdpConfig,
    bind: Option<SocketAddr>,
}

impl UdpClientBuilder {
    /// Largest datagram (default 1432).
    pub fn max_datagram(mut self, n: usize) -> Self {
        self.cfg.max_datagram = n;
        self
    }

    /// UDP GSO on sends (default off; see [`UdpConfig::gso`](crate::udp::UdpConfig::gso)).
    pub fn gso(mut self, on: bool) -> Self {
        self.cfg.gso = on;
        self
    }

    /// Heartbeats every `interval`; closed after `attempts` intervals without a datagram
    /// (default 60 s × 3; 0 attempts: only the first heartbeat).
    pub fn detect(mut self, interval: Duration, attempts: u32) -> Self {
        self.cfg.detect_interval = interval;
        self.cfg.detect_attempts = attempts;
        self
    }

    /// Reliable UDP with these settings (HP's `UdpArqClient`).
    pub fn arq(mut self, cfg: ArqConfig) -> Self {
        self.cfg.arq = Some(cfg);
        self
    }

    /// The local address to bind (default: any, of the server's family).
    pub fn bind_address(mut self, addr: SocketAddr) -> Self {
        self.bind = Some(addr);
        self
    }

    /// Connects to `host:port` and starts; `on_connect` (and, without ARQ, `on_handshake`)
    /// follow on the client's thread.
    pub fn start<L: UdpClientListener + Send>(
        mut self,
        host: &str,
        port: u16,
        listener: L,
    ) -> Result<UdpClient> {
        self.cfg.validate()?;
        let peer = resolve(&format!("{host}:{port}"))?;
        let local = self.bind.unwrap_or(if peer.is_ipv6() {
            "[::]:0".parse().expect("literal")
        } else {
            "0.0.0.0:0".parse().expect("literal")
        });
        let sock = {
            use socket2::{Domain, Protocol, Socket, Type};
            let s = Socket::new(
                Domain::for_address(peer),
                Type::DGRAM.nonblocking().cloexec(),
                Some(Protocol::UDP),
            )
            .map_err(Error::SocketCreate)?;
            s.bind(&local.into()).map_err(|source| Error::SocketBind {
                addr: local,
                source,
            })?;
            s.connect(&peer.into())
                .map_err(|e| Error::ConnectFailed(e.raw_os_error().unwrap_or(libc::EIO)))?;
            std::os::fd::OwnedFd::from(s)
        };
        self.cfg.shards = Some(1);
        let runtime = Runtime::builder()
            .shards(1)
            .pinned(false)
            .name("shardnet-udp-client")
            .build()?;
        let (core, mut rxs) = UdpCore::new(runtime.clone(), self.cfg);
        let local_bound = socket2::SockRef::from(&sock)
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket());
        *core.local_addr.lock().unwrap_or_else(|p| p.into_inner()) = local_bound;
        let client = UdpClient {
            core: core.clone(),
            conn: Arc::new(AtomicU64::new(0)),
        };
        let h = client.clone();
        let rx = rxs.pop().expect("one shard");
        let (tx, reply) = crossbeam_channel::bounded::<Result<()>>(1);
        runtime.run_on(ShardId(0), move || {
            let events: Rc<dyn UdpEvents> = Rc::new(ClientEvents {
                l: listener,
                h: h.clone(),
            });
            match UdpShard::new(
                ShardId(0),
                h.core.clone(),
                sock,
                Role::Client { peer },
                events,
            ) {
                Ok(sh) => {
                    let ok = sh.connect(peer).is_some();
                    let _ = tx.send(if ok {
                        Ok(())
                    } else {
                        Err(Error::ConnectFailed(crate::CALLBACK_ERROR))
                    });
                    glommio::spawn_local(driver::run(sh, rx)).detach();
                }
                Err(e) => {
                    let _ = tx.send(Err(Error::Io(e)));
                    h.core.driver_failed();
                }
            }
        })?;
        let r = reply
            .recv()
            .unwrap_or(Err(Error::IllegalState(ServiceState::Stopped)));
        if let Err(e) = r {
            client.stop();
            let _ = client.core.wait(Some(Duration::from_secs(10)));
            return Err(e);
        }
        core.life.set_started();
        Ok(client)
    }
}

struct ClientEvents<L> {
    l: L,
    h: UdpClient,
}

impl<L: UdpClientListener> UdpEvents for ClientEvents<L> {
    fn accept(&self, conn: ConnId, _peer: SocketAddr) -> HandleResult {
        self.h.conn.store(conn.as_u64(), Ordering::Release);
        self.l.on_connect(&self.h)
    }
    fn handshake(&self, _conn: ConnId) -> HandleResult {
        self.l.on_handshake(&self.h)
    }
    fn receive(&self, _conn: ConnId, data: &[u8]) -> HandleResult {
        self.l.on_receive(&self.h, data)
    }
    fn send(&self, _conn: ConnId, data: &[u8]) {
        self.l.on_send(&self.h, data);
    }
    fn close(&self, _conn: ConnId, op: SocketOperation, errno: i32) {
        self.l.on_close(&self.h, op, errno);
        // A client is its one connection: it stops with it.
        self.h.core.stop();
    }
    fn shutdown(&self) {}
}

impl UdpClient {
    /// A builder with HP-Socket's defaults.
    pub fn builder() -> UdpClientBuilder {
        UdpClientBuilder::default()
    }

    /// The connection's id.
    pub fn conn_id(&self) -> ConnId {
        ConnId::from_u64(self.conn.load(Ordering::Acquire))
    }

    /// Sends one datagram (ARQ: one message).
    pub fn send(&self, data: &[u8]) -> Result<()> {
        self.core.send(self.conn_id(), &[data])
    }

    /// Sends `parts` as one datagram (ARQ: one message).
    pub fn send_packets(&self, parts: &[&[u8]]) -> Result<()> {
        self.core.send(self.conn_id(), parts)
    }

    /// ARQ: flushes KCP now.
    pub fn flush(&self) -> Result<()> {
        self.core.arq_flush(self.conn_id())
    }

    /// ARQ: drops the messages not yet sent (HP-Socket #227).
    pub fn drop_unsent(&self) -> Result<()> {
        self.core.arq_drop_unsent(self.conn_id())
    }

    /// The server's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.core.remote_addr(self.conn_id())
    }

    /// ARQ: segments waiting to be sent or acknowledged (HP's GetWaitingSendMessageCount). On
    /// the client's own thread only (inside its callbacks; None elsewhere or before a
    /// connection).
    pub fn waiting_send(&self) -> Option<usize> {
        let conn = self.conn_id();
        super::driver::local(self.core.id, conn.shard())?.arq_waiting(conn)
    }

    /// The local address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self
            .core
            .local_addr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.remote_addr().is_some()
    }

    /// Lifecycle state.
    pub fn state(&self) -> ServiceState {
        self.core.life.state()
    }

    /// Stops: the close datagram goes to the server (unless the connection already closed),
    /// then `on_close(Close, 0)`. Returns at once.
    pub fn stop(&self) {
        self.core.stop()
    }

    /// Waits until stopped.
    pub fn wait(&self) -> Result<()> {
        self.core.wait(None).map(|_| ())
    }

    /// Waits up to `timeout`; true if stopped.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.core.wait(Some(timeout))
    }
}
