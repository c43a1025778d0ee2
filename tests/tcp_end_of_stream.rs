//! End-of-stream that arrives in the same epoll edge as data.
//!
//! A peer that writes and then shuts down its side (HTTP/1.0 clients, `nc -N`, batch uploaders,
//! a server that answers and closes) delivers data and FIN together: epoll reports one edge, a
//! short read takes the data, and no further edge will ever announce the FIN. The driver must
//! read on until `recv` reports the end, then close (`on_close(Close, 0)`), on every receive
//! model, over TLS, on the Agent and Client shapes, and over IPv6. Before the fix the socket sat
//! in CLOSE-WAIT for good and `on_close` never came.

mod support;
mod tls_support;

use shardnet::pack::{encode_header, PackConfig};
use shardnet::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

fn models() -> Vec<(&'static str, ReceiveModel)> {
    vec![
        ("push", ReceiveModel::Push),
        ("pack", ReceiveModel::Pack(PackConfig::default())),
        ("pull", ReceiveModel::Pull),
    ]
}

/// What the peer writes for a 64-byte payload in `model` (Pack frames it).
fn wire(model: ReceiveModel, payload: &[u8]) -> Vec<u8> {
    match model {
        ReceiveModel::Pack(p) => {
            let mut v = encode_header(p.flag, payload.len() as u32).to_vec();
            v.extend_from_slice(payload);
            v
        }
        _ => payload.to_vec(),
    }
}

/// Writes `data`, shuts down the write side at once, and returns everything read until the
/// server's end-of-stream (panics if it does not come within 5 s).
fn send_then_fin(s: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    s.write_all(data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut back = Vec::new();
    match s.read_to_end(&mut back) {
        Ok(_) => back,
        Err(e) => panic!(
            "no end-of-stream from the server after {} bytes: {e}",
            back.len()
        ),
    }
}

fn start_server(model: ReceiveModel, addr: &str) -> (TcpServer, Arc<ModelEcho>) {
    let echo = Arc::new(ModelEcho::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .receive_model(model)
        .start(addr, echo.clone())
        .unwrap();
    (server, echo)
}

/// Twenty connections per model: each sends 64 B and FIN in one go; the echo comes back, then
/// the server's FIN, and `on_close(Close, 0)` runs once per connection.
#[test]
fn data_with_fin_closes_in_every_model() {
    for (name, model) in models() {
        let (server, echo) = start_server(model, "127.0.0.1:0");
        let addr = server.listen_addr().unwrap();
        let payload = pattern(64, 7);
        let frame = wire(model, &payload);
        for i in 0..20 {
            let mut s = TcpStream::connect(addr).unwrap();
            let back = send_then_fin(&mut s, &frame);
            assert_eq!(back, frame, "{name} #{i}: echo then end-of-stream");
        }
        assert!(
            wait_until(5, || echo.closes.lock().unwrap().len() == 20),
            "{name}: {} closes of 20",
            echo.closes.lock().unwrap().len()
        );
        for (c, op, e) in echo.closes.lock().unwrap().iter() {
            assert_eq!((*op, *e), (SocketOperation::Close, 0), "{name}: {c}");
        }
        assert_eq!(server.connection_count(), 0, "{name}: nothing left open");
        server.stop();
        server.wait().unwrap();
    }
}

/// The same over IPv6 loopback.
#[test]
fn data_with_fin_closes_over_ipv6() {
    let Ok(probe) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    drop(probe);
    let (server, echo) = start_server(ReceiveModel::Push, "[::1]:0");
    let addr = server.listen_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    assert_eq!(send_then_fin(&mut s, b"over six"), b"over six");
    assert!(wait_until(5, || echo.closes.lock().unwrap().len() == 1));
    assert_eq!(
        echo.closes.lock().unwrap()[0].1,
        SocketOperation::Close,
        "normal close"
    );
    server.stop();
    server.wait().unwrap();
}

/// TLS: a rustls client sends a record and then a bare TCP FIN (no close_notify) in one go; the
/// server answers, reads on to the FIN and closes (sending close_notify, so the client sees a
/// clean TLS end).
#[test]
fn data_with_fin_closes_over_tls() {
    use shardnet::tls::{rustls, ServerTlsConfig};
    use tls_support::Ca;
    let ca = Ca::new("eof CA");
    let leaf = ca.server(&["localhost"]);
    let cfg = ServerTlsConfig::builder()
        .identity(leaf.identity())
        .build()
        .unwrap();
    let echo = Arc::new(ModelEcho::default());
    let server = TcpServer::builder()
        .runtime(rt(1))
        .tls(cfg)
        .start("127.0.0.1:0", echo.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let ccfg = tls_support::rustls_client_config(&ca);
    for i in 0..10 {
        let mut tls =
            rustls::ClientConnection::new(ccfg.clone(), "localhost".try_into().unwrap()).unwrap();
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while tls.is_handshaking() {
            tls.complete_io(&mut sock).unwrap();
        }
        tls.writer().write_all(&pattern(64, i)).unwrap();
        while tls.wants_write() {
            tls.write_tls(&mut sock).unwrap();
        }
        sock.shutdown(Shutdown::Write).unwrap();
        let mut stream = rustls::Stream::new(&mut tls, &mut sock);
        let mut back = Vec::new();
        stream
            .read_to_end(&mut back)
            .expect("echo, then close_notify and FIN from the server");
        assert_eq!(back, pattern(64, i));
    }
    assert!(wait_until(5, || echo.closes.lock().unwrap().len() == 10));
    assert!(echo
        .closes
        .lock()
        .unwrap()
        .iter()
        .all(|c| (c.1, c.2) == (SocketOperation::Close, 0)));
    server.stop();
    server.wait().unwrap();
}

/// Agent events: what arrived and how each connection closed.
#[derive(Default)]
struct AgentRec {
    data: Mutex<Vec<u8>>,
    closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
}

impl AgentListener for AgentRec {
    fn on_receive(&self, _: &TcpAgent, _: ConnId, d: &[u8]) -> HandleResult {
        self.data.lock().unwrap().extend_from_slice(d);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpAgent, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((c, op, e));
        HandleResult::Ok
    }
}

/// A peer that accepts, writes `payload` and closes, `n` times.
fn answering_peer(n: usize, payload: Vec<u8>) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(&payload).unwrap();
            drop(s);
        }
    });
    (addr, h)
}

