//! `websocket`: echo of binary messages over 100 WebSocket connections, shardnet's
//! `WebSocketServer` (one shard) against tokio-tungstenite on tokio current_thread, each
//! pinned to CPU 0 in a child process; one neutral load generator (below: mio, one thread,
//! pinned to CPU 1) does the handshakes, then keeps one message in flight per connection,
//! checks every echoed byte and header, and times each round trip. Cells: 64 B and 4 KiB.
//! Systems alternate over the rounds; medians reported; server CPU = utime + stime of the
//! child over the timed window. Neither side compresses (tokio-tungstenite has no
//! permessage-deflate).
//!
//! Environment: `SHARDNET_BENCH_SECS` (default 3), `SHARDNET_BENCH_ROUNDS` (default 3).
//! Output: a table, ratios vs tokio-tungstenite, `RESULT` lines,
//! `target/bench-results/websocket.csv` and `websocket.svg`.

mod common;

use common::*;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

const CONNS: usize = 100;

struct WsConn {
    stream: MioStream,
    /// The masked client frame (mask key 0: the payload is unchanged on the wire).
    frame: Vec<u8>,
    /// The server's frame expected back: header + payload.
    expect: Vec<u8>,
    out: usize,
    got: usize,
    sent_at: Instant,
    dead: bool,
}

