//! The handshake hook (the one TLS also uses): with `auto_handshake(false)` a plain
//! connection is up but not handshaken until `complete_handshake(conn)`; `handshake_timeout`
//! closes laggards with on_close(Close, ETIMEDOUT). Here the "handshake" is an
//! application-level login.

mod support;
use shardnet::*;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

#[derive(Default)]
struct Login {
    handshakes: Mutex<Vec<ConnId>>,
    accepts: Mutex<Vec<ConnId>>,
    closes: Mutex<Vec<(ConnId, SocketOperation, i32, Instant)>>,
}

impl ServerListener for Login {
    fn on_accept(
        &self,
        _: &TcpServer,
        c: ConnId,
        _: std::net::SocketAddr,
        _: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        self.accepts.lock().unwrap().push(c);
        HandleResult::Ok
    }
    fn on_handshake(&self, s: &TcpServer, c: ConnId) -> HandleResult {
        self.handshakes.lock().unwrap().push(c);
        s.send(c, b"welcome").unwrap();
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        if d == b"login" {
            s.complete_handshake(c).unwrap();
            return HandleResult::Ok;
        }
        match s.send(c, d) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((c, op, e, Instant::now()));
        HandleResult::Ok
    }
}

#[test]
fn handshake_waits_for_completion_and_times_out() {
    let l = Arc::new(Login::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .auto_handshake(false)
        .handshake_timeout(Duration::from_millis(300))
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();

    // A: connects and says nothing.
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(addr).unwrap();
    // B: logs in from its own first message (completed inside on_receive).
    let mut user = TcpStream::connect(addr).unwrap();
    user.write_all(b"login").unwrap();
    assert_eq!(read_n(&mut user, 7, 10), b"welcome");
    // C: completed from a foreign thread.
    let mut other = TcpStream::connect(addr).unwrap();
    assert!(wait_until(5, || l.accepts.lock().unwrap().len() == 3));
    let ids = l.accepts.lock().unwrap().clone();
    let done: Vec<ConnId> = l.handshakes.lock().unwrap().clone();
    let c = *ids
        .iter()
        .find(|id| !done.contains(id) && server.remote_addr(**id) == other.local_addr().ok())
        .expect("C accepted");
    server.complete_handshake(c).unwrap();
    assert_eq!(read_n(&mut other, 7, 10), b"welcome");

    // A is closed by the timeout, with no on_handshake; B and C survive it.
    assert!(peer_closed(&mut silent, 5));
    assert!(wait_until(5, || l.closes.lock().unwrap().len() == 1));
    let (a, op, errno, at) = l.closes.lock().unwrap()[0];
    assert_eq!((op, errno), (SocketOperation::Close, libc::ETIMEDOUT));
    let after = at.duration_since(t0);
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_secs(3),
        "closed after {after:?}"
    );
    assert!(!l.handshakes.lock().unwrap().contains(&a));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(l.closes.lock().unwrap().len(), 1, "handshaken ones stay");
    echo_roundtrip(&mut user, b"still here");
    echo_roundtrip(&mut other, b"me too");
    assert_eq!(l.handshakes.lock().unwrap().len(), 2);
    // Completing twice is harmless: no second on_handshake.
    // A send posted after it travels the same inbox, so once it arrives the second completion
    // has been handled; a second on_handshake would have sent "welcome" before it.
    server.complete_handshake(c).unwrap();
    server.send(c, b"x").unwrap();
    assert_eq!(read_n(&mut other, 1, 10), b"x");
    assert_eq!(l.handshakes.lock().unwrap().len(), 2);
    server.stop();
    server.wait().unwrap();
}

/// The Agent's hook sits after on_connect: connected but not handshaken → timed out.
#[test]
fn agent_handshake_timeout_follows_connect() {
    #[derive(Default)]
    struct A {
        connects: Mutex<Vec<ConnId>>,
        handshakes: Mutex<Vec<ConnId>>,
        closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
    }
    impl AgentListener for A {
        fn on_connect(&self, _: &TcpAgent, c: ConnId) -> HandleResult {
            self.connects.lock().unwrap().push(c);
            HandleResult::Ok
        }
        fn on_handshake(&self, _: &TcpAgent, c: ConnId) -> HandleResult {
            self.handshakes.lock().unwrap().push(c);
            HandleResult::Ok
        }
        fn on_receive(&self, _: &TcpAgent, _: ConnId, _: &[u8]) -> HandleResult {
            HandleResult::Ok
        }
        fn on_close(&self, _: &TcpAgent, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
            self.closes.lock().unwrap().push((c, op, e));
            HandleResult::Ok
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let (a, _) = l.accept().unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    });
    let side = Arc::new(A::default());
    let agent = TcpAgent::builder()
        .runtime(rt(1))
        .auto_handshake(false)
        .handshake_timeout(Duration::from_millis(200))
        .start(side.clone())
        .unwrap();
    let lagging = agent.connect("127.0.0.1", port).unwrap();
    let prompt = agent.connect("127.0.0.1", port).unwrap();
    assert!(wait_until(5, || side.connects.lock().unwrap().len() == 2));
    agent.complete_handshake(prompt).unwrap();
    assert!(wait_until(5, || side.closes.lock().unwrap().len() == 1));
    assert_eq!(
        side.closes.lock().unwrap()[0],
        (lagging, SocketOperation::Close, libc::ETIMEDOUT)
    );
    assert_eq!(*side.handshakes.lock().unwrap(), vec![prompt]);
    assert!(agent.is_connected(prompt));
    let _socks = held.join().unwrap();
    agent.stop();
    agent.wait().unwrap();
}
