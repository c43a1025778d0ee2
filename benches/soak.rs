//! `soak`: a mixed workload against the `shardnet` binary's own servers for a configurable
//! time, sampling every second what an operator watches: each server's RSS, open descriptors,
//! open connections (its `/metrics`), and the errors of the load. Not part of CI.
//!
//! Servers (each a child process, 2 shards): `shardnet echo` (TCP), `shardnet http
//! --echo-request --ws-echo /ws` (HTTP keep-alive and WebSocket), `shardnet udp-echo --arq`
//! (HP's ARQ), the latter reached through a relay in this process that drops 10 % of the
//! datagrams each way (one upstream socket per client, so the server still sees one peer per
//! client).
//!
//! Load, for the whole run:
//! - the binary's own checked load generators, restarted every 30 s: `bench` (20 TCP echo
//!   connections, 1 KiB), `bench-http` (8 keep-alive connections), `bench-ws` (8 connections,
//!   256 B) and `bench --udp --arq` (20 ARQ peers, 256 B, through the lossy relay); a non-zero
//!   exit (a mismatch, a loss, an unexpected close) counts as a load failure;
//! - churn: connections opened and closed as fast as one thread goes, in turn a TCP echo round
//!   trip closed with FIN, the same closed with RST, an HTTP request with `Connection: close`,
//!   and a WebSocket upgrade closed by the client; every answer checked;
//! - slow readers: 50 connections that each send 256 KiB of echo requests and never read, so
//!   the server's send queues fill; replaced every 10 s.
//!
//! `SHARDNET_SOAK_SECS` (default 120) sets the length; the warm-up is the first tenth (at least
//! 10 s). Output: a line per 10 s, a summary with each server's RSS after warm-up, its peak and
//! its final value, `RESULT` lines, `target/bench-results/soak.csv` and `soak.svg`.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shardnet");
/// One server child: its process and ports.
struct Server {
    name: &'static str,
    child: Child,
    metrics: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_tcp(addr: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < until, "{addr} never listened");
        thread::sleep(Duration::from_millis(50));
    }
}

fn spawn_server(name: &'static str, args: &[String], metrics: String) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("SHARDNET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = cmd.spawn().expect("spawn server");
    wait_tcp(&metrics);
    Server {
        name,
        child,
        metrics,
    }
}

/// A UDP relay to `server` that drops `loss` of the datagrams each way; returns its address.
/// Each client address gets its own upstream socket (and a thread for the answers), forgotten
/// after 60 s of silence as a NAT would (2 s was shorter than an ARQ peer waiting out a
/// retransmission, which then reached the server from a new port), so a later client on a
/// reused port is a new peer.
fn lossy_relay(server: std::net::SocketAddr, loss: f64, stop: Arc<AtomicBool>) -> String {
    use std::collections::HashMap;
    use std::net::UdpSocket;
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("relay socket"));
    front
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let addr = front.local_addr().unwrap().to_string();
    let drop_it = move |x: &mut u64| {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        (*x % 10_000) as f64 / 10_000.0 < loss
    };
    type Mapping = (Arc<UdpSocket>, Arc<AtomicBool>, Instant);
    thread::spawn(move || {
        let mut ups: HashMap<std::net::SocketAddr, Mapping> = HashMap::new();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = vec![0u8; 65_536];
        let mut swept = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if swept.elapsed() > Duration::from_secs(1) {
                ups.retain(|_, (_, alive, last)| {
                    let keep = last.elapsed() < Duration::from_secs(60);
                    if !keep {
                        alive.store(false, Ordering::SeqCst);
                    }
                    keep
                });
                swept = Instant::now();
            }
            let Ok((n, from)) = front.recv_from(&mut buf) else {
                continue;
            };
            let (up, _, last) = ups.entry(from).or_insert_with(|| {
                let up = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("upstream socket"));
                up.connect(server).unwrap();
                up.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let alive = Arc::new(AtomicBool::new(true));
                let (up2, front2, stop2, alive2) =
                    (up.clone(), front.clone(), stop.clone(), alive.clone());
                thread::spawn(move || {
                    let mut y = from.port() as u64 | 1;
                    let mut b = vec![0u8; 65_536];
                    while !stop2.load(Ordering::SeqCst) && alive2.load(Ordering::SeqCst) {
                        if let Ok(n) = up2.recv(&mut b) {
                            if !drop_it(&mut y) {
                                let _ = front2.send_to(&b[..n], from);
                            }
                        }
                    }
                });
                (up, alive, Instant::now())
            });
            *last = Instant::now();
            if !drop_it(&mut x) {
                let _ = up.send(&buf[..n]);
            }
        }
    });
    addr
}

