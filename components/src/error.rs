//! The error type of every component call.

use std::io;

/// What went wrong in a component call. OS errors are carried through.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The call is not allowed in the component's current state (e.g. `send` after `stop`).
    #[error("illegal state: {0:?}")]
    IllegalState(crate::ServiceState),
    /// A parameter or configuration value is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    /// A host name or address could not be resolved.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// What was being resolved.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// Creating or configuring a socket failed.
    #[error("cannot create socket: {0}")]
    SocketCreate(io::Error),
    /// Binding the listen (or local) address failed.
    #[error("cannot bind {addr}: {source}")]
    SocketBind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// `on_prepare_listen` returned [`crate::HandleResult::Error`].
    #[error("on_prepare_listen refused the listen socket")]
    SocketPrepare,
    /// `listen()` failed.
    #[error("cannot listen: {0}")]
    SocketListen(io::Error),
    /// A synchronous connect failed; carries the errno (e.g. ECONNREFUSED, ETIMEDOUT).
    #[error("connect failed: {}", io::Error::from_raw_os_error(*.0))]
    ConnectFailed(i32),
    /// No such connection (never existed, or already closed) — HP-Socket's DataNotFound.
    #[error("connection not found")]
    NotFound,
    /// The connection exists but is not open (still connecting, or closing).
    #[error("connection is not open")]
    NotConnected,
    /// Queuing this data would take the connection's pending send bytes past the configured
    /// bound; nothing was queued.
    #[error("send queue full (bound {0} bytes)")]
    QueueFull(usize),
    /// The owning shard's inbox is full (cross-shard send from a shard thread); retry later.
    #[error("shard inbox full")]
    Backpressure,
    /// The call would block the calling shard on itself (e.g. `wait()` inside a callback).
    #[error("blocking call on a shard thread would deadlock")]
    WouldDeadlock,
    /// Starting or reaching the runtime failed.
    #[error(transparent)]
    Runtime(#[from] shardnet_runtime::RuntimeError),
    /// Any other OS error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
