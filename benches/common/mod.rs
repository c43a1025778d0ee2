//! Code shared by the bench binaries (each does `mod common;`).
//!
//! - The **servers under test** (shardnet `TcpServer`, tokio current_thread, raw glommio 0.9),
//!   run in a child process: the bench binary re-executes itself with `--serve KIND --port P`;
//!   [`maybe_serve`] (called first in every bench's `main`) turns that child into the server. The
//!   child pins itself to CPU 0, prints `READY <port>`, and exits when its stdin closes.
//! - [`ServerChild`]: the parent's handle on such a child (kills it on drop), with its CPU time
//!   (`utime + stime` from `/proc/<pid>/stat`) and RSS (`VmRSS` from `/proc/<pid>/status`).
//! - [`LoadGen`]: the neutral load generator: one thread (pinned to CPU 1 by the caller), mio,
//!   N non-blocking connections, every echoed byte checked against a per-connection pattern.
//! - Small helpers: medians and percentiles, env configuration, CSV output, `RESULT` lines.

#![allow(dead_code)] // each bench uses a different subset

pub mod fanout;

use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ----- configuration ----------------------------------------------------------------------------

/// Seconds of each measured window (`SHARDNET_BENCH_SECS`, default `default`).
pub fn bench_secs(default: f64) -> f64 {
    env_f64("SHARDNET_BENCH_SECS").unwrap_or(default)
}

/// Rounds per system (`SHARDNET_BENCH_ROUNDS`, default `default`).
pub fn bench_rounds(default: usize) -> usize {
    env_f64("SHARDNET_BENCH_ROUNDS")
        .map(|r| r.max(1.0) as usize)
        .unwrap_or(default)
}

/// A numeric environment variable, if set and parseable.
pub fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// True when the environment variable is set to something other than `0`/empty.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The value following `--flag` on the command line (unknown arguments are ignored, so
/// `cargo bench`'s `--bench` is harmless).
pub fn arg_value(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

// ----- the machine ------------------------------------------------------------------------------

/// CPU the servers under test run on.
pub const SERVER_CPU: usize = 0;
/// CPU the load generator runs on.
pub const CLIENT_CPU: usize = 1;

/// Pins the calling thread (and the threads it starts later) to `cpu`. False if not possible.
pub fn pin_to_cpu(cpu: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

/// Raises RLIMIT_NOFILE to its hard limit and RLIMIT_MEMLOCK as far as allowed (glommio locks
/// its io_uring memory).
pub fn raise_limits() {
    for (res, want) in [
        (libc::RLIMIT_NOFILE, None),
        (libc::RLIMIT_MEMLOCK, Some(libc::RLIM_INFINITY)),
    ] {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the valid rlimit struct we pass.
        if unsafe { libc::getrlimit(res, &mut cur) } != 0 {
            continue;
        }
        if let Some(w) = want {
            let all = libc::rlimit {
                rlim_cur: w,
                rlim_max: w,
            };
            // SAFETY: setrlimit only reads the struct; failure (no privilege) is harmless.
            if unsafe { libc::setrlimit(res, &all) } == 0 {
                continue;
            }
        }
        let soft = libc::rlimit {
            rlim_cur: cur.rlim_max,
            rlim_max: cur.rlim_max,
        };
        // SAFETY: as above; raising the soft limit up to the hard one is always allowed.
        unsafe { libc::setrlimit(res, &soft) };
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime + stime of process `pid` (all its threads), in microseconds.
pub fn proc_cpu_us(pid: u32) -> io::Result<u64> {
    proc_cpu_split_us(pid).map(|(u, s)| u + s)
}

/// (utime, stime) of process `pid` (all its threads), in microseconds.
pub fn proc_cpu_split_us(pid: u32) -> io::Result<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    let rest = &s[s.rfind(')').map(|i| i + 2).unwrap_or(0)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let parse = |i: usize| -> u64 { f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let t = clock_ticks();
    Ok((parse(11) * 1_000_000 / t, parse(12) * 1_000_000 / t))
}

/// On-CPU time of process `pid` from the scheduler (sum of `/proc/<pid>/task/*/schedstat`
/// first fields, ns → µs): the same quantity as [`proc_cpu_us`] without the clock-tick
/// granularity (10 ms), for short runs. Threads that exited are not counted.
pub fn proc_sched_us(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>()
        / 1000
}

/// A `Name: value kB` field of `/proc/<path>/status`, in bytes.
pub fn proc_status_kb(path: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{path}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
}

/// Resident set size of process `pid`, in bytes.
pub fn proc_rss_bytes(pid: u32) -> Option<u64> {
    proc_status_kb(&pid.to_string(), "VmRSS").map(|kb| kb * 1024)
}

// ----- the servers under test -------------------------------------------------------------------

/// The systems compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// shardnet `TcpServer`, push model, one shard.
    Shardnet,
    /// tokio current_thread, a task per connection.
    Tokio,
    /// raw glommio 0.9, a task per connection.
    Glommio,
    /// The floor: a minimal edge-triggered epoll echo (one thread, one shared 64 KiB receive
    /// buffer, `recv` then `send`, a leftover buffer only when a send is short; no framework).
    /// What a server costs when it does nothing but move the bytes.
    Epoll,
    /// tokio current_thread reading 64 KiB per call (as shardnet's scratch buffer does), run in
    /// the pipelined cells so a lead there is a design lead, not a read-size artefact.
    Tokio64,
    /// shardnet `HttpServer` (whole-request handler answering `200 Hello, World!`), one shard.
    ShardnetHttp,
    /// shardnet `HttpServer` driven by a callback listener (HP's shape: `on_message_complete`
    /// reads method, path and keep-alive, then `send_response`), one shard: the Rust twin of
    /// the C server of the `capi_http` bench.
    ShardnetHttpListener,
    /// hyper 1.x HTTP/1 server on tokio current_thread answering the same, with
    /// `pipeline_flush` (responses of one pipelined burst leave in one write).
    Hyper,
    /// shardnet `WebSocketServer` echoing every message, one shard, no compression.
    ShardnetWs,
    /// tokio-tungstenite on tokio current_thread echoing every message (a task per
    /// connection), no compression (it has none).
    TokioTungstenite,
    /// shardnet `WebSocketServer` with permessage-deflate on (idle-memory row).
    ShardnetWsDeflate,
    /// shardnet `UdpServer` echoing every datagram, one shard (recvmmsg/sendmmsg).
    ShardnetUdp,
    /// The same with UDP GSO on (`UdpServerBuilder::gso(true)`).
    ShardnetUdpGso,
    /// tokio `UdpSocket` on current_thread: `recv_from` then `send_to`, one datagram at a time.
    TokioUdp,
    /// shardnet `UdpServer` with HP's ARQ (handshake + KCP) echoing every message, one shard.
    ShardnetArq,
    /// The same with KCP's minimum RTO at 100 ms (ikcp's default, which tokio_kcp keeps: it
    /// has no setting for it) instead of HP's 30: the equal-settings row against tokio_kcp.
    ShardnetArqRto100,
    /// tokio_kcp 0.9 (`KcpListener`, a task per session) on tokio current_thread echoing every
    /// message, with HP's KCP settings where it has them (nodelay 0, interval 60, no fast
    /// resend, congestion control on, windows 128/512, MTU 1432, message mode) and HP's
    /// flush-after-send and flush-after-input (`flush_write`, `flush_acks_input`).
    TokioKcp,
}

impl ServerKind {
    /// Every system, in the order they alternate.
    pub const ALL: [ServerKind; 4] = [
        ServerKind::Shardnet,
        ServerKind::Tokio,
        ServerKind::Glommio,
        ServerKind::Epoll,
    ];

    /// Lower-case name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Shardnet => "shardnet",
            ServerKind::Tokio => "tokio",
            ServerKind::Glommio => "glommio",
            ServerKind::Epoll => "epoll",
            ServerKind::Tokio64 => "tokio64",
            ServerKind::ShardnetHttp => "shardnet-http",
            ServerKind::ShardnetHttpListener => "shardnet-http-listener",
            ServerKind::Hyper => "hyper",
            ServerKind::ShardnetWs => "shardnet-ws",
            ServerKind::TokioTungstenite => "tokio-tungstenite",
            ServerKind::ShardnetWsDeflate => "shardnet-ws-deflate",
            ServerKind::ShardnetUdp => "shardnet-udp",
            ServerKind::ShardnetUdpGso => "shardnet-udp-gso",
            ServerKind::TokioUdp => "tokio-udp",
            ServerKind::ShardnetArq => "shardnet-arq",
            ServerKind::ShardnetArqRto100 => "shardnet-arq-rto100",
            ServerKind::TokioKcp => "tokio-kcp",
        }
    }

    /// Parses [`ServerKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([
                ServerKind::Tokio64,
                ServerKind::ShardnetHttp,
                ServerKind::ShardnetHttpListener,
                ServerKind::Hyper,
                ServerKind::ShardnetWs,
                ServerKind::TokioTungstenite,
                ServerKind::ShardnetWsDeflate,
                ServerKind::ShardnetUdp,
                ServerKind::ShardnetUdpGso,
                ServerKind::TokioUdp,
                ServerKind::ShardnetArq,
                ServerKind::ShardnetArqRto100,
                ServerKind::TokioKcp,
            ])
            .find(|k| k.name() == s)
    }
}

