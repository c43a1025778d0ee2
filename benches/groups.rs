//! `groups`: one 64-byte message to every member of a 10,000-connection group on a two-shard
//! `TcpServer`, sent by an application thread either with `send_group` (one job per shard
//! carrying the bytes once; each shard queues them for its own members) or with a loop of
//! `send` (one inbox post per member). The server runs in a child process that takes `go`
//! lines on stdin; the parent (mio, one thread) holds the connections, sends the next `go` when
//! every member has received the previous message, and checks every byte. Modes alternate over
//! the rounds; medians reported. Server CPU = utime + stime of the child over the timed window,
//! per delivery. Target (issue 14): group ≥ 3× the loop's deliveries per server CPU second.
//!
//! Environment: `SHARDNET_BENCH_ROUNDS` (default 3), `SHARDNET_GROUP_MSGS` (default 100),
//! `SHARDNET_GROUP_n_conns` (default 10,000). Output: a table, `RESULT` lines,
//! `target/bench-results/groups.csv` and `groups.svg`.

mod common;

use common::*;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, BufRead, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MODES: [&str; 2] = ["group", "loop"];

fn conns() -> usize {
    env_f64("SHARDNET_GROUP_n_conns").map_or(10_000, |v| v as usize)
}

/// Every open connection.
struct Members(Mutex<Vec<shardnet::ConnId>>);

impl shardnet::ServerListener for Members {
    fn on_handshake(
        &self,
        _: &shardnet::TcpServer,
        conn: shardnet::ConnId,
    ) -> shardnet::HandleResult {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        shardnet::HandleResult::Ok
    }
    fn on_receive(
        &self,
        _: &shardnet::TcpServer,
        _: shardnet::ConnId,
        _: &[u8],
    ) -> shardnet::HandleResult {
        shardnet::HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &shardnet::TcpServer,
        conn: shardnet::ConnId,
        _: shardnet::SocketOperation,
        _: i32,
    ) -> shardnet::HandleResult {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|&c| c != conn);
        shardnet::HandleResult::Ok
    }
}

/// The payload of message `seq`.
fn payload(seq: usize, size: usize) -> &'static [u8] {
    pattern_at(seq, 0, size)
}

