//! HttpAgent and HttpClient (callback clients) against real servers: a CPython
//! `http.server`-based peer (HTTP/1.1 keep-alive, chunked answers, read-until-close, cookies,
//! 100-continue), nginx (static files, keep-alive, pipelining; skipped with a message when
//! nginx is not installed — `.ci/run` installs it), `openssl s_server -WWW` for HTTPS, and
//! raw sockets for malformed answers.

mod support;
mod tls_support;

use shardnet::http::*;
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A python HTTP/1.1 server: `/set` sets cookies, `/cookie` echoes the Cookie header,
/// `/chunked` answers in chunks, `/close` answers without a length and closes, `/echo` answers
/// the request body, anything else `path` as body.
const PEER: &str = r#"
import sys, http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def body(self, code, data, extra=()):
        self.send_response(code)
        for k, v in extra: self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(data)
    def do_HEAD(self): self.do_GET()
    def do_GET(self):
        p = self.path
        if p == "/login":
            self.body(302, b"", [("Set-Cookie", "auth=yes; Path=/"), ("Location", "/cookie")])
        elif p == "/set":
            self.body(200, b"set", [("Set-Cookie", "sid=abc123; Path=/"), ("Set-Cookie", "theme=dark; Path=/; HttpOnly")])
        elif p == "/cookie":
            self.body(200, (self.headers.get("Cookie") or "none").encode())
        elif p == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in [b"alpha", b"-beta", b"-gamma"]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
        elif p == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
        elif p == "/nocontent":
            self.send_response(204)
            self.end_headers()
        else:
            self.body(200, p.encode())
    def do_POST(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            data = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""): pass
                    break
                data += self.rfile.read(n); self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.body(200, b"got " + str(len(data)).encode() + b" " + data[:32])
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

fn python_peer() -> (Kill, u16) {
    let dir = std::env::temp_dir().join(format!("shardnet-agent-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("peer.py");
    std::fs::write(&script, PEER).unwrap();
    let port = free_port();
    let child = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let k = Kill(child);
    assert!(wait_until(10, || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    (k, port)
}

/// What the listener saw.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Connect(ConnId),
    Status(ConnId, u16),
    Header(ConnId, String, String),
    ChunkHeader(ConnId, u64),
    Body(ConnId, Vec<u8>),
    Complete(ConnId, ResponseInfo),
    Upgrade(ConnId, UpgradeKind),
    Upgraded(ConnId, Vec<u8>),
    ParseError(ConnId, u16),
    Close(ConnId, SocketOperation, i32),
}

#[derive(Default)]
struct Rec {
    evs: Mutex<Vec<Ev>>,
    /// Requests to send on connect: (method, target, body).
    on_connect: Mutex<Vec<(String, String, Vec<u8>)>>,
}

impl Rec {
    fn push(&self, e: Ev) {
        self.evs.lock().unwrap().push(e);
    }
    fn events(&self) -> Vec<Ev> {
        self.evs.lock().unwrap().clone()
    }
    fn completes(&self) -> Vec<ResponseInfo> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Complete(_, i) => Some(i),
                _ => None,
            })
            .collect()
    }
    /// The bodies of completed responses, in order (body bytes between completions).
    fn bodies(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur = Vec::new();
        for e in self.events() {
            match e {
                Ev::Body(_, d) => cur.extend_from_slice(&d),
                Ev::Complete(..) => out.push(std::mem::take(&mut cur)),
                _ => {}
            }
        }
        out
    }
    fn closes(&self) -> Vec<(SocketOperation, i32)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Close(_, o, n) => Some((o, n)),
                _ => None,
            })
            .collect()
    }
}

