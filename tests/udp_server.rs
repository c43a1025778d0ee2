//! UdpServer against plain std sockets as peers: 1,000 peers over 2 shards echoing, heartbeats,
//! HP's close datagram both ways, oversize datagrams, the connection limit, the silent-peer
//! timeout, sends from another thread, and stop.

use shardnet::udp::{UdpServer, UdpServerListener};
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLOSE: [u8; 16] = [
    0xBE, 0xB6, 0x1F, 0xEB, 0xDA, 0x52, 0x46, 0xBA, 0x92, 0x33, 0x59, 0xDB, 0xBF, 0xE6, 0xC8, 0xE4,
];

#[derive(Default)]
struct Echo {
    accepted: Mutex<Vec<(ConnId, SocketAddr)>>,
    handshakes: Mutex<Vec<ConnId>>,
    closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
    received: Mutex<HashMap<ConnId, usize>>,
}

impl UdpServerListener for Echo {
    fn on_accept(&self, _: &UdpServer, conn: ConnId, peer: SocketAddr) -> HandleResult {
        self.accepted.lock().unwrap().push((conn, peer));
        HandleResult::Ok
    }
    fn on_handshake(&self, _: &UdpServer, conn: ConnId) -> HandleResult {
        self.handshakes.lock().unwrap().push(conn);
        HandleResult::Ok
    }
    fn on_receive(&self, s: &UdpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        *self.received.lock().unwrap().entry(conn).or_default() += 1;
        if data == b"refuse" {
            return HandleResult::Error;
        }
        if data != b"quiet" {
            s.send(conn, data).unwrap();
        }
        HandleResult::Ok
    }
    fn on_close(
        &self,
        _: &UdpServer,
        conn: ConnId,
        op: SocketOperation,
        errno: i32,
    ) -> HandleResult {
        self.closes.lock().unwrap().push((conn, op, errno));
        HandleResult::Ok
    }
}

fn peer(server: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(server).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut b = [0u8; 65_536];
    let n = s.recv(&mut b).expect("a datagram");
    b[..n].to_vec()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn start(l: Arc<Echo>, b: shardnet::udp::UdpServerBuilder) -> (UdpServer, SocketAddr) {
    let s = b.shards(2).start("127.0.0.1:0", l).unwrap();
    let a = s.listen_addr().unwrap();
    (s, a)
}

#[test]
fn a_thousand_peers_echo_over_two_shards() {
    let l = Arc::new(Echo::default());
    let (server, addr) = start(l.clone(), UdpServer::builder());
    let peers: Vec<UdpSocket> = (0..1000).map(|_| peer(addr)).collect();
    for round in 0..3u8 {
        for (i, p) in peers.iter().enumerate() {
            p.send(format!("{round}:{i}:hello").as_bytes()).unwrap();
        }
        for (i, p) in peers.iter().enumerate() {
            assert_eq!(recv(p), format!("{round}:{i}:hello").as_bytes());
        }
    }
    assert_eq!(l.accepted.lock().unwrap().len(), 1000);
    assert_eq!(l.handshakes.lock().unwrap().len(), 1000);
    assert_eq!(server.connection_count(), 1000);
    // Both shards got peers (the kernel spreads SO_REUSEPORT by 4-tuple hash).
    let shards: std::collections::HashSet<usize> = l
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(c, _)| c.shard().0)
        .collect();
    assert_eq!(shards.len(), 2);
    // Each accepted address is a peer's, and remote_addr agrees (from this thread).
    let mine: std::collections::HashSet<SocketAddr> =
        peers.iter().map(|p| p.local_addr().unwrap()).collect();
    for (c, a) in l.accepted.lock().unwrap().iter() {
        assert!(mine.contains(a));
        assert_eq!(server.remote_addr(*c), Some(*a));
    }
    // Sends from a foreign thread reach the right peer.
    let (c, a) = l.accepted.lock().unwrap()[17];
    server.send(c, b"from afar").unwrap();
    let p = peers.iter().find(|p| p.local_addr().unwrap() == a).unwrap();
    assert_eq!(recv(p), b"from afar");
    // Stop: every peer gets the close datagram, every connection closes once with (Close, 0).
    server.stop();
    server.wait().unwrap();
    for p in &peers {
        assert_eq!(recv(p), CLOSE);
    }
    let closes = l.closes.lock().unwrap();
    assert_eq!(closes.len(), 1000);
    assert!(closes
        .iter()
        .all(|c| c.1 == SocketOperation::Close && c.2 == 0));
}

