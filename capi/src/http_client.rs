//! `HP_HttpClient` / `HP_HttpsClient` and `HP_HttpSyncClient` / `HP_HttpsSyncClient` on
//! shardnet's `HttpClient`: `Create_`/`Destroy_`, the listener with its
//! `HP_Set_FN_HttpClient_*` callbacks, requests (`HP_HttpClient_Send*`, chunks, files,
//! WebSocket messages), the response getters, and the synchronous `OpenUrl`.
//!
//! An HTTP client handle is a client handle (`Handle<AnyClient, ConnectorFns>`, model `Http`
//! or `HttpSync`) whose running component is the HTTP client's TCP client, so every
//! `HP_Client_*` call and the `HP_SSLClient_*` set-up work on it. A synchronous client is the
//! same client driven by `OpenUrl`: it connects (or keeps its connection when the host and
//! port stay the same), sends, and waits for the answer, which the getters and
//! `GetResponseBody` then read; its listener (may be NULL) gets every callback as HP's does.
//!
//! Cookies: with `SetUseCookie` on (HP's default) requests carry, and responses fill, one jar
//! shared by every client of the process, as HP's.

use crate::any_client::AnyClient;
use crate::error::{guard, set_errno};
use crate::handle::{handle, Handle, HttpGuard, Model};
use crate::http_callbacks::{Caller, FnHttpStatus, HttpFns, HttpRun};
use crate::http_message::headers_in;
use crate::listener::{call, ConnectorFns, FnClose, FnConn, FnConnSocket, FnData, FnLength};
use crate::types::*;
use shardnet_components::http::{CookieJar, HttpClient, HttpClientListener, ResponseInfo};
use shardnet_components::{HandleResult, SocketOperation};
use shardnet_protocols::http::{HeadAction, ResponseHead, UpgradeKind};
use shardnet_runtime::ConnId;
use std::ffi::{c_char, c_int};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// An HTTP client (or agent) listener's callbacks; `base` first, as the server's.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct HttpClientFns {
    pub(crate) base: ConnectorFns,
    pub(crate) status_line: Option<FnHttpStatus>,
    pub(crate) http: HttpFns,
}

crate::listener::listener_life! { HttpClientFns:
    Create_HP_HttpClientListener, Destroy_HP_HttpClientListener;
}

crate::listener::setters! { HttpClientFns:
    HP_Set_FN_HttpClient_OnMessageBegin => http.message_begin: FnConn;
    HP_Set_FN_HttpClient_OnStatusLine => status_line: FnHttpStatus;
    HP_Set_FN_HttpClient_OnHeader => http.header: crate::http_callbacks::FnHttpText;
    HP_Set_FN_HttpClient_OnHeadersComplete => http.headers_complete: FnConn;
    HP_Set_FN_HttpClient_OnBody => http.body: FnData;
    HP_Set_FN_HttpClient_OnChunkHeader => http.chunk_header: FnLength;
    HP_Set_FN_HttpClient_OnChunkComplete => http.chunk_complete: FnConn;
    HP_Set_FN_HttpClient_OnMessageComplete => http.message_complete: FnConn;
    HP_Set_FN_HttpClient_OnUpgrade => http.upgrade: FnLength;
    HP_Set_FN_HttpClient_OnParseError => http.parse_error: crate::http_callbacks::FnHttpError;
    HP_Set_FN_HttpClient_OnWSMessageHeader => http.ws_header: crate::http_callbacks::FnWsHeader;
    HP_Set_FN_HttpClient_OnWSMessageBody => http.ws_body: FnData;
    HP_Set_FN_HttpClient_OnWSMessageComplete => http.ws_complete: FnConn;
    HP_Set_FN_HttpClient_OnPrepareConnect => base.prepare_connect: FnConnSocket;
    HP_Set_FN_HttpClient_OnConnect => base.connect: FnConn;
    HP_Set_FN_HttpClient_OnHandShake => base.handshake: FnConn;
    HP_Set_FN_HttpClient_OnReceive => base.receive: FnData;
    HP_Set_FN_HttpClient_OnSend => base.send: FnData;
    HP_Set_FN_HttpClient_OnClose => base.close: FnClose;
}

