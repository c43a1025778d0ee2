//! A WebSocket chat room across shardnet nodes, joined through NATS — one node of it.
//!
//! Run a NATS server, three nodes and haproxy in front of them (the README's cluster recipe):
//!
//! ```text
//! nats-server -a 127.0.0.1 -p 4222 &
//! cargo run --release --example chat_cluster -- --node 1 --listen 127.0.0.1:9101 &
//! cargo run --release --example chat_cluster -- --node 2 --listen 127.0.0.1:9102 &
//! cargo run --release --example chat_cluster -- --node 3 --listen 127.0.0.1:9103 &
//! haproxy -f chat.cfg   # tcp mode, :9100 → the three nodes
//! ```
//!
//! Every WebSocket connection (any path) is told its cluster-wide id first: `id <id>`. Then it
//! sends text commands, each answered (except `say`, which the sender does not hear back):
//!
//! - `to <id> <text>` — `<id>` gets `from <your id> <text>`, wherever it is; you get `ok`, or
//!   `err <reason>` when its node is down or the id is from before that node restarted.
//! - `join <room>` — you get `joined <room>`; `say <room> <text>` — every other member, on
//!   every node, gets `room <room> <your id> <text>`.
//! - `nodes` — `nodes <n>,<n>,…`: the nodes this one hears.
//!
//! `--metrics ADDR` serves the node's counters (WebSocket, HTTP, closes, cluster) in the
//! Prometheus text format at `http://ADDR/metrics`.

use shardnet::cluster::{Cluster, ClusterConfig, NodeConnId};
use shardnet::ws::{Message, WebSocketListener, WebSocketServer};
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::sync::{Arc, OnceLock};

struct Chat {
    cluster: OnceLock<Cluster>,
}

impl Chat {
    fn command(&self, cluster: &Cluster, me: NodeConnId, line: &str) -> Option<String> {
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        Some(match cmd {
            "to" => {
                let (to, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let Ok(to) = to.parse::<NodeConnId>() else {
                    return Some(format!("err bad id {to}"));
                };
                let msg = format!("from {me} {text}");
                match cluster.send(to, Message::Text(&msg)) {
                    Ok(()) => "ok".into(),
                    Err(e) => format!("err {e}"),
                }
            }
            "join" => match rest.parse::<u64>() {
                Ok(room) => match cluster.join(room, me) {
                    Ok(()) => format!("joined {room}"),
                    Err(e) => format!("err {e}"),
                },
                Err(_) => "err room is a number".into(),
            },
            "say" => {
                let (room, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let Ok(room) = room.parse::<u64>() else {
                    return Some("err room is a number".into());
                };
                let msg = format!("room {room} {me} {text}");
                return match cluster.send_group(room, Message::Text(&msg), Some(me)) {
                    Ok(()) => None,
                    Err(e) => Some(format!("err {e}")),
                };
            }
            "nodes" => {
                let n: Vec<String> = cluster.live_nodes().iter().map(|n| n.to_string()).collect();
                format!("nodes {}", n.join(","))
            }
            _ => format!("err unknown command {cmd}"),
        })
    }
}

impl WebSocketListener for Chat {
    fn on_open(&self, ws: &WebSocketServer, conn: ConnId) -> HandleResult {
        match self.cluster.get() {
            Some(c) => {
                let _ = ws.send_text(conn, &format!("id {}", c.id(conn)));
                HandleResult::Ok
            }
            None => HandleResult::Error, // not in the cluster yet
        }
    }
    fn on_message(&self, ws: &WebSocketServer, conn: ConnId, msg: Message<'_>) -> HandleResult {
        let (Some(cluster), Message::Text(line)) = (self.cluster.get(), msg) else {
            return HandleResult::Ok;
        };
        if let Some(answer) = self.command(cluster, cluster.id(conn), line) {
            let _ = ws.send_text(conn, &answer);
        }
        HandleResult::Ok
    }
    fn on_close(&self, _: &WebSocketServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut node, mut listen, mut nats) = (
        1u16,
        "127.0.0.1:9101".to_string(),
        "nats://127.0.0.1:4222".to_string(),
    );
    let mut metrics = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--node" => node = v.parse()?,
            "--listen" => listen = v,
            "--nats" => nats = v,
            "--metrics" => metrics = Some(v),
            _ => {
                return Err(format!(
                    "unknown option {a} (--node N --listen ADDR --nats URL --metrics ADDR)"
                )
                .into())
            }
        }
    }
    let chat = Arc::new(Chat {
        cluster: OnceLock::new(),
    });
    let server = WebSocketServer::builder().start(&listen, chat.clone())?;
    let cluster = Cluster::start(ClusterConfig::new(nats, node), Arc::new(server.clone()))?;
    let _ = chat.cluster.set(cluster.clone());
    // Prometheus text at http://ADDR/metrics: the server's counters and the cluster's.
    let _metrics = match metrics {
        Some(addr) => {
            let m = shardnet::metrics::Metrics::new();
            m.add_source("chat", server.clone());
            m.add_source("cluster", cluster.clone());
            Some(m.serve(&addr)?)
        }
        None => None,
    };
    println!(
        "chat node {node} on ws://{listen}/ (epoch {:08x})",
        cluster.epoch()
    );
    server.wait()?;
    cluster.stop();
    Ok(())
}
