//! The UDP family, HP-Socket's "connection-oriented" UDP and its reliable UDP:
//!
//! - [`UdpServer`]: one SO_REUSEPORT socket per shard (the kernel keeps a peer on one shard), a
//!   connection (`ConnId`) per peer address opened by its first datagram, one datagram per
//!   `on_receive`, heartbeats answered, silent peers closed, HP's 16-byte close datagram sent
//!   and honoured, the maximum datagram size and connection count enforced.
//! - [`UdpClient`]: one connected socket on its own thread, heartbeats, ICMP errors reported.
//! - [`UdpNode`]: connectionless (`send_to`, `on_receive(from, ..)`), optionally a multicast or
//!   broadcast member with `send_cast` (HP's `UdpCast` is a node started with
//!   [`CastMode::Multicast`] or [`CastMode::Broadcast`]).
//! - With `.arq(ArqConfig)` on either builder: HP's `UdpArqServer` / `UdpArqClient` — the
//!   12-byte handshake, then KCP (message mode, HP's settings); `on_handshake` when the
//!   handshake completes, `on_receive` per whole message. Timers are one ordered set per shard,
//!   not a timer per session. Beyond HP: `flush` on demand, `drop_unsent`, and heartbeat
//!   detection in milliseconds.
//!
//! Datagrams go in with `recvmmsg` and out with `sendmmsg`; sends from other threads travel
//! through the owner shard's inbox like TCP's. The wire rules and the ARQ session are sans-IO
//! in `shardnet_protocols::{udp, arq, kcp}`; the driver (`driver`) runs on the shard engine.

mod client;
mod config;
pub(crate) mod core;
mod driver;
mod listener;
mod node;
mod server;
mod socket;

pub use client::{UdpClient, UdpClientBuilder};
pub use config::UdpConfig;
pub use listener::{UdpClientListener, UdpServerListener};
pub use node::{CastMode, UdpNode, UdpNodeBuilder, UdpNodeListener};
pub use server::{UdpServer, UdpServerBuilder};
pub use shardnet_protocols::arq::ArqConfig;
pub use shardnet_protocols::kcp::KcpConfig;
pub use socket::RECV_BATCHES_PER_TURN;