macro_rules! recorder {
    ($h:ty) => {
        impl HttpClientListener<$h> for Rec {
            fn on_connect(&self, a: &$h, conn: ConnId) -> HandleResult {
                self.push(Ev::Connect(conn));
                for (m, t, b) in self.on_connect.lock().unwrap().iter() {
                    send(a, conn, m, t, b);
                }
                HandleResult::Ok
            }
            fn on_status_line(&self, _: &$h, conn: ConnId, s: u16, _: &str) -> HandleResult {
                self.push(Ev::Status(conn, s));
                HandleResult::Ok
            }
            fn on_header(&self, _: &$h, conn: ConnId, n: &str, v: &[u8]) -> HandleResult {
                self.push(Ev::Header(
                    conn,
                    n.to_ascii_lowercase(),
                    String::from_utf8_lossy(v).into(),
                ));
                HandleResult::Ok
            }
            fn on_chunk_header(&self, _: &$h, conn: ConnId, len: u64) -> HandleResult {
                self.push(Ev::ChunkHeader(conn, len));
                HandleResult::Ok
            }
            fn on_body(&self, _: &$h, conn: ConnId, d: &[u8]) -> HandleResult {
                self.push(Ev::Body(conn, d.to_vec()));
                HandleResult::Ok
            }
            fn on_message_complete(&self, _: &$h, conn: ConnId, r: &ResponseInfo) -> HandleResult {
                self.push(Ev::Complete(conn, r.clone()));
                HandleResult::Ok
            }
            fn on_upgrade(&self, _: &$h, conn: ConnId, k: UpgradeKind) -> HandleResult {
                self.push(Ev::Upgrade(conn, k));
                HandleResult::Ok
            }
            fn on_upgraded_data(&self, _: &$h, conn: ConnId, d: &[u8]) -> HandleResult {
                self.push(Ev::Upgraded(conn, d.to_vec()));
                HandleResult::Ok
            }
            fn on_parse_error(&self, _: &$h, conn: ConnId, s: u16, _: &str) {
                self.push(Ev::ParseError(conn, s));
            }
            fn on_close(&self, _: &$h, conn: ConnId, o: SocketOperation, e: i32) -> HandleResult {
                self.push(Ev::Close(conn, o, e));
                HandleResult::Ok
            }
        }
    };
}
recorder!(HttpAgent);
recorder!(HttpClient);

fn send(a: &dyn Sender, conn: ConnId, m: &str, t: &str, b: &[u8]) {
    a.req(conn, m, t, b).unwrap();
}

trait Sender {
    fn req(&self, conn: ConnId, m: &str, t: &str, b: &[u8]) -> shardnet::Result<()>;
}
impl Sender for HttpAgent {
    fn req(&self, conn: ConnId, m: &str, t: &str, b: &[u8]) -> shardnet::Result<()> {
        self.send_request(conn, m, t, &[], b)
    }
}
impl Sender for HttpClient {
    fn req(&self, _: ConnId, m: &str, t: &str, b: &[u8]) -> shardnet::Result<()> {
        self.send_request(m, t, &[], b)
    }
}

fn agent(rec: &Arc<Rec>) -> HttpAgent {
    HttpAgent::builder().shards(2).start(rec.clone()).unwrap()
}

