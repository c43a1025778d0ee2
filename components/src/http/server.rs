//! HttpServer: a TcpServer whose per-shard listener owns the request decoders of its shard.

use crate::{HandleResult, Result, ServerListener, SocketOperation, TcpServer, TcpServerBuilder};
use shardnet_protocols::http::{
    write_last_chunk, write_response_head, BodyHandler, Feed, Flow, HeadAction, HttpError, Limits,
    RequestDecoder, RequestHandler, RequestHead, UpgradeKind,
};
use shardnet_runtime::{ConnId, ShardId};
use std::cell::{OnceCell, RefCell};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

/// HTTP settings (the TCP ones stay on [`crate::TcpConfig`]).
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Head size, header count and chunk-extension limits (8 KiB, 100, 4 KiB).
    pub limits: Limits,
    /// A head must be complete this long after its first byte, else 408 and close (slowloris;
    /// default 10 s).
    pub header_timeout: Duration,
    /// A request body that makes no progress for this long is answered 408 and closed
    /// (nginx's `client_body_timeout`; default 60 s, zero: none).
    pub body_timeout: Duration,
    /// Close a connection that has no request in progress and nothing left to send for this
    /// long (keep-alive idle; default 75 s, nginx's). A slow download is not idle; a callback
    /// listener that answers a request later than this after it completed may find the
    /// connection closed (it is not tracked as awaiting an answer yet).
    pub keep_alive_timeout: Duration,
    /// Requests per connection (default 1000, nginx's; 0 = unlimited): the last one is reported
    /// as not keep-alive (`RequestInfo::keep_alive` false, so the handler path answers
    /// `Connection: close`), and nothing after it is read.
    pub max_requests: u32,
    /// Largest body the whole-request handler accepts (default 1 MiB; larger: 413 and close).
    /// Callbacks stream bodies of any size.
    pub max_body: usize,
    /// `Server` header of the handler path's responses and of error answers (default
    /// `shardnet`; `None` sends none).
    pub server_name: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            keep_alive_timeout: Duration::from_secs(75),
            max_requests: 1000,
            max_body: 1 << 20,
            server_name: Some("shardnet".into()),
        }
    }
}

/// What callbacks after the head know of the current request (owned; valid until the next
/// request of the connection begins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// Method token.
    pub method: String,
    /// Request-target exactly as received.
    pub target: String,
    /// Minor version (0 = HTTP/1.0, 1 = HTTP/1.1).
    pub version: u8,
    /// The connection stays open after the response (else `release` it once answered).
    pub keep_alive: bool,
    /// What the request asked to switch to.
    pub upgrade: Option<UpgradeKind>,
    /// Content-Length, when given.
    pub content_length: Option<u64>,
    /// Which request of its connection this is (1 for the first).
    pub sequence: u32,
}

impl RequestInfo {
    /// Refills `self` from `h`, reusing the strings' capacity (no allocation per request once
    /// a connection has seen a target as long).
    fn fill(&mut self, h: &RequestHead<'_>, sequence: u32) {
        self.sequence = sequence;
        self.method.clear();
        self.method.push_str(h.method);
        self.target.clear();
        self.target.push_str(h.target);
        self.version = h.version;
        self.keep_alive = h.keep_alive;
        self.upgrade = h.upgrade;
        self.content_length = h.content_length();
    }

    fn empty() -> RequestInfo {
        RequestInfo {
            method: String::new(),
            target: String::new(),
            version: 1,
            keep_alive: true,
            upgrade: None,
            content_length: None,
            sequence: 0,
        }
    }

