//! `echo`: msgs/s, server CPU µs per message and round-trip latency (p50/p99/p99.9) of
//! single-core echo servers — shardnet `TcpServer` (push model, 1 shard), tokio
//! current_thread, raw glommio 0.9, and the floor: a minimal edge-triggered epoll echo with no
//! framework (`epoll`) — driven by one neutral mio load generator. In the pipelined cells tokio
//! also runs with a 64 KiB read buffer (`tokio64`, the size of shardnet's scratch buffer), so a
//! lead there is a design lead and not a read-size artefact. Every row carries its ratio to
//! tokio and to the floor.
//!
//! Each server runs in a child process pinned to CPU 0; the load generator (this process) is
//! pinned to CPU 1. For every cell (connections × message size × mode) the systems alternate
//! (A B C A B C …) over the rounds; each run is: fresh server, connect, 0.5 s warm-up, a
//! measured window, drain. Server CPU = utime + stime of the child over the window. Every echoed
//! byte is checked; a mismatch or a lost connection fails the bench.
//!
//! Environment: `SHARDNET_BENCH_SECS` (window, default 2), `SHARDNET_BENCH_ROUNDS` (default 3),
//! `SHARDNET_BENCH_CELLS=key` (only the cells the targets name: 100 and 1000 × 64 B ping-pong,
//! 100 × 16 × 4 KiB pipelined) or a list `CONNSxSIZExDEPTH,…` (e.g. `100x64x1`), `SHARDNET_BENCH_SERVERS=shardnet,tokio,epoll` (a subset). Output: a table, ratios vs tokio,
//! `RESULT` lines, `target/bench-results/echo.csv` and `echo.svg`.

mod common;

use common::*;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Cell {
    conns: usize,
    size: usize,
    depth: usize,
}

impl Cell {
    fn mode(&self) -> &'static str {
        if self.depth == 1 {
            "pingpong"
        } else {
            "pipelined16"
        }
    }
    fn label(&self) -> String {
        let size = if self.size >= 1024 {
            format!("{}K", self.size / 1024)
        } else {
            format!("{}B", self.size)
        };
        let mode = if self.depth == 1 { "pp" } else { "pipe16" };
        format!("{}c {size} {mode}", self.conns)
    }
}

/// Medians over the rounds of one (cell, server).
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    msgs_per_s: f64,
    cpu_us_per_msg: f64,
    sched_us_per_msg: f64,
    user_share: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    fairness: f64,
    starved: f64,
    unreturned: f64,
    runs: usize,
}

fn summarize(runs: &[TimedResult]) -> Summary {
    let m = |f: &dyn Fn(&TimedResult) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    Summary {
        msgs_per_s: m(&|r| r.msgs_per_s()),
        cpu_us_per_msg: m(&|r| r.cpu_us_per_msg()),
        sched_us_per_msg: m(&|r| r.sched_us_per_msg()),
        user_share: m(&|r| r.user_share()),
        p50: m(&|r| r.lat.p50),
        p99: m(&|r| r.lat.p99),
        p999: m(&|r| r.lat.p999),
        fairness: m(&|r| r.fairness),
        starved: m(&|r| r.starved as f64),
        unreturned: m(&|r| r.unreturned as f64),
        runs: runs.len(),
    }
}

struct Failures {
    mismatches: u64,
    errors: u64,
    runs_failed: u64,
}

fn run_one(
    kind: ServerKind,
    cell: Cell,
    window: Duration,
    fail: &mut Failures,
) -> Option<TimedResult> {
    let server = match ServerChild::spawn(kind, &[], Duration::from_secs(30)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("  {}: cannot start: {e}", kind.name());
            fail.runs_failed += 1;
            return None;
        }
    };
    let addr = ([127, 0, 0, 1], server.port).into();
    let mut lg = match LoadGen::connect(addr, cell.conns, cell.size) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("  {}: connect failed: {e}", kind.name());
            fail.runs_failed += 1;
            return None;
        }
    };
    let r = lg.run_timed(
        cell.depth,
        Duration::from_millis(500),
        window,
        Duration::from_secs(2),
        server.pid(),
    );
    fail.mismatches += lg.mismatches;
    fail.errors += lg.errors;
    drop(lg);
    drop(server);
    match r {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("  {}: run failed: {e}", kind.name());
            fail.runs_failed += 1;
            None
        }
    }
}

