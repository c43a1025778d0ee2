//! Listener traits: the callbacks a component makes, with HP-Socket's contract.
//!
//! | callback | when | [`HandleResult::Error`] does |
//! |---|---|---|
//! | `on_prepare_listen` | listen socket bound, before `listen()` | start fails |
//! | `on_accept` | new connection | connection dropped, **no** `on_close` |
//! | `on_prepare_connect` | socket created, before `connect()` | connect aborted, no `on_close` |
//! | `on_connect` | TCP connected | connection closed |
//! | `on_handshake` | ready to send (plain TCP: right after accept/connect) | connection closed |
//! | `on_receive` | bytes arrived (slice valid only during the call) | closed, operation Receive |
//! | `on_pull_receive` | Pull model: bytes buffered, `fetch`/`peek` them | closed, operation Receive |
//! | `on_send` | bytes handed to the kernel (TLS: plaintext once encrypted into the session) | ignored |
//! | `on_close` | exactly once per connection that passed accept/prepare-connect | ignored |
//! | `on_shutdown` | component fully stopped | ignored |
//!
//! Callbacks run on the shard that owns the connection. A listener may be one instance per shard
//! (built by a factory on that shard's thread; it need not be `Send`, so shard-local state needs
//! no lock) or one shared `Arc<L>` (then `L: Send + Sync`). Calling any handle method from a
//! callback is allowed, including `stop()`; only `wait()` is refused there (it would wait on
//! itself).
//!
//! # What `on_close(operation, errno)` reports
//!
//! | case | operation | errno |
//! |---|---|---|
//! | the peer closed (FIN, or TLS close_notify) and everything queued for it was sent | `Close` | 0 |
//! | `disconnect(conn, false)` and the queue drained; `disconnect(conn, true)`; `stop()` | `Close` | 0 |
//! | a graceful close (either of the above) whose queued bytes did not leave within `flush_timeout` (default 30 s) | `Send` | `ETIMEDOUT` |
//! | the peer reset the connection, or a write failed | `Send` / `Receive` | the OS errno (`ECONNRESET`, `EPIPE`, …) |
//! | a callback returned [`HandleResult::Error`] | `Receive` (or `Close` from `on_handshake`, `Connect` from `on_connect`) | [`CALLBACK_ERROR`] |
//! | bad input: Pack header with a wrong flag / too long or empty body | `Receive` | `EBADMSG` / `EMSGSIZE` |
//! | no memory for a partial Pack message | `Receive` | `ENOMEM` |
//! | TLS protocol or certificate error, or EOF during the TLS handshake | `Receive` | `EPROTO` |
//! | connect refused / timed out | `Connect` | `ECONNREFUSED` / `ETIMEDOUT` |
//! | idle timeout, handshake timeout | `Close` | `ETIMEDOUT` |
//!
//! A peer's FIN means "I will send no more", not "stop sending": a peer that half-closes and
//! keeps reading receives everything `send` accepted before the connection closes; sends made
//! between the FIN and the close are still accepted and delivered. Nothing is read after the
//! FIN.

use crate::{TcpAgent, TcpClient, TcpServer};
use shardnet_runtime::ConnId;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

/// What a callback tells the component (HP-Socket's `EnHandleResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleResult {
    /// Success.
    Ok,
    /// Not handled; treated as success.
    Ignore,
    /// Failure: the component aborts the operation (see the table in the module docs).
    Error,
}

/// The operation that ended a connection (HP-Socket's `EnSocketOperation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketOperation {
    /// Unknown.
    Unknown = 0,
    /// Accepting or setting up an accepted connection.
    Accept = 1,
    /// Connecting.
    Connect = 2,
    /// Sending.
    Send = 3,
    /// Receiving (also: `on_receive` returned Error).
    Receive = 4,
    /// Normal close (peer FIN once queued bytes are sent, `disconnect`, `stop`).
    Close = 5,
}

/// errno reported in `on_close` when a callback returned [`HandleResult::Error`]
/// (`ECANCELED`, 125 on Linux).
pub const CALLBACK_ERROR: i32 = libc::ECANCELED;

/// Component life cycle (HP-Socket's `EnServiceState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    /// Starting.
    Starting = 0,
    /// Running.
    Started = 1,
    /// Stopping: connections are being closed.
    Stopping = 2,
    /// Stopped: `on_shutdown` has run.
    Stopped = 3,
}

