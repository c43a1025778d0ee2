//! The whole-request handler: a function from [`Request`] to [`Response`], on the same codec
//! and callbacks as everyone else.

use super::server::{HttpServer, HttpServerBuilder, HttpServerListener, RequestInfo};
use crate::{HandleResult, Result, SocketOperation};
use shardnet_protocols::http::{HeadAction, RequestHead};
use shardnet_runtime::ConnId;
use std::cell::RefCell;

/// A whole request: head and body (at most `max_body` bytes). The head's strings live in one
/// buffer, and each shard reuses the buffers of finished requests: a handler server allocates
/// nothing per request in the steady state beyond what the handler itself does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The connection it came on.
    pub conn: Option<ConnId>,
    /// Minor version (0 = HTTP/1.0, 1 = HTTP/1.1).
    pub version: u8,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Method, target, then every field's name and value, back to back.
    head: Vec<u8>,
    method_end: u32,
    target_end: u32,
    /// Per field: where its name ends and where its value ends in `head`.
    fields: Vec<(u32, u32)>,
}

impl Request {
    fn fill(&mut self, conn: ConnId, h: &RequestHead<'_>) {
        self.conn = Some(conn);
        self.version = h.version;
        self.head.clear();
        self.fields.clear();
        self.body.clear();
        self.head.extend_from_slice(h.method.as_bytes());
        self.method_end = self.head.len() as u32;
        self.head.extend_from_slice(h.target.as_bytes());
        self.target_end = self.head.len() as u32;
        for f in h.headers {
            self.head.extend_from_slice(f.name.as_bytes());
            let name_end = self.head.len() as u32;
            self.head.extend_from_slice(f.value);
            self.fields.push((name_end, self.head.len() as u32));
        }
    }

    fn text(&self, a: u32, b: u32) -> &str {
        // Method, target and names were validated as visible ASCII by the codec.
        std::str::from_utf8(&self.head[a as usize..b as usize]).unwrap_or("")
    }

    /// Method token.
    pub fn method(&self) -> &str {
        self.text(0, self.method_end)
    }

    /// Request-target exactly as received.
    pub fn target(&self) -> &str {
        self.text(self.method_end, self.target_end)
    }

    /// Header fields in order: (name as received, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let mut start = self.target_end;
        self.fields.iter().map(move |&(name_end, value_end)| {
            let f = (
                self.text(start, name_end),
                &self.head[name_end as usize..value_end as usize],
            );
            start = value_end;
            f
        })
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// A response: status, headers and body. `Content-Length` is added unless a header frames the
/// body; `Connection: close` when the connection ends after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields.
    pub headers: Vec<(String, String)>,
    /// Body (not sent for HEAD; its length still is).
    pub body: Vec<u8>,
    /// A file to send as the body instead of `body` (memory-mapped and streamed, any size:
    /// [`HttpServer::send_local_file`]).
    pub file: Option<std::path::PathBuf>,
}

impl Response {
    /// A response with `status` and `body`, no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
            file: None,
        }
    }

    /// A response whose body is the file at `path`, streamed (its length is read when the
    /// response is sent; a file that cannot be opened then is answered 500).
    pub fn file(status: u16, path: impl Into<std::path::PathBuf>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            file: Some(path.into()),
        }
    }

    /// Adds a header field.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One shard's handler state: the request being assembled on each connection that has one
/// in progress (an idle connection has no entry).
pub(crate) struct HandlerListener<F> {
    f: std::sync::Arc<F>,
    max_body: usize,
    server_name: Option<String>,
    pending: RefCell<shardnet_runtime::ConnMap<Request>>,
    /// Finished requests whose buffers the next ones reuse.
    spare: RefCell<Vec<Request>>,
}

impl<F> HandlerListener<F> {
    /// One shard's handler state for `f` under `cfg`'s limits.
    pub(crate) fn new(f: std::sync::Arc<F>, cfg: &super::HttpConfig) -> Self {
        HandlerListener {
            f,
            max_body: cfg.max_body,
            server_name: cfg.server_name.clone(),
            pending: RefCell::new(Default::default()),
            spare: RefCell::new(Vec::new()),
        }
    }
}

/// Spare requests kept per shard (their buffers stay allocated).
const SPARE_REQUESTS: usize = 64;

