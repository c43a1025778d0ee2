//! HttpServer against real peers (curl, CPython's http.client) and hostile raw sockets:
//! keep-alive reuse, chunked uploads, HEAD, HTTP/1.0, pipelining in order, byte-at-a-time
//! heads, `Expect: 100-continue`, every RFC 9112 violation answered with its status and a
//! close, the callback order of HP-Socket's listener, and slowloris bounded by the header
//! timeout while other connections keep being served.

mod support;
mod tls_support;

use shardnet::http::*;
use shardnet::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// Answers `METHOD TARGET body=<len> sum=<byte sum>`.
fn echo_handler(req: &Request) -> Response {
    let sum: u64 = req.body.iter().map(|&b| b as u64).sum();
    Response::new(
        200,
        format!(
            "{} {} body={} sum={sum}",
            req.method(),
            req.target(),
            req.body.len()
        ),
    )
    .header("Content-Type", "text/plain")
}

fn serve() -> (HttpServer, SocketAddr) {
    let s = HttpServer::builder()
        .runtime(rt(2))
        .serve("127.0.0.1:0", echo_handler)
        .unwrap();
    let a = s.listen_addr().unwrap();
    (s, a)
}

/// Reads one response (status, headers, Content-Length body) from `s`.
fn read_response(s: &mut TcpStream) -> (u16, Vec<(String, String)>, Vec<u8>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).unwrap();
        assert_eq!(n, 1, "connection closed inside a response head: {head:?}");
        head.push(b[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (status, headers, body)
}

fn curl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs (.ci/run installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_keep_alive_chunked_upload_head_and_http10() {
    let (server, addr) = serve();
    let base = format!("http://{addr}");
    // Two URLs in one curl: the second reuses the connection.
    let (ok, out, err) = curl(&["-v", &format!("{base}/a?x=1"), &format!("{base}/b")]);
    assert!(ok, "{err}");
    assert_eq!(out, "GET /a?x=1 body=0 sum=0GET /b body=0 sum=0");
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing"),
        "curl did not reuse the connection:\n{err}"
    );
    // Chunked upload of 100 KB.
    let dir = std::env::temp_dir().join(format!("shardnet-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("up.bin");
    let data = pattern(100_000, 3);
    std::fs::write(&file, &data).unwrap();
    let sum: u64 = data.iter().map(|&b| b as u64).sum();
    let (ok, out, err) = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{base}/up"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, format!("POST /up body=100000 sum={sum}"));
    // HEAD: the length GET would have, no body.
    let (ok, out, err) = curl(&["-I", &format!("{base}/h")]);
    assert!(ok, "{err}");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("content-length: 20"),
        "{out}"
    );
    // HTTP/1.0: answered, then closed.
    let (ok, out, err) = curl(&["--http1.0", "-v", &format!("{base}/old")]);
    assert!(ok, "{err}");
    assert_eq!(out, "GET /old body=0 sum=0");
    assert!(
        err.to_ascii_lowercase().contains("connection: close"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
    server.stop();
    server.wait().unwrap();
}

#[test]
fn python_http_client_keep_alive_and_chunked() {
    let (server, addr) = serve();
    let script = format!(
        r#"
import http.client
c = http.client.HTTPConnection("127.0.0.1", {port}, timeout=10)
out = []
for i in range(50):
    c.request("GET", "/n%d" % i)
    r = c.getresponse(); out.append(r.read().decode())
def gen():
    for i in range(10):
        yield bytes([i]) * 1000
c.request("POST", "/chunks", body=gen(), encode_chunked=True, headers={{"Transfer-Encoding": "chunked"}})
r = c.getresponse(); out.append(r.read().decode())
print(len(set(id(c.sock) for _ in [0])), out[0], out[49], out[50])
"#,
        port = addr.port()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sum: u64 = (0..10u64).map(|i| i * 1000).sum();
    assert_eq!(
        stdout.trim(),
        format!("1 GET /n0 body=0 sum=0 GET /n49 body=0 sum=0 POST /chunks body=10000 sum={sum}")
    );
    // 51 requests on one connection.
    assert_eq!(
        server.shard_stats().iter().map(|s| s.accepted).sum::<u64>(),
        1
    );
    server.stop();
    server.wait().unwrap();
}

#[test]
fn pipelined_requests_answered_in_order_and_byte_at_a_time() {
    let (server, addr) = serve();
    let mut s = TcpStream::connect(addr).unwrap();
    let mut burst = Vec::new();
    for i in 0..10 {
        burst.extend_from_slice(format!("GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    burst.extend_from_slice(b"POST /last HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    s.write_all(&burst).unwrap();
    for i in 0..10 {
        let (st, _, body) = read_response(&mut s);
        assert_eq!(st, 200);
        assert_eq!(body, format!("GET /p{i} body=0 sum=0").as_bytes());
    }
    assert_eq!(read_response(&mut s).2, b"POST /last body=3 sum=294");
    // One byte per write.
    for b in b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" {
        s.write_all(&[*b]).unwrap();
    }
    assert_eq!(read_response(&mut s).2, b"GET /slow body=0 sum=0");
    // Expect: 100-continue gets 100 before the body is sent.
    s.write_all(b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut cont = [0u8; 25];
    s.read_exact(&mut cont).unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"ok").unwrap();
    assert_eq!(read_response(&mut s).2, b"PUT /e body=2 sum=218");
    server.stop();
    server.wait().unwrap();
}

#[test]
fn rfc_violations_are_answered_and_closed() {
    let (server, addr) = serve();
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400),
        (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413),
    ];
    for (req, want) in cases {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req).unwrap();
        let (status, headers, _) = read_response(&mut s);
        assert_eq!(status, *want, "{:?}", String::from_utf8_lossy(req));
        assert!(
            headers
                .iter()
                .any(|(n, v)| n == "connection" && v == "close"),
            "{headers:?}"
        );
        assert!(peer_closed(&mut s, 5), "closed after {want}");
    }
    // An endless request line: 414; an 9 KB head: 431.
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(&[b"GET /".as_slice(), &[b'a'; 9000]].concat());
    assert_eq!(read_response(&mut s).0, 414);
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(
        &[
            b"GET / HTTP/1.1\r\nHost: a\r\nX: ".as_slice(),
            &[b'v'; 9000],
            b"\r\n\r\n",
        ]
        .concat(),
    );
    assert_eq!(read_response(&mut s).0, 431);
    server.stop();
    server.wait().unwrap();
}

/// The callback path: HP-Socket's order of events, streamed bodies, and `release` for a
/// request that is not keep-alive.
#[test]
fn callbacks_in_hp_order() {
    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);
    impl HttpServerListener for Log {
        fn on_message_begin(&self, _: &HttpServer, _: ConnId) -> HandleResult {
            self.0.lock().unwrap().push("begin".into());
            HandleResult::Ok
        }
        fn on_request_line(&self, _: &HttpServer, _: ConnId, m: &str, t: &str) -> HandleResult {
            self.0.lock().unwrap().push(format!("line {m} {t}"));
            HandleResult::Ok
        }
        fn on_header(&self, _: &HttpServer, _: ConnId, n: &str, v: &[u8]) -> HandleResult {
            self.0
                .lock()
                .unwrap()
                .push(format!("header {n}={}", String::from_utf8_lossy(v)));
            HandleResult::Ok
        }
        fn on_headers_complete(
            &self,
            _: &HttpServer,
            _: ConnId,
            h: &RequestHead<'_>,
        ) -> HeadAction {
            let u = h.url();
            self.0.lock().unwrap().push(format!(
                "complete path={} query={:?} host={:?} cookies={:?}",
                u.path,
                u.query,
                u.host,
                h.cookies()
            ));
            HeadAction::Continue
        }
        fn on_chunk_header(&self, _: &HttpServer, _: ConnId, len: u64) -> HandleResult {
            self.0.lock().unwrap().push(format!("chunk {len}"));
            HandleResult::Ok
        }
        fn on_body(&self, _: &HttpServer, _: ConnId, d: &[u8]) -> HandleResult {
            self.0
                .lock()
                .unwrap()
                .push(format!("body {}", String::from_utf8_lossy(d)));
            HandleResult::Ok
        }
        fn on_chunk_complete(&self, _: &HttpServer, _: ConnId) -> HandleResult {
            self.0.lock().unwrap().push("chunk done".into());
            HandleResult::Ok
        }
        fn on_message_complete(&self, s: &HttpServer, c: ConnId, r: &RequestInfo) -> HandleResult {
            self.0
                .lock()
                .unwrap()
                .push(format!("done keep_alive={}", r.keep_alive));
            s.send_response(c, 201, None, &[("X-Seen", &r.target)], b"made")
                .unwrap();
            if !r.keep_alive {
                s.release(c).unwrap();
            }
            HandleResult::Ok
        }
        fn on_close(&self, _: &HttpServer, _: ConnId, op: SocketOperation, e: i32) -> HandleResult {
            self.0.lock().unwrap().push(format!("close {op:?} {e}"));
            HandleResult::Ok
        }
    }
    let log = Arc::new(Log::default());
    let server = HttpServer::builder()
        .runtime(rt(1))
        .start("127.0.0.1:0", log.clone())
        .unwrap();
    let mut s = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    s.write_all(b"POST /p?q=1 HTTP/1.1\r\nHost: h:81\r\nCookie: a=1; b=2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n").unwrap();
    let (status, headers, body) = read_response(&mut s);
    assert_eq!((status, &body[..]), (201, &b"made"[..]));
    assert!(headers.contains(&("x-seen".into(), "/p?q=1".into())));
    assert!(peer_closed(&mut s, 5));
    assert!(wait_until(5, || log.0.lock().unwrap().len() == 14));
    assert_eq!(
        *log.0.lock().unwrap(),
        vec![
            "begin",
            "line POST /p?q=1",
            "header Host=h:81",
            "header Cookie=a=1; b=2",
            "header Transfer-Encoding=chunked",
            "header Connection=close",
            "complete path=/p query=Some(\"q=1\") host=Some(\"h\") cookies=[(\"a\", \"1\"), (\"b\", \"2\")]",
            "chunk 3",
            "body abc",
            "chunk done",
            "chunk 0",
            "chunk done",
            "done keep_alive=false",
            "close Close 0",
        ]
    );
    server.stop();
    server.wait().unwrap();
}

/// A head dribbled one byte every 100 ms is answered 408 and closed after the header timeout,
/// while 200 other keep-alive connections are served throughout.
#[test]
fn slowloris_is_cut_off_while_others_are_served() {
    raise_fd_limit();
    let server = HttpServer::builder()
        .runtime(rt(2))
        .header_timeout(Duration::from_millis(800))
        .serve("127.0.0.1:0", echo_handler)
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (served, stop) = (served.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut conns: Vec<TcpStream> =
                    (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
                while !stop.load(Ordering::Relaxed) {
                    for (i, c) in conns.iter_mut().enumerate() {
                        c.write_all(
                            format!("GET /w{w}c{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
                        )
                        .unwrap();
                        let (st, _, body) = read_response(c);
                        assert_eq!(st, 200);
                        assert_eq!(body, format!("GET /w{w}c{i} body=0 sum=0").as_bytes());
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut slow = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for b in b"GET /slowloris HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
        if slow.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        // The answer (408) is there once the server cut it off; the server then lingers,
        // discarding what still comes, so writes alone do not tell.
        slow.set_nonblocking(true).unwrap();
        let answered = slow.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0);
        slow.set_nonblocking(false).unwrap();
        if answered || started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    if !cut {
        let (status, _, _) = read_response(&mut slow);
        assert_eq!(status, 408);
        assert!(peer_closed(&mut slow, 5));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "cut off after {took:?}"
    );
    let before = served.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(
        served.load(Ordering::Relaxed) > before,
        "others kept being served"
    );
    assert!(before >= 200, "served {before} requests meanwhile");
    server.stop();
    server.wait().unwrap();
}

/// HTTPS through the same builder: curl verifies the certificate, negotiates http/1.1 by ALPN
/// and reuses the TLS connection for a second request and a chunked upload.
#[test]
fn https_with_curl() {
    let ca = tls_support::Ca::new("https CA");
    let leaf = ca.server(&["localhost"]);
    let dir = tls_support::temp_dir("https");
    let ca_file = tls_support::write(&dir, "ca.pem", &ca.pem);
    let body = dir.join("body.bin");
    std::fs::write(&body, vec![7u8; 5000]).unwrap();
    let server = HttpServer::builder()
        .runtime(rt(1))
        .tls(tls_support::https_config(&leaf))
        .serve("127.0.0.1:0", echo_handler)
        .unwrap();
    let port = server.listen_addr().unwrap().port();
    let url = |p: &str| format!("https://localhost:{port}{p}");
    let (ok, out, err) = curl(&[
        "-v",
        "--cacert",
        &ca_file.display().to_string(),
        "--resolve",
        &format!("localhost:{port}:127.0.0.1"),
        &url("/s1"),
        &url("/s2"),
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", body.display()),
        &url("/up"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "POST /s1 body=5000 sum=35000POST /s2 body=5000 sum=35000POST /up body=5000 sum=35000"
    );
    assert!(err.contains("ALPN") && err.contains("http/1.1"), "{err}");
    assert_eq!(
        server.shard_stats().iter().map(|s| s.accepted).sum::<u64>(),
        1,
        "one TLS connection for three requests"
    );
    server.stop();
    server.wait().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

/// 960 pipelined requests in one write: all answered, in order (the answers to one read leave
/// together: see the driver's cork).
#[test]
fn deep_pipelining_in_one_write() {
    let (server, addr) = serve();
    let mut s = TcpStream::connect(addr).unwrap();
    let mut burst = Vec::new();
    for i in 0..960 {
        burst.extend_from_slice(format!("GET /q{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&burst).unwrap());
    for i in 0..960 {
        let (st, h, body) = read_response(&mut s);
        assert_eq!(st, 200, "request {i}");
        assert_eq!(body, format!("GET /q{i} body=0 sum=0").as_bytes(), "{h:?}");
    }
    writer.join().unwrap();
    server.stop();
    server.wait().unwrap();
}

/// After `max_requests` requests the last answer says `Connection: close`, nothing after it is
/// answered, and the connection closes.
#[test]
fn max_requests_ends_the_connection() {
    let server = HttpServer::builder()
        .runtime(rt(1))
        .http_config(HttpConfig {
            max_requests: 3,
            ..Default::default()
        })
        .serve("127.0.0.1:0", echo_handler)
        .unwrap();
    let mut s = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    let mut burst = Vec::new();
    for i in 0..5 {
        burst.extend_from_slice(format!("GET /m{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    s.write_all(&burst).unwrap();
    for i in 0..3 {
        let (st, h, body) = read_response(&mut s);
        assert_eq!(
            (st, body),
            (200, format!("GET /m{i} body=0 sum=0").into_bytes())
        );
        let close = h.iter().any(|(n, v)| n == "connection" && v == "close");
        assert_eq!(close, i == 2, "{h:?}");
    }
    assert!(peer_closed(&mut s, 5), "closed, /m3 and /m4 unanswered");
    server.stop();
    server.wait().unwrap();
}

/// Review cases: answers queued before a refusal still leave; a refused connection reads
/// nothing more; a 204 never carries a body; HTTP/1.0 gets no 100 Continue.
#[test]
fn refusals_keep_earlier_answers_and_stop_reading() {
    let server = HttpServer::builder()
        .runtime(rt(1))
        .max_body(10)
        .serve("127.0.0.1:0", |req: &Request| {
            if req.target() == "/empty" {
                Response::new(204, "dropped")
            } else {
                echo_handler(req)
            }
        })
        .unwrap();
    let addr = server.listen_addr().unwrap();
    // Two answers, then a body over max_body: both answers and the 413 arrive, then the close.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /empty HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890GET /never HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).2, b"GET /a body=0 sum=0");
    let (st, h, body) = read_response(&mut s);
    assert_eq!(st, 204);
    assert!(
        body.is_empty() && !h.iter().any(|(n, _)| n == "content-length"),
        "{h:?}"
    );
    assert_eq!(read_response(&mut s).0, 413);
    assert!(peer_closed(&mut s, 5), "closed, /never unanswered");
    // A streamed body over the limit (chunked): same.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).0, 413);
    assert!(peer_closed(&mut s, 5));
    // A malformed request answered once; bytes after it are not read as requests.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).0, 400);
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(peer_closed(&mut s, 5), "one 400, then the close");
    // HTTP/1.0 with Expect: no 100 Continue; the answer comes after the body.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"PUT /e HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    assert!(silent_for(&mut s, 200), "no 100 Continue for HTTP/1.0");
    s.write_all(b"ok").unwrap();
    let (st, _, body) = read_response(&mut s);
    assert_eq!((st, &body[..]), (200, &b"PUT /e body=2 sum=218"[..]));
    server.stop();
    server.wait().unwrap();
}

/// A body that stops arriving is answered 408 and closed after the body timeout.
#[test]
fn stalled_body_is_cut_off() {
    let server = HttpServer::builder()
        .runtime(rt(1))
        .body_timeout(Duration::from_millis(400))
        .serve("127.0.0.1:0", echo_handler)
        .unwrap();
    let mut s = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    let started = Instant::now();
    s.write_all(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .unwrap();
    let (status, _, _) = read_response(&mut s);
    assert_eq!(status, 408);
    assert!(peer_closed(&mut s, 5));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(4),
        "{took:?}"
    );
    server.stop();
    server.wait().unwrap();
}

/// A client that sends its request and its FIN in one go (HTTP/1.0 style `nc -N`): the
/// request is answered in full before the server closes.
#[test]
fn request_with_fin_in_one_segment_is_answered() {
    let (server, addr) = serve();
    for i in 0..10 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(format!("GET /fin{i} HTTP/1.0\r\n\r\n").as_bytes())
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut all = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_to_end(&mut all).unwrap();
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.ends_with(&format!("GET /fin{i} body=0 sum=0")),
            "{text}"
        );
    }
    server.stop();
    server.wait().unwrap();
}

/// A chunked response from the callback path: the exact bytes on the wire, then curl decodes
/// them.
#[test]
fn chunked_response_from_callbacks() {
    struct Chunky;
    impl HttpServerListener for Chunky {
        fn on_message_complete(&self, s: &HttpServer, c: ConnId, r: &RequestInfo) -> HandleResult {
            s.send_response(c, 200, None, &[("Transfer-Encoding", "chunked")], b"")
                .unwrap();
            s.send_chunk(c, b"hello").unwrap();
            s.send_chunk(c, &[b'x'; 300]).unwrap();
            s.send_last_chunk(c, &[("X-Done", "1")]).unwrap();
            if !r.keep_alive {
                s.release(c).unwrap();
            }
            HandleResult::Ok
        }
        fn on_close(&self, _: &HttpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let server = HttpServer::builder()
        .runtime(rt(1))
        .start("127.0.0.1:0", Arc::new(Chunky))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.read_to_end(&mut all).unwrap();
    let mut want =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n12c\r\n".to_vec();
    want.extend_from_slice(&[b'x'; 300]);
    want.extend_from_slice(b"\r\n0\r\nX-Done: 1\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(&all),
        String::from_utf8_lossy(&want)
    );
    let (ok, out, err) = curl(&[&format!("http://{addr}/")]);
    assert!(ok, "{err}");
    assert_eq!(out, format!("hello{}", "x".repeat(300)));
    server.stop();
    server.wait().unwrap();
}

/// A client that pipelined far past a `Connection: close` request still reads the whole
/// answer and a clean end: the server lingers (write side shut, input discarded) instead of
/// closing a socket with unread input, which would reset the connection and make the client's
/// kernel drop the answer.
#[test]
fn lingering_close_delivers_the_answer_despite_unread_input() {
    let (s, addr) = serve();
    for round in 0..5 {
        let mut c = TcpStream::connect(addr).unwrap();
        let mut burst =
            format!("GET /last{round} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .into_bytes();
        // 1 MiB of further pipelined requests the server will never read.
        while burst.len() < 1 << 20 {
            burst.extend_from_slice(b"GET /more HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        let w = c.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let mut w = w;
            let _ = w.write_all(&burst); // may fail once the server has shut its side
        });
        // Read only after the server has answered and closed its side.
        std::thread::sleep(Duration::from_millis(300));
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let r = c.read_to_end(&mut got);
        assert!(r.is_ok(), "round {round}: {r:?} after {} bytes", got.len());
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n"),
            "round {round}: {text}"
        );
        assert!(
            text.ends_with(&format!("GET /last{round} body=0 sum=0")),
            "round {round}: {text}"
        );
        drop(c);
        let _ = writer.join();
    }
    s.stop();
    s.wait().unwrap();
}

/// A callback listener that answers later than the keep-alive timeout: the connection owes an
/// answer, so the idle sweeper leaves it open; once answered and idle, it is closed.
#[test]
fn late_answer_is_not_cut_by_the_keep_alive_timeout() {
    struct Late(Mutex<std::sync::mpsc::Sender<ConnId>>);
    impl HttpServerListener for Late {
        fn on_message_complete(&self, _: &HttpServer, c: ConnId, _: &RequestInfo) -> HandleResult {
            self.0.lock().unwrap().send(c).unwrap();
            HandleResult::Ok
        }
        fn on_close(&self, _: &HttpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let s = HttpServer::builder()
        .runtime(rt(1))
        .keep_alive_timeout(Duration::from_millis(200))
        .start("127.0.0.1:0", Arc::new(Late(Mutex::new(tx))))
        .unwrap();
    let mut c = TcpStream::connect(s.listen_addr().unwrap()).unwrap();
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let conn = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    s.send_response(conn, 200, None, &[], b"worth the wait")
        .unwrap();
    let (status, _, body) = read_response(&mut c);
    assert_eq!((status, &body[..]), (200, &b"worth the wait"[..]));
    // Answered and idle: now the keep-alive timeout applies.
    assert!(peer_closed(&mut c, 5));
    s.stop();
    s.wait().unwrap();
}

/// HTTP's TCP defaults: TCP_NODELAY (without it the answers to a pipelined burst, written in
/// two sends, wait for the client's delayed ACK: 23k instead of 900k req/s at 16-deep
/// pipelining in `shardnet http`) and a lingering close.
#[test]
fn http_tcp_defaults() {
    let b = HttpServer::builder();
    assert!(b.tcp_settings().no_delay);
    assert_eq!(b.tcp_settings().lingering_close, Duration::from_secs(5));
    assert!(
        !TcpServer::builder().settings().no_delay,
        "plain TCP keeps HP's default"
    );
    assert_eq!(
        TcpServer::builder().settings().lingering_close,
        Duration::ZERO
    );
}
