//! HPSocket4C from C: programs written the HP-Socket way (tests/c/*.c) compiled with the
//! system `cc` against `include/hpsocket/HPSocket4C.h` (`-Wall -Werror`, C11) and linked with
//! `libhpsocket4c.so`, run against shardnet servers and raw sockets: real bytes and callbacks.
//! Also the ABI check: the header declares exactly what the library exports, each one of
//! HP-Socket's functions, and it compiles as C11 and C++17 with `-Wall -Werror`.

use shardnet_components::{HandleResult, ServerListener, SocketOperation, TcpServer};
use shardnet_runtime::ConnId;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Where cargo put this build's libhpsocket4c.so: beside the test binary (target/debug/deps;
/// `cargo test` does not always refresh the copy in target/debug).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    if deps.join("libhpsocket4c.so").exists() {
        deps
    } else {
        deps.parent().unwrap().to_path_buf()
    }
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles tests/c/`name` (C or C++ by extension) against the headers and the library.
fn build(name: &str) -> PathBuf {
    let src = manifest().join("tests/c").join(name);
    // One file per build: tests building the same program run at once.
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let out = std::env::temp_dir().join(format!(
        "shardnet-capi-{}-{}-{}",
        name.replace('.', "-"),
        std::process::id(),
        BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let cxx = name.ends_with(".cpp");
    let lib = lib_dir();
    let st = Command::new(if cxx { "c++" } else { "cc" })
        .arg(if cxx { "-std=c++17" } else { "-std=c11" })
        .args(["-Wall", "-Wextra", "-Werror", "-D_DEFAULT_SOURCE", "-I"])
        .arg(manifest().join("include"))
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{}", lib.display()))
        .arg("-lhpsocket4c")
        // DT_RPATH (not RUNPATH): this build's library wins over LD_LIBRARY_PATH, which cargo
        // points at target/debug, where an older copy may sit.
        .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", lib.display()))
        .arg("-lpthread")
        .status()
        .expect("the system C compiler (cc / c++) runs");
    assert!(st.success(), "compiling {name} failed");
    out
}

/// A program that prints `port N` once listening: started with piped stdin/stdout; returns it,
/// its stdin, its stdout, the port, and the lines it printed before.
fn spawn_listening(
    exe: &Path,
    args: &[&std::ffi::OsStr],
) -> (
    std::process::Child,
    std::process::ChildStdin,
    BufReader<std::process::ChildStdout>,
    u16,
    Vec<String>,
) {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut before = Vec::new();
    let port = loop {
        let mut l = String::new();
        assert!(
            out.read_line(&mut l).unwrap() > 0,
            "no port line: {before:?}"
        );
        if let Some(p) = l.trim().strip_prefix("port ") {
            break p.parse().unwrap();
        }
        before.push(l.trim().to_string());
    };
    (child, stdin, out, port, before)
}

struct Echo;
impl ServerListener for Echo {
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        let _ = s.send(c, d);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

/// The seed's C example: a pull agent connected to three hosts (three shardnet echo
/// servers); per connection the callbacks come in order connect → send → receive (the
/// fetched echo) → close, and shutdown comes after all.
#[test]
fn c_pull_agent_to_three_hosts() {
    // Three distinct ports (port 0 with SO_REUSEPORT may hand two servers the same one).
    let holders: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let free: Vec<u16> = holders
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(holders);
    let servers: Vec<TcpServer> = free
        .iter()
        .map(|p| {
            TcpServer::builder()
                .shards(1)
                .start(&format!("127.0.0.1:{p}"), Arc::new(Echo))
                .unwrap()
        })
        .collect();
    let ports: Vec<String> = servers
        .iter()
        .map(|s| s.listen_addr().unwrap().port().to_string())
        .collect();
    let exe = build("pull_agent.c");
    let out = Command::new(&exe).args(&ports).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    for p in &ports {
        let at = |prefix: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} in\n{text}"))
        };
        let hello = format!("hello {p}");
        let (c, s, r) = (
            at(&format!("connect {p}")),
            at(&format!("send {p} {}", hello.len())),
            at(&format!("recv {p} {hello}")),
        );
        assert!(c < s && s < r, "order for {p}:\n{text}");
    }
    let closes: Vec<&&str> = lines.iter().filter(|l| l.starts_with("close ")).collect();
    // Each disconnected gracefully: SO_CLOSE (5), error 0.
    assert_eq!(closes, vec![&"close 5 0"; 3], "{text}");
    let last_close = lines.iter().rposition(|l| l.starts_with("close ")).unwrap();
    let shutdown = lines
        .iter()
        .position(|l| *l == "shutdown")
        .expect("shutdown");
    assert!(last_close < shutdown, "{text}");
    assert!(lines.contains(&"state 1 count 0"), "{text}");
    assert!(lines.contains(&"stopped 3"), "{text}");
    assert_eq!(lines.last(), Some(&"done"));
    let _ = std::fs::remove_file(exe);
    for s in servers {
        s.stop();
        s.wait().unwrap();
    }
}

fn pack_frame(flag: u16, body: &[u8]) -> Vec<u8> {
    let h = ((flag as u32) << 22) | body.len() as u32;
    let mut v = h.to_le_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// A C pack server: framed echoes on two connections, HP's id-list and address-buffer
/// protocols, an oversize message closing its connection, Stop and Destroy.
#[test]
fn c_pack_echo_server() {
    let exe = build("pack_server.c");
    let (mut child, mut stdin, mut out, port, _) = spawn_listening(&exe, &[]);
    let mut line = String::new();
    let mut conns: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sent = Vec::new();
        for m in [&b"one"[..], &b"second message"[..], &vec![b'x'; 5000][..]] {
            let f = pack_frame(0x169, &[m, &[i as u8]].concat());
            c.write_all(&f).unwrap();
            sent.extend_from_slice(&f);
        }
        let mut got = vec![0u8; sent.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, sent, "framed echoes on connection {i}");
    }
    writeln!(stdin, "ids").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ids 2 ok");
    // Over the 64 KiB limit: that connection closes (SO_RECEIVE with the Pack errno).
    conns[1]
        .write_all(&((0x169u32 << 22) | 0x10000).to_le_bytes())
        .unwrap();
    let mut b = [0u8; 8];
    assert!(matches!(conns[1].read(&mut b), Ok(0) | Err(_)));
    line.clear();
    out.read_line(&mut line).unwrap();
    // "close <extra> <operation> <errno>": extras are 1 and 2 in accept order (which shard
    // accepts first is not fixed); SO_RECEIVE (4) for the oversize message.
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((f[0], f[2]), ("close", "4"), "{line}");
    let other = if f[1] == "1" { "2" } else { "1" };
    writeln!(stdin, "quit").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    // The other connection closed by the stop (SO_CLOSE), then the state is SS_STOPPED.
    assert!(rest.contains(&format!("close {other} 5 0")), "{rest}");
    assert!(rest.trim_end().ends_with("stopped 3"), "{rest}");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_file(exe);
}

#[test]
fn c_sys_helpers() {
    let exe = build("sys_helpers.c");
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("0 failures"), "{text}");
    let _ = std::fs::remove_file(exe);
}

