//! `cross_shard`: how fast `server.send(conn, 32-byte message)` moves messages to a connection
//! owned by another shard. One process: a shardnet `Runtime` with 2 shards (CPUs 0 and 1), a
//! `TcpServer` on it, and one loopback connection owned by shard 1 whose client end is drained
//! (and checked byte by byte) by a plain std thread. Senders:
//!
//! - `shard0`: a glommio task on shard 0 (started with `Runtime::run_on`) — the shard→shard
//!   path: a `Cmd::Send` through shard 1's inbox (`try_send`; a full inbox is retried after a
//!   yield).
//! - `foreign`: a plain `std::thread` (blocking inbox send).
//! - `local`: a task on shard 1 itself, the owner (no inbox; for reference).
//! - `shard_queued`: as `shard0`, but the client stops reading while the messages are sent (up
//!   to 3/4 of the 64 MiB pending-bytes bound), so the owner soon appends to the connection's
//!   send queue instead of writing each message to the socket: the "issued" rate then shows
//!   what the inbox path itself carries (the sender can run at most one inbox, 8192 commands,
//!   ahead of the owner). Reading resumes afterwards and every byte is still checked.
//!
//! Each phase sends for `SHARDNET_BENCH_SECS` (default 2) and then waits until the drainer has
//! received every byte; reported rate = messages / (first send → last byte received). Wake-ups:
//! the inbox's wake-up count (`StatsSnapshot::inbox_wakeups`: posts that had to wake the parked
//! owner) per message, and shard 1's voluntary context switches (each one is a park) per
//! message, from `/proc/self/task/<tid>/status`. Phases alternate over
//! `SHARDNET_BENCH_ROUNDS` (default 3); medians are reported.

mod common;

use common::*;
use shardnet::*;
use std::io::Read;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MSG: &[u8; 32] = b"cross-shard 32B message ........";

/// The server's per-connection bound on pending send bytes.
const MAX_PENDING: usize = 64 << 20;

struct Sink {
    accepted: Arc<Mutex<Vec<ConnId>>>,
}