/// The one connection of a client: its messages are filed under this key.
const KEY: u64 = 0;

type Run = HttpRun<HttpClient>;
type ClientC = Handle<AnyClient, ConnectorFns>;

/// The cookie jar of every client of the process (HP's global cookie manager).
pub(crate) fn jar() -> &'static Arc<CookieJar> {
    static JAR: OnceLock<Arc<CookieJar>> = OnceLock::new();
    JAR.get_or_init(|| Arc::new(CookieJar::new()))
}

fn id(c: ConnId) -> HP_CONNID {
    c.as_u64() as HP_CONNID
}

/// What the client-side bridge needs of its component: `HttpClient` (one connection, its
/// messages under one key) or `HttpAgent` (a message per connection).
pub(crate) trait Side: Clone + Send + Sync + 'static {
    /// Messages are filed per connection.
    const PER_CONN: bool;
    /// A callback of a run `Start` has not installed yet: the component becomes the handle's.
    fn adopt(&self, sender: PVOID);
    /// A connection connected (errno 0) or failed to.
    fn connect_outcome(_sender: PVOID, _conn: ConnId, _errno: c_int) {}
    /// A connection closed.
    fn forget(sender: PVOID, conn: ConnId);
}

impl Side for HttpClient {
    const PER_CONN: bool = false;
    fn adopt(&self, sender: PVOID) {
        // SAFETY: the C contract: the handle is live while its component runs.
        if let Some(h) = unsafe { handle::<AnyClient, ConnectorFns>(sender) } {
            h.adopt_with(|| AnyClient::Tcp((**self).clone()));
        }
    }
    fn forget(sender: PVOID, conn: ConnId) {
        // SAFETY: as above.
        if let Some(h) = unsafe { handle::<AnyClient, ConnectorFns>(sender) } {
            h.forget(conn.as_u64());
        }
    }
}

/// The listener shardnet calls: each call goes to the C callbacks (if the program gave a
/// listener), with the handle as sender; a synchronous client also keeps the body and wakes
/// the waiting `OpenUrl`.
pub(crate) struct Bridge<S> {
    pub fns: HttpClientFns,
    pub sender: PVOID,
    pub run: Arc<HttpRun<S>>,
    pub sync: bool,
}

// SAFETY: as the TCP client's bridge: the table is a copy, the handle outlives the component
// (HP's life cycle), and C callbacks run on the component's threads, HP's contract.
unsafe impl<S: Side> Send for Bridge<S> {}
// SAFETY: as above.
unsafe impl<S: Side> Sync for Bridge<S> {}

impl<S: Side> Bridge<S> {
    fn adopt(&self, c: &S) {
        if self.run.side.get().is_none() {
            let _ = self.run.side.set(c.clone());
        }
        c.adopt(self.sender);
    }
    fn at(&self) -> Caller<'_, S> {
        Caller {
            fns: &self.fns.http,
            sender: self.sender,
            run: &self.run,
        }
    }
    fn key(conn: ConnId) -> u64 {
        if S::PER_CONN {
            conn.as_u64()
        } else {
            KEY
        }
    }
}