/// Bytes each baseline server reads at a time: a per-connection buffer, 4096 by default (what a
/// tokio/glommio echo server typically uses, and what their idle-memory figures assume);
/// `SHARDNET_BASELINE_BUF` changes it. shardnet instead reads through one scratch buffer per
/// shard of `max(socket_buffer_size, SCRATCH_MIN)` = 64 KiB, which costs nothing per
/// connection; BENCHMARKS.md reports the pipelined cell with 64 KiB baselines too.
pub fn server_buf() -> usize {
    std::env::var("SHARDNET_BASELINE_BUF")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(4096)
}

/// glommio io_memory for both glommio-based servers (shardnet's runtime uses the same 512 KiB).
const GLOMMIO_IO_MEMORY: usize = 512 << 10;

/// In a child started with `--serve KIND [--port P]`: runs that server and never returns.
/// In a child started with `--hold N --port P`: runs the idle-connection holder (see
/// [`hold_connections`]). Otherwise returns.
pub fn maybe_serve() {
    if let Some(kind) = arg_value("--serve") {
        let kind = ServerKind::parse(&kind).unwrap_or_else(|| {
            eprintln!("unknown server kind {kind}");
            std::process::exit(2)
        });
        let port: u16 = arg_value("--port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        raise_limits();
        if !pin_to_cpu(SERVER_CPU) {
            eprintln!("warning: cannot pin the server to CPU {SERVER_CPU}");
        }
        exit_when_stdin_closes();
        let r = match kind {
            ServerKind::Shardnet => serve_shardnet(port),
            ServerKind::Tokio => serve_tokio(port, server_buf()),
            ServerKind::Tokio64 => serve_tokio(port, 64 << 10),
            ServerKind::Glommio => serve_glommio(port),
            ServerKind::Epoll => serve_epoll(port),
            ServerKind::ShardnetHttp => serve_shardnet_http(port),
            ServerKind::ShardnetHttpListener => serve_shardnet_http_listener(port),
            ServerKind::Hyper => serve_hyper(port),
            ServerKind::ShardnetWs => serve_shardnet_ws(port, false),
            ServerKind::ShardnetWsDeflate => serve_shardnet_ws(port, true),
            ServerKind::TokioTungstenite => serve_tokio_tungstenite(port),
            ServerKind::ShardnetUdp => serve_shardnet_udp(port, None, false),
            ServerKind::ShardnetUdpGso => serve_shardnet_udp(port, None, true),
            ServerKind::ShardnetArq => {
                serve_shardnet_udp(port, Some(shardnet::udp::ArqConfig::default()), false)
            }
            ServerKind::ShardnetArqRto100 => {
                let mut cfg = shardnet::udp::ArqConfig::default();
                cfg.kcp.min_rto = 100;
                serve_shardnet_udp(port, Some(cfg), false)
            }
            ServerKind::TokioKcp => serve_tokio_kcp(port),
            ServerKind::TokioUdp => serve_tokio_udp(port),
        };
        if let Err(e) = r {
            eprintln!("{} server failed: {e}", kind.name());
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    if let Some(n) = arg_value("--hold") {
        let n: usize = n.parse().unwrap_or(10_000);
        let port: u16 = arg_value("--port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        raise_limits();
        let mode = if std::env::args().any(|a| a == "--http") {
            Hold::Http
        } else if std::env::args().any(|a| a == "--ws-deflate") {
            Hold::Ws { deflate: true }
        } else if std::env::args().any(|a| a == "--ws") {
            Hold::Ws { deflate: false }
        } else if std::env::args().any(|a| a == "--udp") {
            Hold::Datagram { arq: false }
        } else if std::env::args().any(|a| a == "--arq") {
            Hold::Datagram { arq: true }
        } else {
            Hold::Echo
        };
        let code = match hold_connections(port, n, mode) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("holder failed: {e}");
                1
            }
        };
        std::process::exit(code);
    }
}

/// Exits the process once stdin closes (the parent closes it to stop us; `exit` lets callgrind
/// write its profile). Started before the server's threads, so that under valgrind it is
/// already waiting in `read` rather than queued for valgrind's thread lock.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

/// Tells the parent the server is listening.
fn announce_ready(port: u16) {
    println!("READY {port}");
    let _ = io::stdout().flush();
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

struct ShardnetEcho;

impl shardnet::ServerListener for ShardnetEcho {
    fn on_receive(
        &self,
        s: &shardnet::TcpServer,
        c: shardnet::ConnId,
        data: &[u8],
    ) -> shardnet::HandleResult {
        match s.send(c, data) {
            Ok(()) => shardnet::HandleResult::Ok,
            Err(_) => shardnet::HandleResult::Error,
        }
    }
    fn on_close(
        &self,
        _: &shardnet::TcpServer,
        _: shardnet::ConnId,
        _: shardnet::SocketOperation,
        _: i32,
    ) -> shardnet::HandleResult {
        shardnet::HandleResult::Ok
    }
}

fn serve_shardnet(port: u16) -> AnyResult<()> {
    let rt = bench_runtime()?;
    let server = shardnet::TcpServer::builder()
        .runtime(rt)
        .no_delay(true)
        .max_connections(100_000)
        .start_with(&format!("127.0.0.1:{port}"), |_| ShardnetEcho)?;
    let port = server.listen_addr().map(|a| a.port()).unwrap_or(port);
    announce_ready(port);
    server.wait()?;
    Ok(())
}

fn serve_shardnet_http(port: u16) -> AnyResult<()> {
    let rt = bench_runtime()?;
    let server = shardnet::http::HttpServer::builder()
        .runtime(rt)
        .tcp(|t| t.no_delay(true).max_connections(100_000))
        // As hyper: no cap on requests per connection (the default is nginx's 1000).
        .http_config(shardnet::http::HttpConfig {
            max_requests: 0,
            ..Default::default()
        })
        .serve(&format!("127.0.0.1:{port}"), |_| {
            shardnet::http::Response::new(200, HELLO)
        })?;
    let port = server.listen_addr().map(|a| a.port()).unwrap_or(port);
    announce_ready(port);
    server.wait()?;
    Ok(())
}

/// HP's HTTP server shape in Rust: the answer comes from `on_message_complete`.
struct HelloListener;

impl shardnet::http::HttpServerListener for HelloListener {
    fn on_message_complete(
        &self,
        s: &shardnet::http::HttpServer,
        conn: shardnet::ConnId,
        req: &shardnet::http::RequestInfo,
    ) -> shardnet::HandleResult {
        if req.method.is_empty() || !req.target.starts_with('/') {
            return shardnet::HandleResult::Error;
        }
        let hs = [("Content-Type", "text/plain")];
        if s.send_response(conn, 200, None, &hs, HELLO.as_bytes())
            .is_err()
        {
            return shardnet::HandleResult::Error;
        }
        if !req.keep_alive {
            let _ = s.release(conn);
        }
        shardnet::HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &shardnet::http::HttpServer,
        _: shardnet::ConnId,
        _: shardnet::SocketOperation,
        _: i32,
    ) -> shardnet::HandleResult {
        shardnet::HandleResult::Ok
    }
}

fn serve_shardnet_http_listener(port: u16) -> AnyResult<()> {
    let rt = bench_runtime()?;
    let server = shardnet::http::HttpServer::builder()
        .runtime(rt)
        .tcp(|t| t.no_delay(true).max_connections(100_000))
        // As the C API's server: no cap on requests per connection, no Server header.
        .http_config(shardnet::http::HttpConfig {
            max_requests: 0,
            server_name: None,
            ..Default::default()
        })
        .start(
            &format!("127.0.0.1:{port}"),
            std::sync::Arc::new(HelloListener),
        )?;
    let port = server.listen_addr().map(|a| a.port()).unwrap_or(port);
    announce_ready(port);
    server.wait()?;
    Ok(())
}

struct WsEcho;
impl shardnet::ws::WebSocketListener for WsEcho {
    fn on_message(
        &self,
        ws: &shardnet::ws::WebSocketServer,
        conn: shardnet::ConnId,
        msg: shardnet::ws::Message<'_>,
    ) -> shardnet::HandleResult {
        let r = match msg {
            shardnet::ws::Message::Text(t) => ws.send_text(conn, t),
            shardnet::ws::Message::Binary(b) => ws.send_binary(conn, b),
        };
        if r.is_err() {
            return shardnet::HandleResult::Error;
        }
        shardnet::HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &shardnet::ws::WebSocketServer,
        _: shardnet::ConnId,
        _: shardnet::SocketOperation,
        _: i32,
    ) -> shardnet::HandleResult {
        shardnet::HandleResult::Ok
    }
}

fn serve_shardnet_ws(port: u16, deflate: bool) -> AnyResult<()> {
    let rt = bench_runtime()?;
    let server = shardnet::ws::WebSocketServer::builder()
        .runtime(rt)
        .deflate(deflate.then(shardnet::ws::DeflateConfig::default))
        .http(|h| h.tcp(|t| t.max_connections(100_000)))
        .start(&format!("127.0.0.1:{port}"), std::sync::Arc::new(WsEcho))?;
    let port = server.listen_addr().map(|a| a.port()).unwrap_or(port);
    announce_ready(port);
    server.wait()?;
    Ok(())
}

fn serve_tokio_tungstenite(port: u16) -> AnyResult<()> {
    use futures_util::{SinkExt, StreamExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        announce_ready(listener.local_addr()?.port());
        loop {
            let (s, _) = listener.accept().await?;
            let _ = s.set_nodelay(true);
            tokio::task::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), io::Error>(())
    })?;
    Ok(())
}

struct UdpEcho;

impl shardnet::udp::UdpServerListener for UdpEcho {
    fn on_receive(
        &self,
        s: &shardnet::udp::UdpServer,
        conn: shardnet::ConnId,
        data: &[u8],
    ) -> shardnet::HandleResult {
        match s.send(conn, data) {
            Ok(()) => shardnet::HandleResult::Ok,
            Err(_) => shardnet::HandleResult::Error,
        }
    }
    fn on_close(
        &self,
        _: &shardnet::udp::UdpServer,
        _: shardnet::ConnId,
        _: shardnet::SocketOperation,
        _: i32,
    ) -> shardnet::HandleResult {
        shardnet::HandleResult::Ok
    }
}

fn serve_shardnet_udp(
    port: u16,
    arq: Option<shardnet::udp::ArqConfig>,
    gso: bool,
) -> AnyResult<()> {
    let rt = bench_runtime()?;
    let mut b = shardnet::udp::UdpServer::builder().runtime(rt).gso(gso);
    if let Some(cfg) = arq {
        b = b.arq(cfg);
    }
    let server = b.start(&format!("127.0.0.1:{port}"), std::sync::Arc::new(UdpEcho))?;
    announce_ready(server.listen_addr().map(|a| a.port()).unwrap_or(port));
    server.wait()?;
    Ok(())
}

fn serve_tokio_udp(port: u16) -> AnyResult<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let s = tokio::net::UdpSocket::bind(("127.0.0.1", port)).await?;
        announce_ready(s.local_addr()?.port());
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, from) = s.recv_from(&mut buf).await?;
            s.send_to(&buf[..n], from).await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), io::Error>(())
    })?;
    Ok(())
}

