//! UdpNode: connectionless sends to and from several addresses (std sockets and another node),
//! and UdpCast-style multicast on a loopback group with a python member as a third party.

use shardnet::udp::{CastMode, UdpNode, UdpNodeListener};
use shardnet::{HandleResult, SocketOperation};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Log {
    got: Mutex<Vec<(SocketAddr, Vec<u8>)>>,
    errors: Mutex<Vec<(SocketOperation, i32)>>,
    echo: bool,
}

impl UdpNodeListener for Log {
    fn on_receive(&self, node: &UdpNode, from: SocketAddr, data: &[u8]) -> HandleResult {
        self.got.lock().unwrap().push((from, data.to_vec()));
        if self.echo {
            node.send_to(from, data).unwrap();
        }
        HandleResult::Ok
    }
    fn on_error(
        &self,
        _: &UdpNode,
        op: SocketOperation,
        e: i32,
        _: Option<SocketAddr>,
    ) -> HandleResult {
        self.errors.lock().unwrap().push((op, e));
        HandleResult::Ok
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn send_to_and_from_many_addresses() {
    let echo = Arc::new(Log {
        echo: true,
        ..Default::default()
    });
    let node = UdpNode::builder()
        .shards(2)
        .max_datagram(1000)
        .start("127.0.0.1:0", echo.clone())
        .unwrap();
    let addr = node.local_addr().unwrap();
    // 50 std sockets, each answered at its own address.
    let peers: Vec<UdpSocket> = (0..50)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect();
    for (i, p) in peers.iter().enumerate() {
        p.send_to(format!("peer {i}").as_bytes(), addr).unwrap();
    }
    let mut b = [0u8; 2048];
    for (i, p) in peers.iter().enumerate() {
        let (n, from) = p.recv_from(&mut b).unwrap();
        assert_eq!(&b[..n], format!("peer {i}").as_bytes());
        assert_eq!(from, addr);
    }
    // Another node sends from a foreign thread; the echo comes back to it.
    let other_log = Arc::new(Log::default());
    let other = UdpNode::builder()
        .shards(1)
        .start("127.0.0.1:0", other_log.clone())
        .unwrap();
    for k in 0..20u8 {
        other.send_to(addr, &[k; 100]).unwrap();
    }
    wait_for("20 echoes", || other_log.got.lock().unwrap().len() == 20);
    let got = other_log.got.lock().unwrap().clone();
    for (k, (from, d)) in got.iter().enumerate() {
        assert_eq!(*from, addr);
        assert_eq!(*d, vec![k as u8; 100], "in order from one sender");
    }
    // Over the maximum: refused at the call; received: reported through on_error.
    assert!(node
        .send_to(peers[0].local_addr().unwrap(), &[0; 1001])
        .is_err());
    peers[0].send_to(&[1u8; 1500], addr).unwrap();
    wait_for("oversize reported", || {
        echo.errors
            .lock()
            .unwrap()
            .contains(&(SocketOperation::Receive, libc::EMSGSIZE))
    });
    assert!(node.send_cast(b"x").is_err(), "no group in unicast mode");
    other.stop();
    other.wait().unwrap();
    node.stop();
    node.wait().unwrap();
}

#[test]
fn multicast_group_on_loopback() {
    let group: Ipv4Addr = "239.255.71.7".parse().unwrap();
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let cast = CastMode::Multicast {
        group: group.into(),
        ttl: 1,
        loopback: true,
    };
    let a_log = Arc::new(Log::default());
    let b_log = Arc::new(Log::default());
    let start = |log: Arc<Log>| {
        UdpNode::builder()
            .cast(cast)
            .multicast_interface(Ipv4Addr::LOCALHOST)
            .start(&format!("0.0.0.0:{port}"), log)
            .unwrap()
    };
    let a = start(a_log.clone());
    let b = start(b_log.clone());
    assert_eq!(a.cast_addr(), Some(SocketAddr::new(group.into(), port)));
    // A python member of the same group, a third party.
    let script = format!(
        r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("0.0.0.0", {port}))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("{group}") + socket.inet_aton("127.0.0.1"))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
print("READY", flush=True)
s.settimeout(5)
d, _ = s.recvfrom(100)
s.sendto(b"py:" + d, ("{group}", {port}))
print("GOT", d.decode(), flush=True)
"#
    );
    let mut py = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "READY");
    a.send_cast(b"hello group").unwrap();
    wait_for("b and the python member got it, and b its answer", || {
        let g = b_log.got.lock().unwrap();
        g.iter().any(|x| x.1 == b"hello group") && g.iter().any(|x| x.1 == b"py:hello group")
    });
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "GOT hello group");
    let _ = py.wait();
    // Loopback on: the sender sees its own group datagram too, once.
    let own = a_log
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|x| x.1 == b"hello group")
        .count();
    assert_eq!(own, 1);
    a.stop();
    b.stop();
    a.wait().unwrap();
    b.wait().unwrap();
}