/// Agent side: a server that writes 64 B and closes is seen closing at once, not at `stop()`.
#[test]
fn agent_sees_the_peer_close_after_its_data() {
    let (addr, peer) = answering_peer(10, pattern(64, 3));
    let rec = Arc::new(AgentRec::default());
    let agent = TcpAgent::builder()
        .runtime(rt(2))
        .start(rec.clone())
        .unwrap();
    for _ in 0..10 {
        agent.connect("127.0.0.1", addr.port()).unwrap();
    }
    assert!(
        wait_until(5, || rec.closes.lock().unwrap().len() == 10),
        "{} closes of 10 before stop()",
        rec.closes.lock().unwrap().len()
    );
    assert!(rec
        .closes
        .lock()
        .unwrap()
        .iter()
        .all(|c| (c.1, c.2) == (SocketOperation::Close, 0)));
    assert_eq!(rec.data.lock().unwrap().len(), 640);
    peer.join().unwrap();
    agent.stop();
    agent.wait().unwrap();
}

#[derive(Default)]
struct ClientRec {
    data: Mutex<Vec<u8>>,
    closes: Mutex<Vec<(SocketOperation, i32)>>,
}

impl ClientListener for ClientRec {
    fn on_receive(&self, _: &TcpClient, d: &[u8]) -> HandleResult {
        self.data.lock().unwrap().extend_from_slice(d);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpClient, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((op, e));
        HandleResult::Ok
    }
}

/// Client side, Pull model: the same peer; the bytes are buffered and the close follows.
#[test]
fn client_sees_the_peer_close_after_its_data() {
    let (addr, peer) = answering_peer(1, pattern(64, 4));
    let rec = Arc::new(ClientRec::default());
    let client = TcpClient::builder()
        .pull()
        .start("127.0.0.1", addr.port(), false, ArcClient(rec.clone()))
        .unwrap();
    assert!(wait_until(5, || rec.closes.lock().unwrap().len() == 1));
    assert_eq!(
        rec.closes.lock().unwrap()[0],
        (SocketOperation::Close, 0),
        "normal close"
    );
    peer.join().unwrap();
    client.stop();
    client.wait().unwrap();
}

/// `TcpClient::start` takes the listener by value.
struct ArcClient(Arc<ClientRec>);

impl ClientListener for ArcClient {
    fn on_receive(&self, c: &TcpClient, d: &[u8]) -> HandleResult {
        self.0.on_receive(c, d)
    }
    fn on_pull_receive(&self, c: &TcpClient, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        if c.fetch(&mut buf) != FetchResult::Ok {
            return HandleResult::Error;
        }
        self.0.on_receive(c, &buf)
    }
    fn on_close(&self, c: &TcpClient, op: SocketOperation, e: i32) -> HandleResult {
        self.0.on_close(c, op, e)
    }
}
