//! TcpClient: one connection served by its own thread, as in HP-Socket.
//!
//! A client is an agent-shaped component on a private one-shard runtime whose thread is not
//! pinned: the same driver, the same callbacks contract, without connection ids in the API.

use crate::agent::{connect_core, resolve_host, start_agent_core};
use crate::config::config_setters;
use crate::core::Core;
use crate::tcp::driver::Events;
use crate::{
    ClientListener, Error, HandleResult, Result, ServiceState, SocketOperation, TcpConfig,
};
use shardnet_runtime::{ConnId, ConnectPlacement, Runtime, ShardId};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Outcome of the connect, for synchronous starts: None = pending, Some(0) = connected,
/// Some(errno) = failed.
type ConnectSignal = Arc<(Mutex<Option<i32>>, Condvar)>;

/// Handle to a running TCP client. `Clone + Send + Sync`.
#[derive(Clone)]
pub struct TcpClient {
    pub(crate) core: Arc<Core>,
    conn: Arc<AtomicU64>,
}

/// Configures and starts a [`TcpClient`].
#[derive(Default)]
pub struct TcpClientBuilder {
    cfg: TcpConfig,
    runtime: Option<Runtime>,
    local: Option<SocketAddr>,
    server_name: Option<String>,
}

struct ClientEvents<L> {
    l: L,
    h: TcpClient,
    signal: ConnectSignal,
}

impl<L> ClientEvents<L> {
    fn signal(&self, v: i32) {
        let mut g = self.signal.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(v);
            self.signal.1.notify_all();
        }
    }
}

impl<L: ClientListener> Events for ClientEvents<L> {
    fn prepare_connect(&self, _conn: ConnId, fd: BorrowedFd<'_>) -> HandleResult {
        let r = self.l.on_prepare_connect(&self.h, fd);
        if r == HandleResult::Error {
            self.signal(crate::CALLBACK_ERROR);
            // No on_close follows an aborted prepare-connect, so nothing else would stop the
            // client: it has no connection left.
            self.h.core.stop();
        }
        r
    }
    fn connect(&self, _conn: ConnId) -> HandleResult {
        // A synchronous start returns only after on_connect has run (and failed with it).
        let r = self.l.on_connect(&self.h);
        self.signal(if r == HandleResult::Error {
            crate::CALLBACK_ERROR
        } else {
            0
        });
        r
    }
    fn handshake(&self, _conn: ConnId) -> HandleResult {
        self.l.on_handshake(&self.h)
    }
    fn receive(&self, _conn: ConnId, data: &[u8]) -> HandleResult {
        self.l.on_receive(&self.h, data)
    }
    fn pull_receive(&self, _conn: ConnId, total: usize) -> HandleResult {
        self.l.on_pull_receive(&self.h, total)
    }
    fn send(&self, _conn: ConnId, data: &[u8]) {
        let _ = self.l.on_send(&self.h, data);
    }
    fn close(&self, _conn: ConnId, op: SocketOperation, errno: i32) {
        self.signal(if errno == 0 {
            libc::ECONNABORTED
        } else {
            errno
        });
        let _ = self.l.on_close(&self.h, op, errno);
        // A client is its one connection: when it closes, the client stops.
        self.h.core.stop();
    }
    fn shutdown(&self) {
        let _ = self.l.on_shutdown(&self.h);
    }
}

impl TcpClientBuilder {
    config_setters!();

    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.cfg.connect_timeout = t;
        self
    }

    /// Local address to bind before connecting.
    pub fn bind_address(mut self, addr: SocketAddr) -> Self {
        self.local = Some(addr);
        self
    }

    /// TLS: talk to servers with this configuration (HP-Socket's `SslClient` family).
    pub fn tls(mut self, cfg: crate::tls::ClientTlsConfig) -> Self {
        self.cfg.tls = Some(crate::TlsSettings::Client(cfg));
        self
    }

    /// TLS server name to send and verify (default: the host given to `start`).
    pub fn server_name(mut self, name: &str) -> Self {
        self.server_name = Some(name.to_string());
        self
    }

    /// Connects to `host:port`. With `async_connect` false, waits until connected and returns
    /// `Err(ConnectFailed(errno))` on failure; with true, returns at once (success is
    /// `on_connect`, failure `on_close(Connect, errno)`).
    pub fn start<L: ClientListener + Send + Sync>(
        self,
        host: &str,
        port: u16,
        async_connect: bool,
        listener: L,
    ) -> Result<TcpClient> {
        self.start_made(host, port, async_connect, move |_| listener)
    }

    /// Like [`Self::start`] with the listener made on the client's thread by `make` (which
    /// also sees the component's core: layers key their state by its id).
    pub(crate) fn start_made<L, F>(
        mut self,
        host: &str,
        port: u16,
        async_connect: bool,
        make_listener: F,
    ) -> Result<TcpClient>
    where
        L: ClientListener,
        F: FnOnce(&Arc<Core>) -> L + Send + 'static,
    {
        let addr = resolve_host(host, port)?;
        if self.runtime.is_none() {
            self.runtime = Some(
                Runtime::builder()
                    .shards(1)
                    .pinned(false)
                    .name("shardnet-client")
                    .build()?,
            );
        }
        let conn = Arc::new(AtomicU64::new(0));
        let signal: ConnectSignal = Arc::new((Mutex::new(None), Condvar::new()));
        let listener = Arc::new(Mutex::new(Some(make_listener)));
        let (conn2, signal2) = (conn.clone(), signal.clone());
        let make = Arc::new(move |_shard: ShardId, core: Arc<Core>| -> Rc<dyn Events> {
            let make_listener = listener
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .expect("a client runtime has one shard");
            let l = make_listener(&core);
            Rc::new(ClientEvents {
                l,
                h: TcpClient {
                    core,
                    conn: conn2.clone(),
                },
                signal: signal2.clone(),
            })
        });
        let timeout = self.cfg.connect_timeout;
        let core = start_agent_core(self.cfg, self.runtime, make)?;
        let client = TcpClient { core, conn };
        let c2 = client.conn.clone();
        connect_core(
            &client.core,
            addr,
            self.local,
            ConnectPlacement::Shard(ShardId(0)),
            Some(
                self.server_name
                    .unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']').into()),
            ),
            move |id| c2.store(id.as_u64(), Ordering::Release),
        )?;
        if !async_connect {
            let mut g = signal.0.lock().unwrap_or_else(|p| p.into_inner());
            let deadline = std::time::Instant::now() + timeout + Duration::from_secs(1);
            while g.is_none() {
                let now = std::time::Instant::now();
                if now >= deadline {
                    break;
                }
                g = signal
                    .1
                    .wait_timeout(g, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            match *g {
                Some(0) => {}
                Some(errno) => {
                    drop(g);
                    client.stop();
                    let _ = client.wait();
                    return Err(Error::ConnectFailed(errno));
                }
                None => {
                    drop(g);
                    client.stop();
                    let _ = client.wait();
                    return Err(Error::ConnectFailed(libc::ETIMEDOUT));
                }
            }
        }
        Ok(client)
    }
}

