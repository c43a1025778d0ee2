//! `udp`: 100 peers echoing datagrams through shardnet's `UdpServer` (one shard, recvmmsg /
//! sendmmsg) and through a tokio `UdpSocket` echo on current_thread (`recv_from` then
//! `send_to`), each in a child pinned to CPU 0; one neutral load generator (mio, one thread,
//! CPU 1) keeps `depth` datagrams in flight per peer, checks every echoed byte, and times each
//! round trip. Cells: 64 B and 1 KiB × depth 1 and 8. Then reliable UDP, 64 B messages at depth
//! 1 and 8 with 0 % loss and depth 1 with 10 % loss (dropped in the generator, both ways):
//! `shardnet-arq` (HP's handshake + KCP with HP's defaults), `shardnet-arq-rto100` (the same
//! with KCP's minimum RTO at ikcp's 100 ms) and `tokio-kcp` (tokio_kcp 0.9 with HP's settings
//! where it has them; it keeps ikcp's 100 ms minimum RTO), driven by the same generator through
//! the same sans-IO KCP (`shardnet-protocols`), with tokio_kcp's conv-per-client handshake-free
//! start. Messages/s, server CPU per message, p50 and p99; ratios against tokio_kcp.
//! Systems alternate over the rounds; medians reported; server CPU = utime + stime of the
//! child over the timed window.
//!
//! Environment: `SHARDNET_BENCH_SECS` (default 3), `SHARDNET_BENCH_ROUNDS` (default 3).
//! Output: a table, ratios vs tokio, `RESULT` lines, `target/bench-results/udp.csv`, `udp.svg`.

mod common;

use common::*;
use mio::net::UdpSocket as MioUdp;
use mio::{Events, Interest, Poll, Token};
use shardnet::layers::protocols::arq::{ArqConfig, ArqSession};
use shardnet::layers::protocols::kcp::{Kcp, KcpConfig};
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

const PEERS: usize = 100;
const LOST_AFTER: Duration = Duration::from_millis(500);

struct Run {
    per_s: f64,
    cpu_us: f64,
    p50_us: f64,
    p99_us: f64,
    lost: u64,
}

