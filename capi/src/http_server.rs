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
use crate::handle::{handle, Handle, Model};
use crate::http_message::{cstr, headers_in, pairs, put_list, HP_TNVPair, Messages, WsState};
use crate::listener::{call, FnClose, FnConn, FnConnSocket, FnData, FnLength, ServerFns};
use crate::server::hr_of;
use crate::types::*;
use shardnet_components::http::{HttpServer, HttpServerListener, RequestInfo};
use shardnet_components::{HandleResult, SocketOperation};
use shardnet_protocols::http::{HeadAction, RequestHead, UpgradeKind};
use shardnet_protocols::ws::frame::{FrameDecoder, FrameFlow, FrameHandler, FrameHeader};
use shardnet_runtime::ConnId;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CString};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// `HP_FN_Http_OnRequestLine` / `OnHeader`: (sender, conn, text, text).
pub type FnHttpText = unsafe extern "C" fn(PVOID, HP_CONNID, *const c_char, *const c_char) -> c_int;
/// `HP_FN_Http_OnParseError`: (sender, conn, error code, description).
pub type FnHttpError = unsafe extern "C" fn(PVOID, HP_CONNID, c_int, *const c_char) -> c_int;
/// `HP_FN_Http_OnWSMessageHeader`: (sender, conn, final, reserved, opcode, mask, length).
pub type FnWsHeader =
    unsafe extern "C" fn(PVOID, HP_CONNID, BOOL, u8, u8, *const u8, ULONGLONG) -> c_int;

/// An HTTP server listener's callbacks. `base` comes first (`repr(C)`): the handle sees the
/// table as a server listener's, whose callbacks the HTTP server shares.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct HttpServerFns {
    pub(crate) base: ServerFns,
    message_begin: Option<FnConn>,
    request_line: Option<FnHttpText>,
    header: Option<FnHttpText>,
    headers_complete: Option<FnConn>,
    body: Option<FnData>,
    chunk_header: Option<FnLength>,
    chunk_complete: Option<FnConn>,
    message_complete: Option<FnConn>,
    upgrade: Option<FnLength>,
    parse_error: Option<FnHttpError>,
    ws_header: Option<FnWsHeader>,
    ws_body: Option<FnData>,
    ws_complete: Option<FnConn>,
}

crate::listener::listener_life! { HttpServerFns:
    Create_HP_HttpServerListener, Destroy_HP_HttpServerListener;
}

crate::listener::setters! { HttpServerFns:
    HP_Set_FN_HttpServer_OnMessageBegin => message_begin: FnConn;
    HP_Set_FN_HttpServer_OnRequestLine => request_line: FnHttpText;
    HP_Set_FN_HttpServer_OnHeader => header: FnHttpText;
    HP_Set_FN_HttpServer_OnHeadersComplete => headers_complete: FnConn;
    HP_Set_FN_HttpServer_OnBody => body: FnData;
    HP_Set_FN_HttpServer_OnChunkHeader => chunk_header: FnLength;
    HP_Set_FN_HttpServer_OnChunkComplete => chunk_complete: FnConn;
    HP_Set_FN_HttpServer_OnMessageComplete => message_complete: FnConn;
    HP_Set_FN_HttpServer_OnUpgrade => upgrade: FnLength;
    HP_Set_FN_HttpServer_OnParseError => parse_error: FnHttpError;
    HP_Set_FN_HttpServer_OnWSMessageHeader => ws_header: FnWsHeader;
    HP_Set_FN_HttpServer_OnWSMessageBody => ws_body: FnData;
    HP_Set_FN_HttpServer_OnWSMessageComplete => ws_complete: FnConn;
    HP_Set_FN_HttpServer_OnPrepareListen => base.prepare_listen: crate::listener::FnPrepareListen;
    HP_Set_FN_HttpServer_OnAccept => base.accept: FnConnSocket;
    HP_Set_FN_HttpServer_OnHandShake => base.handshake: FnConn;
    HP_Set_FN_HttpServer_OnReceive => base.receive: FnData;
    HP_Set_FN_HttpServer_OnSend => base.send: FnData;
    HP_Set_FN_HttpServer_OnClose => base.close: FnClose;
    HP_Set_FN_HttpServer_OnShutdown => base.shutdown: crate::listener::FnSender;
}

