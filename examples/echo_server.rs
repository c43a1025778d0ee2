//! HP-Socket's life cycle with a TcpServer: listener → component → start → (events) → stop.
//!
//! Run: `cargo run --example echo_server` then `nc 127.0.0.1 5555`.

use shardnet::*;
use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

// 1. The listener. One instance per shard (built on the shard's thread), so shard-local state
//    such as this counter needs no lock.
struct Echo {
    shard: ShardId,
    served: Cell<u64>,
}

impl ServerListener for Echo {
    fn on_prepare_listen(&self, _: &TcpServer, _: BorrowedFd<'_>, a: SocketAddr) -> HandleResult {
        println!("[{}] listening on {a}", self.shard);
        HandleResult::Ok
    }
    fn on_accept(
        &self,
        _: &TcpServer,
        c: ConnId,
        peer: SocketAddr,
        _: BorrowedFd<'_>,
    ) -> HandleResult {
        println!("[{}] accept {c} from {peer}", self.shard);
        HandleResult::Ok
    }
    fn on_handshake(&self, s: &TcpServer, c: ConnId) -> HandleResult {
        let _ = s.send(c, b"welcome to shardnet echo\n");
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, data: &[u8]) -> HandleResult {
        self.served.set(self.served.get() + 1);
        if s.send(c, data).is_ok() {
            HandleResult::Ok
        } else {
            HandleResult::Error
        }
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, errno: i32) -> HandleResult {
        println!("[{}] close {c}: {op:?} errno {errno}", self.shard);
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpServer) -> HandleResult {
        println!(
            "[{}] shutdown after {} messages",
            self.shard,
            self.served.get()
        );
        HandleResult::Ok
    }
}

fn main() -> Result<()> {
    // 2-3. The component, bound to the listener factory, started on 0.0.0.0:5555.
    let server = TcpServer::builder().start_with("0.0.0.0:5555", |shard| Echo {
        shard,
        served: Cell::new(0),
    })?;
    println!(
        "echo server on {:?}; stops after 60 s",
        server.listen_addr()
    );
    // 5. Events arrive on the shards. Here the main thread just waits.
    let _ = server.wait_timeout(std::time::Duration::from_secs(60))?;
    // 6. Stop: on_close for every connection, then on_shutdown once. 7-8: dropped at scope end.
    server.stop();
    server.wait()
}
