//! PROXY protocol (v1 and v2) for servers behind a balancer, as a layer over the TCP server's
//! listener: a connection from an allowed balancer address is held back — no `on_accept` yet —
//! until its PROXY header has arrived and parsed (`shardnet_protocols::proxy`); then the
//! wrapped listener sees `on_accept` with the client address the balancer saw (which
//! `remote_addr` also returns from then on), `on_handshake`, and the bytes after the header.
//! A connection from any other address is refused at accept (trusting the header from anyone
//! would let anyone spoof their address), a malformed or missing header closes the connection
//! with `(Receive, EPROTO)`, and the header is never buffered beyond its maximum size. The
//! wrapped listener never hears of a refused or failed connection (no `on_close` without
//! `on_accept`, as HP-Socket). The driver reads the header as a raw *preamble* (the
//! connection's `PREAMBLE` flag): until the layer ends it, reads bypass TLS and the receive
//! model; then TLS starts (the header comes before the ClientHello in plaintext, as balancers
//! send it) and Push, Pack or Pull take over, fed first with whatever followed the header in
//! the same read. With TLS, `on_handshake` means the TLS handshake completed.

use crate::listener::{HandleResult, ServerListener, SocketOperation};
use crate::TcpServer;
use shardnet_protocols::proxy::{self, Cidr, Header, Parsed};
use shardnet_runtime::{ConnId, ConnMap};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

/// PROXY protocol settings ([`crate::TcpServerBuilder::proxy_protocol`]).
#[derive(Clone, Debug)]
pub struct ProxyProtocol {
    /// Balancer addresses whose connections must carry a header; every other address is
    /// refused.
    pub allow: Vec<Cidr>,
    /// Largest version 2 header accepted (its length field; default 2048).
    pub max_v2: usize,
}

