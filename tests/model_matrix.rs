//! All nine shape × model combinations (Server, Agent, Client × Push, Pull, Pack): one echo
//! round trip each, every byte checked. The model is one builder option; the peers are plain
//! std sockets (a raw echo thread for Agent and Client, which echoes Pack frames unchanged).

mod support;
use shardnet::pack::{decode_header, encode_header, PackConfig};
use shardnet::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

const FLAG: u16 = 0x2A;

fn models() -> [(&'static str, ReceiveModel); 3] {
    [
        ("push", ReceiveModel::Push),
        ("pull", ReceiveModel::Pull),
        ("pack", ReceiveModel::Pack(PackConfig::new(FLAG, 0x4_0000))),
    ]
}

/// What each side sends: a few messages of very different sizes.
fn messages() -> Vec<Vec<u8>> {
    [1usize, 100, 4096, 70_000]
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(n, i as u64 + 1))
        .collect()
}

/// Collects what a component receives, whatever the model: bytes for Push and Pull (Pull
/// fetches everything announced), whole messages for Pack.
#[derive(Default)]
struct Collect {
    bytes: Mutex<Vec<u8>>,
    msgs: Mutex<Vec<Vec<u8>>>,
}

impl Collect {
    fn took(&self, model: &ReceiveModel, want: &[Vec<u8>]) -> bool {
        match model {
            ReceiveModel::Pack(_) => self.msgs.lock().unwrap().len() == want.len(),
            _ => self.bytes.lock().unwrap().len() == want.iter().map(|m| m.len()).sum::<usize>(),
        }
    }
    fn check(&self, name: &str, model: &ReceiveModel, want: &[Vec<u8>]) {
        match model {
            ReceiveModel::Pack(_) => assert_eq!(&*self.msgs.lock().unwrap(), want, "{name}"),
            _ => assert!(
                *self.bytes.lock().unwrap() == want.concat(),
                "{name}: bytes"
            ),
        }
    }
    fn pulled(&self, r: FetchResult, buf: Vec<u8>) -> HandleResult {
        assert_eq!(r, FetchResult::Ok);
        self.bytes.lock().unwrap().extend_from_slice(&buf);
        HandleResult::Ok
    }
}

impl ServerListener for Collect {
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        // Echo: raw bytes (Push) or one message per message (Pack: `send` frames it).
        match s.send(c, d) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_pull_receive(&self, s: &TcpServer, c: ConnId, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        assert_eq!(s.fetch(c, &mut buf), FetchResult::Ok);
        match s.send(c, &buf) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

impl AgentListener for Collect {
    fn on_receive(&self, _: &TcpAgent, _: ConnId, d: &[u8]) -> HandleResult {
        self.bytes.lock().unwrap().extend_from_slice(d);
        self.msgs.lock().unwrap().push(d.to_vec());
        HandleResult::Ok
    }
    fn on_pull_receive(&self, a: &TcpAgent, c: ConnId, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        let r = a.fetch(c, &mut buf);
        self.pulled(r, buf)
    }
    fn on_close(&self, _: &TcpAgent, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

impl ClientListener for Collect {
    fn on_receive(&self, _: &TcpClient, d: &[u8]) -> HandleResult {
        self.bytes.lock().unwrap().extend_from_slice(d);
        self.msgs.lock().unwrap().push(d.to_vec());
        HandleResult::Ok
    }
    fn on_pull_receive(&self, c: &TcpClient, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        let r = c.fetch(&mut buf);
        self.pulled(r, buf)
    }
    fn on_close(&self, _: &TcpClient, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

/// A std echo server on its own thread: echoes raw bytes of each accepted connection.
fn raw_echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let _ = std::io::copy(&mut s, &mut w);
            });
        }
    });
    port
}

#[test]
fn server_echoes_under_every_model() {
    for (name, model) in models() {
        eprintln!("server under {name}");
        let l = Arc::new(Collect::default());
        let server = TcpServer::builder()
            .runtime(rt(2))
            .receive_model(model)
            .start("127.0.0.1:0", l.clone())
            .unwrap();
        let mut peer = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for m in messages() {
            match model {
                ReceiveModel::Pack(_) => {
                    let mut framed = encode_header(FLAG, m.len() as u32).to_vec();
                    framed.extend_from_slice(&m);
                    // The echo is the same frame byte for byte, header included.
                    echo_roundtrip(&mut peer, &framed);
                }
                _ => echo_roundtrip(&mut peer, &m),
            }
        }
        if model == ReceiveModel::Pull {
            // Everything was fetched: no connection holds a block.
            let stats = server.pull_stats();
            assert_eq!(stats.len(), 2, "one pull store per shard");
            assert!(stats
                .iter()
                .all(|s| s.buffered == 0 && s.blocks_in_use == 0));
        }
        drop(peer);
        server.stop();
        server.wait().unwrap();
    }
}

#[test]
fn agent_round_trips_under_every_model() {
    let port = raw_echo_server();
    for (name, model) in models() {
        let l = Arc::new(Collect::default());
        let agent = TcpAgent::builder()
            .runtime(rt(2))
            .receive_model(model)
            .start(l.clone())
            .unwrap();
        let c = agent.connect("127.0.0.1", port).unwrap();
        assert!(wait_until(10, || agent.is_connected(c)), "{name}");
        let want = messages();
        for m in &want {
            agent.send(c, m).unwrap();
        }
        assert!(wait_until(10, || l.took(&model, &want)), "{name}");
        l.check(name, &model, &want);
        agent.stop();
        agent.wait().unwrap();
    }
}

#[test]
fn client_round_trips_under_every_model() {
    let port = raw_echo_server();
    for (name, model) in models() {
        let l = Arc::new(Collect::default());
        let client = TcpClient::builder()
            .receive_model(model)
            .start("127.0.0.1", port, false, l.clone())
            .unwrap();
        let want = messages();
        for m in &want {
            client.send(m).unwrap();
        }
        assert!(wait_until(10, || l.took(&model, &want)), "{name}");
        l.check(name, &model, &want);
        client.stop();
        client.wait().unwrap();
    }
}

/// The Pack echo really is framed on the wire: read it back header by header.
#[test]
fn pack_server_frames_its_echo() {
    let l = Arc::new(Collect::default());
    let server = TcpServer::builder()
        .runtime(rt(1))
        .receive_model(models()[2].1)
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let mut peer = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut framed = encode_header(FLAG, 5).to_vec();
    framed.extend_from_slice(b"hello");
    peer.write_all(&framed).unwrap();
    let mut h = [0u8; 4];
    peer.read_exact(&mut h).unwrap();
    assert_eq!(decode_header(h), (FLAG, 5));
    let mut body = [0u8; 5];
    peer.read_exact(&mut body).unwrap();
    assert_eq!(&body, b"hello");
    server.stop();
    server.wait().unwrap();
}
