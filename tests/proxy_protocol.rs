//! PROXY protocol behind a real haproxy (`send-proxy` and `send-proxy-v2`, from a source
//! address of its own, 127.0.0.2): `on_accept` and `remote_addr` report the client haproxy
//! accepted, the bytes after the header are echoed unchanged; a direct connection from an
//! address not allowed is refused without `on_accept`; an allowed address that sends no header
//! is closed with EPROTO without the application hearing of it. Also `shardnet http
//! --proxy-protocol` behind haproxy, hit by curl; TLS after the header (header and ClientHello
//! in one write; HTTPS behind haproxy with curl); nginx's stream module with `proxy_protocol on`.

mod support;
mod tls_support;

use shardnet::http::{HttpServer, Request, Response};
use shardnet::tls::rustls;
use shardnet::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::free_port;

#[derive(Default)]
struct Log {
    accepted: Mutex<Vec<(ConnId, SocketAddr)>>,
    closes: Mutex<Vec<ConnId>>,
    remote: Mutex<Vec<Option<SocketAddr>>>,
    handshakes: std::sync::atomic::AtomicUsize,
}

impl ServerListener for Log {
    fn on_accept(
        &self,
        s: &TcpServer,
        c: ConnId,
        peer: SocketAddr,
        _: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        self.accepted.lock().unwrap().push((c, peer));
        self.remote.lock().unwrap().push(s.remote_addr(c));
        HandleResult::Ok
    }
    fn on_handshake(&self, _: &TcpServer, _: ConnId) -> HandleResult {
        self.handshakes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        let _ = s.send(c, d);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        self.closes.lock().unwrap().push(c);
        HandleResult::Ok
    }
}

struct Haproxy(Child, std::path::PathBuf);
impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn haproxy(backends: &[(u16, u16, &str)]) -> Option<Haproxy> {
    if Command::new("haproxy").arg("-v").output().is_err() {
        assert!(
            std::env::var_os("SHARDNET_REQUIRE_PEERS").is_none(),
            "haproxy is required (apt-get install haproxy)"
        );
        eprintln!("SKIP: no haproxy");
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "shardnet-haproxy-{}-{}",
        std::process::id(),
        backends[0].0
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = String::from(
        "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n",
    );
    for (i, (front, back, how)) in backends.iter().enumerate() {
        cfg.push_str(&format!(
            "frontend f{i}\n  bind 127.0.0.1:{front}\n  default_backend b{i}\nbackend b{i}\n  server s{i} 127.0.0.1:{back} {how} source 127.0.0.2\n"
        ));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new("haproxy")
        .args(["-f", path.to_str().unwrap(), "-db"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let h = Haproxy(child, dir);
    let t = Instant::now();
    while !backends
        .iter()
        .all(|b| TcpStream::connect(("127.0.0.1", b.0)).is_ok())
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "haproxy did not start"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    Some(h)
}

/// A two-shard echo server taking PROXY headers from 127.0.0.2.
fn echo_behind_balancer() -> (Arc<Log>, TcpServer) {
    let log = Arc::new(Log::default());
    let server = TcpServer::builder()
        .shards(2)
        .proxy_protocol(ProxyProtocol::from(&["127.0.0.2"]).unwrap())
        .start("127.0.0.1:0", log.clone())
        .unwrap();
    (log, server)
}

fn round_trip(port: u16, msg: &[u8]) -> (SocketAddr, Vec<u8>) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got).unwrap();
    (c.local_addr().unwrap(), got)
}

#[test]
fn behind_haproxy_v1_and_v2() {
    let (log, server) = echo_behind_balancer();
    let port = server.listen_addr().unwrap().port();
    let (f1, f2) = (free_port(), free_port());
    let Some(_h) = haproxy(&[(f1, port, "send-proxy"), (f2, port, "send-proxy-v2")]) else {
        return;
    };
    for (front, msg) in [(f1, &b"over v1"[..]), (f2, &b"over v2, a bit longer"[..])] {
        let (client, got) = round_trip(front, msg);
        assert_eq!(got, msg);
        // The client haproxy accepted, not haproxy's own connection from 127.0.0.2 (the
        // helper's readiness probes through haproxy are accepted too, with their own ports).
        let accepted = log.accepted.lock().unwrap().clone();
        let k = accepted
            .iter()
            .position(|a| a.1 == client)
            .unwrap_or_else(|| panic!("{client} not among {accepted:?}"));
        assert_eq!(log.remote.lock().unwrap()[k], Some(client));
        assert!(accepted
            .iter()
            .all(|a| a.1.ip().is_loopback() && a.1.ip().to_string() == "127.0.0.1"));
    }
    let seen = log.accepted.lock().unwrap().len();
    // Straight from 127.0.0.1 (not a balancer): refused, the application never sees it.
    let mut direct = TcpStream::connect(("127.0.0.1", port)).unwrap();
    direct
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = direct.write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nspoof");
    let mut b = [0u8; 16];
    assert!(matches!(direct.read(&mut b), Ok(0) | Err(_)));
    // From the balancer's address but without a header: closed with EPROTO, unseen.
    let mut fake = from_balancer(server.listen_addr().unwrap());
    fake.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(matches!(fake.read(&mut b), Ok(0) | Err(_)));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        log.accepted.lock().unwrap().len(),
        seen,
        "refused ones unseen"
    );
    // Every close reported is of an accepted connection (none for the refused two).
    let t = Instant::now();
    while log.closes.lock().unwrap().len() < seen && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let accepted: Vec<ConnId> = log.accepted.lock().unwrap().iter().map(|a| a.0).collect();
    let closes = log.closes.lock().unwrap().clone();
    assert_eq!(closes.len(), seen, "{closes:?}");
    assert!(closes.iter().all(|c| accepted.contains(c)));
    server.stop();
    server.wait().unwrap();
}

#[test]
fn http_binary_behind_haproxy() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args([
            "http",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--echo-request",
            "--shards",
            "1",
            "--duration",
            "20",
            "--proxy-protocol",
            "--proxy-from",
            "127.0.0.2/32",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(25));
    }
    let front = free_port();
    let Some(_h) = haproxy(&[(front, port, "send-proxy-v2")]) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{front}/via/haproxy"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "GET /via/haproxy"
    );
    // Directly, without the balancer: refused.
    let direct = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/"),
        ])
        .output()
        .unwrap();
    assert!(!direct.status.success());
    let _ = child.kill();
    let _ = child.wait();
}

