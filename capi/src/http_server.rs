//! `HP_HttpServer` / `HP_HttpsServer` on shardnet's `HttpServer`: `Create_`/`Destroy_`, the
//! listener with its `HP_Set_FN_HttpServer_*` callbacks, and every `HP_HttpServer_*` call
//! (responses, chunks, files, WebSocket messages, `Release`, the request getters).
//!
//! An HTTP server handle is a server handle (`Handle<AnyServer, ServerFns>`, model `Http`)
//! whose running component is the HTTP server's TCP server, so every `HP_Server_*` call and
//! the `HP_SSLServer_*` set-up work on it; its HTTP side ([`HttpRun`]) holds the HTTP server
//! and each connection's last parsed message ([`Messages`]). After a WebSocket upgrade the
//! bytes of the connection go through a WebSocket frame decoder that calls the
//! `OnWSMessage*` callbacks, as HP's server does.
//!
//! Where shardnet differs from HP-Socket (5.8, llhttp):
//! - a malformed request is answered with its 4xx status before the close (HP closes without
//!   a word), and `OnParseError`'s code is that status, not an llhttp error number;
//! - `HPR_ERROR` from `OnRequestLine` or `OnHeader` closes the connection, as HP documents (its
//!   llhttp ignores those two results); `HPR_SKIP_BODY` reads past the body (HP's llhttp
//!   parses the body as the next request);
//! - `Release` closes once the answer has left, without HP's release delay (kept for its
//!   getter); HTTP starts on every connection (`SetHttpAutoStart` is kept for its getter);
//! - `GetHeaders` with too small a buffer fills nothing (HP fills what fits); both report the
//!   count needed.

use crate::any_server::AnyServer;
use crate::error::{done, guard, set_errno};
use crate::handle::{handle, Handle, HttpGuard, Model};
use crate::http_callbacks::{started, text as call_text, Caller, FnHttpText, HttpFns, HttpRun};
use crate::http_message::{cstr, headers_in, HP_TNVPair, HeaderList};
use crate::listener::{call, FnClose, FnConn, FnConnSocket, FnData, FnLength, ServerFns};
use crate::server::hr_of;
use crate::types::*;
use shardnet_components::http::{HttpServer, HttpServerListener, RequestInfo};
use shardnet_components::{HandleResult, SocketOperation};
use shardnet_protocols::http::{HeadAction, RequestHead, UpgradeKind};
use shardnet_runtime::ConnId;
use std::ffi::{c_char, c_int};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

/// An HTTP server listener's callbacks. `base` comes first (`repr(C)`): the handle sees the
/// table as a server listener's, whose callbacks the HTTP server shares.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct HttpServerFns {
    pub(crate) base: ServerFns,
    request_line: Option<FnHttpText>,
    http: HttpFns,
}

crate::listener::listener_life! { HttpServerFns:
    Create_HP_HttpServerListener, Destroy_HP_HttpServerListener;
}

crate::listener::setters! { HttpServerFns:
    HP_Set_FN_HttpServer_OnMessageBegin => http.message_begin: FnConn;
    HP_Set_FN_HttpServer_OnRequestLine => request_line: FnHttpText;
    HP_Set_FN_HttpServer_OnHeader => http.header: FnHttpText;
    HP_Set_FN_HttpServer_OnHeadersComplete => http.headers_complete: FnConn;
    HP_Set_FN_HttpServer_OnBody => http.body: FnData;
    HP_Set_FN_HttpServer_OnChunkHeader => http.chunk_header: FnLength;
    HP_Set_FN_HttpServer_OnChunkComplete => http.chunk_complete: FnConn;
    HP_Set_FN_HttpServer_OnMessageComplete => http.message_complete: FnConn;
    HP_Set_FN_HttpServer_OnUpgrade => http.upgrade: FnLength;
    HP_Set_FN_HttpServer_OnParseError => http.parse_error: crate::http_callbacks::FnHttpError;
    HP_Set_FN_HttpServer_OnWSMessageHeader => http.ws_header: crate::http_callbacks::FnWsHeader;
    HP_Set_FN_HttpServer_OnWSMessageBody => http.ws_body: FnData;
    HP_Set_FN_HttpServer_OnWSMessageComplete => http.ws_complete: FnConn;
    HP_Set_FN_HttpServer_OnPrepareListen => base.prepare_listen: crate::listener::FnPrepareListen;
    HP_Set_FN_HttpServer_OnAccept => base.accept: FnConnSocket;
    HP_Set_FN_HttpServer_OnHandShake => base.handshake: FnConn;
    HP_Set_FN_HttpServer_OnReceive => base.receive: FnData;
    HP_Set_FN_HttpServer_OnSend => base.send: FnData;
    HP_Set_FN_HttpServer_OnClose => base.close: FnClose;
    HP_Set_FN_HttpServer_OnShutdown => base.shutdown: crate::listener::FnSender;
}

