//! The fan-out benches (`ws_broadcast`, `groups`): one message to every member of a set of
//! connections, two ways of sending it compared. The server runs in a child (the bench binary
//! re-executed with `serve_flag`) that reads `go MODE SEQ SIZE N` lines on stdin and sends
//! message SEQ to its N members; the parent holds the connections (mio, one thread, CPU 1),
//! asks for the next message when every member has the previous one, and checks every byte.
//! Server CPU = utime + stime of the child over the run, per delivery; modes alternate.

use super::*;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What a fan-out bench measures.
pub struct Fanout {
    /// Bench name (results file and `RESULT` lines).
    pub name: &'static str,
    /// The flag that turns the re-executed binary into the server child.
    pub serve_flag: &'static str,
    /// The two modes; the second is the baseline of the ratio.
    pub modes: [&'static str; 2],
    /// Members.
    pub conns: usize,
    /// Messages per run.
    pub msgs: usize,
    /// Message sizes (cells).
    pub sizes: &'static [usize],
    /// The chart's title.
    pub caption: &'static str,
    /// Opens one member connection to the child's port (e.g. a WebSocket upgrade).
    pub connect: fn(u16) -> io::Result<TcpStream>,
    /// The bytes a member receives for a message (e.g. a WebSocket frame around it).
    pub frame: fn(&[u8]) -> Vec<u8>,
}

/// The child's command loop: for each `go MODE SEQ SIZE N` line on stdin, waits (up to 10 s)
/// until `members()` has N connections, then calls `send(mode, members, payload)`, which
/// returns how many it reached (a shortfall is printed as `SHORT`). Ends with stdin.
pub fn serve_commands(
    members: impl Fn() -> Vec<shardnet::ConnId>,
    mut send: impl FnMut(&str, &[shardnet::ConnId], &[u8]) -> Result<usize, Box<dyn std::error::Error>>,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::BufRead;
    for line in io::stdin().lock().lines() {
        let line = line?;
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, mode, seq, size, n] = f[..] else {
            return Err(format!("bad command {line:?}").into());
        };
        let (seq, size, n): (usize, usize, usize) = (seq.parse()?, size.parse()?, n.parse()?);
        let deadline = Instant::now() + Duration::from_secs(10);
        let m = loop {
            let m = members();
            if m.len() >= n || Instant::now() > deadline {
                break m;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let sent = send(mode, &m, fanout_payload(seq, size))?;
        if sent != n {
            println!("SHORT {sent} of {n}");
        }
    }
    Ok(())
}

/// The payload of message `seq` (the child sends it, the parent expects it).
pub fn fanout_payload(seq: usize, size: usize) -> &'static [u8] {
    pattern_at(seq, 0, size)
}

struct Run {
    deliveries_per_s: f64,
    cpu_ns_per_delivery: f64,
}

fn run_one(spec: &Fanout, mode: &str, size: usize, msgs: usize) -> Result<Run, String> {
    let mut child =
        ServerChild::spawn_self(&[spec.serve_flag.into()], &[], mode).map_err(|e| e.to_string())?;
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
    let n_conns = spec.conns;
    let mut conns = Vec::with_capacity(n_conns);
    for i in 0..n_conns {
        let s = (spec.connect)(port).map_err(|e| e.to_string())?;
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
        let data = fanout_payload(seq, size);
        let frame = (spec.frame)(data);
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

pub fn run_fanout(spec: &Fanout) {
    raise_limits();
    if !pin_to_cpu(CLIENT_CPU) {
        eprintln!("warning: cannot pin the reader to CPU {CLIENT_CPU}");
    }
    let rounds = bench_rounds(3);
    let (msgs, n_conns, sizes) = (spec.msgs, spec.conns, spec.sizes);
    println!("# {} bench: {}", spec.name, machine_line());
    println!(
        "# {n_conns} connections, {msgs} messages per run, {rounds} rounds, modes alternating"
    );
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let mut runs: Vec<Vec<Vec<Run>>> = sizes
        .iter()
        .map(|_| spec.modes.iter().map(|_| Vec::new()).collect())
        .collect();
    let mut failed = 0;
    for (zi, &size) in sizes.iter().enumerate() {
        for round in 0..rounds {
            for (mi, mode) in spec.modes.iter().enumerate() {
                match run_one(spec, mode, size, msgs) {
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
        for (mi, mode) in spec.modes.iter().enumerate() {
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
                ("bench", spec.name.into()),
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
        spec.name,
        spec.caption,
        &csv,
        &bars,
        &lines,
        started,
        &noise,
        failed,
    );
}
