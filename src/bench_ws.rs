//! `shardnet bench-ws`: a WebSocket load generator on WebSocketAgent. Every connection keeps one
//! binary message of `--size` bytes in flight against an echo server (e.g. `shardnet http
//! --ws-echo /ws`), checks every echoed byte, and times each round trip; `--deflate` offers
//! permessage-deflate. Live progress, a table, a `RESULT` line; the exit status is non-zero on
//! any mismatch, failed upgrade or unexpected close.

use shardnet::ws::{DeflateConfig, Message, WebSocketAgent, WebSocketClientListener};
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pct;

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Options of `bench-ws`.
pub struct BenchWsOpts {
    pub url: String,
    pub conns: usize,
    pub size: usize,
    pub duration: f64,
    pub deflate: bool,
    pub shards: Option<usize>,
    pub tls_ca: Option<String>,
    pub insecure: bool,
}

impl Default for BenchWsOpts {
    fn default() -> Self {
        BenchWsOpts {
            url: "ws://127.0.0.1:8080/ws".into(),
            conns: 100,
            size: 64,
            duration: 10.0,
            deflate: false,
            shards: None,
            tls_ca: None,
            insecure: false,
        }
    }
}

#[derive(Default)]
struct Totals {
    msgs: AtomicU64,
    bytes: AtomicU64,
    mismatches: AtomicU64,
    opened: AtomicU64,
    failed: AtomicU64,
    closed_early: AtomicU64,
    stopping: AtomicBool,
    rtts: Mutex<Vec<u32>>,
}

/// The payload of connection `c`'s messages (its id mixed in, so a crossed echo shows).
fn payload(c: ConnId, size: usize) -> Vec<u8> {
    let seed = c.as_u64().wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..size)
        .map(|i| (seed.rotate_left((i % 64) as u32) >> 56) as u8 ^ i as u8)
        .collect()
}

struct Bench {
    t: Arc<Totals>,
    size: usize,
    conns: RefCell<HashMap<ConnId, (Vec<u8>, Instant)>>,
    rtts: RefCell<Vec<u32>>,
}

impl Bench {
    fn send(&self, ws: &WebSocketAgent, c: ConnId) -> bool {
        let mut conns = self.conns.borrow_mut();
        let Some(e) = conns.get_mut(&c) else {
            return false;
        };
        e.1 = Instant::now();
        ws.send_binary(c, &e.0).is_ok()
    }

    fn publish(&self) {
        let mut all = self.t.rtts.lock().unwrap_or_else(|p| p.into_inner());
        all.append(&mut self.rtts.borrow_mut());
    }
}

