//! PROXY protocol behind a real haproxy (`send-proxy` and `send-proxy-v2`, from a source
//! address of its own, 127.0.0.2): `on_accept` and `remote_addr` report the client haproxy
//! accepted, the bytes after the header are echoed unchanged; a direct connection from an
//! address not allowed is refused without `on_accept`; an allowed address that sends no header
//! is closed with EPROTO without the application hearing of it. Also `shardnet http
//! --proxy-protocol` behind haproxy, hit by curl.

mod support;

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
    let log = Arc::new(Log::default());
    let server = TcpServer::builder()
        .shards(2)
        .proxy_protocol(ProxyProtocol::from(&["127.0.0.2"]).unwrap())
        .start("127.0.0.1:0", log.clone())
        .unwrap();
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
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.connect(&server.listen_addr().unwrap().into()).unwrap();
    let mut fake: TcpStream = sock.into();
    fake.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
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
    // A receive model other than push with it is refused at start, not silently ignored.
    let refused = TcpServer::builder()
        .proxy_protocol(ProxyProtocol::from(&["127.0.0.2"]).unwrap())
        .pull()
        .start("127.0.0.1:0", Arc::new(Log::default()));
    assert!(matches!(refused, Err(Error::InvalidParam(_))));
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
