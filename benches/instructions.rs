//! `instructions`: instructions executed by each echo server per 64-byte ping-pong message,
//! counted by `valgrind --tool=callgrind` (repeatable whatever else the machine is doing, unlike
//! wall time; `perf stat` has no hardware counters on these VMs).
//!
//! Each server child runs under callgrind twice: a baseline (start, accept 100 connections, one
//! round trip on each, close) and a run (the same plus 200 more lock-step rounds of one message
//! per connection). Instructions per message = (Ir(run) − Ir(baseline)) / (200 × 100), where Ir
//! is the `totals:` line of callgrind's output. Skips cleanly (exit 0) when valgrind is absent.
//!
//! `SHARDNET_INSTR_ROUNDS` changes the 200; `SHARDNET_BENCH_ROUNDS` (default 1: the counts are
//! nearly deterministic) repeats the pairs.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CONNS: usize = 100;
const SIZE: usize = 64;

/// Total instructions (`totals:` or `summary:` line) of a callgrind output file.
fn callgrind_total(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let pick = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    pick("totals:").or_else(|| pick("summary:"))
}

/// Runs `kind` under callgrind for `rounds` lock-step rounds; returns total Ir. Retries a few
/// times when the child hangs: valgrind 3.19 does not treat `io_uring_enter` as a blocking
/// call, so a glommio executor parked in it keeps valgrind's thread lock and another thread of
/// the process that must run first (shardnet's main thread during start-up, the stdin watcher
/// at exit) can wait forever. Start-up is retried; exit is helped by "pokes" (connections that
/// wake the executor, see `ServerChild::finish`).
fn profile(kind: ServerKind, rounds: usize, out: &Path) -> Result<u64, String> {
    let mut last = String::new();
    for attempt in 1..=8 {
        match profile_once(kind, rounds, out) {
            Ok(ir) => return Ok(ir),
            Err(e) => {
                eprintln!(
                    "  {} ({} rounds) attempt {attempt}: {e}; retrying",
                    kind.name(),
                    rounds
                );
                last = e;
            }
        }
    }
    Err(last)
}