/// Sum of the samples of `metric` (all label sets) in a Prometheus text page.
fn scrape(addr: &str, metric: &str) -> Option<f64> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut page = String::new();
    s.read_to_string(&mut page).ok()?;
    let mut sum = 0.0;
    for l in page.lines() {
        let Some(rest) = l.strip_prefix(metric) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        sum += l.rsplit(' ').next()?.parse::<f64>().ok()?;
    }
    Some(sum)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Runs `args` in a loop of bounded runs until `stop`; counts runs and failed runs.
fn load_loop(args: Vec<String>, stop: Arc<AtomicBool>, runs: Arc<[AtomicU64; 2]>) {
    while !stop.load(Ordering::SeqCst) {
        let out = Command::new(BIN)
            .args(&args)
            .env("SHARDNET_LOG", "warn")
            .stdin(Stdio::null())
            .output();
        runs[0].fetch_add(1, Ordering::SeqCst);
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                runs[1].fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&o.stdout);
                let result = text
                    .lines()
                    .rfind(|l| l.starts_with("RESULT"))
                    .unwrap_or("");
                let err = String::from_utf8_lossy(&o.stderr);
                // The binary's own `error:` line (usage text follows it), else the last lines.
                let last: Vec<&str> = match err.lines().find(|l| l.starts_with("error:")) {
                    Some(e) => vec![e],
                    None => err.lines().rev().take(3).collect(),
                };
                eprintln!(
                    "load `{}` failed ({}): {result} {last:?}",
                    args.join(" "),
                    o.status
                );
            }
            Err(e) => {
                runs[1].fetch_add(1, Ordering::SeqCst);
                eprintln!("load `{}`: {e}", args.join(" "));
            }
        }
    }
}

