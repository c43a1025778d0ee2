//! The listener contract under random operation sequences, on real loopback sockets (the
//! stateful counterpart of the decoders' fuzz targets). Each seed drives a TcpServer (2 shards)
//! through a random mix of: clients connecting, writing, half-closing, closing with FIN or RST,
//! sending a byte the listener refuses (HR_ERROR); the server sending from another thread,
//! pausing and resuming reads, disconnecting (graceful or forced); and finally stopping.
//!
//! Checked at every callback: `on_handshake` only after `on_accept`, no data before
//! `on_handshake`, nothing after `on_close`, `on_close` once, ids never reused. Checked after:
//! every accepted connection closed exactly once, `on_shutdown` once, each connection's
//! received bytes a prefix of what its client wrote, each client's received bytes a prefix of
//! what `send` accepted for it, and the pending bytes of a connection never over
//! `max_pending_bytes`.
//!
//! `SHARDNET_RANDOM_SEEDS` (default 16) and `SHARDNET_RANDOM_OPS` (default 150) widen the run.

mod support;

use shardnet::*;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const POISON: u8 = 0xEE;
const MAX_PENDING: usize = 64 << 10;

#[derive(Default)]
struct ConnState {
    peer: Option<SocketAddr>,
    handshake: bool,
    closed: Option<(SocketOperation, i32)>,
    received: Vec<u8>,
}

#[derive(Default)]
struct Contract {
    conns: Mutex<HashMap<ConnId, ConnState>>,
    violations: Mutex<Vec<String>>,
    shutdowns: AtomicUsize,
}

impl Contract {
    fn violation(&self, v: String) {
        self.violations.lock().unwrap().push(v);
    }
    fn conn_of(&self, peer: SocketAddr) -> Option<ConnId> {
        let m = self.conns.lock().unwrap();
        m.iter()
            .find(|(_, s)| s.peer == Some(peer))
            .map(|(c, _)| *c)
    }
}

struct Checker(Arc<Contract>);

impl ServerListener for Checker {
    fn on_accept(
        &self,
        _: &TcpServer,
        c: ConnId,
        peer: SocketAddr,
        _: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        let mut m = self.0.conns.lock().unwrap();
        if m.contains_key(&c) {
            drop(m);
            self.0.violation(format!("{c}: id accepted twice"));
            return HandleResult::Ok;
        }
        m.insert(
            c,
            ConnState {
                peer: Some(peer),
                ..ConnState::default()
            },
        );
        HandleResult::Ok
    }
    fn on_handshake(&self, _: &TcpServer, c: ConnId) -> HandleResult {
        let mut m = self.0.conns.lock().unwrap();
        let v = match m.get_mut(&c) {
            None => Some(format!("{c}: handshake before accept")),
            Some(s) if s.closed.is_some() => Some(format!("{c}: handshake after close")),
            Some(s) if s.handshake => Some(format!("{c}: second handshake")),
            Some(s) => {
                s.handshake = true;
                None
            }
        };
        drop(m);
        if let Some(v) = v {
            self.0.violation(v);
        }
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpServer, c: ConnId, data: &[u8]) -> HandleResult {
        let mut m = self.0.conns.lock().unwrap();
        let v = match m.get_mut(&c) {
            None => Some(format!("{c}: data before accept")),
            Some(s) if s.closed.is_some() => Some(format!("{c}: data after close")),
            Some(s) if !s.handshake => Some(format!("{c}: data before handshake")),
            Some(s) => {
                s.received.extend_from_slice(data);
                None
            }
        };
        drop(m);
        if let Some(v) = v {
            self.0.violation(v);
        }
        if data.contains(&POISON) {
            HandleResult::Error
        } else {
            HandleResult::Ok
        }
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, errno: i32) -> HandleResult {
        let mut m = self.0.conns.lock().unwrap();
        let v = match m.get_mut(&c) {
            None => Some(format!("{c}: close before accept")),
            Some(s) if s.closed.is_some() => Some(format!(
                "{c}: second close {op:?} {errno} after {:?}",
                s.closed
            )),
            Some(s) => {
                s.closed = Some((op, errno));
                None
            }
        };
        drop(m);
        if let Some(v) = v {
            self.0.violation(v);
        }
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpServer) -> HandleResult {
        self.0.shutdowns.fetch_add(1, Ordering::SeqCst);
        HandleResult::Ok
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| match self.next() as u8 {
                POISON => 0,
                b => b,
            })
            .collect()
    }
}

struct Client {
    stream: Option<TcpStream>,
    local: SocketAddr,
    conn: ConnId,
    wrote: Vec<u8>,
    read: Vec<u8>,
    write_open: bool,
}

