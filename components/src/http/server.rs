//! HttpServer: a TcpServer whose per-shard listener owns the request decoders of its shard.

use super::server_shard::{HttpShard, Shared, RELEASED};
use crate::{HandleResult, Result, SocketOperation, TcpServer, TcpServerBuilder};
use shardnet_protocols::http::{
    write_last_chunk, write_response_head, HeadAction, Limits, RequestHead, UpgradeKind,
};
use shardnet_runtime::{ConnId, ShardId};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bodies up to this size are copied behind the head and sent as one buffer.
const SMALL_BODY: usize = 2048;

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
    pub(crate) fn fill(&mut self, h: &RequestHead<'_>, sequence: u32) {
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

    pub(crate) fn empty() -> RequestInfo {
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
    /// A listen socket is bound and not yet listening (one call per listen socket).
    fn on_prepare_listen(
        &self,
        server: &HttpServer,
        socket: BorrowedFd<'_>,
        addr: SocketAddr,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// A connection was accepted (return Error to refuse it: no `on_close` follows).
    fn on_accept(&self, server: &HttpServer, conn: ConnId, peer: SocketAddr) -> HandleResult {
        HandleResult::Ignore
    }
    /// As [`Self::on_accept`], with the accepted socket (for socket options); the default
    /// calls `on_accept`, and only one of the two needs implementing.
    fn on_accept_socket(
        &self,
        server: &HttpServer,
        conn: ConnId,
        peer: SocketAddr,
        socket: BorrowedFd<'_>,
    ) -> HandleResult {
        self.on_accept(server, conn, peer)
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
    /// Bytes of `conn` were written to the socket (responses, chunks, file parts).
    fn on_send(&self, server: &HttpServer, conn: ConnId, data: &[u8]) -> HandleResult {
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
    pub(crate) tcp: TcpServer,
    cfg: Arc<HttpConfig>,
    /// Files streaming (or waiting to) on any connection of this server: while non-zero, a
    /// send from another thread is decided on the connection's shard, where it may have to
    /// wait behind a file.
    pub(crate) streaming: Arc<AtomicUsize>,
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
            // TCP_NODELAY (nginx's `tcp_nodelay on`): the answers to a pipelined burst leave
            // in more than one write, and Nagle would hold the later ones for the client's
            // delayed ACK (40 ms; 23k req/s instead of 800k+ at 16-deep pipelining).
            tcp: TcpServer::builder()
                .lingering_close(Duration::from_secs(5))
                .no_delay(true),
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
        self.count_status(conn, status);
        // A chunked answer is complete at its last chunk, not here.
        let complete = status >= 200
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
        if body.len() <= SMALL_BODY {
            // One buffer: a plain `send` instead of a two-part `sendmsg` (the kernel's iovec
            // import costs more than copying a small body).
            head.extend_from_slice(body);
            return self.emit(conn, &[head], complete);
        }
        self.emit(conn, &[head, body], complete)
    }

    /// Sends `parts` on `conn` in order with the server's other answers on it: from the
    /// connection's shard at once (behind a streaming file if one is); from another thread
    /// through the shard's inbox. `answer`: this completes an answer (the keep-alive sweeper
    /// stops waiting for one).
    fn emit(&self, conn: ConnId, parts: &[&[u8]], answer: bool) -> Result<()> {
        let core_id = self.tcp.core.id;
        if let Some(sh) = Shared::local(core_id, conn) {
            return sh.emit(conn, parts, answer);
        }
        if self.streaming.load(Ordering::Relaxed) == 0 {
            if !answer {
                return self.tcp.send_packets(conn, parts);
            }
            return self.tcp.core.send_hooked(
                conn,
                parts,
                Box::new(move || {
                    if let Some(sh) = Shared::local(core_id, conn) {
                        sh.answered(conn);
                    }
                }),
            );
        }
        // A file streams somewhere on this server: the shard decides where these bytes go.
        let data = parts.concat();
        let tcp = self.tcp.clone();
        self.tcp.core.send_hooked(
            conn,
            &[],
            Box::new(move || {
                if let Some(sh) = Shared::local(core_id, conn) {
                    if sh.emit(conn, &[&data], answer).is_err() {
                        let _ = tcp.disconnect(conn, true);
                    }
                }
            }),
        )
    }

    /// Sends a response whose body is the file at `path`, of any size: status line,
    /// `headers`, `Content-Length`, then the file, memory-mapped and streamed — at most about
    /// 1 MiB of it waits in the connection's send queue at a time, topped up as the peer reads
    /// (HP-Socket's `SendLocalFile` caps files at 4 MiB and sends them whole). While it
    /// streams, the server reads no further request of this connection; answers sent on it
    /// meanwhile leave after the file; `release` closes once the file has left. For HEAD,
    /// send the head alone with `send_response`.
    pub fn send_local_file(
        &self,
        conn: ConnId,
        status: u16,
        headers: &[(&str, &str)],
        path: &std::path::Path,
    ) -> Result<()> {
        let file = std::fs::File::open(path)?;
        self.count_status(conn, status);
        let mut head = Vec::with_capacity(256);
        if file.metadata()?.len() == 0 {
            write_response_head(&mut head, status, None, headers, Some(0))
                .map_err(|e| crate::Error::InvalidParam(e.to_string()))?;
            return self.emit(conn, &[&head], true);
        }
        // SAFETY: a read-only map; a file truncated by another process while it streams could
        // fault, the documented caveat of mapping files (HP-Socket maps them the same way).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        // The length announced is the length mapped (a file growing meanwhile cannot make the
        // body longer than its Content-Length).
        write_response_head(&mut head, status, None, headers, Some(map.len() as u64))
            .map_err(|e| crate::Error::InvalidParam(e.to_string()))?;
        if map.len() <= super::file_stream::CHUNK {
            return self.emit(conn, &[&head, &map], true);
        }
        let core_id = self.tcp.core.id;
        if let Some(sh) = Shared::local(core_id, conn) {
            return sh.start_file(conn, head, map, false);
        }
        // From another thread: counted now, so that this thread's next sends on the server
        // queue behind it; started on the connection's shard.
        self.streaming.fetch_add(1, Ordering::Relaxed);
        let tcp = self.tcp.clone();
        let streaming = self.streaming.clone();
        let r = self.tcp.core.send_hooked(
            conn,
            &[],
            Box::new(move || match Shared::local(core_id, conn) {
                Some(sh) => {
                    if sh.start_file(conn, head, map, true).is_err() {
                        let _ = tcp.disconnect(conn, true);
                    }
                }
                None => {
                    streaming.fetch_sub(1, Ordering::Relaxed);
                }
            }),
        );
        if r.is_err() {
            self.streaming.fetch_sub(1, Ordering::Relaxed);
        }
        r
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
        self.emit(conn, &[&line[i..], data, b"\r\n"], false)
    }

    /// Ends a chunked body: the last chunk, optional trailers, the empty line.
    pub fn send_last_chunk(&self, conn: ConnId, trailers: &[(&str, &str)]) -> Result<()> {
        let mut out = Vec::with_capacity(32);
        write_last_chunk(&mut out, trailers)
            .map_err(|e| crate::Error::InvalidParam(e.to_string()))?;
        self.emit(conn, &[&out], true)
    }

    /// Closes `conn` once what was sent has left (HP-Socket's `Release`); called in a callback
    /// of that connection, nothing more of it is read.
    pub fn release(&self, conn: ConnId) -> Result<()> {
        RELEASED.with(|x| x.set(conn.as_u64()));
        let core_id = self.tcp.core.id;
        if let Some(sh) = Shared::local(core_id, conn) {
            if sh.streams.release_after(conn) {
                return Ok(()); // closes once the file has left
            }
        } else if self.streaming.load(Ordering::Relaxed) != 0 {
            let tcp = self.tcp.clone();
            return self.tcp.core.send_hooked(
                conn,
                &[],
                Box::new(move || {
                    let streaming = Shared::local(core_id, conn)
                        .is_some_and(|sh| sh.streams.release_after(conn));
                    if !streaming {
                        let _ = tcp.disconnect(conn, false);
                    }
                }),
            );
        }
        self.tcp.disconnect(conn, false)
    }

    /// The status line and headers of an answer the server makes itself, then close.
    pub(crate) fn refuse(&self, conn: ConnId, status: u16) {
        let mut head = Vec::with_capacity(128);
        let mut headers: Vec<(&str, &str)> = vec![("Connection", "close")];
        if let Some(n) = &self.cfg.server_name {
            headers.push(("Server", n));
        }
        if write_response_head(&mut head, status, None, &headers, Some(0)).is_ok() {
            self.count_status(conn, status);
            let _ = self.emit(conn, &[&head], true);
        }
        let _ = self.release(conn);
    }

    /// Counts an answer by status class on `conn`'s shard row (any thread).
    fn count_status(&self, conn: ConnId, status: u16) {
        use crate::tcp::event_counts::layer;
        self.tcp
            .core
            .layer
            .add(conn.shard().0, layer::http_status(status), 1);
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
    /// The TCP settings so far (HTTP's defaults: `no_delay`, a 5 s `lingering_close`).
    pub fn tcp_settings(&self) -> &crate::TcpConfig {
        self.tcp.settings()
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
        self.start_with_handle(addr, move |shard, _| factory(shard))
    }

    /// Like [`Self::start_with`]; the factory also gets the server's handle (layers above
    /// HTTP key their per-shard state by it).
    pub(crate) fn start_with_handle<L, F>(self, addr: &str, factory: F) -> Result<HttpServer>
    where
        L: HttpServerListener,
        F: Fn(ShardId, &HttpServer) -> L + Send + Sync + 'static,
    {
        let cfg = Arc::new(self.http);
        let streaming = Arc::new(AtomicUsize::new(0));
        let (cfg2, streaming2) = (cfg.clone(), streaming.clone());
        let server = self.tcp.start_with_handle(addr, move |shard, tcp| {
            let handle = HttpServer {
                tcp: tcp.clone(),
                cfg: cfg2.clone(),
                streaming: streaming2.clone(),
            };
            HttpShard::new(factory(shard, &handle), cfg2.clone(), handle, shard)
        })?;
        Ok(HttpServer {
            tcp: server,
            cfg,
            streaming,
        })
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
        on_prepare_listen(socket: BorrowedFd<'_>, addr: SocketAddr) -> HandleResult;
        on_accept(conn: ConnId, peer: SocketAddr) -> HandleResult;
        on_accept_socket(conn: ConnId, peer: SocketAddr, socket: BorrowedFd<'_>) -> HandleResult;
        on_send(conn: ConnId, data: &[u8]) -> HandleResult;
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
