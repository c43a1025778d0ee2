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

/// Drives a raw ARQ peer (conv `conv`, socket `sock` connected to the server) until its
/// handshake completes; returns the datagrams it received that were not handshake or KCP.
fn raw_handshake(
    sock: &UdpSocket,
    s: &mut shardnet::layers::protocols::arq::ArqSession,
    clock: &dyn Fn() -> u32,
) -> Vec<Vec<u8>> {
    let mut scratch = Vec::new();
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut other = Vec::new();
    let mut b = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let t = Instant::now();
    s.tick(clock(), &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))
        .unwrap();
    while !s.is_ready() {
        assert!(t.elapsed() < Duration::from_secs(5), "handshake: {other:?}");
        for d in out.drain(..) {
            sock.send(&d).unwrap();
        }
        if let Ok(n) = sock.recv(&mut b) {
            if n == 12 || n >= 24 {
                s.on_datagram(
                    clock(),
                    &b[..n],
                    &mut scratch,
                    &mut |d: &[u8]| out.push(d.to_vec()),
                    &mut |_| true,
                )
                .unwrap();
            } else {
                other.push(b[..n].to_vec());
            }
        }
        s.tick(clock(), &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))
            .unwrap();
    }
    for d in out.drain(..) {
        sock.send(&d).unwrap();
    }
    other
}

/// Sends `msg` on the raw ARQ peer and returns the echo, once the session is idle (the
/// handshake complete on both sides, everything acknowledged).
fn raw_echo(
    sock: &UdpSocket,
    s: &mut shardnet::layers::protocols::arq::ArqSession,
    clock: &dyn Fn() -> u32,
    msg: &[u8],
) -> Vec<u8> {
    let mut scratch = Vec::new();
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut b = [0u8; 2048];
    s.send(clock(), msg, &mut scratch, &mut |d: &[u8]| {
        out.push(d.to_vec())
    })
    .unwrap();
    let t = Instant::now();
    while got.is_empty() || !out.is_empty() || s.next_deadline(clock()).is_some() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no echo, or never idle"
        );
        for d in out.drain(..) {
            sock.send(&d).unwrap();
        }
        if let Ok(n) = sock.recv(&mut b) {
            assert_ne!(n, 16, "close datagram");
            if n >= 12 {
                s.on_datagram(
                    clock(),
                    &b[..n],
                    &mut scratch,
                    &mut |d: &[u8]| out.push(d.to_vec()),
                    &mut |m| {
                        got.push(m.to_vec());
                        true
                    },
                )
                .unwrap();
            }
        }
        s.tick(clock(), &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))
            .unwrap();
    }
    got.remove(0)
}