type Run = HttpRun<HttpServer>;
type ServerC = Handle<AnyServer, ServerFns>;

fn id(c: ConnId) -> HP_CONNID {
    c.as_u64() as HP_CONNID
}

/// The listener shardnet calls: each call goes to the C callback, with the handle as sender.
struct Bridge {
    fns: HttpServerFns,
    sender: PVOID,
    run: Arc<Run>,
}

// SAFETY: as the TCP server's bridge: the table is a copy, the handle outlives the component
// (HP's life cycle) and C callbacks run on shard threads, HP's contract.
unsafe impl Send for Bridge {}
// SAFETY: as above.
unsafe impl Sync for Bridge {}

impl Bridge {
    /// In a callback of a run `Start` has not installed yet, the run becomes the handle's.
    fn adopt(&self, s: &HttpServer) {
        if self.run.side.get().is_none() {
            let _ = self.run.side.set(s.clone());
        }
        // SAFETY: the C contract: the handle is live while its component runs.
        if let Some(h) = unsafe { handle::<AnyServer, ServerFns>(self.sender) } {
            h.adopt_with(|| AnyServer::Tcp((**s).clone()));
        }
    }
    fn at(&self) -> Caller<'_, HttpServer> {
        Caller {
            fns: &self.fns.http,
            sender: self.sender,
            run: &self.run,
        }
    }
}

impl HttpServerListener for Bridge {
    fn on_prepare_listen(&self, s: &HttpServer, fd: BorrowedFd<'_>, _: SocketAddr) -> HandleResult {
        self.adopt(s);
        match self.fns.base.prepare_listen {
            // SAFETY: a C callback with HP's signature.
            Some(f) => hr_of(unsafe { f(self.sender, fd.as_raw_fd() as UINT_PTR) }),
            None => HandleResult::Ignore,
        }
    }
    fn on_accept_socket(
        &self,
        s: &HttpServer,
        c: ConnId,
        peer: SocketAddr,
        fd: BorrowedFd<'_>,
    ) -> HandleResult {
        self.adopt(s);
        if self.fns.base.accept.is_none() {
            return HandleResult::Ignore;
        }
        let local = socket2::SockRef::from(&fd)
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket());
        crate::server::with_accepting(c, peer, local, || {
            call::socket(self.fns.base.accept, self.sender, id(c), fd.as_raw_fd())
        })
    }
    fn on_handshake(&self, _: &HttpServer, c: ConnId) -> HandleResult {
        call::conn(self.fns.base.handshake, self.sender, id(c))
    }
    fn on_message_begin(&self, _: &HttpServer, c: ConnId) -> HandleResult {
        self.at().message_begin(c.as_u64(), c.as_u64())
    }
    fn on_request_line(&self, _: &HttpServer, c: ConnId, method: &str, url: &str) -> HandleResult {
        if self.fns.request_line.is_none() {
            return HandleResult::Ok;
        }
        let (m, u) = (cstr(method.as_bytes()), cstr(url.as_bytes()));
        call_text(
            self.fns.request_line,
            self.sender,
            c.as_u64(),
            m.as_ptr(),
            u.as_ptr(),
        )
    }
    fn on_header(&self, _: &HttpServer, c: ConnId, name: &str, value: &[u8]) -> HandleResult {
        self.at().header(c.as_u64(), c.as_u64(), name, value)
    }
    fn on_headers_complete(&self, _: &HttpServer, c: ConnId, head: &RequestHead<'_>) -> HeadAction {
        self.run.msgs.with(c.as_u64(), |m| m.fill_request(head));
        self.at()
            .headers_complete(c.as_u64(), head.upgrade.is_some())
    }
    fn on_body(&self, _: &HttpServer, c: ConnId, data: &[u8]) -> HandleResult {
        self.at().body(c.as_u64(), data)
    }
    fn on_chunk_header(&self, _: &HttpServer, c: ConnId, len: u64) -> HandleResult {
        self.at().chunk_header(c.as_u64(), len)
    }
    fn on_chunk_complete(&self, _: &HttpServer, c: ConnId) -> HandleResult {
        self.at().conn(self.fns.http.chunk_complete, c.as_u64())
    }
    fn on_message_complete(&self, _: &HttpServer, c: ConnId, _: &RequestInfo) -> HandleResult {
        self.at().conn(self.fns.http.message_complete, c.as_u64())
    }
    fn on_upgrade(&self, _: &HttpServer, c: ConnId, kind: UpgradeKind) -> HandleResult {
        let t = crate::http_message::upgrade_type(Some(kind));
        self.at().upgrade(c.as_u64(), c.as_u64(), t)
    }
    fn on_upgraded_data(&self, _: &HttpServer, c: ConnId, data: &[u8]) -> HandleResult {
        self.at()
            .upgraded_data(c.as_u64(), c.as_u64(), data, self.fns.base.receive)
    }
    fn on_parse_error(&self, _: &HttpServer, c: ConnId, status: u16, desc: &str) -> HandleResult {
        self.at().parse_error(c.as_u64(), c.as_u64(), status, desc);
        HandleResult::Ok
    }
    fn on_send(&self, _: &HttpServer, c: ConnId, data: &[u8]) -> HandleResult {
        call::data(self.fns.base.send, self.sender, id(c), data)
    }
    fn on_close(&self, _: &HttpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        call::close(self.fns.base.close, self.sender, id(c), op as c_int, e);
        self.run.conn_closed(c.as_u64(), false);
        // SAFETY: the C contract: the handle is live while its component runs.
        if let Some(h) = unsafe { handle::<AnyServer, ServerFns>(self.sender) } {
            h.forget(c.as_u64());
        }
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &HttpServer) -> HandleResult {
        call::sender(self.fns.base.shutdown, self.sender);
        HandleResult::Ok
    }
}

