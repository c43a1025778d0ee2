//! Three chat nodes (`examples/chat_cluster.rs`, WebSocket) joined by a real `nats-server`,
//! behind a real haproxy, with 300 tungstenite clients connected through the balancer:
//! a message from a client on one node reaches a client on each other node (and the one-way
//! latency is measured); a room spanning all nodes gets every broadcast exactly once, the
//! sender excepted; after `kill -9` of one node the others keep serving, its clients reconnect
//! through haproxy to the survivors, and a send to an id of the dead node is answered with
//! "node 3 is down" instead of vanishing.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::free_port;

type Ws = tungstenite::WebSocket<TcpStream>;

const CLIENTS: usize = 300;
const ROOM: u64 = 7;

/// Children killed (and temporary files removed) when the test ends, however it ends.
#[derive(Default)]
struct Procs(Vec<Child>, Vec<PathBuf>);
impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.1 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn peers_present() -> bool {
    let have = |cmd: &str, arg: &str| Command::new(cmd).arg(arg).output().is_ok();
    if have("nats-server", "--version") && have("haproxy", "-v") {
        return true;
    }
    assert!(
        std::env::var_os("SHARDNET_REQUIRE_PEERS").is_none(),
        "nats-server and haproxy are required (apt-get install nats-server haproxy)"
    );
    eprintln!("SKIP: nats-server or haproxy missing");
    false
}

/// The example's binary: `cargo test` builds examples next to the test binaries' folder
/// (`SHARDNET_CHAT_CLUSTER_BIN` points elsewhere, e.g. at a release build for latency figures).
fn chat_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SHARDNET_CHAT_CLUSTER_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/chat_cluster");
    assert!(
        p.exists(),
        "{} missing: run the whole suite (`cargo test` builds the examples) or `cargo build --example chat_cluster`",
        p.display()
    );
    p
}