impl<S: Side> HttpClientListener<S> for Bridge<S> {
    fn on_prepare_connect(
        &self,
        c: &S,
        conn: ConnId,
        socket: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        use std::os::fd::AsRawFd;
        // It comes inside `Start`: the C code may call the component from it.
        self.adopt(c);
        let r = call::socket(
            self.fns.base.prepare_connect,
            self.sender,
            id(conn),
            socket.as_raw_fd(),
        );
        if r == HandleResult::Error {
            // Abandoned without an on_close: a synchronous Connect fails now (HP's
            // ERROR_CANCELLED).
            S::connect_outcome(self.sender, conn, libc::ECANCELED);
        }
        r
    }
    fn on_send(&self, _: &S, conn: ConnId, data: &[u8]) -> HandleResult {
        call::data(self.fns.base.send, self.sender, id(conn), data)
    }
    fn on_connect(&self, c: &S, conn: ConnId) -> HandleResult {
        self.adopt(c);
        S::connect_outcome(self.sender, conn, 0);
        call::conn(self.fns.base.connect, self.sender, id(conn))
    }
    fn on_handshake(&self, c: &S, conn: ConnId) -> HandleResult {
        self.adopt(c);
        call::conn(self.fns.base.handshake, self.sender, id(conn))
    }
    fn on_message_begin(&self, _: &S, conn: ConnId) -> HandleResult {
        self.at().message_begin(Self::key(conn), conn.as_u64())
    }
    fn on_status_line(&self, _: &S, conn: ConnId, status: u16, reason: &str) -> HandleResult {
        self.run.msgs.with(Self::key(conn), |m| m.status = status);
        crate::http_callbacks::hpr(self.fns.status_line.map(|f| {
            let r = crate::http_message::cstr(reason.as_bytes());
            // SAFETY: a C callback with HP's signature; `r` lives for the call.
            unsafe { f(self.sender, id(conn), status, r.as_ptr()) }
        }))
    }
    fn on_header(&self, _: &S, conn: ConnId, name: &str, value: &[u8]) -> HandleResult {
        self.at()
            .header(Self::key(conn), conn.as_u64(), name, value)
    }
    fn on_headers_complete(&self, _: &S, conn: ConnId, head: &ResponseHead<'_>) -> HeadAction {
        self.run
            .msgs
            .with(Self::key(conn), |m| m.fill_response(head));
        match self.at().headers_complete(conn.as_u64(), false) {
            // The client's decoder switches protocols by itself (101, CONNECT's 2xx).
            HeadAction::Upgrade => HeadAction::Continue,
            a => a,
        }
    }
    fn on_body(&self, _: &S, conn: ConnId, data: &[u8]) -> HandleResult {
        let r = self.at().body(conn.as_u64(), data);
        if self.sync && r != HandleResult::Error {
            self.run.sync().body.extend_from_slice(data);
        }
        r
    }
    fn on_chunk_header(&self, _: &S, conn: ConnId, len: u64) -> HandleResult {
        self.at().chunk_header(conn.as_u64(), len)
    }
    fn on_chunk_complete(&self, _: &S, conn: ConnId) -> HandleResult {
        self.at().conn(self.fns.http.chunk_complete, conn.as_u64())
    }
    fn on_message_complete(&self, _: &S, conn: ConnId, r: &ResponseInfo) -> HandleResult {
        if (100..200).contains(&r.status) && r.status != 101 {
            return HandleResult::Ok; // interim
        }
        let res = self
            .at()
            .conn(self.fns.http.message_complete, conn.as_u64());
        if self.sync {
            self.run.finish_sync(Ok(()));
        }
        res
    }
    fn on_upgrade(&self, _: &S, conn: ConnId, kind: UpgradeKind) -> HandleResult {
        let t = crate::http_message::upgrade_type(Some(kind));
        if self.sync {
            self.run.finish_sync(Ok(()));
        }
        // (The decoder has not reported the 101 as complete: OnMessageComplete comes first.)
        self.at().upgrade(Self::key(conn), conn.as_u64(), t)
    }
    fn on_upgraded_data(&self, _: &S, conn: ConnId, data: &[u8]) -> HandleResult {
        self.at()
            .upgraded_data(Self::key(conn), conn.as_u64(), data, self.fns.base.receive)
    }
    fn on_parse_error(&self, _: &S, conn: ConnId, status: u16, desc: &str) {
        self.at()
            .parse_error(Self::key(conn), conn.as_u64(), status, desc);
        if self.sync {
            self.run.finish_sync(Err(libc::EBADMSG));
        }
    }
    fn on_close(&self, _: &S, conn: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        call::close(self.fns.base.close, self.sender, id(conn), op as c_int, e);
        // A client keeps its last response for the getters after the close.
        self.run.conn_closed(Self::key(conn), !S::PER_CONN);
        if op == SocketOperation::Connect {
            S::connect_outcome(self.sender, conn, e);
        }
        if self.sync {
            let e = match (op, e) {
                (SocketOperation::Connect, 0) => libc::ECONNREFUSED,
                (_, 0) => libc::ECONNABORTED,
                (_, e) => e,
            };
            self.run.finish_sync(Err(e));
        }
        S::forget(self.sender, conn);
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &S) -> HandleResult {
        call::sender(self.fns.base.shutdown, self.sender);
        HandleResult::Ok
    }
}

