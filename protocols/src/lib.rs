//! shardnet's protocol codecs, **sans-IO**: no sockets, no clock, no runtime.
//!
//! Each codec is fed arbitrary byte slices — one byte at a time or a thousand messages at once —
//! and reports what they contain through events or callbacks; what goes on the wire is built by
//! plain writer functions. The components (`shardnet-components`) own the sockets and call these
//! codecs from their per-shard listeners, and the fuzz targets depend on this crate alone. The
//! model is quinn-proto: everything here is deterministic and tested without a socket.
//!
//! - [`pack`]: HP-Socket's Pack framing (a 4-byte header per message).
//! - [`http`]: HTTP/1.1 (RFC 9112): request heads on `httparse`, body framing
//!   (Content-Length, chunked with extensions and trailers), strict validation with the status
//!   a server answers for each violation, limits checked before memory is committed, and the
//!   response writers.
//! - [`ws`]: WebSocket (RFC 6455) frames, validation, reassembly, incremental UTF-8, the
//!   handshake, and permessage-deflate (RFC 7692).
//! - [`kcp`]: KCP, the ARQ under HP-Socket's reliable UDP, wire-compatible with `ikcp.c`.
//! - [`arq`]: HP-Socket's ARQ session: its 12-byte handshake, then KCP with HP's settings.
//! - [`udp`]: HP-Socket's UDP control datagrams (heartbeat, close) and datagram rules.
//! - [`proxy`]: the PROXY protocol header (haproxy's v1 and v2) and balancer allow-lists.
//! - [`cluster`]: the envelope of cross-node messages (shardnet-cluster publishes it on NATS).

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod arq;
pub mod cluster;
pub mod http;
pub mod kcp;
pub mod pack;
pub mod proxy;
pub mod udp;
pub mod ws;
