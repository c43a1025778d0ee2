//! `shardnet udp-echo [--arq]` driven by `shardnet bench --udp [--arq]` and by a plain python
//! UDP peer (HP's heartbeat and close datagram seen from outside), and the bench's failure when
//! nothing answers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `udp-echo` on an ephemeral port; returns it and the bound address.
fn echo(extra: &[&str]) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args([
            "udp-echo",
            "--listen",
            "127.0.0.1:0",
            "--shards",
            "1",
            "--duration",
            "30",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut line).unwrap();
    // Keep reading its stats lines: udp-echo stops when its stdout goes away.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let addr = line
        .split_whitespace()
        .nth(4)
        .expect("listening line")
        .to_string();
    assert!(line.starts_with("shardnet udp-echo listening on"), "{line}");
    (Proc(child), addr)
}

fn bench(addr: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args([
            "bench",
            "--udp",
            "--target",
            addr,
            "--conns",
            "20",
            "--duration",
            "1.5",
        ])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn field(result: &str, key: &str) -> u64 {
    result
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in {result}"))
        .parse()
        .unwrap()
}

#[test]
fn udp_echo_and_bench() {
    let (_server, addr) = echo(&[]);
    let (code, out) = bench(&addr, &["--size", "512"]);
    assert_eq!(code, 0, "{out}");
    let result = out.lines().find(|l| l.starts_with("RESULT")).unwrap();
    assert!(field(result, "msgs_per_s") > 100, "{result}");
    assert_eq!(field(result, "mismatches"), 0);
    // A python peer: a heartbeat is answered with a heartbeat, data echoed, and the close
    // datagram ends the connection without an answer.
    let script = format!(
        r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
host, port = "{addr}".rsplit(":", 1); s.connect((host, int(port)))
s.send(b""); assert s.recv(100) == b""
s.send(b"hello"); assert s.recv(100) == b"hello"
s.send(bytes.fromhex("BEB61FEBDA5246BA923359DBBFE6C8E4"))
s.settimeout(0.3)
try:
    s.recv(100); print("ANSWERED")
except socket.timeout:
    print("OK")
"#
    );
    let py = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), "OK", "{py:?}");
}

#[test]
fn udp_arq_echo_and_bench() {
    let (_server, addr) = echo(&["--arq"]);
    let (code, out) = bench(&addr, &["--arq", "--size", "1000"]);
    assert_eq!(code, 0, "{out}");
    let result = out.lines().find(|l| l.starts_with("RESULT")).unwrap();
    assert!(result.contains("bench=shardnet-udp-arq"), "{result}");
    assert!(field(result, "msgs_per_s") > 100, "{result}");
    assert_eq!(field(result, "lost"), 0);
    assert_eq!(field(result, "mismatches"), 0);
}

#[test]
fn bench_fails_when_nothing_answers() {
    // A bound socket that never answers: every datagram is lost, nothing echoed.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let t = std::time::Instant::now();
    let (code, out) = bench(&addr, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(t.elapsed() < Duration::from_secs(10));
    // ARQ: the handshake never completes.
    let out = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args([
            "bench",
            "--udp",
            "--arq",
            "--target",
            &addr,
            "--conns",
            "2",
            "--duration",
            "30",
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("handshake"),
        "{out:?}"
    );
}
