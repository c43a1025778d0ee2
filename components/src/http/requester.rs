//! The client side of HTTP, shared by [`HttpAgent`](super::HttpAgent) and
//! [`HttpClient`](super::HttpClient): request writing (any thread) and the response decoders
//! (one per connection, owned by the connection's shard).
//!
//! A response is matched to its request in stream order: whether the request was HEAD (no
//! body) or CONNECT (a 2xx opens a tunnel), and its URL for the cookie jar. That record is
//! made on the owner shard right before the request's bytes are queued — at once when the
//! request is sent from that shard (a callback), else by the hook of the send's inbox command
//! — so it always matches the order of the bytes on the wire.

use super::cookies::CookieJar;
use crate::core::Core;
use crate::{Error, HandleResult, Result, SocketOperation};
use shardnet_protocols::http::{
    write_last_chunk, write_request_head, BodyHandler, Feed, Flow, HeadAction, Limits,
    ResponseDecoder, ResponseHandler, ResponseHead, UpgradeKind,
};
use shardnet_runtime::{ConnId, ShardId};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};

/// Callbacks of the HTTP clients (HP-Socket's `IHttpListenerT<IHttpAgent>` /
/// `<IHttpClient>`): `H` is the component ([`HttpAgent`](super::HttpAgent) or
/// [`HttpClient`](super::HttpClient)). `on_message_complete` and `on_close` are required; the
/// others default to going on. [`HandleResult::Error`] closes the connection
/// (`on_close(Receive, ECANCELED)`).
#[allow(unused_variables)]
pub trait HttpClientListener<H>: 'static {
    /// The socket exists and is not yet connecting (set options here). Error abandons the
    /// connect: the socket closes and no `on_close` follows (as [`crate::AgentListener`]).
    fn on_prepare_connect(
        &self,
        client: &H,
        conn: ConnId,
        socket: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// The TCP connection is established.
    fn on_connect(&self, client: &H, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection is ready for requests (after TLS, if any).
    fn on_handshake(&self, client: &H, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// `data` (request bytes, or frames after an upgrade) was handed to the kernel.
    fn on_send(&self, client: &H, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// A response's first byte arrived (interim 1xx responses too).
    fn on_message_begin(&self, client: &H, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The status line.
    fn on_status_line(&self, client: &H, conn: ConnId, status: u16, reason: &str) -> HandleResult {
        HandleResult::Ignore
    }
    /// One header field, in order.
    fn on_header(&self, client: &H, conn: ConnId, name: &str, value: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The head is complete: go on, skip the body (it is still framed and discarded), or
    /// Error.
    fn on_headers_complete(&self, client: &H, conn: ConnId, head: &ResponseHead<'_>) -> HeadAction {
        HeadAction::Continue
    }
    /// Body bytes (de-chunked), streamed as they arrive.
    fn on_body(&self, client: &H, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// A chunk of this size begins (chunked bodies).
    fn on_chunk_header(&self, client: &H, conn: ConnId, len: u64) -> HandleResult {
        HandleResult::Ignore
    }
    /// The chunk ended.
    fn on_chunk_complete(&self, client: &H, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The response is complete (for a body read until close: when the server closed, before
    /// `on_close`). A response that is not keep-alive closes the connection after this.
    fn on_message_complete(
        &self,
        client: &H,
        conn: ConnId,
        response: &ResponseInfo,
    ) -> HandleResult;
    /// The connection switched protocols (101, or a 2xx answer to CONNECT): what follows
    /// arrives in `on_upgraded_data`.
    fn on_upgrade(&self, client: &H, conn: ConnId, kind: UpgradeKind) -> HandleResult {
        HandleResult::Ignore
    }
    /// Bytes after an upgrade.
    fn on_upgraded_data(&self, client: &H, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The response broke the protocol (or the connection closed inside one); the connection
    /// is closed after this (`on_close(Receive, ECANCELED)`, or the close that cut it).
    fn on_parse_error(&self, client: &H, conn: ConnId, status: u16, description: &str) {}
    /// The connection closed (or failed to connect: operation Connect); exactly once.
    fn on_close(
        &self,
        client: &H,
        conn: ConnId,
        operation: SocketOperation,
        errno: i32,
    ) -> HandleResult;
    /// The component has stopped.
    fn on_shutdown(&self, client: &H) -> HandleResult {
        HandleResult::Ignore
    }
}

/// What `on_message_complete` knows of a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseInfo {
    /// Status code.
    pub status: u16,
    /// Reason phrase as sent.
    pub reason: String,
    /// Minor version (0 = HTTP/1.0).
    pub version: u8,
    /// The connection can carry another request.
    pub keep_alive: bool,
    /// Content-Length, when given.
    pub content_length: Option<u64>,
    /// Which response of its connection this is (1 for the first; interim 1xx not counted).
    pub sequence: u32,
}

/// HTTP settings of the client components.
#[derive(Clone, Debug, Default)]
pub struct HttpClientConfig {
    /// Response head size and field count limits (8 KiB, 100).
    pub limits: Limits,
    /// Cookies: `Set-Cookie` of responses stored, `Cookie` added to requests.
    pub cookies: Option<Arc<CookieJar>>,
}

/// A request sent and not answered yet.
struct Pending {
    head: bool,
    connect: bool,
    /// The request's URL, kept only with a cookie jar.
    url: Option<Box<str>>,
}

/// One connection's response side.
struct ConnState {
    dec: ResponseDecoder,
    pending: VecDeque<Pending>,
    /// Reused between responses; freed when the connection is idle.
    info: Option<Box<ResponseInfo>>,
    responses: u32,
    upgraded: bool,
}

/// The response decoders of one shard's connections.
pub(crate) struct ShardState {
    core_id: u64,
    shard: ShardId,
    limits: Limits,
    conns: RefCell<shardnet_runtime::ConnMap<ConnState>>,
    /// The connection whose bytes are being fed (its entry is out of `conns`).
    feeding: std::cell::Cell<Option<ConnId>>,
}

thread_local! {
    /// The client components' shard states on this thread (a thread runs one shard of each).
    static SHARDS: RefCell<Vec<Weak<ShardState>>> = const { RefCell::new(Vec::new()) };
}

impl ShardState {
    /// A shard's state, registered on the calling (shard) thread.
    pub(crate) fn new(core_id: u64, shard: ShardId, limits: Limits) -> Rc<ShardState> {
        let s = Rc::new(ShardState {
            core_id,
            shard,
            limits,
            conns: RefCell::new(Default::default()),
            feeding: std::cell::Cell::new(None),
        });
        SHARDS.with(|v| {
            let mut v = v.borrow_mut();
            v.retain(|w| w.strong_count() > 0);
            v.push(Rc::downgrade(&s));
        });
        s
    }

    /// The state of `conn`'s shard if the calling thread is that shard.
    fn local(core_id: u64, conn: ConnId) -> Option<Rc<ShardState>> {
        SHARDS.with(|v| {
            v.borrow()
                .iter()
                .filter_map(Weak::upgrade)
                .find(|s| s.core_id == core_id && s.shard == conn.shard())
        })
    }

    pub(crate) fn opened(&self, conn: ConnId) {
        self.conns.borrow_mut().insert(
            conn,
            ConnState {
                dec: ResponseDecoder::new(self.limits),
                pending: VecDeque::new(),
                info: None,
                responses: 0,
                upgraded: false,
            },
        );
    }

    fn sent(&self, conn: ConnId, p: Pending) {
        if let Some(c) = self.conns.borrow_mut().get_mut(&conn) {
            c.dec.expect(p.head);
            c.pending.push_back(p);
        }
    }

    /// Feeds received bytes to `conn`'s decoder, calling `l`.
    pub(crate) fn receive<H, L: HttpClientListener<H>>(
        &self,
        l: &L,
        h: &H,
        core: &Core,
        jar: Option<&CookieJar>,
        conn: ConnId,
        data: &[u8],
    ) -> HandleResult {
        // Taken out while callbacks run: they may send requests (which record here).
        let Some(mut c) = self.conns.borrow_mut().remove(&conn) else {
            return HandleResult::Error;
        };
        if c.upgraded {
            let r = l.on_upgraded_data(h, conn, data);
            self.put_back(conn, c);
            return r;
        }
        let mut d = Dispatch {
            l,
            h,
            conn,
            jar,
            pending: &mut c.pending,
            info: &mut c.info,
            responses: &mut c.responses,
            failed: false,
            close_after: false,
            upgrade: None,
        };
        let outer = self.feeding.replace(Some(conn));
        let fed = c.dec.feed(data, &mut d);
        self.feeding.set(outer);
        let (failed, close_after, upgrade) = (d.failed, d.close_after, d.upgrade);
        let result = match fed {
            Err(e) => {
                l.on_parse_error(h, conn, e.status(), e.description());
                HandleResult::Error
            }
            Ok(_) if failed => HandleResult::Error,
            Ok(Feed::Upgraded { consumed }) => {
                c.upgraded = true;
                let kind = upgrade.unwrap_or(UpgradeKind::Other);
                if l.on_upgrade(h, conn, kind) == HandleResult::Error {
                    HandleResult::Error
                } else if consumed < data.len() {
                    l.on_upgraded_data(h, conn, &data[consumed..])
                } else {
                    HandleResult::Ok
                }
            }
            Ok(_) => {
                if close_after {
                    let _ = core.disconnect(conn, false);
                }
                HandleResult::Ok
            }
        };
        self.put_back(conn, c);
        result
    }

    fn put_back(&self, conn: ConnId, mut c: ConnState) {
        // Requests the callbacks sent while the entry was out: they follow every request
        // answered so far, so appending them now keeps stream order.
        for p in drain_during(conn) {
            c.dec.expect(p.head);
            c.pending.push_back(p);
        }
        if c.pending.is_empty() && c.dec.is_idle() {
            c.info = None;
        }
        self.conns.borrow_mut().insert(conn, c);
    }

    /// `conn` closed: a body read until close is complete; anything else cut is a parse error.
    pub(crate) fn closed<H, L: HttpClientListener<H>>(
        &self,
        l: &L,
        h: &H,
        jar: Option<&CookieJar>,
        conn: ConnId,
    ) {
        drain_during(conn);
        let Some(mut c) = self.conns.borrow_mut().remove(&conn) else {
            return;
        };
        if c.upgraded {
            return;
        }
        let mut d = Dispatch {
            l,
            h,
            conn,
            jar,
            pending: &mut c.pending,
            info: &mut c.info,
            responses: &mut c.responses,
            failed: false,
            close_after: false,
            upgrade: None,
        };
        if let Err(e) = c.dec.finish(&mut d) {
            l.on_parse_error(h, conn, e.status(), e.description());
        }
    }
}

thread_local! {
    /// Requests sent from a callback while their connection's state is out of the map (being
    /// fed): recorded here and appended when it goes back. (conn, pending)
    static DURING: RefCell<Vec<(ConnId, Pending)>> = const { RefCell::new(Vec::new()) };
}

/// The decoder's callbacks, turned into the listener's.
struct Dispatch<'a, H, L> {
    l: &'a L,
    h: &'a H,
    conn: ConnId,
    jar: Option<&'a CookieJar>,
    pending: &'a mut VecDeque<Pending>,
    info: &'a mut Option<Box<ResponseInfo>>,
    responses: &'a mut u32,
    failed: bool,
    close_after: bool,
    upgrade: Option<UpgradeKind>,
}

impl<H, L: HttpClientListener<H>> Dispatch<'_, H, L> {
    fn check(&mut self, r: HandleResult) -> Flow {
        if r == HandleResult::Error {
            self.failed = true;
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

impl<H, L: HttpClientListener<H>> ResponseHandler for Dispatch<'_, H, L> {
    fn on_message_begin(&mut self) {
        if !self.failed {
            let r = self.l.on_message_begin(self.h, self.conn);
            self.check(r);
        }
    }

    fn on_head(&mut self, head: &ResponseHead<'_>) -> HeadAction {
        if self.failed {
            return HeadAction::Error;
        }
        let (l, h, c) = (self.l, self.h, self.conn);
        let mut ok = l.on_status_line(h, c, head.status, head.reason) != HandleResult::Error;
        for f in head.headers {
            ok = ok && l.on_header(h, c, f.name, f.value) != HandleResult::Error;
        }
        if !ok {
            self.failed = true;
            return HeadAction::Error;
        }
        let interim = (100..200).contains(&head.status) && head.status != 101;
        if interim {
            let a = l.on_headers_complete(h, c, head);
            if a == HeadAction::Error {
                self.failed = true;
            }
            return a;
        }
        let req = self.pending.pop_front();
        if let (Some(jar), Some(url)) = (self.jar, req.as_ref().and_then(|p| p.url.as_deref())) {
            for f in head.headers {
                if f.name.eq_ignore_ascii_case("set-cookie") {
                    if let Ok(v) = std::str::from_utf8(f.value) {
                        jar.store(url, v);
                    }
                }
            }
        }
        *self.responses = self.responses.saturating_add(1);
        let info = self.info.get_or_insert_with(Default::default);
        info.status = head.status;
        info.reason.clear();
        info.reason.push_str(head.reason);
        info.version = head.version;
        info.keep_alive = head.keep_alive;
        info.content_length = head
            .header("content-length")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse().ok());
        info.sequence = *self.responses;
        let action = l.on_headers_complete(h, c, head);
        if action == HeadAction::Error {
            self.failed = true;
            return action;
        }
        let tunnel = req.is_some_and(|p| p.connect) && (200..300).contains(&head.status);
        if head.status == 101 {
            let ws = head
                .header("upgrade")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"));
            self.upgrade = Some(if ws {
                UpgradeKind::WebSocket
            } else {
                UpgradeKind::Other
            });
        } else if tunnel {
            self.upgrade = Some(UpgradeKind::Tunnel);
            return HeadAction::Upgrade;
        }
        action
    }
}

impl<H, L: HttpClientListener<H>> BodyHandler for Dispatch<'_, H, L> {
    fn on_chunk_header(&mut self, len: u64) {
        if !self.failed {
            let r = self.l.on_chunk_header(self.h, self.conn, len);
            self.check(r);
        }
    }
    fn on_body(&mut self, data: &[u8]) -> Flow {
        if self.failed {
            return Flow::Stop;
        }
        let r = self.l.on_body(self.h, self.conn, data);
        self.check(r)
    }
    fn on_chunk_complete(&mut self) {
        if !self.failed {
            let r = self.l.on_chunk_complete(self.h, self.conn);
            self.check(r);
        }
    }
    fn on_message_complete(&mut self) -> Flow {
        if self.failed {
            return Flow::Stop;
        }
        let info = self.info.get_or_insert_with(Default::default);
        let keep_alive = info.keep_alive;
        let r = self.l.on_message_complete(self.h, self.conn, info);
        let flow = self.check(r);
        if !keep_alive {
            self.close_after = true;
            return Flow::Stop;
        }
        flow
    }
}

/// Takes the requests recorded for `conn` while its entry was out of the map.
fn drain_during(conn: ConnId) -> Vec<Pending> {
    DURING.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < d.len() {
            if d[i].0 == conn {
                out.push(d.remove(i).1);
            } else {
                i += 1;
            }
        }
        out
    })
}

/// The request side, held by the component handle (any thread).
pub(crate) struct Requester {
    core_id: u64,
    /// `http` or `https` (for cookie URLs).
    scheme: &'static str,
    jar: Option<Arc<CookieJar>>,
    /// The Host value of every connection (agents), set before the connect is posted.
    hosts: Mutex<HashMap<ConnId, Arc<str>>>,
    /// The Host value of a client's one connection.
    fixed_host: Option<Arc<str>>,
}

/// `host[:port]` as a Host header value: the port only when not the scheme's default;
/// IPv6 literals in brackets.
pub(crate) fn host_value(host: &str, port: u16, tls: bool) -> Arc<str> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let h = if bare.contains(':') {
        format!("[{bare}]")
    } else {
        bare.to_string()
    };
    if port == if tls { 443 } else { 80 } {
        h.into()
    } else {
        format!("{h}:{port}").into()
    }
}

thread_local! {
    /// Request heads are built here and copied out by the send.
    static HEAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Requester {
    pub(crate) fn new(
        core_id: u64,
        tls: bool,
        jar: Option<Arc<CookieJar>>,
        fixed_host: Option<Arc<str>>,
    ) -> Requester {
        Requester {
            core_id,
            scheme: if tls { "https" } else { "http" },
            jar,
            hosts: Mutex::new(HashMap::new()),
            fixed_host,
        }
    }

    pub(crate) fn jar(&self) -> Option<&CookieJar> {
        self.jar.as_deref()
    }

    pub(crate) fn set_host(&self, conn: ConnId, host: Arc<str>) {
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(conn, host);
    }

    pub(crate) fn forget(&self, conn: ConnId) {
        if self.fixed_host.is_none() {
            self.hosts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&conn);
        }
    }

    fn host(&self, conn: ConnId) -> Result<Arc<str>> {
        if let Some(h) = &self.fixed_host {
            return Ok(h.clone());
        }
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&conn)
            .cloned()
            .ok_or(Error::NotFound)
    }

    /// Sends a request: `Host` (unless in `headers`), `Cookie` from the jar, `Content-Length`
    /// unless the headers frame the body or the method takes none and `body` is empty.
    pub(crate) fn send_request(
        &self,
        core: &Core,
        conn: ConnId,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.send_request_parts(core, conn, method, target, headers, &[body])
    }

    pub(crate) fn send_request_parts(
        &self,
        core: &Core,
        conn: ConnId,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[&[u8]],
    ) -> Result<()> {
        let host = self.host(conn)?;
        let url = self.jar.as_ref().map(|_| {
            if target.starts_with("http://") || target.starts_with("https://") {
                target.to_string()
            } else if target.starts_with('/') {
                format!("{}://{}{}", self.scheme, host, target)
            } else {
                format!("{}://{}/", self.scheme, host)
            }
        });
        let cookie = match (&self.jar, &url) {
            (Some(jar), Some(u))
                if !headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("cookie")) =>
            {
                jar.header_for(u)
            }
            _ => None,
        };
        let len: usize = body.iter().map(|b| b.len()).sum();
        let no_body_method = matches!(
            method,
            "GET" | "HEAD" | "DELETE" | "OPTIONS" | "CONNECT" | "TRACE"
        );
        let body_len = (len != 0 || !no_body_method).then_some(len as u64);
        let pending = Pending {
            head: method == "HEAD",
            connect: method == "CONNECT",
            url: url.map(String::into_boxed_str),
        };
        HEAD.with(|buf| {
            let mut fresh = Vec::new();
            let mut guard = buf.try_borrow_mut();
            let out: &mut Vec<u8> = match guard.as_deref_mut() {
                Ok(b) => b,
                Err(_) => &mut fresh,
            };
            out.clear();
            let r = match &cookie {
                None => write_request_head(out, method, target, &host, headers, body_len),
                Some(c) => {
                    let mut all: Vec<(&str, &str)> = headers.to_vec();
                    all.push(("Cookie", c));
                    write_request_head(out, method, target, &host, &all, body_len)
                }
            };
            r.map_err(|e| Error::InvalidParam(e.to_string()))?;
            let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + body.len());
            parts.push(out);
            parts.extend_from_slice(body);
            let r = self.send_recorded(core, conn, &parts, pending);
            if out.capacity() > 16 << 10 {
                *out = Vec::new();
            }
            r
        })
    }

    /// Sends `parts` and records `pending` on the owner shard in stream order.
    fn send_recorded(
        &self,
        core: &Core,
        conn: ConnId,
        parts: &[&[u8]],
        pending: Pending,
    ) -> Result<()> {
        let core_id = self.core_id;
        if let Some(s) = ShardState::local(core_id, conn) {
            core.send(conn, parts)?;
            record(&s, conn, pending);
            return Ok(());
        }
        core.send_hooked(
            conn,
            parts,
            Box::new(move || {
                if let Some(s) = ShardState::local(core_id, conn) {
                    record(&s, conn, pending);
                }
            }),
        )
    }

    /// One chunk of a chunked request body; empty sends nothing.
    pub(crate) fn send_chunk(core: &Core, conn: ConnId, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let line = format!("{:x}\r\n", data.len());
        core.send(conn, &[line.as_bytes(), data, b"\r\n"])
    }

    /// Ends a chunked request body.
    pub(crate) fn send_last_chunk(
        core: &Core,
        conn: ConnId,
        trailers: &[(&str, &str)],
    ) -> Result<()> {
        let mut out = Vec::with_capacity(32);
        write_last_chunk(&mut out, trailers).map_err(|e| Error::InvalidParam(e.to_string()))?;
        core.send(conn, &[&out])
    }
}

/// Records a sent request: in the connection's entry, or — while a callback of that
/// connection runs and the entry is out — in `DURING` until it goes back.
fn record(s: &ShardState, conn: ConnId, p: Pending) {
    let present = s.conns.borrow().contains_key(&conn);
    if present {
        s.sent(conn, p);
    } else if s.feeding.get() == Some(conn) {
        DURING.with(|d| d.borrow_mut().push((conn, p)));
    }
    // Otherwise the connection is gone (a request that raced its close): nothing to match.
}
