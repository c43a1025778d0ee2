//! What HP-Socket's HTTP getters read: the last message parsed on each connection (request
//! line or status line, header fields, URL parts, cookies, framing) and the WebSocket frame
//! being received, kept as C strings so that the `LPCSTR`s the getters hand out stay valid
//! until the connection's next message begins or it closes (HP's rule).
//!
//! One [`Messages`] per running component, filled by its listener bridge on shard threads and
//! read by getters on any thread.

use crate::error::set_errno;
use crate::per_shard::{IdMap, PerShard};
use crate::types::*;
use shardnet_protocols::http::{RequestHead, UpgradeKind};
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

/// A NUL-terminated copy of some bytes, for HP's getters. [`CText::set`] reuses the buffer,
/// so a connection's next message costs no allocation once its strings have been as long.
/// Bytes holding a NUL (which the HTTP codec refuses anyway) read as `""`, as [`cstr`].
#[derive(Default, Clone)]
pub(crate) struct CText(Vec<u8>);

impl CText {
    /// Copies `b` (and a NUL) into the buffer.
    pub(crate) fn set(&mut self, b: &[u8]) {
        self.0.clear();
        if !b.contains(&0) {
            self.0.extend_from_slice(b);
        }
        self.0.push(0);
    }
    /// Back to `""`, keeping the buffer.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
    /// The C string (valid until the next `set` or `clear`).
    pub(crate) fn as_ptr(&self) -> *const c_char {
        if self.0.is_empty() {
            c"".as_ptr()
        } else {
            self.0.as_ptr().cast()
        }
    }
    /// The bytes, without the NUL.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.split_last().map_or(&[], |(_, b)| b)
    }
}

/// Name/value pairs whose buffers the next message reuses.
#[derive(Default)]
pub(crate) struct Pairs {
    items: Vec<(CText, CText)>,
    len: usize,
}

impl Pairs {
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Appends a pair; returns its two C strings.
    pub(crate) fn push(&mut self, name: &[u8], value: &[u8]) -> (*const c_char, *const c_char) {
        if self.len == self.items.len() {
            self.items.push(Default::default());
        }
        let (n, v) = &mut self.items[self.len];
        n.set(name);
        v.set(value);
        self.len += 1;
        (n.as_ptr(), v.as_ptr())
    }
    pub(crate) fn as_slice(&self) -> &[(CText, CText)] {
        &self.items[..self.len]
    }
}

/// One connection's last message. A new message resets it in place ([`HttpMessage::reset`]):
/// its strings keep their buffers.
#[derive(Default)]
pub(crate) struct HttpMessage {
    pub method: CText,
    pub url: CText,
    /// A response's status code.
    pub status: u16,
    /// `MAKEWORD(major, minor)`.
    pub version: u16,
    /// `HUF_*` fields of the URL; bit `i` of `url_set` says whether field `i` is present.
    pub url_fields: [CText; 7],
    pub url_set: u16,
    pub headers: Pairs,
    pub cookies: Pairs,
    pub content_length: u64,
    pub keep_alive: bool,
    pub upgrade: c_int,
    /// (`GetParseErrorCode`, its description).
    pub parse_error: (u16, CText),
    /// The frame being received after a WebSocket upgrade.
    pub ws: Option<WsState>,
}

impl HttpMessage {
    /// The first value of `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&CText> {
        self.headers
            .as_slice()
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// A new message: every field as a fresh one's (the WebSocket frame state stays), the
    /// strings' buffers kept.
    pub(crate) fn reset(&mut self) {
        self.method.clear();
        self.url.clear();
        self.status = 0;
        self.version = 0;
        self.url_fields.iter_mut().for_each(CText::clear);
        self.url_set = 0;
        self.headers.clear();
        self.cookies.clear();
        self.content_length = 0;
        self.keep_alive = false;
        self.upgrade = 0;
        self.parse_error = (0, std::mem::take(&mut self.parse_error.1));
        self.parse_error.1.clear();
    }

