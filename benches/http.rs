//! `http`: requests/s, server CPU µs per request and latency of shardnet's `HttpServer` (the
//! whole-request handler, one shard) against hyper 1.x on tokio current_thread (with
//! `pipeline_flush`), both answering `200 Hello, World!`, loaded by `wrk` (Debian package) —
//! a third-party load generator — with 64 keep-alive connections, plain and 16-deep pipelined.
//!
//! Same method as `echo`: each server in a child pinned to CPU 0, wrk pinned to CPU 1 with
//! `taskset`, systems alternating over the rounds, medians reported, server CPU = utime + stime
//! of the child over the run. Any non-2xx answer or socket error fails the bench. Skips (exit 0)
//! when wrk or taskset is missing.
//!
//! Environment: `SHARDNET_BENCH_SECS` (wrk duration, default 3), `SHARDNET_BENCH_ROUNDS`
//! (default 3). Output: a table, ratios vs hyper, `RESULT` lines, `target/bench-results/http.csv`
//! and `http.svg`.

mod common;

use common::*;
use std::time::{Duration, Instant};

const CONNS: usize = 64;

#[derive(Clone, Copy)]
struct Cell {
    depth: usize,
}

impl Cell {
    fn name(&self) -> &'static str {
        if self.depth == 1 {
            "keepalive"
        } else {
            "pipelined16"
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Run {
    rps: f64,
    cpu_us_per_req: f64,
    p50_us: f64,
    p99_us: f64,
}

fn run_one(
    kind: ServerKind,
    cell: Cell,
    secs: f64,
    script: &std::path::Path,
) -> Result<Run, String> {
    let server =
        ServerChild::spawn(kind, &[], Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let cpu0 = server.cpu_us();
    let (rps, p50, p99) = wrk(server.port, CONNS, cell.depth, secs, script)?;
    let cpu = server.cpu_us().saturating_sub(cpu0) as f64;
    drop(server);
    Ok(Run {
        rps,
        cpu_us_per_req: cpu / (rps * secs).max(1.0),
        p50_us: p50,
        p99_us: p99,
    })
}

fn main() {
    maybe_serve();
    raise_limits();
    if !have_wrk() {
        return;
    }
    let secs = bench_secs(3.0);
    let rounds = bench_rounds(3);
    let servers = [ServerKind::ShardnetHttp, ServerKind::Hyper];
    let cells = [Cell { depth: 1 }, Cell { depth: 16 }];
    let dir = results_dir();
    let script = wrk_pipeline_script(16);
    println!("# http bench: {}", machine_line());
    println!(
        "# wrk -t1 -c{CONNS} -d{secs}s on CPU {CLIENT_CPU}; {rounds} rounds, systems alternating"
    );
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let mut runs: Vec<Vec<Vec<Run>>> = vec![vec![Vec::new(); servers.len()]; cells.len()];
    let mut failed = 0;
    for (ci, cell) in cells.iter().enumerate() {
        for round in 0..rounds {
            for (si, &kind) in servers.iter().enumerate() {
                match run_one(kind, *cell, secs, &script) {
                    Ok(r) => {
                        eprintln!(
                            "[{:>4.0}s] {:<12} round {} {:<14} {:>9.0} req/s {:>6.2} µs/req  p50 {:>7.0} p99 {:>7.0} µs",
                            started.elapsed().as_secs_f64(),
                            cell.name(),
                            round + 1,
                            kind.name(),
                            r.rps,
                            r.cpu_us_per_req,
                            r.p50_us,
                            r.p99_us
                        );
                        runs[ci][si].push(r);
                    }
                    Err(e) => {
                        eprintln!("{} {}: {e}", cell.name(), kind.name());
                        failed += 1;
                    }
                }
            }
        }
    }
    let med = |v: &[Run], f: &dyn Fn(&Run) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    println!();
    println!("| mode | server | req/s | server CPU µs/req | p50 µs | p99 µs | req/s vs hyper | CPU vs hyper |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut csv = csv_table(&[
        "mode",
        "server",
        "runs",
        "req_per_s",
        "cpu_us_per_req",
        "p50_us",
        "p99_us",
        "ratio_rps_vs_hyper",
        "ratio_cpu_vs_hyper",
    ]);
    let mut lines = Vec::new();
    let mut bars = Vec::new();
    for (ci, cell) in cells.iter().enumerate() {
        let hy = &runs[ci][1];
        let (hr, hc) = (med(hy, &|r| r.rps), med(hy, &|r| r.cpu_us_per_req));
        for (si, kind) in servers.iter().enumerate() {
            let v = &runs[ci][si];
            let (rps, cpu) = (med(v, &|r| r.rps), med(v, &|r| r.cpu_us_per_req));
            let (p50, p99) = (med(v, &|r| r.p50_us), med(v, &|r| r.p99_us));
            let (rr, rc) = (ratio(rps, hr), ratio(cpu, hc));
            println!(
                "| {} | {} | {rps:.0} | {cpu:.2} | {p50:.0} | {p99:.0} | {rr:.2} | {rc:.2} |",
                cell.name(),
                kind.name()
            );
            csv.push(vec![
                cell.name().into(),
                kind.name().into(),
                v.len().to_string(),
                format!("{rps:.0}"),
                format!("{cpu:.3}"),
                format!("{p50:.0}"),
                format!("{p99:.0}"),
                format!("{rr:.3}"),
                format!("{rc:.3}"),
            ]);
            lines.push(result_line(&[
                ("bench", "http".into()),
                ("mode", cell.name().into()),
                ("server", kind.name().into()),
                ("req_per_s", format!("{rps:.0}")),
                ("cpu_us_per_req", format!("{cpu:.3}")),
                ("p50_us", format!("{p50:.0}")),
                ("p99_us", format!("{p99:.0}")),
                ("ratio_rps_vs_hyper", format!("{rr:.3}")),
                ("ratio_cpu_vs_hyper", format!("{rc:.3}")),
            ]));
            bars.push((format!("{} {}", cell.name(), kind.name()), rps));
        }
    }
    let k = med(&runs[0][0], &|r| r.rps) / med(&runs[0][1], &|r| r.rps).max(1.0);
    let p = med(&runs[1][0], &|r| r.rps) / med(&runs[1][1], &|r| r.rps).max(1.0);
    println!();
    println!(
        "target keep-alive req/s ≥ 1.2× hyper: {k:.2}× {}",
        if k >= 1.2 { "MET" } else { "MISSED" }
    );
    println!(
        "target pipelined req/s ≥ 1.0× hyper (pipeline_flush): {p:.2}× {}",
        if p >= 1.0 { "MET" } else { "MISSED" }
    );
    let csv_path = write_csv("http", &csv);
    let svg = dir.join("http.svg");
    match chart(&svg, &bars) {
        Ok(()) => println!("wrote {} and {}", csv_path.display(), svg.display()),
        Err(e) => eprintln!("chart failed: {e}"),
    }
    println!(
        "elapsed {:.0} s; failed runs {failed}",
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

/// A bar chart of req/s per (mode, server).
fn chart(path: &std::path::Path, bars: &[(String, f64)]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max) / 1000.0;
    let mut c = ChartBuilder::on(&root)
        .caption(
            "HTTP/1.1, 64 connections: thousand requests/s (higher is better)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..bars.len() as f64, 0f64..max * 1.2)?;
    c.configure_mesh().disable_x_mesh().x_labels(0).draw()?;
    for (i, (label, v)) in bars.iter().enumerate() {
        let color = if label.contains("shardnet") {
            RGBColor(0xd6, 0x27, 0x28)
        } else {
            RGBColor(0x1f, 0x77, 0xb4)
        };
        c.draw_series(std::iter::once(Rectangle::new(
            [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, v / 1000.0)],
            color.filled(),
        )))?;
        let x = c.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            label.clone(),
            (x.0 - 60, x.1 + 8),
            ("sans-serif", 13).into_font(),
        ))?;
    }
    root.present()?;
    Ok(())
}
