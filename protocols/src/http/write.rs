//! Response heads and chunks, written into a caller's buffer.

use std::fmt;

/// Appends `n` in decimal (no formatting machinery: this runs once or twice per response).
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `n` in lower-case hex.
fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A header the caller asked to send cannot be sent: its name is not a token, or its value
/// holds CR, LF or another control character (which would let it inject fields or responses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteError(pub String);

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write header: {}", self.0)
    }
}

impl std::error::Error for WriteError {}

/// The standard reason phrase of `status` (empty for unknown codes).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Writes `HTTP/1.1 status reason`, the `headers`, and `Content-Length: body_len` unless the
/// headers carry Content-Length or Transfer-Encoding (or `body_len` is `None`, or the status
/// has no body: 1xx, 204, 304), then the empty line. The reason defaults to the standard
/// phrase.
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: u16,
    reason: Option<&str>,
    headers: &[(&str, &str)],
    body_len: Option<u64>,
) -> Result<(), WriteError> {
    if !(100..=999).contains(&status) {
        return Err(WriteError(format!("status {status}")));
    }
    let reason = reason.unwrap_or_else(|| reason_phrase(status));
    if !valid_value(reason.as_bytes()) {
        return Err(WriteError("reason phrase has control characters".into()));
    }
    let framed = check_fields(headers)?;
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, status as u64);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in headers {
        push_field(out, n, v);
    }
    let bodiless = status < 200 || status == 204 || status == 304;
    if let (false, false, Some(n)) = (framed, bodiless, body_len) {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Writes a request head: `METHOD target HTTP/1.1`, `Host: host` unless the headers carry
/// one, the `headers`, and `Content-Length: body_len` unless the headers frame the body
/// themselves or `body_len` is `None`; then the empty line.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body_len: Option<u64>,
) -> Result<(), WriteError> {
    if !is_token(method) || target.is_empty() || target.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return Err(WriteError(format!("request line {method:?} {target:?}")));
    }
    if !valid_value(host.as_bytes()) {
        return Err(WriteError("host has control characters".into()));
    }
    let framed = check_fields(headers)?;
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        push_field(out, "Host", host);
    }
    for (n, v) in headers {
        push_field(out, n, v);
    }
    if let (false, Some(n)) = (framed, body_len) {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Checks header fields; true when they frame the body (Content-Length or Transfer-Encoding).
fn check_fields(headers: &[(&str, &str)]) -> Result<bool, WriteError> {
    let mut framed = false;
    for (n, v) in headers {
        if !is_token(n) {
            return Err(WriteError(format!("name {n:?}")));
        }
        if !valid_value(v.as_bytes()) {
            return Err(WriteError(format!("value of {n}")));
        }
        framed |=
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding");
    }
    Ok(framed)
}

fn push_field(out: &mut Vec<u8>, n: &str, v: &str) {
    out.extend_from_slice(n.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(v.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes one chunk of a chunked body (`size CRLF data CRLF`); an empty `data` writes nothing
/// (it would end the body).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    push_hex(out, data.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes the last chunk with optional trailer fields and the final empty line.
pub fn write_last_chunk(out: &mut Vec<u8>, trailers: &[(&str, &str)]) -> Result<(), WriteError> {
    for (n, v) in trailers {
        if !is_token(n) || !valid_value(v.as_bytes()) {
            return Err(WriteError(format!("trailer {n:?}")));
        }
    }
    out.extend_from_slice(b"0\r\n");
    for (n, v) in trailers {
        push_field(out, n, v);
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}