/// One run's HTTP side.
#[derive(Default)]
pub(crate) struct HttpRun {
    server: OnceLock<HttpServer>,
    msgs: Messages,
    /// WebSocket frame decoders of upgraded connections (each touched by its shard only; taken
    /// out while its callbacks run).
    ws: Mutex<HashMap<u64, FrameDecoder>>,
}

impl HttpRun {
    fn ws(&self) -> std::sync::MutexGuard<'_, HashMap<u64, FrameDecoder>> {
        self.ws.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type ServerC = Handle<AnyServer, ServerFns>;

fn id(c: ConnId) -> HP_CONNID {
    c.as_u64() as HP_CONNID
}

/// `En_HP_HttpParseResult` of a callback other than `OnHeadersComplete`.
fn hpr(v: Option<c_int>) -> HandleResult {
    match v {
        Some(hpr::HPR_ERROR) => HandleResult::Error,
        _ => HandleResult::Ok,
    }
}

/// The listener shardnet calls: each call goes to the C callback, with the handle as sender.
struct Bridge {
    fns: HttpServerFns,
    sender: PVOID,
    run: Arc<HttpRun>,
}

// SAFETY: as the TCP server's bridge: the table is a copy, the handle outlives the component
// (HP's life cycle) and C callbacks run on shard threads, HP's contract.
unsafe impl Send for Bridge {}
// SAFETY: as above.
unsafe impl Sync for Bridge {}

impl Bridge {
    /// In a callback of a run `Start` has not installed yet, the run becomes the handle's.
    fn adopt(&self, s: &HttpServer) {
        if self.run.server.get().is_none() {
            let _ = self.run.server.set(s.clone());
        }
        // SAFETY: the C contract: the handle is live while its component runs.
        if let Some(h) = unsafe { handle::<AnyServer, ServerFns>(self.sender) } {
            h.adopt_with(|| AnyServer::Tcp((**s).clone()));
        }
    }
    fn text(&self, f: Option<FnHttpText>, c: ConnId, a: &CString, b: &CString) -> HandleResult {
        // SAFETY: a C callback with HP's signature; the strings live for the call.
        hpr(f.map(|f| unsafe { f(self.sender, id(c), a.as_ptr(), b.as_ptr()) }))
    }
    fn conn(&self, f: Option<FnConn>, c: ConnId) -> HandleResult {
        // SAFETY: a C callback with HP's signature.
        hpr(f.map(|f| unsafe { f(self.sender, id(c)) }))
    }
}

/// Feeds WebSocket bytes to the C callbacks.
struct WsDispatch<'a> {
    b: &'a Bridge,
    conn: ConnId,
    failed: bool,
}

impl FrameHandler for WsDispatch<'_> {
    fn on_header(&mut self, h: &FrameHeader) -> FrameFlow {
        let st = WsState {
            fin: h.fin,
            rsv: h.rsv,
            opcode: h.opcode,
            mask: h.mask,
            len: h.len,
            remain: h.len,
        };
        self.b
            .run
            .msgs
            .with(self.conn.as_u64(), |m| m.ws = Some(st));
        let mask = h.mask.unwrap_or_default();
        let r = self.b.fns.ws_header.map_or(HandleResult::Ignore, |f| {
            let mask_ptr = if h.mask.is_some() {
                mask.as_ptr()
            } else {
                std::ptr::null()
            };
            // SAFETY: a C callback with HP's signature; the mask lives for the call.
            hr_of(unsafe {
                f(
                    self.b.sender,
                    id(self.conn),
                    b(h.fin),
                    h.rsv,
                    h.opcode,
                    mask_ptr,
                    h.len,
                )
            })
        });
        self.flow(r)
    }
    fn on_payload(&mut self, data: &[u8], _offset: u64) -> FrameFlow {
        self.b.run.msgs.with(self.conn.as_u64(), |m| {
            if let Some(w) = m.ws.as_mut() {
                w.remain = w.remain.saturating_sub(data.len() as u64);
            }
        });
        let r = call::data(self.b.fns.ws_body, self.b.sender, id(self.conn), data);
        self.flow(r)
    }
    fn on_frame_end(&mut self) -> FrameFlow {
        let r = call::conn(self.b.fns.ws_complete, self.b.sender, id(self.conn));
        self.flow(r)
    }
}

