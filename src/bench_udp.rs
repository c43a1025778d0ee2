//! `shardnet bench --udp [--arq]`: a UDP load generator. `--conns` peers (one socket each), one
//! datagram (ARQ: one message) in flight per peer, every echoed byte checked. Plain UDP counts
//! a datagram not echoed within 250 ms as lost and goes on; with `--arq` each peer runs HP's
//! handshake and KCP (the sans-IO session from `protocols`), nothing may be lost, and messages
//! must come back in order. Prints live rates, a table and a `RESULT` line; exits non-zero on
//! any mismatch (or, with `--arq`, a failed handshake or a closed session).

use shardnet::layers::protocols::arq::{ArqConfig, ArqSession};
use shardnet::layers::runtime::Poller;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Options of `bench --udp`.
pub struct BenchUdpOpts {
    pub target: String,
    pub conns: usize,
    pub size: usize,
    pub duration: f64,
    pub arq: bool,
}

const LOST_AFTER: Duration = Duration::from_millis(250);
const CLOSE_DATAGRAM_LEN: usize = 16;

struct Peer {
    sock: UdpSocket,
    seq: u64,
    sent_at: Instant,
    expect: Vec<u8>,
    session: Option<ArqSession>,
    ready: bool,
}

/// The payload of message `seq` of peer `i`: both numbers, then a pattern.
fn payload(i: usize, seq: u64, size: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(size.max(12));
    p.extend_from_slice(&(i as u32).to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9).wrapping_add(seq);
    while p.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.push(x as u8);
    }
    p
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64
}