    /// Fills what the head of a request says: version, URL parts, cookies, framing.
    pub(crate) fn fill_request(&mut self, h: &RequestHead<'_>) {
        self.method.set(h.method.as_bytes());
        self.url.set(h.target.as_bytes());
        self.version = make_version(h.version);
        if self.headers.is_empty() {
            for f in h.headers.iter() {
                self.headers.push(f.name.as_bytes(), f.value);
            }
        }
        // The URL's own parts (HP parses the request target alone; Host is a header).
        let u = shardnet_protocols::http::UrlParts::parse(h.target, h.method == "CONNECT");
        let mut digits = [0u8; 5];
        let port = u.port.map(|p| decimal(p, &mut digits));
        let fields: [Option<&[u8]>; 7] = [
            u.scheme.map(str::as_bytes),
            u.host.map(str::as_bytes),
            port,
            Some(u.path.as_bytes()).filter(|p| !p.is_empty()),
            u.query.map(str::as_bytes),
            u.fragment.map(str::as_bytes),
            u.userinfo.map(str::as_bytes),
        ];
        self.url_set = 0;
        for (i, (slot, v)) in self.url_fields.iter_mut().zip(fields).enumerate() {
            match v {
                Some(v) => {
                    slot.set(v);
                    self.url_set |= 1 << i;
                }
                None => slot.clear(),
            }
        }
        self.cookies.clear();
        for (n, v) in h.cookies() {
            self.cookies.push(n.as_bytes(), v.as_bytes());
        }
        self.content_length = h.content_length().unwrap_or(0);
        self.keep_alive = h.keep_alive;
        self.upgrade = upgrade_type(h.upgrade);
    }

    /// Fills what the head of a response says: status, version, Set-Cookie pairs, framing.
    pub(crate) fn fill_response(&mut self, h: &shardnet_protocols::http::ResponseHead<'_>) {
        self.status = h.status;
        self.version = make_version(h.version);
        if self.headers.is_empty() {
            for f in h.headers.iter() {
                self.headers.push(f.name.as_bytes(), f.value);
            }
        }
        self.cookies.clear();
        for f in h
            .headers
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("set-cookie"))
        {
            let Some(pair) = f.value.split(|&b| b == b';').next() else {
                continue;
            };
            if let Some(eq) = pair.iter().position(|&b| b == b'=') {
                self.cookies
                    .push(pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
            }
        }
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

/// `n` in decimal, written into `buf`.
fn decimal(mut n: u16, buf: &mut [u8; 5]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
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
    pub(crate) fn lock(&self, conn: u64) -> MutexGuard<'_, IdMap<Box<HttpMessage>>> {
        self.0.lock(conn)
    }
    /// A new message begins on `conn`: the last one is reset in place (its strings' buffers
    /// are reused; the pointers the getters gave for it are no longer valid, HP's rule).
    pub(crate) fn begin(&self, conn: u64) {
        let mut all = self.lock(conn);
        match all.get_mut(&conn) {
            Some(m) => m.reset(),
            None => {
                all.insert(conn, Box::default());
            }
        }
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
pub(crate) fn pairs(list: &Pairs) -> Vec<HP_TNVPair> {
    list.as_slice()
        .iter()
        .map(|(n, v)| HP_TNVPair {
            name: n.as_ptr(),
            value: v.as_ptr(),
        })
        .collect()
}

/// Header pairs from C, on the stack for the usual few (a list of more moves to the heap; 4
/// measured faster than 16, whose moves cost more than the allocation they save).
pub(crate) struct HeaderList<'a> {
    inline: [(&'a str, &'a str); HeaderList::INLINE],
    len: usize,
    more: Vec<(&'a str, &'a str)>,
}

impl<'a> HeaderList<'a> {
    const INLINE: usize = 4;

    pub(crate) fn new() -> Self {
        HeaderList {
            inline: [("", ""); Self::INLINE],
            len: 0,
            more: Vec::new(),
        }
    }

    /// Appends a pair.
    pub(crate) fn push(&mut self, pair: (&'a str, &'a str)) {
        if self.more.is_empty() && self.len < Self::INLINE {
            self.inline[self.len] = pair;
            self.len += 1;
            return;
        }
        if self.more.is_empty() {
            self.more.extend_from_slice(&self.inline[..self.len]);
        }
        self.more.push(pair);
    }
}

impl<'a> std::ops::Deref for HeaderList<'a> {
    type Target = [(&'a str, &'a str)];
    fn deref(&self) -> &Self::Target {
        if self.more.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.more
        }
    }
}

/// `HP_THeader lpHeaders[]` of `n` entries as (name, value) strings; None for NULL with `n` >
/// 0, a negative `n`, or a NULL or non-UTF-8 name or value.
///
/// # Safety
/// `p` has `n` readable pairs of C strings.
pub(crate) unsafe fn headers_in<'a>(p: *const HP_TNVPair, n: c_int) -> Option<HeaderList<'a>> {
    let mut out = HeaderList::new();
    // SAFETY: per the contract.
    unsafe { out.read_c(p, n) }.then_some(out)
}

impl<'a> HeaderList<'a> {
    /// [`headers_in`] into `self` (filled in place: the hot calls do not move the list);
    /// false for what `headers_in` refuses.
    ///
    /// # Safety
    /// `p` has `n` readable pairs of C strings.
    pub(crate) unsafe fn read_c(&mut self, p: *const HP_TNVPair, n: c_int) -> bool {
        if n < 0 || (n > 0 && p.is_null()) {
            return false;
        }
        if n == 0 {
            return true;
        }
        // SAFETY: `n` pairs at `p`, per the contract.
        let list = unsafe { std::slice::from_raw_parts(p, n as usize) };
        for h in list {
            // SAFETY: each pair holds C strings, per the contract.
            match unsafe { (text(h.name), text(h.value)) } {
                (Some(name), Some(value)) => self.push((name, value)),
                _ => return false,
            }
        }
        true
    }
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
    use super::{with_chunk, CText, HttpMessage, Pairs};
    use std::ffi::CStr;