/// The child: the server, and the application thread reading `go MODE SEQ SIZE N` lines.
fn serve() -> Result<(), Box<dyn std::error::Error>> {
    raise_limits();
    pin_to_cpu(SERVER_CPU);
    let rt = shardnet::Runtime::builder()
        .shards(2)
        .cpus([0, 1])
        .build()?;
    let room = Arc::new(Members(Mutex::new(Vec::new())));
    let server = shardnet::TcpServer::builder()
        .runtime(rt)
        .max_connections(100_000)
        .start("127.0.0.1:0", room.clone())?;
    println!(
        "READY {}",
        server.listen_addr().map(|a| a.port()).unwrap_or(0)
    );
    let mut joined = false;
    for line in io::stdin().lock().lines() {
        let line = line?;
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, mode, seq, size, n] = f[..] else {
            return Err(format!("bad command {line:?}").into());
        };
        let (seq, size, n): (usize, usize, usize) = (seq.parse()?, size.parse()?, n.parse()?);
        let deadline = Instant::now() + Duration::from_secs(10);
        let members = loop {
            let m = room.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if m.len() >= n || Instant::now() > deadline {
                break m;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let data = payload(seq, size);
        let sent = match mode {
            "group" => {
                if !joined {
                    for &c in &members {
                        server.join(1, c)?;
                    }
                    joined = true;
                }
                server.send_group(1, data, None)?;
                n
            }
            _ => members
                .iter()
                .filter(|&&c| server.send(c, data).is_ok())
                .count(),
        };
        if sent != n {
            println!("SHORT {sent} of {n}");
        }
    }
    Ok(())
}

struct Run {
    deliveries_per_s: f64,
    cpu_ns_per_delivery: f64,
}

fn run_one(mode: &str, size: usize, msgs: usize) -> Result<Run, String> {
    let mut child =
        ServerChild::spawn_self(&["--group-serve".into()], &[], mode).map_err(|e| e.to_string())?;
    let line = child
        .wait_line("READY", Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    let port: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or("bad READY line")?;
    child.port = port;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let n_conns = conns();
    let mut conns = Vec::with_capacity(n_conns);
    for i in 0..n_conns {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut m = MioStream::from_std(s);
        poll.registry()
            .register(&mut m, Token(i), Interest::READABLE)
            .map_err(|e| e.to_string())?;
        conns.push((m, 0usize));
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 << 10];
    let cpu0 = child.cpu_us();
    let t0 = Instant::now();
    for seq in 0..msgs {
        let data = payload(seq, size);
        let frame = data.to_vec();
        child
            .send_line(&format!("go {mode} {seq} {size} {n_conns}"))
            .map_err(|e| e.to_string())?;
        let mut left = n_conns;
        let mut quiet_since = Instant::now();
        while left > 0 {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            if events.is_empty() && quiet_since.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "{mode}: message {seq}: {left} connections got nothing"
                ));
            }
            quiet_since = Instant::now();
            for ev in events.iter() {
                let (s, got) = &mut conns[ev.token().0];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => return Err(format!("{mode}: a connection closed")),
                        Ok(n) => {
                            if *got + n > frame.len() || buf[..n] != frame[*got..*got + n] {
                                return Err(format!("{mode}: message {seq}: wrong bytes"));
                            }
                            *got += n;
                            if *got == frame.len() {
                                *got = 0;
                                left -= 1;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(format!("{mode}: {e}")),
                    }
                }
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = child.cpu_us().saturating_sub(cpu0) as f64;
    let deliveries = (n_conns * msgs) as f64;
    drop(conns);
    child.finish(Duration::from_secs(5));
    Ok(Run {
        deliveries_per_s: deliveries / elapsed,
        cpu_ns_per_delivery: cpu * 1000.0 / deliveries,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--group-serve") {
        if let Err(e) = serve() {
            eprintln!("group server failed: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    raise_limits();
    if !pin_to_cpu(CLIENT_CPU) {
        eprintln!("warning: cannot pin the reader to CPU {CLIENT_CPU}");
    }
    let rounds = bench_rounds(3);
    let msgs = env_f64("SHARDNET_GROUP_MSGS").map_or(100, |v| v as usize);
    let n_conns = conns();
    let sizes = [64usize];
    println!("# groups bench: {}", machine_line());
    println!(
        "# {n_conns} connections, {msgs} messages per run, {rounds} rounds, modes alternating"
    );
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let mut runs: Vec<Vec<Vec<Run>>> = sizes
        .iter()
        .map(|_| MODES.iter().map(|_| Vec::new()).collect())
        .collect();
    let mut failed = 0;
    for (zi, &size) in sizes.iter().enumerate() {
        for round in 0..rounds {
            for (mi, mode) in MODES.iter().enumerate() {
                match run_one(mode, size, msgs) {
                    Ok(r) => {
                        eprintln!(
                            "[{:>4.0}s] {size:>5} B round {} {mode:<9} {:>9.0} deliveries/s {:>7.1} ns CPU/delivery",
                            started.elapsed().as_secs_f64(),
                            round + 1,
                            r.deliveries_per_s,
                            r.cpu_ns_per_delivery
                        );
                        runs[zi][mi].push(r);
                    }
                    Err(e) => {
                        eprintln!("{size} B {mode}: {e}");
                        failed += 1;
                    }
                }
            }
        }
    }
    let med = |v: &[Run], f: &dyn Fn(&Run) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    println!();
    println!("| size | mode | deliveries/s | server CPU ns/delivery | CPU vs loop |");
    println!("|---:|---|---:|---:|---:|");
    let mut csv = csv_table(&[
        "size",
        "mode",
        "runs",
        "deliveries_per_s",
        "cpu_ns_per_delivery",
        "ratio_cpu_vs_loop",
    ]);
    let mut lines = Vec::new();
    let mut bars = Vec::new();
    for (zi, &size) in sizes.iter().enumerate() {
        let base = med(&runs[zi][1], &|r| r.cpu_ns_per_delivery);
        for (mi, mode) in MODES.iter().enumerate() {
            let v = &runs[zi][mi];
            let (d, c) = (
                med(v, &|r| r.deliveries_per_s),
                med(v, &|r| r.cpu_ns_per_delivery),
            );
            let rc = ratio(c, base);
            println!("| {size} | {mode} | {d:.0} | {c:.1} | {rc:.2} |");
            csv.push(vec![
                size.to_string(),
                mode.to_string(),
                v.len().to_string(),
                format!("{d:.0}"),
                format!("{c:.2}"),
                format!("{rc:.3}"),
            ]);
            lines.push(result_line(&[
                ("bench", "groups".into()),
                ("size", size.to_string()),
                ("mode", mode.to_string()),
                ("deliveries_per_s", format!("{d:.0}")),
                ("cpu_ns_per_delivery", format!("{c:.2}")),
                ("ratio_cpu_vs_loop", format!("{rc:.3}")),
            ]));
            // Deliveries per server CPU second: higher is better for both bars.
            bars.push((
                format!("{size} B shardnet {mode}"),
                1e9 / c.max(f64::MIN_POSITIVE),
            ));
        }
    }
    finish_bench(
        "groups",
        "Group of 10,000 over 2 shards: thousand deliveries per server CPU second (higher is better)",
        &csv,
        &bars,
        &lines,
        started,
        &noise,
        failed,
    );
}
