//! Metrics in the Prometheus text exposition format (version 0.0.4), served by shardnet's own
//! [`HttpServer`](crate::http::HttpServer) on a separate address.
//!
//! The counters already live where they cost nothing on the data path: each shard writes its
//! own [`ShardStats`](shardnet_shard::ShardStats) cells and its rows of the layers' event
//! counters ([`ShardCounters`](shardnet_shard::ShardCounters): closes by reason, TLS
//! handshakes, HTTP statuses, WebSocket and UDP/ARQ events), relaxed atomics on lines no other
//! core writes, so a scrape only reads them — no registry of metric objects to update per
//! message. A [`Metrics`] collects *sources* (a component and a name, anything implementing
//! [`MetricSource`]: every server handle, a `Cluster`); a scrape renders their [`Sample`]s
//! with the labels `component` and, where per shard, `shard`.
//!
//! Why no `prometheus-client`: its registry keeps metric objects that the data path would have
//! to update beside the shard cells (a second write per event), and rendering the text format
//! from snapshots is a few lines. Its parser checks what we print: `tests/metrics_scrape.rs`
//! reads a scrape with Python's `prometheus_client` text parser.

use crate::http::{HttpServer, Request, Response};
use shardnet_shard::StatsSnapshot;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// One sample of one metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Metric name (`shardnet_…`).
    pub name: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// The shard it was counted on, if per shard.
    pub shard: Option<usize>,
    /// Further labels.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: u64,
}

impl Sample {
    /// A per-shard sample.
    pub fn new(
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        shard: usize,
        labels: &[(&'static str, &str)],
        value: u64,
    ) -> Sample {
        Sample {
            name,
            kind,
            help,
            shard: Some(shard),
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value,
        }
    }

    /// A sample of the whole component (no `shard` label).
    pub fn total(name: &'static str, kind: &'static str, help: &'static str, value: u64) -> Sample {
        Sample {
            name,
            kind,
            help,
            shard: None,
            labels: Vec::new(),
            value,
        }
    }
}

/// Something a scrape reads: a component's counters as samples.
pub trait MetricSource: Send + Sync + 'static {
    /// Appends this source's samples now.
    fn samples(&self, out: &mut Vec<Sample>);
}

impl<T: MetricSource + ?Sized> MetricSource for Box<T> {
    fn samples(&self, out: &mut Vec<Sample>) {
        (**self).samples(out)
    }
}

/// The traffic counters of [`StatsSnapshot`]s, one per shard, as samples.
pub fn traffic_samples(shards: &[StatsSnapshot], out: &mut Vec<Sample>) {
    for d in DEFS {
        for (i, s) in shards.iter().enumerate() {
            out.push(Sample::new(d.name, d.kind, d.help, i, &[], (d.get)(s)));
        }
    }
}

struct SnapshotSource<F>(F);

impl<F: Fn() -> Vec<StatsSnapshot> + Send + Sync + 'static> MetricSource for SnapshotSource<F> {
    fn samples(&self, out: &mut Vec<Sample>) {
        traffic_samples(&(self.0)(), out)
    }
}

type Source = Box<dyn MetricSource>;

/// The components whose counters a scrape reports. Cheap to clone; any thread.
#[derive(Clone, Default)]
pub struct Metrics {
    sources: Arc<Mutex<Vec<(String, Source)>>>,
}

/// One metric: name, type, help, and how to read it from a snapshot.
struct Def {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    get: fn(&StatsSnapshot) -> u64,
}

const DEFS: &[Def] = &[
    Def {
        name: "shardnet_connections",
        kind: "gauge",
        help: "Connections open.",
        get: |s| s.connections,
    },
    Def {
        name: "shardnet_connections_accepted_total",
        kind: "counter",
        help: "Connections accepted.",
        get: |s| s.accepted,
    },
    Def {
        name: "shardnet_connections_refused_total",
        kind: "counter",
        help: "Connections refused at the connection limit.",
        get: |s| s.rejected_over_limit,
    },
    Def {
        name: "shardnet_connections_closed_total",
        kind: "counter",
        help: "Connections closed.",
        get: |s| s.closed,
    },
    Def {
        name: "shardnet_messages_received_total",
        kind: "counter",
        help: "Deliveries to on_receive.",
        get: |s| s.msgs_in,
    },
    Def {
        name: "shardnet_received_bytes_total",
        kind: "counter",
        help: "Bytes received.",
        get: |s| s.bytes_in,
    },
    Def {
        name: "shardnet_sent_bytes_total",
        kind: "counter",
        help: "Bytes written to sockets.",
        get: |s| s.bytes_out,
    },
    Def {
        name: "shardnet_send_refused_total",
        kind: "counter",
        help: "Sends refused with QueueFull.",
        get: |s| s.send_refused,
    },
    Def {
        name: "shardnet_send_queue_bytes",
        kind: "gauge",
        help: "Bytes accepted by send and not yet written (with a per-shard budget).",
        get: |s| s.queued_bytes,
    },
    Def {
        name: "shardnet_send_buffers",
        kind: "gauge",
        help: "Pool buffers held by send queues.",
        get: |s| s.send_buffers,
    },
    Def {
        name: "shardnet_partial_messages",
        kind: "gauge",
        help: "Connections holding a partial Pack message.",
        get: |s| s.partial_messages,
    },
    Def {
        name: "shardnet_inbox_wakeups_total",
        kind: "counter",
        help: "Cross-thread posts that woke a parked shard driver.",
        get: |s| s.inbox_wakeups,
    },
    Def {
        name: "shardnet_accept_errors_total",
        kind: "counter",
        help: "accept calls that failed for want of resources.",
        get: |s| s.accept_errors,
    },
];