/// Callbacks of a [`TcpServer`]. `on_receive` and `on_close` are required; the rest default to
/// [`HandleResult::Ignore`].
#[allow(unused_variables)]
pub trait ServerListener: 'static {
    /// The listen socket is bound and not yet listening (one call per listen socket: with
    /// `ReusePort` placement each shard has its own).
    fn on_prepare_listen(
        &self,
        server: &TcpServer,
        socket: BorrowedFd<'_>,
        addr: SocketAddr,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// A connection was accepted. Error drops it without `on_close`.
    fn on_accept(
        &self,
        server: &TcpServer,
        conn: ConnId,
        peer: SocketAddr,
        socket: BorrowedFd<'_>,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection is ready for data.
    fn on_handshake(&self, server: &TcpServer, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// Bytes arrived; `data` is valid only during the call.
    fn on_receive(&self, server: &TcpServer, conn: ConnId, data: &[u8]) -> HandleResult;
    /// Pull model: `conn` now holds `total` buffered bytes; take them with
    /// [`TcpServer::fetch`] / [`TcpServer::peek`] (now or later, from any thread).
    fn on_pull_receive(&self, server: &TcpServer, conn: ConnId, total: usize) -> HandleResult {
        HandleResult::Ignore
    }
    /// `data` was handed to the kernel.
    fn on_send(&self, server: &TcpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection closed; called exactly once. `errno` 0 means a normal close.
    fn on_close(
        &self,
        server: &TcpServer,
        conn: ConnId,
        operation: SocketOperation,
        errno: i32,
    ) -> HandleResult;
    /// The server has stopped (once, after every `on_close`).
    fn on_shutdown(&self, server: &TcpServer) -> HandleResult {
        HandleResult::Ignore
    }
}

/// Callbacks of a [`TcpAgent`]. `on_receive` and `on_close` are required.
#[allow(unused_variables)]
pub trait AgentListener: 'static {
    /// The socket exists and is not yet connecting (set options here). Error aborts.
    fn on_prepare_connect(
        &self,
        agent: &TcpAgent,
        conn: ConnId,
        socket: BorrowedFd<'_>,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// The TCP connection is established.
    fn on_connect(&self, agent: &TcpAgent, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection is ready for data.
    fn on_handshake(&self, agent: &TcpAgent, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// Bytes arrived; `data` is valid only during the call.
    fn on_receive(&self, agent: &TcpAgent, conn: ConnId, data: &[u8]) -> HandleResult;
    /// Pull model: `conn` now holds `total` buffered bytes; take them with
    /// [`TcpAgent::fetch`] / [`TcpAgent::peek`].
    fn on_pull_receive(&self, agent: &TcpAgent, conn: ConnId, total: usize) -> HandleResult {
        HandleResult::Ignore
    }
    /// `data` was handed to the kernel.
    fn on_send(&self, agent: &TcpAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection closed (or failed to connect: operation Connect); exactly once.
    fn on_close(
        &self,
        agent: &TcpAgent,
        conn: ConnId,
        operation: SocketOperation,
        errno: i32,
    ) -> HandleResult;
    /// The agent has stopped.
    fn on_shutdown(&self, agent: &TcpAgent) -> HandleResult {
        HandleResult::Ignore
    }
}

/// Callbacks of a [`TcpClient`] (one connection, so no connection id).
#[allow(unused_variables)]
pub trait ClientListener: 'static {
    /// The socket exists and is not yet connecting. Error aborts.
    fn on_prepare_connect(&self, client: &TcpClient, socket: BorrowedFd<'_>) -> HandleResult {
        HandleResult::Ignore
    }
    /// Connected.
    fn on_connect(&self, client: &TcpClient) -> HandleResult {
        HandleResult::Ignore
    }
    /// Ready for data.
    fn on_handshake(&self, client: &TcpClient) -> HandleResult {
        HandleResult::Ignore
    }
    /// Bytes arrived.
    fn on_receive(&self, client: &TcpClient, data: &[u8]) -> HandleResult;
    /// Pull model: `total` bytes are now buffered; take them with [`TcpClient::fetch`] /
    /// [`TcpClient::peek`].
    fn on_pull_receive(&self, client: &TcpClient, total: usize) -> HandleResult {
        HandleResult::Ignore
    }
    /// Bytes handed to the kernel.
    fn on_send(&self, client: &TcpClient, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// Closed (or failed to connect); exactly once.
    fn on_close(&self, client: &TcpClient, operation: SocketOperation, errno: i32) -> HandleResult;
    /// The client has stopped.
    fn on_shutdown(&self, client: &TcpClient) -> HandleResult {
        HandleResult::Ignore
    }
}

macro_rules! forward_arc {
    ($tr:ident, $h:ty, { $($body:tt)* }) => {
        impl<L: $tr + ?Sized> $tr for Arc<L> { $($body)* }
    };
}

forward_arc!(ServerListener, TcpServer, {
    fn on_prepare_listen(&self, s: &TcpServer, f: BorrowedFd<'_>, a: SocketAddr) -> HandleResult {
        (**self).on_prepare_listen(s, f, a)
    }
    fn on_accept(
        &self,
        s: &TcpServer,
        c: ConnId,
        p: SocketAddr,
        f: BorrowedFd<'_>,
    ) -> HandleResult {
        (**self).on_accept(s, c, p, f)
    }
    fn on_handshake(&self, s: &TcpServer, c: ConnId) -> HandleResult {
        (**self).on_handshake(s, c)
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        (**self).on_receive(s, c, d)
    }
    fn on_pull_receive(&self, s: &TcpServer, c: ConnId, n: usize) -> HandleResult {
        (**self).on_pull_receive(s, c, n)
    }
    fn on_send(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        (**self).on_send(s, c, d)
    }
    fn on_close(&self, s: &TcpServer, c: ConnId, o: SocketOperation, e: i32) -> HandleResult {
        (**self).on_close(s, c, o, e)
    }
    fn on_shutdown(&self, s: &TcpServer) -> HandleResult {
        (**self).on_shutdown(s)
    }
});

forward_arc!(AgentListener, TcpAgent, {
    fn on_prepare_connect(&self, a: &TcpAgent, c: ConnId, f: BorrowedFd<'_>) -> HandleResult {
        (**self).on_prepare_connect(a, c, f)
    }
    fn on_connect(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
        (**self).on_connect(a, c)
    }
    fn on_handshake(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
        (**self).on_handshake(a, c)
    }
    fn on_receive(&self, a: &TcpAgent, c: ConnId, d: &[u8]) -> HandleResult {
        (**self).on_receive(a, c, d)
    }
    fn on_pull_receive(&self, a: &TcpAgent, c: ConnId, n: usize) -> HandleResult {
        (**self).on_pull_receive(a, c, n)
    }
    fn on_send(&self, a: &TcpAgent, c: ConnId, d: &[u8]) -> HandleResult {
        (**self).on_send(a, c, d)
    }
    fn on_close(&self, a: &TcpAgent, c: ConnId, o: SocketOperation, e: i32) -> HandleResult {
        (**self).on_close(a, c, o, e)
    }
    fn on_shutdown(&self, a: &TcpAgent) -> HandleResult {
        (**self).on_shutdown(a)
    }
});

forward_arc!(ClientListener, TcpClient, {
    fn on_prepare_connect(&self, c: &TcpClient, f: BorrowedFd<'_>) -> HandleResult {
        (**self).on_prepare_connect(c, f)
    }
    fn on_connect(&self, c: &TcpClient) -> HandleResult {
        (**self).on_connect(c)
    }
    fn on_handshake(&self, c: &TcpClient) -> HandleResult {
        (**self).on_handshake(c)
    }
    fn on_receive(&self, c: &TcpClient, d: &[u8]) -> HandleResult {
        (**self).on_receive(c, d)
    }
    fn on_pull_receive(&self, c: &TcpClient, n: usize) -> HandleResult {
        (**self).on_pull_receive(c, n)
    }
    fn on_send(&self, c: &TcpClient, d: &[u8]) -> HandleResult {
        (**self).on_send(c, d)
    }
    fn on_close(&self, c: &TcpClient, o: SocketOperation, e: i32) -> HandleResult {
        (**self).on_close(c, o, e)
    }
    fn on_shutdown(&self, c: &TcpClient) -> HandleResult {
        (**self).on_shutdown(c)
    }
});