/// Starts an HTTP(S) server handle on `bind` (from `HP_Server_Start`).
pub(crate) fn start(h: &ServerC, p: PVOID, bind: &str) -> BOOL {
    // SAFETY: an HTTP server handle was made by `Create_HP_Http(s)Server` with an HTTP server
    // listener (HP's contract), whose table begins with the server table `h.fns` names.
    let fns = unsafe { *(h.fns as *const HttpServerFns) };
    let run = Arc::new(Run::default());
    let bridge = Bridge {
        fns,
        sender: p,
        run: run.clone(),
    };
    let cfg = h.cfg().clone();
    let http = shardnet_components::http::HttpConfig {
        // HP has no request limit per connection, and adds no Server header.
        max_requests: 0,
        server_name: None,
        keep_alive_timeout: Duration::from_secs(75),
        ..Default::default()
    };
    let builder = HttpServer::builder()
        .tcp(|b| b.config(cfg).lingering_close(Duration::from_secs(5)))
        .http_config(http);
    h.start_http(
        run,
        || builder.start(bind, Arc::new(bridge)),
        |s| AnyServer::Tcp((**s).clone()),
    )
}

pub(crate) fn create(l: PVOID, model: Model) -> PVOID {
    crate::handle::create::<AnyServer, ServerFns>(l, model)
}

crate::handle::creators!(AnyServer, ServerFns: Create_HP_HttpServer => Http);
crate::handle::destroyers!(AnyServer, ServerFns: Destroy_HP_HttpServer);

/// The HTTP server handle behind `p` (None, errno EINVAL, for NULL or another component).
fn http_handle<'a>(p: PVOID) -> Option<&'a ServerC> {
    // SAFETY: the C contract: NULL or a live server handle.
    unsafe { crate::handle::handle_of(p, |m| m == Model::Http) }
}

/// The running HTTP side of `p` (None, errno EPERM, before the first start).
fn run(p: PVOID) -> Option<HttpGuard<Run>> {
    http_handle(p)?.started_http::<Run>()
}