/// Starts an HTTP client handle (from `HP_Client_Start*`, or `OpenUrl`).
pub(crate) fn start(
    h: &ClientC,
    p: PVOID,
    host: &str,
    port: u16,
    async_connect: bool,
    bind: Option<SocketAddr>,
) -> BOOL {
    let sync = h.model == Model::HttpSync;
    // SAFETY: an HTTP client handle was made by `Create_HP_Http*Client` with an HTTP client
    // listener (or NULL for a synchronous one; HP's contract), whose table begins with the
    // connector table `h.fns` names.
    let fns = unsafe { *(h.fns as *const HttpClientFns) };
    let run = Arc::new(Run::default());
    let bridge = Bridge::<HttpClient> {
        fns,
        sender: p,
        run: run.clone(),
        sync,
    };
    let mut cfg = h.cfg().clone();
    if sync {
        cfg.connect_timeout = Duration::from_millis(u64::from(h.knobs().sync_connect_timeout));
    }
    let mut b = HttpClient::builder().tcp(|b| {
        let b = b.config(cfg);
        match bind {
            Some(a) => b.bind_address(a),
            None => b,
        }
    });
    if let Some(t) = h.client_tls() {
        b = b.tls(t);
    }
    if h.knobs().use_cookie {
        b = b.cookies(jar().clone());
    }
    let ok = h.start_http(
        run,
        || b.start(host, port, async_connect, bridge),
        |c| AnyClient::Tcp((**c).clone()),
    );
    if ok == TRUE {
        *h.http_target.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((host.to_ascii_lowercase(), port));
    }
    ok
}

/// A NULL listener's table: no callbacks (shared by every listener-less sync client).
static NO_CALLBACKS: HttpClientFns = HttpClientFns {
    base: ConnectorFns {
        prepare_connect: None,
        connect: None,
        handshake: None,
        send: None,
        receive: None,
        pull_receive: None,
        close: None,
        shutdown: None,
    },
    status_line: None,
    http: HttpFns {
        message_begin: None,
        header: None,
        headers_complete: None,
        body: None,
        chunk_header: None,
        chunk_complete: None,
        message_complete: None,
        upgrade: None,
        parse_error: None,
        ws_header: None,
        ws_body: None,
        ws_complete: None,
    },
};

/// A new client handle; a synchronous one may have no listener (HP's too).
pub(crate) fn create(l: PVOID, model: Model) -> PVOID {
    let l = if l.is_null() && model == Model::HttpSync {
        &NO_CALLBACKS as *const HttpClientFns as PVOID
    } else {
        l
    };
    crate::handle::create::<AnyClient, ConnectorFns>(l, model)
}

crate::handle::creators!(AnyClient, ConnectorFns: Create_HP_HttpClient => Http);