impl Client {
    /// Reads what is there now (non-blocking); false once the stream ended or failed.
    fn drain(&mut self) -> bool {
        let Some(s) = self.stream.as_mut() else {
            return false;
        };
        let mut buf = [0u8; 16 << 10];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.read.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

fn run_seed(seed: u64, ops: usize) {
    let contract = Arc::new(Contract::default());
    let c2 = contract.clone();
    let server = TcpServer::builder()
        .runtime(support::rt(2))
        .max_pending_bytes(MAX_PENDING)
        .start_with("127.0.0.1:0", move |_| Checker(c2.clone()))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut clients: Vec<Client> = Vec::new();
    let mut accepted_sends: HashMap<ConnId, Vec<u8>> = HashMap::new();

    for _ in 0..ops {
        let live: Vec<usize> = (0..clients.len())
            .filter(|&i| clients[i].stream.is_some())
            .collect();
        let pick = |rng: &mut Rng| -> Option<usize> {
            (!live.is_empty()).then(|| live[rng.below(live.len() as u64) as usize])
        };
        match rng.below(12) {
            0 | 1 if live.len() < 12 => {
                let s = TcpStream::connect(addr).unwrap();
                let local = s.local_addr().unwrap();
                let until = Instant::now() + Duration::from_secs(5);
                let conn = loop {
                    if let Some(c) = contract.conn_of(local) {
                        break c;
                    }
                    assert!(Instant::now() < until, "seed {seed}: never accepted");
                    std::thread::sleep(Duration::from_millis(1));
                };
                s.set_nonblocking(true).unwrap();
                clients.push(Client {
                    stream: Some(s),
                    local,
                    conn,
                    wrote: Vec::new(),
                    read: Vec::new(),
                    write_open: true,
                });
            }
            2 | 3 => {
                if let Some(i) = pick(&mut rng) {
                    let n = 1 + rng.below(4000) as usize;
                    let data = rng.bytes(n);
                    let c = &mut clients[i];
                    if c.write_open {
                        // Non-blocking: keep exactly what the kernel took.
                        if let Ok(k) = c.stream.as_mut().unwrap().write(&data) {
                            c.wrote.extend_from_slice(&data[..k]);
                        }
                    }
                }
            }
            4 => {
                if let Some(i) = pick(&mut rng) {
                    let c = &mut clients[i];
                    if c.write_open
                        && c.stream
                            .as_mut()
                            .unwrap()
                            .write(&[POISON])
                            .is_ok_and(|n| n == 1)
                    {
                        c.wrote.push(POISON);
                    }
                }
            }
            5 => {
                if let Some(i) = pick(&mut rng) {
                    let c = &mut clients[i];
                    let _ = c.stream.as_ref().unwrap().shutdown(Shutdown::Write);
                    c.write_open = false;
                }
            }
            6 => {
                if let Some(i) = pick(&mut rng) {
                    let c = &mut clients[i];
                    c.drain();
                    if rng.below(2) == 0 {
                        let s = c.stream.as_ref().unwrap();
                        let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
                    }
                    c.stream = None;
                }
            }
            7 | 8 => {
                if let Some(i) = pick(&mut rng) {
                    let conn = clients[i].conn;
                    let n = 1 + rng.below(20_000) as usize;
                    let data = rng.bytes(n);
                    if server.send(conn, &data).is_ok() {
                        accepted_sends
                            .entry(conn)
                            .or_default()
                            .extend_from_slice(&data);
                    }
                    if let Some(p) = server.pending_data_length(conn) {
                        assert!(p <= MAX_PENDING, "seed {seed}: {p} bytes pending");
                    }
                }
            }
            9 => {
                if let Some(i) = pick(&mut rng) {
                    let _ = server.pause_receive(clients[i].conn, rng.below(2) == 0);
                }
            }
            10 => {
                if let Some(i) = pick(&mut rng) {
                    let _ = server.disconnect(clients[i].conn, rng.below(2) == 0);
                }
            }
            _ => {
                for c in clients.iter_mut() {
                    c.drain();
                }
                std::thread::sleep(Duration::from_millis(rng.below(3)));
            }
        }
    }
    // Resume every paused connection's reads, then stop and wait (bounded).
    for c in &clients {
        let _ = server.pause_receive(c.conn, false);
    }
    server.stop();
    assert!(
        server.wait_timeout(Duration::from_secs(20)).unwrap(),
        "seed {seed}: stop did not finish"
    );
    for c in clients.iter_mut() {
        let until = Instant::now() + Duration::from_secs(5);
        while c.drain() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    let violations = contract.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "seed {seed}: {violations:#?}");
    assert_eq!(contract.shutdowns.load(Ordering::SeqCst), 1, "seed {seed}");
    let conns = contract.conns.lock().unwrap();
    for (c, s) in conns.iter() {
        assert!(s.closed.is_some(), "seed {seed}: {c} never closed");
    }
    for cl in &clients {
        let s = &conns[&cl.conn];
        assert!(
            cl.wrote.starts_with(&s.received),
            "seed {seed}: {} received {} bytes that are not a prefix of the {} its client ({}) wrote",
            cl.conn,
            s.received.len(),
            cl.wrote.len(),
            cl.local
        );
        if s.received.contains(&POISON) {
            assert_eq!(
                s.closed.map(|c| c.0),
                Some(SocketOperation::Receive),
                "seed {seed}"
            );
        }
        let sent = accepted_sends.get(&cl.conn).map_or(&[][..], |v| &v[..]);
        assert!(
            sent.starts_with(&cl.read),
            "seed {seed}: client of {} read {} bytes that are not a prefix of the {} accepted by send",
            cl.conn,
            cl.read.len(),
            sent.len()
        );
    }
}

#[test]
fn random_operations_keep_the_listener_contract() {
    let seeds: u64 = std::env::var("SHARDNET_RANDOM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let ops: usize = std::env::var("SHARDNET_RANDOM_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let t0 = Instant::now();
    for seed in 1..=seeds {
        run_seed(seed, ops);
    }
    eprintln!("{seeds} seeds × {ops} operations in {:?}", t0.elapsed());
}