impl ProxyProtocol {
    /// Headers required from these balancer networks (`"10.0.0.0/8"`, `"127.0.0.1"`, …);
    /// `InvalidParam` for one that does not parse.
    pub fn from(allow: &[&str]) -> crate::Result<ProxyProtocol> {
        let allow = allow
            .iter()
            .map(|s| {
                Cidr::parse(s).ok_or_else(|| crate::Error::InvalidParam(format!("bad CIDR {s:?}")))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(ProxyProtocol {
            allow,
            max_v2: proxy::DEFAULT_MAX_V2,
        })
    }

    fn allows(&self, peer: SocketAddr) -> bool {
        self.allow.iter().any(|c| c.contains(peer.ip()))
    }
}

/// A connection whose header has not arrived yet.
struct Waiting {
    buf: Vec<u8>,
    fd: RawFd,
    handshake_seen: bool,
    /// The header was bad: the connection is closing; later bytes are ignored.
    failed: bool,
}

/// The wrapping listener (one per shard, like the listener it wraps).
pub(crate) struct ProxyListener<L> {
    inner: L,
    cfg: ProxyProtocol,
    waiting: RefCell<ConnMap<Waiting>>,
}

impl<L> ProxyListener<L> {
    pub(crate) fn new(inner: L, cfg: ProxyProtocol) -> Self {
        ProxyListener {
            inner,
            cfg,
            waiting: RefCell::new(ConnMap::default()),
        }
    }
}

impl<L: ServerListener> ServerListener for ProxyListener<L> {
    fn on_prepare_listen(
        &self,
        s: &TcpServer,
        socket: BorrowedFd<'_>,
        addr: SocketAddr,
    ) -> HandleResult {
        self.inner.on_prepare_listen(s, socket, addr)
    }

    fn on_accept(
        &self,
        _: &TcpServer,
        conn: ConnId,
        peer: SocketAddr,
        socket: BorrowedFd<'_>,
    ) -> HandleResult {
        if !self.cfg.allows(peer) {
            tracing::debug!(%peer, "PROXY protocol: connection from an address not allowed");
            return HandleResult::Error;
        }
        use std::os::fd::AsRawFd;
        self.waiting.borrow_mut().insert(
            conn,
            Waiting {
                buf: Vec::new(),
                fd: socket.as_raw_fd(),
                handshake_seen: false,
                failed: false,
            },
        );
        HandleResult::Ok
    }

    fn on_handshake(&self, s: &TcpServer, conn: ConnId) -> HandleResult {
        if let Some(w) = self.waiting.borrow_mut().get_mut(&conn) {
            w.handshake_seen = true;
            return HandleResult::Ok;
        }
        self.inner.on_handshake(s, conn)
    }

    fn on_receive(&self, s: &TcpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        let mut waiting = self.waiting.borrow_mut();
        let Some(w) = waiting.get_mut(&conn) else {
            drop(waiting);
            return self.inner.on_receive(s, conn, data);
        };
        if w.failed {
            return HandleResult::Ok;
        }
        // Parse from the bytes held plus these, holding no more than a header can be.
        let held = w.buf.len();
        let limit = proxy::V1_MAX.max(16 + self.cfg.max_v2);
        let take = data.len().min(limit.saturating_sub(held));
        w.buf.extend_from_slice(&data[..take]);
        match proxy::parse(&w.buf, self.cfg.max_v2) {
            Parsed::Incomplete if take == data.len() => HandleResult::Ok,
            Parsed::Incomplete | Parsed::Invalid(_) => {
                let why = match proxy::parse(&w.buf, self.cfg.max_v2) {
                    Parsed::Invalid(w) => w,
                    _ => "PROXY header too long",
                };
                tracing::debug!(%conn, why, "PROXY protocol: bad header");
                // The entry stays until on_close, which it keeps from the wrapped listener.
                w.buf = Vec::new();
                w.failed = true;
                drop(waiting);
                let _ = s
                    .core
                    .close_with(conn, SocketOperation::Receive, libc::EPROTO);
                HandleResult::Ok
            }
            Parsed::Done(h, used) => {
                let w = waiting.remove(&conn).expect("present");
                drop(waiting);
                let client = match h {
                    Header::Proxy { src, .. } => {
                        s.core.set_proxied_peer(conn, src);
                        src
                    }
                    Header::Local { .. } => match s.core.remote_addr(conn) {
                        Some(a) => a,
                        None => return HandleResult::Error,
                    },
                };
                // SAFETY: the connection is open (this is its receive callback), so the fd
                // recorded at accept is still its socket; it is only borrowed for the call.
                let fd = unsafe { BorrowedFd::borrow_raw(w.fd) };
                if self.inner.on_accept(s, conn, client, fd) == HandleResult::Error {
                    // Refused by the application: closed without its on_close (it never
                    // accepted the connection).
                    s.core.clear_proxied_peer(conn);
                    let _ = s.core.close_with(conn, SocketOperation::Accept, 0);
                    self.waiting.borrow_mut().insert(
                        conn,
                        Waiting {
                            buf: Vec::new(),
                            fd: w.fd,
                            handshake_seen: true,
                            failed: true,
                        },
                    );
                    return HandleResult::Ok;
                }
                // Without TLS the driver's handshake already happened (held back until now);
                // with TLS it starts when the preamble ends, and its completion calls
                // on_handshake.
                if w.handshake_seen && self.inner.on_handshake(s, conn) == HandleResult::Error {
                    return HandleResult::Error;
                }
                // The bytes after the header (those held beyond it, then the rest of `data`)
                // go through TLS and the receive model (Push, Pack or Pull) like any later read.
                let mut rest: Vec<u8> = w.buf[used..].to_vec();
                rest.extend_from_slice(&data[take..]);
                if !s.core.end_preamble(conn, &rest) {
                    return HandleResult::Error;
                }
                HandleResult::Ok
            }
        }
    }

    fn on_pull_receive(&self, s: &TcpServer, conn: ConnId, total: usize) -> HandleResult {
        self.inner.on_pull_receive(s, conn, total)
    }

    fn on_send(&self, s: &TcpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        self.inner.on_send(s, conn, data)
    }

    fn on_close(
        &self,
        s: &TcpServer,
        conn: ConnId,
        op: SocketOperation,
        errno: i32,
    ) -> HandleResult {
        s.core.clear_proxied_peer(conn);
        if self.waiting.borrow_mut().remove(&conn).is_some() {
            return HandleResult::Ok; // never accepted by the wrapped listener
        }
        self.inner.on_close(s, conn, op, errno)
    }

    fn on_shutdown(&self, s: &TcpServer) -> HandleResult {
        self.inner.on_shutdown(s)
    }
}
