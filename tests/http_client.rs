//! HttpSyncClient against real servers: CPython's `http.server` (HTTP/1.0, closes after each
//! answer), a hand-written server sending chunked, read-until-close, HEAD and redirect answers,
//! shardnet's own HttpServer (connection reuse, POST bodies) and HTTPS with a private CA.

mod support;
mod tls_support;

use shardnet::http::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn against_python_http_server() {
    let dir = std::env::temp_dir().join(format!("shardnet-pyhttp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from python\n").unwrap();
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(&dir)
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
    let c = HttpSyncClient::new();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..3 {
        // HTTP/1.0 answers end the connection: the client reconnects by itself.
        let r = c.get(&format!("{base}/hello.txt")).unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"hello from python\n"[..]));
        assert_eq!(r.header("content-type"), Some(&b"text/plain"[..]));
    }
    assert_eq!(c.get(&format!("{base}/missing")).unwrap().status, 404);
    let head = c
        .open_url("HEAD", &format!("{base}/hello.txt"), &[], b"")
        .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

/// A server that answers each connection's requests from a script of raw responses.
fn scripted(answers: Vec<&'static [u8]>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut answers = answers.into_iter().peekable();
        'conns: for s in l.incoming() {
            let s = s.unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    continue 'conns;
                }
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0u8; len];
                r.read_exact(&mut body).unwrap();
                seen.push(format!(
                    "{} {}",
                    line.trim_end(),
                    String::from_utf8_lossy(&body)
                ));
                let Some(a) = answers.next() else { return seen };
                w.write_all(a).unwrap();
                if answers.peek().is_none() {
                    return seen; // the last answer: closing ends it
                }
                if a.starts_with(b"HTTP/1.0") {
                    continue 'conns; // read-until-close: end it
                }
            }
        }
        seen
    });
    (port, h)
}

#[test]
fn chunked_until_close_and_redirects() {
    let (port, server) = scripted(vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: /moved?x=1\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthere",
        b"HTTP/1.0 200 OK\r\n\r\nuntil the server closes",
    ]);
    let c = HttpSyncClient::new().follow_redirects(3);
    let base = format!("http://127.0.0.1:{port}");
    let r = c.get(&format!("{base}/chunked")).unwrap();
    assert_eq!(r.body, b"hello world");
    let r = c
        .open_url("POST", &format!("{base}/form"), &[("X-A", "1")], b"k=v")
        .unwrap();
    assert_eq!((r.status, &r.body[..]), (200, &b"there"[..]));
    let r = c.get(&format!("{base}/eof")).unwrap();
    assert_eq!(r.body, b"until the server closes");
    drop(c);
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        vec![
            "GET /chunked HTTP/1.1 ",
            "POST /form HTTP/1.1 k=v",
            // 302 after a POST continues with GET and no body.
            "GET /moved?x=1 HTTP/1.1 ",
            "GET /eof HTTP/1.1 ",
        ]
    );
}

#[test]
fn keeps_one_connection_to_our_server_and_speaks_https() {
    let handler = |req: &Request| {
        Response::new(
            200,
            format!("{} {} {}", req.method(), req.target(), req.body.len()),
        )
    };
    let server = HttpServer::builder()
        .runtime(rt(1))
        .serve("127.0.0.1:0", handler)
        .unwrap();
    let base = format!("http://{}", server.listen_addr().unwrap());
    let c = HttpSyncClient::new();
    for i in 0..100 {
        let r = c
            .open_url("PUT", &format!("{base}/n{i}"), &[], &vec![b'x'; i])
            .unwrap();
        assert_eq!(r.body, format!("PUT /n{i} {i}").as_bytes());
    }
    assert_eq!(
        server.shard_stats().iter().map(|s| s.accepted).sum::<u64>(),
        1,
        "100 requests on one connection"
    );
    server.stop();
    server.wait().unwrap();

    let ca = tls_support::Ca::new("client CA");
    let leaf = ca.server(&["localhost"]);
    let tls = HttpServer::builder()
        .runtime(rt(1))
        .tls(tls_support::https_config(&leaf))
        .serve("127.0.0.1:0", handler)
        .unwrap();
    let port = tls.listen_addr().unwrap().port();
    let c = HttpSyncClient::new()
        .tls(ca.client_config().alpn(["http/1.1"]).build().unwrap())
        .request_timeout(Duration::from_secs(10));
    for i in 0..3 {
        let r = c.get(&format!("https://localhost:{port}/s{i}")).unwrap();
        assert_eq!(r.body, format!("GET /s{i} 0").as_bytes());
    }
    // An untrusted certificate is refused.
    let stranger = HttpSyncClient::new();
    assert!(stranger.get(&format!("https://localhost:{port}/")).is_err());
    tls.stop();
    tls.wait().unwrap();
}
