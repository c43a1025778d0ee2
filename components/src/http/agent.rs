//! HttpAgent: many HTTP client connections over a TcpAgent (HP-Socket's
//! `CHttpAgentT<CTcpAgent>`), each connection's responses decoded on its shard.

use super::cookies::CookieJar;
use super::requester::{host_value, HttpClientConfig, HttpClientListener, Requester, ShardState};
use crate::core::Core;
use crate::{AgentListener, HandleResult, Result, SocketOperation, TcpAgent, TcpAgentBuilder};
use shardnet_protocols::http::Limits;
use shardnet_runtime::{ConnId, ShardId};
use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

/// Handle to a running HTTP agent: the [`TcpAgent`] API (`Deref`) plus requests.
/// `Clone + Send + Sync`.
#[derive(Clone)]
pub struct HttpAgent {
    tcp: TcpAgent,
    req: Arc<Requester>,
    tls: bool,
}

impl std::ops::Deref for HttpAgent {
    type Target = TcpAgent;
    fn deref(&self) -> &TcpAgent {
        &self.tcp
    }
}

/// Configures and starts an [`HttpAgent`].
pub struct HttpAgentBuilder {
    tcp: TcpAgentBuilder,
    http: HttpClientConfig,
    tls: bool,
}

impl Default for HttpAgentBuilder {
    fn default() -> Self {
        HttpAgentBuilder {
            // Pipelined requests leave in several writes: no Nagle delay between them.
            tcp: TcpAgentBuilder::default().no_delay(true),
            http: HttpClientConfig::default(),
            tls: false,
        }
    }
}

impl HttpAgentBuilder {
    /// Configures the underlying TCP agent (socket options, limits, placement, …).
    pub fn tcp(mut self, f: impl FnOnce(TcpAgentBuilder) -> TcpAgentBuilder) -> Self {
        self.tcp = f(self.tcp);
        self
    }
    /// Response head limits.
    pub fn limits(mut self, l: Limits) -> Self {
        self.http.limits = l;
        self
    }
    /// A cookie jar (may be shared with other components).
    pub fn cookies(mut self, jar: Arc<CookieJar>) -> Self {
        self.http.cookies = Some(jar);
        self
    }
    /// Shards of the agent's own runtime.
    pub fn shards(mut self, n: usize) -> Self {
        self.tcp = self.tcp.shards(n);
        self
    }
    /// Runs on an existing runtime.
    pub fn runtime(mut self, rt: shardnet_runtime::Runtime) -> Self {
        self.tcp = self.tcp.runtime(rt);
        self
    }
    /// HTTPS (`https` cookie URLs, port 443 implied in Host).
    pub fn tls(mut self, cfg: crate::tls::ClientTlsConfig) -> Self {
        self.tcp = self.tcp.tls(cfg);
        self.tls = true;
        self
    }

    /// Starts with one shared listener.
    pub fn start<L>(self, listener: Arc<L>) -> Result<HttpAgent>
    where
        L: HttpClientListener<HttpAgent> + Send + Sync,
    {
        self.start_with(move |_| ArcListener(listener.clone()))
    }

    /// Starts with one listener per shard, built on that shard's thread.
    pub fn start_with<L, F>(self, factory: F) -> Result<HttpAgent>
    where
        L: HttpClientListener<HttpAgent>,
        F: Fn(ShardId) -> L + Send + Sync + 'static,
    {
        self.start_with_core(move |shard, _| factory(shard))
    }

    /// Like [`Self::start_with`]; the factory also sees the component's core.
    pub(crate) fn start_with_core<L, F>(self, factory: F) -> Result<HttpAgent>
    where
        L: HttpClientListener<HttpAgent>,
        F: Fn(ShardId, &Arc<Core>) -> L + Send + Sync + 'static,
    {
        let tls = self.tls;
        let cfg = self.http;
        let cell: Arc<OnceLock<Arc<Requester>>> = Arc::new(OnceLock::new());
        let cell2 = cell.clone();
        let tcp = self.tcp.start_with_core(move |shard, core: &Arc<Core>| {
            let req = cell2
                .get_or_init(|| Arc::new(Requester::new(core.id, tls, cfg.cookies.clone(), None)))
                .clone();
            AgentShard {
                l: factory(shard, core),
                state: ShardState::new(core.id, shard, cfg.limits),
                req,
                tls,
                handle: OnceCell::new(),
            }
        })?;
        let req = cell
            .get()
            .cloned()
            .expect("every shard made its listener before start returned");
        Ok(HttpAgent { tcp, req, tls })
    }
}

impl HttpAgent {
    /// A builder with HP-Socket's TCP defaults.
    pub fn builder() -> HttpAgentBuilder {
        HttpAgentBuilder::default()
    }