#[test]
fn heartbeats_close_datagrams_and_oversize() {
    let l = Arc::new(Echo::default());
    let (server, addr) = start(l.clone(), UdpServer::builder().max_datagram(1000));
    // A 0-byte datagram opens a connection and is answered with a 0-byte datagram.
    let a = peer(addr);
    a.send(&[]).unwrap();
    assert_eq!(recv(&a), b"");
    assert_eq!(l.accepted.lock().unwrap().len(), 1);
    // The close datagram closes (Close, 0) without an answer.
    a.send(&CLOSE).unwrap();
    wait_for("close", || l.closes.lock().unwrap().len() == 1);
    assert_eq!(l.closes.lock().unwrap()[0].1, SocketOperation::Close);
    assert_eq!(l.closes.lock().unwrap()[0].2, 0);
    a.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        a.recv(&mut [0u8; 64]).is_err(),
        "nothing answers a close datagram"
    );
    // 17 bytes that start like the close datagram are data.
    let mut not_close = CLOSE.to_vec();
    not_close.push(0);
    let b = peer(addr);
    b.send(&not_close).unwrap();
    assert_eq!(recv(&b), not_close);
    // An oversize first datagram is ignored (no connection); on a connection it closes it
    // with EMSGSIZE and the peer gets the close datagram.
    let c = peer(addr);
    c.send(&[7u8; 1001]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(l.accepted.lock().unwrap().len(), 2);
    c.send(&[7u8; 1000]).unwrap();
    assert_eq!(recv(&c), vec![7u8; 1000]);
    c.send(&[7u8; 1001]).unwrap();
    assert_eq!(recv(&c), CLOSE);
    wait_for("oversize close", || {
        l.closes
            .lock()
            .unwrap()
            .iter()
            .any(|x| x.1 == SocketOperation::Receive && x.2 == libc::EMSGSIZE)
    });
    // A callback error closes with (Receive, ECANCELED) and sends the close datagram; the
    // other peers are undisturbed.
    let d = peer(addr);
    d.send(b"refuse").unwrap();
    assert_eq!(recv(&d), CLOSE);
    b.send(b"still here").unwrap();
    assert_eq!(recv(&b), b"still here");
    // The server's disconnect sends the close datagram.
    let conn_b = l
        .accepted
        .lock()
        .unwrap()
        .iter()
        .find(|x| x.1 == b.local_addr().unwrap())
        .unwrap()
        .0;
    server.disconnect(conn_b).unwrap();
    assert_eq!(recv(&b), CLOSE);
    wait_for("disconnect", || {
        l.closes.lock().unwrap().iter().any(|x| x.0 == conn_b)
    });
    // Closed once each.
    let closes = l.closes.lock().unwrap().clone();
    let mut ids: Vec<_> = closes.iter().map(|c| c.0).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), closes.len());
    server.stop();
    server.wait().unwrap();
}

#[test]
fn connection_limit_and_silent_peers() {
    let l = Arc::new(Echo::default());
    let (server, addr) = start(
        l.clone(),
        UdpServer::builder()
            .max_connections(2)
            .detect(Duration::from_millis(100), 2),
    );
    let a = peer(addr);
    let b = peer(addr);
    a.send(b"a").unwrap();
    assert_eq!(recv(&a), b"a");
    b.send(b"b").unwrap();
    assert_eq!(recv(&b), b"b");
    // The third address gets the close datagram and no connection.
    let c = peer(addr);
    c.send(b"c").unwrap();
    assert_eq!(recv(&c), CLOSE);
    assert_eq!(l.accepted.lock().unwrap().len(), 2);
    // `b` keeps talking (heartbeats); `a` goes silent and is closed after 2 × 100 ms with
    // (Close, ETIMEDOUT) and no datagram.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(500) {
        b.send(&[]).unwrap();
        assert_eq!(recv(&b), b"");
        std::thread::sleep(Duration::from_millis(40));
    }
    let closes = l.closes.lock().unwrap().clone();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert_eq!(closes[0].1, SocketOperation::Close);
    assert_eq!(closes[0].2, libc::ETIMEDOUT);
    assert_eq!(server.remote_addr(closes[0].0), None);
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(a.recv(&mut [0u8; 64]).is_err(), "a timeout sends nothing");
    // A slot is free again: a new address is accepted.
    c.send(b"c2").unwrap();
    assert_eq!(recv(&c), b"c2");
    server.stop();
    server.wait().unwrap();
}