/// The run and message key of connection `c` of `p`.
fn message(p: PVOID, c: HP_CONNID) -> Option<(HttpGuard<Run>, u64)> {
    Some((run(p)?, conn(c).as_u64()))
}

fn conn(c: HP_CONNID) -> ConnId {
    crate::complex::conn(c)
}

/// Sends a response: status line (`lpszDesc` NULL: the standard reason), the headers,
/// `Connection` (keep-alive or close, as the request) unless given, `Content-Length` unless a
/// header frames the body, then the body, in one write (HP adds the same two headers).
///
/// # Safety
/// `headers` has `n` pairs of C strings; `body` has `len` readable bytes; `desc` is NULL or a
/// C string.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_SendResponse(
    p: PVOID,
    c: HP_CONNID,
    status: USHORT,
    desc: *const c_char,
    headers: *const HP_TNVPair,
    n: c_int,
    body: *const u8,
    len: c_int,
) -> BOOL {
    guard(FALSE, || {
        let g = run(p);
        let Some((r, s)) = started(&g) else {
            return FALSE;
        };
        let mut hs = HeaderList::new();
        // SAFETY: per the contract.
        let (true, Some(body)) = (unsafe { hs.read_c(headers, n) }, unsafe {
            bytes(body, len)
        }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        if !hs.iter().any(|(n, _)| n.eq_ignore_ascii_case("connection")) {
            let keep = r
                .msgs
                .read(conn(c).as_u64(), |m| m.keep_alive)
                .unwrap_or(true);
            hs.push(("Connection", if keep { "keep-alive" } else { "close" }));
        }
        // SAFETY: per the contract.
        let reason = unsafe { text(desc) };
        done(s.send_response(conn(c), status, reason, &hs, body))
    })
}

/// Sends a response whose body is the file `name` (streamed; any size).
///
/// # Safety
/// `name` is a C string; `headers` has `n` pairs of C strings; `desc` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_SendLocalFile(
    p: PVOID,
    c: HP_CONNID,
    name: *const c_char,
    status: USHORT,
    _desc: *const c_char,
    headers: *const HP_TNVPair,
    n: c_int,
) -> BOOL {
    guard(FALSE, || {
        let g = run(p);
        let Some((_, s)) = started(&g) else {
            return FALSE;
        };
        // SAFETY: per the contract.
        let (Some(path), Some(hs)) = (unsafe { text(name) }, unsafe { headers_in(headers, n) })
        else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        done(s.send_local_file(conn(c), status, &hs, std::path::Path::new(path)))
    })
}

/// Sends one chunk of a chunked body; an empty one (`len` 0) is the last chunk.
///
/// # Safety
/// `data` has `len` readable bytes; `ext` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_SendChunkData(
    p: PVOID,
    c: HP_CONNID,
    data: *const u8,
    len: c_int,
    ext: *const c_char,
) -> BOOL {
    guard(FALSE, || {
        let g = run(p);
        let Some((_, s)) = started(&g) else {
            return FALSE;
        };
        // SAFETY: per the contract.
        let (Some(d), ext) = (unsafe { bytes(data, len) }, unsafe { text(ext) }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        done(crate::http_message::with_chunk(
            d,
            ext.unwrap_or(""),
            |parts| s.send_packets(conn(c), parts),
        ))
    })
}

/// Sends one WebSocket frame (unmasked, as a server's): `final`, RSV bits (`reserved`, low
/// three bits), opcode, payload. `body_len` 0 is `len`; a larger one announces a frame whose
/// payload the next `HP_Server_Send` calls finish.
///
/// # Safety
/// `data` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_SendWSMessage(
    p: PVOID,
    c: HP_CONNID,
    fin: BOOL,
    reserved: u8,
    opcode: u8,
    data: *const u8,
    len: c_int,
    body_len: ULONGLONG,
) -> BOOL {
    guard(FALSE, || {
        let g = run(p);
        let Some((_, s)) = started(&g) else {
            return FALSE;
        };
        // SAFETY: per the contract.
        let Some(d) = (unsafe { bytes(data, len) }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let Some(out) =
            crate::http_message::ws_frame(fin != FALSE, reserved, opcode, d, body_len, None)
        else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        done(s.send(conn(c), &out))
    })
}

/// Closes the connection once what was sent has left (HP's `Release`).
#[no_mangle]
pub extern "C" fn HP_HttpServer_Release(p: PVOID, c: HP_CONNID) -> BOOL {
    guard(FALSE, || match started(&run(p)) {
        Some((_, s)) => done(s.release(conn(c))),
        None => FALSE,
    })
}

/// Starts HTTP on a connection accepted with automatic start off: shardnet's server parses
/// from the first byte, so this answers TRUE for any open connection.
#[no_mangle]
pub extern "C" fn HP_HttpServer_StartHttp(p: PVOID, c: HP_CONNID) -> BOOL {
    guard(FALSE, || match started(&run(p)) {
        Some((_, s)) if s.is_connected(conn(c)) => TRUE,
        Some(_) => {
            set_errno(libc::ENOTCONN);
            FALSE
        }
        None => FALSE,
    })
}

crate::http_requests::http_knobs! { http_handle:
    HP_HttpServer_SetHttpAutoStart, HP_HttpServer_IsHttpAutoStart => http_auto_start;
}
crate::http_requests::local_version!(http_handle: HP_HttpServer_SetLocalVersion, HP_HttpServer_GetLocalVersion);

/// The delay HP waits before closing a released connection (kept as set; shardnet closes once
/// the response has left).
#[no_mangle]
pub extern "C" fn HP_HttpServer_SetReleaseDelay(p: PVOID, ms: DWORD) {
    guard((), || {
        if let Some(h) = http_handle(p) {
            h.knobs().release_delay = ms;
        }
    })
}

/// See `HP_HttpServer_SetReleaseDelay`.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetReleaseDelay(p: PVOID) -> DWORD {
    guard(0, || http_handle(p).map_or(0, |h| h.knobs().release_delay))
}