/// tokio_kcp's settings in the bench: HP's where tokio_kcp has them (see
/// [`ServerKind::TokioKcp`]).
pub fn tokio_kcp_config() -> tokio_kcp::KcpConfig {
    tokio_kcp::KcpConfig {
        mtu: 1432,
        nodelay: tokio_kcp::KcpNoDelayConfig {
            nodelay: false,
            interval: 60,
            resend: 0,
            nc: false,
        },
        wnd_size: (128, 512),
        session_expire: Duration::from_secs(90),
        flush_write: true,
        flush_acks_input: true,
        stream: false,
        allow_recv_empty_packet: false,
    }
}

fn serve_tokio_kcp(port: u16) -> AnyResult<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut l = tokio_kcp::KcpListener::bind(tokio_kcp_config(), ("127.0.0.1", port))
            .await
            .map_err(io::Error::other)?;
        announce_ready(l.local_addr()?.port());
        loop {
            let (mut stream, _) = l.accept().await.map_err(io::Error::other)?;
            tokio::task::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = stream.recv(&mut buf).await {
                    if n == 0 || stream.send(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), io::Error>(())
    })?;
    Ok(())
}

/// The body both HTTP servers answer.
pub const HELLO: &str = "Hello, World!";

fn serve_hyper(port: u16) -> AnyResult<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        announce_ready(listener.local_addr()?.port());
        loop {
            let (s, _) = listener.accept().await?;
            let _ = s.set_nodelay(true);
            tokio::task::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(HELLO.as_bytes()),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), io::Error>(())
    })?;
    Ok(())
}

