//! Socket creation and options for TCP: listen sockets with the configured reuse options, and
//! per-connection options (TCP_NODELAY, keep-alive).

use crate::ReuseAddress;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, OwnedFd};

/// Applies the per-connection socket options of the configuration.
pub(crate) fn apply_conn_options(fd: BorrowedFd<'_>, cfg: &crate::TcpConfig) {
    let s = socket2::SockRef::from(&fd);
    if cfg.no_delay {
        let _ = s.set_nodelay(true);
    }
    if !cfg.keepalive_time.is_zero() {
        let ka = socket2::TcpKeepalive::new()
            .with_time(cfg.keepalive_time)
            .with_interval(cfg.keepalive_interval);
        let _ = s.set_tcp_keepalive(&ka);
    }
}

/// Creates a socket bound to `addr` (not yet listening) with the configured reuse options.
pub(crate) fn bind_listen_socket(
    addr: SocketAddr,
    cfg: &crate::TcpConfig,
    reuse_port: bool,
) -> crate::Result<OwnedFd> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(
        domain,
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(crate::Error::SocketCreate)?;
    if cfg.reuse_address != ReuseAddress::None {
        s.set_reuse_address(true)
            .map_err(crate::Error::SocketCreate)?;
    }
    if reuse_port || cfg.reuse_address == ReuseAddress::AddrAndPort {
        s.set_reuse_port(true).map_err(crate::Error::SocketCreate)?;
    }
    if addr.is_ipv6() {
        s.set_only_v6(!cfg.dual_stack)
            .map_err(crate::Error::SocketCreate)?;
    }
    s.bind(&addr.into())
        .map_err(|source| crate::Error::SocketBind { addr, source })?;
    Ok(s.into())
}
