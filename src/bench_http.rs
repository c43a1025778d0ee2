//! `shardnet bench-http`: an HTTP/1.1 load generator on HttpAgent. Every connection keeps
//! `--pipeline` requests in flight; each answer is timed from its request's send. A connection
//! the server ends on purpose (`Connection: close`, e.g. after nginx's `keepalive_requests`) is
//! replaced; any other close, a non-2xx answer or a parse error is counted and makes the exit
//! status non-zero.

use shardnet::http::{HttpAgent, HttpClientListener, ResponseInfo, UrlParts};
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pct;

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Options of `bench-http`.
pub struct BenchHttpOpts {
    pub url: String,
    pub conns: usize,
    pub duration: f64,
    pub pipeline: usize,
    pub shards: Option<usize>,
    pub method: String,
    pub tls_ca: Option<String>,
    pub insecure: bool,
}

impl Default for BenchHttpOpts {
    fn default() -> Self {
        BenchHttpOpts {
            url: "http://127.0.0.1:8080/".into(),
            conns: 64,
            duration: 10.0,
            pipeline: 1,
            shards: None,
            method: "GET".into(),
            tls_ca: None,
            insecure: false,
        }
    }
}

#[derive(Default)]
struct Totals {
    responses: AtomicU64,
    body_bytes: AtomicU64,
    non_2xx: AtomicU64,
    parse_errors: AtomicU64,
    connected: AtomicU64,
    connect_failures: AtomicU64,
    closed_early: AtomicU64,
    reconnects: AtomicU64,
    stopping: AtomicBool,
    rtts: Mutex<Vec<u32>>,
}

struct Target {
    host: String,
    port: u16,
    path: String,
    method: String,
}

/// One shard's listener: per connection, the send times of the requests in flight.
struct Bench {
    t: Arc<Totals>,
    target: Arc<Target>,
    pipeline: usize,
    inflight: RefCell<HashMap<ConnId, VecDeque<Instant>>>,
    /// Connections that announced their end (`Connection: close`): replaced when they close.
    retiring: RefCell<Vec<ConnId>>,
    rtts: RefCell<Vec<u32>>,
}

impl Bench {
    fn send(&self, a: &HttpAgent, c: ConnId) -> bool {
        let r = a.send_request(c, &self.target.method, &self.target.path, &[], &[]);
        if r.is_ok() {
            if let Some(q) = self.inflight.borrow_mut().get_mut(&c) {
                q.push_back(Instant::now());
            }
        }
        r.is_ok()
    }

    fn publish(&self) {
        let mut all = self.t.rtts.lock().unwrap_or_else(|p| p.into_inner());
        all.append(&mut self.rtts.borrow_mut());
    }
}

impl HttpClientListener<HttpAgent> for Bench {
    fn on_handshake(&self, a: &HttpAgent, c: ConnId) -> HandleResult {
        self.t.connected.fetch_add(1, Ordering::Relaxed);
        self.inflight.borrow_mut().insert(c, VecDeque::new());
        for _ in 0..self.pipeline {
            if !self.send(a, c) {
                return HandleResult::Error;
            }
        }
        HandleResult::Ok
    }

    fn on_body(&self, _: &HttpAgent, _: ConnId, data: &[u8]) -> HandleResult {
        self.t
            .body_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        HandleResult::Ok
    }