fn serve_tokio(port: u16, buf: usize) -> AnyResult<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(tokio_accept_loop(port, buf))?;
    Ok(())
}

async fn tokio_accept_loop(port: u16, buf_len: usize) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    announce_ready(listener.local_addr()?.port());
    loop {
        let (mut s, _) = listener.accept().await?;
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = vec![0u8; buf_len];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
}

fn serve_glommio(port: u16) -> AnyResult<()> {
    let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(SERVER_CPU))
        .name("glommio-echo")
        .io_memory(GLOMMIO_IO_MEMORY)
        .spawn(move || glommio_accept_loop(port))
        .map_err(|e| e.to_string())?;
    handle
        .join()
        .map_err(|e| format!("glommio executor: {e}"))??;
    Ok(())
}

async fn glommio_accept_loop(port: u16) -> io::Result<()> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let listener = glommio::net::TcpListener::bind(("127.0.0.1", port))?;
    announce_ready(listener.local_addr()?.port());
    loop {
        let mut s = listener.accept().await?;
        let _ = s.set_nodelay(true);
        glommio::spawn_local(async move {
            let mut buf = vec![0u8; server_buf()];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
        })
        .detach();
    }
}

/// The floor (see [`ServerKind::Epoll`]): what a C programmer writes first. Edge-triggered, so
/// each ready socket is read until EAGAIN; a short `send` keeps the rest and stops reading that
/// socket until EPOLLOUT (back-pressure, nothing dropped).
fn serve_epoll(port: u16) -> AnyResult<()> {
    use std::os::fd::{AsRawFd, IntoRawFd};
    const LISTENER: u64 = u64::MAX;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    announce_ready(listener.local_addr()?.port());
    // SAFETY: plain syscalls on fds this function owns; buffers outlive the calls.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if ep < 0 {
            return Err(io::Error::last_os_error().into());
        }
        let ctl = |fd: i32, events: i32, token: u64| {
            let mut ev = libc::epoll_event {
                events: (events | libc::EPOLLET) as u32,
                u64: token,
            };
            libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev)
        };
        ctl(listener.as_raw_fd(), libc::EPOLLIN, LISTENER);
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut buf = vec![0u8; 64 << 10];
        // Unsent bytes per fd (empty for nearly every socket, nearly always).
        let mut unsent: Vec<Vec<u8>> = Vec::new();
        loop {
            let n = libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1);
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(io::Error::last_os_error().into());
            }
            for ev in &events[..n as usize] {
                if ev.u64 == LISTENER {
                    while let Ok((s, _)) = listener.accept() {
                        let _ = s.set_nonblocking(true);
                        let _ = s.set_nodelay(true);
                        let fd = s.into_raw_fd();
                        if unsent.len() <= fd as usize {
                            unsent.resize_with(fd as usize + 1, Vec::new);
                        }
                        ctl(
                            fd,
                            libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP,
                            fd as u64,
                        );
                    }
                    continue;
                }
                let fd = ev.u64 as i32;
                let rest = &mut unsent[fd as usize];
                let mut open = true;
                if !rest.is_empty() {
                    let w = libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL);
                    if w > 0 {
                        rest.drain(..w as usize);
                    }
                }
                while open && rest.is_empty() {
                    let r = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
                    if r > 0 {
                        let r = r as usize;
                        let w = libc::send(fd, buf.as_ptr().cast(), r, libc::MSG_NOSIGNAL);
                        let w = if w < 0 { 0 } else { w as usize };
                        if w < r {
                            rest.extend_from_slice(&buf[w..r]);
                        }
                    } else if r == 0
                        || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
                    {
                        open = false;
                    } else {
                        break;
                    }
                }
                if !open {
                    rest.clear();
                    libc::close(fd);
                }
            }
        }
    }
}

/// The `--hold N` child of `idle_memory`: opens `n` connections to 127.0.0.1:`port`, does one
/// checked 64-byte echo round trip on each, prints `HELD <n> <mismatches>`, then holds them
/// until stdin closes.
/// What the holder does on each connection before holding it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// One checked 64-byte echo.
    Echo,
    /// One keep-alive HTTP request (answer: 200 with HELLO).
    Http,
    /// A WebSocket handshake (offering permessage-deflate without context takeover when
    /// `deflate`), then one 64-byte binary message echoed.
    Ws { deflate: bool },
    /// UDP peers (one socket each): one 64-byte datagram echoed; with `arq`, HP's handshake
    /// completed on both sides and one 64-byte message echoed and acknowledged.
    Datagram { arq: bool },
}

fn hold_connections(port: u16, n: usize, mode: Hold) -> AnyResult<()> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    if let Hold::Datagram { arq } = mode {
        return hold_datagram_peers(addr, n, arq);
    }
    let mut conns = Vec::with_capacity(n);
    let mut mismatches = 0u64;
    let mut buf = [0u8; 64];
    // `--http`: one keep-alive request each; the answer is `200` with the body HELLO.
    let answer_end = format!("\r\n\r\n{HELLO}");
    let answer_end = answer_end.as_bytes();
    for i in 0..n {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        match mode {
            Hold::Http => {
                s.write_all(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
                let mut got = Vec::new();
                while !got.ends_with(answer_end) && got.len() < 1024 {
                    let k = s.read(&mut buf)?;
                    if k == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..k]);
                }
                if !got.starts_with(b"HTTP/1.1 200") || !got.ends_with(answer_end) {
                    mismatches += 1;
                }
            }
            Hold::Ws { deflate } => {
                let ext = if deflate {
                    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
                } else {
                    ""
                };
                s.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n").as_bytes())?;
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut b)? == 1 {
                    head.push(b[0]);
                }
                let negotiated = String::from_utf8_lossy(&head).contains("permessage-deflate");
                if !head.starts_with(b"HTTP/1.1 101") || negotiated != deflate {
                    mismatches += 1;
                }
                // One 64-byte binary message, masked with key 0, sent uncompressed; the echo
                // may come back compressed (RSV1): only its arrival is checked then.
                let msg = pattern_at(i, 0, 64);
                let mut frame = vec![0x82, 0x80 | 64, 0, 0, 0, 0];
                frame.extend_from_slice(msg);
                s.write_all(&frame)?;
                let mut hdr = [0u8; 2];
                s.read_exact(&mut hdr)?;
                let len = (hdr[1] & 0x7f) as usize;
                let mut body = vec![0u8; len];
                s.read_exact(&mut body)?;
                if hdr[0] & 0x40 == 0 && body != msg {
                    mismatches += 1;
                }
            }
            Hold::Datagram { .. } => unreachable!("handled above"),
            Hold::Echo => {
                let msg = pattern_at(i, 0, 64);
                s.write_all(msg)?;
                s.read_exact(&mut buf)?;
                if buf[..] != msg[..] {
                    mismatches += 1;
                }
            }
        }
        conns.push(s);
    }
    println!("HELD {n} {mismatches}");
    io::stdout().flush()?;
    let mut sink = [0u8; 64];
    let mut stdin = io::stdin();
    while matches!(stdin.read(&mut sink), Ok(k) if k > 0) {}
    drop(conns);
    Ok(())
}

// ----- the parent's handle on a child -----------------------------------------------------------

