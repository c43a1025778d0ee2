//! The `shardnet` binary facing a hostile peer or a careless operator. Each test drives the
//! built binary (`CARGO_BIN_EXE_shardnet`) over loopback and guards one defect:
//!
//! - `echo` with its file descriptors exhausted must not spin on `accept`, and the clients
//!   queued meanwhile are served once descriptors free up;
//! - a Pack header's claimed body length must not reserve that much memory up front;
//! - `echo` whose stdout was closed stops gracefully instead of panicking;
//! - `--shards 0` is refused by `echo` and by `bench`;
//! - `bench` stops as soon as the server has closed every connection instead of idling until
//!   `--duration` runs out.
//!
//! Every child process is held by a [`Reaper`], which kills and reaps it on every path (failed
//! assertions included), and every wait is bounded.

mod support;

use support::free_port;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shardnet");

fn result_field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in {line}"))
}

fn result_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line in {stdout}"))
}

/// `shardnet ARGS`, with the log level left at the binary's default (info: warnings show).
fn shardnet(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("SHARDNET_LOG");
    c
}

/// `shardnet ARGS` under `ulimit LIMIT` (e.g. `-n 256`). The shell execs the binary, so the
/// child's pid is the binary's; a `ulimit` the shell refuses fails the start instead of running
/// without the limit.
fn shardnet_under_ulimit(limit: &str, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit {limit} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .env_remove("SHARDNET_LOG");
    c
}

/// Kills and reaps the child when dropped.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Reaper {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The exit status, if the child has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().expect("try_wait")
    }

    /// The exit status once the child has exited by itself, or `None` after `secs`.
    fn exit_within(&mut self, secs: u64) -> Option<ExitStatus> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Everything a child writes to one pipe, collected by a thread.
struct Captured {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Captured {
    fn new(mut pipe: impl Read + Send + 'static) -> Captured {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let thread = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
        Captured {
            buf,
            thread: Some(thread),
        }
    }

    /// What has arrived so far.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }

    /// Everything, once the pipe has closed: call only after the child has exited.
    fn finish(&mut self) -> String {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.text()
    }
}

/// Sends the first line `stdout` carries, then keeps draining the pipe (`drain`) or closes it
/// by dropping the read end. The channel closes without a line if the child exits first.
fn first_line(stdout: ChildStdout, drain: bool) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let _ = tx.send(line);
        if drain {
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        }
    });
    rx
}

/// A running `shardnet echo`: stdout drained (a closed stdout would stop it), stderr captured.
struct Server {
    proc: Reaper,
    stderr: Captured,
}

impl Server {
    /// Spawns `cmd` and waits for its first stdout line, printed once it listens.
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shardnet echo");
        let stdout = child.stdout.take().unwrap();
        let stderr = Captured::new(child.stderr.take().unwrap());
        let mut server = Server {
            proc: Reaper(child),
            stderr,
        };
        if first_line(stdout, true)
            .recv_timeout(Duration::from_secs(15))
            .is_err()
        {
            let status = server.proc.exit_within(1);
            panic!(
                "echo did not start (exit {status:?}); stderr:\n{}",
                server.stderr.text()
            );
        }
        server
    }

    /// Panics, with the server's stderr, if it has exited.
    fn assert_alive(&mut self, when: &str) {
        if let Some(status) = self.proc.exited() {
            panic!(
                "echo exited ({status}) {when}; stderr:\n{}",
                self.stderr.finish()
            );
        }
    }
}

/// A finished run of the binary.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion; panics (and kills it) if it is still running after `secs`.
fn run_bounded(mut cmd: Command, secs: u64) -> Run {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shardnet");
    let mut out = Captured::new(child.stdout.take().unwrap());
    let mut err = Captured::new(child.stderr.take().unwrap());
    let mut proc = Reaper(child);
    let Some(status) = proc.exit_within(secs) else {
        panic!(
            "still running after {secs} s\nstdout:\n{}\nstderr:\n{}",
            out.text(),
            err.text()
        );
    };
    Run {
        status,
        stdout: out.finish(),
        stderr: err.finish(),
    }
}

