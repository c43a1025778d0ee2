//! HTTP interop with third-party implementations:
//! - our HttpServer under python `requests` (a Session's connection reuse, chunked upload from
//!   a generator, HEAD, cookies), hyper 1.x's client (100 requests on one connection), and
//!   nginx as a reverse proxy with upstream keep-alive;
//! - our HttpAgent and HttpSyncClient against a hyper 1.x server (chunked and sized bodies,
//!   pipelining, keep-alive).

mod support;

use shardnet::http::*;
use shardnet::{ConnId, HandleResult, SocketOperation};
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

/// Answers `METHOD TARGET len=<body length>`; `/cookie` sets one; `/whoami` echoes Cookie.
fn handler(req: &Request) -> Response {
    match req.target() {
        "/cookie" => Response::new(200, "set").header("Set-Cookie", "session=s3cr3t; Path=/"),
        "/whoami" => {
            let c = req
                .header("cookie")
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            Response::new(200, c)
        }
        t => Response::new(200, format!("{} {t} len={}", req.method(), req.body.len()))
            .header("Content-Type", "text/plain"),
    }
}

/// Connections the server accepted so far (all shards).
fn accepted(s: &HttpServer) -> u64 {
    s.shard_stats().iter().map(|x| x.accepted).sum()
}

fn serve() -> (HttpServer, u16) {
    let s = HttpServer::builder()
        .runtime(rt(2))
        .serve("127.0.0.1:0", handler)
        .unwrap();
    let port = s.listen_addr().unwrap().port();
    (s, port)
}

#[test]
fn python_requests_session() {
    let (s, port) = serve();
    let script = r#"
import sys, requests
base = "http://127.0.0.1:%s" % sys.argv[1]
s = requests.Session()
out = []
for i in range(5):
    r = s.get(base + "/get%d" % i)
    out.append("%d %s" % (r.status_code, r.text))
def gen():
    for part in [b"abc", b"defg", b"hi"]:
        yield part
r = s.post(base + "/upload", data=gen())
out.append("%d %s" % (r.status_code, r.text))
r = s.head(base + "/h")
out.append("%d %s %s" % (r.status_code, r.headers.get("Content-Length"), repr(r.content)))
s.get(base + "/cookie")
out.append(s.get(base + "/whoami").text)
print("\n".join(out))
"#;
    let o = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().take(5).enumerate() {
        assert_eq!(*l, format!("200 GET /get{i} len=0"));
    }
    assert_eq!(
        lines[5], "200 POST /upload len=9",
        "chunked upload from a generator"
    );
    assert_eq!(lines[6], "200 13 b''", "HEAD: GET's length, no body");
    assert_eq!(lines[7], "session=s3cr3t");
    // One connection carried the whole session (requests pools keep-alive connections).
    assert_eq!(accepted(&s), 1);
    s.stop();
    s.wait().unwrap();
}

#[test]
fn hyper_client_keep_alive_and_bodies() {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let (s, port) = serve();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let got: Vec<(u16, String)> = rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut out = Vec::new();
        for i in 0..100 {
            let (method, body) = if i % 2 == 0 {
                ("GET", Bytes::new())
            } else {
                ("POST", Bytes::from(vec![b'x'; i * 10]))
            };
            let req = hyper::Request::builder()
                .method(method)
                .uri(format!("/r{i}"))
                .header("Host", "127.0.0.1")
                .body(Full::new(body))
                .unwrap();
            send.ready().await.unwrap();
            let res = send.send_request(req).await.unwrap();
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            out.push((status, String::from_utf8_lossy(&body).into_owned()));
        }
        out
    });
    for (i, (st, body)) in got.iter().enumerate() {
        let want = if i % 2 == 0 {
            format!("GET /r{i} len=0")
        } else {
            format!("POST /r{i} len={}", i * 10)
        };
        assert_eq!((*st, body.as_str()), (200, want.as_str()));
    }
    assert_eq!(accepted(&s), 1, "one connection for 100 requests");
    s.stop();
    s.wait().unwrap();
}

fn nginx() -> Option<&'static str> {
    if std::path::Path::new("/usr/sbin/nginx").exists() {
        Some("/usr/sbin/nginx")
    } else if Command::new("nginx").arg("-v").output().is_ok() {
        Some("nginx")
    } else {
        None
    }
}

