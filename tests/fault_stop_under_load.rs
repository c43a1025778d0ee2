//! Stopping a server while 200 connections are busy.
//!
//! - Graceful: `disconnect(conn, false)` for every connection while bytes are queued (what an
//!   HP-Socket application does before `Stop`), then `stop`: every byte `send` accepted reaches
//!   its client, then EOF; `on_close(Close, 0)` once per connection; bounded wait.
//! - Forced: `stop` while two threads keep sending and the clients keep reading: every
//!   connection closed exactly once, `on_shutdown` once, `wait` returns within 10 s, sends
//!   after it fail, and what each client read is a prefix of what `send` accepted for it.

mod support;

use shardnet::*;
use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const CONNS: usize = 200;

#[derive(Default)]
struct Closes {
    by_conn: Mutex<HashMap<ConnId, Vec<(SocketOperation, i32)>>>,
    peers: Mutex<HashMap<SocketAddr, ConnId>>,
    after_close: AtomicUsize,
    shutdowns: AtomicUsize,
}

struct Sink(Arc<Closes>);

impl ServerListener for Sink {
    fn on_accept(
        &self,
        _: &TcpServer,
        c: ConnId,
        peer: SocketAddr,
        _: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        self.0.peers.lock().unwrap().insert(peer, c);
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpServer, c: ConnId, _: &[u8]) -> HandleResult {
        if self.0.by_conn.lock().unwrap().contains_key(&c) {
            self.0.after_close.fetch_add(1, Ordering::SeqCst);
        }
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.0
            .by_conn
            .lock()
            .unwrap()
            .entry(c)
            .or_default()
            .push((op, e));
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpServer) -> HandleResult {
        self.0.shutdowns.fetch_add(1, Ordering::SeqCst);
        HandleResult::Ok
    }
}

/// A client that reads everything until EOF or an error, on its own thread.
fn reader(mut s: TcpStream) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
}

/// A server and CONNS connected clients (each on a reading thread), with their ConnIds.
#[allow(clippy::type_complexity)]
fn setup() -> (
    TcpServer,
    Arc<Closes>,
    Vec<(ConnId, thread::JoinHandle<Vec<u8>>)>,
) {
    raise_fd_limit();
    let closes = Arc::new(Closes::default());
    let c2 = closes.clone();
    let server = TcpServer::builder()
        .runtime(rt(2))
        .max_pending_bytes(1 << 20)
        .start_with("127.0.0.1:0", move |_| Sink(c2.clone()))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let mut clients = Vec::new();
    for _ in 0..CONNS {
        let s = TcpStream::connect(addr).unwrap();
        let local = s.local_addr().unwrap();
        assert!(wait_until(5, || closes
            .peers
            .lock()
            .unwrap()
            .contains_key(&local)));
        let id = closes.peers.lock().unwrap()[&local];
        clients.push((id, reader(s)));
    }
    (server, closes, clients)
}

/// The bytes of message `i` to connection `c`: a per-connection counter, so order is checked.
fn message(c: ConnId, i: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(1024);
    while m.len() < 1024 {
        m.extend_from_slice(&c.as_u64().to_le_bytes());
        m.extend_from_slice(&i.to_le_bytes());
    }
    m
}

#[test]
fn graceful_disconnects_then_stop_deliver_every_queued_byte() {
    let (server, closes, clients) = setup();
    let mut accepted: HashMap<ConnId, Vec<u8>> = HashMap::new();
    // 256 KiB queued per connection, as fast as `send` takes it.
    for i in 0..256u32 {
        for (c, _) in &clients {
            let m = message(*c, i);
            if server.send(*c, &m).is_ok() {
                accepted.entry(*c).or_default().extend_from_slice(&m);
            }
        }
    }
    let t0 = Instant::now();
    for (c, _) in &clients {
        server.disconnect(*c, false).unwrap();
    }
    assert!(
        wait_until(30, || server.connection_count() == 0),
        "graceful disconnects did not finish"
    );
    server.stop();
    assert!(server.wait_timeout(Duration::from_secs(10)).unwrap());
    eprintln!(
        "graceful: {} MiB delivered to {CONNS} connections and closed in {:?}",
        accepted.values().map(Vec::len).sum::<usize>() >> 20,
        t0.elapsed()
    );
    for (c, r) in clients {
        let got = r.join().unwrap();
        let want = &accepted[&c];
        assert_eq!(got.len(), want.len(), "{c}: bytes lost in a graceful close");
        assert!(got == *want, "{c}: bytes differ");
    }
    let by = closes.by_conn.lock().unwrap();
    assert_eq!(by.len(), CONNS);
    assert!(
        by.values().all(|v| v == &[(SocketOperation::Close, 0)]),
        "{by:?}"
    );
    assert_eq!(closes.shutdowns.load(Ordering::SeqCst), 1);
}

#[test]
fn forced_stop_under_load_closes_each_once_without_hanging() {
    let (server, closes, clients) = setup();
    let ids: Vec<ConnId> = clients.iter().map(|(c, _)| *c).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(HashMap::<ConnId, Vec<u8>>::new()));
    let senders: Vec<_> = (0..2)
        .map(|half| {
            let (server, stop, stopped, accepted) = (
                server.clone(),
                stop.clone(),
                stopped.clone(),
                accepted.clone(),
            );
            let mine: Vec<ConnId> = ids.iter().copied().skip(half).step_by(2).collect();
            thread::spawn(move || {
                let mut i = 0u32;
                let mut failures_after_stop = 0;
                while failures_after_stop < mine.len() {
                    for &c in &mine {
                        let m = message(c, i);
                        // Read before the call: a send that starts after `wait` returned.
                        let was_stopped = stopped.load(Ordering::SeqCst);
                        match server.send(c, &m) {
                            Ok(()) => {
                                // Accepted while stopping is fine (dropped at the close);
                                // after `wait` returned it is not.
                                assert!(!was_stopped, "send accepted after the server stopped");
                                accepted
                                    .lock()
                                    .unwrap()
                                    .entry(c)
                                    .or_default()
                                    .extend_from_slice(&m)
                            }
                            Err(_) if stop.load(Ordering::SeqCst) => failures_after_stop += 1,
                            Err(_) => {}
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    stop.store(true, Ordering::SeqCst);
    server.stop();
    assert!(
        server.wait_timeout(Duration::from_secs(10)).unwrap(),
        "stop under load did not finish"
    );
    let took = t0.elapsed();
    stopped.store(true, Ordering::SeqCst);
    for s in senders {
        s.join().unwrap();
    }
    let accepted = accepted.lock().unwrap();
    let mut total_read = 0;
    for (c, r) in clients {
        let got = r.join().unwrap();
        total_read += got.len();
        let want = accepted.get(&c).map_or(&[][..], |v| &v[..]);
        assert!(
            want.starts_with(&got),
            "{c}: read bytes that were never sent, or out of order"
        );
    }
    let by = closes.by_conn.lock().unwrap();
    assert_eq!(by.len(), CONNS, "not every connection was closed");
    assert!(
        by.values().all(|v| v.len() == 1),
        "a connection closed twice: {by:?}"
    );
    assert_eq!(closes.after_close.load(Ordering::SeqCst), 0);
    assert_eq!(closes.shutdowns.load(Ordering::SeqCst), 1);
    assert!(server.send(ids[0], b"late").is_err());
    eprintln!(
        "forced: stopped in {took:?} with {CONNS} busy connections; {} MiB read before",
        total_read >> 20
    );
}