/// CPU time (user + system, all threads) the process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // After the parenthesised command name: field 3 (state) first, so utime (field 14) and
    // stime (field 15) are at indexes 11 and 12.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("/proc/PID/stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(hz > 0, "sysconf(_SC_CLK_TCK) failed");
    ticks as f64 / hz as f64
}

/// A `/proc/PID/status` field given in kB (`VmSize`, `VmRSS`).
fn status_kb(pid: u32, key: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{key} missing in /proc/{pid}/status"))
}

/// Reads exactly `want.len()` bytes by `deadline` and compares them with `want`; the error says
/// what happened instead.
fn expect_bytes(s: &mut TcpStream, want: &[u8], deadline: Instant) -> Result<(), String> {
    let mut got = vec![0u8; want.len()];
    let mut n = 0;
    while n < want.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("timed out after {n} bytes"));
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut got[n..]) {
            Ok(0) => return Err(format!("closed by the server after {n} bytes")),
            Ok(k) => n += k,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("timed out after {n} bytes"))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{e} after {n} bytes")),
        }
    }
    if got == want {
        Ok(())
    } else {
        Err(format!("got {:?}", String::from_utf8_lossy(&got)))
    }
}

/// Pack header (flag 0) announcing a body of `len` bytes: little-endian `(0 << 22) | len`.
fn pack_header(len: u32) -> [u8; 4] {
    len.to_le_bytes()
}