/// A child process of this bench binary (a server, or the idle-connection holder). Dropping it
/// closes its stdin (it exits by itself), waits a moment, then kills it.
pub struct ServerChild {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    /// The port announced with `READY`.
    pub port: u16,
    /// What runs in it (for messages).
    pub label: String,
}

impl ServerChild {
    /// Starts `kind` as a child server (optionally under a wrapper such as valgrind) and waits
    /// up to `timeout` for it to listen.
    pub fn spawn(kind: ServerKind, wrapper: &[String], timeout: Duration) -> io::Result<Self> {
        let args = vec![
            "--serve".to_string(),
            kind.name().to_string(),
            "--port".into(),
            "0".into(),
        ];
        let mut c = Self::spawn_self(&args, wrapper, kind.name())?;
        let line = c.wait_line("READY", timeout)?;
        c.port = line
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad READY line {line:?}")))?;
        Ok(c)
    }

    /// Starts this executable with `args` (behind `wrapper`, if any).
    pub fn spawn_self(args: &[String], wrapper: &[String], label: &str) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args);
        Self::spawn_command(cmd, label)
    }

    /// Starts another program that announces `READY <port>` like the built-in servers, and
    /// waits up to `timeout` for it.
    pub fn spawn_program(
        program: &std::path::Path,
        args: &[&str],
        label: &str,
        timeout: Duration,
    ) -> io::Result<Self> {
        let mut cmd = Command::new(program);
        cmd.args(args);
        let mut c = Self::spawn_command(cmd, label)?;
        let line = c.wait_line("READY", timeout)?;
        c.port = line
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad READY line {line:?}")))?;
        Ok(c)
    }

    fn spawn_command(mut cmd: Command, label: &str) -> io::Result<Self> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(ServerChild {
            child,
            stdin,
            lines: rx,
            port: 0,
            label: label.to_string(),
        })
    }

    /// Waits for a stdout line starting with `prefix`; other lines are echoed to stderr.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> io::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return Ok(l),
                Ok(l) => eprintln!("[{}] {l}", self.label),
                Err(_) => {
                    let status = self.child.try_wait()?;
                    return Err(io::Error::other(format!(
                        "{}: no {prefix} line within {timeout:?} (exit status {status:?})",
                        self.label
                    )));
                }
            }
        }
    }

    /// Writes one line to the child's stdin (a command to a child that reads them).
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        let w = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("stdin closed"))?;
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        w.flush()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's CPU time so far (utime + stime), µs.
    pub fn cpu_us(&self) -> u64 {
        proc_cpu_us(self.pid()).unwrap_or(0)
    }

    /// The child's resident set size, bytes.
    pub fn rss(&self) -> u64 {
        proc_rss_bytes(self.pid()).unwrap_or(0)
    }

    /// Closes stdin (the child exits) and waits up to `timeout` for it; kills it after that.
    /// Returns true if it exited by itself.
    ///
    /// A server is also "poked" with a connection every 100 ms meanwhile: under valgrind
    /// (3.19) a glommio executor parked in `io_uring_enter` keeps valgrind's thread lock, so the
    /// thread that saw stdin close cannot run until a network event wakes the executor.
    pub fn finish(&mut self, timeout: Duration) -> bool {
        self.stdin.take();
        let start = Instant::now();
        let mut next_poke = start + Duration::from_millis(50);
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            if self.port != 0 && Instant::now() >= next_poke {
                let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
                let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(100));
                next_poke = Instant::now() + Duration::from_millis(100);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.finish(Duration::from_secs(2));
        }
    }
}

// ----- byte pattern -----------------------------------------------------------------------------

/// Period of the byte pattern (prime, so streams of different connections differ).
pub const PLEN: usize = 8191;

/// The pattern, twice over, so any window of up to `PLEN` bytes is one slice.
fn pattern() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let one: Vec<u8> = (0..PLEN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut two = one.clone();
        two.extend_from_slice(&one);
        two
    })
}

/// `len` (≤ `PLEN`) bytes of connection `conn`'s stream from stream position `pos`.
pub fn pattern_at(conn: usize, pos: u64, len: usize) -> &'static [u8] {
    debug_assert!(len <= PLEN);
    let off = ((pos + conn as u64 * 7919) % PLEN as u64) as usize;
    &pattern()[off..off + len]
}

// ----- the load generator -----------------------------------------------------------------------

struct Conn {
    stream: MioStream,
    /// Bytes written so far.
    sent: u64,
    /// Bytes issued (written or waiting to be written).
    target: u64,
    /// Bytes received (and checked) so far.
    recv: u64,
    /// Issue time of each message not yet fully echoed.
    issued: VecDeque<Instant>,
    /// Messages completed inside the measured window.
    in_window: u64,
    dead: bool,
}

/// Per-message latencies (µs) and what they summarise to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// Median, µs.
    pub p50: f64,
    /// 99th percentile, µs.
    pub p99: f64,
    /// 99.9th percentile, µs.
    pub p999: f64,
    /// Largest, µs.
    pub max: f64,
}

impl Percentiles {
    /// From unsorted samples (sorted in place).
    pub fn of(samples: &mut [u32]) -> Self {
        samples.sort_unstable();
        Percentiles {
            p50: pct(samples, 0.50),
            p99: pct(samples, 0.99),
            p999: pct(samples, 0.999),
            max: samples.last().copied().unwrap_or(0) as f64,
        }
    }
}

/// The `p` quantile of sorted samples.
pub fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64
}

/// What one timed run measured.
#[derive(Debug, Clone, Default)]
pub struct TimedResult {
    /// Messages echoed inside the window.
    pub msgs: u64,
    /// Length of the window, s.
    pub secs: f64,
    /// Server CPU time inside the window, µs (utime + stime).
    pub server_cpu_us: u64,
    /// The user-space part of it (utime), µs.
    pub server_user_us: u64,
    /// Server CPU time inside the window, µs (schedstat).
    pub server_sched_us: u64,
    /// Latencies of the messages completed inside the window.
    pub lat: Percentiles,
    /// Fewest messages one connection completed in the window, over the mean (1 = fair).
    pub fairness: f64,
    /// Connections that completed nothing in the window.
    pub starved: usize,
    /// Messages still unanswered when the drain timed out.
    pub unreturned: u64,
}

impl TimedResult {
    /// Messages per second.
    pub fn msgs_per_s(&self) -> f64 {
        self.msgs as f64 / self.secs.max(1e-9)
    }
    /// Server CPU µs per message (utime + stime).
    pub fn cpu_us_per_msg(&self) -> f64 {
        self.server_cpu_us as f64 / (self.msgs.max(1)) as f64
    }
    /// Share of the server's CPU time spent in user space (the rest is the kernel).
    pub fn user_share(&self) -> f64 {
        self.server_user_us as f64 / (self.server_cpu_us.max(1)) as f64
    }
    /// Server CPU µs per message (schedstat).
    pub fn sched_us_per_msg(&self) -> f64 {
        self.server_sched_us as f64 / (self.msgs.max(1)) as f64
    }
}

/// What one lock-step run (`rounds` rounds, each connection one message per round) measured.
#[derive(Debug, Clone, Default)]
pub struct RoundsResult {
    /// Messages echoed.
    pub msgs: u64,
    /// Bytes sent (= bytes echoed back and checked).
    pub bytes: u64,
    /// From the first send to the last echo, pauses included, s.
    pub secs: f64,
    /// Server CPU time over the run, µs (utime + stime).
    pub server_cpu_us: u64,
    /// Server CPU time over the run, µs (schedstat).
    pub server_sched_us: u64,
    /// Round-trip latencies.
    pub lat: Percentiles,
}

