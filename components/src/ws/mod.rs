//! WebSocket over the HTTP components: the upgrade answered (or refused by the listener),
//! pings answered, the close handshake run with codes and a timeout, fragments reassembled
//! within limits, permessage-deflate negotiated, and HP-Socket's raw frame callbacks kept.
//!
//! # Overview
//! A [`WebSocketServer`] is an [`HttpServer`](crate::http::HttpServer) whose per-shard
//! listener answers `GET` upgrades to WebSocket and hands every other request to an optional
//! whole-request handler (426 without one). After the `101`, the connection's bytes go to a
//! per-connection [`Endpoint`](shardnet_protocols::ws::Endpoint) (sans-IO, in
//! `shardnet-protocols`) on the connection's shard; the listener gets whole messages
//! ([`WebSocketListener::on_message`]) or, if it wants them, the raw frames.
//!
//! A [`WebSocketAgent`] is the client side over an [`HttpAgent`](crate::http::HttpAgent):
//! `connect(url, protocols)` sends the upgrade when the connection is ready, checks the `101`
//! (accept key, extensions), then masks its frames with keys from the system CSPRNG.
//!
//! Sends (`send_text`, `send_binary`, `send_ping`, `send_frame`, `close`) may come from any
//! thread: on the connection's shard they are framed (and compressed) at once; from elsewhere
//! they travel through the shard's inbox and are framed there, in order.

mod agent;
mod conns;
mod random;
mod server;
mod shard;

pub use agent::{WebSocketAgent, WebSocketAgentBuilder, WebSocketClientListener};
pub use server::{
    UpgradeDecision, WebSocketListener, WebSocketServer, WebSocketServerBuilder, WsConfig,
};
pub use shardnet_protocols::ws::{
    opcode, CloseError, DeflateConfig, DeflateParams, FrameHeader, Message, WsLimits,
};

/// The per-connection send-queue bound a WebSocket component needs: one message of the
/// maximum size plus its frame header, with room for control frames beside it.
fn queue_bound_for(limits: &WsLimits) -> usize {
    (limits.max_message as usize).saturating_add(64 << 10)
}