/// A socket from the balancer's address (127.0.0.2) straight to `addr`.
fn from_balancer(addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

#[test]
fn tls_after_the_proxy_header_in_the_same_write() {
    let ca = tls_support::Ca::new("proxy CA");
    let leaf = ca.server(&["localhost"]);
    let log = Arc::new(Log::default());
    let server = TcpServer::builder()
        .shards(1)
        .tls(tls_support::server_config(&leaf))
        .proxy_protocol(ProxyProtocol::from(&["127.0.0.2"]).unwrap())
        .start("127.0.0.1:0", log.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let mut tcp = from_balancer(addr);
    let mut tls = rustls::ClientConnection::new(
        tls_support::rustls_client_config(&ca),
        "localhost".try_into().unwrap(),
    )
    .unwrap();
    // The header and the ClientHello leave in one write, so the server reads both at once.
    let mut first = b"PROXY TCP4 203.0.113.7 127.0.0.1 4242 443\r\n".to_vec();
    tls.write_tls(&mut first).unwrap();
    assert!(
        first.len() > 100 && first[43] == 0x16,
        "a TLS handshake record follows"
    );
    tcp.write_all(&first).unwrap();
    let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
    stream.write_all(b"over TLS after PROXY").unwrap();
    let mut got = [0u8; 20];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"over TLS after PROXY");
    let client: SocketAddr = "203.0.113.7:4242".parse().unwrap();
    let accepted = log.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].1, client);
    assert_eq!(server.remote_addr(accepted[0].0), Some(client));
    assert_eq!(
        log.handshakes.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "on_handshake once, after the TLS handshake"
    );
    // A ClientHello without the header, from the balancer's address: closed, never accepted.
    let mut bare = from_balancer(addr);
    let mut tls2 = rustls::ClientConnection::new(
        tls_support::rustls_client_config(&ca),
        "localhost".try_into().unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    tls2.write_tls(&mut hello).unwrap();
    bare.write_all(&hello).unwrap();
    let mut b = [0u8; 64];
    assert!(matches!(bare.read(&mut b), Ok(0) | Err(_)));
    assert_eq!(log.accepted.lock().unwrap().len(), 1);
    server.stop();
    server.wait().unwrap();
}