pub fn run(o: BenchUdpOpts, stop: &AtomicBool) -> Result<i32, Box<dyn std::error::Error>> {
    let target: SocketAddr = o.target.parse()?;
    let size = o.size.max(12);
    if o.conns == 0 || o.conns > 10_000 {
        return Err("--conns must be within 1..=10000".into());
    }
    let cfg = ArqConfig::default();
    if o.arq && size > cfg.max_message {
        return Err(format!("--size over the ARQ maximum message ({})", cfg.max_message).into());
    }
    if !o.arq && size > 65_507 {
        return Err("--size over the largest UDP datagram".into());
    }
    let mut poller = Poller::new(256)?;
    let start = Instant::now();
    let clock = |t: Instant| t.duration_since(start).as_millis() as u32;
    let mut peers = Vec::with_capacity(o.conns);
    let mut scratch = Vec::new();
    // Conv ids as HP's client makes them: a counter seeded from the millisecond clock, so a
    // rerun does not reuse the last run's ids.
    let mut convs = shardnet::layers::protocols::arq::handshake::ConvIds::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u32),
    );
    for i in 0..o.conns {
        let bind = if target.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let sock = UdpSocket::bind(bind)?;
        sock.connect(target)?;
        sock.set_nonblocking(true)?;
        poller.add_readable(sock.as_raw_fd(), i as u64)?;
        peers.push(Peer {
            sock,
            seq: 0,
            sent_at: Instant::now(),
            expect: Vec::new(),
            session: o
                .arq
                .then(|| ArqSession::new(cfg, convs.next(), clock(Instant::now()))),
            ready: !o.arq,
        });
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    let send_next = |p: &mut Peer, i: usize, scratch: &mut Vec<u8>, out: &mut Vec<Vec<u8>>| {
        p.seq += 1;
        p.expect = payload(i, p.seq, size);
        p.sent_at = Instant::now();
        match &mut p.session {
            Some(s) => s
                .send(
                    clock(Instant::now()),
                    &p.expect,
                    scratch,
                    &mut |d: &[u8]| out.push(d.to_vec()),
                )
                .map_err(|e| e.to_string()),
            None => {
                out.push(p.expect.clone());
                Ok(())
            }
        }
    };
    // Plain UDP starts at once; ARQ sends its handshake first.
    for (i, p) in peers.iter_mut().enumerate() {
        if let Some(s) = &mut p.session {
            s.tick(clock(Instant::now()), &mut scratch, &mut |d: &[u8]| {
                out.push(d.to_vec())
            })
            .map_err(|e| e.to_string())?;
        } else {
            send_next(p, i, &mut scratch, &mut out)?;
        }
        for d in out.drain(..) {
            let _ = p.sock.send(&d);
        }
    }
    let (mut done, mut lost, mut late, mut mismatches, mut closed) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut rtts: Vec<u32> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut ready_ev = Vec::new();
    let (mut last_done, mut last_t) = (0u64, Instant::now());
    let measure_from = Instant::now();
    let mut handshake_deadline = Some(Instant::now() + Duration::from_secs(10));
    while measure_from.elapsed().as_secs_f64() < o.duration && !stop.load(Ordering::SeqCst) {
        ready_ev.clear();
        poller.poll_now(|ev| ready_ev.push(ev.token as usize))?;
        let now = Instant::now();
        for &i in &ready_ev {
            let p = &mut peers[i];
            loop {
                let n = match p.sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("peer {i}: {e}").into()),
                };
                let d = &buf[..n];
                if n == CLOSE_DATAGRAM_LEN && d[0] == 0xBE && d[15] == 0xE4 {
                    closed += 1;
                    continue;
                }
                let mut got: Vec<Vec<u8>> = Vec::new();
                match &mut p.session {
                    Some(s) => {
                        if n == 0 {
                            continue;
                        }
                        let r = s.on_datagram(
                            clock(now),
                            d,
                            &mut scratch,
                            &mut |x: &[u8]| out.push(x.to_vec()),
                            &mut |m: &[u8]| {
                                got.push(m.to_vec());
                                true
                            },
                        );
                        if let Err(e) = r {
                            return Err(format!("peer {i}: ARQ {e}").into());
                        }
                        if !p.ready && s.is_ready() {
                            p.ready = true;
                            send_next(p, i, &mut scratch, &mut out)?;
                        }
                    }
                    None => got.push(d.to_vec()),
                }
                for m in got {
                    if m == p.expect {
                        done += 1;
                        rtts.push(p.sent_at.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        send_next(p, i, &mut scratch, &mut out)?;
                    } else if p.session.is_none()
                        && m.len() >= 12
                        && m[..4] == (i as u32).to_le_bytes()
                        && u64::from_le_bytes(m[4..12].try_into().expect("8 bytes")) < p.seq
                    {
                        late += 1; // an echo of a datagram already counted lost
                    } else {
                        mismatches += 1;
                    }
                }
            }
            for d in out.drain(..) {
                let _ = p.sock.send(&d);
            }
        }
        // Timers: ARQ ticks; plain UDP losses.
        for (i, p) in peers.iter_mut().enumerate() {
            match &mut p.session {
                Some(s) => {
                    let t = clock(now);
                    if s.next_deadline(t)
                        .is_some_and(|d| d.wrapping_sub(t) as i32 <= 0)
                    {
                        if let Err(e) =
                            s.tick(t, &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))
                        {
                            return Err(format!("peer {i}: ARQ {e}").into());
                        }
                    }
                }
                None => {
                    if now.duration_since(p.sent_at) > LOST_AFTER {
                        lost += 1;
                        send_next(p, i, &mut scratch, &mut out)?;
                    }
                }
            }
            for d in out.drain(..) {
                let _ = p.sock.send(&d);
            }
        }
        if let Some(dl) = handshake_deadline {
            if peers.iter().all(|p| p.ready) {
                handshake_deadline = None;
            } else if Instant::now() > dl {
                return Err("ARQ handshakes did not complete within 10 s".into());
            }
        }
        if ready_ev.is_empty() {
            std::thread::sleep(Duration::from_micros(50));
        }
        if last_t.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "[{:>4.0}s] {:.0} msgs/s, lost {lost}, mismatches {mismatches}",
                measure_from.elapsed().as_secs_f64(),
                (done - last_done) as f64 / last_t.elapsed().as_secs_f64()
            );
            (last_done, last_t) = (done, Instant::now());
        }
        if closed > 0 {
            break;
        }
    }
    let secs = measure_from.elapsed().as_secs_f64();
    // Leave as HP-Socket's UdpClient does on Stop: the close datagram ends each session at
    // once. Without it the server keeps a session for 3 × 60 s of silence, and a later client
    // that the kernel gives the same port has its handshake taken for a reset of that session
    // (found by benches/soak.rs restarting this bench every 30 s).
    for p in &peers {
        let _ = p
            .sock
            .send(&shardnet::layers::protocols::udp::CLOSE_DATAGRAM);
    }
    rtts.sort_unstable();
    let rate = done as f64 / secs;
    let kind = if o.arq { "udp-arq" } else { "udp" };
    println!("| transport | conns | size | msgs/s | lost | late | mismatches | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {kind} | {} | {size} | {rate:.0} | {lost} | {late} | {mismatches} | {:.0} | {:.0} |",
        o.conns,
        pct(&rtts, 0.5),
        pct(&rtts, 0.99)
    );
    println!(
        "RESULT bench=shardnet-{kind} conns={} size={size} msgs_per_s={rate:.0} lost={lost} late={late} mismatches={mismatches} closed={closed} p50_us={:.0} p99_us={:.0}",
        o.conns,
        pct(&rtts, 0.5),
        pct(&rtts, 0.99)
    );
    let failed = mismatches > 0 || closed > 0 || done == 0 || (o.arq && lost > 0);
    Ok(if failed { 1 } else { 0 })
}