#[test]
fn agent_keep_alive_pipelining_head_chunked_against_python() {
    let (_peer, port) = python_peer();
    let rec = Arc::new(Rec::default());
    // Sent from the callback thread (the owner shard): GET, HEAD, chunked, 204, POST.
    *rec.on_connect.lock().unwrap() = vec![
        ("GET".into(), "/first".into(), vec![]),
        ("HEAD".into(), "/set".into(), vec![]),
        ("GET".into(), "/chunked".into(), vec![]),
        ("GET".into(), "/nocontent".into(), vec![]),
        ("POST".into(), "/p".into(), b"payload!".to_vec()),
    ];
    let a = agent(&rec);
    let conn = a.connect("127.0.0.1", port).unwrap();
    assert!(
        wait_until(10, || rec.completes().len() == 5),
        "{:?}",
        rec.events()
    );
    // Then two more from this (foreign) thread on the same connection: it was kept alive.
    a.send_get(conn, "/from-main", &[]).unwrap();
    a.send_head(conn, "/head-from-main", &[]).unwrap();
    assert!(
        wait_until(10, || rec.completes().len() == 7),
        "{:?}",
        rec.events()
    );
    let statuses: Vec<u16> = rec.completes().iter().map(|i| i.status).collect();
    assert_eq!(statuses, [200, 200, 200, 204, 200, 200, 200]);
    let seq: Vec<u32> = rec.completes().iter().map(|i| i.sequence).collect();
    assert_eq!(seq, [1, 2, 3, 4, 5, 6, 7]);
    let bodies = rec.bodies();
    assert_eq!(bodies[0], b"/first");
    assert_eq!(
        bodies[1], b"",
        "HEAD carries no body although Content-Length: 3"
    );
    assert_eq!(bodies[2], b"alpha-beta-gamma");
    assert_eq!(bodies[3], b"");
    assert_eq!(bodies[4], b"got 8 payload!");
    assert_eq!(bodies[5], b"/from-main");
    assert_eq!(bodies[6], b"");
    let chunks: Vec<u64> = rec
        .events()
        .iter()
        .filter_map(|e| match e {
            Ev::ChunkHeader(_, n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(chunks, [5, 5, 6, 0], "the last chunk is reported too");
    assert!(rec.completes().iter().all(|i| i.keep_alive));
    assert!(rec.closes().is_empty(), "kept alive: {:?}", rec.closes());
    // One connection served everything.
    let connects = rec
        .events()
        .iter()
        .filter(|e| matches!(e, Ev::Connect(_)))
        .count();
    assert_eq!(connects, 1);
    a.stop();
    a.wait().unwrap();
    assert_eq!(rec.closes().len(), 1);
}

#[test]
fn agent_read_until_close_and_chunked_upload() {
    let (_peer, port) = python_peer();
    let rec = Arc::new(Rec::default());
    let a = agent(&rec);
    let c1 = a.connect("127.0.0.1", port).unwrap();
    assert!(wait_until(10, || !rec.events().is_empty()));
    // A chunked request body, sent piece by piece.
    a.send_request(c1, "POST", "/up", &[("Transfer-Encoding", "chunked")], b"")
        .unwrap();
    a.send_chunk(c1, b"hello ").unwrap();
    a.send_chunk(c1, b"").unwrap(); // sends nothing: would end the body
    a.send_chunk(c1, b"chunked world").unwrap();
    a.send_last_chunk(c1, &[("X-Sum", "19")]).unwrap();
    assert!(
        wait_until(10, || rec.completes().len() == 1),
        "{:?}",
        rec.events()
    );
    assert_eq!(rec.bodies()[0], b"got 19 hello chunked world");
    // A body delimited by the close: complete before on_close, then the connection ends.
    a.send_get(c1, "/close", &[]).unwrap();
    assert!(
        wait_until(10, || rec.closes().len() == 1),
        "{:?}",
        rec.events()
    );
    assert_eq!(rec.bodies()[1], b"until the end");
    let evs = rec.events();
    let complete_at = evs
        .iter()
        .rposition(|e| matches!(e, Ev::Complete(..)))
        .unwrap();
    let close_at = evs.iter().position(|e| matches!(e, Ev::Close(..))).unwrap();
    assert!(complete_at < close_at);
    assert!(!rec.completes()[1].keep_alive);
    a.stop();
    a.wait().unwrap();
}

#[test]
fn client_cookies_round_trip_and_persist() {
    let (_peer, port) = python_peer();
    let jar = Arc::new(CookieJar::new());
    let rec = Arc::new(Rec::default());
    let c = HttpClient::builder()
        .cookies(jar.clone())
        .start("127.0.0.1", port, false, ArcRec(rec.clone()))
        .unwrap();
    c.send_get("/cookie", &[]).unwrap();
    c.send_get("/set", &[]).unwrap();
    assert!(wait_until(10, || rec.completes().len() == 2));
    c.send_get("/cookie", &[]).unwrap();
    assert!(wait_until(10, || rec.completes().len() == 3));
    let bodies = rec.bodies();
    assert_eq!(bodies[0], b"none");
    assert_eq!(bodies[1], b"set");
    let third = String::from_utf8(bodies[2].clone()).unwrap();
    let mut got: Vec<&str> = third.split("; ").collect();
    got.sort();
    assert_eq!(got, ["sid=abc123", "theme=dark"]);
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(jar.get(&url, "sid").as_deref(), Some("abc123"));
    assert_eq!(jar.len(), 2);
    // Session cookies (no Expires) are not persistent: save writes none of them; a
    // persistent one survives a save/load round trip.
    assert!(jar.store(&url, "keep=yes; Path=/; Max-Age=3600"));
    assert!(!jar.store(&url, "evil=1; Domain=example.com"));
    let jar_dir = support::TempDir::new("jar");
    let file = jar_dir.join("jar.json");
    jar.save(&file).unwrap();
    let loaded = CookieJar::load(&file).unwrap();
    assert_eq!(loaded.get(&url, "keep").as_deref(), Some("yes"));
    assert_eq!(loaded.get(&url, "sid"), None);
    std::fs::remove_file(&file).unwrap();
    c.stop();
    c.wait().unwrap();
}

/// An `Arc<Rec>` as an owned client listener.
struct ArcRec(Arc<Rec>);
impl HttpClientListener<HttpClient> for ArcRec {
    fn on_body(&self, a: &HttpClient, conn: ConnId, d: &[u8]) -> HandleResult {
        self.0.on_body(a, conn, d)
    }
    fn on_chunk_header(&self, a: &HttpClient, conn: ConnId, len: u64) -> HandleResult {
        self.0.on_chunk_header(a, conn, len)
    }
    fn on_message_complete(&self, a: &HttpClient, conn: ConnId, r: &ResponseInfo) -> HandleResult {
        self.0.on_message_complete(a, conn, r)
    }
    fn on_upgrade(&self, a: &HttpClient, conn: ConnId, k: UpgradeKind) -> HandleResult {
        self.0.on_upgrade(a, conn, k)
    }
    fn on_upgraded_data(&self, a: &HttpClient, conn: ConnId, d: &[u8]) -> HandleResult {
        self.0.on_upgraded_data(a, conn, d)
    }
    fn on_parse_error(&self, a: &HttpClient, conn: ConnId, s: u16, d: &str) {
        self.0.on_parse_error(a, conn, s, d)
    }
    fn on_close(&self, a: &HttpClient, conn: ConnId, o: SocketOperation, e: i32) -> HandleResult {
        self.0.on_close(a, conn, o, e)
    }
}

/// A raw-socket server answering each accepted connection with `answer` after reading a
/// request head; returns the port.
fn raw_server(answer: &'static [u8], close_after: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(answer);
                if close_after {
                    let _ = s.shutdown(std::net::Shutdown::Write);
                }
                std::thread::sleep(Duration::from_secs(3));
            });
        }
    });
    port
}

