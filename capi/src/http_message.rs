//! What HP-Socket's HTTP getters read: the last message parsed on each connection (request
//! line or status line, header fields, URL parts, cookies, framing) and the WebSocket frame
//! being received, kept as C strings so that the `LPCSTR`s the getters hand out stay valid
//! until the connection's next message begins or it closes (HP's rule).
//!
//! One [`Messages`] per running component, filled by its listener bridge on shard threads and
//! read by getters on any thread.

use crate::error::set_errno;
use crate::per_shard::PerShard;
use crate::types::*;
use shardnet_protocols::http::{RequestHead, UpgradeKind};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CString};
use std::sync::MutexGuard;

/// A header value or token as a C string (an interior NUL, which the HTTP codec refuses
/// anyway, gives an empty string).
pub(crate) fn cstr(b: &[u8]) -> CString {
    CString::new(b).unwrap_or_default()
}

/// `En_HP_HttpUpgradeType` of a request's upgrade.
pub(crate) fn upgrade_type(u: Option<UpgradeKind>) -> c_int {
    match u {
        None => hut::HUT_NONE,
        Some(UpgradeKind::WebSocket) => hut::HUT_WEB_SOCKET,
        Some(UpgradeKind::Tunnel) => hut::HUT_HTTP_TUNNEL,
        Some(UpgradeKind::Other) => hut::HUT_UNKNOWN,
    }
}

/// The WebSocket frame being received (`GetWSMessageState`).
#[derive(Clone, Copy, Default)]
pub(crate) struct WsState {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
    pub remain: u64,
}

/// One connection's last message.
#[derive(Default)]
pub(crate) struct HttpMessage {
    pub method: CString,
    pub url: CString,
    /// A response's status code.
    pub status: u16,
    /// `MAKEWORD(major, minor)`.
    pub version: u16,
    /// `HUF_*` fields of the URL (`None`: absent).
    pub url_fields: [Option<CString>; 7],
    pub headers: Vec<(CString, CString)>,
    pub cookies: Vec<(CString, CString)>,
    pub content_length: u64,
    pub keep_alive: bool,
    pub upgrade: c_int,
    /// (`GetParseErrorCode`, its description).
    pub parse_error: (u16, CString),
    /// The frame being received after a WebSocket upgrade.
    pub ws: Option<WsState>,
}

impl HttpMessage {
    /// The first value of `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&CString> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Fills what the head of a request says: version, URL parts, cookies, framing.
    pub(crate) fn fill_request(&mut self, h: &RequestHead<'_>) {
        self.method = cstr(h.method.as_bytes());
        self.url = cstr(h.target.as_bytes());
        self.version = make_version(h.version);
        if self.headers.is_empty() {
            self.headers = h
                .headers
                .iter()
                .map(|f| (cstr(f.name.as_bytes()), cstr(f.value)))
                .collect();
        }
        // The URL's own parts (HP parses the request target alone; Host is a header).
        let u = shardnet_protocols::http::UrlParts::parse(h.target, h.method == "CONNECT");
        let port = u.port.map(|p| p.to_string());
        let fields = [
            u.scheme,
            u.host,
            port.as_deref(),
            Some(u.path).filter(|p| !p.is_empty()),
            u.query,
            u.fragment,
            u.userinfo,
        ];
        for (slot, v) in self.url_fields.iter_mut().zip(fields) {
            *slot = v.map(|v| cstr(v.as_bytes()));
        }
        self.cookies = h
            .cookies()
            .into_iter()
            .map(|(n, v)| (cstr(n.as_bytes()), cstr(v.as_bytes())))
            .collect();
        self.content_length = h.content_length().unwrap_or(0);
        self.keep_alive = h.keep_alive;
        self.upgrade = upgrade_type(h.upgrade);
    }
}