fn wait_port(port: u16, what: &str) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_node(procs: &mut Procs, node: u16, port: u16, nats: u16, metrics: u16) -> usize {
    let mut child = Command::new(chat_binary())
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .args(["--node", &node.to_string()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--nats", &format!("nats://127.0.0.1:{nats}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with(&format!("chat node {node} ")), "{line:?}");
    procs.0.push(child);
    procs.0.len() - 1
}

fn start_haproxy(procs: &mut Procs, front: u16, nodes: &[u16]) {
    let dir = std::env::temp_dir().join(format!("shardnet-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = String::from(
        "global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n  retries 3\n  option redispatch\nfrontend fe\n  bind 127.0.0.1:",
    );
    cfg.push_str(&format!(
        "{front}\n  default_backend nodes\nbackend nodes\n  balance roundrobin\n"
    ));
    for (i, p) in nodes.iter().enumerate() {
        cfg.push_str(&format!(
            "  server n{} 127.0.0.1:{p} check inter 200ms fall 2 rise 1\n",
            i + 1
        ));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    procs.1.push(dir);
    procs.0.push(
        Command::new("haproxy")
            .args(["-f", path.to_str().unwrap(), "-db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(front, "haproxy");
}

/// The next text message, or None after `secs` (or when the connection ends).
fn recv(ws: &mut Ws, secs: f64) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => return Some(t.to_string()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if Instant::now() >= deadline {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

fn send(ws: &mut Ws, text: &str) {
    ws.send(tungstenite::Message::text(text)).unwrap();
}

struct Client {
    ws: Ws,
    id: String,
    node: u16,
}

/// Connects through `port` and reads the `id` greeting.
fn connect(port: u16) -> Option<Client> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(50))).ok()?;
    s.set_nodelay(true).ok()?;
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/chat"), s).ok()?;
    let hello = recv(&mut ws, 5.0)?;
    let id = hello.strip_prefix("id ")?.to_string();
    let node = id.split('.').next()?.parse().ok()?;
    Some(Client { ws, id, node })
}

fn ask(c: &mut Client, cmd: &str) -> String {
    send(&mut c.ws, cmd);
    recv(&mut c.ws, 5.0).unwrap_or_else(|| panic!("no answer to {cmd:?}"))
}

/// Every client but `except` reads `want` as its next message; the excepted one reads nothing.
fn all_get(clients: &mut [Client], except: usize, want: &str) {
    for (i, c) in clients.iter_mut().enumerate() {
        if i == except {
            continue;
        }
        let got = recv(&mut c.ws, 5.0);
        assert_eq!(got.as_deref(), Some(want), "client {i} on node {}", c.node);
    }
}

const PARSE: &str = r#"
import sys, urllib.request, collections
from prometheus_client.parser import text_string_to_metric_families
body = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
total = collections.Counter()
for fam in text_string_to_metric_families(body):
    for s in fam.samples:
        total[s.name] += int(s.value)
for k, v in total.items():
    print(k, v)
"#;

/// A node's metrics, each summed over its labels, as Python's `prometheus_client` reads them.
fn scrape(port: u16) -> std::collections::HashMap<String, u64> {
    let out = Command::new("python3")
        .args(["-c", PARSE, &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn three_nodes_behind_haproxy_over_nats() {
    if !peers_present() {
        return;
    }
    support::raise_fd_limit();
    let mut procs = Procs::default();
    let nats = free_port();
    procs.0.push(
        Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &nats.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(nats, "nats-server");
    let ports = [free_port(), free_port(), free_port()];
    let metrics = [free_port(), free_port(), free_port()];
    let node3 = {
        let mut k = 0;
        for (i, p) in ports.iter().enumerate() {
            k = start_node(&mut procs, i as u16 + 1, *p, nats, metrics[i]);
        }
        k
    };
    // Every node hears the three (heartbeats every 500 ms).
    for p in ports {
        let mut c = connect(p).expect("direct connection to a node");
        let t = Instant::now();
        while ask(&mut c, "nodes") != "nodes 1,2,3" {
            assert!(t.elapsed() < Duration::from_secs(10), "nodes never met");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let front = free_port();
    start_haproxy(&mut procs, front, &ports);

    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|i| connect(front).unwrap_or_else(|| panic!("client {i} through haproxy")))
        .collect();
    let per_node = |cs: &[Client]| -> [usize; 4] {
        let mut n = [0; 4];
        for c in cs {
            n[c.node as usize] += 1;
        }
        n
    };
    let spread = per_node(&clients);
    assert_eq!(spread[1] + spread[2] + spread[3], CLIENTS);
    assert!(spread[1..].iter().all(|&n| n >= 90), "{spread:?}");
    let on = |cs: &[Client], node: u16| cs.iter().position(|c| c.node == node).unwrap();

    // One client on each node to one on each other node; one-way latency measured.
    let mut lat = Vec::new();
    for round in 0..100 {
        for (a, b) in [(1, 2), (2, 3), (3, 1), (1, 3), (2, 1), (3, 2)] {
            // A different receiver on node b each round.
            let ia = on(&clients, a);
            let on_b: Vec<usize> = (0..CLIENTS).filter(|&i| clients[i].node == b).collect();
            let ib = on_b[round % on_b.len()];
            let to = clients[ib].id.clone();
            let text = format!("hello {round} from {a}");
            let t = Instant::now();
            send(&mut clients[ia].ws, &format!("to {to} {text}"));
            let got = recv(&mut clients[ib].ws, 5.0);
            lat.push(t.elapsed());
            let from = clients[ia].id.clone();
            assert_eq!(got, Some(format!("from {from} {text}")));
            assert_eq!(recv(&mut clients[ia].ws, 5.0).as_deref(), Some("ok"));
        }
    }
    lat.sort();
    println!(
        "RESULT cross-node send over NATS (loopback, {} sends): p50 {:?} p99 {:?}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // Each node's metrics (read by the prometheus_client parser): 200 sends left each node
    // and 200 arrived, 3 nodes live.
    for m in metrics {
        let got = scrape(m);
        assert_eq!(got["shardnet_cluster_published_total"], 200, "{got:?}");
        assert_eq!(got["shardnet_cluster_delivered_total"], 200, "{got:?}");
        assert_eq!(got["shardnet_cluster_live_nodes"], 3, "{got:?}");
        assert_eq!(got["shardnet_cluster_stale_total"], 0, "{got:?}");
        assert!(got["shardnet_ws_messages_received_total"] >= 200, "{got:?}");
    }

    // A room over all nodes: every broadcast once to every member but its sender.
    for c in clients.iter_mut() {
        assert_eq!(ask(c, &format!("join {ROOM}")), format!("joined {ROOM}"));
    }
    std::thread::sleep(Duration::from_millis(500)); // the SUBs reach nats-server
    let (s1, s2) = (on(&clients, 1), on(&clients, 2));
    for (k, s) in [(1, s1), (2, s2), (3, s1)] {
        let id = clients[s].id.clone();
        send(&mut clients[s].ws, &format!("say {ROOM} hello-{k}"));
        all_get(&mut clients, s, &format!("room {ROOM} {id} hello-{k}"));
    }
    // Nothing else is queued anywhere: no duplicate, no echo to a sender.
    for (i, c) in clients.iter_mut().enumerate().step_by(7) {
        assert_eq!(recv(&mut c.ws, 0.05), None, "client {i}");
    }

    // kill -9 of node 3.
    let dead: Vec<String> = clients
        .iter()
        .filter(|c| c.node == 3)
        .map(|c| c.id.clone())
        .collect();
    procs.0[node3].kill().unwrap();
    procs.0[node3].wait().unwrap();
    let t = Instant::now();
    for c in clients.iter_mut().filter(|c| c.node == 3) {
        // The old connection ends; a new one goes through haproxy to a survivor.
        *c = loop {
            match connect(front) {
                Some(n) if n.node != 3 => break n,
                _ => {
                    assert!(t.elapsed() < Duration::from_secs(15), "no reconnect");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
    }
    let spread = per_node(&clients);
    assert_eq!((spread[3], spread[1] + spread[2]), (0, CLIENTS));
    println!(
        "reconnected {} clients of the killed node in {:?}",
        dead.len(),
        t.elapsed()
    );

    // A send to an id of the dead node fails clearly once its heartbeats stop (2 s).
    let s1 = on(&clients, 1);
    let t = Instant::now();
    loop {
        let answer = ask(&mut clients[s1], &format!("to {} anyone?", dead[0]));
        if answer == "err node 3 is down" {
            break;
        }
        assert_eq!(
            answer, "ok",
            "before it is seen down, the send is published"
        );
        assert!(
            t.elapsed() < Duration::from_secs(6),
            "node 3 never seen down"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("node 3 seen down {:?} after the reconnects", t.elapsed());
    assert_eq!(ask(&mut clients[s1], "nodes"), "nodes 1,2");

    // The survivors keep serving: the room (rejoined by the moved clients) and direct sends.
    for c in clients.iter_mut().filter(|c| c.node != 3) {
        // Old members are still in; the moved ones join anew (joining twice is harmless).
        assert_eq!(ask(c, &format!("join {ROOM}")), format!("joined {ROOM}"));
    }
    std::thread::sleep(Duration::from_millis(500));
    let s2 = on(&clients, 2);
    let id = clients[s2].id.clone();
    send(&mut clients[s2].ws, &format!("say {ROOM} after"));
    all_get(&mut clients, s2, &format!("room {ROOM} {id} after"));
    let (a, b) = (on(&clients, 1), on(&clients, 2));
    let to = clients[b].id.clone();
    assert_eq!(ask(&mut clients[a], &format!("to {to} still here")), "ok");
    let from = clients[a].id.clone();
    assert_eq!(
        recv(&mut clients[b].ws, 5.0),
        Some(format!("from {from} still here"))
    );
}