/// tokio64 only runs where the read size matters: the pipelined cells.
fn runs_in(kind: ServerKind, cell: &Cell) -> bool {
    kind != ServerKind::Tokio64 || cell.depth > 1
}

fn main() {
    maybe_serve();
    raise_limits();
    if !pin_to_cpu(CLIENT_CPU) {
        eprintln!("warning: cannot pin the load generator to CPU {CLIENT_CPU}");
    }
    let secs = bench_secs(2.0);
    let rounds = bench_rounds(3);
    let window = Duration::from_secs_f64(secs);
    let cells_env = std::env::var("SHARDNET_BENCH_CELLS").unwrap_or_default();
    let key_only = cells_env == "key";
    // `CONNSxSIZExDEPTH[,…]`, e.g. `100x64x1` (the perf split script runs one cell).
    let listed: Vec<Cell> = cells_env
        .split(',')
        .filter_map(|c| {
            let v: Vec<usize> = c.split('x').filter_map(|n| n.parse().ok()).collect();
            (v.len() == 3 && v.iter().all(|&n| n > 0)).then(|| Cell {
                conns: v[0],
                size: v[1],
                depth: v[2],
            })
        })
        .collect();
    let servers: Vec<ServerKind> = match std::env::var("SHARDNET_BENCH_SERVERS") {
        Ok(list) => list.split(',').filter_map(ServerKind::parse).collect(),
        Err(_) => ServerKind::ALL
            .into_iter()
            .chain([ServerKind::Tokio64])
            .collect(),
    };
    let mut cells = Vec::new();
    if !listed.is_empty() {
        cells = listed;
    } else if key_only {
        cells.push(Cell {
            conns: 100,
            size: 64,
            depth: 1,
        });
        cells.push(Cell {
            conns: 1000,
            size: 64,
            depth: 1,
        });
        cells.push(Cell {
            conns: 100,
            size: 4096,
            depth: 16,
        });
    } else {
        for conns in [1, 100, 1000] {
            for size in [64, 4096] {
                for depth in [1, 16] {
                    cells.push(Cell { conns, size, depth });
                }
            }
        }
    }
    println!("# echo bench: {}", machine_line());
    println!(
        "# {} cells × {} servers × {rounds} rounds, {secs} s windows (+0.5 s warm-up each)",
        cells.len(),
        servers.len()
    );
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let mut fail = Failures {
        mismatches: 0,
        errors: 0,
        runs_failed: 0,
    };
    // results[cell][server] = the runs
    let mut results: Vec<Vec<Vec<TimedResult>>> =
        vec![vec![Vec::new(); servers.len()]; cells.len()];
    for (ci, cell) in cells.iter().enumerate() {
        for round in 0..rounds {
            for (si, &kind) in servers.iter().enumerate() {
                if !runs_in(kind, cell) {
                    continue;
                }
                if let Some(r) = run_one(kind, *cell, window, &mut fail) {
                    eprintln!(
                        "[{:>5.0}s] {:<16} round {} {:<8} {:>9.0} msgs/s {:>6.2} µs/msg ({:>2.0}% user)  p50 {:>7.0} p99 {:>8.0} p99.9 {:>8.0} µs  fair {:.2}",
                        started.elapsed().as_secs_f64(),
                        cell.label(),
                        round + 1,
                        kind.name(),
                        r.msgs_per_s(),
                        r.cpu_us_per_msg(),
                        r.user_share() * 100.0,
                        r.lat.p50,
                        r.lat.p99,
                        r.lat.p999,
                        r.fairness
                    );
                    results[ci][si].push(r);
                }
            }
        }
    }
    let summaries: Vec<Vec<Summary>> = results
        .iter()
        .map(|per| per.iter().map(|runs| summarize(runs)).collect())
        .collect();
    let tokio_idx = servers.iter().position(|&k| k == ServerKind::Tokio);
    let floor_idx = servers.iter().position(|&k| k == ServerKind::Epoll);

    println!();
    println!("| conns | size | mode | server | msgs/s | server CPU µs/msg | user % | p50 µs | p99 µs | p99.9 µs | min/mean conn | starved | msgs/s vs tokio | CPU vs tokio | CPU vs epoll floor |");
    println!("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut csv = csv_table(&[
        "conns",
        "size",
        "mode",
        "server",
        "runs",
        "msgs_per_s",
        "cpu_us_per_msg",
        "sched_us_per_msg",
        "user_share",
        "p50_us",
        "p99_us",
        "p999_us",
        "fairness_min_over_mean",
        "starved_conns",
        "unreturned",
        "ratio_msgs_vs_tokio",
        "ratio_cpu_vs_tokio",
        "ratio_cpu_vs_floor",
    ]);
    let mut result_lines = Vec::new();
    for (ci, cell) in cells.iter().enumerate() {
        let tk = tokio_idx.map(|t| summaries[ci][t]);
        let fl = floor_idx.map(|f| summaries[ci][f]);
        for (si, &kind) in servers.iter().enumerate() {
            let s = summaries[ci][si];
            if s.runs == 0 {
                continue;
            }
            let (rm, rc) = match tk {
                Some(t) => (
                    ratio(s.msgs_per_s, t.msgs_per_s),
                    ratio(s.cpu_us_per_msg, t.cpu_us_per_msg),
                ),
                None => (0.0, 0.0),
            };
            let rf = fl.map_or(0.0, |f| ratio(s.cpu_us_per_msg, f.cpu_us_per_msg));
            println!(
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
                cell.conns,
                cell.size,
                cell.mode(),
                kind.name(),
                s.msgs_per_s,
                s.cpu_us_per_msg,
                s.user_share * 100.0,
                s.p50,
                s.p99,
                s.p999,
                s.fairness,
                s.starved,
                rm,
                rc,
                rf
            );
            csv.push(vec![
                cell.conns.to_string(),
                cell.size.to_string(),
                cell.mode().to_string(),
                kind.name().to_string(),
                s.runs.to_string(),
                format!("{:.0}", s.msgs_per_s),
                format!("{:.3}", s.cpu_us_per_msg),
                format!("{:.3}", s.sched_us_per_msg),
                format!("{:.3}", s.user_share),
                format!("{:.0}", s.p50),
                format!("{:.0}", s.p99),
                format!("{:.0}", s.p999),
                format!("{:.3}", s.fairness),
                format!("{:.0}", s.starved),
                format!("{:.0}", s.unreturned),
                format!("{rm:.3}"),
                format!("{rc:.3}"),
                format!("{rf:.3}"),
            ]);
            result_lines.push(result_line(&[
                ("bench", "echo".into()),
                ("server", kind.name().into()),
                ("conns", cell.conns.to_string()),
                ("size", cell.size.to_string()),
                ("mode", cell.mode().into()),
                ("msgs_per_s", format!("{:.0}", s.msgs_per_s)),
                ("cpu_us_per_msg", format!("{:.3}", s.cpu_us_per_msg)),
                ("sched_us_per_msg", format!("{:.3}", s.sched_us_per_msg)),
                ("user_share", format!("{:.3}", s.user_share)),
                ("p50_us", format!("{:.0}", s.p50)),
                ("p99_us", format!("{:.0}", s.p99)),
                ("p999_us", format!("{:.0}", s.p999)),
                ("fairness", format!("{:.3}", s.fairness)),
                ("ratio_msgs_vs_tokio", format!("{rm:.3}")),
                ("ratio_cpu_vs_tokio", format!("{rc:.3}")),
                ("ratio_cpu_vs_floor", format!("{rf:.3}")),
            ]));
        }
    }

    // The targets.
    println!();
    let find = |conns: usize, size: usize, depth: usize| {
        cells
            .iter()
            .position(|c| c.conns == conns && c.size == size && c.depth == depth)
    };
    let sn = servers.iter().position(|&k| k == ServerKind::Shardnet);
    let mut verdicts = Vec::new();
    let met = |ok: bool| if ok { "MET" } else { "MISSED" };
    for conns in [100, 1000] {
        if let (Some(ci), Some(s), Some(t)) = (find(conns, 64, 1), sn, tokio_idx) {
            let (a, b) = (summaries[ci][s], summaries[ci][t]);
            let rc = ratio(a.cpu_us_per_msg, b.cpu_us_per_msg);
            let rm = ratio(a.msgs_per_s, b.msgs_per_s);
            let mut v = format!(
                "target {conns} conns × 64 B ping-pong: server CPU ≤ 1.00× tokio: {rc:.2}× ({:.2} vs {:.2} µs/msg) {}; msgs/s vs tokio {rm:.2}×",
                a.cpu_us_per_msg,
                b.cpu_us_per_msg,
                met(rc <= 1.0),
            );
            if let Some(f) = floor_idx {
                let fl = summaries[ci][f];
                let rf = ratio(a.cpu_us_per_msg, fl.cpu_us_per_msg);
                v.push_str(&format!(
                    "; ≤ 1.02× the epoll floor: {rf:.2}× ({:.2} µs/msg) {}",
                    fl.cpu_us_per_msg,
                    met(rf <= 1.02)
                ));
            }
            verdicts.push(v);
        }
    }
    if let (Some(ci), Some(s), Some(t)) = (find(100, 4096, 16), sn, tokio_idx) {
        let (a, b) = (summaries[ci][s], summaries[ci][t]);
        let rm = ratio(a.msgs_per_s, b.msgs_per_s);
        verdicts.push(format!(
            "target 100 conns × 16 × 4 KiB pipelined: msgs/s ≥ 1.0× tokio: {rm:.2}× {}; p99.9 ≤ 20 ms: {:.1} ms {}",
            if rm >= 1.0 { "MET" } else { "MISSED" },
            a.p999 / 1000.0,
            if a.p999 <= 20_000.0 { "MET" } else { "MISSED" }
        ));
    }
    for v in &verdicts {
        println!("{v}");
    }

    let csv_path = write_csv("echo", &csv);
    let svg_path = results_dir().join("echo.svg");
    match chart::render(&svg_path, &cells, &servers, &summaries) {
        Ok(()) => println!("wrote {} and {}", csv_path.display(), svg_path.display()),
        Err(e) => eprintln!("chart failed: {e}"),
    }
    println!(
        "elapsed {:.0} s; mismatches {}, lost connections {}, failed runs {}",
        started.elapsed().as_secs_f64(),
        fail.mismatches,
        fail.errors,
        fail.runs_failed
    );
    println!("{}", noise.line());
    for l in &result_lines {
        println!("{l}");
    }
    if fail.mismatches > 0 || fail.errors > 0 || fail.runs_failed > 0 {
        eprintln!("FAILED: echoed bytes mismatched, connections were lost or runs failed");
        std::process::exit(1);
    }
}

