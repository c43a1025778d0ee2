//! TLS for every TCP shape, with rustls (`ring` provider).
//!
//! # Overview
//! TLS is an option on the existing builders — `.tls(ServerTlsConfig)` on a server,
//! `.tls(ClientTlsConfig)` on an agent or client — so all nine shape × model combinations
//! (HP-Socket's `Ssl*` components) share the one driver. rustls is sans-IO: the driver reads
//! ciphertext into its scratch buffer as for plain TCP, feeds it to the connection's
//! [`rustls`] session, and hands the plaintext to the receive model; sends are encrypted into
//! the session and written from it. `on_handshake` runs when the TLS handshake completes; no
//! application data is delivered before it, and data sent earlier waits inside the session.
//!
//! With `auto_handshake(false)` a TLS connection first speaks plain TCP (delivered and sent as
//! usual) until the application calls `start_handshake(conn)` — STARTTLS-style protocols, or
//! TLS after an HTTP CONNECT. Plain bytes queued before that call are written first.
//!
//! A handshake still running after `handshake_timeout` (default 10 s) is closed with
//! `on_close(Close, ETIMEDOUT)`; a protocol or certificate failure with
//! `on_close(Receive, ERRNO_TLS)`.

mod config;
mod session;

pub use config::{
    roots_from_pem, ClientAuth, ClientTlsBuilder, ClientTlsConfig, Identity, ServerTlsBuilder,
    ServerTlsConfig, SniChoice, DEFAULT_HANDSHAKE_TIMEOUT,
};
pub(crate) use session::TlsSession;
pub use session::{TlsInfo, ERRNO_TLS};

/// The rustls version this crate uses (for [`TlsInfo`]'s types and custom configurations).
pub use rustls;
