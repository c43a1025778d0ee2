//! The getters every HTTP component has (`HP_HttpServer_GetHeader`, `HP_HttpAgent_GetHeader`,
//! `HP_HttpClient_GetHeader`, …): one implementation over a connection's last message, and
//! [`message_getters!`], which exports it under each family's names and arguments (a server
//! or agent names the connection, a client has one).

use crate::error::set_errno;
use crate::http_message::{pairs, put_list, CText, HP_TNVPair, HttpMessage, Messages};
use crate::types::*;
use std::ffi::{c_char, c_int};

/// The message of `key` in `m` read with `f`; None (errno ENOENT) without one.
pub(crate) fn read<R>(m: Option<(&Messages, u64)>, f: impl FnOnce(&HttpMessage) -> R) -> Option<R> {
    let (msgs, key) = m?;
    msgs.read(key, f)
}

pub(crate) fn ptr(s: Option<&CText>) -> *const c_char {
    s.map_or(std::ptr::null(), |s| s.as_ptr())
}

pub(crate) fn is_upgrade(m: Option<(&Messages, u64)>) -> BOOL {
    read(m, |m| b(m.upgrade != hut::HUT_NONE)).unwrap_or(FALSE)
}
pub(crate) fn is_keep_alive(m: Option<(&Messages, u64)>) -> BOOL {
    read(m, |m| b(m.keep_alive)).unwrap_or(FALSE)
}
pub(crate) fn version(m: Option<(&Messages, u64)>) -> USHORT {
    read(m, |m| m.version).unwrap_or(0)
}
pub(crate) fn content_length(m: Option<(&Messages, u64)>) -> ULONGLONG {
    read(m, |m| m.content_length).unwrap_or(0)
}
pub(crate) fn header_value(m: Option<(&Messages, u64)>, name: &str) -> *const c_char {
    read(m, |m| ptr(m.header(name))).unwrap_or(std::ptr::null())
}
pub(crate) fn upgrade_type(m: Option<(&Messages, u64)>) -> c_int {
    read(m, |m| m.upgrade).unwrap_or(hut::HUT_NONE)
}

/// # Safety
/// `desc` is NULL or writable.
pub(crate) unsafe fn parse_error(m: Option<(&Messages, u64)>, desc: *mut *const c_char) -> USHORT {
    read(m, |m| {
        if !desc.is_null() {
            // SAFETY: writable per the contract.
            unsafe { *desc = m.parse_error.1.as_ptr() };
        }
        m.parse_error.0
    })
    .unwrap_or(0)
}

/// # Safety
/// `name` is a C string; `value` NULL or writable.
pub(crate) unsafe fn header(
    m: Option<(&Messages, u64)>,
    name: *const c_char,
    value: *mut *const c_char,
) -> BOOL {
    // SAFETY: per the contract.
    let Some(name) = (unsafe { text(name) }) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    let v = read(m, |m| m.header(name).map(|v| v.as_ptr())).flatten();
    crate::complex::put(v, value)
}

/// # Safety
/// `name` is a C string; `values` has `*count` writable slots.
pub(crate) unsafe fn headers(
    m: Option<(&Messages, u64)>,
    name: *const c_char,
    values: *mut *const c_char,
    count: *mut DWORD,
) -> BOOL {
    // SAFETY: per the contract.
    let Some(name) = (unsafe { text(name) }) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    let list = read(m, |m| {
        m.headers
            .as_slice()
            .iter()
            .filter(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_ptr())
            .collect::<Vec<_>>()
    })
    .unwrap_or_default();
    // SAFETY: per the contract.
    unsafe { put_list(&list, values, count) }
}

/// # Safety
/// `out` has `*count` writable slots.
pub(crate) unsafe fn all_headers(
    m: Option<(&Messages, u64)>,
    out: *mut HP_TNVPair,
    count: *mut DWORD,
) -> BOOL {
    let list = read(m, |m| pairs(&m.headers)).unwrap_or_default();
    // SAFETY: per the contract.
    unsafe { put_list(&list, out, count) }
}

