//! `shardnet udp-echo`: a UdpServer (or, with `--arq`, HP's reliable UDP) echoing every
//! datagram or message, with a stats line per second.

use shardnet::udp::{ArqConfig, UdpServer, UdpServerListener};
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `udp-echo`.
pub struct UdpEchoOpts {
    pub listen: Option<String>,
    pub arq: bool,
    pub shards: Option<usize>,
    pub duration: Option<f64>,
    /// `--metrics ADDR`: Prometheus metrics at http://ADDR/metrics.
    pub metrics: Option<String>,
}

#[derive(Default)]
struct Echo {
    msgs: AtomicU64,
    bytes: AtomicU64,
    opened: AtomicU64,
    closed: AtomicU64,
}

impl UdpServerListener for Echo {
    fn on_accept(&self, _: &UdpServer, _: ConnId, _: std::net::SocketAddr) -> HandleResult {
        self.opened.fetch_add(1, Ordering::Relaxed);
        HandleResult::Ok
    }
    fn on_receive(&self, s: &UdpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        self.msgs.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        match s.send(conn, data) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &UdpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        self.closed.fetch_add(1, Ordering::Relaxed);
        HandleResult::Ok
    }
}

pub fn run(o: UdpEchoOpts, stop: &AtomicBool) -> Result<i32, Box<dyn std::error::Error>> {
    let listen = o.listen.unwrap_or_else(|| "127.0.0.1:5556".into());
    let mut b = UdpServer::builder().max_connections(1_000_000);
    if let Some(n) = o.shards {
        b = b.shards(n);
    }
    if o.arq {
        b = b.arq(ArqConfig::default());
    }
    let l = Arc::new(Echo::default());
    let server = b.start(&listen, l.clone())?;
    let metrics = crate::serve_metrics(o.metrics.as_deref(), "udp-echo", server.clone())?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "shardnet udp-echo listening on {}{} (Ctrl-C stops)",
        server.listen_addr().expect("bound"),
        if o.arq {
            " (ARQ: HP handshake + KCP)"
        } else {
            ""
        }
    );
    let _ = out.flush();
    let start = Instant::now();
    let (mut last_m, mut last_b, mut last_t) = (0u64, 0u64, Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let done = stop.load(Ordering::SeqCst)
            || o.duration
                .is_some_and(|d| start.elapsed().as_secs_f64() >= d);
        if last_t.elapsed() >= Duration::from_secs(1) || done {
            let (m, by) = (
                l.msgs.load(Ordering::Relaxed),
                l.bytes.load(Ordering::Relaxed),
            );
            let dt = last_t.elapsed().as_secs_f64();
            let line = format!(
                "[{:>5.0}s] conns {} (opened {}, closed {}) | {:.0} {}/s | {:.2} MB/s in",
                start.elapsed().as_secs_f64(),
                server.connection_count(),
                l.opened.load(Ordering::Relaxed),
                l.closed.load(Ordering::Relaxed),
                (m - last_m) as f64 / dt,
                if o.arq { "msgs" } else { "datagrams" },
                (by - last_b) as f64 / dt / 1e6
            );
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                break;
            }
            (last_m, last_b, last_t) = (m, by, Instant::now());
        }
        if done {
            break;
        }
    }
    server.stop();
    server.wait()?;
    if let Some(m) = metrics {
        m.stop();
        let _ = m.wait();
    }
    let _ = writeln!(out, "stopped");
    Ok(0)
}