/// With GSO on, the echoes of a burst to one peer leave as `UDP_SEGMENT` sends and arrive as
/// the same datagrams, in order, byte for byte (the receiver has no GRO: the kernel splits
/// them); the metric counts them.
#[test]
fn gso_sends_echo_bursts_byte_exact() {
    let l = Arc::new(Echo::default());
    let (server, addr) = start(l.clone(), UdpServer::builder().gso(true).shards(1));
    let peers: Vec<UdpSocket> = (0..5).map(|_| peer(addr)).collect();
    let msg = |p: usize, k: usize| -> Vec<u8> {
        let mut m = format!("{p}:{k:03}:").into_bytes();
        m.resize(200, (p * 31 + k) as u8);
        m
    };
    for round in 0..4 {
        for (p, s) in peers.iter().enumerate() {
            for k in 0..32 {
                s.send(&msg(p, round * 32 + k)).unwrap();
            }
        }
        for (p, s) in peers.iter().enumerate() {
            for k in 0..32 {
                assert_eq!(recv(s), msg(p, round * 32 + k), "peer {p}, datagram {k}");
            }
        }
    }
    let metrics = shardnet::metrics::Metrics::new();
    metrics.add_source("udp", server.clone());
    let text = metrics.render();
    let gso: u64 = text
        .lines()
        .filter(|l| l.starts_with("shardnet_udp_gso_datagrams_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(gso > 0, "no GSO sends: {text}");
    assert!(gso <= 5 * 128);
    server.stop();
    server.wait().unwrap();
}

/// `on_accept` runs with the connection in the tables: a plain UDP server can answer from it
/// (HP's OnAccept can send), and an ARQ server's send there is refused with NotConnected
/// without harming the handshake that follows.
#[test]
fn sends_from_on_accept() {
    struct Greeter(Mutex<Vec<String>>);
    impl UdpServerListener for Greeter {
        fn on_accept(&self, s: &UdpServer, conn: ConnId, _: SocketAddr) -> HandleResult {
            let r = s.send(conn, b"welcome");
            self.0.lock().unwrap().push(format!("{r:?}"));
            HandleResult::Ok
        }
        fn on_receive(&self, s: &UdpServer, conn: ConnId, data: &[u8]) -> HandleResult {
            s.send(conn, data).unwrap();
            HandleResult::Ok
        }
        fn on_close(&self, _: &UdpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let g = Arc::new(Greeter(Mutex::new(Vec::new())));
    let server = UdpServer::builder()
        .shards(1)
        .start("127.0.0.1:0", g.clone())
        .unwrap();
    let p = peer(server.listen_addr().unwrap());
    p.send(b"hello").unwrap();
    assert_eq!(recv(&p), b"welcome");
    assert_eq!(recv(&p), b"hello");
    assert_eq!(g.0.lock().unwrap().as_slice(), ["Ok(())"]);
    server.stop();
    server.wait().unwrap();

    let g = Arc::new(Greeter(Mutex::new(Vec::new())));
    let server = UdpServer::builder()
        .shards(1)
        .arq(shardnet::udp::ArqConfig::default())
        .start("127.0.0.1:0", g.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    struct Client(Arc<Mutex<Vec<Vec<u8>>>>);
    impl shardnet::udp::UdpClientListener for Client {
        fn on_receive(&self, _: &shardnet::udp::UdpClient, d: &[u8]) -> HandleResult {
            self.0.lock().unwrap().push(d.to_vec());
            HandleResult::Ok
        }
        fn on_close(
            &self,
            _: &shardnet::udp::UdpClient,
            _: SocketOperation,
            _: i32,
        ) -> HandleResult {
            HandleResult::Ok
        }
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let client = shardnet::udp::UdpClient::builder()
        .arq(shardnet::udp::ArqConfig::default())
        .start("127.0.0.1", addr.port(), Client(got.clone()))
        .unwrap();
    wait_for("arq send", || client.send(b"ping").is_ok());
    wait_for("arq echo", || !got.lock().unwrap().is_empty());
    assert_eq!(got.lock().unwrap()[0], b"ping");
    assert_eq!(g.0.lock().unwrap().as_slice(), ["Err(NotConnected)"]);
    client.stop();
    server.stop();
    server.wait().unwrap();
}