#[test]
fn c_misuse_never_crashes() {
    let exe = build("misuse.c");
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("0 failures"), "{text}");
    let _ = std::fs::remove_file(exe);
}

/// The header declares what the library exports (and only HP-Socket's names), and compiles
/// cleanly as C11 and C++17.
#[test]
fn header_matches_the_library() {
    let lib = lib_dir().join("libhpsocket4c.so");
    let st = Command::new("python3")
        .arg(manifest().join("scripts/coverage.py"))
        .arg("check")
        .arg(&lib)
        .arg(manifest().join("include/hpsocket/HPSocket4C.h"))
        .arg(manifest().join("include/hpsocket/HPSocket4C-SSL.h"))
        .status()
        .unwrap();
    assert!(
        st.success(),
        "header and library disagree (see the lines above)"
    );
    for (compiler, std, ext) in [("cc", "-std=c11", "c"), ("c++", "-std=c++17", "cpp")] {
        let src = std::env::temp_dir().join(format!("shardnet-hdr-{}.{ext}", std::process::id()));
        std::fs::write(
            &src,
            "#include <hpsocket/HPSocket4C-SSL.h>\nint main(void) { return SE_OK + SSL_VM_NONE; }\n",
        )
        .unwrap();
        let st = Command::new(compiler)
            .args([
                std,
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-fsyntax-only",
                "-I",
            ])
            .arg(manifest().join("include"))
            .arg(&src)
            .status()
            .unwrap();
        assert!(st.success(), "{compiler} {std}");
        let _ = std::fs::remove_file(src);
    }
}

/// The seed's C++ example: a `CTcpPullServerListener` subclass behind a `CTcpPullServerPtr`,
/// fetching with `ITcpPullServer::FromS(pSender)->Fetch(..)`; echoes bytes to a raw client;
/// callbacks in HP's order.
#[test]
fn cpp_pull_server_with_hp_classes() {
    let exe = build("pull_server.cpp");
    let (mut child, stdin, mut out, port, mut lines) = spawn_listening(&exe, &[]);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"hello from rust").unwrap();
    let mut got = [0u8; 15];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello from rust");
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    let rest = stop_child(&mut child, stdin, &mut out, "");
    lines.extend(rest.lines().map(str::to_string));
    let at = |s: &str| {
        lines
            .iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("no {s:?} in {lines:?}"))
    };
    assert_eq!(lines[0], "prepare-listen 1");
    let order = [
        at("accept 127.0.0.1"),
        at("handshake"),
        at("receive 15"),
        at("send 15"),
        at("close 5 0"),
        at("shutdown"),
        at("stopped 3"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
    let _ = std::fs::remove_file(exe);
}

/// An SSL echo server in C (HP_SSLServer_SetupSSLContext with PEM files made by openssl) hit by
/// `openssl s_client`: handshake, echoed bytes, and the refusals before the setup.
#[test]
fn c_ssl_server_with_openssl_client() {
    let dir = std::env::temp_dir().join(format!("shardnet-capi-ssl-{}", std::process::id()));
    let (cert, key) = self_signed(&dir);
    let exe = build("ssl_server.c");
    let (mut child, stdin, mut out, port, _) =
        spawn_listening(&exe, &[cert.as_os_str(), key.as_os_str()]);
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut cin = client.stdin.take().unwrap();
    cin.write_all(b"hello over tls\n").unwrap();
    let mut cout = client.stdout.take().unwrap();
    let mut got = [0u8; 15];
    cout.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello over tls\n");
    // -quiet implies -ign_eof: s_client would wait for the server; end it here.
    drop(cin);
    let _ = client.kill();
    let _ = client.wait();
    let rest = stop_child(&mut child, stdin, &mut out, "");
    let lines: Vec<&str> = rest.lines().collect();
    let at = |s: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(s))
            .unwrap_or_else(|| panic!("{s} in {rest}"))
    };
    assert!(at("handshake") < at("receive 15"), "{rest}");
    assert!(at("receive 15") < at("close "), "{rest}");
    assert_eq!(lines.last(), Some(&"done"));
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(exe);
}

/// HP's C++ client classes: `CTcpPackClientPtr` with a `CTcpClientListener` subclass against a
/// shardnet Pack server (flag 0x169): whole messages each way, OnConnect before them.
#[test]
fn cpp_pack_client_with_hp_classes() {
    let server = TcpServer::builder()
        .shards(1)
        .pack(shardnet_components::pack::PackConfig {
            flag: 0x169,
            max_pack_size: 0xFFFF,
            ..Default::default()
        })
        .start("127.0.0.1:0", Arc::new(Echo))
        .unwrap();
    let port = server.listen_addr().unwrap().port().to_string();
    let exe = build("pack_client.cpp");
    let out = Command::new(&exe).arg(&port).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "connect 1", "{text}");
    assert_eq!(
        &lines[1..4],
        &[
            "recv 5 first",
            "recv 10 second one",
            "recv 14 third and last"
        ],
        "{text}"
    );
    assert!(lines.iter().any(|l| l.starts_with("close ")), "{text}");
    assert_eq!(lines.last(), Some(&"stopped 3"), "{text}");
    let _ = std::fs::remove_file(exe);
    server.stop();
    server.wait().unwrap();
}

/// HP's UdpServer in C (`tests/c/udp_server.c udp`), hit by plain sockets: each peer's
/// datagrams echoed, OnAccept with the peer's SOCKADDR and OnHandShake once per peer, the
/// per-connection getters, a datagram over the maximum closing its connection with
/// (SO_RECEIVE, EMSGSIZE) and HP's close datagram, and stop closing the rest with SO_CLOSE.
#[test]
fn c_udp_echo_server() {
    use std::net::UdpSocket;
    let exe = build("udp_server.c");
    let (mut child, mut stdin, mut out, port, before) = spawn_listening(&exe, &["udp".as_ref()]);
    assert!(before.is_empty(), "{before:?}");
    let peers: Vec<UdpSocket> = (0..2)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect();
    let mut b = [0u8; 2048];
    for round in 0..3 {
        for (i, p) in peers.iter().enumerate() {
            let m = format!("datagram {round} from {i}");
            p.send(m.as_bytes()).unwrap();
            let n = p.recv(&mut b).unwrap();
            assert_eq!(&b[..n], m.as_bytes());
        }
    }
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim().to_string());
    }
    lines.sort();
    assert_eq!(lines, ["handshake 1", "handshake 2"]);
    writeln!(stdin, "ids").unwrap();
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "ids 2 ok");
    // Over HP_UdpServer_SetMaxDatagramSize(1000): closed, and told with the close datagram.
    peers[1].send(&[7u8; 1001]).unwrap();
    let n = peers[1].recv(&mut b).unwrap();
    assert_eq!(n, 16, "HP's close datagram");
    l.clear();
    out.read_line(&mut l).unwrap();
    let f: Vec<&str> = l.split_whitespace().collect();
    assert_eq!(
        (f[0], f[2], f[3]),
        ("close", "4", libc_emsgsize().as_str()),
        "{l}"
    );
    writeln!(stdin, "quit").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let other = if f[1] == "1" { "2" } else { "1" };
    assert!(rest.contains(&format!("close {other} 5 0")), "{rest}");
    assert!(rest.trim_end().ends_with("stopped 3"), "{rest}");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_file(exe);
}