/// The neutral load generator: one thread, mio (epoll, edge-triggered), `n` connections. Every
/// echoed byte is compared with the connection's pattern; mismatches and lost connections are
/// counted (and fail the bench).
pub struct LoadGen {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    size: usize,
    buf: Vec<u8>,
    /// (connection, issue time) of messages completed by the last [`LoadGen::poll_once`].
    completed: Vec<(usize, Instant)>,
    /// Echoed bytes that did not match (counted once per connection, which is then dropped).
    pub mismatches: u64,
    /// Connections closed or failed unexpectedly.
    pub errors: u64,
}

impl LoadGen {
    /// Opens `n` connections to `addr` for `size`-byte messages (`size` ≤ `PLEN`).
    pub fn connect(addr: SocketAddr, n: usize, size: usize) -> io::Result<Self> {
        assert!(size > 0 && size <= PLEN, "message size must be 1..={PLEN}");
        let poll = Poll::new()?;
        let mut conns = Vec::with_capacity(n);
        for i in 0..n {
            let s = connect_retry(addr)?;
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            let mut stream = MioStream::from_std(s);
            poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            conns.push(Conn {
                stream,
                sent: 0,
                target: 0,
                recv: 0,
                issued: VecDeque::new(),
                in_window: 0,
                dead: false,
            });
        }
        Ok(LoadGen {
            poll,
            events: Events::with_capacity(1024),
            conns,
            size,
            buf: vec![0u8; 64 << 10],
            completed: Vec::new(),
            mismatches: 0,
            errors: 0,
        })
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when there are no connections.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Messages issued and not yet fully echoed, over live connections.
    pub fn in_flight(&self) -> u64 {
        self.conns
            .iter()
            .filter(|c| !c.dead)
            .map(|c| c.issued.len() as u64)
            .sum()
    }

    fn issue(&mut self, i: usize, now: Instant) {
        let c = &mut self.conns[i];
        if c.dead {
            return;
        }
        c.target += self.size as u64;
        c.issued.push_back(now);
        self.flush(i);
    }

    fn flush(&mut self, i: usize) {
        let c = &mut self.conns[i];
        while !c.dead && c.sent < c.target {
            let len = ((c.target - c.sent) as usize).min(PLEN);
            match c.stream.write(pattern_at(i, c.sent, len)) {
                Ok(0) => {
                    c.dead = true;
                    self.errors += 1;
                }
                Ok(n) => c.sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.dead = true;
                    self.errors += 1;
                }
            }
        }
    }

    fn read(&mut self, i: usize) {
        let size = self.size as u64;
        let LoadGen {
            conns,
            buf,
            completed,
            mismatches,
            errors,
            ..
        } = self;
        let c = &mut conns[i];
        while !c.dead {
            match c.stream.read(buf) {
                Ok(0) => {
                    c.dead = true;
                    *errors += 1;
                }
                Ok(n) => {
                    if c.recv + n as u64 > c.sent {
                        c.dead = true;
                        *mismatches += 1;
                        break;
                    }
                    let mut at = 0;
                    while at < n {
                        let len = (n - at).min(PLEN);
                        if buf[at..at + len] != *pattern_at(i, c.recv + at as u64, len) {
                            c.dead = true;
                            *mismatches += 1;
                            break;
                        }
                        at += len;
                    }
                    if c.dead {
                        break;
                    }
                    let before = c.recv / size;
                    c.recv += n as u64;
                    for _ in before..c.recv / size {
                        if let Some(t) = c.issued.pop_front() {
                            completed.push((i, t));
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.dead = true;
                    *errors += 1;
                }
            }
        }
    }

    /// Waits up to `timeout` for events, reads and writes; completed messages are left in
    /// `self.completed`. Returns the time the events were handled.
    fn poll_once(&mut self, timeout: Duration) -> io::Result<Instant> {
        self.completed.clear();
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let ready: Vec<(usize, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token().0,
                    e.is_readable() || e.is_read_closed() || e.is_error(),
                    e.is_writable(),
                )
            })
            .collect();
        for (i, r, w) in ready {
            if w {
                self.flush(i);
            }
            if r {
                self.read(i);
            }
        }
        Ok(now)
    }

    /// Keeps `depth` messages in flight per connection: warm-up, then a window of `window` in
    /// which messages, latencies and the server's CPU time (`server_pid`) are counted, then a
    /// drain (no new messages; up to `drain` for the in-flight ones to come back).
    pub fn run_timed(
        &mut self,
        depth: usize,
        warmup: Duration,
        window: Duration,
        drain: Duration,
        server_pid: u32,
    ) -> io::Result<TimedResult> {
        let t0 = Instant::now();
        for i in 0..self.conns.len() {
            for _ in 0..depth {
                self.issue(i, t0);
            }
        }
        let mut lat: Vec<u32> = Vec::with_capacity(1 << 20);
        let (mut wstart, mut wend) = (None::<Instant>, None::<Instant>);
        let (mut cpu0, mut cpu1) = ((0u64, 0u64), (0u64, 0u64));
        let (mut sch0, mut sch1) = (0u64, 0u64);
        let mut msgs = 0u64;
        let tick = Duration::from_millis(5);
        loop {
            let now = self.poll_once(tick)?;
            match (wstart, wend) {
                (None, _) if now >= t0 + warmup => {
                    cpu0 = proc_cpu_split_us(server_pid).unwrap_or_default();
                    sch0 = proc_sched_us(server_pid);
                    wstart = Some(Instant::now());
                }
                (Some(ws), None) if now >= ws + window => {
                    cpu1 = proc_cpu_split_us(server_pid).unwrap_or_default();
                    sch1 = proc_sched_us(server_pid);
                    wend = Some(Instant::now());
                }
                _ => {}
            }
            let in_window = wstart.is_some_and(|ws| now >= ws) && wend.is_none();
            let stopping = wend.is_some();
            let completed = std::mem::take(&mut self.completed);
            for &(i, t) in &completed {
                if in_window {
                    msgs += 1;
                    self.conns[i].in_window += 1;
                    lat.push(now.duration_since(t).as_micros().min(u32::MAX as u128) as u32);
                }
                if !stopping {
                    self.issue(i, now);
                }
            }
            self.completed = completed;
            if let Some(we) = wend {
                if self.in_flight() == 0 || now >= we + drain {
                    break;
                }
            }
        }
        let secs = match (wstart, wend) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        let live: Vec<u64> = self
            .conns
            .iter()
            .filter(|c| !c.dead)
            .map(|c| c.in_window)
            .collect();
        let mean = live.iter().sum::<u64>() as f64 / live.len().max(1) as f64;
        let min = live.iter().copied().min().unwrap_or(0) as f64;
        Ok(TimedResult {
            msgs,
            secs,
            server_cpu_us: (cpu1.0 + cpu1.1).saturating_sub(cpu0.0 + cpu0.1),
            server_user_us: cpu1.0.saturating_sub(cpu0.0),
            server_sched_us: sch1.saturating_sub(sch0),
            lat: Percentiles::of(&mut lat),
            fairness: if mean > 0.0 { min / mean } else { 0.0 },
            starved: live.iter().filter(|&&m| m == 0).count(),
            unreturned: self.in_flight(),
        })
    }

