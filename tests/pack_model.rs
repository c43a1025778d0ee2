//! Pack model end to end: hand-framed peers (HP-Socket's wire format written byte by byte),
//! the three shapes echoing Pack messages, and every bad input the issue lists.

mod support;
use shardnet::pack::{encode_header, PackConfig, ERRNO_BAD_FLAG, ERRNO_TOO_LONG};
use shardnet::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

const FLAG: u16 = 0x169;

fn cfg(max: u32) -> PackConfig {
    PackConfig::new(FLAG, max)
}

fn frame(flag: u16, body: &[u8]) -> Vec<u8> {
    let mut v = encode_header(flag, body.len() as u32).to_vec();
    v.extend_from_slice(body);
    v
}

/// Echoes each message back as one message; records message sizes and closes.
#[derive(Default)]
struct PackEcho {
    sizes: Mutex<Vec<usize>>,
    closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
    empties: AtomicUsize,
}

impl ServerListener for PackEcho {
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        if d.is_empty() {
            self.empties.fetch_add(1, Ordering::Relaxed);
            return HandleResult::Ok;
        }
        self.sizes.lock().unwrap().push(d.len());
        let (a, b) = d.split_at(d.len() / 2);
        match s.send_packets(c, &[a, b]) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((c, op, e));
        HandleResult::Ok
    }
}

fn pack_server(max: u32) -> (TcpServer, Arc<PackEcho>) {
    pack_server_with(cfg(max))
}

fn pack_server_with(p: PackConfig) -> (TcpServer, Arc<PackEcho>) {
    let l = Arc::new(PackEcho::default());
    let s = TcpServer::builder()
        .runtime(rt(2))
        .pack(p)
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    (s, l)
}

fn read_frame(s: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).unwrap();
    let (flag, len) = shardnet::pack::decode_header(h);
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body).unwrap();
    (flag, body)
}

#[test]
fn server_echoes_whole_messages_however_they_arrive() {
    let (server, l) = pack_server(0x4_0000);
    let addr = server.listen_addr().unwrap();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Golden bytes: flag 0x169, "hello".
    c.write_all(b"\x05\x00\x40\x5Ahello").unwrap();
    assert_eq!(read_frame(&mut c), (FLAG, b"hello".to_vec()));
    // One byte per write.
    let body = pattern(3000, 1);
    for b in frame(FLAG, &body) {
        c.write_all(&[b]).unwrap();
    }
    assert_eq!(read_frame(&mut c), (FLAG, body));
    // A hundred messages in one write, up to the 256 KiB maximum.
    let msgs: Vec<Vec<u8>> = (0..100).map(|i| pattern(1 + i * 997, i as u64)).collect();
    let mut big: Vec<u8> = msgs.iter().flat_map(|m| frame(FLAG, m)).collect();
    big.extend(frame(FLAG, &pattern(0x4_0000, 9)));
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&big).unwrap());
    for m in &msgs {
        assert_eq!(&read_frame(&mut c).1, m);
    }
    assert_eq!(read_frame(&mut c).1, pattern(0x4_0000, 9));
    writer.join().unwrap();
    assert_eq!(l.sizes.lock().unwrap().len(), 103);
    // Too big to send is refused before anything is queued.
    let id = server.connection_ids()[0];
    assert!(matches!(
        server.send(id, &vec![0u8; 0x4_0001]),
        Err(Error::InvalidParam(_))
    ));
    server.stop();
    server.wait().unwrap();
}

/// Between shardnet peers that opt in (`allow_empty`), empty messages are messages.
#[test]
fn ten_thousand_empty_messages_in_one_write() {
    let (server, l) = pack_server_with(PackConfig {
        allow_empty: true,
        ..cfg(0x4_0000)
    });
    let mut c = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    let stream: Vec<u8> = (0..10_000).flat_map(|_| frame(FLAG, b"")).collect();
    c.write_all(&stream).unwrap();
    assert!(wait_until(10, || l.empties.load(Ordering::Relaxed) == 10_000));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(l.empties.load(Ordering::Relaxed), 10_000);
    assert!(l.closes.lock().unwrap().is_empty());
    server.stop();
    server.wait().unwrap();
}

