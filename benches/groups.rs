//! `groups`: one 64-byte message to every member of a 10,000-connection group on a two-shard
//! `TcpServer`, sent by an application thread either with `send_group` (one job per shard
//! carrying the bytes once; each shard queues them for its own members) or with a loop of
//! `send` (one inbox post per member). The server runs in a child process that takes `go`
//! lines on stdin; the parent (mio, one thread) holds the connections, sends the next `go` when
//! every member has received the previous message, and checks every byte. Modes alternate over
//! the rounds; medians reported. Server CPU = utime + stime of the child over the timed window,
//! per delivery. Target (issue 14): group ≥ 3× the loop's deliveries per server CPU second.
//!
//! Environment: `SHARDNET_BENCH_ROUNDS` (default 3), `SHARDNET_GROUP_MSGS` (default 100),
//! `SHARDNET_GROUP_n_conns` (default 10,000). Output: a table, `RESULT` lines,
//! `target/bench-results/groups.csv` and `groups.svg`.

mod common;

use common::*;
use std::sync::{Arc, Mutex};

const MODES: [&str; 2] = ["group", "loop"];

fn conns() -> usize {
    env_f64("SHARDNET_GROUP_n_conns").map_or(10_000, |v| v as usize)
}

/// Every open connection.
struct Members(Mutex<Vec<shardnet::ConnId>>);

impl shardnet::ServerListener for Members {
    fn on_handshake(
        &self,
        _: &shardnet::TcpServer,
        conn: shardnet::ConnId,
    ) -> shardnet::HandleResult {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        shardnet::HandleResult::Ok
    }
    fn on_receive(
        &self,
        _: &shardnet::TcpServer,
        _: shardnet::ConnId,
        _: &[u8],
    ) -> shardnet::HandleResult {
        shardnet::HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &shardnet::TcpServer,
        conn: shardnet::ConnId,
        _: shardnet::SocketOperation,
        _: i32,
    ) -> shardnet::HandleResult {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|&c| c != conn);
        shardnet::HandleResult::Ok
    }
}

/// The child: the server, and the application thread reading `go MODE SEQ SIZE N` lines.
fn serve() -> Result<(), Box<dyn std::error::Error>> {
    raise_limits();
    pin_to_cpu(SERVER_CPU);
    let rt = shardnet::Runtime::builder()
        .shards(2)
        .cpus([0, 1])
        .build()?;
    let room = Arc::new(Members(Mutex::new(Vec::new())));
    let server = shardnet::TcpServer::builder()
        .runtime(rt)
        .max_connections(100_000)
        .start("127.0.0.1:0", room.clone())?;
    println!(
        "READY {}",
        server.listen_addr().map(|a| a.port()).unwrap_or(0)
    );
    let mut joined = false;
    fanout::serve_commands(
        || room.0.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        |mode, members, data| {
            let n = members.len();
            Ok(match mode {
                "group" => {
                    if !joined {
                        for &c in members {
                            server.join(1, c)?;
                        }
                        joined = true;
                    }
                    server.send_group(1, data, None)?;
                    n
                }
                _ => members
                    .iter()
                    .filter(|&&c| server.send(c, data).is_ok())
                    .count(),
            })
        },
    )
}

fn main() {
    if std::env::args().any(|a| a == "--group-serve") {
        if let Err(e) = serve() {
            eprintln!("group server failed: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    fanout::run_fanout(&fanout::Fanout {
        name: "groups",
        serve_flag: "--group-serve",
        modes: MODES,
        conns: conns(),
        msgs: env_f64("SHARDNET_GROUP_MSGS").map_or(100, |v| v as usize),
        sizes: &[64],
        caption: "Group of 10,000 over 2 shards: thousand deliveries per server CPU second (higher is better)",
        connect: |port| std::net::TcpStream::connect(("127.0.0.1", port)),
        frame: |data| data.to_vec(),
    });
}