#[test]
fn https_behind_haproxy_with_curl() {
    let ca = tls_support::Ca::new("proxy https CA");
    let leaf = ca.server(&["localhost"]);
    let dir = tls_support::temp_dir("proxy-https");
    let ca_file = tls_support::write(&dir, "ca.pem", &ca.pem);
    let cell: Arc<std::sync::OnceLock<HttpServer>> = Arc::default();
    let c2 = cell.clone();
    let server = HttpServer::builder()
        .shards(2)
        .tls(tls_support::https_config(&leaf))
        .tcp(|b| b.proxy_protocol(ProxyProtocol::from(&["127.0.0.2"]).unwrap()))
        .serve("127.0.0.1:0", move |r: &Request| {
            let peer = r.conn.and_then(|c| c2.get()?.remote_addr(c));
            Response::new(200, format!("{peer:?}"))
        })
        .unwrap();
    let _ = cell.set(server.clone());
    let port = server.listen_addr().unwrap().port();
    let front = free_port();
    let Some(_h) = haproxy(&[(front, port, "send-proxy-v2")]) else {
        return;
    };
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&ca_file)
        .args(["--resolve", &format!("localhost:{front}:127.0.0.1")])
        .args(["-w", "|%{local_port}"])
        .arg(format!("https://localhost:{front}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, local_port) = text.rsplit_once('|').unwrap();
    assert_eq!(body, format!("Some(127.0.0.1:{local_port})"));
    let _ = std::fs::remove_dir_all(dir);
    server.stop();
    server.wait().unwrap();
}

/// nginx's stream module with `proxy_protocol on` (v1) in front of an echo server.
#[test]
fn behind_nginx_stream_proxy_protocol() {
    let module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    if !std::path::Path::new(module).exists() {
        assert!(
            std::env::var_os("SHARDNET_REQUIRE_PEERS").is_none(),
            "nginx's stream module is required (apt-get install nginx libnginx-mod-stream)"
        );
        eprintln!("SKIP: no nginx stream module");
        return;
    }
    let (log, server) = echo_behind_balancer();
    let port = server.listen_addr().unwrap().port();
    let front = free_port();
    let dir = support::TempDir::new("nginx-stream");
    let d = dir.display();
    let conf = format!(
        "load_module {module};\n\
         daemon off; master_process off; worker_processes 1; error_log {d}/error.log; pid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         stream {{ server {{ listen 127.0.0.1:{front}; proxy_pass 127.0.0.1:{port}; proxy_protocol on; proxy_bind 127.0.0.2; }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    };
    let mut child = Command::new(nginx)
        .args(["-c", dir.join("nginx.conf").to_str().unwrap(), "-p"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", front)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "nginx did not start");
        std::thread::sleep(Duration::from_millis(25));
    }
    let (client, got) = round_trip(front, b"through nginx's stream module");
    assert_eq!(got, b"through nginx's stream module");
    let accepted = log.accepted.lock().unwrap().clone();
    assert!(
        accepted.iter().any(|a| a.1 == client),
        "{client} not among {accepted:?}"
    );
    // Every connection accepted came through nginx with the client's own address.
    assert!(accepted.iter().all(|a| a.1.ip().to_string() == "127.0.0.1"));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    server.stop();
    server.wait().unwrap();
}

/// Pull: fetches everything announced and echoes it.
#[derive(Default)]
struct PullEcho {
    accepted: Mutex<Vec<SocketAddr>>,
}
impl ServerListener for PullEcho {
    fn on_accept(
        &self,
        _: &TcpServer,
        _: ConnId,
        peer: SocketAddr,
        _: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        self.accepted.lock().unwrap().push(peer);
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpServer, _: ConnId, _: &[u8]) -> HandleResult {
        HandleResult::Error // never under Pull: raw bytes here would be a bug (the echo fails)
    }
    fn on_pull_receive(&self, s: &TcpServer, c: ConnId, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        assert_eq!(s.fetch(c, &mut buf), FetchResult::Ok);
        let _ = s.send(c, &buf);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

/// The header and the first messages in one write: the bytes after the header go through the
/// receive model (Pack: whole messages; Pull: fetched), not to `on_receive` raw.
#[test]
fn pack_and_pull_read_what_follows_the_header() {
    let header = b"PROXY TCP4 198.51.100.1 127.0.0.1 5000 80\r\n";
    let client: SocketAddr = "198.51.100.1:5000".parse().unwrap();
    // Pack: two messages right behind the header, echoed as two messages.
    let log = Arc::new(Log::default());
    let pack = TcpServer::builder()
        .shards(1)
        .pack(shardnet::pack::PackConfig::default())
        .proxy_protocol(ProxyProtocol::from(&["127.0.0.2"]).unwrap())
        .start("127.0.0.1:0", log.clone())
        .unwrap();
    let mut c = from_balancer(pack.listen_addr().unwrap());
    let mut out = header.to_vec();
    for m in [&b"first"[..], &b"second message"[..]] {
        out.extend_from_slice(&shardnet::pack::encode_header(0, m.len() as u32));
        out.extend_from_slice(m);
    }
    c.write_all(&out).unwrap();
    let want = &out[header.len()..];
    let mut got = vec![0u8; want.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(got, want, "both messages echoed, framed");
    let accepted = log.accepted.lock().unwrap().clone();
    assert_eq!(
        accepted.iter().map(|a| a.1).collect::<Vec<_>>(),
        vec![client]
    );
    pack.stop();
    pack.wait().unwrap();
    // Pull: the bytes after the header are fetched.
    let pl = Arc::new(PullEcho::default());
    let pull = TcpServer::builder()
        .shards(1)
        .pull()
        .proxy_protocol(ProxyProtocol::from(&["127.0.0.2"]).unwrap())
        .start("127.0.0.1:0", pl.clone())
        .unwrap();
    let mut c = from_balancer(pull.listen_addr().unwrap());
    let mut out = header.to_vec();
    out.extend_from_slice(b"pulled after the header");
    c.write_all(&out).unwrap();
    let mut got = [0u8; 23];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pulled after the header");
    c.write_all(b" and later").unwrap();
    let mut got = [0u8; 10];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b" and later");
    assert_eq!(*pl.accepted.lock().unwrap(), vec![client]);
    pull.stop();
    pull.wait().unwrap();
}
