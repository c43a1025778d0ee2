//! What the HTTP server, agent and clients share on the callback side: the HTTP part of their
//! listener tables ([`HttpFns`]), the run state their bridges fill ([`HttpRun`]), and the calls
//! into C for the message and WebSocket callbacks.

use crate::error::set_errno;
use crate::http_message::{Messages, WsState};
use crate::listener::{call, FnConn, FnData, FnLength};
use crate::per_shard::{IdMap, PerShard};
use crate::server::hr_of;
use crate::types::*;
use shardnet_components::HandleResult;
use shardnet_protocols::http::HeadAction;
use shardnet_protocols::ws::frame::{FrameDecoder, FrameFlow, FrameHandler, FrameHeader};
use std::ffi::{c_char, c_int};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

/// `HP_FN_Http_OnRequestLine` / `OnHeader`: (sender, conn, text, text).
pub type FnHttpText = unsafe extern "C" fn(PVOID, HP_CONNID, *const c_char, *const c_char) -> c_int;
/// `HP_FN_Http_OnStatusLine`: (sender, conn, status, reason).
pub type FnHttpStatus = unsafe extern "C" fn(PVOID, HP_CONNID, USHORT, *const c_char) -> c_int;
/// `HP_FN_Http_OnParseError`: (sender, conn, error code, description).
pub type FnHttpError = unsafe extern "C" fn(PVOID, HP_CONNID, c_int, *const c_char) -> c_int;
/// `HP_FN_Http_OnWSMessageHeader`: (sender, conn, final, reserved, opcode, mask, length).
pub type FnWsHeader =
    unsafe extern "C" fn(PVOID, HP_CONNID, BOOL, u8, u8, *const u8, ULONGLONG) -> c_int;

/// The callbacks every HTTP listener has (HP's `IHttpListenerT`), after its socket ones.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct HttpFns {
    pub(crate) message_begin: Option<FnConn>,
    pub(crate) header: Option<FnHttpText>,
    pub(crate) headers_complete: Option<FnConn>,
    pub(crate) body: Option<FnData>,
    pub(crate) chunk_header: Option<FnLength>,
    pub(crate) chunk_complete: Option<FnConn>,
    pub(crate) message_complete: Option<FnConn>,
    pub(crate) upgrade: Option<FnLength>,
    pub(crate) parse_error: Option<FnHttpError>,
    pub(crate) ws_header: Option<FnWsHeader>,
    pub(crate) ws_body: Option<FnData>,
    pub(crate) ws_complete: Option<FnConn>,
}

/// `En_HP_HttpParseResult` of a callback other than `OnHeadersComplete` (unset: go on).
pub(crate) fn hpr(v: Option<c_int>) -> HandleResult {
    match v {
        Some(hpr::HPR_ERROR) => HandleResult::Error,
        _ => HandleResult::Ok,
    }
}

/// What a synchronous request waits for.
#[derive(Default)]
pub(crate) struct SyncState {
    /// The request in flight has its answer (Ok) or failed (the errno).
    pub done: Option<Result<(), c_int>>,
    /// The answer's body.
    pub body: Vec<u8>,
}

/// One run's HTTP side: the component (set by `Start`, or by the first callback of a run that
/// `Start` has not installed yet), each connection's last message, the WebSocket decoders of
/// upgraded connections (each touched by its own thread only; taken out while its callbacks
/// run), and a synchronous client's request state.
pub(crate) struct HttpRun<S> {
    pub side: OnceLock<S>,
    pub msgs: Messages,
    ws: PerShard<FrameDecoder>,
    pub sync: Mutex<SyncState>,
    pub sync_ready: Condvar,
}

impl<S> Default for HttpRun<S> {
    fn default() -> Self {
        HttpRun {
            side: OnceLock::new(),
            msgs: Messages::default(),
            ws: PerShard::default(),
            sync: Mutex::new(SyncState::default()),
            sync_ready: Condvar::new(),
        }
    }
}