impl TcpClient {
    /// A builder with HP-Socket's defaults.
    pub fn builder() -> TcpClientBuilder {
        TcpClientBuilder::default()
    }

    /// The connection's id (for logs; the client has exactly one).
    pub fn conn_id(&self) -> ConnId {
        ConnId::from_u64(self.conn.load(Ordering::Acquire))
    }

    /// Queues `data`.
    pub fn send(&self, data: &[u8]) -> Result<()> {
        self.core.send(self.conn_id(), &[data])
    }

    /// Queues several buffers as one gather write.
    pub fn send_packets(&self, parts: &[&[u8]]) -> Result<()> {
        self.core.send(self.conn_id(), parts)
    }

    /// Sends `head` + the file at `path` + `tail` (memory-mapped; at most 4 MiB). Under Pack
    /// the three form one message.
    pub fn send_small_file(
        &self,
        path: impl AsRef<std::path::Path>,
        head: &[u8],
        tail: &[u8],
    ) -> Result<()> {
        self.core
            .send_small_file(self.conn_id(), path.as_ref(), head, tail)
    }

    /// Closes the connection (forced: at once; else after queued data is written); the client
    /// then stops.
    pub fn disconnect(&self, force: bool) -> Result<()> {
        self.core.disconnect(self.conn_id(), force)
    }

    /// Pauses or resumes reading.
    pub fn pause_receive(&self, pause: bool) -> Result<()> {
        self.core.pause_receive(self.conn_id(), pause)
    }

    /// Pull model: copies the first `buf.len()` buffered bytes into `buf` and consumes them
    /// (`LengthTooLong`: fewer buffered, nothing consumed; `DataNotFound`: not connected).
    pub fn fetch(&self, buf: &mut [u8]) -> crate::FetchResult {
        self.core.fetch(self.conn_id(), buf, false)
    }

    /// Pull model: like [`Self::fetch`] but leaves the bytes buffered.
    pub fn peek(&self, buf: &mut [u8]) -> crate::FetchResult {
        self.core.fetch(self.conn_id(), buf, true)
    }

    /// TLS details (in callbacks; None elsewhere or without TLS).
    pub fn tls_info(&self) -> Option<crate::tls::TlsInfo> {
        self.core.tls_info(self.conn_id())
    }

    /// Pull model: bytes buffered (None when not connected or not Pull).
    pub fn pull_buffered(&self) -> Option<usize> {
        self.core.pull_buffered(self.conn_id())
    }

    /// TLS with `auto_handshake(false)` (STARTTLS): starts the TLS handshake now.
    pub fn start_handshake(&self) -> Result<()> {
        self.core.start_handshake(self.conn_id())
    }

    /// Completes the handshake (with `auto_handshake(false)`): `on_handshake` follows.
    pub fn complete_handshake(&self) -> Result<()> {
        self.core.complete_handshake(self.conn_id())
    }

    /// Bytes queued and not yet written.
    pub fn pending_data_length(&self) -> Option<usize> {
        self.core.pending(self.conn_id())
    }

    /// How long the connection has been open.
    pub fn connect_period(&self) -> Option<Duration> {
        self.core.connect_period(self.conn_id())
    }

    /// How long the connection has received nothing.
    pub fn silence_period(&self) -> Option<Duration> {
        self.core.silence_period(self.conn_id())
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.core.is_connected(self.conn_id())
    }

    /// Local address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.core.local_addr(self.conn_id())
    }

    /// Peer address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.core.remote_addr(self.conn_id())
    }

    /// Stores a user value.
    pub fn set_extra(&self, value: u64) -> bool {
        self.core.set_extra(self.conn_id(), value)
    }

    /// The stored user value.
    pub fn extra(&self) -> Option<u64> {
        self.core.extra(self.conn_id())
    }

    /// Life-cycle state.
    pub fn state(&self) -> ServiceState {
        self.core.state()
    }

    /// Starts stopping (safe inside callbacks): on_close, then on_shutdown.
    pub fn stop(&self) {
        self.core.stop()
    }

    /// Blocks until stopped (refused inside the client's callbacks).
    pub fn wait(&self) -> Result<()> {
        self.core.wait(None).map(|_| ())
    }

    /// Like [`Self::wait`] with a time limit; Ok(true) if stopped.
    pub fn wait_timeout(&self, t: Duration) -> Result<bool> {
        self.core.wait(Some(t))
    }
}
