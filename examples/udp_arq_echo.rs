//! HP-Socket's reliable UDP (ARQ: the 12-byte handshake, then KCP) echo server on
//! 127.0.0.1:5557 — the README's UDP example. Try it with
//! `cargo run --release -- bench --udp --arq --target 127.0.0.1:5557`.

use shardnet::udp::*;
use shardnet::*;
use std::sync::Arc;

struct Echo;
impl UdpServerListener for Echo {
    fn on_receive(&self, s: &UdpServer, c: ConnId, data: &[u8]) -> HandleResult {
        let _ = s.send(c, data); // leaves with the shard's next sendmmsg
        HandleResult::Ok
    }
    fn on_close(&self, _: &UdpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

fn main() -> shardnet::Result<()> {
    let server = UdpServer::builder()
        .arq(ArqConfig::default()) // remove for plain UDP
        .start("127.0.0.1:5557", Arc::new(Echo))?;
    println!("ARQ echo on {:?}", server.listen_addr());
    server.wait()
}