impl WsDispatch<'_> {
    fn flow(&mut self, r: HandleResult) -> FrameFlow {
        if r == HandleResult::Error {
            self.failed = true;
            FrameFlow::Stop
        } else {
            FrameFlow::Continue
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
        self.run.msgs.begin(c.as_u64());
        self.conn(self.fns.message_begin, c)
    }
    fn on_request_line(&self, _: &HttpServer, c: ConnId, method: &str, url: &str) -> HandleResult {
        let (m, u) = (cstr(method.as_bytes()), cstr(url.as_bytes()));
        if self.fns.request_line.is_none() {
            return HandleResult::Ok;
        }
        self.text(self.fns.request_line, c, &m, &u)
    }
    fn on_header(&self, _: &HttpServer, c: ConnId, name: &str, value: &[u8]) -> HandleResult {
        let (n, v) = (cstr(name.as_bytes()), cstr(value));
        let r = self.text(self.fns.header, c, &n, &v);
        self.run.msgs.with(c.as_u64(), |m| m.headers.push((n, v)));
        r
    }
    fn on_headers_complete(&self, _: &HttpServer, c: ConnId, head: &RequestHead<'_>) -> HeadAction {
        self.run.msgs.with(c.as_u64(), |m| m.fill_request(head));
        let Some(f) = self.fns.headers_complete else {
            return if head.upgrade.is_some() {
                HeadAction::Upgrade
            } else {
                HeadAction::Continue
            };
        };
        // SAFETY: a C callback with HP's signature.
        match unsafe { f(self.sender, id(c)) } {
            hpr::HPR_OK if head.upgrade.is_some() => HeadAction::Upgrade,
            hpr::HPR_OK => HeadAction::Continue,
            hpr::HPR_SKIP_BODY => HeadAction::SkipBody,
            hpr::HPR_UPGRADE => HeadAction::Upgrade,
            _ => HeadAction::Error,
        }
    }
    fn on_body(&self, _: &HttpServer, c: ConnId, data: &[u8]) -> HandleResult {
        hpr(self.fns.body.map(|f| {
            // SAFETY: a C callback with HP's signature; `data` lives for the call.
            unsafe {
                f(
                    self.sender,
                    id(c),
                    data.as_ptr(),
                    data.len().min(c_int::MAX as usize) as c_int,
                )
            }
        }))
    }
    fn on_chunk_header(&self, _: &HttpServer, c: ConnId, len: u64) -> HandleResult {
        hpr(self.fns.chunk_header.map(|f| {
            // SAFETY: a C callback with HP's signature.
            unsafe { f(self.sender, id(c), len.min(c_int::MAX as u64) as c_int) }
        }))
    }
    fn on_chunk_complete(&self, _: &HttpServer, c: ConnId) -> HandleResult {
        self.conn(self.fns.chunk_complete, c)
    }
    fn on_message_complete(&self, _: &HttpServer, c: ConnId, _: &RequestInfo) -> HandleResult {
        self.conn(self.fns.message_complete, c)
    }
    fn on_upgrade(&self, _: &HttpServer, c: ConnId, kind: UpgradeKind) -> HandleResult {
        // HP: the upgrade request completes (OnMessageComplete), then OnUpgrade.
        if self.conn(self.fns.message_complete, c) == HandleResult::Error {
            return HandleResult::Error;
        }
        if kind == UpgradeKind::WebSocket {
            self.run.ws().insert(c.as_u64(), FrameDecoder::new());
        }
        let t = crate::http_message::upgrade_type(Some(kind));
        // SAFETY: a C callback with HP's signature.
        hpr(self
            .fns
            .upgrade
            .map(|f| unsafe { f(self.sender, id(c), t) }))
    }
    fn on_upgraded_data(&self, _: &HttpServer, c: ConnId, data: &[u8]) -> HandleResult {
        let Some(mut dec) = self.run.ws().remove(&c.as_u64()) else {
            // A tunnel or another protocol: the bytes are the application's.
            return call::data(self.fns.base.receive, self.sender, id(c), data);
        };
        let mut d = WsDispatch {
            b: self,
            conn: c,
            failed: false,
        };
        let mut scratch = Vec::new();
        dec.feed(data, &mut scratch, &mut d);
        self.run.ws().insert(c.as_u64(), dec);
        if d.failed {
            HandleResult::Error
        } else {
            HandleResult::Ok
        }
    }
    fn on_parse_error(&self, _: &HttpServer, c: ConnId, status: u16, desc: &str) -> HandleResult {
        let d = cstr(desc.as_bytes());
        if let Some(f) = self.fns.parse_error {
            // SAFETY: a C callback with HP's signature; `d` lives for the call.
            unsafe { f(self.sender, id(c), c_int::from(status), d.as_ptr()) };
        }
        self.run
            .msgs
            .with(c.as_u64(), |m| m.parse_error = (status, d));
        HandleResult::Ok
    }
    fn on_send(&self, _: &HttpServer, c: ConnId, data: &[u8]) -> HandleResult {
        call::data(self.fns.base.send, self.sender, id(c), data)
    }
    fn on_close(&self, _: &HttpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        call::close(self.fns.base.close, self.sender, id(c), op as c_int, e);
        self.run.msgs.closed(c.as_u64());
        self.run.ws().remove(&c.as_u64());
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
    let run = Arc::new(HttpRun::default());
    let bridge = Bridge {
        fns,
        sender: p,
        run: run.clone(),
    };
    let cfg = h.cfg().clone();
    let release_delay = h.knobs().release_delay;
    let http = shardnet_components::http::HttpConfig {
        // HP has no request limit per connection, and adds no Server header.
        max_requests: 0,
        server_name: None,
        keep_alive_timeout: Duration::from_secs(75),
        ..Default::default()
    };
    let _ = release_delay;
    h.clear_running();
    *h.http.lock().unwrap_or_else(|e| e.into_inner()) = Some(run.clone());
    let builder = HttpServer::builder()
        .tcp(|b| b.config(cfg).lingering_close(Duration::from_secs(5)))
        .http_config(http);
    match builder.start(bind, Arc::new(bridge)) {
        Ok(s) => {
            let _ = run.server.set(s.clone());
            h.adopt_with(|| AnyServer::Tcp((*s).clone()));
            h.err.set(se::SE_OK, "SUCCESS", 0);
            TRUE
        }
        Err(e) => {
            h.err.from(&e);
            FALSE
        }
    }
}

pub(crate) fn create(l: PVOID, model: Model) -> PVOID {
    crate::handle::create::<AnyServer, ServerFns>(l, model)
}

crate::handle::creators!(AnyServer, ServerFns: Create_HP_HttpServer => Http);
crate::handle::destroyers!(AnyServer, ServerFns: Destroy_HP_HttpServer);

/// The HTTP server handle behind `p` (None, errno EINVAL, for NULL or another component).
fn http_handle<'a>(p: PVOID) -> Option<&'a ServerC> {
    // SAFETY: the C contract: NULL or a live server handle.
    let h = unsafe { handle::<AnyServer, ServerFns>(p) }.filter(|h| h.model == Model::Http);
    if h.is_none() {
        set_errno(libc::EINVAL);
    }
    h
}

/// The running HTTP side of `p` (None, errno EPERM, before the first start).
fn run(p: PVOID) -> Option<Arc<HttpRun>> {
    let r = http_handle(p)?
        .http
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if r.is_none() {
        set_errno(libc::EPERM);
    }
    r
}

/// The running HTTP server of `p`.
fn server_of(p: PVOID) -> Option<(Arc<HttpRun>, HttpServer)> {
    let r = run(p)?;
    let s = r.server.get().cloned();
    match s {
        Some(s) => Some((r, s)),
        None => {
            set_errno(libc::EPERM);
            None
        }
    }
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
        let Some((r, s)) = server_of(p) else {
            return FALSE;
        };
        // SAFETY: per the contract.
        let (Some(mut hs), Some(body)) = (unsafe { headers_in(headers, n) }, unsafe {
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
        let Some((_, s)) = server_of(p) else {
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
        let Some((_, s)) = server_of(p) else {
            return FALSE;
        };
        // SAFETY: per the contract.
        let (Some(d), ext) = (unsafe { bytes(data, len) }, unsafe { text(ext) }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let mut out = Vec::with_capacity(d.len() + 32);
        crate::http_message::write_chunk(&mut out, d, ext.unwrap_or(""));
        done(s.send(conn(c), &out))
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
        let Some((_, s)) = server_of(p) else {
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
    guard(FALSE, || match server_of(p) {
        Some((_, s)) => done(s.release(conn(c))),
        None => FALSE,
    })
}

/// Starts HTTP on a connection accepted with automatic start off: shardnet's server parses
/// from the first byte, so this answers TRUE for any open connection.
#[no_mangle]
pub extern "C" fn HP_HttpServer_StartHttp(p: PVOID, c: HP_CONNID) -> BOOL {
    guard(FALSE, || match server_of(p) {
        Some((_, s)) if s.is_connected(conn(c)) => TRUE,
        Some(_) => {
            set_errno(libc::ENOTCONN);
            FALSE
        }
        None => FALSE,
    })
}

/// Whether connections start HTTP by themselves (kept as set; shardnet's always do).
#[no_mangle]
pub extern "C" fn HP_HttpServer_SetHttpAutoStart(p: PVOID, on: BOOL) {
    guard((), || {
        if let Some(h) = http_handle(p) {
            h.knobs().http_auto_start = on != FALSE;
        }
    })
}

/// See `HP_HttpServer_SetHttpAutoStart`.
#[no_mangle]
pub extern "C" fn HP_HttpServer_IsHttpAutoStart(p: PVOID) -> BOOL {
    guard(FALSE, || {
        http_handle(p).map_or(FALSE, |h| b(h.knobs().http_auto_start))
    })
}

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

/// The HTTP version of the server's responses (HP: `HV_1_1`; shardnet answers HTTP/1.1).
#[no_mangle]
pub extern "C" fn HP_HttpServer_SetLocalVersion(p: PVOID, v: c_int) {
    guard((), || {
        if let Some(h) = http_handle(p) {
            h.knobs().local_version = v;
        }
    })
}

/// See `HP_HttpServer_SetLocalVersion`.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetLocalVersion(p: PVOID) -> c_int {
    guard(hv::HV_1_1, || {
        http_handle(p).map_or(hv::HV_1_1, |h| h.knobs().local_version)
    })
}

/// Reads `c`'s last message with `f` (None without one).
fn read<R>(
    p: PVOID,
    c: HP_CONNID,
    f: impl FnOnce(&crate::http_message::HttpMessage) -> R,
) -> Option<R> {
    run(p)?.msgs.read(conn(c).as_u64(), f)
}

fn ptr(s: Option<&CString>) -> *const c_char {
    s.map_or(std::ptr::null(), |s| s.as_ptr())
}

/// Bit `HUF_x` set for each URL field the request target (or Host) gave.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetUrlFieldSet(p: PVOID, c: HP_CONNID) -> USHORT {
    guard(0, || {
        read(p, c, |m| {
            m.url_fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.is_some())
                .fold(0u16, |acc, (i, _)| acc | (1 << i))
        })
        .unwrap_or(0)
    })
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
                .map_or(std::ptr::null(), |f| {
                    f.as_ref().map_or(c"".as_ptr(), |f| f.as_ptr())
                })
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
        read(p, c, |m| ptr(m.header("Host"))).unwrap_or(std::ptr::null())
    })
}

/// Whether the request asked to switch protocols.
#[no_mangle]
pub extern "C" fn HP_HttpServer_IsUpgrade(p: PVOID, c: HP_CONNID) -> BOOL {
    guard(FALSE, || {
        read(p, c, |m| b(m.upgrade != hut::HUT_NONE)).unwrap_or(FALSE)
    })
}

/// Whether the connection stays open after the response.
#[no_mangle]
pub extern "C" fn HP_HttpServer_IsKeepAlive(p: PVOID, c: HP_CONNID) -> BOOL {
    guard(FALSE, || read(p, c, |m| b(m.keep_alive)).unwrap_or(FALSE))
}

/// The request's version, `MAKEWORD(major, minor)`.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetVersion(p: PVOID, c: HP_CONNID) -> USHORT {
    guard(0, || read(p, c, |m| m.version).unwrap_or(0))
}