/// Creates a synchronous client; its listener may be NULL (HP's too).
#[no_mangle]
pub extern "C" fn Create_HP_HttpSyncClient(l: PVOID) -> PVOID {
    create(l, Model::HttpSync)
}
crate::handle::destroyers!(AnyClient, ConnectorFns:
    Destroy_HP_HttpClient, Destroy_HP_HttpSyncClient);

/// The HTTP client handle behind `p` (None, errno EINVAL, for NULL or another component).
fn http_handle<'a>(p: PVOID) -> Option<&'a ClientC> {
    // SAFETY: the C contract: NULL or a live client handle.
    unsafe { crate::handle::handle_of(p, |m| matches!(m, Model::Http | Model::HttpSync)) }
}

fn run(p: PVOID) -> Option<HttpGuard<Run>> {
    http_handle(p)?.started_http::<Run>()
}

/// The run and message key of the client's connection.
fn message(p: PVOID) -> Option<(HttpGuard<Run>, u64)> {
    Some((run(p)?, KEY))
}

/// The client's run (its one connection: the id is not looked at).
fn requester(p: PVOID) -> Option<(HttpGuard<Run>, ConnId)> {
    Some((run(p)?, ConnId::from_u64(KEY)))
}

crate::http_requests::request_exports!(requester, () {
    request: HP_HttpClient_SendRequest, local_file: HP_HttpClient_SendLocalFile,
    chunk: HP_HttpClient_SendChunkData, ws: HP_HttpClient_SendWSMessage,
    start_http: HP_HttpClient_StartHttp,
    with_body: [HP_HttpClient_SendPost => "POST", HP_HttpClient_SendPut => "PUT",
        HP_HttpClient_SendPatch => "PATCH"],
    bodyless: [HP_HttpClient_SendGet => "GET", HP_HttpClient_SendDelete => "DELETE",
        HP_HttpClient_SendHead => "HEAD", HP_HttpClient_SendTrace => "TRACE",
        HP_HttpClient_SendOptions => "OPTIONS", HP_HttpClient_SendConnect => "CONNECT"],
});

crate::http_requests::http_knobs! { http_handle:
    HP_HttpClient_SetHttpAutoStart, HP_HttpClient_IsHttpAutoStart => http_auto_start;
    HP_HttpClient_SetUseCookie, HP_HttpClient_IsUseCookie => use_cookie;
}
crate::http_requests::local_version!(http_handle: HP_HttpClient_SetLocalVersion, HP_HttpClient_GetLocalVersion);

/// The last response's status code (0 before one).
#[no_mangle]
pub extern "C" fn HP_HttpClient_GetStatusCode(p: PVOID) -> USHORT {
    guard(0, || {
        run(p)
            .and_then(|r| r.msgs.read(KEY, |m| m.status))
            .unwrap_or(0)
    })
}

crate::http_getters::message_getters!(message, () {
    is_upgrade: HP_HttpClient_IsUpgrade, is_keep_alive: HP_HttpClient_IsKeepAlive,
    version: HP_HttpClient_GetVersion, content_length: HP_HttpClient_GetContentLength,
    content_type: HP_HttpClient_GetContentType, content_encoding: HP_HttpClient_GetContentEncoding,
    transfer_encoding: HP_HttpClient_GetTransferEncoding, upgrade_type: HP_HttpClient_GetUpgradeType,
    parse_error: HP_HttpClient_GetParseErrorCode, header: HP_HttpClient_GetHeader,
    headers: HP_HttpClient_GetHeaders, all_headers: HP_HttpClient_GetAllHeaders,
    all_header_names: HP_HttpClient_GetAllHeaderNames, cookie: HP_HttpClient_GetCookie,
    all_cookies: HP_HttpClient_GetAllCookies, ws_state: HP_HttpClient_GetWSMessageState,
});