/// Guards the accept loop under descriptor exhaustion: with `ulimit -n 256` and 400 clients,
/// `accept` fails with EMFILE while the clients it could not take wait in the kernel's queue.
/// The defect: the shards retried `accept` at once, forever, burning a core each (~4 s of CPU
/// in 2 s). The server must back off (and say why on stderr), then resume accepting once
/// descriptors are freed, so every queued client is still served.
#[test]
fn fd_exhaustion_does_not_spin_and_accept_resumes() {
    support::raise_fd_limit();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = Server::start(shardnet_under_ulimit(
        "-n 256",
        &[
            "echo",
            "--listen",
            &listen,
            "--shards",
            "2",
            "--duration",
            "40",
        ],
    ));
    let mut clients: Vec<TcpStream> = (0..400)
        .map(|i| TcpStream::connect(&listen).unwrap_or_else(|e| panic!("client {i}: {e}")))
        .collect();
    thread::sleep(Duration::from_secs(1));
    server.assert_alive("with its descriptors exhausted");
    let pid = server.proc.pid();
    let before = cpu_seconds(pid);
    thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(pid) - before;
    assert!(
        used < 0.4,
        "echo used {used:.2} s of CPU in 2 s with its descriptors exhausted: the accept loop spins"
    );

    // Free descriptors: every remaining client, accepted or still queued, must be served.
    let mut rest = clients.split_off(300);
    drop(clients);
    let mut failed = Vec::new();
    let mut pings = Vec::new();
    for (i, c) in rest.iter_mut().enumerate() {
        let n = 300 + i;
        let ping = format!("ping-{n:03}");
        if let Err(e) = c.write_all(ping.as_bytes()) {
            failed.push(format!("client {n}: write: {e}"));
        }
        pings.push(ping);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, (c, ping)) in rest.iter_mut().zip(&pings).enumerate() {
        if let Err(e) = expect_bytes(c, ping.as_bytes(), deadline) {
            failed.push(format!("client {}: {e}", 300 + i));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of the 100 remaining clients were not echoed within 10 s: {failed:?}\nstderr:\n{}",
        failed.len(),
        server.stderr.text()
    );
    let stderr = server.stderr.text();
    assert!(
        stderr.to_lowercase().contains("too many open files"),
        "the accept failure (EMFILE) must be reported on stderr; stderr:\n{stderr}"
    );
}

/// Guards Pack reassembly against length claims: a header announcing 0x3FFFFF bytes (allowed by
/// `--max-pack-size 0x3FFFFF`) followed by a few bytes made the decoder reserve the whole 4 MiB
/// at once, so 500 such connections reserved ~2 GiB and, under an address-space limit, the
/// server aborted ("memory allocation of 4194303 bytes failed"). Memory must follow the bytes
/// that actually arrive.
#[test]
fn pack_length_claims_do_not_reserve_memory() {
    support::raise_fd_limit();
    fn pack_echo(listen: &str) -> Vec<&str> {
        vec![
            "echo",
            "--listen",
            listen,
            "--shards",
            "1",
            "--model",
            "pack",
            "--max-pack-size",
            "0x3FFFFF",
            "--duration",
            "40",
        ]
    }
    const MIB_KB: u64 = 1024;

    // The address space of an idle server, to set the limit 256 MiB above it.
    let listen = format!("127.0.0.1:{}", free_port());
    let baseline_kb = {
        let idle = Server::start(shardnet(&pack_echo(&listen)));
        thread::sleep(Duration::from_millis(300));
        status_kb(idle.proc.pid(), "VmSize")
    };

    let listen = format!("127.0.0.1:{}", free_port());
    let limit = format!("-v {}", baseline_kb + 256 * MIB_KB);
    let mut server = Server::start(shardnet_under_ulimit(&limit, &pack_echo(&listen)));
    let pid = server.proc.pid();
    let rss_before = status_kb(pid, "VmRSS");

    let mut claim = pack_header(0x3F_FFFF).to_vec();
    claim.extend_from_slice(b"abcd");
    let mut hostile = Vec::new();
    let mut open_error = None;
    for i in 0..500 {
        let opened = TcpStream::connect(&listen).and_then(|mut s| {
            s.write_all(&claim)?;
            Ok(s)
        });
        match opened {
            Ok(s) => hostile.push(s),
            Err(e) => {
                open_error = Some(format!("client {i}: {e}"));
                break;
            }
        }
    }
    thread::sleep(Duration::from_secs(1));
    server.assert_alive(&format!(
        "after {} connections claimed 0x3FFFFF-byte bodies ({open_error:?})",
        hostile.len()
    ));
    let grown_kb = status_kb(pid, "VmRSS").saturating_sub(rss_before);
    assert!(
        grown_kb < 64 * MIB_KB,
        "resident memory grew by {grown_kb} kB for 500 connections that sent 8 bytes each"
    );

    // Still serving: a fresh connection gets its message back, framed.
    let mut msg = pack_header(5).to_vec();
    msg.extend_from_slice(b"hello");
    let mut fresh = TcpStream::connect(&listen).expect("connect after the claims");
    fresh.write_all(&msg).unwrap();
    let echoed = expect_bytes(&mut fresh, &msg, Instant::now() + Duration::from_secs(10));
    assert_eq!(echoed, Ok(()), "pack echo after the claims");
    drop(hostile);
}

/// Guards the stats printer: once whoever reads `echo`'s stdout goes away (a closed pipe, e.g.
/// `shardnet echo | head -1`), the next stats line failed with EPIPE and `println!` panicked
/// (exit 101). The server must instead stop gracefully and exit 0.
#[test]
fn closed_stdout_stops_gracefully() {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = shardnet(&["echo", "--listen", &listen, "--shards", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shardnet echo");
    let mut stderr = Captured::new(child.stderr.take().unwrap());
    let stdout = child.stdout.take().unwrap();
    let mut proc = Reaper(child);
    // The reader thread drops the pipe's read end right after the first line.
    let line = first_line(stdout, false)
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("no listening line; stderr:\n{}", stderr.text()));
    assert!(line.contains("listening"), "first line: {line}");
    let Some(status) = proc.exit_within(10) else {
        panic!(
            "echo still running 10 s after its stdout closed; stderr:\n{}",
            stderr.text()
        );
    };
    let err = stderr.finish();
    assert!(
        status.success(),
        "echo must stop cleanly when stdout closes, got {status}; stderr:\n{err}"
    );
    assert!(!err.contains("panicked"), "stderr:\n{err}");
}

/// A plain echo server on test threads (one per connection), independent of the binary.
struct EchoPeer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoPeer {
    fn start() -> EchoPeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        thread::spawn(move || echo_until_eof(s));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        EchoPeer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn echo_until_eof(mut s: TcpStream) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        if s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Guards option validation: `--shards 0` was taken as "one shard" by `echo` (and accepted by
/// `bench`), silently running something other than what was asked. Both must refuse it with an
/// error naming the option.
#[test]
fn zero_shards_is_refused() {
    let listen = format!("127.0.0.1:{}", free_port());
    let echo = run_bounded(
        shardnet(&[
            "echo",
            "--shards",
            "0",
            "--listen",
            &listen,
            "--duration",
            "2",
        ]),
        10,
    );
    assert!(
        !echo.status.success(),
        "echo --shards 0 must fail; stdout:\n{}",
        echo.stdout
    );
    assert!(
        echo.stderr.to_lowercase().contains("shards"),
        "the error must name --shards; stderr:\n{}",
        echo.stderr
    );

    // Against a live echo peer, so a refusal is the only reason for bench to fail.
    let peer = EchoPeer::start();
    let target = peer.addr.to_string();
    let bench = run_bounded(
        shardnet(&[
            "bench",
            "--shards",
            "0",
            "--target",
            &target,
            "--conns",
            "2",
            "--duration",
            "1",
        ]),
        10,
    );
    assert!(
        !bench.status.success(),
        "bench --shards 0 must fail; stdout:\n{}",
        bench.stdout
    );
    assert!(
        bench.stderr.to_lowercase().contains("shards"),
        "the error must name --shards; stderr:\n{}",
        bench.stderr
    );
}

/// Accepts `n` connections (for at most 10 s), echoes on them for `echo_for`, then closes them
/// all and the listener. Returns how many it accepted.
fn serve_then_close_all(listener: TcpListener, n: usize, echo_for: Duration) -> usize {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conns = Vec::new();
    while conns.len() < n && Instant::now() < deadline {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
                conns.push(s);
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    let end = Instant::now() + echo_for;
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        for s in &mut conns {
            if let Ok(k @ 1..) = s.read(&mut buf) {
                let _ = s.write_all(&buf[..k]);
            }
        }
    }
    conns.len()
}

/// Guards bench's main loop: when the server closed every connection, bench kept waiting for
/// the whole `--duration` (30 s here) with nothing left to measure. It must notice that no
/// connection is left, stop early, report them as closed early and exit non-zero.
#[test]
fn bench_stops_when_server_closes_everything() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || serve_then_close_all(listener, 5, Duration::from_secs(1)));
    let bench = run_bounded(
        shardnet(&[
            "bench",
            "--target",
            &target,
            "--conns",
            "5",
            "--size",
            "64",
            "--duration",
            "30",
            "--mode",
            "pingpong",
            "--shards",
            "1",
        ]),
        10,
    );
    assert_eq!(server.join().unwrap(), 5, "bench opened 5 connections");
    assert!(
        !bench.status.success(),
        "losing every connection is a failed run; stdout:\n{}",
        bench.stdout
    );
    let line = result_line(&bench.stdout);
    assert_eq!(result_field(line, "closed_early"), "5", "{line}");
}

/// Guards HP-Socket's empty-message rule from the binary: by default `echo --model pack`
/// closes a connection that sends an empty message (as an HP peer does); with
/// `--pack-allow-empty` it echoes it.
#[test]
fn pack_empty_messages_follow_the_flag() {
    for (allow, extra) in [(false, None), (true, Some("--pack-allow-empty"))] {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            "echo",
            "--listen",
            &listen,
            "--shards",
            "1",
            "--model",
            "pack",
            "--duration",
            "20",
        ];
        args.extend(extra);
        let _server = Server::start(shardnet(&args));
        let mut s = TcpStream::connect(&listen).unwrap();
        let mut msg = pack_header(2).to_vec();
        msg.extend_from_slice(b"hi");
        s.write_all(&msg).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(expect_bytes(&mut s, &msg, deadline), Ok(()));
        s.write_all(&pack_header(0)).unwrap();
        if allow {
            assert_eq!(
                expect_bytes(&mut s, &pack_header(0), deadline),
                Ok(()),
                "empty message echoed"
            );
        } else {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut b = [0u8; 1];
            match s.read(&mut b) {
                Ok(0) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                other => panic!("expected the server to close, got {other:?}"),
            }
        }
    }
}
