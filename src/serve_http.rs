//! `shardnet http`: static files under a root (or `--echo-request`), on `HttpServer`.

use shardnet::http::{HttpConfig, HttpServer, Request, Response};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Options of `shardnet http`.
#[derive(Default)]
pub struct HttpOpts {
    pub listen: Option<String>,
    pub root: Option<PathBuf>,
    pub echo_request: bool,
    pub access_log: bool,
    pub shards: Option<usize>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub duration: Option<f64>,
    /// `--ws-echo PATH`: a WebSocket echo endpoint at PATH.
    pub ws_echo: Option<String>,
    /// `--metrics ADDR`: Prometheus metrics at http://ADDR/metrics.
    pub metrics: Option<String>,
    /// `--proxy-protocol --proxy-from ...`.
    pub proxy: Option<shardnet::ProxyProtocol>,
}

/// `--ws-echo`: echoes every message unchanged (text as text, binary as binary) on one path;
/// upgrades to other paths get 404.
struct WsEcho {
    path: String,
}

impl shardnet::ws::WebSocketListener for WsEcho {
    fn on_upgrade(
        &self,
        _: &shardnet::ws::WebSocketServer,
        _: shardnet::ConnId,
        head: &shardnet::http::RequestHead<'_>,
        _: &[String],
    ) -> shardnet::ws::UpgradeDecision {
        let path = head.target.split('?').next().unwrap_or("");
        if path == self.path {
            shardnet::ws::UpgradeDecision::Accept { protocol: None }
        } else {
            shardnet::ws::UpgradeDecision::Reject(404)
        }
    }
    fn on_message(
        &self,
        ws: &shardnet::ws::WebSocketServer,
        conn: shardnet::ConnId,
        msg: shardnet::ws::Message<'_>,
    ) -> shardnet::HandleResult {
        let r = match msg {
            shardnet::ws::Message::Text(t) => ws.send_text(conn, t),
            shardnet::ws::Message::Binary(b) => ws.send_binary(conn, b),
        };
        if r.is_err() {
            return shardnet::HandleResult::Error;
        }
        shardnet::HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &shardnet::ws::WebSocketServer,
        _: shardnet::ConnId,
        _: shardnet::SocketOperation,
        _: i32,
    ) -> shardnet::HandleResult {
        shardnet::HandleResult::Ok
    }
}

type AnyResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Decodes `%XX` escapes; None for a bad escape or an encoded NUL or slash (which would change
/// what the path means).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            if v == 0 || v == b'/' || v == b'\\' {
                return None;
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file under `root` that `target` names, or the status that refuses it: 400 for a target
/// that is not a path, 403 for anything that would leave the root (`..`, encoded dots, a
/// symlink pointing out), 404 when nothing is there.
pub fn resolve(root: &Path, target: &str) -> Result<PathBuf, u16> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path).ok_or(400u16)?;
    let mut rel = PathBuf::new();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => rel.push(p),
            Component::CurDir => {}
            _ => return Err(403),
        }
    }
    let mut full = root.join(&rel);
    if full.is_dir() {
        full.push("index.html");
    }
    let real = full.canonicalize().map_err(|_| 404u16)?;
    if !real.starts_with(root) {
        return Err(403);
    }
    if !real.is_file() {
        return Err(404);
    }
    Ok(real)
}

fn file_response(root: &Path, req: &Request) -> Response {
    if req.method() != "GET" && req.method() != "HEAD" {
        return Response::new(405, "method not allowed\n").header("Allow", "GET, HEAD");
    }
    let path = match resolve(root, req.target()) {
        Ok(p) => p,
        Err(status) => {
            return Response::new(
                status,
                format!("{}\n", shardnet::http::reason_phrase(status)),
            )
            .header("Content-Type", "text/plain; charset=utf-8")
        }
    };
    let modified = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let last_modified = httpdate::fmt_http_date(modified);
    let since = req
        .header("if-modified-since")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    // HTTP dates have whole seconds.
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    if since.is_some_and(|s| secs(modified) <= secs(s)) {
        return Response::new(304, Vec::new()).header("Last-Modified", &last_modified);
    }
    // Readable? (The body itself is memory-mapped and streamed when the answer is sent.)
    match std::fs::File::open(&path) {
        Ok(_) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            Response::file(200, path.clone())
                .header("Content-Type", mime.essence_str())
                .header("Last-Modified", &last_modified)
        }
        Err(_) => Response::new(403, "Forbidden\n"),
    }
}