    /// HP-Socket's procedure: `rounds` rounds; in each, every connection sends one message and
    /// the round ends when every echo is back; then a pause of `pause`. Gives up after
    /// `timeout`.
    pub fn run_rounds(
        &mut self,
        rounds: usize,
        pause: Duration,
        timeout: Duration,
        server_pid: u32,
    ) -> io::Result<RoundsResult> {
        let cpu0 = proc_cpu_us(server_pid).unwrap_or(0);
        let sch0 = proc_sched_us(server_pid);
        let t0 = Instant::now();
        let mut lat = Vec::with_capacity(rounds * self.conns.len());
        let mut msgs = 0u64;
        for r in 0..rounds {
            if r > 0 && !pause.is_zero() {
                std::thread::sleep(pause);
            }
            let now = Instant::now();
            for i in 0..self.conns.len() {
                self.issue(i, now);
            }
            while self.in_flight() > 0 {
                if t0.elapsed() > timeout {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("round {r}: {} echoes missing", self.in_flight()),
                    ));
                }
                let now = self.poll_once(Duration::from_millis(50))?;
                for &(_, t) in &self.completed {
                    msgs += 1;
                    lat.push(now.duration_since(t).as_micros().min(u32::MAX as u128) as u32);
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = proc_cpu_us(server_pid).unwrap_or(0);
        let sch1 = proc_sched_us(server_pid);
        Ok(RoundsResult {
            msgs,
            bytes: msgs * self.size as u64,
            secs,
            server_cpu_us: cpu1.saturating_sub(cpu0),
            server_sched_us: sch1.saturating_sub(sch0),
            lat: Percentiles::of(&mut lat),
        })
    }
}

/// Connects, retrying briefly when the listen queue overflows.
fn connect_retry(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut last = None;
    for _ in 0..50 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => return Ok(s),
            Err(e) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("connect failed")))
}

// ----- statistics and output --------------------------------------------------------------------

/// Median of `v` (0 for none).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// `target/bench-results` (under `CARGO_TARGET_DIR` if set), created.
pub fn results_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("bench-results");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Writes `rows` (first row = header) as `target/bench-results/<name>.csv`; returns the path.
/// A CSV table holding just its header row (rows are pushed after it).
pub fn csv_table(header: &[&str]) -> Vec<Vec<String>> {
    vec![header.iter().map(|s| s.to_string()).collect()]
}

pub fn write_csv(name: &str, rows: &[Vec<String>]) -> PathBuf {
    let path = results_dir().join(format!("{name}.csv"));
    let text: String = rows
        .iter()
        .map(|r| {
            let mut l = r
                .iter()
                .map(|f| {
                    if f.contains(',') || f.contains('"') {
                        format!("\"{}\"", f.replace('"', "\"\""))
                    } else {
                        f.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            l.push('\n');
            l
        })
        .collect();
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("cannot write {}: {e}", path.display());
    }
    path
}

/// Formats a `RESULT k=v …` line.
pub fn result_line(fields: &[(&str, String)]) -> String {
    let mut s = String::from("RESULT");
    for (k, v) in fields {
        s.push(' ');
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

/// A short description of the machine for the report header.
pub fn machine_line() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // Counted from /proc/cpuinfo: the affinity mask of this (pinned) process shows one.
    let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cpus} CPUs ({model}); servers on CPU {SERVER_CPU}, load generator on CPU {CLIENT_CPU}"
    )
}

/// How busy the rest of the machine was during a bench: CPU time used by processes other
/// than this bench and its (waited-for) children, from `/proc/stat` and `/proc/self/stat`.
/// The machines here are shared and noisy; this puts a number on it.
pub struct NoiseMeter {
    t0: Instant,
    busy0: u64,
    own0: u64,
}

fn system_busy_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …: everything but idle and iowait.
    f.iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum()
}

fn own_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = &s[s.rfind(')').map(|i| i + 2).unwrap_or(0)..];
    // utime, stime, cutime, cstime (fields 14-17).
    rest.split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

impl NoiseMeter {
    /// Starts measuring.
    pub fn start() -> Self {
        NoiseMeter {
            t0: Instant::now(),
            busy0: system_busy_ticks(),
            own0: own_ticks(),
        }
    }

    /// Average number of CPUs kept busy by other processes since `start`.
    pub fn foreign_cpus(&self) -> f64 {
        let busy = system_busy_ticks().saturating_sub(self.busy0);
        let own = own_ticks().saturating_sub(self.own0);
        let secs = self.t0.elapsed().as_secs_f64().max(1e-3);
        busy.saturating_sub(own) as f64 / clock_ticks() as f64 / secs
    }

    /// A report line.
    pub fn line(&self) -> String {
        let f = self.foreign_cpus();
        format!(
            "noise: other processes kept {f:.2} CPUs busy on average during this bench{}",
            if f > 0.2 {
                " — a busy machine: the figures above are unreliable, run again when quiet"
            } else {
                " (quiet)"
            }
        )
    }
}

/// Opens a WebSocket connection to `127.0.0.1:port` (no extensions offered): the upgrade
/// request, then the `101` head read byte by byte so no frame is consumed with it.
pub fn ws_upgrade(port: u16) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        head.push(b[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other(format!(
            "upgrade refused: {}",
            String::from_utf8_lossy(&head)
        )));
    }
    Ok(s)
}

/// A bar chart of `bars` (label, value; shown in thousands) titled `caption`; shardnet's bars
/// blue, the others red.
pub fn bar_chart(
    path: &std::path::Path,
    caption: &str,
    bars: &[(String, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max) / 1000.0;
    let mut c = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..bars.len(), 0.0..max * 1.15)?;
    c.configure_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&|i| bars.get(*i).map(|b| b.0.clone()).unwrap_or_default())
        .draw()?;
    c.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let color = if b.0.contains("shardnet") { BLUE } else { RED };
        Rectangle::new([(i, 0.0), (i + 1, b.1 / 1000.0)], color.mix(0.7).filled())
    }))?;
    root.present()?;
    Ok(())
}

