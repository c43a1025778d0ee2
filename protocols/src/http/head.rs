//! A validated request head and what it implies: body framing, keep-alive, upgrade.

use super::HttpError;

/// How the body of a request is delimited (RFC 9112 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no Content-Length, no Transfer-Encoding).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// What a request asks to switch to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeKind {
    /// `Upgrade: websocket` with `Connection: upgrade`.
    WebSocket,
    /// `CONNECT host:port`: a tunnel.
    Tunnel,
    /// Another protocol named in `Upgrade`.
    Other,
}

/// The request line and header fields of one request, borrowed from the bytes it was parsed
/// from (valid during the handler call), plus what they imply.
#[derive(Debug)]
pub struct RequestHead<'a> {
    /// Method token (`GET`, `POST`, …), case-sensitive as RFC 9110 says.
    pub method: &'a str,
    /// The request-target exactly as received.
    pub target: &'a str,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Every header field in order; names as received (compare case-insensitively).
    pub headers: &'a [httparse::Header<'a>],
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection stays open after this exchange (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// What the request asks to switch to, if anything.
    pub upgrade: Option<UpgradeKind>,
    /// `Expect: 100-continue` was sent: the client waits for 100 (or a final status) before
    /// sending the body.
    pub expect_continue: bool,
}

/// True when `list` (a comma-separated header value) contains `token`, case-insensitively.
pub(crate) fn has_token(list: &[u8], token: &str) -> bool {
    list.split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Parses a Content-Length value: digits only (a list of identical values is accepted, as RFC
/// 9110 §8.6 allows); anything else, or an overflow, is invalid.
fn content_length(v: &[u8]) -> Option<u64> {
    let mut out: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = trim(part);
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: u64 = std::str::from_utf8(part).ok()?.parse().ok()?;
        match out {
            Some(m) if m != n => return None,
            _ => out = Some(n),
        }
    }
    out
}

impl<'a> RequestHead<'a> {
    /// Checks a parsed request against RFC 9112's framing rules and works out what it implies.
    pub(crate) fn validate(
        method: &'a str,
        target: &'a str,
        version: u8,
        headers: &'a [httparse::Header<'a>],
    ) -> Result<RequestHead<'a>, HttpError> {
        if target.is_empty() {
            return Err(HttpError::bad("empty request-target"));
        }
        let mut hosts = 0;
        let mut length: Option<u64> = None;
        let mut te: Option<&[u8]> = None;
        let mut te_count = 0;
        let mut connection_close = false;
        let mut connection_keep_alive = false;
        let mut connection_upgrade = false;
        let mut upgrade: Option<&[u8]> = None;
        let mut expect_continue = false;
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("host") {
                hosts += 1;
            } else if name.eq_ignore_ascii_case("content-length") {
                let n = content_length(h.value).ok_or(HttpError::bad("invalid Content-Length"))?;
                if length.is_some_and(|m| m != n) {
                    return Err(HttpError::bad("conflicting Content-Length"));
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                te = Some(h.value);
                te_count += 1;
            } else if name.eq_ignore_ascii_case("connection") {
                connection_close |= has_token(h.value, "close");
                connection_keep_alive |= has_token(h.value, "keep-alive");
                connection_upgrade |= has_token(h.value, "upgrade");
            } else if name.eq_ignore_ascii_case("upgrade") {
                upgrade = Some(h.value);
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue |= trim(h.value).eq_ignore_ascii_case(b"100-continue");
            }
        }
        if version == 1 && hosts != 1 {
            return Err(HttpError::bad(if hosts == 0 {
                "HTTP/1.1 request without Host"
            } else {
                "more than one Host"
            }));
        }
        if hosts > 1 {
            return Err(HttpError::bad("more than one Host"));
        }
        let framing = match (te, length) {
            (Some(_), Some(_)) => {
                return Err(HttpError::bad(
                    "Content-Length together with Transfer-Encoding",
                ))
            }
            (Some(_), None) if version == 0 => {
                return Err(HttpError::bad("Transfer-Encoding in an HTTP/1.0 request"))
            }
            (Some(v), None) => {
                // Several Transfer-Encoding fields form one list; only the last counts here.
                if te_count > 1 {
                    return Err(HttpError::bad("several Transfer-Encoding fields"));
                }
                let codings: Vec<&[u8]> = v.split(|&b| b == b',').map(trim).collect();
                match codings.split_last() {
                    Some((last, rest)) if last.eq_ignore_ascii_case(b"chunked") => {
                        if !rest.is_empty() {
                            return Err(HttpError::new(501, "transfer coding other than chunked"));
                        }
                        BodyFraming::Chunked
                    }
                    _ => {
                        return Err(HttpError::bad(
                            "Transfer-Encoding whose last coding is not chunked",
                        ))
                    }
                }
            }
            (None, Some(n)) => BodyFraming::Length(n),
            (None, None) => BodyFraming::None,
        };
        let keep_alive = if version == 1 {
            !connection_close
        } else {
            connection_keep_alive && !connection_close
        };
        let upgrade = if method == "CONNECT" {
            Some(UpgradeKind::Tunnel)
        } else {
            match upgrade {
                Some(u) if connection_upgrade => Some(if has_token(u, "websocket") {
                    UpgradeKind::WebSocket
                } else {
                    UpgradeKind::Other
                }),
                _ => None,
            }
        };
        Ok(RequestHead {
            method,
            target,
            version,
            headers,
            framing,
            keep_alive,
            upgrade,
            expect_continue,
        })
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Every value of header `name`, in order.
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The body length when Content-Length gave one.
    pub fn content_length(&self) -> Option<u64> {
        match self.framing {
            BodyFraming::Length(n) => Some(n),
            _ => None,
        }
    }

    /// The parts of the request-target (and Host for origin-form targets).
    pub fn url(&self) -> UrlParts<'a> {
        let mut u = UrlParts::parse(self.target, self.method == "CONNECT");
        if u.host.is_none() {
            if let Some(h) = self
                .header("host")
                .and_then(|h| std::str::from_utf8(h).ok())
            {
                let (host, port) = split_host_port(h);
                u.host = Some(host);
                u.port = port;
            }
        }
        u
    }

    /// `name=value` pairs of the Cookie header(s), in order.
    pub fn cookies(&self) -> Vec<(&'a str, &'a str)> {
        let mut out = Vec::new();
        for v in self.headers_named("cookie") {
            let Ok(v) = std::str::from_utf8(v) else {
                continue;
            };
            for pair in v.split(';') {
                if let Some((n, val)) = pair.split_once('=') {
                    out.push((n.trim(), val.trim()));
                }
            }
        }
        out
    }
}