    fn on_message_complete(&self, a: &HttpAgent, c: ConnId, r: &ResponseInfo) -> HandleResult {
        let sent = self
            .inflight
            .borrow_mut()
            .get_mut(&c)
            .and_then(|q| q.pop_front());
        if let Some(t) = sent {
            let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
            let mut rtts = self.rtts.borrow_mut();
            rtts.push(us);
            if rtts.len() >= 4096 {
                drop(rtts);
                self.publish();
            }
        }
        self.t.responses.fetch_add(1, Ordering::Relaxed);
        if !(200..300).contains(&r.status) {
            self.t.non_2xx.fetch_add(1, Ordering::Relaxed);
        }
        if !r.keep_alive {
            self.retiring.borrow_mut().push(c);
            return HandleResult::Ok;
        }
        if !self.t.stopping.load(Ordering::Relaxed) && !self.send(a, c) {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }

    fn on_parse_error(&self, _: &HttpAgent, c: ConnId, status: u16, d: &str) {
        self.t.parse_errors.fetch_add(1, Ordering::Relaxed);
        eprintln!("connection {c}: bad response ({status}): {d}");
    }

    fn on_close(&self, a: &HttpAgent, c: ConnId, op: SocketOperation, errno: i32) -> HandleResult {
        self.inflight.borrow_mut().remove(&c);
        let retiring = {
            let mut r = self.retiring.borrow_mut();
            let before = r.len();
            r.retain(|x| *x != c);
            r.len() != before
        };
        if op == SocketOperation::Connect {
            self.t.connect_failures.fetch_add(1, Ordering::Relaxed);
            eprintln!("connect failed: errno {errno}");
        } else if !self.t.stopping.load(Ordering::Relaxed) {
            if retiring {
                self.t.reconnects.fetch_add(1, Ordering::Relaxed);
                if a.connect(&self.target.host, self.target.port).is_err() {
                    self.t.connect_failures.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                self.t.closed_early.fetch_add(1, Ordering::Relaxed);
                eprintln!("connection {c} closed early: {op:?} errno {errno}");
            }
        }
        if self.inflight.borrow().is_empty() {
            self.publish();
        }
        HandleResult::Ok
    }

    fn on_shutdown(&self, _: &HttpAgent) -> HandleResult {
        self.publish();
        HandleResult::Ok
    }
}

/// Runs the bench; the exit status is non-zero on any non-2xx answer, parse error, failed
/// connect, unexpected close, or no answer at all.
pub fn run(o: BenchHttpOpts, interrupted: &AtomicBool) -> AnyResult<i32> {
    if o.conns == 0 || o.pipeline == 0 {
        return Err("--conns and --pipeline must be > 0".into());
    }
    let u = UrlParts::parse(&o.url, false);
    let https = match u.scheme {
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        _ => return Err(format!("--url must be http:// or https://, not {}", o.url).into()),
    };
    let host = u
        .host
        .filter(|h| !h.is_empty())
        .ok_or("--url has no host")?
        .to_string();
    let port = u.port.unwrap_or(if https { 443 } else { 80 });
    let mut path = if u.path.is_empty() {
        "/".to_string()
    } else {
        u.path.to_string()
    };
    if let Some(q) = u.query {
        path.push('?');
        path.push_str(q);
    }
    let target = Arc::new(Target {
        host: host.clone(),
        port,
        path,
        method: o.method.clone(),
    });
    let t = Arc::new(Totals::default());
    let mut b = HttpAgent::builder().tcp(|b| {
        b.max_connections(o.conns + 16)
            .no_delay(true)
            .max_pending_bytes(0)
            .connect_timeout(Duration::from_secs(10))
    });
    if let Some(n) = o.shards {
        b = b.shards(n);
    }
    if https {
        let mut c = shardnet::tls::ClientTlsConfig::builder().alpn(["http/1.1"]);
        if o.insecure {
            c = c.dangerous_insecure_no_verify();
        } else if let Some(ca) = &o.tls_ca {
            c = c.ca_file(ca)?;
        }
        b = b.tls(c.build()?);
    }
    let (t2, target2, pipeline) = (t.clone(), target.clone(), o.pipeline);
    let agent = b.start_with(move |_| Bench {
        t: t2.clone(),
        target: target2.clone(),
        pipeline,
        inflight: RefCell::new(HashMap::new()),
        retiring: RefCell::new(Vec::new()),
        rtts: RefCell::new(Vec::new()),
    })?;
    for _ in 0..o.conns {
        agent.connect(&host, port)?;
    }
    let t0 = Instant::now();
    while t.connected.load(Ordering::Relaxed) + t.connect_failures.load(Ordering::Relaxed)
        < o.conns as u64
        && t0.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let connected = t.connected.load(Ordering::Relaxed);
    eprintln!(
        "{connected}/{} connected to {}:{port} ({} failed), {} {}, pipeline {}",
        o.conns,
        host,
        t.connect_failures.load(Ordering::Relaxed),
        o.method,
        target.path,
        o.pipeline
    );
    let start = Instant::now();
    let r0 = t.responses.load(Ordering::Relaxed);
    let mut last = (Instant::now(), r0);
    while start.elapsed().as_secs_f64() < o.duration && !interrupted.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(250));
        if connected > 0 && agent.connection_count() == 0 {
            eprintln!(
                "\nno connection left after {:.1} s; stopping",
                start.elapsed().as_secs_f64()
            );
            break;
        }
        if last.0.elapsed() >= Duration::from_secs(1) {
            let r = t.responses.load(Ordering::Relaxed);
            eprint!(
                "\r[{:>4.0}s] {:>10.0} req/s  total {r}  non-2xx {}  errors {}   ",
                start.elapsed().as_secs_f64(),
                (r - last.1) as f64 / last.0.elapsed().as_secs_f64(),
                t.non_2xx.load(Ordering::Relaxed),
                t.parse_errors.load(Ordering::Relaxed),
            );
            last = (Instant::now(), r);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let responses = t.responses.load(Ordering::Relaxed) - r0;
    t.stopping.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    agent.stop();
    agent.wait()?;
    eprintln!();
    let mut rtts = std::mem::take(&mut *t.rtts.lock().unwrap_or_else(|p| p.into_inner()));
    rtts.sort_unstable();
    let rps = responses as f64 / elapsed;
    let mbs = t.body_bytes.load(Ordering::Relaxed) as f64 / elapsed / 1e6;
    let (p50, p99, p999) = (pct(&rtts, 0.50), pct(&rtts, 0.99), pct(&rtts, 0.999));
    let non2xx = t.non_2xx.load(Ordering::Relaxed);
    let perr = t.parse_errors.load(Ordering::Relaxed);
    let failed = t.connect_failures.load(Ordering::Relaxed);
    let early = t.closed_early.load(Ordering::Relaxed);
    let reconnects = t.reconnects.load(Ordering::Relaxed);
    println!(
        "| conns | pipeline | req/s | body MB/s | p50 ms | p99 ms | p99.9 ms | non-2xx | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {connected} | {} | {rps:.0} | {mbs:.2} | {p50:.3} | {p99:.3} | {p999:.3} | {non2xx} | {perr} |",
        o.pipeline
    );
    println!(
        "RESULT conns={connected} pipeline={} duration_s={elapsed:.2} requests={responses} req_per_s={rps:.0} body_mb_per_s={mbs:.3} p50_ms={p50:.3} p99_ms={p99:.3} p999_ms={p999:.3} non_2xx={non2xx} parse_errors={perr} connect_failures={failed} closed_early={early} reconnects={reconnects}",
        o.pipeline
    );
    Ok(
        if non2xx > 0 || perr > 0 || failed > 0 || early > 0 || connected == 0 || responses == 0 {
            1
        } else {
            0
        },
    )
}
