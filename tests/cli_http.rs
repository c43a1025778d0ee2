//! `shardnet http` end to end with curl: static files (Content-Type, Last-Modified,
//! If-Modified-Since → 304, 404, no escape by `..`, encoded dots or a symlink) and
//! `--echo-request` (the request-target exactly as received).

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::free_port;

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Server, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args([
            "http",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shards",
            "1",
        ])
        .args(args)
        .args(["--duration", "30"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "shardnet http did not come up");
    (Server(child), port)
}

/// curl with `-w` printing the status last; returns (status, headers + body).
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-i", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.to_string(), body.to_string())
}

#[test]
fn static_files_and_their_limits() {
    let dir = std::env::temp_dir().join(format!("shardnet-cli-http-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("css")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(dir.join("css/site.css"), "body{}").unwrap();
    let _ = std::os::unix::fs::symlink("/etc", dir.join("escape"));
    let (_server, port) = start(&["--root", dir.to_str().unwrap()]);
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");

    let (code, out) = curl(&[&url("/")]);
    assert_eq!(code, "200");
    assert!(
        out.to_ascii_lowercase().contains("content-type: text/html"),
        "{out}"
    );
    assert!(out.ends_with("<h1>hi</h1>"), "{out}");
    let (code, out) = curl(&[&url("/css/site.css")]);
    assert_eq!(code, "200");
    assert!(
        out.to_ascii_lowercase().contains("content-type: text/css"),
        "{out}"
    );
    let modified = out
        .lines()
        .find_map(|l| l.strip_prefix("Last-Modified: "))
        .expect("Last-Modified")
        .trim()
        .to_string();
    let (code, _) = curl(&[
        "-H",
        &format!("If-Modified-Since: {modified}"),
        &url("/css/site.css"),
    ]);
    assert_eq!(code, "304");
    assert_eq!(curl(&[&url("/missing.txt")]).0, "404");
    for evil in [
        "/../../../../etc/passwd",
        "/css/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/escape/passwd",
    ] {
        let (code, out) = curl(&["--path-as-is", &url(evil)]);
        assert!(code == "403" || code == "400", "{evil}: {code}\n{out}");
        assert!(!out.contains("root:"), "{evil} leaked a file");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn echo_request_answers_the_target_as_received() {
    let (_server, port) = start(&["--echo-request"]);
    let (code, out) = curl(&[
        "--path-as-is",
        "-X",
        "POST",
        "-d",
        "ignored",
        &format!("http://127.0.0.1:{port}/a/../b%20c?x=1&y"),
    ]);
    assert_eq!(code, "200");
    assert!(out.ends_with("\r\n\r\nPOST /a/../b%20c?x=1&y"), "{out}");
}

fn run_bench(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .arg(cmd)
        .args(args)
        .args(["--shards", "1", "--duration", "1"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `--ws-echo` beside the files, loaded by `bench-ws` (plain and with permessage-deflate) and
/// by python `websockets`; `bench-http` against `--echo-request`, and its non-zero exit on 404s.
#[test]
fn ws_echo_and_the_load_generators() {
    let (_s, port) = start(&["--echo-request", "--ws-echo", "/ws"]);
    for extra in [&[][..], &["--deflate"][..]] {
        let url = format!("ws://127.0.0.1:{port}/ws");
        let mut args = vec!["--url", &url, "--conns", "8", "--size", "300"];
        args.extend_from_slice(extra);
        let (ok, out) = run_bench("bench-ws", &args);
        assert!(ok, "{out}");
        let result = out.lines().find(|l| l.starts_with("RESULT ")).unwrap();
        assert!(result.contains("conns=8 size=300"), "{result}");
        assert!(result.contains("mismatches=0"), "{result}");
        let msgs: u64 = result
            .split_whitespace()
            .find_map(|f| f.strip_prefix("msgs="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(msgs > 100, "{result}");
    }
    // An upgrade to another path is refused: bench-ws fails.
    let url = format!("ws://127.0.0.1:{port}/elsewhere");
    let (ok, _) = run_bench("bench-ws", &["--url", &url, "--conns", "2"]);
    assert!(!ok);
    // Plain HTTP still answers beside the WebSocket endpoint.
    let (code, body) = curl(&[&format!("http://127.0.0.1:{port}/plain?x=1")]);
    assert_eq!(code, "200");
    assert!(body.ends_with("GET /plain?x=1"), "{body}");
    let url = format!("http://127.0.0.1:{port}/x");
    let (ok, out) = run_bench(
        "bench-http",
        &["--url", &url, "--conns", "8", "--pipeline", "4"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("non_2xx=0 parse_errors=0"), "{out}");
}

#[test]
fn bench_http_fails_on_errors() {
    let dir = support::TempDir::new("cli-404");
    let (_s, port) = start(&["--root", dir.to_str().unwrap()]);
    let url = format!("http://127.0.0.1:{port}/missing");
    let (ok, out) = run_bench("bench-http", &["--url", &url, "--conns", "4"]);
    assert!(!ok, "404s must fail the bench: {out}");
    assert!(out.contains("non_2xx="), "{out}");
}
