//! Autobahn|Testsuite 0.8.2 against shardnet's WebSocket server (`fuzzingclient`) and client
//! (`fuzzingserver`), every group, including 9.* (performance: messages up to 16 MiB) and 12.*
//! and 13.* (permessage-deflate); `AUTOBAHN_CASES='9.*,1.1.*'` runs a subset. The two suites run in parallel (one test
//! each). `.ci/run` installs wstest (`.ci/autobahn-setup.sh`) and sets `AUTOBAHN_WSTEST`; without
//! it these tests say SKIP, unless `SHARDNET_REQUIRE_AUTOBAHN=1` makes that a failure.
//! Each fails on any FAILED or UNIMPLEMENTED case (`.ci/autobahn-report.py`).

mod support;

use shardnet::ws::*;
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

fn wstest() -> Option<String> {
    let path = std::env::var("AUTOBAHN_WSTEST").unwrap_or_else(|_| {
        format!(
            "{}/.cache/shardnet-autobahn/venv/bin/wstest",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    if std::path::Path::new(&path).exists() {
        return Some(path);
    }
    if std::env::var("SHARDNET_REQUIRE_AUTOBAHN").is_ok_and(|v| v == "1") {
        panic!("wstest not found at {path} (run .ci/autobahn-setup.sh)");
    }
    eprintln!("SKIP: wstest not found at {path} (bash .ci/autobahn-setup.sh installs it)");
    None
}

fn cases() -> (String, String) {
    // Every group, the 9.* performance cases included (8 and 16 MiB messages, 1000s of
    // small ones: ~12 s in a debug build).
    let cases = std::env::var("AUTOBAHN_CASES").unwrap_or_else(|_| "*".into());
    let exclude = "";
    (
        cases
            .split(',')
            .map(|c| format!("\"{}\"", c.trim()))
            .collect::<Vec<_>>()
            .join(","),
        exclude.to_string(),
    )
}

fn report(dir: &std::path::Path, agent: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .arg(format!("{root}/.ci/autobahn-report.py"))
        .arg(dir)
        .args(["--agent", agent])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "Autobahn report for {agent}:\n{text}");
}

struct Echo;
impl WebSocketListener for Echo {
    fn on_message(&self, ws: &WebSocketServer, conn: ConnId, msg: Message<'_>) -> HandleResult {
        let r = match msg {
            Message::Text(t) => ws.send_text(conn, t),
            Message::Binary(b) => ws.send_binary(conn, b),
        };
        if r.is_err() {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }
    fn on_close(&self, _: &WebSocketServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

#[test]
fn autobahn_fuzzingclient_against_our_server() {
    let Some(wstest) = wstest() else { return };
    let server = WebSocketServer::builder()
        .runtime(rt(1))
        .start("127.0.0.1:0", Arc::new(Echo))
        .unwrap();
    let port = server.listen_addr().unwrap().port();
    let dir = support::TempDir::new("autobahn-server");
    let (cases, exclude) = cases();
    let spec = format!(
        "{{\"outdir\": \"{}\", \"servers\": [{{\"agent\": \"shardnet\", \"url\": \"ws://127.0.0.1:{port}/\"}}], \"cases\": [{cases}], \"exclude-cases\": [{exclude}], \"exclude-agent-cases\": {{}}}}",
        dir.join("reports").display()
    );
    std::fs::write(dir.join("spec.json"), spec).unwrap();
    let started = Instant::now();
    let st = Command::new(&wstest)
        .args(["-m", "fuzzingclient", "-s"])
        .arg(dir.join("spec.json"))
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    println!(
        "fuzzingclient took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    report(&dir.join("reports"), "shardnet");
    server.stop();
    server.wait().unwrap();
}

/// Follows Autobahn's client procedure: the case count, each case (echo until closed), then
/// the report update.
#[derive(Default)]
struct Client {
    count: Mutex<Option<u32>>,
    closed: AtomicU32,
    closed_ids: Mutex<std::collections::HashSet<ConnId>>,
}

impl WebSocketClientListener for Client {
    fn on_message(&self, ws: &WebSocketAgent, conn: ConnId, msg: Message<'_>) -> HandleResult {
        let mut count = self.count.lock().unwrap();
        if count.is_none() {
            if let Message::Text(t) = msg {
                if let Ok(n) = t.trim().parse() {
                    *count = Some(n);
                    return HandleResult::Ok;
                }
            }
        }
        drop(count);
        let r = match msg {
            Message::Text(t) => ws.send_text(conn, t),
            Message::Binary(b) => ws.send_binary(conn, b),
        };
        if r.is_err() {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }
    fn on_upgrade_failed(&self, _: &WebSocketAgent, c: ConnId, status: u16, reason: &str) {
        eprintln!("connection {c}: upgrade failed: {status} {reason}");
    }
    fn on_close(&self, _: &WebSocketAgent, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        if std::env::var("AUTOBAHN_TRACE").is_ok() {
            eprintln!("connection {c} closed: {op:?} {e}");
        }
        self.closed_ids.lock().unwrap().insert(c);
        self.closed.fetch_add(1, Ordering::SeqCst);
        HandleResult::Ok
    }
}

#[test]
fn autobahn_fuzzingserver_against_our_client() {
    let Some(wstest) = wstest() else { return };
    let port = free_port();
    let dir = support::TempDir::new("autobahn-client");
    let (cases, exclude) = cases();
    let spec = format!(
        "{{\"url\": \"ws://127.0.0.1:{port}\", \"outdir\": \"{}\", \"cases\": [{cases}], \"exclude-cases\": [{exclude}], \"exclude-agent-cases\": {{}}}}",
        dir.join("reports").display()
    );
    std::fs::write(dir.join("spec.json"), spec).unwrap();
    let child = Command::new(&wstest)
        .args(["-m", "fuzzingserver", "--webport", "0", "-s"])
        .arg(dir.join("spec.json"))
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(child);
    assert!(wait_until(30, || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    let l = Arc::new(Client::default());
    let agent = WebSocketAgent::builder()
        .shards(1)
        .deflate(Some(DeflateConfig::default()))
        .start(l.clone())
        .unwrap();
    let base = format!("ws://127.0.0.1:{port}");
    agent.connect(&format!("{base}/getCaseCount"), &[]).unwrap();
    assert!(wait_until(30, || l.closed.load(Ordering::SeqCst) == 1));
    let n = l.count.lock().unwrap().expect("the case count");
    assert!(n > 0);
    let started = Instant::now();
    for i in 1..=n {
        let conn = agent
            .connect(&format!("{base}/runCase?case={i}&agent=shardnet"), &[])
            .unwrap();
        // A case ends when its connection closes (each is bounded by Autobahn's timeouts).
        let done = wait_until(120, || l.closed_ids.lock().unwrap().contains(&conn));
        assert!(done, "case {i} did not end");
    }
    println!(
        "fuzzingserver: {n} cases in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let before = l.closed.load(Ordering::SeqCst);
    agent
        .connect(&format!("{base}/updateReports?agent=shardnet"), &[])
        .unwrap();
    assert!(wait_until(60, || l.closed.load(Ordering::SeqCst) > before));
    std::thread::sleep(Duration::from_millis(500));
    agent.stop();
    agent.wait().unwrap();
    // Every case was run and reported (a case that never connected would be missing).
    let index = std::fs::read_to_string(dir.join("reports").join("index.json")).unwrap();
    assert_eq!(
        index.matches("\"behavior\"").count(),
        n as usize,
        "cases in the report"
    );
    report(&dir.join("reports"), "shardnet");
}
