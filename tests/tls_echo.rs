//! TLS on every shape and model: echo through all nine combinations, SNI (exact, wildcard,
//! callback abort), mutual TLS, ALPN, resumption, bad input (plain TCP, random bytes, a
//! truncated ClientHello, silence → handshake timeout), and 1,000 concurrent connections.

mod support;
mod tls_support;
use shardnet::pack::PackConfig;
use shardnet::tls::*;
use shardnet::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tls_support::*;

const PACK: PackConfig = PackConfig::new(0x77, 0x4_0000);

fn models() -> [(&'static str, ReceiveModel); 3] {
    [
        ("push", ReceiveModel::Push),
        ("pull", ReceiveModel::Pull),
        ("pack", ReceiveModel::Pack(PACK)),
    ]
}

/// Server side: echoes in every model, records handshakes, TLS info and closes.
#[derive(Default)]
struct Srv {
    handshakes: Mutex<Vec<(ConnId, TlsInfo)>>,
    received: AtomicUsize,
    closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
}

impl ServerListener for Srv {
    fn on_handshake(&self, s: &TcpServer, c: ConnId) -> HandleResult {
        let info = s.tls_info(c).expect("TLS info in on_handshake");
        self.handshakes.lock().unwrap().push((c, info));
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        assert!(
            self.handshakes.lock().unwrap().iter().any(|h| h.0 == c),
            "data before on_handshake"
        );
        self.received.fetch_add(d.len(), Ordering::Relaxed);
        match s.send(c, d) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_pull_receive(&self, s: &TcpServer, c: ConnId, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        assert_eq!(s.fetch(c, &mut buf), FetchResult::Ok);
        self.on_receive(s, c, &buf)
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((c, op, e));
        HandleResult::Ok
    }
}

/// Agent/Client side: collects bytes (Push/Pull) or messages (Pack) and TLS info.
#[derive(Default)]
struct Peer {
    bytes: Mutex<Vec<u8>>,
    msgs: Mutex<Vec<Vec<u8>>>,
    infos: Mutex<Vec<(ConnId, TlsInfo)>>,
    closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
}

impl Peer {
    fn got(&self, d: &[u8]) -> HandleResult {
        self.bytes.lock().unwrap().extend_from_slice(d);
        self.msgs.lock().unwrap().push(d.to_vec());
        HandleResult::Ok
    }
}

impl AgentListener for Peer {
    fn on_handshake(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
        self.infos.lock().unwrap().push((c, a.tls_info(c).unwrap()));
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpAgent, _: ConnId, d: &[u8]) -> HandleResult {
        self.got(d)
    }
    fn on_pull_receive(&self, a: &TcpAgent, c: ConnId, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        assert_eq!(a.fetch(c, &mut buf), FetchResult::Ok);
        self.got(&buf)
    }
    fn on_close(&self, _: &TcpAgent, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((c, op, e));
        HandleResult::Ok
    }
}

impl ClientListener for Peer {
    fn on_handshake(&self, cl: &TcpClient) -> HandleResult {
        self.infos
            .lock()
            .unwrap()
            .push((cl.conn_id(), cl.tls_info().unwrap()));
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpClient, d: &[u8]) -> HandleResult {
        self.got(d)
    }
    fn on_pull_receive(&self, cl: &TcpClient, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        assert_eq!(cl.fetch(&mut buf), FetchResult::Ok);
        self.got(&buf)
    }
    fn on_close(&self, cl: &TcpClient, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((cl.conn_id(), op, e));
        HandleResult::Ok
    }
}

fn tls_server(cfg: ServerTlsConfig, model: ReceiveModel, shards: usize) -> (TcpServer, Arc<Srv>) {
    let l = Arc::new(Srv::default());
    let s = TcpServer::builder()
        .runtime(rt(shards))
        .receive_model(model)
        .tls(cfg)
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    (s, l)
}

fn messages() -> Vec<Vec<u8>> {
    [1usize, 1000, 20_000, 100_000]
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(n, i as u64 + 7))
        .collect()
}

fn check(peer: &Peer, model: &ReceiveModel, want: &[Vec<u8>], name: &str) {
    let ok = wait_until(20, || match model {
        ReceiveModel::Pack(_) => peer.msgs.lock().unwrap().len() == want.len(),
        _ => peer.bytes.lock().unwrap().len() == want.iter().map(|m| m.len()).sum::<usize>(),
    });
    assert!(
        ok,
        "{name}: echo incomplete: {} of {}",
        peer.bytes.lock().unwrap().len(),
        want.iter().map(|m| m.len()).sum::<usize>()
    );
    match model {
        ReceiveModel::Pack(_) => assert_eq!(&*peer.msgs.lock().unwrap(), want, "{name}"),
        _ => assert!(
            *peer.bytes.lock().unwrap() == want.concat(),
            "{name}: bytes"
        ),
    }
}

/// All nine combinations: a TLS server in each model, echoed to a TLS Agent and a TLS Client
/// in the same model.
#[test]
fn echo_through_tls_in_all_nine_combinations() {
    let ca = Ca::new("nine CA");
    let leaf = ca.server(&["localhost"]);
    for (name, model) in models() {
        let cfg = ServerTlsConfig::builder()
            .identity(leaf.identity())
            .build()
            .unwrap();
        let (server, srv) = tls_server(cfg, model, 2);
        let port = server.listen_addr().unwrap().port();

        let peer = Arc::new(Peer::default());
        let agent = TcpAgent::builder()
            .runtime(rt(2))
            .receive_model(model)
            .tls(ca.client_config().build().unwrap())
            .start(peer.clone())
            .unwrap();
        let c = agent.connect_named("127.0.0.1", port, "localhost").unwrap();
        // Sent before the handshake finishes: held in the session, not lost.
        let want = messages();
        assert!(wait_until(10, || agent.is_connected(c)));
        for m in &want {
            agent.send(c, m).unwrap();
        }
        check(&peer, &model, &want, &format!("agent/{name}"));
        assert_eq!(
            peer.infos.lock().unwrap().len(),
            1,
            "agent on_handshake once"
        );
        agent.stop();
        agent.wait().unwrap();

        let peer = Arc::new(Peer::default());
        let client = TcpClient::builder()
            .receive_model(model)
            .tls(ca.client_config().build().unwrap())
            .server_name("localhost")
            .start("127.0.0.1", port, false, peer.clone())
            .unwrap();
        for m in &want {
            client.send(m).unwrap();
        }
        check(&peer, &model, &want, &format!("client/{name}"));
        client.stop();
        client.wait().unwrap();

        assert!(wait_until(5, || srv.closes.lock().unwrap().len() == 2));
        assert_eq!(srv.handshakes.lock().unwrap().len(), 2);
        for (_, info) in srv.handshakes.lock().unwrap().iter() {
            assert!(info.version.is_some() && info.cipher_suite.is_some());
            assert_eq!(info.sni.as_deref(), Some("localhost"));
        }
        server.stop();
        server.wait().unwrap();
    }
}

#[test]
fn sni_picks_exact_then_wildcard_and_callback_can_abort() {
    let ca = Ca::new("sni CA");
    let exact = ca.server(&["a.test"]);
    let wild = ca.server(&["*.w.test"]);
    let fallback = ca.server(&["default.test"]);
    let cfg = ServerTlsConfig::builder()
        .identity(fallback.identity())
        .sni("a.test", exact.identity())
        .sni("*.w.test", wild.identity())
        .sni_callback(|name| match name {
            Some("blocked.test") => SniChoice::Abort,
            _ => SniChoice::Default,
        })
        .build()
        .unwrap();
    let (server, srv) = tls_server(cfg, ReceiveModel::Push, 1);
    let port = server.listen_addr().unwrap().port();
    let peer = Arc::new(Peer::default());
    let agent = TcpAgent::builder()
        .runtime(rt(1))
        .tls(ca.client_config().build().unwrap())
        .start(peer.clone())
        .unwrap();
    let ca_ok = agent.connect_named("127.0.0.1", port, "a.test").unwrap();
    let wild_ok = agent.connect_named("127.0.0.1", port, "x.w.test").unwrap();
    let dflt = agent
        .connect_named("127.0.0.1", port, "default.test")
        .unwrap();
    assert!(wait_until(10, || peer.infos.lock().unwrap().len() == 3));
    let leaf_of = |c: ConnId| {
        peer.infos
            .lock()
            .unwrap()
            .iter()
            .find(|i| i.0 == c)
            .map(|i| i.1.peer_certificates[0].as_ref().to_vec())
            .unwrap()
    };
    assert_eq!(leaf_of(ca_ok), exact.der);
    assert_eq!(leaf_of(wild_ok), wild.der);
    assert_eq!(leaf_of(dflt), fallback.der);
    // The callback aborts: both sides close, no on_handshake on either.
    let blocked = agent
        .connect_named("127.0.0.1", port, "blocked.test")
        .unwrap();
    assert!(wait_until(10, || peer
        .closes
        .lock()
        .unwrap()
        .iter()
        .any(|c| c.0 == blocked)));
    let (_, op, errno) = *peer
        .closes
        .lock()
        .unwrap()
        .iter()
        .find(|c| c.0 == blocked)
        .unwrap();
    assert_eq!((op, errno), (SocketOperation::Receive, ERRNO_TLS));
    assert!(wait_until(5, || srv.closes.lock().unwrap().len() == 1));
    assert_eq!(srv.closes.lock().unwrap()[0].1, SocketOperation::Receive);
    // The server finishes each handshake one flight after its client did.
    assert!(wait_until(5, || srv.handshakes.lock().unwrap().len() == 3));
    agent.stop();
    agent.wait().unwrap();
    server.stop();
    server.wait().unwrap();
}

#[test]
fn mutual_tls_required_optional_and_foreign_ca() {
    let ca = Ca::new("mtls CA");
    let other = Ca::new("other CA");
    let leaf = ca.server(&["localhost"]);
    let good = ca.client("alice");
    let foreign = other.client("mallory");
    let dir = temp_dir("mtls");
    let ca_file = write(&dir, "ca.pem", &ca.pem);
    let cfg = ServerTlsConfig::builder()
        .identity(leaf.identity())
        .require_client_cert(&ca_file)
        .unwrap()
        .build()
        .unwrap();
    let (server, srv) = tls_server(cfg, ReceiveModel::Push, 1);
    let port = server.listen_addr().unwrap().port();
    let run = |client_id: Option<&Leaf>| -> (Arc<Peer>, TcpAgent, ConnId) {
        let mut b = ca.client_config();
        if let Some(id) = client_id {
            b = b.identity(id.identity());
        }
        let peer = Arc::new(Peer::default());
        let agent = TcpAgent::builder()
            .runtime(rt(1))
            .tls(b.build().unwrap())
            .start(peer.clone())
            .unwrap();
        let c = agent.connect_named("127.0.0.1", port, "localhost").unwrap();
        (peer, agent, c)
    };
    // Without a certificate: the server refuses; no data reaches on_receive.
    let (peer, agent, c) = run(None);
    // A TLS 1.3 client finishes its side before the server checks its (missing) certificate
    // and may send then; the server must still refuse, and deliver nothing.
    assert!(wait_until(10, || !peer.infos.lock().unwrap().is_empty()
        || !peer.closes.lock().unwrap().is_empty()));
    let _ = agent.send(c, b"should never arrive");
    assert!(wait_until(10, || srv.closes.lock().unwrap().len() == 1));
    let first = srv.closes.lock().unwrap()[0];
    assert_eq!((first.1, first.2), (SocketOperation::Receive, ERRNO_TLS));
    assert!(srv.handshakes.lock().unwrap().is_empty());
    assert_eq!(srv.received.load(Ordering::Relaxed), 0);
    agent.stop();
    agent.wait().unwrap();
    // A certificate from another CA: refused the same way.
    let (_peer, agent, _c) = run(Some(&foreign));
    assert!(wait_until(10, || srv.closes.lock().unwrap().len() == 2));
    assert_eq!(srv.closes.lock().unwrap()[1].2, ERRNO_TLS);
    assert!(srv.handshakes.lock().unwrap().is_empty());
    agent.stop();
    agent.wait().unwrap();
    // A valid certificate: works, and the server sees it.
    let (peer, agent, c) = run(Some(&good));
    assert!(wait_until(10, || peer.infos.lock().unwrap().len() == 1));
    agent.send(c, b"hello mtls").unwrap();
    assert!(wait_until(10, || peer.bytes.lock().unwrap().len() == 10));
    assert_eq!(&*peer.bytes.lock().unwrap(), b"hello mtls");
    // Cloned, not asserted under the lock: the live server takes it in its callbacks.
    let hs = srv.handshakes.lock().unwrap().clone();
    assert_eq!(hs.len(), 1);
    assert_eq!(hs[0].1.peer_certificates[0].as_ref(), &good.der[..]);
    agent.stop();
    agent.wait().unwrap();
    server.stop();
    server.wait().unwrap();

    // Optional: no certificate is fine, a certificate from another CA still is not.
    let cfg = ServerTlsConfig::builder()
        .identity(leaf.identity())
        .optional_client_cert(&ca_file)
        .unwrap()
        .build()
        .unwrap();
    let (server, srv) = tls_server(cfg, ReceiveModel::Push, 1);
    let port = server.listen_addr().unwrap().port();
    for (who, id, accepted) in [
        ("anonymous", None, true),
        ("foreign", Some(&foreign), false),
    ] {
        let mut b = ca.client_config();
        if let Some(id) = id {
            b = b.identity(id.identity());
        }
        let peer = Arc::new(Peer::default());
        let agent = TcpAgent::builder()
            .runtime(rt(1))
            .tls(b.build().unwrap())
            .start(peer.clone())
            .unwrap();
        let c = agent.connect_named("127.0.0.1", port, "localhost").unwrap();
        if accepted {
            assert!(
                wait_until(10, || peer.infos.lock().unwrap().len() == 1),
                "{who}"
            );
            agent.send(c, b"anon").unwrap();
            assert!(
                wait_until(10, || peer.bytes.lock().unwrap().len() == 4),
                "{who}"
            );
            assert!(srv.handshakes.lock().unwrap()[0]
                .1
                .peer_certificates
                .is_empty());
        } else {
            assert!(
                wait_until(10, || srv
                    .closes
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|c| c.2 == ERRNO_TLS)),
                "{who}"
            );
            assert_eq!(
                srv.handshakes.lock().unwrap().len(),
                1,
                "{who}: no handshake"
            );
        }
        agent.stop();
        agent.wait().unwrap();
    }
    server.stop();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn alpn_and_resumption_on_reconnect() {
    let ca = Ca::new("alpn CA");
    let leaf = ca.server(&["localhost"]);
    let cfg = ServerTlsConfig::builder()
        .identity(leaf.identity())
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let (server, srv) = tls_server(cfg, ReceiveModel::Push, 1);
    let port = server.listen_addr().unwrap().port();
    let peer = Arc::new(Peer::default());
    let agent = TcpAgent::builder()
        .runtime(rt(1))
        .tls(ca.client_config().alpn(["http/1.1"]).build().unwrap())
        .start(peer.clone())
        .unwrap();
    for round in 0..2 {
        let c = agent.connect_named("127.0.0.1", port, "localhost").unwrap();
        assert!(wait_until(10, || peer.infos.lock().unwrap().len() == round + 1));
        // Echo once so the TLS 1.3 session tickets have arrived before the reconnect.
        agent.send(c, b"ping").unwrap();
        assert!(wait_until(10, || peer.bytes.lock().unwrap().len() == 4 * (round + 1)));
        agent.disconnect(c, false).unwrap();
        assert!(wait_until(10, || peer.closes.lock().unwrap().len() == round + 1));
    }
    let infos = peer.infos.lock().unwrap();
    assert!(infos
        .iter()
        .all(|i| i.1.alpn.as_deref() == Some(b"http/1.1".as_ref())));
    assert!(!infos[0].1.resumed, "first connection is a full handshake");
    assert!(infos[1].1.resumed, "reconnect resumes the session");
    let hs = srv.handshakes.lock().unwrap();
    assert_eq!(hs[0].1.alpn.as_deref(), Some(b"http/1.1".as_ref()));
    assert!(hs[1].1.resumed);
    drop((infos, hs));
    agent.stop();
    agent.wait().unwrap();
    server.stop();
    server.wait().unwrap();
}

/// A ClientHello cut in half: the first bytes a real rustls client would send.
fn truncated_client_hello() -> Vec<u8> {
    let cfg = Arc::new(
        shardnet::tls::rustls::ClientConfig::builder_with_provider(Arc::new(
            shardnet::tls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(shardnet::tls::rustls::RootCertStore::empty())
        .with_no_client_auth(),
    );
    let mut c =
        shardnet::tls::rustls::ClientConnection::new(cfg, "localhost".try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    c.write_tls(&mut hello).unwrap();
    hello.truncate(hello.len() / 2);
    hello
}

#[test]
fn bad_input_closes_cleanly_and_spares_others() {
    let ca = Ca::new("bad CA");
    let leaf = ca.server(&["localhost"]);
    let cfg = ServerTlsConfig::builder()
        .identity(leaf.identity())
        .handshake_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let (server, srv) = tls_server(cfg, ReceiveModel::Push, 2);
    let addr: SocketAddr = server.listen_addr().unwrap();
    // A good connection echoing throughout.
    let peer = Arc::new(Peer::default());
    let agent = TcpAgent::builder()
        .runtime(rt(1))
        .tls(ca.client_config().build().unwrap())
        .start(peer.clone())
        .unwrap();
    let good = agent
        .connect_named("127.0.0.1", addr.port(), "localhost")
        .unwrap();
    assert!(wait_until(10, || peer.infos.lock().unwrap().len() == 1));
    let mut echoed = 0;
    let mut echo_good = |tag: &str| {
        agent.send(good, tag.as_bytes()).unwrap();
        echoed += tag.len();
        assert!(
            wait_until(10, || peer.bytes.lock().unwrap().len() == echoed),
            "{tag}"
        );
    };
    let cases: Vec<(&str, Vec<u8>, SocketOperation, i32)> = vec![
        (
            "plain http",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            SocketOperation::Receive,
            ERRNO_TLS,
        ),
        (
            "random bytes",
            pattern(3000, 99),
            SocketOperation::Receive,
            ERRNO_TLS,
        ),
        (
            "truncated ClientHello",
            truncated_client_hello(),
            SocketOperation::Close,
            libc::ETIMEDOUT,
        ),
        (
            "silent",
            Vec::new(),
            SocketOperation::Close,
            libc::ETIMEDOUT,
        ),
    ];
    for (i, (name, bytes, op, errno)) in cases.into_iter().enumerate() {
        let mut bad = TcpStream::connect(addr).unwrap();
        if !bytes.is_empty() {
            bad.write_all(&bytes).unwrap();
        }
        assert!(peer_closed(&mut bad, 10), "{name}: server must close");
        assert!(
            wait_until(5, || srv.closes.lock().unwrap().len() == i + 1),
            "{name}: one on_close"
        );
        let last = srv.closes.lock().unwrap()[i];
        assert_eq!((last.1, last.2), (op, errno), "{name}");
        echo_good(name);
    }
    assert_eq!(srv.handshakes.lock().unwrap().len(), 1, "only the good one");
    assert_eq!(server.connection_count(), 1);
    agent.stop();
    agent.wait().unwrap();
    server.stop();
    server.wait().unwrap();
}

/// 1,000 TLS connections from an agent to a 2-shard server, all echoing at once.
#[test]
fn a_thousand_concurrent_tls_connections_on_two_shards() {
    let ca = Ca::new("load CA");
    let leaf = ca.server(&["localhost"]);
    let cfg = ServerTlsConfig::builder()
        .identity(leaf.identity())
        .build()
        .unwrap();
    let (server, srv) = tls_server(cfg, ReceiveModel::Push, 2);
    let port = server.listen_addr().unwrap().port();

    #[derive(Default)]
    struct Load {
        bytes: Mutex<std::collections::HashMap<ConnId, Vec<u8>>>,
        handshakes: AtomicUsize,
        closes: AtomicUsize,
    }
    impl AgentListener for Load {
        fn on_handshake(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
            self.handshakes.fetch_add(1, Ordering::Relaxed);
            a.send(c, &pattern(300, c.as_u64())).unwrap();
            HandleResult::Ok
        }
        fn on_receive(&self, _: &TcpAgent, c: ConnId, d: &[u8]) -> HandleResult {
            self.bytes
                .lock()
                .unwrap()
                .entry(c)
                .or_default()
                .extend_from_slice(d);
            HandleResult::Ok
        }
        fn on_close(&self, _: &TcpAgent, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            self.closes.fetch_add(1, Ordering::Relaxed);
            HandleResult::Ok
        }
    }
    let load = Arc::new(Load::default());
    let agent = TcpAgent::builder()
        .runtime(rt(2))
        .tls(ca.client_config().build().unwrap())
        .start(load.clone())
        .unwrap();
    let ids: Vec<ConnId> = (0..1000)
        .map(|_| agent.connect_named("127.0.0.1", port, "localhost").unwrap())
        .collect();
    let done = || {
        let b = load.bytes.lock().unwrap();
        b.len() == 1000 && b.values().all(|v| v.len() == 300)
    };
    assert!(wait_until(120, done), "all 1000 echoed");
    for c in &ids {
        assert_eq!(load.bytes.lock().unwrap()[c], pattern(300, c.as_u64()));
    }
    assert_eq!(load.closes.load(Ordering::Relaxed), 0);
    assert_eq!(load.handshakes.load(Ordering::Relaxed), 1000);
    let per_shard: Vec<u64> = server.shard_stats().iter().map(|s| s.connections).collect();
    assert_eq!(per_shard.iter().sum::<u64>(), 1000);
    assert_eq!(srv.handshakes.lock().unwrap().len(), 1000);
    agent.stop();
    agent.wait().unwrap();
    server.stop();
    server.wait().unwrap();
}

/// A peer that sends close_notify and more bytes in the same write: the server takes the
/// close (nothing after close_notify is read) and keeps serving everyone else.
#[test]
fn bytes_after_close_notify_do_not_wedge_the_shard() {
    use shardnet::tls::rustls;
    let ca = Ca::new("close CA");
    let leaf = ca.server(&["localhost"]);
    let cfg = ServerTlsConfig::builder()
        .identity(leaf.identity())
        .build()
        .unwrap();
    let (server, srv) = tls_server(cfg, ReceiveModel::Push, 1);
    let addr = server.listen_addr().unwrap();
    let ccfg = rustls_client_config(&ca);
    let mut tls = rustls::ClientConnection::new(ccfg, "localhost".try_into().unwrap()).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut sock).unwrap();
    }
    tls.writer().write_all(b"before close").unwrap();
    tls.send_close_notify();
    let mut out = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut out).unwrap();
    }
    // More than rustls takes per read_tls, so bytes remain after the close_notify record.
    out.extend_from_slice(&[0x17; 40_000]);
    sock.write_all(&out).unwrap();
    assert!(wait_until(10, || srv.closes.lock().unwrap().len() == 1));
    let first = srv.closes.lock().unwrap()[0];
    assert_eq!((first.1, first.2), (SocketOperation::Close, 0));
    assert_eq!(
        srv.received.load(Ordering::Relaxed),
        12,
        "data before close_notify"
    );
    // The shard still serves: a fresh TLS agent echoes.
    let peer = Arc::new(Peer::default());
    let agent = TcpAgent::builder()
        .runtime(rt(1))
        .tls(ca.client_config().build().unwrap())
        .start(peer.clone())
        .unwrap();
    let c = agent
        .connect_named("127.0.0.1", addr.port(), "localhost")
        .unwrap();
    assert!(wait_until(10, || peer.infos.lock().unwrap().len() == 1));
    agent.send(c, b"alive").unwrap();
    assert!(wait_until(10, || peer.bytes.lock().unwrap().len() == 5));
    agent.stop();
    agent.wait().unwrap();
    server.stop();
    server.wait().unwrap();
}