/// # Safety
/// `out` has `*count` writable slots.
pub(crate) unsafe fn all_header_names(
    m: Option<(&Messages, u64)>,
    out: *mut *const c_char,
    count: *mut DWORD,
) -> BOOL {
    let list = read(m, |m| {
        let mut names: Vec<&CText> = Vec::new();
        for (n, _) in m.headers.as_slice() {
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
}

/// # Safety
/// `name` is a C string; `value` NULL or writable.
pub(crate) unsafe fn cookie(
    m: Option<(&Messages, u64)>,
    name: *const c_char,
    value: *mut *const c_char,
) -> BOOL {
    // SAFETY: per the contract.
    let Some(name) = (unsafe { text(name) }) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    let v = read(m, |m| {
        m.cookies
            .as_slice()
            .iter()
            .find(|(n, _)| n.as_bytes() == name.as_bytes())
            .map(|(_, v)| v.as_ptr())
    })
    .flatten();
    crate::complex::put(v, value)
}

/// # Safety
/// `out` has `*count` writable slots.
pub(crate) unsafe fn all_cookies(
    m: Option<(&Messages, u64)>,
    out: *mut HP_TNVPair,
    count: *mut DWORD,
) -> BOOL {
    let list = read(m, |m| pairs(&m.cookies)).unwrap_or_default();
    // SAFETY: per the contract.
    unsafe { put_list(&list, out, count) }
}

/// # Safety
/// Every out-pointer is NULL or writable.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn ws_state(
    m: Option<(&Messages, u64)>,
    fin: *mut BOOL,
    rsv: *mut u8,
    opcode: *mut u8,
    mask: *mut *const u8,
    len: *mut ULONGLONG,
    remain: *mut ULONGLONG,
) -> BOOL {
    let Some((msgs, key)) = m else {
        return FALSE;
    };
    let all = msgs.lock(key);
    let Some(w) = all.get(&key).and_then(|m| m.ws.as_ref()) else {
        set_errno(libc::ENOENT);
        return FALSE;
    };
    // SAFETY: each pointer is NULL or writable per the contract; the mask pointer names the
    // message's own copy (valid until the next frame).
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
}

/// Exports the common getters for one family: `$look(p, extra args…)` gives the run and the
/// message key (`Option<(Arc<HttpRun<_>>, u64)>`).
macro_rules! message_getters {
    ($look:path, ($($a:ident: $t:ty),*) {
        is_upgrade: $is_upgrade:ident, is_keep_alive: $is_keep_alive:ident,
        version: $version:ident, content_length: $content_length:ident,
        content_type: $content_type:ident, content_encoding: $content_encoding:ident,
        transfer_encoding: $transfer_encoding:ident, upgrade_type: $upgrade_type:ident,
        parse_error: $parse_error:ident, header: $header:ident, headers: $headers:ident,
        all_headers: $all_headers:ident, all_header_names: $all_header_names:ident,
        cookie: $cookie:ident, all_cookies: $all_cookies:ident, ws_state: $ws_state:ident,
    }) => {
        /// Whether the message asked to switch protocols.
        #[no_mangle]
        pub extern "C" fn $is_upgrade(p: PVOID, $($a: $t),*) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                $crate::http_getters::is_upgrade(r.as_ref().map(|(r, k)| (&r.msgs, *k)))
            })
        }
        /// Whether the connection stays open after this exchange.
        #[no_mangle]
        pub extern "C" fn $is_keep_alive(p: PVOID, $($a: $t),*) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                $crate::http_getters::is_keep_alive(r.as_ref().map(|(r, k)| (&r.msgs, *k)))
            })
        }
        /// The message's HTTP version, `MAKEWORD(major, minor)`.
        #[no_mangle]
        pub extern "C" fn $version(p: PVOID, $($a: $t),*) -> USHORT {
            $crate::error::guard(0, || {
                let r = $look(p, $($a),*);
                $crate::http_getters::version(r.as_ref().map(|(r, k)| (&r.msgs, *k)))
            })
        }
        /// Content-Length (0 without one).
        #[no_mangle]
        pub extern "C" fn $content_length(p: PVOID, $($a: $t),*) -> ULONGLONG {
            $crate::error::guard(0, || {
                let r = $look(p, $($a),*);
                $crate::http_getters::content_length(r.as_ref().map(|(r, k)| (&r.msgs, *k)))
            })
        }
        /// The `Content-Type` header, or NULL.
        #[no_mangle]
        pub extern "C" fn $content_type(p: PVOID, $($a: $t),*) -> *const std::ffi::c_char {
            $crate::error::guard(std::ptr::null(), || {
                let r = $look(p, $($a),*);
                $crate::http_getters::header_value(r.as_ref().map(|(r, k)| (&r.msgs, *k)), "Content-Type")
            })
        }
        /// The `Content-Encoding` header, or NULL.
        #[no_mangle]
        pub extern "C" fn $content_encoding(p: PVOID, $($a: $t),*) -> *const std::ffi::c_char {
            $crate::error::guard(std::ptr::null(), || {
                let r = $look(p, $($a),*);
                $crate::http_getters::header_value(r.as_ref().map(|(r, k)| (&r.msgs, *k)), "Content-Encoding")
            })
        }
        /// The `Transfer-Encoding` header, or NULL.
        #[no_mangle]
        pub extern "C" fn $transfer_encoding(p: PVOID, $($a: $t),*) -> *const std::ffi::c_char {
            $crate::error::guard(std::ptr::null(), || {
                let r = $look(p, $($a),*);
                $crate::http_getters::header_value(r.as_ref().map(|(r, k)| (&r.msgs, *k)), "Transfer-Encoding")
            })
        }
        /// `En_HP_HttpUpgradeType` of the message.
        #[no_mangle]
        pub extern "C" fn $upgrade_type(p: PVOID, $($a: $t),*) -> std::ffi::c_int {
            $crate::error::guard(hut::HUT_NONE, || {
                let r = $look(p, $($a),*);
                $crate::http_getters::upgrade_type(r.as_ref().map(|(r, k)| (&r.msgs, *k)))
            })
        }
        /// The last parse error (the HTTP status it was answered or refused with; 0: none) and
        /// its description.
        ///
        /// # Safety
        /// `desc` is NULL or writable.
        #[no_mangle]
        pub unsafe extern "C" fn $parse_error(p: PVOID, $($a: $t,)* desc: *mut *const std::ffi::c_char) -> USHORT {
            $crate::error::guard(0, || {
                let r = $look(p, $($a),*);
                // SAFETY: per the contract.
                unsafe { $crate::http_getters::parse_error(r.as_ref().map(|(r, k)| (&r.msgs, *k)), desc) }
            })
        }
        /// The first value of header `name` (case-insensitive).
        ///
        /// # Safety
        /// `name` is a C string; `value` writable.
        #[no_mangle]
        pub unsafe extern "C" fn $header(p: PVOID, $($a: $t,)* name: *const std::ffi::c_char, value: *mut *const std::ffi::c_char) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                // SAFETY: per the contract.
                unsafe { $crate::http_getters::header(r.as_ref().map(|(r, k)| (&r.msgs, *k)), name, value) }
            })
        }
        /// Every value of header `name` (HP's array protocol: `*count` in, count needed out).
        ///
        /// # Safety
        /// `name` is a C string; `values` has `*count` writable slots.
        #[no_mangle]
        pub unsafe extern "C" fn $headers(p: PVOID, $($a: $t,)* name: *const std::ffi::c_char, values: *mut *const std::ffi::c_char, count: *mut DWORD) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                // SAFETY: per the contract.
                unsafe { $crate::http_getters::headers(r.as_ref().map(|(r, k)| (&r.msgs, *k)), name, values, count) }
            })
        }
        /// Every header field, in order.
        ///
        /// # Safety
        /// `out` has `*count` writable slots.
        #[no_mangle]
        pub unsafe extern "C" fn $all_headers(p: PVOID, $($a: $t,)* out: *mut $crate::http_message::HP_TNVPair, count: *mut DWORD) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                // SAFETY: per the contract.
                unsafe { $crate::http_getters::all_headers(r.as_ref().map(|(r, k)| (&r.msgs, *k)), out, count) }
            })
        }
        /// Every header name, each once, in first-seen order.
        ///
        /// # Safety
        /// `out` has `*count` writable slots.
        #[no_mangle]
        pub unsafe extern "C" fn $all_header_names(p: PVOID, $($a: $t,)* out: *mut *const std::ffi::c_char, count: *mut DWORD) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                // SAFETY: per the contract.
                unsafe { $crate::http_getters::all_header_names(r.as_ref().map(|(r, k)| (&r.msgs, *k)), out, count) }
            })
        }
        /// The value of cookie `name`.
        ///
        /// # Safety
        /// `name` is a C string; `value` writable.
        #[no_mangle]
        pub unsafe extern "C" fn $cookie(p: PVOID, $($a: $t,)* name: *const std::ffi::c_char, value: *mut *const std::ffi::c_char) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                // SAFETY: per the contract.
                unsafe { $crate::http_getters::cookie(r.as_ref().map(|(r, k)| (&r.msgs, *k)), name, value) }
            })
        }
        /// Every cookie of the message.
        ///
        /// # Safety
        /// `out` has `*count` writable slots.
        #[no_mangle]
        pub unsafe extern "C" fn $all_cookies(p: PVOID, $($a: $t,)* out: *mut $crate::http_message::HP_TNVPair, count: *mut DWORD) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                // SAFETY: per the contract.
                unsafe { $crate::http_getters::all_cookies(r.as_ref().map(|(r, k)| (&r.msgs, *k)), out, count) }
            })
        }
        /// The WebSocket frame being received: final, RSV bits, opcode, mask (NULL if
        /// unmasked), payload length and what of it is still to come; FALSE outside a
        /// WebSocket connection.
        ///
        /// # Safety
        /// Every out-pointer is NULL or writable.
        #[no_mangle]
        #[allow(clippy::too_many_arguments)]
        pub unsafe extern "C" fn $ws_state(
            p: PVOID,
            $($a: $t,)*
            fin: *mut BOOL,
            rsv: *mut u8,
            opcode: *mut u8,
            mask: *mut *const u8,
            len: *mut ULONGLONG,
            remain: *mut ULONGLONG,
        ) -> BOOL {
            $crate::error::guard(FALSE, || {
                let r = $look(p, $($a),*);
                // SAFETY: per the contract.
                unsafe { $crate::http_getters::ws_state(r.as_ref().map(|(r, k)| (&r.msgs, *k)), fin, rsv, opcode, mask, len, remain) }
            })
        }
    };
}
pub(crate) use message_getters;
