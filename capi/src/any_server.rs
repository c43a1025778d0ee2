//! The component behind an `HP_Server` handle: a TCP server (push, pull, pack, SSL) or a UDP
//! server (plain or ARQ). HP-Socket's `HP_Server_*` functions take any of them, so they call
//! this type, which answers for either; what only TCP has (pull, `PauseReceive`, small files,
//! TLS) is refused for UDP with `EOPNOTSUPP`.
//!
//! A UDP server keeps no per-connection application value or times of its own; [`UdpConns`]
//! does, filled by the listener bridge (`udp.rs`) as connections open, receive and close.

use crate::per_shard::PerShard;
use shardnet_components::udp::UdpServer;
use shardnet_components::{Error, FetchResult, Result, ServiceState, TcpServer};
use shardnet_runtime::ConnId;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the C API keeps per UDP connection.
#[derive(Clone, Copy)]
pub(crate) struct UdpConn {
    pub extra: u64,
    pub opened: Instant,
    pub last_receive: Instant,
}

/// The UDP connections of one server run, by id (one lock per shard: see [`PerShard`]).
#[derive(Default)]
pub(crate) struct UdpConns(PerShard<UdpConn>);

impl UdpConns {
    pub(crate) fn opened(&self, c: ConnId) {
        let now = Instant::now();
        self.0.lock(c.as_u64()).insert(
            c.as_u64(),
            UdpConn {
                extra: 0,
                opened: now,
                last_receive: now,
            },
        );
    }
    pub(crate) fn received(&self, c: ConnId) {
        if let Some(u) = self.0.lock(c.as_u64()).get_mut(&c.as_u64()) {
            u.last_receive = Instant::now();
        }
    }
    pub(crate) fn closed(&self, c: ConnId) {
        self.0.lock(c.as_u64()).remove(&c.as_u64());
    }
    fn get(&self, c: ConnId) -> Option<UdpConn> {
        self.0.lock(c.as_u64()).get(&c.as_u64()).copied()
    }
    fn all(&self) -> Vec<(ConnId, UdpConn)> {
        let mut v = Vec::new();
        self.0
            .each_part(|p| v.extend(p.iter().map(|(k, u)| (ConnId::from_u64(*k), *u))));
        v
    }
}

/// A running server of either family.
#[derive(Clone)]
pub(crate) enum AnyServer {
    Tcp(TcpServer),
    Udp(UdpServer, Arc<UdpConns>),
}