/// Content-Length (0 without one).
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetContentLength(p: PVOID, c: HP_CONNID) -> ULONGLONG {
    guard(0, || read(p, c, |m| m.content_length).unwrap_or(0))
}

macro_rules! header_getters {
    ($($name:ident => $header:literal;)*) => {$(
        #[doc = concat!("The request's `", $header, "` header, or NULL.")]
        #[no_mangle]
        pub extern "C" fn $name(p: PVOID, c: HP_CONNID) -> *const c_char {
            guard(std::ptr::null(), || {
                read(p, c, |m| ptr(m.header($header))).unwrap_or(std::ptr::null())
            })
        }
    )*};
}

header_getters! {
    HP_HttpServer_GetContentType => "Content-Type";
    HP_HttpServer_GetContentEncoding => "Content-Encoding";
    HP_HttpServer_GetTransferEncoding => "Transfer-Encoding";
}

/// `En_HP_HttpUpgradeType` of the request.
#[no_mangle]
pub extern "C" fn HP_HttpServer_GetUpgradeType(p: PVOID, c: HP_CONNID) -> c_int {
    guard(hut::HUT_NONE, || {
        read(p, c, |m| m.upgrade).unwrap_or(hut::HUT_NONE)
    })
}

/// The last parse error on the connection (the status shardnet answered it with; 0: none)
/// and its description.
///
/// # Safety
/// `desc` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_GetParseErrorCode(
    p: PVOID,
    c: HP_CONNID,
    desc: *mut *const c_char,
) -> USHORT {
    guard(0, || {
        read(p, c, |m| {
            if !desc.is_null() {
                // SAFETY: writable per the contract.
                unsafe { *desc = m.parse_error.1.as_ptr() };
            }
            m.parse_error.0
        })
        .unwrap_or(0)
    })
}