impl<F> HttpServerListener for HandlerListener<F>
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    fn on_headers_complete(
        &self,
        s: &HttpServer,
        conn: ConnId,
        head: &RequestHead<'_>,
    ) -> HeadAction {
        if head.upgrade.is_some() {
            // The handler path answers requests; it does not switch protocols.
            let _ = s.send_response(conn, 501, None, &[("Connection", "close")], b"");
            let _ = s.release(conn);
            return HeadAction::SkipBody;
        }
        if head
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            // Answered and released: what was answered before still leaves.
            let _ = s.send_response(conn, 413, None, &[("Connection", "close")], b"");
            let _ = s.release(conn);
            return HeadAction::SkipBody;
        }
        let mut req = self.spare.borrow_mut().pop().unwrap_or_default();
        req.fill(conn, head);
        self.pending.borrow_mut().insert(conn, req);
        HeadAction::Continue
    }

    fn on_body(&self, s: &HttpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        let mut p = self.pending.borrow_mut();
        let Some(e) = p.get_mut(&conn) else {
            return HandleResult::Error;
        };
        if e.body.len() + data.len() > self.max_body {
            drop(p);
            let _ = s.send_response(conn, 413, None, &[("Connection", "close")], b"");
            let _ = s.release(conn);
            return HandleResult::Ok;
        }
        e.body.extend_from_slice(data);
        HandleResult::Ok
    }

    fn on_message_complete(
        &self,
        s: &HttpServer,
        conn: ConnId,
        info: &RequestInfo,
    ) -> HandleResult {
        let Some(req) = self.pending.borrow_mut().remove(&conn) else {
            return HandleResult::Ok; // answered already (upgrade refused)
        };
        let res = (self.f)(&req);
        {
            let mut spare = self.spare.borrow_mut();
            if spare.len() < SPARE_REQUESTS && req.body.capacity() <= 64 << 10 {
                spare.push(req);
            }
        }
        let close = !info.keep_alive;
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(res.headers.len() + 3);
        headers.extend(res.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        if let Some(n) = &self.server_name {
            if !headers
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case("server"))
            {
                headers.push(("Server", n));
            }
        }
        if close {
            headers.push(("Connection", "close"));
        } else if info.version == 0 {
            headers.push(("Connection", "keep-alive"));
        }
        let bodiless = res.status < 200 || res.status == 204 || res.status == 304;
        if let (Some(path), false) = (&res.file, bodiless) {
            let file_len;
            let sent = if info.is_head() {
                match std::fs::metadata(path) {
                    Ok(m) => {
                        file_len = m.len().to_string();
                        headers.push(("Content-Length", &file_len));
                        s.send_response(conn, res.status, None, &headers, b"")
                    }
                    Err(e) => Err(e.into()),
                }
            } else {
                s.send_local_file(conn, res.status, &headers, path)
            };
            if sent.is_err() {
                // Nothing of this answer left: say so instead.
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
                if s.send_response(conn, 500, None, &headers, b"").is_err() {
                    return HandleResult::Error;
                }
            }
            if close {
                let _ = s.release(conn);
            }
            return HandleResult::Ok;
        }
        let len = res.body.len().to_string();
        let body: &[u8] = if bodiless {
            b""
        } else if info.is_head() {
            // HEAD: the length of what GET would send, and no body.
            if !headers
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case("content-length"))
            {
                headers.push(("Content-Length", &len));
            }
            b""
        } else {
            &res.body
        };
        if s.send_response(conn, res.status, None, &headers, body)
            .is_err()
        {
            return HandleResult::Error;
        }
        if close {
            let _ = s.release(conn);
        }
        HandleResult::Ok
    }

    fn on_close(&self, _: &HttpServer, conn: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        self.pending.borrow_mut().remove(&conn);
        HandleResult::Ok
    }
}

impl HttpServerBuilder {
    /// Starts serving every request with `f`: whole requests in, responses out (in request
    /// order per connection, HEAD and keep-alive handled).
    pub fn serve<F>(self, addr: &str, f: F) -> Result<HttpServer>
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        let f = std::sync::Arc::new(f);
        let cfg = self.http_settings().clone();
        self.start_with(addr, move |_| HandlerListener::new(f.clone(), &cfg))
    }
}