impl HttpMessage {
    /// Fills what the head of a response says: status, version, Set-Cookie pairs, framing.
    pub(crate) fn fill_response(&mut self, h: &shardnet_protocols::http::ResponseHead<'_>) {
        self.status = h.status;
        self.version = make_version(h.version);
        if self.headers.is_empty() {
            self.headers = h
                .headers
                .iter()
                .map(|f| (cstr(f.name.as_bytes()), cstr(f.value)))
                .collect();
        }
        self.cookies = h
            .headers
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|f| {
                let pair = f.value.split(|&b| b == b';').next()?;
                let eq = pair.iter().position(|&b| b == b'=')?;
                Some((
                    cstr(pair[..eq].trim_ascii()),
                    cstr(pair[eq + 1..].trim_ascii()),
                ))
            })
            .collect();
        self.content_length = match h.framing {
            shardnet_protocols::http::ResponseFraming::Length(n) => n,
            _ => 0,
        };
        self.keep_alive = h.keep_alive;
        self.upgrade = if h.status == 101 {
            let ws = h
                .header("upgrade")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"));
            if ws {
                hut::HUT_WEB_SOCKET
            } else {
                hut::HUT_UNKNOWN
            }
        } else {
            hut::HUT_NONE
        };
    }
}

/// `MAKEWORD(1, minor)`: HP's `En_HP_HttpVersion` encoding.
pub(crate) fn make_version(minor: u8) -> u16 {
    1 | (u16::from(minor) << 8)
}

/// Every connection's last message (one lock per shard: see [`PerShard`]).
#[derive(Default)]
pub(crate) struct Messages(PerShard<Box<HttpMessage>>);

impl Messages {
    /// The messages of `conn`'s shard, locked.
    pub(crate) fn lock(&self, conn: u64) -> MutexGuard<'_, HashMap<u64, Box<HttpMessage>>> {
        self.0.lock(conn)
    }
    /// A new message begins on `conn`: the last one's strings are dropped.
    pub(crate) fn begin(&self, conn: u64) {
        let mut all = self.lock(conn);
        let ws = all.get(&conn).and_then(|m| m.ws);
        all.insert(
            conn,
            Box::new(HttpMessage {
                ws,
                ..Default::default()
            }),
        );
    }
    /// Runs `f` on `conn`'s message (created if it has none).
    pub(crate) fn with<R>(&self, conn: u64, f: impl FnOnce(&mut HttpMessage) -> R) -> R {
        f(self.lock(conn).entry(conn).or_default())
    }
    /// Runs `f` on `conn`'s message; None (errno ENOENT) without one.
    pub(crate) fn read<R>(&self, conn: u64, f: impl FnOnce(&HttpMessage) -> R) -> Option<R> {
        let m = self.lock(conn);
        match m.get(&conn) {
            Some(msg) => Some(f(msg)),
            None => {
                set_errno(libc::ENOENT);
                None
            }
        }
    }
    pub(crate) fn closed(&self, conn: u64) {
        self.lock(conn).remove(&conn);
    }
}

/// HP's array protocol: with room for `items` (`*count` ≥ their number) they are written and
/// TRUE returned; otherwise `*count` is set to the number needed and FALSE returned (errno
/// ENOBUFS). An empty list is FALSE with `*count` 0 (HP's too).
///
/// # Safety
/// `out` has `*count` writable elements when not NULL; `count` is NULL or valid.
pub(crate) unsafe fn put_list<T: Copy>(items: &[T], out: *mut T, count: *mut DWORD) -> BOOL {
    if count.is_null() {
        set_errno(libc::EINVAL);
        return FALSE;
    }
    // SAFETY: valid per the contract.
    let cap = unsafe { *count } as usize;
    // SAFETY: as above.
    unsafe { *count = items.len() as DWORD };
    if items.is_empty() {
        set_errno(libc::ENOENT);
        return FALSE;
    }
    if out.is_null() || cap < items.len() {
        set_errno(libc::ENOBUFS);
        return FALSE;
    }
    // SAFETY: `cap` ≥ `items.len()` writable elements at `out`, per the contract.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), out, items.len()) };
    TRUE
}

/// `HP_THeader` / `HP_TCookie`: a name and a value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HP_TNVPair {
    /// The name.
    pub name: *const c_char,
    /// The value.
    pub value: *const c_char,
}