/// The components of a request-target (RFC 9112 §3.2): origin-form `/path?query`,
/// absolute-form `scheme://user@host:port/path?query#fragment`, authority-form `host:port`
/// (CONNECT) or asterisk-form `*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `http`, `https`, … (absolute-form only).
    pub scheme: Option<&'a str>,
    /// `user:password` before `@` (absolute-form only).
    pub userinfo: Option<&'a str>,
    /// Host name or address literal (brackets removed); from Host for origin-form.
    pub host: Option<&'a str>,
    /// Port, when given.
    pub port: Option<u16>,
    /// Path (`*` for asterisk-form, empty for authority-form).
    pub path: &'a str,
    /// Query without `?`.
    pub query: Option<&'a str>,
    /// Fragment without `#` (clients should not send one).
    pub fragment: Option<&'a str>,
}

fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        // IPv6 literal: [addr]:port
        if let Some((addr, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (addr, port);
        }
        return (s, None);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (s, None),
    }
}

impl<'a> UrlParts<'a> {
    /// Splits `target`; `connect` means authority-form.
    pub fn parse(target: &'a str, connect: bool) -> UrlParts<'a> {
        let mut u = UrlParts::default();
        if connect {
            let (h, p) = split_host_port(target);
            u.host = Some(h);
            u.port = p;
            return u;
        }
        let mut rest = target;
        if let Some((f, frag)) = rest.split_once('#') {
            rest = f;
            u.fragment = Some(frag);
        }
        // Origin form (`/path?query`, nearly every request) has no scheme or authority.
        let absolute = !rest.starts_with('/');
        if let Some((scheme, after)) = absolute.then(|| rest.split_once("://")).flatten() {
            if !scheme.is_empty() && !scheme.contains('/') {
                u.scheme = Some(scheme);
                let (authority, path) = match after.find(['/', '?']) {
                    Some(i) => (&after[..i], &after[i..]),
                    None => (after, ""),
                };
                let authority = match authority.rsplit_once('@') {
                    Some((ui, a)) => {
                        u.userinfo = Some(ui);
                        a
                    }
                    None => authority,
                };
                let (h, p) = split_host_port(authority);
                u.host = Some(h);
                u.port = p;
                rest = path;
            }
        }
        match rest.split_once('?') {
            Some((p, q)) => {
                u.path = p;
                u.query = Some(q);
            }
            None => u.path = rest,
        }
        u
    }
}
