//! `ws_broadcast`: one message to every member of a 2,000-connection WebSocket room, sent by an
//! application thread either with `WebSocketServer::broadcast` (the frame built once, one inbox
//! command for the shard) or with a loop of `send_binary` (a frame and an inbox command per
//! connection). The server (one shard, CPU 0) runs in a child process that takes `go` lines on
//! stdin; the parent (CPU 1, mio, one thread) holds the connections, sends the next `go` when
//! every connection has received the previous message, and checks every byte of every frame.
//! Cells: 64 B and 1 KiB binary messages; modes alternate over the rounds; medians reported.
//! Server CPU = utime + stime of the child over the timed window, per delivery. Deliveries/s
//! is bounded by the one reading thread (2,000 reads per message), so the CPU column is the
//! one that compares the two paths.
//!
//! Environment: `SHARDNET_BENCH_ROUNDS` (default 3), `SHARDNET_BROADCAST_MSGS` (default 300).
//! Output: a table, the ratio broadcast / loop, `RESULT` lines,
//! `target/bench-results/ws_broadcast.csv` and `ws_broadcast.svg`.

mod common;

use common::*;
use std::sync::{Arc, Mutex};

const CONNS: usize = 2000;
const MODES: [&str; 2] = ["broadcast", "loop"];

/// The room: every open connection.
struct Room(Mutex<Vec<shardnet::ConnId>>);

impl shardnet::ws::WebSocketListener for Room {
    fn on_open(
        &self,
        _: &shardnet::ws::WebSocketServer,
        conn: shardnet::ConnId,
    ) -> shardnet::HandleResult {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        shardnet::HandleResult::Ok
    }
    fn on_message(
        &self,
        _: &shardnet::ws::WebSocketServer,
        _: shardnet::ConnId,
        _: shardnet::ws::Message<'_>,
    ) -> shardnet::HandleResult {
        shardnet::HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &shardnet::ws::WebSocketServer,
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
        .shards(1)
        .cpus([SERVER_CPU])
        .build()?;
    let room = Arc::new(Room(Mutex::new(Vec::new())));
    let server = shardnet::ws::WebSocketServer::builder()
        .runtime(rt)
        .http(|h| h.tcp(|t| t.max_connections(100_000)))
        .start("127.0.0.1:0", room.clone())?;
    println!(
        "READY {}",
        server.listen_addr().map(|a| a.port()).unwrap_or(0)
    );
    fanout::serve_commands(
        || room.0.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        |mode, members, data| {
            Ok(match mode {
                "broadcast" => server.broadcast(members, shardnet::ws::Message::Binary(data)),
                _ => members
                    .iter()
                    .filter(|&&c| server.send_binary(c, data).is_ok())
                    .count(),
            })
        },
    )
}

/// A server frame around `data` (binary, unmasked).
fn frame(data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x82];
    if data.len() < 126 {
        f.push(data.len() as u8);
    } else {
        f.push(126);
        f.extend_from_slice(&(data.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(data);
    f
}

fn main() {
    if std::env::args().any(|a| a == "--broadcast-serve") {
        if let Err(e) = serve() {
            eprintln!("broadcast server failed: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    fanout::run_fanout(&fanout::Fanout {
        name: "ws_broadcast",
        serve_flag: "--broadcast-serve",
        modes: MODES,
        conns: CONNS,
        msgs: env_f64("SHARDNET_BROADCAST_MSGS").map_or(300, |v| v as usize),
        sizes: &[64, 1024],
        caption:
            "WebSocket room of 2,000: thousand deliveries per server CPU second (higher is better)",
        connect: ws_upgrade,
        frame,
    });
}
