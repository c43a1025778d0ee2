//! The `shardnet` command: `echo` (an echo server with a stats line per second) and `bench`
//! (a load generator on TcpAgent that checks every echoed byte). No arguments = `echo` with
//! defaults.

mod bench_http;
mod bench_udp;
mod bench_ws;
mod serve_http;
mod udp_echo;

use shardnet::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

const USAGE: &str = "\
usage:
  shardnet [echo] [--listen ADDR] [--shards N] [--placement reuseport|balanced]
                  [--buffer BYTES] [--duration SECS] [--model push|pull|pack]
                  [--pack-flag F] [--max-pack-size N] [--pack-allow-empty]
                  [--tls-cert FILE --tls-key FILE] [--metrics ADDR]
                  [--proxy-protocol --proxy-from CIDR[,CIDR...]]
  shardnet http   [--listen ADDR] (--root DIR | --echo-request) [--ws-echo PATH] [--shards N] [--access-log]
                  [--tls-cert FILE --tls-key FILE] [--duration SECS] [--metrics ADDR]
  shardnet bench  [--target ADDR] [--conns N] [--size BYTES] [--duration SECS]
                  [--mode pingpong|stream] [--depth N] [--shards N]
                  [--model push|pack] [--pack-flag F] [--max-pack-size N]
                  [--tls [--tls-ca FILE | --insecure] [--server-name NAME]]
  shardnet udp-echo [--listen ADDR] [--arq] [--shards N] [--duration SECS] [--metrics ADDR]
  shardnet bench --udp [--arq] [--target ADDR] [--conns N] [--size BYTES] [--duration SECS]
  shardnet bench-http [--url URL] [--conns N] [--duration SECS] [--pipeline D]
                  [--method M] [--shards N] [--tls-ca FILE | --insecure]
  shardnet bench-ws [--url ws://HOST:PORT/PATH] [--conns N] [--size BYTES] [--duration SECS]
                  [--deflate] [--shards N] [--tls-ca FILE | --insecure]

echo   echo server on TcpServer; one stats line per second (default 127.0.0.1:5555, every CPU)
http   HTTP/1.1 server on HttpServer (default 127.0.0.1:8080): static files under DIR (no escape
       by .., encoded dots or symlinks; Content-Type, Last-Modified, If-Modified-Since), or each
       request answered 200 with `METHOD TARGET`; --ws-echo PATH adds a WebSocket echo endpoint
       (permessage-deflate when offered)
bench  load generator on TcpAgent; checks every echoed byte, prints a table and a RESULT line;
       exits non-zero on any mismatch or lost connection (and stops early if the server closes
       every connection)
udp-echo    UdpServer echo (default 127.0.0.1:5556); --arq: HP's reliable UDP (12-byte handshake +
       KCP), every message echoed
bench --udp UDP load generator (default target 127.0.0.1:5556, 100 peers, 64 B): one datagram
       in flight per peer, every echoed byte checked, losses counted (a datagram not echoed in
       250 ms); --arq: HP's handshake + KCP per peer, in order, nothing may be lost
bench-ws    WebSocket load generator on WebSocketAgent (default ws://127.0.0.1:8080/ws, 100 conns,
       64 B): one binary message in flight per connection, every echoed byte checked; a table
       and a RESULT line; non-zero exit on any mismatch, failed upgrade or unexpected close
bench-http  HTTP/1.1 load generator on HttpAgent (default http://127.0.0.1:8080/, 64 conns,
       pipeline 1): live req/s, a table (req/s, p50/p99/p99.9), a RESULT line; exits non-zero on
       any non-2xx answer, parse error, failed connect or unexpected close

--proxy-protocol --proxy-from CIDR,... (echo, http): every connection must start with a PROXY
       v1/v2 header and come from one of these balancer networks (others are refused);
       on_accept and remote_addr report the client the balancer saw. No TLS with it yet.