#[test]
fn malformed_responses_close_with_a_parse_error() {
    for (answer, status) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"[..],
            400,
        ),
        (
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
            400,
        ),
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
            400,
        ),
        (&b"NOT-HTTP garbage\r\n\r\n"[..], 400),
    ] {
        let port = raw_server(answer, true);
        let rec = Arc::new(Rec::default());
        *rec.on_connect.lock().unwrap() = vec![("GET".into(), "/".into(), vec![])];
        let a = agent(&rec);
        a.connect("127.0.0.1", port).unwrap();
        assert!(
            wait_until(10, || rec.closes().len() == 1),
            "{:?}",
            rec.events()
        );
        let evs = rec.events();
        assert!(
            evs.iter()
                .any(|e| matches!(e, Ev::ParseError(_, s) if *s == status)),
            "{:?}: {evs:?}",
            String::from_utf8_lossy(answer)
        );
        assert!(rec.completes().is_empty(), "{evs:?}");
        a.stop();
        a.wait().unwrap();
    }
}

#[test]
fn switching_protocols_and_connect_tunnel() {
    // 101: the bytes after the head are the new protocol's.
    let port = raw_server(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi",
        false,
    );
    let rec = Arc::new(Rec::default());
    *rec.on_connect.lock().unwrap() = vec![("GET".into(), "/ws".into(), vec![])];
    let a = agent(&rec);
    let conn = a.connect("127.0.0.1", port).unwrap();
    assert!(wait_until(10, || rec
        .events()
        .iter()
        .any(|e| matches!(e, Ev::Upgraded(..)))));
    let evs = rec.events();
    assert!(
        evs.contains(&Ev::Upgrade(conn, UpgradeKind::WebSocket)),
        "{evs:?}"
    );
    assert!(
        evs.contains(&Ev::Upgraded(conn, b"\x81\x02hi".to_vec())),
        "{evs:?}"
    );
    a.stop();
    a.wait().unwrap();

    // CONNECT: a 200 makes a tunnel; what follows is the tunnel's, not a response.
    let port = raw_server(
        b"HTTP/1.1 200 Connection Established\r\n\r\nSSH-2.0-tunnel\r\n",
        false,
    );
    let rec = Arc::new(Rec::default());
    *rec.on_connect.lock().unwrap() = vec![("CONNECT".into(), "example.com:22".into(), vec![])];
    let a = agent(&rec);
    let conn = a.connect("127.0.0.1", port).unwrap();
    assert!(wait_until(10, || rec
        .events()
        .iter()
        .any(|e| matches!(e, Ev::Upgraded(..)))));
    let evs = rec.events();
    assert!(
        evs.contains(&Ev::Upgrade(conn, UpgradeKind::Tunnel)),
        "{evs:?}"
    );
    assert!(
        evs.contains(&Ev::Upgraded(conn, b"SSH-2.0-tunnel\r\n".to_vec())),
        "{evs:?}"
    );
    a.stop();
    a.wait().unwrap();
}