fn unsupported() -> Error {
    Error::Io(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

impl AnyServer {
    pub(crate) fn udp(&self) -> Option<&UdpServer> {
        match self {
            AnyServer::Udp(u, _) => Some(u),
            AnyServer::Tcp(_) => None,
        }
    }
    pub(crate) fn pause_receive(&self, c: ConnId, pause: bool) -> Result<()> {
        match self {
            AnyServer::Tcp(t) => t.pause_receive(c, pause),
            AnyServer::Udp(..) => Err(unsupported()),
        }
    }
    pub(crate) fn is_connected(&self, c: ConnId) -> bool {
        match self {
            AnyServer::Tcp(t) => t.is_connected(c),
            AnyServer::Udp(u, _) => u.remote_addr(c).is_some(),
        }
    }
    /// UDP closes at once either way (there is no queue to wait for: HP's too).
    pub(crate) fn disconnect(&self, c: ConnId, force: bool) -> Result<()> {
        match self {
            AnyServer::Tcp(t) => t.disconnect(c, force),
            AnyServer::Udp(u, _) => u.disconnect(c),
        }
    }
    fn disconnect_older(&self, period: Duration, since: fn(&UdpConn) -> Instant) -> usize {
        let mut n = 0;
        if let AnyServer::Udp(u, conns) = self {
            for (c, info) in conns.all() {
                if since(&info).elapsed() > period && u.disconnect(c).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }
    pub(crate) fn disconnect_long_connections(&self, period: Duration, force: bool) -> usize {
        match self {
            AnyServer::Tcp(t) => t.disconnect_long_connections(period, force),
            AnyServer::Udp(..) => self.disconnect_older(period, |i| i.opened),
        }
    }
    pub(crate) fn disconnect_silence_connections(&self, period: Duration, force: bool) -> usize {
        match self {
            AnyServer::Tcp(t) => t.disconnect_silence_connections(period, force),
            AnyServer::Udp(..) => self.disconnect_older(period, |i| i.last_receive),
        }
    }
    pub(crate) fn set_extra(&self, c: ConnId, v: u64) -> bool {
        match self {
            AnyServer::Tcp(t) => t.set_extra(c, v),
            AnyServer::Udp(_, conns) => match conns.0.lock(c.as_u64()).get_mut(&c.as_u64()) {
                Some(u) => {
                    u.extra = v;
                    true
                }
                None => false,
            },
        }
    }
    pub(crate) fn extra(&self, c: ConnId) -> Option<u64> {
        match self {
            AnyServer::Tcp(t) => t.extra(c),
            AnyServer::Udp(_, conns) => conns.get(c).map(|u| u.extra),
        }
    }
    /// UDP: 0 (datagrams leave within the turn they were sent in), or an ARQ session's
    /// segments waiting to be sent or acknowledged.
    pub(crate) fn pending_data_length(&self, c: ConnId) -> Option<usize> {
        match self {
            AnyServer::Tcp(t) => t.pending_data_length(c),
            AnyServer::Udp(u, conns) => {
                conns.get(c)?;
                Some(u.waiting_send(c).unwrap_or(0))
            }
        }
    }
    pub(crate) fn connection_count(&self) -> usize {
        match self {
            AnyServer::Tcp(t) => t.connection_count(),
            AnyServer::Udp(u, _) => u.connection_count(),
        }
    }
    pub(crate) fn connection_ids(&self) -> Vec<ConnId> {
        match self {
            AnyServer::Tcp(t) => t.connection_ids(),
            AnyServer::Udp(u, _) => u.connection_ids(),
        }
    }
    pub(crate) fn connect_period(&self, c: ConnId) -> Option<Duration> {
        match self {
            AnyServer::Tcp(t) => t.connect_period(c),
            AnyServer::Udp(_, conns) => conns.get(c).map(|u| u.opened.elapsed()),
        }
    }
    pub(crate) fn silence_period(&self, c: ConnId) -> Option<Duration> {
        match self {
            AnyServer::Tcp(t) => t.silence_period(c),
            AnyServer::Udp(_, conns) => conns.get(c).map(|u| u.last_receive.elapsed()),
        }
    }
    /// UDP: the server's address (one socket per shard, all bound to it).
    pub(crate) fn local_addr(&self, c: ConnId) -> Option<SocketAddr> {
        match self {
            AnyServer::Tcp(t) => t.local_addr(c),
            AnyServer::Udp(u, _) => u.remote_addr(c).and(u.listen_addr()),
        }
    }
    pub(crate) fn remote_addr(&self, c: ConnId) -> Option<SocketAddr> {
        match self {
            AnyServer::Tcp(t) => t.remote_addr(c),
            AnyServer::Udp(u, _) => u.remote_addr(c),
        }
    }
    pub(crate) fn listen_addr(&self) -> Option<SocketAddr> {
        match self {
            AnyServer::Tcp(t) => t.listen_addr(),
            AnyServer::Udp(u, _) => u.listen_addr(),
        }
    }
    pub(crate) fn start_handshake(&self, c: ConnId) -> Result<()> {
        match self {
            AnyServer::Tcp(t) => t.start_handshake(c),
            AnyServer::Udp(..) => Err(unsupported()),
        }
    }
    pub(crate) fn state(&self) -> ServiceState {
        match self {
            AnyServer::Tcp(t) => t.state(),
            AnyServer::Udp(u, _) => u.state(),
        }
    }
    pub(crate) fn stop(&self) {
        match self {
            AnyServer::Tcp(t) => t.stop(),
            AnyServer::Udp(u, _) => u.stop(),
        }
    }
    pub(crate) fn wait(&self) -> Result<()> {
        match self {
            AnyServer::Tcp(t) => t.wait(),
            AnyServer::Udp(u, _) => u.wait(),
        }
    }
}

impl crate::complex::Complex for AnyServer {
    fn send_packets(&self, c: ConnId, parts: &[&[u8]]) -> Result<()> {
        match self {
            AnyServer::Tcp(t) => t.send_packets(c, parts),
            AnyServer::Udp(u, _) => u.send_packets(c, parts),
        }
    }
    fn extra(&self, c: ConnId) -> Option<u64> {
        AnyServer::extra(self, c)
    }
    fn connection_ids(&self) -> Vec<ConnId> {
        AnyServer::connection_ids(self)
    }
    fn state(&self) -> ServiceState {
        AnyServer::state(self)
    }
    fn stop(&self) {
        AnyServer::stop(self)
    }
    fn wait_timeout(&self, t: Duration) -> Result<bool> {
        match self {
            AnyServer::Tcp(s) => s.wait_timeout(t),
            AnyServer::Udp(u, _) => u.wait_timeout(t),
        }
    }
    fn fetch(&self, c: ConnId, buf: &mut [u8], peek: bool) -> FetchResult {
        match self {
            AnyServer::Tcp(t) if peek => t.peek(c, buf),
            AnyServer::Tcp(t) => t.fetch(c, buf),
            AnyServer::Udp(..) => FetchResult::DataNotFound,
        }
    }
    fn send_small_file(&self, c: ConnId, path: &str, head: &[u8], tail: &[u8]) -> Result<()> {
        match self {
            AnyServer::Tcp(t) => t.send_small_file(c, path, head, tail),
            AnyServer::Udp(..) => Err(unsupported()),
        }
    }
}