/// Escapes a label value (backslash, double quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// An empty set of sources.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Reports `stats()` (one snapshot per shard, e.g. `server.shard_stats()`) under the label
    /// `component="name"`: the traffic counters only ([`Self::add_source`] reports all a
    /// component counts).
    pub fn add(&self, name: &str, stats: impl Fn() -> Vec<StatsSnapshot> + Send + Sync + 'static) {
        self.add_source(name, SnapshotSource(stats));
    }

    /// Reports everything `source` counts (a server handle: traffic, closes by reason, TLS,
    /// and its layer's own counters) under the label `component="name"`.
    pub fn add_source(&self, name: &str, source: impl MetricSource) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.to_string(), Box::new(source)));
    }

    /// The text exposition of every source now: each metric's samples together under one
    /// `# HELP` / `# TYPE`, metrics in the order first seen.
    pub fn render(&self) -> String {
        let mut families: Vec<(&'static str, &'static str, &'static str, String)> = Vec::new();
        let sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let mut samples = Vec::new();
        for (name, src) in sources.iter() {
            samples.clear();
            src.samples(&mut samples);
            let component = label(name);
            for s in &samples {
                let i = match families.iter().position(|f| f.0 == s.name) {
                    Some(i) => i,
                    None => {
                        families.push((s.name, s.kind, s.help, String::new()));
                        families.len() - 1
                    }
                };
                let lines = &mut families[i].3;
                let _ = write!(lines, "{}{{component=\"{component}\"", s.name);
                if let Some(shard) = s.shard {
                    let _ = write!(lines, ",shard=\"{shard}\"");
                }
                for (k, v) in &s.labels {
                    let _ = write!(lines, ",{k}=\"{}\"", label(v));
                }
                let _ = writeln!(lines, "}} {}", s.value);
            }
        }
        drop(sources);
        let mut out = String::with_capacity(4096);
        for (name, kind, help, lines) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            out.push_str(&lines);
        }
        out
    }

    /// Serves `GET /metrics` on `addr` with its own one-shard HTTP server (other paths: 404).
    pub fn serve(&self, addr: &str) -> crate::Result<HttpServer> {
        let m = self.clone();
        HttpServer::builder()
            .shards(1)
            .serve(addr, move |req: &Request| {
                if req.method() != "GET" || req.target().split('?').next() != Some("/metrics") {
                    return Response::new(404, "only GET /metrics here\n");
                }
                Response::new(200, m.render())
                    .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            })
    }
}

/// Traffic, closes by reason, TLS handshakes and group fan-out of a TCP-family component.
fn tcp_samples(core: &crate::core::Core, out: &mut Vec<Sample>) {
    traffic_samples(&core.shard_stats(), out);
    for (i, l) in core.links.iter().enumerate() {
        out.push(Sample::new(
            "shardnet_inbox_depth",
            "gauge",
            "Commands waiting in the shard's inbox (cross-thread sends and jobs).",
            i,
            &[],
            l.inbox.len() as u64,
        ));
    }
    core.events.samples(core.cfg.tls.is_some(), out);
    let g = core.groups.snapshot();
    out.push(Sample::total(
        "shardnet_group_deliveries_total",
        "counter",
        "send_group messages handed to members.",
        g.delivered,
    ));
    out.push(Sample::total(
        "shardnet_group_skipped_total",
        "counter",
        "send_group members skipped (over their send bound, or closing).",
        g.skipped,
    ));
}

const HTTP_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn http_samples(core: &crate::core::Core, out: &mut Vec<Sample>) {
    use crate::tcp::event_counts::layer;
    for s in 0..core.layer.shards() {
        let row = core.layer.row(s);
        for (i, class) in HTTP_CLASSES.iter().enumerate() {
            out.push(Sample::new(
                "shardnet_http_responses_total",
                "counter",
                "HTTP responses sent, by status class.",
                s,
                &[("class", class)],
                row[layer::HTTP_1XX + i],
            ));
        }
    }
}

