//! `idle_memory`: server memory per idle connection. The server (shardnet `TcpServer` with one
//! shard, tokio current_thread, raw glommio, the epoll floor, and shardnet's `HttpServer` holding
//! idle keep-alive connections after one request each) runs in one child process pinned to CPU 0; a second
//! child (the "holder", so that neither process needs more than ~10,000 of its 20,000 file
//! descriptors) opens 10,000 connections, does one checked 64-byte echo round trip on each, and
//! holds them open. Measured: the server's VmRSS (`/proc/<pid>/status`) before the holder
//! connects and ~1 s after every connection was touched; reported as bytes per connection.
//!
//! `SHARDNET_IDLE_CONNS` changes the 10,000; `SHARDNET_BENCH_ROUNDS` (default 3) the
//! repetitions (systems alternate; medians reported); `SHARDNET_BENCH_SERVERS=a,b` a subset.
//! The `shardnet-udp` and `shardnet-arq` rows hold 10,000 UDP peers instead (one socket each;
//! ARQ: the handshake complete on both sides and one message echoed and acknowledged).

mod common;

use common::*;
use std::time::{Duration, Instant};

struct Run {
    before: u64,
    after: u64,
    per_conn: f64,
}

fn measure(kind: ServerKind, n: usize) -> Result<(Run, u64), String> {
    let server =
        ServerChild::spawn(kind, &[], Duration::from_secs(30)).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss();
    let mut args = vec![
        "--hold".to_string(),
        n.to_string(),
        "--port".into(),
        server.port.to_string(),
    ];
    match kind {
        ServerKind::ShardnetHttp => args.push("--http".into()),
        ServerKind::ShardnetWs => args.push("--ws".into()),
        ServerKind::ShardnetWsDeflate => args.push("--ws-deflate".into()),
        ServerKind::ShardnetUdp => args.push("--udp".into()),
        ServerKind::ShardnetArq => args.push("--arq".into()),
        _ => {}
    }
    let mut holder =
        ServerChild::spawn_self(&args, &[], "holder").map_err(|e| format!("holder: {e}"))?;
    let line = holder
        .wait_line("HELD", Duration::from_secs(180))
        .map_err(|e| e.to_string())?;
    // An unreadable count fails the run (it is not a huge mismatch count to add up).
    let mismatches: u64 = line
        .split_whitespace()
        .nth(2)
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("holder: unreadable line {line:?}"))?;
    std::thread::sleep(Duration::from_secs(1));
    let after = server.rss();
    drop(holder);
    drop(server);
    Ok((
        Run {
            before,
            after,
            per_conn: after.saturating_sub(before) as f64 / n as f64,
        },
        mismatches,
    ))
}

fn main() {
    maybe_serve();
    raise_limits();
    let n = env_f64("SHARDNET_IDLE_CONNS")
        .map(|v| v as usize)
        .unwrap_or(10_000);
    let reps = bench_rounds(3);
    println!("# idle_memory bench: {}", machine_line());
    println!(
        "# {n} idle connections (each touched by one 64 B echo), {reps} repetitions per server"
    );
    let started = Instant::now();
    let noise = NoiseMeter::start();
    // The HTTP server's figure is an idle keep-alive connection after one request.
    let servers: Vec<ServerKind> = ServerKind::ALL
        .into_iter()
        .chain([
            ServerKind::ShardnetHttp,
            ServerKind::ShardnetWs,
            ServerKind::ShardnetWsDeflate,
            ServerKind::ShardnetUdp,
            ServerKind::ShardnetArq,
        ])
        .filter(|k| {
            std::env::var("SHARDNET_BENCH_SERVERS")
                .map_or(true, |list| list.split(',').any(|n| n.trim() == k.name()))
        })
        .collect();
    let mut runs: Vec<Vec<Run>> = (0..servers.len()).map(|_| Vec::new()).collect();
    let (mut mismatches, mut failed) = (0u64, 0u64);
    for rep in 0..reps {
        for (si, &kind) in servers.iter().enumerate() {
            match measure(kind, n) {
                Ok((r, mm)) => {
                    eprintln!(
                        "[{:>4.0}s] rep {} {:<8} RSS {:>8} KiB -> {:>8} KiB: {:>7.0} B/conn",
                        started.elapsed().as_secs_f64(),
                        rep + 1,
                        kind.name(),
                        r.before / 1024,
                        r.after / 1024,
                        r.per_conn
                    );
                    mismatches += mm;
                    runs[si].push(r);
                }
                Err(e) => {
                    eprintln!("{}: {e}", kind.name());
                    failed += 1;
                }
            }
        }
    }
    let med =
        |si: usize, f: &dyn Fn(&Run) -> f64| median(&runs[si].iter().map(f).collect::<Vec<_>>());
    let tokio_b = med(1, &|r| r.per_conn);
    println!();
    println!("| server | RSS before KiB | RSS with {n} conns KiB | bytes per idle connection | vs tokio |");
    println!("|---|---:|---:|---:|---:|");
    let mut csv = csv_table(&[
        "server",
        "runs",
        "connections",
        "rss_before_bytes",
        "rss_after_bytes",
        "bytes_per_conn",
        "ratio_vs_tokio",
    ]);
    let mut lines = Vec::new();
    for (si, kind) in servers.iter().enumerate() {
        let (b, a, p) = (
            med(si, &|r| r.before as f64),
            med(si, &|r| r.after as f64),
            med(si, &|r| r.per_conn),
        );
        let rt = ratio(p, tokio_b);
        println!(
            "| {} | {:.0} | {:.0} | {p:.0} | {rt:.3} |",
            kind.name(),
            b / 1024.0,
            a / 1024.0
        );
        csv.push(vec![
            kind.name().into(),
            runs[si].len().to_string(),
            n.to_string(),
            format!("{b:.0}"),
            format!("{a:.0}"),
            format!("{p:.1}"),
            format!("{rt:.4}"),
        ]);
        lines.push(result_line(&[
            ("bench", "idle_memory".into()),
            ("server", kind.name().into()),
            ("conns", n.to_string()),
            ("rss_before_kib", format!("{:.0}", b / 1024.0)),
            ("rss_after_kib", format!("{:.0}", a / 1024.0)),
            ("bytes_per_conn", format!("{p:.0}")),
            ("ratio_vs_tokio", format!("{rt:.3}")),
        ]));
    }
    let sn = med(0, &|r| r.per_conn);
    println!(
        "target ≤ 256 B per idle connection (shardnet): {sn:.0} B {}",
        if sn <= 256.0 && !runs[0].is_empty() {
            "MET"
        } else {
            "MISSED"
        }
    );
    let path = write_csv("idle_memory", &csv);
    println!(
        "wrote {}; elapsed {:.0} s; echo mismatches {mismatches}, failed runs {failed}",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", noise.line());
    for l in &lines {
        println!("{l}");
    }
    if mismatches > 0 || failed > 0 {
        eprintln!("FAILED: echo mismatches or failed runs");
        std::process::exit(1);
    }
}