#[test]
fn request_bytes_on_the_wire() {
    // What the agent writes, exactly: Host with the port, no Content-Length on a bodiless
    // GET, Content-Length on POST, caller headers in order.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let rec = Arc::new(Rec::default());
    let a = agent(&rec);
    let conn = a.connect("127.0.0.1", port).unwrap();
    let (mut s, _) = l.accept().unwrap();
    assert!(wait_until(10, || !rec.events().is_empty()));
    a.send_get(conn, "/a?b=c", &[("Accept", "*/*")]).unwrap();
    a.send_post(conn, "/p", &[("X-One", "1")], b"xyz").unwrap();
    a.send_request(conn, "DELETE", "/d", &[], b"").unwrap();
    let want = format!(
        "GET /a?b=c HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n\r\n\
         POST /p HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-One: 1\r\nContent-Length: 3\r\n\r\nxyz\
         DELETE /d HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    );
    let got = read_n(&mut s, want.len(), 10);
    assert_eq!(String::from_utf8_lossy(&got), want);
    // Invalid requests are refused before anything is sent.
    assert!(a.send_get(conn, "/bad path", &[]).is_err());
    assert!(a.send_get(conn, "/", &[("Bad Name", "v")]).is_err());
    assert!(a
        .send_get(ConnId::from_u64(u64::MAX >> 8), "/", &[])
        .is_err());
    a.stop();
    a.wait().unwrap();
}

fn nginx_available() -> bool {
    Command::new("nginx").arg("-v").output().is_ok()
        || std::path::Path::new("/usr/sbin/nginx").exists()
}

#[test]
fn agent_against_nginx_static_files() {
    if !nginx_available() {
        eprintln!("SKIP: nginx is not installed (.ci/run installs it)");
        return;
    }
    let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    };
    let dir = support::TempDir::new("nginx");
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("logs")).unwrap();
    let big = pattern(300_000, 7);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join("a.txt"), "nginx says hi\n").unwrap();
    let port = free_port();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; error_log {d}/error.log; pid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
           types {{ text/plain txt; application/octet-stream bin; }}\n\
           server {{ listen 127.0.0.1:{port}; root {r}; keepalive_requests 1000; }} }}\n",
        d = dir.display(),
        r = root.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx)
        .args(["-c", dir.join("nginx.conf").to_str().unwrap(), "-p"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _guard = Kill(child);
    assert!(wait_until(10, || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    let rec = Arc::new(Rec::default());
    let a = agent(&rec);
    let conn = a.connect("127.0.0.1", port).unwrap();
    assert!(wait_until(10, || !rec.events().is_empty()));
    // 20 pipelined requests, answered in order on one connection.
    for i in 0..20 {
        match i % 4 {
            0 => a.send_get(conn, "/a.txt", &[]).unwrap(),
            1 => a.send_get(conn, "/big.bin", &[]).unwrap(),
            2 => a.send_head(conn, "/big.bin", &[]).unwrap(),
            _ => a.send_get(conn, "/missing", &[]).unwrap(),
        }
    }
    assert!(
        wait_until(20, || rec.completes().len() == 20),
        "{}",
        rec.completes().len()
    );
    let bodies = rec.bodies();
    for (i, (info, body)) in rec.completes().iter().zip(&bodies).enumerate() {
        match i % 4 {
            0 => assert_eq!((info.status, &body[..]), (200, &b"nginx says hi\n"[..])),
            1 => assert!(info.status == 200 && body == &big, "{i}"),
            2 => assert_eq!(
                (info.status, body.len(), info.content_length),
                (200, 0, Some(300_000))
            ),
            _ => assert_eq!(info.status, 404),
        }
    }
    assert!(rec.closes().is_empty());
    a.stop();
    a.wait().unwrap();
}

#[test]
fn https_client_against_openssl_s_server() {
    let ca = tls_support::Ca::new("agent-test-ca");
    let leaf = ca.server(&["localhost"]);
    let dir = tls_support::temp_dir("agent-s-server");
    let cert = tls_support::write(&dir, "cert.pem", &leaf.cert_pem);
    let key = tls_support::write(&dir, "key.pem", &leaf.key_pem);
    std::fs::write(dir.join("page.html"), "<p>served by openssl</p>\n").unwrap();
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-WWW", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Kill(child);
    assert!(wait_until(10, || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    let rec = Arc::new(Rec::default());
    let tls = ca.client_config().build().unwrap();
    let c = HttpClient::builder()
        .tls(tls)
        .tcp(|b| b.server_name("localhost"))
        .start("127.0.0.1", port, false, ArcRec(rec.clone()))
        .unwrap();
    c.send_get("/page.html", &[]).unwrap();
    // s_server -WWW answers HTTP/1.0 without a length and closes: read until close.
    assert!(
        wait_until(10, || rec.closes().len() == 1),
        "{:?}",
        rec.events()
    );
    assert_eq!(rec.completes().len(), 1, "{:?}", rec.events());
    assert_eq!(rec.completes()[0].status, 200);
    assert_eq!(rec.bodies()[0], b"<p>served by openssl</p>\n");
    let _ = c.wait_timeout(Duration::from_secs(5));
}

#[test]
fn sync_client_cookie_jar_across_a_redirect() {
    let (_peer, port) = python_peer();
    let jar = Arc::new(CookieJar::new());
    let c = HttpSyncClient::new()
        .follow_redirects(2)
        .cookies(jar.clone());
    // The 302 sets a cookie; the redirected request already carries it.
    let r = c.get(&format!("http://127.0.0.1:{port}/login")).unwrap();
    assert_eq!((r.status, &r.body[..]), (200, &b"auth=yes"[..]));
    let r = c.get(&format!("http://127.0.0.1:{port}/cookie")).unwrap();
    assert_eq!(&r.body[..], b"auth=yes");
    // Without a jar nothing is kept.
    let plain = HttpSyncClient::new().follow_redirects(2);
    let r = plain
        .get(&format!("http://127.0.0.1:{port}/login"))
        .unwrap();
    assert_eq!(&r.body[..], b"none");
}

#[test]
fn client_uploads_a_local_file() {
    let (_peer, port) = python_peer();
    let dir = support::TempDir::new("upload");
    let path = dir.join("up.bin");
    let data = pattern(200_000, 3);
    std::fs::write(&path, &data).unwrap();
    let rec = Arc::new(Rec::default());
    let c = HttpClient::builder()
        .start("127.0.0.1", port, false, ArcRec(rec.clone()))
        .unwrap();
    c.send_local_file(
        "POST",
        "/file",
        &[("Content-Type", "application/octet-stream")],
        &path,
    )
    .unwrap();
    assert!(
        wait_until(10, || rec.completes().len() == 1),
        "{:?}",
        rec.events()
    );
    let mut want = b"got 200000 ".to_vec();
    want.extend_from_slice(&data[..32]);
    assert_eq!(rec.bodies()[0], want);
    c.stop();
    c.wait().unwrap();
}
