//! TcpAgent over 2 shards: many connections to two echo servers (on separate runtimes, and all
//! on one shared runtime), refused connects and connect timeouts.

mod support;
use shardnet::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

struct AgentRec(Arc<Log>);

impl AgentListener for AgentRec {
    fn on_connect(&self, _: &TcpAgent, c: ConnId) -> HandleResult {
        self.0.push(Ev::Connect(c));
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpAgent, c: ConnId, d: &[u8]) -> HandleResult {
        self.0.add_data(c, d);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpAgent, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.0.push(Ev::Close(c, op, e));
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpAgent) -> HandleResult {
        self.0.push(Ev::Shutdown);
        HandleResult::Ok
    }
}

fn message_for(c: ConnId) -> Vec<u8> {
    let mut m = format!("agent conn {:020} ", c.as_u64()).into_bytes();
    m.extend(pattern(300 + (c.as_u64() % 97) as usize, c.as_u64()));
    m
}

fn run_agent_to_two_servers(shared: bool) {
    let common = rt(2);
    let pick = || if shared { common.clone() } else { rt(2) };
    let recs = [Arc::new(Record::default()), Arc::new(Record::default())];
    let servers: Vec<TcpServer> = recs
        .iter()
        .map(|r| {
            TcpServer::builder()
                .runtime(pick())
                .start("127.0.0.1:0", Arc::new(EchoRec(r.clone())))
                .unwrap()
        })
        .collect();
    let log = Arc::new(Log::default());
    let agent = TcpAgent::builder()
        .runtime(pick())
        .start(Arc::new(AgentRec(log.clone())))
        .unwrap();
    if shared {
        assert_eq!(agent.runtime().id(), servers[0].runtime().id());
    }
    let mut ids = Vec::new();
    for i in 0..200 {
        let port = servers[i % 2].listen_addr().unwrap().port();
        ids.push(agent.connect("127.0.0.1", port).unwrap());
    }
    assert!(
        wait_until(10, || log.connects().len() == 200),
        "connected {}",
        log.connects().len()
    );
    assert!(log.closes().is_empty(), "no failures: {:?}", log.closes());
    let mut connected = log.connects();
    connected.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(connected, want, "on_connect once per returned id");
    let per_shard = |k| ids.iter().filter(|c| c.shard() == ShardId(k)).count();
    assert_eq!(per_shard(0), 100, "round-robin over both agent shards");
    assert_eq!(per_shard(1), 100);
    assert_eq!(agent.connection_count(), 200);
    assert!(wait_until(5, || servers[0].connection_count() == 100
        && servers[1].connection_count() == 100));
    // Each connection's local/remote addresses are its server's.
    for (i, c) in ids.iter().enumerate() {
        assert_eq!(agent.remote_addr(*c), servers[i % 2].listen_addr());
    }
    for c in &ids {
        agent.send(*c, &message_for(*c)).unwrap();
    }
    assert!(wait_until(10, || ids
        .iter()
        .all(|c| log.data_len(*c) >= message_for(*c).len())));
    for c in &ids {
        assert_eq!(log.data_of(*c), message_for(*c), "echo on {c}");
    }
    let echoed: usize = recs
        .iter()
        .map(|r| r.received.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert_eq!(
        echoed,
        ids.iter().map(|c| message_for(*c).len()).sum::<usize>()
    );
    agent.stop();
    assert!(matches!(
        agent.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    log.assert_closed_then_shutdown(&ids);
    assert!(log
        .closes()
        .iter()
        .all(|c| c.1 == SocketOperation::Close && c.2 == 0));
    // The servers see every connection end (peer FIN) and keep running.
    for (s, r) in servers.iter().zip(&recs) {
        assert!(wait_until(5, || r.closes().len() == 100));
        assert_eq!(r.duplicates(), 0);
        assert_eq!(s.connection_count(), 0);
        assert_eq!(s.state(), ServiceState::Started);
        s.stop();
        assert!(matches!(s.wait_timeout(Duration::from_secs(10)), Ok(true)));
        assert_eq!(r.shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}

#[test]
fn agent_200_connections_to_two_servers_own_runtimes() {
    run_agent_to_two_servers(false);
}

#[test]
fn agent_and_servers_share_one_runtime() {
    run_agent_to_two_servers(true);
}

#[test]
fn refused_connect_reports_one_close() {
    let log = Arc::new(Log::default());
    let agent = TcpAgent::builder()
        .runtime(rt(2))
        .start(Arc::new(AgentRec(log.clone())))
        .unwrap();
    let port = refused_port();
    let ids: Vec<ConnId> = (0..4)
        .map(|_| agent.connect("127.0.0.1", port).unwrap())
        .collect();
    assert!(wait_until(5, || log.closes().len() == 4));
    std::thread::sleep(Duration::from_millis(200));
    for c in &ids {
        let mine: Vec<_> = log.closes().into_iter().filter(|x| x.0 == *c).collect();
        assert_eq!(
            mine,
            vec![(*c, SocketOperation::Connect, libc::ECONNREFUSED)]
        );
    }
    assert!(log.connects().is_empty(), "no on_connect");
    assert_eq!(agent.connection_count(), 0);
    agent.stop();
    assert!(matches!(
        agent.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    log.assert_closed_then_shutdown(&ids);
}

/// A loopback listener whose accept queue is full: further connects get no SYN-ACK and hang.
/// Returns the listener and the connected-but-never-accepted sockets (keep them alive).
fn hanging_target() -> Option<(socket2::Socket, Vec<socket2::Socket>, std::net::SocketAddr)> {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap();
    let mut fill = Vec::new();
    for _ in 0..16 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        match s.connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(()) => fill.push(s),
            Err(_) => {
                // This one hangs: the queue is full. Keep it too (its SYN keeps retrying).
                fill.push(s);
                return Some((l, fill, addr.as_socket().unwrap()));
            }
        }
    }
    None
}

#[test]
fn connect_timeout_reports_etimedout() {
    let Some((_l, _fill, target)) = hanging_target() else {
        panic!("could not make a loopback connect hang (accept queue never filled)");
    };
    let log = Arc::new(Log::default());
    let agent = TcpAgent::builder()
        .runtime(rt(2))
        .connect_timeout(Duration::from_millis(300))
        .start(Arc::new(AgentRec(log.clone())))
        .unwrap();
    let t0 = Instant::now();
    let ids: Vec<ConnId> = (0..2)
        .map(|_| agent.connect("127.0.0.1", target.port()).unwrap())
        .collect();
    assert!(ids[0].shard() != ids[1].shard(), "one on each shard");
    assert!(wait_until(5, || log.closes().len() == 2));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "timeout after {took:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    for c in &ids {
        let mine: Vec<_> = log.closes().into_iter().filter(|x| x.0 == *c).collect();
        assert_eq!(mine, vec![(*c, SocketOperation::Connect, libc::ETIMEDOUT)]);
    }
    assert!(log.connects().is_empty());
    agent.stop();
    assert!(matches!(
        agent.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    log.assert_closed_then_shutdown(&ids);
}

/// stop() while connects are still pending: each pending connect still gets exactly one
/// on_close, then on_shutdown.
#[test]
fn stop_with_pending_connects() {
    let Some((_l, _fill, target)) = hanging_target() else {
        panic!("could not make a loopback connect hang");
    };
    let log = Arc::new(Log::default());
    let agent = TcpAgent::builder()
        .runtime(rt(2))
        .connect_timeout(Duration::from_secs(10))
        .start(Arc::new(AgentRec(log.clone())))
        .unwrap();
    let ids: Vec<ConnId> = (0..6)
        .map(|_| agent.connect("127.0.0.1", target.port()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(log.closes().is_empty());
    agent.stop();
    assert!(matches!(
        agent.wait_timeout(Duration::from_secs(5)),
        Ok(true)
    ));
    log.assert_closed_then_shutdown(&ids);
    assert!(log.connects().is_empty());
    assert!(matches!(
        agent.connect("127.0.0.1", target.port()),
        Err(Error::IllegalState(_))
    ));
}
