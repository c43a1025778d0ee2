//! Echo through TcpServer: many connections, many sizes, both placements, every byte checked.

mod support;
use shardnet::*;
use std::net::TcpStream;
use std::sync::Arc;
use support::*;

fn run_echo(placement: AcceptPlacement) {
    let rec = Arc::new(Record::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .placement(placement)
        .start("127.0.0.1:0", Arc::new(EchoRec(rec.clone())))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    // 1,000 connections, held open together, spread over 4 client threads.
    let sizes = [1usize, 7, 100, 4096, 4097, 65_536, 262_144];
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut conns: Vec<TcpStream> = (0..250)
                    .map(|_| TcpStream::connect(addr).unwrap())
                    .collect();
                for (i, c) in conns.iter_mut().enumerate() {
                    let size = if i % 25 == 0 {
                        sizes[(i / 25 + t) % sizes.len()]
                    } else {
                        1 + (i * 37) % 2000
                    };
                    echo_roundtrip(c, &pattern(size, (t * 1000 + i) as u64));
                }
                conns
            })
        })
        .collect();
    let conns: Vec<TcpStream> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(conns.len(), 1000);
    assert!(wait_until(10, || server.connection_count() == 1000));
    let stats = server.shard_stats();
    assert!(
        stats.iter().all(|s| s.connections > 0),
        "both shards serve: {stats:?}"
    );
    if placement == AcceptPlacement::Balanced {
        let (a, b) = (stats[0].connections as i64, stats[1].connections as i64);
        assert!(
            (a - b).abs() <= 2,
            "balanced placement evens shards: {a} vs {b}"
        );
    }
    drop(conns);
    assert!(wait_until(10, || rec.closes().len() == 1000));
    assert!(rec
        .closes()
        .iter()
        .all(|c| c.1 == SocketOperation::Close && c.2 == 0));
    assert_eq!(rec.duplicates(), 0);
    server.stop();
    server.wait().unwrap();
    assert_eq!(rec.shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(server.state(), ServiceState::Stopped);
}

#[test]
fn echo_1000_connections_reuseport() {
    run_echo(AcceptPlacement::ReusePort);
}

#[test]
fn echo_1000_connections_balanced() {
    run_echo(AcceptPlacement::Balanced);
}

/// A `[::]` listener with dual-stack on accepts IPv4 and IPv6 peers; with it off, IPv4 is refused.
#[test]
fn ipv6_dual_stack() {
    let rec = Arc::new(Record::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .start("[::]:0", Arc::new(EchoRec(rec.clone())))
        .unwrap();
    let port = server.listen_addr().unwrap().port();
    let mut v4 = TcpStream::connect(("127.0.0.1", port)).unwrap();
    echo_roundtrip(&mut v4, b"over ipv4");
    let mut v6 = TcpStream::connect(("::1", port)).unwrap();
    echo_roundtrip(&mut v6, b"over ipv6");
    assert!(wait_until(5, || server.connection_count() == 2));
    let remotes: Vec<_> = server
        .connection_ids()
        .iter()
        .map(|c| server.remote_addr(*c).unwrap())
        .collect();
    assert!(remotes
        .iter()
        .any(|a| a.ip().to_string().starts_with("::ffff:127.0.0.1")));
    assert!(remotes
        .iter()
        .any(|a| a.ip() == std::net::Ipv6Addr::LOCALHOST));
    server.stop();
    server.wait().unwrap();

    let v6only = TcpServer::builder()
        .runtime(rt(1))
        .dual_stack(false)
        .start("[::]:0", Arc::new(EchoRec(Arc::default())))
        .unwrap();
    let port = v6only.listen_addr().unwrap().port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(TcpStream::connect(("::1", port)).is_ok());
    v6only.stop();
    v6only.wait().unwrap();
}

/// Direct send policy, no-delay on, keepalive off, and a gather send that arrives as one stream.
struct GatherEcho(std::sync::Mutex<Vec<(bool, bool)>>);
impl ServerListener for GatherEcho {
    fn on_accept(
        &self,
        _: &TcpServer,
        _: ConnId,
        _: std::net::SocketAddr,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        let s = socket2::SockRef::from(&fd);
        self.0
            .lock()
            .unwrap()
            .push((s.nodelay().unwrap(), s.keepalive().unwrap()));
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        let (a, b) = d.split_at(d.len() / 2);
        match s.send_packets(c, &[a, b"", b]) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

#[test]
fn direct_policy_gather_send_and_options() {
    let listener = Arc::new(GatherEcho(Default::default()));
    let server = TcpServer::builder()
        .runtime(rt(2))
        .send_policy(SendPolicy::Direct)
        .no_delay(true)
        .keepalive(std::time::Duration::ZERO, std::time::Duration::ZERO)
        .start("127.0.0.1:0", listener.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let mut conns: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        echo_roundtrip(c, &pattern(1 + i * 20_000, i as u64));
    }
    assert!(wait_until(5, || server.connection_count() == 20));
    // The accepted sockets carry the configured options: no-delay on, keepalive off.
    let opts = listener.0.lock().unwrap().clone();
    assert_eq!(opts.len(), 20);
    assert!(opts
        .iter()
        .all(|&(nodelay, keepalive)| nodelay && !keepalive));
    server.stop();
    server.wait().unwrap();
}

/// Defaults: keepalive on, no-delay off, as HP-Socket.
#[test]
fn default_socket_options() {
    let l = Arc::new(GatherEcho(Default::default()));
    let server = TcpServer::builder()
        .runtime(rt(1))
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let _c = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    assert!(wait_until(5, || l.0.lock().unwrap().len() == 1));
    assert_eq!(l.0.lock().unwrap()[0], (false, true));
    server.stop();
    server.wait().unwrap();
}