fn libc_emsgsize() -> String {
    // EMSGSIZE on Linux.
    90.to_string()
}

/// HP's UdpArqServer in C (`tests/c/udp_server.c arq`: nodelay, 20 ms flush, MTU from the
/// 1000-byte maximum datagram), against shardnet's ARQ client: whole messages echoed, the
/// largest (4,096 bytes) in several datagrams; "bye" makes the C side disconnect, which the
/// client sees as a close.
#[test]
fn c_arq_echo_server() {
    use shardnet_components::udp::{ArqConfig, UdpClient, UdpClientListener};
    use std::sync::Mutex;
    #[derive(Default)]
    struct Peer {
        ready: Mutex<bool>,
        got: Mutex<Vec<Vec<u8>>>,
        closed: Mutex<Option<(SocketOperation, i32)>>,
    }
    struct Listener(Arc<Peer>);
    impl UdpClientListener for Listener {
        fn on_handshake(&self, _: &UdpClient) -> HandleResult {
            *self.0.ready.lock().unwrap() = true;
            HandleResult::Ok
        }
        fn on_receive(&self, _: &UdpClient, d: &[u8]) -> HandleResult {
            self.0.got.lock().unwrap().push(d.to_vec());
            HandleResult::Ok
        }
        fn on_close(&self, _: &UdpClient, op: SocketOperation, e: i32) -> HandleResult {
            *self.0.closed.lock().unwrap() = Some((op, e));
            HandleResult::Ok
        }
    }
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let t = std::time::Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let exe = build("udp_server.c");
    let (mut child, mut stdin, mut out, port, before) = spawn_listening(&exe, &["arq".as_ref()]);
    assert!(before.is_empty(), "{before:?}");
    let peer = Arc::new(Peer::default());
    let mut cfg = ArqConfig::default();
    cfg.kcp.mtu = 1000;
    let client = UdpClient::builder()
        .max_datagram(1000)
        .arq(cfg)
        .start("127.0.0.1", port, Listener(peer.clone()))
        .unwrap();
    wait("handshake", &|| *peer.ready.lock().unwrap());
    let msgs: Vec<Vec<u8>> = [1usize, 999, 1000, 2500, 4096]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
        .collect();
    for m in &msgs {
        client.send(m).unwrap();
    }
    wait("echoes", &|| peer.got.lock().unwrap().len() == msgs.len());
    assert_eq!(*peer.got.lock().unwrap(), msgs);
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "handshake 1");
    writeln!(stdin, "ids").unwrap();
    l.clear();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "ids 1 ok");
    // The C side disconnects on "bye": its OnClose (SO_CLOSE, 0), and the close datagram
    // reaches the client.
    client.send(b"bye").unwrap();
    l.clear();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "close 1 5 0");
    wait("client closed", &|| peer.closed.lock().unwrap().is_some());
    client.stop();
    writeln!(stdin, "quit").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.trim_end().ends_with("stopped 3"), "{rest}");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_file(exe);
}