impl<S> HttpRun<S> {
    fn ws(&self, key: u64) -> MutexGuard<'_, IdMap<FrameDecoder>> {
        self.ws.lock(key)
    }
    pub(crate) fn sync(&self) -> MutexGuard<'_, SyncState> {
        self.sync.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Ends the synchronous request in flight (if any) with `r`.
    pub(crate) fn finish_sync(&self, r: Result<(), c_int>) {
        let mut s = self.sync();
        if s.done.is_none() {
            s.done = Some(r);
        }
        drop(s);
        self.sync_ready.notify_all();
    }
    /// A WebSocket upgrade: frames follow on `key`.
    pub(crate) fn upgraded(&self, key: u64) {
        self.ws(key).insert(key, FrameDecoder::new());
    }
    /// The connection filed under `key` closed: its WebSocket decoder goes, and its last
    /// message too unless `keep_message`.
    pub(crate) fn conn_closed(&self, key: u64, keep_message: bool) {
        self.ws(key).remove(&key);
        if !keep_message {
            self.msgs.closed(key);
        }
    }
}

/// The run `g` holds and its component (None, errno EPERM, before `Start` installed it).
pub(crate) fn started<S: 'static>(
    g: &Option<crate::handle::HttpGuard<HttpRun<S>>>,
) -> Option<(&HttpRun<S>, &S)> {
    let r: &HttpRun<S> = g.as_ref()?;
    let s = r.side.get();
    if s.is_none() {
        set_errno(libc::EPERM);
    }
    Some((r, s?))
}

/// Calls into one listener's HTTP callbacks, with `sender` as pSender.
pub(crate) struct Caller<'a, S> {
    pub fns: &'a HttpFns,
    pub sender: PVOID,
    pub run: &'a HttpRun<S>,
}

fn id(key: u64) -> HP_CONNID {
    key as HP_CONNID
}

impl<S> Caller<'_, S> {
    /// (sender, conn) callbacks returning `En_HP_HttpParseResult`.
    pub(crate) fn conn(&self, f: Option<FnConn>, c: u64) -> HandleResult {
        // SAFETY: a C callback with HP's signature.
        hpr(f.map(|f| unsafe { f(self.sender, id(c)) }))
    }
    pub(crate) fn message_begin(&self, key: u64, c: u64) -> HandleResult {
        self.run.msgs.begin(key);
        self.conn(self.fns.message_begin, c)
    }
    pub(crate) fn header(&self, key: u64, c: u64, name: &str, value: &[u8]) -> HandleResult {
        if self.fns.header.is_none() {
            // The complete head files every field at once (`fill_request` /
            // `fill_response`): one lock per message instead of one per field. (A head that
            // fails to parse then leaves no fields for `OnParseError`'s getters.)
            return HandleResult::Ok;
        }
        // Filed first: the callback gets the message's own strings (valid until the next
        // message, as the getters' are).
        let (n, v) = self
            .run
            .msgs
            .with(key, |m| m.headers.push(name.as_bytes(), value));
        text(self.fns.header, self.sender, c, n, v)
    }
    /// `OnHeadersComplete`'s result as the decoder's action; `upgrade`: the message asks to
    /// switch protocols (HPR_OK then goes there too).
    pub(crate) fn headers_complete(&self, c: u64, upgrade: bool) -> HeadAction {
        let v = match self.fns.headers_complete {
            // SAFETY: a C callback with HP's signature.
            Some(f) => unsafe { f(self.sender, id(c)) },
            None => hpr::HPR_OK,
        };
        match v {
            hpr::HPR_OK if upgrade => HeadAction::Upgrade,
            hpr::HPR_OK => HeadAction::Continue,
            hpr::HPR_SKIP_BODY => HeadAction::SkipBody,
            hpr::HPR_UPGRADE => HeadAction::Upgrade,
            _ => HeadAction::Error,
        }
    }
    pub(crate) fn body(&self, c: u64, data: &[u8]) -> HandleResult {
        hpr(self.fns.body.map(|f| {
            let n = data.len().min(c_int::MAX as usize) as c_int;
            // SAFETY: a C callback with HP's signature; `data` lives for the call.
            unsafe { f(self.sender, id(c), data.as_ptr(), n) }
        }))
    }
    pub(crate) fn chunk_header(&self, c: u64, len: u64) -> HandleResult {
        hpr(self.fns.chunk_header.map(|f| {
            // SAFETY: a C callback with HP's signature.
            unsafe { f(self.sender, id(c), len.min(c_int::MAX as u64) as c_int) }
        }))
    }
    /// HP: the upgrading message completes (`OnMessageComplete`), then `OnUpgrade`.
    pub(crate) fn upgrade(&self, key: u64, c: u64, t: c_int) -> HandleResult {
        if self.conn(self.fns.message_complete, c) == HandleResult::Error {
            return HandleResult::Error;
        }
        if t == hut::HUT_WEB_SOCKET {
            self.run.upgraded(key);
        }
        // SAFETY: a C callback with HP's signature.
        hpr(self
            .fns
            .upgrade
            .map(|f| unsafe { f(self.sender, id(c), t) }))
    }
    /// Bytes after an upgrade: WebSocket frames to the `OnWSMessage*` callbacks, anything
    /// else to `raw` (the listener's `OnReceive`).
    pub(crate) fn upgraded_data(
        &self,
        key: u64,
        c: u64,
        data: &[u8],
        raw: Option<FnData>,
    ) -> HandleResult {
        let Some(mut dec) = self.run.ws(key).remove(&key) else {
            return call::data(raw, self.sender, id(c), data);
        };
        let mut d = WsDispatch {
            at: self,
            key,
            conn: c,
            failed: false,
        };
        let mut scratch = Vec::new();
        dec.feed(data, &mut scratch, &mut d);
        self.run.ws(key).insert(key, dec);
        if d.failed {
            HandleResult::Error
        } else {
            HandleResult::Ok
        }
    }
    pub(crate) fn parse_error(&self, key: u64, c: u64, status: u16, desc: &str) {
        let d = self.run.msgs.with(key, |m| {
            m.parse_error.0 = status;
            m.parse_error.1.set(desc.as_bytes());
            m.parse_error.1.as_ptr()
        });
        if let Some(f) = self.fns.parse_error {
            // SAFETY: a C callback with HP's signature; `d` is the message's, valid for the
            // call.
            unsafe { f(self.sender, id(c), c_int::from(status), d) };
        }
    }
}