/// HP-Socket's behaviour by default: sending an empty message is refused (HP returns FALSE with
/// EMSGSIZE), and receiving one closes the connection with `on_close(Receive, EMSGSIZE)` after
/// delivering what came before it.
#[test]
fn empty_messages_are_refused_like_hp_socket() {
    let (server, l) = pack_server(0x4_0000);
    let mut c = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(&frame(FLAG, b"first")).unwrap();
    assert_eq!(read_frame(&mut c), (FLAG, b"first".to_vec()));
    let id = server.connection_ids()[0];
    assert!(matches!(server.send(id, b""), Err(Error::InvalidParam(_))));
    assert!(matches!(
        server.send_packets(id, &[b"", b""]),
        Err(Error::InvalidParam(_))
    ));
    let mut s = frame(FLAG, b"second");
    s.extend(frame(FLAG, b""));
    s.extend(frame(FLAG, b"never"));
    c.write_all(&s).unwrap();
    assert_eq!(read_frame(&mut c), (FLAG, b"second".to_vec()));
    assert!(peer_closed(&mut c, 5), "the connection is closed");
    assert!(wait_until(5, || l.closes.lock().unwrap().len() == 1));
    let close = l.closes.lock().unwrap()[0];
    assert_eq!(
        (close.1, close.2),
        (SocketOperation::Receive, ERRNO_TOO_LONG)
    );
    assert_eq!(
        *l.sizes.lock().unwrap(),
        vec![5, 6],
        "nothing after the empty frame"
    );
    assert_eq!(l.empties.load(Ordering::Relaxed), 0);
    server.stop();
    server.wait().unwrap();
}

/// The largest legal message (0x3FFFFF bytes) goes both ways with the default pending bound;
/// a pending bound that could never hold one is refused when the component is built.
#[test]
fn largest_message_fits_the_default_pending_bound() {
    let max = shardnet::pack::MAX_PACK_SIZE_LIMIT;
    let (server, l) = pack_server(max);
    let mut c = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = pattern(max as usize, 11);
    let f = frame(FLAG, &body);
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&f).unwrap());
    assert_eq!(read_frame(&mut c), (FLAG, body));
    writer.join().unwrap();
    assert!(l.closes.lock().unwrap().is_empty());
    server.stop();
    server.wait().unwrap();
    let refused = TcpServer::builder()
        .runtime(rt(1))
        .pack(cfg(max))
        .max_pending_bytes(4 << 20)
        .start("127.0.0.1:0", Arc::new(PackEcho::default()));
    match refused {
        Err(Error::InvalidParam(m)) => assert!(m.contains("max_pending_bytes"), "{m}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a bound below one maximal message was accepted"),
    }
}

