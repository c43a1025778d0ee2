//! The component behind an `HP_Client` handle: a TCP client (push, pull, pack, SSL) or a UDP
//! client (plain or ARQ). HP-Socket's `HP_Client_*` functions take either, so they call this
//! type; what only TCP has (pull, `PauseReceive`, small files, TLS) is refused for UDP with
//! `EOPNOTSUPP`.

use shardnet_components::udp::{UdpClient, UdpNode};
use shardnet_components::{Error, FetchResult, Result, ServiceState, TcpClient};
use shardnet_runtime::ConnId;
use std::net::SocketAddr;
use std::time::Duration;

/// A running client of either family.
#[derive(Clone)]
pub(crate) enum AnyClient {
    Tcp(TcpClient),
    Udp(UdpClient),
    /// HP's UdpCast: a group member (or broadcaster) as a client; its id.
    Cast(UdpNode, ConnId),
}

fn unsupported() -> Error {
    Error::Io(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

impl AnyClient {
    pub(crate) fn udp(&self) -> Option<&UdpClient> {
        match self {
            AnyClient::Udp(u) => Some(u),
            _ => None,
        }
    }
    pub(crate) fn conn_id(&self) -> ConnId {
        match self {
            AnyClient::Tcp(t) => t.conn_id(),
            AnyClient::Udp(u) => u.conn_id(),
            AnyClient::Cast(_, id) => *id,
        }
    }
    pub(crate) fn state(&self) -> ServiceState {
        match self {
            AnyClient::Tcp(t) => t.state(),
            AnyClient::Udp(u) => u.state(),
            AnyClient::Cast(n, _) => n.state(),
        }
    }
    pub(crate) fn stop(&self) {
        match self {
            AnyClient::Tcp(t) => t.stop(),
            AnyClient::Udp(u) => u.stop(),
            AnyClient::Cast(n, _) => n.stop(),
        }
    }
    pub(crate) fn wait(&self) -> Result<()> {
        match self {
            AnyClient::Tcp(t) => t.wait(),
            AnyClient::Udp(u) => u.wait(),
            AnyClient::Cast(n, _) => n.wait(),
        }
    }
    pub(crate) fn wait_timeout(&self, t: Duration) -> Result<bool> {
        match self {
            AnyClient::Tcp(c) => c.wait_timeout(t),
            AnyClient::Udp(u) => u.wait_timeout(t),
            AnyClient::Cast(n, _) => n.wait_timeout(t),
        }
    }
    /// UDP: one datagram (ARQ: one message; a cast: to the group).
    pub(crate) fn send(&self, d: &[u8]) -> Result<()> {
        self.send_packets(&[d])
    }
    pub(crate) fn send_packets(&self, parts: &[&[u8]]) -> Result<()> {
        match self {
            AnyClient::Tcp(t) => t.send_packets(parts),
            AnyClient::Udp(u) => u.send_packets(parts),
            AnyClient::Cast(n, _) => match n.cast_addr() {
                Some(to) => n.send_packets_to(to, parts),
                None => Err(unsupported()),
            },
        }
    }
    pub(crate) fn pause_receive(&self, pause: bool) -> Result<()> {
        match self {
            AnyClient::Tcp(t) => t.pause_receive(pause),
            _ => Err(unsupported()),
        }
    }
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            AnyClient::Tcp(t) => t.local_addr(),
            AnyClient::Udp(u) => u.local_addr(),
            AnyClient::Cast(n, _) => n.local_addr(),
        }
    }
    /// A cast: the group (or broadcast) address.
    pub(crate) fn remote_addr(&self) -> Option<SocketAddr> {
        match self {
            AnyClient::Tcp(t) => t.remote_addr(),
            AnyClient::Udp(u) => u.remote_addr(),
            AnyClient::Cast(n, _) => n.cast_addr(),
        }
    }
    /// UDP: 0 while connected (datagrams leave within the turn); ARQ on the client's thread:
    /// the segments waiting.
    pub(crate) fn pending_data_length(&self) -> Option<usize> {
        match self {
            AnyClient::Tcp(t) => t.pending_data_length(),
            AnyClient::Udp(u) => u.is_connected().then(|| u.waiting_send().unwrap_or(0)),
            AnyClient::Cast(..) => self.is_connected().then_some(0),
        }
    }
    pub(crate) fn is_connected(&self) -> bool {
        match self {
            AnyClient::Tcp(t) => t.is_connected(),
            AnyClient::Udp(u) => u.is_connected(),
            AnyClient::Cast(n, _) => n.state() == ServiceState::Started,
        }
    }
    pub(crate) fn send_small_file(&self, path: &str, head: &[u8], tail: &[u8]) -> Result<()> {
        match self {
            AnyClient::Tcp(t) => t.send_small_file(path, head, tail),
            _ => Err(unsupported()),
        }
    }
    pub(crate) fn fetch(&self, buf: &mut [u8]) -> FetchResult {
        match self {
            AnyClient::Tcp(t) => t.fetch(buf),
            _ => FetchResult::DataNotFound,
        }
    }
    pub(crate) fn peek(&self, buf: &mut [u8]) -> FetchResult {
        match self {
            AnyClient::Tcp(t) => t.peek(buf),
            _ => FetchResult::DataNotFound,
        }
    }
    pub(crate) fn start_handshake(&self) -> Result<()> {
        match self {
            AnyClient::Tcp(t) => t.start_handshake(),
            _ => Err(unsupported()),
        }
    }
}
