//! A Pack echo server: every `on_receive` is one whole message (HP-Socket's Pack framing, a
//! 4-byte little-endian header `(flag << 22) | len`), echoed back as one message.
//!
//! Run: `cargo run --example pack_echo_server`, then drive it with
//! `cargo run --release -- bench --target 127.0.0.1:5556 --model pack --pack-flag 0x169`.

use shardnet::pack::PackConfig;
use shardnet::*;
use std::sync::Arc;

struct PackEcho;

impl ServerListener for PackEcho {
    fn on_receive(&self, s: &TcpServer, c: ConnId, message: &[u8]) -> HandleResult {
        // `send` frames the reply with the same flag.
        match s.send(c, message) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, errno: i32) -> HandleResult {
        if errno == shardnet::pack::ERRNO_BAD_FLAG || errno == shardnet::pack::ERRNO_TOO_LONG {
            println!("{c}: bad pack header ({op:?}, errno {errno})");
        }
        HandleResult::Ok
    }
}

fn main() -> Result<()> {
    let server = TcpServer::builder()
        .pack(PackConfig::new(0x169, 0x4_0000))
        .start("127.0.0.1:5556", Arc::new(PackEcho))?;
    println!(
        "pack echo server on {:?}; stops after 60 s",
        server.listen_addr()
    );
    let _ = server.wait_timeout(std::time::Duration::from_secs(60))?;
    server.stop();
    server.wait()
}
