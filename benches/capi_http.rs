//! `capi_http`: the cost of the C API on the HTTP path. HP-Socket's TestHttpServer shape in C
//! on `libhpsocket4c.so` (`benches/c/http_hello_server.c`: `OnMessageComplete` reads method,
//! path and keep-alive through the getters, then `HP_HttpServer_SendResponse`) against its Rust
//! twin (`HttpServer` + an `HttpServerListener` doing the same, the `shardnet-http-listener`
//! server kind), both one shard on CPU 0, loaded by `wrk -t1 -c64` on CPU 1, plain keep-alive
//! and 16-deep pipelined, rounds interleaved (Rust, C, Rust, C, …). What the C server pays
//! beyond its twin is the bridge: each request's head kept for HP's getters, the callbacks
//! through C function pointers, and the getters' C strings.
//!
//! Environment: `SHARDNET_BENCH_SECS` (wrk duration, default 3), `SHARDNET_BENCH_ROUNDS`
//! (default 5). Output: a table, `RESULT` lines, `target/bench-results/capi_http.csv` and
//! `.svg`. Skips (exit 0) when wrk or taskset is missing.

mod common;

use common::*;
use std::time::{Duration, Instant};

const CONNS: usize = 64;

/// One wrk run against a fresh server: requests/s and the server's CPU µs per request.
fn run_one(
    c_server: Option<&std::path::Path>,
    depth: usize,
    secs: f64,
    script: &std::path::Path,
) -> Result<(f64, f64), String> {
    let server = match c_server {
        None => ServerChild::spawn(
            ServerKind::ShardnetHttpListener,
            &[],
            Duration::from_secs(30),
        ),
        // On CPU 0 like the Rust row: HP's C API has no CPU setting of its own.
        Some(exe) => ServerChild::spawn_program(
            std::path::Path::new("taskset"),
            &["-c", "0", exe.to_str().expect("utf-8 path"), "1"],
            "capi-http",
            Duration::from_secs(30),
        ),
    }
    .map_err(|e| e.to_string())?;
    let cpu0 = server.cpu_us();
    let (rps, _, _) = wrk(server.port, CONNS, depth, secs, script)?;
    let cpu = server.cpu_us().saturating_sub(cpu0) as f64;
    Ok((rps, cpu / (rps * secs).max(1.0)))
}

fn main() {
    maybe_serve();
    raise_limits();
    if !have_wrk() {
        return;
    }
    let secs = bench_secs(3.0);
    let rounds = bench_rounds(5);
    let c_server = build_c_on_capi("benches/c/http_hello_server.c", "capi_http_server");
    let script = wrk_pipeline_script(16);
    println!("# capi_http bench: {}", machine_line());
    println!("# wrk -t1 -c{CONNS} -d{secs}s on CPU {CLIENT_CPU}; {rounds} rounds, Rust and C alternating");
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let mut failed = 0;
    let mut csv = csv_table(&[
        "mode",
        "server",
        "runs",
        "req_per_s",
        "cpu_us_per_req",
        "ratio_rps_vs_rust",
        "ratio_cpu_vs_rust",
        "ratio_rps_per_round_median",
    ]);
    let (mut bars, mut lines) = (Vec::new(), Vec::new());
    println!(
        "| mode | server | req/s (median) | server CPU µs/req | req/s vs Rust | CPU vs Rust |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for (mode, depth) in [("keepalive", 1usize), ("pipelined16", 16)] {
        // [Rust, C] × rounds of (req/s, CPU µs/req).
        let mut runs: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
        let mut ratios = Vec::new();
        for round in 0..rounds {
            let mut this_round = [0.0f64; 2];
            for (i, exe) in [None, Some(c_server.as_path())].into_iter().enumerate() {
                let name = if i == 0 {
                    "Rust listener"
                } else {
                    "C listener"
                };
                match run_one(exe, depth, secs, &script) {
                    Ok(r) => {
                        eprintln!(
                            "[{:>4.0}s] {mode:<12} round {} {name:<14} {:>9.0} req/s {:>6.2} µs/req",
                            started.elapsed().as_secs_f64(),
                            round + 1,
                            r.0,
                            r.1
                        );
                        this_round[i] = r.0;
                        runs[i].push(r);
                    }
                    Err(e) => {
                        eprintln!("{mode} {name}: {e}");
                        failed += 1;
                    }
                }
            }
            if this_round[0] > 0.0 && this_round[1] > 0.0 {
                ratios.push(this_round[1] / this_round[0]);
            }
        }
        let med = |v: &[(f64, f64)], cpu: bool| {
            median(
                &v.iter()
                    .map(|r| if cpu { r.1 } else { r.0 })
                    .collect::<Vec<_>>(),
            )
        };
        let (rr, rc) = (med(&runs[0], false), med(&runs[0], true));
        let round_ratio = median(&ratios);
        for (i, name) in ["shardnet (Rust listener)", "libhpsocket4c (C listener)"]
            .into_iter()
            .enumerate()
        {
            let (rps, cpu) = (med(&runs[i], false), med(&runs[i], true));
            let (qr, qc) = (ratio(rps, rr), ratio(cpu, rc));
            println!("| {mode} | {name} | {rps:.0} | {cpu:.2} | {qr:.3} | {qc:.3} |");
            csv.push(vec![
                mode.into(),
                name.into(),
                runs[i].len().to_string(),
                format!("{rps:.0}"),
                format!("{cpu:.3}"),
                format!("{qr:.3}"),
                format!("{qc:.3}"),
                format!("{round_ratio:.3}"),
            ]);
            bars.push((format!("{} {mode}", if i == 0 { "rust" } else { "C" }), rps));
        }
        println!("(median of the per-round ratios C / Rust: {round_ratio:.3})");
        let (cr, cc) = (med(&runs[1], false), med(&runs[1], true));
        lines.push(result_line(&[
            ("bench", "capi_http".into()),
            ("mode", mode.into()),
            ("rust_req_per_s", format!("{rr:.0}")),
            ("capi_req_per_s", format!("{cr:.0}")),
            ("ratio_rps", format!("{:.3}", ratio(cr, rr))),
            ("ratio_rps_per_round_median", format!("{round_ratio:.3}")),
            ("ratio_cpu", format!("{:.3}", ratio(cc, rc))),
        ]));
    }
    finish_bench(
        "capi_http",
        "HTTP req/s: C listener on libhpsocket4c vs Rust listener",
        &csv,
        &bars,
        &lines,
        started,
        &noise,
        failed,
    );
}