/// Each bad input closes its connection with (Receive, errno), delivers nothing partial, and a
/// good connection keeps echoing throughout.
#[test]
fn bad_input_closes_cleanly_and_spares_others() {
    let (server, l) = pack_server(0x4_0000);
    let addr = server.listen_addr().unwrap();
    let mut good = TcpStream::connect(addr).unwrap();
    good.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("wrong flag", frame(0x168, b"abc"), ERRNO_BAD_FLAG),
        (
            "max + 1",
            encode_header(FLAG, 0x4_0001).to_vec(),
            ERRNO_TOO_LONG,
        ),
        (
            "0x3FFFFF",
            encode_header(FLAG, 0x3F_FFFF).to_vec(),
            ERRNO_TOO_LONG,
        ),
    ];
    for (name, bytes, errno) in cases {
        let before = l.sizes.lock().unwrap().len();
        let mut bad = TcpStream::connect(addr).unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        bad.write_all(&bytes).unwrap();
        let mut buf = [0u8; 16];
        let r = bad.read(&mut buf);
        assert!(matches!(r, Ok(0) | Err(_)), "{name}: server must close");
        assert!(wait_until(5, || l
            .closes
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.1 == SocketOperation::Receive && c.2 == errno)));
        l.closes.lock().unwrap().clear();
        assert_eq!(
            l.sizes.lock().unwrap().len(),
            before,
            "{name}: nothing delivered"
        );
        good.write_all(&frame(FLAG, name.as_bytes())).unwrap();
        assert_eq!(read_frame(&mut good).1, name.as_bytes());
    }
    // Header split across reads, then the peer resets mid-message.
    let before = l.sizes.lock().unwrap().len();
    let mut rst = TcpStream::connect(addr).unwrap();
    let h = encode_header(FLAG, 100);
    rst.write_all(&h[..2]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    rst.write_all(&h[2..]).unwrap();
    rst.write_all(&[7u8; 40]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    socket2::SockRef::from(&rst)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(rst);
    assert!(wait_until(5, || l.closes.lock().unwrap().len() == 1));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(l.closes.lock().unwrap().len(), 1, "on_close exactly once");
    assert_eq!(
        l.sizes.lock().unwrap().len(),
        before,
        "no partial message delivered"
    );
    good.write_all(&frame(FLAG, b"still here")).unwrap();
    assert_eq!(read_frame(&mut good).1, b"still here");
    // Back to baseline: no partial message held, no send buffer left in any queue.
    assert!(wait_until(5, || server
        .shard_stats()
        .iter()
        .all(|s| s.partial_messages == 0 && s.send_buffers == 0)));
    assert_eq!(
        server.connection_count(),
        1,
        "only the good connection is left"
    );
    server.stop();
    server.wait().unwrap();
}

/// Agent (Pack) and Client (Pack) against a Pack server: whole messages both ways.
struct AgentSide {
    got: Mutex<Vec<Vec<u8>>>,
}
impl AgentListener for AgentSide {
    fn on_handshake(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
        for i in 1..20 {
            a.send(c, &pattern(i * 500, i as u64)).unwrap();
        }
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpAgent, _: ConnId, d: &[u8]) -> HandleResult {
        self.got.lock().unwrap().push(d.to_vec());
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpAgent, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

#[test]
fn agent_and_client_speak_pack() {
    let (server, _l) = pack_server(0x4_0000);
    let port = server.listen_addr().unwrap().port();
    let side = Arc::new(AgentSide {
        got: Mutex::new(Vec::new()),
    });
    let agent = TcpAgent::builder()
        .runtime(rt(2))
        .pack(cfg(0x4_0000))
        .start(side.clone())
        .unwrap();
    for _ in 0..4 {
        agent.connect("127.0.0.1", port).unwrap();
    }
    // 4 connections × 19 messages echoed.
    assert!(wait_until(10, || side.got.lock().unwrap().len() == 76));
    let mut sizes: Vec<usize> = side.got.lock().unwrap().iter().map(|m| m.len()).collect();
    sizes.sort();
    let mut want: Vec<usize> = (1..20).flat_map(|i| [i * 500; 4]).collect();
    want.sort();
    assert_eq!(sizes, want);
    for m in side.got.lock().unwrap().iter() {
        let i = m.len() / 500;
        assert_eq!(m, &pattern(i * 500, i as u64));
    }
    agent.stop();
    agent.wait().unwrap();

    struct C(Mutex<Vec<Vec<u8>>>);
    impl ClientListener for C {
        fn on_receive(&self, _: &TcpClient, d: &[u8]) -> HandleResult {
            self.0.lock().unwrap().push(d.to_vec());
            HandleResult::Ok
        }
        fn on_close(&self, _: &TcpClient, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let c = Arc::new(C(Mutex::new(Vec::new())));
    let client = TcpClient::builder()
        .pack(cfg(0x4_0000))
        .start("127.0.0.1", port, false, c.clone())
        .unwrap();
    client.send_packets(&[b"one ", b"message"]).unwrap();
    assert!(wait_until(10, || c.0.lock().unwrap().len() == 1));
    assert_eq!(c.0.lock().unwrap()[0], b"one message");
    // More parts than fit the inline gather list: still one message.
    let parts: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'a' + i; i as usize + 1]).collect();
    let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
    client.send_packets(&refs).unwrap();
    assert!(wait_until(10, || c.0.lock().unwrap().len() == 2));
    assert_eq!(c.0.lock().unwrap()[1], parts.concat());
    client.stop();
    client.wait().unwrap();
    server.stop();
    server.wait().unwrap();
}
