//! Reliable UDP (HP's UdpArqServer / UdpArqClient): our components against the reference C KCP
//! (`ikcp.c` through PyPI `kcp`) running HP's handshake (`protocols/tests/peers/hp_arq_peer.py`)
//! at 0 % and 10 % loss, our client against our server, and the handshake's wire format, timeout
//! and bad input seen from a raw socket.

use shardnet::udp::{ArqConfig, UdpClient, UdpClientListener, UdpServer, UdpServerListener};
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PEER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/protocols/tests/peers/hp_arq_peer.py"
);

/// Message `i` of the python peer's sequence.
fn msg(i: usize) -> Vec<u8> {
    let n = (i * 131) % 4096 + 1;
    (0..n).map(|j| ((i + j) & 0xFF) as u8).collect()
}

fn python_has_kcp() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import kcp"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("SHARDNET_REQUIRE_PEERS").is_none(),
            "python3 with the kcp module is required (pip install kcp)"
        );
        eprintln!("SKIP: python3 -c 'import kcp' failed");
    }
    ok
}

struct Peer(Child);
impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct ServerLog {
    handshakes: Mutex<Vec<ConnId>>,
    messages: Mutex<Vec<Vec<u8>>>,
    closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
}

impl UdpServerListener for ServerLog {
    fn on_handshake(&self, _: &UdpServer, conn: ConnId) -> HandleResult {
        self.handshakes.lock().unwrap().push(conn);
        HandleResult::Ok
    }
    fn on_receive(&self, s: &UdpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        self.messages.lock().unwrap().push(data.to_vec());
        s.send(conn, data).unwrap();
        HandleResult::Ok
    }
    fn on_close(&self, _: &UdpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((c, op, e));
        HandleResult::Ok
    }
}

#[derive(Default)]
struct ClientLog {
    ready: Mutex<bool>,
    messages: Mutex<Vec<Vec<u8>>>,
    closes: Mutex<Vec<(SocketOperation, i32)>>,
}

