//! `capi_echo`: the cost of the C API. HP-Socket's TestEcho server written in C against
//! `libhpsocket4c.so` (`capi/tests/c/echo_server.c`: `OnReceive` → `HP_Server_Send`) against
//! the native Rust echo (`TcpServer` + a Rust listener, the `shardnet` row of `echo`), both one
//! shard on CPU 0, driven by the same mio load generator on CPU 1, rounds interleaved
//! (native, C, native, C, …). Target: the FFI layer costs ≤ 5 % msgs/s.
//!
//! The C server is compiled here with the system `cc` against `capi/include` and the
//! library cargo built beside this bench (`shardnet-capi` is a dev-dependency).
//! Environment: `SHARDNET_BENCH_SECS` (window, default 2), `SHARDNET_BENCH_ROUNDS` (default 5).
//! Output: a table, `RESULT` lines, `target/bench-results/capi_echo.csv` and `.svg`.

mod common;

use common::*;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Row {
    Native,
    CApi,
}

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::Native => "shardnet (Rust listener)",
            Row::CApi => "libhpsocket4c (C listener)",
        }
    }
}

fn main() {
    maybe_serve();
    raise_limits();
    pin_to_cpu(CLIENT_CPU);
    let secs = bench_secs(2.0);
    let rounds = bench_rounds(5);
    let window = Duration::from_secs_f64(secs);
    let c_server = build_c_on_capi("capi/tests/c/echo_server.c", "capi_echo_server");
    let cells = [(100usize, 64usize, 1usize), (100, 4096, 16)];
    println!("# capi_echo bench: {}", machine_line());
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let mut failed = 0;
    let mut csv = csv_table(&[
        "conns",
        "size",
        "depth",
        "server",
        "runs",
        "msgs_per_s",
        "cpu_us_per_msg",
        "ratio_msgs_vs_native",
        "ratio_cpu_vs_native",
    ]);
    let mut bars = Vec::new();
    let mut lines = Vec::new();
    println!("| cell | server | msgs/s (median) | server CPU µs/msg | msgs/s vs native | CPU vs native |");
    println!("|---|---|---:|---:|---:|---:|");
    for (conns, size, depth) in cells {
        let mut runs: [Vec<TimedResult>; 2] = [Vec::new(), Vec::new()];
        let mut ratios = Vec::new();
        for round in 0..rounds {
            let mut this_round = [0.0f64; 2];
            for (i, row) in [Row::Native, Row::CApi].into_iter().enumerate() {
                let server = match row {
                    Row::Native => {
                        ServerChild::spawn(ServerKind::Shardnet, &[], Duration::from_secs(30))
                    }
                    // On CPU 0 like the native row: a child inherits this process's CPU-1
                    // mask, and HP's C API has no CPU setting of its own.
                    Row::CApi => ServerChild::spawn_program(
                        std::path::Path::new("taskset"),
                        &["-c", "0", c_server.to_str().expect("utf-8 path"), "1"],
                        "capi",
                        Duration::from_secs(30),
                    ),
                };
                let Ok(server) = server else {
                    failed += 1;
                    continue;
                };
                let addr = ([127, 0, 0, 1], server.port).into();
                let Ok(mut lg) = LoadGen::connect(addr, conns, size) else {
                    failed += 1;
                    continue;
                };
                let r = lg.run_timed(
                    depth,
                    Duration::from_millis(500),
                    window,
                    Duration::from_secs(2),
                    server.pid(),
                );
                if lg.mismatches > 0 || lg.errors > 0 {
                    failed += 1;
                }
                drop(lg);
                drop(server);
                match r {
                    Ok(r) => {
                        eprintln!("[{:>4.0}s] {conns}c {size}B x{depth} round {} {:<28} {:>9.0} msgs/s {:>6.2} µs/msg p50 {:.0} µs ({:.0}% user)", started.elapsed().as_secs_f64(), round + 1, row.name(), r.msgs_per_s(), r.cpu_us_per_msg(), r.lat.p50, r.user_share() * 100.0);
                        this_round[i] = r.msgs_per_s();
                        runs[i].push(r);
                    }
                    Err(_) => failed += 1,
                }
            }
            if this_round[0] > 0.0 && this_round[1] > 0.0 {
                ratios.push(this_round[1] / this_round[0]);
            }
        }
        let med = |rs: &[TimedResult], f: &dyn Fn(&TimedResult) -> f64| {
            median(&rs.iter().map(f).collect::<Vec<_>>())
        };
        let (nm, nc) = (
            med(&runs[0], &|r| r.msgs_per_s()),
            med(&runs[0], &|r| r.cpu_us_per_msg()),
        );
        let (cm, cc) = (
            med(&runs[1], &|r| r.msgs_per_s()),
            med(&runs[1], &|r| r.cpu_us_per_msg()),
        );
        let round_ratio = median(&ratios);
        for (row, m, c) in [(Row::Native, nm, nc), (Row::CApi, cm, cc)] {
            let (rm, rc) = (ratio(m, nm), ratio(c, nc));
            println!(
                "| {conns}c {size}B x{depth} | {} | {m:.0} | {c:.2} | {rm:.3} | {rc:.3} |",
                row.name()
            );
            let runs_n = if row == Row::Native {
                runs[0].len()
            } else {
                runs[1].len()
            };
            csv.push(vec![
                conns.to_string(),
                size.to_string(),
                depth.to_string(),
                row.name().into(),
                runs_n.to_string(),
                format!("{m:.0}"),
                format!("{c:.3}"),
                format!("{rm:.3}"),
                format!("{rc:.3}"),
            ]);
            bars.push((
                format!(
                    "{} {conns}c {size}B x{depth}",
                    if row == Row::Native { "rust" } else { "C" }
                ),
                m,
            ));
        }
        println!("(median of the per-round ratios C / native: {round_ratio:.3})");
        lines.push(result_line(&[
            ("bench", "capi_echo".into()),
            ("conns", conns.to_string()),
            ("size", size.to_string()),
            ("depth", depth.to_string()),
            ("native_msgs_per_s", format!("{nm:.0}")),
            ("capi_msgs_per_s", format!("{cm:.0}")),
            ("ratio_msgs", format!("{:.3}", ratio(cm, nm))),
            ("ratio_msgs_per_round_median", format!("{round_ratio:.3}")),
            ("ratio_cpu", format!("{:.3}", ratio(cc, nc))),
        ]));
    }
    finish_bench(
        "capi_echo",
        "echo msgs/s: C listener on libhpsocket4c vs Rust listener",
        &csv,
        &bars,
        &lines,
        started,
        &noise,
        failed,
    );
}