impl WebSocketClientListener for Bench {
    fn on_open(&self, ws: &WebSocketAgent, c: ConnId) -> HandleResult {
        self.t.opened.fetch_add(1, Ordering::Relaxed);
        self.conns
            .borrow_mut()
            .insert(c, (payload(c, self.size), Instant::now()));
        if !self.send(ws, c) {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }

    fn on_upgrade_failed(&self, _: &WebSocketAgent, c: ConnId, status: u16, reason: &str) {
        self.t.failed.fetch_add(1, Ordering::Relaxed);
        eprintln!("connection {c}: upgrade failed ({status}): {reason}");
    }

    fn on_message(&self, ws: &WebSocketAgent, c: ConnId, m: Message<'_>) -> HandleResult {
        let ok = {
            let conns = self.conns.borrow();
            match (conns.get(&c), m) {
                (Some((p, sent)), Message::Binary(b)) if b == &p[..] => {
                    let us = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    self.rtts.borrow_mut().push(us);
                    true
                }
                _ => false,
            }
        };
        if !ok {
            self.t.mismatches.fetch_add(1, Ordering::Relaxed);
            return HandleResult::Error;
        }
        self.t.msgs.fetch_add(1, Ordering::Relaxed);
        self.t.bytes.fetch_add(self.size as u64, Ordering::Relaxed);
        if self.rtts.borrow().len() >= 4096 {
            self.publish();
        }
        if !self.t.stopping.load(Ordering::Relaxed) && !self.send(ws, c) {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }

    fn on_close(
        &self,
        _: &WebSocketAgent,
        c: ConnId,
        op: SocketOperation,
        errno: i32,
    ) -> HandleResult {
        let was_open = self.conns.borrow_mut().remove(&c).is_some();
        if op == SocketOperation::Connect {
            self.t.failed.fetch_add(1, Ordering::Relaxed);
            eprintln!("connect failed: errno {errno}");
        } else if !self.t.stopping.load(Ordering::Relaxed) && was_open {
            self.t.closed_early.fetch_add(1, Ordering::Relaxed);
            eprintln!("connection {c} closed early: {op:?} errno {errno}");
        }
        if self.conns.borrow().is_empty() {
            self.publish();
        }
        HandleResult::Ok
    }

    fn on_shutdown(&self, _: &WebSocketAgent) -> HandleResult {
        self.publish();
        HandleResult::Ok
    }
}

/// Runs the bench.
pub fn run(o: BenchWsOpts, interrupted: &AtomicBool) -> AnyResult<i32> {
    if o.conns == 0 || o.size == 0 {
        return Err("--conns and --size must be > 0".into());
    }
    let t = Arc::new(Totals::default());
    let mut b = WebSocketAgent::builder()
        .http(|h| h.tcp(|t| t.max_connections(o.conns + 16).max_pending_bytes(0)));
    if let Some(n) = o.shards {
        b = b.shards(n);
    }
    if o.deflate {
        b = b.deflate(Some(DeflateConfig::default()));
    }
    if o.url.starts_with("wss://") {
        let mut c = shardnet::tls::ClientTlsConfig::builder().alpn(["http/1.1"]);
        if o.insecure {
            c = c.dangerous_insecure_no_verify();
        } else if let Some(ca) = &o.tls_ca {
            c = c.ca_file(ca)?;
        }
        b = b.tls(c.build()?);
    }
    let (t2, size) = (t.clone(), o.size);
    let agent = b.start_with(move |_| Bench {
        t: t2.clone(),
        size,
        conns: RefCell::new(HashMap::new()),
        rtts: RefCell::new(Vec::new()),
    })?;
    for _ in 0..o.conns {
        agent.connect(&o.url, &[])?;
    }
    let t0 = Instant::now();
    while t.opened.load(Ordering::Relaxed) + t.failed.load(Ordering::Relaxed) < o.conns as u64
        && t0.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let opened = t.opened.load(Ordering::Relaxed);
    eprintln!(
        "{opened}/{} WebSocket connections open to {} ({} failed), {} B binary messages{}",
        o.conns,
        o.url,
        t.failed.load(Ordering::Relaxed),
        o.size,
        if o.deflate {
            ", permessage-deflate offered"
        } else {
            ""
        }
    );
    let start = Instant::now();
    let m0 = t.msgs.load(Ordering::Relaxed);
    let mut last = (Instant::now(), m0);
    while start.elapsed().as_secs_f64() < o.duration && !interrupted.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(250));
        if opened > 0 && agent.connection_count() == 0 {
            eprintln!("\nno connection left; stopping");
            break;
        }
        if last.0.elapsed() >= Duration::from_secs(1) {
            let m = t.msgs.load(Ordering::Relaxed);
            eprint!(
                "\r[{:>4.0}s] {:>10.0} msgs/s  total {m}  mismatches {}   ",
                start.elapsed().as_secs_f64(),
                (m - last.1) as f64 / last.0.elapsed().as_secs_f64(),
                t.mismatches.load(Ordering::Relaxed)
            );
            last = (Instant::now(), m);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let msgs = t.msgs.load(Ordering::Relaxed) - m0;
    t.stopping.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    agent.stop();
    agent.wait()?;
    eprintln!();
    let mut rtts = std::mem::take(&mut *t.rtts.lock().unwrap_or_else(|p| p.into_inner()));
    rtts.sort_unstable();
    let mps = msgs as f64 / elapsed;
    let mbs = msgs as f64 * o.size as f64 / elapsed / 1e6;
    let (p50, p99, p999) = (pct(&rtts, 0.5), pct(&rtts, 0.99), pct(&rtts, 0.999));
    let mm = t.mismatches.load(Ordering::Relaxed);
    let failed = t.failed.load(Ordering::Relaxed);
    let early = t.closed_early.load(Ordering::Relaxed);
    println!("| conns | size | msgs/s | MB/s | p50 ms | p99 ms | p99.9 ms | mismatches |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {opened} | {} | {mps:.0} | {mbs:.2} | {p50:.3} | {p99:.3} | {p999:.3} | {mm} |",
        o.size
    );
    println!(
        "RESULT conns={opened} size={} deflate={} duration_s={elapsed:.2} msgs={msgs} msgs_per_s={mps:.0} mb_per_s={mbs:.3} p50_ms={p50:.3} p99_ms={p99:.3} p999_ms={p999:.3} mismatches={mm} upgrade_or_connect_failures={failed} closed_early={early}",
        o.size, o.deflate
    );
    Ok(
        if mm > 0 || failed > 0 || early > 0 || opened == 0 || msgs == 0 {
            1
        } else {
            0
        },
    )
}
