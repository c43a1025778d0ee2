//! TcpServer life cycle over 2 shards: accept refusal, every way a connection ends (on_close
//! exactly once with the right operation/errno), stop from outside and from inside a callback,
//! the connection limit, pause/resume, the pending-bytes bound, connection extras and addresses.

mod support;
use shardnet::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// What the listener does besides recording.
#[derive(Default, Clone, Copy)]
struct Opts {
    /// on_accept returns Error.
    reject: bool,
    /// on_handshake pauses receiving.
    pause: bool,
    /// on_accept stores `extra_for(conn)`.
    extra: bool,
    /// on_receive of `b"stop"` calls `stop()` (and tries `wait()`).
    stop_on_receive: bool,
    /// on_receive echoes.
    echo: bool,
    /// on_receive returns Error.
    receive_error: bool,
    /// on_handshake returns Error.
    handshake_error: bool,
}

#[derive(Default)]
struct State {
    log: Log,
    receive_calls: AtomicUsize,
    stop_returned: AtomicBool,
    /// Results of wait()/wait_timeout() called inside on_receive: true = WouldDeadlock.
    wait_inside: Mutex<Vec<bool>>,
    /// Results of pause_receive inside on_handshake.
    pause_ok: Mutex<Vec<bool>>,
    /// (conn, extra()) read inside on_close.
    extra_at_close: Mutex<Vec<(ConnId, Option<u64>)>>,
}

struct Life {
    st: Arc<State>,
    o: Opts,
}

fn extra_for(c: ConnId) -> u64 {
    c.as_u64().rotate_left(17) ^ 0x5EED_0000_DEAD_BEEF
}