    /// Connects to `host:port`; requests on it carry `Host: host[:port]` (and SNI = host under
    /// TLS). Success is `on_connect`, failure one `on_close(Connect, errno)`.
    pub fn connect(&self, host: &str, port: u16) -> Result<ConnId> {
        self.connect_then(host, port, |_| {})
    }

    /// `connect`, running `before` with the new id before any callback of it can run (a
    /// layer above records what the connection is for).
    pub(crate) fn connect_then(
        &self,
        host: &str,
        port: u16,
        before: impl FnOnce(ConnId),
    ) -> Result<ConnId> {
        self.connect_from(host, port, None, before)
    }

    /// Like [`Self::connect`], from the local address `local` (None: the agent's bind
    /// address; an unspecified IP: the agent's bind IP, or any, with that port), running
    /// `before` with the new id before any callback of it can run (to record what the
    /// connection is for).
    pub fn connect_from(
        &self,
        host: &str,
        port: u16,
        local: Option<std::net::SocketAddr>,
        before: impl FnOnce(ConnId),
    ) -> Result<ConnId> {
        let value = host_value(host, port, self.tls);
        let req = self.req.clone();
        self.tcp
            .connect_from_then(host, port, local, host, move |conn| {
                req.set_host(conn, value);
                before(conn);
            })
    }

    /// The cookie jar, if any.
    pub fn cookies(&self) -> Option<&CookieJar> {
        self.req.jar()
    }

    /// Sends a request: `Host` (unless in `headers`), `Cookie` from the jar, `Content-Length`
    /// unless `headers` frame the body (`Transfer-Encoding: chunked`: then follow with
    /// [`Self::send_chunk`] and [`Self::send_last_chunk`]) or the method takes no body and
    /// `body` is empty. One gather write; requests may be pipelined.
    pub fn send_request(
        &self,
        conn: ConnId,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.req
            .send_request(&self.tcp.core, conn, method, target, headers, body)
    }

    /// `GET target`.
    pub fn send_get(&self, conn: ConnId, target: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request(conn, "GET", target, headers, &[])
    }
    /// `HEAD target` (its response has no body).
    pub fn send_head(&self, conn: ConnId, target: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request(conn, "HEAD", target, headers, &[])
    }
    /// `POST target` with `body`.
    pub fn send_post(
        &self,
        conn: ConnId,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.send_request(conn, "POST", target, headers, body)
    }
    /// `PUT target` with `body`.
    pub fn send_put(
        &self,
        conn: ConnId,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.send_request(conn, "PUT", target, headers, body)
    }
    /// `PATCH target` with `body`.
    pub fn send_patch(
        &self,
        conn: ConnId,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.send_request(conn, "PATCH", target, headers, body)
    }
    /// `DELETE target`.
    pub fn send_delete(&self, conn: ConnId, target: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request(conn, "DELETE", target, headers, &[])
    }
    /// `OPTIONS target`.
    pub fn send_options(&self, conn: ConnId, target: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request(conn, "OPTIONS", target, headers, &[])
    }
    /// `CONNECT authority`: a 2xx answer turns the connection into a tunnel
    /// (`on_upgrade(Tunnel)`, then `on_upgraded_data`; send raw bytes with `send`).
    pub fn send_connect(
        &self,
        conn: ConnId,
        authority: &str,
        headers: &[(&str, &str)],
    ) -> Result<()> {
        self.send_request(conn, "CONNECT", authority, headers, &[])
    }

    /// Sends a request whose body is the file at `path` (memory-mapped, one gather write with
    /// the head; what the kernel does not take at once is queued, within `max_pending_bytes`).
    pub fn send_local_file(
        &self,
        conn: ConnId,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        path: &std::path::Path,
    ) -> Result<()> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            return self.send_request(conn, method, target, headers, &[]);
        }
        // SAFETY: read-only map that lives only for this call; a file truncated by another
        // process meanwhile could fault, the documented caveat of mapping files.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        self.send_request(conn, method, target, headers, &map)
    }

    /// One chunk of a chunked request body (empty sends nothing).
    pub fn send_chunk(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        Requester::send_chunk(&self.tcp.core, conn, data)
    }

    /// Ends a chunked request body: last chunk, optional trailers, empty line.
    pub fn send_last_chunk(&self, conn: ConnId, trailers: &[(&str, &str)]) -> Result<()> {
        Requester::send_last_chunk(&self.tcp.core, conn, trailers)
    }
}

/// The TCP listener of one shard: owns the response decoders of its connections.
struct AgentShard<L> {
    l: L,
    state: Rc<ShardState>,
    req: Arc<Requester>,
    tls: bool,
    handle: OnceCell<HttpAgent>,
}

impl<L> AgentShard<L> {
    fn h(&self, tcp: &TcpAgent) -> &HttpAgent {
        self.handle.get_or_init(|| HttpAgent {
            tcp: tcp.clone(),
            req: self.req.clone(),
            tls: self.tls,
        })
    }
}