/// The pairs of `list` as C pairs (pointers into the message).
pub(crate) fn pairs(list: &[(CString, CString)]) -> Vec<HP_TNVPair> {
    list.iter()
        .map(|(n, v)| HP_TNVPair {
            name: n.as_ptr(),
            value: v.as_ptr(),
        })
        .collect()
}

/// `HP_THeader lpHeaders[]` of `n` entries as (name, value) strings; None for NULL with `n` >
/// 0, a negative `n`, or a NULL or non-UTF-8 name or value.
///
/// # Safety
/// `p` has `n` readable pairs of C strings.
pub(crate) unsafe fn headers_in<'a>(
    p: *const HP_TNVPair,
    n: c_int,
) -> Option<Vec<(&'a str, &'a str)>> {
    if n < 0 || (n > 0 && p.is_null()) {
        return None;
    }
    if n == 0 {
        return Some(Vec::new());
    }
    // SAFETY: `n` pairs at `p`, per the contract.
    let list = unsafe { std::slice::from_raw_parts(p, n as usize) };
    list.iter()
        // SAFETY: each pair holds C strings, per the contract.
        .map(|h| Some((unsafe { text(h.name) }?, unsafe { text(h.value) }?)))
        .collect()
}

/// One chunk of HP's `SendChunkData` as the parts of one gather write, `data` not copied:
/// the size in hex, `;ext` (when given), CRLF, `data`, CRLF. Empty `data` is the last chunk.
pub(crate) fn with_chunk<T>(data: &[u8], ext: &str, send: impl FnOnce(&[&[u8]]) -> T) -> T {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut size = [0u8; 16];
    let mut at = size.len();
    let mut n = data.len();
    loop {
        at -= 1;
        size[at] = HEX[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    let sep: &[u8] = if ext.is_empty() || ext.starts_with(';') {
        b""
    } else {
        b";"
    };
    send(&[&size[at..], sep, ext.as_bytes(), b"\r\n", data, b"\r\n"])
}

/// A WebSocket frame of HP's `SendWSMessage`: header for a payload of `body_len` bytes (0:
/// `data.len()`), then `data` (masked with `mask` when given). None when `data` is longer than
/// `body_len` or the opcode does not fit four bits.
pub(crate) fn ws_frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    data: &[u8],
    body_len: u64,
    mask: Option<[u8; 4]>,
) -> Option<Vec<u8>> {
    let len = if body_len == 0 {
        data.len() as u64
    } else {
        body_len
    };
    if (data.len() as u64) > len || opcode > 0xF {
        return None;
    }
    let mut out = Vec::with_capacity(14 + data.len());
    shardnet_protocols::ws::frame::write_header(&mut out, fin, rsv & 7, opcode, mask, len);
    let start = out.len();
    out.extend_from_slice(data);
    if let Some(k) = mask {
        shardnet_protocols::ws::frame::apply_mask(&mut out[start..], k, 0);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::with_chunk;

    fn chunk(data: &[u8], ext: &str) -> Vec<u8> {
        with_chunk(data, ext, |parts| parts.concat())
    }

    #[test]
    fn chunks_are_framed_as_hp_frames_them() {
        assert_eq!(chunk(b"", ""), b"0\r\n\r\n");
        assert_eq!(chunk(b"abc", ""), b"3\r\nabc\r\n");
        assert_eq!(chunk(&[7; 255], "")[..4], *b"ff\r\n");
        assert_eq!(chunk(&[7; 4096], "")[..6], *b"1000\r\n");
        assert_eq!(chunk(b"x", "name=v"), b"1;name=v\r\nx\r\n");
        assert_eq!(chunk(b"x", ";a;b"), b"1;a;b\r\nx\r\n");
        assert_eq!(chunk(b"", "end"), b"0;end\r\n\r\n");
        let big = chunk(&[1; 0x12345], "");
        assert_eq!(&big[..7], b"12345\r\n");
        assert_eq!(big.len(), 7 + 0x12345 + 2);
    }
}