/// The first value of header `name` (case-insensitive).
///
/// # Safety
/// `name` is a C string; `value` writable.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_GetHeader(
    p: PVOID,
    c: HP_CONNID,
    name: *const c_char,
    value: *mut *const c_char,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the contract.
        let Some(name) = (unsafe { text(name) }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let v = read(p, c, |m| m.header(name).map(|v| v.as_ptr())).flatten();
        crate::complex::put(v, value)
    })
}

/// Every value of header `name` (HP's array protocol: `*count` in, needed count out).
///
/// # Safety
/// `name` is a C string; `values` has `*count` writable slots.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_GetHeaders(
    p: PVOID,
    c: HP_CONNID,
    name: *const c_char,
    values: *mut *const c_char,
    count: *mut DWORD,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the contract.
        let Some(name) = (unsafe { text(name) }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let list = read(p, c, |m| {
            m.headers
                .iter()
                .filter(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| v.as_ptr())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
        // SAFETY: per the contract.
        unsafe { put_list(&list, values, count) }
    })
}

/// Every header field, in order.
///
/// # Safety
/// `out` has `*count` writable slots.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_GetAllHeaders(
    p: PVOID,
    c: HP_CONNID,
    out: *mut HP_TNVPair,
    count: *mut DWORD,
) -> BOOL {
    guard(FALSE, || {
        let list = read(p, c, |m| pairs(&m.headers)).unwrap_or_default();
        // SAFETY: per the contract.
        unsafe { put_list(&list, out, count) }
    })
}