    fn text(p: *const std::ffi::c_char) -> &'static str {
        // SAFETY: the tests keep the owner alive while they read.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn texts_and_pairs_reuse_their_buffers() {
        let mut t = CText::default();
        assert_eq!(text(t.as_ptr()), "");
        t.set(b"GET");
        assert_eq!((text(t.as_ptr()), t.as_bytes()), ("GET", &b"GET"[..]));
        let buf = t.as_ptr();
        t.set(b"PUT");
        assert_eq!(t.as_ptr(), buf, "no new allocation for a string as long");
        t.set(b"a\0b");
        assert_eq!((text(t.as_ptr()), t.as_bytes()), ("", &b""[..]));
        t.clear();
        assert_eq!(text(t.as_ptr()), "");

        let mut p = Pairs::default();
        let (n, v) = p.push(b"Host", b"example.com");
        assert_eq!((text(n), text(v)), ("Host", "example.com"));
        p.push(b"Accept", b"*/*");
        p.clear();
        assert!(p.is_empty() && p.as_slice().is_empty());
        p.push(b"X", b"1");
        assert_eq!(p.as_slice().len(), 1);
        assert_eq!(p.as_slice()[0].1.as_bytes(), b"1");
    }

    #[test]
    fn header_lists_spill_past_the_inline_four() {
        let mut l = super::HeaderList::new();
        let names: Vec<String> = (0..20).map(|i| format!("h{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            l.push((n, "v"));
            assert_eq!(l.len(), i + 1);
            assert_eq!(l[i].0, n.as_str());
            assert_eq!(l[0].0, "h0");
        }
    }

    #[test]
    fn a_reset_message_reads_as_a_new_one() {
        let mut m = HttpMessage::default();
        m.method.set(b"POST");
        m.url.set(b"/a?b");
        m.status = 200;
        m.version = 257;
        m.url_fields[3].set(b"/a");
        m.url_set = 1 << 3;
        m.headers.push(b"Host", b"h");
        m.cookies.push(b"sid", b"1");
        m.content_length = 9;
        m.keep_alive = true;
        m.upgrade = 1;
        m.parse_error.0 = 400;
        m.parse_error.1.set(b"bad");
        m.ws = Some(Default::default());
        m.reset();
        let fresh = HttpMessage::default();
        assert_eq!(text(m.method.as_ptr()), text(fresh.method.as_ptr()));
        assert_eq!(text(m.url.as_ptr()), "");
        assert_eq!((m.status, m.version, m.url_set), (0, 0, 0));
        assert!(m.url_fields.iter().all(|f| f.as_bytes().is_empty()));
        assert!(m.headers.is_empty() && m.cookies.is_empty() && m.header("host").is_none());
        assert_eq!((m.content_length, m.keep_alive, m.upgrade), (0, false, 0));
        assert_eq!((m.parse_error.0, text(m.parse_error.1.as_ptr())), (0, ""));
        assert!(
            m.ws.is_some(),
            "the WebSocket frame state outlives a message"
        );
    }

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