/// Reads `c`'s last message with `f` (None without one).
fn read<R>(
    p: PVOID,
    c: HP_CONNID,
    f: impl FnOnce(&crate::http_message::HttpMessage) -> R,
) -> Option<R> {
    run(p)?.msgs.read(conn(c).as_u64(), f)
}

/// Bit `HUF_x` set for each URL field the request target gave.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetUrlFieldSet(p: PVOID, c: HP_CONNID) -> USHORT {
    guard(0, || read(p, c, |m| m.url_set).unwrap_or(0))
}

/// One URL field (`En_HP_HttpUrlField`): `""` when the target has none (HP's), NULL for an
/// unknown connection or field.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetUrlField(p: PVOID, c: HP_CONNID, field: c_int) -> *const c_char {
    guard(std::ptr::null(), || {
        read(p, c, |m| {
            usize::try_from(field)
                .ok()
                .and_then(|i| m.url_fields.get(i))
                .map_or(std::ptr::null(), |f| f.as_ptr())
        })
        .unwrap_or(std::ptr::null())
    })
}

/// The request's method.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetMethod(p: PVOID, c: HP_CONNID) -> *const c_char {
    guard(std::ptr::null(), || {
        read(p, c, |m| m.method.as_ptr()).unwrap_or(std::ptr::null())
    })
}

/// The Host header's value as sent (port included), NULL without one.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetHost(p: PVOID, c: HP_CONNID) -> *const c_char {
    guard(std::ptr::null(), || {
        let r = message(p, c);
        crate::http_getters::header_value(r.as_ref().map(|(r, k)| (&r.msgs, *k)), "Host")
    })
}

crate::http_getters::message_getters!(message, (c: HP_CONNID) {
    is_upgrade: HP_HttpServer_IsUpgrade, is_keep_alive: HP_HttpServer_IsKeepAlive,
    version: HP_HttpServer_GetVersion, content_length: HP_HttpServer_GetContentLength,
    content_type: HP_HttpServer_GetContentType, content_encoding: HP_HttpServer_GetContentEncoding,
    transfer_encoding: HP_HttpServer_GetTransferEncoding, upgrade_type: HP_HttpServer_GetUpgradeType,
    parse_error: HP_HttpServer_GetParseErrorCode, header: HP_HttpServer_GetHeader,
    headers: HP_HttpServer_GetHeaders, all_headers: HP_HttpServer_GetAllHeaders,
    all_header_names: HP_HttpServer_GetAllHeaderNames, cookie: HP_HttpServer_GetCookie,
    all_cookies: HP_HttpServer_GetAllCookies, ws_state: HP_HttpServer_GetWSMessageState,
});
