//! A TcpClient (one connection on its own thread) talking to a local echo server.
//!
//! Run: `cargo run --example client`

use shardnet::*;
use std::sync::{Arc, Mutex};

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

struct Printer(Arc<Mutex<Vec<u8>>>);
impl ClientListener for Printer {
    fn on_connect(&self, c: &TcpClient) -> HandleResult {
        println!("connected to {:?}", c.remote_addr());
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpClient, data: &[u8]) -> HandleResult {
        self.0.lock().unwrap().extend_from_slice(data);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpClient, op: SocketOperation, errno: i32) -> HandleResult {
        println!("closed: {op:?} errno {errno}");
        HandleResult::Ok
    }
}

fn main() -> Result<()> {
    let server = TcpServer::builder()
        .shards(1)
        .start("127.0.0.1:0", Arc::new(Echo))?;
    let addr = server.listen_addr().expect("listening");
    let got = Arc::new(Mutex::new(Vec::new()));
    // Synchronous start: returns once connected (or with the connect error).
    let client =
        TcpClient::builder().start("127.0.0.1", addr.port(), false, Printer(got.clone()))?;
    client.send(b"ping from TcpClient")?;
    let t = std::time::Instant::now();
    while got.lock().unwrap().len() < 19 && t.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    println!(
        "echoed: {:?}",
        String::from_utf8_lossy(&got.lock().unwrap())
    );
    client.stop();
    client.wait()?;
    server.stop();
    server.wait()
}