/// HP's UdpClient and UdpArqClient in C (`tests/c/udp_client.c`) against shardnet's UDP
/// servers (plain, and ARQ): twenty messages of different sizes echoed byte for byte (ARQ: up
/// to 4,011 bytes, several datagrams each), the client's getters, `PauseReceive` refused,
/// and the stop: OnClose (SO_CLOSE, 0) on the C side and the server's on_close.
#[test]
fn c_udp_and_arq_clients() {
    use shardnet_components::udp::{ArqConfig, UdpServer, UdpServerListener};
    use std::sync::atomic::{AtomicUsize, Ordering};
    #[derive(Default)]
    struct Echo {
        closes: AtomicUsize,
        received: AtomicUsize,
    }
    struct L(Arc<Echo>);
    impl UdpServerListener for L {
        fn on_receive(&self, s: &UdpServer, c: ConnId, d: &[u8]) -> HandleResult {
            self.0.received.fetch_add(1, Ordering::SeqCst);
            let _ = s.send(c, d);
            HandleResult::Ok
        }
        fn on_close(&self, _: &UdpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            self.0.closes.fetch_add(1, Ordering::SeqCst);
            HandleResult::Ok
        }
    }
    let exe = build("udp_client.c");
    for mode in ["udp", "arq"] {
        let log = Arc::new(Echo::default());
        let mut b = UdpServer::builder().shards(1);
        if mode == "arq" {
            b = b.arq(ArqConfig::default());
        }
        let server = b.start("127.0.0.1:0", Arc::new(L(log.clone()))).unwrap();
        let port = server.listen_addr().unwrap().port().to_string();
        let out = Command::new(&exe).args([mode, &port]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{mode}: {text}");
        assert!(text.contains("done 20"), "{mode}: {text}");
        assert!(text.contains("close 5 0"), "{mode}: {text}");
        assert!(text.trim_end().ends_with("stopped 3"), "{mode}: {text}");
        assert_eq!(log.received.load(Ordering::SeqCst), 20, "{mode}");
        // The client's stop sends HP's close datagram: the server closes its side.
        let t = std::time::Instant::now();
        while log.closes.load(Ordering::SeqCst) == 0 {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{mode}: server never closed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        server.stop();
        server.wait().unwrap();
    }
    let _ = std::fs::remove_file(exe);
}

/// HP's C++ UDP classes (`tests/c/udp_arq.cpp`): a `CUdpArqServerPtr` echo driven by
/// shardnet's ARQ client (whole messages, `IUdpArqServer::FromS(pSender)` inside OnReceive),
/// and a `CUdpClientPtr` against shardnet's UDP echo server.
#[test]
fn cpp_udp_classes() {
    use shardnet_components::udp::{
        ArqConfig, UdpClient, UdpClientListener, UdpServer, UdpServerListener,
    };
    use std::sync::Mutex;
    struct Got(Arc<Mutex<Vec<Vec<u8>>>>);
    impl UdpClientListener for Got {
        fn on_receive(&self, _: &UdpClient, d: &[u8]) -> HandleResult {
            self.0.lock().unwrap().push(d.to_vec());
            HandleResult::Ok
        }
        fn on_close(&self, _: &UdpClient, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let exe = build("udp_arq.cpp");
    let (mut child, stdin, mut out, port, before) = spawn_listening(&exe, &[]);
    assert!(before.is_empty(), "{before:?}");
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = ArqConfig::default();
    cfg.kcp.mtu = 1200;
    let client = UdpClient::builder()
        .max_datagram(1200)
        .arq(cfg)
        .start("127.0.0.1", port, Got(got.clone()))
        .unwrap();
    let msgs: Vec<Vec<u8>> = (0..5).map(|i| vec![b'a' + i as u8; 1 + i * 900]).collect();
    let t = std::time::Instant::now();
    while client.send(&msgs[0]).is_err() {
        assert!(t.elapsed() < Duration::from_secs(5), "ARQ handshake");
        std::thread::sleep(Duration::from_millis(5));
    }
    for m in &msgs[1..] {
        client.send(m).unwrap();
    }
    while got.lock().unwrap().len() < msgs.len() {
        assert!(t.elapsed() < Duration::from_secs(10), "echoes");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(*got.lock().unwrap(), msgs);
    client.stop();
    drop(stdin);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("waiting"), "{rest}");
    assert!(rest.starts_with("accept 127.0.0.1\nhandshake\n"), "{rest}");
    assert!(rest.trim_end().ends_with("stopped 3"), "{rest}");
    assert!(child.wait().unwrap().success());

    struct Echo;
    impl UdpServerListener for Echo {
        fn on_receive(&self, s: &UdpServer, c: ConnId, d: &[u8]) -> HandleResult {
            let _ = s.send(c, d);
            HandleResult::Ok
        }
        fn on_close(&self, _: &UdpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let server = UdpServer::builder()
        .shards(1)
        .start("127.0.0.1:0", Arc::new(Echo))
        .unwrap();
    let port = server.listen_addr().unwrap().port().to_string();
    let out = Command::new(&exe).args(["client", &port]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("client done 10"), "{text}");
    assert!(text.contains("client close 5 0"), "{text}");
    server.stop();
    server.wait().unwrap();
    let _ = std::fs::remove_file(exe);
}

/// HP's UdpNode in C (`tests/c/udp_node.c`) with plain sockets as peers: every datagram
/// echoed to its sender by address and port, the sender's address in OnReceive, an oversize
/// datagram reported by OnError (SO_RECEIVE, EMSGSIZE) with its sender, OnShutdown on stop.
#[test]
fn c_udp_node() {
    use std::net::UdpSocket;
    let exe = build("udp_node.c");
    let (mut child, mut stdin, mut out, port, before) = spawn_listening(&exe, &[]);
    assert!(before.is_empty(), "{before:?}");
    let peers: Vec<UdpSocket> = (0..3)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect();
    let mut b = [0u8; 2048];
    for (i, p) in peers.iter().enumerate() {
        let m = vec![i as u8 + 1; 10 * (i + 1)];
        p.send(&m).unwrap();
        let n = p.recv(&mut b).unwrap();
        assert_eq!(&b[..n], &m[..]);
    }
    for i in 0..3 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        assert_eq!(l.trim(), format!("from 127.0.0.1 {}", 10 * (i + 1)));
    }
    peers[0].send(&[9u8; 1500]).unwrap();
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "error 4 90 127.0.0.1 1", "oversize");
    writeln!(stdin, "quit").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("extra lost"), "{rest}");
    assert!(rest.contains("shutdown"), "{rest}");
    assert!(rest.trim_end().ends_with("stopped 3"), "{rest}");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_file(exe);
}

/// HP's UdpCast in C (`tests/c/udp_cast.c`): a member of a multicast group on the loopback
/// interface with a python member (a third party) in the same group: the python member's
/// datagram reaches the C member with its sender (HP_UdpCast_GetRemoteAddress), the C
/// member's send reaches the python member (and, loop on, the C member itself), OnClose on
/// stop.
#[test]
fn c_udp_cast_with_a_python_member() {
    let (port, (mut py, mut py_in, mut py_out)) = python_group_member("239.255.71.9");
    let mut l = String::new();
    let exe = build("udp_cast.c");
    let mut child = Command::new(&exe)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    l.clear();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "up");
    writeln!(py_in, "go").unwrap();
    l.clear();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "got 127.0.0.1 from python");
    writeln!(stdin, "send from c").unwrap();
    l.clear();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "got 127.0.0.1 from c", "loop on: our own");
    l.clear();
    py_out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "GOT from c");
    writeln!(stdin, "quit").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("close 5 0"), "{rest}");
    assert!(rest.trim_end().ends_with("stopped 3"), "{rest}");
    assert!(child.wait().unwrap().success());
    let _ = py.wait();
    let _ = std::fs::remove_file(exe);
}

/// HP's encoding and address helpers from C (`tests/c/codecs.c`): base64, URL, zlib, gzip
/// round trips with HP's return codes, the address helpers; and gzip across the border both
/// ways with python's gzip module (a third party): python's stream inflated in C, C's
/// stream inflated by python.
#[test]
fn c_codecs_and_addresses() {
    let py = Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.write(gzip.compress(b'python gzip for shardnet').hex())",
        ])
        .output()
        .unwrap();
    assert!(py.status.success());
    let hex = String::from_utf8(py.stdout).unwrap();
    let exe = build("codecs.c");
    let out = Command::new(&exe).arg(&hex).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("0 failures"), "{text}");
    assert!(
        text.contains("from python: python gzip for shardnet"),
        "{text}"
    );
    let ours = text
        .lines()
        .find_map(|l| l.strip_prefix("gzip "))
        .expect("a gzip line");
    let check = Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.write(gzip.decompress(bytes.fromhex(sys.argv[1])).decode())",
            ours,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        "shardnet gzip from C"
    );
    let _ = std::fs::remove_file(exe);
}

/// The C program's checksum of a body (`sum = sum * 31 + byte`, 32 bits).
fn c_sum(b: &[u8]) -> u32 {
    b.iter()
        .fold(0u32, |s, &x| s.wrapping_mul(31).wrapping_add(u32::from(x)))
}

/// curl's output (`args` after `-s`), which must succeed.
fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .arg("-s")
        .args(["--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {:?}", out.status);
    out.stdout
}

