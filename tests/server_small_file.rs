//! send_small_file: head + mapped file + tail arrive byte-exact (push), as one message (pack);
//! files over 4 MiB and missing files are refused with a clear error.

mod support;
use shardnet::pack::PackConfig;
use shardnet::*;
use std::io::Read;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

struct Sink(Mutex<Vec<ConnId>>);
impl ServerListener for Sink {
    fn on_handshake(&self, _: &TcpServer, c: ConnId) -> HandleResult {
        self.0.lock().unwrap().push(c);
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpServer, _: ConnId, _: &[u8]) -> HandleResult {
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

fn temp_file(name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("shardnet-{}-{name}", std::process::id()));
    std::fs::write(&p, data).unwrap();
    p
}

fn start(pack: bool) -> (TcpServer, Arc<Sink>, TcpStream) {
    let sink = Arc::new(Sink(Mutex::new(Vec::new())));
    let mut b = TcpServer::builder().runtime(rt(2));
    if pack {
        b = b.pack(PackConfig::new(0x2A, 0x3F_FFFF));
    }
    let server = b.start("127.0.0.1:0", sink.clone()).unwrap();
    let c = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(wait_until(5, || sink.0.lock().unwrap().len() == 1));
    (server, sink, c)
}

#[test]
fn push_file_with_head_and_tail() {
    let (server, sink, mut c) = start(false);
    let conn = sink.0.lock().unwrap()[0];
    let body = pattern(3 << 20, 5);
    let path = temp_file("push", &body);
    server
        .send_small_file(conn, &path, b"HEAD", b"TAIL")
        .unwrap();
    let mut got = vec![0u8; 4 + body.len() + 4];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got[..4], b"HEAD");
    assert!(got[4..4 + body.len()] == body[..]);
    assert_eq!(&got[4 + body.len()..], b"TAIL");
    // Empty file: head and tail only.
    let empty = temp_file("empty", b"");
    server.send_small_file(conn, &empty, b"H", b"T").unwrap();
    let mut two = [0u8; 2];
    c.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"HT");
    // Too large, and missing.
    let big = temp_file("big", &vec![0u8; (4 << 20) + 1]);
    assert!(matches!(
        server.send_small_file(conn, &big, b"", b""),
        Err(Error::InvalidParam(_))
    ));
    assert!(matches!(
        server.send_small_file(conn, "/nonexistent/shardnet", b"", b""),
        Err(Error::Io(_))
    ));
    for p in [path, empty, big] {
        std::fs::remove_file(p).unwrap();
    }
    server.stop();
    server.wait().unwrap();
}

#[test]
fn pack_file_is_one_message() {
    let (server, sink, mut c) = start(true);
    let conn = sink.0.lock().unwrap()[0];
    let body = pattern(1 << 20, 6);
    let path = temp_file("pack", &body);
    server.send_small_file(conn, &path, b"<<", b">>").unwrap();
    let mut h = [0u8; 4];
    c.read_exact(&mut h).unwrap();
    let (flag, len) = shardnet::pack::decode_header(h);
    assert_eq!((flag, len as usize), (0x2A, body.len() + 4));
    let mut msg = vec![0u8; len as usize];
    c.read_exact(&mut msg).unwrap();
    assert_eq!(&msg[..2], b"<<");
    assert!(msg[2..2 + body.len()] == body[..]);
    assert_eq!(&msg[2 + body.len()..], b">>");
    std::fs::remove_file(path).unwrap();
    server.stop();
    server.wait().unwrap();
}
