//! The TCP family: `TcpServer`, `TcpAgent`, `TcpClient` (push, pull and pack models, plain or
//! TLS) and their transport, the per-shard driver (`driver`, run by [`crate::engine`]) with
//! lingering closes. The layers above (HTTP, WebSocket) reach connections through
//! [`crate::core::Core`].

pub(crate) mod agent;
pub(crate) mod client;
pub(crate) mod driver;
pub(crate) mod event_counts;
pub(crate) mod linger;
pub(crate) mod proxy;
pub(crate) mod server;