mod chart {
    //! The SVG chart: msgs/s, server CPU µs/msg and p99.9 latency per cell, one bar per server.

    use super::{Cell, Summary};
    use crate::common::ServerKind;
    use plotters::coord::types::RangedCoordf64;
    use plotters::coord::Shift;
    use plotters::prelude::*;
    use std::path::Path;

    type DynErr = Box<dyn std::error::Error>;

    const COLORS: [RGBColor; 5] = [
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x7f, 0x7f, 0x7f),
        RGBColor(0x94, 0x67, 0xbd),
    ];

    pub fn render(
        path: &Path,
        cells: &[Cell],
        servers: &[ServerKind],
        s: &[Vec<Summary>],
    ) -> Result<(), DynErr> {
        let root = SVGBackend::new(path, (1200, 1050)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((3, 1));
        panel(
            &root,
            &panels[0],
            "throughput, thousand msgs/s (higher is better)",
            cells,
            servers,
            |c, si| s[c][si].msgs_per_s / 1000.0,
            false,
        )?;
        panel(
            &root,
            &panels[1],
            "server CPU µs per message (lower is better)",
            cells,
            servers,
            |c, si| s[c][si].cpu_us_per_msg,
            false,
        )?;
        panel(
            &root,
            &panels[2],
            "p99.9 round trip, ms, log scale (lower is better)",
            cells,
            servers,
            |c, si| s[c][si].p999 / 1000.0,
            true,
        )?;
        root.present()?;
        Ok(())
    }

    fn panel(
        root: &DrawingArea<SVGBackend, Shift>,
        area: &DrawingArea<SVGBackend, Shift>,
        title: &str,
        cells: &[Cell],
        servers: &[ServerKind],
        value: impl Fn(usize, usize) -> f64,
        log: bool,
    ) -> Result<(), DynErr> {
        let n = cells.len() as f64;
        let max = (0..cells.len())
            .flat_map(|c| (0..servers.len()).map(move |si| (c, si)))
            .map(|(c, si)| value(c, si))
            .fold(0.0f64, f64::max)
            .max(1e-3);
        let width = 0.8 / servers.len().max(1) as f64;
        let bars = |chart_draw: &mut dyn FnMut(usize, f64, f64, f64) -> Result<(), DynErr>| {
            for c in 0..cells.len() {
                for si in 0..servers.len() {
                    let x0 = c as f64 + 0.1 + si as f64 * width;
                    chart_draw(si, x0, x0 + width * 0.92, value(c, si))?;
                }
            }
            Ok::<(), DynErr>(())
        };
        let label_y;
        if log {
            let lo = 0.01f64;
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(34)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..n, (lo..max * 40.0).log_scale())?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_desc("ms")
                .draw()?;
            bars(&mut |si, a, b, v| {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(a, lo), (b, v.max(lo))],
                    COLORS[si % COLORS.len()].filled(),
                )))?;
                Ok(())
            })?;
            legend(&mut chart, servers)?;
            label_y = chart.backend_coord(&(0.0, lo)).1;
            cell_labels(root, cells, |x| chart.backend_coord(&(x, lo)).0, label_y)?;
        } else {
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(34)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..n, 0f64..max * 1.3)?;
            chart.configure_mesh().disable_x_mesh().x_labels(0).draw()?;
            bars(&mut |si, a, b, v| {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(a, 0.0), (b, v)],
                    COLORS[si % COLORS.len()].filled(),
                )))?;
                Ok(())
            })?;
            legend(&mut chart, servers)?;
            label_y = chart.backend_coord(&(0.0, 0.0)).1;
            cell_labels(root, cells, |x| chart.backend_coord(&(x, 0.0)).0, label_y)?;
        }
        Ok(())
    }

    fn legend<'a, Y: Ranged<ValueType = f64>>(
        chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
        servers: &[ServerKind],
    ) -> Result<(), DynErr> {
        let y = chart.y_range().start;
        for (si, k) in servers.iter().enumerate() {
            let color = COLORS[si % COLORS.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y), (0.0, y)],
                    color.filled(),
                )))?
                .label(k.name())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }

    fn cell_labels(
        root: &DrawingArea<SVGBackend, Shift>,
        cells: &[Cell],
        to_px: impl Fn(f64) -> i32,
        y: i32,
    ) -> Result<(), DynErr> {
        let style = TextStyle::from(("sans-serif", 13).into_font()).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        for (c, cell) in cells.iter().enumerate() {
            let x = to_px(c as f64 + 0.5);
            root.draw(&Text::new(cell.label(), (x, y + 6), style.clone()))?;
        }
        Ok(())
    }
}