fn payload(peer: usize, seq: u64, size: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(size);
    p.extend_from_slice(&(peer as u32).to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    let pat = pattern_at(peer, seq, size.saturating_sub(12));
    p.extend_from_slice(pat);
    p.truncate(size.max(12));
    p
}

struct Peer {
    sock: MioUdp,
    seq: u64,
    flight: VecDeque<(u64, Instant)>,
    session: Option<ArqSession>,
    /// A bare KCP session (the tokio_kcp peer): conv chosen here, no handshake.
    kcp: Option<Kcp>,
    expect: Vec<u8>,
}

/// Drops datagrams with probability `per_mille`/1000 (a fixed-seed xorshift).
struct Loss(u64, u64);
impl Loss {
    fn drop_it(&mut self) -> bool {
        if self.1 == 0 {
            return false;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 1000 < self.1
    }
}

fn run_one(
    kind: ServerKind,
    size: usize,
    depth: usize,
    loss: u64,
    secs: f64,
) -> Result<Run, String> {
    let server =
        ServerChild::spawn(kind, &[], Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let target: std::net::SocketAddr = ([127, 0, 0, 1], server.port).into();
    let arq = matches!(
        kind,
        ServerKind::ShardnetArq | ServerKind::ShardnetArqRto100
    );
    let bare_kcp = kind == ServerKind::TokioKcp;
    // The peer's KCP settings are its server's: HP's, with the minimum RTO of the server.
    let mut arq_cfg = ArqConfig::default();
    if kind == ServerKind::ShardnetArqRto100 {
        arq_cfg.kcp.min_rto = 100;
    }
    let kcp_cfg = KcpConfig {
        min_rto: 100,
        check_conv: true,
        ..KcpConfig::default()
    };
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let clock = |t: Instant| t.duration_since(start).as_millis() as u32;
    let mut peers = Vec::with_capacity(PEERS);
    let mut scratch = Vec::new();
    let mut loss = Loss(0x2545_F491_4F6C_DD1D, loss);
    for i in 0..PEERS {
        let mut sock = MioUdp::bind("127.0.0.1:0".parse().unwrap()).map_err(|e| e.to_string())?;
        sock.connect(target).map_err(|e| e.to_string())?;
        poll.registry()
            .register(&mut sock, Token(i), Interest::READABLE)
            .map_err(|e| e.to_string())?;
        peers.push(Peer {
            sock,
            seq: 0,
            flight: VecDeque::new(),
            session: arq.then(|| ArqSession::new(arq_cfg, 0x100 + i as u32, clock(Instant::now()))),
            kcp: bare_kcp.then(|| Kcp::new(0x100 + i as u32, &kcp_cfg)),
            expect: Vec::new(),
        });
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    let send = |p: &mut Peer, i: usize, scratch: &mut Vec<u8>, out: &mut Vec<Vec<u8>>| {
        p.seq += 1;
        let data = payload(i, p.seq, size);
        p.flight.push_back((p.seq, Instant::now()));
        match (&mut p.session, &mut p.kcp) {
            (Some(s), _) => {
                p.expect = data.clone();
                let _ = s.send(clock(Instant::now()), &data, scratch, &mut |d: &[u8]| {
                    out.push(d.to_vec())
                });
            }
            (None, Some(k)) => {
                let _ = k.send(&data);
                k.set_now(clock(Instant::now()));
                k.flush(scratch, &mut |d: &[u8]| out.push(d.to_vec()));
            }
            (None, None) => out.push(data),
        }
    };
    for (i, p) in peers.iter_mut().enumerate() {
        match &mut p.session {
            Some(s) => {
                let _ = s.tick(clock(Instant::now()), &mut scratch, &mut |d: &[u8]| {
                    out.push(d.to_vec())
                });
            }
            None => {
                for _ in 0..depth {
                    send(p, i, &mut scratch, &mut out);
                }
            }
        }
        for d in out.drain(..) {
            let _ = p.sock.send(&d);
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65_536];
    let warm = Duration::from_millis(500);
    let end = warm + Duration::from_secs_f64(secs);
    let mut t0 = None;
    let (mut cpu0, mut done, mut lost, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut rtts: Vec<u32> = Vec::new();
    let mut started_ready = bare_kcp;
    while start.elapsed() < end {
        if t0.is_none() && start.elapsed() >= warm {
            t0 = Some(Instant::now());
            cpu0 = server.cpu_us();
            done = 0;
            lost = 0;
            rtts.clear();
        }
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .map_err(|e| e.to_string())?;
        let now = Instant::now();
        for ev in events.iter() {
            let i = ev.token().0;
            let p = &mut peers[i];
            loop {
                let n = match p.sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.to_string()),
                };
                if loss.drop_it() {
                    continue;
                }
                let mut msgs: Vec<Vec<u8>> = Vec::new();
                if let Some(s) = &mut p.session {
                    let was_ready = s.is_ready();
                    s.on_datagram(
                        clock(now),
                        &buf[..n],
                        &mut scratch,
                        &mut |d: &[u8]| out.push(d.to_vec()),
                        &mut |m: &[u8]| {
                            msgs.push(m.to_vec());
                            true
                        },
                    )
                    .map_err(|e| format!("ARQ: {e}"))?;
                    if !was_ready && s.is_ready() {
                        started_ready = true;
                        send(p, i, &mut scratch, &mut out);
                    }
                } else if let Some(k) = &mut p.kcp {
                    k.input(clock(now), &buf[..n])
                        .map_err(|e| format!("KCP: {e}"))?;
                    let mut m = Vec::new();
                    while k.recv(&mut m) {
                        msgs.push(std::mem::take(&mut m));
                    }
                    k.flush(&mut scratch, &mut |d: &[u8]| out.push(d.to_vec()));
                } else {
                    msgs.push(buf[..n].to_vec());
                }
                for m in msgs {
                    if m.len() < 12 || m[..4] != (i as u32).to_le_bytes() {
                        errors += 1;
                        continue;
                    }
                    let seq = u64::from_le_bytes(m[4..12].try_into().unwrap());
                    let Some(k) = p.flight.iter().position(|f| f.0 == seq) else {
                        continue; // an echo of a datagram already counted lost
                    };
                    if m != payload(i, seq, size) {
                        errors += 1;
                    }
                    let (_, at) = p.flight.remove(k).unwrap();
                    done += 1;
                    rtts.push(at.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    send(p, i, &mut scratch, &mut out);
                }
            }
            for d in out.drain(..) {
                if !loss.drop_it() {
                    let _ = p.sock.send(&d);
                }
            }
        }
        for (i, p) in peers.iter_mut().enumerate() {
            if let Some(s) = &mut p.session {
                let t = clock(now);
                if s.next_deadline(t)
                    .is_some_and(|d| d.wrapping_sub(t) as i32 <= 0)
                {
                    s.tick(t, &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))
                        .map_err(|e| format!("ARQ tick: {e}"))?;
                }
            } else if let Some(k) = &mut p.kcp {
                let t = clock(now);
                if k.check(t).wrapping_sub(t) as i32 <= 0 {
                    k.update(t, &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()));
                }
                if k.is_dead() {
                    return Err("KCP: link dead".into());
                }
            } else {
                while p
                    .flight
                    .front()
                    .is_some_and(|f| now.duration_since(f.1) > LOST_AFTER)
                {
                    p.flight.pop_front();
                    lost += 1;
                    send(p, i, &mut scratch, &mut out);
                }
            }
            for d in out.drain(..) {
                if !loss.drop_it() {
                    let _ = p.sock.send(&d);
                }
            }
        }
    }
    let elapsed = t0.map_or(secs, |t| t.elapsed().as_secs_f64());
    let cpu = server.cpu_us().saturating_sub(cpu0) as f64;
    drop(server);
    if errors > 0 {
        return Err(format!("{}: {errors} wrong echoes", kind.name()));
    }
    if arq && !started_ready {
        return Err("ARQ handshakes did not complete".into());
    }
    rtts.sort_unstable();
    Ok(Run {
        per_s: done as f64 / elapsed,
        cpu_us: cpu / (done as f64).max(1.0),
        p50_us: pct(&rtts, 0.5),
        p99_us: pct(&rtts, 0.99),
        lost,
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
    let udp_kinds = vec![
        ServerKind::ShardnetUdp,
        ServerKind::ShardnetUdpGso,
        ServerKind::TokioUdp,
    ];
    let arq_kinds = vec![
        ServerKind::ShardnetArq,
        ServerKind::ShardnetArqRto100,
        ServerKind::TokioKcp,
    ];
    // (label, server kinds compared, size, depth, loss ‰)
    let cells: Vec<(String, Vec<ServerKind>, usize, usize, u64)> = vec![
        ("64 B depth 1".into(), udp_kinds.clone(), 64, 1, 0),
        ("64 B depth 8".into(), udp_kinds.clone(), 64, 8, 0),
        ("1 KiB depth 1".into(), udp_kinds.clone(), 1024, 1, 0),
        ("1 KiB depth 8".into(), udp_kinds.clone(), 1024, 8, 0),
        (
            "ARQ 64 B depth 1, 0 % loss".into(),
            arq_kinds.clone(),
            64,
            1,
            0,
        ),
        (
            "ARQ 64 B depth 8, 0 % loss".into(),
            arq_kinds.clone(),
            64,
            8,
            0,
        ),
        ("ARQ 64 B depth 1, 10 % loss".into(), arq_kinds, 64, 1, 100),
    ];
    println!("# udp bench: {}", machine_line());
    println!("# {PEERS} peers, {secs} s per run, {rounds} rounds, systems alternating");
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let mut failed = 0;
    let mut csv = csv_table(&[
        "cell",
        "server",
        "runs",
        "per_s",
        "cpu_us",
        "p50_us",
        "p99_us",
        "lost",
        "ratio_per_s_vs_tokio",
        "ratio_cpu_vs_tokio",
    ]);
    let mut lines = Vec::new();
    let mut bars = Vec::new();
    let mut table = Vec::new();
    for (label, kinds, size, depth, loss) in &cells {
        let mut runs: Vec<Vec<Run>> = kinds.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for (k, &kind) in kinds.iter().enumerate() {
                match run_one(kind, *size, *depth, *loss, secs) {
                    Ok(r) => {
                        eprintln!(
                            "[{:>4.0}s] {label} round {} {:<14} {:>9.0}/s {:>6.2} µs CPU p50 {:>5.0} p99 {:>6.0} µs lost {}",
                            started.elapsed().as_secs_f64(),
                            round + 1,
                            kind.name(),
                            r.per_s,
                            r.cpu_us,
                            r.p50_us,
                            r.p99_us,
                            r.lost
                        );
                        runs[k].push(r);
                    }
                    Err(e) => {
                        eprintln!("{label} {}: {e}", kind.name());
                        failed += 1;
                    }
                }
            }
        }
        let med = |v: &[Run], f: &dyn Fn(&Run) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
        let base = runs
            .iter()
            .zip(kinds)
            .find(|(_, k)| matches!(**k, ServerKind::TokioUdp | ServerKind::TokioKcp))
            .map(|(v, _)| (med(v, &|r| r.per_s), med(v, &|r| r.cpu_us)));
        for (k, kind) in kinds.iter().enumerate() {
            let v = &runs[k];
            let (m, c) = (med(v, &|r| r.per_s), med(v, &|r| r.cpu_us));
            let (p50, p99) = (med(v, &|r| r.p50_us), med(v, &|r| r.p99_us));
            let lost: u64 = v.iter().map(|r| r.lost).sum();
            let (rm, rc) = base.map_or((f64::NAN, f64::NAN), |(bm, bc)| {
                (ratio(m, bm), ratio(c, bc))
            });
            table.push(format!(
                "| {label} | {} | {m:.0} | {c:.2} | {p50:.0} | {p99:.0} | {lost} | {rm:.2} | {rc:.2} |",
                kind.name()
            ));
            csv.push(vec![
                label.clone(),
                kind.name().into(),
                v.len().to_string(),
                format!("{m:.0}"),
                format!("{c:.3}"),
                format!("{p50:.0}"),
                format!("{p99:.0}"),
                lost.to_string(),
                format!("{rm:.3}"),
                format!("{rc:.3}"),
            ]);
            lines.push(result_line(&[
                ("bench", "udp".into()),
                ("cell", label.replace(' ', "_")),
                ("server", kind.name().into()),
                ("per_s", format!("{m:.0}")),
                ("cpu_us", format!("{c:.3}")),
                ("p50_us", format!("{p50:.0}")),
                ("p99_us", format!("{p99:.0}")),
                ("lost", lost.to_string()),
                ("ratio_per_s_vs_tokio", format!("{rm:.3}")),
                ("ratio_cpu_vs_tokio", format!("{rc:.3}")),
            ]));
            bars.push((format!("{label} {}", kind.name()), m));
        }
    }
    println!();
    println!("| cell | server | datagrams (msgs)/s | server CPU µs each | p50 µs | p99 µs | lost | /s vs tokio | CPU vs tokio |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for l in &table {
        println!("{l}");
    }
    finish_bench(
        "udp",
        "UDP echo, 100 peers: thousand datagrams (messages) per second",
        &csv,
        &bars,
        &lines,
        started,
        &noise,
        failed,
    );
}