fn profile_once(kind: ServerKind, rounds: usize, out: &Path) -> Result<u64, String> {
    let _ = std::fs::remove_file(out);
    let wrapper = vec![
        "valgrind".to_string(),
        "--tool=callgrind".into(),
        "-q".into(),
        // A fair hand-off of valgrind's thread lock (fewer start-up hangs, see `profile`).
        "--fair-sched=yes".into(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    let mut server =
        ServerChild::spawn(kind, &wrapper, Duration::from_secs(12)).map_err(|e| e.to_string())?;
    let addr = ([127, 0, 0, 1], server.port).into();
    let mut lg = LoadGen::connect(addr, CONNS, SIZE).map_err(|e| e.to_string())?;
    let r = lg
        .run_rounds(
            rounds,
            Duration::ZERO,
            Duration::from_secs(180),
            server.pid(),
        )
        .map_err(|e| e.to_string())?;
    if lg.mismatches > 0 || lg.errors > 0 {
        return Err(format!(
            "{} mismatches, {} lost connections",
            lg.mismatches, lg.errors
        ));
    }
    if r.msgs != (rounds * CONNS) as u64 {
        return Err(format!("{} of {} echoes", r.msgs, rounds * CONNS));
    }
    drop(lg);
    // Let the server see the closes before it is told to exit.
    std::thread::sleep(Duration::from_millis(500));
    if !server.finish(Duration::from_secs(30)) {
        return Err("server did not exit; killed (no profile)".into());
    }
    callgrind_total(out).ok_or_else(|| format!("no totals in {}", out.display()))
}

fn main() {
    maybe_serve();
    raise_limits();
    if !pin_to_cpu(CLIENT_CPU) {
        eprintln!("warning: cannot pin the load generator to CPU {CLIENT_CPU}");
    }
    println!("# instructions bench: {}", machine_line());
    let have_valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_valgrind {
        println!("SKIP: valgrind not found (apt-get install -y valgrind)");
        println!(
            "{}",
            result_line(&[("bench", "instructions".into()), ("skipped", "1".into())])
        );
        return;
    }
    let k = env_f64("SHARDNET_INSTR_ROUNDS")
        .map(|v| v.max(1.0) as usize)
        .unwrap_or(200);
    let reps = bench_rounds(1);
    println!(
        "# callgrind: {CONNS} connections × {k} lock-step {SIZE} B round trips, minus a baseline of 1 round; {reps} repetition(s)"
    );
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let dir = results_dir();
    let servers = ServerKind::ALL;
    let mut per_msg: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut totals: Vec<Vec<(u64, u64)>> = vec![Vec::new(); servers.len()];
    let mut failed = 0;
    for rep in 0..reps {
        for (si, &kind) in servers.iter().enumerate() {
            let base_out = dir.join(format!("callgrind.{}.base.out", kind.name()));
            let run_out = dir.join(format!("callgrind.{}.run.out", kind.name()));
            let r = profile(kind, 1, &base_out)
                .and_then(|b| profile(kind, 1 + k, &run_out).map(|r| (b, r)));
            match r {
                Ok((b, r)) => {
                    let ipm = r.saturating_sub(b) as f64 / (k * CONNS) as f64;
                    eprintln!(
                        "[{:>4.0}s] rep {} {:<8} baseline {b} Ir, run {r} Ir: {ipm:.0} Ir/msg",
                        started.elapsed().as_secs_f64(),
                        rep + 1,
                        kind.name()
                    );
                    per_msg[si].push(ipm);
                    totals[si].push((b, r));
                }
                Err(e) => {
                    eprintln!("{}: {e}", kind.name());
                    failed += 1;
                }
            }
        }
    }
    let of = |k: ServerKind| {
        servers
            .iter()
            .position(|&s| s == k)
            .map_or(0.0, |i| median(&per_msg[i]))
    };
    let (tokio, floor) = (of(ServerKind::Tokio), of(ServerKind::Epoll));
    println!();
    println!(
        "| server | baseline Ir | run Ir | instructions per message | vs tokio | vs epoll floor |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut csv = csv_table(&[
        "server",
        "runs",
        "baseline_ir",
        "run_ir",
        "messages",
        "ir_per_msg",
        "ratio_vs_tokio",
        "ratio_vs_floor",
    ]);
    let mut lines = Vec::new();
    for (si, kind) in servers.iter().enumerate() {
        let ipm = median(&per_msg[si]);
        let (b, r) = totals[si].last().copied().unwrap_or((0, 0));
        let rt = ratio(ipm, tokio);
        let rf = ratio(ipm, floor);
        println!(
            "| {} | {b} | {r} | {ipm:.0} | {rt:.2} | {rf:.2} |",
            kind.name()
        );
        csv.push(vec![
            kind.name().into(),
            per_msg[si].len().to_string(),
            b.to_string(),
            r.to_string(),
            (k * CONNS).to_string(),
            format!("{ipm:.1}"),
            format!("{rt:.3}"),
            format!("{rf:.3}"),
        ]);
        lines.push(result_line(&[
            ("bench", "instructions".into()),
            ("server", kind.name().into()),
            ("conns", CONNS.to_string()),
            ("size", SIZE.to_string()),
            ("messages", (k * CONNS).to_string()),
            ("ir_per_msg", format!("{ipm:.0}")),
            ("ratio_vs_tokio", format!("{rt:.3}")),
            ("ratio_vs_floor", format!("{rf:.3}")),
        ]));
    }
    let path = write_csv("instructions", &csv);
    println!(
        "wrote {}; elapsed {:.0} s; failed {failed}",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", noise.line());
    for l in &lines {
        println!("{l}");
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