/// The `key=value` words of the C server's answer line.
fn answer_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().last().unwrap_or_default();
    line.split(' ')
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// HP's HttpServer from C (tests/c/http_server.c), driven by curl and python `websockets`: the
/// request getters (method, URL fields, version, Host, headers one and all with HP's array
/// protocol, cookies, Content-Length/Type), bodies by length and chunked, HPR_SKIP_BODY,
/// chunked and file responses, Release, a parse error, and a WebSocket upgrade whose messages
/// the C code echoes with HP_HttpServer_SendWSMessage.
#[test]
fn c_http_server_with_curl_and_python_websockets() {
    let dir = std::env::temp_dir().join(format!("shardnet-capi-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file_path = dir.join("file.bin");
    std::fs::write(&file_path, &file).unwrap();
    let upload: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    let upload_path = dir.join("upload.bin");
    std::fs::write(&upload_path, &upload).unwrap();
    let upload_arg = format!("@{}", upload_path.display());

    let exe = build("http_server.c");
    let (mut child, mut stdin, mut out, port, before) =
        spawn_listening(&exe, &[file_path.as_os_str()]);
    assert_eq!(
        before,
        ["prepared 1"],
        "OnPrepareListen ran before listening"
    );
    let base = format!("http://127.0.0.1:{port}");

    // A GET: the getters' view of it.
    let r = curl(&[
        "-i",
        "-b",
        "a=1; b=two",
        "-H",
        "X-Multi: one",
        "-H",
        "X-Multi: two",
        &format!("{base}/a/b?x=1&y=2"),
    ]);
    let text = String::from_utf8_lossy(&r);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nX-Shardnet: c\r\n"), "{text}");
    let f = answer_fields(&r);
    let want = [
        ("method", "GET".to_string()),
        ("path", "/a/b".into()),
        ("query", "x=1&y=2".into()),
        ("host", format!("127.0.0.1:{port}")),
        // HUF_PATH and HUF_QUERY: an origin-form target has no other part.
        ("fields", "24".into()),
        ("ver", "257".into()),
        ("ka", "1".into()),
        ("upgrade", "0".into()),
        ("ctype", "-".into()),
        ("clen", "0".into()),
        ("cookie.a", "1".into()),
        ("cookies", "2".into()),
        ("multi", "one/2/two".into()),
        ("chunks", "0".into()),
        ("body", "0".into()),
    ];
    for (k, v) in want {
        assert_eq!(f.get(k), Some(&v), "{k} in {text}");
    }
    // curl sends Host, User-Agent, Accept, Cookie and X-Multi twice: six fields, five names,
    // and GetAllHeaders agrees with the OnHeader count.
    assert_eq!(f["all"], "6/1", "{text}");
    assert_eq!(f["names"], "5", "{text}");
    assert_eq!(f["headers"], "6", "{text}");

    // A body by Content-Length, then chunked.
    let r = curl(&[
        "-H",
        "Content-Type: application/x-test",
        "--data-binary",
        &upload_arg,
        &format!("{base}/post"),
    ]);
    let f = answer_fields(&r);
    assert_eq!(f["method"], "POST");
    assert_eq!(f["ctype"], "application/x-test");
    assert_eq!(f["clen"], "10000");
    assert_eq!(f["body"], "10000");
    assert_eq!(f["sum"], c_sum(&upload).to_string());
    let r = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &upload_arg,
        &format!("{base}/chunked-upload"),
    ]);
    let f = answer_fields(&r);
    assert_eq!(f["body"], "10000");
    assert_eq!(f["sum"], c_sum(&upload).to_string());
    assert!(f["chunks"].parse::<u32>().unwrap() >= 1, "{f:?}");

    // HPR_SKIP_BODY: the body is read past, not delivered.
    let r = curl(&["--data-binary", &upload_arg, &format!("{base}/skip")]);
    let f = answer_fields(&r);
    assert_eq!((f["clen"].as_str(), f["body"].as_str()), ("10000", "0"));

    // A chunked answer (curl decodes it) and a file.
    let r = curl(&["-i", &format!("{base}/chunked")]);
    let text = String::from_utf8_lossy(&r);
    assert!(text.starts_with("HTTP/1.1 200 Fine\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nfirst,second,third"), "{text}");
    assert_eq!(curl(&[&format!("{base}/file")]), file);

    // Release: the answer, then the server closes.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /release HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("path=/release"), "{text}");

    // A request line that is not HTTP: OnParseError, 400, close.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 400 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "parse error 400 desc same");

    // WebSocket: python websockets against the C server's upgrade and echo.
    let py = Command::new("python3")
        .args([
            "-c",
            r#"
import sys
from websockets.sync.client import connect
with connect(sys.argv[1], compression=None, max_size=2**22, open_timeout=10) as ws:
    ws.send("hello from python")
    print("text", ws.recv(timeout=10))
    data = bytes(range(256)) * 300
    ws.send(data)
    r = ws.recv(timeout=10)
    print("binary", len(r), r == data)
    ws.ping(b"p").wait(10)
    print("pong ok")
print("closed", ws.close_code)
"#,
            &format!("ws://127.0.0.1:{port}/ws"),
        ])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&py.stdout);
    assert!(
        py.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "text hello from python",
            "binary 76800 True",
            "pong ok",
            "closed 1000"
        ]
    );
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim().to_string());
    }
    assert_eq!(lines, ["upgrade 1", "ws 1 17 1", "ws 2 76800 1"]);

    writeln!(stdin, "quit").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest.trim(), "stopped 1", "OnShutdown once");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(exe);
}

/// A self-signed EC certificate for localhost and its key, written to `dir` by openssl.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(st.success());
    (cert, key)
}

/// The same C program as an HttpsServer (Create_HP_HttpsServer, HP_SSLServer_SetupSSLContext)
/// hit by curl over TLS: getters, an uploaded body, a file.
#[test]
fn c_https_server_with_curl() {
    let dir = std::env::temp_dir().join(format!("shardnet-capi-https-{}", std::process::id()));
    let (cert, key) = self_signed(&dir);
    let file: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 241) as u8).collect();
    let file_path = dir.join("file.bin");
    std::fs::write(&file_path, &file).unwrap();
    let exe = build("http_server.c");
    let (mut child, mut stdin, mut out, port, _) = spawn_listening(
        &exe,
        &[file_path.as_os_str(), cert.as_os_str(), key.as_os_str()],
    );
    let base = format!("https://127.0.0.1:{port}");
    let f = answer_fields(&curl(&["-k", &format!("{base}/secure?q=1")]));
    assert_eq!(
        (
            f["method"].as_str(),
            f["path"].as_str(),
            f["query"].as_str()
        ),
        ("GET", "/secure", "q=1")
    );
    let body = vec![b'z'; 50_000];
    let body_path = dir.join("body.bin");
    std::fs::write(&body_path, &body).unwrap();
    let f = answer_fields(&curl(&[
        "-k",
        "--data-binary",
        &format!("@{}", body_path.display()),
        &format!("{base}/post"),
    ]));
    assert_eq!(f["body"], "50000");
    assert_eq!(f["sum"], c_sum(&body).to_string());
    assert_eq!(curl(&["-k", &format!("{base}/file")]), file);
    writeln!(stdin, "quit").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest.trim(), "stopped 1");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(exe);
}

