//! The Prometheus endpoint scraped and parsed by Python's `prometheus_client` text parser (a
//! real parser, not ours): after a known amount of traffic through a two-shard echo server, the
//! per-shard samples add up to the connections, bytes and closes that happened. Also
//! `shardnet echo --metrics ADDR`.

mod support;

use shardnet::metrics::Metrics;
use shardnet::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Echo;
impl ServerListener for Echo {
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        let _ = s.send(c, d);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

const PARSE: &str = r#"
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
body = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
for fam in text_string_to_metric_families(body):
    for s in fam.samples:
        extra = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k not in ("component", "shard"))
        print(fam.type, s.name, s.labels.get("component", ""), s.labels.get("shard", ""), int(s.value), extra or "-")
"#;

type Scrape = HashMap<(String, String, String), (String, Vec<u64>)>;

/// (metric name, component, other labels "k=v,…" or "-") → (type, per-shard values) as the
/// python parser read them.
fn scrape(url: &str) -> Scrape {
    let out = Command::new("python3")
        .args(["-c", PARSE, url])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "prometheus_client could not parse the scrape: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m: Scrape = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let e = m
            .entry((f[1].to_string(), f[2].to_string(), f[5].to_string()))
            .or_insert_with(|| (f[0].to_string(), Vec::new()));
        e.1.push(f[4].parse().unwrap());
    }
    m
}

/// The sum over shards and every other label of `name` for `comp`.
fn total(m: &Scrape, name: &str, comp: &str) -> u64 {
    let v: Vec<u64> = m
        .iter()
        .filter(|(k, _)| k.0 == name && k.1 == comp)
        .flat_map(|(_, v)| v.1.iter().copied())
        .collect();
    assert!(!v.is_empty(), "{name} for {comp} missing");
    v.iter().sum()
}

/// The sum over shards of `name` for `comp` with exactly the other labels `extra`.
fn total_where(m: &Scrape, name: &str, comp: &str, extra: &str) -> u64 {
    m.get(&(name.to_string(), comp.to_string(), extra.to_string()))
        .map_or(0, |v| v.1.iter().sum())
}

fn kind(m: &Scrape, name: &str, comp: &str) -> String {
    m.iter()
        .find(|(k, _)| k.0 == name && k.1 == comp)
        .map(|(_, v)| v.0.clone())
        .unwrap_or_else(|| panic!("{name} for {comp} missing"))
}

