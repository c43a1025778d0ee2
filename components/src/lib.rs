//! shardnet's components: [`TcpServer`], [`TcpAgent`] and [`TcpClient`], driven by listener
//! callbacks with HP-Socket's contract (see [`listener`]).
//!
//! # Overview
//! A component runs one driver per shard of a [`Runtime`](shardnet_runtime::Runtime). Each
//! driver owns that shard's sockets for the component: it accepts or connects, reads into one
//! scratch buffer per shard, calls the listener, writes or queues sends, and closes. Handles are
//! `Clone + Send + Sync`; a call for a connection owned by another shard travels through that
//! shard's inbox.
//!
//! ```no_run
//! use shardnet_components::*;
//! use shardnet_runtime::ConnId;
//! use std::sync::Arc;
//!
//! struct Echo;
//! impl ServerListener for Echo {
//!     fn on_receive(&self, s: &TcpServer, c: ConnId, data: &[u8]) -> HandleResult {
//!         match s.send(c, data) { Ok(()) => HandleResult::Ok, Err(_) => HandleResult::Error }
//!     }
//!     fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
//!         HandleResult::Ok
//!     }
//! }
//! let server = TcpServer::builder().start("127.0.0.1:5555", Arc::new(Echo)).unwrap();
//! server.stop();
//! server.wait().unwrap();
//! ```

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod config;
mod core;
mod engine;
mod error;
pub mod groups;
pub mod http;
pub mod listener;
pub mod metrics;
/// HP-Socket's Pack framing (the sans-IO codec lives in `shardnet-protocols`).
pub use shardnet_protocols::pack;
mod pull;
mod tcp;
use tcp::{agent, client, server};
pub mod tls;
pub mod udp;
pub mod ws;

pub use agent::{TcpAgent, TcpAgentBuilder};
pub use client::{TcpClient, TcpClientBuilder};
pub use config::{
    ReceiveModel, ReuseAddress, TcpConfig, TlsSettings, DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_MAX_PENDING_BYTES,
};
pub use engine::{INBOX_BATCH, TURNS_PER_YIELD};
pub use error::{Error, Result};
pub use listener::{
    AgentListener, ClientListener, HandleResult, ServerListener, ServiceState, SocketOperation,
    CALLBACK_ERROR,
};
pub use pull::{FetchResult, PullStats};
pub use server::{TcpServer, TcpServerBuilder};
pub use tcp::driver::{ACCEPT_BATCH, FLUSH_BUDGET, READ_BUDGET, SCRATCH_MIN};
pub use tcp::proxy::ProxyProtocol;