--metrics ADDR (echo, http, udp-echo): Prometheus text format at http://ADDR/metrics, labels component
       and shard.

Log lines go to stderr; SHARDNET_LOG sets the level (error|warn|info|debug|trace, or
target=level,...; default info).";

/// Sends the components' `tracing` events to stderr, filtered by `SHARDNET_LOG`.
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let filter = match std::env::var("SHARDNET_LOG") {
        Ok(spec) => spec.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("SHARDNET_LOG={spec:?} ignored: {e}");
            Targets::new().with_default(LevelFilter::INFO)
        }),
        Err(_) => Targets::new().with_default(LevelFilter::INFO),
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .finish()
        .with(filter);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn main() {
    init_logging();
    let code = match run() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

type AnyResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Parses decimal or 0x-prefixed hexadecimal.
fn parse_num(s: &str) -> AnyResult<u64> {
    Ok(
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16)?,
            None => s.parse()?,
        },
    )
}

fn run() -> AnyResult<i32> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut cmd = String::from("echo");
    let mut first = true;
    let mut echo = EchoOpts::default();
    let mut bench = BenchOpts::default();
    let mut pack = shardnet::pack::PackConfig::default();
    let mut model = "push";
    let mut http = serve_http::HttpOpts::default();
    let mut bh = bench_http::BenchHttpOpts::default();
    let mut bw = bench_ws::BenchWsOpts::default();
    let mut udp_echo = udp_echo::UdpEchoOpts {
        listen: None,
        arq: false,
        shards: None,
        duration: None,
        metrics: None,
    };
    let (mut udp, mut arq, mut target_set) = (false, false, false);
    let (mut proxy_on, mut proxy_from) = (false, None::<String>);
    while let Some(arg) = parser.next()? {
        match arg {
            Value(v) if first => cmd = v.string()?,
            Long("listen") => {
                echo.listen = parser.value()?.string()?;
                http.listen = Some(echo.listen.clone());
                udp_echo.listen = Some(echo.listen.clone());
            }
            Long("udp") => udp = true,
            Long("proxy-protocol") => proxy_on = true,
            Long("proxy-from") => proxy_from = Some(parser.value()?.string()?),
            Long("metrics") => {
                echo.metrics = Some(parser.value()?.string()?);
                http.metrics = echo.metrics.clone();
            }
            Long("arq") => arq = true,
            Long("root") => http.root = Some(parser.value()?.string()?.into()),
            Long("echo-request") => http.echo_request = true,
            Long("ws-echo") => http.ws_echo = Some(parser.value()?.string()?),
            Long("access-log") => http.access_log = true,
            Long("placement") => {
                echo.placement = match parser.value()?.string()?.as_str() {
                    "reuseport" => AcceptPlacement::ReusePort,
                    "balanced" => AcceptPlacement::Balanced,
                    o => return Err(format!("unknown placement {o}").into()),
                }
            }
            Long("buffer") => echo.buffer = parser.value()?.parse()?,
            Long("shards") => {
                let n: usize = parser.value()?.parse()?;
                if n == 0 {
                    return Err("--shards must be at least 1".into());
                }
                echo.shards = Some(n);
                bench.shards = Some(n);
                bh.shards = Some(n);
                bw.shards = Some(n);
                http.shards = Some(n);
                udp_echo.shards = Some(n);
            }
            Long("duration") => {
                let d: f64 = parser.value()?.parse()?;
                echo.duration = Some(d);
                bench.duration = d;
                bh.duration = d;
                bw.duration = d;
                http.duration = Some(d);
                udp_echo.duration = Some(d);
            }
            Long("model") => {
                model = match parser.value()?.string()?.as_str() {
                    "push" => "push",
                    "pack" => "pack",
                    "pull" => "pull",
                    o => return Err(format!("unknown model {o} (push|pull|pack)").into()),
                }
            }
            Long("pack-flag") => pack.flag = parse_num(&parser.value()?.string()?)? as u16,
            Long("pack-allow-empty") => pack.allow_empty = true,
            Long("max-pack-size") => {
                pack.max_pack_size = parse_num(&parser.value()?.string()?)? as u32
            }
            Long("target") => {
                bench.target = parser.value()?.string()?;
                target_set = true;
            }
            Long("tls-cert") => {
                echo.tls_cert = Some(parser.value()?.string()?);
                http.tls_cert = echo.tls_cert.clone();
            }
            Long("tls-key") => {
                echo.tls_key = Some(parser.value()?.string()?);
                http.tls_key = echo.tls_key.clone();
            }
            Long("tls") => bench.tls = true,
            Long("tls-ca") => {
                bench.tls_ca = Some(parser.value()?.string()?);
                bh.tls_ca = bench.tls_ca.clone();
                bw.tls_ca = bench.tls_ca.clone();
            }
            Long("insecure") => {
                bench.insecure = true;
                bh.insecure = true;
                bw.insecure = true;
            }
            Long("url") => {
                bh.url = parser.value()?.string()?;
                bw.url = bh.url.clone();
            }
            Long("deflate") => bw.deflate = true,
            Long("pipeline") => bh.pipeline = parser.value()?.parse()?,
            Long("method") => bh.method = parser.value()?.string()?,
            Long("server-name") => bench.server_name = Some(parser.value()?.string()?),
            Long("conns") => {
                bench.conns = parser.value()?.parse()?;
                bh.conns = bench.conns;
                bw.conns = bench.conns;
            }
            Long("size") => {
                bench.size = parser.value()?.parse()?;
                bw.size = bench.size;
            }
            Long("depth") => bench.depth = parser.value()?.parse()?,
            Long("mode") => {
                bench.stream = match parser.value()?.string()?.as_str() {
                    "pingpong" => false,
                    "stream" => true,
                    o => return Err(format!("unknown mode {o}").into()),
                }
            }
            Short('h') | Long("help") => {
                println!("{USAGE}");
                return Ok(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
        first = false;
    }
    match model {
        "pack" => {
            pack.validate()?;
            echo.model = ReceiveModel::Pack(pack);
            bench.model = ReceiveModel::Pack(pack);
        }
        // Pull changes how the server takes bytes, not the wire: the bench stays raw.
        "pull" => echo.model = ReceiveModel::Pull,
        _ => {}
    }
    echo.proxy = proxy_opts(proxy_on, proxy_from.as_deref())?;
    http.proxy = echo.proxy.clone();
    install_signal_handlers();
    match cmd.as_str() {
        "echo" => run_echo(echo),
        "http" => serve_http::run_http(http, &INTERRUPTED),
        "udp-echo" => {
            udp_echo.arq = arq;
            udp_echo.metrics = echo.metrics.clone();
            udp_echo::run(udp_echo, &INTERRUPTED)
        }
        "bench" if udp => bench_udp::run(
            bench_udp::BenchUdpOpts {
                target: if target_set {
                    bench.target
                } else {
                    "127.0.0.1:5556".into()
                },
                conns: bench.conns,
                size: bench.size,
                duration: bench.duration,
                arq,
            },
            &INTERRUPTED,
        ),
        "bench" => run_bench(bench),
        "bench-http" => bench_http::run(bh, &INTERRUPTED),
        "bench-ws" => bench_ws::run(bw, &INTERRUPTED),
        o => Err(format!("unknown command {o}").into()),
    }
}

// ----- echo --------------------------------------------------------------------------------------

struct EchoOpts {
    listen: String,
    shards: Option<usize>,
    placement: AcceptPlacement,
    buffer: usize,
    duration: Option<f64>,
    model: ReceiveModel,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    metrics: Option<String>,
    proxy: Option<ProxyProtocol>,
}

impl Default for EchoOpts {
    fn default() -> Self {
        EchoOpts {
            listen: "127.0.0.1:5555".into(),
            shards: None,
            placement: AcceptPlacement::ReusePort,
            buffer: 4096,
            duration: None,
            model: ReceiveModel::Push,
            tls_cert: None,
            tls_key: None,
            metrics: None,
            proxy: None,
        }
    }
}

/// `--proxy-protocol --proxy-from CIDR[,CIDR…]`.
fn proxy_opts(on: bool, from: Option<&str>) -> AnyResult<Option<ProxyProtocol>> {
    match (on, from) {
        (false, None) => Ok(None),
        (true, Some(list)) => {
            let cidrs: Vec<&str> = list.split(',').map(str::trim).collect();
            Ok(Some(ProxyProtocol::from(&cidrs)?))
        }
        (true, None) => {
            Err("--proxy-protocol needs --proxy-from CIDR[,CIDR...] (the balancers)".into())
        }
        (false, Some(_)) => Err("--proxy-from goes with --proxy-protocol".into()),
    }
}

/// `--metrics ADDR`: serves `server`'s per-shard counters at http://ADDR/metrics (Prometheus
/// text format) and says so on stderr; None without the option.
fn serve_metrics(
    addr: Option<&str>,
    name: &str,
    source: impl shardnet::metrics::MetricSource,
) -> AnyResult<Option<shardnet::http::HttpServer>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let m = shardnet::metrics::Metrics::new();
    m.add_source(name, source);
    let ms = m.serve(addr)?;
    eprintln!(
        "metrics at http://{}/metrics",
        ms.listen_addr().expect("listening")
    );
    Ok(Some(ms))
}

/// Echoes what arrives; under Pull it fetches everything buffered into its shard's buffer.
#[derive(Default)]
struct EchoListener {
    pulled: RefCell<Vec<u8>>,
}

impl ServerListener for EchoListener {
    fn on_pull_receive(&self, s: &TcpServer, c: ConnId, total: usize) -> HandleResult {
        let mut buf = self.pulled.borrow_mut();
        buf.resize(total, 0);
        if s.fetch(c, &mut buf) != FetchResult::Ok {
            return HandleResult::Error;
        }
        match s.send(c, &buf) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, data: &[u8]) -> HandleResult {
        match s.send(c, data) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

fn run_echo(o: EchoOpts) -> AnyResult<i32> {
    let mut b = TcpServer::builder()
        .placement(o.placement)
        .socket_buffer_size(o.buffer)
        .receive_model(o.model)
        .max_connections(1_000_000);
    if let Some(n) = o.shards {
        b = b.shards(n);
    }
    if let Some(p) = o.proxy.clone() {
        b = b.proxy_protocol(p);
    }
    match (&o.tls_cert, &o.tls_key) {
        (Some(cert), Some(key)) => {
            b = b.tls(shardnet::tls::ServerTlsConfig::from_pem_files(cert, key)?)
        }
        (None, None) => {}
        _ => return Err("--tls-cert and --tls-key go together".into()),
    }
    let tls = o.tls_cert.is_some();
    let server = b.start_with(&o.listen, |_| EchoListener::default())?;
    let addr = server.listen_addr().expect("listening");
    let metrics = serve_metrics(o.metrics.as_deref(), "echo", server.clone())?;
    let mut out = std::io::stdout();
    let said = writeln!(
        out,
        "shardnet echo listening on {addr}{}: {} shard(s) on CPUs {:?}, placement {:?}, model {:?} (Ctrl-C stops)",
        if tls { " (TLS)" } else { "" },
        server.runtime().shard_count(),
        server.runtime().cpus(),
        o.placement,
        o.model
    )
    .and_then(|()| out.flush());
    // Stdout is the operator's (a terminal, a pipe, `| head -1`): if it goes away, stop
    // gracefully instead of dying on the next write.
    let mut stdout_ok = said.is_ok();
    let start = Instant::now();
    let mut last = server.shard_stats();
    let mut last_t = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let done = !stdout_ok
            || INTERRUPTED.load(Ordering::SeqCst)
            || o.duration
                .is_some_and(|d| start.elapsed().as_secs_f64() >= d);
        if last_t.elapsed() >= Duration::from_secs(1) || done {
            let now = server.shard_stats();
            let dt = last_t.elapsed().as_secs_f64();
            last_t = Instant::now();
            let mut line = String::new();
            let (mut conns, mut msgs, mut bytes) = (0u64, 0u64, 0u64);
            let (mut accept_errors, mut refused) = (0u64, 0u64);
            let mut per = Vec::new();
            for (i, (n, l)) in now.iter().zip(&last).enumerate() {
                let d = *n - *l;
                conns += n.connections;
                msgs += d.msgs_in;
                bytes += d.bytes_in;
                accept_errors += d.accept_errors;
                refused += d.send_refused;
                per.push(format!(
                    "s{i}: {} conns {:.0} msg/s",
                    n.connections,
                    d.msgs_in as f64 / dt
                ));
            }
            line.push_str(&format!(
                "[{:>5.0}s] conns {conns} | {:.0} msgs/s | {:.2} MB/s in | {}",
                start.elapsed().as_secs_f64(),
                msgs as f64 / dt,
                bytes as f64 / dt / 1e6,
                per.join(" | ")
            ));
            if accept_errors > 0 {
                line.push_str(&format!(" | accept errors {accept_errors}"));
            }
            if refused > 0 {
                line.push_str(&format!(" | sends refused {refused}"));
            }
            if stdout_ok {
                if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                    eprintln!("stdout closed ({e}); stopping");
                    stdout_ok = false;
                }
            }
            last = now;
        }
        if done {
            break;
        }
    }
    server.stop();
    server.wait()?;
    if let Some(m) = metrics {
        m.stop();
        m.wait()?;
    }
    if stdout_ok {
        let _ = writeln!(out, "stopped");
    } else {
        eprintln!("stopped");
    }
    Ok(0)
}

// ----- bench -------------------------------------------------------------------------------------

struct BenchOpts {
    target: String,
    conns: usize,
    size: usize,
    duration: f64,
    stream: bool,
    depth: usize,
    shards: Option<usize>,
    model: ReceiveModel,
    tls: bool,
    tls_ca: Option<String>,
    insecure: bool,
    server_name: Option<String>,
}

impl Default for BenchOpts {
    fn default() -> Self {
        BenchOpts {
            target: "127.0.0.1:5555".into(),
            conns: 100,
            size: 64,
            duration: 10.0,
            stream: false,
            depth: 16,
            shards: None,
            model: ReceiveModel::Push,
            tls: false,
            tls_ca: None,
            insecure: false,
            server_name: None,
        }
    }
}

/// Byte at absolute stream position `pos` of connection stream `seed`: both ends compute it,
/// so every echoed byte is checked without keeping copies.
fn stream_byte(seed: u64, pos: u64) -> u8 {
    let x = (pos ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8
}

#[derive(Default)]
struct Shared {
    msgs: AtomicU64,
    bytes: AtomicU64,
    mismatches: AtomicU64,
    connected: AtomicU64,
    failed: AtomicU64,
    closed_early: AtomicU64,
    stopping: AtomicBool,
    rtts: Mutex<Vec<u32>>,
}

struct ConnBench {
    seed: u64,
    sent: u64,
    recv: u64,
    sent_at: std::collections::VecDeque<Instant>,
}

struct BenchListener {
    shared: Arc<Shared>,
    size: usize,
    depth: usize,
    conns: RefCell<HashMap<ConnId, ConnBench>>,
    rtts: RefCell<Vec<u32>>,
    buf: RefCell<Vec<u8>>,
}

impl BenchListener {
    fn send_one(&self, a: &TcpAgent, c: ConnId, cb: &mut ConnBench) -> bool {
        let mut buf = self.buf.borrow_mut();
        buf.clear();
        buf.extend((0..self.size as u64).map(|i| stream_byte(cb.seed, cb.sent + i)));
        if a.send(c, &buf).is_err() {
            return false;
        }
        cb.sent += self.size as u64;
        cb.sent_at.push_back(Instant::now());
        true
    }
}

impl AgentListener for BenchListener {
    fn on_handshake(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
        self.shared.connected.fetch_add(1, Ordering::Relaxed);
        let mut cb = ConnBench {
            seed: c.as_u64(),
            sent: 0,
            recv: 0,
            sent_at: Default::default(),
        };
        for _ in 0..self.depth {
            if !self.send_one(a, c, &mut cb) {
                return HandleResult::Error;
            }
        }
        self.conns.borrow_mut().insert(c, cb);
        HandleResult::Ok
    }

    fn on_receive(&self, a: &TcpAgent, c: ConnId, data: &[u8]) -> HandleResult {
        let mut conns = self.conns.borrow_mut();
        let Some(cb) = conns.get_mut(&c) else {
            return HandleResult::Error;
        };
        for (i, &b) in data.iter().enumerate() {
            if b != stream_byte(cb.seed, cb.recv + i as u64) {
                self.shared.mismatches.fetch_add(1, Ordering::Relaxed);
                return HandleResult::Error;
            }
        }
        if cb.recv + data.len() as u64 > cb.sent {
            self.shared.mismatches.fetch_add(1, Ordering::Relaxed);
            return HandleResult::Error;
        }
        let size = self.size as u64;
        let before = cb.recv / size;
        cb.recv += data.len() as u64;
        self.shared
            .bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let done = cb.recv / size - before;
        if done > 0 {
            self.shared.msgs.fetch_add(done, Ordering::Relaxed);
            let now = Instant::now();
            let mut rtts = self.rtts.borrow_mut();
            for _ in 0..done {
                if let Some(t) = cb.sent_at.pop_front() {
                    rtts.push(now.duration_since(t).as_micros().min(u32::MAX as u128) as u32);
                }
            }
            if !self.shared.stopping.load(Ordering::Relaxed) {
                for _ in 0..done {
                    if !self.send_one(a, c, cb) {
                        return HandleResult::Error;
                    }
                }
            }
        }
        HandleResult::Ok
    }

    fn on_close(&self, _: &TcpAgent, c: ConnId, op: SocketOperation, errno: i32) -> HandleResult {
        if op == SocketOperation::Connect {
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
        } else if !self.shared.stopping.load(Ordering::Relaxed) {
            self.shared.closed_early.fetch_add(1, Ordering::Relaxed);
            eprintln!("connection {c} closed early: {op:?} errno {errno}");
        }
        let mut conns = self.conns.borrow_mut();
        conns.remove(&c);
        if conns.is_empty() {
            // This shard's last connection: publish its round-trip samples.
            let mut all = self.shared.rtts.lock().unwrap_or_else(|p| p.into_inner());
            all.append(&mut self.rtts.borrow_mut());
        }
        HandleResult::Ok
    }
}

/// Percentile `p` of round trips sorted in µs, in ms (shared by the three load generators).
fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn run_bench(o: BenchOpts) -> AnyResult<i32> {
    if o.size == 0 || o.conns == 0 {
        return Err("--size and --conns must be > 0".into());
    }
    let (host, port) = o
        .target
        .rsplit_once(':')
        .ok_or("--target must be HOST:PORT")?;
    let port: u16 = port.parse()?;
    let shared = Arc::new(Shared::default());
    let depth = if o.stream { o.depth.max(1) } else { 1 };
    let mut b = TcpAgent::builder()
        .max_connections(o.conns + 16)
        .no_delay(true)
        .max_pending_bytes(0)
        .receive_model(o.model)
        .connect_timeout(Duration::from_secs(10));
    if let Some(n) = o.shards {
        b = b.shards(n);
    }
    if o.tls {
        let mut t = shardnet::tls::ClientTlsConfig::builder();
        if o.insecure {
            t = t.dangerous_insecure_no_verify();
        } else if let Some(ca) = &o.tls_ca {
            t = t.ca_file(ca)?;
        }
        b = b.tls(t.build()?);
    }
    let (s2, size) = (shared.clone(), o.size);
    let agent = b.start_with(move |_| BenchListener {
        shared: s2.clone(),
        size,
        depth,
        conns: RefCell::new(HashMap::new()),
        rtts: RefCell::new(Vec::new()),
        buf: RefCell::new(Vec::with_capacity(size)),
    })?;
    let name = o.server_name.as_deref().unwrap_or(host);
    for _ in 0..o.conns {
        agent.connect_named(host, port, name)?;
    }
    let t0 = Instant::now();
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed)
        < o.conns as u64
        && t0.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    eprintln!(
        "{connected}/{} connected to {} ({} failed), {} mode, {} B messages, depth {depth}",
        o.conns,
        o.target,
        shared.failed.load(Ordering::Relaxed),
        if o.stream { "stream" } else { "pingpong" },
        o.size
    );
    let start = Instant::now();
    let (m0, b0) = (
        shared.msgs.load(Ordering::Relaxed),
        shared.bytes.load(Ordering::Relaxed),
    );
    let mut last = (Instant::now(), m0);
    while start.elapsed().as_secs_f64() < o.duration && !INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(250));
        if connected > 0 && agent.connection_count() == 0 {
            eprintln!(
                "\nthe server closed every connection after {:.1} s; stopping",
                start.elapsed().as_secs_f64()
            );
            break;
        }
        if last.0.elapsed() >= Duration::from_secs(1) {
            let m = shared.msgs.load(Ordering::Relaxed);
            eprint!(
                "\r[{:>4.0}s] {:>10.0} msgs/s  total {m}  mismatches {}   ",
                start.elapsed().as_secs_f64(),
                (m - last.1) as f64 / last.0.elapsed().as_secs_f64(),
                shared.mismatches.load(Ordering::Relaxed)
            );
            last = (Instant::now(), m);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let msgs = shared.msgs.load(Ordering::Relaxed) - m0;
    let bytes = shared.bytes.load(Ordering::Relaxed) - b0;
    shared.stopping.store(true, Ordering::SeqCst);
    // Let in-flight messages come back so they are checked too.
    std::thread::sleep(Duration::from_millis(200));
    agent.stop();
    agent.wait()?;
    eprintln!();
    let mut rtts = std::mem::take(&mut *shared.rtts.lock().unwrap_or_else(|p| p.into_inner()));
    rtts.sort_unstable();
    let mismatches = shared.mismatches.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed);
    let early = shared.closed_early.load(Ordering::Relaxed);
    let (mps, mbs) = (msgs as f64 / elapsed, bytes as f64 / elapsed / 1e6);
    let (p50, p99, p999) = (pct(&rtts, 0.50), pct(&rtts, 0.99), pct(&rtts, 0.999));
    println!("| conns | size | mode | msgs/s | MB/s | p50 ms | p99 ms | p99.9 ms | mismatches |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {connected} | {} | {} | {mps:.0} | {mbs:.2} | {p50:.3} | {p99:.3} | {p999:.3} | {mismatches} |",
        o.size,
        if o.stream { "stream" } else { "pingpong" },
    );
    println!(
        "RESULT conns={connected} size={} mode={} duration_s={elapsed:.2} msgs={msgs} msgs_per_s={mps:.0} mb_per_s={mbs:.3} p50_ms={p50:.3} p99_ms={p99:.3} p999_ms={p999:.3} mismatches={mismatches} connect_failures={failed} closed_early={early}",
        o.size,
        if o.stream { "stream" } else { "pingpong" },
    );
    Ok(
        if mismatches > 0 || failed > 0 || early > 0 || connected == 0 || msgs == 0 {
            1
        } else {
            0
        },
    )
}
