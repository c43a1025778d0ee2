//! HttpSyncClient: blocking requests over a `TcpClient` (HP-Socket's `CHttpSyncClient`).

use crate::{ClientListener, Error, HandleResult, Result, SocketOperation, TcpClient};
use shardnet_protocols::http::{
    write_request_head, BodyHandler, Flow, HeadAction, Limits, ResponseDecoder, ResponseHandler,
    ResponseHead, UrlParts,
};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A complete response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase as sent.
    pub reason: String,
    /// Header fields in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }
}

/// What the connection's callbacks hand to the waiting caller.
struct State {
    dec: ResponseDecoder,
    building: HttpResponse,
    keep_alive: bool,
    done: Option<std::result::Result<HttpResponse, String>>,
    closed: bool,
}

struct Shared {
    st: Mutex<State>,
    cv: Condvar,
}

/// The decoder's callbacks, building the response.
struct Build<'a> {
    r: &'a mut HttpResponse,
    keep_alive: &'a mut bool,
    done: &'a mut Option<std::result::Result<HttpResponse, String>>,
    max_body: usize,
}

impl ResponseHandler for Build<'_> {
    fn on_head(&mut self, h: &ResponseHead<'_>) -> HeadAction {
        if (100..200).contains(&h.status) {
            return HeadAction::Continue; // interim
        }
        self.r.status = h.status;
        self.r.reason = h.reason.to_string();
        self.r.headers = h
            .headers
            .iter()
            .map(|f| (f.name.to_string(), f.value.to_vec()))
            .collect();
        *self.keep_alive = h.keep_alive;
        HeadAction::Continue
    }
}

impl BodyHandler for Build<'_> {
    fn on_body(&mut self, data: &[u8]) -> Flow {
        if self.r.body.len() + data.len() > self.max_body {
            *self.done = Some(Err(format!(
                "response body larger than {} bytes",
                self.max_body
            )));
            return Flow::Stop;
        }
        self.r.body.extend_from_slice(data);
        Flow::Continue
    }
    fn on_message_complete(&mut self) -> Flow {
        if self.done.is_none() {
            *self.done = Some(Ok(std::mem::take(self.r)));
        }
        Flow::Continue
    }
}

impl State {
    fn build(&mut self, max_body: usize) -> (Build<'_>, &mut ResponseDecoder) {
        (
            Build {
                r: &mut self.building,
                keep_alive: &mut self.keep_alive,
                done: &mut self.done,
                max_body,
            },
            &mut self.dec,
        )
    }
}

struct Sink(Arc<Shared>, usize);

impl ClientListener for Sink {
    fn on_receive(&self, _: &TcpClient, data: &[u8]) -> HandleResult {
        let mut st = self.0.st.lock().unwrap_or_else(|p| p.into_inner());
        let (mut b, dec) = st.build(self.1);
        let r = dec.feed(data, &mut b);
        if let Err(e) = r {
            st.done = Some(Err(format!("bad response: {e}")));
        }
        self.0.cv.notify_all();
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpClient, op: SocketOperation, errno: i32) -> HandleResult {
        let mut st = self.0.st.lock().unwrap_or_else(|p| p.into_inner());
        st.closed = true;
        let (mut b, dec) = st.build(self.1);
        let _ = dec.finish(&mut b);
        if st.done.is_none() {
            st.done = Some(Err(format!(
                "connection closed ({op:?}, errno {errno}) before a response"
            )));
        }
        self.0.cv.notify_all();
        HandleResult::Ok
    }
}

struct Conn {
    key: (bool, String, u16),
    client: TcpClient,
    shared: Arc<Shared>,
}

/// Blocking HTTP/1.1 requests, one at a time, on a connection kept while the scheme, host and
/// port stay the same and the server keeps it (HP-Socket's `HttpSyncClient`). `https://` goes
/// through rustls with the system's roots unless [`HttpSyncClient::tls`] sets a configuration.
pub struct HttpSyncClient {
    connect_timeout: Duration,
    request_timeout: Duration,
    follow: u32,
    max_body: usize,
    tls: Option<crate::tls::ClientTlsConfig>,
    cookies: Option<Arc<super::CookieJar>>,
    conn: Mutex<Option<Conn>>,
}

impl Default for HttpSyncClient {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for HttpSyncClient {
    fn drop(&mut self) {
        if let Some(c) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).take() {
            c.client.stop();
        }
    }
}

