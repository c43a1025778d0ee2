//! The `shardnet` binary end to end: `echo` serves, `bench` loads it, checks every byte, and
//! prints a RESULT line; a bench against a closed port fails with a non-zero exit.

mod support;
mod tls_support;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::free_port;

fn result_field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in {line}"))
}

fn bench(port: u16, mode: &str, size: &str) -> (bool, String) {
    bench_with(port, mode, size, &[])
}

fn bench_with(port: u16, mode: &str, size: &str, extra: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args(["bench", "--target", &format!("127.0.0.1:{port}")])
        .args(extra)
        .args([
            "--conns",
            "20",
            "--size",
            size,
            "--duration",
            "1",
            "--mode",
            mode,
        ])
        .args(["--shards", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success(), stdout)
}

/// Starts `shardnet echo` on `port` (stopping by itself after 20 s) and waits until it listens.
fn spawn_echo(port: u16, shards: &str, extra: &[&str]) -> std::process::Child {
    let echo = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args([
            "echo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shards",
            shards,
        ])
        .args(extra)
        .args(["--duration", "20"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "echo server did not come up");
    echo
}

#[test]
fn echo_and_bench_check_every_byte() {
    let port = free_port();
    let mut echo = spawn_echo(port, "2", &[]);
    for (mode, size) in [("pingpong", "64"), ("stream", "4096")] {
        let (ok, stdout) = bench(port, mode, size);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("RESULT "))
            .unwrap_or_else(|| panic!("no RESULT line in {stdout}"));
        assert!(ok, "bench failed: {stdout}");
        assert_eq!(result_field(line, "mismatches"), "0");
        assert_eq!(result_field(line, "conns"), "20");
        assert_eq!(result_field(line, "mode"), mode);
        assert!(
            result_field(line, "msgs").parse::<u64>().unwrap() > 100,
            "{line}"
        );
        assert!(result_field(line, "p99_ms").parse::<f64>().unwrap() > 0.0);
    }
    let _ = echo.kill();
    let _ = echo.wait();
}

#[test]
fn bench_against_nothing_fails() {
    let port = free_port();
    let (ok, stdout) = bench(port, "pingpong", "64");
    assert!(!ok, "bench must fail when nothing listens: {stdout}");
    let line = stdout.lines().find(|l| l.starts_with("RESULT ")).unwrap();
    assert_eq!(result_field(line, "connect_failures"), "20");
}

#[test]
fn pack_model_from_the_binary() {
    let port = free_port();
    let pack = [
        "--model",
        "pack",
        "--pack-flag",
        "0x169",
        "--max-pack-size",
        "65536",
    ];
    let mut echo = spawn_echo(port, "1", &pack);
    let (ok, stdout) = bench_with(port, "stream", "1000", &pack);
    let line = stdout.lines().find(|l| l.starts_with("RESULT ")).unwrap();
    assert!(ok, "{stdout}");
    assert_eq!(result_field(line, "mismatches"), "0");
    // A push bench against a pack server sends unframed bytes: the server must close them.
    let (ok, stdout) = bench(port, "pingpong", "64");
    assert!(!ok, "unframed bytes must be refused: {stdout}");
    let line = stdout.lines().find(|l| l.starts_with("RESULT ")).unwrap();
    assert_ne!(
        result_field(line, "closed_early"),
        "0",
        "closed by the server"
    );
    let _ = echo.kill();
    let _ = echo.wait();
}

#[test]
fn pull_model_from_the_binary() {
    let port = free_port();
    let mut echo = spawn_echo(port, "2", &["--model", "pull"]);
    for (mode, size) in [("pingpong", "64"), ("stream", "5000")] {
        let (ok, stdout) = bench(port, mode, size);
        let line = stdout.lines().find(|l| l.starts_with("RESULT ")).unwrap();
        assert!(ok, "{stdout}");
        assert_eq!(result_field(line, "mismatches"), "0");
    }
    let _ = echo.kill();
    let _ = echo.wait();
}

#[test]
fn tls_from_the_binary() {
    let ca = tls_support::Ca::new("cli CA");
    let leaf = ca.server(&["localhost"]);
    let dir = tls_support::temp_dir("cli");
    let cert = tls_support::write(&dir, "cert.pem", &leaf.cert_pem);
    let key = tls_support::write(&dir, "key.pem", &leaf.key_pem);
    let ca_file = tls_support::write(&dir, "ca.pem", &ca.pem);
    let port = free_port();
    let mut echo = spawn_echo(
        port,
        "2",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let verified = [
        "--tls",
        "--tls-ca",
        ca_file.to_str().unwrap(),
        "--server-name",
        "localhost",
    ];
    for (extra, mode, size) in [
        (&verified[..], "pingpong", "64"),
        (&verified[..], "stream", "20000"),
        (&["--tls", "--insecure"][..], "pingpong", "1000"),
    ] {
        let (ok, stdout) = bench_with(port, mode, size, extra);
        let line = stdout.lines().find(|l| l.starts_with("RESULT ")).unwrap();
        assert!(ok, "{extra:?}: {stdout}");
        assert_eq!(result_field(line, "mismatches"), "0");
    }
    // Verification is on by default: a CA that did not issue the certificate is refused.
    let other = tls_support::Ca::new("other CA");
    let other_file = tls_support::write(&dir, "other.pem", &other.pem);
    let (ok, stdout) = bench_with(
        port,
        "pingpong",
        "64",
        &[
            "--tls",
            "--tls-ca",
            other_file.to_str().unwrap(),
            "--server-name",
            "localhost",
        ],
    );
    assert!(
        !ok,
        "an untrusted certificate must fail the bench: {stdout}"
    );
    // It failed because every TLS handshake did (TCP connected, then closed), nothing else.
    let line = stdout.lines().find(|l| l.starts_with("RESULT ")).unwrap();
    assert_eq!(result_field(line, "connect_failures"), "0");
    assert_ne!(result_field(line, "closed_early"), "0");
    let _ = echo.kill();
    let _ = echo.wait();
    let _ = std::fs::remove_dir_all(dir);
}
