//! The driver's cork: inside one receive callback the first send is written at once and later
//! ones leave together when the callback returns. Every byte still arrives, in order, also
//! when the callback then fails the connection.

mod support;

use shardnet::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// Answers each read with 16 numbered replies; a read starting with `!` is answered, then the
/// callback returns Error.
struct Many;
impl ServerListener for Many {
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        for i in 0..16 {
            if s.send(c, format!("<{i:02}>").as_bytes()).is_err() {
                return HandleResult::Error;
            }
        }
        if d.starts_with(b"!") {
            HandleResult::Error
        } else {
            HandleResult::Ok
        }
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

fn expected() -> Vec<u8> {
    (0..16)
        .flat_map(|i| format!("<{i:02}>").into_bytes())
        .collect()
}

#[test]
fn replies_of_one_callback_arrive_in_order() {
    let server = TcpServer::builder()
        .runtime(rt(1))
        .start("127.0.0.1:0", Arc::new(Many))
        .unwrap();
    let mut s = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    for _ in 0..50 {
        s.write_all(b"go").unwrap();
        assert_eq!(read_n(&mut s, 64, 10), expected());
    }
    server.stop();
    server.wait().unwrap();
}

#[test]
fn replies_queued_by_the_cork_survive_a_failing_callback() {
    let server = TcpServer::builder()
        .runtime(rt(1))
        .start("127.0.0.1:0", Arc::new(Many))
        .unwrap();
    let mut s = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    s.write_all(b"!").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert_eq!(got, expected(), "every reply, then the close");
    server.stop();
    server.wait().unwrap();
}
