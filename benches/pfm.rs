//! `pfm`: HP-Socket's own benchmark procedure (its "pfm" test client) against each echo server:
//! 100 connections, 100 rounds, 5000-byte messages, 1 ms pause between rounds; in each round
//! every connection sends one message and the round ends when every echo is back (and checked).
//! Reports the total bytes sent (= bytes echoed back), the elapsed time from the first send to
//! the last echo (pauses included), MB/s, the server's CPU time and per-message round trips.
//!
//! Server CPU is reported twice: utime + stime (10 ms clock ticks: coarse for a ~0.2 s run)
//! and the scheduler's nanosecond on-CPU time (`/proc/<pid>/task/*/schedstat`); the ratio uses
//! the latter.
//!
//! Servers run in a child pinned to CPU 0, the load generator on CPU 1; systems alternate
//! over `SHARDNET_BENCH_ROUNDS` (default 3) repetitions and the medians are reported.

mod common;

use common::*;
use std::time::{Duration, Instant};

const CONNS: usize = 100;
const ROUNDS: usize = 100;
const SIZE: usize = 5000;
const PAUSE: Duration = Duration::from_millis(1);

fn main() {
    maybe_serve();
    raise_limits();
    if !pin_to_cpu(CLIENT_CPU) {
        eprintln!("warning: cannot pin the load generator to CPU {CLIENT_CPU}");
    }
    let reps = bench_rounds(3);
    println!("# pfm bench: {}", machine_line());
    println!(
        "# {CONNS} connections × {ROUNDS} rounds × {SIZE} B, {} ms pause; {reps} repetitions per server",
        PAUSE.as_millis()
    );
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let servers = ServerKind::ALL;
    let mut runs: Vec<Vec<RoundsResult>> = vec![Vec::new(); servers.len()];
    let (mut mismatches, mut errors, mut failed) = (0u64, 0u64, 0u64);
    for rep in 0..reps {
        for (si, &kind) in servers.iter().enumerate() {
            let server = match ServerChild::spawn(kind, &[], Duration::from_secs(30)) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{}: cannot start: {e}", kind.name());
                    failed += 1;
                    continue;
                }
            };
            let addr = ([127, 0, 0, 1], server.port).into();
            let r = LoadGen::connect(addr, CONNS, SIZE).and_then(|mut lg| {
                let r = lg.run_rounds(ROUNDS, PAUSE, Duration::from_secs(60), server.pid());
                mismatches += lg.mismatches;
                errors += lg.errors;
                r
            });
            drop(server);
            match r {
                Ok(r) => {
                    eprintln!(
                        "[{:>4.0}s] rep {} {:<8} {:>8.1} ms  {:>7.1} MB/s  server CPU {:>6.1} ms ({:.2} µs/msg, schedstat)  p50 {:.0} µs p99 {:.0} µs",
                        started.elapsed().as_secs_f64(),
                        rep + 1,
                        kind.name(),
                        r.secs * 1e3,
                        r.bytes as f64 / r.secs / 1e6,
                        r.server_sched_us as f64 / 1e3,
                        r.server_sched_us as f64 / r.msgs.max(1) as f64,
                        r.lat.p50,
                        r.lat.p99
                    );
                    runs[si].push(r);
                }
                Err(e) => {
                    eprintln!("{}: run failed: {e}", kind.name());
                    failed += 1;
                }
            }
        }
    }

    struct Row {
        bytes: u64,
        ms: f64,
        mb_s: f64,
        cpu_ms: f64,
        cpu_us_msg: f64,
        sched_ms: f64,
        sched_us_msg: f64,
        p50: f64,
        p99: f64,
    }
    let rows: Vec<Row> = runs
        .iter()
        .map(|rs| {
            let m =
                |f: &dyn Fn(&RoundsResult) -> f64| median(&rs.iter().map(f).collect::<Vec<_>>());
            Row {
                bytes: rs.first().map(|r| r.bytes).unwrap_or(0),
                ms: m(&|r| r.secs * 1e3),
                mb_s: m(&|r| r.bytes as f64 / r.secs / 1e6),
                cpu_ms: m(&|r| r.server_cpu_us as f64 / 1e3),
                cpu_us_msg: m(&|r| r.server_cpu_us as f64 / r.msgs.max(1) as f64),
                sched_ms: m(&|r| r.server_sched_us as f64 / 1e3),
                sched_us_msg: m(&|r| r.server_sched_us as f64 / r.msgs.max(1) as f64),
                p50: m(&|r| r.lat.p50),
                p99: m(&|r| r.lat.p99),
            }
        })
        .collect();
    let tokio = &rows[1];
    println!();
    println!("| server | total bytes sent (= echoed) | elapsed ms | MB/s each way | server CPU ms (utime+stime) | CPU µs/msg | CPU ms (schedstat) | schedstat µs/msg | p50 µs | p99 µs | elapsed vs tokio | CPU vs tokio (schedstat) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut csv = csv_table(&[
        "server",
        "runs",
        "bytes_sent",
        "bytes_echoed",
        "elapsed_ms",
        "mb_per_s",
        "server_cpu_ms",
        "cpu_us_per_msg",
        "sched_cpu_ms",
        "sched_us_per_msg",
        "p50_us",
        "p99_us",
        "ratio_elapsed_vs_tokio",
        "ratio_cpu_vs_tokio",
    ]);
    let mut lines = Vec::new();
    for (si, kind) in servers.iter().enumerate() {
        let r = &rows[si];
        let (re, rc) = (ratio(r.ms, tokio.ms), ratio(r.sched_ms, tokio.sched_ms));
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} | {:.2} | {:.0} | {:.0} | {re:.2} | {rc:.2} |",
            kind.name(),
            r.bytes,
            r.ms,
            r.mb_s,
            r.cpu_ms,
            r.cpu_us_msg,
            r.sched_ms,
            r.sched_us_msg,
            r.p50,
            r.p99
        );
        csv.push(vec![
            kind.name().into(),
            runs[si].len().to_string(),
            r.bytes.to_string(),
            r.bytes.to_string(),
            format!("{:.2}", r.ms),
            format!("{:.2}", r.mb_s),
            format!("{:.2}", r.cpu_ms),
            format!("{:.3}", r.cpu_us_msg),
            format!("{:.2}", r.sched_ms),
            format!("{:.3}", r.sched_us_msg),
            format!("{:.0}", r.p50),
            format!("{:.0}", r.p99),
            format!("{re:.3}"),
            format!("{rc:.3}"),
        ]);
        lines.push(result_line(&[
            ("bench", "pfm".into()),
            ("server", kind.name().into()),
            ("conns", CONNS.to_string()),
            ("rounds", ROUNDS.to_string()),
            ("size", SIZE.to_string()),
            ("total_bytes", r.bytes.to_string()),
            ("elapsed_ms", format!("{:.1}", r.ms)),
            ("mb_per_s", format!("{:.1}", r.mb_s)),
            ("server_cpu_ms", format!("{:.1}", r.cpu_ms)),
            ("cpu_us_per_msg", format!("{:.3}", r.cpu_us_msg)),
            ("sched_cpu_ms", format!("{:.1}", r.sched_ms)),
            ("sched_us_per_msg", format!("{:.3}", r.sched_us_msg)),
            ("p99_us", format!("{:.0}", r.p99)),
            ("ratio_elapsed_vs_tokio", format!("{re:.3}")),
            ("ratio_cpu_vs_tokio", format!("{rc:.3}")),
        ]));
    }
    let path = write_csv("pfm", &csv);
    println!(
        "wrote {}; elapsed {:.0} s; mismatches {mismatches}, lost connections {errors}, failed runs {failed}",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", noise.line());
    for l in &lines {
        println!("{l}");
    }
    if mismatches > 0 || errors > 0 || failed > 0 {
        eprintln!("FAILED: echoed bytes mismatched, connections were lost or runs failed");
        std::process::exit(1);
    }
}