/// Sends `method url` and waits for the whole answer: connects first when not connected to
/// the URL's host and port (or `force`); `body` with `len` < 0 names a file whose contents
/// are the body (HP's rule). FALSE with `HP_Client_GetLastError` SE_CONNECT_SERVER (a bad URL,
/// a scheme the client does not speak, a failed connect) or SE_DATA_SEND (the request failed
/// or timed out; `SYS_GetLastError` says why).
///
/// # Safety
/// Strings are C strings; `headers` has `n` pairs; `body` has `len` readable bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn HP_HttpSyncClient_OpenUrl(
    p: PVOID,
    method: *const c_char,
    url: *const c_char,
    headers: *const crate::http_message::HP_TNVPair,
    n: c_int,
    body: *const u8,
    len: c_int,
    force: BOOL,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: the C contract: NULL or a live client handle.
        let Some(h) = (unsafe { handle::<AnyClient, ConnectorFns>(p) })
            .filter(|h| h.model == Model::HttpSync)
        else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        // SAFETY: per the contract.
        let (Some(method), Some(url), Some(hs)) =
            (unsafe { text(method) }, unsafe { text(url) }, unsafe {
                headers_in(headers, n)
            })
        else {
            h.err
                .set(se::SE_INVALID_PARAM, "bad argument", libc::EINVAL);
            return FALSE;
        };
        // A negative length: `body` is a file's path (HP's OpenUrl).
        let file;
        let body: &[u8] = if len < 0 && !body.is_null() {
            // SAFETY: a C string per HP's contract for this form.
            let Some(path) = (unsafe { text(body as *const c_char) }) else {
                h.err
                    .set(se::SE_INVALID_PARAM, "bad file name", libc::EINVAL);
                return FALSE;
            };
            match std::fs::read(path) {
                Ok(b) => {
                    file = b;
                    &file
                }
                Err(e) => {
                    h.err.set(
                        se::SE_INVALID_PARAM,
                        "cannot read the body file",
                        e.raw_os_error().unwrap_or(libc::EIO),
                    );
                    return FALSE;
                }
            }
        } else {
            // SAFETY: per the contract.
            match unsafe { bytes(body, len) } {
                Some(b) => b,
                None => {
                    h.err.set(se::SE_INVALID_PARAM, "bad body", libc::EINVAL);
                    return FALSE;
                }
            }
        };
        open_url(h, p, method, url, &hs, body, force != FALSE)
    })
}

