//! The request calls HP's HTTP client and agent share (`HP_HttpClient_SendGet(p, …)`,
//! `HP_HttpAgent_SendGet(p, conn, …)`, …): one implementation over [`Requests`], and
//! [`request_exports!`], which exports it under each family's names and arguments.
//!
//! Each call borrows the component from the handle's run (no clone) and sends without
//! copying the caller's body: a request is one gather write of head and body, a chunk one
//! of its size line, data and CRLF.

use crate::error::{done, set_errno};
use crate::handle::HttpGuard;
use crate::http_callbacks::HttpRun;
use crate::http_message::{headers_in, ws_frame, HP_TNVPair, HeaderList};
use crate::types::*;
use shardnet_components::http::{HttpAgent, HttpClient};
use shardnet_components::Result;
use shardnet_runtime::ConnId;
use std::borrow::Cow;
use std::ffi::{c_char, c_int};
use std::path::Path;

/// A component that sends requests on a connection.
pub(crate) trait Requests: 'static {
    fn request(
        &self,
        c: ConnId,
        m: &str,
        path: &str,
        hs: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()>;
    fn local_file(
        &self,
        c: ConnId,
        m: &str,
        path: &str,
        hs: &[(&str, &str)],
        f: &Path,
    ) -> Result<()>;
    /// Bytes as they are, one gather write of `parts`.
    fn raw(&self, c: ConnId, parts: &[&[u8]]) -> Result<()>;
    fn connected(&self, c: ConnId) -> bool;
}

impl Requests for HttpClient {
    fn request(
        &self,
        _: ConnId,
        m: &str,
        path: &str,
        hs: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.send_request(m, path, hs, body)
    }
    fn local_file(
        &self,
        _: ConnId,
        m: &str,
        path: &str,
        hs: &[(&str, &str)],
        f: &Path,
    ) -> Result<()> {
        self.send_local_file(m, path, hs, f)
    }
    fn raw(&self, _: ConnId, parts: &[&[u8]]) -> Result<()> {
        self.send_packets(parts)
    }
    fn connected(&self, _: ConnId) -> bool {
        self.is_connected()
    }
}

impl Requests for HttpAgent {
    fn request(
        &self,
        c: ConnId,
        m: &str,
        path: &str,
        hs: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.send_request(c, m, path, hs, body)
    }
    fn local_file(
        &self,
        c: ConnId,
        m: &str,
        path: &str,
        hs: &[(&str, &str)],
        f: &Path,
    ) -> Result<()> {
        self.send_local_file(c, m, path, hs, f)
    }
    fn raw(&self, c: ConnId, parts: &[&[u8]]) -> Result<()> {
        self.send_packets(c, parts)
    }
    fn connected(&self, c: ConnId) -> bool {
        self.is_connected(c)
    }
}

/// A request call's target: the run of a started component and the connection.
pub(crate) type Target<S> = Option<(HttpGuard<HttpRun<S>>, ConnId)>;

/// The component of `t` (None, errno EPERM, before `Start` installed it).
fn side<S: 'static>(t: &Target<S>) -> Option<(&S, ConnId)> {
    let (g, c) = t.as_ref()?;
    let r: &HttpRun<S> = g;
    let s = r.side.get();
    if s.is_none() {
        set_errno(libc::EPERM);
    }
    Some((s?, *c))
}

/// HP's methods are upper-cased; most already are, and are not copied.
fn upper(m: &str) -> Cow<'_, str> {
    if m.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(m.to_ascii_uppercase())
    } else {
        Cow::Borrowed(m)
    }
}

/// `SendRequest`: the method upper-cased (HP's), an empty path as `/`.
///
/// # Safety
/// Strings are NULL or C strings; `headers` has `n` pairs; `body` has `len` readable bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn request<R: Requests>(
    t: Target<R>,
    method: Option<&str>,
    path: *const c_char,
    headers: *const HP_TNVPair,
    n: c_int,
    body: *const u8,
    len: c_int,
) -> BOOL {
    let Some((r, c)) = side(&t) else {
        return FALSE;
    };
    let mut hs = HeaderList::new();
    // SAFETY: per the contract.
    let (path, ok, body) = unsafe { (text(path), hs.read_c(headers, n), bytes(body, len)) };
    let (Some(m), Some(path), true, Some(body)) = (method, path, ok, body) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    let m = upper(m);
    let path = if path.is_empty() { "/" } else { path };
    done(r.request(c, &m, path, &hs, body))
}

/// `SendLocalFile`.
///
/// # Safety
/// Strings are NULL or C strings; `headers` has `n` pairs.
pub(crate) unsafe fn local_file<R: Requests>(
    t: Target<R>,
    name: *const c_char,
    method: *const c_char,
    path: *const c_char,
    headers: *const HP_TNVPair,
    n: c_int,
) -> BOOL {
    let Some((r, c)) = side(&t) else {
        return FALSE;
    };
    // SAFETY: per the contract.
    let (name, m, path, hs) =
        unsafe { (text(name), text(method), text(path), headers_in(headers, n)) };
    let (Some(name), Some(m), Some(path), Some(hs)) = (name, m, path, hs) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    done(r.local_file(c, &upper(m), path, &hs, Path::new(name)))
}