    /// True for HEAD (a response carries no body).
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Callbacks of an [`HttpServer`] (HP-Socket's `IHttpServerListener`). `on_message_complete`
/// and `on_close` are required; the others default to going on. [`HandleResult::Error`]
/// closes the connection (`on_close(Receive, ECANCELED)`).
#[allow(unused_variables)]
pub trait HttpServerListener: 'static {
    /// A connection was accepted (return Error to refuse it: no `on_close` follows).
    fn on_accept(&self, server: &HttpServer, conn: ConnId, peer: SocketAddr) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection is ready (after TLS, if any).
    fn on_handshake(&self, server: &HttpServer, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// A request's first byte arrived.
    fn on_message_begin(&self, server: &HttpServer, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The request line.
    fn on_request_line(
        &self,
        server: &HttpServer,
        conn: ConnId,
        method: &str,
        target: &str,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// One header field (in order, as received).
    fn on_header(
        &self,
        server: &HttpServer,
        conn: ConnId,
        name: &str,
        value: &[u8],
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// The head is complete and valid: every field, URL parts, cookies, framing, keep-alive,
    /// upgrade. Decide what happens to the body.
    fn on_headers_complete(
        &self,
        server: &HttpServer,
        conn: ConnId,
        head: &RequestHead<'_>,
    ) -> HeadAction {
        HeadAction::Continue
    }
    /// Body bytes (de-chunked), as they arrive.
    fn on_body(&self, server: &HttpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// A chunk of `len` bytes follows (0 = last).
    fn on_chunk_header(&self, server: &HttpServer, conn: ConnId, len: u64) -> HandleResult {
        HandleResult::Ignore
    }
    /// The chunk ended.
    fn on_chunk_complete(&self, server: &HttpServer, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The request is complete; answer it (now or later, from any thread).
    fn on_message_complete(
        &self,
        server: &HttpServer,
        conn: ConnId,
        request: &RequestInfo,
    ) -> HandleResult;
    /// `on_headers_complete` returned Upgrade: HTTP is over on this connection.
    fn on_upgrade(&self, server: &HttpServer, conn: ConnId, kind: UpgradeKind) -> HandleResult {
        HandleResult::Error
    }
    /// Bytes after an upgrade (the new protocol's).
    fn on_upgraded_data(&self, server: &HttpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Error
    }
    /// A request broke RFC 9112 or a limit; the server answers `status` and closes.
    fn on_parse_error(
        &self,
        server: &HttpServer,
        conn: ConnId,
        status: u16,
        description: &str,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection closed (exactly once).
    fn on_close(
        &self,
        server: &HttpServer,
        conn: ConnId,
        operation: SocketOperation,
        errno: i32,
    ) -> HandleResult;
    /// The server stopped.
    fn on_shutdown(&self, server: &HttpServer) -> HandleResult {
        HandleResult::Ignore
    }
}

/// Handle to a running HTTP server: `Clone + Send + Sync`, usable from any thread. Every
/// [`TcpServer`] method is available through `Deref` (`stop`, `wait`, `listen_addr`,
/// `disconnect`, `connection_count`, …).
#[derive(Clone)]
pub struct HttpServer {
    tcp: TcpServer,
    cfg: Arc<HttpConfig>,
}

impl std::ops::Deref for HttpServer {
    type Target = TcpServer;
    fn deref(&self) -> &TcpServer {
        &self.tcp
    }
}

impl HttpServer {
    /// A builder with HP-Socket's TCP defaults and nginx-like HTTP limits.
    pub fn builder() -> HttpServerBuilder {
        HttpServerBuilder {
            // Lingering close: a client that pipelined past a `Connection: close` answer (or
            // sent a body the server refused) still reads the answer instead of a reset.
            tcp: TcpServer::builder().lingering_close(Duration::from_secs(5)),
            http: HttpConfig::default(),
        }
    }

    /// The HTTP settings.
    pub fn http_config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// Sends a response: status line (standard reason unless given), `headers`,
    /// `Content-Length` unless the headers frame the body themselves, then `body` — one gather
    /// write. 1xx, 204 and 304 responses take no body (`InvalidParam`). Nothing is added or removed for HEAD: send an empty body (with the length in a
    /// Content-Length header) to answer one.
    pub fn send_response(
        &self,
        conn: ConnId,
        status: u16,
        reason: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        thread_local! {
            // The head is built here and copied out by the send: no allocation per response.
            static HEAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        HEAD.with(|h| {
            let Ok(mut head) = h.try_borrow_mut() else {
                // Re-entered from an `on_send` callback: use a fresh buffer.
                return self.send_response_in(&mut Vec::new(), conn, status, reason, headers, body);
            };
            head.clear();
            let r = self.send_response_in(&mut head, conn, status, reason, headers, body);
            if head.capacity() > 16 << 10 {
                *head = Vec::new();
            }
            r
        })
    }

    fn send_response_in(
        &self,
        head: &mut Vec<u8>,
        conn: ConnId,
        status: u16,
        reason: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        if !body.is_empty() && (status < 200 || status == 204 || status == 304) {
            // The client would read these bytes as the start of the next response.
            return Err(crate::Error::InvalidParam(format!(
                "a {status} response carries no body"
            )));
        }
        write_response_head(head, status, reason, headers, Some(body.len() as u64))
            .map_err(|e| crate::Error::InvalidParam(e.to_string()))?;
        self.tcp.send_packets(conn, &[head, body])
    }

    /// Sends one chunk of a chunked response body (started with a `Transfer-Encoding: chunked`
    /// header); an empty `data` sends nothing.
    pub fn send_chunk(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        // The size line on the stack: no allocation per chunk.
        let mut line = [0u8; 18];
        let mut i = 16;
        let mut n = data.len();
        loop {
            i -= 1;
            line[i] = b"0123456789abcdef"[n & 15];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        line[16..].copy_from_slice(b"\r\n");
        self.tcp.send_packets(conn, &[&line[i..], data, b"\r\n"])
    }

    /// Ends a chunked body: the last chunk, optional trailers, the empty line.
    pub fn send_last_chunk(&self, conn: ConnId, trailers: &[(&str, &str)]) -> Result<()> {
        let mut out = Vec::with_capacity(32);
        write_last_chunk(&mut out, trailers)
            .map_err(|e| crate::Error::InvalidParam(e.to_string()))?;
        self.tcp.send(conn, &out)
    }

    /// Closes `conn` once what was sent has left (HP-Socket's `Release`); called in a callback
    /// of that connection, nothing more of it is read.
    pub fn release(&self, conn: ConnId) -> Result<()> {
        RELEASED.with(|x| x.set(conn.as_u64()));
        self.tcp.disconnect(conn, false)
    }

    /// The status line and headers of an answer the server makes itself, then close.
    fn refuse(&self, conn: ConnId, status: u16) {
        let mut head = Vec::with_capacity(128);
        let mut headers: Vec<(&str, &str)> = vec![("Connection", "close")];
        if let Some(n) = &self.cfg.server_name {
            headers.push(("Server", n));
        }
        if write_response_head(&mut head, status, None, &headers, Some(0)).is_ok() {
            let _ = self.tcp.send(conn, &head);
        }
        let _ = self.release(conn);
    }
}

/// Configures and starts an [`HttpServer`].
pub struct HttpServerBuilder {
    tcp: TcpServerBuilder,
    http: HttpConfig,
}

impl HttpServerBuilder {
    /// Configures the underlying TCP server (socket options, limits, placement, shards, …).
    pub fn tcp(mut self, f: impl FnOnce(TcpServerBuilder) -> TcpServerBuilder) -> Self {
        self.tcp = f(self.tcp);
        self
    }
    /// The HTTP settings so far.
    pub fn http_settings(&self) -> &HttpConfig {
        &self.http
    }
    /// Replaces the HTTP settings.
    pub fn http_config(mut self, cfg: HttpConfig) -> Self {
        self.http = cfg;
        self
    }
    /// Head, header-count and chunk-extension limits.
    pub fn limits(mut self, l: Limits) -> Self {
        self.http.limits = l;
        self
    }
    /// Time a request body may go without progress.
    pub fn body_timeout(mut self, t: Duration) -> Self {
        self.http.body_timeout = t;
        self
    }
    /// Time allowed for a complete head (slowloris bound).
    pub fn header_timeout(mut self, t: Duration) -> Self {
        self.http.header_timeout = t;
        self
    }
    /// Keep-alive idle timeout (zero: none).
    pub fn keep_alive_timeout(mut self, t: Duration) -> Self {
        self.http.keep_alive_timeout = t;
        self
    }
    /// Largest body the whole-request handler accepts.
    pub fn max_body(mut self, n: usize) -> Self {
        self.http.max_body = n;
        self
    }
    /// Shards of the server's own runtime.
    pub fn shards(mut self, n: usize) -> Self {
        self.tcp = self.tcp.shards(n);
        self
    }
    /// Runs on an existing runtime.
    pub fn runtime(mut self, rt: shardnet_runtime::Runtime) -> Self {
        self.tcp = self.tcp.runtime(rt);
        self
    }
    /// HTTPS (give the TLS configuration ALPN `http/1.1`).
    pub fn tls(mut self, cfg: crate::tls::ServerTlsConfig) -> Self {
        self.tcp = self.tcp.tls(cfg);
        self
    }

    /// Starts with one shared listener.
    pub fn start<L>(self, addr: &str, listener: Arc<L>) -> Result<HttpServer>
    where
        L: HttpServerListener + Send + Sync,
    {
        self.start_with(addr, move |_| ArcListener(listener.clone()))
    }

    /// Starts with one listener per shard, built on that shard's thread.
    pub fn start_with<L, F>(self, addr: &str, factory: F) -> Result<HttpServer>
    where
        L: HttpServerListener,
        F: Fn(ShardId) -> L + Send + Sync + 'static,
    {
        let cfg = Arc::new(self.http);
        let tcp = self.tcp;
        let cfg2 = cfg.clone();
        let server = tcp.start_with(addr, move |shard| {
            let shared = Rc::new(Shared {
                conns: RefCell::new(Default::default()),
                server: OnceCell::new(),
            });
            spawn_sweeper(Rc::downgrade(&shared), &cfg2);
            HttpShard {
                l: factory(shard),
                cfg: cfg2.clone(),
                shared,
            }
        })?;
        Ok(HttpServer { tcp: server, cfg })
    }
}

/// `start`'s shared listener.
struct ArcListener<L>(Arc<L>);

macro_rules! forward {
    ($($f:ident($($a:ident: $t:ty),*) -> $r:ty;)*) => {
        $(fn $f(&self, s: &HttpServer, $($a: $t),*) -> $r { self.0.$f(s, $($a),*) })*
    };
}

impl<L: HttpServerListener> HttpServerListener for ArcListener<L> {
    forward! {
        on_accept(conn: ConnId, peer: SocketAddr) -> HandleResult;
        on_handshake(conn: ConnId) -> HandleResult;
        on_message_begin(conn: ConnId) -> HandleResult;
        on_request_line(conn: ConnId, method: &str, target: &str) -> HandleResult;
        on_header(conn: ConnId, name: &str, value: &[u8]) -> HandleResult;
        on_headers_complete(conn: ConnId, head: &RequestHead<'_>) -> HeadAction;
        on_body(conn: ConnId, data: &[u8]) -> HandleResult;
        on_chunk_header(conn: ConnId, len: u64) -> HandleResult;
        on_chunk_complete(conn: ConnId) -> HandleResult;
        on_message_complete(conn: ConnId, request: &RequestInfo) -> HandleResult;
        on_upgrade(conn: ConnId, kind: UpgradeKind) -> HandleResult;
        on_upgraded_data(conn: ConnId, data: &[u8]) -> HandleResult;
        on_parse_error(conn: ConnId, status: u16, description: &str) -> HandleResult;
        on_close(conn: ConnId, operation: SocketOperation, errno: i32) -> HandleResult;
    }
    fn on_shutdown(&self, s: &HttpServer) -> HandleResult {
        self.0.on_shutdown(s)
    }
}

/// One connection's HTTP state on its shard.
struct ConnHttp {
    dec: RequestDecoder,
    /// The current request's head, reused by the requests of one pipelined burst and freed
    /// when the connection goes idle (boxed: an idle connection pays one pointer).
    info: Option<Box<RequestInfo>>,
    /// Requests begun on this connection.
    requests: u32,
    /// A request that ends the connection completed: what follows is not read.
    finished: bool,
    /// When the current head's first byte arrived (shard clock, ms; 0 = no head pending).
    head_since: u64,
    /// Since when no request has been in progress (shard clock, ms; 0 = one is).
    idle_since: u64,
    /// When body bytes last arrived while a request body is in progress (ms; 0 = none is).
    body_since: u64,
    upgraded: bool,
}

/// State shared by a shard's listener and its header-timeout sweeper.
struct Shared {
    conns: RefCell<shardnet_runtime::ConnMap<ConnHttp>>,
    server: OnceCell<HttpServer>,
}

/// The TCP listener of one shard: owns the decoders of that shard's connections.
struct HttpShard<L> {
    l: L,
    cfg: Arc<HttpConfig>,
    shared: Rc<Shared>,
}

impl<L> HttpShard<L> {
    fn http(&self, tcp: &TcpServer) -> &HttpServer {
        self.shared.server.get_or_init(|| HttpServer {
            tcp: tcp.clone(),
            cfg: self.cfg.clone(),
        })
    }
}

/// Every shard runs one sweeper: a head not complete `header_timeout` after its first byte, or
/// a body without progress for `body_timeout`, is answered 408 and closed (slowloris, slow
/// bodies); a connection with no request in progress and nothing left to send for
/// `keep_alive_timeout` is closed.
fn spawn_sweeper(shared: Weak<Shared>, cfg: &HttpConfig) {
    let (head, body, idle) = (cfg.header_timeout, cfg.body_timeout, cfg.keep_alive_timeout);
    let shortest = [head, body, idle]
        .into_iter()
        .filter(|t| !t.is_zero())
        .min();
    let Some(shortest) = shortest else {
        return;
    };
    let period = (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let ms = |t: Duration| t.as_millis() as u64;
    let (head, body, idle) = (ms(head), ms(body), ms(idle));
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(period).await;
            let Some(sh) = shared.upgrade() else { break };
            let Some(server) = sh.server.get().cloned() else {
                continue;
            };
            if matches!(
                server.state(),
                crate::ServiceState::Stopping | crate::ServiceState::Stopped
            ) {
                break;
            }
            let now = shardnet_shard::clock_ms();
            let mut late = Vec::new();
            let mut idle_conns = Vec::new();
            for (id, c) in sh.conns.borrow_mut().iter_mut() {
                let slow_head =
                    head != 0 && c.head_since != 0 && now.saturating_sub(c.head_since) >= head;
                let slow_body =
                    body != 0 && c.body_since != 0 && now.saturating_sub(c.body_since) >= body;
                if slow_head || slow_body {
                    c.head_since = 0;
                    c.body_since = 0;
                    c.finished = true; // nothing more is read from it
                    late.push(*id);
                } else if idle != 0 && c.idle_since != 0 && now.saturating_sub(c.idle_since) >= idle
                {
                    idle_conns.push(*id);
                }
            }
            drop(sh);
            for conn in late {
                server.refuse(conn, 408);
            }
            for conn in idle_conns {
                // Still sending a response is not idle.
                if server.pending_data_length(conn) == Some(0) {
                    let _ = server.release(conn);
                }
            }
        }
    })
    .detach();
}

/// The codec's callbacks for one `feed`, turned into the listener's.
struct Dispatch<'a, L> {
    l: &'a L,
    s: &'a HttpServer,
    conn: ConnId,
    info: &'a mut Option<Box<RequestInfo>>,
    requests: &'a mut u32,
    max_requests: u32,
    /// A callback returned Error.
    failed: bool,
    /// A request that ends the connection completed.
    finished: bool,
}

thread_local! {
    /// The connection `HttpServer::release` was last called for on this thread (raw id; 0 =
    /// none): a feed stops reading a connection its listener released.
    static RELEASED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl<L: HttpServerListener> Dispatch<'_, L> {
    /// After a listener callback: Error fails the connection; a `release` of it ends the
    /// reading (what was answered still leaves: the close is graceful).
    fn check(&mut self, r: HandleResult) -> Flow {
        if r == HandleResult::Error {
            self.failed = true;
        } else if RELEASED.with(|x| x.get()) == self.conn.as_u64() {
            self.finished = true;
        }
        if self.stopped() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn stopped(&self) -> bool {
        self.failed || self.finished
    }
}

impl<L: HttpServerListener> RequestHandler for Dispatch<'_, L> {
    fn on_message_begin(&mut self) {
        *self.requests = self.requests.saturating_add(1);
        if !self.stopped() {
            let r = self.l.on_message_begin(self.s, self.conn);
            self.check(r);
        }
    }
    fn on_head(&mut self, head: &RequestHead<'_>) -> HeadAction {
        if self.stopped() {
            return HeadAction::Error;
        }
        let (s, c) = (self.s, self.conn);
        let mut ok = self.l.on_request_line(s, c, head.method, head.target) != HandleResult::Error;
        for f in head.headers {
            ok = ok && self.l.on_header(s, c, f.name, f.value) != HandleResult::Error;
        }
        if !ok {
            self.failed = true;
            return HeadAction::Error;
        }
        let info = self
            .info
            .get_or_insert_with(|| Box::new(RequestInfo::empty()));
        info.fill(head, *self.requests);
        if self.max_requests != 0 && *self.requests >= self.max_requests {
            info.keep_alive = false;
        }
        let action = self.l.on_headers_complete(s, c, head);
        if action == HeadAction::Error {
            self.failed = true;
        }
        if self.check(HandleResult::Ok) == Flow::Stop {
            return HeadAction::Error;
        }
        let has_body = !matches!(
            head.framing,
            shardnet_protocols::http::BodyFraming::None
                | shardnet_protocols::http::BodyFraming::Length(0)
        );
        // 100 Continue only for HTTP/1.1 clients (RFC 9110 §10.1.1).
        if action == HeadAction::Continue && head.expect_continue && has_body && head.version == 1 {
            let _ = s.tcp.send(c, b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        action
    }
}

impl<L: HttpServerListener> BodyHandler for Dispatch<'_, L> {
    fn on_chunk_header(&mut self, len: u64) {
        if !self.stopped() {
            let r = self.l.on_chunk_header(self.s, self.conn, len);
            self.check(r);
        }
    }
    fn on_body(&mut self, data: &[u8]) -> Flow {
        if self.stopped() {
            return Flow::Stop;
        }
        let r = self.l.on_body(self.s, self.conn, data);
        self.check(r)
    }
    fn on_chunk_complete(&mut self) {
        if !self.stopped() {
            let r = self.l.on_chunk_complete(self.s, self.conn);
            self.check(r);
        }
    }
    fn on_message_complete(&mut self) -> Flow {
        if self.stopped() {
            return Flow::Stop;
        }
        let info = self.info.as_deref().expect("a head came first");
        let keep_alive = info.keep_alive;
        let r = self.l.on_message_complete(self.s, self.conn, info);
        if !keep_alive && r != HandleResult::Error {
            // The connection ends with this exchange: pipelined requests after it are not
            // answered (the client learns from `Connection: close`).
            self.finished = true;
        }
        self.check(r)
    }
}

impl<L: HttpServerListener> ServerListener for HttpShard<L> {
    fn on_accept(
        &self,
        tcp: &TcpServer,
        conn: ConnId,
        peer: SocketAddr,
        _fd: BorrowedFd<'_>,
    ) -> HandleResult {
        let s = self.http(tcp);
        let r = self.l.on_accept(s, conn, peer);
        if r != HandleResult::Error {
            self.shared.conns.borrow_mut().insert(
                conn,
                ConnHttp {
                    dec: RequestDecoder::new(self.cfg.limits),
                    info: None,
                    requests: 0,
                    finished: false,
                    head_since: 0,
                    idle_since: shardnet_shard::clock_ms(),
                    body_since: 0,
                    upgraded: false,
                },
            );
        }
        r
    }

    fn on_handshake(&self, tcp: &TcpServer, conn: ConnId) -> HandleResult {
        self.l.on_handshake(self.http(tcp), conn)
    }

    fn on_receive(&self, tcp: &TcpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        let s = self.http(tcp);
        // Taken out while callbacks run: they may call anything, including on this shard.
        let Some(mut c) = self.shared.conns.borrow_mut().remove(&conn) else {
            return HandleResult::Error;
        };
        if c.finished {
            self.shared.conns.borrow_mut().insert(conn, c);
            return HandleResult::Ok;
        }
        if c.upgraded {
            let r = self.l.on_upgraded_data(s, conn, data);
            self.shared.conns.borrow_mut().insert(conn, c);
            return r;
        }
        RELEASED.with(|x| x.set(0));
        let mut d = Dispatch {
            l: &self.l,
            s,
            conn,
            info: &mut c.info,
            requests: &mut c.requests,
            max_requests: self.cfg.max_requests,
            failed: false,
            finished: false,
        };
        let fed = c.dec.feed(data, &mut d);
        let failed = d.failed;
        c.finished |= d.finished || RELEASED.with(|x| x.get()) == conn.as_u64();
        let result = match fed {
            Err(e) => {
                self.parse_error(s, conn, &e);
                HandleResult::Ok
            }
            Ok(_) if failed => HandleResult::Error,
            Ok(Feed::Upgraded { consumed }) => {
                c.upgraded = true;
                let kind = c
                    .info
                    .as_ref()
                    .and_then(|i| i.upgrade)
                    .unwrap_or(UpgradeKind::Other);
                if self.l.on_upgrade(s, conn, kind) == HandleResult::Error {
                    HandleResult::Error
                } else if consumed < data.len() {
                    self.l.on_upgraded_data(s, conn, &data[consumed..])
                } else {
                    HandleResult::Ok
                }
            }
            Ok(_) => HandleResult::Ok,
        };
        c.body_since = if c.dec.in_body() && !c.finished {
            shardnet_shard::clock_ms()
        } else {
            0
        };
        if c.dec.in_head() {
            if c.head_since == 0 {
                c.head_since = shardnet_shard::clock_ms();
            }
            c.idle_since = 0;
        } else {
            c.head_since = 0;
            c.idle_since = if c.dec.is_idle() && !c.upgraded {
                // Between requests nothing is kept but the counters: the head's copy is freed
                // (the requests of one pipelined burst share it).
                c.info = None;
                shardnet_shard::clock_ms()
            } else {
                0
            };
        }
        self.shared.conns.borrow_mut().insert(conn, c);
        result
    }

    fn on_close(&self, tcp: &TcpServer, conn: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.shared.conns.borrow_mut().remove(&conn);
        self.l.on_close(self.http(tcp), conn, op, e)
    }

    fn on_shutdown(&self, tcp: &TcpServer) -> HandleResult {
        self.l.on_shutdown(self.http(tcp))
    }
}

impl<L: HttpServerListener> HttpShard<L> {
    fn parse_error(&self, s: &HttpServer, conn: ConnId, e: &HttpError) {
        let _ = self.l.on_parse_error(s, conn, e.status(), e.description());
        s.refuse(conn, e.status());
    }
}