/// Every header name (each once, in first-seen order).
///
/// # Safety
/// `out` has `*count` writable slots.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_GetAllHeaderNames(
    p: PVOID,
    c: HP_CONNID,
    out: *mut *const c_char,
    count: *mut DWORD,
) -> BOOL {
    guard(FALSE, || {
        let list = read(p, c, |m| {
            let mut names: Vec<&CString> = Vec::new();
            for (n, _) in &m.headers {
                if !names
                    .iter()
                    .any(|x| x.as_bytes().eq_ignore_ascii_case(n.as_bytes()))
                {
                    names.push(n);
                }
            }
            names.iter().map(|n| n.as_ptr()).collect::<Vec<_>>()
        })
        .unwrap_or_default();
        // SAFETY: per the contract.
        unsafe { put_list(&list, out, count) }
    })
}

/// The value of cookie `name`.
///
/// # Safety
/// `name` is a C string; `value` writable.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_GetCookie(
    p: PVOID,
    c: HP_CONNID,
    name: *const c_char,
    value: *mut *const c_char,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the contract.
        let Some(name) = (unsafe { text(name) }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let v = read(p, c, |m| {
            m.cookies
                .iter()
                .find(|(n, _)| n.as_bytes() == name.as_bytes())
                .map(|(_, v)| v.as_ptr())
        })
        .flatten();
        crate::complex::put(v, value)
    })
}

