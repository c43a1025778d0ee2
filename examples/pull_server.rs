//! A Pull server for a length-prefixed protocol: each request is a 4-byte big-endian length and
//! that many bytes; the reply has the same framing with the body upper-cased.
//!
//! The Pull model suits this: `on_pull_receive` only says how many bytes are buffered. The
//! listener `peek`s the 4-byte length, and `fetch`es a request only once all of it is there;
//! a partial request simply stays buffered until the next call. No copy of partial data is
//! kept by the application.
//!
//! Run: `cargo run --example pull_server [ADDR]` (default 127.0.0.1:5557), then e.g.
//! `printf '\0\0\0\5hello' | nc -q1 127.0.0.1 5557 | xxd`.

use shardnet::*;
use std::cell::RefCell;

/// Largest request body accepted; a longer length closes the connection.
pub const MAX_REQUEST: usize = 64 << 10;

/// One instance per shard (built on the shard's thread), so its scratch buffer needs no lock.
#[derive(Default)]
pub struct LengthPrefixed {
    body: RefCell<Vec<u8>>,
}

impl ServerListener for LengthPrefixed {
    fn on_receive(&self, _: &TcpServer, _: ConnId, _: &[u8]) -> HandleResult {
        HandleResult::Error // not called under the Pull model
    }

    fn on_pull_receive(&self, s: &TcpServer, c: ConnId, mut total: usize) -> HandleResult {
        let mut body = self.body.borrow_mut();
        loop {
            let mut head = [0u8; 4];
            if s.peek(c, &mut head) != FetchResult::Ok {
                return HandleResult::Ok; // fewer than 4 bytes: wait for more
            }
            let len = u32::from_be_bytes(head) as usize;
            if len > MAX_REQUEST {
                return HandleResult::Error; // on_close(Receive, ECANCELED)
            }
            if total < 4 + len {
                return HandleResult::Ok; // the request is not complete yet
            }
            body.resize(4 + len, 0);
            if s.fetch(c, &mut body) != FetchResult::Ok {
                return HandleResult::Error;
            }
            total -= 4 + len;
            body[4..].make_ascii_uppercase();
            if s.send(c, &body).is_err() {
                return HandleResult::Error;
            }
        }
    }

    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, errno: i32) -> HandleResult {
        if errno != 0 {
            eprintln!("{c} closed: {op:?} errno {errno}");
        }
        HandleResult::Ok
    }
}

/// Starts the server on `addr` in the Pull model.
pub fn start(addr: &str) -> Result<TcpServer> {
    TcpServer::builder()
        .pull()
        .start_with(addr, |_| LengthPrefixed::default())
}

#[allow(dead_code)] // the integration test includes this file as a module
fn main() -> Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5557".into());
    let server = start(&addr)?;
    println!(
        "length-prefixed pull server on {:?}; stops after 60 s",
        server.listen_addr()
    );
    let _ = server.wait_timeout(std::time::Duration::from_secs(60))?;
    server.stop();
    server.wait()
}
