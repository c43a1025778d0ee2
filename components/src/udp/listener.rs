//! The UDP listener traits: HP-Socket's `IUdpServerListener` / `IUdpClientListener` contract
//! (which its ARQ components share).
//!
//! | callback | when |
//! |---|---|
//! | `on_prepare_listen` | the shard's socket is bound (server; once per shard) |
//! | `on_accept` | the first datagram from a new address (`Error`: no connection, no `on_close`) |
//! | `on_handshake` | ready to send: right after accept/connect, or when the ARQ handshake completes |
//! | `on_receive` | one datagram (ARQ: one whole message) |
//! | `on_send` | a datagram (ARQ: a message) was queued for the shard's next `sendmmsg` |
//! | `on_close` | exactly once per accepted/connected connection |
//! | `on_shutdown` | the component stopped (server) |
//!
//! `on_close(operation, errno)`: the peer's close datagram or `disconnect`/`stop` → (`Close`,
//! 0); heartbeat silence → (`Close`, `ETIMEDOUT`); a datagram over the maximum → (`Receive`,
//! `EMSGSIZE`); a callback's `Error` → (`Receive`, `ECANCELED`); ICMP port unreachable on a
//! client → (`Receive`, `ECONNREFUSED`); ARQ: a bad datagram → (`Receive`, `EBADMSG`), a
//! conversation reset → `ECONNRESET`, handshake timeout → `ETIMEDOUT`, a message over the
//! maximum → `EMSGSIZE`.

use super::{UdpClient, UdpServer};
use crate::{HandleResult, SocketOperation};
use shardnet_runtime::ConnId;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

/// Callbacks of a [`UdpServer`] (plain or ARQ).
#[allow(unused_variables)]
pub trait UdpServerListener: 'static {
    /// The shard's socket is bound; set extra options here. `Error` fails `start`.
    fn on_prepare_listen(
        &self,
        server: &UdpServer,
        socket: BorrowedFd<'_>,
        addr: SocketAddr,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// A new peer address; `Error` refuses it (no connection, no `on_close`).
    fn on_accept(&self, server: &UdpServer, conn: ConnId, peer: SocketAddr) -> HandleResult {
        HandleResult::Ignore
    }
    /// Ready to send.
    fn on_handshake(&self, server: &UdpServer, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// One datagram (ARQ: one message); the slice is valid during the call only.
    fn on_receive(&self, server: &UdpServer, conn: ConnId, data: &[u8]) -> HandleResult;
    /// Data queued for sending.
    fn on_send(&self, server: &UdpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection closed (exactly once).
    fn on_close(
        &self,
        server: &UdpServer,
        conn: ConnId,
        operation: SocketOperation,
        errno: i32,
    ) -> HandleResult;
    /// The server stopped.
    fn on_shutdown(&self, server: &UdpServer) -> HandleResult {
        HandleResult::Ignore
    }
}

/// Callbacks of a [`UdpClient`] (plain or ARQ).
#[allow(unused_variables)]
pub trait UdpClientListener: 'static {
    /// The socket is connected (UDP: addressed); ready unless ARQ.
    fn on_connect(&self, client: &UdpClient) -> HandleResult {
        HandleResult::Ignore
    }
    /// Ready to send (ARQ: the handshake completed).
    fn on_handshake(&self, client: &UdpClient) -> HandleResult {
        HandleResult::Ignore
    }
    /// One datagram (ARQ: one message).
    fn on_receive(&self, client: &UdpClient, data: &[u8]) -> HandleResult;
    /// Data queued for sending.
    fn on_send(&self, client: &UdpClient, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection closed (exactly once).
    fn on_close(&self, client: &UdpClient, operation: SocketOperation, errno: i32) -> HandleResult;
}

impl<L: UdpServerListener + ?Sized> UdpServerListener for Arc<L> {
    fn on_prepare_listen(&self, s: &UdpServer, f: BorrowedFd<'_>, a: SocketAddr) -> HandleResult {
        (**self).on_prepare_listen(s, f, a)
    }
    fn on_accept(&self, s: &UdpServer, c: ConnId, p: SocketAddr) -> HandleResult {
        (**self).on_accept(s, c, p)
    }
    fn on_handshake(&self, s: &UdpServer, c: ConnId) -> HandleResult {
        (**self).on_handshake(s, c)
    }
    fn on_receive(&self, s: &UdpServer, c: ConnId, d: &[u8]) -> HandleResult {
        (**self).on_receive(s, c, d)
    }
    fn on_send(&self, s: &UdpServer, c: ConnId, d: &[u8]) -> HandleResult {
        (**self).on_send(s, c, d)
    }
    fn on_close(&self, s: &UdpServer, c: ConnId, o: SocketOperation, e: i32) -> HandleResult {
        (**self).on_close(s, c, o, e)
    }
    fn on_shutdown(&self, s: &UdpServer) -> HandleResult {
        (**self).on_shutdown(s)
    }
}

impl<L: UdpClientListener + ?Sized> UdpClientListener for Arc<L> {
    fn on_connect(&self, c: &UdpClient) -> HandleResult {
        (**self).on_connect(c)
    }
    fn on_handshake(&self, c: &UdpClient) -> HandleResult {
        (**self).on_handshake(c)
    }
    fn on_receive(&self, c: &UdpClient, d: &[u8]) -> HandleResult {
        (**self).on_receive(c, d)
    }
    fn on_send(&self, c: &UdpClient, d: &[u8]) -> HandleResult {
        (**self).on_send(c, d)
    }
    fn on_close(&self, c: &UdpClient, o: SocketOperation, e: i32) -> HandleResult {
        (**self).on_close(c, o, e)
    }
}