/// Runs the server until Ctrl-C (or `--duration`), printing one stats line per second.
pub fn run_http(
    o: HttpOpts,
    interrupted: &'static std::sync::atomic::AtomicBool,
) -> AnyResult<i32> {
    let root = match &o.root {
        Some(r) => Some(
            r.canonicalize()
                .map_err(|e| format!("--root {}: {e}", r.display()))?,
        ),
        None => None,
    };
    if root.is_none() && !o.echo_request && o.ws_echo.is_none() {
        return Err("shardnet http needs --root DIR, --echo-request or --ws-echo PATH".into());
    }
    let mut b = HttpServer::builder().http_config(HttpConfig::default());
    if let Some(n) = o.shards {
        b = b.shards(n);
    }
    if let Some(p) = o.proxy.clone() {
        b = b.tcp(|t| t.proxy_protocol(p));
    }
    match (&o.tls_cert, &o.tls_key) {
        (Some(cert), Some(key)) => {
            let mut t = shardnet::tls::ServerTlsConfig::builder()
                .identity(shardnet::tls::Identity::from_pem_files(cert, key)?);
            t = t.alpn(["http/1.1"]);
            b = b.tls(t.build()?);
        }
        (None, None) => {}
        _ => return Err("--tls-cert and --tls-key go together".into()),
    }
    let requests = Arc::new(AtomicU64::new(0));
    let (count, log, echo) = (requests.clone(), o.access_log, o.echo_request);
    let root2 = root.clone();
    let listen = o.listen.clone().unwrap_or_else(|| "127.0.0.1:8080".into());
    let handler = move |req: &Request| {
        count.fetch_add(1, Ordering::Relaxed);
        let res = match &root2 {
            _ if echo => Response::new(200, format!("{} {}", req.method(), req.target()))
                .header("Content-Type", "text/plain; charset=utf-8"),
            Some(root) => file_response(root, req),
            None => Response::new(404, Vec::new()),
        };
        if log {
            let conn = req.conn.map(|c| c.to_string()).unwrap_or_default();
            println!(
                "{conn} \"{} {} HTTP/1.{}\" {} {}",
                req.method(),
                req.target(),
                req.version,
                res.status,
                res.body.len()
            );
        }
        res
    };
    let (server, source): (HttpServer, Box<dyn shardnet::metrics::MetricSource>) = match &o.ws_echo
    {
        None => {
            let s = b.serve(&listen, handler)?;
            (s.clone(), Box::new(s))
        }
        Some(path) => {
            let ws = shardnet::ws::WebSocketServer::builder()
                .http(|_| b)
                .http_handler(handler)
                .start(&listen, Arc::new(WsEcho { path: path.clone() }))?;
            ((*ws).clone(), Box::new(ws))
        }
    };
    let addr = server.listen_addr().expect("listening");
    let metrics = crate::serve_metrics(o.metrics.as_deref(), "http", source)?;
    let mut out = std::io::stdout();
    let mut ok = writeln!(
        out,
        "shardnet http listening on {}://{addr}: {} shard(s), {} (Ctrl-C stops)",
        if o.tls_cert.is_some() {
            "https"
        } else {
            "http"
        },
        server.runtime().shard_count(),
        match &root {
            _ if o.echo_request => "echoing each request line".to_string(),
            Some(r) => format!("files under {}", r.display()),
            None => "no files".to_string(),
        } + &o
            .ws_echo
            .as_ref()
            .map(|p| format!(", WebSocket echo at {p}"))
            .unwrap_or_default()
    )
    .and_then(|()| out.flush())
    .is_ok();
    let start = Instant::now();
    let mut last = (Instant::now(), 0u64);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let done = !ok
            || interrupted.load(Ordering::SeqCst)
            || o.duration
                .is_some_and(|d| start.elapsed().as_secs_f64() >= d);
        if last.0.elapsed() >= Duration::from_secs(1) || done {
            let n = requests.load(Ordering::Relaxed);
            let line = format!(
                "[{:>5.0}s] conns {} | {:.0} req/s | {n} requests",
                start.elapsed().as_secs_f64(),
                server.connection_count(),
                (n - last.1) as f64 / last.0.elapsed().as_secs_f64()
            );
            if !log && writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                eprintln!("stdout closed; stopping");
                ok = false;
            }
            last = (Instant::now(), n);
        }
        if done {
            break;
        }
    }
    server.stop();
    server.wait()?;
    if let Some(m) = metrics {
        m.stop();
        m.wait()?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let dir = std::env::temp_dir().join(format!("shardnet-root-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.txt"), "a").unwrap();
        std::fs::write(dir.join("index.html"), "i").unwrap();
        let root = dir.canonicalize().unwrap();
        assert_eq!(resolve(&root, "/sub/a.txt"), Ok(root.join("sub/a.txt")));
        assert_eq!(
            resolve(&root, "/sub/%61.txt?x=1"),
            Ok(root.join("sub/a.txt"))
        );
        assert_eq!(resolve(&root, "/"), Ok(root.join("index.html")));
        assert_eq!(resolve(&root, "/../etc/passwd"), Err(403));
        assert_eq!(resolve(&root, "/sub/../../etc/passwd"), Err(403));
        assert_eq!(resolve(&root, "/%2e%2e/%2e%2e/etc/passwd"), Err(403));
        assert_eq!(resolve(&root, "/sub%2f..%2f..%2fetc"), Err(400));
        assert_eq!(resolve(&root, "/nothing"), Err(404));
        assert_eq!(resolve(&root, "*"), Err(400));
        std::os::unix::fs::symlink("/etc", dir.join("out")).unwrap();
        assert_eq!(resolve(&root, "/out/passwd"), Err(403));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