/// `SendChunkData`: one chunk (`len` 0: the last).
///
/// # Safety
/// `data` has `len` readable bytes; `ext` is NULL or a C string.
pub(crate) unsafe fn chunk<R: Requests>(
    t: Target<R>,
    data: *const u8,
    len: c_int,
    ext: *const c_char,
) -> BOOL {
    let Some((r, c)) = side(&t) else {
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
        |parts| r.raw(c, parts),
    ))
}

/// `SendWSMessage`: one frame, masked with `mask` (NULL: unmasked, as HP).
///
/// # Safety
/// `mask` is NULL or 4 readable bytes; `data` has `len` readable bytes.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn ws_message<R: Requests>(
    t: Target<R>,
    fin: BOOL,
    reserved: u8,
    opcode: u8,
    mask: *const u8,
    data: *const u8,
    len: c_int,
    body_len: ULONGLONG,
) -> BOOL {
    let Some((r, c)) = side(&t) else {
        return FALSE;
    };
    // SAFETY: per the contract.
    let Some(d) = (unsafe { bytes(data, len) }) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    // SAFETY: 4 readable bytes when not NULL, per the contract.
    let key = (!mask.is_null()).then(|| unsafe { *(mask as *const [u8; 4]) });
    match ws_frame(fin != FALSE, reserved, opcode, d, body_len, key) {
        Some(out) => done(r.raw(c, &[&out])),
        None => {
            set_errno(libc::EINVAL);
            FALSE
        }
    }
}

/// `StartHttp`: shardnet's clients parse from the first byte, so this answers TRUE once
/// connected.
pub(crate) fn start_http<R: Requests>(t: Target<R>) -> BOOL {
    match side(&t) {
        Some((r, c)) if r.connected(c) => TRUE,
        Some(_) => {
            set_errno(libc::ENOTCONN);
            FALSE
        }
        None => FALSE,
    }
}

/// Exports the request calls for one family: `$look(p, extra args…)` gives the run and the
/// connection ([`Target`]).
macro_rules! request_exports {
    ($look:path, $args:tt {
        request: $request:ident, local_file: $local_file:ident, chunk: $chunk:ident,
        ws: $ws:ident, start_http: $start_http:ident,
        with_body: [$($wb:ident => $wbm:literal),*],
        bodyless: [$($nb:ident => $nbm:literal),*],
    }) => {
        $crate::http_requests::request_main!($look, $args, $request, $local_file, $chunk, $ws, $start_http);
        $($crate::http_requests::method_sender!($look, $args, $wb, $wbm, body);)*
        $($crate::http_requests::method_sender!($look, $args, $nb, $nbm, none);)*
    };
}
pub(crate) use request_exports;

/// The fixed part of [`request_exports!`].
macro_rules! request_main {
    ($look:path, ($($a:ident: $t:ty),*), $request:ident, $local_file:ident, $chunk:ident, $ws:ident, $start_http:ident) => {
        /// Sends a request: `method path`, the headers, Host and Content-Length unless given,
        /// the body.
        ///
        /// # Safety
        /// Strings are C strings; `headers` has `n` pairs; `body` has `len` readable bytes.
        #[no_mangle]
        pub unsafe extern "C" fn $request(
            p: PVOID,
            $($a: $t,)*
            method: *const std::ffi::c_char,
            path: *const std::ffi::c_char,
            headers: *const $crate::http_message::HP_TNVPair,
            n: std::ffi::c_int,
            body: *const u8,
            len: std::ffi::c_int,
        ) -> BOOL {
            $crate::error::guard(FALSE, || {
                // SAFETY: per the contract.
                let m = unsafe { text(method) };
                // SAFETY: per the contract.
                unsafe { $crate::http_requests::request($look(p, $($a),*), m, path, headers, n, body, len) }
            })
        }
        /// Sends a request whose body is the file `name`.
        ///
        /// # Safety
        /// Strings are C strings; `headers` has `n` pairs.
        #[no_mangle]
        pub unsafe extern "C" fn $local_file(
            p: PVOID,
            $($a: $t,)*
            name: *const std::ffi::c_char,
            method: *const std::ffi::c_char,
            path: *const std::ffi::c_char,
            headers: *const $crate::http_message::HP_TNVPair,
            n: std::ffi::c_int,
        ) -> BOOL {
            $crate::error::guard(FALSE, || {
                // SAFETY: per the contract.
                unsafe { $crate::http_requests::local_file($look(p, $($a),*), name, method, path, headers, n) }
            })
        }
        /// Sends one chunk of a chunked request body (`len` 0: the last chunk); the request
        /// was sent with `Transfer-Encoding: chunked`.
        ///
        /// # Safety
        /// `data` has `len` readable bytes; `ext` is NULL or a C string.
        #[no_mangle]
        pub unsafe extern "C" fn $chunk(
            p: PVOID,
            $($a: $t,)*
            data: *const u8,
            len: std::ffi::c_int,
            ext: *const std::ffi::c_char,
        ) -> BOOL {
            $crate::error::guard(FALSE, || {
                // SAFETY: per the contract.
                unsafe { $crate::http_requests::chunk($look(p, $($a),*), data, len, ext) }
            })
        }
        /// Sends one WebSocket frame, masked with `mask` (NULL: unmasked, as HP).
        ///
        /// # Safety
        /// `mask` is NULL or 4 readable bytes; `data` has `len` readable bytes.
        #[no_mangle]
        #[allow(clippy::too_many_arguments)]
        pub unsafe extern "C" fn $ws(
            p: PVOID,
            $($a: $t,)*
            fin: BOOL,
            reserved: u8,
            opcode: u8,
            mask: *const u8,
            data: *const u8,
            len: std::ffi::c_int,
            body_len: ULONGLONG,
        ) -> BOOL {
            $crate::error::guard(FALSE, || {
                // SAFETY: per the contract.
                unsafe {
                    $crate::http_requests::ws_message(
                        $look(p, $($a),*), fin, reserved, opcode, mask, data, len, body_len,
                    )
                }
            })
        }
        /// Starts HTTP on a connection started with automatic start off (shardnet's parse
        /// from the first byte: TRUE once connected).
        #[no_mangle]
        pub extern "C" fn $start_http(p: PVOID, $($a: $t),*) -> BOOL {
            $crate::error::guard(FALSE, || $crate::http_requests::start_http($look(p, $($a),*)))
        }
    };
}
pub(crate) use request_main;

