//! Metrics in the Prometheus text exposition format (version 0.0.4), served by shardnet's own
//! [`HttpServer`](crate::http::HttpServer) on a separate address.
//!
//! The counters already live where they cost nothing on the data path: each shard writes its
//! own [`ShardStats`](shardnet_shard::ShardStats) cells (relaxed atomics no other core
//! writes), so a scrape only reads them — no registry of metric objects to update per
//! message. A [`Metrics`] collects *sources* (a component and a name); a scrape renders one
//! sample per (component, shard) with the labels `component` and `shard`.
//!
//! Why no `prometheus-client`: its registry keeps metric objects that the data path would have
//! to update beside the shard cells (a second write per event), and rendering the text format
//! from snapshots is a few lines. Its parser checks what we print: `tests/metrics_scrape.rs`
//! reads a scrape with Python's `prometheus_client` text parser.

use crate::http::{HttpServer, Request, Response};
use shardnet_shard::StatsSnapshot;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

type Source = Box<dyn Fn() -> Vec<StatsSnapshot> + Send + Sync>;

/// The components whose per-shard counters a scrape reports. Cheap to clone; any thread.
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
    /// `component="name"`.
    pub fn add(&self, name: &str, stats: impl Fn() -> Vec<StatsSnapshot> + Send + Sync + 'static) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.to_string(), Box::new(stats)));
    }

    /// The text exposition of every source now.
    pub fn render(&self) -> String {
        let sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let snaps: Vec<(String, Vec<StatsSnapshot>)> =
            sources.iter().map(|(n, f)| (label(n), f())).collect();
        drop(sources);
        let mut out = String::with_capacity(4096);
        for d in DEFS {
            let _ = writeln!(out, "# HELP {} {}", d.name, d.help);
            let _ = writeln!(out, "# TYPE {} {}", d.name, d.kind);
            for (name, shards) in &snaps {
                for (i, s) in shards.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{}{{component=\"{name}\",shard=\"{i}\"}} {}",
                        d.name,
                        (d.get)(s)
                    );
                }
            }
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