/// (sender, conn, text, text) callbacks.
pub(crate) fn text(
    f: Option<FnHttpText>,
    sender: PVOID,
    c: u64,
    a: *const c_char,
    b: *const c_char,
) -> HandleResult {
    // SAFETY: a C callback with HP's signature; the strings live for the call.
    hpr(f.map(|f| unsafe { f(sender, id(c), a, b) }))
}

/// Feeds WebSocket bytes to the C callbacks.
struct WsDispatch<'a, 'b, S> {
    at: &'a Caller<'b, S>,
    key: u64,
    conn: u64,
    failed: bool,
}

impl<S> WsDispatch<'_, '_, S> {
    fn flow(&mut self, r: HandleResult) -> FrameFlow {
        if r == HandleResult::Error {
            self.failed = true;
            FrameFlow::Stop
        } else {
            FrameFlow::Continue
        }
    }
}

impl<S> FrameHandler for WsDispatch<'_, '_, S> {
    fn on_header(&mut self, h: &FrameHeader) -> FrameFlow {
        let st = WsState {
            fin: h.fin,
            rsv: h.rsv,
            opcode: h.opcode,
            mask: h.mask,
            len: h.len,
            remain: h.len,
        };
        self.at.run.msgs.with(self.key, |m| m.ws = Some(st));
        let mask = h.mask.unwrap_or_default();
        let (sender, c) = (self.at.sender, id(self.conn));
        let r = self.at.fns.ws_header.map_or(HandleResult::Ignore, |f| {
            let mask_ptr = if h.mask.is_some() {
                mask.as_ptr()
            } else {
                std::ptr::null()
            };
            // SAFETY: a C callback with HP's signature; the mask lives for the call.
            hr_of(unsafe { f(sender, c, b(h.fin), h.rsv, h.opcode, mask_ptr, h.len) })
        });
        self.flow(r)
    }
    fn on_payload(&mut self, data: &[u8], _offset: u64) -> FrameFlow {
        self.at.run.msgs.with(self.key, |m| {
            if let Some(w) = m.ws.as_mut() {
                w.remain = w.remain.saturating_sub(data.len() as u64);
            }
        });
        let r = call::data(self.at.fns.ws_body, self.at.sender, id(self.conn), data);
        self.flow(r)
    }
    fn on_frame_end(&mut self) -> FrameFlow {
        let r = call::conn(self.at.fns.ws_complete, self.at.sender, id(self.conn));
        self.flow(r)
    }
}