/// Every cookie of the request.
///
/// # Safety
/// `out` has `*count` writable slots.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_GetAllCookies(
    p: PVOID,
    c: HP_CONNID,
    out: *mut HP_TNVPair,
    count: *mut DWORD,
) -> BOOL {
    guard(FALSE, || {
        let list = read(p, c, |m| pairs(&m.cookies)).unwrap_or_default();
        // SAFETY: per the contract.
        unsafe { put_list(&list, out, count) }
    })
}

/// The WebSocket frame being received: final, RSV bits, opcode, mask (NULL if unmasked),
/// payload length and what of it is still to come; FALSE outside a WebSocket connection.
///
/// # Safety
/// Every out-pointer is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn HP_HttpServer_GetWSMessageState(
    p: PVOID,
    c: HP_CONNID,
    fin: *mut BOOL,
    rsv: *mut u8,
    opcode: *mut u8,
    mask: *mut *const u8,
    len: *mut ULONGLONG,
    remain: *mut ULONGLONG,
) -> BOOL {
    guard(FALSE, || {
        let Some(r) = run(p) else {
            return FALSE;
        };
        let m = r.msgs.lock();
        let Some(w) = m.get(&conn(c).as_u64()).and_then(|m| m.ws.as_ref()) else {
            set_errno(libc::ENOENT);
            return FALSE;
        };
        // SAFETY: each pointer is NULL or writable per the contract; the mask pointer names
        // the message's own copy (valid until the next frame).
        unsafe {
            if !fin.is_null() {
                *fin = b(w.fin);
            }
            if !rsv.is_null() {
                *rsv = w.rsv;
            }
            if !opcode.is_null() {
                *opcode = w.opcode;
            }
            if !mask.is_null() {
                *mask = w.mask.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
            }
            if !len.is_null() {
                *len = w.len;
            }
            if !remain.is_null() {
                *remain = w.remain;
            }
        }
        TRUE
    })
}
