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
        print(fam.type, s.name, s.labels.get("component", ""), s.labels.get("shard", ""), int(s.value))
"#;

/// (metric name, component) → (type, per-shard values) as the python parser read them.
fn scrape(url: &str) -> HashMap<(String, String), (String, Vec<u64>)> {
    let out = Command::new("python3")
        .args(["-c", PARSE, url])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "prometheus_client could not parse the scrape: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m: HashMap<(String, String), (String, Vec<u64>)> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let e = m
            .entry((f[1].to_string(), f[2].to_string()))
            .or_insert_with(|| (f[0].to_string(), Vec::new()));
        e.1.push(f[4].parse().unwrap());
    }
    m
}

fn total(m: &HashMap<(String, String), (String, Vec<u64>)>, name: &str, comp: &str) -> u64 {
    m.get(&(name.to_string(), comp.to_string()))
        .unwrap_or_else(|| panic!("{name} for {comp} missing"))
        .1
        .iter()
        .sum()
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
    let (kind, per_shard) = &m[&("shardnet_connections".to_string(), "echo".to_string())];
    assert_eq!(kind, "gauge");
    assert_eq!(per_shard.len(), 2);
    assert_eq!(
        m[&(
            "shardnet_received_bytes_total".to_string(),
            "echo".to_string()
        )]
            .0,
        "counter"
    );
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