impl ServerListener for Sink {
    fn on_accept(
        &self,
        _: &TcpServer,
        c: ConnId,
        _: std::net::SocketAddr,
        _: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        self.accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(c);
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpServer, _: ConnId, _: &[u8]) -> HandleResult {
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shard0,
    Foreign,
    Local,
    /// Shard 0 → shard 1 while the client does not read: the owner queues instead of writing.
    Shard0Queued,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Shard0 => "shard0->shard1",
            Mode::Foreign => "thread->shard1",
            Mode::Local => "shard1->shard1 (local)",
            Mode::Shard0Queued => "shard0->shard1, queued",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Mode::Shard0 => "shard",
            Mode::Foreign => "foreign",
            Mode::Local => "local",
            Mode::Shard0Queued => "shard_queued",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Phase {
    msgs: u64,
    send_secs: f64,
    total_secs: f64,
    retries: u64,
    parks: u64,
    /// Inbox posts that had to wake shard 1's parked driver.
    wakeups: u64,
}

/// Voluntary context switches of this process's threads whose name starts with `prefix`
/// (glommio names a shard's threads `<runtime name>-<shard>-<executor id>`).
fn thread_parks(prefix: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for e in dir.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let s = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        total += s
            .lines()
            .find(|l| l.starts_with("voluntary_ctxt_switches"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// Sends `MSG` to `conn` until `dur` has passed or `max` were sent; returns (messages,
/// retries, seconds).
async fn send_loop(server: TcpServer, conn: ConnId, dur: Duration, max: u64) -> (u64, u64, f64) {
    let t0 = Instant::now();
    let (mut n, mut retries) = (0u64, 0u64);
    'outer: while n < max {
        for _ in 0..1024 {
            match server.send(conn, MSG) {
                Ok(()) => n += 1,
                Err(Error::Backpressure) | Err(Error::QueueFull(_)) => {
                    retries += 1;
                    futures_lite::future::yield_now().await;
                }
                Err(e) => {
                    eprintln!("send failed: {e}");
                    break 'outer;
                }
            }
        }
        if t0.elapsed() >= dur {
            break;
        }
        glommio::yield_if_needed().await;
    }
    (n, retries, t0.elapsed().as_secs_f64())
}

fn run_phase(
    mode: Mode,
    server: &TcpServer,
    conn: ConnId,
    dur: Duration,
    received: &AtomicU64,
    paused: &AtomicBool,
) -> Result<Phase, String> {
    let start_bytes = received.load(Ordering::Acquire);
    let queued = mode == Mode::Shard0Queued;
    // Queued: the client stops reading, so once the socket buffers are full the owner appends
    // to the connection's send queue instead of writing; capped below `max_pending_bytes`.
    let max = if queued {
        (MAX_PENDING as u64 * 3 / 4) / MSG.len() as u64
    } else {
        u64::MAX
    };
    paused.store(queued, Ordering::Release);
    let parks0 = thread_parks("shardnet-1-");
    let wakeups0 = server.shard_stats()[1].inbox_wakeups;
    let t0 = Instant::now();
    let (msgs, retries, send_secs) = match mode {
        Mode::Shard0 | Mode::Local | Mode::Shard0Queued => {
            let shard = if mode == Mode::Local { 1 } else { 0 };
            let (tx, rx) = std::sync::mpsc::channel();
            let srv = server.clone();
            server
                .runtime()
                .run_on(ShardId(shard), move || {
                    glommio::spawn_local(async move {
                        let _ = tx.send(send_loop(srv, conn, dur, max).await);
                    })
                    .detach();
                })
                .map_err(|e| e.to_string())?;
            rx.recv_timeout(dur + Duration::from_secs(60))
                .map_err(|e| format!("sender on shard {shard}: {e}"))?
        }
        Mode::Foreign => {
            let srv = server.clone();
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let (mut n, mut retries) = (0u64, 0u64);
                while t0.elapsed() < dur {
                    for _ in 0..1024 {
                        match srv.send(conn, MSG) {
                            Ok(()) => n += 1,
                            Err(Error::QueueFull(_)) | Err(Error::Backpressure) => {
                                retries += 1;
                                std::thread::yield_now();
                            }
                            Err(e) => {
                                eprintln!("send failed: {e}");
                                return (n, retries, t0.elapsed().as_secs_f64());
                            }
                        }
                    }
                }
                (n, retries, t0.elapsed().as_secs_f64())
            })
            .join()
            .map_err(|_| "foreign sender panicked".to_string())?
        }
    };
    paused.store(false, Ordering::Release);
    let want = start_bytes + msgs * MSG.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Acquire) < want {
        if Instant::now() > deadline {
            return Err(format!(
                "{}: only {} of {} bytes delivered",
                mode.name(),
                received.load(Ordering::Acquire) - start_bytes,
                want - start_bytes
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let total_secs = t0.elapsed().as_secs_f64();
    Ok(Phase {
        msgs,
        send_secs,
        total_secs,
        retries,
        parks: thread_parks("shardnet-1-").saturating_sub(parks0),
        wakeups: server.shard_stats()[1]
            .inbox_wakeups
            .saturating_sub(wakeups0),
    })
}

fn main() {
    raise_limits();
    let secs = bench_secs(2.0);
    let rounds = bench_rounds(3);
    let dur = Duration::from_secs_f64(secs);
    println!("# cross_shard bench: {}", machine_line());
    println!(
        "# 2 shards on CPUs 0 and 1, one connection owned by shard 1, {} B messages, {secs} s per phase, {rounds} rounds",
        MSG.len()
    );
    let started = Instant::now();
    let noise = NoiseMeter::start();
    let rt = Runtime::builder()
        .shards(2)
        .cpus([0, 1])
        .build()
        .expect("runtime");
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let acc = accepted.clone();
    let server = TcpServer::builder()
        .runtime(rt)
        .no_delay(true)
        .max_pending_bytes(MAX_PENDING)
        .start_with("127.0.0.1:0", move |_| Sink {
            accepted: acc.clone(),
        })
        .expect("server");
    let addr = server.listen_addr().expect("listening");

    // A connection that lands on shard 1 (the kernel spreads them over the SO_REUSEPORT sockets).
    let mut spare = Vec::new();
    let mut target = None;
    for _ in 0..64 {
        let s = TcpStream::connect(addr).expect("connect");
        let t = Instant::now();
        let before = spare.len();
        let id = loop {
            let a = accepted.lock().unwrap_or_else(|p| p.into_inner());
            if a.len() > before {
                break Some(a[before]);
            }
            drop(a);
            if t.elapsed() > Duration::from_secs(5) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        match id {
            Some(c) if c.shard() == ShardId(1) => {
                target = Some((s, c));
                break;
            }
            _ => spare.push(s),
        }
    }
    let Some((mut client, conn)) = target else {
        eprintln!("FAILED: no connection landed on shard 1");
        std::process::exit(1);
    };
    let received = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let paused = Arc::new(AtomicBool::new(false));
    let (rcv, bd, pz) = (received.clone(), bad.clone(), paused.clone());
    let drainer = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 << 10];
        let mut pos = 0u64;
        loop {
            if pz.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let off = (pos % MSG.len() as u64) as usize;
                    let ok = buf[..n]
                        .iter()
                        .enumerate()
                        .all(|(i, &b)| b == MSG[(off + i) % MSG.len()]);
                    if !ok {
                        bd.fetch_add(1, Ordering::Relaxed);
                    }
                    pos += n as u64;
                    rcv.store(pos, Ordering::Release);
                }
            }
        }
    });

    let modes = [Mode::Shard0, Mode::Foreign, Mode::Local, Mode::Shard0Queued];
    let mut phases: Vec<Vec<Phase>> = vec![Vec::new(); modes.len()];
    let mut failed = 0u64;
    for round in 0..rounds {
        for (mi, &mode) in modes.iter().enumerate() {
            match run_phase(mode, &server, conn, dur, &received, &paused) {
                Ok(p) => {
                    eprintln!(
                        "[{:>4.0}s] round {} {:<24} {:>10.0} msgs/s delivered ({:>10.0} issued/s), {} retries, {:.4} shard-1 parks/msg",
                        started.elapsed().as_secs_f64(),
                        round + 1,
                        mode.name(),
                        p.msgs as f64 / p.total_secs,
                        p.msgs as f64 / p.send_secs,
                        p.retries,
                        p.parks as f64 / p.msgs.max(1) as f64
                    );
                    phases[mi].push(p);
                }
                Err(e) => {
                    eprintln!("{e}");
                    failed += 1;
                }
            }
        }
    }
    server.stop();
    let _ = server.wait();
    let _ = drainer.join();
    drop(spare);

    println!();
    println!("| sender → owner | msgs/s delivered | msgs/s issued | MB/s | retries (full inbox / queue) per run | shard-1 parks per msg | inbox wake-ups per msg |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut csv = csv_table(&[
        "path",
        "runs",
        "msgs_per_s_delivered",
        "msgs_per_s_issued",
        "mb_per_s",
        "retries",
        "parks_per_msg",
        "wakeups_per_msg",
    ]);
    let mut lines = Vec::new();
    let mut shard_rate = 0.0;
    let mut queued_rate = 0.0;
    for (mi, &mode) in modes.iter().enumerate() {
        let ps = &phases[mi];
        let m = |f: &dyn Fn(&Phase) -> f64| median(&ps.iter().map(f).collect::<Vec<_>>());
        let rate = m(&|p| p.msgs as f64 / p.total_secs);
        let issued = m(&|p| p.msgs as f64 / p.send_secs);
        let retries = m(&|p| p.retries as f64);
        let parks = m(&|p| p.parks as f64 / p.msgs.max(1) as f64);
        let wakeups = m(&|p| p.wakeups as f64 / p.msgs.max(1) as f64);
        if mode == Mode::Shard0 {
            shard_rate = rate;
        }
        if mode == Mode::Shard0Queued {
            queued_rate = issued;
        }
        let mbs = rate * MSG.len() as f64 / 1e6;
        println!(
            "| {} | {rate:.0} | {issued:.0} | {mbs:.1} | {retries:.0} | {parks:.5} | {wakeups:.5} |",
            mode.name()
        );
        csv.push(vec![
            mode.key().into(),
            ps.len().to_string(),
            format!("{rate:.0}"),
            format!("{issued:.0}"),
            format!("{mbs:.2}"),
            format!("{retries:.0}"),
            format!("{parks:.6}"),
            format!("{wakeups:.6}"),
        ]);
        lines.push(result_line(&[
            ("bench", "cross_shard".into()),
            ("path", mode.key().into()),
            ("msg_size", MSG.len().to_string()),
            ("msgs_per_s", format!("{rate:.0}")),
            ("issued_per_s", format!("{issued:.0}")),
            ("retries", format!("{retries:.0}")),
            ("parks_per_msg", format!("{parks:.5}")),
            ("wakeups_per_msg", format!("{wakeups:.5}")),
        ]));
    }
    println!(
        "target ≥ 2,000,000 msgs/s shard→shard: {shard_rate:.0} delivered {}; \
         {queued_rate:.0} taken by the owner while queueing (client not reading) {}",
        if shard_rate >= 2e6 { "MET" } else { "MISSED" },
        if queued_rate >= 2e6 { "≥ 2M" } else { "< 2M" }
    );
    let path = write_csv("cross_shard", &csv);
    let bad = bad.load(Ordering::Relaxed);
    println!(
        "wrote {}; elapsed {:.0} s; delivered bytes {}, corrupt reads {bad}, failed phases {failed}",
        path.display(),
        started.elapsed().as_secs_f64(),
        received.load(Ordering::Relaxed)
    );
    println!("{}", noise.line());
    for l in &lines {
        println!("{l}");
    }
    if bad > 0 || failed > 0 {
        eprintln!("FAILED: corrupt or missing bytes");
        std::process::exit(1);
    }
}