/// One churned connection of kind `k % 4`; Ok when every answer was right.
fn churn_one(k: u64, echo: &str, http: &str) -> std::io::Result<()> {
    let bad = |what: &str| std::io::Error::other(what.to_string());
    let mut s = TcpStream::connect(if k % 4 < 2 { echo } else { http })?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    match k % 4 {
        0 | 1 => {
            let msg = format!("churn {k:>10}\n");
            s.write_all(msg.as_bytes())?;
            let mut back = vec![0; msg.len()];
            s.read_exact(&mut back)?;
            if back != msg.as_bytes() {
                return Err(bad("echo mismatch"));
            }
            if k % 4 == 1 {
                socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?; // RST
            }
        }
        2 => {
            write!(
                s,
                "GET /c{k} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )?;
            let mut page = String::new();
            s.read_to_string(&mut page)?;
            if !page.starts_with("HTTP/1.1 200") || !page.ends_with(&format!("GET /c{k}")) {
                return Err(bad("http answer"));
            }
        }
        _ => {
            write!(
                s,
                "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )?;
            let mut head = [0u8; 129];
            let n = s.read(&mut head)?;
            if !head[..n].starts_with(b"HTTP/1.1 101") {
                return Err(bad("no upgrade"));
            }
            // A masked close frame (1000), then the server's close back.
            s.write_all(&[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2])?;
            let mut f = [0u8; 4];
            s.read_exact(&mut f)?;
            if f[0] != 0x88 {
                return Err(bad("no close frame"));
            }
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    Ok(())
}

fn main() {
    raise_limits();
    let secs = env_f64("SHARDNET_SOAK_SECS").unwrap_or(120.0);
    let warmup = (secs / 10.0).max(10.0);
    let (echo_port, http_port, udp_port) = (free_port(), free_port(), free_port());
    let (m1, m2, m3) = (free_port(), free_port(), free_port());
    let stop = Arc::new(AtomicBool::new(false));
    let udp_server: std::net::SocketAddr = format!("127.0.0.1:{udp_port}").parse().unwrap();
    let relay = lossy_relay(udp_server, 0.10, stop.clone());
    let echo = format!("127.0.0.1:{echo_port}");
    let http = format!("127.0.0.1:{http_port}");
    let servers = [
        spawn_server(
            "echo",
            &[
                "echo",
                "--listen",
                &echo,
                "--shards",
                "2",
                "--metrics",
                &format!("127.0.0.1:{m1}"),
            ]
            .map(String::from),
            format!("127.0.0.1:{m1}"),
        ),
        spawn_server(
            "http",
            &[
                "http",
                "--listen",
                &http,
                "--echo-request",
                "--ws-echo",
                "/ws",
                "--shards",
                "2",
                "--metrics",
                &format!("127.0.0.1:{m2}"),
            ]
            .map(String::from),
            format!("127.0.0.1:{m2}"),
        ),
        spawn_server(
            "udp-arq",
            &[
                "udp-echo",
                "--arq",
                "--listen",
                &udp_server.to_string(),
                "--shards",
                "2",
                "--metrics",
                &format!("127.0.0.1:{m3}"),
            ]
            .map(String::from),
            format!("127.0.0.1:{m3}"),
        ),
    ];
    let mut threads = Vec::new();
    let loads: Vec<Vec<String>> = vec![
        format!("bench --target {echo} --conns 20 --size 1024 --duration 30 --shards 1"),
        format!("bench-http --url http://{http}/ --conns 8 --duration 30 --shards 1"),
        format!("bench-ws --url ws://{http}/ws --conns 8 --size 256 --duration 30 --shards 1"),
        format!(
            "bench --udp --arq --target {relay} --conns 20 --size 256 --duration 30 --shards 1"
        ),
    ]
    .into_iter()
    .map(|l| l.split(' ').map(String::from).collect())
    .collect();
    let load_runs: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    for args in loads {
        let (stop, runs) = (stop.clone(), load_runs.clone());
        threads.push(thread::spawn(move || load_loop(args, stop, runs)));
    }
    let churn = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    {
        let (stop, churn, echo, http) = (stop.clone(), churn.clone(), echo.clone(), http.clone());
        threads.push(thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Ordering::SeqCst) {
                if let Err(e) = churn_one(k, &echo, &http) {
                    if churn[1].fetch_add(1, Ordering::SeqCst) < 5 {
                        eprintln!("churn {k}: {e}");
                    }
                }
                churn[0].fetch_add(1, Ordering::SeqCst);
                k += 1;
            }
        }));
    }
    {
        let (stop, echo) = (stop.clone(), echo.clone());
        threads.push(thread::spawn(move || {
            let chunk = vec![b'x'; 64 << 10];
            while !stop.load(Ordering::SeqCst) {
                let mut held = Vec::new();
                for _ in 0..50 {
                    let Ok(mut s) = TcpStream::connect(&echo) else {
                        continue;
                    };
                    let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
                    for _ in 0..4 {
                        if s.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                    held.push(s);
                }
                for _ in 0..100 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
                for s in held {
                    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                }
            }
        }));
    }

    let mut rows = csv_table(&[
        "t_s",
        "echo_rss_kb",
        "http_rss_kb",
        "udp_arq_rss_kb",
        "echo_fds",
        "http_fds",
        "udp_arq_fds",
        "echo_conns",
        "http_conns",
        "udp_arq_conns",
        "churned",
        "churn_errors",
        "load_runs",
        "load_failures",
    ]);
    let mut series: Vec<[f64; 6]> = Vec::new();
    let start = Instant::now();
    let mut next = start;
    while start.elapsed().as_secs_f64() < secs {
        next += Duration::from_secs(1);
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            thread::sleep(d);
        }
        let t = start.elapsed().as_secs_f64().round();
        let mut row = vec![format!("{t:.0}")];
        let mut point = [0f64; 6];
        for (i, s) in servers.iter().enumerate() {
            let kb = proc_rss_bytes(s.child.id()).unwrap_or(0) / 1024;
            row.push(kb.to_string());
            point[i] = kb as f64;
        }
        for s in &servers {
            row.push(fds(s.child.id()).to_string());
        }
        for (i, s) in servers.iter().enumerate() {
            let c = scrape(&s.metrics, "shardnet_connections").unwrap_or(-1.0);
            row.push(format!("{c:.0}"));
            point[3 + i] = c;
        }
        for a in [&churn[0], &churn[1], &load_runs[0], &load_runs[1]] {
            row.push(a.load(Ordering::SeqCst).to_string());
        }
        if (t as u64).is_multiple_of(10) {
            println!("{}", row.join(" "));
        }
        rows.push(row);
        series.push(point);
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    let csv = write_csv("soak", &rows);
    let svg = results_dir().join("soak.svg");
    chart(&svg, &series);

    println!("\nserver     RSS after warm-up   peak after   final   (KiB)");
    let w = (warmup as usize).min(series.len().saturating_sub(1));
    for (i, s) in servers.iter().enumerate() {
        let after = series[w][i];
        let peak = series[w..].iter().map(|p| p[i]).fold(0.0, f64::max);
        let last = series.last().map_or(0.0, |p| p[i]);
        println!("{:<10} {after:>17.0} {peak:>12.0} {last:>7.0}", s.name);
        println!(
            "{}",
            result_line(&[
                ("bench", format!("soak-{}", s.name)),
                ("secs", format!("{secs:.0}")),
                ("rss_after_warmup_kb", format!("{after:.0}")),
                ("rss_peak_kb", format!("{peak:.0}")),
                ("rss_final_kb", format!("{last:.0}")),
            ])
        );
    }
    println!(
        "{}",
        result_line(&[
            ("bench", "soak-load".into()),
            ("arq_loss_each_way", "0.10".into()),
            ("churned", churn[0].load(Ordering::SeqCst).to_string()),
            ("churn_errors", churn[1].load(Ordering::SeqCst).to_string()),
            ("load_runs", load_runs[0].load(Ordering::SeqCst).to_string()),
            (
                "load_failures",
                load_runs[1].load(Ordering::SeqCst).to_string()
            ),
        ])
    );
    println!("{}\n{}", csv.display(), svg.display());
    drop(servers);
}

/// RSS of the three servers (MiB) over time.
fn chart(path: &std::path::Path, series: &[[f64; 6]]) {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1100, 500)).into_drawing_area();
    let _ = root.fill(&WHITE);
    let max = series
        .iter()
        .flat_map(|p| p[..3].iter())
        .fold(1.0f64, |a, &b| a.max(b / 1024.0))
        * 1.2;
    let Ok(mut c) = ChartBuilder::on(&root)
        .caption("soak: server RSS (MiB) per second", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..series.len().max(1) as f64, 0f64..max)
    else {
        return;
    };
    let _ = c.configure_mesh().x_desc("seconds").y_desc("MiB").draw();
    let names = ["echo", "http + ws", "udp-arq (10% loss)"];
    let colors = [RED, BLUE, GREEN];
    for i in 0..3 {
        let line = series
            .iter()
            .enumerate()
            .map(|(t, p)| (t as f64, p[i] / 1024.0));
        if let Ok(s) = c.draw_series(LineSeries::new(line, colors[i].stroke_width(2))) {
            s.label(names[i]).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colors[i].stroke_width(2))
            });
        }
    }
    let _ = c
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw();
    let _ = root.present();
}