/// A python `http.server` (HTTP/1.1, keep-alive) that answers every request with what it got:
/// `METHOD path x-test=… cookie=… len=N body=…`, a `Set-Cookie: sid=abc123`, two `X-Multi`
/// fields; `/chunked` is answered chunked. Returns the process and its port.
fn python_http_server(tls: Option<(&Path, &Path)>) -> (std::process::Child, u16) {
    let script = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.headers.get("Transfer-Encoding") == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        text = ("%s %s x-test=%s cookie=%s len=%d body=%s" % (self.command, self.path,
                self.headers.get("X-Test"), self.headers.get("Cookie"), len(body),
                body.decode(errors="replace"))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Set-Cookie", "sid=abc123; Path=/")
        self.send_header("X-Multi", "1")
        self.send_header("X-Multi", "2")
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"chunk-one,", b"chunk-two"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
    do_GET = do_POST = do_PUT = do_DELETE = answer
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
if len(sys.argv) > 2:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("port", srv.server_port, flush=True)
srv.serve_forever()
"#;
    let mut py = Command::new("python3");
    py.args(["-c", script]);
    if let Some((cert, key)) = tls {
        py.arg(cert).arg(key);
    }
    let mut child = py.stdout(Stdio::piped()).spawn().expect("python3 runs");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    let port = l
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("python server: {l:?}"));
    (child, port)
}

/// Closes the program's stdin (it then stops and exits), reads the rest of its output and
/// checks it exited 0 (`context` goes into the failure message); returns that output.
fn stop_child(
    child: &mut std::process::Child,
    stdin: std::process::ChildStdin,
    out: &mut impl Read,
    context: &str,
) -> String {
    drop(stdin);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{context} {rest}");
    rest
}

/// Builds the C program `src`, runs it with the port of a fresh python `http.server` and then
/// `args`, and returns what it printed (it must exit 0) and that port.
fn run_with_python_server(src: &str, args: &[&std::ffi::OsStr]) -> (String, u16) {
    let (mut server, port) = python_http_server(None);
    let exe = build(src);
    let out = Command::new(&exe)
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(exe);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    (text, port)
}

/// HP's HttpSyncClient and HttpClient from C (tests/c/http_client.c) against python's
/// `http.server`: OpenUrl's answers through the getters and GetResponseBody, connection reuse
/// and bForceReconnect, the cookie the server set sent back, a chunked answer, a wrong scheme
/// and a refused port failing with SE_CONNECT_SERVER, a listener-less sync client, and the
/// asynchronous client's requests from its callbacks, with its OnPrepareConnect and every
/// request byte in OnSend.
#[test]
fn c_http_clients_against_python_http_server() {
    let (text, port) = run_with_python_server("http_client.c", &[]);
    let lines: Vec<&str> = text.lines().collect();
    // OnSend's bytes: the GET (65 with its Host line of 23) and the PUT (97).
    let host = format!("Host: 127.0.0.1:{port}\r\n").len();
    let sent = format!("async sent={}", 65 + 97 - 2 * 23 + 2 * host);
    assert_eq!(
        lines,
        [
            "get status=200 ver=257 ka=1 sid=abc123 multi=2/2 body=GET /a/b?x=1 x-test=one cookie=None len=0 body=",
            "post status=200 ver=257 ka=1 sid=abc123 multi=2/2 body=POST /post x-test=None cookie=sid=abc123 len=12 body=hello from C",
            "same connection 1",
            "chunked status=200 ver=257 ka=1 sid=abc123 multi=2/2 body=chunk-one,chunk-two",
            "reconnected 1",
            "wrong scheme 0 1",
            "refused 0 1",
            "callbacks 1 1 1 1",
            "bare status=200 ver=257 ka=1 sid=abc123 multi=2/2 body=GET /bare x-test=None cookie=sid=abc123 len=0 body=",
            "async 200 text/plain len=51|async 200 text/plain len=52|",
            "async body GET /async?n=1 x-test=async cookie=None len=0 body=PUT /put x-test=None cookie=None len=8 body=put body",
            "async prepared=1 first=GET /async?n=1 ",
            &sent,
        ],
        "{text}"
    );
}