/// A client that left without its close datagram arriving (lost under loss, or never sent),
/// then a new client on the same address and port (a restart, or a NAT reusing the port):
/// the old session ends with on_close(Receive, ECONNRESET) and the new client gets a session
/// of its own, where HP would reset it with the close datagram. The same conv again, long
/// after the first handshake, is a restart too.
#[test]
fn a_new_peer_on_a_stale_address_replaces_the_session() {
    use shardnet::layers::protocols::arq::ArqSession;
    let l = Arc::new(ServerLog::default());
    let cfg = ArqConfig {
        handshake_timeout: 200,
        ..ArqConfig::default()
    };
    let server = UdpServer::builder()
        .shards(1)
        .arq(cfg)
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let start = Instant::now();
    let clock = move || start.elapsed().as_millis() as u32;
    let first = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = first.local_addr().unwrap();
    first.connect(addr).unwrap();
    let mut a = ArqSession::new(cfg, 0x1111, clock());
    assert!(raw_handshake(&first, &mut a, &clock).is_empty());
    assert_eq!(raw_echo(&first, &mut a, &clock, b"one"), b"one");
    drop(first); // gone, without a close datagram
    wait_for("first handshake", 5, || {
        l.handshakes.lock().unwrap().len() == 1
    });
    let old = l.handshakes.lock().unwrap()[0];

    let second = UdpSocket::bind(local).unwrap();
    second.connect(addr).unwrap();
    let mut b = ArqSession::new(cfg, 0x2222, clock());
    let other = raw_handshake(&second, &mut b, &clock);
    assert!(
        other.iter().all(|d| d.len() != 16),
        "close datagram: {other:?}"
    );
    assert_eq!(raw_echo(&second, &mut b, &clock, b"two"), b"two");
    wait_for("old closed", 5, || l.closes.lock().unwrap().len() == 1);
    assert_eq!(
        l.closes.lock().unwrap()[0],
        (old, SocketOperation::Receive, libc::ECONNRESET)
    );
    let hs = l.handshakes.lock().unwrap().clone();
    assert_eq!(hs.len(), 2);
    assert_ne!(hs[1], old);
    assert_eq!(server.connection_ids(), vec![hs[1]]);
    drop(second);

    // The same conv as the live session, after 2 × handshake_timeout: a restart as well.
    std::thread::sleep(Duration::from_millis(2 * 200 + 50));
    let third = UdpSocket::bind(local).unwrap();
    third.connect(addr).unwrap();
    let mut c = ArqSession::new(cfg, 0x2222, clock());
    assert!(raw_handshake(&third, &mut c, &clock).is_empty());
    assert_eq!(raw_echo(&third, &mut c, &clock, b"three"), b"three");
    wait_for("second closed", 5, || l.closes.lock().unwrap().len() == 2);
    assert_eq!(
        l.closes.lock().unwrap()[1],
        (hs[1], SocketOperation::Receive, libc::ECONNRESET)
    );
    assert_eq!(server.connection_count(), 1);
    assert_eq!(
        l.messages.lock().unwrap().as_slice(),
        &[b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    server.stop();
    server.wait().unwrap();
}

/// The server holds a KCP datagram's acknowledgements until `on_receive` has replied: an
/// echoed message costs one datagram back (ACK + PUSH segments), not an ACK datagram and then
/// the reply, as HP's flush-after-input sends.
#[test]
fn the_ack_and_the_reply_share_a_datagram() {
    use shardnet::layers::protocols::arq::ArqSession;
    let l = Arc::new(ServerLog::default());
    let cfg = ArqConfig::default();
    let server = UdpServer::builder()
        .shards(1)
        .arq(cfg)
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let start = Instant::now();
    let clock = move || start.elapsed().as_millis() as u32;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(addr).unwrap();
    let mut s = ArqSession::new(cfg, 0x3333, clock());
    raw_handshake(&sock, &mut s, &clock);
    assert_eq!(raw_echo(&sock, &mut s, &clock, b"warm"), b"warm");
    // Idle on both sides now: one message, then the datagrams of the next 200 ms.
    let mut scratch = Vec::new();
    let mut out: Vec<Vec<u8>> = Vec::new();
    s.send(clock(), b"ping", &mut scratch, &mut |d: &[u8]| {
        out.push(d.to_vec())
    })
    .unwrap();
    assert_eq!(out.len(), 1);
    sock.send(&out[0]).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 2048];
    let t = Instant::now();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    while t.elapsed() < Duration::from_millis(200) {
        if let Ok(n) = sock.recv(&mut b) {
            got.push(b[..n].to_vec());
        }
    }
    // The first datagram back carries both (later ones are the PUSH resent: this raw peer
    // never acknowledges it).
    assert!(!got.is_empty());
    // KCP segments: 24-byte header (conv u32, cmd u8, frg, wnd u16, ts, sn, una, len u32).
    let d = &got[0];
    assert_eq!(d.len(), 24 + 24 + 4, "an ACK and a 4-byte PUSH: {d:?}");
    assert_eq!(d[4], 82, "ACK first");
    assert_eq!(d[24 + 4], 81, "then the PUSH");
    assert_eq!(&d[48..], b"ping");
    server.stop();
    server.wait().unwrap();
}
