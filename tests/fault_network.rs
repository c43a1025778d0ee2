//! A peer that vanishes without a FIN or RST: its machine loses power, a NAT forgets it, a cable
//! is pulled. Nothing arrives, ever. The peer lives in a network namespace this test creates
//! (a veth pair, addresses 10.78.N.0/24 owned by the test), and "vanishing" is the peer's end
//! of the veth taken down inside the namespace: the host's end loses its carrier and every
//! packet towards the peer is dropped silently, with no RST or ICMP, as when a cable is pulled.
//! (`tc netem loss 100%` would do the same, but this kernel has no netem.) The server must
//! notice by itself, through TCP keepalive or its idle timeout, and close the connection
//! exactly once with ETIMEDOUT.
//!
//! Needs root (network namespaces); skipped without it unless `SHARDNET_REQUIRE_PEERS` is set,
//! as in CI.

mod support;

use shardnet::*;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// A namespace with one end of a veth pair; deleted (with the veth) on drop.
struct Netns {
    name: String,
    host_if: String,
    peer_if: String,
    host_ip: String,
    peer_ip: String,
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Netns {
    /// Namespace `n` of this process (several tests run at once), or None without privileges.
    fn new(n: u8) -> Option<Netns> {
        let id = std::process::id() % 10_000;
        let ns = Netns {
            name: format!("shardnet-fault-{id}-{n}"),
            host_if: format!("snf{id}h{n}"),
            peer_if: format!("snf{id}p{n}"),
            host_ip: format!("10.78.{n}.1"),
            peer_ip: format!("10.78.{n}.2"),
        };
        let (name, h, p) = (&ns.name, &ns.host_if, &ns.peer_if);
        let host_cidr = format!("{}/24", ns.host_ip);
        let peer_cidr = format!("{}/24", ns.peer_ip);
        let steps: [&[&str]; 8] = [
            &["ip", "netns", "add", name],
            &["ip", "link", "add", h, "type", "veth", "peer", "name", p],
            &["ip", "link", "set", p, "netns", name],
            &["ip", "addr", "add", &host_cidr, "dev", h],
            &["ip", "link", "set", h, "up"],
            &[
                "ip", "netns", "exec", name, "ip", "addr", "add", &peer_cidr, "dev", p,
            ],
            &["ip", "netns", "exec", name, "ip", "link", "set", p, "up"],
            &["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ];
        for s in steps {
            if !sh(s) {
                assert!(
                    std::env::var_os("SHARDNET_REQUIRE_PEERS").is_none(),
                    "network namespaces are required (root and iproute2): `{}` failed",
                    s.join(" ")
                );
                eprintln!("SKIP: `{}` failed (not root?)", s.join(" "));
                return None;
            }
        }
        Some(ns)
    }

    /// The cable is pulled: nothing crosses the veth from now on; the peer's process stays
    /// alive and never closes its socket.
    fn vanish(&self) {
        assert!(sh(&[
            "ip",
            "netns",
            "exec",
            &self.name,
            "ip",
            "link",
            "set",
            &self.peer_if,
            "down",
        ]));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        sh(&["ip", "link", "del", &self.host_if]);
        sh(&["ip", "netns", "del", &self.name]);
    }
}

/// A python client inside the namespace: connects, sends `hello`, waits for the echo, prints
/// `echoed`, then sleeps (it never closes: the test makes it vanish).
const CLIENT: &str = "import socket,sys,time
s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=10)
s.sendall(b'hello')
b=b''
while len(b)<5: b+=s.recv(5-len(b))
print('echoed',flush=True)
time.sleep(600)
";

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peer_in(ns: &Netns, server: SocketAddr) -> Peer {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c", CLIENT])
        .arg(server.ip().to_string())
        .arg(server.port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 in the namespace");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "echoed", "the peer did not get its echo");
    Peer(child)
}

/// Starts an echo server on the host end of `ns`, connects the peer, makes it vanish, and
/// returns how long the server took to close it and the closes it reported.
fn vanish_and_wait(
    ns: &Netns,
    b: TcpServerBuilder,
    limit: Duration,
) -> (Duration, Vec<(ConnId, SocketOperation, i32)>) {
    let rec = Arc::new(Record::default());
    let r = rec.clone();
    let server = b
        .runtime(rt(2))
        .start_with(&format!("{}:0", ns.host_ip), move |_| EchoRec(r.clone()))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let _peer = peer_in(ns, addr);
    assert_eq!(server.connection_count(), 1);
    ns.vanish();
    let t0 = Instant::now();
    assert!(
        wait_until(limit.as_secs(), || !rec.closes().is_empty()),
        "a vanished peer was never closed"
    );
    let took = t0.elapsed();
    // Nothing more comes for it.
    std::thread::sleep(Duration::from_millis(500));
    let closes = rec.closes();
    server.stop();
    server.wait().unwrap();
    (took, closes)
}

#[test]
fn keepalive_closes_a_vanished_peer_once() {
    let Some(ns) = Netns::new(1) else { return };
    // Probes after 1 s idle, every 1 s; Linux gives up after 9 unanswered (TCP_KEEPCNT).
    let b = TcpServer::builder().keepalive(Duration::from_secs(1), Duration::from_secs(1));
    let (took, closes) = vanish_and_wait(&ns, b, Duration::from_secs(40));
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert_eq!(closes[0].2, libc::ETIMEDOUT, "{closes:?}");
    assert!(
        took >= Duration::from_secs(5),
        "closed after {took:?}: before the probes ran out"
    );
    eprintln!(
        "keepalive: closed {took:?} after the peer vanished: {:?}",
        closes[0]
    );
}

#[test]
fn idle_timeout_closes_a_vanished_peer_once() {
    let Some(ns) = Netns::new(2) else { return };
    let b = TcpServer::builder()
        .keepalive(Duration::ZERO, Duration::ZERO)
        .idle_timeout(Duration::from_secs(2));
    let (took, closes) = vanish_and_wait(&ns, b, Duration::from_secs(20));
    assert_eq!(
        closes,
        vec![(closes[0].0, SocketOperation::Close, libc::ETIMEDOUT)]
    );
    assert!(took >= Duration::from_millis(1500), "closed after {took:?}");
    eprintln!("idle timeout: closed {took:?} after the peer vanished");
}