fn ws_samples(core: &crate::core::Core, out: &mut Vec<Sample>) {
    use crate::tcp::event_counts::layer;
    const WS: [(&str, &str, usize); 6] = [
        (
            "shardnet_ws_messages_received_total",
            "WebSocket messages delivered to on_message.",
            layer::WS_MESSAGES_IN,
        ),
        (
            "shardnet_ws_messages_sent_total",
            "WebSocket data frames sent.",
            layer::WS_MESSAGES_OUT,
        ),
        (
            "shardnet_ws_pings_received_total",
            "WebSocket pings received (each answered).",
            layer::WS_PINGS_IN,
        ),
        (
            "shardnet_ws_close_frames_received_total",
            "WebSocket close frames received.",
            layer::WS_CLOSES_IN,
        ),
        (
            "shardnet_ws_close_frames_sent_total",
            "WebSocket close frames sent.",
            layer::WS_CLOSES_OUT,
        ),
        (
            "shardnet_ws_protocol_errors_total",
            "WebSocket connections failed for a protocol violation of the peer.",
            layer::WS_PROTOCOL_ERRORS,
        ),
    ];
    for s in 0..core.layer.shards() {
        let row = core.layer.row(s);
        for (name, help, i) in WS {
            out.push(Sample::new(name, "counter", help, s, &[], row[i]));
        }
    }
}

impl MetricSource for crate::TcpServer {
    fn samples(&self, out: &mut Vec<Sample>) {
        tcp_samples(&self.core, out);
    }
}

impl MetricSource for crate::TcpAgent {
    fn samples(&self, out: &mut Vec<Sample>) {
        tcp_samples(&self.core, out);
    }
}

impl MetricSource for HttpServer {
    fn samples(&self, out: &mut Vec<Sample>) {
        tcp_samples(&self.tcp.core, out);
        http_samples(&self.tcp.core, out);
    }
}

impl MetricSource for crate::ws::WebSocketServer {
    fn samples(&self, out: &mut Vec<Sample>) {
        let core = &self.http.tcp.core;
        tcp_samples(core, out);
        http_samples(core, out);
        ws_samples(core, out);
    }
}

impl MetricSource for crate::udp::UdpServer {
    fn samples(&self, out: &mut Vec<Sample>) {
        use crate::udp::core::counter as c;
        let core = &self.core;
        const UDP: [(&str, &str, usize); 12] = [
            (
                "shardnet_udp_datagrams_received_total",
                "Datagrams received.",
                c::DATAGRAMS_IN,
            ),
            (
                "shardnet_received_bytes_total",
                "Bytes received.",
                c::BYTES_IN,
            ),
            (
                "shardnet_udp_datagrams_sent_total",
                "Datagrams queued for sending.",
                c::DATAGRAMS_OUT,
            ),
            (
                "shardnet_sent_bytes_total",
                "Bytes queued for sending.",
                c::BYTES_OUT,
            ),
            (
                "shardnet_connections_accepted_total",
                "Connections accepted.",
                c::ACCEPTED,
            ),
            (
                "shardnet_connections_refused_total",
                "Connections refused at the connection limit.",
                c::REFUSED,
            ),
            (
                "shardnet_udp_heartbeats_total",
                "Heartbeats answered.",
                c::HEARTBEATS,
            ),
            (
                "shardnet_udp_oversize_total",
                "Datagrams over max_datagram (the connection closed).",
                c::OVERSIZE,
            ),
            (
                "shardnet_udp_gso_datagrams_total",
                "Datagrams sent inside UDP GSO sends of two or more.",
                c::GSO_DATAGRAMS,
            ),
            (
                "shardnet_arq_handshakes_total",
                "ARQ handshakes completed.",
                c::ARQ_HANDSHAKES,
            ),
            (
                "shardnet_arq_retransmits_total",
                "KCP segments sent again.",
                c::ARQ_RETRANSMITS,
            ),
            (
                "shardnet_arq_sessions_replaced_total",
                "ARQ sessions ended by a fresh handshake from their address (the peer restarted).",
                c::ARQ_REPLACED,
            ),
        ];
        let arq = core.cfg.arq.is_some();
        for s in 0..core.counters.shards() {
            let row = core.counters.row(s);
            let open = core.links[s]
                .peers
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .len();
            out.push(Sample::new(
                "shardnet_connections",
                "gauge",
                "Connections open.",
                s,
                &[],
                open as u64,
            ));
            for (name, help, i) in UDP {
                if !arq && name.starts_with("shardnet_arq") {
                    continue;
                }
                out.push(Sample::new(name, "counter", help, s, &[], row[i]));
            }
        }
        core.closes.samples(false, out);
    }
}
