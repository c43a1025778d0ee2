//! The opening handshake (RFC 6455 §4): the server's checks of an upgrade request and its
//! `101` answer, the client's request and its checks of the answer.

use super::deflate::{DeflateConfig, DeflateParams};
use crate::http::RequestHead;
use base64::Engine;
use sha1::{Digest, Sha1};

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A `Sec-WebSocket-Key` from 16 random bytes.
pub fn client_key(random: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(random)
}

/// Why an upgrade request is refused, with the status to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeError {
    /// HTTP status (400, or 426 for an unsupported version).
    pub status: u16,
    /// What was wrong.
    pub reason: &'static str,
}

/// What a valid upgrade request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The `Sec-WebSocket-Accept` value to answer with.
    pub accept: String,
    /// Subprotocols offered, in order.
    pub protocols: Vec<String>,
    /// permessage-deflate parameters if offered and acceptable under the server's config.
    pub deflate: Option<DeflateParams>,
}

fn has_token(v: &[u8], token: &str) -> bool {
    v.split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Checks an upgrade request (GET, HTTP/1.1, `Upgrade: websocket`, `Connection: upgrade`,
/// version 13, a 16-byte key) and negotiates permessage-deflate with `deflate` (None: never).
pub fn check_request(
    head: &RequestHead<'_>,
    deflate: Option<&DeflateConfig>,
) -> Result<UpgradeRequest, HandshakeError> {
    let bad = |reason| HandshakeError {
        status: 400,
        reason,
    };
    if head.method != "GET" || head.version != 1 {
        return Err(bad("a WebSocket upgrade is an HTTP/1.1 GET"));
    }
    let mut upgrade = false;
    let mut connection = false;
    let mut version = None;
    let mut key = None;
    let mut protocols = Vec::new();
    let mut extensions: Vec<&[u8]> = Vec::new();
    for f in head.headers {
        let n = f.name;
        if n.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(f.value, "websocket");
        } else if n.eq_ignore_ascii_case("connection") {
            connection |= has_token(f.value, "upgrade");
        } else if n.eq_ignore_ascii_case("sec-websocket-version") {
            version = Some(f.value.trim_ascii());
        } else if n.eq_ignore_ascii_case("sec-websocket-key") {
            if key.is_some() {
                return Err(bad("more than one Sec-WebSocket-Key"));
            }
            key = Some(f.value.trim_ascii());
        } else if n.eq_ignore_ascii_case("sec-websocket-protocol") {
            for p in f.value.split(|&b| b == b',') {
                let p = p.trim_ascii();
                if !p.is_empty() {
                    protocols.push(String::from_utf8_lossy(p).into_owned());
                }
            }
        } else if n.eq_ignore_ascii_case("sec-websocket-extensions") {
            extensions.push(f.value);
        }
    }
    if !upgrade || !connection {
        return Err(bad("missing Upgrade: websocket or Connection: upgrade"));
    }
    if version != Some(b"13") {
        return Err(HandshakeError {
            status: 426,
            reason: "unsupported Sec-WebSocket-Version (13 is)",
        });
    }
    let key = key.ok_or(bad("missing Sec-WebSocket-Key"))?;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(k) if k.len() == 16 => {}
        _ => return Err(bad("Sec-WebSocket-Key is not 16 bytes in base64")),
    }
    let deflate = deflate.and_then(|cfg| {
        extensions.iter().find_map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|v| cfg.accept_offer(v))
        })
    });
    Ok(UpgradeRequest {
        accept: accept_key(key),
        protocols,
        deflate,
    })
}

/// Writes the `101 Switching Protocols` answer.
pub fn write_accept(
    out: &mut Vec<u8>,
    accept: &str,
    protocol: Option<&str>,
    deflate: Option<&DeflateParams>,
    extra: &[(&str, &str)],
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(p) = protocol {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(p.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(d) = deflate {
        out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
        out.extend_from_slice(d.response().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (n, v) in extra {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The client's upgrade request headers (add them to a GET): key, version, the protocols and,
/// with `deflate`, a permessage-deflate offer.
pub fn request_headers(
    key: &str,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Vec<(String, String)> {
    let mut h = vec![
        ("Upgrade".to_string(), "websocket".to_string()),
        ("Connection".to_string(), "Upgrade".to_string()),
        ("Sec-WebSocket-Key".to_string(), key.to_string()),
        ("Sec-WebSocket-Version".to_string(), "13".to_string()),
    ];
    if !protocols.is_empty() {
        h.push(("Sec-WebSocket-Protocol".into(), protocols.join(", ")));
    }
    if let Some(d) = deflate {
        h.push(("Sec-WebSocket-Extensions".into(), d.offer()));
    }
    h
}

/// Checks the server's `101` answer to a request made with `key` that offered `protocols`;
/// returns the negotiated permessage-deflate parameters (None: not negotiated). A
/// `Sec-WebSocket-Protocol` the client did not offer fails the handshake (RFC 6455 §4.1).
pub fn check_accept(
    headers: &[httparse::Header<'_>],
    key: &str,
    protocols: &[&str],
    deflate_offered: Option<&DeflateConfig>,
) -> Result<Option<DeflateParams>, &'static str> {
    let mut protocol_seen = false;
    let mut accept_ok = false;
    let mut upgrade = false;
    let mut connection = false;
    let mut deflate = None;
    let want = accept_key(key.as_bytes());
    for f in headers {
        let n = f.name;
        if n.eq_ignore_ascii_case("sec-websocket-accept") {
            accept_ok = f.value.trim_ascii() == want.as_bytes();
        } else if n.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(f.value, "websocket");
        } else if n.eq_ignore_ascii_case("connection") {
            connection |= has_token(f.value, "upgrade");
        } else if n.eq_ignore_ascii_case("sec-websocket-protocol") {
            let v = std::str::from_utf8(f.value).map_err(|_| "bad Sec-WebSocket-Protocol")?;
            if protocol_seen || !protocols.contains(&v.trim()) {
                return Err("a subprotocol the client did not offer");
            }
            protocol_seen = true;
        } else if n.eq_ignore_ascii_case("sec-websocket-extensions") {
            let cfg = deflate_offered.ok_or("an extension the client did not offer")?;
            let v = std::str::from_utf8(f.value).map_err(|_| "bad Sec-WebSocket-Extensions")?;
            if deflate.is_some() {
                return Err("permessage-deflate accepted twice");
            }
            deflate = Some(cfg.check_response(v)?);
        }
    }
    if !upgrade || !connection {
        return Err("the answer lacks Upgrade: websocket / Connection: upgrade");
    }
    if !accept_ok {
        return Err("wrong Sec-WebSocket-Accept");
    }
    Ok(deflate)
}