impl ServerListener for Life {
    fn on_accept(
        &self,
        s: &TcpServer,
        c: ConnId,
        peer: SocketAddr,
        _: BorrowedFd<'_>,
    ) -> HandleResult {
        self.st.log.push(Ev::Accept(c, peer));
        if self.o.reject {
            return HandleResult::Error;
        }
        if self.o.extra {
            assert!(s.set_extra(c, extra_for(c)));
        }
        HandleResult::Ok
    }
    fn on_handshake(&self, s: &TcpServer, c: ConnId) -> HandleResult {
        if self.o.pause {
            self.st
                .pause_ok
                .lock()
                .unwrap()
                .push(s.pause_receive(c, true).is_ok());
        }
        if self.o.handshake_error {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        self.st.receive_calls.fetch_add(1, Ordering::SeqCst);
        self.st.log.add_data(c, d);
        if self.o.stop_on_receive && d == b"stop" {
            s.stop();
            self.st.stop_returned.store(true, Ordering::SeqCst);
            let w1 = matches!(s.wait(), Err(Error::WouldDeadlock));
            let w2 = matches!(
                s.wait_timeout(Duration::from_millis(10)),
                Err(Error::WouldDeadlock)
            );
            self.st.wait_inside.lock().unwrap().extend([w1, w2]);
        }
        if self.o.receive_error {
            return HandleResult::Error;
        }
        if self.o.echo && s.send(c, d).is_err() {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }
    fn on_close(&self, s: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.st.extra_at_close.lock().unwrap().push((c, s.extra(c)));
        self.st.log.push(Ev::Close(c, op, e));
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpServer) -> HandleResult {
        self.st.log.push(Ev::Shutdown);
        HandleResult::Ok
    }
}

fn start(o: Opts, b: TcpServerBuilder) -> (TcpServer, Arc<State>, SocketAddr) {
    let st = Arc::new(State::default());
    let server = b
        .runtime(rt(2))
        .start("127.0.0.1:0", Arc::new(Life { st: st.clone(), o }))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    (server, st, addr)
}

fn stop_and_wait(server: &TcpServer) {
    server.stop();
    assert!(matches!(
        server.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    assert_eq!(server.state(), ServiceState::Stopped);
}

/// Connects and waits until the server has accepted this socket; returns its id.
fn connect_accepted(addr: SocketAddr, st: &State) -> (TcpStream, ConnId) {
    let s = TcpStream::connect(addr).unwrap();
    let me = s.local_addr().unwrap();
    assert!(
        wait_until(5, || st.log.conn_for_peer(me).is_some()),
        "accepted"
    );
    let c = st.log.conn_for_peer(me).unwrap();
    (s, c)
}

#[test]
fn accept_error_drops_without_on_close() {
    let (server, st, addr) = start(
        Opts {
            reject: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let mut peers: Vec<TcpStream> = (0..6).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for p in &mut peers {
        assert!(
            peer_closed(p, 5),
            "refused connection is closed by the server"
        );
    }
    assert!(wait_until(5, || st.log.accepts().len() == 6));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        st.log.closes().is_empty(),
        "no on_close for refused connections"
    );
    assert_eq!(server.connection_count(), 0);
    for (c, _) in st.log.accepts() {
        assert!(!server.is_connected(c));
        assert_eq!(server.extra(c), None, "slot released");
    }
    let accepted: u64 = server.shard_stats().iter().map(|s| s.accepted).sum();
    assert_eq!(
        accepted, 0,
        "refused connections are not counted as accepted"
    );
    stop_and_wait(&server);
    assert!(st.log.closes().is_empty());
    assert_eq!(st.log.shutdowns(), 1);
}

#[test]
fn peer_fin_closes_once_with_close_0() {
    let (server, st, addr) = start(
        Opts {
            echo: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let (mut s, c) = connect_accepted(addr, &st);
    echo_roundtrip(&mut s, b"hello fin");
    drop(s);
    assert!(wait_until(5, || !st.log.closes().is_empty()));
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(st.log.closes(), vec![(c, SocketOperation::Close, 0)]);
    assert!(!server.is_connected(c));
    assert!(matches!(server.send(c, b"x"), Err(Error::NotFound)));
    stop_and_wait(&server);
    st.log.assert_closed_then_shutdown(&[c]);
}

#[test]
fn peer_rst_closes_once_with_econnreset() {
    let (server, st, addr) = start(
        Opts {
            echo: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let (mut s, c) = connect_accepted(addr, &st);
    echo_roundtrip(&mut s, b"hello rst");
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    assert!(wait_until(5, || !st.log.closes().is_empty()));
    std::thread::sleep(Duration::from_millis(150));
    let closes = st.log.closes();
    assert_eq!(closes.len(), 1, "exactly one on_close: {closes:?}");
    let (id, op, errno) = closes[0];
    assert_eq!(id, c);
    assert!(
        (op == SocketOperation::Receive && errno == libc::ECONNRESET)
            || (op == SocketOperation::Close && errno == 0),
        "RST reported as {op:?}/{errno}"
    );
    eprintln!("RST observed as on_close({op:?}, {errno})");
    stop_and_wait(&server);
    st.log.assert_closed_then_shutdown(&[c]);
}

#[test]
fn server_disconnect_closes_once_and_peer_sees_eof() {
    let (server, st, addr) = start(
        Opts {
            echo: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let (mut s, c) = connect_accepted(addr, &st);
    let (mut other, c2) = connect_accepted(addr, &st);
    echo_roundtrip(&mut s, b"before disconnect");
    server.disconnect(c, true).unwrap();
    assert!(peer_closed(&mut s, 5), "peer sees EOF");
    assert!(wait_until(5, || !st.log.closes().is_empty()));
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(st.log.closes(), vec![(c, SocketOperation::Close, 0)]);
    // A second disconnect of a gone connection is NotFound and closes nothing more.
    assert!(matches!(server.disconnect(c, true), Err(Error::NotFound)));
    // The other connection is untouched.
    assert!(server.is_connected(c2));
    echo_roundtrip(&mut other, b"still here");
    assert_eq!(server.connection_count(), 1);
    stop_and_wait(&server);
    assert!(peer_closed(&mut other, 5));
    st.log.assert_closed_then_shutdown(&[c, c2]);
    assert_eq!(
        st.log.closes()[1],
        (c2, SocketOperation::Close, 0),
        "stop closes with (Close, 0)"
    );
}

#[test]
fn stop_with_20_connections_closes_all_then_shutdown() {
    let (server, st, addr) = start(Opts::default(), TcpServer::builder());
    let mut peers: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    assert!(wait_until(5, || server.connection_count() == 20));
    let ids: Vec<ConnId> = st.log.accepts().into_iter().map(|a| a.0).collect();
    assert_eq!(ids.len(), 20);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 20, "ids are unique");
    assert!(st.log.closes().is_empty());
    stop_and_wait(&server);
    st.log.assert_closed_then_shutdown(&ids);
    assert!(st
        .log
        .closes()
        .iter()
        .all(|c| c.1 == SocketOperation::Close && c.2 == 0));
    for p in &mut peers {
        assert!(peer_closed(p, 5), "peer sees the stop");
    }
    assert_eq!(server.connection_count(), 0);
    // After stop, calls are refused and nothing more is reported.
    assert!(server.send(ids[0], b"x").is_err());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(st.log.events().len(), 20 + 20 + 1);
}

#[test]
fn stop_from_inside_on_receive() {
    let (server, st, addr) = start(
        Opts {
            stop_on_receive: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let mut peers: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
    assert!(wait_until(5, || server.connection_count() == 10));
    let ids: Vec<ConnId> = st.log.accepts().into_iter().map(|a| a.0).collect();
    peers[3].write_all(b"stop").unwrap();
    assert!(matches!(
        server.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    assert!(
        st.stop_returned.load(Ordering::SeqCst),
        "stop() returned inside the callback"
    );
    assert_eq!(
        *st.wait_inside.lock().unwrap(),
        vec![true, true],
        "wait() and wait_timeout() inside a callback are WouldDeadlock"
    );
    assert_eq!(server.state(), ServiceState::Stopped);
    st.log.assert_closed_then_shutdown(&ids);
    for p in &mut peers {
        assert!(peer_closed(p, 5));
    }
    // wait() again from the test thread returns at once.
    server.wait().unwrap();
}

/// Connects one socket and waits until the server has either accepted or rejected it.
fn connect_settled(server: &TcpServer, addr: SocketAddr, before: u64) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    assert!(wait_until(5, || {
        let st = server.shard_stats();
        st.iter()
            .map(|x| x.accepted + x.rejected_over_limit)
            .sum::<u64>()
            == before + 1
    }));
    s
}

#[test]
fn max_connections_rejects_extra() {
    let (server, st, addr) = start(Opts::default(), TcpServer::builder().max_connections(5));
    let mut peers = Vec::new();
    for i in 0..8 {
        peers.push(connect_settled(&server, addr, i));
    }
    assert_eq!(server.connection_count(), 5);
    let rejected: u64 = server
        .shard_stats()
        .iter()
        .map(|s| s.rejected_over_limit)
        .sum();
    assert_eq!(rejected, 3);
    assert_eq!(
        st.log.accepts().len(),
        5,
        "on_accept only for the kept ones"
    );
    for p in &mut peers[5..] {
        assert!(
            peer_closed(p, 5),
            "over-limit connection closed by the server"
        );
    }
    for p in &mut peers[..5] {
        assert!(silent_for(p, 100), "kept connection stays open");
    }
    // Room again after one closes.
    drop(peers.remove(0));
    assert!(wait_until(5, || server.connection_count() == 4));
    let _again = connect_settled(&server, addr, 8);
    assert!(wait_until(5, || server.connection_count() == 5));
    assert_eq!(st.log.accepts().len(), 6);
    stop_and_wait(&server);
    assert_eq!(st.log.closes().len(), 6);
}

/// Many connections arriving at once on both shards must still never exceed the limit (the
/// limit is checked on each shard against a shared count).
#[test]
fn max_connections_holds_under_concurrent_accepts() {
    for round in 0..10 {
        let (server, st, addr) = start(Opts::default(), TcpServer::builder().max_connections(5));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| TcpStream::connect(addr).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let peers: Vec<TcpStream> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert!(wait_until(5, || {
            let s = server.shard_stats();
            s.iter()
                .map(|x| x.accepted + x.rejected_over_limit)
                .sum::<u64>()
                == 100
        }));
        let kept = st.log.accepts().len();
        assert!(
            kept <= 5,
            "round {round}: {kept} connections accepted with max 5"
        );
        assert!(server.connection_count() <= 5);
        drop(peers);
        stop_and_wait(&server);
    }
}

#[test]
fn pause_in_handshake_then_resume_delivers_everything() {
    let (server, st, addr) = start(
        Opts {
            pause: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let (s, c) = connect_accepted(addr, &st);
    assert!(wait_until(5, || st.pause_ok.lock().unwrap().len() == 1));
    assert_eq!(*st.pause_ok.lock().unwrap(), vec![true]);
    let data = pattern(100 * 1024, 42);
    let mut w = s.try_clone().unwrap();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || w.write_all(&d2).unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        st.receive_calls.load(Ordering::SeqCst),
        0,
        "paused: no on_receive"
    );
    assert_eq!(st.log.data_len(c), 0);
    server.pause_receive(c, false).unwrap();
    assert!(
        wait_until(10, || st.log.data_len(c) >= data.len()),
        "got {} of {}",
        st.log.data_len(c),
        data.len()
    );
    writer.join().unwrap();
    assert!(
        st.log.data_of(c) == data,
        "bytes delivered after resume are identical"
    );
    assert!(st.receive_calls.load(Ordering::SeqCst) > 0);
    // Pause again from the test thread: new data is held until resumed.
    server.pause_receive(c, true).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let calls = st.receive_calls.load(Ordering::SeqCst);
    (&s).write_all(b"held").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(st.receive_calls.load(Ordering::SeqCst), calls);
    server.pause_receive(c, false).unwrap();
    assert!(wait_until(5, || st.log.data_len(c) == data.len() + 4));
    assert_eq!(&st.log.data_of(c)[data.len()..], b"held");
    stop_and_wait(&server);
    st.log.assert_closed_then_shutdown(&[c]);
}

#[test]
fn queue_full_and_every_accepted_byte_arrives() {
    const CHUNK: usize = 64 << 10;
    const BOUND: usize = 1 << 20;
    let (server, st, addr) = start(
        Opts::default(),
        TcpServer::builder().max_pending_bytes(BOUND),
    );
    let (mut peer, c) = connect_accepted(addr, &st);
    let mut ok_bytes = 0usize;
    let mut full = false;
    let mut chunks = 0usize;
    for i in 0..2000usize {
        let buf = vec![(i % 251) as u8; CHUNK];
        match server.send(c, &buf) {
            Ok(()) => {
                ok_bytes += CHUNK;
                chunks += 1;
            }
            Err(Error::QueueFull(n)) => {
                assert_eq!(n, BOUND);
                full = true;
                break;
            }
            Err(e) => panic!("unexpected send error: {e}"),
        }
    }
    assert!(full, "QueueFull after {ok_bytes} bytes");
    let pending = server.pending_data_length(c).unwrap();
    assert!(pending <= BOUND, "pending {pending} > bound");
    // Read everything: exactly the accepted bytes, in order, chunk by chunk.
    let got = read_n(&mut peer, ok_bytes, 10);
    for (i, ch) in got.chunks(CHUNK).enumerate() {
        assert!(
            ch.iter().all(|&b| b == (i % 251) as u8),
            "chunk {i} content"
        );
    }
    assert_eq!(got.len() / CHUNK, chunks);
    assert!(
        silent_for(&mut peer, 200),
        "no byte beyond the accepted ones"
    );
    assert!(wait_until(5, || server.pending_data_length(c) == Some(0)));
    // Room again.
    server.send(c, b"after").unwrap();
    assert_eq!(read_n(&mut peer, 5, 5), b"after");
    stop_and_wait(&server);
}

#[test]
fn extra_set_in_accept_readable_outside_and_in_close() {
    let (server, st, addr) = start(
        Opts {
            extra: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let conns: Vec<(TcpStream, ConnId)> = (0..6).map(|_| connect_accepted(addr, &st)).collect();
    for (_, c) in &conns {
        assert_eq!(server.extra(*c), Some(extra_for(*c)));
    }
    // Changing it from the test thread is seen in on_close.
    let changed = conns[0].1;
    assert!(server.set_extra(changed, 77));
    let ids: Vec<ConnId> = conns.iter().map(|x| x.1).collect();
    drop(conns);
    assert!(wait_until(5, || st.log.closes().len() == 6));
    let at_close = st.extra_at_close.lock().unwrap().clone();
    assert_eq!(at_close.len(), 6);
    for (c, v) in at_close {
        let want = if c == changed { 77 } else { extra_for(c) };
        assert_eq!(v, Some(want), "extra of {c} inside on_close");
    }
    for c in &ids {
        assert_eq!(server.extra(*c), None, "gone after on_close");
        assert!(!server.set_extra(*c, 1));
    }
    stop_and_wait(&server);
}

#[test]
fn conn_addresses_match_the_peer_socket() {
    let (server, st, addr) = start(Opts::default(), TcpServer::builder());
    let conns: Vec<(TcpStream, ConnId)> = (0..8).map(|_| connect_accepted(addr, &st)).collect();
    for (s, c) in &conns {
        assert_eq!(server.remote_addr(*c), Some(s.local_addr().unwrap()));
        assert_eq!(server.local_addr(*c), Some(s.peer_addr().unwrap()));
        assert_eq!(s.peer_addr().unwrap(), addr);
    }
    let c = conns[0].1;
    drop(conns);
    assert!(wait_until(5, || st.log.closes().len() == 8));
    assert_eq!(server.remote_addr(c), None);
    assert_eq!(server.local_addr(c), None);
    let start = Instant::now();
    stop_and_wait(&server);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn receive_error_closes_with_receive_ecanceled() {
    let (server, st, addr) = start(
        Opts {
            receive_error: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let (mut s, c) = connect_accepted(addr, &st);
    s.write_all(b"boom").unwrap();
    assert!(peer_closed(&mut s, 5), "peer sees the close");
    assert!(wait_until(5, || !st.log.closes().is_empty()));
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        st.log.closes(),
        vec![(c, SocketOperation::Receive, CALLBACK_ERROR)]
    );
    assert_eq!(st.receive_calls.load(Ordering::SeqCst), 1);
    assert_eq!(st.log.data_of(c), b"boom");
    stop_and_wait(&server);
    st.log.assert_closed_then_shutdown(&[c]);
}

#[test]
fn handshake_error_closes_with_close_ecanceled() {
    let (server, st, addr) = start(
        Opts {
            handshake_error: true,
            ..Opts::default()
        },
        TcpServer::builder(),
    );
    let (mut s, c) = connect_accepted(addr, &st);
    assert!(peer_closed(&mut s, 5), "peer sees the close");
    assert!(wait_until(5, || !st.log.closes().is_empty()));
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        st.log.closes(),
        vec![(c, SocketOperation::Close, CALLBACK_ERROR)]
    );
    assert_eq!(server.connection_count(), 0);
    stop_and_wait(&server);
    st.log.assert_closed_then_shutdown(&[c]);
}

#[test]
fn graceful_disconnect_flushes_queued_data_then_closes() {
    let (server, st, addr) = start(Opts::default(), TcpServer::builder().max_pending_bytes(0));
    let (mut peer, c) = connect_accepted(addr, &st);
    // More than the kernel buffers take while the peer does not read: some stays queued.
    let data = pattern(8 << 20, 5);
    for ch in data.chunks(256 << 10) {
        server.send(c, ch).unwrap();
    }
    assert!(wait_until(5, || server.pending_data_length(c).unwrap_or(0) > 0));
    server.disconnect(c, false).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        st.log.closes().is_empty(),
        "not closed while data is queued"
    );
    let got = read_n(&mut peer, data.len(), 10);
    assert!(got == data, "every queued byte arrives before the close");
    assert!(peer_closed(&mut peer, 5), "then EOF");
    assert!(wait_until(5, || !st.log.closes().is_empty()));
    assert_eq!(st.log.closes(), vec![(c, SocketOperation::Close, 0)]);
    stop_and_wait(&server);
    st.log.assert_closed_then_shutdown(&[c]);
}