/// HP's HttpsSyncClient from C against python's `http.server` over TLS: refused before
/// `SetupSSLContext` (SE_SSL_ENV_NOT_READY), then GET and PUT on one connection, and an
/// `http://` URL refused with SE_CONNECT_SERVER.
#[test]
fn c_https_sync_client_against_python_https_server() {
    let dir =
        std::env::temp_dir().join(format!("shardnet-capi-https-client-{}", std::process::id()));
    let (cert, key) = self_signed(&dir);
    let (mut server, port) = python_http_server(Some((&cert, &key)));
    let exe = build("http_client.c");
    let out = Command::new(&exe)
        .args([port.to_string().as_str(), "https"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "before setup 0 1",
            "tls status=200 ver=257 ka=1 sid=abc123 multi=2/2 body=GET /tls?q=1 x-test=None cookie=None len=0 body=",
            "tls status=200 ver=257 ka=1 sid=abc123 multi=2/2 body=PUT /tls?q=1 x-test=None cookie=sid=abc123 len=10 body=0123456789",
            "plain url on https 0 1",
        ],
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(exe);
}

/// Runs tests/c/http_agent.c against two python `http.server`s (over TLS with `tls`) and
/// returns its output lines.
fn run_http_agent(tls: Option<(&Path, &Path)>) -> Vec<String> {
    let (mut s1, p1) = python_http_server(tls);
    let (mut s2, p2) = python_http_server(tls);
    let exe = build("http_agent.c");
    let mut cmd = Command::new(&exe);
    cmd.args([p1.to_string(), p2.to_string()]);
    if tls.is_some() {
        cmd.arg("https");
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    for s in [&mut s1, &mut s2] {
        let _ = s.kill();
        let _ = s.wait();
    }
    let _ = std::fs::remove_file(exe);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    // OnSend's bytes: each connection sent two requests, each with `Host: 127.0.0.1:port`
    // (the rest of their bytes is fixed: see the test).
    let host = |p: u16| 2 * format!("Host: 127.0.0.1:{p}\r\n").len();
    let sent = [
        format!("conn 1 sent={}", 119 + host(p1)),
        format!("conn 2 sent={}", 137 + host(p2)),
    ];
    text.lines()
        .map(|l| match sent.iter().position(|s| s == l) {
            Some(i) => format!("conn {} sent=as written", i + 1),
            None => l.to_string(),
        })
        .collect()
}

/// HP's HttpAgent from C against two python `http.server`s, then the HttpsAgent against two
/// TLS ones: synchronous connects with extra values (one through the local-address form with
/// a NULL address), GETs sent from OnConnect carrying each connection's Host, a POST from the
/// main thread, a chunked POST through `SendChunkData` (python reassembles the chunks), and
/// each connection's answers through the per-connection getters. OnPrepareConnect comes once
/// per connection with its socket and its extra already set; OnSend reports every request
/// byte, plaintext under TLS as HP's (63 + 102 on the first connection and 63 + 120 on the
/// second, with 23-byte Host lines: `run_http_agent` counts the real ones). A connect from the
/// local address `::1` reaches the refused port (ECONNREFUSED), not an address parse error;
/// one from `::1` to an IPv4 host fails at once (EAFNOSUPPORT); a synchronous connect whose
/// OnPrepareConnect returns HR_ERROR fails at once with ECANCELED instead of waiting out the
/// connect timeout.
#[test]
fn c_http_agent_against_python_http_servers() {
    let want = [
        "v6 local ok=0 errno=111",
        "v6 local to v4 ok=0 errno=97",
        "prepare refused ok=0 errno=125",
        "count 2",
        "conn 1 status=200 ct=text/plain sid=abc123 headers=7 ka=1 body=GET /agent/1 x-test=agent cookie=None len=0 body=",
        "conn 1 status=200 ct=text/plain sid=abc123 headers=7 ka=1 body=POST /post x-test=None cookie=None len=10 body=agent body",
        "conn 1 prepared=1 stream=1 first=GET /agent/1 HT",
        "conn 1 sent=as written",
        "conn 2 status=200 ct=text/plain sid=abc123 headers=7 ka=1 body=GET /agent/2 x-test=agent cookie=None len=0 body=",
        "conn 2 status=200 ct=text/plain sid=abc123 headers=7 ka=1 body=POST /chunked-up x-test=None cookie=None len=19 body=hello chunked world",
        "conn 2 prepared=1 stream=1 first=GET /agent/2 HT",
        "conn 2 sent=as written",
    ];
    assert_eq!(run_http_agent(None), want);
    let dir =
        std::env::temp_dir().join(format!("shardnet-capi-https-agent-{}", std::process::id()));
    let (cert, key) = self_signed(&dir);
    assert_eq!(run_http_agent(Some((&cert, &key))), want);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Restarts free what each run held: a TCP client restarted 50 times against python's
/// server, a sync client sent to alternating host names (a new run each time), and an HTTP
/// server and agent restarted 50 times keep the process's thread count within one run's
/// threads of where it was after the first run (each run used to keep its shard threads, and
/// about 1.6 MB, until Destroy).
#[test]
fn c_restarts_free_their_threads() {
    let (text, _) = run_with_python_server("restarts.c", &[]);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "tcp client failed=0 bounded=1",
            "sync client failed=0 bounded=1",
            "http server and agent failed=0 bounded=1",
        ],
        "{text}"
    );
}

/// HP's cookie manager and helpers from C: the expires text and its parser, `ToString`, the
/// max-age conversions; `SetCookie` (path normalized, value-only update of a session cookie,
/// max-age 0 deleting), `RemoveExpiredCookies`, `SaveToFile` in HP's format, `ClearCookies`,
/// `LoadFromFile` replacing and merging, each checked by the Cookie header an
/// `HP_HttpSyncClient` then sends to python's http.server; a malformed and a missing file.
#[test]
fn c_cookie_manager_with_a_sync_client() {
    let dir = std::env::temp_dir().join(format!("shardnet-capi-cookies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (text, _) = run_with_python_server("http_cookie.c", &[dir.as_os_str()]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let saved = std::fs::read_to_string(dir.join("cookies.txt")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<&str> = text.lines().collect();
    let with_tmp = lines
        .iter()
        .find(|l| l.starts_with("with tmp "))
        .copied()
        .unwrap_or("");
    let want_with_tmp = ["cookie=lang=en; tmp=2 ", "cookie=tmp=2; lang=en "];
    assert!(want_with_tmp.iter().any(|w| with_tmp.contains(w)), "{text}");
    let rest: Vec<&str> = lines
        .iter()
        .filter(|l| !l.starts_with("with tmp "))
        .copied()
        .collect();
    assert_eq!(
        rest,
        [
            "expires small 0 30",
            "expires 1 30 Thu, 01-Jan-1970 00:00:01 GMT",
            "parse Sun, 06-Nov-1994 08:49:37 GMT 1 784111777",
            "parse zone 1 784111777",
            "parse asctime 0",
            "tostring 1 68 sid=x; domain=example.com; path=/a/; HttpOnly; secure; SameSite=Lax",
            "tostring k=v; path=/; expires=Thu, 01-Jan-1970 00:00:01 GMT; SameSite=Strict",
            "maxage -1 0 1 -1 0 1",
            "third party 1",
            "set 1 1 1",
            "set bad 0 0 0",
            "delete by max-age 0: 1 0",
            "remove expired 1 0",
            "save 1",
            "clear 1",
            "cleared GET /app/x x-test=None cookie=None len=0 body=",
            "load 1",
            "loaded GET /app/x x-test=None cookie=lang=en len=0 body=",
            "clear lang 1",
            "save merged 1",
            "third party 0",
            "load bad 0 1",
            "load missing 0 1",
            "null 0 0 0",
        ],
        "{text}"
    );
    // HP's file: a "domain path" line, then "\tname;value;expires;httpOnly;secure;sameSite";
    // the session cookies (tmp, the server's sid) are not saved, the merge kept lang.
    let (head, cookie) = saved.split_once('\n').unwrap();
    assert_eq!(head, "127.0.0.1 /app/", "{saved}");
    let f: Vec<&str> = cookie
        .trim_end()
        .trim_start_matches('\t')
        .split(';')
        .collect();
    assert_eq!(
        (f[0], f[1], f[3], f[4], f[5]),
        ("lang", "en", "1", "0", "2"),
        "{saved}"
    );
    let expires: u64 = f[2].parse().unwrap();
    assert!((now + 3500..now + 3700).contains(&expires), "{saved}");
    assert_eq!(saved.lines().count(), 2, "{saved}");
}

/// HP's C++ HTTP classes: a `CHttpServerPtr` on a `CHttpServerListener` subclass answering curl
/// with `SendResponse` (and `IHttpServer::FromS(pSender)` in `OnHandShake`), and a
/// `CHttpSyncClientPtr` (with and without a listener), a `CHttpAgentPtr` and a `CHttpClientPtr`
/// against python's http.server (the agent and the client send back the cookie the sync client
/// got: one jar for the process, as HP's cookie manager).
#[test]
fn cpp_http_classes_with_curl_and_python() {
    let (mut py, py_port) = python_http_server(None);
    let exe = build("http_classes.cpp");
    let (mut child, stdin, mut out, port, mut lines) =
        spawn_listening(&exe, &[std::ffi::OsStr::new(&py_port.to_string())]);
    let curl = |args: &[&str]| {
        let o = Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .args(args)
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let url = format!("http://127.0.0.1:{port}");
    let get = curl(&["-H", "X-Test: curl", &format!("{url}/hello?x=1")]);
    let post = curl(&["--data-binary", "curl body", &format!("{url}/form?y=2")]);
    let rest = stop_child(&mut child, stdin, &mut out, &format!("{lines:?}"));
    let _ = py.kill();
    let _ = py.wait();
    let _ = std::fs::remove_file(exe);
    assert_eq!(get, "GET /hello?x=1 x-test=curl body=");
    assert_eq!(post, "POST /form?y=2 x-test=- body=curl body");
    lines.extend(rest.lines().map(str::to_string));
    assert_eq!(
        lines,
        [
            "sync listener 200 keep-alive=1",
            "sync 200 GET /sync?q=1 x-test=sync cookie=None len=0 body=",
            "bare 1 200",
            "agent 200 text/plain GET /agent x-test=agent cookie=sid=abc123 len=0 body=",
            "client 200 lines=1 sid=abc123 POST /client x-test=client cookie=sid=abc123 len=9 body=post body",
            "server handshake version=257",
            "server GET /hello?x=1 x-test=curl body=",
            "server handshake version=257",
            "server POST /form?y=2 x-test=- body=curl body",
            "stop 1",
        ]
    );
}

/// HP's C++ SSL classes: a `CSSLServerPtr` echo server (python's ssl module as client), a
/// `CHttpsServerPtr` (curl) and a `CHttpsSyncClientPtr` (python's HTTPS server), each set up
/// with `SetupSSLContext` from an openssl certificate; a plain `CTcpServerPtr` refuses it.
#[test]
fn cpp_ssl_classes_with_python_and_curl() {
    let dir = std::env::temp_dir().join(format!("shardnet-capi-cpp-ssl-{}", std::process::id()));
    let (cert, key) = self_signed(&dir);
    let (mut py, py_port) = python_http_server(Some((&cert, &key)));
    let exe = build("ssl_classes.cpp");
    let py_port = py_port.to_string();
    let args = [
        cert.as_os_str(),
        key.as_os_str(),
        std::ffi::OsStr::new(&py_port),
    ];
    let (mut child, stdin, mut out, port, mut lines) = spawn_listening(&exe, &args);
    let https: u16 = lines
        .iter()
        .find_map(|l| l.strip_prefix("https ").and_then(|p| p.parse().ok()))
        .unwrap_or_else(|| panic!("no https port: {lines:?}"));
    let echo = Command::new("python3")
        .args([
            "-c",
            r#"
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    with ctx.wrap_socket(s) as t:
        t.sendall(b"hello over tls")
        got = b""
        while len(got) < 14:
            got += t.recv(64)
        print(got.decode(), t.version())
"#,
            &port.to_string(),
        ])
        .output()
        .expect("python3 runs");
    let curl = Command::new("curl")
        .args(["-sk", "--max-time", "10"])
        .arg(format!("https://127.0.0.1:{https}/over/curl"))
        .output()
        .expect("curl runs");
    let rest = stop_child(&mut child, stdin, &mut out, &format!("{lines:?}"));
    let _ = py.kill();
    let _ = py.wait();
    let _ = std::fs::remove_file(exe);
    let _ = std::fs::remove_dir_all(&dir);
    let echo = String::from_utf8_lossy(&echo.stdout).to_string();
    assert!(echo.starts_with("hello over tls TLSv1."), "{echo}");
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "secure 1 GET /over/curl"
    );
    lines.extend(rest.lines().map(str::to_string));
    lines.retain(|l| !l.starts_with("https "));
    assert_eq!(
        lines,
        [
            "plain setup 0 secure=0",
            "echo setup 1 auto=1",
            "tls http setup 1",
            "sync secure=1 200 GET /tls x-test=None cookie=None len=0 body=",
            "echo handshake secure=1",
            "stop 1 1",
        ]
    );
}

/// A python member of multicast `group` on the loopback interface, on a free port it returns
/// with the member. It prints READY, and after a line on its stdin sends "from python" to the
/// group and prints `GOT <datagram>` for the first datagram from another member.
fn python_group_member(
    group: &str,
) -> (
    u16,
    (
        std::process::Child,
        std::process::ChildStdin,
        BufReader<std::process::ChildStdout>,
    ),
) {
    // A port nothing on loopback uses now (the group's members all bind it).
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
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
sys.stdin.readline()
s.sendto(b"from python", ("{group}", {port}))
s.settimeout(5)
while True:
    d, _ = s.recvfrom(100)
    if d != b"from python":
        break
print("GOT", d.decode(), flush=True)
"#
    );
    let mut py = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let py_in = py.stdin.take().unwrap();
    let mut py_out = BufReader::new(py.stdout.take().unwrap());
    let mut l = String::new();
    py_out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "READY");
    (port, (py, py_in, py_out))
}

/// HP's C++ `CUdpNodePtr` (an echo node, a std UDP socket as its peer) and `CUdpCastPtr` (a
/// multicast member on loopback answering python's member of the same group).
#[test]
fn cpp_udp_node_and_cast() {
    let (group_port, (mut py, mut py_in, mut py_out)) = python_group_member("239.255.71.10");
    let mut l = String::new();
    let exe = build("udp_cast_node.cpp");
    let gp = group_port.to_string();
    let (mut child, stdin, mut out, port, mut lines) =
        spawn_listening(&exe, &[std::ffi::OsStr::new(&gp)]);
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer.send_to(b"ping node", ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping node");
    py_in.write_all(b"go\n").unwrap();
    l.clear();
    py_out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "GOT from cast");
    let _ = py.wait();
    std::thread::sleep(Duration::from_millis(200));
    let rest = stop_child(&mut child, stdin, &mut out, &format!("{lines:?}"));
    let _ = std::fs::remove_file(exe);
    lines.extend(rest.lines().map(str::to_string));
    assert_eq!(
        lines,
        [
            "cast mode=0 ttl=1",
            "node got ping node from 127.0.0.1",
            "cast got from python from 127.0.0.1",
            "cast got from cast from 127.0.0.1",
            "cast close 5 0",
            "stop 1 1",
        ]
    );
}

/// HP's thread pool from C: each rejected policy at a full queue, socket tasks (their buffer
/// copied, or attached and freed), AdjustThreadCount, Stop finishing the queue, misuse.
#[test]
fn c_thread_pool() {
    let exe = build("thread_pool.c");
    let out = Command::new(&exe).stdin(Stdio::null()).output().unwrap();
    let _ = std::fs::remove_file(exe);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "idle 0 3",
            "start 1 threads=2 max=2 policy=0 again=0",
            "full 0 1 queue=2 tasks=4",
            "stopped 1 runs=2 state=3 wait=1",
            "caller run 1 where=1",
            "wait for 0 1 then 1",
            "task submit 1 grown 1 threads=3",
            "task task bytes conn=42 w=7 l=-3 done=1 runs=1112",
            "misuse 0 0 0 0 (nil)",
        ],
        "{text}"
    );
}
