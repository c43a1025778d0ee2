//! Our sans-IO ARQ session (HP's handshake + our KCP) against the reference C KCP (`ikcp.c`
//! through PyPI `kcp`) running HP's handshake (`peers/hp_arq_peer.py`), over real UDP on
//! loopback, both roles, with 0 % and 10 % loss each way (HP's default settings recover
//! slowly from loss: RTOs double, the congestion window falls to 1, so fewer messages then). Every message is checked byte for
//! byte and in order. The session is driven by a plain blocking socket here; the components
//! drive the same session from a shard.

use shardnet_protocols::arq::{ArqConfig, ArqSession, Received};
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/hp_arq_peer.py");

/// The message the python peer sends as number `i` (and expects back).
fn msg(i: usize) -> Vec<u8> {
    let n = (i * 131) % 4096 + 1;
    (0..n).map(|j| ((i + j) & 0xFF) as u8).collect()
}

fn python_has_kcp() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import kcp"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("SHARDNET_REQUIRE_PEERS").is_none(),
            "python3 with the kcp module is required (pip install kcp)"
        );
        eprintln!("SKIP: python3 -c 'import kcp' failed (pip install kcp)");
    }
    ok
}

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A deterministic loss decision.
struct Loss {
    state: u64,
    per_mille: u64,
}

impl Loss {
    fn drop_it(&mut self) -> bool {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % 1000 < self.per_mille
    }
}

/// Drives `session` on `sock` until `done` says so; returns the delivered messages.
fn drive(
    sock: &UdpSocket,
    mut session: ArqSession,
    loss: u64,
    echo: bool,
    to_send: usize,
    deadline: Duration,
    done: &mut dyn FnMut(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u32;
    let mut loss = Loss {
        state: 0x1234_5678_9ABC_DEF1,
        per_mille: loss,
    };
    let mut scratch = Vec::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut sent = 0;
    let mut buf = vec![0u8; 65_536];
    let mut out: Vec<Vec<u8>> = Vec::new();
    session
        .tick(now(), &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))
        .unwrap();
    while !done(&got) {
        assert!(
            start.elapsed() < deadline,
            "timed out with {} messages",
            got.len()
        );
        for d in out.drain(..) {
            if !loss.drop_it() {
                sock.send(&d).unwrap();
            }
        }
        if !echo {
            while session.is_ready() && sent < to_send && session.waiting() < 64 {
                session
                    .send(now(), &msg(sent), &mut scratch, &mut |d: &[u8]| {
                        out.push(d.to_vec())
                    })
                    .unwrap();
                sent += 1;
            }
        }
        let wait = session
            .next_deadline(now())
            .map_or(5, |d| d.wrapping_sub(now()) as i32);
        sock.set_read_timeout(Some(Duration::from_millis(wait.clamp(1, 5) as u64)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            if !loss.drop_it() {
                let mut delivered = Vec::new();
                let r = session
                    .on_datagram(
                        now(),
                        &buf[..n],
                        &mut scratch,
                        &mut |d: &[u8]| out.push(d.to_vec()),
                        &mut |m: &[u8]| {
                            delivered.push(m.to_vec());
                            true
                        },
                    )
                    .expect("session error");
                if let Received::Ready = r {
                    eprintln!("ready after {} ms", start.elapsed().as_millis());
                }
                for m in delivered {
                    if echo {
                        session
                            .send(now(), &m, &mut scratch, &mut |d: &[u8]| {
                                out.push(d.to_vec())
                            })
                            .unwrap();
                    }
                    got.push(m);
                }
            }
        }
        let t = now();
        if session
            .next_deadline(t)
            .is_some_and(|d| d.wrapping_sub(t) as i32 <= 0)
        {
            session
                .tick(t, &mut scratch, &mut |d: &[u8]| out.push(d.to_vec()))
                .unwrap();
        }
    }
    got
}

#[test]
fn our_client_against_reference_kcp_server() {
    if !python_has_kcp() {
        return;
    }
    for (loss, n) in [(0u64, 150usize), (100, 40)] {
        let mut child = Command::new("python3")
            .args([PEER, "server", "0", &format!("{}", loss as f64 / 1000.0)])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _peer = Peer(child);
        let port: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(("127.0.0.1", port)).unwrap();
        let session = ArqSession::new(ArqConfig::default(), 0x0C11_E000, 0);
        let t = Instant::now();
        let got = drive(
            &sock,
            session,
            loss,
            false,
            n,
            Duration::from_secs(50),
            &mut |g| g.len() >= n,
        );
        assert_eq!(got.len(), n);
        for (i, m) in got.iter().enumerate() {
            assert_eq!(*m, msg(i), "echo {i} at {loss}‰ loss");
        }
        eprintln!(
            "client, {loss}‰ loss: {n} echoes in {} ms",
            t.elapsed().as_millis()
        );
    }
}

#[test]
fn reference_kcp_client_against_our_server() {
    if !python_has_kcp() {
        return;
    }
    for (loss, n) in [(0u64, 150usize), (100, 40)] {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let mut child = Command::new("python3")
            .args([
                PEER,
                "client",
                &port.to_string(),
                &format!("{}", loss as f64 / 1000.0),
                &n.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let _peer = Peer(child);
        // The peer prints its verdict when it has checked every echo; serve until then
        // (retransmitting the last echoes under loss).
        let verdict = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let v2 = verdict.clone();
        std::thread::spawn(move || {
            let mut l = String::new();
            let _ = BufReader::new(stdout).read_line(&mut l);
            *v2.lock().unwrap() = Some(l);
        });
        // The server makes its session when the first datagram arrives (HP: on accept).
        let mut buf = [0u8; 2048];
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (_, from) = sock.peek_from(&mut buf).unwrap();
        sock.connect(from).unwrap();
        let session = ArqSession::new(ArqConfig::default(), 0x05E2_0000, 0);
        let got = drive(
            &sock,
            session,
            loss,
            true,
            0,
            Duration::from_secs(50),
            &mut |_| verdict.lock().unwrap().is_some(),
        );
        assert_eq!(got.len(), n, "messages received at {loss}‰ loss");
        for (i, m) in got.iter().enumerate() {
            assert_eq!(*m, msg(i), "message {i} at {loss}‰ loss");
        }
        let line = verdict.lock().unwrap().clone().unwrap_or_default();
        eprintln!("server, {loss}‰ loss: peer said {}", line.trim());
        assert!(
            line.starts_with(&format!("OK {n} ")),
            "peer said {line:?} at {loss}‰"
        );
    }
}