impl HttpSyncClient {
    /// HP-Socket's defaults: connect timeout 5 s, request timeout 10 s, no redirects followed,
    /// response bodies up to 64 MiB.
    pub fn new() -> HttpSyncClient {
        HttpSyncClient {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            follow: 0,
            max_body: 64 << 20,
            tls: None,
            cookies: None,
            conn: Mutex::new(None),
        }
    }
    /// A cookie jar: `Set-Cookie` of every response (redirects included) is stored, and each
    /// request carries the matching `Cookie` (unless `headers` has one).
    pub fn cookies(mut self, jar: Arc<super::CookieJar>) -> Self {
        self.cookies = Some(jar);
        self
    }
    /// Connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
    /// Time allowed for the whole response after the request is sent.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }
    /// Follow up to `n` redirects (301, 302, 303, 307, 308; 303 — and 301/302 after a POST —
    /// continue with GET and no body).
    pub fn follow_redirects(mut self, n: u32) -> Self {
        self.follow = n;
        self
    }
    /// Largest response body accepted.
    pub fn max_body(mut self, n: usize) -> Self {
        self.max_body = n;
        self
    }
    /// TLS configuration for `https://` URLs (trust roots, client certificate, ALPN).
    pub fn tls(mut self, cfg: crate::tls::ClientTlsConfig) -> Self {
        self.tls = Some(cfg);
        self
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<HttpResponse> {
        self.open_url("GET", url, &[], b"")
    }

    /// Sends `method url` with `headers` and `body` (Host and Content-Length are added) and
    /// waits for the whole response.
    pub fn open_url(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse> {
        let mut url = url.to_string();
        let mut method = method.to_string();
        let mut body = body.to_vec();
        for _ in 0..=self.follow {
            let res = self.once(&method, &url, headers, &body)?;
            let redirect = matches!(res.status, 301 | 302 | 303 | 307 | 308);
            let location = res
                .header("location")
                .and_then(|l| std::str::from_utf8(l).ok())
                .map(str::to_string);
            match (redirect && self.follow > 0, location) {
                (true, Some(loc)) => {
                    url = resolve_location(&url, &loc);
                    if res.status == 303 || (method == "POST" && res.status < 303) {
                        method = "GET".into();
                        body.clear();
                    }
                }
                _ => return Ok(res),
            }
        }
        Err(Error::InvalidParam(format!(
            "more than {} redirects",
            self.follow
        )))
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse> {
        let u = UrlParts::parse(url, false);
        let https = match u.scheme {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => return Err(Error::InvalidParam(format!("not an http(s) URL: {url}"))),
        };
        let host = u
            .host
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::InvalidParam(format!("no host in {url}")))?
            .to_string();
        let port = u.port.unwrap_or(if https { 443 } else { 80 });
        let mut target = if u.path.is_empty() {
            "/".to_string()
        } else {
            u.path.to_string()
        };
        if let Some(q) = u.query {
            target.push('?');
            target.push_str(q);
        }
        let cookie = match &self.cookies {
            Some(jar)
                if !headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("cookie")) =>
            {
                jar.header_for(url)
            }
            _ => None,
        };
        let mut req = Vec::with_capacity(256 + body.len());
        match &cookie {
            None => write_request(&mut req, method, &target, &host, port, https, headers, body)?,
            Some(c) => {
                let mut all = headers.to_vec();
                all.push(("Cookie", c));
                write_request(&mut req, method, &target, &host, port, https, &all, body)?
            }
        }

        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let key = (https, host.clone(), port);
        let reusable = guard.as_ref().is_some_and(|c| {
            c.key == key && !c.shared.st.lock().unwrap_or_else(|p| p.into_inner()).closed
        });
        if !reusable {
            if let Some(old) = guard.take() {
                old.client.stop();
            }
            *guard = Some(self.connect(key, &host, port, https)?);
        }
        let conn = guard.as_ref().expect("connected above");
        {
            let mut st = conn.shared.st.lock().unwrap_or_else(|p| p.into_inner());
            st.done = None;
            st.building = HttpResponse::default();
            st.dec.expect(method == "HEAD");
        }
        if let Err(e) = conn.client.send(&req) {
            let c = guard.take().expect("present");
            c.client.stop();
            return Err(e);
        }
        let deadline = Instant::now() + self.request_timeout;
        let mut st = conn.shared.st.lock().unwrap_or_else(|p| p.into_inner());
        while st.done.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(st);
                if let Some(c) = guard.take() {
                    c.client.stop();
                }
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no complete response within the request timeout",
                )));
            }
            st = conn
                .shared
                .cv
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let done = st.done.take().expect("checked");
        if let (Some(jar), Ok(res)) = (&self.cookies, &done) {
            for (n, v) in &res.headers {
                if n.eq_ignore_ascii_case("set-cookie") {
                    if let Ok(v) = std::str::from_utf8(v) {
                        jar.store(url, v);
                    }
                }
            }
        }
        let keep = st.keep_alive && !st.closed;
        drop(st);
        if !keep || done.is_err() {
            if let Some(c) = guard.take() {
                c.client.stop();
            }
        }
        done.map_err(Error::InvalidParam)
    }

    fn connect(
        &self,
        key: (bool, String, u16),
        host: &str,
        port: u16,
        https: bool,
    ) -> Result<Conn> {
        let shared = Arc::new(Shared {
            st: Mutex::new(State {
                dec: ResponseDecoder::new(Limits::default()),
                building: HttpResponse::default(),
                keep_alive: true,
                done: None,
                closed: false,
            }),
            cv: Condvar::new(),
        });
        let mut b = TcpClient::builder()
            .connect_timeout(self.connect_timeout)
            .no_delay(true);
        if https {
            let cfg = match &self.tls {
                Some(c) => c.clone(),
                None => crate::tls::ClientTlsConfig::builder().build()?,
            };
            b = b.tls(cfg);
        }
        let client = b.start(host, port, false, Sink(shared.clone(), self.max_body))?;
        Ok(Conn {
            key,
            client,
            shared,
        })
    }
}

/// `Location` resolved against the URL that answered it (absolute, or a path on the same
/// origin).
fn resolve_location(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    let origin = &base[..origin_end];
    if loc.starts_with('/') {
        format!("{origin}{loc}")
    } else {
        let dir = base[origin_end..].rsplit_once('/').map_or("", |(d, _)| d);
        format!("{origin}{dir}/{loc}")
    }
}

/// The request bytes: head (Host with the port unless it is the scheme's default; IPv6
/// literals bracketed; Content-Length for a body or a POST/PUT/PATCH) and body.
#[allow(clippy::too_many_arguments)]
fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    host: &str,
    port: u16,
    https: bool,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<()> {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let host = if port == if https { 443 } else { 80 } {
        host
    } else {
        format!("{host}:{port}")
    };
    let len = (!body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH"))
        .then_some(body.len() as u64);
    write_request_head(out, method, target, &host, headers, len)
        .map_err(|e| Error::InvalidParam(e.to_string()))?;
    out.extend_from_slice(body);
    Ok(())
}