#[test]
fn nginx_reverse_proxy_in_front() {
    let Some(nginx) = nginx() else {
        eprintln!("SKIP: nginx is not installed (.ci/run installs it)");
        return;
    };
    let (s, upstream) = serve();
    let dir = support::TempDir::new("proxy");
    let port = free_port();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; error_log {d}/error.log; pid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
           upstream sn {{ server 127.0.0.1:{upstream}; keepalive 4; }}\n\
           server {{ listen 127.0.0.1:{port};\n\
             location / {{ proxy_pass http://sn; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }} }}\n",
        d = dir.display()
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
    // 30 requests through nginx (curl reuses its connection; nginx its upstream ones).
    let mut args = vec!["-sS".to_string()];
    for i in 0..30 {
        args.push(format!("http://127.0.0.1:{port}/via-nginx/{i}"));
        args.push("-w".into());
        args.push("\n".into());
    }
    let o = Command::new("curl").args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 30, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("GET /via-nginx/{i} len=0"));
    }
    // A body through the proxy.
    let o = Command::new("curl")
        .args(["-sS", "--data-binary", "0123456789"])
        .arg(format!("http://127.0.0.1:{port}/post"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "POST /post len=10");
    // nginx kept its upstream connections alive: far fewer than 31.
    let accepted = accepted(&s);
    assert!(
        (1..=4).contains(&accepted),
        "upstream connections: {accepted}"
    );
    s.stop();
    s.wait().unwrap();
}

/// A hyper 1.x server on its own thread: `/chunked` streams three frames (chunked on the
/// wire), anything else answers its path with a length.
fn hyper_server() -> u16 {
    use http_body_util::{Full, StreamBody};
    use hyper::body::{Bytes, Frame};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().port()).unwrap();
            loop {
                let (s, _) = l.accept().await.unwrap();
                tokio::task::spawn_local(async move {
                    let svc = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                        let path = req.uri().path().to_string();
                        let r: hyper::Response<
                            http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>,
                        > = if path == "/chunked" {
                            let frames =
                                futures_lite::stream::iter(["one,", "two,", "three"].map(|p| {
                                    Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(p)))
                                }));
                            hyper::Response::new(http_body_util::BodyExt::boxed(StreamBody::new(
                                frames,
                            )))
                        } else {
                            hyper::Response::new(http_body_util::BodyExt::boxed(Full::new(
                                Bytes::from(format!("hyper saw {path}")),
                            )))
                        };
                        Ok::<_, std::convert::Infallible>(r)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
                });
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

#[derive(Default)]
struct Got {
    bodies: Mutex<Vec<(u16, Vec<u8>)>>,
    cur: Mutex<Vec<u8>>,
    chunks: Mutex<usize>,
    closes: Mutex<usize>,
}

impl HttpClientListener<HttpAgent> for Got {
    fn on_chunk_header(&self, _: &HttpAgent, _: ConnId, _: u64) -> HandleResult {
        *self.chunks.lock().unwrap() += 1;
        HandleResult::Ok
    }
    fn on_body(&self, _: &HttpAgent, _: ConnId, d: &[u8]) -> HandleResult {
        self.cur.lock().unwrap().extend_from_slice(d);
        HandleResult::Ok
    }
    fn on_message_complete(&self, _: &HttpAgent, _: ConnId, r: &ResponseInfo) -> HandleResult {
        let body = std::mem::take(&mut *self.cur.lock().unwrap());
        self.bodies.lock().unwrap().push((r.status, body));
        HandleResult::Ok
    }
    fn on_close(&self, _: &HttpAgent, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        *self.closes.lock().unwrap() += 1;
        HandleResult::Ok
    }
}

#[test]
fn agent_and_sync_client_against_hyper_server() {
    let port = hyper_server();
    let got = Arc::new(Got::default());
    let a = HttpAgent::builder().shards(1).start(got.clone()).unwrap();
    let conn = a.connect("127.0.0.1", port).unwrap();
    assert!(wait_until(10, || a.is_connected(conn)));
    // Pipelined: hyper answers them in order.
    for i in 0..10 {
        if i % 3 == 0 {
            a.send_get(conn, "/chunked", &[]).unwrap();
        } else {
            a.send_post(conn, &format!("/p{i}"), &[], b"body").unwrap();
        }
    }
    assert!(wait_until(10, || got.bodies.lock().unwrap().len() == 10));
    for (i, (st, body)) in got.bodies.lock().unwrap().iter().enumerate() {
        assert_eq!(*st, 200);
        if i % 3 == 0 {
            assert_eq!(body, b"one,two,three");
        } else {
            assert_eq!(body, format!("hyper saw /p{i}").as_bytes());
        }
    }
    // Four chunked answers: three data chunks and the last chunk each.
    assert_eq!(*got.chunks.lock().unwrap(), 16);
    assert_eq!(*got.closes.lock().unwrap(), 0);
    a.stop();
    a.wait().unwrap();

    let c = HttpSyncClient::new();
    for p in ["/chunked", "/x", "/chunked"] {
        let r = c.get(&format!("http://127.0.0.1:{port}{p}")).unwrap();
        let want = if p == "/chunked" {
            "one,two,three".to_string()
        } else {
            format!("hyper saw {p}")
        };
        assert_eq!((r.status, r.body), (200, want.into_bytes()));
    }
}