fn open_url(
    h: &ClientC,
    p: PVOID,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    force: bool,
) -> BOOL {
    let u = shardnet_protocols::http::UrlParts::parse(url, false);
    let https = match u.scheme {
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        _ => {
            h.err.set(
                se::SE_CONNECT_SERVER,
                "not an http(s) URL",
                libc::EADDRNOTAVAIL,
            );
            return FALSE;
        }
    };
    let Some(host) = u.host.filter(|h| !h.is_empty()) else {
        h.err.set(
            se::SE_CONNECT_SERVER,
            "no host in the URL",
            libc::EADDRNOTAVAIL,
        );
        return FALSE;
    };
    if https != h.is_ssl.load(std::sync::atomic::Ordering::Relaxed) {
        h.err.set(
            se::SE_CONNECT_SERVER,
            "the URL's scheme is not this client's",
            libc::EPROTO,
        );
        return FALSE;
    }
    let port = u.port.unwrap_or(if https { 443 } else { 80 });
    let mut target = if u.path.is_empty() {
        "/".to_string()
    } else {
        u.path.to_string()
    };
    if let Some(q) = u.query {
        target.push('?');
        target.push_str(q);
    }
    let same = h
        .http_target
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_some_and(|(th, tp)| *th == host.to_ascii_lowercase() && *tp == port);
    let connected = h.get().is_some_and(|c| c.is_connected());
    if force || !same || !connected {
        if let Some(c) = h.get() {
            c.stop();
            let _ = c.wait();
        }
        if h.ssl_missing() {
            return FALSE;
        }
        if start(h, p, host, port, false, None) == FALSE {
            let errno = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ECONNREFUSED);
            h.err.set(se::SE_CONNECT_SERVER, "connect failed", errno);
            set_errno(errno);
            return FALSE;
        }
    }
    let (Some(r), Some(c)) = (
        h.http_run::<Run>(),
        h.http_run::<Run>().and_then(|r| r.side.get().cloned()),
    ) else {
        h.err.set(se::SE_ILLEGAL_STATE, "not started", libc::EPERM);
        return FALSE;
    };
    {
        let mut s = r.sync();
        s.done = None;
        s.body.clear();
    }
    let m = method.to_ascii_uppercase();
    if let Err(e) = c.send_request(&m, &target, headers, body) {
        h.err.from(&e);
        return FALSE;
    }
    let timeout = h.knobs().sync_request_timeout;
    let deadline =
        (timeout != 0).then(|| Instant::now() + Duration::from_millis(u64::from(timeout)));
    let mut s = r.sync();
    loop {
        if let Some(done) = s.done {
            drop(s);
            return match done {
                Ok(()) => {
                    h.err.set(se::SE_OK, "SUCCESS", 0);
                    TRUE
                }
                Err(e) => {
                    h.err.set(se::SE_DATA_SEND, "the request failed", e);
                    set_errno(e);
                    FALSE
                }
            };
        }
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left,
                None => {
                    drop(s);
                    c.stop();
                    h.err
                        .set(se::SE_DATA_SEND, "request timed out", libc::ETIMEDOUT);
                    set_errno(libc::ETIMEDOUT);
                    return FALSE;
                }
            },
            None => Duration::from_secs(3600),
        };
        s = r
            .sync_ready
            .wait_timeout(s, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// The body of the last `OpenUrl` answer (valid until the next request); always TRUE, as HP.
///
/// # Safety
/// `body` and `len` are writable.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpSyncClient_GetResponseBody(
    p: PVOID,
    body: *mut *const u8,
    len: *mut c_int,
) -> BOOL {
    guard(FALSE, || {
        if body.is_null() || len.is_null() {
            set_errno(libc::EINVAL);
            return FALSE;
        }
        let r = run(p);
        let (ptr, n) = match &r {
            Some(r) => {
                let s = r.sync();
                if s.body.is_empty() {
                    (std::ptr::null(), 0)
                } else {
                    // The Vec is not touched until the next request: the pointer stays valid.
                    (
                        s.body.as_ptr(),
                        s.body.len().min(c_int::MAX as usize) as c_int,
                    )
                }
            }
            None => (std::ptr::null(), 0),
        };
        // SAFETY: writable per the contract.
        unsafe {
            *body = ptr;
            *len = n;
        }
        TRUE
    })
}

/// Forgets the last answer (its body and message; each request does so by itself).
#[no_mangle]
pub extern "C" fn HP_HttpSyncClient_CleanupRequestResult(p: PVOID) -> BOOL {
    guard(FALSE, || match run(p) {
        Some(r) => {
            r.sync().body = Vec::new();
            r.msgs.closed(KEY);
            TRUE
        }
        None => FALSE,
    })
}

macro_rules! sync_timeouts {
    ($($set:ident, $get:ident => $field:ident;)*) => {$(
        /// A timeout in milliseconds (0: none).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, ms: DWORD) {
            guard((), || {
                if let Some(h) = http_handle(p) {
                    h.knobs().$field = ms;
                }
            })
        }
        /// See the setter.
        #[no_mangle]
        pub extern "C" fn $get(p: PVOID) -> DWORD {
            guard(0, || http_handle(p).map_or(0, |h| h.knobs().$field))
        }
    )*};
}

sync_timeouts! {
    HP_HttpSyncClient_SetConnectTimeout, HP_HttpSyncClient_GetConnectTimeout => sync_connect_timeout;
    HP_HttpSyncClient_SetRequestTimeout, HP_HttpSyncClient_GetRequestTimeout => sync_request_timeout;
}
