//! One connection's TLS state: a rustls connection fed with the bytes the driver reads and
//! drained into the socket when it wants to write. rustls itself is sans-IO; this file is the
//! only place that moves bytes between it and a socket.

use rustls_pki_types::{CertificateDer, ServerName};
use std::io::Write;
use std::os::fd::RawFd;
use std::sync::Arc;

/// errno reported in `on_close(Receive, …)` when the TLS protocol fails (bad record, failed
/// handshake, rejected certificate): `EPROTO` (71).
pub const ERRNO_TLS: i32 = libc::EPROTO;

/// What the handshake settled, readable in callbacks after `on_handshake`.
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    /// Negotiated protocol version.
    pub version: Option<rustls::ProtocolVersion>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// Server name the client asked for (server side), or the one it sent (client side).
    pub sni: Option<String>,
    /// The peer's certificate chain (leaf first), if it presented one.
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// Whether the session was resumed.
    pub resumed: bool,
}

/// What feeding ciphertext did.
pub(crate) struct Fed {
    /// The handshake finished during this call.
    pub handshake_done: bool,
    /// The peer sent close_notify.
    pub peer_closed: bool,
}

/// A socket as a `Write` for `write_tls`: rustls hands over all its queued records at once
/// and they leave in one `sendmsg` (separate small writes would meet Nagle + delayed ACK).
struct FdWriter(RawFd);

impl Write for FdWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_vectored(&[std::io::IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        const MAX: usize = 64;
        let mut parts: [&[u8]; MAX] = [&[]; MAX];
        let n = bufs.len().min(MAX);
        for (p, b) in parts.iter_mut().zip(bufs) {
            *p = b;
        }
        let want: usize = parts[..n].iter().map(|p| p.len()).sum();
        match shardnet_shard::write_gather(self.0, &parts[..n])? {
            0 if want > 0 => Err(std::io::ErrorKind::WouldBlock.into()),
            k => Ok(k),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) struct TlsSession {
    conn: rustls::Connection,
    sni: Option<String>,
    /// Plaintext accepted by `send` and not yet released from the directory's pending count:
    /// released as ciphertext leaves once the handshake is done (before it, rustls only holds
    /// the plaintext).
    pub unflushed: u64,
}

impl TlsSession {
    pub fn server(cfg: &Arc<rustls::ServerConfig>) -> Result<TlsSession, rustls::Error> {
        Ok(TlsSession::new(
            rustls::ServerConnection::new(cfg.clone())?.into(),
            None,
        ))
    }

    fn new(mut conn: rustls::Connection, sni: Option<String>) -> TlsSession {
        // The component bounds unsent bytes itself (`max_pending_bytes`, checked before a
        // send reaches the session), so rustls must not refuse part of a send.
        conn.set_buffer_limit(None);
        TlsSession {
            conn,
            sni,
            unflushed: 0,
        }
    }

    pub fn client(
        cfg: &Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsSession, rustls::Error> {
        let sni = match &name {
            ServerName::DnsName(d) => Some(d.as_ref().to_string()),
            _ => None,
        };
        Ok(TlsSession::new(
            rustls::ClientConnection::new(cfg.clone(), name)?.into(),
            sni,
        ))
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Feeds received ciphertext; appends the plaintext it yields to `plain`. Bytes after the
    /// peer's close_notify are ignored (rustls stops taking input there).
    pub fn feed(&mut self, mut data: &[u8], plain: &mut Vec<u8>) -> Result<Fed, rustls::Error> {
        use std::io::BufRead;
        let was_handshaking = self.conn.is_handshaking();
        let mut peer_closed = false;
        while !data.is_empty() && !peer_closed {
            match self.conn.read_tls(&mut data) {
                // Only after close_notify: nothing more will be read, so stop here.
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(rustls::Error::General(format!("read_tls: {e}"))),
            }
            let state = self.conn.process_new_packets()?;
            peer_closed = state.peer_has_closed();
            // Copy the plaintext straight out of rustls's buffer (no zero-fill first).
            let mut r = self.conn.reader();
            while let Ok(b) = r.fill_buf() {
                if b.is_empty() {
                    break;
                }
                let n = b.len();
                plain.extend_from_slice(b);
                r.consume(n);
            }
        }
        Ok(Fed {
            handshake_done: was_handshaking && !self.conn.is_handshaking(),
            peer_closed,
        })
    }

    /// Encrypts `parts` as one write, so they share records (a Pack header and its body are
    /// one record, not two); buffered by rustls until the handshake is done.
    pub fn write_plain(&mut self, parts: &[&[u8]]) -> std::io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let slices: Vec<std::io::IoSlice<'_>> =
            parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
        // The buffer limit is off, so rustls takes everything in one call.
        match self.conn.writer().write_vectored(&slices)? {
            n if n == total => Ok(()),
            _ => Err(std::io::ErrorKind::WriteZero.into()),
        }
    }

    /// Writes pending ciphertext to `fd`: whether nothing is left, and how many bytes went out.
    pub fn flush(&mut self, fd: RawFd) -> std::io::Result<(bool, usize)> {
        let mut w = FdWriter(fd);
        let mut written = 0;
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut w) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok((false, written))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((true, written))
    }

    /// Queues close_notify (written by the next flush).
    pub fn close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    pub fn info(&self) -> TlsInfo {
        let sni = match &self.conn {
            rustls::Connection::Server(s) => s.server_name().map(str::to_string),
            rustls::Connection::Client(_) => self.sni.clone(),
        };
        let resumed = matches!(
            self.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed)
        );
        TlsInfo {
            version: self.conn.protocol_version(),
            cipher_suite: self.conn.negotiated_cipher_suite().map(|s| s.suite()),
            alpn: self.conn.alpn_protocol().map(<[u8]>::to_vec),
            sni,
            peer_certificates: self
                .conn
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            resumed,
        }
    }
}