impl UdpClientListener for ClientLog {
    fn on_handshake(&self, _: &UdpClient) -> HandleResult {
        *self.ready.lock().unwrap() = true;
        HandleResult::Ok
    }
    fn on_receive(&self, _: &UdpClient, data: &[u8]) -> HandleResult {
        self.messages.lock().unwrap().push(data.to_vec());
        HandleResult::Ok
    }
    fn on_close(&self, _: &UdpClient, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((op, e));
        HandleResult::Ok
    }
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn reference_kcp_client_against_our_arq_server() {
    if !python_has_kcp() {
        return;
    }
    for (loss, n) in [("0", 200usize), ("0.1", 40)] {
        let l = Arc::new(ServerLog::default());
        let server = UdpServer::builder()
            .shards(2)
            .arq(ArqConfig::default())
            .start("127.0.0.1:0", l.clone())
            .unwrap();
        let port = server.listen_addr().unwrap().port();
        let mut child = Command::new("python3")
            .args([PEER, "client", &port.to_string(), loss, &n.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let _peer = Peer(child);
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        assert!(
            line.starts_with(&format!("OK {n} ")),
            "peer: {line:?} at {loss}"
        );
        let got = l.messages.lock().unwrap().clone();
        assert_eq!(got.len(), n);
        for (i, m) in got.iter().enumerate() {
            assert_eq!(*m, msg(i), "message {i} at loss {loss}");
        }
        assert_eq!(l.handshakes.lock().unwrap().len(), 1);
        eprintln!("server, loss {loss}: {}", line.trim());
        server.stop();
        server.wait().unwrap();
    }
}

#[test]
fn our_arq_client_against_reference_kcp_server() {
    if !python_has_kcp() {
        return;
    }
    for (loss, n) in [("0", 200usize), ("0.1", 40)] {
        let mut child = Command::new("python3")
            .args([PEER, "server", "0", loss])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _peer = Peer(child);
        let port: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let log = Arc::new(ClientLog::default());
        let client = UdpClient::builder()
            .arq(ArqConfig::default())
            .start("127.0.0.1", port, log.clone())
            .unwrap();
        wait_for("ARQ handshake", 10, || *log.ready.lock().unwrap());
        let t = Instant::now();
        let mut sent = 0;
        while log.messages.lock().unwrap().len() < n {
            assert!(t.elapsed() < Duration::from_secs(50), "timed out at {loss}");
            // Keep about 32 messages in flight (HP's send window is 128 segments).
            while sent < n && sent < log.messages.lock().unwrap().len() + 32 {
                client.send(&msg(sent)).unwrap();
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let got = log.messages.lock().unwrap().clone();
        for (i, m) in got.iter().enumerate() {
            assert_eq!(*m, msg(i), "echo {i} at loss {loss}");
        }
        eprintln!(
            "client, loss {loss}: {n} echoes in {} ms",
            t.elapsed().as_millis()
        );
        client.stop();
        client.wait().unwrap();
        assert_eq!(
            *log.closes.lock().unwrap(),
            vec![(SocketOperation::Close, 0)]
        );
    }
}

#[test]
fn our_client_and_server_exchange_messages() {
    let l = Arc::new(ServerLog::default());
    let server = UdpServer::builder()
        .shards(2)
        .arq(ArqConfig::default())
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let port = server.listen_addr().unwrap().port();
    let log = Arc::new(ClientLog::default());
    let client = UdpClient::builder()
        .arq(ArqConfig::default())
        .start("127.0.0.1", port, log.clone())
        .unwrap();
    wait_for("handshake", 10, || *log.ready.lock().unwrap());
    for i in 0..300 {
        client.send(&msg(i)).unwrap();
        if i % 50 == 0 {
            client.flush().unwrap();
        }
    }
    wait_for("300 echoes", 30, || {
        log.messages.lock().unwrap().len() == 300
    });
    let got = log.messages.lock().unwrap().clone();
    assert!(got.iter().enumerate().all(|(i, m)| *m == msg(i)));
    // Over the maximum message size: refused at the call.
    assert!(client.send(&[0u8; 4097]).is_err());
    client.stop();
    client.wait().unwrap();
    // The server saw the client's close datagram: (Close, 0).
    wait_for("server close", 10, || l.closes.lock().unwrap().len() == 1);
    assert_eq!(l.closes.lock().unwrap()[0].1, SocketOperation::Close);
    assert_eq!(l.closes.lock().unwrap()[0].2, 0);
    server.stop();
    server.wait().unwrap();
}

#[test]
fn handshake_on_the_wire_timeout_and_bad_datagrams() {
    let l = Arc::new(ServerLog::default());
    let cfg = ArqConfig {
        handshake_timeout: 300,
        ..ArqConfig::default()
    };
    let server = UdpServer::builder()
        .shards(1)
        .arq(cfg)
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let addr: SocketAddr = server.listen_addr().unwrap();
    // A heartbeat opens the connection: the server answers it and starts its handshake with
    // {magic 4F BB, cmd 1, flag 0, selfConv, peerConv 0}, resent with back-off.
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    raw.send(&[]).unwrap();
    // Until the handshake completes, sends (from any thread) are refused, not lost.
    wait_for("connection", 5, || server.connection_count() == 1);
    let conn = server.connection_ids()[0];
    assert!(matches!(
        server.send(conn, b"early"),
        Err(shardnet::Error::NotConnected)
    ));
    let mut got = Vec::new();
    let mut b = [0u8; 2048];
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(600) {
        match raw.recv(&mut b) {
            Ok(n) => got.push(b[..n].to_vec()),
            Err(_) => break,
        }
    }
    let hs: Vec<&Vec<u8>> = got.iter().filter(|d| d.len() == 12).collect();
    assert!(got.iter().any(|d| d.is_empty()), "heartbeat answered");
    assert!(hs.len() >= 3, "handshake resent: {got:?}");
    for d in &hs {
        assert_eq!(&d[..4], &[0x4F, 0xBB, 0x01, 0x00]);
        assert_eq!(&d[8..12], &[0, 0, 0, 0]);
        assert_eq!(d[4..8], hs[0][4..8], "one conv");
    }
    // Never answered: closed after the 300 ms timeout with ETIMEDOUT, and told so.
    assert_eq!(
        got.last().unwrap().as_slice(),
        &[
            0xBE, 0xB6, 0x1F, 0xEB, 0xDA, 0x52, 0x46, 0xBA, 0x92, 0x33, 0x59, 0xDB, 0xBF, 0xE6,
            0xC8, 0xE4
        ]
    );
    wait_for("timeout close", 5, || l.closes.lock().unwrap().len() == 1);
    assert_eq!(l.closes.lock().unwrap()[0].2, libc::ETIMEDOUT);
    // A datagram that is neither a handshake (12) nor KCP (≥ 24) closes with EBADMSG.
    let raw2 = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw2.connect(addr).unwrap();
    raw2.send(&[1u8; 13]).unwrap();
    wait_for("bad datagram close", 5, || {
        l.closes.lock().unwrap().len() == 2
    });
    assert_eq!(l.closes.lock().unwrap()[1].1, SocketOperation::Receive);
    assert_eq!(l.closes.lock().unwrap()[1].2, libc::EBADMSG);
    // A 12-byte packet with a bad flag too.
    let raw3 = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw3.connect(addr).unwrap();
    raw3.send(&[0x4F, 0xBB, 0x01, 0x02, 1, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    wait_for("bad flag close", 5, || l.closes.lock().unwrap().len() == 3);
    assert_eq!(l.closes.lock().unwrap()[2].2, libc::EBADMSG);
    assert!(l.handshakes.lock().unwrap().is_empty());
    server.stop();
    server.wait().unwrap();
}
