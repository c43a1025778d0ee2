//! Churn and hostile length claims against the `shardnet` binary's servers, watched as an
//! operator would: the process's resident memory (`/proc/PID/status`) and its `/metrics`.
//!
//! - Churn: 100,000 connections (`SHARDNET_CHURN` to change), opened and closed by four client
//!   threads against three servers: plain TCP echo (closed with FIN or with RST), TLS echo, and
//!   the HTTP server (a request with `Connection: close`, or a WebSocket upgrade closed by the
//!   client). Every answer is checked. Afterwards each server's connection table, send queues,
//!   send buffers and partial messages are back to their values before the churn, and its RSS
//!   is within 16 MiB of what it was after a warm-up of 2,000 connections.
//! - Length claims: 200 requests announcing a 4 GiB body, and WebSocket frames announcing 2^63
//!   and 2^62 bytes: refused or counted down, never allocated; peak RSS (VmHWM) grows by less
//!   than 32 MiB.

mod support;
mod tls_support;

use shardnet::tls::rustls;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_shardnet");
const MIB_KB: u64 = 1024;

struct Server {
    child: Child,
    addr: String,
    metrics: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let addr = format!("127.0.0.1:{}", free_port());
        let metrics = format!("127.0.0.1:{}", free_port());
        let child = Command::new(BIN)
            .args(args)
            .args(["--listen", &addr, "--metrics", &metrics, "--shards", "2"])
            .args(["--duration", "600"])
            .env("SHARDNET_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn shardnet");
        let s = Server {
            child,
            addr,
            metrics,
        };
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&s.metrics).is_err() || TcpStream::connect(&s.addr).is_err() {
            assert!(Instant::now() < until, "server {args:?} never listened");
            thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn status_kb(&self, key: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("{key} missing: is the server alive?"))
    }

    /// Sum over shards of `metric` from `/metrics`.
    fn gauge(&self, metric: &str) -> f64 {
        let mut s = TcpStream::connect(&self.metrics).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        page.lines()
            .filter(|l| {
                l.strip_prefix(metric)
                    .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    }

    fn gauges(&self) -> [f64; 4] {
        [
            "shardnet_connections",
            "shardnet_send_queue_bytes",
            "shardnet_send_buffers",
            "shardnet_partial_messages",
        ]
        .map(|m| self.gauge(m))
    }

    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::other(what)
}

fn echo_once(addr: &str, k: u64, rst: bool) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let msg = format!("churn {k:>12}\n");
    s.write_all(msg.as_bytes())?;
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back)?;
    if back != msg.as_bytes() {
        return Err(bad(format!("echo mismatch on {k}")));
    }
    if rst {
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
    } else {
        s.shutdown(Shutdown::Write)?;
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)?;
    }
    Ok(())
}

fn http_once(addr: &str, k: u64) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET /c{k} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut page = String::new();
    s.read_to_string(&mut page)?;
    if !page.starts_with("HTTP/1.1 200") || !page.ends_with(&format!("GET /c{k}")) {
        return Err(bad(format!("http answer {page:?}")));
    }
    Ok(())
}

fn ws_once(addr: &str) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b)?;
        head.push(b[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(bad(format!(
            "no upgrade: {}",
            String::from_utf8_lossy(&head)
        )));
    }
    // A masked binary "hi" (echoed), then a masked close 1000 (answered with a close).
    s.write_all(&[0x82, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2])?;
    let mut f = [0u8; 4];
    s.read_exact(&mut f)?;
    if f != [0x82, 2, b'h', b'i'] {
        return Err(bad(format!("ws echo {f:?}")));
    }
    s.write_all(&[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2])?;
    s.read_exact(&mut f)?;
    if f[0] != 0x88 {
        return Err(bad(format!("ws close {f:?}")));
    }
    Ok(())
}

fn tls_once(addr: &str, cfg: &Arc<rustls::ClientConfig>, k: u64) -> std::io::Result<()> {
    let mut conn = rustls::ClientConnection::new(cfg.clone(), "localhost".try_into().unwrap())
        .map_err(|e| bad(e.to_string()))?;
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut s = rustls::Stream::new(&mut conn, &mut sock);
    let msg = format!("tls {k:>12}\n");
    s.write_all(msg.as_bytes())?;
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back)?;
    if back != msg.as_bytes() {
        return Err(bad(format!("tls echo mismatch on {k}")));
    }
    s.conn.send_close_notify();
    s.flush()?;
    Ok(())
}