impl<L: HttpClientListener<HttpAgent>> AgentListener for AgentShard<L> {
    fn on_prepare_connect(
        &self,
        tcp: &TcpAgent,
        conn: ConnId,
        socket: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        let r = self.l.on_prepare_connect(self.h(tcp), conn, socket);
        if r == HandleResult::Error {
            // The connect is abandoned and no on_close follows: its Host goes now.
            self.req.forget(conn);
        }
        r
    }
    fn on_send(&self, tcp: &TcpAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        self.l.on_send(self.h(tcp), conn, data)
    }
    fn on_connect(&self, tcp: &TcpAgent, conn: ConnId) -> HandleResult {
        self.state.opened(conn);
        self.l.on_connect(self.h(tcp), conn)
    }
    fn on_handshake(&self, tcp: &TcpAgent, conn: ConnId) -> HandleResult {
        self.l.on_handshake(self.h(tcp), conn)
    }
    fn on_receive(&self, tcp: &TcpAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        let h = self.h(tcp);
        self.state
            .receive(&self.l, h, &tcp.core, self.req.jar(), conn, data)
    }
    fn on_close(&self, tcp: &TcpAgent, conn: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        let h = self.h(tcp);
        self.state.closed(&self.l, h, self.req.jar(), conn);
        self.req.forget(conn);
        self.l.on_close(h, conn, op, e)
    }
    fn on_shutdown(&self, tcp: &TcpAgent) -> HandleResult {
        self.l.on_shutdown(self.h(tcp))
    }
}

/// `start`'s shared listener.
pub(crate) struct ArcListener<L>(pub(crate) Arc<L>);

macro_rules! forward_client {
    ($h:ty) => {
        impl<L: HttpClientListener<$h>> HttpClientListener<$h> for ArcListener<L> {
            fn on_prepare_connect(
                &self,
                c: &$h,
                conn: ConnId,
                f: std::os::fd::BorrowedFd<'_>,
            ) -> HandleResult {
                self.0.on_prepare_connect(c, conn, f)
            }
            fn on_connect(&self, c: &$h, conn: ConnId) -> HandleResult {
                self.0.on_connect(c, conn)
            }
            fn on_send(&self, c: &$h, conn: ConnId, d: &[u8]) -> HandleResult {
                self.0.on_send(c, conn, d)
            }
            fn on_handshake(&self, c: &$h, conn: ConnId) -> HandleResult {
                self.0.on_handshake(c, conn)
            }
            fn on_message_begin(&self, c: &$h, conn: ConnId) -> HandleResult {
                self.0.on_message_begin(c, conn)
            }
            fn on_status_line(&self, c: &$h, conn: ConnId, s: u16, r: &str) -> HandleResult {
                self.0.on_status_line(c, conn, s, r)
            }
            fn on_header(&self, c: &$h, conn: ConnId, n: &str, v: &[u8]) -> HandleResult {
                self.0.on_header(c, conn, n, v)
            }
            fn on_headers_complete(
                &self,
                c: &$h,
                conn: ConnId,
                head: &shardnet_protocols::http::ResponseHead<'_>,
            ) -> shardnet_protocols::http::HeadAction {
                self.0.on_headers_complete(c, conn, head)
            }
            fn on_body(&self, c: &$h, conn: ConnId, d: &[u8]) -> HandleResult {
                self.0.on_body(c, conn, d)
            }
            fn on_chunk_header(&self, c: &$h, conn: ConnId, len: u64) -> HandleResult {
                self.0.on_chunk_header(c, conn, len)
            }
            fn on_chunk_complete(&self, c: &$h, conn: ConnId) -> HandleResult {
                self.0.on_chunk_complete(c, conn)
            }
            fn on_message_complete(
                &self,
                c: &$h,
                conn: ConnId,
                r: &super::ResponseInfo,
            ) -> HandleResult {
                self.0.on_message_complete(c, conn, r)
            }
            fn on_upgrade(
                &self,
                c: &$h,
                conn: ConnId,
                k: shardnet_protocols::http::UpgradeKind,
            ) -> HandleResult {
                self.0.on_upgrade(c, conn, k)
            }
            fn on_upgraded_data(&self, c: &$h, conn: ConnId, d: &[u8]) -> HandleResult {
                self.0.on_upgraded_data(c, conn, d)
            }
            fn on_parse_error(&self, c: &$h, conn: ConnId, s: u16, d: &str) {
                self.0.on_parse_error(c, conn, s, d)
            }
            fn on_close(&self, c: &$h, conn: ConnId, o: SocketOperation, e: i32) -> HandleResult {
                self.0.on_close(c, conn, o, e)
            }
            fn on_shutdown(&self, c: &$h) -> HandleResult {
                self.0.on_shutdown(c)
            }
        }
    };
}
pub(crate) use forward_client;
forward_client!(HttpAgent);
