//! Sends that cross shards: from a callback on shard 0 to connections owned by shard 1, and
//! from a plain thread to every connection (per-connection order preserved). The listener is
//! built per shard by a factory and is not `Send` (it holds `Rc<RefCell<..>>`).

mod support;
use shardnet::*;
use std::cell::RefCell;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

const CONNS: usize = 40;

/// (conn the trigger came in on, shard the callback ran on, (target, send ok) per target).
type Fanout = (ConnId, Option<ShardId>, Vec<(ConnId, bool)>);

#[derive(Default)]
struct Shared {
    /// (conn, peer) of every accepted connection, any shard.
    accepted: Mutex<Vec<(ConnId, SocketAddr)>>,
    /// Callbacks that ran on a thread other than the owning shard's.
    wrong_thread: AtomicUsize,
    /// (conn the trigger came in on, shard the callback ran on, send results).
    fanout: Mutex<Vec<Fanout>>,
    closes: Mutex<Vec<ConnId>>,
}

/// One per shard; `!Send` because of the `Rc`.
struct PerShard {
    shard: ShardId,
    rt_id: u64,
    local: Rc<RefCell<Vec<ConnId>>>,
    shared: Arc<Shared>,
}

fn message_for(c: ConnId) -> Vec<u8> {
    format!("cross-shard hello to {:020}\n", c.as_u64()).into_bytes()
}

impl PerShard {
    fn check_thread(&self, c: ConnId) {
        let here = Runtime::current();
        if c.shard() != self.shard || here != Some((self.rt_id, self.shard)) {
            self.shared.wrong_thread.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl ServerListener for PerShard {
    fn on_accept(
        &self,
        _: &TcpServer,
        c: ConnId,
        peer: SocketAddr,
        _: BorrowedFd<'_>,
    ) -> HandleResult {
        self.check_thread(c);
        self.local.borrow_mut().push(c);
        self.shared.accepted.lock().unwrap().push((c, peer));
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        self.check_thread(c);
        if d == b"fanout" {
            // Everything owned by the *other* shard, by the shared list.
            let targets: Vec<ConnId> = self
                .shared
                .accepted
                .lock()
                .unwrap()
                .iter()
                .map(|x| x.0)
                .filter(|t| t.shard() != self.shard)
                .collect();
            let results = targets
                .iter()
                .map(|&t| (t, s.send(t, &message_for(t)).is_ok()))
                .collect();
            self.shared
                .fanout
                .lock()
                .unwrap()
                .push((c, Runtime::current().map(|x| x.1), results));
        }
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        self.check_thread(c);
        self.local.borrow_mut().retain(|x| *x != c);
        self.shared.closes.lock().unwrap().push(c);
        HandleResult::Ok
    }
}

struct Setup {
    server: TcpServer,
    shared: Arc<Shared>,
    /// (client socket, its connection id on the server)
    peers: Vec<(TcpStream, ConnId)>,
}

fn setup() -> Setup {
    let shared = Arc::new(Shared::default());
    let sh = shared.clone();
    let runtime = rt(2);
    let rt_id = runtime.id();
    let server = TcpServer::builder()
        .runtime(runtime)
        .start_with("127.0.0.1:0", move |shard| PerShard {
            shard,
            rt_id,
            local: Rc::new(RefCell::new(Vec::new())),
            shared: sh.clone(),
        })
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let streams: Vec<TcpStream> = (0..CONNS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    assert!(wait_until(5, || shared.accepted.lock().unwrap().len() == CONNS));
    let accepted = shared.accepted.lock().unwrap().clone();
    let peers: Vec<(TcpStream, ConnId)> = streams
        .into_iter()
        .map(|s| {
            let me = s.local_addr().unwrap();
            let c = accepted
                .iter()
                .find(|x| x.1 == me)
                .expect("accepted peer")
                .0;
            (s, c)
        })
        .collect();
    let on = |k: usize| peers.iter().filter(|p| p.1.shard() == ShardId(k)).count();
    assert!(
        on(0) > 0 && on(1) > 0,
        "both shards own connections: {} / {}",
        on(0),
        on(1)
    );
    assert_eq!(on(0) + on(1), CONNS);
    Setup {
        server,
        shared,
        peers,
    }
}

fn teardown(s: Setup) {
    s.server.stop();
    assert!(matches!(
        s.server.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    assert_eq!(s.shared.closes.lock().unwrap().len(), CONNS);
    assert_eq!(
        s.shared.wrong_thread.load(Ordering::SeqCst),
        0,
        "callbacks on the owning shard"
    );
}

#[test]
fn callback_on_shard0_sends_to_every_shard1_connection() {
    let mut s = setup();
    let trigger = s
        .peers
        .iter()
        .position(|p| p.1.shard() == ShardId(0))
        .unwrap();
    let trigger_id = s.peers[trigger].1;
    s.peers[trigger].0.write_all(b"fanout").unwrap();
    assert!(wait_until(5, || s.shared.fanout.lock().unwrap().len() == 1));
    let (via, ran_on, results) = s.shared.fanout.lock().unwrap()[0].clone();
    assert_eq!(via, trigger_id);
    assert_eq!(ran_on, Some(ShardId(0)), "the callback ran on shard 0");
    let shard1: Vec<ConnId> = s
        .peers
        .iter()
        .map(|p| p.1)
        .filter(|c| c.shard() == ShardId(1))
        .collect();
    assert_eq!(results.len(), shard1.len());
    assert!(
        results.iter().all(|r| r.1),
        "every cross-shard send accepted: {results:?}"
    );
    for (stream, c) in s.peers.iter_mut() {
        if c.shard() == ShardId(1) {
            let want = message_for(*c);
            let got = read_n(stream, want.len(), 5);
            assert_eq!(got, want, "message for {c}");
            assert!(silent_for(stream, 20), "exactly one message");
        }
    }
    for (stream, c) in s.peers.iter_mut() {
        if c.shard() == ShardId(0) {
            assert!(silent_for(stream, 20), "shard-0 connection {c} got nothing");
        }
    }
    teardown(s);
}

#[test]
fn foreign_thread_sends_keep_per_connection_order() {
    const N: u64 = 500;
    let mut s = setup();
    let ids: Vec<ConnId> = s.peers.iter().map(|p| p.1).collect();
    let server = s.server.clone();
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            for &c in &ids {
                server.send(c, &i.to_be_bytes()).unwrap();
            }
        }
    });
    // Read while sending (the sender never blocks on a full socket this way).
    for (stream, c) in s.peers.iter_mut() {
        let got = read_n(stream, 8 * N as usize, 10);
        for (i, ch) in got.chunks(8).enumerate() {
            let v = u64::from_be_bytes(ch.try_into().unwrap());
            assert_eq!(v, i as u64, "connection {c}: message {i} out of order");
        }
        assert!(silent_for(stream, 10));
    }
    sender.join().unwrap();
    let out: u64 = s.server.shard_stats().iter().map(|x| x.bytes_out).sum();
    assert_eq!(out, 8 * N * CONNS as u64);
    teardown(s);
}
