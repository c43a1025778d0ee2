//! A TcpAgent connected to three hosts (HP-Socket's C agent example): start, connect, handle
//! events, stop. Starts three local echo servers so it runs anywhere.
//!
//! Run: `cargo run --example agent`

use shardnet::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Echo;
impl ServerListener for Echo {
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        let _ = s.send(c, d);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

// 1. The agent's listener: shared by all shards, so it is Send + Sync.
#[derive(Default)]
struct Client {
    replies: AtomicUsize,
}

impl AgentListener for Client {
    fn on_connect(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
        println!(
            "connected {c} to {:?} (shard {})",
            a.remote_addr(c),
            c.shard()
        );
        HandleResult::Ok
    }
    fn on_handshake(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
        let _ = a.send(c, format!("hello from {c}").as_bytes());
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpAgent, c: ConnId, data: &[u8]) -> HandleResult {
        println!("{c} got {:?}", String::from_utf8_lossy(data));
        self.replies.fetch_add(1, Ordering::SeqCst);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpAgent, c: ConnId, op: SocketOperation, errno: i32) -> HandleResult {
        println!("closed {c}: {op:?} errno {errno}");
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpAgent) -> HandleResult {
        println!("agent shut down");
        HandleResult::Ok
    }
}

fn main() -> Result<()> {
    // One runtime shared by the three servers and the agent (a gateway's usual shape).
    let rt = Runtime::builder().build()?;
    let servers: Vec<TcpServer> = (0..3)
        .map(|_| {
            TcpServer::builder()
                .runtime(rt.clone())
                .start("127.0.0.1:0", Arc::new(Echo))
        })
        .collect::<Result<_>>()?;
    // 2-3. The agent, started.
    let listener = Arc::new(Client::default());
    let agent = TcpAgent::builder().runtime(rt).start(listener.clone())?;
    // 4. Connect to three hosts.
    for s in &servers {
        let a = s.listen_addr().expect("listening");
        agent.connect(&a.ip().to_string(), a.port())?;
    }
    // 5. Events arrive on the shards; wait for the three replies.
    let t = std::time::Instant::now();
    while listener.replies.load(Ordering::SeqCst) < 3 && t.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // 6. Stop.
    agent.stop();
    agent.wait()?;
    for s in servers {
        s.stop();
        s.wait()?;
    }
    Ok(())
}