#[test]
fn counters_add_up_and_parse() {
    let server = TcpServer::builder()
        .shards(2)
        .start("127.0.0.1:0", Arc::new(Echo))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let metrics = Metrics::new();
    let s = server.clone();
    metrics.add("echo", move || s.shard_stats());
    let ms = metrics.serve("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", ms.listen_addr().unwrap());
    let mut conns: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in conns.iter_mut() {
        c.write_all(&[7u8; 100]).unwrap();
        let mut b = [0u8; 100];
        c.read_exact(&mut b).unwrap();
    }
    conns.truncate(7); // 3 closed by the peer
    let t = Instant::now();
    let m = loop {
        let m = scrape(&url);
        if total(&m, "shardnet_connections", "echo") == 7 || t.elapsed() > Duration::from_secs(5) {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Counters are exposed as counters (the parser strips "_total" from the family name and
    // keeps it on the sample), gauges as gauges, one sample per shard.
    let key = (
        "shardnet_connections".to_string(),
        "echo".to_string(),
        "-".to_string(),
    );
    assert_eq!(m[&key].0, "gauge");
    assert_eq!(m[&key].1.len(), 2);
    assert_eq!(kind(&m, "shardnet_received_bytes_total", "echo"), "counter");
    assert_eq!(total(&m, "shardnet_connections", "echo"), 7);
    assert_eq!(total(&m, "shardnet_connections_accepted_total", "echo"), 10);
    assert_eq!(total(&m, "shardnet_connections_closed_total", "echo"), 3);
    assert_eq!(total(&m, "shardnet_received_bytes_total", "echo"), 1000);
    assert_eq!(total(&m, "shardnet_sent_bytes_total", "echo"), 1000);
    assert_eq!(total(&m, "shardnet_messages_received_total", "echo"), 10);
    // Only GET /metrics is served.
    let mut c = TcpStream::connect(ms.listen_addr().unwrap()).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    ms.stop();
    ms.wait().unwrap();
    server.stop();
    server.wait().unwrap();
}

#[test]
fn echo_binary_serves_metrics() {
    let port = support::free_port();
    let mport = support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args([
            "echo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shards",
            "1",
            "--duration",
            "20",
            "--metrics",
            &format!("127.0.0.1:{mport}"),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{mport}/metrics");
    let t = Instant::now();
    let mut c = loop {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
            if TcpStream::connect(("127.0.0.1", mport)).is_ok() {
                break c;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "echo did not come up"
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    c.write_all(b"hello").unwrap();
    let mut b = [0u8; 5];
    c.read_exact(&mut b).unwrap();
    let m = scrape(&url);
    assert_eq!(total(&m, "shardnet_received_bytes_total", "echo"), 5);
    assert_eq!(total(&m, "shardnet_connections", "echo"), 1);
    let _ = child.kill();
    let _ = child.wait();
}

mod tls_support;

struct WsEcho;
impl shardnet::ws::WebSocketListener for WsEcho {
    fn on_message(
        &self,
        ws: &shardnet::ws::WebSocketServer,
        c: ConnId,
        msg: shardnet::ws::Message<'_>,
    ) -> HandleResult {
        if let shardnet::ws::Message::Text(t) = msg {
            let _ = ws.send_text(c, t);
        }
        HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &shardnet::ws::WebSocketServer,
        _: ConnId,
        _: SocketOperation,
        _: i32,
    ) -> HandleResult {
        HandleResult::Ok
    }
}

struct UdpEcho;
impl shardnet::udp::UdpServerListener for UdpEcho {
    fn on_receive(&self, s: &shardnet::udp::UdpServer, c: ConnId, d: &[u8]) -> HandleResult {
        let _ = s.send(c, d);
        HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &shardnet::udp::UdpServer,
        _: ConnId,
        _: SocketOperation,
        _: i32,
    ) -> HandleResult {
        HandleResult::Ok
    }
}

/// Beyond traffic: HTTP statuses, WebSocket events, closes by operation and errno class, TLS
/// handshakes and failures by reason, UDP datagrams and heartbeats — each after a known set of
/// events, read back through the python parser.
#[test]
fn every_layer_counts_what_happened() {
    // WebSocket server with a plain-HTTP fallback: 2 × 200, 1 × 404, then one WebSocket
    // session (3 messages echoed, a ping, our close).
    let ws = shardnet::ws::WebSocketServer::builder()
        .shards(2)
        .http_handler(|r: &shardnet::http::Request| {
            if r.target() == "/ok" {
                shardnet::http::Response::new(200, "ok")
            } else {
                shardnet::http::Response::new(404, "no")
            }
        })
        .start("127.0.0.1:0", Arc::new(WsEcho))
        .unwrap();
    let ws_port = ws.listen_addr().unwrap().port();
    // TLS echo: one handshake completes, one gets bytes that are not TLS.
    let ca = tls_support::Ca::new("metrics CA");
    let leaf = ca.server(&["localhost"]);
    let tls = TcpServer::builder()
        .shards(1)
        .tls(tls_support::server_config(&leaf))
        .start("127.0.0.1:0", Arc::new(Echo))
        .unwrap();
    let udp = shardnet::udp::UdpServer::builder()
        .shards(1)
        .start("127.0.0.1:0", Arc::new(UdpEcho))
        .unwrap();
    let metrics = Metrics::new();
    metrics.add_source("ws", ws.clone());
    metrics.add_source("tls", tls.clone());
    metrics.add_source("udp", udp.clone());
    let ms = metrics.serve("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", ms.listen_addr().unwrap());

    for path in ["/ok", "/ok", "/missing"] {
        let mut c = TcpStream::connect(("127.0.0.1", ws_port)).unwrap();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        c.read_to_string(&mut r).unwrap();
        assert!(r.starts_with("HTTP/1.1 "), "{r}");
    }
    let (mut sock, _) = tungstenite::connect(format!("ws://127.0.0.1:{ws_port}/chat")).unwrap();
    for i in 0..3 {
        sock.send(tungstenite::Message::text(format!("m{i}")))
            .unwrap();
        assert_eq!(
            sock.read().unwrap(),
            tungstenite::Message::text(format!("m{i}"))
        );
    }
    sock.send(tungstenite::Message::Ping(vec![1, 2].into()))
        .unwrap();
    assert!(matches!(
        sock.read().unwrap(),
        tungstenite::Message::Pong(_)
    ));
    sock.close(None).unwrap();
    while sock.read().is_ok() {}

    let tls_addr = tls.listen_addr().unwrap();
    let mut t = TcpStream::connect(tls_addr).unwrap();
    let mut conn = shardnet::tls::rustls::ClientConnection::new(
        tls_support::rustls_client_config(&ca),
        "localhost".try_into().unwrap(),
    )
    .unwrap();
    let mut stream = shardnet::tls::rustls::Stream::new(&mut conn, &mut t);
    stream.write_all(b"hi").unwrap();
    let mut two = [0u8; 2];
    stream.read_exact(&mut two).unwrap();
    drop(t);
    let mut junk = TcpStream::connect(tls_addr).unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut b = [0u8; 64];
    let _ = junk.read(&mut b);

    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    u.connect(udp.listen_addr().unwrap()).unwrap();
    for i in 0..5u8 {
        u.send(&[i; 10]).unwrap();
        let mut b = [0u8; 16];
        assert_eq!(u.recv(&mut b).unwrap(), 10);
    }
    u.send(&[]).unwrap(); // a heartbeat, answered with one
    let mut b = [0u8; 16];
    assert_eq!(u.recv(&mut b).unwrap(), 0);

    let t0 = Instant::now();
    let m = loop {
        let m = scrape(&url);
        let done = total(&m, "shardnet_connections", "ws") == 0
            && total(&m, "shardnet_connections", "tls") == 0
            && total_where(
                &m,
                "shardnet_tls_handshake_failures_total",
                "tls",
                "reason=protocol",
            ) == 1;
        if done || t0.elapsed() > Duration::from_secs(5) {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let cls = |c: &str| format!("class={c}");
    assert_eq!(
        total_where(&m, "shardnet_http_responses_total", "ws", &cls("2xx")),
        2
    );
    assert_eq!(
        total_where(&m, "shardnet_http_responses_total", "ws", &cls("4xx")),
        1
    );
    assert_eq!(
        total_where(&m, "shardnet_http_responses_total", "ws", &cls("5xx")),
        0
    );
    assert_eq!(total(&m, "shardnet_ws_messages_received_total", "ws"), 3);
    assert_eq!(total(&m, "shardnet_ws_messages_sent_total", "ws"), 3);
    assert_eq!(total(&m, "shardnet_ws_pings_received_total", "ws"), 1);
    assert_eq!(
        total(&m, "shardnet_ws_close_frames_received_total", "ws"),
        1
    );
    assert_eq!(total(&m, "shardnet_ws_close_frames_sent_total", "ws"), 1);
    assert_eq!(total(&m, "shardnet_ws_protocol_errors_total", "ws"), 0);
    assert_eq!(kind(&m, "shardnet_inbox_depth", "ws"), "gauge");
    assert_eq!(
        total(&m, "shardnet_inbox_depth", "ws"),
        0,
        "idle: nothing queued"
    );
    assert_eq!(kind(&m, "shardnet_closes_total", "ws"), "counter");
    // Four connections, all ended by their peer or by the close handshake: none with an error.
    assert_eq!(total(&m, "shardnet_closes_total", "ws"), 4);
    assert_eq!(
        total(&m, "shardnet_closes_total", "ws"),
        total_where(
            &m,
            "shardnet_closes_total",
            "ws",
            "errno_class=none,operation=close"
        )
    );
    assert_eq!(total(&m, "shardnet_tls_handshakes_total", "tls"), 1);
    assert_eq!(
        total_where(
            &m,
            "shardnet_tls_handshake_failures_total",
            "tls",
            "reason=protocol"
        ),
        1
    );
    assert_eq!(total(&m, "shardnet_tls_handshake_failures_total", "tls"), 1);
    assert_eq!(
        total_where(
            &m,
            "shardnet_closes_total",
            "tls",
            "errno_class=protocol,operation=receive"
        ),
        1
    );
    assert_eq!(total(&m, "shardnet_udp_datagrams_received_total", "udp"), 6);
    assert_eq!(total(&m, "shardnet_udp_datagrams_sent_total", "udp"), 6);
    assert_eq!(total(&m, "shardnet_received_bytes_total", "udp"), 50);
    assert_eq!(total(&m, "shardnet_udp_heartbeats_total", "udp"), 1);
    assert_eq!(total(&m, "shardnet_connections", "udp"), 1);
    assert_eq!(total(&m, "shardnet_connections_accepted_total", "udp"), 1);
    ms.stop();
    ms.wait().unwrap();
    tls.stop();
    tls.wait().unwrap();
    ws.stop();
    ws.wait().unwrap();
    udp.stop();
    udp.wait().unwrap();
}