fn header(out: &mut Vec<u8>, masked: bool, len: usize) {
    out.push(0x82);
    let m = if masked { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
    if masked {
        out.extend_from_slice(&[0, 0, 0, 0]);
    }
}

struct Run {
    msgs_per_s: f64,
    cpu_us_per_msg: f64,
    p50_us: f64,
    p99_us: f64,
}

fn run_one(kind: ServerKind, size: usize, secs: f64) -> Result<Run, String> {
    let server =
        ServerChild::spawn(kind, &[], Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut conns = Vec::with_capacity(CONNS);
    for i in 0..CONNS {
        let s = ws_upgrade(server.port).map_err(|e| format!("{}: {e}", kind.name()))?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut stream = MioStream::from_std(s);
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| e.to_string())?;
        let payload = pattern_at(i, 0, size).to_vec();
        let mut frame = Vec::new();
        header(&mut frame, true, size);
        frame.extend_from_slice(&payload);
        let mut expect = Vec::new();
        header(&mut expect, false, size);
        expect.extend_from_slice(&payload);
        conns.push(WsConn {
            stream,
            frame,
            expect,
            out: 0,
            got: 0,
            sent_at: Instant::now(),
            dead: false,
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 << 10];
    let mut rtts: Vec<u32> = Vec::new();
    let mut msgs = 0u64;
    let mut errors = 0u64;
    let write = |c: &mut WsConn, errors: &mut u64| {
        while !c.dead && c.out < c.frame.len() {
            match c.stream.write(&c.frame[c.out..]) {
                Ok(0) => {
                    c.dead = true;
                    *errors += 1;
                }
                Ok(n) => c.out += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    c.dead = true;
                    *errors += 1;
                }
            }
        }
    };
    // Warm up for a moment, then time.
    let start_all = Instant::now();
    let warm = Duration::from_millis(300);
    let mut t0 = None;
    let mut cpu0 = 0;
    for c in conns.iter_mut() {
        c.sent_at = Instant::now();
        write(c, &mut errors);
    }
    let end = warm + Duration::from_secs_f64(secs);
    while start_all.elapsed() < end {
        if t0.is_none() && start_all.elapsed() >= warm {
            t0 = Some(Instant::now());
            cpu0 = server.cpu_us();
            msgs = 0;
            rtts.clear();
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            if ev.is_writable() {
                write(c, &mut errors);
            }
            if !ev.is_readable() {
                continue;
            }
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        c.dead = true;
                        errors += 1;
                        break;
                    }
                    Ok(n) => {
                        let mut data = &buf[..n];
                        while !data.is_empty() {
                            let take = (c.expect.len() - c.got).min(data.len());
                            if data[..take] != c.expect[c.got..c.got + take] {
                                c.dead = true;
                                errors += 1;
                                break;
                            }
                            c.got += take;
                            data = &data[take..];
                            if c.got == c.expect.len() {
                                msgs += 1;
                                rtts.push(
                                    c.sent_at.elapsed().as_micros().min(u32::MAX as u128) as u32
                                );
                                c.got = 0;
                                c.out = 0;
                                c.sent_at = Instant::now();
                                write(c, &mut errors);
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.dead = true;
                        errors += 1;
                        break;
                    }
                }
            }
        }
    }
    let elapsed = t0.map_or(secs, |t| t.elapsed().as_secs_f64());
    let cpu = server.cpu_us().saturating_sub(cpu0) as f64;
    drop(server);
    if errors > 0 {
        return Err(format!(
            "{}: {errors} connection errors or mismatches",
            kind.name()
        ));
    }
    rtts.sort_unstable();
    Ok(Run {
        msgs_per_s: msgs as f64 / elapsed,
        cpu_us_per_msg: cpu / (msgs as f64).max(1.0),
        p50_us: pct(&rtts, 0.5),
        p99_us: pct(&rtts, 0.99),
    })
}

fn main() {
    maybe_serve();
    raise_limits();
    if !pin_to_cpu(CLIENT_CPU) {
        eprintln!("warning: cannot pin the load generator to CPU {CLIENT_CPU}");
    }
    let secs = bench_secs(3.0);
    let rounds = bench_rounds(3);
    let servers = [ServerKind::ShardnetWs, ServerKind::TokioTungstenite];
    let sizes = [64usize, 4096];
    println!("# websocket bench: {}", machine_line());
    println!("# {CONNS} connections, one message in flight each, {secs} s per run, {rounds} rounds, systems alternating");
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let mut runs: Vec<Vec<Vec<Run>>> = (0..sizes.len())
        .map(|_| (0..servers.len()).map(|_| Vec::new()).collect())
        .collect();
    let mut failed = 0;
    for (zi, &size) in sizes.iter().enumerate() {
        for round in 0..rounds {
            for (si, &kind) in servers.iter().enumerate() {
                match run_one(kind, size, secs) {
                    Ok(r) => {
                        eprintln!(
                            "[{:>4.0}s] {size:>5} B round {} {:<18} {:>9.0} msgs/s {:>6.2} µs/msg p50 {:>6.0} p99 {:>6.0} µs",
                            started.elapsed().as_secs_f64(),
                            round + 1,
                            kind.name(),
                            r.msgs_per_s,
                            r.cpu_us_per_msg,
                            r.p50_us,
                            r.p99_us
                        );
                        runs[zi][si].push(r);
                    }
                    Err(e) => {
                        eprintln!("{size} B {}: {e}", kind.name());
                        failed += 1;
                    }
                }
            }
        }
    }
    let med = |v: &[Run], f: &dyn Fn(&Run) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    println!();
    println!("| size | server | msgs/s | server CPU µs/msg | p50 µs | p99 µs | msgs/s vs tokio-tungstenite | CPU vs tokio-tungstenite |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut csv = csv_table(&[
        "size",
        "server",
        "runs",
        "msgs_per_s",
        "cpu_us_per_msg",
        "p50_us",
        "p99_us",
        "ratio_msgs_vs_tokio_tungstenite",
        "ratio_cpu_vs_tokio_tungstenite",
    ]);
    let mut lines = Vec::new();
    let mut bars = Vec::new();
    let mut ratios = Vec::new();
    for (zi, &size) in sizes.iter().enumerate() {
        let base = &runs[zi][1];
        let (bm, bc) = (
            med(base, &|r| r.msgs_per_s),
            med(base, &|r| r.cpu_us_per_msg),
        );
        for (si, kind) in servers.iter().enumerate() {
            let v = &runs[zi][si];
            let (m, c) = (med(v, &|r| r.msgs_per_s), med(v, &|r| r.cpu_us_per_msg));
            let (p50, p99) = (med(v, &|r| r.p50_us), med(v, &|r| r.p99_us));
            let (rm, rc) = (ratio(m, bm), ratio(c, bc));
            if si == 0 {
                ratios.push((size, rm, rc));
            }
            println!(
                "| {size} | {} | {m:.0} | {c:.2} | {p50:.0} | {p99:.0} | {rm:.2} | {rc:.2} |",
                kind.name()
            );
            csv.push(vec![
                size.to_string(),
                kind.name().into(),
                v.len().to_string(),
                format!("{m:.0}"),
                format!("{c:.3}"),
                format!("{p50:.0}"),
                format!("{p99:.0}"),
                format!("{rm:.3}"),
                format!("{rc:.3}"),
            ]);
            lines.push(result_line(&[
                ("bench", "websocket".into()),
                ("size", size.to_string()),
                ("server", kind.name().into()),
                ("msgs_per_s", format!("{m:.0}")),
                ("cpu_us_per_msg", format!("{c:.3}")),
                ("p50_us", format!("{p50:.0}")),
                ("p99_us", format!("{p99:.0}")),
                ("ratio_msgs_vs_tokio_tungstenite", format!("{rm:.3}")),
                ("ratio_cpu_vs_tokio_tungstenite", format!("{rc:.3}")),
            ]));
            bars.push((format!("{size} B {}", kind.name()), m));
        }
    }
    println!();
    if let Some(&(_, rm, rc)) = ratios.first() {
        println!(
            "target 64 B msgs/s ≥ 1.3× tokio-tungstenite: {rm:.2}× {}",
            if rm >= 1.3 { "MET" } else { "MISSED" }
        );
        println!(
            "target 64 B server CPU/msg ≤ 0.75× tokio-tungstenite: {rc:.2}× {}",
            if rc <= 0.75 { "MET" } else { "MISSED" }
        );
    }
    finish_bench(
        "websocket",
        "WebSocket echo, 100 connections: thousand messages/s (higher is better)",
        &csv,
        &bars,
        &lines,
        started,
        &noise,
        failed,
    );
}