/// One method's sender of [`request_exports!`].
macro_rules! method_sender {
    ($look:path, ($($a:ident: $t:ty),*), $wb:ident, $wbm:literal, body) => {
        #[doc = concat!("Sends a `", $wbm, "` request with a body.")]
        ///
        /// # Safety
        /// `path` is a C string; `headers` has `n` pairs; `body` has `len` readable bytes.
        #[no_mangle]
        pub unsafe extern "C" fn $wb(
            p: PVOID,
            $($a: $t,)*
            path: *const std::ffi::c_char,
            headers: *const $crate::http_message::HP_TNVPair,
            n: std::ffi::c_int,
            body: *const u8,
            len: std::ffi::c_int,
        ) -> BOOL {
            $crate::error::guard(FALSE, || {
                // SAFETY: per the contract.
                unsafe { $crate::http_requests::request($look(p, $($a),*), Some($wbm), path, headers, n, body, len) }
            })
        }
    };
    ($look:path, ($($a:ident: $t:ty),*), $nb:ident, $nbm:literal, none) => {
        #[doc = concat!("Sends a `", $nbm, "` request.")]
        ///
        /// # Safety
        /// `path` is a C string; `headers` has `n` pairs.
        #[no_mangle]
        pub unsafe extern "C" fn $nb(
            p: PVOID,
            $($a: $t,)*
            path: *const std::ffi::c_char,
            headers: *const $crate::http_message::HP_TNVPair,
            n: std::ffi::c_int,
        ) -> BOOL {
            $crate::error::guard(FALSE, || {
                // SAFETY: per the contract.
                unsafe {
                    $crate::http_requests::request(
                        $look(p, $($a),*), Some($nbm), path, headers, n, std::ptr::null(), 0,
                    )
                }
            })
        }
    };
}
pub(crate) use method_sender;

/// Boolean settings of an HTTP component kept in its knobs (set before Start, as HP's).
macro_rules! http_knobs {
    ($handle:path: $($set:ident, $get:ident => $field:ident;)*) => {$(
        /// A setting (before Start, as HP's).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, on: BOOL) {
            $crate::error::guard((), || {
                if let Some(h) = $handle(p) {
                    h.knobs().$field = on != FALSE;
                }
            })
        }
        /// See the setter.
        #[no_mangle]
        pub extern "C" fn $get(p: PVOID) -> BOOL {
            $crate::error::guard(FALSE, || $handle(p).map_or(FALSE, |h| b(h.knobs().$field)))
        }
    )*};
}
pub(crate) use http_knobs;

/// `SetLocalVersion` / `GetLocalVersion` (kept for the getter: shardnet speaks HTTP/1.1).
macro_rules! local_version {
    ($handle:path: $set:ident, $get:ident) => {
        /// The HTTP version of the messages this component sends (kept for its getter:
        /// shardnet sends HTTP/1.1).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: std::ffi::c_int) {
            $crate::error::guard((), || {
                if let Some(h) = $handle(p) {
                    h.knobs().local_version = v;
                }
            })
        }
        /// See the setter.
        #[no_mangle]
        pub extern "C" fn $get(p: PVOID) -> std::ffi::c_int {
            $crate::error::guard(hv::HV_1_1, || {
                $handle(p).map_or(hv::HV_1_1, |h| h.knobs().local_version)
            })
        }
    };
}
pub(crate) use local_version;