/// `--hold N --udp|--arq`: N UDP peers, 500 at a time driven until their exchange is done
/// (ARQ: both handshakes complete, the echo received and acknowledged, nothing left to send),
/// then all held silent until stdin closes.
fn hold_datagram_peers(addr: SocketAddr, n: usize, arq: bool) -> AnyResult<()> {
    use shardnet::layers::protocols::arq::{ArqConfig, ArqSession};
    use std::net::UdpSocket;
    let start = Instant::now();
    let clock = || start.elapsed().as_millis() as u32;
    let mut held: Vec<UdpSocket> = Vec::with_capacity(n);
    let mut mismatches = 0u64;
    let mut scratch = Vec::new();
    let mut buf = [0u8; 2048];
    let mut next = 0;
    while next < n {
        let batch: Vec<usize> = (next..n.min(next + 500)).collect();
        next += batch.len();
        struct P {
            sock: UdpSocket,
            session: Option<ArqSession>,
            msg: &'static [u8],
            sent: bool,
            echoed: bool,
        }
        let mut ps = Vec::with_capacity(batch.len());
        for &i in &batch {
            let sock = UdpSocket::bind("127.0.0.1:0")?;
            sock.connect(addr)?;
            sock.set_nonblocking(true)?;
            let msg = pattern_at(i, 0, 64);
            let mut p = P {
                sock,
                session: arq.then(|| {
                    ArqSession::new(ArqConfig::default(), 0x4000_0000 + i as u32, clock())
                }),
                msg,
                sent: false,
                echoed: false,
            };
            let mut out: Vec<Vec<u8>> = Vec::new();
            match &mut p.session {
                Some(s) => s.tick(clock(), &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))?,
                None => {
                    out.push(msg.to_vec());
                    p.sent = true;
                }
            }
            for d in out {
                p.sock.send(&d)?;
            }
            ps.push(p);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut busy = false;
            for p in ps.iter_mut() {
                let mut out: Vec<Vec<u8>> = Vec::new();
                while let Ok(k) = p.sock.recv(&mut buf) {
                    busy = true;
                    match &mut p.session {
                        Some(s) => {
                            let mut got = Vec::new();
                            s.on_datagram(
                                clock(),
                                &buf[..k],
                                &mut scratch,
                                &mut |d: &[u8]| out.push(d.to_vec()),
                                &mut |m: &[u8]| {
                                    got.push(m.to_vec());
                                    true
                                },
                            )?;
                            for m in got {
                                p.echoed = true;
                                if m != p.msg {
                                    mismatches += 1;
                                }
                            }
                        }
                        None => {
                            p.echoed = true;
                            if &buf[..k] != p.msg {
                                mismatches += 1;
                            }
                        }
                    }
                }
                if let Some(s) = &mut p.session {
                    if s.is_ready() && !p.sent {
                        s.send(clock(), p.msg, &mut scratch, &mut |d: &[u8]| {
                            out.push(d.to_vec())
                        })?;
                        p.sent = true;
                    }
                    let t = clock();
                    if s.next_deadline(t)
                        .is_some_and(|d| d.wrapping_sub(t) as i32 <= 0)
                    {
                        s.tick(t, &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))?;
                    }
                }
                for d in out {
                    p.sock.send(&d)?;
                }
            }
            let done = ps.iter().all(|p| {
                p.echoed
                    && p.session
                        .as_ref()
                        .is_none_or(|s| s.next_deadline(clock()).is_none())
            });
            if done {
                break;
            }
            if Instant::now() > deadline {
                mismatches += ps.iter().filter(|p| !p.echoed).count() as u64;
                break;
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // The server hears our last acknowledgements and handshake packets before we go quiet.
        std::thread::sleep(Duration::from_millis(150));
        held.extend(ps.into_iter().map(|p| p.sock));
    }
    println!("HELD {n} {mismatches}");
    io::stdout().flush()?;
    let mut sink = [0u8; 64];
    let mut stdin = io::stdin();
    while matches!(stdin.read(&mut sink), Ok(k) if k > 0) {}
    drop(held);
    Ok(())
}

/// The end of a bench run: the CSV and a bar chart (`name`.csv / .svg in the results
/// directory), the elapsed time, the noise line and the `RESULT` lines; exits 1 if any run
/// failed.
#[allow(clippy::too_many_arguments)]
pub fn finish_bench(
    name: &str,
    caption: &str,
    csv: &[Vec<String>],
    bars: &[(String, f64)],
    lines: &[String],
    started: Instant,
    noise: &NoiseMeter,
    failed: usize,
) {
    let csv_path = write_csv(name, csv);
    let svg = results_dir().join(format!("{name}.svg"));
    match bar_chart(&svg, caption, bars) {
        Ok(()) => println!("wrote {} and {}", csv_path.display(), svg.display()),
        Err(e) => eprintln!("chart failed: {e}"),
    }
    println!(
        "elapsed {:.0} s; failed runs {failed}",
        started.elapsed().as_secs_f64()
    );
    println!("{}", noise.line());
    for l in lines {
        println!("{l}");
    }
    if failed > 0 {
        std::process::exit(1);
    }
}

// ----- wrk (HTTP load) and C programs on libhpsocket4c ------------------------------------------

/// Whether `wrk` and `taskset` run here; prints the SKIP line a bench then exits 0 with.
pub fn have_wrk() -> bool {
    for tool in ["wrk", "taskset"] {
        if Command::new(tool).arg("--version").output().is_err() {
            println!("SKIP: {tool} not found (apt-get install -y wrk util-linux)");
            return false;
        }
    }
    true
}

/// The one-shard runtime every server under test runs on, pinned to [`SERVER_CPU`].
fn bench_runtime() -> AnyResult<shardnet::Runtime> {
    Ok(shardnet::Runtime::builder()
        .shards(1)
        .cpus([SERVER_CPU])
        .build()?)
}

/// `12.34us`, `1.20ms`, `2.00s` → µs.
fn parse_duration_us(s: &str) -> Option<f64> {
    let (num, mul) = if let Some(v) = s.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|n| n * mul)
}

/// A wrk script sending `depth` GET / per write (pipelined), written to the results folder.
pub fn wrk_pipeline_script(depth: usize) -> PathBuf {
    let path = results_dir().join(format!("pipeline{depth}.lua"));
    std::fs::write(
        &path,
        format!("init = function(args)\n  local r = {{}}\n  for i = 1, {depth} do r[i] = wrk.format(nil, \"/\") end\n  req = table.concat(r)\nend\nrequest = function() return req end\n"),
    )
    .expect("write the wrk script");
    path
}

/// `wrk -t1 -c conns` on [`CLIENT_CPU`] against `http://127.0.0.1:port/` for `secs`
/// (`depth` > 1: pipelined with `script`): requests/s, p50 and p99 in µs. Any non-2xx answer
/// or socket error is an error.
pub fn wrk(
    port: u16,
    conns: usize,
    depth: usize,
    secs: f64,
    script: &std::path::Path,
) -> Result<(f64, f64, f64), String> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &CLIENT_CPU.to_string(), "wrk", "-t1"])
        .args(["-c", &conns.to_string()])
        .args(["-d", &format!("{secs}s"), "--latency"]);
    if depth > 1 {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(format!("http://127.0.0.1:{port}/"));
    let out = cmd.output().map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("wrk failed: {text}"));
    }
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk saw errors:\n{text}"));
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    let rps: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Requests/sec in {text}"))?;
    let p = |q: &str| field(q).and_then(|v| parse_duration_us(&v)).unwrap_or(0.0);
    Ok((rps, p("50%"), p("99%")))
}

/// The folder of this build's libhpsocket4c.so: beside the bench binary (target/release/deps)
/// or above it (`shardnet-capi` is a dev-dependency, so cargo builds it with the benches).
fn capi_lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    let deps = exe.parent().expect("dir").to_path_buf();
    if deps.join("libhpsocket4c.so").exists() {
        deps
    } else {
        deps.parent().expect("dir").to_path_buf()
    }
}

/// Compiles the C program `src` (relative to the workspace) with the system `cc -O2` against
/// `capi/include` and this build's libhpsocket4c.so (found at run time through an rpath) into
/// the results folder as `name`.
pub fn build_c_on_capi(src: &str, name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lib = capi_lib_dir();
    let out = results_dir().join(name);
    let st = Command::new("cc")
        .args(["-O2", "-std=c11", "-Wall", "-Werror", "-I"])
        .arg(root.join("capi/include"))
        .arg(root.join(src))
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{}", lib.display()))
        .arg("-lhpsocket4c")
        .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", lib.display()))
        .status()
        .expect("cc runs");
    assert!(
        st.success(),
        "building {src} failed (lib dir {})",
        lib.display()
    );
    out
}