#[test]
fn churn_leaves_nothing_behind() {
    support::raise_fd_limit();
    let total: u64 = std::env::var("SHARDNET_CHURN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let ca = tls_support::Ca::new("churn CA");
    let leaf = ca.server(&["localhost"]);
    let dir = tls_support::temp_dir("churn");
    let cert = tls_support::write(&dir, "cert.pem", &leaf.cert_pem);
    let key = tls_support::write(&dir, "key.pem", &leaf.key_pem);
    let tls_cfg = tls_support::rustls_client_config(&ca);

    let mut servers = [
        Server::start(&["echo"]),
        Server::start(&[
            "echo",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]),
        Server::start(&["http", "--echo-request", "--ws-echo", "/ws"]),
    ];
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    // One connection of kind `k % 25`: 9 echo + FIN, 5 echo + RST, 5 HTTP, 4 WebSocket, 2 TLS.
    let one = move |k: u64, addrs: &[String], cfg: &Arc<rustls::ClientConfig>| match k % 25 {
        0..=8 => echo_once(&addrs[0], k, false),
        9..=13 => echo_once(&addrs[0], k, true),
        14..=18 => http_once(&addrs[2], k),
        19..=22 => ws_once(&addrs[2]),
        _ => tls_once(&addrs[1], cfg, k),
    };
    let run = |from: u64, to: u64| {
        let next = Arc::new(AtomicU64::new(from));
        let failed = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (next, failed, addrs, cfg) =
                    (next.clone(), failed.clone(), addrs.clone(), tls_cfg.clone());
                thread::spawn(move || loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= to {
                        break;
                    }
                    if let Err(e) = one(k, &addrs, &cfg) {
                        if failed.fetch_add(1, Ordering::SeqCst) < 5 {
                            eprintln!("connection {k}: {e}");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        failed.load(Ordering::SeqCst)
    };
    let settle = |servers: &[Server]| {
        let until = Instant::now() + Duration::from_secs(20);
        while servers
            .iter()
            .any(|s| s.gauge("shardnet_connections") != 0.0)
        {
            assert!(
                Instant::now() < until,
                "connections still open after the churn"
            );
            thread::sleep(Duration::from_millis(100));
        }
    };

    assert_eq!(run(0, 2_000), 0, "warm-up connections failed");
    settle(&servers);
    let base: Vec<([f64; 4], u64)> = servers
        .iter()
        .map(|s| (s.gauges(), s.status_kb("VmRSS")))
        .collect();
    let t0 = Instant::now();
    let failed = run(2_000, 2_000 + total);
    let took = t0.elapsed();
    assert_eq!(failed, 0, "{failed} of {total} churned connections failed");
    settle(&servers);
    for (i, s) in servers.iter_mut().enumerate() {
        s.assert_alive();
        let (g0, rss0) = base[i];
        let g1 = s.gauges();
        let rss1 = s.status_kb("VmRSS");
        eprintln!(
            "server {i}: gauges (conns, queued bytes, send buffers, partial) {g0:?} -> {g1:?}; RSS {rss0} -> {rss1} kB; peak {} kB",
            s.status_kb("VmHWM")
        );
        assert_eq!(
            g1, g0,
            "server {i}: state left behind by {total} connections"
        );
        assert!(
            rss1 <= rss0 + 16 * MIB_KB,
            "server {i}: RSS grew from {rss0} to {rss1} kB over {total} connections"
        );
    }
    eprintln!(
        "churned {total} connections in {took:?} ({:.0}/s)",
        total as f64 / took.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn length_claims_are_not_allocated() {
    support::raise_fd_limit();
    let mut server = Server::start(&["http", "--echo-request", "--ws-echo", "/ws"]);
    thread::sleep(Duration::from_millis(300));
    let peak0 = server.status_kb("VmHWM");
    // 200 requests announcing 4 GiB bodies, 64 KiB of each sent, held open.
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.write_all(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n")
            .unwrap();
        s.write_all(&[b'z'; 64 << 10]).unwrap();
        held.push(s);
    }
    // WebSocket frames announcing 2^63 bytes (the reserved high bit: 1002) and 2^62 bytes
    // (over the frame limit: 1009), each refused from its header alone.
    for (len, code) in [(1u64 << 63, 1002u16), (1u64 << 62, 1009)] {
        for _ in 0..50 {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut b).unwrap();
                head.push(b[0]);
            }
            let mut frame = vec![0x82, 0xFF];
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
            s.write_all(&frame).unwrap();
            let mut close = [0u8; 4];
            s.read_exact(&mut close).unwrap();
            assert_eq!(close[0], 0x88, "a close frame answers a {len}-byte claim");
            assert_eq!(u16::from_be_bytes([close[2], close[3]]), code, "{len}");
        }
    }
    thread::sleep(Duration::from_millis(500));
    server.assert_alive();
    let peak1 = server.status_kb("VmHWM");
    eprintln!("peak RSS {peak0} -> {peak1} kB");
    assert!(
        peak1 < peak0 + 32 * MIB_KB,
        "peak RSS grew from {peak0} to {peak1} kB for claims of 4 GiB and 2^63 bytes"
    );
    // Still serving.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(page.ends_with("GET /after"), "{page}");
    drop(held);
}
